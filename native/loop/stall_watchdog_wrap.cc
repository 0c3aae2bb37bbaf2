// StallWatchdogWrap, the stall watchdog's JavaScript face: see stall_watchdog.h.
#include <uv.h>

#include <string>

#include "../js_callback.h"
#include "stall_watchdog.h"

namespace uvscope {
namespace {

// The tag the stack addon puts on its provider External (stack_provider.h).
constexpr napi_type_tag kProviderTag = {UVSCOPE_STACK_PROVIDER_TAG_LOWER, UVSCOPE_STACK_PROVIDER_TAG_UPPER};

}  // namespace

void StallWatchdogWrap::Init(Napi::Env env, Napi::Object exports, AddonData* data) {
  Napi::Function ctor = DefineClass(env, "NativeStallWatchdog",
                                    {
                                        InstanceMethod<&StallWatchdogWrap::Start>("start"),
                                        InstanceMethod<&StallWatchdogWrap::Stop>("stop"),
                                        InstanceMethod<&StallWatchdogWrap::Close>("close"),
                                        InstanceMethod<&StallWatchdogWrap::Ref>("ref"),
                                        InstanceMethod<&StallWatchdogWrap::Unref>("unref"),
                                        InstanceMethod<&StallWatchdogWrap::Stats>("stats"),
                                        StaticMethod<&StallWatchdogWrap::FailThreadStarts>("_failThreadStarts"),
                                    },
                                    data);
  exports.Set("NativeStallWatchdog", ctor);
}

namespace {

// An Error with Node's shape for a failed system call: code (the errno's name), errno, syscall.
Napi::Error SystemError(Napi::Env env, const std::string& message, int error, const char* syscall) {
  const char* name = uv_err_name(-error);
  Napi::Error result = Napi::Error::New(env, message + " (" + name + ")");
  result.Set("code", Napi::String::New(env, name));
  result.Set("errno", Napi::Number::New(env, -error));
  result.Set("syscall", Napi::String::New(env, syscall));
  return result;
}

// A C++ exception other than Napi::Error must not leave a Node-API callback (it would end the
// process): out of memory becomes a JavaScript Error with a code.
template <typename Fn>
auto Guarded(Napi::Env env, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    Napi::Error error = Napi::Error::New(env, "uvscope: out of memory");
    error.Set("code", Napi::String::New(env, "ERR_UVSCOPE_OUT_OF_MEMORY"));
    throw error;
  } catch (const std::exception& failure) {
    Napi::Error error = Napi::Error::New(env, std::string("uvscope: ") + failure.what());
    error.Set("code", Napi::String::New(env, "ERR_UVSCOPE_NATIVE"));
    throw error;
  }
}

}  // namespace

// new NativeStallWatchdog(thresholdNs, repeatNs, stacks, fd, maxFrames, threadId, provider |
// undefined, stackUnavailable, emitter(json)): validated in TypeScript, except what only the
// native side can check: the provider's type tag (a TypeError) and the descriptor, which is
// duplicated here (an Error with the errno's code when it is not open for writing).
StallWatchdogWrap::StallWatchdogWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<StallWatchdogWrap>(info) {
  Napi::Env env = info.Env();
  data_ = static_cast<AddonData*>(info.Data());
  if (data_->tearingDown()) throw Napi::Error::New(env, "uvscope: the environment is shutting down");
  Guarded(env, [&] {
    WatchdogConfig config;
    config.thresholdNs = static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue());
    config.repeatNs = static_cast<uint64_t>(info[1].As<Napi::Number>().DoubleValue());
    config.stacks = info[2].ToBoolean();
    config.attribution = info[9].ToBoolean();
    int fd = info[3].As<Napi::Number>().Int32Value();
    config.maxFrames = info[4].As<Napi::Number>().Uint32Value();
    config.threadId = info[5].As<Napi::Number>().DoubleValue();
    uvscope_stack_provider* provider = nullptr;
    if (!info[6].IsUndefined()) {
      // Only the stack addon's own External is read as a provider: its type tag says so.
      bool tagged = false;
      if (info[6].IsExternal()) tagged = info[6].As<Napi::External<uvscope_stack_provider>>().CheckTypeTag(&kProviderTag);
      if (!tagged) {
        Napi::TypeError error = Napi::TypeError::New(env, "The \"stackProvider\" argument must be the stack addon's provider() or undefined");
        error.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
        throw error;
      }
      auto* candidate = info[6].As<Napi::External<uvscope_stack_provider>>().Data();
      if (candidate != nullptr && candidate->version == UVSCOPE_STACK_PROVIDER_VERSION) provider = candidate;
    }
    config.stackUnavailable = info[7].IsString() ? info[7].As<Napi::String>().Utf8Value() : "";
    if (config.stacks && provider == nullptr && config.stackUnavailable.empty()) {
      config.stackUnavailable = "the stack addon did not provide a compatible provider";
    }
    auto sink = std::make_unique<ReportSink>();
    if (fd >= 0) {
      int error = sink->Open(fd);
      if (error != 0) {
        throw SystemError(env, "StallWatchdog: options.file: cannot write to descriptor " + std::to_string(fd), error,
                          "dup");
      }
    }
    emitter_ = Napi::Persistent(info[8].As<Napi::Function>());
    asyncContext_ = std::make_unique<Napi::AsyncContext>(env, "uvscope:StallWatchdog", Napi::Object::New(env));
    core_ = new StallWatchdogCore(data_, std::move(config), provider, std::move(sink));
    core_->SetOwner(this);
    data_->Register(this);
  });
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
  StallWatchdogCore* core = Live(info, "start");
  int error = Guarded(info.Env(), [core] { return core->Start(); });
  if (error != 0) {
    Napi::Error failure = SystemError(info.Env(), "StallWatchdog.start(): cannot start the watchdog thread", error,
                                      "pthread_create");
    failure.Set("code", Napi::String::New(info.Env(), "ERR_UVSCOPE_THREAD_START"));
    throw failure;
  }
  return info.Env().Undefined();
}

// _failThreadStarts(count): test hook (see StallWatchdogCore::FailThreadStarts).
Napi::Value StallWatchdogWrap::FailThreadStarts(const Napi::CallbackInfo& info) {
  StallWatchdogCore::FailThreadStarts(info[0].As<Napi::Number>().Uint32Value());
  return info.Env().Undefined();
}

Napi::Value StallWatchdogWrap::Stop(const Napi::CallbackInfo& info) {
  StallWatchdogCore* core = Live(info, "stop");
  Guarded(info.Env(), [core] { core->Stop(); });
  return info.Env().Undefined();
}

Napi::Value StallWatchdogWrap::Close(const Napi::CallbackInfo& info) {
  if (core_ != nullptr) {
    data_->Unregister(this);
    Guarded(info.Env(), [this] { ReleaseCore(nullptr); });
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

// stats(): [stalls, longestNs, totalNs, reports, reportsWritten, reportsDropped]
Napi::Value StallWatchdogWrap::Stats(const Napi::CallbackInfo& info) {
  StallWatchdogCore* core = Live(info, "stats");
  StallWatchdogCore::Counts counts = Guarded(info.Env(), [core] { return core->Stats(); });
  Napi::Array result = Napi::Array::New(info.Env(), 6);
  result.Set(0u, static_cast<double>(counts.stalls));
  result.Set(1u, static_cast<double>(counts.longestNs));
  result.Set(2u, static_cast<double>(counts.totalNs));
  result.Set(3u, static_cast<double>(counts.reports));
  result.Set(4u, static_cast<double>(counts.reportsWritten));
  result.Set(5u, static_cast<double>(counts.reportsDropped));
  return result;
}

// Loop thread: emitter(json).
void StallWatchdogWrap::EmitStall(const std::string& json) {
  if (emitter_.IsEmpty() || !asyncContext_) return;
  CallWithString(Env(), *asyncContext_, emitter_, json);
}

}  // namespace uvscope
