// LoopTimerHeap::Check: the one-time check of the timer heap's layout (loop_timer_heap.h).
#include "loop_timer_heap.h"

namespace uvscope {

bool LoopTimerHeap::Check(uv_loop_t* loop, uv_timer_t* probe) {
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(probe))) return false;
  constexpr uint64_t kFarMs = uint64_t{1} << 40;  // 35 years
  const unsigned before = loop->timer_heap.nelts;
  if (uv_timer_start(probe, [](uv_timer_t*) {}, kFarMs, 0) != 0) return false;
  bool ok = loop->timer_heap.nelts == before + 1 && loop->timer_heap.min != nullptr &&
            probe->timeout == uv_now(loop) + kFarMs && uv_timer_get_due_in(probe) == kFarMs;
  if (ok) {
    // Alone in the heap, the probe is its minimum; beside others, none is due after it.
    const uv_timer_t* earliest = TimerOf(loop->timer_heap.min);
    ok = before == 0 ? earliest == probe : EarliestDueMs(loop) <= probe->timeout;
  }
  uv_timer_stop(probe);
  return ok && loop->timer_heap.nelts == before;
}

}  // namespace uvscope
