// WorkQueue: see work_queue.h. Everything except RunJob runs on the owning loop's thread. The
// submission adapters are in submissions.cc, the state wrappers in wrappers.cc.
#include "work_queue.h"

#include <optional>

#include "../clock.h"
#include "../live_counts.h"
#include "../typed_args.h"
#include "cpu_spread.h"
#include "job_priority.h"
#include "pool_threads.h"

namespace uvscope {

namespace {

// libuv's pool is process-wide, so a pool thread's index is too: each thread takes the next
// number the first time it runs a uvscope job.
std::atomic<int> nextPoolThreadIndex{0};
thread_local int poolThreadIndex = -1;

}  // namespace

void WorkQueueWrap::Init(Napi::Env env, Napi::Object exports, AddonData* data) {
  // The submissions are not class methods: each queue gets its own, see BindSubmissions().
  Napi::Function ctor = DefineClass(
      env, "NativeWorkQueue",
      {
          InstanceMethod<&WorkQueueWrap::Cancel>("cancel"),
          InstanceMethod<&WorkQueueWrap::Stats>("stats"),
          InstanceMethod<&WorkQueueWrap::ResetStats>("resetStats"),
          InstanceMethod<&WorkQueueWrap::Buckets>("buckets"),
          InstanceMethod<&WorkQueueWrap::SetReporter>("setReporter"),
          StaticValue("kernelFields", Napi::Number::New(env, kKernelFields)),
          StaticValue("queueFields", Napi::Number::New(env, kQueueFields)),
          StaticValue("kernelCount", Napi::Number::New(env, kKernelCount)),
      },
      data);
  exports.Set("NativeWorkQueue", ctor);
}

// new NativeWorkQueue(maxConcurrency, maxQueue): validated in TypeScript.
WorkQueueWrap::WorkQueueWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<WorkQueueWrap>(info) {
  data_ = static_cast<AddonData*>(info.Data());
  if (data_->tearingDown()) throw Napi::Error::New(info.Env(), "uvscope: the environment is shutting down");
  maxConcurrency_ = info[0].As<Napi::Number>().Uint32Value();
  maxQueue_ = info[1].As<Napi::Number>().Uint32Value();
  windowStartNs_ = NowNs();
  // The async resource is a plain object, not this wrapper: from Node 26 napi_async_init holds
  // its resource strongly until napi_async_destroy (in our destructor), so the wrapper as its
  // own resource would never be collected.
  Napi::Object resource = Napi::Object::New(info.Env());
  asyncContext_ = std::make_unique<Napi::AsyncContext>(info.Env(), "uvscope:threadpool", resource);
  sharedNoop_ = MakeNoopKernel(kKernelNoop);
  // Throws when the environment stops running JavaScript meanwhile (a worker terminated during
  // `new ThreadPool()`): before anything that only the destructor frees, which a constructor
  // that throws never reaches.
  BindSubmissions(info.This().As<Napi::Object>());
  NAPI_THROW_IF_FAILED_VOID(info.Env(), napi_create_reference(info.Env(), resource, 1, &scopeResource_));
  data_->Register(this);
  live::workQueues.fetch_add(1, std::memory_order_relaxed);
}

// Submissions run once per job, so they skip what an InstanceMethod pays on every call:
// napi_unwrap, a private-symbol lookup on `this` (~90 of ~440 ns per empty job here, the
// largest cost after napi_create_promise). Each is an own property of this queue's wrapper,
// created with the queue as its data, and holds the wrapper in a property of its own, so a
// function kept alone still keeps its queue alive.
template <WorkQueueWrap::Submission Method>
Napi::PropertyDescriptor WorkQueueWrap::Bound(const char* name, Napi::Object self) {
  Napi::Function fn = Napi::Function::New<CallBound<Method>>(self.Env(), name, this);
  fn.DefineProperty(Napi::PropertyDescriptor::Value("queue", self, napi_default));
  return Napi::PropertyDescriptor::Value(name, fn, napi_default);
}

void WorkQueueWrap::BindSubmissions(Napi::Object self) {
  self.DefineProperties({
      Bound<&WorkQueueWrap::Noop>("noop", self),
      Bound<&WorkQueueWrap::Spin>("spin", self),
      Bound<&WorkQueueWrap::Sleep>("sleep", self),
      Bound<&WorkQueueWrap::Hash>("hash", self),
      Bound<&WorkQueueWrap::HashMany>("hashMany", self),
      Bound<&WorkQueueWrap::Hmac>("hmac", self),
      Bound<&WorkQueueWrap::HashFile>("hashFile", self),
      Bound<&WorkQueueWrap::Pbkdf2>("pbkdf2", self),
      Bound<&WorkQueueWrap::Scrypt>("scrypt", self),
      Bound<&WorkQueueWrap::HasherUpdate>("hasherUpdate", self),
      Bound<&WorkQueueWrap::HasherDigest>("hasherDigest", self),
      Bound<&WorkQueueWrap::Cipher>("cipher", self),
      Bound<&WorkQueueWrap::CipherUpdate>("cipherUpdate", self),
      Bound<&WorkQueueWrap::CipherFinal>("cipherFinal", self),
      Bound<&WorkQueueWrap::Hkdf>("hkdf", self),
      Bound<&WorkQueueWrap::Argon2>("argon2", self),
      Bound<&WorkQueueWrap::Probe>("probe", self),
      Bound<&WorkQueueWrap::Hold>("hold", self),
  });
}

KernelStats& WorkQueueWrap::StatsFor(KernelId id) {
  if (!perKernel_[id]) perKernel_[id] = std::make_unique<KernelStats>();
  return *perKernel_[id];
}

Job* WorkQueueWrap::NewJob() {
  if (freeJobs_.empty()) {
    live::jobs.fetch_add(1, std::memory_order_relaxed);
    return new Job();
  }
  Job* job = freeJobs_.back();
  freeJobs_.pop_back();
  return job;
}

Napi::Value WorkQueueWrap::Submit(const Napi::CallbackInfo& info, size_t tail, std::unique_ptr<Kernel> kernel,
                                  Napi::Value keep0, Napi::Value keep1, bool uninterruptible) {
  Job* job = NewJob();
  job->kernel = kernel.release();
  job->ownsKernel = true;
  job->uninterruptible = uninterruptible;
  return SubmitJob(info, tail, job, keep0, keep1);
}

Napi::Value WorkQueueWrap::SubmitJob(const Napi::CallbackInfo& info, size_t tail, Job* job, Napi::Value keep0,
                                     Napi::Value keep1) {
  Napi::Env env = info.Env();
  // Our own queue is full, or the environment is going away: TypeScript turns `undefined`
  // into its error.
  if (torndown_ || (maxConcurrency_ != 0 && inLibuvCount_ >= maxConcurrency_ && pending_.size() >= maxQueue_)) {
    Free(job);
    return env.Undefined();
  }
  job->queue = this;
  auto control = static_cast<uint64_t>(info[tail].As<Napi::Number>().DoubleValue());
  job->flags = static_cast<uint32_t>(control % kJobFlagSpan);
  job->cancelId = static_cast<uint32_t>(control / kJobFlagSpan);
  job->queuedAt = NowNs();
  // Every status is checked. A worker.terminate() from another thread makes Node-API refuse
  // (napi_pending_exception) while this worker may still run JavaScript for a moment; returning
  // the unset `promise` then handed V8 a garbage value, which crashed the worker under ASan
  // (test/stress/fixtures/stress-terminate-submitting.js).
  napi_value promise = nullptr;
  napi_status status = napi_ok;
  if (!keep0.IsEmpty()) status = napi_create_reference(env, keep0, 1, &job->keep[0]);
  if (status == napi_ok && !keep1.IsEmpty()) status = napi_create_reference(env, keep1, 1, &job->keep[1]);
  if (status == napi_ok) status = napi_create_promise(env, &job->deferred, &promise);
  if (status != napi_ok) {
    Free(job);
    NAPI_THROW_IF_FAILED(env, status, Napi::Value());
  }
  if (job->cancelId != 0) cancellable_[job->cancelId] = job;
  if (inFlight_++ == 0) Ref();  // in flight: the wrapper (and so this queue) must stay alive
  if (!(job->flags & kJobExcludeStats)) {
    countedInFlight_++;
    submittedTotal_++;
    StatsFor(job->kernel->id()).submitted++;
  }
  // FIFO: a job submitted while others wait in our queue (e.g. from a settle callback, when a
  // slot has just been freed) goes behind them.
  if (maxConcurrency_ == 0 || (pending_.empty() && inLibuvCount_ < maxConcurrency_)) {
    StartInLibuv(job);
  } else {
    pending_.push_back(job);
    Pump();
  }
  return Napi::Value(env, promise);
}

void WorkQueueWrap::StartInLibuv(Job* job) {
  job->req.data = job;
  job->inLibuv = true;
  // Intrusive list of jobs handed to libuv, for teardown.
  job->next = inLibuvHead_;
  job->prev = nullptr;
  if (inLibuvHead_ != nullptr) inLibuvHead_->prev = job;
  inLibuvHead_ = job;
  inLibuvCount_++;
  if (!(job->flags & kJobExcludeStats)) queuedInLibuvTotal_++;
  uv_queue_work(data_->loop, &job->req, RunJob, AfterJob);
}

void WorkQueueWrap::RunJob(uv_work_t* req) {
  Job* job = static_cast<Job*>(req->data);
  WorkQueueWrap* queue = job->queue;
  if (poolThreadIndex < 0) {
    poolThreadIndex = nextPoolThreadIndex.fetch_add(1);
    RegisterPoolThread();
  }
  job->thread = poolThreadIndex;
  job->startedAt = NowNs();
  // Introspection probes stay out of the counters, as they stay out of stats().
  bool counted = !(job->flags & kJobExcludeStats);
  if (counted) {
    queue->pool_.started.fetch_add(1, std::memory_order_relaxed);
    int64_t running = queue->pool_.running.fetch_add(1, std::memory_order_relaxed) + 1;
    int64_t seen = queue->pool_.maxRunning.load(std::memory_order_relaxed);
    while (running > seen && !queue->pool_.maxRunning.compare_exchange_weak(seen, running)) {
    }
  }
  static const std::atomic<bool> never{false};
  {
    std::optional<SpreadScope> spread;
    if (job->flags & kJobSpread) spread.emplace();
    std::optional<LowPriorityScope> low;
    if (job->flags & kJobLowPriority) low.emplace();
    job->kernel->Run(job->uninterruptible ? never : job->abortRequested);  // noexcept: failures are the kernel's
  }
  job->finishedAt = NowNs();
  if (counted) queue->pool_.running.fetch_sub(1, std::memory_order_relaxed);
}

void WorkQueueWrap::AfterJob(uv_work_t* req, int status) {
  Job* job = static_cast<Job*>(req->data);
  WorkQueueWrap* queue = job->queue;
  job->settledAt = NowNs();
  // Unlink from the in-libuv list.
  if (job->prev != nullptr) job->prev->next = job->next; else queue->inLibuvHead_ = job->next;
  if (job->next != nullptr) job->next->prev = job->prev;
  job->inLibuv = false;
  queue->inLibuvCount_--;
  bool cancelled = status == UV_ECANCELED;
  if (cancelled && !(job->flags & kJobExcludeStats)) queue->queuedInLibuvTotal_--;  // never started
  if (queue->torndown_) {
    queue->Free(job);
    if (queue->inLibuvHead_ == nullptr && queue->teardownDone_) {
      std::function<void()> done = std::move(queue->teardownDone_);
      done();  // may free AddonData: nothing after this
    }
    return;
  }
  try {
    queue->Settle(job, cancelled, true);
  } catch (...) {
    // Only when JavaScript cannot run any more (a worker being terminated): nothing to
    // settle for; teardown frees what is left. Never let an exception unwind into libuv.
  }
  queue->Pump();
}

void WorkQueueWrap::Pump() {
  while (maxConcurrency_ != 0 && !pending_.empty() && inLibuvCount_ < maxConcurrency_) {
    Job* job = pending_.front();
    pending_.pop_front();
    StartInLibuv(job);
  }
}

static Napi::Value ErrorFromKernel(Napi::Env env, const KernelError& failure) {
  Napi::Error error = Napi::Error::New(env, failure.message);
  error.Set("code", Napi::String::New(env, failure.code));
  if (!failure.syscall.empty()) {
    error.Set("errno", Napi::Number::New(env, failure.errnum));
    error.Set("syscall", Napi::String::New(env, failure.syscall));
    error.Set("path", Napi::String::New(env, failure.path));
  }
  return error.Value();
}

void WorkQueueWrap::Settle(Job* job, bool cancelled, bool inCallbackScope) {
  // Settled exactly once: from here on a cancel(id) from user code this settlement runs (a
  // job channel subscriber aborting the job's own signal, a promise reaction) finds nothing.
  if (job->settled) return;
  job->settled = true;
  const uint32_t cancelId = job->cancelId;  // the report hands it on (src/threadpool/job-records.ts tags by it)
  if (job->cancelId != 0) {
    auto found = cancellable_.find(job->cancelId);
    if (found != cancellable_.end() && found->second == job) cancellable_.erase(found);
    job->cancelId = 0;
  }
  Napi::Env env = Env();
  Napi::HandleScope handleScope(env);
  // A callback scope makes promise reactions and nextTicks run before the loop moves on,
  // in the async context of the submission (so AsyncLocalStorage flows through).
  napi_callback_scope callbackScope = nullptr;
  napi_value resource = nullptr;
  if (inCallbackScope && napi_get_reference_value(env, scopeResource_, &resource) == napi_ok && resource != nullptr) {
    napi_open_callback_scope(env, resource, *asyncContext_, &callbackScope);  // left null on failure
  }
  const Kernel& kernel = *job->kernel;
  // Aborted only when the kernel did not do all of its work: never started (cancelled in
  // libuv's queue or in ours) or stopped at a chunk boundary. An abort that came after the
  // work was done changes nothing, so the promise says what happened to the caller's memory.
  bool aborted = cancelled || kernel.aborted();
  int outcome;  // 0 completed, 1 failed, 2 cancelled (shared with src/native.ts)
  try {
    if (aborted) {
      outcome = 2;
      napi_value reason = nullptr;
      if (job->abortReason != nullptr) napi_get_reference_value(env, job->abortReason, &reason);
      if (reason == nullptr) {
        Napi::Error error = Napi::Error::New(env, "The operation was aborted");
        error.Set("name", Napi::String::New(env, "AbortError"));
        error.Set("code", Napi::String::New(env, "ABORT_ERR"));
        reason = error.Value();
      }
      napi_reject_deferred(env, job->deferred, reason);
    } else if (kernel.error() != nullptr) {
      outcome = 1;
      napi_reject_deferred(env, job->deferred, ErrorFromKernel(env, *kernel.error()));
    } else {
      outcome = 0;
      Napi::Value result = (job->flags & kJobResolveQueueWait)
                               ? Napi::Number::New(env, static_cast<double>(job->startedAt - job->queuedAt))
                               : job->kernel->Result(env);
      napi_resolve_deferred(env, job->deferred, result);
    }
  } catch (const Napi::Error& error) {
    outcome = 1;
    napi_reject_deferred(env, job->deferred, error.Value());
  }
  job->deferred = nullptr;
  if (!(job->flags & kJobExcludeStats)) {
    KernelStats& stats = StatsFor(kernel.id());
    if (outcome == 0) stats.completed++; else if (outcome == 1) stats.failed++; else stats.cancelled++;
    stats.bytes += kernel.bytes();
    if (job->startedAt != 0) {
      stats.queueWait.Record(job->startedAt - job->queuedAt);
      stats.run.Record(job->finishedAt - job->startedAt);
      stats.returnDelay.Record(job->settledAt - job->finishedAt);
    }
    countedInFlight_--;
  }
  if ((job->flags & kJobReport) && !reporter_.IsEmpty()) Report(env, job, outcome, cancelId);
  Free(job);
  if (callbackScope != nullptr) napi_close_callback_scope(env, callbackScope);
  if (--inFlight_ == 0) Unref();
}

void WorkQueueWrap::Report(Napi::Env env, Job* job, int outcome, uint32_t cancelId) {
  try {
    reporter_.Call({Napi::Number::New(env, job->kernel->id()), Napi::Number::New(env, outcome),
                    Napi::BigInt::New(env, job->queuedAt), Napi::BigInt::New(env, job->startedAt),
                    Napi::BigInt::New(env, job->finishedAt), Napi::BigInt::New(env, job->settledAt),
                    Napi::Number::New(env, job->thread),
                    Napi::Number::New(env, static_cast<double>(job->kernel->bytes())),
                    Napi::Number::New(env, cancelId)});
  } catch (const Napi::Error& error) {
    napi_fatal_exception(env, error.Value());
  }
}

void WorkQueueWrap::Free(Job* job) {
  napi_env env = Env();
  for (napi_ref& ref : job->keep) {
    if (ref != nullptr) napi_delete_reference(env, ref);
  }
  if (job->abortReason != nullptr) napi_delete_reference(env, job->abortReason);
  if (job->cancelId != 0) {
    auto found = cancellable_.find(job->cancelId);
    if (found != cancellable_.end() && found->second == job) cancellable_.erase(found);
  }
  if (job->ownsKernel) delete job->kernel;
  if (torndown_ || freeJobs_.size() >= kMaxFreeJobs) {
    delete job;
    live::jobs.fetch_sub(1, std::memory_order_relaxed);
    return;
  }
  // Recycle: reset to a fresh Job's state.
  job->kernel = nullptr;
  job->deferred = nullptr;
  job->keep[0] = job->keep[1] = nullptr;
  job->abortReason = nullptr;
  job->flags = 0;
  job->cancelId = 0;
  job->abortRequested.store(false, std::memory_order_relaxed);
  job->uninterruptible = false;
  job->settled = false;
  job->inLibuv = false;
  job->prev = job->next = nullptr;
  job->startedAt = job->finishedAt = job->settledAt = 0;
  job->thread = -1;
  freeJobs_.push_back(job);
}

WorkQueueWrap::~WorkQueueWrap() {
  live::workQueues.fetch_sub(1, std::memory_order_relaxed);
  for (Job* job : freeJobs_) delete job;
  live::jobs.fetch_sub(static_cast<int64_t>(freeJobs_.size()), std::memory_order_relaxed);
  // Also at environment teardown, where Node finalizes wrappers that are still alive: the env
  // is valid until every finalizer has run, and skipping this leaks the reference (LSan).
  if (scopeResource_ != nullptr) napi_delete_reference(Env(), scopeResource_);
  // Only collected with no job in flight (the wrapper is strongly referenced meanwhile).
  // After teardown AddonData may be gone: do not touch it.
  if (!torndown_) data_->Unregister(this);
}

void WorkQueueWrap::AbortForExit() {
  for (Job* job = inLibuvHead_; job != nullptr; job = job->next) {
    job->abortRequested.store(true);
    uv_cancel(reinterpret_cast<uv_req_t*>(&job->req));
  }
}

void WorkQueueWrap::CloseForTeardown(std::function<void()> done) {
  torndown_ = true;
  // Jobs still in our own queue never reached libuv: drop them. Their promises cannot be
  // settled any more (no JavaScript runs during teardown).
  for (Job* job : pending_) Free(job);
  pending_.clear();
  // Queued in libuv: cancel (after_work gets UV_ECANCELED). Running: ask to stop early.
  AbortForExit();
  if (inLibuvHead_ == nullptr) {
    done();
  } else {
    teardownDone_ = std::move(done);
  }
}

// cancel(cancelId, reason): true when the job was found (and will reject with `reason`).
Napi::Value WorkQueueWrap::Cancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto found = cancellable_.find(info[0].As<Napi::Number>().Uint32Value());
  if (found == cancellable_.end()) return Napi::Boolean::New(env, false);
  Job* job = found->second;
  if (job->abortRequested.exchange(true)) return Napi::Boolean::New(env, true);
  if (!info[1].IsUndefined()) napi_create_reference(env, info[1], 1, &job->abortReason);
  if (!job->inLibuv) {
    // Still in our own queue: it never runs; settle now (we are already inside JS).
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if (*it == job) {
        pending_.erase(it);
        break;
      }
    }
    Settle(job, true, false);
  } else {
    // Queued in libuv: after_work will see UV_ECANCELED. Running: UV_EBUSY, and the kernel
    // sees abortRequested at its next chunk.
    uv_cancel(reinterpret_cast<uv_req_t*>(&job->req));
  }
  return Napi::Boolean::New(env, true);
}

// stats(out: Float64Array): queue fields, then overall, then one block per kernel id.
Napi::Value WorkQueueWrap::Stats(const Napi::CallbackInfo& info) {
  size_t length = 0;
  double* at = Float64ArrayArg(info[0], "out", &length);
  size_t needed = kQueueFields + (1 + kKernelCount) * kKernelFields;
  if (length < needed) throw Napi::RangeError::New(info.Env(), "stats buffer too small");
  uint64_t started = pool_.started.load();
  *at++ = static_cast<double>(countedInFlight_);
  *at++ = static_cast<double>(pending_.size() + (queuedInLibuvTotal_ > started ? queuedInLibuvTotal_ - started : 0));
  *at++ = static_cast<double>(pool_.running.load());
  *at++ = static_cast<double>(pool_.maxRunning.load());
  *at++ = static_cast<double>(NowNs() - windowStartNs_);
  *at++ = static_cast<double>(pending_.size());
  KernelStats empty;
  auto overall = std::make_unique<KernelStats>();
  overall->submitted = submittedTotal_;
  for (const auto& stats : perKernel_) {
    if (!stats) continue;
    overall->completed += stats->completed;
    overall->failed += stats->failed;
    overall->cancelled += stats->cancelled;
    overall->bytes += stats->bytes;
    overall->queueWait.Merge(stats->queueWait);
    overall->run.Merge(stats->run);
    overall->returnDelay.Merge(stats->returnDelay);
  }
  for (int i = -1; i < kKernelCount; i++) {
    const KernelStats& stats = i < 0 ? *overall : (perKernel_[i] ? *perKernel_[i] : empty);
    *at++ = static_cast<double>(stats.submitted);
    *at++ = static_cast<double>(stats.completed);
    *at++ = static_cast<double>(stats.failed);
    *at++ = static_cast<double>(stats.cancelled);
    *at++ = static_cast<double>(stats.bytes);
    for (const Histogram* histogram : {&stats.queueWait, &stats.run, &stats.returnDelay}) {
      histogram->Summarize(at);
      at += Histogram::kSummaryFields;
    }
  }
  return info.Env().Undefined();
}

// buckets(kernelId, which, out: Float64Array): Histogram::WriteBuckets of the kernel's
// queueWait (which 0), run (1) or returnDelay (2) histogram; a kernel without jobs writes an
// empty read-out.
Napi::Value WorkQueueWrap::Buckets(const Napi::CallbackInfo& info) {
  int kernel = info[0].As<Napi::Number>().Int32Value();
  int which = info[1].As<Napi::Number>().Int32Value();
  size_t length = 0;
  double* out = Float64ArrayArg(info[2], "out", &length);
  if (kernel < 0 || kernel >= kKernelCount || which < 0 || which > 2) {
    throw Napi::RangeError::New(info.Env(), "no such histogram");
  }
  static const KernelStats empty;
  const KernelStats& stats = perKernel_[kernel] ? *perKernel_[kernel] : empty;
  const Histogram* histograms[3] = {&stats.queueWait, &stats.run, &stats.returnDelay};
  int written = histograms[which]->WriteBuckets(out, static_cast<int>(length));
  return Napi::Number::New(info.Env(), written);
}

Napi::Value WorkQueueWrap::ResetStats(const Napi::CallbackInfo& info) {
  submittedTotal_ = 0;
  for (auto& stats : perKernel_) stats.reset();
  pool_.maxRunning.store(pool_.running.load());
  windowStartNs_ = NowNs();
  return info.Env().Undefined();
}

// setReporter(fn(kernelId, outcome, queuedAt, startedAt, finishedAt, settledAt, thread, bytes, cancelId))
Napi::Value WorkQueueWrap::SetReporter(const Napi::CallbackInfo& info) {
  reporter_ = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

}  // namespace uvscope
