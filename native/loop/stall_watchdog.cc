// StallWatchdog: see stall_watchdog.h.
#include "stall_watchdog.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <new>
#include <system_error>

#include "../clock.h"
#include "../js_callback.h"
#include "../json_text.h"
#include "../live_counts.h"
#include "live_reports.h"
#include "stall_report_json.h"

namespace uvscope {

const char* PhaseName(uint8_t phase) {
  switch (phase) {
    case kPhaseTimers: return "timers";
    case kPhasePending: return "pending";
    case kPhaseIdle: return "idle";
    case kPhasePrepare: return "prepare";
    case kPhasePoll: return "poll";
    case kPhaseCheck: return "check";
    case kPhaseClose: return "close";
    case kPhaseStartup: return "startup";
    default: return "unknown";
  }
}

namespace {

// Frames asked of the stack addon: more than a report keeps, so that the outermost frames,
// which tell timers from setImmediate callbacks, are there even on a deep stack.
constexpr uint32_t kCaptureFrames = 256;

// While report lines wait for room in their destination, the watchdog thread tries again after
// this long, doubling up to the max (reset when a line gets through).
constexpr uint64_t kFirstRetryNs = 5000000;   // 5 ms
constexpr uint64_t kMaxRetryNs = 500000000;   // 500 ms

// While its loop thread's CPU clock can be read, the watchdog looks at least this often, so
// that every busy stretch has a CPU sample before it becomes a stall (thread_cpu.h).
constexpr uint64_t kCpuSampleNs = 50000000;  // 50 ms
// Busy time that may grow between two looks of a loop still said to be waiting (a look reads
// the heartbeat, the clock and libuv's idle time one after the other).
constexpr uint64_t kWaitSlackNs = 200000;  // 0.2 ms

// A `stackUnavailable` text in a line that had to be shortened keeps this many bytes.
constexpr size_t kShortTextBytes = 512;

std::atomic<uint32_t> threadStartsToFail{0};


// Where the outermost JavaScript frames say the loop is: Node runs every JS timer from
// processTimers (node:internal/timers) and every setImmediate callback from processImmediate.
uint8_t PhaseFromStack(const std::vector<CapturedFrame>& frames, uint8_t markerPhase) {
  for (auto frame = frames.rbegin(); frame != frames.rend(); ++frame) {
    if (frame->url != "node:internal/timers") continue;
    if (frame->functionName == "processTimers" || frame->functionName == "listOnTimeout") return kPhaseTimers;
    if (frame->functionName == "processImmediate") return kPhaseCheck;
  }
  return markerPhase;
}

// Where a stall is, from the last marker before it. After the close marker the loop runs the
// rest of the close callbacks and then the JS timers that were already due (they run before
// uvscope's 0 ms timer marker): mostly timers. After the timer marker: later timers, then the
// next iteration's pending callbacks. The same reading as uvscope trace's slices.
uint8_t PhaseAfterMarker(uint8_t markerPhase) {
  switch (markerPhase) {
    case kPhaseClose: return kPhaseTimers;
    case kPhaseTimers: return kPhasePending;
    default: return markerPhase;
  }
}

// The watchdog thread takes no process signals, and a write to a pipe without a reader or past
// RLIMIT_FSIZE fails with EPIPE or EFBIG instead of killing the process (those two signals go
// to the writing thread; Node ignores them, an embedder may not). Blocked signals are never
// delivered to this thread; pending ones are discarded with it.
void BlockSignalsOfWrites() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
#ifdef SIGXFSZ
  sigaddset(&set, SIGXFSZ);
#endif
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

}  // namespace

void StallWatchdogCore::FailThreadStarts(uint32_t count) { threadStartsToFail.store(count); }

StallWatchdogCore::StallWatchdogCore(AddonData* data, WatchdogConfig config, uvscope_stack_provider* provider,
                                     std::unique_ptr<ReportSink> sink)
    : data_(data),
      heartbeat_(data->Heartbeat()),
      loop_(data->loop),
      config_(std::move(config)),
      provider_(provider),
      sink_(std::move(sink)),
      capture_(std::make_shared<CaptureSlot>()),
      pid_(static_cast<int>(getpid())) {
  live::watchdogs.fetch_add(1, std::memory_order_relaxed);
  if (config_.attribution) capture_->requests = data->requests;
  if (provider_ != nullptr) provider_->retain(provider_);
  uv_async_init(loop_, &async_, OnAsync);
  async_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&async_));
}

int StallWatchdogCore::Start() {
  if (running_ || closing_) return 0;
  running_ = true;
  stallEnd_.open.store(false, std::memory_order_relaxed);
  heartbeat_->Watch(&stallEnd_);
  loopCpu_.TakeCurrentThread();
  stretchCpu_ = StretchCpu();
  lookedBefore_ = false;
  // The watch starts now: time spent before start() is nobody's stall.
  heartbeat_->BeatNow(heartbeat_->PhaseOutsideMarkers());
  stopping_ = false;
  live::watchdogThreads.fetch_add(1, std::memory_order_relaxed);
  int error = 0;
  try {
    uint32_t toFail = threadStartsToFail.load();
    while (toFail > 0 && !threadStartsToFail.compare_exchange_weak(toFail, toFail - 1)) {
    }
    if (toFail > 0) throw std::system_error(EAGAIN, std::generic_category(), "test hook");
    thread_ = std::thread([this] {
#if defined(__APPLE__)
      pthread_setname_np("uvscope-wdog");  // macOS names only the calling thread
#else
      pthread_setname_np(pthread_self(), "uvscope-wdog");  // as `top -H` and /proc/<pid>/task show it
#endif
      BlockSignalsOfWrites();
      Run();
      live::watchdogThreads.fetch_sub(1, std::memory_order_relaxed);
    });
  } catch (const std::system_error& failure) {
    error = failure.code().value() != 0 ? failure.code().value() : EAGAIN;
  } catch (const std::bad_alloc&) {
    error = ENOMEM;
  }
  if (error != 0) {
    // Nothing of this start is kept: not running, not watching.
    live::watchdogThreads.fetch_sub(1, std::memory_order_relaxed);
    running_ = false;
    heartbeat_->Unwatch(&stallEnd_);
  }
  return error;
}

void StallWatchdogCore::StopThread() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StallWatchdogCore::Stop() {
  if (!running_) return;
  running_ = false;
  StopThread();
  heartbeat_->Unwatch(&stallEnd_);
  std::lock_guard<std::mutex> lock(mutex_);
  // Stopped from inside a stall (the blocking code itself called stop()): it ends here.
  if (stallOpen_) {
    Finish(NowNs());
    uv_async_send(&async_);
  }
}

void StallWatchdogCore::JoinForExit() {
  if (!running_) return;
  StopThread();
}

void StallWatchdogCore::Close(std::function<void()> onClosed) {
  if (closing_) return;
  if (running_) {
    running_ = false;
    StopThread();
    heartbeat_->Unwatch(&stallEnd_);
  }
  if (sink_) sink_->Close();  // what could not be written is dropped (counted) here
  closing_ = true;
  owner_ = nullptr;
  onClosed_ = std::move(onClosed);
  {
    std::lock_guard<std::mutex> lock(capture_->mutex);
    if (capture_->state == CaptureSlot::kPending) capture_->state = CaptureSlot::kAbandoned;
  }
  if (provider_ != nullptr) provider_->release(provider_);
  provider_ = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), [](uv_handle_t* handle) {
    auto* self = static_cast<StallWatchdogCore*>(handle->data);
    std::function<void()> onClosed = std::move(self->onClosed_);
    delete self;
    live::watchdogs.fetch_sub(1, std::memory_order_relaxed);
    if (onClosed) onClosed();
  });
}

void StallWatchdogCore::Ref() { uv_ref(reinterpret_cast<uv_handle_t*>(&async_)); }
void StallWatchdogCore::Unref() { uv_unref(reinterpret_cast<uv_handle_t*>(&async_)); }

StallWatchdogCore::Counts StallWatchdogCore::Stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  return {stalls_, longestNs_, totalNs_, reports_, sink_ ? sink_->written() : 0, sink_ ? sink_->dropped() : 0};
}

// The watchdog thread. It sleeps until the earliest moment the loop could have been busy for
// the threshold (busy time grows no faster than the clock), so an idle loop costs one wake-up
// per threshold and a stall is seen within the wake-up latency of its threshold. Report lines
// are written with the mutex released, without waiting for the destination: lines it has no
// room for wait in the sink and are tried again a few ms later.
void StallWatchdogCore::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    try {
      Look(lock);
      if (sink_ && sink_->pending()) {
        uint64_t doneBefore = sink_->written() + sink_->dropped();
        lock.unlock();
        bool waiting = sink_->Flush();
        lock.lock();
        if (waiting) {
          // Lines got through: the reader keeps up again, try soon; none: back off.
          bool progress = sink_->written() + sink_->dropped() != doneBefore;
          retryNs_ = progress || retryNs_ == 0 ? kFirstRetryNs : std::min(retryNs_ * 2, kMaxRetryNs);
          waitNs_ = std::min(waitNs_, retryNs_);
        }
      }
    } catch (const std::exception&) {
      // Out of memory while building a report: this look is lost, the next one may do better.
      if (!lock.owns_lock()) lock.lock();
      if (reportInFlight_ != 0) {
        reportInFlight_ = 0;
        uv_async_send(&async_);  // a stall held back for that report goes out without it
      }
      waitNs_ = config_.thresholdNs;
    }
    // stop() or the end of a stall may have come while the mutex was released: they notified
    // nobody then, their flags say it.
    wake_.wait_for(lock, std::chrono::nanoseconds(std::max<uint64_t>(waitNs_, 100000)),
                   [this] { return stopping_ || lookAgain_; });
    lookAgain_ = false;
  }
  lock.unlock();
  // A last try for what waits (without waiting): the rest is kept for a later start(), or
  // dropped and counted at close().
  if (sink_ && sink_->pending()) {
    try {
      sink_->Flush();
    } catch (const std::exception&) {
    }
  }
}

void StallWatchdogCore::Look(std::unique_lock<std::mutex>& lock) {
  HeartbeatReading beat = heartbeat_->Read();
  uint64_t now = NowNs();
  uint64_t idle = uv_metrics_idle_time(loop_);  // thread-safe: libuv locks the loop's metrics
  uint64_t sinceBeatNs = now > beat.beatNs ? now - beat.beatNs : 0;
  uint64_t idleSinceNs = idle > beat.idleNs ? idle - beat.idleNs : 0;
  if (idleSinceNs > sinceBeatNs) idleSinceNs = sinceBeatNs;
  uint64_t busyNs = sinceBeatNs - idleSinceNs;
  // Poll waits first and then runs callbacks, so the busy stretch began when the waiting ended.
  const uint64_t stretchStartNs = beat.beatNs + idleSinceNs;
  // Waiting for I/O since the previous look: the same heartbeat, and all time since was idle
  // (libuv's idle time counts the wait in progress), so the busy time has not grown.
  const bool waiting = lookedBefore_ && beat.seq == lastLookSeq_ && busyNs <= lastLookBusyNs_ + kWaitSlackNs;
  lookedBefore_ = true;
  lastLookSeq_ = beat.seq;
  lastLookBusyNs_ = busyNs;
  uint64_t cpuNs;
  if (loopCpu_.Read(&cpuNs)) stretchCpu_.Sample(beat.seq, stretchStartNs, now, cpuNs, waiting);

  if (stallOpen_ && beat.seq != stall_.seq) {
    // The loop beat again: the stall ended at the first beat after it was seen.
    uint64_t endNs = LoopHeartbeat::StallEndNs(stallEnd_);
    Finish(endNs != 0 ? endNs : beat.beatNs);
    uv_async_send(&async_);
  }
  if (!stallOpen_) {
    if (busyNs >= config_.thresholdNs) {
      stallOpen_ = true;
      stall_ = StallRecord();
      stall_.number = ++stalls_;
      stall_.seq = beat.seq;
      stall_.startedAtNs = stretchStartNs;
      stall_.phase = PhaseAfterMarker(beat.phase);
      stall_.iteration = beat.iteration;
      heartbeat_->MarkStallOpen(stallEnd_);
      Report(now, lock);
      nextReportNs_ = now + config_.repeatNs;
      uv_async_send(&async_);  // runs once the loop turns: emits the 'stall' event
      // The next report, and the end of the stall at least every threshold: a next stall may
      // begin right after this one, before the loop thread could say this one ended.
      waitNs_ = config_.repeatNs ? std::min(config_.repeatNs, config_.thresholdNs) : config_.thresholdNs;
    } else {
      waitNs_ = config_.thresholdNs - busyNs;
    }
  } else if (config_.repeatNs != 0 && now >= nextReportNs_) {
    Report(now, lock);
    nextReportNs_ += config_.repeatNs;
    if (nextReportNs_ <= now) nextReportNs_ = now + config_.repeatNs;
    waitNs_ = nextReportNs_ - now;
  } else {
    // Look again for the end of the stall at least every threshold.
    waitNs_ = config_.repeatNs ? std::min(nextReportNs_ - now, config_.thresholdNs) : config_.thresholdNs;
  }
  // A CPU sample inside every busy stretch before it reaches the threshold, so that the first
  // report can say how much of it was on a CPU. A loop that waits has one for the stretch that
  // follows its wait: no need to look sooner than the threshold asks.
  if (loopCpu_.available() && !waiting) waitNs_ = std::min(waitNs_, std::min(config_.thresholdNs / 2, kCpuSampleNs));
}

// One report of the open stall. Its number is taken under the mutex; the stack request and
// its wait (up to kCaptureWaitNs), the lines and their queueing happen with the mutex released,
// so that the loop thread (stats(), the end of the stall) never waits for them. The report then
// joins its stall's record, which the loop thread may have finished meanwhile: Deliver() holds
// that record back until it has.
void StallWatchdogCore::Report(uint64_t nowNs, std::unique_lock<std::mutex>& lock) {
  StallReport report;
  report.atNs = nowNs;
  report.elapsedNs = nowNs - stall_.startedAtNs;
  report.phase = stall_.phase;
  report.iteration = stall_.iteration;
  uint64_t cpuNowNs;
  if (loopCpu_.Read(&cpuNowNs)) report.hasCpu = stretchCpu_.Since(stall_.seq, stall_.startedAtNs, nowNs, cpuNowNs, &report.cpuNs);
  const uint64_t number = stall_.number;
  const uint64_t startedAtNs = stall_.startedAtNs;
  const uint64_t reportNumber = ++stall_.reportCount;
  reports_++;
  reportInFlight_ = number;
  lock.unlock();

  LateStack late;
  if (config_.stacks || config_.attribution) {
    if (provider_ == nullptr) {
      if (config_.stacks) report.stackUnavailable = config_.stackUnavailable;
    } else if (CaptureStack(report, late) && config_.stacks) {
      report.phase = PhaseFromStack(report.stack, report.phase);
      if (report.stack.size() > config_.maxFrames) report.stack.resize(config_.maxFrames);
    }
  }
  std::string line = ReportLine(number, reportNumber, startedAtNs, report, SIZE_MAX);
  if (sink_ && sink_->enabled()) {
    // A pipe shared by several writers takes a line of at most PIPE_BUF bytes whole.
    size_t limit = sink_->LineLimit();
    sink_->Push(line.size() <= limit ? line : ReportLine(number, reportNumber, startedAtNs, report, limit));
  }
  live_reports::Publish(line);

  lock.lock();
  reportInFlight_ = 0;
  StallRecord* stall = nullptr;
  if (stallOpen_ && stall_.number == number) {
    stall = &stall_;
  } else {
    for (StallRecord& finished : finished_) {
      if (finished.number == number) stall = &finished;
    }
    uv_async_send(&async_);  // Deliver() held it back for this report
  }
  if (stall == nullptr) return;
  if (late.taken && (stallOpen_ && stall == &stall_ ? true : late.capturedAtNs <= stall->endedAtNs)) {
    AttachLateStack(*stall, std::move(late.frames), late.capturedAtNs, std::move(late.attribution));
  }
  if (reportNumber == 1 && report.hasStack) stall->phase = report.phase;
  if (stall->reports.size() < kMaxKeptReports) stall->reports.push_back(std::move(report));
}

// Asks the stack addon for the blocked thread's stack and waits up to kCaptureWaitNs (the state
// mutex is not held). A thread inside a native call serves the interrupt only when the call
// returns: the report then says inNative, and the stack taken on return goes on the stall as
// its late stack (`late`, when the next report finds it).
bool StallWatchdogCore::CaptureStack(StallReport& report, LateStack& late) {
  std::unique_lock<std::mutex> lock(capture_->mutex);
  if (capture_->state == CaptureSlot::kDone) {  // a late stack from this stall's last request
    late.taken = true;
    late.capturedAtNs = capture_->capturedAtNs;
    late.frames = std::move(capture_->frames);
    late.attribution = std::move(capture_->attribution);
    capture_->frames.clear();
    capture_->state = CaptureSlot::kIdle;
  }
  if (capture_->state != CaptureSlot::kIdle) {
    report.inNative = true;
    return false;
  }
  capture_->state = CaptureSlot::kPending;
  uint64_t requestedAtNs = NowNs();
  auto* user = new std::shared_ptr<CaptureSlot>(capture_);
  const uint32_t frames = config_.stacks ? std::max(kCaptureFrames, config_.maxFrames) : 0;
  int queued = provider_->request(provider_, frames, OnStackDone, user);
  if (queued != UVSCOPE_STACK_QUEUED) {
    delete user;
    capture_->state = CaptureSlot::kIdle;
    if (queued == UVSCOPE_STACK_BUSY) {
      report.inNative = true;  // another watchdog's request on this thread is still unanswered
    } else {
      report.stackUnavailable = "the thread's environment is shutting down";
    }
    return false;
  }
  // Until the stack is taken, or the stall is over (Finish() abandons the request).
  capture_->done.wait_for(lock, std::chrono::nanoseconds(kCaptureWaitNs),
                          [this] { return capture_->state != CaptureSlot::kPending; });
  if (capture_->state != CaptureSlot::kDone) {
    report.inNative = true;
    return false;
  }
  report.hasStack = config_.stacks;
  report.stackCaptureNs = capture_->capturedAtNs > requestedAtNs ? capture_->capturedAtNs - requestedAtNs : 0;
  report.stack = std::move(capture_->frames);
  report.attribution = std::move(capture_->attribution);
  capture_->frames.clear();
  capture_->state = CaptureSlot::kIdle;
  return true;
}

// mutex_ held: a stack taken after its report gave up waiting, as the stall's late stack.
void StallWatchdogCore::AttachLateStack(StallRecord& stall, std::vector<CapturedFrame> frames, uint64_t capturedAtNs,
                                        Attribution attribution) {
  stall.hasLateStack = true;
  stall.lateStackAtNs = capturedAtNs;
  stall.lateStack = std::move(frames);
  stall.lateAttribution = std::move(attribution);
  if (stall.reports.empty() || !stall.reports.front().hasStack) {
    stall.phase = PhaseFromStack(stall.lateStack, stall.phase);
  }
  if (stall.lateStack.size() > config_.maxFrames) stall.lateStack.resize(config_.maxFrames);
}

// mutex_ and capture_->mutex held, as the stall ends: a capture that finished after its report
// gave up goes on the stall, if it was taken before the stall ended; one still pending is
// abandoned (it would belong to whatever runs next), which ends a report's wait for it.
void StallWatchdogCore::TakeLateStack(StallRecord& stall, uint64_t endNs) {
  if (capture_->state == CaptureSlot::kDone) {
    if (capture_->capturedAtNs <= endNs) {
      AttachLateStack(stall, std::move(capture_->frames), capture_->capturedAtNs, std::move(capture_->attribution));
    }
    capture_->frames.clear();
    capture_->state = CaptureSlot::kIdle;
  } else if (capture_->state == CaptureSlot::kPending) {
    capture_->state = CaptureSlot::kAbandoned;
    capture_->done.notify_all();
  }
}

void StallWatchdogCore::OnStackDone(void* user, int status, const uvscope_stack_frame* frames, uint32_t count,
                                    uint64_t capturedAtNs, const uvscope_stack_context* context) {
  auto* holder = static_cast<std::shared_ptr<CaptureSlot>*>(user);
  std::shared_ptr<CaptureSlot> slot = std::move(*holder);
  delete holder;
  std::lock_guard<std::mutex> lock(slot->mutex);
  if (slot->state != CaptureSlot::kPending || status != UVSCOPE_STACK_CAPTURED) {
    slot->state = CaptureSlot::kIdle;  // abandoned or cancelled: nobody wants it
    return;
  }
  slot->frames.clear();
  try {
    slot->frames.reserve(count);
    for (uint32_t i = 0; i < count; i++) {
      slot->frames.push_back({frames[i].function_name, frames[i].url, frames[i].line, frames[i].column});
    }
    // Resolved now, in the interrupt: the request is still in flight (the thread is blocked in it).
    slot->attribution = slot->requests && context != nullptr ? slot->requests->Attribute(*context) : Attribution();
  } catch (const std::exception&) {
    // Out of memory inside V8's interrupt: no stack (the report says inNative after its wait).
    slot->frames.clear();
    slot->state = CaptureSlot::kIdle;
    return;
  }
  slot->capturedAtNs = capturedAtNs;
  slot->state = CaptureSlot::kDone;
  slot->done.notify_all();
}

void StallWatchdogCore::Finish(uint64_t endNs) {
  stallOpen_ = false;
  if (endNs < stall_.startedAtNs) endNs = stall_.startedAtNs;
  stall_.endedAtNs = endNs;
  {
    std::lock_guard<std::mutex> lock(capture_->mutex);
    TakeLateStack(stall_, endNs);
  }
  uint64_t durationNs = endNs - stall_.startedAtNs;
  totalNs_ += durationNs;
  longestNs_ = std::max(longestNs_, durationNs);
  finished_.push_back(std::move(stall_));
  stall_ = StallRecord();
}

std::string StallWatchdogCore::ReportLine(uint64_t stallNumber, uint64_t reportNumber, uint64_t startedAtNs,
                                          const StallReport& report, size_t maxBytes) const {
  std::string head = "{\"type\":\"uvscope.stall.report\",\"time\":\"" + WallClockIso() +
                     "\",\"pid\":" + std::to_string(pid_) + ",\"threadId\":" +
                     std::to_string(static_cast<int64_t>(config_.threadId)) + ",\"stall\":" + std::to_string(stallNumber) +
                     ",\"report\":" + std::to_string(reportNumber) + ",\"startedAtNs\":\"" +
                     std::to_string(startedAtNs) + "\",\"thresholdNs\":" + std::to_string(config_.thresholdNs) + ",";
  std::string line = head;
  AppendReportFields(line, report);
  line += "}\n";
  if (line.size() <= maxBytes) return line;
  // Too long for its destination: the innermost frames that fit (they say where the loop is
  // blocked), the number left out, and a shortened stackUnavailable text.
  Shortening cut;
  cut.textBytes = kShortTextBytes;
  std::string bare = head;
  Shortening none;
  none.frames = 0;
  none.textBytes = kShortTextBytes;
  AppendReportFields(bare, report, none);
  // `,"framesOmitted":N` (at most 20 digits) and the closing brace and newline.
  size_t used = bare.size() + 40;
  size_t keep = 0;
  std::string frame;
  for (; keep < report.stack.size(); keep++) {
    frame.clear();
    AppendFrame(frame, report.stack[keep]);
    if (used + frame.size() + 1 > maxBytes) break;
    used += frame.size() + 1;
  }
  cut.frames = keep;
  line = head;
  AppendReportFields(line, report, cut);
  line += "}\n";
  return line;  // longer than maxBytes only when even no frame is too long: the sink drops it
}

std::string StallWatchdogCore::StallJson(const StallRecord& stall) const {
  std::string json = "{\"stall\":" + std::to_string(stall.number) + ",\"startedAtNs\":\"" +
                     std::to_string(stall.startedAtNs) + "\",\"durationNs\":" +
                     std::to_string(stall.endedAtNs - stall.startedAtNs) + ",\"phase\":\"" + PhaseName(stall.phase) +
                     "\",\"iteration\":" + std::to_string(stall.iteration) +
                     ",\"reportCount\":" + std::to_string(stall.reportCount) + ",\"reports\":[";
  for (size_t i = 0; i < stall.reports.size(); i++) {
    if (i) json += ',';
    json += '{';
    AppendReportFields(json, stall.reports[i]);
    json += '}';
  }
  json += ']';
  if (stall.hasLateStack) {
    json += ",\"lateStack\":{\"capturedAtNs\":\"" + std::to_string(stall.lateStackAtNs) + "\",\"frames\":";
    AppendFrames(json, stall.lateStack);
    AppendAttribution(json, stall.lateAttribution);
    json += '}';
  }
  json += '}';
  return json;
}

// Loop thread, once the loop turns after a stall was reported.
void StallWatchdogCore::OnAsync(uv_async_t* async) {
  auto* self = static_cast<StallWatchdogCore*>(async->data);
  try {
    bool ended = false;
    {
      std::lock_guard<std::mutex> lock(self->mutex_);
      if (self->stallOpen_) {
        // This callback runs on the loop thread, so whatever blocked it has returned, even
        // though no marker ran since (an I/O callback blocked earlier in this same poll phase).
        uint64_t endNs = LoopHeartbeat::StallEndNs(self->stallEnd_);
        self->Finish(endNs != 0 ? endNs : NowNs());
        self->heartbeat_->BeatNow();  // busy time counts afresh from here
        // The watchdog thread may sleep for a whole repeat interval: it looks again now, so
        // that the next stall is timed from here.
        self->lookAgain_ = true;
        ended = true;
      }
    }
    if (ended) self->wake_.notify_all();
    self->Deliver();
  } catch (const std::exception&) {
    // Out of memory building a 'stall' event: it is lost; nothing may be thrown into libuv.
  }
}

void StallWatchdogCore::Deliver() {
  std::deque<StallRecord> finished;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // A stall whose last report is still being made waits for it (its report sends again).
    while (!finished_.empty() && finished_.front().number != reportInFlight_) {
      finished.push_back(std::move(finished_.front()));
      finished_.pop_front();
    }
  }
  for (const StallRecord& stall : finished) {
    if (owner_ == nullptr || closing_) return;
    // The listener may close this watchdog (owner_ then null) or stop it: both checked above.
    owner_->EmitStall(StallJson(stall));
  }
}

}  // namespace uvscope
