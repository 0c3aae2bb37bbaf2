// UVSCOPE_ALWAYS_INLINE: for the few functions on the loop's hot path (every phase marker) that
// must be inlined whatever the compiler estimates. Inlined before GCC estimates branch
// probabilities: a call left in a guarded block would make the guard look unlikely (its "call
// heuristic") and move the block out of line, one more jump per marker.
#pragma once

#if defined(__GNUC__)
#define UVSCOPE_ALWAYS_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define UVSCOPE_ALWAYS_INLINE __forceinline
#else
#define UVSCOPE_ALWAYS_INLINE inline
#endif
