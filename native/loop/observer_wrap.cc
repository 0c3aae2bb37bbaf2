// LoopObserverWrap, the loop observer's JavaScript face (declared in observer.h): validates
// nothing (TypeScript does, src/loop/observer.ts), forwards to its ObserverCore, and calls the
// JS emitter for the phase events and long iterations the core sinks to it. Everything here runs
// on the loop thread of the environment that created the observer.
#include "../js_callback.h"
#include "../typed_args.h"
#include "observer.h"

namespace uvscope {

void LoopObserverWrap::Init(Napi::Env env, Napi::Object exports, AddonData* data) {
  Napi::Function ctor = DefineClass(
      env, "NativeLoopObserver",
      {
          InstanceMethod<&LoopObserverWrap::Start>("start"),
          InstanceMethod<&LoopObserverWrap::Stop>("stop"),
          InstanceMethod<&LoopObserverWrap::Close>("close"),
          InstanceMethod<&LoopObserverWrap::Ref>("ref"),
          InstanceMethod<&LoopObserverWrap::Unref>("unref"),
          InstanceMethod<&LoopObserverWrap::Reset>("reset"),
          InstanceMethod<&LoopObserverWrap::Configure>("configure"),
          InstanceMethod<&LoopObserverWrap::SetEmitter>("setEmitter"),
          InstanceMethod<&LoopObserverWrap::Snapshot>("snapshot"),
          InstanceMethod<&LoopObserverWrap::Buckets>("buckets"),
          InstanceMethod<&LoopObserverWrap::DrainTrace>("drainTrace"),
          InstanceMethod<&LoopObserverWrap::CurrentPhase>("currentPhase"),
          InstanceMethod<&LoopObserverWrap::TraceDropped>("traceDropped"),
          InstanceMethod<&LoopObserverWrap::TraceBuffered>("traceBuffered"),
          InstanceMethod<&LoopObserverWrap::TrimTrace>("trimTrace"),
          InstanceMethod<&LoopObserverWrap::TakeWindow>("takeWindow"),
          InstanceMethod<&LoopObserverWrap::ClockInfo>("clockInfo"),
          StaticValue("windowFields", Napi::Number::New(env, ObserverCore::kWindowFields)),
          StaticValue("snapshotFields", Napi::Number::New(env, ObserverCore::kSnapshotFields)),
          StaticValue("timeFields", Napi::Number::New(env, ObserverCore::kTimeFields)),
          StaticValue("bucketReadoutSize", Napi::Number::New(env, Histogram::kBucketReadoutSize)),
      },
      data);
  data->loopObserverConstructor = Napi::Persistent(ctor);
  exports.Set("NativeLoopObserver", ctor);
}

// new NativeLoopObserver(traceCapacity, blockThresholdNs): arguments validated in TypeScript.
LoopObserverWrap::LoopObserverWrap(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<LoopObserverWrap>(info) {
  data_ = static_cast<AddonData*>(info.Data());
  if (data_->tearingDown()) {
    throw Napi::Error::New(info.Env(), "uvscope: the environment is shutting down");
  }
  auto traceCapacity = static_cast<size_t>(info[0].As<Napi::Number>().Int64Value());
  auto blockThresholdNs = static_cast<uint64_t>(info[1].As<Napi::Number>().DoubleValue());
  core_ = new ObserverCore(data_, traceCapacity, blockThresholdNs);
  core_->SetSink(this);
  data_->Register(this);
}

LoopObserverWrap::~LoopObserverWrap() {
  // Collected without close(): close the handles now; the core frees itself afterwards.
  // (After teardown core_ is null and AddonData may be gone: touch neither.)
  if (core_ != nullptr) {
    data_->Unregister(this);
    ReleaseCore(nullptr);
  }
}

void LoopObserverWrap::ReleaseCore(std::function<void()> done) {
  ObserverCore* core = core_;
  core_ = nullptr;
  core->Close(std::move(done));
}

void LoopObserverWrap::CloseForTeardown(std::function<void()> done) {
  if (core_ == nullptr) {
    done();
    return;
  }
  ReleaseCore(std::move(done));
}

ObserverCore* LoopObserverWrap::LiveCore(const Napi::CallbackInfo& info, const char* method) {
  if (core_ == nullptr) {
    Napi::Error error = Napi::Error::New(
        info.Env(), std::string("LoopObserver.") + method + "(): the observer is closed");
    error.Set("code", Napi::String::New(info.Env(), "ERR_UVSCOPE_CLOSED"));
    throw error;
  }
  return core_;
}

Napi::Value LoopObserverWrap::Start(const Napi::CallbackInfo& info) {
  LiveCore(info, "start")->Start();
  return info.Env().Undefined();
}

Napi::Value LoopObserverWrap::Stop(const Napi::CallbackInfo& info) {
  LiveCore(info, "stop")->Stop();
  return info.Env().Undefined();
}

Napi::Value LoopObserverWrap::Close(const Napi::CallbackInfo& info) {
  if (core_ != nullptr) {
    data_->Unregister(this);
    ReleaseCore(nullptr);
  }
  emitter_.Reset();
  return info.Env().Undefined();
}

Napi::Value LoopObserverWrap::Ref(const Napi::CallbackInfo& info) {
  LiveCore(info, "ref")->Ref();
  return info.Env().Undefined();
}

Napi::Value LoopObserverWrap::Unref(const Napi::CallbackInfo& info) {
  LiveCore(info, "unref")->Unref();
  return info.Env().Undefined();
}

Napi::Value LoopObserverWrap::Reset(const Napi::CallbackInfo& info) {
  LiveCore(info, "reset")->Reset();
  return info.Env().Undefined();
}

// configure(idle: boolean, markers: boolean, eventMask: number)
Napi::Value LoopObserverWrap::Configure(const Napi::CallbackInfo& info) {
  ObserverCore* core = LiveCore(info, "configure");
  core->SetIdle(info[0].ToBoolean());
  core->SetMarkers(info[1].ToBoolean());
  core->SetEventMask(info[2].As<Napi::Number>().Uint32Value());
  return info.Env().Undefined();
}

// setEmitter(fn(phase, timeNs: bigint, iteration)): called per enabled phase event.
Napi::Value LoopObserverWrap::SetEmitter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  emitter_ = Napi::Persistent(info[0].As<Napi::Function>());
  if (!asyncContext_) {
    // A plain resource object, not this wrapper: from Node 26 napi_async_init holds its resource
    // strongly until napi_async_destroy (in our destructor), and the wrapper as its own
    // resource would never be collected: a dropped observer would never close.
    asyncContext_ = std::make_unique<Napi::AsyncContext>(env, "uvscope:LoopObserver", Napi::Object::New(env));
  }
  return env.Undefined();
}

// Plain Node-API calls, checked one by one: while a worker is being terminated the loop
// finishes its iteration but JavaScript can no longer run, and every call here may fail.
// That must end quietly, never in a C++ exception thrown through libuv.
void LoopObserverWrap::OnPhase(Phase phase, uint64_t timeNs, uint64_t iteration) {
  if (emitter_.IsEmpty() || !asyncContext_) return;
  napi_env env = Env();
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value args[3];
  if (napi_create_uint32(env, phase, &args[0]) == napi_ok &&
      napi_create_bigint_uint64(env, timeNs, &args[1]) == napi_ok &&
      napi_create_double(env, static_cast<double>(iteration), &args[2]) == napi_ok) {
    CallEmitter(3, args);
  }
  napi_close_handle_scope(env, scope);
}

// emitter(8, endedAtNs, iteration, durationNs, pollWaitNs, pollWorkNs, outsidePollNs)
void LoopObserverWrap::OnLongIteration(const LongIteration& longIteration) {
  if (emitter_.IsEmpty() || !asyncContext_) return;
  napi_env env = Env();
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value args[7];
  const uint64_t numbers[] = {longIteration.iteration, longIteration.durationNs, longIteration.pollWaitNs,
                              longIteration.pollWorkNs, longIteration.outsidePollNs};
  bool ok = napi_create_uint32(env, kEventLongIteration, &args[0]) == napi_ok &&
            napi_create_bigint_uint64(env, longIteration.endedAtNs, &args[1]) == napi_ok;
  for (int i = 0; ok && i < 5; i++) ok = napi_create_double(env, static_cast<double>(numbers[i]), &args[2 + i]) == napi_ok;
  if (ok) CallEmitter(7, args);
  napi_close_handle_scope(env, scope);
}

void LoopObserverWrap::CallEmitter(size_t argc, napi_value* args) {
  MakeCallback(Env(), *asyncContext_, emitter_, argc, args);
}

// snapshot(numbers: Float64Array, times: BigUint64Array)
Napi::Value LoopObserverWrap::Snapshot(const Napi::CallbackInfo& info) {
  ObserverCore* core = LiveCore(info, "stats");
  size_t numberCount = 0, timeCount = 0;
  double* numbers = Float64ArrayArg(info[0], "numbers", &numberCount);
  uint64_t* times = BigUint64ArrayArg(info[1], "times", &timeCount);
  if (numberCount < ObserverCore::kSnapshotFields || timeCount < ObserverCore::kTimeFields) {
    throw Napi::RangeError::New(info.Env(), "snapshot buffers too small");
  }
  core->Snapshot(numbers, times);
  return info.Env().Undefined();
}

// buckets(which, out: Float64Array): how many numbers Histogram::WriteBuckets wrote into out.
Napi::Value LoopObserverWrap::Buckets(const Napi::CallbackInfo& info) {
  ObserverCore* core = LiveCore(info, "stats");
  size_t length = 0;
  double* out = Float64ArrayArg(info[1], "out", &length);
  int written = core->WriteBuckets(info[0].As<Napi::Number>().Int32Value(), out, static_cast<int>(length));
  if (written < 0) throw Napi::RangeError::New(info.Env(), "no such histogram");
  return Napi::Number::New(info.Env(), written);
}

// drainTrace(maxEntries?): [timesNs: BigUint64Array, iterations: Float64Array, phases: Uint8Array,
// pollWaitsNs: Float64Array], columns of every buffered event, oldest first; the poll wait is
// that of the poll phase a check event ends (0 for the other events).
Napi::Value LoopObserverWrap::DrainTrace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ObserverCore* core = LiveCore(info, "trace");
  size_t n = core->trace().buffered();
  // drainTrace(maxEntries): at most that many, the oldest (validated in TypeScript).
  if (info.Length() > 0 && info[0].IsNumber()) {
    double max = info[0].As<Napi::Number>().DoubleValue();
    if (max >= 0 && max < static_cast<double>(n)) n = static_cast<size_t>(max);
  }
  auto times = Napi::BigUint64Array::New(env, n);
  auto iterations = Napi::Float64Array::New(env, n);
  auto phases = Napi::Uint8Array::New(env, n);
  auto pollWaits = Napi::Float64Array::New(env, n);
  core->trace().Drain(times.Data(), iterations.Data(), phases.Data(), pollWaits.Data(), n);
  Napi::Array columns = Napi::Array::New(env, 4);
  columns.Set(0u, times);
  columns.Set(1u, iterations);
  columns.Set(2u, phases);
  columns.Set(3u, pollWaits);
  return columns;
}

Napi::Value LoopObserverWrap::CurrentPhase(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), core_ ? core_->currentPhase() : kPhaseUnknown);
}

Napi::Value LoopObserverWrap::TraceDropped(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), core_ ? static_cast<double>(core_->trace().dropped()) : 0);
}

// clockInfo() -> [source, resyncs] of the core's LoopClock (called while the core lives).
Napi::Value LoopObserverWrap::ClockInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::String::New(env, core_ ? core_->clock().source() : "hrtime"));
  result.Set(1u, Napi::Number::New(env, core_ ? core_->clock().resyncs() : 0));
  return result;
}

}  // namespace uvscope

namespace uvscope {

Napi::Value LoopObserverWrap::TraceBuffered(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), core_ ? static_cast<double>(core_->trace().buffered()) : 0);
}

}  // namespace uvscope

namespace uvscope {

// trimTrace(keep): forgets all but the newest `keep` buffered trace entries (validated in TypeScript).
Napi::Value LoopObserverWrap::TrimTrace(const Napi::CallbackInfo& info) {
  ObserverCore* core = LiveCore(info, "trimTrace");
  double keep = info[0].As<Napi::Number>().DoubleValue();
  core->trace().Trim(keep > 0 ? static_cast<size_t>(keep) : 0);
  return info.Env().Undefined();
}

// takeWindow(numbers: Float64Array(windowFields), times: BigUint64Array(2)): see ObserverCore::TakeWindow.
Napi::Value LoopObserverWrap::TakeWindow(const Napi::CallbackInfo& info) {
  ObserverCore* core = LiveCore(info, "takeWindow");
  size_t numbersLength = 0;
  size_t timesLength = 0;
  double* numbers = Float64ArrayArg(info[0], "numbers", &numbersLength);
  uint64_t* times = BigUint64ArrayArg(info[1], "times", &timesLength);
  if (numbersLength < ObserverCore::kWindowFields || timesLength < 2) {
    throw Napi::RangeError::New(info.Env(), "takeWindow: arrays too short");
  }
  core->TakeWindow(numbers, times);
  return info.Env().Undefined();
}

}  // namespace uvscope
