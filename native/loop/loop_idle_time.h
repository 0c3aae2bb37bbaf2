// LoopIdleTime: libuv's idle time of one loop (uv_metrics_idle_time: the time its poll spent
// waiting in the kernel), read on that loop's own thread at every observer marker.
//
// uv_metrics_idle_time() takes the loop's metrics mutex to read two fields, ~15 ns a call in
// this VM. On the loop thread, outside poll, that lock guards nothing: the loop thread is the
// only writer, and the poll's entry time is 0 there. So the reader looks at the field itself,
// once it has checked where libuv keeps it: the layout of libuv's private
// uv__loop_internal_fields_t (libuv >= 1.45: `flags`, then the metrics with uv_metrics_t
// first, the poll's entry time and the idle time) is trusted only after its counters matched
// uv_metrics_info()'s (the loop has turned), its entry time read 0 and its idle time equalled
// the locked reading (0 in a loop that never waited). Its reader calls Verify() every 256th
// turn: until the field is found (before the first turn, another libuv) every read is the
// locked call; once found, the two are compared again, and one mismatch means the locked call
// for good.
// Lifetime: a member of its reader (an ObserverCore, the LoopHeartbeat); loop thread only.
#pragma once
#include <uv.h>

#include <cstdint>
#include <cstring>

#include "../always_inline.h"

namespace uvscope {

class LoopIdleTime {
 public:
  explicit LoopIdleTime(uv_loop_t* loop) : loop_(loop) {}

  // On the loop thread, outside poll (uv callbacks and JavaScript are).
  UVSCOPE_ALWAYS_INLINE uint64_t Read() const {
    if (field_ == nullptr) return uv_metrics_idle_time(loop_);
    uint64_t ns;
    std::memcpy(&ns, field_, sizeof ns);
    return ns;
  }

  // Checks where the field is (until found) or that it still holds libuv's reading (after);
  // on the loop thread, outside poll, and not on the hot path. False while reads are locked.
  bool Verify();

 private:
  uv_loop_t* loop_;
  const void* field_ = nullptr;
  bool refused_ = false;  // a found field disagreed once: locked reads for good
};

}  // namespace uvscope
