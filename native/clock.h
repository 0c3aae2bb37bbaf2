// The monotonic clock every uvscope timestamp comes from: libuv's uv_hrtime(), i.e.
// CLOCK_MONOTONIC in nanoseconds, the same clock as process.hrtime.bigint() and
// performance.now(), so uvscope's times can be compared with both (the loop observer reads it
// through LoopClock, loop/loop_clock.h, for less per marker). Stateless.
#pragma once
#include <uv.h>
#include <cstdint>

namespace uvscope {

inline uint64_t NowNs() { return uv_hrtime(); }

}  // namespace uvscope
