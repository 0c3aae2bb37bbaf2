// libuv's own loop counters (uv_metrics_info: iterations, events, events waiting), read on the
// loop thread. uv_metrics_info exists since libuv 1.45 (Node 20.3); it is looked up at run time
// rather than linked, so that the addon still loads where it is missing and reports the
// counters absent. Stateless (the looked-up function is immutable and process-wide).
#pragma once
#include <dlfcn.h>
#include <uv.h>

#include <cstdint>

namespace uvscope {

struct LoopCounters {
  bool available = false;
  uint64_t loopCount = 0;
  uint64_t events = 0;
  uint64_t eventsWaiting = 0;
};

inline LoopCounters ReadLoopCounters(uv_loop_t* loop) {
  using MetricsInfoFn = int (*)(uv_loop_t*, uv_metrics_t*);
  static const auto metricsInfo = reinterpret_cast<MetricsInfoFn>(dlsym(RTLD_DEFAULT, "uv_metrics_info"));
  LoopCounters counters;
  uv_metrics_t metrics;
  if (metricsInfo != nullptr && metricsInfo(loop, &metrics) == 0) {
    counters.available = true;
    counters.loopCount = metrics.loop_count;
    counters.events = metrics.events;
    counters.eventsWaiting = metrics.events_waiting;
  }
  return counters;
}

}  // namespace uvscope
