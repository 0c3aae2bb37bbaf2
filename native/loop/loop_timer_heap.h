// LoopTimerHeap: when a loop's earliest timer falls due, read on the loop's own thread from
// libuv's timer heap (uv_loop_t's `timer_heap.min`, the heap node inside that uv_timer_t, its
// `timeout`: the due time in loop milliseconds). The observer asks it at its close marker, to
// start the timers marker only in iterations whose timers phase may run a timer.
//
// Those fields are in uv.h (uv_loop_t and uv_timer_t are allocated by their users, so libuv
// keeps their layout within 1.x: 1.45 turned the heap node into a union of the same size); a
// timer's heap node follows its callback pointer in every 1.x. They are still trusted only
// after Check() started a timer of the caller's far in the future and found the heap and that
// timer's due time where they should be (uv_timer_get_due_in() agreeing); else the caller arms
// its marker every iteration, as without this reader.
// Lifetime: stateless; loop thread only (libuv changes the heap on that thread only).
#pragma once
#include <uv.h>

#include <cstddef>
#include <cstdint>

#include "../always_inline.h"

namespace uvscope {

class LoopTimerHeap {
 public:
  // Whether the heap can be read: `probe` is an initialised, stopped timer of `loop`, started
  // and stopped here (its callback never runs).
  static bool Check(uv_loop_t* loop, uv_timer_t* probe);

  // The due time (loop ms, uv_now's clock) of the loop's earliest timer; UINT64_MAX when none.
  UVSCOPE_ALWAYS_INLINE static uint64_t EarliestDueMs(const uv_loop_t* loop) {
    const void* node = loop->timer_heap.min;
    return node == nullptr ? UINT64_MAX : TimerOf(node)->timeout;
  }

 private:
  static const uv_timer_t* TimerOf(const void* heapNode) {
    return reinterpret_cast<const uv_timer_t*>(static_cast<const char*>(heapNode) - kHeapNodeOffset);
  }
  static constexpr size_t kHeapNodeOffset = offsetof(uv_timer_t, timer_cb) + sizeof(uv_timer_cb);
};

}  // namespace uvscope
