// libdposg_nccl.so: the NCCL transport of --exchange nccl (entry points: core/nccl/nccl_module.hpp).
//
// The driver keeps every iterate in host memory (Eigen, double), so a round here stages through the
// GPU: the outgoing columns are packed into pinned host memory and copied to the device in one copy,
// NCCL moves them (ncclSend/ncclRecv in one group, or ncclAllReduce for complete), and the received
// data is copied back in one copy and unpacked into the caller's buffers. GPU-resident iterates would
// skip both copies; that is a separate item (issue #5).
//
// The communicator is non-blocking (ncclConfig_t::blocking = 0): init and group calls return at once
// (ncclInProgress), and dposg_nccl_poll reads ncclCommGetAsyncError and the stream. The caller's wait
// (core/nccl_exchange.cpp) thus stays in control and can ncclCommAbort when the job is being ended.
#include "core/nccl/nccl_module.hpp"

#include "core/cuda_device_count.hpp"
#include "core/cuda_module.hpp"

#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using dposg::cuda_module::check;
using dposg::cuda_module::write_message;

std::string nccl_text(ncclComm_t comm, const char* what, ncclResult_t r) {
  std::string text = std::string("NCCL: ") + what + ": " + ncclGetErrorString(r);
  const char* last = comm ? ncclGetLastError(comm) : nullptr;
  if (last && *last) text += std::string(" (") + last + ")";
  return text;
}

// ncclInProgress is the normal answer of a non-blocking communicator.
void check(ncclComm_t comm, ncclResult_t r, const char* what) {
  if (r != ncclSuccess && r != ncclInProgress) throw std::runtime_error(nccl_text(comm, what, r));
}

// Buffers only grow: every round of a fixed W has the same size.
template <class Alloc, class Free>
void grow(double*& p, std::size_t& have, std::size_t n, Alloc alloc, Free release) {
  if (n <= have) return;
  if (p) release(p);
  p = nullptr;
  have = 0;
  alloc(&p, n * sizeof(double));
  have = n;
}

}  // namespace

struct dposg_nccl {
  enum class Phase { idle, initializing, enqueueing, running, finalizing, finalized, failed };

  int device = 0;
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  Phase phase = Phase::idle;
  bool aborted = false;
  // Staging: pinned host mirrors of one device buffer for everything sent and one for everything
  // received in a round.
  double *host_out = nullptr, *host_in = nullptr, *dev_out = nullptr, *dev_in = nullptr;
  std::size_t host_out_n = 0, host_in_n = 0, dev_out_n = 0, dev_in_n = 0;
  std::size_t in_total = 0;
  // Where the received doubles go once the round completes, in the order they sit in host_in.
  std::vector<std::pair<double*, std::size_t>> destinations;

  void stage(std::size_t out_total, std::size_t in_n) {
    auto host_alloc = [](double** p, std::size_t bytes) { check(cudaMallocHost(p, bytes), "cudaMallocHost"); };
    auto host_free = [](double* p) { cudaFreeHost(p); };
    auto dev_alloc = [](double** p, std::size_t bytes) { check(cudaMalloc(p, bytes), "cudaMalloc"); };
    auto dev_free = [](double* p) { cudaFree(p); };
    grow(host_out, host_out_n, std::max<std::size_t>(out_total, 1), host_alloc, host_free);
    grow(dev_out, dev_out_n, std::max<std::size_t>(out_total, 1), dev_alloc, dev_free);
    grow(host_in, host_in_n, std::max<std::size_t>(in_n, 1), host_alloc, host_free);
    grow(dev_in, dev_in_n, std::max<std::size_t>(in_n, 1), dev_alloc, dev_free);
    in_total = in_n;
  }

  void upload(std::size_t out_total) {
    if (out_total > 0)
      check(cudaMemcpyAsync(dev_out, host_out, out_total * sizeof(double), cudaMemcpyHostToDevice, stream),
            "cudaMemcpyAsync (outgoing)");
  }

  // 1 done, 0 running; throws on failure.
  int poll() {
    check(cudaSetDevice(device), "cudaSetDevice");
    if (phase == Phase::idle || phase == Phase::finalized) return 1;
    if (phase == Phase::failed) throw std::runtime_error("NCCL: the communicator failed earlier");
    ncclResult_t state = ncclSuccess;
    check(comm, ncclCommGetAsyncError(comm, &state), "ncclCommGetAsyncError");
    if (state == ncclInProgress) return 0;
    if (state != ncclSuccess) throw std::runtime_error(nccl_text(comm, "asynchronous error", state));
    if (phase == Phase::initializing) {
      phase = Phase::idle;
      return 1;
    }
    if (phase == Phase::finalizing) {
      phase = Phase::finalized;
      return 1;
    }
    if (phase == Phase::enqueueing) {
      // Only now are NCCL's kernels on the stream: the copy back must be queued behind them.
      if (in_total > 0)
        check(cudaMemcpyAsync(host_in, dev_in, in_total * sizeof(double), cudaMemcpyDeviceToHost, stream),
              "cudaMemcpyAsync (incoming)");
      phase = Phase::running;
    }
    const cudaError_t e = cudaStreamQuery(stream);
    if (e == cudaErrorNotReady) return 0;
    check(e, "cudaStreamQuery");
    std::size_t offset = 0;
    for (const auto& [data, count] : destinations) {
      std::memcpy(data, host_in + offset, count * sizeof(double));
      offset += count;
    }
    phase = Phase::idle;
    return 1;
  }

  void release() {
    cudaSetDevice(device);
    if (comm && !aborted) {
      // The wait for a finalize is the caller's (dposg_nccl_finalize_start, then poll), where it can
      // give up on SIGTERM; anything short of a completed finalize ends the communicator at once.
      if (phase == Phase::finalized) ncclCommDestroy(comm);
      else ncclCommAbort(comm);
    }
    comm = nullptr;
    // A copy queued before an abort may still read or write the staging buffers.
    if (stream) cudaStreamSynchronize(stream);
    if (stream) cudaStreamDestroy(stream);
    if (host_out) cudaFreeHost(host_out);
    if (host_in) cudaFreeHost(host_in);
    if (dev_out) cudaFree(dev_out);
    if (dev_in) cudaFree(dev_in);
  }
};

extern "C" {

int dposg_nccl_id_bytes(void) { return NCCL_UNIQUE_ID_BYTES; }

int dposg_nccl_device_count(char* message, int size) { return dposg::cuda_module::device_count(message, size); }

int dposg_nccl_check_device(int device, char* message, int size) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    write_message(std::string("no usable CUDA device (cudaGetDeviceCount: ") + cudaGetErrorString(e) + ")", message,
                  size);
    cudaGetLastError();
    return 0;
  }
  if (device < 0 || device >= count) {
    write_message("no CUDA device " + std::to_string(device) + " (this host has " + std::to_string(count) + ")",
                  message, size);
    return 0;
  }
  int version = 0;
  if (const ncclResult_t r = ncclGetVersion(&version); r != ncclSuccess) {
    write_message(nccl_text(nullptr, "ncclGetVersion", r), message, size);
    return 0;
  }
  return 1;
}

int dposg_nccl_device_bus_id(int device, char* id, int size) {
  const cudaError_t e = cudaDeviceGetPCIBusId(id, size, device);
  if (e == cudaSuccess) return 1;
  write_message(std::string("cudaDeviceGetPCIBusId: ") + cudaGetErrorString(e), id, size);
  cudaGetLastError();
  return 0;
}

int dposg_nccl_unique_id(void* id, char* message, int size) {
  ncclUniqueId u;
  if (const ncclResult_t r = ncclGetUniqueId(&u); r != ncclSuccess) {
    write_message(nccl_text(nullptr, "ncclGetUniqueId", r), message, size);
    return 0;
  }
  std::memcpy(id, &u, sizeof u);
  return 1;
}

dposg_nccl* dposg_nccl_init(int device, int ranks, int rank, const void* id, char* message, int size) {
  auto* c = new dposg_nccl;
  try {
    c->device = device;
    check(cudaSetDevice(device), "cudaSetDevice");
    check(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), "cudaStreamCreate");
    ncclUniqueId u;
    std::memcpy(&u, id, sizeof u);
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    c->phase = dposg_nccl::Phase::initializing;
    check(c->comm, ncclCommInitRankConfig(&c->comm, ranks, u, rank, &config), "ncclCommInitRankConfig");
    return c;
  } catch (const std::exception& e) {
    write_message(e.what(), message, size);
    c->release();
    delete c;
    return nullptr;
  }
}

int dposg_nccl_exchange_start(dposg_nccl* c, int n_out, const int* out_peers, const double* const* out_data,
                              const std::size_t* out_counts, int n_in, const int* in_peers, double* const* in_data,
                              const std::size_t* in_counts, char* message, int size) {
  bool in_group = false;  // a failed send or recv must still close the group (NCCL's group depth is per thread)
  try {
    if (c->phase != dposg_nccl::Phase::idle) throw std::logic_error("dposg_nccl_exchange_start: an operation is pending");
    check(cudaSetDevice(c->device), "cudaSetDevice");
    std::size_t out_total = 0, in_n = 0;
    for (int k = 0; k < n_out; ++k) out_total += out_counts[k];
    for (int k = 0; k < n_in; ++k) in_n += in_counts[k];
    c->stage(out_total, in_n);
    std::size_t offset = 0;
    for (int k = 0; k < n_out; ++k) {
      std::memcpy(c->host_out + offset, out_data[k], out_counts[k] * sizeof(double));
      offset += out_counts[k];
    }
    c->upload(out_total);
    c->destinations.clear();
    check(c->comm, ncclGroupStart(), "ncclGroupStart");
    in_group = true;
    offset = 0;
    for (int k = 0; k < n_out; ++k) {
      check(c->comm, ncclSend(c->dev_out + offset, out_counts[k], ncclDouble, out_peers[k], c->comm, c->stream),
            "ncclSend");
      offset += out_counts[k];
    }
    offset = 0;
    for (int k = 0; k < n_in; ++k) {
      check(c->comm, ncclRecv(c->dev_in + offset, in_counts[k], ncclDouble, in_peers[k], c->comm, c->stream),
            "ncclRecv");
      c->destinations.emplace_back(in_data[k], in_counts[k]);
      offset += in_counts[k];
    }
    c->phase = dposg_nccl::Phase::enqueueing;
    in_group = false;
    check(c->comm, ncclGroupEnd(), "ncclGroupEnd");
    return 1;
  } catch (const std::exception& e) {
    if (in_group) (void)ncclGroupEnd();
    c->phase = dposg_nccl::Phase::failed;
    write_message(e.what(), message, size);
    return 0;
  }
}

int dposg_nccl_allreduce_start(dposg_nccl* c, double* v, std::size_t n, char* message, int size) {
  try {
    if (c->phase != dposg_nccl::Phase::idle) throw std::logic_error("dposg_nccl_allreduce_start: an operation is pending");
    check(cudaSetDevice(c->device), "cudaSetDevice");
    c->stage(n, n);
    std::memcpy(c->host_out, v, n * sizeof(double));
    c->upload(n);
    c->destinations.assign(1, {v, n});
    c->phase = dposg_nccl::Phase::enqueueing;
    check(c->comm, ncclAllReduce(c->dev_out, c->dev_in, n, ncclDouble, ncclSum, c->comm, c->stream), "ncclAllReduce");
    return 1;
  } catch (const std::exception& e) {
    c->phase = dposg_nccl::Phase::failed;
    write_message(e.what(), message, size);
    return 0;
  }
}

int dposg_nccl_poll(dposg_nccl* c, char* message, int size) {
  try {
    return c->poll();
  } catch (const std::exception& e) {
    c->phase = dposg_nccl::Phase::failed;
    write_message(e.what(), message, size);
    return -1;
  }
}

int dposg_nccl_finalize_start(dposg_nccl* c, char* message, int size) {
  try {
    if (c->aborted || c->phase == dposg_nccl::Phase::failed)
      throw std::runtime_error("NCCL: the communicator failed or was aborted earlier");
    if (c->phase != dposg_nccl::Phase::idle) throw std::logic_error("dposg_nccl_finalize_start: an operation is pending");
    check(cudaSetDevice(c->device), "cudaSetDevice");
    c->phase = dposg_nccl::Phase::finalizing;
    check(c->comm, ncclCommFinalize(c->comm), "ncclCommFinalize");
    return 1;
  } catch (const std::exception& e) {
    c->phase = dposg_nccl::Phase::failed;
    write_message(e.what(), message, size);
    return 0;
  }
}

void dposg_nccl_abort(dposg_nccl* c) {
  cudaSetDevice(c->device);
  if (c->comm && !c->aborted) ncclCommAbort(c->comm);
  c->aborted = true;
  c->phase = dposg_nccl::Phase::failed;
}

void dposg_nccl_destroy(dposg_nccl* c) {
  if (!c) return;
  c->release();
  delete c;
}

}  // extern "C"
