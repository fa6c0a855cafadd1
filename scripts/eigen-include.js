#!/usr/bin/env node
// Prints the directory holding Eigen's headers (EIGEN3_INCLUDE_DIR, or the usual system
// places), or nothing: binding.gyp builds the preconditioners' dense algebra with Eigen
// where it is found and with plain loops where not (native/solve/dense.h).
'use strict';
const fs = require('fs');
const path = require('path');
const candidates = [process.env.EIGEN3_INCLUDE_DIR, '/usr/include/eigen3', '/usr/local/include/eigen3',
  '/opt/homebrew/include/eigen3', '/opt/local/include/eigen3'].filter(Boolean);
const found = candidates.find((dir) => fs.existsSync(path.join(dir, 'Eigen', 'Cholesky')));
process.stdout.write(found || '');
