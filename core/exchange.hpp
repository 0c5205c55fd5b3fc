#pragma once
// The transport below MpiMixer (core/mpi_backend.cpp): one gossip round's point-to-point messages and
// the complete topology's sum over ranks. MpiMixer decides what travels (the columns a neighbour's
// workers need, byte counts, the emulated network); an Exchange only moves it. Two of them, chosen by
// `dposg run --exchange` (README, "GPU ranks"): MPI on host buffers (core/mpi_backend.cpp) and NCCL
// between the ranks' GPUs (core/nccl_exchange.hpp). Both move doubles unchanged, so the gossip result
// does not depend on the transport; the sum's order is the transport's own.
#include <cstddef>
#include <span>

namespace dposg {

// A message to or from rank `peer`: `count` doubles at `data` (host memory).
struct OutMessage {
  int peer;
  const double* data;
  std::size_t count;
};
struct InMessage {
  int peer;
  double* data;
  std::size_t count;
};

class Exchange {
 public:
  virtual ~Exchange() = default;
  // "mpi" or "nccl" (the run attribute `exchange`).
  virtual const char* name() const = 0;
  // Sends every `out` message and receives every `in` message; returns when all have completed. Every
  // message to a peer must be matched by one from it in the same call, in the same order per pair.
  // Throws std::runtime_error when the transport fails or the job is being ended (SIGTERM).
  virtual void exchange(std::span<const OutMessage> out, std::span<const InMessage> in) = 0;
  // v <- the elementwise sum of every rank's v.
  virtual void allreduce_sum(double* v, std::size_t n) = 0;
};

}  // namespace dposg
