#include "core/live_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace dposg {

namespace {

constexpr char kMagic[8] = {'D', 'P', 'O', 'S', 'G', 'L', 'I', 'V'};
constexpr off_t kGenerationAt = 16;  // magic, pid (int64), generation (uint64)

struct Marker {
  std::int64_t pid = 0;
  std::uint64_t generation = 0;
};

std::optional<Marker> read_marker(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[24];
  const ssize_t n = ::pread(fd, buf, sizeof buf, 0);
  ::close(fd);
  if (n != static_cast<ssize_t>(sizeof buf) || std::memcmp(buf, kMagic, sizeof kMagic) != 0) return std::nullopt;
  Marker m;
  std::memcpy(&m.pid, buf + 8, 8);
  std::memcpy(&m.generation, buf + 16, 8);
  return m;
}

bool alive(std::int64_t pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

std::optional<std::string> read_all(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string bytes;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    bytes.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return bytes;
}

}  // namespace

std::string live_marker_path(const std::string& results_path) { return results_path + ".live"; }

LiveMarker::LiveMarker(const std::string& results_path) : path_(live_marker_path(results_path)) {
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd_ < 0) return;
  char buf[24];
  std::memcpy(buf, kMagic, sizeof kMagic);
  const std::int64_t pid = ::getpid();
  std::memcpy(buf + 8, &pid, 8);
  std::memcpy(buf + 16, &generation_, 8);
  if (::pwrite(fd_, buf, sizeof buf, 0) != static_cast<ssize_t>(sizeof buf)) {
    ::close(fd_);
    ::unlink(path_.c_str());
    fd_ = -1;
  }
}

LiveMarker::~LiveMarker() {
  if (fd_ < 0) return;
  ::close(fd_);
  ::unlink(path_.c_str());
}

void LiveMarker::publish() {
  if (fd_ >= 0) (void)::pwrite(fd_, &generation_, sizeof generation_, kGenerationAt);
}

void LiveMarker::hold_off_readers() {
  if (fd_ < 0) return;
  const auto now = std::chrono::steady_clock::now();
  const auto until = now < impatient_until_ ? now : now + kReaderGrace;
  for (;;) {
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) {
      locked_ = true;
      return;
    }
    // Any error but a reader's lock (a file system without flock): readers copy without one.
    if (errno != EWOULDBLOCK && errno != EINTR) return;
    if (std::chrono::steady_clock::now() >= until) {
      if (until != now) impatient_until_ = until + kImpatience;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void LiveMarker::begin_change() {
  if (generation_ % 2 == 0) {
    hold_off_readers();
    ++generation_;
    publish();
  }
}

void LiveMarker::end_change() {
  if (generation_ % 2 == 1) {
    ++generation_;
    publish();
  }
  if (locked_) {
    (void)::flock(fd_, LOCK_UN);
    locked_ = false;
  }
}

std::optional<std::string> live_snapshot(const std::string& results_path, double wait_s) {
  const std::string marker = live_marker_path(results_path);
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_s);
  for (;;) {
    const auto before = read_marker(marker);
    if (!before || before->pid == ::getpid() || !alive(before->pid)) return std::nullopt;
    // The shared lock holds the writer's next change off while the bytes are copied (live_file.hpp).
    // Taken after `before` was read, it also covers a change begun in between: the counter sees it.
    const int lock_fd = ::open(marker.c_str(), O_RDONLY | O_CLOEXEC);
    bool copy = true;
    if (lock_fd >= 0 && ::flock(lock_fd, LOCK_SH | LOCK_NB) != 0)
      copy = errno != EWOULDBLOCK && errno != EINTR;  // the writer is changing the file: wait
    if (copy && before->generation % 2 == 0) {
      auto bytes = read_all(results_path);
      const auto after = read_marker(marker);
      if (lock_fd >= 0) ::close(lock_fd);  // and with it the lock
      // The writer closed the file meanwhile (the marker is gone): what was copied may predate its
      // last flush; the file itself is complete now.
      if (!after) return std::nullopt;
      if (bytes && after->generation == before->generation) return bytes;
    } else if (lock_fd >= 0) {
      ::close(lock_fd);
    }
    if (std::chrono::steady_clock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace dposg
