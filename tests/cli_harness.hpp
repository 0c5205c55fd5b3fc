#pragma once
// Runs the built `dposg` executable as a user would, capturing exit code, stdout and stderr.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

namespace dposg::test {

struct CliResult {
  int code = -1;
  std::string out, err;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A fresh directory under the system temp dir, removed on destruction.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / ("dposg-test-" + std::to_string(rd()) + std::to_string(::getpid()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

// `env`: assignments put before the command ("NAME=value ... ").
inline CliResult run_cli(const std::string& args, const TempDir& dir, const std::string& env = "") {
  const std::string out = dir / "stdout.txt", err = dir / "stderr.txt";
  const std::string cmd = "cd '" + dir.path.string() + "' && " + env + std::string(DPOSG_CLI) + " " + args + " >'" + out +
                          "' 2>'" + err + "' </dev/null";
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  std::filesystem::remove(out);
  std::filesystem::remove(err);
  return r;
}

// `dposg args` in dir as a child process that is dposg itself (the shell execs it), so that a
// signal sent to the returned pid reaches dposg; stdout and stderr go to child-out.txt and
// child-err.txt in dir.
inline pid_t spawn_cli(const std::string& args, const TempDir& dir) {
  const std::string cmd = "cd '" + dir.path.string() + "' && exec " + std::string(DPOSG_CLI) + " " + args +
                          " >child-out.txt 2>child-err.txt </dev/null";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

}  // namespace dposg::test
