#include "core/dqgan.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include "core/array_ops.hpp"
#include "core/checkpoint.hpp"

namespace dposg {
namespace {

// The server's optimistic step z <- z - eta (2 D_k - D_{k-1}) on ArrayOps (one column), with D the
// averaged operator itself (OMD) or Adam's direction of that sequence: the same `adam` and `step`
// operations the workers' rules are written against (core/step_rule.cpp), no arithmetic of its own.
class ServerStep {
 public:
  ServerStep(const StepSize& s, bool adam, const AdamParams& p) : step_(s), adam_(adam), adam_params_(p) {}
  void reset() {
    arrays_.reset();
    have_prev_ = false;
  }
  // count: Adam's step count, the iteration (the server averages at every one).
  void step(Vector& z, const Vector& g_hat, std::int64_t count) {
    ArrayOps& a = arrays(z.size());
    zm_ = z;
    gm_ = g_hat;
    if (adam_)
      a.adam(g_, m_, v_, dir_, count, adam_params_);
    else
      a.copy(dir_, g_);
    if (!have_prev_) a.copy(dir_prev_, dir_), have_prev_ = true;  // D_{-1} = D_0: the first step is z_0 - eta D_0
    // 2 D_k - D_{k-1} = -(D_{k-1} - 2 D_k), a step from D_{k-1} with eta = 2 (doubling is exact), so
    // z - eta (2 D_k - D_{k-1}) is the step z - (-eta)(D_{k-1} - 2 D_k), rounded alike bit for bit.
    a.step(optimistic_, dir_prev_, dir_, StepSize{2.0, 2.0, z.size()});
    a.step(z_, z_, optimistic_, StepSize{-step_.eta_u, -step_.eta_v, step_.dim_u});
    a.copy(dir_prev_, dir_);
    z = zm_.col(0);
  }
  // Adam's moments and the previous direction: empty until the first server step (and on the
  // ranks that are not the server).
  void save(StateArchive& s) const {
    const bool held = arrays_.has_value();
    s.put("rule/m", held ? mm_ : Matrix());
    s.put("rule/v", held ? vm_ : Matrix());
    s.put("rule/dir_prev", held ? dir_prev_m_ : Matrix());
    s.put_integer("rule/have_prev", have_prev_ ? 1 : 0);
  }
  void load(const StateArchive& s) {
    reset();
    have_prev_ = s.integer("rule/have_prev") != 0;
    const Matrix& dir_prev = s.matrix("rule/dir_prev");
    if (!have_prev_ || dir_prev.size() == 0) return;
    arrays(dir_prev.rows());
    mm_ = s.matrix("rule/m");
    vm_ = s.matrix("rule/v");
    dir_prev_m_ = dir_prev;
  }

 private:
  StepSize step_;
  bool adam_;
  AdamParams adam_params_;
  HostArrays& arrays(Index d) {
    if (!arrays_) {
      arrays_.emplace(d, 1);
      z_ = arrays_->bind(zm_);
      g_ = arrays_->bind(gm_);
      mm_ = vm_ = dir_prev_m_ = Matrix::Zero(d, 1);
      m_ = arrays_->bind(mm_);
      v_ = arrays_->bind(vm_);
      dir_prev_ = arrays_->bind(dir_prev_m_);
      dir_ = arrays_->allocate();
      optimistic_ = arrays_->allocate();
    }
    return *arrays_;
  }

  std::optional<HostArrays> arrays_;
  bool have_prev_ = false;
  Matrix zm_, gm_, mm_, vm_, dir_prev_m_;  // the state a checkpoint holds, bound as arrays
  Array z_ = -1, g_ = -1, m_ = -1, v_ = -1, dir_ = -1, dir_prev_ = -1, optimistic_ = -1;
};

class Dqgan final : public StepRule {
 public:
  explicit Dqgan(const DqganOptions& o)
      : server_(o.server.step, o.server.name == "oadam", AdamParams{o.server.beta1, o.server.beta2, o.server.eps}),
        columns_(o.compressor, o.error_feedback, o.seed), link_(o.link ? o.link : std::make_shared<ServerLink>()) {}
  void set_link(std::shared_ptr<ServerLink> link) { link_ = std::move(link); }
  std::string name() const override { return "dqgan"; }
  int oracle_calls_per_iteration() const override { return 1; }
  void init(Matrix&, Matrix&, Oracle&) override {
    columns_.reset();
    server_.reset();
    iteration_ = 0;
  }
  void step(Matrix& Z, Matrix& X, Oracle& oracle) override {
    ++iteration_;
    // Every column of X is the shared point z_k; column i of G is worker i's operator there.
    oracle(X, G_);
    columns_.compress(G_, iteration_, 0, sent_, link_->first_worker());
    // On the server z is its copy of z_k (column 0 is worker 0's, all equal after the first
    // broadcast); elsewhere it is overwritten by the broadcast.
    Vector z = X.col(0);
    if (link_->average_at_server(columns_.compressor(), columns_.messages(), sent_, g_hat_))
      server_.step(z, g_hat_, iteration_);
    link_->broadcast(z);
    X.colwise() = z;
    Z = X;
  }
  std::optional<double> worker_bytes_per_iteration() const override {
    return dqgan_uplink_bytes(columns_.compressor());
  }
  double bytes_busiest_per_iteration(Index d, Index workers) const override {
    return std::max(dqgan_downlink_bytes(d, workers), dqgan_uplink_bytes(columns_.compressor()));
  }
  // G_, sent_, g_hat_ and the server's direction are written before they are read in every step.
  bool checkpointable() const override { return true; }
  void save_state(StateArchive& a) const override {
    server_.save(a);
    a.put("rule/error_memory", columns_.memory());
    a.put_integer("rule/iteration", iteration_);
  }
  void load_state(const StateArchive& a) override {
    server_.load(a);
    columns_.set_memory(a.matrix("rule/error_memory"));
    iteration_ = a.integer("rule/iteration");
  }

 private:
  ServerStep server_;
  ColumnCompressor columns_;
  Matrix G_, sent_;
  std::shared_ptr<ServerLink> link_;
  Vector g_hat_;
  std::int64_t iteration_ = 0;
};

}  // namespace

bool ServerLink::average_at_server(const Compressor&, const std::vector<CompressedVector>&, const Matrix& decoded,
                                   Vector& g_hat) {
  g_hat = decoded.rowwise().mean();
  return true;
}

bool attach_server_link(StepRule& rule, std::shared_ptr<ServerLink> link) {
  auto* dqgan = dynamic_cast<Dqgan*>(&rule);
  if (!dqgan) return false;
  dqgan->set_link(std::move(link));
  return true;
}

double dqgan_uplink_bytes(const Compressor& c) { return static_cast<double>(c.bits()) / 8.0; }
double dqgan_downlink_bytes(Index d, Index workers) {
  return static_cast<double>(d) * static_cast<double>(workers) * static_cast<double>(sizeof(double));
}

std::unique_ptr<StepRule> make_dqgan_rule(const DqganOptions& opts) { return std::make_unique<Dqgan>(opts); }

}  // namespace dposg
