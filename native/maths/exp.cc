// The clamp bounds of expNeg and exp2Neg (exp.h), defined out of line so that the CPU builds read
// them rather than fold them: against a literal, GCC 12 vectorises a clamp as a compare
// and a blend.
#include "exp.h"

namespace lk {

const float kExpFloatLow = kExpFloatBounds[0], kExpFloatHigh = kExpFloatBounds[1];
const double kExpDoubleLow = kExpDoubleBounds[0], kExpDoubleHigh = kExpDoubleBounds[1];
const float kExp2FloatLow = kExp2FloatBounds[0], kExp2FloatHigh = kExp2FloatBounds[1];
const double kExp2DoubleLow = kExp2DoubleBounds[0], kExp2DoubleHigh = kExp2DoubleBounds[1];

}  // namespace lk
