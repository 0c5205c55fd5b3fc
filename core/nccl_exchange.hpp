#pragma once
// --exchange nccl: MpiMixer's messages between the ranks' GPUs through NCCL (core/exchange.hpp). The
// NCCL calls live in the module libdposg_nccl.so (core/nccl/nccl_module.hpp), loaded with dlopen on
// first use from $DPOSG_NCCL_MODULE if set, else the build tree's copy, else next to the executable.
// Built where CMake finds CUDA and NCCL; elsewhere nccl_usable says so and make_nccl_exchange throws.
// MPI stays outside: the caller hands in how to broadcast NCCL's unique id and how to tell that the
// job is being ended (core/mpi_backend.cpp).
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "core/exchange.hpp"

namespace dposg {

// True when this process can join an NCCL communicator on device ordinal `device` (the module loads
// and the device exists); otherwise `why` says why.
bool nccl_usable(int device, std::string* why);

// The PCI bus id of device ordinal `device` (which physical GPU it is, whatever CUDA_VISIBLE_DEVICES
// renumbers), or empty when the module or the device is unavailable.
std::string nccl_device_bus_id(int device);

// Joins the communicator of `ranks` ranks as `rank` on `device`. `broadcast(buffer, bytes)` must copy
// rank 0's buffer to every rank (collective); `cancelled()` is polled by every wait, which then aborts
// the communicator and throws instead of waiting on a dead peer. Throws std::runtime_error with
// NCCL's or CUDA's error text.
std::unique_ptr<Exchange> make_nccl_exchange(int rank, int ranks, int device,
                                             const std::function<void(void*, std::size_t)>& broadcast,
                                             std::function<bool()> cancelled);

}  // namespace dposg
