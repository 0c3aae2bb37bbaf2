// uvscope_stack.node: module init, one EnvState per Node environment, and the exports.
//
// Built per Node ABI: the interrupt and the capture use V8's C++ API (provider.cc,
// capture.cc), so the file is only valid in the Node it was built for. The JavaScript surface
// uses Node-API, because provider() must be a real Node-API External: since Node 20,
// napi_get_value_external reads Node-API's own wrapper behind the V8 External, so a bare
// v8::External is not readable from the Node-API addon. Registered as a Node-API module
// (napi_register_module_v1, once per environment: main thread and each worker), it therefore
// gets no NODE_MODULE_VERSION check from Node: CheckAbi() refuses a different ABI itself,
// with Node's wording, before any V8 or Node C++ function is called.
//
// Owns the EnvState: created at init, freed by the environment's cleanup hook, which shuts
// the provider down (cancelling a pending request), stops the test hook and drops the
// environment's reference to the provider.
//
// Exports:
//   provider()        napi External of this environment's uvscope_stack_provider* (read it
//                     with napi_get_value_external; retain() before keeping it)
//   setContextLookup(requestStorage, userStorage, names, paths, framesInUse)
//                     what the interrupt reads of the async context (async_context.h)
//   abi               NODE_MODULE_VERSION this file was built for
//   providerVersion   UVSCOPE_STACK_PROVIDER_VERSION
// The provider External carries the type tag UVSCOPE_STACK_PROVIDER_TAG_* (stack_provider.h).
// Test hooks (test_hook.h; the watchdog does not use them):
//   _requestFromThread(delayMs, maxFrames = 64, count = 1, gated = false)
//                     a native thread waits delayMs (or for _openGate()), then calls
//                     request() `count` times
//   _requestNow(maxFrames = 64, count = 1)   request() `count` times on this thread
//   _takeResult()     joins that thread; {status, requests, doneCalls, frames, requestedAtNs,
//                     capturedAtNs, context?: {executionAsyncId, triggerAsyncId, requestId,
//                     json?, unavailable?}}, or undefined while pending / when nothing was requested
//   _openGate()       releases gated request threads (process-wide)
//   _blockUntilQueued(timeoutMs = 10000)   a native call that returns (uv_hrtime bigint, 0n
//                     on timeout) once this environment's hook request is queued
//   _counters()       process-wide request totals (provider.h) and `blocking`
//   _untaggedExternal()  an External of a look-alike provider without the type tag: what the
//                     Node-API addon must refuse
// node_version.h first: it defines NAPI_VERSION (the newest this Node has) unconditionally.
#include <node_version.h>
#include <node_api.h>
#include <uv.h>
#include <v8.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "../pin_library.h"
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

// Node-API calls here fail only when the environment is going away or on a programming
// error; the exception (if any) is left pending and the caller returns nullptr.
#define CHECK_NAPI(call)                  \
  do {                                    \
    if ((call) != napi_ok) return nullptr; \
  } while (0)

// Arguments: up to 4, and this environment's EnvState.
struct Args {
  size_t count = 4;
  napi_value values[4];
  EnvState* state = nullptr;
};

bool GetArgs(napi_env env, napi_callback_info info, Args* args) {
  void* data = nullptr;
  if (napi_get_cb_info(env, info, &args->count, args->values, nullptr, &data) != napi_ok) return false;
  args->state = static_cast<EnvState*>(data);
  return true;
}

// A non-negative integer argument, `fallback` when absent or undefined (no conversion:
// valueOf never runs). False after throwing.
bool Uint32Arg(napi_env env, const Args& args, size_t index, uint32_t fallback, uint32_t* out) {
  *out = fallback;
  if (index >= args.count) return true;
  napi_valuetype type;
  if (napi_typeof(env, args.values[index], &type) != napi_ok) return false;
  if (type == napi_undefined) return true;
  double value = -1;
  if (type == napi_number) napi_get_value_double(env, args.values[index], &value);
  if (!(value >= 0 && value <= 4294967295.0) || value != static_cast<double>(static_cast<uint32_t>(value))) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a non-negative integer");
    return false;
  }
  *out = static_cast<uint32_t>(value);
  return true;
}

napi_status Put(napi_env env, napi_value object, const char* key, napi_value value) {
  return napi_set_named_property(env, object, key, value);
}

napi_value Str(napi_env env, const std::string& text) {
  napi_value out = nullptr;
  napi_create_string_utf8(env, text.data(), text.size(), &out);
  return out;
}

const char* RequestStatusName(int status) {
  switch (status) {
    case UVSCOPE_STACK_QUEUED: return "queued";
    case UVSCOPE_STACK_GONE: return "gone";
    case UVSCOPE_STACK_BUSY: return "busy";
    default: return "unknown";
  }
}

napi_value GetProvider(napi_env env, napi_callback_info info) {
  Args args;
  if (!GetArgs(env, info, &args)) return nullptr;
  // The External holds a reference of its own, released by its finalizer. A finalizer also
  // makes Node-API free the External's bookkeeping at environment teardown; without one, an
  // External still reachable when a worker ends is leaked by Node (LeakSanitizer sees it).
  uvscope_stack_provider* provider = args.state->provider;
  provider->retain(provider);
  napi_value external;
  napi_status status = napi_create_external(
      env, provider,
      [](napi_env, void* data, void*) {
        auto* held = static_cast<uvscope_stack_provider*>(data);
        held->release(held);
      },
      nullptr, &external);
  if (status != napi_ok) provider->release(provider);
  CHECK_NAPI(status);
  // Tagged: the Node-API addon reads a provider only from an External with this tag.
  static const napi_type_tag tag = {UVSCOPE_STACK_PROVIDER_TAG_LOWER, UVSCOPE_STACK_PROVIDER_TAG_UPPER};
  CHECK_NAPI(napi_type_tag_object(env, external, &tag));
  return external;
}

// Test hook: an External like provider()'s (a struct with the provider's version first) but
// without the tag. Its functions must never be called.
napi_value UntaggedExternal(napi_env env, napi_callback_info) {
  static uvscope_stack_provider lookalike = {UVSCOPE_STACK_PROVIDER_VERSION, nullptr, nullptr, nullptr};
  napi_value external;
  CHECK_NAPI(napi_create_external(env, &lookalike, nullptr, nullptr, &external));
  return external;
}

napi_value RequestFromThread(napi_env env, napi_callback_info info) {
  Args args;
  uint32_t delay_ms, max_frames, count;
  if (!GetArgs(env, info, &args) || !Uint32Arg(env, args, 0, 0, &delay_ms) || !Uint32Arg(env, args, 1, 64, &max_frames) ||
      !Uint32Arg(env, args, 2, 1, &count)) {
    return nullptr;
  }
  bool gated = false;
  if (args.count > 3) napi_get_value_bool(env, args.values[3], &gated);  // non-boolean: false
  if (!args.state->hook.StartThread(delay_ms, max_frames, count, gated)) {
    napi_throw_error(env, nullptr, "take the previous result first (_takeResult)");
  }
  return nullptr;
}

napi_value RequestNow(napi_env env, napi_callback_info info) {
  Args args;
  uint32_t max_frames, count;
  if (!GetArgs(env, info, &args) || !Uint32Arg(env, args, 0, 64, &max_frames) || !Uint32Arg(env, args, 1, 1, &count)) {
    return nullptr;
  }
  if (!args.state->hook.RequestNow(max_frames, count)) {
    napi_throw_error(env, nullptr, "take the previous result first (_takeResult)");
  }
  return nullptr;
}

napi_value OpenGate(napi_env, napi_callback_info) {
  TestHook::OpenGate();
  return nullptr;
}

napi_value BlockUntilQueued(napi_env env, napi_callback_info info) {
  Args args;
  uint32_t timeout_ms;
  if (!GetArgs(env, info, &args) || !Uint32Arg(env, args, 0, 10000, &timeout_ms)) return nullptr;
  bool queued = args.state->hook.BlockUntilQueued(timeout_ms);
  uint64_t returned_at = uv_hrtime();
  napi_value out;
  CHECK_NAPI(napi_create_bigint_uint64(env, queued ? returned_at : 0, &out));
  return out;
}

napi_value TakeResult(napi_env env, napi_callback_info info) {
  Args args;
  if (!GetArgs(env, info, &args)) return nullptr;
  HookResult result;
  if (!args.state->hook.Take(&result)) return nullptr;  // undefined
  const char* status;
  if (result.requests.empty()) {
    status = "none";
  } else if (result.requests[0] != UVSCOPE_STACK_QUEUED) {
    status = RequestStatusName(result.requests[0]);
  } else {
    status = result.status == UVSCOPE_STACK_CAPTURED ? "captured" : "cancelled";
  }
  napi_value out, requests, frames, value;
  CHECK_NAPI(napi_create_object(env, &out));
  CHECK_NAPI(Put(env, out, "status", Str(env, status)));
  CHECK_NAPI(napi_create_array_with_length(env, result.requests.size(), &requests));
  for (size_t i = 0; i < result.requests.size(); i++) {
    CHECK_NAPI(napi_set_element(env, requests, static_cast<uint32_t>(i), Str(env, RequestStatusName(result.requests[i]))));
  }
  CHECK_NAPI(Put(env, out, "requests", requests));
  CHECK_NAPI(napi_create_uint32(env, result.done_calls, &value));
  CHECK_NAPI(Put(env, out, "doneCalls", value));
  CHECK_NAPI(napi_create_array_with_length(env, result.frames.size(), &frames));
  for (size_t i = 0; i < result.frames.size(); i++) {
    const HookFrame& f = result.frames[i];
    napi_value frame, line, column;
    CHECK_NAPI(napi_create_object(env, &frame));
    CHECK_NAPI(napi_create_int32(env, f.line, &line));
    CHECK_NAPI(napi_create_int32(env, f.column, &column));
    CHECK_NAPI(Put(env, frame, "functionName", Str(env, f.function_name)));
    CHECK_NAPI(Put(env, frame, "url", Str(env, f.url)));
    CHECK_NAPI(Put(env, frame, "line", line));
    CHECK_NAPI(Put(env, frame, "column", column));
    CHECK_NAPI(napi_set_element(env, frames, static_cast<uint32_t>(i), frame));
  }
  CHECK_NAPI(Put(env, out, "frames", frames));
  CHECK_NAPI(napi_create_bigint_uint64(env, result.requested_at_ns, &value));
  CHECK_NAPI(Put(env, out, "requestedAtNs", value));
  CHECK_NAPI(napi_create_bigint_uint64(env, result.captured_at_ns, &value));
  CHECK_NAPI(Put(env, out, "capturedAtNs", value));
  if (result.has_context) {
    napi_value context;
    CHECK_NAPI(napi_create_object(env, &context));
    const std::pair<const char*, double> ids[] = {{"executionAsyncId", result.execution_async_id},
                                                 {"triggerAsyncId", result.trigger_async_id},
                                                 {"requestId", result.request_id}};
    for (const auto& id : ids) {
      CHECK_NAPI(napi_create_double(env, id.second, &value));
      CHECK_NAPI(Put(env, context, id.first, value));
    }
    if (!result.context_json.empty()) CHECK_NAPI(Put(env, context, "json", Str(env, result.context_json)));
    if (!result.context_unavailable.empty()) CHECK_NAPI(Put(env, context, "unavailable", Str(env, result.context_unavailable)));
    if (result.request_id >= 0) {
      CHECK_NAPI(Put(env, context, "requestMethod", Str(env, result.request_method)));
      CHECK_NAPI(Put(env, context, "requestUrl", Str(env, result.request_url)));
    }
    CHECK_NAPI(Put(env, out, "context", context));
  }
  return out;
}

napi_value GetCounters(napi_env env, napi_callback_info) {
  Counters& c = GlobalCounters();
  const std::pair<const char*, uint64_t> fields[] = {
      {"queued", c.queued.load()},       {"busy", c.busy.load()},   {"gone", c.gone.load()},
      {"captured", c.captured.load()},   {"cancelled", c.cancelled.load()},
      {"stale", c.stale.load()},         {"blocking", TestHook::Blocking()},
  };
  napi_value out, value;
  CHECK_NAPI(napi_create_object(env, &out));
  for (const auto& field : fields) {
    CHECK_NAPI(napi_create_double(env, static_cast<double>(field.second), &value));
    CHECK_NAPI(Put(env, out, field.first, value));
  }
  return out;
}

// A Node-API value as the V8 handle it is in Node (napi_value is a v8::Local<v8::Value> there,
// which Node's own v8impl relies on). Only this per-ABI addon may do this.
v8::Local<v8::Value> AsV8(napi_value value) {
  static_assert(sizeof(napi_value) == sizeof(v8::Local<v8::Value>), "napi_value is a v8::Local in Node");
  v8::Local<v8::Value> local;
  std::memcpy(static_cast<void*>(&local), &value, sizeof value);
  return local;
}

bool StringArg(napi_env env, napi_value value, std::string* out) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, nullptr, 0, &length) != napi_ok) return false;
  out->resize(length + 1);
  if (napi_get_value_string_utf8(env, value, out->data(), length + 1, &length) != napi_ok) return false;
  out->resize(length);
  return true;
}

// setContextLookup(requestStorage, userStorage, names, paths, framesInUse): what the
// interrupt reads of the async context (async_context.h). Storages: an AsyncLocalStorage or
// undefined; names: string[]; paths: string[][] (one per name). Checked by the TypeScript
// caller (stack/load.ts); a value of the wrong kind throws a TypeError here.
napi_value SetContextLookup(napi_env env, napi_callback_info info) {
  size_t count = 5;
  napi_value values[5];
  void* data = nullptr;
  if (napi_get_cb_info(env, info, &count, values, nullptr, &data) != napi_ok) return nullptr;
  auto* state = static_cast<EnvState*>(data);
  if (count < 5) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "setContextLookup takes 5 arguments");
    return nullptr;
  }
  ContextLookup lookup;
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  for (int i = 0; i < 2; i++) {
    napi_valuetype type;
    CHECK_NAPI(napi_typeof(env, values[i], &type));
    if (type == napi_undefined) continue;
    if (type != napi_object) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "a storage must be an object or undefined");
      return nullptr;
    }
    (i == 0 ? lookup.requestStorage : lookup.userStorage).Reset(isolate, AsV8(values[i]));
  }
  uint32_t fields = 0, pathsLength = 0;
  if (napi_get_array_length(env, values[2], &fields) != napi_ok ||
      napi_get_array_length(env, values[3], &pathsLength) != napi_ok || pathsLength != fields) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "names and paths must be arrays of one length");
    return nullptr;
  }
  for (uint32_t i = 0; i < fields; i++) {
    napi_value name, path, step;
    uint32_t steps = 0;
    std::string text;
    if (napi_get_element(env, values[2], i, &name) != napi_ok || !StringArg(env, name, &text) ||
        napi_get_element(env, values[3], i, &path) != napi_ok || napi_get_array_length(env, path, &steps) != napi_ok) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "a field is a name and a path of strings");
      return nullptr;
    }
    lookup.names.push_back(text);
    lookup.paths.emplace_back();
    for (uint32_t j = 0; j < steps; j++) {
      if (napi_get_element(env, path, j, &step) != napi_ok || !StringArg(env, step, &text)) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "a path step must be a string");
        return nullptr;
      }
      lookup.paths.back().push_back(text);
    }
  }
  bool framesInUse = false;
  CHECK_NAPI(napi_get_value_bool(env, values[4], &framesInUse));
  lookup.framesInUse = framesInUse;
  state->provider->lookup() = std::move(lookup);
  return nullptr;
}

// process.versions.modules of the running Node, through Node-API only (safe in any Node), or
// -1 if it cannot be read.
int RunningAbi(napi_env env) {
  napi_value global, process, versions, modules;
  char text[16] = {0};
  size_t length = 0;
  if (napi_get_global(env, &global) != napi_ok || napi_get_named_property(env, global, "process", &process) != napi_ok ||
      napi_get_named_property(env, process, "versions", &versions) != napi_ok ||
      napi_get_named_property(env, versions, "modules", &modules) != napi_ok ||
      napi_get_value_string_utf8(env, modules, text, sizeof(text), &length) != napi_ok || length == 0) {
    return -1;
  }
  return std::atoi(text);
}

bool CheckAbi(napi_env env) {
  int running = RunningAbi(env);
  if (running == NODE_MODULE_VERSION) return true;
  std::string message = "uvscope_stack.node was compiled against a different Node.js version using\nNODE_MODULE_VERSION " +
                        std::to_string(NODE_MODULE_VERSION) + ". This version of Node.js requires\nNODE_MODULE_VERSION " +
                        std::to_string(running) + ". Build it for this Node with `npm run build:stack`.";
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, "ERR_DLOPEN_FAILED", message.c_str());
  return false;
}

}  // namespace
}  // namespace uvscope_stack

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  using namespace uvscope_stack;
  if (!CheckAbi(env)) return nullptr;
  // From here on the V8 and Node C++ ABI is the one this file was compiled for.
  PinThisLibrary();  // interrupts and the token table outlive this environment
  EnvState* state = new EnvState(v8::Isolate::GetCurrent());
  if (napi_add_env_cleanup_hook(env, Cleanup, state) != napi_ok) {
    state->provider->Shutdown();
    delete state;
    return nullptr;
  }
  const napi_property_descriptor methods[] = {
      {"provider", nullptr, GetProvider, nullptr, nullptr, nullptr, napi_enumerable, state},
      {"setContextLookup", nullptr, SetContextLookup, nullptr, nullptr, nullptr, napi_enumerable, state},
      {"_requestFromThread", nullptr, RequestFromThread, nullptr, nullptr, nullptr, napi_enumerable, state},
      {"_requestNow", nullptr, RequestNow, nullptr, nullptr, nullptr, napi_enumerable, state},
      {"_takeResult", nullptr, TakeResult, nullptr, nullptr, nullptr, napi_enumerable, state},
      {"_openGate", nullptr, OpenGate, nullptr, nullptr, nullptr, napi_enumerable, state},
      {"_blockUntilQueued", nullptr, BlockUntilQueued, nullptr, nullptr, nullptr, napi_enumerable, state},
      {"_counters", nullptr, GetCounters, nullptr, nullptr, nullptr, napi_enumerable, state},
      {"_untaggedExternal", nullptr, UntaggedExternal, nullptr, nullptr, nullptr, napi_enumerable, state},
  };
  CHECK_NAPI(napi_define_properties(env, exports, sizeof(methods) / sizeof(methods[0]), methods));
  napi_value abi, version;
  CHECK_NAPI(napi_create_int32(env, NODE_MODULE_VERSION, &abi));
  CHECK_NAPI(napi_create_uint32(env, UVSCOPE_STACK_PROVIDER_VERSION, &version));
  CHECK_NAPI(Put(env, exports, "abi", abi));
  CHECK_NAPI(Put(env, exports, "providerVersion", version));
  return exports;
}
