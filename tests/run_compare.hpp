#pragma once
// Two results files' copies of one run compared byte for byte: every dataset of its metrics/ and
// final/ groups, the time columns (*time_s, which measure the machine) left out. What a resumed
// run must equal: the same run left alone.
#include <H5Cpp.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <map>
#include <string>

namespace dposg::test {

// Every dataset of the run's metrics/ and final/ (time columns left out) as raw bytes.
inline std::map<std::string, std::string> run_data(const std::string& path, const std::string& run) {
  std::map<std::string, std::string> out;
  H5::H5File f(path, H5F_ACC_RDONLY);
  for (const char* group : {"metrics", "final"}) {
    const std::string g = "/runs/" + run + "/" + group;
    if (!H5Lexists(f.getId(), g.c_str(), H5P_DEFAULT)) continue;
    H5::Group grp = f.openGroup(g);
    for (hsize_t i = 0; i < grp.getNumObjs(); ++i) {
      const std::string name = grp.getObjnameByIdx(i);
      if (name.size() >= 6 && name.compare(name.size() - 6, 6, "time_s") == 0) continue;
      H5::DataSet ds = grp.openDataSet(name);
      const hssize_t n = ds.getSpace().getSimpleExtentNpoints();
      std::string bytes(static_cast<std::size_t>(n) * 8, '\0');
      const bool is_int = ds.getDataType().getClass() == H5T_INTEGER;
      if (n > 0) ds.read(bytes.data(), is_int ? H5::PredType::NATIVE_INT64 : H5::PredType::NATIVE_DOUBLE);
      out[std::string(group) + "/" + name] = bytes;
    }
  }
  return out;
}

// Compares two runs entry by entry, naming the first difference.
inline void require_identical(const std::string& a, const std::string& b, const std::string& run) {
  const auto x = run_data(a, run), y = run_data(b, run);
  REQUIRE(x.count("metrics/iteration"));
  REQUIRE(x.count("final/z_bar"));
  for (const auto& [name, bytes] : x) {
    INFO(name);
    REQUIRE(y.count(name));
    REQUIRE(y.at(name).size() == bytes.size());
    CHECK(std::memcmp(y.at(name).data(), bytes.data(), bytes.size()) == 0);
  }
  CHECK(x.size() == y.size());
}

}  // namespace dposg::test
