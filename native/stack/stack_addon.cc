// uvscope_stack.node: module init, one EnvState per Node environment, and the exports.
//
// Built per Node ABI against Node's own headers (V8 API), registered context-aware with
// NODE_MODULE_INIT so it loads in workers too, and a build for another ABI is refused by
// Node's own NODE_MODULE_VERSION check. Owns the EnvState: created at init, freed by the
// environment's cleanup hook, which shuts the provider down (cancelling a pending request),
// stops the test hook and drops the environment's reference to the provider.
//
// Exports:
//   provider()            External of this environment's uvscope_stack_provider*, for
//                         napi_get_value_external in the Node-API addon
//   abi                   NODE_MODULE_VERSION this file was built for
//   providerVersion       UVSCOPE_STACK_PROVIDER_VERSION
// Test hooks (test_hook.h; the watchdog does not use them):
//   _requestFromThread(delayMs, maxFrames = 64, count = 1, gated = false)
//                         a native thread waits delayMs (or for _openGate()), then calls
//                         request() `count` times
//   _requestNow(maxFrames = 64, count = 1)   request() `count` times on this thread
//   _takeResult()         joins that thread; {status, requests, doneCalls, frames,
//                         requestedAtNs, capturedAtNs}, or undefined while pending / none
//   _openGate()           releases gated request threads (process-wide)
//   _blockUntilQueued(timeoutMs = 10000)   native call returning (uv_hrtime bigint, 0n on
//                         timeout) once this environment's hook request is queued
//   _counters()           process-wide request totals (provider.h) and `blocking`
#include <node.h>
#include <node_version.h>
#include <uv.h>
#include <v8.h>

#include "provider.h"
#include "test_hook.h"

namespace uvscope_stack {
namespace {

struct EnvState {
  explicit EnvState(v8::Isolate* isolate) : provider(Provider::Create(isolate)), hook(provider) {}
  Provider* provider;  // the environment's reference, released in Cleanup
  TestHook hook;
};

void Cleanup(void* arg) {
  EnvState* state = static_cast<EnvState*>(arg);
  Provider* provider = state->provider;
  provider->Retain();    // keep it for hook.Stop(): its thread may still call request()
  provider->Shutdown();  // cancels a pending request (its done() may write into the hook)
  state->hook.Stop();
  delete state;
  provider->Release();
}

EnvState* StateOf(const v8::FunctionCallbackInfo<v8::Value>& info) {
  return static_cast<EnvState*>(info.Data().As<v8::External>()->Value());
}

void ThrowTypeError(v8::Isolate* isolate, const char* message) {
  isolate->ThrowException(v8::Exception::TypeError(v8::String::NewFromUtf8(isolate, message).ToLocalChecked()));
}

// A non-negative integer argument (no conversion: valueOf never runs). False after throwing.
bool Uint32Arg(const v8::FunctionCallbackInfo<v8::Value>& info, int index, uint32_t fallback, uint32_t* out) {
  if (info.Length() <= index || info[index]->IsUndefined()) {
    *out = fallback;
    return true;
  }
  if (!info[index]->IsNumber()) {
    ThrowTypeError(info.GetIsolate(), "expected a non-negative integer");
    return false;
  }
  double value = info[index].As<v8::Number>()->Value();
  if (!(value >= 0 && value <= 4294967295.0) || value != static_cast<double>(static_cast<uint32_t>(value))) {
    ThrowTypeError(info.GetIsolate(), "expected a non-negative integer");
    return false;
  }
  *out = static_cast<uint32_t>(value);
  return true;
}

v8::Local<v8::String> Str(v8::Isolate* isolate, const char* text) {
  return v8::String::NewFromUtf8(isolate, text).ToLocalChecked();
}
v8::Local<v8::String> Str(v8::Isolate* isolate, const std::string& text) {
  return v8::String::NewFromUtf8(isolate, text.data(), v8::NewStringType::kNormal, static_cast<int>(text.size()))
      .ToLocalChecked();
}

void Put(v8::Local<v8::Context> context, v8::Local<v8::Object> object, const char* key, v8::Local<v8::Value> value) {
  object->CreateDataProperty(context, Str(context->GetIsolate(), key), value).Check();
}

const char* RequestStatusName(int status) {
  switch (status) {
    case UVSCOPE_STACK_QUEUED: return "queued";
    case UVSCOPE_STACK_GONE: return "gone";
    case UVSCOPE_STACK_BUSY: return "busy";
    default: return "unknown";
  }
}

void GetProvider(const v8::FunctionCallbackInfo<v8::Value>& info) {
  uvscope_stack_provider* provider = StateOf(info)->provider;
  // What napi_create_external(env, provider, nullptr, nullptr, &value) makes: a V8 External
  // with no finalizer. The environment's reference keeps the provider alive as long as any
  // JavaScript of this environment can reach the External.
  info.GetReturnValue().Set(v8::External::New(info.GetIsolate(), provider));
}

void RequestFromThread(const v8::FunctionCallbackInfo<v8::Value>& info) {
  uint32_t delay_ms, max_frames, count;
  if (!Uint32Arg(info, 0, 0, &delay_ms) || !Uint32Arg(info, 1, 64, &max_frames) || !Uint32Arg(info, 2, 1, &count)) return;
  bool gated = info.Length() > 3 && info[3]->IsTrue();
  if (!StateOf(info)->hook.StartThread(delay_ms, max_frames, count, gated)) {
    info.GetIsolate()->ThrowException(v8::Exception::Error(Str(info.GetIsolate(), "take the previous result first (_takeResult)")));
  }
}

void RequestNow(const v8::FunctionCallbackInfo<v8::Value>& info) {
  uint32_t max_frames, count;
  if (!Uint32Arg(info, 0, 64, &max_frames) || !Uint32Arg(info, 1, 1, &count)) return;
  if (!StateOf(info)->hook.RequestNow(max_frames, count)) {
    info.GetIsolate()->ThrowException(v8::Exception::Error(Str(info.GetIsolate(), "take the previous result first (_takeResult)")));
  }
}

void OpenGate(const v8::FunctionCallbackInfo<v8::Value>&) { TestHook::OpenGate(); }

void BlockUntilQueued(const v8::FunctionCallbackInfo<v8::Value>& info) {
  uint32_t timeout_ms;
  if (!Uint32Arg(info, 0, 10000, &timeout_ms)) return;
  bool queued = StateOf(info)->hook.BlockUntilQueued(timeout_ms);
  uint64_t returned_at = uv_hrtime();
  v8::Isolate* isolate = info.GetIsolate();
  // The time this native call ended, or 0n after a timeout.
  info.GetReturnValue().Set(v8::BigInt::NewFromUnsigned(isolate, queued ? returned_at : 0));
}

void TakeResult(const v8::FunctionCallbackInfo<v8::Value>& info) {
  HookResult result;
  if (!StateOf(info)->hook.Take(&result)) return;  // undefined
  v8::Isolate* isolate = info.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Object> out = v8::Object::New(isolate);
  const char* status;
  if (result.requests.empty()) {
    status = "none";
  } else if (result.requests[0] != UVSCOPE_STACK_QUEUED) {
    status = RequestStatusName(result.requests[0]);
  } else {
    status = result.status == UVSCOPE_STACK_CAPTURED ? "captured" : "cancelled";
  }
  Put(context, out, "status", Str(isolate, status));
  v8::Local<v8::Array> requests = v8::Array::New(isolate, static_cast<int>(result.requests.size()));
  for (size_t i = 0; i < result.requests.size(); i++) {
    requests->Set(context, static_cast<uint32_t>(i), Str(isolate, RequestStatusName(result.requests[i]))).Check();
  }
  Put(context, out, "requests", requests);
  Put(context, out, "doneCalls", v8::Integer::NewFromUnsigned(isolate, result.done_calls));
  v8::Local<v8::Array> frames = v8::Array::New(isolate, static_cast<int>(result.frames.size()));
  for (size_t i = 0; i < result.frames.size(); i++) {
    const HookFrame& f = result.frames[i];
    v8::Local<v8::Object> frame = v8::Object::New(isolate);
    Put(context, frame, "functionName", Str(isolate, f.function_name));
    Put(context, frame, "url", Str(isolate, f.url));
    Put(context, frame, "line", v8::Integer::New(isolate, f.line));
    Put(context, frame, "column", v8::Integer::New(isolate, f.column));
    frames->Set(context, static_cast<uint32_t>(i), frame).Check();
  }
  Put(context, out, "frames", frames);
  Put(context, out, "requestedAtNs", v8::BigInt::NewFromUnsigned(isolate, result.requested_at_ns));
  Put(context, out, "capturedAtNs", v8::BigInt::NewFromUnsigned(isolate, result.captured_at_ns));
  info.GetReturnValue().Set(out);
}

void GetCounters(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  Counters& c = GlobalCounters();
  v8::Local<v8::Object> out = v8::Object::New(isolate);
  Put(context, out, "queued", v8::Number::New(isolate, static_cast<double>(c.queued.load())));
  Put(context, out, "busy", v8::Number::New(isolate, static_cast<double>(c.busy.load())));
  Put(context, out, "gone", v8::Number::New(isolate, static_cast<double>(c.gone.load())));
  Put(context, out, "captured", v8::Number::New(isolate, static_cast<double>(c.captured.load())));
  Put(context, out, "cancelled", v8::Number::New(isolate, static_cast<double>(c.cancelled.load())));
  Put(context, out, "blocking", v8::Integer::NewFromUnsigned(isolate, TestHook::Blocking()));
  Put(context, out, "stale", v8::Number::New(isolate, static_cast<double>(c.stale.load())));
  info.GetReturnValue().Set(out);
}

void SetMethod(v8::Local<v8::Context> context, v8::Local<v8::Object> exports, const char* name,
               v8::FunctionCallback callback, v8::Local<v8::Value> data) {
  v8::Local<v8::Function> fn = v8::Function::New(context, callback, data).ToLocalChecked();
  v8::Local<v8::String> key = Str(context->GetIsolate(), name);
  fn->SetName(key);
  exports->Set(context, key, fn).Check();
}

}  // namespace
}  // namespace uvscope_stack

// Node's own macro casts the init function to its four-argument type (GCC warns under -Wextra).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wcast-function-type"
NODE_MODULE_INIT(/* exports, module, context */) {
  using namespace uvscope_stack;
  v8::Isolate* isolate = context->GetIsolate();
  EnvState* state = new EnvState(isolate);
  node::AddEnvironmentCleanupHook(isolate, Cleanup, state);
  v8::Local<v8::External> data = v8::External::New(isolate, state);
  SetMethod(context, exports, "provider", GetProvider, data);
  SetMethod(context, exports, "_requestFromThread", RequestFromThread, data);
  SetMethod(context, exports, "_requestNow", RequestNow, data);
  SetMethod(context, exports, "_takeResult", TakeResult, data);
  SetMethod(context, exports, "_openGate", OpenGate, data);
  SetMethod(context, exports, "_blockUntilQueued", BlockUntilQueued, data);
  SetMethod(context, exports, "_counters", GetCounters, data);
  exports->Set(context, Str(isolate, "abi"), v8::Integer::New(isolate, NODE_MODULE_VERSION)).Check();
  exports->Set(context, Str(isolate, "providerVersion"), v8::Integer::New(isolate, UVSCOPE_STACK_PROVIDER_VERSION)).Check();
}
#pragma GCC diagnostic pop
