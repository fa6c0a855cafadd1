// Inserting a value into a row's k smallest, written once for the CPU accumulators and
// the device path.
#pragma once
#include <stdint.h>

#include "hd.h"

namespace lk {

// v[0..n) ascending with their indices x; inserts (q, j) if it is strictly below the
// current k-th (so ties keep the lower j, which arrived first). Returns the new n.
template <typename T>
LK_HD int insertKMin(T* v, int32_t* x, int n, int k, T q, int32_t j) {
  if (n == k && !(q < v[k - 1])) return n;
  int pos = n < k - 1 ? n : k - 1;
  while (pos > 0 && q < v[pos - 1]) {
    v[pos] = v[pos - 1];
    x[pos] = x[pos - 1];
    --pos;
  }
  v[pos] = q;
  x[pos] = j;
  return n < k ? n + 1 : n;
}

}  // namespace lk
