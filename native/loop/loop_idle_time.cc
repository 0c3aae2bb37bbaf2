// LoopIdleTime: see loop_idle_time.h. Where libuv keeps the loop's idle time, and the checks
// that it is there.
#include "loop_idle_time.h"

#include <cstddef>

#include "loop_counters.h"

namespace uvscope {

namespace {

// The head of libuv's uv__loop_internal_fields_t (src/uv-common.h, libuv 1.45 and later), with
// uv_metrics_t from the uv.h this addon is built against. Only offsets are taken from it.
struct LoopMetricsMirror {
  uv_metrics_t metrics;
  uint64_t providerEntryTime;
  uint64_t providerIdleTime;
};
struct InternalFieldsMirror {
  unsigned int flags;
  LoopMetricsMirror loopMetrics;
};

uint64_t At(const void* fields, size_t offset) {
  uint64_t value;
  std::memcpy(&value, static_cast<const unsigned char*>(fields) + offset, sizeof value);
  return value;
}

}  // namespace

bool LoopIdleTime::Verify() {
  if (refused_) return false;
  uint64_t locked = uv_metrics_idle_time(loop_);
  if (field_ != nullptr) {
    if (Read() == locked) return true;
    field_ = nullptr;
    refused_ = true;
    return false;
  }
  unsigned version = uv_version();
  const void* fields = loop_->internal_fields;
  if (version < ((1u << 16) | (45u << 8)) || version >= (2u << 16) || fields == nullptr) return false;
  LoopCounters counters = ReadLoopCounters(loop_);
  // The counters place the metrics (a loop count of 0 cannot be told from the zeros around
  // it: wait for a turn); the idle time, two fields further in the same struct, may still be 0
  // (a loop that never waited: a busy one). Should it not be there after all, the next
  // Verify() that sees the loop's idle time grow finds the field disagreeing.
  constexpr size_t metrics = offsetof(InternalFieldsMirror, loopMetrics) + offsetof(LoopMetricsMirror, metrics);
  constexpr size_t entry = offsetof(InternalFieldsMirror, loopMetrics) + offsetof(LoopMetricsMirror, providerEntryTime);
  constexpr size_t idle = offsetof(InternalFieldsMirror, loopMetrics) + offsetof(LoopMetricsMirror, providerIdleTime);
  if (!counters.available || counters.loopCount == 0 ||
      At(fields, metrics + offsetof(uv_metrics_t, loop_count)) != counters.loopCount ||
      At(fields, metrics + offsetof(uv_metrics_t, events)) != counters.events ||
      At(fields, metrics + offsetof(uv_metrics_t, events_waiting)) != counters.eventsWaiting ||
      At(fields, entry) != 0 || At(fields, idle) != locked) {
    return false;
  }
  field_ = static_cast<const unsigned char*>(fields) + idle;
  return true;
}

}  // namespace uvscope
