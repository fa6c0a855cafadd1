// The clamp bounds of expNeg (exp.h), defined out of line so that the CPU builds read
// them rather than fold them; see ExpBounds.
#include "exp.h"

namespace lk {

// float: exp(-s) is 0 past s = 100 (true values below 2^-125.5 already are) and +inf
// before -89; double: 0 past 800, +inf before -710.
extern const ExpBounds kExpBounds = {-89.0f, 100.0f, -710.0, 800.0};

}  // namespace lk
