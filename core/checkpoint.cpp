#include "core/checkpoint.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <sstream>
#include <string_view>

namespace dposg {

namespace {

constexpr char kMagic[8] = {'D', 'P', 'O', 'S', 'G', 'C', 'K', 'P'};
constexpr std::uint32_t kVersion = 1;

std::uint64_t fnv1a(const std::string& bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

template <class T>
void put_raw(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

class Cursor {
 public:
  Cursor(const std::string& bytes, std::size_t end, const std::string& path) : b_(bytes), end_(end), path_(path) {}
  template <class T>
  T raw() {
    T v;
    take(&v, sizeof(T));
    return v;
  }
  std::string bytes(std::uint64_t n) {
    need(n);
    std::string s = b_.substr(at_, n);
    at_ += n;
    return s;
  }
  void take(void* dst, std::size_t n) {
    need(n);
    std::memcpy(dst, b_.data() + at_, n);
    at_ += n;
  }
  bool done() const { return at_ == end_; }

 private:
  void need(std::uint64_t n) const {
    if (n > end_ - at_) throw CheckpointError("checkpoint '" + path_ + "' is damaged (an entry runs past its end)");
  }
  const std::string& b_;
  std::size_t end_;
  std::size_t at_ = 0;
  const std::string& path_;
};

void sync_directory(const std::string& dir) {
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

std::string os_error(const std::string& what, const std::string& path) {
  return "checkpoint: cannot " + what + " '" + path + "': " + std::strerror(errno);
}

void write_all(int fd, const std::string& bytes, const std::string& path) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw CheckpointError(os_error("write", path));
    }
    done += static_cast<std::size_t>(n);
  }
}

std::string parent_dir(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

std::atomic<int> g_stop_signal{0};

extern "C" void on_stop_signal(int sig) {
  int expected = 0;
  if (!g_stop_signal.compare_exchange_strong(expected, sig)) {
    // A second signal: the user (or the scheduler) does not want to wait for the checkpoint.
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
}

}  // namespace

void StateArchive::merge(const StateArchive& other) {
  for (const auto& [key, e] : other.entries_) entries_[key] = e;
}

void StateArchive::put(const std::string& key, const Matrix& m) {
  Entry e;
  e.type = 'm';
  e.m = m;
  entries_[key] = std::move(e);
}
void StateArchive::put_real(const std::string& key, double v) {
  Entry e;
  e.type = 'r';
  e.r = v;
  entries_[key] = std::move(e);
}
void StateArchive::put_integer(const std::string& key, std::int64_t v) {
  Entry e;
  e.type = 'i';
  e.i = v;
  entries_[key] = std::move(e);
}
void StateArchive::put_text(const std::string& key, const std::string& s) {
  Entry e;
  e.type = 's';
  e.s = s;
  entries_[key] = std::move(e);
}
namespace {
constexpr std::string_view kCompactRng = "compact ";  // then the seed and the draws so far
}  // namespace

void StateArchive::put_rng(const std::string& key, const Rng& rng) {
  if (!rng.materialized()) {
    put_text(key, std::string(kCompactRng) + std::to_string(rng.compact_seed()) + " " +
                      std::to_string(rng.compact_draws()));
    return;
  }
  // The standard text form is the engine's whole state, exact and portable across libraries.
  std::ostringstream s;
  s << rng;
  put_text(key, s.str());
}

const StateArchive::Entry& StateArchive::entry(const std::string& key, char type) const {
  const auto it = entries_.find(key);
  if (it == entries_.end()) throw CheckpointError("checkpoint lacks '" + key + "'");
  if (it->second.type != type) throw CheckpointError("checkpoint entry '" + key + "' has another type");
  return it->second;
}
const Matrix& StateArchive::matrix(const std::string& key) const { return entry(key, 'm').m; }
Vector StateArchive::vector(const std::string& key) const {
  const Matrix& m = matrix(key);
  if (m.cols() != 1 && m.size() != 0) throw CheckpointError("checkpoint entry '" + key + "' is not a vector");
  return m.size() == 0 ? Vector() : Vector(m.col(0));
}
double StateArchive::real(const std::string& key) const { return entry(key, 'r').r; }
std::int64_t StateArchive::integer(const std::string& key) const { return entry(key, 'i').i; }
const std::string& StateArchive::text(const std::string& key) const { return entry(key, 's').s; }
void StateArchive::get_rng(const std::string& key, Rng& rng) const {
  const std::string& t = text(key);
  if (t.starts_with(kCompactRng)) {
    const std::string numbers = t.substr(kCompactRng.size());
    // Two decimal numbers and one space: istream's >> would read "-1" as 2^64 - 1.
    const bool decimal = std::count(numbers.begin(), numbers.end(), ' ') == 1 &&
                         numbers.find_first_not_of("0123456789 ") == std::string::npos;
    std::istringstream s(numbers);
    std::uint64_t seed = 0, draws = 0;
    s >> seed >> draws;
    if (!decimal || !s || !(s >> std::ws).eof() || draws > Rng::shift_size)
      throw CheckpointError("checkpoint entry '" + key + "' is not an RNG state");
    rng.seed(seed);
    rng.discard(draws);  // compact still: a compact stream has drawn at most 156 numbers
    return;
  }
  std::istringstream s(t);
  s >> rng;
  if (!s) throw CheckpointError("checkpoint entry '" + key + "' is not an RNG state");
}
void StateArchive::restore(const std::string& key, Matrix& m) const {
  const Matrix& saved = matrix(key);
  if (saved.rows() != m.rows() || saved.cols() != m.cols())
    throw CheckpointError("checkpoint entry '" + key + "' is " + std::to_string(saved.rows()) + " x " +
                          std::to_string(saved.cols()) + ", the run's is " + std::to_string(m.rows()) + " x " +
                          std::to_string(m.cols()) + " (a checkpoint of another run?)");
  m = saved;
}

void StateArchive::write_file(const std::string& path) const {
  std::string out(kMagic, sizeof kMagic);
  put_raw(out, kVersion);
  put_raw(out, static_cast<std::uint64_t>(entries_.size()));
  for (const auto& [key, e] : entries_) {
    put_raw(out, static_cast<std::uint64_t>(key.size()));
    out += key;
    out += e.type;
    switch (e.type) {
      case 'm':
        put_raw(out, static_cast<std::int64_t>(e.m.rows()));
        put_raw(out, static_cast<std::int64_t>(e.m.cols()));
        out.append(reinterpret_cast<const char*>(e.m.data()), static_cast<std::size_t>(e.m.size()) * sizeof(double));
        break;
      case 'r': put_raw(out, e.r); break;
      case 'i': put_raw(out, e.i); break;
      default:
        put_raw(out, static_cast<std::uint64_t>(e.s.size()));
        out += e.s;
    }
  }
  put_raw(out, fnv1a(out));

  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) throw CheckpointError(os_error("create", tmp));
  try {
    write_all(fd, out, tmp);
    if (::fsync(fd) != 0) throw CheckpointError(os_error("fsync", tmp));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = os_error("rename into", path);
    ::unlink(tmp.c_str());
    throw CheckpointError(why);
  }
  // The rename itself is durable only once the directory is.
  sync_directory(parent_dir(path));
}

StateArchive StateArchive::read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw CheckpointError(os_error("open", path));
  std::string bytes;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = os_error("read", path);
      ::close(fd);
      throw CheckpointError(why);
    }
    if (n == 0) break;
    bytes.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const std::size_t header = sizeof kMagic + sizeof(std::uint32_t) + sizeof(std::uint64_t);
  if (bytes.size() < header + sizeof(std::uint64_t) || bytes.compare(0, sizeof kMagic, kMagic, sizeof kMagic) != 0)
    throw CheckpointError("'" + path + "' is not a dposg checkpoint");
  const std::size_t body = bytes.size() - sizeof(std::uint64_t);
  std::uint64_t sum;
  std::memcpy(&sum, bytes.data() + body, sizeof sum);
  if (sum != fnv1a(bytes.substr(0, body)))
    throw CheckpointError("checkpoint '" + path + "' is damaged (checksum mismatch)");
  Cursor c(bytes, body, path);
  (void)c.bytes(sizeof kMagic);
  const auto version = c.raw<std::uint32_t>();
  if (version != kVersion)
    throw CheckpointError("checkpoint '" + path + "' has version " + std::to_string(version) + ", this dposg reads " +
                          std::to_string(kVersion));
  const auto count = c.raw<std::uint64_t>();
  StateArchive a;
  for (std::uint64_t n = 0; n < count; ++n) {
    const std::string key = c.bytes(c.raw<std::uint64_t>());
    const char type = c.raw<char>();
    switch (type) {
      case 'm': {
        const auto rows = c.raw<std::int64_t>(), cols = c.raw<std::int64_t>();
        if (rows < 0 || cols < 0 || (rows > 0 && static_cast<std::uint64_t>(cols) > body / 8 / static_cast<std::uint64_t>(rows)))
          throw CheckpointError("checkpoint '" + path + "' is damaged (entry '" + key + "')");
        Matrix m(rows, cols);
        c.take(m.data(), static_cast<std::size_t>(m.size()) * sizeof(double));
        a.put(key, m);
        break;
      }
      case 'r': a.put_real(key, c.raw<double>()); break;
      case 'i': a.put_integer(key, c.raw<std::int64_t>()); break;
      case 's': a.put_text(key, c.bytes(c.raw<std::uint64_t>())); break;
      default: throw CheckpointError("checkpoint '" + path + "' is damaged (entry '" + key + "')");
    }
  }
  if (!c.done()) throw CheckpointError("checkpoint '" + path + "' is damaged (bytes after its entries)");
  return a;
}

std::string checkpoint_path(const std::string& results_path, const std::string& run, int rank) {
  return results_path + ".checkpoints/" + run + (rank < 0 ? "" : ".rank" + std::to_string(rank)) + ".ckpt";
}

void install_stop_handlers() {
  struct sigaction sa{};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}

int stop_signal() { return g_stop_signal.load(); }

void clear_stop_request() { g_stop_signal.store(0); }

void CheckpointFile::save(std::int64_t, const StateArchive& state) {
  if (before_write_) before_write_();
  const std::string dir = parent_dir(path_);
  if (::mkdir(dir.c_str(), 0777) != 0 && errno != EEXIST) throw CheckpointError(os_error("create the directory", dir));
  StateArchive a = state;
  a.merge(identity_);
  if (!keep_previous_) {
    a.write_file(path_);
  } else {
    const std::string next = path_ + ".next", prev = path_ + ".prev";
    a.write_file(next);
    if (::rename(path_.c_str(), prev.c_str()) != 0 && errno != ENOENT) throw CheckpointError(os_error("rename", path_));
    if (::rename(next.c_str(), path_.c_str()) != 0) throw CheckpointError(os_error("rename", next));
    sync_directory(dir);
  }
  ++saved_;
}

std::vector<std::string> checkpoint_generations(const std::string& path) {
  std::vector<std::string> found;
  for (const std::string& p : {path, path + ".prev", path + ".next"})
    if (::access(p.c_str(), F_OK) == 0) found.push_back(p);
  return found;
}

std::string any_checkpoint(const std::string& results_path, const std::string& run) {
  const std::string own = checkpoint_path(results_path, run);
  if (::access(own.c_str(), F_OK) == 0) return own;
  const auto by_iteration = checkpoints_by_iteration(checkpoint_generations(checkpoint_path(results_path, run, 0)));
  return by_iteration.empty() ? "" : by_iteration.rbegin()->second;
}

std::map<std::int64_t, std::string> checkpoints_by_iteration(const std::vector<std::string>& generations) {
  std::map<std::int64_t, std::string> out;
  for (const auto& p : generations) {
    try {
      out[StateArchive::read_file(p).integer("driver/iteration")] = p;
    } catch (const CheckpointError&) {
      // A generation that is not whole cannot be: the writes are atomic. A damaged disk is refused
      // by the reader of the one chosen; here it only does not count.
    }
  }
  return out;
}

void CheckpointFile::discard() {
  ::unlink(path_.c_str());
  ::unlink((path_ + ".tmp").c_str());
  ::unlink((path_ + ".prev").c_str());
  ::unlink((path_ + ".next").c_str());
  ::unlink((path_ + ".next.tmp").c_str());
  (void)::rmdir(parent_dir(path_).c_str());  // fails, as it should, while other runs' files are there
}

void request_stop(int signal) {
  int expected = 0;
  g_stop_signal.compare_exchange_strong(expected, signal);
}

}  // namespace dposg
