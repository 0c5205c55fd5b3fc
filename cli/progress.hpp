#pragma once
// A one-line progress display on stderr, shown only when stderr is a terminal.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>

#include "core/driver.hpp"

namespace dposg::cli {

class Progress final : public Observer {
 public:
  explicit Progress(std::int64_t total, bool enabled = isatty(STDERR_FILENO) != 0) : total_(total), enabled_(enabled) {}
  void on_log(const MetricsRow& row) override {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(100) && row.iteration != total_) return;
    last_ = now;
    const double elapsed = row.get("wall_time_s");
    const double frac = total_ > 0 ? static_cast<double>(row.iteration) / static_cast<double>(total_) : 1.0;
    const double remaining = frac > 0 ? elapsed * (1.0 - frac) / frac : 0.0;
    std::fprintf(stderr, "\r  iteration %lld/%lld (%3.0f%%)  |g(z_bar)|^2 = %.3e  consensus = %.3e  %.1fs, ~%.1fs left ",
                 static_cast<long long>(row.iteration), static_cast<long long>(total_), 100.0 * frac,
                 row.get("grad_norm_sq"), row.get("consensus_error"), elapsed, remaining);
    std::fflush(stderr);
    shown_ = true;
  }
  void on_finish(const RunOutcome&) override {
    if (shown_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  std::int64_t total_;
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace dposg::cli
