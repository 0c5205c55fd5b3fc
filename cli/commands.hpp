#pragma once
// Sub-commands of the `dposg` executable. Each returns the process exit code:
// 0 ok, 1 a run diverged or failed / a check failed, 2 bad input (thrown as InputError); run and
// resume: 143 (SIGTERM) or 130 (SIGINT) when the run was interrupted after a last checkpoint.
namespace dposg::cli {
int run_command(int argc, const char* const argv[]);
int topology_command(int argc, const char* const argv[]);
int info_command(int argc, const char* const argv[]);
int sweep_command(int argc, const char* const argv[]);
int merge_command(int argc, const char* const argv[]);
int plot_command(int argc, const char* const argv[]);
int verify_command(int argc, const char* const argv[]);
int resume_command(int argc, const char* const argv[]);
}  // namespace dposg::cli
