#include "core/mpi_backend.hpp"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <string>
#include <thread>

#include "core/checkpoint.hpp"
#include "core/compressor.hpp"
#include "core/dqgan.hpp"
#include "core/error.hpp"
#include "core/nccl_exchange.hpp"

#ifdef DPOSG_HAVE_MPI
// The C API only: the deprecated C++ bindings are not used (and warn under -Wextra).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <csignal>
#include <ctime>
#include <sys/prctl.h>
#include <unistd.h>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>
#endif

namespace dposg {

void validate(const NetworkEmulation& net) {
  if (!(std::isfinite(net.latency_s) && net.latency_s >= 0.0))
    throw InputError(setting("net.latency") + ": must be a finite number of seconds >= 0, got " + std::to_string(net.latency_s));
  if (!(std::isfinite(net.bandwidth_Bps) && net.bandwidth_Bps >= 0.0))
    throw InputError(setting("net.bandwidth") + ": must be a finite number of bytes per second >= 0 (0: no limit), got " +
                     std::to_string(net.bandwidth_Bps));
}

namespace {
double g_emulated_seconds = 0.0;
int g_world_rank = -1;
}  // namespace

int mpi_world_rank() { return g_world_rank; }

double emulated_network_seconds() { return g_emulated_seconds; }

#ifndef DPOSG_HAVE_MPI

MpiSession::MpiSession(int*, char***) {
  throw InputError(setting("engine.backend") + ": 'mpi' needs a build with MPI (install libopenmpi-dev and re-run cmake)");
}
MpiSession::~MpiSession() = default;
void MpiSession::abort(int code) const { std::exit(code); }
std::vector<int> MpiSession::gather(int value) const { return {value}; }
std::string MpiSession::broadcast(const std::string& value) const { return value; }
std::vector<std::int64_t> MpiSession::all_gather(const std::vector<std::int64_t>& mine) const { return mine; }
MpiSession::SetupAgreement MpiSession::agree_on_setup(bool failed, double) const {
  return {true, failed ? 1 : 0, failed ? 0 : -1};
}
bool mpi_job_ending() { return false; }

std::string nccl_refusal(const MpiSession&, bool, std::string, const std::string&) {
  throw InputError(setting("engine.backend") + ": 'mpi' needs a build with MPI (install libopenmpi-dev and re-run cmake)");
}

std::shared_ptr<Exchange> open_exchange(const MpiSession&, const std::string&, int) {
  throw InputError(setting("engine.backend") + ": 'mpi' needs a build with MPI (install libopenmpi-dev and re-run cmake)");
}

namespace {
[[noreturn]] void no_mpi() {
  throw InputError(setting("engine.backend") + ": 'mpi' needs a build with MPI (install libopenmpi-dev and re-run cmake)");
}
}  // namespace

std::unique_ptr<Mixer> make_mpi_mixer(MixingSchedule, const MpiSession&, const NetworkEmulation&,
                                      std::shared_ptr<Exchange>) {
  no_mpi();
}
std::unique_ptr<Mixer> make_mpi_compressed_mixer(MixingSchedule, std::shared_ptr<const Compressor>, double,
                                                 std::uint64_t, const MpiSession&, const NetworkEmulation&) {
  no_mpi();
}
std::shared_ptr<ServerLink> make_mpi_server_link(const MpiSession&, Index, Index, Index, const NetworkEmulation&) {
  no_mpi();
}
std::unique_ptr<WorkerPartition> make_mpi_partition(Index, Index) { no_mpi(); }
bool serialized_threads(const MpiSession&) { no_mpi(); }

#else

namespace {

// Sleeps for what `messages` sequential steps of `bytes_per_step` bytes each take under `net`.
void emulate(const NetworkEmulation& net, double messages, double bytes_per_step) {
  if (!net.enabled() || messages <= 0.0) return;
  const double seconds =
      messages * (net.latency_s + (net.bandwidth_Bps > 0.0 ? bytes_per_step / net.bandwidth_Bps : 0.0));
  g_emulated_seconds += seconds;
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

// Set by SIGTERM. mpirun sends every rank SIGTERM both when the job is cancelled (mpirun itself got
// SIGTERM or SIGINT: a scheduler's preemption, a ^C) and when a rank has died, and SIGKILL
// odls_base_sigkill_timeout seconds later (1 s by default; measured here: SIGTERM reaches the
// ranks ~1 s after mpirun gets it, SIGKILL follows ~1 s after that).
//
// The two cases need opposite things, and the ranks cannot tell them apart locally. So SIGTERM
// is first a stop request (core/checkpoint.hpp): the driver's per-iteration agreement
// (checkpoint_due: a sum over all ranks) sees it on every rank at the same iteration when every
// rank is alive, and the run writes its last checkpoint and ends `interrupted`. Only a wait that
// is still blocked kTerminationGrace after the SIGTERM gives up (a peer is dead, or the agreement
// cannot complete): it throws, the driver ends the run `failed`, and rank 0 writes that status in
// what is left of the grace period before the SIGKILL.
// Atomics, not volatile: the handler may run on any thread of the process (OpenMP's, MPI's), and
// whoever sees g_terminated must also see the stop request and the time stored before it.
std::atomic<int> g_terminated{0};
// CLOCK_MONOTONIC nanoseconds at the SIGTERM (clock_gettime is async-signal-safe).
std::atomic<std::int64_t> g_terminated_at_ns{0};
constexpr std::int64_t kTerminationGraceNs = 500'000'000;

std::int64_t monotonic_ns() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

extern "C" void on_sigterm(int) {
  request_stop(SIGTERM);
  if (!g_terminated.load()) g_terminated_at_ns.store(monotonic_ns());
  g_terminated.store(1);
}

// True once a SIGTERM is older than the grace period: a wait still blocked then will not complete.
bool past_termination_grace() {
  return g_terminated && monotonic_ns() - g_terminated_at_ns.load() > kTerminationGraceNs;
}

MPI_Comm as_comm(void* c) { return static_cast<MPI_Comm>(c); }

// True on the thread that runs MpiMixer::mix_while's exchanges: its waits sleep between polls, so
// that it leaves the cores to the operator evaluation it overlaps with.
thread_local bool t_background = false;

// MPI_Waitall that gives up when the job is being ended.
void wait_all(MPI_Request* requests, int n) {
  int done = 0;
  while (true) {
    MPI_Testall(n, requests, &done, MPI_STATUSES_IGNORE);
    if (done) return;
    if (past_termination_grace())
      throw std::runtime_error("the MPI job is being ended (SIGTERM): another rank failed or the job was cancelled");
    if (t_background) std::this_thread::sleep_for(std::chrono::microseconds(5));
  }
}

void wait_all(std::vector<MPI_Request>& requests) { wait_all(requests.data(), static_cast<int>(requests.size())); }

void wait_one(MPI_Request& request) { wait_all(&request, 1); }

// v <- the elementwise sum of every rank's v (the metrics' partial sums; the complete topology's mean).
void sum_over_ranks(double* v, std::size_t n) {
  MPI_Request request;
  MPI_Iallreduce(MPI_IN_PLACE, v, static_cast<int>(n), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &request);
  wait_one(request);
}

}  // namespace

MpiSession::MpiSession(int* argc, char*** argv) {
  struct sigaction action {};
  action.sa_handler = on_sigterm;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  // Emulated latencies are 0.1 ms sleeps; the default 50 us timer slack would add half of that.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  int initialized = 0;
  MPI_Initialized(&initialized);
  // SERIALIZED: under --overlap the exchange runs on a second thread while the first computes; the
  // two never call MPI at the same time.
  if (!initialized) MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &thread_level_);
  else MPI_Query_thread(&thread_level_);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  g_world_rank = rank_;
  MPI_Comm host;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &host);
  MPI_Comm_rank(host, &local_rank_);
  int rank0_here = rank_ == 0 ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &rank0_here, 1, MPI_INT, MPI_MAX, host);
  with_rank0_ = rank0_here != 0;
  MPI_Comm_free(&host);
  MPI_Comm failure;
  MPI_Comm_dup(MPI_COMM_WORLD, &failure);
  failure_comm_ = failure;
}

bool mpi_job_ending() { return g_terminated != 0; }

std::vector<std::int64_t> MpiSession::all_gather(const std::vector<std::int64_t>& mine) const {
  std::vector<std::int64_t> all(mine.size() * static_cast<std::size_t>(size_));
  MPI_Request request;
  MPI_Iallgather(mine.data(), static_cast<int>(mine.size()), MPI_INT64_T, all.data(), static_cast<int>(mine.size()),
                 MPI_INT64_T, MPI_COMM_WORLD, &request);
  wait_one(request);
  return all;
}

std::string MpiSession::broadcast(const std::string& value) const {
  std::uint64_t n = value.size();
  MPI_Request request;
  MPI_Ibcast(&n, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD, &request);
  wait_one(request);
  std::string out = rank_ == 0 ? value : std::string(n, '\0');
  if (n == 0) return out;
  MPI_Ibcast(out.data(), static_cast<int>(n), MPI_CHAR, 0, MPI_COMM_WORLD, &request);
  wait_one(request);
  return out;
}

MpiSession::SetupAgreement MpiSession::agree_on_setup(bool failed, double timeout_s) const {
  if (size_ == 1) return {true, failed ? 1 : 0, failed ? 0 : -1};
  // Every rank's flag, to every rank: the count and the first failed rank follow from it.
  const int mine = failed ? 1 : 0;
  std::vector<int> all(static_cast<std::size_t>(size_), 0);
  MPI_Request request;
  MPI_Iallgather(&mine, 1, MPI_INT, all.data(), 1, MPI_INT, as_comm(failure_comm_), &request);
  if (!failed) {
    wait_one(request);
  } else {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    int done = 0;
    while (!done) {
      if (std::chrono::steady_clock::now() > until || g_terminated) return {false, 1, rank_};  // stays pending: the caller aborts
      MPI_Test(&request, &done, MPI_STATUS_IGNORE);
      if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  SetupAgreement agreed;
  for (int r = 0; r < size_; ++r)
    if (all[static_cast<std::size_t>(r)]) {
      if (agreed.failed++ == 0) agreed.first_failed = r;
    }
  return agreed;
}

std::vector<int> MpiSession::gather(int value) const {
  std::vector<int> all(rank_ == 0 ? static_cast<std::size_t>(size_) : 0);
  MPI_Gather(&value, 1, MPI_INT, all.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  return all;
}

MpiSession::~MpiSession() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  MPI_Comm failure = as_comm(failure_comm_);
  if (failure != MPI_COMM_NULL && failure_comm_) MPI_Comm_free(&failure);
  MPI_Finalize();
}

void MpiSession::abort(int code) const {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

namespace {

constexpr int kTag = 7;

class MpiPartition final : public WorkerPartition {
 public:
  MpiPartition(Index first, Index workers) : first_(first), workers_(workers) {}
  Index first_worker() const override { return first_; }
  Index total_workers(Index) const override { return workers_; }
  bool distributed() const override { return true; }
  void sum(double* v, Index n) const override { sum_over_ranks(v, static_cast<std::size_t>(n)); }

 private:
  Index first_, workers_;
};

// One thread, kept for the run, that runs mix_while's exchanges (a thread per iteration would cost
// tens of microseconds, the scale of the latencies emulated). Its error, if any, is rethrown by wait().
class ExchangeThread {
 public:
  ~ExchangeThread() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  // task on this thread while work() runs on the caller's; rethrows the caller's error first.
  void run_while(std::function<void()> task, const std::function<void()>& work) {
    start(std::move(task));
    std::exception_ptr error;
    try {
      work();
    } catch (...) {
      error = std::current_exception();
    }
    wait();  // first: the task's data must be left alone before anything unwinds
    if (error) std::rethrow_exception(error);
  }

 private:
  void start(std::function<void()> task) {
    if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      task_ = std::move(task);
      done_ = false;
      error_ = nullptr;
    }
    wake_.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, [&] { return done_; });
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }
  void loop() {
    t_background = true;
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      wake_.wait(lock, [&] { return stop_ || task_; });
      if (!task_) return;
      auto task = std::move(task_);
      task_ = nullptr;
      lock.unlock();
      std::exception_ptr error;
      try {
        task();
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      error_ = error;
      done_ = true;
      wake_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::function<void()> task_;
  bool done_ = true, stop_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

// --exchange mpi: non-blocking point-to-point on the host buffers (receives posted first), and
// MPI_Iallreduce for the sum; the waits give up on SIGTERM (wait_all).
class MpiExchange final : public Exchange {
 public:
  const char* name() const override { return "mpi"; }

  void exchange(std::span<const OutMessage> out, std::span<const InMessage> in) override {
    requests_.clear();
    for (const auto& m : in) {
      requests_.emplace_back();
      MPI_Irecv(m.data, static_cast<int>(m.count), MPI_DOUBLE, m.peer, kTag, MPI_COMM_WORLD, &requests_.back());
    }
    for (const auto& m : out) {
      requests_.emplace_back();
      MPI_Isend(m.data, static_cast<int>(m.count), MPI_DOUBLE, m.peer, kTag, MPI_COMM_WORLD, &requests_.back());
    }
    wait_all(requests_);
  }

  void allreduce_sum(double* v, std::size_t n) override { sum_over_ranks(v, n); }

 private:
  std::vector<MPI_Request> requests_;  // kept between rounds
};

// Which columns travel in one gossip round of W between ranks that hold blocks of `block` workers:
// column j goes from its owner to rank q when some worker i of q has W_ij != 0. Messages are sorted
// by peer and their columns by index, so that sender and receiver agree on the order.
struct PeerColumns {
  int peer;
  std::vector<Index> columns;
};
struct ExchangePlan {
  std::vector<PeerColumns> out, in;            // this rank's messages
  std::vector<std::size_t> columns_per_rank;  // how many columns every rank sends
};

ExchangePlan exchange_plan(const Topology& W, int rank, int ranks, Index block) {
  const auto owner = [&](Index worker) { return static_cast<int>(worker / block); };
  std::vector<std::set<std::pair<int, Index>>> sent(static_cast<std::size_t>(ranks));
  for (Index i = 0; i < W.workers; ++i)
    for (const auto& [j, w] : W.rows[static_cast<std::size_t>(i)])
      if (owner(j) != owner(i)) sent[static_cast<std::size_t>(owner(j))].insert({owner(i), j});
  ExchangePlan plan;
  for (const auto& s : sent) plan.columns_per_rank.push_back(s.size());
  for (const auto& [q, j] : sent[static_cast<std::size_t>(rank)]) {
    if (plan.out.empty() || plan.out.back().peer != q) plan.out.push_back({q, {}});
    plan.out.back().columns.push_back(j);
  }
  for (int p = 0; p < ranks; ++p) {
    if (p == rank) continue;
    for (const auto& [q, j] : sent[static_cast<std::size_t>(p)]) {
      if (q != rank) continue;
      if (plan.in.empty() || plan.in.back().peer != p) plan.in.push_back({p, {}});
      plan.in.back().columns.push_back(j);
    }
  }
  return plan;
}

// Test hook (tests/test_mpi_failures.cpp): rank DPOSG_TEST_ABORT_RANK dies at iteration
// DPOSG_TEST_ABORT_ITER (default 1), as a crashed node would; with DPOSG_TEST_ABORT_MODE=throw it
// throws instead (a local error: the rank itself must end the job). Every MPI engine part that
// runs once per iteration calls it: the mixers and DQGAN's server link.
class FailureHook {
 public:
  explicit FailureHook(int rank) : rank_(rank) {
    if (const char* r = std::getenv("DPOSG_TEST_ABORT_RANK"); r && std::atoi(r) == rank_) {
      const char* k = std::getenv("DPOSG_TEST_ABORT_ITER");
      at_ = k ? std::atoll(k) : 1;
      const char* mode = std::getenv("DPOSG_TEST_ABORT_MODE");
      throw_ = mode && std::string(mode) == "throw";
      // A scheduler's preemption: mpirun (the ranks' parent) gets SIGTERM and passes it on to
      // every rank. This rank waits for its own SIGTERM before it goes on (so do the others, in
      // their exchanges with it), so that the job stops at this iteration however long mpirun
      // takes to pass the signal on.
      cancel_job_ = mode && std::string(mode) == "sigterm-mpirun";
    }
  }
  void at(std::int64_t iteration) const {
    if (!at_ || *at_ != iteration) return;
    if (cancel_job_) {
      ::kill(::getppid(), SIGTERM);
      for (int ms = 0; !g_terminated && ms < 60'000; ++ms) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return;
    }
    if (throw_)
      throw std::runtime_error("test hook: rank " + std::to_string(rank_) + " fails at iteration " + std::to_string(iteration));
    std::abort();
  }

 private:
  int rank_;
  std::optional<std::int64_t> at_;
  bool throw_ = false, cancel_job_ = false;
};

// The cumulative bytes each rank has sent, in a checkpoint.
void save_sent(StateArchive& a, const std::string& prefix, const std::vector<double>& sent) {
  a.put(prefix + "sent", Vector(Eigen::Map<const Vector>(sent.data(), static_cast<Index>(sent.size()))));
}

void load_sent(const StateArchive& a, const std::string& prefix, std::vector<double>& sent) {
  const Vector v = a.vector(prefix + "sent");
  if (v.size() != static_cast<Index>(sent.size()))
    throw CheckpointError("checkpoint of " + std::to_string(v.size()) + " MPI ranks, resumed over " +
                          std::to_string(sent.size()));
  std::copy(v.data(), v.data() + v.size(), sent.begin());
}

class MpiMixer final : public Mixer {
 public:
  MpiMixer(MixingSchedule schedule, int rank, int ranks, NetworkEmulation net, std::shared_ptr<Exchange> exchange)
      : schedule_(std::move(schedule)), rank_(rank), ranks_(ranks), block_(schedule_.workers() / ranks),
        sent_(static_cast<std::size_t>(ranks), 0.0), hook_(rank), net_(net), exchange_(std::move(exchange)) {}

  const MixingSchedule& schedule() const override { return schedule_; }

  void mix(Matrix& X, int rounds, std::int64_t iteration) const override {
    hook_.at(iteration);
    const Index d = X.rows();
    if (rounds <= 0 || schedule_.workers() == 1 || d == 0) return;
    if (schedule_.is_complete()) {
      // W = 11^T/M: every column becomes z̄; one round reaches it, the rest are skipped (as in CpuMixer).
      Vector mean = X.rowwise().sum();
      exchange_->allreduce_sum(mean.data(), static_cast<std::size_t>(d));
      emulate(net_, 2.0 * (ranks_ - 1), static_cast<double>(d) * 8.0 / ranks_);
      mean /= static_cast<double>(schedule_.workers());
      X.colwise() = mean;
      // The transport chooses the allreduce algorithm, so its traffic is not ours to count; we record the
      // bandwidth-optimal (ring) allreduce's 2(P-1)/P d doubles per rank.
      for (auto& s : sent_)
        s += 2.0 * static_cast<double>(ranks_ - 1) / static_cast<double>(ranks_) * static_cast<double>(d) * 8.0;
      return;
    }
    for (int r = 0; r < rounds; ++r) {
      if (schedule_.is_time_varying()) {
        round(schedule_.at(iteration, r), X);
      } else {
        round(schedule_.base(), X);
      }
    }
  }

  // The exchange and the averaging on the exchange thread while work() runs here: the emulated
  // network's sleeps and the real transfer both hide behind the operator evaluation.
  void mix_while(Matrix& X, int rounds, std::int64_t iteration, const std::function<void()>& work) const override {
    exchange_thread_.run_while([&] { mix(X, rounds, iteration); }, work);
  }

  // Per iteration on the fixed W (random rings: the natural-order ring, an estimate; the metric
  // bytes_busiest counts the drawn rings exactly).
  double bytes_busiest_per_iteration(Index d, int rounds) const override {
    if (schedule_.workers() == 1 || rounds <= 0) return 0.0;
    if (schedule_.is_complete())
      return 2.0 * static_cast<double>(ranks_ - 1) / static_cast<double>(ranks_) * static_cast<double>(d) * 8.0;
    const auto counts = exchange_plan(schedule_.base(), rank_, ranks_, block_).columns_per_rank;
    const std::size_t busiest = *std::max_element(counts.begin(), counts.end());
    return static_cast<double>(rounds) * static_cast<double>(busiest) * static_cast<double>(d) * 8.0;
  }

  std::optional<double> bytes_busiest_sent() const override {
    return *std::max_element(sent_.begin(), sent_.end());
  }
  // The exchange plans and buffers are rebuilt as they are used and random rings are drawn from
  // (seed, iteration, round): what carries over is the byte count.
  bool checkpointable() const override { return true; }
  void save_state(StateArchive& a, const std::string& prefix) const override { save_sent(a, prefix, sent_); }
  void load_state(const StateArchive& a, const std::string& prefix) const override { load_sent(a, prefix, sent_); }

 private:
  // One round's exchange for W as seen from this rank (exchange_plan) with a buffer per message.
  // Kept for a fixed W, so rounds reuse both.
  struct Message {
    int peer;
    std::vector<Index> columns;
    std::vector<double> data;
  };
  struct RoundPlan {
    std::vector<Message> out, in;
    std::vector<std::size_t> columns_per_rank;
  };

  RoundPlan plan_for(const Topology& W) const {
    ExchangePlan p = exchange_plan(W, rank_, ranks_, block_);
    RoundPlan plan;
    plan.columns_per_rank = std::move(p.columns_per_rank);
    for (auto& m : p.out) plan.out.push_back({m.peer, std::move(m.columns), {}});
    for (auto& m : p.in) plan.in.push_back({m.peer, std::move(m.columns), {}});
    return plan;
  }

  // X <- X W^T (x_i <- sum_j W_ij x_j) on this rank's columns: send the boundary columns, receive the neighbours', then each
  // column is sum_j W_ij x_j in the order of row i (CpuMixer's order: the same result to the bit).
  void round(const Topology& W, Matrix& X) const {
    const Index d = X.rows();
    const Index first = static_cast<Index>(rank_) * block_;
    RoundPlan* plan = nullptr;
    if (schedule_.is_time_varying()) {
      drawn_plan_ = plan_for(W);
      plan = &drawn_plan_;
    } else {
      if (!fixed_plan_) fixed_plan_ = plan_for(W);
      plan = &*fixed_plan_;
    }
    for (int p = 0; p < ranks_; ++p)
      sent_[static_cast<std::size_t>(p)] +=
          static_cast<double>(plan->columns_per_rank[static_cast<std::size_t>(p)]) * static_cast<double>(d) * 8.0;

    in_.clear();
    for (auto& m : plan->in) {
      m.data.resize(m.columns.size() * static_cast<std::size_t>(d));
      in_.push_back({m.peer, m.data.data(), m.data.size()});
    }
    out_.clear();
    for (auto& m : plan->out) {
      m.data.resize(m.columns.size() * static_cast<std::size_t>(d));
      for (std::size_t c = 0; c < m.columns.size(); ++c)
        std::copy_n(X.col(m.columns[c] - first).data(), d, m.data.data() + c * static_cast<std::size_t>(d));
      out_.push_back({m.peer, m.data.data(), m.data.size()});
    }
    exchange_->exchange(out_, in_);
    double bytes_out = 0.0;
    for (const auto& m : plan->out) bytes_out += static_cast<double>(m.data.size()) * 8.0;
    if (!plan->out.empty() || !plan->in.empty()) emulate(net_, 1.0, bytes_out);

    // Where column j is: here, or in the message it came in.
    column_.assign(static_cast<std::size_t>(W.workers), nullptr);
    for (Index j = 0; j < block_; ++j) column_[static_cast<std::size_t>(first + j)] = X.col(j).data();
    for (const auto& m : plan->in)
      for (std::size_t c = 0; c < m.columns.size(); ++c)
        column_[static_cast<std::size_t>(m.columns[c])] = m.data.data() + c * static_cast<std::size_t>(d);

    Y_.resize(d, block_);  // after the first round, the storage X had (swapped in below)
    for (Index li = 0; li < block_; ++li) {
      const auto& row = W.rows[static_cast<std::size_t>(first + li)];
      double* y = Y_.col(li).data();
      const double* p0 = column_[static_cast<std::size_t>(row[0].first)];
      const double w0 = row[0].second;
      for (Index r = 0; r < d; ++r) y[r] = w0 * p0[r];
      for (std::size_t e = 1; e < row.size(); ++e) {
        const double* p = column_[static_cast<std::size_t>(row[e].first)];
        const double w = row[e].second;
        for (Index r = 0; r < d; ++r) y[r] = y[r] + w * p[r];
      }
    }
    X.swap(Y_);
  }

  MixingSchedule schedule_;
  int rank_, ranks_;
  Index block_;
  mutable std::vector<double> sent_;  // cumulative bytes each rank has sent
  FailureHook hook_;
  NetworkEmulation net_;
  std::shared_ptr<Exchange> exchange_;  // mix is const (the Mixer interface); the transport is not
  // Scratch kept between rounds (mix is const: the Mixer interface).
  mutable std::optional<RoundPlan> fixed_plan_;
  mutable RoundPlan drawn_plan_;
  mutable std::vector<OutMessage> out_;
  mutable std::vector<InMessage> in_;
  mutable std::vector<const double*> column_;
  mutable Matrix Y_;
  mutable ExchangeThread exchange_thread_;
};

// CHOCO gossip (core/compressed_mixer.hpp) over MPI. Each rank keeps the public copies x̂_j of its
// own workers and of every worker whose messages it receives, and per round sends each of its
// workers' compressed differences q_i = C(x_i - x̂_i) encoded (Compressor::encode, ceil(bits/8)
// bytes) to the ranks holding that worker's neighbours under W (point-to-point, the columns of
// exchange_plan). Random rings and the complete topology make every worker a neighbour of every
// other sooner or later, so there every rank keeps all M copies and the messages travel in one
// MPI_Iallgather. Compression draws from the streams of the global worker index and decoding is
// exact, so the copies and the iterates equal the in-process run's.
class MpiCompressedMixer final : public Mixer {
 public:
  MpiCompressedMixer(MixingSchedule schedule, std::shared_ptr<const Compressor> c, double gamma, std::uint64_t seed,
                     int rank, int ranks, NetworkEmulation net)
      : schedule_(std::move(schedule)), gamma_(gamma), columns_(c, false, seed), compressor_(std::move(c)),
        rank_(rank), ranks_(ranks), block_(schedule_.workers() / ranks), first_(static_cast<Index>(rank) * block_),
        everyone_(schedule_.is_complete() || schedule_.is_time_varying()), sent_(static_cast<std::size_t>(ranks), 0.0),
        net_(net), hook_(rank) {
    if (!everyone_) plan_ = exchange_plan(schedule_.base(), rank_, ranks_, block_);
    // Where worker j's public copy is kept here (-1: not kept).
    slot_.assign(static_cast<std::size_t>(schedule_.workers()), -1);
    Index kept = 0;
    auto keep = [&](Index j) {
      if (slot_[static_cast<std::size_t>(j)] < 0) slot_[static_cast<std::size_t>(j)] = kept++;
    };
    for (Index j = 0; j < schedule_.workers(); ++j)
      if (everyone_ || (j >= first_ && j < first_ + block_)) keep(j);
    for (const auto& m : plan_.in)
      for (const Index j : m.columns) keep(j);
    kept_ = kept;
  }

  const MixingSchedule& schedule() const override { return schedule_; }

  void mix(Matrix& X, int rounds, std::int64_t iteration) const override {
    hook_.at(iteration);
    const Index d = X.rows();
    if (rounds <= 0 || schedule_.workers() == 1 || d == 0) return;
    if (xhat_.rows() != d) xhat_.setZero(d, kept_);
    const auto bytes = compressor_->wire_bytes();
    for (int r = 0; r < rounds; ++r) {
      diff_.resize(d, block_);
      for (Index i = 0; i < block_; ++i) diff_.col(i) = X.col(i) - xhat_.col(slot(first_ + i));
      columns_.compress(diff_, iteration, 1 + static_cast<std::uint64_t>(r), q_, first_);
      send_.resize(bytes * static_cast<std::size_t>(block_));
      for (Index i = 0; i < block_; ++i)
        compressor_->encode(columns_.messages()[static_cast<std::size_t>(i)],
                            send_.data() + static_cast<std::size_t>(i) * bytes);
      if (everyone_) {
        gather_all(bytes);
      } else {
        exchange_with_neighbours(bytes);
      }
      for (Index i = 0; i < block_; ++i) xhat_.col(slot(first_ + i)) += q_.col(i);
      if (schedule_.is_complete()) {
        // sum_j (1/M)(x̂_j - x̂_i) = mean(x̂) - x̂_i, the mean over all M copies in CompressedGossipMixer's order.
        const Vector mean = xhat_.rowwise().mean();
        X += gamma_ * ((-xhat_.middleCols(first_, block_)).colwise() + mean);
        continue;
      }
      const Topology topo = schedule_.at(iteration, r);
      for (Index li = 0; li < block_; ++li) {
        const Index i = first_ + li;
        for (const auto& [j, w] : topo.rows[static_cast<std::size_t>(i)])
          if (j != i) X.col(li) += (gamma_ * w) * (xhat_.col(slot(j)) - xhat_.col(slot(i)));
      }
    }
  }

  // --overlap: as MpiMixer, the exchange and the public copies' update on a thread of their own.
  void mix_while(Matrix& X, int rounds, std::int64_t iteration, const std::function<void()>& work) const override {
    exchange_thread_.run_while([&] { mix(X, rounds, iteration); }, work);
  }

  // What the busiest rank sends per iteration: its boundary workers' messages to each neighbouring
  // rank (fixed W), or its whole block to every other rank (the allgather's ring: P - 1 steps).
  double bytes_busiest_per_iteration(Index, int rounds) const override {
    if (schedule_.workers() == 1 || rounds <= 0) return 0.0;
    return static_cast<double>(rounds) * static_cast<double>(busiest_columns()) *
           static_cast<double>(compressor_->wire_bytes());
  }
  std::optional<double> bytes_busiest_sent() const override { return *std::max_element(sent_.begin(), sent_.end()); }
  // CHOCO's state: the public copies kept here, the error memories of this rank's workers, and the
  // byte count (a compressor's randomness is drawn from (seed, iteration, worker)).
  bool checkpointable() const override { return true; }
  void save_state(StateArchive& a, const std::string& prefix) const override {
    a.put(prefix + "xhat", xhat_);
    a.put(prefix + "memory", columns_.memory());
    save_sent(a, prefix, sent_);
  }
  void load_state(const StateArchive& a, const std::string& prefix) const override {
    xhat_ = a.matrix(prefix + "xhat");
    columns_.set_memory(a.matrix(prefix + "memory"));
    load_sent(a, prefix, sent_);
  }

 private:
  Index slot(Index j) const { return slot_[static_cast<std::size_t>(j)]; }
  std::size_t busiest_columns() const {
    if (everyone_) return static_cast<std::size_t>(block_) * static_cast<std::size_t>(ranks_ - 1);
    return *std::max_element(plan_.columns_per_rank.begin(), plan_.columns_per_rank.end());
  }

  // Adds message `bytes` (decoded) to worker j's public copy.
  void receive(Index j, const std::uint8_t* data, std::size_t bytes) const {
    compressor_->decode(data, bytes, message_);
    decoded_.resize(xhat_.rows());
    compressor_->decompress(message_, decoded_);
    xhat_.col(slot(j)) += decoded_;
  }

  void gather_all(std::size_t bytes) const {
    const std::size_t local = bytes * static_cast<std::size_t>(block_);
    if (local * static_cast<std::size_t>(ranks_) > static_cast<std::size_t>(INT_MAX))
      throw std::runtime_error("CHOCO gossip over MPI: the gathered messages exceed 2^31 bytes; use a smaller " +
                               render_settings(setting("compressor.name")) + " message");
    recv_.resize(local * static_cast<std::size_t>(ranks_));
    MPI_Request request;
    MPI_Iallgather(send_.data(), static_cast<int>(local), MPI_BYTE, recv_.data(), static_cast<int>(local), MPI_BYTE,
                   MPI_COMM_WORLD, &request);
    wait_one(request);
    emulate(net_, static_cast<double>(ranks_ - 1), static_cast<double>(local));
    for (auto& s : sent_) s += static_cast<double>(local) * static_cast<double>(ranks_ - 1);
    for (Index j = 0; j < schedule_.workers(); ++j)
      if (j < first_ || j >= first_ + block_) receive(j, recv_.data() + static_cast<std::size_t>(j) * bytes, bytes);
  }

  void exchange_with_neighbours(std::size_t bytes) const {
    out_data_.resize(plan_.out.size());
    in_data_.resize(plan_.in.size());
    requests_.clear();
    for (std::size_t m = 0; m < plan_.in.size(); ++m) {
      in_data_[m].resize(plan_.in[m].columns.size() * bytes);
      requests_.emplace_back();
      MPI_Irecv(in_data_[m].data(), static_cast<int>(in_data_[m].size()), MPI_BYTE, plan_.in[m].peer, kTag,
                MPI_COMM_WORLD, &requests_.back());
    }
    double bytes_out = 0.0;
    for (std::size_t m = 0; m < plan_.out.size(); ++m) {
      const auto& cols = plan_.out[m].columns;
      out_data_[m].resize(cols.size() * bytes);
      for (std::size_t c = 0; c < cols.size(); ++c)
        std::copy_n(send_.data() + static_cast<std::size_t>(cols[c] - first_) * bytes, bytes,
                    out_data_[m].data() + c * bytes);
      bytes_out += static_cast<double>(out_data_[m].size());
      requests_.emplace_back();
      MPI_Isend(out_data_[m].data(), static_cast<int>(out_data_[m].size()), MPI_BYTE, plan_.out[m].peer, kTag,
                MPI_COMM_WORLD, &requests_.back());
    }
    wait_all(requests_);
    if (!plan_.out.empty() || !plan_.in.empty()) emulate(net_, 1.0, bytes_out);
    for (int p = 0; p < ranks_; ++p)
      sent_[static_cast<std::size_t>(p)] +=
          static_cast<double>(plan_.columns_per_rank[static_cast<std::size_t>(p)]) * static_cast<double>(bytes);
    for (std::size_t m = 0; m < plan_.in.size(); ++m)
      for (std::size_t c = 0; c < plan_.in[m].columns.size(); ++c)
        receive(plan_.in[m].columns[c], in_data_[m].data() + c * bytes, bytes);
  }

  MixingSchedule schedule_;
  double gamma_;
  mutable ColumnCompressor columns_;
  std::shared_ptr<const Compressor> compressor_;
  int rank_, ranks_;
  Index block_, first_;
  bool everyone_;  // random rings and complete: every rank keeps every copy
  ExchangePlan plan_;  // fixed sparse W
  std::vector<Index> slot_;
  Index kept_ = 0;
  mutable std::vector<double> sent_;  // cumulative bytes each rank has sent
  NetworkEmulation net_;
  FailureHook hook_;
  // State (the public copies) and scratch kept between rounds (mix is const: the Mixer interface).
  mutable Matrix xhat_, diff_, q_;
  mutable Vector decoded_;
  mutable CompressedVector message_;
  mutable std::vector<std::uint8_t> send_, recv_;
  mutable std::vector<std::vector<std::uint8_t>> out_data_, in_data_;
  mutable std::vector<MPI_Request> requests_;
  mutable ExchangeThread exchange_thread_;
};

// DQGAN's server on rank 0: every rank's workers' messages travel encoded (Compressor::encode,
// ceil(bits/8) bytes each) in one MPI_Igather; rank 0 decodes all M in worker order, averages and
// steps (Dqgan::step), then MPI_Ibcast hands z_{k+1} to every rank. Decoding is exact, so the
// server averages the same matrix as the in-process run.
class MpiServerLink final : public ServerLink {
 public:
  MpiServerLink(int rank, int ranks, Index first, Index block, Index workers, NetworkEmulation net)
      : rank_(rank), ranks_(ranks), first_(first), block_(block), workers_(workers), net_(net), hook_(rank) {}
  Index first_worker() const override { return first_; }

  bool average_at_server(const Compressor& c, const std::vector<CompressedVector>& messages, const Matrix& decoded,
                         Vector& g_hat) override {
    hook_.at(++calls_);  // once per iteration
    const std::size_t message_bytes = c.wire_bytes();
    const std::size_t local_bytes = message_bytes * static_cast<std::size_t>(block_);
    if (message_bytes * static_cast<std::size_t>(workers_) > static_cast<std::size_t>(INT_MAX))
      throw std::runtime_error("dqgan over MPI: the gathered messages exceed 2^31 bytes; use more ranks or a smaller " +
                               render_settings(setting("compressor.name")) + " message");
    send_.resize(local_bytes);
    for (Index i = 0; i < block_; ++i) {
      c.encode(messages[static_cast<std::size_t>(i)], send_.data() + static_cast<std::size_t>(i) * message_bytes);
    }
    if (rank_ == 0) recv_.resize(message_bytes * static_cast<std::size_t>(workers_));
    MPI_Request request;
    MPI_Igather(send_.data(), static_cast<int>(local_bytes), MPI_BYTE, recv_.data(), static_cast<int>(local_bytes),
                MPI_BYTE, 0, MPI_COMM_WORLD, &request);
    wait_one(request);
    emulate(net_, 1.0, static_cast<double>(local_bytes) * (ranks_ - 1));
    if (rank_ != 0) return false;
    all_.resize(decoded.rows(), workers_);
    for (Index w = 0; w < workers_; ++w) {
      c.decode(recv_.data() + static_cast<std::size_t>(w) * message_bytes, message_bytes, message_);
      c.decompress(message_, all_.col(w));
    }
    g_hat = all_.rowwise().mean();
    return true;
  }

  void broadcast(Vector& z) override {
    MPI_Request request;
    MPI_Ibcast(z.data(), static_cast<int>(z.size()), MPI_DOUBLE, 0, MPI_COMM_WORLD, &request);
    wait_one(request);
    emulate(net_, std::ceil(std::log2(static_cast<double>(ranks_))), static_cast<double>(z.size()) * 8.0);
  }

 private:
  int rank_, ranks_;
  Index first_, block_, workers_;
  NetworkEmulation net_;
  FailureHook hook_;
  std::int64_t calls_ = 0;  // average_at_server's, one per iteration: the hook's clock
  std::vector<std::uint8_t> send_, recv_;
  CompressedVector message_;
  Matrix all_;
};

}  // namespace

std::string nccl_refusal(const MpiSession& session, bool usable, std::string why, const std::string& bus_id) {
  // Every rank takes part in every collective below whatever it found: a rank that skipped the host's
  // split and gather (NCCL unusable there) would meet the others' MPI_Allgather with its
  // MPI_Allreduce, and the job would hang or abort instead of falling back to MPI.
  //
  // NCCL refuses a communicator with two ranks on one GPU (ncclInvalidUsage): ranks of one host must
  // hold distinct physical GPUs, told apart by PCI bus id (per-rank CUDA_VISIBLE_DEVICES makes every
  // rank's ordinal 0). An entry is 'U' + the bus id from a rank that can use NCCL, 'N' from one that
  // cannot; only the 'U' entries are compared.
  constexpr int kId = 64;
  std::vector<char> mine(kId, '\0');
  mine[0] = usable ? 'U' : 'N';
  std::copy_n(bus_id.begin(), std::min<std::size_t>(bus_id.size(), kId - 2), mine.begin() + 1);
  MPI_Comm host;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, session.rank(), MPI_INFO_NULL, &host);
  int host_ranks = 1;
  MPI_Comm_size(host, &host_ranks);
  std::vector<char> all(static_cast<std::size_t>(host_ranks) * kId);
  MPI_Allgather(mine.data(), kId, MPI_CHAR, all.data(), kId, MPI_CHAR, host);
  MPI_Comm_free(&host);
  if (usable) {
    std::vector<std::string> gpus;
    for (int r = 0; r < host_ranks; ++r) {
      const char* entry = all.data() + static_cast<std::size_t>(r) * kId;
      if (entry[0] == 'U') gpus.emplace_back(entry + 1);
    }
    std::sort(gpus.begin(), gpus.end());
    if (const auto twice = std::adjacent_find(gpus.begin(), gpus.end()); twice != gpus.end()) {
      usable = false;
      why = "ranks on one host share the GPU at PCI " + (twice->empty() ? std::string("(unknown)") : *twice) +
            " (" + std::to_string(host_ranks) + " ranks on the host; NCCL needs a GPU per rank)";
    }
  }
  // The first rank (in rank order) that cannot use NCCL gives its reason, the same words on every rank.
  int first_unusable = usable ? session.size() : session.rank();
  MPI_Allreduce(MPI_IN_PLACE, &first_unusable, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (first_unusable == session.size()) return "";
  constexpr int kWhy = 512;
  std::vector<char> text(kWhy, '\0');
  if (session.rank() == first_unusable) {
    const std::string own = why + " (rank " + std::to_string(first_unusable) + ")";
    std::copy_n(own.begin(), std::min<std::size_t>(own.size(), kWhy - 1), text.begin());
  }
  MPI_Bcast(text.data(), kWhy, MPI_CHAR, first_unusable, MPI_COMM_WORLD);
  return text.data();
}

std::shared_ptr<Exchange> open_exchange(const MpiSession& session, const std::string& requested, int cuda_device) {
  if (requested == "mpi" || (requested == "auto" && cuda_device < 0)) return std::make_shared<MpiExchange>();
  if (cuda_device < 0) throw std::logic_error("open_exchange: 'nccl' without a CUDA device (run_command checks --device)");

  std::string why;
  const bool usable = nccl_usable(cuda_device, &why);
  const std::string refusal = nccl_refusal(session, usable, why, usable ? nccl_device_bus_id(cuda_device) : "");
  if (!refusal.empty()) {
    if (requested == "auto") return std::make_shared<MpiExchange>();
    throw InputError(setting("engine.exchange") + ": 'nccl' cannot be used: " + refusal);
  }
  auto broadcast = [](void* buffer, std::size_t bytes) {
    MPI_Request request;
    MPI_Ibcast(buffer, static_cast<int>(bytes), MPI_BYTE, 0, MPI_COMM_WORLD, &request);
    wait_one(request);
  };
  return make_nccl_exchange(session.rank(), session.size(), cuda_device, broadcast, [] { return past_termination_grace(); });
}

std::unique_ptr<Mixer> make_mpi_mixer(MixingSchedule schedule, const MpiSession& session, const NetworkEmulation& net,
                                      std::shared_ptr<Exchange> exchange) {
  if (!exchange) exchange = std::make_shared<MpiExchange>();
  return std::make_unique<MpiMixer>(std::move(schedule), session.rank(), session.size(), net, std::move(exchange));
}

std::unique_ptr<Mixer> make_mpi_compressed_mixer(MixingSchedule schedule, std::shared_ptr<const Compressor> compressor,
                                                 double gossip_step, std::uint64_t seed, const MpiSession& session,
                                                 const NetworkEmulation& net) {
  return std::make_unique<MpiCompressedMixer>(std::move(schedule), std::move(compressor), gossip_step, seed,
                                              session.rank(), session.size(), net);
}

std::shared_ptr<ServerLink> make_mpi_server_link(const MpiSession& session, Index first, Index block, Index M,
                                                 const NetworkEmulation& net) {
  return std::make_shared<MpiServerLink>(session.rank(), session.size(), first, block, M, net);
}

std::unique_ptr<WorkerPartition> make_mpi_partition(Index first, Index M) {
  return std::make_unique<MpiPartition>(first, M);
}

bool serialized_threads(const MpiSession& session) { return session.thread_level() >= MPI_THREAD_SERIALIZED; }

#endif

}  // namespace dposg
