// A checked program flattened into the device's fixed-size form (cuda/plugin_abi.h).
#pragma once
#include "../../cuda/plugin_abi.h"
#include "../program.h"

namespace lk {

// Throws ProgramError when the program exceeds the device tables (instructions,
// variables, constants, register values, reduction state): a clear error, not a launch
// that would overrun them.
lk_dev_program toDeviceProgram(const Program& p);

}  // namespace lk
