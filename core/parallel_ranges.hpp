#pragma once
// Elementwise work over a rows x cols column-major matrix on all OpenMP threads, whatever its
// shape (one tall column or many short ones).
#include <omp.h>

#include <algorithm>

#include "core/types.hpp"

namespace dposg {

// Runs f(col, begin, end) over rows [begin, end) of column `col`, the flat index space
// [0, rows * cols) split into one contiguous range per thread (static: every thread touches the
// same pages on every call, so first-touch placement holds). Small matrices stay on the calling
// thread: waking a team costs more than the work.
template <class F>
void for_each_flat_range(Index rows, Index cols, F&& f) {
  const Index total = rows * cols;
#pragma omp parallel if (total >= kParallelMinWork)
  {
    const Index nth = omp_get_num_threads();
    const Index tid = omp_get_thread_num();
    Index lo = total * tid / nth;
    const Index hi = total * (tid + 1) / nth;
    while (lo < hi) {
      const Index col = lo / rows;
      const Index r0 = lo - col * rows;
      const Index r1 = std::min(rows, r0 + (hi - lo));
      f(col, r0, r1);
      lo += r1 - r0;
    }
  }
}

}  // namespace dposg
