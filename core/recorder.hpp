#pragma once
// Recorder: writes runs into an HDF5 results file with the layout of DESIGN.md §4.
//
//   /                          attrs: format_version, dposg_version
//   /runs/<run>/               attrs: options, rho, status, constants, theorem quantities
//   /runs/<run>/metrics/<name> 1-D chunked extendible; `iteration` is int64, the rest double
//   /runs/<run>/problem/       the problem instance (InstanceWriter)
//   /runs/<run>/final/         z_bar (and GAN samples)
//
// Every append is followed by a flush (throttled, see RunWriter::flush), so a process killed
// with SIGKILL leaves the finished runs intact and the interrupted one readable, marked "running".
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "core/metrics.hpp"
#include "core/problem.hpp"
#include "core/types.hpp"

namespace dposg {

// 2: text attributes are variable-length UTF-8 strings (h5py reads them as str); 1 wrote them
// fixed-length (h5py: bytes). The readers take both.
inline constexpr int kFormatVersion = 2;
inline constexpr const char* kDposgVersion = "0.1.0";

using AttrValue = std::variant<std::int64_t, double, std::string>;

class RunWriter;

// Throws create_run's InputError for a run name that cannot be a group name of ours.
void require_valid_run_name(const std::string& run);

// The results file could not be written (disk full, file size limit, I/O error). The file is
// fenced when it is thrown: nothing more of this process reaches it, and it keeps the state of
// its last flush (core/recorder.cpp, FileState).
class StorageError : public std::runtime_error {
 public:
  explicit StorageError(const std::string& what) : std::runtime_error(what) {}
};

// True once an HDF5 call writing a results file has failed in this process (an I/O error half-way
// through a flush): HDF5's state may then be inconsistent and closing the library at exit can
// crash, so a command ends with _exit after its one line (cli/main.cpp).
bool results_file_poisoned();

class ResultsFile {
 public:
  // Opens an existing results file for appending, or creates it. Throws InputError naming the
  // path when it cannot be created or is not an HDF5 file of ours.
  static std::unique_ptr<ResultsFile> open(const std::string& path);
  ~ResultsFile();
  ResultsFile(const ResultsFile&) = delete;
  ResultsFile& operator=(const ResultsFile&) = delete;

  bool has_run(const std::string& run) const;
  std::vector<std::string> runs() const;
  std::string run_status(const std::string& run) const;  // "" when the run is absent
  void remove_run(const std::string& run);
  // Creates /runs/<run> with status "running" and the `initial` attributes, which reach the file
  // in the same flush as the group (a sweep's identity: a kill can never leave its run without
  // it). Throws InputError if it exists already.
  std::unique_ptr<RunWriter> create_run(const std::string& run,
                                        const std::vector<std::pair<std::string, AttrValue>>& initial = {});
  // Continues /runs/<run> (dposg resume, core/checkpoint.hpp): the status back to "running", the
  // message of its last end removed, and the metrics rows logged after `last_iteration` dropped
  // (the resumed run logs them again). Throws InputError if the run is absent.
  std::unique_ptr<RunWriter> reopen_run(const std::string& run, std::int64_t last_iteration);
  // Ends /runs/<run> with `status` and `message` if it is still "running", its rows untouched: a
  // run whose writer died without ending it (an MPI job's rank 0, killed; a surviving rank ends
  // it). False, and nothing written, if the run is absent or already ended.
  bool end_orphaned_run(const std::string& run, const std::string& status, const std::string& message);
  // Writes /<section>/<group>/<name> as a group of attributes (replacing one of the same name)
  // and flushes: results that are not runs, e.g. the verifier's table (/verify/<check>/<row>).
  void write_record(const std::string& section, const std::string& group, const std::string& name,
                    const std::vector<std::pair<std::string, AttrValue>>& attrs);
  using Record = std::pair<std::string, std::vector<std::pair<std::string, AttrValue>>>;
  // Replaces /<section>/<group> as a whole by `records`, in one flush: a rerun that yields fewer
  // records (a check with fewer rows) leaves none of the old ones behind.
  void replace_records(const std::string& section, const std::string& group, const std::vector<Record>& records);
  const std::string& path() const { return path_; }

  struct Impl;

 private:
  ResultsFile(std::string path, std::unique_ptr<Impl> impl);
  std::string path_;
  std::unique_ptr<Impl> impl_;
};

class RunWriter {
 public:
  ~RunWriter();
  RunWriter(const RunWriter&) = delete;
  RunWriter& operator=(const RunWriter&) = delete;

  void set_attr(const std::string& name, const AttrValue& value);
  void set_attr(const std::string& name, const std::vector<double>& values);  // 1-D array attribute
  void set_status(const std::string& status);  // written and flushed at once
  void append(const MetricsRow& row);          // one entry in every metrics/<name> dataset
  // From now on append() writes only these metrics of a row (and the iteration); empty: every one.
  void keep_metrics(std::vector<std::string> names);
  void write_final(const std::string& name, const Matrix& m);
  void write_final(const std::string& name, const Vector& v);
  InstanceWriter& problem_group();             // /runs/<run>/problem/
  void flush(bool force = false);              // throttled to a few per second unless forced

  struct Impl;
  explicit RunWriter(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

// Reading back, for `dposg info`, tests and resume logic.
struct RunSummary {
  std::string name;
  std::string status;
  std::vector<std::pair<std::string, AttrValue>> attrs;
  std::vector<std::string> metric_names;
  std::int64_t rows = 0;
};

class ResultsReader {
 public:
  static std::unique_ptr<ResultsReader> open(const std::string& path);  // InputError if unreadable
  ~ResultsReader();
  std::vector<std::string> runs() const;
  RunSummary summary(const std::string& run) const;
  std::vector<double> metric(const std::string& run, const std::string& name) const;
  std::vector<std::int64_t> iterations(const std::string& run) const;
  AttrValue root_attr(const std::string& name) const;

  struct Impl;

 private:
  explicit ResultsReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dposg
