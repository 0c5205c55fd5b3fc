#pragma once
// The entry points of libdposg_nccl.so (core/nccl/nccl_module.hpp) as typed pointers, bound with dlsym
// in one place for its two loaders: core/nccl_exchange.cpp and tests/test_nccl_one_gpu.cpp.
#include "core/loadable_module.hpp"
#include "core/nccl/nccl_module.hpp"

namespace dposg {

struct NcclEntryPoints {
  decltype(&dposg_nccl_id_bytes) id_bytes = nullptr;
  decltype(&dposg_nccl_device_count) device_count = nullptr;
  decltype(&dposg_nccl_check_device) check_device = nullptr;
  decltype(&dposg_nccl_device_bus_id) bus_id = nullptr;
  decltype(&dposg_nccl_unique_id) unique_id = nullptr;
  decltype(&dposg_nccl_init) init = nullptr;
  decltype(&dposg_nccl_exchange_start) exchange_start = nullptr;
  decltype(&dposg_nccl_allreduce_start) allreduce_start = nullptr;
  decltype(&dposg_nccl_poll) poll = nullptr;
  decltype(&dposg_nccl_finalize_start) finalize_start = nullptr;
  decltype(&dposg_nccl_abort) abort = nullptr;
  decltype(&dposg_nccl_destroy) destroy = nullptr;
};

// True when every entry point is found in `handle`.
inline bool bind_nccl(void* h, NcclEntryPoints& e) {
  return bind_symbol(h, "dposg_nccl_id_bytes", e.id_bytes) &&
         bind_symbol(h, "dposg_nccl_device_count", e.device_count) &&
         bind_symbol(h, "dposg_nccl_check_device", e.check_device) &&
         bind_symbol(h, "dposg_nccl_device_bus_id", e.bus_id) && bind_symbol(h, "dposg_nccl_unique_id", e.unique_id) &&
         bind_symbol(h, "dposg_nccl_init", e.init) && bind_symbol(h, "dposg_nccl_exchange_start", e.exchange_start) &&
         bind_symbol(h, "dposg_nccl_allreduce_start", e.allreduce_start) && bind_symbol(h, "dposg_nccl_poll", e.poll) &&
         bind_symbol(h, "dposg_nccl_finalize_start", e.finalize_start) && bind_symbol(h, "dposg_nccl_abort", e.abort) &&
         bind_symbol(h, "dposg_nccl_destroy", e.destroy);
}

}  // namespace dposg
