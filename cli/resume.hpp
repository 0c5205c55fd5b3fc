#pragma once
// Checkpoints on the command line: the options of `dposg run`, what a checkpoint records of the
// command that started the run, and the run set-up shared by `dposg run` and `dposg resume`.
#include <boost/program_options.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "app/experiment.hpp"
#include "core/checkpoint.hpp"
#include "core/mpi_backend.hpp"

namespace dposg::cli {

struct CheckpointOptions {
  std::int64_t every = 0;       // iterations between checkpoints; 0: not by count
  double seconds = 300.0;       // wall-clock seconds between checkpoints; 0: not by time
};
boost::program_options::options_description checkpoint_options(CheckpointOptions& o);
void check_checkpoint_options(const CheckpointOptions& o);  // InputError naming the option


// Where `dposg resume` continues a run: its file, its name, and the state of its last checkpoint.
struct ResumePoint {
  std::string file;
  std::string run;
  std::int64_t iteration = 0;
  StateArchive state;
};

// The sink of a run started by `run` with argv[1..argc) (on resume: the options it was started
// with, which the checkpoint keeps): each checkpoint records those options, the text of its
// --config file, the working directory and the normals the run draws (`noise_normals`, auto
// resolved: a later default cannot change them), so that resume rebuilds the same run.
// Under MPI (`mpi` not null) each rank has its own file (checkpoint_path with its rank), keeping
// its previous checkpoint too, and the checkpoint records the number of ranks.
std::unique_ptr<CheckpointFile> make_checkpoint_file(const std::string& results, const std::string& run, int argc,
                                                     const char* const argv[], const ResumePoint* resume,
                                                     const std::string& noise_normals, std::function<void()> flush_rows,
                                                     const MpiSession* mpi = nullptr);

// The --noise-normals a resumed run takes, `given` by its options: the normals it drew. Its
// checkpoint records them; one written before `auto` existed records none, and then the run drew
// std's unless its options named ziggurat (so an old 10^5-worker run does not switch mid-way).
std::string resumed_noise_normals(const std::string& given, const StateArchive& checkpoint);

// Under MPI, where this rank continues `any` (a checkpoint of the run, read for its options): its
// own checkpoint at the last iteration that every rank has one of (a kill can leave the ranks'
// newest files one checkpoint apart). InputError, on every rank alike, when the run was
// checkpointed over another number of ranks or the ranks have no iteration in common.
ResumePoint resume_point_of_rank(const ResumePoint& any, const MpiSession& mpi);

// `dposg run` with argv (argv[0] = "run"), or its continuation from `resume`.
int run_or_resume(int argc, const char* const argv[], const ResumePoint* resume);

}  // namespace dposg::cli
