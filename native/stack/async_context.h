// The async context of the thread a stack is taken on, read inside the V8 interrupt without
// running JavaScript: Node's execution and trigger async ids (node.h, every Node) and, where
// Node keeps AsyncLocalStorage state in V8's continuation-preserved embedder data (an
// AsyncContextFrame: a Map keyed by each AsyncLocalStorage, Node 24 and later, 22 with
// --experimental-async-context-frame), the request in uvscope's request storage (an object
// whose own data properties `id`, `method` and `url` the tracker wrote: src/http-request-context.ts)
// and the user's named context fields.
//
// Owns: ContextLookup, the handles of the two storages and the field paths, set on the
// environment's thread by the stack addon's setContextLookup() and freed with the
// environment's state. Everything runs on the environment's thread.
#pragma once
#include <v8.h>

#include <string>
#include <vector>

namespace uvscope_stack {

struct ContextLookup {
  bool framesInUse = false;                 // AsyncLocalStorage lives in the frames on this Node
  v8::Global<v8::Value> requestStorage;     // uvscope's request AsyncLocalStorage (empty: none)
  v8::Global<v8::Value> userStorage;        // the user's AsyncLocalStorage (empty: none)
  std::vector<std::string> names;           // a JSON key per field
  std::vector<std::vector<std::string>> paths;  // the property / Map-key path of each field
};

struct AsyncContextReading {
  double executionAsyncId = 0;
  double triggerAsyncId = 0;
  double requestId = -1;  // with it, the request's method and URL
  std::string requestMethod;
  std::string requestUrl;
  bool hasContext = false;
  std::string contextJson;              // with hasContext: a JSON object
  const char* contextUnavailable = nullptr;
};

// Limits of the user's fields: strings are cut to this many bytes, at most this many fields.
constexpr size_t kMaxContextStringBytes = 256;
constexpr size_t kMaxContextFields = 32;
// Limits of the request's text, as the request table's (src/loop/request-slots.ts): the method
// is cut to this many bytes, the URL to the rest of kMaxRequestTextBytes.
constexpr size_t kMaxRequestMethodBytes = 32;
constexpr size_t kMaxRequestTextBytes = 1024;

// Inside the interrupt (or any point where the isolate runs this thread's JavaScript).
void ReadAsyncContext(v8::Isolate* isolate, const ContextLookup* lookup, AsyncContextReading* out);

}  // namespace uvscope_stack
