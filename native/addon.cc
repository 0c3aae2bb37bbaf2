// Module entry: creates the per-environment AddonData, registers its async cleanup hook and
// exports the native classes and functions the TypeScript loader (src/native.ts) declares.
#include <napi.h>
#include <uv.h>

#include <algorithm>
#include <csignal>

#include "addon_data.h"
#include "clock.h"
#include "live_counts.h"
#include "loop/heartbeat.h"
#include "loop/live_reports.h"
#include "loop/observer.h"
#include "loop/phase.h"
#include "loop/request_table.h"
#include "loop/stall_watchdog.h"
#include "pin_library.h"
#include "threadpool/arguments.h"
#include "threadpool/cpu_spread.h"
#include "threadpool/job_priority.h"
#include "threadpool/pool_threads.h"
#include "threadpool/work_queue.h"
#include "threadpool/wrappers.h"
#include "typed_args.h"

namespace uvscope {

AddonData::AddonData(Napi::Env env_) : env(env_), loop(nullptr) {
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    throw Napi::Error::New(env, "uvscope: could not get this environment's libuv loop");
  }
  // Async, not synchronous: teardown has to wait for uv_close callbacks and running pool
  // jobs before Node frees anything they point to.
  napi_status status = napi_add_async_cleanup_hook(env, OnTeardown, this, &cleanupHandle_);
  if (status != napi_ok) {
    throw Napi::Error::New(env, "uvscope: could not register the environment cleanup hook");
  }
}

LoopHeartbeat* AddonData::Heartbeat() {
  if (heartbeat == nullptr) heartbeat = new LoopHeartbeat(this);
  return heartbeat;
}

void AddonData::SourceStarted(HeartbeatSource* source) {
  if (std::find(heartbeatSources.begin(), heartbeatSources.end(), source) == heartbeatSources.end()) {
    heartbeatSources.push_back(source);
  }
  if (heartbeat != nullptr) heartbeat->Elect();
}

void AddonData::SourceStopped(HeartbeatSource* source) {
  heartbeatSources.erase(std::remove(heartbeatSources.begin(), heartbeatSources.end(), source), heartbeatSources.end());
  source->beating = nullptr;
  if (heartbeat != nullptr) heartbeat->Elect();
}

void AddonData::Register(Closeable* item) { live_.push_back(item); }

void AddonData::Unregister(Closeable* item) {
  if (!tearingDown_) live_.remove(item);
}

void AddonData::OnTeardown(napi_async_cleanup_hook_handle, void* arg) {
  auto* self = static_cast<AddonData*>(arg);
  self->tearingDown_ = true;
  // One extra count so that closeables finishing synchronously cannot end teardown early.
  self->pendingTeardown_ = self->live_.size() + 1;
  std::list<Closeable*> items;
  items.swap(self->live_);
  for (Closeable* item : items) {
    item->CloseForTeardown([self] { self->OneClosed(); });
  }
  self->OneClosed();
}

void AddonData::OneClosed() {
  if (--pendingTeardown_ == 0) {
    // Removing the hook lets Node finish tearing down the environment, which may free this
    // AddonData before the call returns: nothing may touch `this` afterwards.
    napi_async_cleanup_hook_handle handle = cleanupHandle_;
    cleanupHandle_ = nullptr;
    napi_remove_async_cleanup_hook(handle);
  }
}

// digestInfo(name): [outputSize, isXof, canonical name] or undefined when OpenSSL knows no
// such digest. (OpenSSL 3.4+ reports size 0 for SHAKE: the caller picks Node's defaults.)
static Napi::Value DigestInfo(const Napi::CallbackInfo& info) {
  auto* data = info.Env().GetInstanceData<AddonData>();
  const EVP_MD* md = data->digests.Get(info[0].As<Napi::String>().Utf8Value());
  if (md == nullptr) return info.Env().Undefined();
  Napi::Array result = Napi::Array::New(info.Env(), 3);
  result.Set(0u, Napi::Number::New(info.Env(), EVP_MD_get_size(md)));
  result.Set(1u, Napi::Boolean::New(info.Env(), (EVP_MD_get_flags(md) & EVP_MD_FLAG_XOF) != 0));
  result.Set(2u, Napi::String::New(info.Env(), EVP_MD_get0_name(md)));
  return result;
}

// cipherInfo(name): [OpenSSL's mode, key length, iv length, block size, is AEAD, OpenSSL's
// name] or undefined when OpenSSL cannot run such a cipher here.
static Napi::Value CipherInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const EVP_CIPHER* cipher = env.GetInstanceData<AddonData>()->ciphers.Cipher(info[0].As<Napi::String>().Utf8Value());
  if (cipher == nullptr) return env.Undefined();
  Napi::Array result = Napi::Array::New(env, 6);
  result.Set(0u, Napi::Number::New(env, EVP_CIPHER_get_mode(cipher)));
  result.Set(1u, Napi::Number::New(env, EVP_CIPHER_get_key_length(cipher)));
  result.Set(2u, Napi::Number::New(env, EVP_CIPHER_get_iv_length(cipher)));
  result.Set(3u, Napi::Number::New(env, EVP_CIPHER_get_block_size(cipher)));
  result.Set(4u, Napi::Boolean::New(env, (EVP_CIPHER_get_flags(cipher) & EVP_CIPH_FLAG_AEAD_CIPHER) != 0));
  result.Set(5u, Napi::String::New(env, EVP_CIPHER_get0_name(cipher)));
  return result;
}

// kdfAvailable(name): whether the running OpenSSL has this EVP_KDF ("ARGON2ID": 3.2 and later).
static Napi::Value KdfAvailable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::Boolean::New(env, env.GetInstanceData<AddonData>()->ciphers.Kdf(info[0].As<Napi::String>().Utf8Value()) != nullptr);
}

// scryptParamsValid(N, r, p, maxmem): OpenSSL's own parameter check, before queueing.
static Napi::Value ScryptValid(const Napi::CallbackInfo& info) {
  auto u64 = [&](size_t i) { return static_cast<uint64_t>(info[i].As<Napi::Number>().DoubleValue()); };
  return Napi::Boolean::New(info.Env(), ScryptParamsValid(u64(0), u64(1), u64(2), u64(3)));
}

// isDetached(view): whether the view's ArrayBuffer has been detached (transferred).
static Napi::Value IsDetached(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), IsDetachedView(info.Env(), info[0]));
}

// abortForExit(): called from process 'exit': cancel queued pool jobs, stop running ones.
static Napi::Value AbortForExit(const Napi::CallbackInfo& info) {
  info.Env().GetInstanceData<AddonData>()->AbortForExit();
  return info.Env().Undefined();
}

// blockProfilerSignalInPoll(): from now on this environment's loop waits for I/O with SIGPROF
// blocked (libuv's UV_LOOP_BLOCK_SIGNAL, made for sampling profilers): V8's sampler signal no
// longer cuts epoll_wait short, which libuv's idle time would lose. The signal is delivered
// when the wait ends. For the lifetime of the loop; 0, or a libuv error code.
static Napi::Value BlockProfilerSignalInPoll(const Napi::CallbackInfo& info) {
#ifdef _WIN32
  int rc = UV_ENOSYS;
#else
  int rc = uv_loop_configure(info.Env().GetInstanceData<AddonData>()->loop, UV_LOOP_BLOCK_SIGNAL, SIGPROF);
#endif
  return Napi::Number::New(info.Env(), rc);
}

static Napi::Value Now(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), NowNs());
}

// The codes the addon and src/native.ts share, for the check at load: phase codes (phase.h),
// kernel names by id (kernel.h), job flags (work_queue.h), cipher setup flags (arguments.h).
static Napi::Object Constants(Napi::Env env) {
  Napi::Object constants = Napi::Object::New(env);
  Napi::Object phases = Napi::Object::New(env);
  const std::pair<const char*, uint8_t> phaseCodes[] = {
      {"unknown", kPhaseUnknown}, {"timers", kPhaseTimers},   {"pending", kPhasePending},
      {"idle", kPhaseIdle},       {"prepare", kPhasePrepare}, {"poll", kPhasePoll},
      {"check", kPhaseCheck},     {"close", kPhaseClose},     {"longIteration", kEventLongIteration},
      {"startup", kPhaseStartup}};
  for (const auto& [name, code] : phaseCodes) phases.Set(name, Napi::Number::New(env, code));
  constants.Set("phases", phases);
  Napi::Array kernels = Napi::Array::New(env, kKernelCount);
  for (uint32_t id = 0; id < kKernelCount; id++) kernels.Set(id, Napi::String::New(env, kKernelNames[id]));
  constants.Set("kernels", kernels);
  Napi::Object jobFlags = Napi::Object::New(env);
  jobFlags.Set("report", Napi::Number::New(env, kJobReport));
  jobFlags.Set("excludeStats", Napi::Number::New(env, kJobExcludeStats));
  jobFlags.Set("resolveQueueWait", Napi::Number::New(env, kJobResolveQueueWait));
  jobFlags.Set("lowPriority", Napi::Number::New(env, kJobLowPriority));
  jobFlags.Set("spread", Napi::Number::New(env, kJobSpread));
  jobFlags.Set("span", Napi::Number::New(env, kJobFlagSpan));
  constants.Set("jobFlags", jobFlags);
  Napi::Object cipherFlags = Napi::Object::New(env);
  cipherFlags.Set("encrypt", Napi::Number::New(env, kCipherEncrypt));
  cipherFlags.Set("aead", Napi::Number::New(env, kCipherAead));
  cipherFlags.Set("padding", Napi::Number::New(env, kCipherPadding));
  constants.Set("cipherFlags", cipherFlags);
  return constants;
}

// { observerCores, jobs, workQueues }: native objects alive in the whole process (see live_counts.h).
static Napi::Value LiveObjects(const Napi::CallbackInfo& info) {
  Napi::Object counts = Napi::Object::New(info.Env());
  counts.Set("observerCores", static_cast<double>(live::observerCores.load()));
  counts.Set("jobs", static_cast<double>(live::jobs.load()));
  counts.Set("workQueues", static_cast<double>(live::workQueues.load()));
  counts.Set("watchdogs", static_cast<double>(live::watchdogs.load()));
  counts.Set("watchdogThreads", static_cast<double>(live::watchdogThreads.load()));
  return counts;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  PinThisLibrary();  // the live-report hub and stack callbacks outlive this environment
  auto* data = new AddonData(env);
  env.SetInstanceData<AddonData>(data);
  exports.Set("nowNs", Napi::Function::New(env, Now, "nowNs"));
  exports.Set("uvVersion", Napi::String::New(env, uv_version_string()));
  LoopObserverWrap::Init(env, exports, data);
  StallWatchdogWrap::Init(env, exports, data);
  LiveReportSubscription::Init(env, exports, data);
  WorkQueueWrap::Init(env, exports, data);
  HasherWrap::Init(env, exports, data);
  HashManyBatchWrap::Init(env, exports, data);
  CipherWrap::Init(env, exports, data);
  BarrierWrap::Init(env, exports);
  InitPoolThreads(env, exports);
  InitJobPriority(env, exports);
  InitCpuSpread(env, exports);
  InitRequestTable(env, exports, data->requests);
  exports.Set("abortForExit", Napi::Function::New(env, AbortForExit, "abortForExit"));
  exports.Set("isDetached", Napi::Function::New(env, IsDetached, "isDetached"));
  exports.Set("digestInfo", Napi::Function::New(env, DigestInfo, "digestInfo"));
  exports.Set("cipherInfo", Napi::Function::New(env, CipherInfo, "cipherInfo"));
  exports.Set("kdfAvailable", Napi::Function::New(env, KdfAvailable, "kdfAvailable"));
  exports.Set("scryptParamsValid", Napi::Function::New(env, ScryptValid, "scryptParamsValid"));
  exports.Set("liveObjects", Napi::Function::New(env, LiveObjects, "liveObjects"));
  exports.Set("blockProfilerSignalInPoll", Napi::Function::New(env, BlockProfilerSignalInPoll, "blockProfilerSignalInPoll"));
  exports.Set("constants", Constants(env));
  return exports;
}

}  // namespace uvscope

static Napi::Object InitUvscope(Napi::Env env, Napi::Object exports) {
  return uvscope::Init(env, exports);
}

NODE_API_MODULE(uvscope, InitUvscope)
