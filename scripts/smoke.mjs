// Run in a project that installed lazykernel: named imports from an ES module.
import { Genred, info } from 'lazykernel';
import lazykernel from 'lazykernel';
import check from './smoke-check.cjs';

if (lazykernel.Genred !== Genred) throw new Error('the default import and the named imports differ');
check({ Genred, info }, 'import');
