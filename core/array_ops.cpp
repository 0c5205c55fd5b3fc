#include "core/array_ops.hpp"

#include <stdexcept>

#include "core/parallel_ranges.hpp"

namespace dposg {

HostArrays::HostArrays(Index d, Index M, std::unique_ptr<Oracle> oracle, std::unique_ptr<Mixer> mixer)
    : d_(d), M_(M), own_oracle_(std::move(oracle)), mixer_(std::move(mixer)), oracle_(own_oracle_.get()) {}

Array HostArrays::bind(Matrix& m) {
  at_.push_back(&m);
  return static_cast<Array>(at_.size() - 1);
}

Array HostArrays::allocate() {
  owned_.emplace_back(Matrix::Zero(d_, M_));
  return bind(owned_.back());
}

void HostArrays::adam(Array g, Array m, Array v, Array dir, std::int64_t count, const AdamParams& p) {
  const Matrix& G = at(g);
  double* mp = at(m).data();
  double* vp = at(v).data();
  Matrix& D = at(dir);
  const Index d = G.rows();
  D.resize(d, G.cols());
  // adam_update per flat range, on all threads: the moments and direction of every entry.
  for_each_flat_range(d, G.cols(), [&](Index col, Index r0, Index r1) {
    const Index off = col * d + r0;
    adam_update(G.data() + off, mp + off, vp + off, D.data() + off, r1 - r0, count, p);
  });
}

void HostArrays::evaluate(Array z, Array g) {
  if (!oracle_) throw std::logic_error("HostArrays::evaluate without an oracle");
  (*oracle_)(at(z), at(g));
}

void HostArrays::mix(Array x, int rounds, std::int64_t iteration) {
  if (!mixer_) throw std::logic_error("HostArrays::mix without a mixer");
  mixer_->mix(at(x), rounds, iteration);
}

bool HostArrays::checkpointable() const {
  return (!own_oracle_ || own_oracle_->checkpointable()) && (!mixer_ || mixer_->checkpointable());
}

void HostArrays::save_state(StateArchive& a) const {
  if (own_oracle_) own_oracle_->save_state(a);
  if (mixer_) mixer_->save_state(a, "mixer/");
}

void HostArrays::load_state(const StateArchive& a) {
  if (own_oracle_) own_oracle_->load_state(a);
  if (mixer_) mixer_->load_state(a, "mixer/");
}

namespace {

// a <- the d x M matrix under key (CheckpointError if it has another shape).
void restore_array(const StateArchive& in, const std::string& key, ArrayOps& ops, Array a) {
  Matrix buffer(ops.rows(), ops.cols());
  in.restore(key, buffer);
  ops.assign(a, buffer);
}

}  // namespace

void save_program_state(StepProgram& program, ArrayOps& ops, StateArchive& a) {
  Matrix buffer;
  for (const auto& [name, array] : program.state()) a.put("rule/" + name, ops.read(array, buffer));
  for (const auto& [name, value] : program.counters()) a.put_integer("rule/" + name, *value);
}

void load_program_state(StepProgram& program, ArrayOps& ops, const StateArchive& a) {
  for (const auto& [name, array] : program.state()) restore_array(a, "rule/" + name, ops, array);
  for (const auto& [name, value] : program.counters()) *value = a.integer("rule/" + name);
}

ArrayEngine::ArrayEngine(std::unique_ptr<ArrayOps> ops, std::unique_ptr<StepProgram> program, int rounds,
                         bool overlap)
    : ops_(std::move(ops)), program_(std::move(program)), rounds_(rounds), overlap_(overlap) {}

void ArrayEngine::init(const Matrix& Z0) {
  if (z_ < 0) {
    z_ = ops_->allocate();
    x_ = ops_->allocate();
    if (overlap_) {
      x_local_ = ops_->allocate();
      x_prev_ = ops_->allocate();
    }
  }
  ops_->assign(z_, Z0);
  ops_->assign(x_, Z0);
  program_->init(*ops_, z_, x_);
  z_view_ = x_view_ = nullptr;
}

void ArrayEngine::iterate(std::int64_t k) {
  if (overlap_) {
    ops_->copy(x_local_, x_);
    ops_->copy(x_prev_, x_);
    program_->step(*ops_, z_, x_local_);
    ops_->mix(x_, rounds_, k);
    ops_->add_difference(x_, x_local_, x_prev_);
  } else {
    ops_->mix(x_, rounds_, k);
    program_->step(*ops_, z_, x_);
  }
  z_view_ = x_view_ = nullptr;
}

void ArrayEngine::save_state(StateArchive& a) const {
  if (z_ < 0) throw std::logic_error("ArrayEngine::save_state before init");
  put_arithmetic(a, ops_->arithmetic());
  Matrix buffer;
  a.put("engine/z", ops_->read(z_, buffer));
  a.put("engine/x", ops_->read(x_, buffer));
  a.put_real("engine/comm_s", comm_seconds());
  save_program_state(*program_, *ops_, a);
  ops_->save_state(a);
}

void ArrayEngine::load_state(const StateArchive& a) {
  if (z_ < 0) throw std::logic_error("ArrayEngine::load_state before init");
  require_arithmetic(a, ops_->arithmetic());
  restore_array(a, "engine/z", *ops_, z_);
  restore_array(a, "engine/x", *ops_, x_);
  load_program_state(*program_, *ops_, a);
  ops_->load_state(a);
  z_view_ = x_view_ = nullptr;
}

}  // namespace dposg
