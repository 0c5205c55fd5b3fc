#include "app/placement.hpp"

#include <cstdio>

#include "core/error.hpp"
#include "gan/cuda/cuda_gan_operator.hpp"

namespace dposg {

namespace {

// The one line of an error this rank met, "<command>: rank R: <what>" (see end_job_for); returns
// the exit code it calls for: 2 for bad input, else 1.
int say_rank_error(const MpiSession& mpi, const std::exception& err, const std::string& command, bool name_rank) {
  const bool input = dynamic_cast<const InputError*>(&err) != nullptr;
  const std::string rank = name_rank && mpi.size() > 1 ? "rank " + std::to_string(mpi.rank()) + ": " : "";
  std::fprintf(stderr, "%s: %s%s%s\n", command.c_str(), rank.c_str(), input ? "" : "error: ", err.what());
  std::fflush(stderr);
  return input ? 2 : 1;
}

}  // namespace

PlacedExperiment place_experiment(ExperimentConfig config, PlacementOptions placement) {
  const std::string& backend = placement.backend;
  const NetworkEmulation& net = placement.net;
  std::string& exchange = placement.exchange;
  if (backend != "sim" && backend != "mpi")
    throw InputError("--backend: expected 'sim' or 'mpi', got '" + backend + "'");
  validate(net);
  if (backend == "sim" && net.enabled())
    throw InputError(std::string(net.latency_s > 0.0 ? "--net-latency" : "--net-bandwidth") +
                     ": network emulation applies to --backend mpi (the simulator has no network)");
  if (backend == "sim" && !exchange.empty())
    throw InputError("--exchange: applies to --backend mpi (the simulator's workers share one process)");
  if (exchange.empty()) exchange = "auto";
  if (exchange != "auto" && exchange != "mpi" && exchange != "nccl")
    throw InputError("--exchange: expected 'auto', 'mpi' or 'nccl', got '" + exchange + "'");
  const bool on_gpu = config.problem.device == "cuda";
  if (exchange == "nccl" && !on_gpu)
    throw InputError("--exchange: 'nccl' needs --device cuda (NCCL moves data between GPUs)");

  // The MPI session comes first: a rank's GPU (which the problem's CUDA operator is created on) is
  // its local rank mod the host's device count. Everything is still validated before the output file
  // is touched, so bad input leaves no file behind.
  PlacedExperiment p;
  if (backend == "mpi") {
    p.mpi = std::make_unique<MpiSession>(nullptr, nullptr);
    const int devices = on_gpu ? gan::cuda::cuda_device_count(nullptr) : 0;
    if (devices > 0) config.problem.cuda_device = p.mpi->local_rank() % devices;
    p.transport = open_exchange(*p.mpi, exchange, on_gpu ? config.problem.cuda_device : -1);
  }
  if (!p.mpi) {
    p.experiment = build_experiment(config);
    if (on_gpu) p.cuda_devices = {config.problem.cuda_device};
    return p;
  }
  try {
    const MpiTransport transport{p.mpi.get(), net, p.transport};
    p.experiment = build_experiment(config, {}, &transport);
  } catch (const std::exception& err) {
    // Deterministic bad input fails on every rank at once; input that differs between ranks (a
    // file present on one host only) fails on some, and the rest must learn of it before rank 0
    // creates the file. The others are still building (the block above makes no collective call)
    // and reach the agreement in their own time: on a loaded machine several seconds after this
    // one. Should one be stuck elsewhere all the same, this rank ends the job after the timeout.
    constexpr double kAgreementSeconds = 60.0;
    const MpiSession::SetupAgreement agreed = p.mpi->agree_on_setup(true, kAgreementSeconds);
    if (!agreed.completed) end_job_for(*p.mpi, err, placement.command);
    if (agreed.failed == p.mpi->size()) {
      // As in one process, rank 0 alone says it; the others leave only after it has (one more
      // agreement, which every rank reaches: all of them failed). A rank that left first had
      // mpirun end the job before rank 0's line was out, now and then (CI, -np 4).
      const int code = p.mpi->rank() == 0 ? say_rank_error(*p.mpi, err, placement.command, false)
                                           : (dynamic_cast<const InputError*>(&err) ? 2 : 1);
      p.mpi->agree_on_setup(false, 0.0);
      throw ReportedError(err.what(), code);
    }
    if (agreed.first_failed != p.mpi->rank()) throw ReportedError(err.what(), 2);
    throw ReportedError(err.what(), say_rank_error(*p.mpi, err, placement.command, true));
  }
  const MpiSession::SetupAgreement agreed = p.mpi->agree_on_setup(false, 0.0);
  if (agreed.failed > 0)
    throw ReportedError("rank " + std::to_string(agreed.first_failed) + " could not set the run up", 2);
  // Every rank's GPU, gathered before the file is opened (collective).
  if (on_gpu) p.cuda_devices = p.mpi->gather(config.problem.cuda_device);
  return p;
}

void end_job_for(const MpiSession& mpi, const std::exception& err, const std::string& command, bool name_rank) {
  mpi.abort(say_rank_error(mpi, err, command, name_rank));
}

void write_placement_attributes(const PlacedExperiment& p, const PlacementOptions& placement, RunWriter& w) {
  w.set_attr("backend", placement.backend);
  w.set_attr("mpi_ranks", static_cast<std::int64_t>(p.mpi ? p.mpi->size() : 0));
  w.set_attr("net_latency_s", placement.net.latency_s);
  w.set_attr("net_bandwidth_Bps", placement.net.bandwidth_Bps);
  // The transport MpiMixer used (DQGAN's server link is MPI either way); "none" in one process.
  w.set_attr("exchange", std::string(p.transport ? p.transport->name() : "none"));
  if (p.experiment.config.problem.device == "cuda")
    w.set_attr("cuda_devices", std::vector<double>(p.cuda_devices.begin(), p.cuda_devices.end()));
}

}  // namespace dposg
