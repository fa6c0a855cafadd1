// Merging two log-sum-exp states (a max and sums relative to it), shared by the CPU
// accumulators, the fused softmax loop and the device path.
#pragma once
#include <math.h>

#include "hd.h"

namespace lk {

// The factors that bring a running state (max mx) and another (max m) to the larger
// maximum, which mx becomes: the merged sums are old·running + add·other.
struct ShiftFactors {
  double old, add;
};

LK_HD ShiftFactors mergeShift(double& mx, double m) {
  if (mx >= m) return {1.0, exp(m - mx)};
  const double old = exp(mx - m);
  mx = m;
  return {old, 1.0};
}

}  // namespace lk
