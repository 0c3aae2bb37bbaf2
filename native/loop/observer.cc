// ObserverCore: see observer.h (its JavaScript face, LoopObserverWrap, is observer_wrap.cc).
// Everything here runs on the loop thread of the environment that created the observer.
#include "observer.h"

#include "../live_counts.h"
#include "heartbeat.h"
#include "loop_counters.h"
#include "loop_timer_heap.h"

namespace uvscope {

namespace {

constexpr uint32_t Bit(Phase phase) { return 1u << phase; }

// The trace-mode window's slice a marker opens, by its phase (TakeWindow's order: prepare,
// check, close, timers); 15: not summed. Four bits per phase code in one constant, so that a
// marker reads no table from memory.
constexpr uint64_t SliceTable() {
  uint64_t table = ~uint64_t{0};  // 15 for every phase code
  const Phase opens[4] = {kPhasePrepare, kPhaseCheck, kPhaseClose, kPhaseTimers};
  for (unsigned slice = 0; slice < 4; slice++) {
    unsigned shift = opens[slice] * 4;
    table = (table & ~(uint64_t{15} << shift)) | (uint64_t{slice} << shift);
  }
  return table;
}
constexpr uint64_t kSliceTable = SliceTable();
constexpr unsigned SliceOf(unsigned phase) { return static_cast<unsigned>(kSliceTable >> ((phase & 15) * 4)) & 15; }
static_assert(SliceOf(kPhasePrepare) == 0 && SliceOf(kPhaseCheck) == 1 && SliceOf(kPhaseClose) == 2 && SliceOf(kPhaseTimers) == 3 && SliceOf(kPhaseIdle) == 15);

}  // namespace

ObserverCore::ObserverCore(AddonData* data, size_t traceCapacity, uint64_t blockThresholdNs)
    : loop_(data->loop), idleTime_(data->loop), blockThresholdNs_(blockThresholdNs), trace_(traceCapacity), data_(data) {
  live::observerCores.fetch_add(1, std::memory_order_relaxed);
  uv_prepare_init(loop_, &prepare_);
  uv_check_init(loop_, &check_);
  uv_idle_init(loop_, &idle_);
  uv_timer_init(loop_, &timerMarker_);
  timerHeapReadable_ = LoopTimerHeap::Check(loop_, &timerMarker_);
  for (uv_handle_t* handle : {reinterpret_cast<uv_handle_t*>(&prepare_),
                              reinterpret_cast<uv_handle_t*>(&check_),
                              reinterpret_cast<uv_handle_t*>(&idle_),
                              reinterpret_cast<uv_handle_t*>(&timerMarker_)}) {
    handle->data = this;
    uv_unref(handle);  // an observer never keeps the process alive unless ref()'d
    openHandles_++;
  }
  Reset();  // an empty, stopped window until start()
}

void ObserverCore::BeginWindow(uint64_t nowNs) {
  windowStartNs_ = nowNs;
  windowEndNs_ = 0;
  idleAtStartNs_ = IdleTimeNs();
  LoopCounters counters = ReadLoopCounters(loop_);
  eventsAtStart_ = counters.events;
  eventsWaitingAtStart_ = counters.eventsWaiting;
  loopCountAtStart_ = counters.loopCount;
  iterations_ = 0;
  longIterations_ = 0;
  longestNs_ = longestPollWaitNs_ = longestPollWorkNs_ = longestOutsidePollNs_ = 0;
  longestEndedAtNs_ = 0;
  stagedIterations_ = stagedPolls_ = 0;
  iterationNs_.Reset();
  pollWaitNs_.Reset();
  pollWorkNs_.Reset();
  outsidePollNs_.Reset();
}

void ObserverCore::Start() {
  if (running_ || closing_) return;
  running_ = true;
  iteration_ = 0;
  idleReadAtCheck_ = false;
  lastPrepareNs_ = 0;
  lastCheckNs_ = 0;
  phase_ = kPhaseUnknown;
  BeginWindow(clock_.Now());
  uv_prepare_start(&prepare_, OnPrepare);
  uv_check_start(&check_, OnCheck);
  if (idleWanted_) uv_idle_start(&idle_, OnIdle);
  data_->SourceStarted(this);
}

UVSCOPE_ALWAYS_INLINE void ObserverCore::Beat(uint64_t nowNs, uint64_t idleNs, Phase phase) const {
  if (beating != nullptr) beating->Beat(nowNs, idleNs, phase);
}

void ObserverCore::Stop() {
  if (!running_) return;
  running_ = false;
  windowEndNs_ = clock_.Now();
  idleAtEndNs_ = IdleTimeNs();
  LoopCounters counters = ReadLoopCounters(loop_);
  eventsAtEnd_ = counters.events;
  eventsWaitingAtEnd_ = counters.eventsWaiting;
  loopCountAtEnd_ = counters.loopCount;
  uv_prepare_stop(&prepare_);
  uv_check_stop(&check_);
  uv_idle_stop(&idle_);
  uv_timer_stop(&timerMarker_);
  data_->SourceStopped(this);
}

void ObserverCore::Reset() {
  uint64_t now = clock_.Now();
  bool wasStopped = !running_;
  BeginWindow(now);
  if (wasStopped) {
    // A stopped observer's window is empty until it starts again.
    windowEndNs_ = now;
    idleAtEndNs_ = idleAtStartNs_;
    eventsAtEnd_ = eventsAtStart_;
    eventsWaitingAtEnd_ = eventsWaitingAtStart_;
    loopCountAtEnd_ = loopCountAtStart_;
  }
  trace_.Clear();
  lastMarkerNs_ = windowStartMarkerNs_ = 0;
  lastMarkerPhase_ = kPhaseUnknown;
  double numbers[kWindowFields];
  uint64_t times[2];
  TakeWindow(numbers, times);
  windowStartMarkerNs_ = 0;
}

void ObserverCore::Ref() {
  refed_ = true;
  uv_ref(reinterpret_cast<uv_handle_t*>(&prepare_));
}

void ObserverCore::Unref() {
  refed_ = false;
  uv_unref(reinterpret_cast<uv_handle_t*>(&prepare_));
}

void ObserverCore::SetIdle(bool on) {
  idleWanted_ = on;
  if (!running_) return;
  if (on) {
    uv_idle_start(&idle_, OnIdle);
  } else {
    uv_idle_stop(&idle_);
  }
}

void ObserverCore::SetMarkers(bool on) {
  markersWanted_ = on;
  if (!on) uv_timer_stop(&timerMarker_);
}

void ObserverCore::Close(std::function<void()> onClosed) {
  if (closing_) return;
  Stop();
  closing_ = true;
  sink_ = nullptr;
  onClosed_ = std::move(onClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), OnHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&check_), OnHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_), OnHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&timerMarker_), OnHandleClosed);
}

void ObserverCore::OnHandleClosed(uv_handle_t* handle) {
  auto* self = static_cast<ObserverCore*>(handle->data);
  if (--self->openHandles_ > 0) return;
  std::function<void()> onClosed = std::move(self->onClosed_);
  delete self;
  live::observerCores.fetch_sub(1, std::memory_order_relaxed);
  if (onClosed) onClosed();
}

UVSCOPE_ALWAYS_INLINE void ObserverCore::Emit(Phase phase, uint64_t timeNs, uint64_t iteration, uint64_t pollWaitNs) {
  if (trace_.capacity() != 0) {
    trace_.Push(TraceRing::Entry{timeNs, iteration, pollWaitNs, phase});
    // The window: the slice since the previous marker, by the phase that marker opened.
    unsigned at = SliceOf(lastMarkerPhase_);
    if (at < 4 && lastMarkerNs_ != 0 && timeNs >= lastMarkerNs_) windowSliceNs_[at] += timeNs - lastMarkerNs_;
    if (windowStartMarkerNs_ == 0) windowStartMarkerNs_ = timeNs;
    lastMarkerNs_ = timeNs;
    lastMarkerPhase_ = phase;
    windowPollWaitNs_ += pollWaitNs;  // 0 but for check markers
  }
  if ((eventMask_ & Bit(phase)) && sink_ != nullptr) sink_->OnPhase(phase, timeNs, iteration);
}

void ObserverCore::OnPrepare(uv_prepare_t* handle) {
  auto* self = static_cast<ObserverCore*>(handle->data);
  uint64_t now = self->clock_.Now();
  if (self->lastPrepareNs_ != 0) {
    // The previous iteration is complete: prepare to prepare.
    uint64_t iterationNs = now - self->lastPrepareNs_;
    bool checked = self->lastCheckNs_ > self->lastPrepareNs_;
    uint64_t outsidePollNs = checked ? now - self->lastCheckNs_ : 0;
    uint64_t pollWaitNs = checked ? self->lastPollWaitNs_ : 0;
    self->iterations_++;
    StagedDurations& staged = self->staged_[self->stagedIterations_];
    staged.iterationNs = iterationNs;
    staged.outsidePollNs = outsidePollNs;
    if (iterationNs > self->windowLongestNs_) self->windowLongestNs_ = iterationNs;
    if (iterationNs - pollWaitNs > self->windowLongestBusyNs_) self->windowLongestBusyNs_ = iterationNs - pollWaitNs;
    if (++self->stagedIterations_ == kStaged) self->FlushStaged();
    // Long means busy: the time spent waiting for I/O in poll is not blocking anyone.
    if (iterationNs - pollWaitNs > self->blockThresholdNs_) {
      self->longIterations_++;
      self->windowLongIterations_++;
      if (iterationNs > self->longestNs_) {
        self->longestNs_ = iterationNs;
        self->longestPollWaitNs_ = self->lastPollWaitNs_;
        self->longestPollWorkNs_ = self->lastPollWorkNs_;
        self->longestOutsidePollNs_ = outsidePollNs;
        self->longestEndedAtNs_ = now;
      }
      if ((self->eventMask_ & Bit(kEventLongIteration)) && self->sink_ != nullptr) {
        self->sink_->OnLongIteration({self->iteration_, iterationNs, self->lastPollWaitNs_, self->lastPollWorkNs_,
                                      outsidePollNs, now});
      }
    }
  }
  self->lastPrepareNs_ = now;
  // libuv's idle time only grows inside poll, so the reading taken at the previous check is
  // still current here: one read per iteration instead of two.
  if (!self->idleReadAtCheck_) self->idleAtPrepareNs_ = self->IdleTimeNs();
  self->iteration_++;
  self->windowIterations_++;
  self->phase_ = kPhasePoll;  // prepare callbacks run right before poll
  self->Beat(now, self->idleAtPrepareNs_, kPhasePoll);
  if (self->trace_.capacity() || (self->eventMask_ & Bit(kPhasePrepare))) {
    self->Emit(kPhasePrepare, now, self->iteration_);
  }
}

void ObserverCore::OnCheck(uv_check_t* handle) {
  auto* self = static_cast<ObserverCore*>(handle->data);
  uint64_t now = self->clock_.Now();
  uint64_t pollWaitNs = 0;
  if (self->lastPrepareNs_ != 0) {
    uint64_t pollNs = now - self->lastPrepareNs_;
    uint64_t idle = self->IdleTimeNs();
    if ((self->iteration_ & 255) == 0) self->idleTime_.Verify();  // found yet? still right?
    uint64_t waitNs = idle > self->idleAtPrepareNs_ ? idle - self->idleAtPrepareNs_ : 0;
    if (waitNs > pollNs) waitNs = pollNs;  // libuv read the same clock a moment apart
    self->lastPollWaitNs_ = waitNs;
    pollWaitNs = waitNs;
    self->lastPollWorkNs_ = pollNs - waitNs;
    StagedDurations& staged = self->staged_[self->stagedPolls_];
    staged.pollWaitNs = waitNs;
    staged.pollWorkNs = pollNs - waitNs;
    if (++self->stagedPolls_ == kStaged) self->FlushStaged();
    self->idleAtPrepareNs_ = idle;  // baseline for the next poll
    self->idleReadAtCheck_ = true;
  }
  self->lastCheckNs_ = now;
  self->phase_ = kPhaseCheck;
  self->Beat(now, self->idleReadAtCheck_ ? self->idleAtPrepareNs_ : self->IdleTimeNs(), kPhaseCheck);
  if (self->markersWanted_) self->ArmMarkers();
  if (self->trace_.capacity() || (self->eventMask_ & Bit(kPhaseCheck))) {
    self->Emit(kPhaseCheck, now, self->iteration_, pollWaitNs);
  }
}

void ObserverCore::ArmMarkers() {
  // Close: a handle closed now has its close callback run in this iteration's closing
  // phase, after handles closed later in this check phase (the closing list is LIFO). That
  // callback arms the timers marker (OnCloseMarker).
  if (!closeMarkerInFlight_) {
    uv_idle_init(loop_, &closeMarker_);
    closeMarker_.data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(&closeMarker_));
    closeMarkerInFlight_ = true;
    openHandles_++;
    uv_close(reinterpret_cast<uv_handle_t*>(&closeMarker_), OnCloseMarker);
  } else {
    ArmTimerMarker();
  }
}

void ObserverCore::ArmTimerMarker() {
  // Timers: a 0 ms timer fires in this iteration's timers phase (libuv >= 1.45 runs timers
  // at the end of the iteration), after JS timers that were already due (libuv runs timers by
  // due time, then by start order). Timers that fall due after this, while the rest of the
  // close callbacks run, are due later than the marker: OnTimerMarker steps behind them.
  timerMarkerArmedMs_ = uv_now(loop_);
  timerMarkerRearmed_ = false;
  uv_timer_start(&timerMarker_, OnTimerMarker, 0, 0);
}

void ObserverCore::OnTimerMarker(uv_timer_t* handle) {
  auto* self = static_cast<ObserverCore*>(handle->data);
  // libuv updated the loop's time before this timers phase. If it moved past the time the
  // marker was armed at, timers due in between may still be waiting behind the marker (they
  // run in this same phase). Re-armed at 0 ms now, the marker is due at the loop's current
  // time with the newest start order: libuv runs every timer already due before it, in this
  // same phase. One step per iteration: the second firing emits.
  // From libuv 1.48 a timer started in the timers phase waits for the next iteration, where
  // the next check would re-arm it first: the iteration would have no timers marker at all.
  // There the marker emits at its first firing (a late JS timer then runs after it).
  static const bool rearmRunsInSamePass = uv_version() < ((1 << 16) | (48 << 8));
  if (rearmRunsInSamePass && !self->timerMarkerRearmed_ &&
      uv_now(self->loop_) > self->timerMarkerArmedMs_) {
    self->timerMarkerRearmed_ = true;
    uv_timer_start(&self->timerMarker_, OnTimerMarker, 0, 0);
    return;
  }
  uint64_t now = self->clock_.Now();
  self->phase_ = kPhaseTimers;
  self->Beat(now, self->idleAtPrepareNs_, kPhaseTimers);  // read at this iteration's check
  self->Emit(kPhaseTimers, now, self->iteration_);
}

void ObserverCore::OnCloseMarker(uv_handle_t* handle) {
  auto* self = static_cast<ObserverCore*>(handle->data);
  self->closeMarkerInFlight_ = false;
  if (self->closing_) {
    OnHandleClosed(handle);
    return;
  }
  self->openHandles_--;
  if (!self->running_) return;
  uint64_t now = self->clock_.Now();
  // The timers phase comes next, after the close callbacks of handles closed before the
  // check phase and the loop's time update: it runs the timers due by then. When the
  // earliest is due later than kTimerMarginMs from now, it runs none, and its marker is this
  // moment (a timer, a callback and a clock read fewer per iteration). Close callbacks that
  // run after this one for longer than the margin could let a timer fall due unmarked: its
  // time then reads as pending (docs/loop-observer.md).
  constexpr uint64_t kTimerMarginMs = 2;
  bool noTimerDue = self->markersWanted_ && self->timerHeapReadable_ &&
                    LoopTimerHeap::EarliestDueMs(self->loop_) > now / 1000000 + kTimerMarginMs;
  if (!noTimerDue) {
    self->phase_ = kPhaseClose;
    self->Beat(now, self->idleAtPrepareNs_, kPhaseClose);  // read at this iteration's check
    self->Emit(kPhaseClose, now, self->iteration_);
    if (self->markersWanted_) self->ArmTimerMarker();
    return;
  }
  self->phase_ = kPhaseTimers;
  self->Beat(now, self->idleAtPrepareNs_, kPhaseTimers);  // one beat for both markers
  self->Emit(kPhaseClose, now, self->iteration_);
  self->Emit(kPhaseTimers, now, self->iteration_);
}

void ObserverCore::OnIdle(uv_idle_t* handle) {
  auto* self = static_cast<ObserverCore*>(handle->data);
  uint64_t now = self->clock_.Now();
  self->phase_ = kPhaseIdle;
  // Idle handles run before prepare: the event belongs to the iteration about to start.
  self->Emit(kPhaseIdle, now, self->iteration_ + 1);
}

void ObserverCore::FlushStaged() {
  for (int i = 0; i < stagedIterations_; i++) {
    iterationNs_.Record(staged_[i].iterationNs);
    outsidePollNs_.Record(staged_[i].outsidePollNs);
  }
  for (int i = 0; i < stagedPolls_; i++) {
    pollWaitNs_.Record(staged_[i].pollWaitNs);
    pollWorkNs_.Record(staged_[i].pollWorkNs);
  }
  stagedIterations_ = stagedPolls_ = 0;
}

void ObserverCore::Snapshot(double* numbers, uint64_t* times) {
  FlushStaged();
  uint64_t endNs, idleEnd, events, eventsWaiting, loopCount;
  LoopCounters counters;
  if (running_) {
    endNs = clock_.Now();
    idleEnd = IdleTimeNs();
    counters = ReadLoopCounters(loop_);
    events = counters.events;
    eventsWaiting = counters.eventsWaiting;
    loopCount = counters.loopCount;
  } else {
    endNs = windowEndNs_;
    idleEnd = idleAtEndNs_;
    counters = ReadLoopCounters(loop_);  // only for `available`
    events = eventsAtEnd_;
    eventsWaiting = eventsWaitingAtEnd_;
    loopCount = loopCountAtEnd_;
  }
  int at = 0;
  for (const Histogram* histogram : {&iterationNs_, &pollWaitNs_, &pollWorkNs_, &outsidePollNs_}) {
    histogram->Summarize(numbers + at);
    at += Histogram::kSummaryFields;
  }
  uint64_t windowNs = endNs > windowStartNs_ ? endNs - windowStartNs_ : 0;
  uint64_t idleNs = idleEnd > idleAtStartNs_ ? idleEnd - idleAtStartNs_ : 0;
  if (idleNs > windowNs) idleNs = windowNs;
  numbers[at++] = static_cast<double>(iterations_);
  numbers[at++] = static_cast<double>(windowNs);
  numbers[at++] = static_cast<double>(idleNs);
  numbers[at++] = counters.available ? 1 : 0;
  numbers[at++] = static_cast<double>(events - eventsAtStart_);
  numbers[at++] = static_cast<double>(eventsWaiting - eventsWaitingAtStart_);
  numbers[at++] = static_cast<double>(loopCount - loopCountAtStart_);
  numbers[at++] = static_cast<double>(longIterations_);
  numbers[at++] = static_cast<double>(longestNs_);
  numbers[at++] = static_cast<double>(longestPollWaitNs_);
  numbers[at++] = static_cast<double>(longestPollWorkNs_);
  numbers[at++] = static_cast<double>(longestOutsidePollNs_);
  times[0] = windowStartNs_;
  times[1] = endNs;
  times[2] = longestEndedAtNs_;
}

int ObserverCore::WriteBuckets(int which, double* out, int capacity) {
  FlushStaged();
  const Histogram* histograms[kHistograms] = {&iterationNs_, &pollWaitNs_, &pollWorkNs_, &outsidePollNs_};
  if (which < 0 || which >= kHistograms) return -1;
  return histograms[which]->WriteBuckets(out, capacity);
}

void ObserverCore::TakeWindow(double* numbers, uint64_t* times) {
  for (int i = 0; i < 4; i++) numbers[i] = static_cast<double>(windowSliceNs_[i]);
  numbers[4] = static_cast<double>(windowPollWaitNs_);
  numbers[5] = static_cast<double>(windowIterations_);
  numbers[6] = static_cast<double>(windowLongestNs_);
  numbers[7] = static_cast<double>(windowLongestBusyNs_);
  numbers[8] = static_cast<double>(windowLongIterations_);
  times[0] = windowStartMarkerNs_;
  times[1] = lastMarkerNs_;
  for (uint64_t& ns : windowSliceNs_) ns = 0;
  windowPollWaitNs_ = windowIterations_ = windowLongestNs_ = windowLongestBusyNs_ = windowLongIterations_ = 0;
  windowStartMarkerNs_ = lastMarkerNs_;
}

}  // namespace uvscope
