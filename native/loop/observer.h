// LoopObserver: libuv loop watchers (uv_prepare_t before poll, uv_check_t after poll, an
// optional uv_idle_t, and optional timers/close phase markers) on the loop of the
// environment that creates it. ObserverCore knows nothing of JavaScript: it records phase
// transitions into histograms and a ring buffer (a TraceRing, trace_ring.h, which it owns),
// timed by its LoopClock (loop_clock.h).
// LoopObserverWrap (observer_wrap.cc) is its JS face.
// Lifetime: the core lives until the close callback of its last handle, which frees it;
// the wrapper may die first (GC) or later (teardown), and each forgets the other.
#pragma once
#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "../addon_data.h"
#include "../histogram.h"
#include "loop_clock.h"
#include "loop_idle_time.h"
#include "phase.h"
#include "trace_ring.h"

namespace uvscope {

// An iteration longer than the observer's threshold (ns).
struct LongIteration {
  uint64_t iteration;
  uint64_t durationNs;
  uint64_t pollWaitNs;
  uint64_t pollWorkNs;
  uint64_t outsidePollNs;
  uint64_t endedAtNs;
};

// Receives phase events on the loop thread, for the phases enabled in the core's event mask.
class PhaseSink {
 public:
  virtual ~PhaseSink() = default;
  virtual void OnPhase(Phase phase, uint64_t timeNs, uint64_t iteration) = 0;
  virtual void OnLongIteration(const LongIteration& long_iteration) = 0;
};

class LoopHeartbeat;

class ObserverCore : public HeartbeatSource {
 public:
  ObserverCore(AddonData* data, size_t traceCapacity, uint64_t blockThresholdNs);

  void Start();
  void Stop();
  // Closes every handle; the core deletes itself after the last close callback, then
  // calls `onClosed` if set.
  void Close(std::function<void()> onClosed);
  void Ref();
  void Unref();
  void Reset();
  void SetIdle(bool on);
  void SetMarkers(bool on);
  void SetEventMask(uint32_t mask) { eventMask_ = mask; }
  void SetSink(PhaseSink* sink) { sink_ = sink; }

  bool running() const { return running_; }
  bool closing() const { return closing_; }
  Phase currentPhase() const { return running_ ? phase_ : kPhaseUnknown; }

  // Layout of the numbers Snapshot writes (kept in sync with src/native.ts).
  static constexpr int kHistograms = 4;  // iteration, pollWait, pollWork, outsidePoll
  static constexpr int kScalarFields = 12;
  static constexpr int kSnapshotFields = kHistograms * Histogram::kSummaryFields + kScalarFields;
  static constexpr int kTimeFields = 3;  // windowStartNs, windowEndNs, longestEndedAtNs
  void Snapshot(double* numbers, uint64_t* times);
  // Histogram::WriteBuckets of histogram `which` (0 iteration, 1 pollWait, 2 pollWork,
  // 3 outsidePoll); -1 for another `which`.
  int WriteBuckets(int which, double* out, int capacity);

  // The trace ring buffer (drain, trim, counters: see trace_ring.h).
  TraceRing& trace() { return trace_; }
  const LoopClock& clock() const { return clock_; }
  const TraceRing& trace() const { return trace_; }
  // The window since the previous call, from the markers (trace mode only): numbers get
  // kWindowFields values (per slice phase ns: poll, check, timers, pending; poll wait ns;
  // iterations begun; longest iteration ns; longest busy ns; long iterations), times get the
  // window's first and last marker (the previous window's last marker starts this one; 0 when
  // no marker came). Starts the next window.
  static constexpr int kWindowFields = 9;
  void TakeWindow(double* numbers, uint64_t* times);

 private:
  static void OnPrepare(uv_prepare_t* handle);
  static void OnCheck(uv_check_t* handle);
  static void OnIdle(uv_idle_t* handle);
  static void OnTimerMarker(uv_timer_t* handle);
  static void OnCloseMarker(uv_handle_t* handle);
  static void OnHandleClosed(uv_handle_t* handle);

  void Emit(Phase phase, uint64_t timeNs, uint64_t iteration, uint64_t pollWaitNs = 0);
  // Beats the environment's heartbeat when this core is its elected source (a stall watchdog
  // watches); idleNs is a reading taken since the last poll.
  void Beat(uint64_t nowNs, uint64_t idleNs, Phase phase) const;
  void ArmMarkers();
  void ArmTimerMarker();
  void BeginWindow(uint64_t nowNs);
  UVSCOPE_ALWAYS_INLINE uint64_t IdleTimeNs() const { return idleTime_.Read(); }

  // ---- Touched every iteration, kept together: between two of an iteration's callbacks the
  // rest of the iteration (V8, Node, the poll's system call) evicts them from the caches, and
  // each further cache line they spread over would be one more miss per callback.
  LoopClock clock_;  // every time this core records (loop thread only)
  uv_loop_t* loop_;
  LoopIdleTime idleTime_;  // libuv's idle time of loop_, read at prepare and check
  uint64_t iteration_ = 0;        // prepares seen since start
  uint64_t lastPrepareNs_ = 0;    // 0: no prepare yet in this window
  uint64_t lastCheckNs_ = 0;
  uint64_t idleAtPrepareNs_ = 0;
  uint64_t lastPollWaitNs_ = 0;
  uint64_t lastPollWorkNs_ = 0;
  uint64_t blockThresholdNs_;
  uint64_t iterations_ = 0;
  // The loop's time (ms, uv_now) when check armed the timers marker.
  uint64_t timerMarkerArmedMs_ = 0;
  PhaseSink* sink_ = nullptr;
  uint32_t eventMask_ = 0;
  int openHandles_ = 0;
  int stagedIterations_ = 0;  // staged_ entries whose prepare fields are set
  int stagedPolls_ = 0;       // staged_ entries whose check fields are set
  Phase phase_ = kPhaseUnknown;
  bool running_ = false;
  bool closing_ = false;
  bool markersWanted_ = false;
  bool idleReadAtCheck_ = false;  // idleAtPrepareNs_ holds the last check's reading
  bool closeMarkerInFlight_ = false;
  // Whether the timers marker has already stepped behind the timers that fell due after it
  // was armed (once per iteration).
  bool timerMarkerRearmed_ = false;
  // Whether the loop's timer heap can be read (LoopTimerHeap::Check): then the timers marker
  // is started only in iterations where a timer may fall due.
  bool timerHeapReadable_ = false;
  // Trace ring buffer: one entry per marker (capacity 0: no trace).
  TraceRing trace_;
  // Trace-mode window (TakeWindow): the time between consecutive markers, by the slice phase
  // the earlier marker opens (prepare: poll, check: check, close: timers, timers: pending).
  uint64_t lastMarkerNs_ = 0;
  Phase lastMarkerPhase_ = kPhaseUnknown;
  uint64_t windowStartMarkerNs_ = 0;
  uint64_t windowSliceNs_[4] = {0, 0, 0, 0};
  uint64_t windowPollWaitNs_ = 0;
  uint64_t windowIterations_ = 0;
  uint64_t windowLongestNs_ = 0;
  uint64_t windowLongestBusyNs_ = 0;
  uint64_t windowLongIterations_ = 0;

  // ---- The handles (libuv reads each right before calling back), then the rest.
  uv_prepare_t prepare_;
  uv_check_t check_;
  uv_idle_t idle_;
  uv_timer_t timerMarker_;
  uv_idle_t closeMarker_;  // re-initialised and closed once per iteration while markers run

  AddonData* data_;
  bool refed_ = false;
  bool idleWanted_ = false;
  std::function<void()> onClosed_;

  // Window.
  uint64_t windowStartNs_ = 0;
  uint64_t windowEndNs_ = 0;      // set while stopped
  uint64_t idleAtStartNs_ = 0;
  uint64_t idleAtEndNs_ = 0;
  uint64_t eventsAtStart_ = 0;
  uint64_t eventsWaitingAtStart_ = 0;
  uint64_t loopCountAtStart_ = 0;
  uint64_t eventsAtEnd_ = 0;
  uint64_t eventsWaitingAtEnd_ = 0;
  uint64_t loopCountAtEnd_ = 0;
  uint64_t longIterations_ = 0;
  uint64_t longestNs_ = 0;
  uint64_t longestPollWaitNs_ = 0;
  uint64_t longestPollWorkNs_ = 0;
  uint64_t longestOutsidePollNs_ = 0;
  uint64_t longestEndedAtNs_ = 0;

  // Per-iteration durations on their way into the histograms, kStaged iterations at a time.
  // Recorded one by one, the four histograms' counters and buckets are four to eight cache
  // lines that the rest of the iteration (V8, Node) has evicted by the next one; staged, an
  // iteration writes half a line, and a flush finds the buckets it updates warm. Flushed before
  // anything reads the histograms (Snapshot, WriteBuckets).
  static constexpr int kStaged = 32;
  struct StagedDurations {
    uint64_t iterationNs, outsidePollNs;  // set by prepare
    uint64_t pollWaitNs, pollWorkNs;      // set by check
  };
  StagedDurations staged_[kStaged];
  void FlushStaged();

  // Last: large (22 KB each), touched only by FlushStaged and the readers.
  Histogram iterationNs_;
  Histogram pollWaitNs_;
  Histogram pollWorkNs_;
  Histogram outsidePollNs_;
};

class LoopObserverWrap : public Napi::ObjectWrap<LoopObserverWrap>,
                         public PhaseSink,
                         public Closeable {
 public:
  static void Init(Napi::Env env, Napi::Object exports, AddonData* data);
  explicit LoopObserverWrap(const Napi::CallbackInfo& info);
  ~LoopObserverWrap() override;

  void OnPhase(Phase phase, uint64_t timeNs, uint64_t iteration) override;
  void OnLongIteration(const LongIteration& longIteration) override;
  void CloseForTeardown(std::function<void()> done) override;

 private:
  ObserverCore* LiveCore(const Napi::CallbackInfo& info, const char* method);
  void CallEmitter(size_t argc, napi_value* args);
  void ReleaseCore(std::function<void()> done);

  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Reset(const Napi::CallbackInfo& info);
  Napi::Value Configure(const Napi::CallbackInfo& info);
  Napi::Value SetEmitter(const Napi::CallbackInfo& info);
  Napi::Value Snapshot(const Napi::CallbackInfo& info);
  Napi::Value Buckets(const Napi::CallbackInfo& info);
  Napi::Value DrainTrace(const Napi::CallbackInfo& info);
  Napi::Value CurrentPhase(const Napi::CallbackInfo& info);
  Napi::Value TraceDropped(const Napi::CallbackInfo& info);
  Napi::Value TraceBuffered(const Napi::CallbackInfo& info);
  Napi::Value TrimTrace(const Napi::CallbackInfo& info);
  Napi::Value TakeWindow(const Napi::CallbackInfo& info);
  Napi::Value ClockInfo(const Napi::CallbackInfo& info);

  AddonData* data_;
  ObserverCore* core_ = nullptr;
  Napi::FunctionReference emitter_;
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
};

}  // namespace uvscope
