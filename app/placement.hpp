#pragma once
// Placement: where the workers of a run live (--backend sim | mpi) and how their messages travel
// (--exchange, --net-latency, --net-bandwidth). The composition root's part that puts the MPI engine
// pieces of core/mpi_backend.hpp together with an experiment.
#include <memory>
#include <string>
#include <vector>

#include "app/experiment.hpp"
#include "core/mpi_backend.hpp"

namespace dposg {

struct PlacementOptions {
  std::string backend = "sim";  // sim | mpi
  NetworkEmulation net;
  std::string exchange;  // auto | mpi | nccl; empty: not given (auto)
  std::string command = "dposg run";  // names the command in a rank's one line (end_job_for)
};

// An experiment built for its placement: under MPI this rank's part, with the session it runs in.
struct PlacedExperiment {
  std::unique_ptr<MpiSession> mpi;     // null: one process
  std::shared_ptr<Exchange> transport;  // MpiMixer's transport (null: one process)
  Experiment experiment;  // under MPI, this rank's part (experiment.partition)
  std::vector<int> cuda_devices;  // every rank's GPU under --device cuda (gathered on rank 0), else empty
  bool writes() const { return !mpi || mpi->rank() == 0; }
};

// Validates the placement, opens the MPI session (its rank's GPU is its local rank mod the host's
// device count), opens the exchange and builds the experiment (every part once) for this rank; throws InputError naming
// the option. Nothing is written. Under MPI, when the set-up fails on some ranks but not all (bad
// input that one rank alone sees: a file only it cannot read), that rank ends the job
// (end_job_for); when it fails on every rank, the error is thrown on every rank as in one process.
PlacedExperiment place_experiment(ExperimentConfig config, PlacementOptions placement);

// An error this rank alone met, under MPI: one line on stderr, "<command>: rank R: <what>" (the
// rank left out where it says nothing: a single rank, or rank 0's output file), then every rank of the job ends, with 2 for bad input
// (InputError) and 1 otherwise. The others may be waiting for this rank in a collective call:
// returning would leave them there.
[[noreturn]] void end_job_for(const MpiSession& mpi, const std::exception& err, const std::string& command,
                              bool name_rank = true);

// The placement's run attributes (backend, ranks, network emulation, exchange, GPUs).
void write_placement_attributes(const PlacedExperiment& p, const PlacementOptions& placement, RunWriter& w);

}  // namespace dposg
