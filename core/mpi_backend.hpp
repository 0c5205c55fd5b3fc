#pragma once
// The MPI backend (`mpirun -np P dposg run --backend mpi`), plugged in below the one driver: each
// process (rank) holds a contiguous block of M/P workers as a local d x (M/P) matrix. MpiMixer
// applies W^t to the distributed columns, exchanging per round only the columns a neighbour in W
// needs (point-to-point, non-blocking); W = 11^T/M is one MPI_Allreduce of the column sums. The
// partition sums the metrics' partial sums across ranks at logging iterations only. Every rank
// draws the same random rings from (seed, iteration, round) (MixingSchedule) and each worker its
// noise from its own stream (seed, global worker index), so a run equals the in-process one to
// round-off. DQGAN (--algorithm dqgan) runs with rank 0 as its parameter server (the messages
// travel in Compressor::encode's wire format), and CHOCO gossip (--compressor with --algorithm dposg)
// as MpiCompressedMixer, whose encoded messages go to the neighbouring ranks (all ranks for random
// rings and complete). Built where CMake finds MPI (DPOSG_HAVE_MPI); elsewhere MpiSession throws InputError.
//
// MpiMixer's messages go through an Exchange (core/exchange.hpp), chosen by --exchange: MPI on the
// host buffers, or NCCL between the ranks' GPUs (open_exchange below). DQGAN's server link, CHOCO's
// compressed messages and the metrics' reductions stay on MPI.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/compressor.hpp"
#include "core/dqgan.hpp"
#include "core/driver.hpp"
#include "core/exchange.hpp"
#include "core/mixer.hpp"

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
  // The MPI_THREAD_* level MPI_Init_thread provided (SERIALIZED requested).
  int thread_level() const { return thread_level_; }
  // This rank's index among the ranks on its host (MPI_Comm_split_type, MPI_COMM_TYPE_SHARED).
  int local_rank() const { return local_rank_; }
  // Every rank's `value`, in rank order, on rank 0 (empty elsewhere). Collective.
  std::vector<int> gather(int value) const;
  // Ends every rank of the job with `code` (a failure on one rank must not leave the others waiting).
  [[noreturn]] void abort(int code) const;
  // Every rank's `per_rank` values, in rank order, on every rank. Collective.
  std::vector<std::int64_t> all_gather(const std::vector<std::int64_t>& mine) const;
  // Rank 0's `value` on every rank. Collective; throws (as the exchanges do) when the job is
  // being ended while it waits.
  std::string broadcast(const std::string& value) const;
  // Every rank says whether its set-up failed; all learn how many failed and the first that did.
  // A rank that failed may have left the others in a collective call of the set-up (on
  // MPI_COMM_WORLD) that this cannot match, as it runs on a communicator of its own: it waits at
  // most `timeout_s` (completed = false, and the caller ends the job); the others wait for it
  // (throwing, as the exchanges do, if the job is being ended).
  struct SetupAgreement {
    bool completed = true;
    int failed = 0;        // ranks whose set-up failed
    int first_failed = -1;
  };
  SetupAgreement agree_on_setup(bool failed, double timeout_s) const;
  // Whether rank 0 runs on this rank's host (MPI_COMM_TYPE_SHARED): such a rank can see rank 0's
  // file, and end its run when rank 0 dies.
  bool shares_host_with_rank0() const { return with_rank0_; }

 private:
  int rank_ = 0;
  int size_ = 1;
  int thread_level_ = 0;
  int local_rank_ = 0;
  bool with_rank0_ = true;
  void* failure_comm_ = nullptr;  // MPI_Comm, a duplicate of MPI_COMM_WORLD (mpi.h stays out of this header)
};

// True once this process got SIGTERM from mpirun: another rank died or the job was cancelled.
// A rank's failure for that reason is not news; the failure that caused it is reported elsewhere.
bool mpi_job_ending();

// This process's rank in the MPI session it opened (it may have ended since), -1 if it opened none.
// An error that every rank met is said once, by rank 0.
int mpi_world_rank();

// An emulated network (--net-latency, --net-bandwidth): after each exchange of the algorithm's
// traffic completes, the rank sleeps for what the messages would have taken on a network with this
// per-message latency and per-rank link bandwidth, on top of the real transfer (shared memory or
// the interconnect). A cost model, not a network: per gossip round, L + (bytes this rank sends)/B;
// complete (all-reduce), the bandwidth-optimal ring all-reduce's 2(P-1) steps of d/P doubles,
// 2(P-1) (L + 8d/(P B)); DQGAN, the gather into rank 0, L + (bytes rank 0 receives)/B, and a
// binomial-tree broadcast, ceil(log2 P) (L + 8d/B); CHOCO's all-gather, P - 1 steps of the rank's
// block of encoded messages. The metrics' reductions at logging iterations
// are instrumentation and are not delayed. scripts/netns-latency.sh makes the latency real instead
// (network namespaces joined by veth pairs with tc netem).
struct NetworkEmulation {
  double latency_s = 0.0;      // L, seconds per message
  double bandwidth_Bps = 0.0;  // B, bytes per second per rank; 0: no bandwidth term
  bool enabled() const { return latency_s > 0.0 || bandwidth_Bps > 0.0; }
};

// Throws InputError naming --net-latency or --net-bandwidth when negative or not finite.
void validate(const NetworkEmulation& net);

// The transport of MpiMixer's messages for `dposg run --exchange REQUESTED` (collective: every rank
// calls it with the same request, one of auto|mpi|nccl, validated by the caller). `cuda_device`: this
// rank's GPU ordinal under --device cuda (whether or not the device exists), -1 otherwise.
// "mpi": MPI on host buffers. "nccl": NCCL between the ranks' GPUs; InputError naming --exchange when
// it cannot be used (no NCCL module, no device, or two ranks of one host on the same GPU, which NCCL
// refuses) on any rank. "auto": NCCL when it could be used, else MPI. Errors of NCCL itself (the
// communicator's init) are std::runtime_error.
std::shared_ptr<Exchange> open_exchange(const MpiSession& session, const std::string& requested, int cuda_device);

// open_exchange's agreement on NCCL, apart so that it can be tested without GPUs. Collective: every
// rank calls it, whatever it found. `usable` and `why`: this rank's own finding (nccl_usable);
// `bus_id`: its GPU's PCI bus id (nccl_device_bus_id; "" where unusable). Returns "" when every rank
// can use NCCL, else the same text on every rank: "<R's reason> (rank R)", R the first rank that
// cannot (two ranks of one host on one GPU make both unable).
std::string nccl_refusal(const MpiSession& session, bool usable, std::string why, const std::string& bus_id);

// The MPI engine parts, which the composition root (app/placement.hpp) puts together for a run; each
// throws InputError naming --backend in a build without MPI.
// This rank's part of W^t over the gossip messages' `exchange` (null: MPI).
std::unique_ptr<Mixer> make_mpi_mixer(MixingSchedule schedule, const MpiSession& session, const NetworkEmulation& net,
                                      std::shared_ptr<Exchange> exchange);
// CHOCO gossip between the ranks: its encoded messages travel over MPI whatever --exchange says.
std::unique_ptr<Mixer> make_mpi_compressed_mixer(MixingSchedule schedule, std::shared_ptr<const Compressor> compressor,
                                                 double gossip_step, std::uint64_t seed, const MpiSession& session,
                                                 const NetworkEmulation& net);
// DQGAN's server link, rank 0 the server; this rank holds workers [first, first + block) of M.
std::shared_ptr<ServerLink> make_mpi_server_link(const MpiSession& session, Index first, Index block, Index M,
                                                 const NetworkEmulation& net);
// The partition of a rank holding workers from `first` of M: sums the metrics across ranks.
std::unique_ptr<WorkerPartition> make_mpi_partition(Index first, Index M);
// Whether MPI provides MPI_THREAD_SERIALIZED, which --overlap's exchange thread needs.
bool serialized_threads(const MpiSession& session);

// Seconds of emulated network delay this process has slept so far.
double emulated_network_seconds();

}  // namespace dposg
