// Recorder: the HDF5 results file of DESIGN.md §4, written with the HDF5 C++ API (plus a few C
// calls where the C++ API has no equivalent).
//
// On-disk choices (a contract for notebooks reading with h5py):
//   * Format: libver bounds (low V18, high V110) and file space strategy NONE: superblock v2,
//     object header v2, v1 B-tree chunk index. Readable by HDF5 >= 1.10 and h5py 3.x.
//     Superblock v3 (low bound V110) is avoided on purpose: it records "open for writing" in the
//     superblock, and a file whose writer was killed could then only be reopened after
//     `h5clear -s`. Strategy NONE (never reuse freed space, see writer_fcpl) needs high >= V110.
//   * Strings (attributes and text datasets): fixed-length, NUL-terminated, UTF-8, scalar.
//     h5py 3 returns them as numpy.bytes_; use `.decode()`.
//   * Integers: 64-bit little-endian (H5T_STD_I64LE); doubles: H5T_IEEE_F64LE.
//   * Matrices (problem/ and final/) are 2-D datasets of shape (rows, cols), row-major on disk
//     (h5py: A[i, j] == m(i, j)). Vectors are 1-D, scalars are scalar double datasets, and
//     InstanceWriter::text(name, value) is a scalar string dataset problem/<name> (not an
//     attribute: datasets have no 64 KiB size limit). Writing a name again replaces it.
//   * metrics/<name>: 1-D, chunked (1024 elements), unlimited, uncompressed; `iteration` is
//     int64, the rest double with fill value NaN. Rows are buffered in memory and written at each
//     (throttled) flush, so all metrics datasets have the same length on disk; a metric that
//     first appears in a later row is back-filled with NaN, one missing from a row gets NaN.
//   * Array attributes (set_attr(name, vector<double>)) are 1-D double attributes. Setting an
//     attribute again replaces it (also with another type).
//   * /runs/<run>/problem and /runs/<run>/final are created on first use; metrics at create_run.
//
// Crash safety: without SWMR, HDF5 1.10 keeps metadata in a cache; H5Fflush writes it all. The
// writer flushes (H5F_SCOPE_GLOBAL) at most every 0.25 s while appending, and at once on
// create_run, set_status, remove_run and destruction. A process killed between flushes leaves
// the file as of the last flush (finished runs intact, the interrupted one "running" with the
// rows of its last flush). set_status flushes the rows before it writes the status, so a status
// on disk always has its rows on disk before it. A kill in the middle of an H5Fflush can still, rarely, damage the
// file: HDF5 1.10 has no atomic commit outside SWMR. Readers take the shortest metrics dataset
// as the row count, in case a kill hit the middle of a flush.
//
// File locking: the writer keeps HDF5's default (exclusive flock while open), so two processes
// cannot write one file; ResultsReader opens with file locking disabled so that `dposg info` can
// look at a file while a sweep writes it, and reads a consistent in-memory snapshot of it where
// the writer publishes its flushes (core/live_file.hpp, FileState::live). In one process, a file open in a ResultsFile can also
// be opened by a ResultsReader (HDF5 shares the open file), but not the other way round: HDF5
// refuses to open read-write a file this process holds read-only.
//
// Not thread-safe: ResultsFile, RunWriter and ResultsReader must be used from one thread at a
// time (the serial HDF5 library is not thread-safe). Several RunWriters may be open at once on
// one ResultsFile, and a RunWriter may outlive its ResultsFile.
#include "core/recorder.hpp"

#include <H5Cpp.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "core/error.hpp"
#include "core/live_file.hpp"

namespace dposg {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kFlushInterval = std::chrono::milliseconds(250);
constexpr hsize_t kChunk = 1024;
constexpr std::size_t kMaxPendingRows = 4096;  // write to the datasets (no file flush) beyond this

// ---------------------------------------------------------------------------------------------
// Errors: HDF5 prints nothing; the innermost message of the last error stack is kept so that
// exceptions can say what went wrong (H5::Exception alone only says "H5Fopen failed").

thread_local std::string g_h5_error;

herr_t walk_cb(unsigned, const H5E_error2_t* err, void* data) {
  if (err->desc && *err->desc) *static_cast<std::string*>(data) = err->desc;  // last = innermost
  return 0;
}

herr_t capture_error(hid_t estack, void*) {
  std::string msg;
  H5Ewalk2(estack, H5E_WALK_DOWNWARD, walk_cb, &msg);
  g_h5_error = msg;
  return 0;
}

void quiet_hdf5() {
  H5::Exception::dontPrint();
  H5Eset_auto2(H5E_DEFAULT, capture_error, nullptr);
  g_h5_error.clear();
}

std::string take_h5_error(const std::string& fallback) {
  std::string msg = g_h5_error.empty() ? fallback : g_h5_error;
  g_h5_error.clear();
  // An OS error comes as "file write failed: time = ...\n, filename = ..., error message = 'CAUSE',
  // ..." (or "unable to lock file, errno = 11, error message = 'CAUSE'"): one line, "file write
  // failed: CAUSE".
  const std::string key = "error message = '";
  if (const auto at = msg.find(key); at != std::string::npos) {
    const auto end = msg.find('\'', at + key.size());
    const std::string cause = msg.substr(at + key.size(), end == std::string::npos ? std::string::npos : end - at - key.size());
    const auto what_end = msg.find_first_of(":,");  // "file write failed: time = ...", "unable to lock file, errno"
    return (what_end != std::string::npos && what_end < at ? msg.substr(0, what_end) + ": " : std::string()) + cause;
  }
  std::replace(msg.begin(), msg.end(), '\n', ' ');
  return msg;
}

// Set once an HDF5 call that writes has failed (results_file_poisoned).
std::atomic<bool> g_poisoned{false};

std::string detail(const H5::Exception& e) {
  std::string fallback = e.getFuncName();
  if (!e.getDetailMsg().empty()) fallback += (fallback.empty() ? "" : ": ") + e.getDetailMsg();
  return take_h5_error(fallback);
}

// Runs f, turning HDF5 exceptions into std::runtime_error naming the file and the operation.
template <class F>
auto guarded(const std::string& path, const std::string& what, F&& f) -> decltype(f()) {
  quiet_hdf5();
  try {
    return f();
  } catch (const H5::Exception& e) {
    throw std::runtime_error("HDF5 error in '" + path + "' while " + what + ": " + detail(e));
  }
}

// For the C calls: throws H5::Exception (caught by guarded) when status < 0.
template <class T>
T check(T status, const char* call) {
  if (status < 0) throw H5::Exception(call, "failed");
  return status;
}

bool exists_link(const H5::Group& g, const std::string& name) {
  return check(H5Lexists(g.getId(), name.c_str(), H5P_DEFAULT), "H5Lexists") > 0;
}

std::vector<std::string> child_names(const H5::Group& g) {
  std::vector<std::string> names;
  auto cb = [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
    static_cast<std::vector<std::string>*>(data)->emplace_back(name);
    return 0;
  };
  check(H5Literate(g.getId(), H5_INDEX_NAME, H5_ITER_INC, nullptr, cb, &names), "H5Literate");
  std::sort(names.begin(), names.end());
  return names;
}

// ---------------------------------------------------------------------------------------------
// Types and writing helpers.

H5::StrType string_type(const std::string& s) {
  H5::StrType t(H5::PredType::C_S1, s.size() + 1);
  t.setCset(H5T_CSET_UTF8);
  t.setStrpad(H5T_STR_NULLTERM);
  return t;
}

// Attributes (format_version 2): variable-length UTF-8, which h5py returns as str (a fixed-length
// string comes back as bytes). Text datasets stay fixed-length.
H5::StrType attr_string_type() {
  H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
  t.setCset(H5T_CSET_UTF8);
  return t;
}

void remove_attr_if_present(const H5::H5Object& obj, const std::string& name) {
  if (check(H5Aexists(obj.getId(), name.c_str()), "H5Aexists") > 0) obj.removeAttr(name);
}

void write_attr(const H5::H5Object& obj, const std::string& name, const AttrValue& value) {
  remove_attr_if_present(obj, name);
  H5::DataSpace scalar(H5S_SCALAR);
  if (const auto* i = std::get_if<std::int64_t>(&value)) {
    H5::Attribute a = obj.createAttribute(name, H5::PredType::STD_I64LE, scalar);
    a.write(H5::PredType::NATIVE_INT64, i);
  } else if (const auto* d = std::get_if<double>(&value)) {
    H5::Attribute a = obj.createAttribute(name, H5::PredType::IEEE_F64LE, scalar);
    a.write(H5::PredType::NATIVE_DOUBLE, d);
  } else {
    const std::string& s = std::get<std::string>(value);
    H5::StrType t = attr_string_type();
    H5::Attribute a = obj.createAttribute(name, t, scalar);
    a.write(t, s);
  }
}

void write_attr(const H5::H5Object& obj, const std::string& name, const std::vector<double>& v) {
  remove_attr_if_present(obj, name);
  hsize_t n = v.size();
  H5::DataSpace space(1, &n);
  H5::Attribute a = obj.createAttribute(name, H5::PredType::IEEE_F64LE, space);
  if (n > 0) a.write(H5::PredType::NATIVE_DOUBLE, v.data());
}

void unlink_if_present(const H5::Group& g, const std::string& name) {
  if (exists_link(g, name)) g.unlink(name);
}

void check_child_name(const std::string& name, const char* what) {
  if (name.empty() || name == "." || name.find('/') != std::string::npos)
    throw std::invalid_argument(std::string("invalid ") + what + " name '" + name +
                                "' (must be non-empty and contain no '/')");
}

void write_matrix(const H5::Group& g, const std::string& name, const Matrix& m) {
  check_child_name(name, "dataset");
  unlink_if_present(g, name);
  hsize_t dims[2] = {static_cast<hsize_t>(m.rows()), static_cast<hsize_t>(m.cols())};
  H5::DataSpace space(2, dims);
  H5::DataSet ds = g.createDataSet(name, H5::PredType::IEEE_F64LE, space);
  if (m.size() > 0) {
    // Eigen is column-major; the file (and numpy) are row-major.
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rm = m;
    ds.write(rm.data(), H5::PredType::NATIVE_DOUBLE);
  }
}

void write_vector(const H5::Group& g, const std::string& name, const Vector& v) {
  check_child_name(name, "dataset");
  unlink_if_present(g, name);
  hsize_t n = static_cast<hsize_t>(v.size());
  H5::DataSpace space(1, &n);
  H5::DataSet ds = g.createDataSet(name, H5::PredType::IEEE_F64LE, space);
  if (n > 0) ds.write(v.data(), H5::PredType::NATIVE_DOUBLE);
}

void write_scalar(const H5::Group& g, const std::string& name, double value) {
  check_child_name(name, "dataset");
  unlink_if_present(g, name);
  H5::DataSpace space(H5S_SCALAR);
  H5::DataSet ds = g.createDataSet(name, H5::PredType::IEEE_F64LE, space);
  ds.write(&value, H5::PredType::NATIVE_DOUBLE);
}

void write_text(const H5::Group& g, const std::string& name, const std::string& value) {
  check_child_name(name, "dataset");
  unlink_if_present(g, name);
  H5::StrType t = string_type(value);
  H5::DataSpace space(H5S_SCALAR);
  H5::DataSet ds = g.createDataSet(name, t, space);
  ds.write(value.c_str(), t);
}

// ---------------------------------------------------------------------------------------------
// Reading helpers.

std::string format_double(double x) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

// Reads a string (fixed or variable length) from an attribute or dataset.
std::string read_string(hid_t obj, bool is_attr) {
  struct TypeId {
    hid_t id;
    ~TypeId() { H5Tclose(id); }
  } owner{check(is_attr ? H5Aget_type(obj) : H5Dget_type(obj), "H5Aget_type")};
  const hid_t ftype = owner.id;
  std::string out;
  htri_t vlen = check(H5Tis_variable_str(ftype), "H5Tis_variable_str");
  if (vlen > 0) {
    H5::StrType mt(H5::PredType::C_S1, H5T_VARIABLE);
    mt.setCset(H5Tget_cset(ftype));
    char* p = nullptr;
    if (is_attr) check(H5Aread(obj, mt.getId(), &p), "H5Aread");
    else check(H5Dread(obj, mt.getId(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &p), "H5Dread");
    if (p) {
      out = p;
      H5free_memory(p);
    }
  } else {
    std::size_t n = H5Tget_size(ftype);
    std::vector<char> buf(n + 1, '\0');
    if (is_attr) check(H5Aread(obj, ftype, buf.data()), "H5Aread");
    else check(H5Dread(obj, ftype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), "H5Dread");
    out.assign(buf.data(), strnlen(buf.data(), n));
    if (H5Tget_strpad(ftype) == H5T_STR_SPACEPAD)
      while (!out.empty() && out.back() == ' ') out.pop_back();
  }
  return out;
}

// Value of an attribute: int64 / double / string scalars; numeric arrays stringified "[a, b]";
// anything else (compound, ...) -> nullopt.
std::optional<AttrValue> read_attr(const H5::Attribute& a) {
  H5::DataType t = a.getDataType();
  H5T_class_t cls = t.getClass();
  H5::DataSpace sp = a.getSpace();
  hssize_t n = sp.getSimpleExtentNpoints();
  bool scalar_like = sp.getSimpleExtentType() == H5S_SCALAR ||
                     (sp.getSimpleExtentType() == H5S_SIMPLE && n == 1);
  if (cls == H5T_STRING && sp.getSimpleExtentType() == H5S_SCALAR)
    return AttrValue(read_string(a.getId(), true));
  if (cls == H5T_INTEGER && scalar_like) {
    std::int64_t v = 0;
    a.read(H5::PredType::NATIVE_INT64, &v);
    return AttrValue(v);
  }
  if (cls == H5T_FLOAT && scalar_like) {
    double v = 0;
    a.read(H5::PredType::NATIVE_DOUBLE, &v);
    return AttrValue(v);
  }
  if ((cls == H5T_INTEGER || cls == H5T_FLOAT) && sp.getSimpleExtentType() == H5S_SIMPLE) {
    std::vector<double> v(static_cast<std::size_t>(n));
    if (n > 0) a.read(H5::PredType::NATIVE_DOUBLE, v.data());
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + format_double(v[i]);
    return AttrValue(s + "]");
  }
  return std::nullopt;
}

std::optional<AttrValue> read_attr_if_present(const H5::H5Object& obj, const std::string& name) {
  if (check(H5Aexists(obj.getId(), name.c_str()), "H5Aexists") <= 0) return std::nullopt;
  return read_attr(obj.openAttribute(name));
}

hsize_t length_1d(const H5::DataSet& ds) {
  H5::DataSpace sp = ds.getSpace();
  if (sp.getSimpleExtentNdims() != 1) return 0;
  hsize_t n = 0;
  sp.getSimpleExtentDims(&n);
  return n;
}

std::vector<std::string> metric_names_of(const H5::Group& metrics) {
  std::vector<std::string> names;
  for (const auto& n : child_names(metrics))
    if (metrics.childObjType(n) == H5O_TYPE_DATASET) names.push_back(n);
  auto it = std::find(names.begin(), names.end(), "iteration");
  if (it != names.end()) std::rotate(names.begin(), it, it + 1);
  return names;
}

// Rows of a run: the shortest metrics dataset (they are all equal unless a kill hit a flush).
std::int64_t rows_of(const H5::Group& metrics) {
  std::optional<hsize_t> rows;
  for (const auto& n : metric_names_of(metrics)) {
    hsize_t len = length_1d(metrics.openDataSet(n));
    rows = rows ? std::min(*rows, len) : len;
  }
  return static_cast<std::int64_t>(rows.value_or(0));
}

bool valid_run_name(const std::string& run) {
  if (run.empty() || run == "." || run == "..") return false;
  for (char c : run) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == '=' || c == ',';
    if (!ok) return false;
  }
  return true;
}

H5::FileAccPropList writer_fapl() {
  H5::FileAccPropList fapl;
  // Low V18: superblock v2 (no "open for writing" flag to h5clear after a crash), object header
  // v2 (attributes over 64 KiB). High V110: needed by the file space strategy below.
  fapl.setLibverBounds(H5F_LIBVER_V18, H5F_LIBVER_V110);
  return fapl;
}

H5::FileCreatPropList writer_fcpl() {
  H5::FileCreatPropList fcpl;
  // Never reuse freed file space: every allocation goes to the end of the file. Otherwise a block
  // freed since the last flush (an old B-tree node, heap block...) could be overwritten while the
  // metadata on disk still points to it, and a kill before the next flush would corrupt the file.
  check(H5Pset_file_space_strategy(fcpl.getId(), H5F_FSPACE_STRATEGY_NONE, false, 1),
        "H5Pset_file_space_strategy");
  return fcpl;
}

bool is_lock_error(const std::string& msg) {
  return msg.find("lock") != std::string::npos;
}

}  // namespace

// =============================================================================================
// Shared state of one open results file: kept alive by the ResultsFile and every RunWriter.

namespace recorder_detail {
// A write that fails half-way (ENOSPC, EFBIG, EIO) leaves HDF5's metadata cache with entries that
// are dirty, half-written or pointing at space that never reached the disk. Letting HDF5 go on (the
// next flush, the closing flush at H5Fclose) then rewrote shared metadata (the superblock's EOA,
// /runs' B-tree and heap) from that state: the whole file was unreadable ("addr overflow") and
// H5close crashed at exit. Two measures keep the last flushed state the file's state:
//   * Reserve before writing. Every flush (and every large raw write) first makes sure the blocks
//     it may write are allocated: fallocate(FALLOC_FL_KEEP_SIZE) up to EOA + an upper bound of what
//     the flush writes (the metadata cache's whole size, the pending rows, chunk and aggregator
//     slack), and the RLIMIT_FSIZE limit checked by hand (fallocate with KEEP_SIZE does not). A full
//     disk is then found before a byte is written, when the file on disk is still consistent, not in
//     the middle of an H5Fflush that the cache cannot undo. KEEP_SIZE leaves the file's size and
//     bytes as before (the golden corpus stays bit-identical); the unused tail is released at close.
//     A journal or a file per run would also do, but either changes the on-disk layout notebooks
//     rely on; SWMR-style ordered flushes alone still fail half-way on a full disk.
//   * Fence on the first failure. The descriptor HDF5 writes through is replaced (dup2) by
//     /dev/null: whatever HDF5 still writes (closing flushes, destructors) goes nowhere, so nothing
//     reaches the results file, closing succeeds (no cascade of H5Dclose messages, no crash in
//     H5close) and every later write of this process throws the same StorageError at once. (A
//     memfd would count against `ulimit -f` like the file itself and fail the closing flush.)
// Where fallocate is not supported (some network file systems) only the fence remains.
struct FileState {
  FileState(std::string p, const H5::H5File& f, const H5::Group& r)
      : path(std::move(p)), file(f), runs(r), live(path) {
    void* handle = nullptr;
    if (H5Fget_vfd_handle(file.getId(), H5P_DEFAULT, &handle) >= 0 && handle)
      fd = *static_cast<int*>(handle);
    // Our own reference to the open file description, for releasing the reserved tail after
    // HDF5 has closed its descriptor.
    if (fd >= 0) own_fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    struct stat st{};
    if (own_fd >= 0 && ::fstat(own_fd, &st) == 0) {
      // Blocks below the size at open are taken to be allocated; reservations start there.
      reserved = static_cast<std::uint64_t>(st.st_size);
      size_on_open = reserved;
    }
  }
  ~FileState() {
    if (poisoned) {
      // HDF5 1.10 can crash in H5Fclose after one of its writes failed half-way (EIO in the middle
      // of a flush): the objects are left open (an extra reference, so that their destructors do
      // not close them), the descriptor already points at /dev/null, and the CLI ends with _exit.
      H5Iinc_ref(runs.getId());
      H5Iinc_ref(file.getId());
      release_tail();
      return;
    }
    try {
      runs.close();
      file.close();
    } catch (const H5::Exception&) {
      // The closing flush failed (the file is then fenced below, if it was not already).
    }
    release_tail();
  }
  std::string path;
  H5::H5File file;
  H5::Group runs;
  int fd = -1;        // HDF5's (sec2) descriptor
  int own_fd = -1;    // dup of it
  std::uint64_t reserved = 0;  // [0, reserved) has its blocks allocated
  std::uint64_t size_on_open = 0;
  bool can_fallocate = true;
  bool poisoned = false;  // an HDF5 write call failed: its state is not to be trusted
  std::string lost;   // set when fenced: the cause
  std::string lost_while;  // and the operation that failed
  // Live readers' generation counter (core/live_file.hpp): odd from the first change handed to
  // HDF5 after a flush until the next flush completes. Destroyed after the file is closed.
  LiveMarker live;

  std::uint64_t eoa() const {
    haddr_t a = 0;
    if (H5Fget_eoa(file.getId(), &a) < 0) return reserved;
    return static_cast<std::uint64_t>(a);
  }

  // Upper bound of what a flush writes beyond the data it is told about: every cached metadata
  // entry (dirty or not), HDF5's metadata and small-data aggregator blocks, a chunk per dataset.
  std::uint64_t flush_bound() const {
    size_t max_size = 0, min_clean = 0, cur_size = 0;
    int entries = 0;
    if (H5Fget_mdc_size(file.getId(), &max_size, &min_clean, &cur_size, &entries) < 0) cur_size = 1 << 20;
    return static_cast<std::uint64_t>(cur_size) + 16 * 1024;
  }

  // Makes [0, EOA + extra + flush_bound) allocated; "" on success, else the cause.
  std::string reserve(std::uint64_t extra) {
    const std::uint64_t target = eoa() + extra + flush_bound();
    struct rlimit lim{};
    if (::getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
        target > static_cast<std::uint64_t>(lim.rlim_cur))
      return std::string(std::strerror(EFBIG)) + " (the file size limit, ulimit -f, is " +
             std::to_string(static_cast<unsigned long long>(lim.rlim_cur)) + " bytes)";
    if (target <= reserved || own_fd < 0 || !can_fallocate) return "";
    // Reserve ahead (a quarter more, at most 4 MiB) so that most flushes need no system call.
    const std::uint64_t ahead = std::min<std::uint64_t>(target / 4, 4u << 20);
    for (std::uint64_t want : {target + ahead, target}) {
      if (want <= reserved) return "";
      if (::fallocate(own_fd, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(reserved),
                      static_cast<off_t>(want - reserved)) == 0) {
        reserved = want;
        return "";
      }
      if (errno == EOPNOTSUPP || errno == ENOSYS) {
        can_fallocate = false;
        return "";
      }
      if (errno != ENOSPC) break;
    }
    return std::strerror(errno);
  }

  // Frees the reserved blocks past the end of the file, which a closed file does not need.
  void release_tail() {
    if (own_fd < 0) return;
    struct stat st{};
    if (::fstat(own_fd, &st) == 0 && reserved > static_cast<std::uint64_t>(st.st_size))
      (void)::fallocate(own_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, st.st_size,
                        static_cast<off_t>(reserved - static_cast<std::uint64_t>(st.st_size)));
    ::close(own_fd);
    own_fd = -1;
  }

  void fence(const std::string& cause, const std::string& what) {
    if (!lost.empty()) return;
    lost = cause.empty() ? "write failed" : cause;
    lost_while = what;
    live.end_change();  // nothing more reaches the file: it stays as of its last flush
    if (fd >= 0) {
      const int sink = ::open("/dev/null", O_RDWR | O_CLOEXEC);
      if (sink >= 0) {
        ::dup2(sink, fd);
        ::close(sink);
      }
    }
    release_tail();  // also drops HDF5's flock with the last reference to the file
  }

  // The first failure's operation, whichever later write finds the file fenced.
  std::string lost_message(const std::string&) const {
    return "cannot write '" + path + "': " + lost + " (while " + lost_while +
           "); nothing more is written to it: the runs completed before are intact";
  }

  [[noreturn]] void fail(const std::string& cause, const std::string& what) {
    fence(cause, what);
    throw StorageError(lost_message(what));
  }

  void ensure_room(std::uint64_t extra, const std::string& what) {
    if (!lost.empty()) throw StorageError(lost_message(what));
    const std::string why = reserve(extra);
    if (!why.empty()) fail(why, what);
  }

  void flush_file() {
    ensure_room(0, "flushing");
    live.begin_change();
    check(H5Fflush(file.getId(), H5F_SCOPE_GLOBAL), "H5Fflush");
    live.end_change();
  }
};

// The OS error in an HDF5 error message ("... errno = 28, error message = 'No space left on
// device', ..."), else the message itself.
std::string os_cause(const std::string& h5_message) {
  const std::string key = "error message = '";
  const auto at = h5_message.find(key);
  if (at == std::string::npos) return h5_message;
  const auto end = h5_message.find('\'', at + key.size());
  return h5_message.substr(at + key.size(), end == std::string::npos ? std::string::npos : end - at - key.size());
}

// guarded() for everything that writes: a StorageError once the file is fenced, and any HDF5
// failure fences it (whatever the cause, the cache may now hold what the disk does not).
// `changes`: f hands HDF5 a change (false for appends, which only buffer rows until a flush).
template <class F>
auto guarded_write(FileState& fs, const std::string& what, F&& f, bool changes = true) -> decltype(f()) {
  if (!fs.lost.empty()) throw StorageError(fs.lost_message(what));
  if (changes) fs.live.begin_change();
  quiet_hdf5();
  try {
    return f();
  } catch (const H5::Exception& e) {
    fs.poisoned = true;
    g_poisoned = true;
    fs.fail(os_cause(detail(e)), what);
  }
}
}  // namespace recorder_detail
using recorder_detail::FileState;
using recorder_detail::guarded_write;

struct ResultsFile::Impl {
  std::shared_ptr<FileState> fs;
};

// =============================================================================================
// RunWriter

namespace recorder_detail {
class ProblemWriter final : public InstanceWriter {
 public:
  explicit ProblemWriter(RunWriter::Impl* w) : w_(w) {}
  void matrix(const std::string& name, const Matrix& m) override;
  void vector(const std::string& name, const Vector& v) override;
  void scalar(const std::string& name, double value) override;
  void text(const std::string& name, const std::string& value) override;

 private:
  RunWriter::Impl* w_;
};
}  // namespace recorder_detail
using recorder_detail::ProblemWriter;

struct RunWriter::Impl {
  Impl(std::shared_ptr<FileState> f, std::string r, const H5::Group& g)
      : fs(std::move(f)), run(std::move(r)), group(g), metrics(group.createGroup("metrics")) {}
  // An existing run's metrics, cut to their first `keep` rows (reopen_run).
  Impl(std::shared_ptr<FileState> f, std::string r, const H5::Group& g, hsize_t keep)
      : fs(std::move(f)), run(std::move(r)), group(g), metrics(group.openGroup("metrics")) {
    for (const auto& name : metric_names_of(metrics)) {
      H5::DataSet ds = metrics.openDataSet(name);
      ds.extend(&keep);  // H5Dset_extent: shrinks as well
      if (name == "iteration") {
        iteration_ds = ds;
        have_iteration = true;
      } else {
        Column c;
        c.name = name;
        c.ds = ds;
        columns.push_back(std::move(c));
        column_index.emplace(name, columns.size() - 1);
      }
    }
    written = keep;
  }

  std::shared_ptr<FileState> fs;  // first member: destroyed last, after every HDF5 object below
  std::string run;
  H5::Group group;
  H5::Group metrics;
  std::optional<H5::Group> problem;
  std::optional<H5::Group> final_group;
  ProblemWriter problem_writer{this};

  struct Column {
    std::string name;
    H5::DataSet ds;
    std::vector<double> pending;
  };
  bool have_iteration = false;
  H5::DataSet iteration_ds;
  std::vector<std::int64_t> pending_iterations;
  std::vector<Column> columns;
  std::unordered_map<std::string, std::size_t> column_index;
  hsize_t written = 0;  // rows in the datasets on disk
  Clock::time_point last_flush = Clock::now();
  std::vector<std::string> keep;  // the metrics append() writes; empty: all (keep_metrics)

  std::string what(const std::string& op) const { return op + " of run '" + run + "'"; }

  H5::DSetCreatPropList metric_dcpl(bool is_double) const {
    H5::DSetCreatPropList dcpl;
    hsize_t chunk = kChunk;
    dcpl.setChunk(1, &chunk);
    if (is_double) {
      double nan = std::numeric_limits<double>::quiet_NaN();
      dcpl.setFillValue(H5::PredType::NATIVE_DOUBLE, &nan);
    }
    dcpl.setFillTime(H5D_FILL_TIME_ALLOC);
    return dcpl;
  }

  H5::DataSet create_metric(const std::string& name, bool is_int) {
    hsize_t dims = written, maxdims = H5S_UNLIMITED;
    H5::DataSpace space(1, &dims, &maxdims);
    return metrics.createDataSet(name, is_int ? H5::PredType::STD_I64LE : H5::PredType::IEEE_F64LE,
                                 space, metric_dcpl(!is_int));
  }

  // A new metric: its dataset back-filled with NaN (the fill value) for the rows on disk, its
  // buffer with NaN for the pending rows.
  static void check_metric_name(const std::string& name) {
    check_child_name(name, "metric");
    if (name == "iteration")
      throw std::invalid_argument("metric name 'iteration' is reserved (MetricsRow::iteration)");
  }

  std::size_t add_column(const std::string& name) {
    Column c;
    c.name = name;
    c.ds = create_metric(name, false);
    c.pending.assign(pending_iterations.size(), std::numeric_limits<double>::quiet_NaN());
    columns.push_back(std::move(c));
    column_index.emplace(name, columns.size() - 1);
    return columns.size() - 1;
  }

  void append(const MetricsRow& row) {
    // Names first, so that a bad name leaves nothing half-appended.
    for (std::size_t i = 0; i < row.values.size(); ++i) {
      const std::string& name = row.values[i].first;
      if (!(i < columns.size() && columns[i].name == name) && !column_index.count(name))
        check_metric_name(name);
    }
    if (!have_iteration) {
      iteration_ds = create_metric("iteration", true);
      have_iteration = true;
    }
    pending_iterations.push_back(row.iteration);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (auto& c : columns) c.pending.push_back(nan);
    for (std::size_t i = 0; i < row.values.size(); ++i) {
      const auto& [name, value] = row.values[i];
      std::size_t k;
      if (i < columns.size() && columns[i].name == name) {
        k = i;  // the usual case: the same names in the same order
      } else {
        auto it = column_index.find(name);
        k = it != column_index.end() ? it->second : add_column(name);
      }
      columns[k].pending.back() = value;
    }
    if (pending_iterations.size() >= kMaxPendingRows) {
      reserve_rows("appending metrics");
      write_pending();
    }
  }

  template <class T>
  void write_rows(H5::DataSet& ds, const std::vector<T>& buf, const H5::PredType& mem_type) {
    hsize_t n = buf.size(), total = written + n, start = written;
    ds.extend(&total);
    H5::DataSpace file_space = ds.getSpace();
    file_space.selectHyperslab(H5S_SELECT_SET, &n, &start);
    H5::DataSpace mem_space(1, &n);
    ds.write(buf.data(), mem_type, mem_space, file_space);
  }

  void write_pending() {
    if (pending_iterations.empty()) return;
    fs->live.begin_change();
    write_rows(iteration_ds, pending_iterations, H5::PredType::NATIVE_INT64);
    for (auto& c : columns) write_rows(c.ds, c.pending, H5::PredType::NATIVE_DOUBLE);
    written += pending_iterations.size();
    pending_iterations.clear();
    for (auto& c : columns) c.pending.clear();
  }

  void flush(bool force) {
    auto now = Clock::now();
    if (!force && now - last_flush < kFlushInterval) return;
    if (!fs->lost.empty()) throw StorageError(fs->lost_message(what("flushing")));
    // The rows are handed to HDF5 only once their space is reserved: on a full disk the cache
    // then holds nothing of them, and the run can still be marked.
    reserve_rows("flushing");
    write_pending();
    fs->flush_file();
    last_flush = now;
  }

  void reserve_rows(const char* op) {
    // Chunks are allocated (and filled) whole: the rows need the chunks they start.
    const std::uint64_t rows = pending_iterations.size(), datasets = columns.size() + 1;
    const std::uint64_t new_chunks = (written + rows + kChunk - 1) / kChunk - (written + kChunk - 1) / kChunk;
    const std::string why = fs->reserve(datasets * new_chunks * kChunk * 8);
    if (!why.empty()) {
      mark_failed(why);
      fs->fail(why, what(op));
    }
  }

  // The status "failed" and the cause, with the rows of the last flush: written only when what
  // the last reservation left past EOA covers the flush (besides the pending rows, dropped,
  // little is dirty then: the run group's header, the superblock), else the run stays "running".
  void mark_failed(const std::string& why) {
    const std::uint64_t need = fs->flush_bound();
    if (fs->reserved < fs->eoa() + need) return;
    try {
      fs->live.begin_change();
      pending_iterations.clear();
      for (auto& c : columns) c.pending.clear();
      write_attr(group, "status", AttrValue(std::string("failed")));
      write_attr(group, "message", AttrValue("results file: " + why));
      check(H5Fflush(fs->file.getId(), H5F_SCOPE_GLOBAL), "H5Fflush");
    } catch (const H5::Exception&) {
    }
  }

  H5::Group& sub_group(std::optional<H5::Group>& g, const char* name) {
    if (!g) g = exists_link(group, name) ? group.openGroup(name) : group.createGroup(name);
    return *g;
  }
};

namespace recorder_detail {
void ProblemWriter::matrix(const std::string& name, const Matrix& m) {
  guarded_write(*w_->fs, w_->what("writing problem/" + name),
          [&] {
            w_->fs->ensure_room(static_cast<std::uint64_t>(m.size()) * 8, w_->what("writing problem/" + name));
            write_matrix(w_->sub_group(w_->problem, "problem"), name, m);
          });
}
void ProblemWriter::vector(const std::string& name, const Vector& v) {
  guarded_write(*w_->fs, w_->what("writing problem/" + name),
          [&] {
            w_->fs->ensure_room(static_cast<std::uint64_t>(v.size()) * 8, w_->what("writing problem/" + name));
            write_vector(w_->sub_group(w_->problem, "problem"), name, v);
          });
}
void ProblemWriter::scalar(const std::string& name, double value) {
  guarded_write(*w_->fs, w_->what("writing problem/" + name),
          [&] { write_scalar(w_->sub_group(w_->problem, "problem"), name, value); });
}
void ProblemWriter::text(const std::string& name, const std::string& value) {
  guarded_write(*w_->fs, w_->what("writing problem/" + name),
          [&] {
            w_->fs->ensure_room(value.size(), w_->what("writing problem/" + name));
            write_text(w_->sub_group(w_->problem, "problem"), name, value);
          });
}
}  // namespace recorder_detail

RunWriter::RunWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RunWriter::~RunWriter() {
  if (!impl_) return;
  try {
    if (impl_->fs->lost.empty()) impl_->flush(true);
  } catch (...) {
    // A destructor must not throw; the rows since the last flush are lost.
  }
  try {
    guarded(impl_->fs->path, "closing run", [&] { impl_.reset(); });
  } catch (...) {
  }
}

void RunWriter::set_attr(const std::string& name, const AttrValue& value) {
  guarded_write(*impl_->fs, impl_->what("writing attribute '" + name + "'"),
          [&] { write_attr(impl_->group, name, value); });
}

void RunWriter::set_attr(const std::string& name, const std::vector<double>& values) {
  guarded_write(*impl_->fs, impl_->what("writing attribute '" + name + "'"),
          [&] { write_attr(impl_->group, name, values); });
}

void RunWriter::set_status(const std::string& status) {
  guarded_write(*impl_->fs, impl_->what("setting the status"), [&] {
    // The rows first, flushed on their own: the status must never reach the file before them. A
    // single flush after both let a kill mid-flush leave a "finished" run with no rows (the
    // metadata cache writes entries in its own order), and a resumed sweep then skipped it.
    impl_->flush(true);
    write_attr(impl_->group, "status", AttrValue(status));
    impl_->flush(true);
  });
}

void RunWriter::keep_metrics(std::vector<std::string> names) { impl_->keep = std::move(names); }

void RunWriter::append(const MetricsRow& row) {
  guarded_write(
      *impl_->fs, impl_->what("appending metrics"),
      [&] {
        if (!impl_->keep.empty()) {
          MetricsRow kept;
          kept.iteration = row.iteration;
          for (const auto& [name, value] : row.values)
            if (std::find(impl_->keep.begin(), impl_->keep.end(), name) != impl_->keep.end())
              kept.values.emplace_back(name, value);
          impl_->append(kept);
        } else {
          impl_->append(row);
        }
        impl_->flush(false);
      },
      false);
}

void RunWriter::write_final(const std::string& name, const Matrix& m) {
  guarded_write(*impl_->fs, impl_->what("writing final/" + name),
          [&] {
            impl_->fs->ensure_room(static_cast<std::uint64_t>(m.size()) * 8, impl_->what("writing final/" + name));
            write_matrix(impl_->sub_group(impl_->final_group, "final"), name, m);
          });
}

void RunWriter::write_final(const std::string& name, const Vector& v) {
  guarded_write(*impl_->fs, impl_->what("writing final/" + name),
          [&] {
            impl_->fs->ensure_room(static_cast<std::uint64_t>(v.size()) * 8, impl_->what("writing final/" + name));
            write_vector(impl_->sub_group(impl_->final_group, "final"), name, v);
          });
}

InstanceWriter& RunWriter::problem_group() { return impl_->problem_writer; }

void RunWriter::flush(bool force) {
  guarded_write(*impl_->fs, impl_->what("flushing"), [&] { impl_->flush(force); }, force);
}

// =============================================================================================
// ResultsFile

ResultsFile::ResultsFile(std::string path, std::unique_ptr<Impl> impl)
    : path_(std::move(path)), impl_(std::move(impl)) {}

ResultsFile::~ResultsFile() {
  try {
    guarded(path_, "closing", [&] { impl_.reset(); });
  } catch (...) {
  }
}

std::unique_ptr<ResultsFile> ResultsFile::open(const std::string& path) {
  quiet_hdf5();
  const std::string q = "'" + path + "'";
  if (path.empty()) throw InputError(setting("recorder.out") + ": the path is empty");
  std::shared_ptr<FileState> fs;

  bool created = false;   // create the HDF5 file (the path is a new or empty file)
  bool made_here = false;  // this call made the (empty) file: remove it if creation fails
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) throw InputError(setting("recorder.out") + ": cannot access " + q + ": " + std::strerror(errno));
    // Create the file ourselves first: a clear reason when the directory is missing or not
    // writable, and O_EXCL so that a file appearing meanwhile is never truncated.
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST)
      throw InputError(setting("recorder.out") + ": cannot create " + q + ": " + std::strerror(errno));
    if (fd >= 0) {
      ::close(fd);
      created = made_here = true;
    }
  } else if (S_ISDIR(st.st_mode)) {
    throw InputError(setting("recorder.out") + ": " + q + " is a directory");
  } else if (S_ISREG(st.st_mode) && st.st_size == 0) {
    // An empty file (e.g. left by a process killed while creating it): nothing to lose.
    if (::access(path.c_str(), W_OK) != 0)
      throw InputError(setting("recorder.out") + ": cannot open " + q + " for writing: " + std::strerror(errno));
    created = true;
  }

  if (created) {
    try {
      guarded(path, "creating the results file", [&] {
        // TRUNC on the empty file found or made above (never on a file with contents).
        H5::H5File file(path, H5F_ACC_TRUNC, writer_fcpl(), writer_fapl());
        write_attr(file, "format_version", AttrValue(std::int64_t{kFormatVersion}));
        write_attr(file, "dposg_version", AttrValue(std::string(kDposgVersion)));
        fs = std::make_shared<FileState>(path, file, file.createGroup("runs"));
        fs->flush_file();
      });
    } catch (...) {
      // Writing the new file failed inside HDF5 (an I/O error): as in guarded_write.
      g_poisoned = true;
      if (fs) fs->poisoned = true;
      fs.reset();
      if (made_here) ::unlink(path.c_str());
      throw;
    }
  } else {
    if (::access(path.c_str(), R_OK | W_OK) != 0)
      throw InputError(setting("recorder.out") + ": cannot open " + q + " for writing: " + std::strerror(errno));
    htri_t is_h5 = H5Fis_hdf5(path.c_str());
    if (is_h5 < 0)
      throw InputError(setting("recorder.out") + ": cannot read " + q + ": " + take_h5_error("H5Fis_hdf5 failed"));
    if (is_h5 == 0) throw InputError(setting("recorder.out") + ": " + q + " exists and is not an HDF5 file");
    std::optional<H5::H5File> file;
    try {
      file.emplace(path, H5F_ACC_RDWR, H5::FileCreatPropList::DEFAULT, writer_fapl());
    } catch (const H5::Exception& e) {
      std::string d = detail(e);
      if (is_lock_error(d))
        throw InputError(setting("recorder.out") + ": " + q + " is in use by another process (HDF5 file lock: " + d +
                         ")");
      throw InputError(setting("recorder.out") + ": cannot open " + q + " as an HDF5 file: " + d);
    }
    guarded(path, "opening the results file", [&] {
      auto v = read_attr_if_present(*file, "format_version");
      if (!v || !std::holds_alternative<std::int64_t>(*v))
        throw InputError(setting("recorder.out") + ": " + q + " is an HDF5 file but not a dposg results file");
      auto version = std::get<std::int64_t>(*v);
      if (version > kFormatVersion)
        throw InputError(setting("recorder.out") + ": " + q + " has format_version " + std::to_string(version) +
                         ", newer than this dposg (" + std::to_string(kFormatVersion) + ")");
      fs = std::make_shared<FileState>(
          path, *file, exists_link(*file, "runs") ? file->openGroup("runs") : file->createGroup("runs"));
    });
  }
  auto impl = std::make_unique<Impl>();
  impl->fs = std::move(fs);
  return std::unique_ptr<ResultsFile>(new ResultsFile(path, std::move(impl)));
}

bool ResultsFile::has_run(const std::string& run) const {
  if (!valid_run_name(run)) return false;
  return guarded(path_, "looking up run '" + run + "'",
                 [&] { return exists_link(impl_->fs->runs, run); });
}

std::vector<std::string> ResultsFile::runs() const {
  return guarded(path_, "listing runs", [&] { return child_names(impl_->fs->runs); });
}

std::string ResultsFile::run_status(const std::string& run) const {
  if (!has_run(run)) return "";
  return guarded(path_, "reading the status of run '" + run + "'", [&]() -> std::string {
    H5::Group g = impl_->fs->runs.openGroup(run);
    auto v = read_attr_if_present(g, "status");
    if (!v || !std::holds_alternative<std::string>(*v)) return "";
    return std::get<std::string>(*v);
  });
}

void ResultsFile::remove_run(const std::string& run) {
  if (!has_run(run)) return;
  guarded_write(*impl_->fs, "removing run '" + run + "'", [&] {
    try {
      impl_->fs->runs.unlink(run);
    } catch (const H5::Exception&) {
      // Unlinking reads the object's header, and so does moving its link; a header damaged by a
      // kill mid-flush cannot be read. So /runs itself moves to /damaged/runs-K (its own header is
      // intact) and a new /runs gets a hard link to every other run: the damaged one stays only in
      // the old group, which no tool reads.
      H5::Group damaged = exists_link(impl_->fs->file, "damaged") ? impl_->fs->file.openGroup("damaged")
                                                                   : impl_->fs->file.createGroup("damaged");
      std::string aside = "runs";
      for (int k = 2; exists_link(damaged, aside); ++k) aside = "runs-" + std::to_string(k);
      const std::vector<std::string> names = runs();
      impl_->fs->runs.close();
      check(H5Lmove(impl_->fs->file.getId(), "runs", damaged.getId(), aside.c_str(), H5P_DEFAULT, H5P_DEFAULT),
            "H5Lmove");
      H5::Group old_runs = damaged.openGroup(aside);
      impl_->fs->runs = impl_->fs->file.createGroup("runs");
      for (const auto& name : names)
        if (name != run)
          check(H5Lcreate_hard(old_runs.getId(), name.c_str(), impl_->fs->runs.getId(), name.c_str(), H5P_DEFAULT,
                               H5P_DEFAULT),
                "H5Lcreate_hard");
    }
    impl_->fs->flush_file();
  });
}

bool results_file_poisoned() { return g_poisoned.load(); }

void require_valid_run_name(const std::string& run) {
  if (!valid_run_name(run))
    throw InputError(setting("recorder.run_name") + ": invalid run name '" + run +
                     "' (use letters, digits and _ - . = , only)");
}

std::unique_ptr<RunWriter> ResultsFile::create_run(const std::string& run,
                                                   const std::vector<std::pair<std::string, AttrValue>>& initial) {
  require_valid_run_name(run);
  if (has_run(run))
    throw InputError("run '" + run + "' already exists in '" + path_ +
                     "' (choose another " + setting("recorder.run_name") + ", or " + setting("recorder.overwrite") + ")");
  return guarded_write(*impl_->fs, "creating run '" + run + "'", [&] {
    auto w = std::make_unique<RunWriter::Impl>(impl_->fs, run, impl_->fs->runs.createGroup(run));
    write_attr(w->group, "status", AttrValue(std::string("running")));
    for (const auto& [name, value] : initial) write_attr(w->group, name, value);
    w->flush(true);
    return std::make_unique<RunWriter>(std::move(w));
  });
}

std::unique_ptr<RunWriter> ResultsFile::reopen_run(const std::string& run, std::int64_t last_iteration) {
  if (!has_run(run)) throw InputError("run '" + run + "' is not in '" + path_ + "'");
  return guarded_write(*impl_->fs, "reopening run '" + run + "'", [&] {
    H5::Group g = impl_->fs->runs.openGroup(run);
    hsize_t keep = 0;
    if (exists_link(g, "metrics")) {
      H5::Group metrics = g.openGroup("metrics");
      if (exists_link(metrics, "iteration")) {
        H5::DataSet ds = metrics.openDataSet("iteration");
        std::vector<std::int64_t> its(static_cast<std::size_t>(std::min<hsize_t>(length_1d(ds), rows_of(metrics))));
        if (!its.empty()) {
          hsize_t n = its.size(), start = 0;
          H5::DataSpace file_space = ds.getSpace();
          file_space.selectHyperslab(H5S_SELECT_SET, &n, &start);
          H5::DataSpace mem_space(1, &n);
          ds.read(its.data(), H5::PredType::NATIVE_INT64, mem_space, file_space);
        }
        while (keep < its.size() && its[keep] <= last_iteration) ++keep;
      }
    } else {
      g.createGroup("metrics");
    }
    auto w = std::make_unique<RunWriter::Impl>(impl_->fs, run, g, keep);
    write_attr(w->group, "status", AttrValue(std::string("running")));
    remove_attr_if_present(w->group, "message");
    w->flush(true);
    return std::make_unique<RunWriter>(std::move(w));
  });
}

bool ResultsFile::end_orphaned_run(const std::string& run, const std::string& status, const std::string& message) {
  if (run_status(run) != "running") return false;
  guarded_write(*impl_->fs, "ending run '" + run + "'", [&] {
    H5::Group g = impl_->fs->runs.openGroup(run);
    // The message first, in its own flush: a status on disk always has its reason beside it.
    write_attr(g, "message", AttrValue(message));
    impl_->fs->flush_file();
    write_attr(g, "status", AttrValue(status));
    impl_->fs->flush_file();
  });
  return true;
}

void ResultsFile::write_record(const std::string& section, const std::string& group, const std::string& name,
                               const std::vector<std::pair<std::string, AttrValue>>& attrs) {
  for (const auto* part : {&section, &group, &name})
    if (!valid_run_name(*part)) throw std::runtime_error("invalid record name '" + *part + "'");
  guarded_write(*impl_->fs, "writing /" + section + "/" + group + "/" + name, [&] {
    H5::Group root = impl_->fs->file.openGroup("/");
    H5::Group sec = exists_link(root, section) ? root.openGroup(section) : root.createGroup(section);
    H5::Group grp = exists_link(sec, group) ? sec.openGroup(group) : sec.createGroup(group);
    unlink_if_present(grp, name);
    H5::Group rec = grp.createGroup(name);
    for (const auto& [key, value] : attrs) write_attr(rec, key, value);
    impl_->fs->flush_file();
  });
}

void ResultsFile::replace_records(const std::string& section, const std::string& group,
                                  const std::vector<Record>& records) {
  for (const auto* part : {&section, &group})
    if (!valid_run_name(*part)) throw std::runtime_error("invalid record name '" + *part + "'");
  for (const auto& [name, attrs] : records)
    if (!valid_run_name(name)) throw std::runtime_error("invalid record name '" + name + "'");
  guarded_write(*impl_->fs, "writing /" + section + "/" + group, [&] {
    H5::Group root = impl_->fs->file.openGroup("/");
    H5::Group sec = exists_link(root, section) ? root.openGroup(section) : root.createGroup(section);
    unlink_if_present(sec, group);
    H5::Group grp = sec.createGroup(group);
    for (const auto& [name, attrs] : records) {
      H5::Group rec = grp.createGroup(name);
      for (const auto& [key, value] : attrs) write_attr(rec, key, value);
    }
    impl_->fs->flush_file();
  });
}

// =============================================================================================
// ResultsReader

struct ResultsReader::Impl {
  Impl(std::string p, const H5::H5File& f) : path(std::move(p)), file(f) {}
  std::string path;
  H5::H5File file;

  H5::Group run_group(const std::string& run) const {
    if (!valid_run_name(run) || !exists_link(file, "runs") ||
        !exists_link(file.openGroup("runs"), run))
      throw InputError("no run '" + run + "' in '" + path + "'");
    return file.openGroup("runs/" + run);
  }

  // A metric the run does not have (or a run with no rows yet) reads as empty; a run that does
  // not exist is an InputError.
  template <class T>
  std::vector<T> read_metric(const std::string& run, const std::string& name,
                             const H5::PredType& mem_type) const {
    H5::Group g = run_group(run);
    if (!exists_link(g, "metrics")) return {};
    H5::Group m = g.openGroup("metrics");
    if (name.empty() || name.find('/') != std::string::npos || !exists_link(m, name) ||
        m.childObjType(name) != H5O_TYPE_DATASET)
      return {};
    H5::DataSet ds = m.openDataSet(name);
    hsize_t rows = static_cast<hsize_t>(rows_of(m));
    std::vector<T> out(rows);
    if (rows == 0) return out;
    H5::DataSpace file_space = ds.getSpace();
    hsize_t start = 0;
    file_space.selectHyperslab(H5S_SELECT_SET, &rows, &start);
    H5::DataSpace mem_space(1, &rows);
    ds.read(out.data(), mem_type, mem_space, file_space);
    return out;
  }
};

ResultsReader::ResultsReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ResultsReader::~ResultsReader() {
  try {
    if (impl_) guarded(impl_->path, "closing", [&] { impl_.reset(); });
  } catch (...) {
  }
}

std::unique_ptr<ResultsReader> ResultsReader::open(const std::string& path) {
  quiet_hdf5();
  const std::string prefix = "cannot open '" + path + "' as a dposg results file: ";
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) throw InputError(prefix + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw InputError(prefix + "it is a directory");
  htri_t is_h5 = H5Fis_hdf5(path.c_str());
  if (is_h5 < 0) throw InputError(prefix + take_h5_error("H5Fis_hdf5 failed"));
  if (is_h5 == 0) throw InputError(prefix + "not an HDF5 file");
  std::unique_ptr<Impl> impl;
  try {
    H5::FileAccPropList fapl;
    // No file lock: a reader may look at a file that a running sweep holds open for writing.
    check(H5Pset_file_locking(fapl.getId(), false, true), "H5Pset_file_locking");
    // Another process writes it: read a consistent copy in memory (core/live_file.hpp), under a
    // name that is no file (the core driver refuses an image named after an existing one).
    std::string open_as = path;
    if (const auto image = live_snapshot(path)) {
      static int snapshots = 0;
      open_as = path + ".snapshot-" + std::to_string(::getpid()) + "-" + std::to_string(++snapshots);
      check(H5Pset_fapl_core(fapl.getId(), 1 << 20, false), "H5Pset_fapl_core");
      check(H5Pset_file_image(fapl.getId(), const_cast<char*>(image->data()), image->size()), "H5Pset_file_image");
    }
    try {
      impl = std::make_unique<Impl>(
          path, H5::H5File(open_as, H5F_ACC_RDONLY, H5::FileCreatPropList::DEFAULT, fapl));
    } catch (const H5::Exception& e) {
      // The file is open in this process already (a ResultsFile): HDF5 shares that open file
      // and insists on the same locking flag; no lock is taken for the shared open.
      std::string d = detail(e);
      if (d.find("locking flag") == std::string::npos) throw InputError(prefix + d);
      quiet_hdf5();
      impl = std::make_unique<Impl>(path, H5::H5File(path, H5F_ACC_RDONLY));
    }
  } catch (const H5::Exception& e) {
    throw InputError(prefix + detail(e));
  }
  guarded(path, "opening the results file", [&] {
    if (!read_attr_if_present(impl->file, "format_version"))
      throw InputError(prefix + "no format_version attribute (not written by dposg)");
  });
  return std::unique_ptr<ResultsReader>(new ResultsReader(std::move(impl)));
}

std::vector<std::string> ResultsReader::runs() const {
  return guarded(impl_->path, "listing runs", [&] {
    if (!exists_link(impl_->file, "runs")) return std::vector<std::string>{};
    return child_names(impl_->file.openGroup("runs"));
  });
}

RunSummary ResultsReader::summary(const std::string& run) const {
  return guarded(impl_->path, "reading run '" + run + "'", [&] {
    RunSummary s;
    s.name = run;
    H5::Group g = impl_->run_group(run);
    std::vector<std::string> names;
    auto cb = [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
      static_cast<std::vector<std::string>*>(data)->emplace_back(name);
      return 0;
    };
    check(H5Aiterate2(g.getId(), H5_INDEX_NAME, H5_ITER_INC, nullptr, cb, &names),
          "H5Aiterate2");
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
      auto v = read_attr(g.openAttribute(n));
      if (!v) continue;
      if (n == "status" && std::holds_alternative<std::string>(*v))
        s.status = std::get<std::string>(*v);
      s.attrs.emplace_back(n, std::move(*v));
    }
    if (exists_link(g, "metrics")) {
      H5::Group m = g.openGroup("metrics");
      s.metric_names = metric_names_of(m);
      s.rows = rows_of(m);
    }
    return s;
  });
}

std::vector<double> ResultsReader::metric(const std::string& run, const std::string& name) const {
  return guarded(impl_->path, "reading metric '" + name + "' of run '" + run + "'", [&] {
    return impl_->read_metric<double>(run, name, H5::PredType::NATIVE_DOUBLE);
  });
}

std::vector<std::int64_t> ResultsReader::iterations(const std::string& run) const {
  return guarded(impl_->path, "reading the iterations of run '" + run + "'", [&] {
    return impl_->read_metric<std::int64_t>(run, "iteration", H5::PredType::NATIVE_INT64);
  });
}

AttrValue ResultsReader::root_attr(const std::string& name) const {
  return guarded(impl_->path, "reading root attribute '" + name + "'", [&] {
    auto v = read_attr_if_present(impl_->file, name);
    if (!v) throw InputError("'" + impl_->path + "' has no root attribute '" + name + "'");
    return *v;
  });
}

}  // namespace dposg
