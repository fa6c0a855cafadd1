// Inserting a value into a row's k smallest, written once for the CPU accumulators and
// the device path.
#pragma once
#include <stdint.h>

#include "hd.h"

namespace lk {

// v[0..n) ascending with their indices x; inserts (q, j) if it comes before the current
// k-th or the list is not full, and returns the new n. The order is by value, then, with
// ByIndex, by index; without, ties keep the entry already there (the lower j, where j
// grows as values arrive).
template <bool ByIndex, typename T>
LK_HD int insertSorted(T* v, int32_t* x, int n, int k, T q, int32_t j) {
  auto below = [&](int p) { return q < v[p] || (ByIndex && q == v[p] && j < x[p]); };
  if (n == k && !below(k - 1)) return n;
  int pos = n < k - 1 ? n : k - 1;
  while (pos > 0 && below(pos - 1)) {
    v[pos] = v[pos - 1];
    x[pos] = x[pos - 1];
    --pos;
  }
  v[pos] = q;
  x[pos] = j;
  return n < k ? n + 1 : n;
}

// Inserts (q, j) if it is strictly below the current k-th.
template <typename T>
LK_HD int insertKMin(T* v, int32_t* x, int n, int k, T q, int32_t j) {
  return insertSorted<false>(v, x, n, k, q, j);
}

}  // namespace lk
