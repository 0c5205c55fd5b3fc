#pragma once
// Dynamic assignment of independent tasks (a sweep's runs) to the ranks of an MPI job: a rank that
// finishes a task asks for the next, first come first served. Rank 0 serves the requests from a
// thread of its own and takes tasks itself; the computing threads make no MPI call meanwhile, so
// MPI_THREAD_SERIALIZED suffices.
#include <atomic>
#include <cstddef>
#include <optional>
#include <thread>
#include <vector>

#include "core/mpi_backend.hpp"

namespace dposg {

// The number of ranks of the MPI job this process was started in (Open MPI's, MPICH's or a PMI
// environment), 1 when it was not started by mpirun.
int mpi_world_size_from_environment();
// This process's rank in that job, 0 when it was not started by mpirun.
int mpi_world_rank_from_environment();

class MpiTaskQueue {
 public:
  // `tasks` (rank 0's list; the other ranks' is ignored) in the order they are handed out.
  MpiTaskQueue(const MpiSession& session, std::vector<std::size_t> tasks);
  // Ends rank 0's server once every rank has been told that no task is left.
  ~MpiTaskQueue();
  MpiTaskQueue(const MpiTaskQueue&) = delete;
  MpiTaskQueue& operator=(const MpiTaskQueue&) = delete;
  // The next task for this rank, or nullopt when none is left (then keep asking: nullopt again).
  std::optional<std::size_t> next();
  // This rank takes no further task (a sweep stopped by SIGTERM): rank 0's server counts it as
  // done without handing it one, so that the server ends once the other ranks have left too.
  void leave();

 private:
  void serve();
  const MpiSession& session_;
  std::vector<std::size_t> tasks_;
  std::atomic<std::size_t> next_{0};
  bool done_ = false;
  std::thread server_;
};

}  // namespace dposg
