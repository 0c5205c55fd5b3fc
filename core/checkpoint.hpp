#pragma once
// Checkpoints: everything a run needs to continue exactly where it stopped (the workers' Z and X,
// the step rule's and the mixer's state, every worker's RNG stream, the counters behind the
// metrics), as named entries of a StateArchive that each part fills with its own state.
//
// Where they live: in a file of their own beside the results file, `<out>.checkpoints/<run>.ckpt`
// (one per MPI rank: `<run>.rank<R>.ckpt`), not inside the HDF5 file. Reasons:
//   * Atomicity. A checkpoint is written to a temporary file, fsync'ed, and renamed over the
//     previous one (then the directory is fsync'ed): a kill -9 at any instant leaves either the old
//     or the new checkpoint, whole. HDF5 1.10 has no atomic commit: rewriting Z and X in place
//     would put the results file's shared metadata (every run's) at risk at every checkpoint,
//     the risk the storage fence in core/recorder.cpp exists to avoid.
//   * Size. A checkpoint is replaced, not appended; HDF5 never reclaims freed space (file space
//     strategy NONE), so replacing datasets in the results file would grow it by d x M x 16 bytes
//     per checkpoint.
//   * Order. Before a checkpoint of iteration k is renamed into place the results file has been
//     flushed with every row up to k, so a checkpoint never refers to rows that are not on disk;
//     `dposg resume` drops the rows logged after k (they are computed again, bit for bit).
// The file format: "DPOSGCKP", a version, the entries (key, type, payload; doubles raw in host
// byte order, RNG states as the standard library's text form), and an FNV-1a 64 checksum of all
// of it. A file whose checksum or length does not match is refused, never half-read.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "core/types.hpp"

namespace dposg {

class CheckpointError : public std::runtime_error {
 public:
  explicit CheckpointError(const std::string& what) : std::runtime_error(what) {}
};

class StateArchive {
 public:
  void put(const std::string& key, const Matrix& m);
  void put(const std::string& key, const Vector& v) { put(key, Matrix(v)); }
  void put_real(const std::string& key, double v);
  void put_integer(const std::string& key, std::int64_t v);
  void put_text(const std::string& key, const std::string& s);
  void put_rng(const std::string& key, const Rng& rng);

  bool has(const std::string& key) const { return entries_.count(key) != 0; }
  // Removes the entry of `key` (nothing when there is none): a test's checkpoint of an older build.
  void erase(const std::string& key) { entries_.erase(key); }
  // Copies every entry of `other` in (replacing those of the same key).
  void merge(const StateArchive& other);
  // Each throws CheckpointError naming the key when it is absent or of another type.
  const Matrix& matrix(const std::string& key) const;
  Vector vector(const std::string& key) const;
  double real(const std::string& key) const;
  std::int64_t integer(const std::string& key) const;
  const std::string& text(const std::string& key) const;
  void get_rng(const std::string& key, Rng& rng) const;
  // m <- the matrix under key, which must have m's shape (a checkpoint of another run otherwise).
  void restore(const std::string& key, Matrix& m) const;

  // Atomically replaces `path` (temporary file, fsync, rename, fsync of the directory).
  void write_file(const std::string& path) const;
  // CheckpointError when the file is missing, truncated or damaged.
  static StateArchive read_file(const std::string& path);

 private:
  struct Entry {
    char type = 0;  // m: matrix, r: real, i: integer, s: text
    Matrix m;
    double r = 0.0;
    std::int64_t i = 0;
    std::string s;
  };
  const Entry& entry(const std::string& key, char type) const;
  std::map<std::string, Entry> entries_;
};

// Where the checkpoint of `run` in the results file `results_path` lives; rank < 0: one process.
std::string checkpoint_path(const std::string& results_path, const std::string& run, int rank = -1);

// SIGTERM and SIGINT set a flag that the driver reads between iterations (a run then writes a last
// checkpoint and ends `interrupted`); a second signal of either kind ends the process at once.
void install_stop_handlers();
// 0, or the first signal received since install_stop_handlers.
int stop_signal();
// As if `signal` had arrived, and forgetting it again (tests).
void request_stop(int signal);
void clear_stop_request();
// The exit status of a process ended by `signal` the conventional way (128 + signal: 143 for
// SIGTERM, 130 for SIGINT).
inline int exit_code_for_signal(int signal) { return 128 + signal; }

// What the driver calls at each checkpoint (core/driver.hpp, DriverOptions::checkpoints).
class CheckpointSink {
 public:
  virtual ~CheckpointSink() = default;
  // The state after iteration `iteration`; results logged up to it must be made durable first.
  virtual void save(std::int64_t iteration, const StateArchive& state) = 0;
};

// The checkpoints of one run in one file (checkpoint_path), each with `identity` merged in (what
// `dposg resume` needs to rebuild the run: its options). before_write makes the rows durable
// (the results file's flush).
//
// keep_previous (MPI: one file per rank): the ranks' files are renamed one by one, so a kill can
// leave rank 0 at iteration k and rank 1 at k - K. Each rank then keeps its previous checkpoint
// as well, and a resume takes the last iteration that every rank still has (common_generation).
// Each save writes PATH.next whole (atomically), renames PATH to PATH.prev, then PATH.next to
// PATH: a kill at any instant leaves whole files only, among them the last and the one before.
class CheckpointFile final : public CheckpointSink {
 public:
  CheckpointFile(std::string path, StateArchive identity, std::function<void()> before_write, bool keep_previous = false)
      : path_(std::move(path)), identity_(std::move(identity)), before_write_(std::move(before_write)),
        keep_previous_(keep_previous) {}
  // Creates the directory on first use.
  void save(std::int64_t iteration, const StateArchive& state) override;
  // Removes the file (the run ended: finished or diverged) and the directory if it is left empty.
  void discard();
  const std::string& path() const { return path_; }
  std::int64_t saved() const { return saved_; }

 private:
  std::string path_;
  StateArchive identity_;
  std::function<void()> before_write_;
  bool keep_previous_ = false;
  std::int64_t saved_ = 0;
};

// The files a CheckpointFile at `path` may have left (PATH, PATH.prev, PATH.next), those present.
std::vector<std::string> checkpoint_generations(const std::string& path);
// The path of a checkpoint of `run` to read its identity from (the options; the same in every
// rank's file): the run's own, else rank 0's newest. "" if none.
std::string any_checkpoint(const std::string& results_path, const std::string& run);
// The whole checkpoint files among `generations` (unreadable ones skipped), by iteration.
std::map<std::int64_t, std::string> checkpoints_by_iteration(const std::vector<std::string>& generations);

}  // namespace dposg
