// The clamp bounds of expNeg (exp.h), defined out of line so that the CPU builds read
// them rather than fold them: against a literal, GCC 12 vectorises a clamp as a compare
// and a blend.
#include "exp.h"

namespace lk {

// float: exp(-s) is 0 past s = 100 (true values below 2^-125.5 already are) and +inf
// before -89; double: 0 past 800, +inf before -710.
const float kExpFloatLow = -89.0f, kExpFloatHigh = 100.0f;
const double kExpDoubleLow = -710.0, kExpDoubleHigh = 800.0;

}  // namespace lk
