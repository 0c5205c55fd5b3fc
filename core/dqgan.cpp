#include "core/dqgan.hpp"

#include <algorithm>
#include <utility>

#include "core/checkpoint.hpp"

namespace dposg {
namespace {

class Dqgan final : public StepRule {
 public:
  explicit Dqgan(const DqganOptions& o)
      : step_(o.server.step), adam_(o.server.name == "oadam"), adam_params_{o.server.beta1, o.server.beta2, o.server.eps},
        columns_(o.compressor, o.error_feedback, o.seed), link_(o.link ? o.link : std::make_shared<ServerLink>()) {}
  void set_link(std::shared_ptr<ServerLink> link) { link_ = std::move(link); }
  std::string name() const override { return "dqgan"; }
  int oracle_calls_per_iteration() const override { return 1; }
  void init(Matrix&, Matrix&, Oracle&) override {
    columns_.reset();
    have_prev_ = false;
    iteration_ = 0;
    m_.resize(0);
    v_.resize(0);
  }
  void step(Matrix& Z, Matrix& X, Oracle& oracle) override {
    ++iteration_;
    // Every column of X is the shared point z_k; column i of G is worker i's operator there.
    oracle(X, G_);
    columns_.compress(G_, iteration_, 0, sent_, link_->first_worker());
    const Index d = X.rows();
    // On the server z is its copy of z_k (column 0 is worker 0's, all equal after the first
    // broadcast); elsewhere it is overwritten by the broadcast.
    Vector z = X.col(0);
    if (link_->average_at_server(columns_.compressor(), columns_.messages(), sent_, g_hat_)) {
      direction(g_hat_, dir_);
      if (!have_prev_) dir_prev_ = dir_, have_prev_ = true;
      const Index du = std::clamp<Index>(step_.dim_u, 0, d);
      for (Index r = 0; r < d; ++r) {
        const double eta = r < du ? step_.eta_u : step_.eta_v;
        z[r] -= eta * (2.0 * dir_[r] - dir_prev_[r]);
      }
      dir_prev_ = dir_;
    }
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
  // G_, sent_, g_hat_ and dir_ are written before they are read in every step.
  bool checkpointable() const override { return true; }
  void save_state(StateArchive& a) const override {
    a.put("rule/m", m_);
    a.put("rule/v", v_);
    a.put("rule/dir_prev", dir_prev_);
    a.put("rule/error_memory", columns_.memory());
    a.put_integer("rule/have_prev", have_prev_ ? 1 : 0);
    a.put_integer("rule/iteration", iteration_);
  }
  void load_state(const StateArchive& a) override {
    m_ = a.vector("rule/m");
    v_ = a.vector("rule/v");
    dir_prev_ = a.vector("rule/dir_prev");
    columns_.set_memory(a.matrix("rule/error_memory"));
    have_prev_ = a.integer("rule/have_prev") != 0;
    iteration_ = a.integer("rule/iteration");
  }

 private:
  // The server's step direction from the averaged operator: ĝ itself (OMD), or Adam's
  // m̂ / (sqrt(v̂) + eps) of the ĝ sequence (OAdam, Daskalakis et al. 2018).
  void direction(const Vector& g, Vector& dir) {
    if (!adam_) {
      dir = g;
      return;
    }
    if (m_.size() != g.size()) m_.setZero(g.size()), v_.setZero(g.size());
    dir.resize(g.size());
    adam_update(g.data(), m_.data(), v_.data(), dir.data(), g.size(), iteration_, adam_params_);
  }

  StepSize step_;
  bool adam_;
  AdamParams adam_params_;
  Vector m_, v_, dir_, dir_prev_;
  ColumnCompressor columns_;
  Matrix G_, sent_;
  std::shared_ptr<ServerLink> link_;
  Vector g_hat_;
  bool have_prev_ = false;
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
