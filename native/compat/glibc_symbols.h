// Force-included into every C++ source of the Linux build (CMakeLists.txt). glibc 2.29
// gave exp, log and pow new default symbol versions; a binary linked against a newer
// glibc then refuses to load on an older one, though the old versions compute the same
// values (both call the same implementation; the old ones add SVID error handling that
// -fno-math-errno code never sees). The references are bound to each architecture's first
// versions, so these functions add nothing to the prebuilds' glibc baseline, 2.28
// (scripts/prebuild-linux.sh checks every shipped file against it).
#pragma once
#include <features.h>
#if defined(__GLIBC__) && !defined(__ASSEMBLER__)
#if defined(__x86_64__)
#define LK_GLIBC_OLD "GLIBC_2.2.5"
#elif defined(__aarch64__)
#define LK_GLIBC_OLD "GLIBC_2.17"
#endif
#ifdef LK_GLIBC_OLD
__asm__(".symver exp,exp@" LK_GLIBC_OLD);
__asm__(".symver log,log@" LK_GLIBC_OLD);
__asm__(".symver pow,pow@" LK_GLIBC_OLD);
__asm__(".symver exp2,exp2@" LK_GLIBC_OLD);
__asm__(".symver log2,log2@" LK_GLIBC_OLD);
#endif
#undef LK_GLIBC_OLD
#endif
