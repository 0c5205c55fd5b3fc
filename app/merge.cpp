#include "app/merge.hpp"

#include <H5Cpp.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <variant>

#include "app/sweep.hpp"
#include "core/error.hpp"
#include "core/recorder.hpp"

namespace dposg {

namespace {

std::string text_attr(const RunSummary& s, const std::string& name) {
  for (const auto& [n, v] : s.attrs)
    if (n == name)
      if (const auto* t = std::get_if<std::string>(&v)) return *t;
  return "";
}

// finished and diverged are results; failed is kept but redone on request; the rest is not a result.
int rank_of(const std::string& status) {
  if (status == "finished" || status == "diverged") return 2;
  if (status == "failed") return 1;
  return 0;
}

struct Source {
  std::string file;
  int rank = 0;
  bool unfinished = false;  // interrupted or running, copied under `continuable`
};

// A copy of an HDF5 object tree, object by object. H5Ocopy is not used: HDF5 1.10 crashes copying
// variable-length string attributes kept in dense storage (a run has dozens of attributes).
void copy_attributes(hid_t from, hid_t to) {
  const int n = H5Aget_num_attrs(from);
  for (int i = 0; i < n; ++i) {
    const hid_t a = H5Aopen_by_idx(from, ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, static_cast<hsize_t>(i), H5P_DEFAULT,
                                   H5P_DEFAULT);
    const hid_t a2 = a >= 0 ? a
                            : H5Aopen_by_idx(from, ".", H5_INDEX_NAME, H5_ITER_INC, static_cast<hsize_t>(i), H5P_DEFAULT,
                                             H5P_DEFAULT);
    if (a2 < 0) throw std::runtime_error("cannot open an attribute");
    char name[1024];
    H5Aget_name(a2, sizeof name, name);
    const hid_t type = H5Aget_type(a2), space = H5Aget_space(a2);
    const hid_t out = H5Acreate2(to, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (H5Tis_variable_str(type) > 0) {
      std::vector<char*> ptrs(static_cast<std::size_t>(std::max<hssize_t>(1, H5Sget_simple_extent_npoints(space))));
      H5Aread(a2, type, ptrs.data());
      H5Awrite(out, type, ptrs.data());
      H5Dvlen_reclaim(type, space, H5P_DEFAULT, ptrs.data());
    } else {
      std::vector<char> buf(static_cast<std::size_t>(std::max<hssize_t>(1, H5Sget_simple_extent_npoints(space))) *
                            H5Tget_size(type));
      H5Aread(a2, type, buf.data());
      H5Awrite(out, type, buf.data());
    }
    H5Aclose(out);
    H5Sclose(space);
    H5Tclose(type);
    H5Aclose(a2);
  }
}

void copy_tree(hid_t from, hid_t to_parent, const std::string& name);

herr_t copy_child(hid_t group, const char* name, const H5L_info_t*, void* to) {
  try {
    copy_tree(H5Oopen(group, name, H5P_DEFAULT), *static_cast<hid_t*>(to), name);
  } catch (const std::exception&) {
    return -1;
  }
  return 0;
}

// Copies object `from` (closed here) to `to_parent`/`name`.
void copy_tree(hid_t from, hid_t to_parent, const std::string& name) {
  if (from < 0) throw std::runtime_error("cannot open '" + name + "'");
  H5O_info_t info;
  H5Oget_info(from, &info);
  if (info.type == H5O_TYPE_GROUP) {
    hid_t g = H5Gcreate2(to_parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    copy_attributes(from, g);
    const herr_t r = H5Literate(from, H5_INDEX_NAME, H5_ITER_INC, nullptr, copy_child, &g);
    H5Gclose(g);
    H5Oclose(from);
    if (r < 0) throw std::runtime_error("cannot copy the objects of '" + name + "'");
    return;
  }
  if (info.type == H5O_TYPE_DATASET) {
    const hid_t type = H5Dget_type(from), space = H5Dget_space(from), dcpl = H5Dget_create_plist(from);
    const hid_t d = H5Dcreate2(to_parent, name.c_str(), type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    const hssize_t n = H5Sget_simple_extent_npoints(space);
    if (n > 0) {
      if (H5Tis_variable_str(type) > 0) {
        std::vector<char*> ptrs(static_cast<std::size_t>(n));
        H5Dread(from, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data());
        H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data());
        H5Dvlen_reclaim(type, space, H5P_DEFAULT, ptrs.data());
      } else {
        std::vector<char> buf(static_cast<std::size_t>(n) * H5Tget_size(type));
        H5Dread(from, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data());
        H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data());
      }
    }
    copy_attributes(from, d);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(space);
    H5Tclose(type);
  }
  H5Oclose(from);
}

// As the recorder opens its files: no file lock (a killed writer's lock is gone with it, and a
// reader may be looking), the writer's format bounds (superblock v2, object headers v2).
H5::FileAccPropList writer_access() {
  H5::Exception::dontPrint();
  H5::FileAccPropList fapl;
  H5Pset_file_locking(fapl.getId(), false, true);
  fapl.setLibverBounds(H5F_LIBVER_V18, H5F_LIBVER_V110);
  return fapl;
}

}  // namespace

MergeReport merge_results(const std::string& out, const std::vector<std::string>& inputs, bool replace,
                          bool continuable) {
  MergeReport report;
  std::optional<std::string> definition;
  std::string definition_from;
  auto same_sweep = [&](const RunSummary& s, const std::string& file) {
    const std::string d = text_attr(s, "sweep_definition");
    if (d.empty())
      throw InputError("dposg merge: run '" + s.name + "' of '" + file +
                       "' was not made by a sweep of this dposg (no sweep_definition attribute)");
    if (!definition) {
      definition = d, definition_from = file;
    } else if (*definition != d) {
      std::string differ = options_key_difference(*definition, d);
      throw InputError("dposg merge: '" + file + "' and '" + definition_from + "' come from different sweeps (" +
                       (differ.empty() ? std::string("their grids or options differ") : "differing: " + differ) + ")");
    }
  };

  // What the output holds now.
  std::map<std::string, int> existing;
  {
    auto file = ResultsFile::open(out);  // created when absent, checked to be a dposg file otherwise
  }
  {
    auto reader = ResultsReader::open(out);
    for (const auto& run : reader->runs()) {
      try {
        const RunSummary s = reader->summary(run);
        same_sweep(s, out);
        existing[run] = rank_of(s.status);
      } catch (const InputError&) {
        throw;
      } catch (const std::exception&) {
        existing[run] = 0;  // damaged: any recorded copy replaces it
      }
    }
  }
  // The best copy of each run among the inputs (the first of equal ones).
  std::map<std::string, Source> best;
  for (const auto& in : inputs) {
    auto reader = ResultsReader::open(in);
    for (const auto& run : reader->runs()) {
      int rank = 0;
      bool unfinished = false;
      try {
        const RunSummary s = reader->summary(run);
        same_sweep(s, in);
        rank = rank_of(s.status);
        if (continuable && rank == 0 && (s.status == "interrupted" || s.status == "running")) rank = 1, unfinished = true;
      } catch (const InputError&) {
        throw;
      } catch (const std::exception&) {
        rank = 0;
      }
      if (rank == 0) {
        ++report.left_out;
        continue;
      }
      auto it = best.find(run);
      if (it == best.end() || rank > it->second.rank) best[run] = {in, rank, unfinished};
    }
  }

  const H5::FileAccPropList fapl = writer_access();
  try {
    H5::H5File dst(out, H5F_ACC_RDWR, H5::FileCreatPropList::DEFAULT, fapl);
    H5::Group runs = dst.openGroup("runs");
    std::map<std::string, std::unique_ptr<H5::H5File>> open;
    for (const auto& [run, src] : best) {
      auto it = existing.find(run);
      if (it != existing.end()) {
        if (!(replace || src.rank > it->second || (continuable && it->second < 2))) {
          ++report.kept;
          continue;
        }
        runs.unlink(run);
      }
      auto& f = open[src.file];
      if (!f) f = std::make_unique<H5::H5File>(src.file, H5F_ACC_RDONLY, H5::FileCreatPropList::DEFAULT, fapl);
      if (!src.unfinished) {
        copy_tree(H5Oopen(f->getId(), ("runs/" + run).c_str(), H5P_DEFAULT), runs.getId(), run);
        ++report.copied;
        continue;
      }
      // A killed writer's run may be damaged where it was writing: one that cannot be copied is
      // left out (the sweep redoes it), never the cause of a failed merge.
      try {
        copy_tree(H5Oopen(f->getId(), ("runs/" + run).c_str(), H5P_DEFAULT), runs.getId(), run);
        ++report.copied;
      } catch (const std::exception&) {
        if (runs.nameExists(run)) runs.unlink(run);
        ++report.left_out;
      }
    }
    dst.flush(H5F_SCOPE_GLOBAL);
  } catch (const H5::Exception& e) {
    std::string detail = e.getDetailMsg();
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD,
             [](unsigned, const H5E_error2_t* err, void* d) -> herr_t {
               if (err->desc) *static_cast<std::string*>(d) += std::string("; ") + err->desc;
               return 0;
             },
             &detail);
    throw std::runtime_error("dposg merge: writing '" + out + "': " + detail);
  }
  return report;
}

void copy_run(const std::string& from, const std::string& to, const std::string& run) {
  const H5::FileAccPropList fapl = writer_access();
  try {
    H5::H5File src(from, H5F_ACC_RDONLY, H5::FileCreatPropList::DEFAULT, fapl);
    H5::H5File dst(to, H5F_ACC_RDWR, H5::FileCreatPropList::DEFAULT, fapl);
    H5::Group runs = dst.openGroup("runs");
    if (runs.nameExists(run)) runs.unlink(run);
    copy_tree(H5Oopen(src.getId(), ("runs/" + run).c_str(), H5P_DEFAULT), runs.getId(), run);
    dst.flush(H5F_SCOPE_GLOBAL);
  } catch (const H5::Exception& e) {
    throw std::runtime_error("copying run '" + run + "' of '" + from + "' into '" + to + "': " + e.getDetailMsg());
  }
}

}  // namespace dposg
