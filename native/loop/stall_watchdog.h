// StallWatchdog: a native thread that watches the loop of one environment through its
// LoopHeartbeat and reports a stall while it lasts: the loop thread busy (not waiting for
// I/O) for longer than a threshold since its last beat. Each report is queued as one JSON
// line for its report file (report_sink.h: a private descriptor, written without waiting,
// outside the state mutex), published to live subscribers (live_reports.h), and kept for the
// 'stall' event that the loop thread emits once it turns again (through a uv_async_t).
// When the optional stack addon is loaded, each report asks it for the JavaScript stack of
// the blocked thread (native/stack/stack_provider.h) and waits a bounded time for it.
//
// Threads: the watchdog thread runs from start() to stop(); everything else runs on the loop
// thread, except the stack addon's callback, which runs on the loop thread inside a V8
// interrupt. Shared state is guarded by one mutex, held only for bookkeeping: never across
// I/O, a stack request's wait or the building of a line, so the loop thread (stats(), the end
// of a stall, stop()) never waits for those. A capture in flight is held by a shared_ptr, so
// it may complete after the watchdog is gone. The report sink belongs to the watchdog thread
// while it runs; stop() and close() join that thread, which never blocks for long (its writes
// do not wait, a stack request waits at most 10 ms).
// Lifetime: the wrapper owns the core; close() (or GC, or environment teardown) joins the
// thread and closes the async handle, and the core frees itself in that handle's close
// callback.
#pragma once
#include <napi.h>
#include <uv.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../addon_data.h"
#include "../stack/stack_provider.h"
#include "heartbeat.h"
#include "report_sink.h"
#include "request_table.h"
#include "thread_cpu.h"

namespace uvscope {

struct WatchdogConfig {
  uint64_t thresholdNs = 1000000000;
  uint64_t repeatNs = 1000000000;  // 0: only the first report of a stall
  bool stacks = false;             // ask the provider (when there is one) for stacks
  bool attribution = false;        // ask it for the async context: the request, the user's fields
  uint32_t maxFrames = 32;
  double threadId = 0;
  std::string stackUnavailable;  // why there is no provider, when stacks are wanted
};

struct CapturedFrame {
  std::string functionName;
  std::string url;
  int32_t line;
  int32_t column;
};

struct StallReport {
  uint64_t atNs = 0;
  uint64_t elapsedNs = 0;
  uint8_t phase = 0;
  uint64_t iteration = 0;
  bool hasStack = false;
  uint64_t stackCaptureNs = 0;  // from the request to the stack taken in the interrupt
  std::vector<CapturedFrame> stack;
  bool inNative = false;
  std::string stackUnavailable;
  bool hasCpu = false;
  uint64_t cpuNs = 0;  // CPU the blocked thread used since the stall began (thread_cpu.h)
  Attribution attribution;  // with the stack: whom the thread was working for
};

struct StallRecord {
  uint64_t number = 0;  // 1 for this watchdog's first stall
  uint64_t seq = 0;     // heartbeat beat the stall began after
  uint64_t startedAtNs = 0;
  uint64_t endedAtNs = 0;
  uint8_t phase = 0;
  uint64_t iteration = 0;
  uint64_t reportCount = 0;
  std::vector<StallReport> reports;  // the first kMaxKeptReports of them
  bool hasLateStack = false;
  uint64_t lateStackAtNs = 0;
  std::vector<CapturedFrame> lateStack;
  Attribution lateAttribution;
};

// A stack request in flight, shared with the stack addon's callback.
struct CaptureSlot {
  enum State { kIdle, kPending, kDone, kAbandoned };
  std::mutex mutex;
  std::condition_variable done;
  State state = kIdle;
  std::vector<CapturedFrame> frames;
  uint64_t capturedAtNs = 0;
  Attribution attribution;
  std::shared_ptr<RequestTable> requests;  // the environment's (attribution wanted), else null
};

class StallWatchdogWrap;

class StallWatchdogCore {
 public:
  static constexpr size_t kMaxKeptReports = 100;
  static constexpr uint64_t kCaptureWaitNs = 10000000;  // 10 ms

  StallWatchdogCore(AddonData* data, WatchdogConfig config, uvscope_stack_provider* provider,
                    std::unique_ptr<ReportSink> sink);

  // Loop thread. Returns 0, or the errno of a thread that could not be started (nothing of
  // the start is kept then).
  int Start();
  void Stop();   // loop thread; joins the watchdog thread
  // Stops and closes the async handle; the core deletes itself after its close callback,
  // then calls `onClosed`.
  void Close(std::function<void()> onClosed);
  void JoinForExit();  // process.exit(): stop the thread, nothing else
  void Ref();
  void Unref();
  void SetOwner(StallWatchdogWrap* owner) { owner_ = owner; }
  bool running() const { return running_; }

  struct Counts {
    uint64_t stalls, longestNs, totalNs, reports, reportsWritten, reportsDropped;
  };
  Counts Stats();

  // Test hook: the next `count` thread starts fail with EAGAIN, as pthread_create does when
  // the process is out of threads (process-wide).
  static void FailThreadStarts(uint32_t count);

 private:
  static void OnAsync(uv_async_t* async);
  static void OnStackDone(void* user, int status, const uvscope_stack_frame* frames, uint32_t count,
                          uint64_t capturedAtNs, const uvscope_stack_context* context);
  void Run();
  void Look(std::unique_lock<std::mutex>& lock);  // one look at the loop; mutex_ held on entry and exit
  void StopThread();
  // A stack taken after its report stopped waiting, found by the next report's request.
  struct LateStack {
    bool taken = false;
    uint64_t capturedAtNs = 0;
    std::vector<CapturedFrame> frames;
    Attribution attribution;
  };
  // mutex_ held on entry and exit, released in between.
  void Report(uint64_t nowNs, std::unique_lock<std::mutex>& lock);
  bool CaptureStack(StallReport& report, LateStack& late);  // mutex_ not held
  void AttachLateStack(StallRecord& stall, std::vector<CapturedFrame> frames, uint64_t capturedAtNs,
                       Attribution attribution);  // mutex_ held
  void TakeLateStack(StallRecord& stall, uint64_t endNs);  // mutex_ and capture_->mutex held
  void Finish(uint64_t endNs);  // mutex_ held: the open stall is over
  // One report line of at most `maxBytes` (innermost frames kept, the rest counted in
  // `framesOmitted`, when the whole one is longer).
  std::string ReportLine(uint64_t stallNumber, uint64_t reportNumber, uint64_t startedAtNs, const StallReport& report,
                         size_t maxBytes) const;
  std::string StallJson(const StallRecord& stall) const;
  void Deliver();  // loop thread: emit finished stalls

  AddonData* data_;
  LoopHeartbeat* heartbeat_;
  uv_loop_t* loop_;
  WatchdogConfig config_;
  uvscope_stack_provider* provider_;
  std::unique_ptr<ReportSink> sink_;  // the watchdog thread's while it runs
  uint64_t retryNs_ = 0;              // watchdog thread: when lines wait, the next try's delay
  StallEndSlot stallEnd_;             // where the heartbeat says when this watchdog's stall ended
  StallWatchdogWrap* owner_ = nullptr;
  uv_async_t async_;
  std::function<void()> onClosed_;
  bool running_ = false;
  bool closing_ = false;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
  bool stopping_ = false;
  bool lookAgain_ = false;  // the loop thread ended a stall: the watchdog thread looks at once
  bool stallOpen_ = false;
  StallRecord stall_;  // the open stall, while stallOpen_
  uint64_t nextReportNs_ = 0;
  uint64_t waitNs_ = 0;  // how long the watchdog thread sleeps after this look
  ThreadCpuClock loopCpu_;  // the loop thread's CPU clock, taken at start()
  StretchCpu stretchCpu_;   // watchdog thread: the first CPU sample of the current busy stretch
  // Watchdog thread: the previous look's heartbeat and busy time (is the loop waiting?).
  bool lookedBefore_ = false;
  uint64_t lastLookSeq_ = 0;
  uint64_t lastLookBusyNs_ = 0;
  std::deque<StallRecord> finished_;  // over, not yet emitted
  uint64_t reportInFlight_ = 0;       // the stall whose report is being made unlocked (0: none)
  std::shared_ptr<CaptureSlot> capture_;
  uint64_t stalls_ = 0;
  uint64_t longestNs_ = 0;
  uint64_t totalNs_ = 0;
  uint64_t reports_ = 0;
  int pid_;
};

class StallWatchdogWrap : public Napi::ObjectWrap<StallWatchdogWrap>, public Closeable {
 public:
  static void Init(Napi::Env env, Napi::Object exports, AddonData* data);
  explicit StallWatchdogWrap(const Napi::CallbackInfo& info);
  ~StallWatchdogWrap() override;

  void CloseForTeardown(std::function<void()> done) override;
  void AbortForExit() override;
  void EmitStall(const std::string& json);

 private:
  StallWatchdogCore* Live(const Napi::CallbackInfo& info, const char* method);
  void ReleaseCore(std::function<void()> done);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  static Napi::Value FailThreadStarts(const Napi::CallbackInfo& info);

  AddonData* data_;
  StallWatchdogCore* core_ = nullptr;
  Napi::FunctionReference emitter_;
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
};

// The name of a phase code in reports (phase.h).
const char* PhaseName(uint8_t phase);

}  // namespace uvscope
