#include "core/topology.hpp"

#include <H5Cpp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <set>
#include <sstream>
#include <stdexcept>

#include "core/error.hpp"
#include "core/spectral.hpp"

namespace dposg {
namespace {

// Rows from (i, j, w) contributions, duplicates summed in the order they were added (e.g. a ring of
// 2 or a thin torus): the same sums, bit for bit, as adding each into a zero-initialised entry.
// Vectors rather than a map per node: a million-node ring is built in milliseconds, not seconds.
class Contributions {
 public:
  explicit Contributions(Index M) : M_(M), rows_(static_cast<std::size_t>(M)) {}
  void add(Index i, Index j, double w) { rows_[static_cast<std::size_t>(i)].emplace_back(j, w); }
  Topology build() && {
    Topology t;
    t.workers = M_;
    t.rows.resize(static_cast<std::size_t>(M_));
    for (Index i = 0; i < M_; ++i) {
      auto& in = rows_[static_cast<std::size_t>(i)];
      std::stable_sort(in.begin(), in.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      auto& out = t.rows[static_cast<std::size_t>(i)];
      // Reserved to the exact count: grown by doubling, a 5-entry torus row held 8.
      std::size_t distinct = 0;
      for (std::size_t e = 0; e < in.size(); ++e) distinct += (e == 0 || in[e].first != in[e - 1].first);
      out.reserve(distinct);
      for (std::size_t e = 0; e < in.size();) {
        const Index j = in[e].first;
        double w = 0.0;
        for (; e < in.size() && in[e].first == j; ++e) w += in[e].second;
        if (w != 0.0) out.emplace_back(j, w);
      }
      std::vector<std::pair<Index, double>>().swap(in);
    }
    return t;
  }

 private:
  Index M_;
  std::vector<std::vector<std::pair<Index, double>>> rows_;
};

Index wrap(Index i, Index M) { return ((i % M) + M) % M; }

}  // namespace

Matrix Topology::dense() const {
  Matrix W = Matrix::Zero(workers, workers);
  for (Index i = 0; i < workers; ++i)
    for (const auto& [j, w] : rows[static_cast<std::size_t>(i)]) W(i, j) = w;
  return W;
}

Index Topology::max_degree() const {
  Index best = 0;
  for (Index i = 0; i < workers; ++i) {
    Index deg = 0;
    for (const auto& [j, w] : rows[static_cast<std::size_t>(i)])
      if (j != i && w != 0.0) ++deg;
    best = std::max(best, deg);
  }
  return best;
}

Topology single_topology() { return complete_topology(1); }

Topology complete_topology(Index M) {
  if (M > kCompleteMaxWorkers) {
    std::ostringstream s;
    s << setting("mixer.workers") << ": " << setting("mixer.topology") << " complete stores its M^2 weights; at most " << kCompleteMaxWorkers << " workers, got "
      << M;
    throw InputError(s.str());
  }
  Contributions acc(M);
  for (Index i = 0; i < M; ++i)
    for (Index j = 0; j < M; ++j) acc.add(i, j, 1.0 / static_cast<double>(M));
  return std::move(acc).build();
}

Topology permuted_ring_topology(const std::vector<Index>& perm) {
  const Index M = static_cast<Index>(perm.size());
  // M = 1 gives W = I; for M = 2 both neighbours are the other node (weights 1/3, 2/3).
  Contributions acc(M);
  for (Index k = 0; k < M; ++k) {
    const Index i = perm[static_cast<std::size_t>(k)];
    acc.add(i, i, 1.0 / 3.0);
    acc.add(i, perm[static_cast<std::size_t>(wrap(k - 1, M))], 1.0 / 3.0);
    acc.add(i, perm[static_cast<std::size_t>(wrap(k + 1, M))], 1.0 / 3.0);
  }
  return std::move(acc).build();
}

namespace {

// perm's inverse (pos[perm[k]] = k) in the calling thread's buffer, written on all threads (each k
// writes its own pos entry). The team reaches the buffer through the pointer: a thread_local named
// in a parallel loop would be each team thread's own, empty one.
const Index* inverse_permutation(const std::vector<Index>& perm) {
  const Index M = static_cast<Index>(perm.size());
  thread_local std::vector<Index> pos_buffer;
  pos_buffer.resize(static_cast<std::size_t>(M));
  Index* const pos = pos_buffer.data();
#pragma omp parallel for schedule(static) if (M >= 4096)
  for (Index k = 0; k < M; ++k) pos[perm[static_cast<std::size_t>(k)]] = k;
  return pos;
}

// Node i's ring neighbours and itself, sorted (M >= 3: three distinct nodes).
inline std::array<Index, 3> sorted_ring_row(const std::vector<Index>& perm, const Index* pos, Index i) {
  const Index M = static_cast<Index>(perm.size());
  const Index k = pos[i];
  std::array<Index, 3> j = {perm[static_cast<std::size_t>(k == 0 ? M - 1 : k - 1)], i,
                            perm[static_cast<std::size_t>(k + 1 == M ? 0 : k + 1)]};
  std::sort(j.begin(), j.end());
  return j;
}

}  // namespace

std::vector<NodeRun> translate_runs(const Topology& W) {
  std::vector<NodeRun> runs;
  const auto translate = [](const std::vector<std::pair<Index, double>>& a, const std::vector<std::pair<Index, double>>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t q = 0; q < a.size(); ++q)
      if (b[q].first != a[q].first + 1 || b[q].second != a[q].second) return false;
    return true;
  };
  Index begin = 0;
  for (Index i = 1; i < W.workers; ++i) {
    if (translate(W.rows[static_cast<std::size_t>(i - 1)], W.rows[static_cast<std::size_t>(i)])) continue;
    runs.push_back({begin, i});
    begin = i;
  }
  if (W.workers > 0) runs.push_back({begin, W.workers});
  return runs;
}

void permuted_ring_triples(const std::vector<Index>& perm, std::vector<std::uint32_t>& triples) {
  const Index M = static_cast<Index>(perm.size());
  if (M < 3 || M > kRingTripleMaxWorkers)
    throw std::logic_error("permuted_ring_triples: M = " + std::to_string(M) + " outside [3, 2^32]");
  triples.resize(3 * static_cast<std::size_t>(M));
  const Index* const pos = inverse_permutation(perm);
  std::uint32_t* const out = triples.data();
#pragma omp parallel for schedule(static) if (M >= 4096)
  for (Index i = 0; i < M; ++i) {
    const std::array<Index, 3> j = sorted_ring_row(perm, pos, i);
    for (int q = 0; q < 3; ++q) out[3 * i + q] = static_cast<std::uint32_t>(j[static_cast<std::size_t>(q)]);
  }
}

void fill_permuted_ring(const std::vector<Index>& perm, Topology& W) {
  const Index M = static_cast<Index>(perm.size());
  // Below 3 nodes a node's neighbours coincide (merged weights): the general construction.
  if (M < 3) {
    W = permuted_ring_topology(perm);
    return;
  }
  // Three distinct entries of weight 0.0 + 1/3, sorted by node: what Contributions::build makes.
  W.workers = M;
  W.rows.resize(static_cast<std::size_t>(M));
  // Node by node through the inverse permutation: the rows (a 24 B header and 48 B of entries
  // each) are written in order, and the random accesses are 8 B reads of perm; written in perm's
  // order every row was a random read-for-ownership (a fifth of a two-round mix at M = 10^6).
  // Rows are written by one node each: the threads share nothing.
  const Index* const pos = inverse_permutation(perm);
  constexpr double w = 0.0 + 1.0 / 3.0;
#pragma omp parallel for schedule(static) if (M >= 4096)
  for (Index i = 0; i < M; ++i) {
    const std::array<Index, 3> j = sorted_ring_row(perm, pos, i);
    auto& row = W.rows[static_cast<std::size_t>(i)];
    if (row.size() != 3) row.resize(3);
    std::pair<Index, double>* e = row.data();
    e[0] = {j[0], w};
    e[1] = {j[1], w};
    e[2] = {j[2], w};
  }
}

Topology ring_topology(Index M) {
  std::vector<Index> id(static_cast<std::size_t>(M));
  for (Index i = 0; i < M; ++i) id[static_cast<std::size_t>(i)] = i;
  return permuted_ring_topology(id);
}

Topology torus_topology(Index M) {
  Index r = static_cast<Index>(std::floor(std::sqrt(static_cast<double>(M))));
  while (r > 1 && M % r != 0) --r;
  const Index c = M / r;
  Contributions acc(M);
  for (Index a = 0; a < r; ++a)
    for (Index b = 0; b < c; ++b) {
      const Index i = a * c + b;
      acc.add(i, i, 0.2);
      acc.add(i, wrap(a - 1, r) * c + b, 0.2);
      acc.add(i, wrap(a + 1, r) * c + b, 0.2);
      acc.add(i, a * c + wrap(b - 1, c), 0.2);
      acc.add(i, a * c + wrap(b + 1, c), 0.2);
    }
  return std::move(acc).build();
}

Topology exponential_topology(Index M) {
  std::set<Index> offset_set;  // circulant: the same neighbour offsets for every node
  for (Index h = 1; h < M; h *= 2) {
    offset_set.insert(wrap(h, M));
    offset_set.insert(wrap(-h, M));
  }
  offset_set.erase(0);
  const std::vector<Index> offsets(offset_set.begin(), offset_set.end());  // ascending, in (0, M)
  // Offsets are distinct mod M, so every entry is one contribution, 0.0 + w = w: the rows
  // Contributions would build, written directly. Through Contributions a million-node W grew two
  // vectors a row by doubling (2 GB touched for 0.62 GB of entries) on one thread.
  const double w = 0.0 + 1.0 / static_cast<double>(offsets.size() + 1);
  Topology t;
  t.workers = M;
  t.rows.resize(static_cast<std::size_t>(M));
#pragma omp parallel for schedule(static) if (M >= 4096)
  for (Index i = 0; i < M; ++i) {
    // Sorted row: the offsets that wrap (i + o >= M, landing below i) in ascending order, then i,
    // then those that do not.
    const auto split = std::lower_bound(offsets.begin(), offsets.end(), M - i);
    auto& row = t.rows[static_cast<std::size_t>(i)];
    row.reserve(offsets.size() + 1);
    for (auto o = split; o != offsets.end(); ++o) row.emplace_back(i + *o - M, w);
    row.emplace_back(i, w);
    for (auto o = offsets.begin(); o != split; ++o) row.emplace_back(i + *o, w);
  }
  return t;
}

namespace {
// Why gossip on W would not reach consensus (rho >= 1: disconnected or bipartite), or "".
std::string not_contracting(const Topology& t) {
  const double rho = spectrum_for("file", t).rho;
  if (rho < 1.0 - 1e-12) return "";
  std::ostringstream o;
  o << "W has rho = max(|lambda_2|, |lambda_M|) = " << rho
    << ", not < 1 (the graph is disconnected or bipartite): gossip would not reach consensus";
  return o.str();
}
}  // namespace

Topology topology_from_dense(const Matrix& W, const std::string& option) {
  auto fail = [&](const std::string& why) { throw InputError(option + ": " + why); };
  if (W.rows() != W.cols() || W.rows() < 1) {
    std::ostringstream s;
    s << "W must be square and non-empty, got " << W.rows() << "x" << W.cols();
    fail(s.str());
  }
  if (!W.allFinite()) fail("W contains NaN or Inf");
  const Index M = W.rows();
  constexpr double tol = 1e-10;
  for (Index i = 0; i < M; ++i)
    for (Index j = 0; j < M; ++j) {
      std::ostringstream s;
      if (W(i, j) < 0) {
        s << "W is not non-negative: W(" << i << "," << j << ") = " << W(i, j);
        fail(s.str());
      }
      if (std::abs(W(i, j) - W(j, i)) > tol) {
        s << "W is not symmetric: W(" << i << "," << j << ") = " << W(i, j) << " but W(" << j << "," << i
          << ") = " << W(j, i);
        fail(s.str());
      }
    }
  for (Index i = 0; i < M; ++i) {
    const double s = W.row(i).sum();
    if (std::abs(s - 1.0) > tol) {
      std::ostringstream o;
      o << "W is not doubly stochastic: row " << i << " sums to " << s;
      fail(o.str());
    }
  }
  Topology t;
  t.workers = M;
  t.rows.resize(static_cast<std::size_t>(M));
  for (Index i = 0; i < M; ++i)
    for (Index j = 0; j < M; ++j)
      if (W(i, j) != 0.0) t.rows[static_cast<std::size_t>(i)].emplace_back(j, W(i, j));
  if (const std::string why = not_contracting(t); !why.empty()) fail(why);
  return t;
}

namespace {

template <class T>
std::vector<T> read_1d(const H5::H5File& file, const std::string& name, const H5::PredType& type,
                       const std::string& path) {
  const std::string option = setting("mixer.topology_file");
  H5::DataSet ds = file.openDataSet(name);
  H5::DataSpace space = ds.getSpace();
  if (space.getSimpleExtentNdims() != 1)
    throw InputError(option + ": dataset '" + name + "' in '" + path + "' is not 1-D");
  hsize_t n = 0;
  space.getSimpleExtentDims(&n);
  std::vector<T> v(n);
  if (n > 0) ds.read(v.data(), type);
  return v;
}

// A sparse W in CSR form (datasets indptr, indices, data: row i's entries are indices/data
// [indptr[i], indptr[i+1])), validated as topology_from_dense validates a dense one, without an
// M x M matrix: symmetry by looking each entry's mirror up in its (sorted) row, rho < 1 by the
// sparse solver (core/spectral.hpp).
Topology topology_from_csr(const std::vector<std::int64_t>& indptr, const std::vector<std::int64_t>& indices,
                           const std::vector<double>& data, const std::string& path) {
  const std::string option = setting("mixer.topology_file");
  auto fail = [&](const std::string& why) { throw InputError(option + ": '" + path + "': " + why); };
  if (indptr.size() < 2) fail("CSR 'indptr' needs M + 1 >= 2 entries");
  const Index M = static_cast<Index>(indptr.size()) - 1;
  if (indices.size() != data.size()) fail("CSR 'indices' and 'data' differ in length");
  if (indptr.front() != 0 || indptr.back() != static_cast<std::int64_t>(data.size()))
    fail("CSR 'indptr' must start at 0 and end at the number of entries");
  Topology t;
  t.workers = M;
  t.rows.resize(static_cast<std::size_t>(M));
  for (Index i = 0; i < M; ++i) {
    const std::int64_t b = indptr[static_cast<std::size_t>(i)], e = indptr[static_cast<std::size_t>(i + 1)];
    if (e < b) fail("CSR 'indptr' is not non-decreasing at row " + std::to_string(i));
    auto& row = t.rows[static_cast<std::size_t>(i)];
    double sum = 0.0;
    for (std::int64_t q = b; q < e; ++q) {
      const std::int64_t j = indices[static_cast<std::size_t>(q)];
      const double w = data[static_cast<std::size_t>(q)];
      if (j < 0 || j >= M) fail("CSR column index " + std::to_string(j) + " out of range in row " + std::to_string(i));
      if (!std::isfinite(w)) fail("W contains NaN or Inf");
      if (w < 0) {
        std::ostringstream s;
        s << "W is not non-negative: W(" << i << "," << j << ") = " << w;
        fail(s.str());
      }
      if (w != 0.0) row.emplace_back(j, w);
      sum += w;
    }
    std::sort(row.begin(), row.end());
    for (std::size_t q = 1; q < row.size(); ++q)
      if (row[q].first == row[q - 1].first) fail("CSR row " + std::to_string(i) + " lists column " +
                                                  std::to_string(row[q].first) + " twice");
    if (std::abs(sum - 1.0) > 1e-10) {
      std::ostringstream o;
      o << "W is not doubly stochastic: row " << i << " sums to " << sum;
      fail(o.str());
    }
  }
  auto weight = [&](Index i, Index j) {
    const auto& row = t.rows[static_cast<std::size_t>(i)];
    auto it = std::lower_bound(row.begin(), row.end(), std::make_pair(j, -1.0));
    return it != row.end() && it->first == j ? it->second : 0.0;
  };
  for (Index i = 0; i < M; ++i)
    for (const auto& [j, w] : t.rows[static_cast<std::size_t>(i)])
      if (std::abs(w - weight(j, i)) > 1e-10) {
        std::ostringstream s;
        s << "W is not symmetric: W(" << i << "," << j << ") = " << w << " but W(" << j << "," << i << ") = "
          << weight(j, i);
        fail(s.str());
      }
  if (const std::string why = not_contracting(t); !why.empty()) fail(why);
  return t;
}

}  // namespace

Topology topology_from_file(const std::string& path) {
  const std::string option = setting("mixer.topology_file");
  H5::Exception::dontPrint();
  Matrix W;
  try {
    H5::H5File file(path, H5F_ACC_RDONLY);
    if (!file.nameExists("W")) {
      if (file.nameExists("indptr") && file.nameExists("indices") && file.nameExists("data"))
        return topology_from_csr(read_1d<std::int64_t>(file, "indptr", H5::PredType::NATIVE_INT64, path),
                                 read_1d<std::int64_t>(file, "indices", H5::PredType::NATIVE_INT64, path),
                                 read_1d<double>(file, "data", H5::PredType::NATIVE_DOUBLE, path), path);
      throw InputError(option + ": '" + path + "' has no dataset 'W'");
    }
    H5::DataSet ds = file.openDataSet("W");
    H5::DataSpace space = ds.getSpace();
    if (space.getSimpleExtentNdims() != 2)
      throw InputError(option + ": dataset 'W' in '" + path + "' is not 2-D");
    hsize_t dims[2];
    space.getSimpleExtentDims(dims);
    // A dense W is M^2 doubles and its checks M^2 steps; large W come as CSR (same validation, O(nnz)).
    if (dims[0] > static_cast<hsize_t>(kDenseFileMaxWorkers) || dims[1] > static_cast<hsize_t>(kDenseFileMaxWorkers))
      throw InputError(option + ": dataset 'W' in '" + path + "' is " + std::to_string(dims[0]) + "x" +
                       std::to_string(dims[1]) + "; a dense W is read for M <= " + std::to_string(kDenseFileMaxWorkers) +
                       ", above that give W as CSR datasets indptr, indices, data");
    // HDF5 stores row-major; read into a row-major buffer, then copy.
    std::vector<double> buf(dims[0] * dims[1]);
    ds.read(buf.data(), H5::PredType::NATIVE_DOUBLE);
    W.resize(static_cast<Index>(dims[0]), static_cast<Index>(dims[1]));
    for (hsize_t i = 0; i < dims[0]; ++i)
      for (hsize_t j = 0; j < dims[1]; ++j) W(static_cast<Index>(i), static_cast<Index>(j)) = buf[i * dims[1] + j];
  } catch (const H5::Exception& e) {
    throw InputError(option + ": cannot read '" + path + "' as HDF5 (" + e.getDetailMsg() + ")");
  }
  return topology_from_dense(W, option);
}

Spectrum spectrum(const Topology& topology) {
  Spectrum s;
  const Matrix W = topology.dense();
  Eigen::SelfAdjointEigenSolver<Matrix> solver(W, Eigen::EigenvaluesOnly);
  s.eigenvalues = solver.eigenvalues().reverse();  // Eigen gives ascending order
  const Index M = topology.workers;
  if (M >= 2) s.rho = std::max(std::abs(s.eigenvalues[1]), std::abs(s.eigenvalues[M - 1]));
  return s;
}

double ring_rho_closed_form(Index M) {
  return 1.0 / 3.0 + 2.0 / 3.0 * std::cos(2.0 * std::numbers::pi / static_cast<double>(M));
}

std::optional<double> closed_form_rho(const std::string& kind, Index M) {
  // random-ring has no fixed W (its draws share the ring's spectrum: callers ask for "ring").
  if (kind == "random-ring") return std::nullopt;
  const auto ev = closed_form_spectrum(kind, M);
  if (!ev) return std::nullopt;
  return ev->size() >= 2 ? std::max(std::abs((*ev)[1]), std::abs((*ev)[ev->size() - 1])) : 0.0;
}

}  // namespace dposg
