#include "app/placement.hpp"

#include "core/error.hpp"
#include "gan/cuda/cuda_gan_operator.hpp"

namespace dposg {

std::unique_ptr<WorkerPartition> distribute(Experiment& e, const MpiSession& session, const NetworkEmulation& net,
                                           std::shared_ptr<Exchange> exchange) {
  const auto& c = e.config;
  validate(net);
  if (c.overlap && !serialized_threads(session))
    throw InputError("--overlap: this MPI library does not provide MPI_THREAD_SERIALIZED, which the exchange thread needs");
  if (c.engine == "resident")
    throw InputError("--engine: 'resident' runs in one process (--backend sim); MPI ranks use the host engine");
  e.engine.reset();  // auto: the ranks' iterates stay on the host, their operator on the GPU
  const Index M = c.workers;
  const Index P = session.size();
  if (M % P != 0)
    throw InputError("--workers: " + std::to_string(M) + " is not a multiple of the number of MPI ranks " +
                     std::to_string(P));
  const Index block = M / P;
  const Index first = static_cast<Index>(session.rank()) * block;
  if (c.algorithm == "dqgan") {
    // The parameter-server mixer moves nothing; the rule's server moves to rank 0.
    if (!attach_server_link(*e.rule, make_mpi_server_link(session, first, block, M, net)))
      throw std::logic_error("--algorithm dqgan built a rule that is not DQGAN");
  } else if (c.compressor != "none") {
    e.mixer = make_mpi_compressed_mixer(e.mixer->schedule(), e.compressor, c.gossip_step, c.seed, session, net);
  } else {
    e.mixer = make_mpi_mixer(e.mixer->schedule(), session, net, std::move(exchange));
  }
  e.Z0 = e.Z0.middleCols(first, block).eval();
  return make_mpi_partition(first, M);
}

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
  p.experiment = build_experiment(config);
  if (p.mpi) p.partition = distribute(p.experiment, *p.mpi, net, p.transport);
  // Every rank's GPU, gathered before the file is opened (collective).
  if (on_gpu)
    p.cuda_devices = p.mpi ? p.mpi->gather(config.problem.cuda_device) : std::vector<int>{config.problem.cuda_device};
  return p;
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
