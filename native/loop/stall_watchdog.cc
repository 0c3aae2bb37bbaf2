// StallWatchdog: see stall_watchdog.h.
#include "stall_watchdog.h"

#include <errno.h>
#include <pthread.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "../clock.h"
#include "../js_callback.h"
#include "../live_counts.h"
#include "../loop_observer.h"
#include "live_reports.h"

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

void AppendJsonString(std::string& out, const std::string& value) {
  out += '"';
  for (unsigned char c : value) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out += escaped;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void AppendFrames(std::string& out, const std::vector<CapturedFrame>& frames) {
  out += '[';
  for (size_t i = 0; i < frames.size(); i++) {
    if (i) out += ',';
    out += "{\"functionName\":";
    AppendJsonString(out, frames[i].functionName);
    out += ",\"url\":";
    AppendJsonString(out, frames[i].url);
    out += ",\"line\":" + std::to_string(frames[i].line) + ",\"column\":" + std::to_string(frames[i].column) + "}";
  }
  out += ']';
}

// The report's own fields, without braces.
void AppendReportFields(std::string& out, const StallReport& report) {
  out += "\"atNs\":\"" + std::to_string(report.atNs) + "\",\"elapsedNs\":" + std::to_string(report.elapsedNs) +
         ",\"phase\":\"" + PhaseName(report.phase) + "\",\"iteration\":" + std::to_string(report.iteration);
  if (report.hasStack) {
    out += ",\"stackCaptureNs\":" + std::to_string(report.stackCaptureNs) + ",\"stack\":";
    AppendFrames(out, report.stack);
  }
  if (report.inNative) out += ",\"inNative\":true";
  if (!report.stackUnavailable.empty()) {
    out += ",\"stackUnavailable\":";
    AppendJsonString(out, report.stackUnavailable);
  }
}

std::string WallClockIso() {
  struct timeval now;
  gettimeofday(&now, nullptr);
  struct tm utc;
  gmtime_r(&now.tv_sec, &utc);
  char text[40];
  size_t n = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + n, sizeof text - n, ".%03dZ", static_cast<int>(now.tv_usec / 1000));
  return text;
}

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

void WriteAll(int fd, const std::string& line) {
  const char* at = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t written = write(fd, at, left);
    if (written < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere to report a failing report file: the reports still reach listeners
    }
    at += written;
    left -= static_cast<size_t>(written);
  }
}

}  // namespace

StallWatchdogCore::StallWatchdogCore(AddonData* data, WatchdogConfig config, uvscope_stack_provider* provider)
    : data_(data),
      heartbeat_(data->Heartbeat()),
      loop_(data->loop),
      config_(std::move(config)),
      provider_(provider),
      capture_(std::make_shared<CaptureSlot>()),
      pid_(static_cast<int>(getpid())) {
  live::watchdogs.fetch_add(1, std::memory_order_relaxed);
  if (provider_ != nullptr) provider_->retain(provider_);
  uv_async_init(loop_, &async_, OnAsync);
  async_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&async_));
}

void StallWatchdogCore::Start() {
  if (running_ || closing_) return;
  running_ = true;
  heartbeat_->Watch();
  // The watch starts now: time spent before start() is nobody's stall.
  heartbeat_->BeatNow(heartbeat_->PhaseOutsideMarkers());
  stopping_ = false;
  live::watchdogThreads.fetch_add(1, std::memory_order_relaxed);
  thread_ = std::thread([this] {
#if defined(__APPLE__)
    pthread_setname_np("uvscope-wdog");  // macOS names only the calling thread
#else
    pthread_setname_np(pthread_self(), "uvscope-wdog");  // as `top -H` and /proc/<pid>/task show it
#endif
    Run();
    live::watchdogThreads.fetch_sub(1, std::memory_order_relaxed);
  });
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
  heartbeat_->Unwatch();
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
    heartbeat_->Unwatch();
  }
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
  return {stalls_, longestNs_, totalNs_, reports_};
}

// The watchdog thread. It sleeps until the earliest moment the loop could have been busy for
// the threshold (busy time grows no faster than the clock), so an idle loop costs one wake-up
// per threshold and a stall is seen within the wake-up latency of its threshold.
void StallWatchdogCore::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    HeartbeatReading beat = heartbeat_->Read();
    uint64_t now = NowNs();
    uint64_t idle = uv_metrics_idle_time(loop_);  // thread-safe: libuv locks the loop's metrics
    uint64_t sinceBeatNs = now > beat.beatNs ? now - beat.beatNs : 0;
    uint64_t idleSinceNs = idle > beat.idleNs ? idle - beat.idleNs : 0;
    if (idleSinceNs > sinceBeatNs) idleSinceNs = sinceBeatNs;
    uint64_t busyNs = sinceBeatNs - idleSinceNs;

    if (stallOpen_ && beat.seq != stall_.seq) {
      // The loop beat again: the stall ended at the first beat after it was seen.
      uint64_t endNs = heartbeat_->StallEndNs();
      Finish(endNs != 0 ? endNs : beat.beatNs);
      uv_async_send(&async_);
    }
    uint64_t waitNs;
    if (!stallOpen_) {
      if (busyNs >= config_.thresholdNs) {
        stallOpen_ = true;
        stall_ = StallRecord();
        stall_.number = ++stalls_;
        stall_.seq = beat.seq;
        // Poll waits first and then runs callbacks, so the busy stretch began when the
        // waiting ended.
        stall_.startedAtNs = beat.beatNs + idleSinceNs;
        stall_.phase = PhaseAfterMarker(beat.phase);
        stall_.iteration = beat.iteration;
        heartbeat_->MarkStallOpen();
        Report(now);
        nextReportNs_ = now + config_.repeatNs;
        uv_async_send(&async_);  // runs once the loop turns: emits the 'stall' event
        waitNs = config_.repeatNs ? config_.repeatNs : config_.thresholdNs;
      } else {
        waitNs = config_.thresholdNs - busyNs;
      }
    } else if (config_.repeatNs != 0 && now >= nextReportNs_) {
      Report(now);
      nextReportNs_ += config_.repeatNs;
      if (nextReportNs_ <= now) nextReportNs_ = now + config_.repeatNs;
      waitNs = nextReportNs_ - now;
    } else {
      // Look again for the end of the stall at least every threshold.
      waitNs = config_.repeatNs ? std::min(nextReportNs_ - now, config_.thresholdNs) : config_.thresholdNs;
    }
    if (waitNs < 100000) waitNs = 100000;
    wake_.wait_for(lock, std::chrono::nanoseconds(waitNs));
  }
}

void StallWatchdogCore::Report(uint64_t nowNs) {
  StallReport report;
  report.atNs = nowNs;
  report.elapsedNs = nowNs - stall_.startedAtNs;
  report.phase = stall_.phase;
  report.iteration = stall_.iteration;
  if (config_.stacks) {
    if (provider_ == nullptr) {
      report.stackUnavailable = config_.stackUnavailable;
    } else if (CaptureStack(report)) {
      report.phase = PhaseFromStack(report.stack, report.phase);
      if (report.stack.size() > config_.maxFrames) report.stack.resize(config_.maxFrames);
      if (stall_.reportCount == 0) stall_.phase = report.phase;
    }
  }
  stall_.reportCount++;
  reports_++;
  std::string line = ReportLine(stall_, report);
  if (config_.fd >= 0) WriteAll(config_.fd, line);
  live_reports::Publish(line);
  if (stall_.reports.size() < kMaxKeptReports) stall_.reports.push_back(std::move(report));
}

// Asks the stack addon for the blocked thread's stack and waits up to kCaptureWaitNs. A thread
// inside a native call serves the interrupt only when the call returns: the report then says
// inNative, and the stack taken on return goes on the stall as its late stack.
bool StallWatchdogCore::CaptureStack(StallReport& report) {
  std::unique_lock<std::mutex> lock(capture_->mutex);
  if (capture_->state == CaptureSlot::kDone) {  // a late stack from this stall's last request
    TakeLateStack(stall_, UINT64_MAX);
  }
  if (capture_->state != CaptureSlot::kIdle) {
    report.inNative = true;
    return false;
  }
  capture_->state = CaptureSlot::kPending;
  uint64_t requestedAtNs = NowNs();
  auto* user = new std::shared_ptr<CaptureSlot>(capture_);
  int queued = provider_->request(provider_, std::max(kCaptureFrames, config_.maxFrames), OnStackDone, user);
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
  bool done = capture_->done.wait_for(lock, std::chrono::nanoseconds(kCaptureWaitNs),
                                      [this] { return capture_->state == CaptureSlot::kDone; });
  if (!done) {
    report.inNative = true;
    return false;
  }
  report.hasStack = true;
  report.stackCaptureNs = capture_->capturedAtNs > requestedAtNs ? capture_->capturedAtNs - requestedAtNs : 0;
  report.stack = std::move(capture_->frames);
  capture_->frames.clear();
  capture_->state = CaptureSlot::kIdle;
  return true;
}

// capture_->mutex held: a capture that finished after its report gave up goes on the stall, if
// it was taken before the stall ended.
void StallWatchdogCore::TakeLateStack(StallRecord& stall, uint64_t endNs) {
  if (capture_->state == CaptureSlot::kDone) {
    if (capture_->capturedAtNs <= endNs) {
      stall.hasLateStack = true;
      stall.lateStackAtNs = capture_->capturedAtNs;
      stall.lateStack = std::move(capture_->frames);
      if (stall.reports.empty() || !stall.reports.front().hasStack) {
        stall.phase = PhaseFromStack(stall.lateStack, stall.phase);
      }
      if (stall.lateStack.size() > config_.maxFrames) stall.lateStack.resize(config_.maxFrames);
    }
    capture_->frames.clear();
    capture_->state = CaptureSlot::kIdle;
  } else if (capture_->state == CaptureSlot::kPending) {
    capture_->state = CaptureSlot::kAbandoned;  // it would belong to whatever runs next
  }
}

void StallWatchdogCore::OnStackDone(void* user, int status, const uvscope_stack_frame* frames, uint32_t count,
                                    uint64_t capturedAtNs) {
  auto* holder = static_cast<std::shared_ptr<CaptureSlot>*>(user);
  std::shared_ptr<CaptureSlot> slot = std::move(*holder);
  delete holder;
  std::lock_guard<std::mutex> lock(slot->mutex);
  if (slot->state != CaptureSlot::kPending || status != UVSCOPE_STACK_CAPTURED) {
    slot->state = CaptureSlot::kIdle;  // abandoned or cancelled: nobody wants it
    return;
  }
  slot->frames.clear();
  slot->frames.reserve(count);
  for (uint32_t i = 0; i < count; i++) {
    slot->frames.push_back({frames[i].function_name, frames[i].url, frames[i].line, frames[i].column});
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

std::string StallWatchdogCore::ReportLine(const StallRecord& stall, const StallReport& report) const {
  std::string line = "{\"type\":\"uvscope.stall.report\",\"time\":\"" + WallClockIso() +
                     "\",\"pid\":" + std::to_string(pid_) + ",\"threadId\":" +
                     std::to_string(static_cast<int64_t>(config_.threadId)) + ",\"stall\":" + std::to_string(stall.number) +
                     ",\"report\":" + std::to_string(stall.reportCount) + ",\"startedAtNs\":\"" +
                     std::to_string(stall.startedAtNs) + "\",\"thresholdNs\":" + std::to_string(config_.thresholdNs) + ",";
  AppendReportFields(line, report);
  line += "}\n";
  return line;
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
    json += '}';
  }
  json += '}';
  return json;
}

// Loop thread, once the loop turns after a stall was reported.
void StallWatchdogCore::OnAsync(uv_async_t* async) {
  auto* self = static_cast<StallWatchdogCore*>(async->data);
  {
    std::lock_guard<std::mutex> lock(self->mutex_);
    if (self->stallOpen_) {
      // This callback runs on the loop thread, so whatever blocked it has returned, even
      // though no marker ran since (an I/O callback blocked earlier in this same poll phase).
      uint64_t endNs = self->heartbeat_->StallEndNs();
      self->Finish(endNs != 0 ? endNs : NowNs());
      self->heartbeat_->BeatNow();  // busy time counts afresh from here
    }
  }
  self->Deliver();
}

void StallWatchdogCore::Deliver() {
  std::deque<StallRecord> finished;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    finished.swap(finished_);
  }
  for (const StallRecord& stall : finished) {
    if (owner_ == nullptr || closing_) return;
    owner_->EmitStall(StallJson(stall));
  }
}

// ---------------------------------------------------------------------------------------
// StallWatchdogWrap

void StallWatchdogWrap::Init(Napi::Env env, Napi::Object exports, AddonData* data) {
  Napi::Function ctor = DefineClass(env, "NativeStallWatchdog",
                                    {
                                        InstanceMethod<&StallWatchdogWrap::Start>("start"),
                                        InstanceMethod<&StallWatchdogWrap::Stop>("stop"),
                                        InstanceMethod<&StallWatchdogWrap::Close>("close"),
                                        InstanceMethod<&StallWatchdogWrap::Ref>("ref"),
                                        InstanceMethod<&StallWatchdogWrap::Unref>("unref"),
                                        InstanceMethod<&StallWatchdogWrap::Stats>("stats"),
                                    },
                                    data);
  exports.Set("NativeStallWatchdog", ctor);
}

// new NativeStallWatchdog(thresholdNs, repeatNs, stacks, fd, maxFrames, threadId, provider |
// undefined, stackUnavailable, emitter(json)): validated in TypeScript.
StallWatchdogWrap::StallWatchdogWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<StallWatchdogWrap>(info) {
  Napi::Env env = info.Env();
  data_ = static_cast<AddonData*>(info.Data());
  if (data_->tearingDown()) throw Napi::Error::New(env, "uvscope: the environment is shutting down");
  WatchdogConfig config;
  config.thresholdNs = static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue());
  config.repeatNs = static_cast<uint64_t>(info[1].As<Napi::Number>().DoubleValue());
  config.stacks = info[2].ToBoolean();
  config.fd = info[3].As<Napi::Number>().Int32Value();
  config.maxFrames = info[4].As<Napi::Number>().Uint32Value();
  config.threadId = info[5].As<Napi::Number>().DoubleValue();
  uvscope_stack_provider* provider = nullptr;
  if (info[6].IsExternal()) {
    auto* candidate = info[6].As<Napi::External<uvscope_stack_provider>>().Data();
    if (candidate != nullptr && candidate->version == UVSCOPE_STACK_PROVIDER_VERSION) provider = candidate;
  }
  config.stackUnavailable = info[7].IsString() ? info[7].As<Napi::String>().Utf8Value() : "";
  if (config.stacks && provider == nullptr && config.stackUnavailable.empty()) {
    config.stackUnavailable = "the stack addon did not provide a compatible provider";
  }
  emitter_ = Napi::Persistent(info[8].As<Napi::Function>());
  asyncContext_ = std::make_unique<Napi::AsyncContext>(env, "uvscope:StallWatchdog", Napi::Object::New(env));
  core_ = new StallWatchdogCore(data_, std::move(config), provider);
  core_->SetOwner(this);
  data_->Register(this);
}

StallWatchdogWrap::~StallWatchdogWrap() {
  if (core_ != nullptr) {
    data_->Unregister(this);
    ReleaseCore(nullptr);
  }
}

void StallWatchdogWrap::ReleaseCore(std::function<void()> done) {
  StallWatchdogCore* core = core_;
  core_ = nullptr;
  core->Close(std::move(done));
}

void StallWatchdogWrap::CloseForTeardown(std::function<void()> done) {
  emitter_.Reset();
  if (core_ == nullptr) {
    done();
    return;
  }
  ReleaseCore(std::move(done));
}

void StallWatchdogWrap::AbortForExit() {
  if (core_ != nullptr) core_->JoinForExit();
}

StallWatchdogCore* StallWatchdogWrap::Live(const Napi::CallbackInfo& info, const char* method) {
  if (core_ == nullptr) {
    Napi::Error error =
        Napi::Error::New(info.Env(), std::string("StallWatchdog.") + method + "(): the watchdog is closed");
    error.Set("code", Napi::String::New(info.Env(), "ERR_INVALID_STATE"));
    throw error;
  }
  return core_;
}

Napi::Value StallWatchdogWrap::Start(const Napi::CallbackInfo& info) {
  Live(info, "start")->Start();
  return info.Env().Undefined();
}

Napi::Value StallWatchdogWrap::Stop(const Napi::CallbackInfo& info) {
  Live(info, "stop")->Stop();
  return info.Env().Undefined();
}

Napi::Value StallWatchdogWrap::Close(const Napi::CallbackInfo& info) {
  if (core_ != nullptr) {
    data_->Unregister(this);
    ReleaseCore(nullptr);
  }
  emitter_.Reset();
  return info.Env().Undefined();
}

Napi::Value StallWatchdogWrap::Ref(const Napi::CallbackInfo& info) {
  Live(info, "ref")->Ref();
  return info.Env().Undefined();
}

Napi::Value StallWatchdogWrap::Unref(const Napi::CallbackInfo& info) {
  Live(info, "unref")->Unref();
  return info.Env().Undefined();
}

// stats(): [stalls, longestNs, totalNs, reports]
Napi::Value StallWatchdogWrap::Stats(const Napi::CallbackInfo& info) {
  StallWatchdogCore::Counts counts = Live(info, "stats")->Stats();
  Napi::Array result = Napi::Array::New(info.Env(), 4);
  result.Set(0u, static_cast<double>(counts.stalls));
  result.Set(1u, static_cast<double>(counts.longestNs));
  result.Set(2u, static_cast<double>(counts.totalNs));
  result.Set(3u, static_cast<double>(counts.reports));
  return result;
}

// Loop thread: emitter(json).
void StallWatchdogWrap::EmitStall(const std::string& json) {
  if (emitter_.IsEmpty() || !asyncContext_) return;
  CallWithString(Env(), *asyncContext_, emitter_, json);
}

}  // namespace uvscope
