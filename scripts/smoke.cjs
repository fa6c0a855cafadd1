// Run in a project that installed lazykernel: `require` from CommonJS.
'use strict';
require('./smoke-check.cjs')(require('lazykernel'), 'require');
