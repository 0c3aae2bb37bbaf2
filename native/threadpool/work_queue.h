// WorkQueue: submits kernels to the real libuv thread pool with uv_queue_work on the loop of
// the environment that owns it, settles each job's promise back on that loop inside a
// callback scope (one shared async context), and keeps per-kernel timing statistics.
// Optionally bounds how many pool threads its jobs occupy (maxConcurrency) with its own
// FIFO of at most maxQueue waiting jobs. Every job settles exactly once; on environment
// teardown queued jobs are uv_cancel()ed, running ones asked to abort and waited for.
// Lifetime: the JS wrapper; it is kept strongly referenced while any job is in flight.
#pragma once
#include <napi.h>
#include <uv.h>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "../addon_data.h"
#include "../histogram.h"
#include "kernels/kernel.h"

namespace uvscope {

class WorkQueueWrap;

// Job flags, shared with src/native.ts.
enum JobFlags : uint32_t {
  kJobReport = 1,          // hand timings to the JS reporter (diagnostics_channel subscribers)
  kJobExcludeStats = 2,    // introspection probes: not counted in stats()
  kJobResolveQueueWait = 4, // resolve with the queue wait in ns instead of the kernel's result
  kJobLowPriority = 8,      // run under SCHED_IDLE (a lane's `priority: 'low'`, job_priority.h)
  kJobSpread = 16           // a lane's job: moved off a CPU running another (cpu_spread.h)
};
// The trailing `control` argument of a submission: cancelId * kJobFlagSpan + flags.
constexpr uint32_t kJobFlagSpan = 32;

struct Job {
  uv_work_t req;
  WorkQueueWrap* queue = nullptr;
  Kernel* kernel = nullptr;
  bool ownsKernel = true;                 // false for the queue's shared stateless noop kernel
  napi_deferred deferred = nullptr;
  napi_ref keep[2] = {nullptr, nullptr};  // inputs kept alive until the job settles
  napi_ref abortReason = nullptr;         // what to reject with when aborted
  uint32_t flags = 0;
  uint32_t cancelId = 0;                  // nonzero: cancellable through cancel(id)
  std::atomic<bool> abortRequested{false};
  // Once running, the kernel never sees an abort (it writes the caller's input memory: an
  // in-place cipher output). An abort then only cancels it while queued, so a rejected job
  // left the caller's bytes untouched and a resolved one transformed all of them.
  bool uninterruptible = false;
  bool inLibuv = false;
  bool settled = false;  // Settle() ran: re-entrant cancels find nothing to settle
  Job* prev = nullptr;  // intrusive list of jobs handed to libuv (loop thread only)
  Job* next = nullptr;
  // Monotonic ns. startedAt/finishedAt and thread are written on the pool thread before
  // after_work, which libuv orders after it.
  uint64_t queuedAt = 0, startedAt = 0, finishedAt = 0, settledAt = 0;
  int thread = -1;
};

struct KernelStats {
  uint64_t submitted = 0, completed = 0, failed = 0, cancelled = 0, bytes = 0;
  Histogram queueWait, run, returnDelay;
};

class WorkQueueWrap : public Napi::ObjectWrap<WorkQueueWrap>, public Closeable {
 public:
  static void Init(Napi::Env env, Napi::Object exports, AddonData* data);
  explicit WorkQueueWrap(const Napi::CallbackInfo& info);
  ~WorkQueueWrap() override;
  void CloseForTeardown(std::function<void()> done) override;
  void AbortForExit() override;

  // Per kernel: submitted completed failed cancelled bytes, then 3 histogram summaries.
  static constexpr int kKernelFields = 5 + 3 * Histogram::kSummaryFields;
  static constexpr int kQueueFields = 6;  // inFlight queued running maxRunning windowNs pending
  // Settled jobs' allocations kept for reuse: never more than were in flight at once, at most
  // this many (~224 B each, 3.5 MiB). A burst then allocates nothing per job once one of its
  // size has run (malloc and free of each Job were ~10% of an empty job's cost in a burst).
  static constexpr size_t kMaxFreeJobs = 16384;

 private:
  // Submission methods, bound to this queue (see BindSubmissions in work_queue.cc).
  using Submission = Napi::Value (WorkQueueWrap::*)(const Napi::CallbackInfo&);
  template <Submission Method>
  static Napi::Value CallBound(const Napi::CallbackInfo& info) {
    return (static_cast<WorkQueueWrap*>(info.Data())->*Method)(info);
  }
  template <Submission Method>
  Napi::PropertyDescriptor Bound(const char* name, Napi::Object self);
  void BindSubmissions(Napi::Object self);
  Napi::Value Noop(const Napi::CallbackInfo& info);
  Napi::Value Spin(const Napi::CallbackInfo& info);
  Napi::Value Sleep(const Napi::CallbackInfo& info);
  Napi::Value Hash(const Napi::CallbackInfo& info);
  Napi::Value HashMany(const Napi::CallbackInfo& info);
  Napi::Value Hmac(const Napi::CallbackInfo& info);
  Napi::Value HashFile(const Napi::CallbackInfo& info);
  Napi::Value Pbkdf2(const Napi::CallbackInfo& info);
  Napi::Value Scrypt(const Napi::CallbackInfo& info);
  Napi::Value HasherUpdate(const Napi::CallbackInfo& info);
  Napi::Value HasherDigest(const Napi::CallbackInfo& info);
  Napi::Value Cipher(const Napi::CallbackInfo& info);
  Napi::Value CipherUpdate(const Napi::CallbackInfo& info);
  Napi::Value CipherFinal(const Napi::CallbackInfo& info);
  Napi::Value Hkdf(const Napi::CallbackInfo& info);
  Napi::Value Argon2(const Napi::CallbackInfo& info);
  Napi::Value Probe(const Napi::CallbackInfo& info);
  Napi::Value Hold(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value ResetStats(const Napi::CallbackInfo& info);
  Napi::Value Buckets(const Napi::CallbackInfo& info);
  Napi::Value SetReporter(const Napi::CallbackInfo& info);

  // Takes the kernel, the trailing `control` argument at `tail` (cancelId * kJobFlagSpan + flags, one
  // number so that submission reads one argument), and up to two input values to keep alive;
  // returns the promise.
  Napi::Value Submit(const Napi::CallbackInfo& info, size_t tail, std::unique_ptr<Kernel> kernel,
                     Napi::Value keep0 = Napi::Value(), Napi::Value keep1 = Napi::Value(),
                     bool uninterruptible = false);
  Napi::Value SubmitJob(const Napi::CallbackInfo& info, size_t tail, Job* job, Napi::Value keep0,
                        Napi::Value keep1);
  Job* NewJob();
  void StartInLibuv(Job* job);
  void Pump();
  void Settle(Job* job, bool cancelled, bool inCallbackScope);
  // Hands the job's timings to the JS reporter, with the cancel id it was submitted with (0: none).
  void Report(Napi::Env env, Job* job, int outcome, uint32_t cancelId);
  void Free(Job* job);
  KernelStats& StatsFor(KernelId id);

  static void RunJob(uv_work_t* req);
  static void AfterJob(uv_work_t* req, int status);

  AddonData* data_;
  uint32_t maxConcurrency_;  // 0: no limit of our own, libuv's queue only
  uint32_t maxQueue_;
  std::deque<Job*> pending_;                // waiting for one of our maxConcurrency slots
  Job* inLibuvHead_ = nullptr;              // submitted with uv_queue_work, not yet after_work
  uint32_t inLibuvCount_ = 0;
  std::unordered_map<uint32_t, Job*> cancellable_;
  uint64_t inFlight_ = 0;                   // submitted and not settled
  uint64_t countedInFlight_ = 0;            // the same, without introspection probes
  // Written by pool threads on every job: on a cache line of their own, apart from the
  // counters around them that the loop thread writes on every job (no false sharing).
  struct alignas(64) PoolCounters {
    std::atomic<int64_t> running{0};  // running on pool threads right now
    std::atomic<int64_t> maxRunning{0};
    std::atomic<uint64_t> started{0};
  } pool_;
  uint64_t queuedInLibuvTotal_ = 0;         // passed to uv_queue_work and not cancelled there
  uint64_t windowStartNs_;
  uint64_t submittedTotal_ = 0;             // overall counts; histograms are merged at stats()
  std::unique_ptr<KernelStats> perKernel_[kKernelCount];
  std::unique_ptr<Kernel> sharedNoop_;      // noop jobs carry no state: one kernel serves all
  std::vector<Job*> freeJobs_;              // recycled Job allocations
  napi_ref scopeResource_ = nullptr;        // resource object for the settle callback scopes
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
  Napi::FunctionReference reporter_;
  bool torndown_ = false;
  std::function<void()> teardownDone_;
};

}  // namespace uvscope
