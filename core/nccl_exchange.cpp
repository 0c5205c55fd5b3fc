#include "core/nccl_exchange.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "core/loadable_module.hpp"
#include "core/nccl/nccl_entry_points.hpp"
#include "core/nccl/nccl_module.hpp"

namespace dposg {

#ifndef DPOSG_NCCL_MODULE_PATH

bool nccl_usable(int, std::string* why) {
  if (why) *why = "this build has no NCCL module (it needs CUDA and NCCL at configure time: nccl.h, libnccl.so)";
  return false;
}

std::string nccl_device_bus_id(int) { return ""; }

std::unique_ptr<Exchange> make_nccl_exchange(int, int, int, const std::function<void(void*, std::size_t)>&,
                                             std::function<bool()>) {
  throw std::logic_error("make_nccl_exchange: this build has no NCCL module");
}

#else

namespace {

constexpr int kMessage = 512;

struct Module : NcclEntryPoints {
  std::string error;  // why the module could not be loaded (empty when it was)
};

// Loaded once per process and never unloaded (NCCL keeps threads and CUDA state until exit).
const Module& module() {
  static const Module m = [] {
    Module r;
    std::string tried;
    if (load_module("DPOSG_NCCL_MODULE", DPOSG_NCCL_MODULE_PATH,
                    [&](void* h) { return bind_nccl(h, r); },
                    tried))
      return r;
    r = Module{};
    r.error = "cannot load the NCCL module (" + tried + ")";
    return r;
  }();
  return m;
}

constexpr const char* kTerminated =
    "the MPI job is being ended (SIGTERM): another rank failed or the job was cancelled";

class NcclExchange final : public Exchange {
 public:
  NcclExchange(dposg_nccl* comm, std::function<bool()> cancelled) : comm_(comm), cancelled_(std::move(cancelled)) {}
  ~NcclExchange() override {
    // Unwinding from this rank's own failure: the others may be waiting on an exchange with it and
    // would never reach finalize, so end at once (destroy aborts) and let mpirun end the job.
    if (std::uncaught_exceptions() == uncaught_at_start_) finalize();
    module().destroy(comm_);
  }
  NcclExchange(const NcclExchange&) = delete;
  NcclExchange& operator=(const NcclExchange&) = delete;

  const char* name() const override { return "nccl"; }

  void exchange(std::span<const OutMessage> out, std::span<const InMessage> in) override {
    out_peers_.clear(), out_data_.clear(), out_counts_.clear();
    in_peers_.clear(), in_data_.clear(), in_counts_.clear();
    for (const auto& m : out) out_peers_.push_back(m.peer), out_data_.push_back(m.data), out_counts_.push_back(m.count);
    for (const auto& m : in) in_peers_.push_back(m.peer), in_data_.push_back(m.data), in_counts_.push_back(m.count);
    char message[kMessage] = {};
    if (!module().exchange_start(comm_, static_cast<int>(out.size()), out_peers_.data(), out_data_.data(),
                                 out_counts_.data(), static_cast<int>(in.size()), in_peers_.data(), in_data_.data(),
                                 in_counts_.data(), message, kMessage))
      throw std::runtime_error(message);
    wait(comm_, cancelled_);
  }

  void allreduce_sum(double* v, std::size_t n) override {
    char message[kMessage] = {};
    if (!module().allreduce_start(comm_, v, n, message, kMessage)) throw std::runtime_error(message);
    wait(comm_, cancelled_);
  }

  // Polls the operation (or init) until done; aborts the communicator and throws when it failed or
  // the job is being ended, so that no rank waits forever on a dead peer.
  // ncclCommFinalize completes only when every rank has reached it, and ranks reach teardown at
  // different times (rank 0 writes the results file, a slow rank is still evaluating): the wait is
  // long (DPOSG_NCCL_FINALIZE_TIMEOUT_S, default 600 s) but gives up at once on SIGTERM, which mpirun
  // sends when a rank has died. A finalize that does not complete leaves destroy to abort.
  void finalize() noexcept {
    if (cancelled_()) return;
    char message[kMessage] = {};
    if (!module().finalize_start(comm_, message, kMessage)) {
      std::fprintf(stderr, "dposg: NCCL finalize not started, aborting the communicator: %s\n", message);
      return;
    }
    const double limit = finalize_timeout_s();
    const auto start = std::chrono::steady_clock::now();
    while (true) {
      const int state = module().poll(comm_, message, kMessage);
      if (state == 1) return;
      if (state < 0) {
        std::fprintf(stderr, "dposg: NCCL finalize failed, aborting the communicator: %s\n", message);
        return;
      }
      if (cancelled_()) return;
      if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > limit) {
        std::fprintf(stderr,
                     "dposg: NCCL finalize did not complete within %g s (DPOSG_NCCL_FINALIZE_TIMEOUT_S), "
                     "aborting the communicator\n",
                     limit);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // teardown: no computation to leave room for
    }
  }

  static double finalize_timeout_s() {
    const char* env = std::getenv("DPOSG_NCCL_FINALIZE_TIMEOUT_S");
    char* end = nullptr;
    const double v = env ? std::strtod(env, &end) : 0.0;
    return env && end != env && v > 0.0 ? v : 600.0;
  }

  static void wait(dposg_nccl* comm, const std::function<bool()>& cancelled) {
    char message[kMessage] = {};
    while (true) {
      const int state = module().poll(comm, message, kMessage);
      if (state == 1) return;
      if (state < 0) {
        module().abort(comm);
        throw std::runtime_error(message);
      }
      if (cancelled()) {
        module().abort(comm);
        throw std::runtime_error(kTerminated);
      }
      // Polling NCCL and the stream: a short sleep leaves the core to the computation an overlapped
      // exchange (--overlap) runs beside; the microseconds are small against a round's transfer.
      std::this_thread::sleep_for(std::chrono::microseconds(5));
    }
  }

 private:
  dposg_nccl* comm_;
  std::function<bool()> cancelled_;
  int uncaught_at_start_ = std::uncaught_exceptions();
  // The messages as the module's arrays, kept between rounds.
  std::vector<int> out_peers_, in_peers_;
  std::vector<const double*> out_data_;
  std::vector<double*> in_data_;
  std::vector<std::size_t> out_counts_, in_counts_;
};

}  // namespace

bool nccl_usable(int device, std::string* why) {
  const Module& m = module();
  if (!m.check_device) {
    if (why) *why = m.error;
    return false;
  }
  char message[kMessage] = {};
  if (m.check_device(device, message, kMessage)) return true;
  if (why) *why = message;
  return false;
}

std::string nccl_device_bus_id(int device) {
  const Module& m = module();
  if (!m.bus_id) return "";
  char id[kMessage] = {};
  return m.bus_id(device, id, kMessage) ? std::string(id) : std::string();
}

std::unique_ptr<Exchange> make_nccl_exchange(int rank, int ranks, int device,
                                             const std::function<void(void*, std::size_t)>& broadcast,
                                             std::function<bool()> cancelled) {
  const Module& m = module();
  if (!m.init) throw std::runtime_error(m.error);
  // Rank 0's id and whether it got one, so that a failure there reaches every rank.
  const auto id_bytes = static_cast<std::size_t>(m.id_bytes());
  std::vector<char> buffer(1 + id_bytes + kMessage, 0);
  if (rank == 0) buffer[0] = static_cast<char>(m.unique_id(buffer.data() + 1, buffer.data() + 1 + id_bytes, kMessage));
  broadcast(buffer.data(), buffer.size());
  if (!buffer[0]) throw std::runtime_error(std::string("on rank 0: ") + (buffer.data() + 1 + id_bytes));
  char message[kMessage] = {};
  dposg_nccl* comm = m.init(device, ranks, rank, buffer.data() + 1, message, kMessage);
  if (!comm) throw std::runtime_error(message);
  // Owned from here, so that a failed or cancelled init still releases the communicator.
  auto exchange = std::make_unique<NcclExchange>(comm, cancelled);
  NcclExchange::wait(comm, cancelled);
  return exchange;
}

#endif

}  // namespace dposg
