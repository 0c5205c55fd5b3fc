#pragma once
// A dense W written as `--topology file` reads it (dataset "W", M x M, row-major on disk).
#include <H5Cpp.h>

#include <string>

#include "core/types.hpp"

namespace dposg::test {

inline void write_dense_w_file(const std::string& path, const Matrix& W) {
  H5::H5File f(path, H5F_ACC_TRUNC);
  hsize_t dims[2] = {static_cast<hsize_t>(W.rows()), static_cast<hsize_t>(W.cols())};
  H5::DataSpace space(2, dims);
  auto ds = f.createDataSet("W", H5::PredType::NATIVE_DOUBLE, space);
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rm = W;
  ds.write(rm.data(), H5::PredType::NATIVE_DOUBLE);
}

}  // namespace dposg::test
