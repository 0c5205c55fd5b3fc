#pragma once
// Live reading: a results file read while a run or sweep writes it.
//
// HDF5 1.10's SWMR does not fit this writer: a SWMR writer may only append to datasets that exist
// when it starts, while a run creates its group, attributes and metrics as it goes (and a sweep
// creates runs), and SWMR needs superblock v3, whose "open for writing" mark makes a killed
// writer's file unreadable until `h5clear -s` (core/recorder.cpp, on-disk choices). So the writer
// publishes, instead, a generation counter beside the file, `<results>.live` (magic, the writer's
// pid, the counter), a seqlock: odd from the first change it hands to HDF5 after a flush until
// that flush has completed, even while the bytes on disk are a complete, flushed file. A reader
// copies the file's bytes while the counter is even and unchanged from before to after the copy,
// and reads that copy in memory (HDF5's core driver; h5py: io.BytesIO, notebooks/dposg_results.py):
// a consistent snapshot as of the writer's last flush, whatever the writer does meanwhile. The
// writer removes the marker when it closes the file; a marker whose pid is gone (a killed writer)
// is ignored and the file read directly, as any file.
//
// A copy that takes longer than the writer's time between flushes (a file of hundreds of MB, or one
// that grows fast) would never see the counter unchanged. So a reader holds a shared flock(2) on the
// marker while it copies, and the writer takes it exclusively for each change: it waits for the
// readers' copies to end, up to kReaderGrace, and never longer. A reader that holds on past that
// (stopped, or copying a file too large) is passed over: the writer goes on without the lock, the
// counter moves and that copy is thrown away, and for kImpatience the writer waits for no reader.
// The counter, not the lock, is what makes a snapshot consistent; the lock only lets one come.
//
// The counter lives in the page cache of one machine: on a network file system read from another
// host, the snapshot is only as good as that file system's cache coherence.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace dposg {

std::string live_marker_path(const std::string& results_path);

class LiveMarker {
 public:
  // Creates the marker (generation 0); without it (a read-only directory) readers read directly.
  explicit LiveMarker(const std::string& results_path);
  ~LiveMarker();
  LiveMarker(const LiveMarker&) = delete;
  LiveMarker& operator=(const LiveMarker&) = delete;
  // Before the first change after a flush (the generation becomes odd).
  void begin_change();
  // After a flush has completed, or when nothing more will reach the file (even again).
  void end_change();

  // How long a change waits for readers' copies; how long after a wait in vain it waits for none.
  static constexpr std::chrono::milliseconds kReaderGrace{2000}, kImpatience{30000};

 private:
  void publish();
  void hold_off_readers();
  std::string path_;
  int fd_ = -1;
  std::uint64_t generation_ = 0;
  bool locked_ = false;
  std::chrono::steady_clock::time_point impatient_until_{};
};

// The bytes of a consistent snapshot of `results_path` while another live process writes it;
// nullopt where no other live process does (read the file itself). Waits up to `wait_s` for the
// writer to finish a change; nullopt too if it never does.
std::optional<std::string> live_snapshot(const std::string& results_path, double wait_s = 10.0);

}  // namespace dposg
