#pragma once
// The MPI backend (`mpirun -np P dposg run --backend mpi`), plugged in below the one driver: each
// process (rank) holds a contiguous block of M/P workers as a local d x (M/P) matrix. MpiMixer
// applies W^t to the distributed columns, exchanging per round only the columns a neighbour in W
// needs (point-to-point, non-blocking); W = 11^T/M is one MPI_Allreduce of the column sums. The
// partition sums the metrics' partial sums across ranks at logging iterations only. Every rank
// draws the same random rings from (seed, iteration, round) (MixingSchedule) and each worker its
// noise from its own stream (seed, global worker index), so a run equals the in-process one to
// round-off. DQGAN (--algorithm dqgan) runs with rank 0 as its parameter server (the messages
// travel in Compressor::encode's wire format). Built where CMake finds MPI (DPOSG_HAVE_MPI); elsewhere MpiSession throws InputError.
#include <memory>

#include "core/experiment.hpp"

namespace dposg {

// MPI_Init / MPI_Finalize for the lifetime of the object (MPI_COMM_WORLD).
class MpiSession {
 public:
  // Throws InputError naming --backend in a build without MPI.
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  int rank() const { return rank_; }
  int size() const { return size_; }
  // Ends every rank of the job with `code` (a failure on one rank must not leave the others waiting).
  [[noreturn]] void abort(int code) const;

 private:
  int rank_ = 0;
  int size_ = 1;
};

// Replaces e.mixer (or DQGAN's server link) and e.Z0 by this rank's part and returns the partition
// to hand to run_experiment. Throws InputError when M is not a multiple of the number of ranks, or
// the run uses compressed (CHOCO) gossip, which is not distributed.
std::unique_ptr<WorkerPartition> distribute(Experiment& e, const MpiSession& session);

}  // namespace dposg
