#pragma once
// An exception that leaves an OpenMP region calls std::terminate (a bad_alloc in a worker's
// batch ended a run with "terminate called ...", rc 134). Each body runs through
// OmpExceptions::run, which keeps the first exception of any thread; rethrow(), after the region,
// throws it on the calling thread, where the run's error handling is.
#include <exception>
#include <mutex>

namespace dposg {

class OmpExceptions {
 public:
  template <class F>
  void run(F&& body) noexcept {
    try {
      body();
    } catch (...) {
      std::lock_guard<std::mutex> hold(mutex_);
      if (!first_) first_ = std::current_exception();
    }
  }
  void rethrow() const {
    if (first_) std::rethrow_exception(first_);
  }

 private:
  std::mutex mutex_;
  std::exception_ptr first_;
};

}  // namespace dposg
