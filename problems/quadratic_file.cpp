#include "problems/quadratic_file.hpp"

#include <H5Cpp.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <sstream>
#include <vector>

#include "core/error.hpp"
#include "problems/common.hpp"

namespace dposg::problems {

namespace {

struct RawDataset {
  std::vector<hsize_t> dims;
  std::vector<double> data;  // row-major (C order), as stored
};

std::string shape_str(const std::vector<hsize_t>& dims) {
  std::ostringstream s;
  s << "(";
  for (std::size_t k = 0; k < dims.size(); ++k) s << (k ? ", " : "") << dims[k];
  if (dims.size() == 1) s << ",";
  s << ")";
  return s.str();
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw InputError("--problem-file: '" + path + "': " + what);
}

// Reads dataset `name` from the root of `file` as doubles; nullopt when there is no such link.
std::optional<RawDataset> read_dataset(const H5::H5File& file, const std::string& path,
                                       const std::string& name) {
  if (H5Lexists(file.getId(), name.c_str(), H5P_DEFAULT) <= 0) return std::nullopt;
  RawDataset out;
  try {
    H5::DataSet ds = file.openDataSet(name);
    const H5T_class_t cls = ds.getTypeClass();
    if (cls != H5T_FLOAT && cls != H5T_INTEGER)
      fail(path, "dataset " + name + " is not numeric (float or integer expected)");
    H5::DataSpace space = ds.getSpace();
    const int rank = space.getSimpleExtentNdims();
    out.dims.resize(static_cast<std::size_t>(std::max(rank, 0)));
    if (rank > 0) space.getSimpleExtentDims(out.dims.data());
    hsize_t count = 1;
    for (hsize_t k : out.dims) count *= k;
    out.data.resize(static_cast<std::size_t>(count));
    if (count > 0) ds.read(out.data.data(), H5::PredType::NATIVE_DOUBLE);
  } catch (const H5::Exception& e) {
    fail(path, "cannot read dataset " + name + " (" + e.getDetailMsg() + ")");
  }
  for (double x : out.data)
    if (!std::isfinite(x)) fail(path, "dataset " + name + " contains NaN/Inf");
  return out;
}

Matrix to_matrix(const RawDataset& raw, const std::string& path, const std::string& name,
                 Index rows, Index cols, const std::string& expected) {
  if (raw.dims.size() != 2 || static_cast<Index>(raw.dims[0]) != rows ||
      static_cast<Index>(raw.dims[1]) != cols)
    fail(path, "dataset " + name + " has shape " + shape_str(raw.dims) + ", expected " + expected +
                   " = (" + std::to_string(rows) + ", " + std::to_string(cols) + ")");
  using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  return Eigen::Map<const RowMajor>(raw.data.data(), rows, cols);  // converts to column-major
}

Vector to_vector(const RawDataset& raw, const std::string& path, const std::string& name,
                 Index len, const std::string& expected) {
  if (raw.dims.size() != 1 || static_cast<Index>(raw.dims[0]) != len)
    fail(path, "dataset " + name + " has shape " + shape_str(raw.dims) + ", expected " + expected +
                   " = (" + std::to_string(len) + ",)");
  return Eigen::Map<const Vector>(raw.data.data(), len);
}

// Checks symmetry to 1e-12 relative to max|M| and returns (M + M^T)/2.
Matrix symmetric_part(const Matrix& M, const std::string& path, const std::string& name) {
  const double scale = M.cwiseAbs().maxCoeff();
  const double asym = (M - M.transpose()).cwiseAbs().maxCoeff();
  if (asym > 1e-12 * scale) {
    std::ostringstream s;
    s.precision(3);
    s << "dataset " << name << " is not symmetric (max |" << name << " - " << name
      << "^T| = " << asym << ", max |" << name << "| = " << scale << ", tolerance 1e-12 relative)";
    fail(path, s.str());
  }
  return (M + M.transpose()) / 2.0;
}

bool is_psd(const Matrix& S) {
  if (S.size() == 0) return true;
  Eigen::SelfAdjointEigenSolver<Matrix> es(S, Eigen::EigenvaluesOnly);
  const Vector& lam = es.eigenvalues();  // ascending
  const double norm = std::max(std::abs(lam[0]), std::abs(lam[lam.size() - 1]));
  return lam[0] >= -1e-12 * static_cast<double>(S.rows()) * norm;
}

}  // namespace

QuadraticFileProblem::QuadraticFileProblem(const SyntheticOptions& opts) {
  require_noise(opts);
  set_noise(opts);
  file_ = opts.file;
  if (file_.empty())
    throw InputError(
        "--problem-file: required for problem quadratic-file (an HDF5 file with dataset A and "
        "optional P, Q, b, c)");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file_, ec))
    throw InputError("--problem-file: cannot open '" + file_ + "' (no such file)");

  H5::Exception::dontPrint();
  H5::H5File file;
  try {
    file.openFile(file_, H5F_ACC_RDONLY);
  } catch (const H5::Exception& e) {
    throw InputError("--problem-file: cannot open '" + file_ + "' as an HDF5 file (" +
                     e.getDetailMsg() + ")");
  }

  const auto rawA = read_dataset(file, file_, "A");
  if (!rawA) fail(file_, "dataset A (shape (n_u, n_v)) is required but missing");
  if (rawA->dims.size() != 2)
    fail(file_, "dataset A has shape " + shape_str(rawA->dims) + ", expected 2-D (n_u, n_v)");
  n_u_ = static_cast<Index>(rawA->dims[0]);
  n_v_ = static_cast<Index>(rawA->dims[1]);
  if (n_u_ < 1 || n_v_ < 1)
    fail(file_, "dataset A has shape " + shape_str(rawA->dims) + ", expected n_u, n_v >= 1");
  A_ = to_matrix(*rawA, file_, "A", n_u_, n_v_, "(n_u, n_v)");

  const auto rawP = read_dataset(file, file_, "P");
  P_ = rawP ? symmetric_part(to_matrix(*rawP, file_, "P", n_u_, n_u_, "(n_u, n_u)"), file_, "P")
            : Matrix::Zero(n_u_, n_u_);
  const auto rawQ = read_dataset(file, file_, "Q");
  Q_ = rawQ ? symmetric_part(to_matrix(*rawQ, file_, "Q", n_v_, n_v_, "(n_v, n_v)"), file_, "Q")
            : Matrix::Zero(n_v_, n_v_);
  const auto rawb = read_dataset(file, file_, "b");
  b_ = rawb ? to_vector(*rawb, file_, "b", n_u_, "(n_u,)") : Vector::Zero(n_u_);
  const auto rawc = read_dataset(file, file_, "c");
  c_ = rawc ? to_vector(*rawc, file_, "c", n_v_, "(n_v,)") : Vector::Zero(n_v_);
  file.close();

  const Index d = n_u_ + n_v_;
  J_.resize(d, d);
  J_.topLeftCorner(n_u_, n_u_) = P_;
  J_.topRightCorner(n_u_, n_v_) = A_;
  J_.bottomLeftCorner(n_v_, n_u_) = -A_.transpose();
  J_.bottomRightCorner(n_v_, n_v_) = Q_;
  r_.resize(d);
  r_ << b_, c_;

  Eigen::BDCSVD<Matrix> svd(J_, Eigen::ComputeThinU | Eigen::ComputeThinV);
  const Vector& sv = svd.singularValues();  // descending
  const double L = sv[0];
  std::optional<Vector> x_star;
  if (L == 0.0) {
    if (r_.norm() == 0.0) x_star = Vector::Zero(d);
  } else {
    const Vector x = svd.solve(-r_);  // exact solve if invertible, else min-norm least squares
    const bool invertible = sv[d - 1] > L * static_cast<double>(d) * 1e-15;
    const double residual = (J_ * x + r_).norm();
    if (invertible || residual <= 1e-9 * (r_.norm() + L * x.norm())) x_star = x;
  }

  psd_P_ = is_psd(P_);
  psd_Q_ = is_psd(Q_);
  constants_.L = L;
  constants_.sigma = noise_;
  constants_.D = 4.0 * std::max(1.0, x_star ? x_star->norm() : 0.0);
  constants_.G = L * constants_.D / 2.0 + r_.norm();
  constants_.x_star = x_star;
  constants_.assumption_iv = psd_P_ && psd_Q_ && x_star.has_value();
}



void QuadraticFileProblem::exact_column(const Eigen::Ref<const Vector>& z, Eigen::Ref<Vector> g) const {
  g.noalias() = J_ * z;
  g += r_;
}

void QuadraticFileProblem::write_instance(InstanceWriter& out) const {
  out.text("formula",
           "quadratic-file: z = (u, v), u = z[0:n_u], v = z[n_u:]; "
           "f = 1/2 u^T P u + u^T A v - 1/2 v^T Q v + b^T u - c^T v; "
           "g(z) = [P u + A v + b, -A^T u + Q v + c]; P, Q symmetrized. "
           "Stochastic: g(z; xi) = g(z) + N(0, noise^2/(d*batch) I).");
  out.text("source_file", file_);
  out.scalar("dim", static_cast<double>(dim()));
  out.scalar("dim_u", static_cast<double>(n_u_));
  out.matrix("A", A_);
  out.matrix("P", P_);
  out.matrix("Q", Q_);
  out.vector("b", b_);
  out.vector("c", c_);
  out.scalar("noise", noise_);
  out.scalar("P_psd", psd_P_ ? 1.0 : 0.0);
  out.scalar("Q_psd", psd_Q_ ? 1.0 : 0.0);
  write_constants(out, constants_);
}

}  // namespace dposg::problems
