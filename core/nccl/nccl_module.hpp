#pragma once
// The entry points of libdposg_nccl.so (core/nccl/nccl_module.cpp), the NCCL transport of
// `--exchange nccl` (core/nccl_exchange.cpp loads it with dlopen). A separate module for the same
// reason as the CUDA GAN module (gan/cuda/device_gan.hpp): dposg itself links neither cudart nor NCCL,
// so it builds and runs where neither is installed, and only runs that ask for NCCL load them.
//
// C linkage and plain types only. Functions that can fail write a NUL-terminated reason into
// [message, message + size). Every operation is started and then polled (dposg_nccl_poll) rather
// than waited for inside the module, so that the caller's wait can give up when the job is being
// ended (SIGTERM) and abort the communicator instead of hanging on a dead peer.
#include <cstddef>

extern "C" {

struct dposg_nccl;  // one communicator, its CUDA stream and its staging buffers, on one device

// Bytes of an NCCL unique id (NCCL_UNIQUE_ID_BYTES).
int dposg_nccl_id_bytes(void);

// The number of CUDA devices (> 0); 0 and the reason where there is none (cudaErrorNoDevice, or a
// count of 0); -cudaError_t and the reason for any other failure (an old driver, ...), so that a test
// can tell a machine without a GPU from a broken set-up (tests/cuda_gate.hpp).
int dposg_nccl_device_count(char* message, int size);

// 1 when device ordinal `device` exists and NCCL can be used; otherwise 0 and the reason.
int dposg_nccl_check_device(int device, char* message, int size);
// The PCI bus id of device ordinal `device` ("0000:3b:00.0"), NUL-terminated in [id, id + size):
// one physical GPU whatever CUDA_VISIBLE_DEVICES renumbers. 1, or 0 and the reason in `id`.
int dposg_nccl_device_bus_id(int device, char* id, int size);

// ncclGetUniqueId into id[0 .. dposg_nccl_id_bytes()); 1 on success, else 0 and the reason.
int dposg_nccl_unique_id(void* id, char* message, int size);

// Starts joining the communicator `id` as `rank` of `ranks` on `device` (non-blocking: poll until
// done). Null and the reason on an immediate failure.
dposg_nccl* dposg_nccl_init(int device, int ranks, int rank, const void* id, char* message, int size);

// Starts one round of point-to-point messages: out[k] (out_counts[k] doubles at out_data[k], host)
// to rank out_peers[k], in[k] from in_peers[k] into in_data[k]. The outgoing data is copied at once
// (the caller may reuse it); the incoming lands in in_data when poll returns 1. 1 started, 0 failed.
int dposg_nccl_exchange_start(dposg_nccl* c, int n_out, const int* out_peers, const double* const* out_data,
                              const std::size_t* out_counts, int n_in, const int* in_peers, double* const* in_data,
                              const std::size_t* in_counts, char* message, int size);

// Starts v <- the sum of every rank's v (n doubles, host); v holds it when poll returns 1. 1 started,
// 0 failed.
int dposg_nccl_allreduce_start(dposg_nccl* c, double* v, std::size_t n, char* message, int size);

// The state of the operation last started (or of init): 1 done, 0 still running, -1 failed (reason).
int dposg_nccl_poll(dposg_nccl* c, char* message, int size);

// Starts ncclCommFinalize, the clean end, which completes only once every rank has reached it: poll
// until done (1), then destroy. 1 started, 0 failed (an operation pending, or NCCL's error).
int dposg_nccl_finalize_start(dposg_nccl* c, char* message, int size);

// ncclCommAbort: ends the communicator at once, pending operations included (a peer is gone).
void dposg_nccl_abort(dposg_nccl* c);

// Releases everything: ncclCommDestroy after a finalize that completed, else ncclCommAbort (the
// caller gave up waiting, failed, or never finalized).
void dposg_nccl_destroy(dposg_nccl* c);

}  // extern "C"
