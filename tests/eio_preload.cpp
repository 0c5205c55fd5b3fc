// An LD_PRELOAD library for tests/test_storage_eio.cpp: writes to the file whose path ends with
// $DPOSG_EIO_FILE fail with EIO once $DPOSG_EIO_AFTER bytes have been written to it, as a failing
// disk would (a device-mapper error target needs root and a block device; this needs neither).
// Every other descriptor, and that one once it no longer names the file (the recorder's fence
// points it at /dev/null), writes as usual.
#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

bool targeted(int fd) {
  const char* suffix = std::getenv("DPOSG_EIO_FILE");
  if (!suffix || !*suffix) return false;
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char target[4096];
  const ssize_t n = ::readlink(link, target, sizeof target - 1);
  if (n < 0) return false;
  target[n] = '\0';
  const std::size_t len = std::strlen(suffix);
  return static_cast<std::size_t>(n) >= len && std::strcmp(target + n - len, suffix) == 0;
}

std::atomic<long long> g_written{0};

bool fail_now(int fd, std::size_t count) {
  if (!targeted(fd)) return false;
  const char* after = std::getenv("DPOSG_EIO_AFTER");
  const long long limit = after ? std::atoll(after) : 0;
  if (g_written.load() + static_cast<long long>(count) > limit) return true;
  g_written += static_cast<long long>(count);
  return false;
}

template <class F>
F next(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  static const auto real = next<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite");
  if (fail_now(fd, count)) {
    errno = EIO;
    return -1;
  }
  return real(fd, buf, count, offset);
}

extern "C" ssize_t pwrite64(int fd, const void* buf, size_t count, off64_t offset) {
  static const auto real = next<ssize_t (*)(int, const void*, size_t, off64_t)>("pwrite64");
  if (fail_now(fd, count)) {
    errno = EIO;
    return -1;
  }
  return real(fd, buf, count, offset);
}

extern "C" ssize_t write(int fd, const void* buf, size_t count) {
  static const auto real = next<ssize_t (*)(int, const void*, size_t)>("write");
  if (fail_now(fd, count)) {
    errno = EIO;
    return -1;
  }
  return real(fd, buf, count);
}
