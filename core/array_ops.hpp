#pragma once
// ArrayOps: the few operations on d x M worker arrays (column i = worker i) that the step rules
// (core/step_rule.hpp, StepProgram) and the mixing are written against, once, so that every engine
// runs the same arithmetic (Ceres's ConjugateGradientsSolver over Axpby/Dot/Norm; ensmallen's
// Policy<MatType>). Arrays are opaque handles: host matrices here (HostArrays, the host engine's and
// the CPU twin's), device memory for the resident engine on a GPU (gan/cuda/resident_engine.cpp over
// gan/cuda/resident_device.hpp).
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "core/driver.hpp"
#include "core/mixer.hpp"
#include "core/step_rule.hpp"
#include "core/types.hpp"

namespace dposg {

class ArrayOps {
 public:
  virtual ~ArrayOps() = default;
  // d and M of every array.
  virtual Index rows() const = 0;
  virtual Index cols() const = 0;
  // A new d x M array of zeros.
  virtual Array allocate() = 0;
  // a <- host (d x M).
  virtual void assign(Array a, const Matrix& host) = 0;
  // a on the host: the array itself where it lives there, otherwise copied into `buffer`.
  virtual const Matrix& read(Array a, Matrix& buffer) = 0;
  virtual void copy(Array to, Array from) = 0;
  // out <- base - eta dir, eta_u on the u rows, eta_v on the rest (apply_step); out may be base.
  virtual void step(Array out, Array base, Array dir, const StepSize& s) = 0;
  // Adam's count-th update (adam_update): m and v advance on g, dir <- m_hat / (sqrt(v_hat) + eps).
  virtual void adam(Array g, Array m, Array v, Array dir, std::int64_t count, const AdamParams& p) = 0;
  // x <- x + (a - b): the overlapped iteration adds the local step's change to the averaged point.
  virtual void add_difference(Array x, Array a, Array b) = 0;
  // g <- the stochastic operator at z, each worker with fresh samples from its own stream.
  virtual void evaluate(Array z, Array g) = 0;
  virtual std::int64_t evaluations() const = 0;
  // x <- x W_{k,1} ... W_{k,rounds} for iteration k of the schedule (Mixer::mix).
  virtual void mix(Array x, int rounds, std::int64_t iteration) = 0;
  // Checkpoints: the state these ops own besides the arrays (the workers' streams and the
  // evaluation count, the mixer's), under the host engine's keys (oracle/, mixer/); the arrays are
  // their engine's and program's to save. Ops that do not override these cannot be checkpointed.
  virtual bool checkpointable() const { return false; }
  virtual void save_state(StateArchive&) const {}
  virtual void load_state(const StateArchive&) {}
  // What the arrays are computed with (put_arithmetic, core/driver.hpp): "host" or "device".
  virtual std::string arithmetic() const = 0;
};

// A program's state() arrays and counters() under rule/<name>, as the host engine's StepRule keeps
// them, from and into arrays of `ops`; restored after the program's init.
void save_program_state(StepProgram& program, ArrayOps& ops, StateArchive& a);
void load_program_state(StepProgram& program, ArrayOps& ops, const StateArchive& a);

// The host implementation: Eigen matrices, apply_step, adam_update over all threads, the Oracle
// and the Mixer. Arrays are owned, or bound to a caller's matrix (StepRule's Z and X).
class HostArrays final : public ArrayOps {
 public:
  // oracle and mixer: null until set (a StepRule passes its oracle per call and never mixes).
  HostArrays(Index d, Index M, std::unique_ptr<Oracle> oracle = nullptr, std::unique_ptr<Mixer> mixer = nullptr);
  // An array that is `m` itself (until rebound).
  Array bind(Matrix& m);
  void rebind(Array a, Matrix& m) { at_[static_cast<std::size_t>(a)] = &m; }
  void use_oracle(Oracle& o) { oracle_ = &o; }

  Index rows() const override { return d_; }
  Index cols() const override { return M_; }
  Array allocate() override;
  void assign(Array a, const Matrix& host) override { at(a) = host; }
  const Matrix& read(Array a, Matrix&) override { return at(a); }
  void copy(Array to, Array from) override { at(to) = at(from); }
  void step(Array out, Array base, Array dir, const StepSize& s) override { apply_step(at(base), s, at(dir), at(out)); }
  void adam(Array g, Array m, Array v, Array dir, std::int64_t count, const AdamParams& p) override;
  void add_difference(Array x, Array a, Array b) override { at(x) += at(a) - at(b); }
  void evaluate(Array z, Array g) override;
  std::int64_t evaluations() const override { return oracle_ ? oracle_->calls() : 0; }
  void mix(Array x, int rounds, std::int64_t iteration) override;
  // The oracle and mixer given at construction; one bound by use_oracle is its owner's to save.
  bool checkpointable() const override;
  void save_state(StateArchive& a) const override;
  void load_state(const StateArchive& a) override;
  std::string arithmetic() const override { return "host"; }

 private:
  Matrix& at(Array a) { return *at_[static_cast<std::size_t>(a)]; }

  Index d_, M_;
  std::unique_ptr<Oracle> own_oracle_;
  std::unique_ptr<Mixer> mixer_;
  Oracle* oracle_ = nullptr;
  std::deque<Matrix> owned_;  // a deque: growing it leaves the bound addresses in place
  std::vector<Matrix*> at_;
};

// The driver's iteration (core/driver.hpp) over any ArrayOps: X <- X W^t, then the rule's step, or
// under DriverOptions::overlap the step at the un-averaged point plus the averaging's change (the
// host engine's arithmetic, core/driver.cpp). The resident engine is this over device arrays.
class ArrayEngine final : public IterationEngine {
 public:
  ArrayEngine(std::unique_ptr<ArrayOps> ops, std::unique_ptr<StepProgram> program, int rounds, bool overlap);
  void init(const Matrix& Z0) override;
  void iterate(std::int64_t k) override;
  const Matrix& z() override { return fetch(z_, Z_, z_view_); }
  const Matrix& x() override { return fetch(x_, X_, x_view_); }
  std::int64_t oracle_calls() const override { return ops_->evaluations(); }
  // Z, X, the program's state and the ops', under the host engine's keys: the CPU twin's checkpoint
  // is the host engine's. Overlap's X_local and X_prev are copies of X made in every iteration.
  bool checkpointable() const override { return ops_->checkpointable(); }
  void save_state(StateArchive& a) const override;
  void load_state(const StateArchive& a) override;

 private:
  // Read once per iteration: a device download happens only when the driver asks.
  const Matrix& fetch(Array a, Matrix& buffer, const Matrix*& view) {
    if (!view) view = &ops_->read(a, buffer);
    return *view;
  }
  std::unique_ptr<ArrayOps> ops_;
  std::unique_ptr<StepProgram> program_;
  int rounds_;
  bool overlap_;
  Array z_ = -1, x_ = -1, x_local_ = -1, x_prev_ = -1;
  Matrix Z_, X_;  // host copies where the arrays live elsewhere
  const Matrix* z_view_ = nullptr;
  const Matrix* x_view_ = nullptr;
};

}  // namespace dposg
