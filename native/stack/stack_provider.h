// The contract between uvscope's Node-API addon (uvscope.node: the stall watchdog) and the
// optional per-ABI stack addon (uvscope_stack.node), which captures the JavaScript stack of a
// thread through V8's Isolate::RequestInterrupt. Plain C, versioned: no V8, Node or Node-API
// type crosses it, so the Node-API addon stays one binary for every Node.
//
// Lifetime: the stack addon creates one provider per Node environment (main thread, each
// worker) and hands it to JavaScript as a Node-API External (`provider()` of the stack
// addon), type-tagged with UVSCOPE_STACK_PROVIDER_TAG_*. A holder calls retain() before
// keeping the pointer and release() when done; the provider is freed when the environment is
// gone and the last holder has released it. After its environment is torn down, request()
// returns UVSCOPE_STACK_GONE.
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// 2: the External is type-tagged; 3: done() gets the async context; 4: and the request's method and URL
#define UVSCOPE_STACK_PROVIDER_VERSION 4

// The Node-API type tag (napi_type_tag: lower, upper) the stack addon puts on its provider
// External, and the only External the Node-API addon reads a provider from: any other one is
// refused, never dereferenced.
#define UVSCOPE_STACK_PROVIDER_TAG_LOWER 0x7576736370726f76ULL
#define UVSCOPE_STACK_PROVIDER_TAG_UPPER 0x9d3c5be1a4f02e61ULL

// request() results.
#define UVSCOPE_STACK_QUEUED 0  // done() will be called exactly once
#define UVSCOPE_STACK_GONE 1    // the environment is being torn down; done() is never called
#define UVSCOPE_STACK_BUSY 2    // a request of this provider is still pending; done() is never called

// done() status.
#define UVSCOPE_STACK_CAPTURED 0   // frames[0..count) valid during the call only, innermost first
#define UVSCOPE_STACK_CANCELLED 1  // the environment was torn down before the interrupt ran

typedef struct uvscope_stack_frame {
  const char* function_name;  // UTF-8, never NULL: "" for an anonymous function
  const char* url;            // script name or source URL, UTF-8, never NULL: "" when unknown
  int32_t line;               // 1-based, 0 when unknown
  int32_t column;             // 1-based, 0 when unknown
} uvscope_stack_frame;

// The async context the interrupted thread was running in, read in the interrupt without
// running JavaScript (async_context.h of the stack addon).
typedef struct uvscope_stack_context {
  double execution_async_id;  // node::AsyncHooksGetExecutionAsyncId, 0 or -1 when none
  double trigger_async_id;    // node::AsyncHooksGetTriggerAsyncId
  double request_id;          // the id of the request in uvscope's request storage in the current frame, -1: none
  // The user's context fields as one JSON object text (UTF-8, NULL-terminated), or NULL: not
  // asked for, or no store in the current frame. Valid during the call only.
  const char* context_json;
  // Why the user's context cannot be read on this Node (NULL when it can).
  const char* context_unavailable;
  // That request's method and URL as the storage holds them (UTF-8, NULL-terminated; the method
  // cut to 32 bytes, the URL to 1,024 less the method's, at a character boundary), or NULL with
  // no request_id. Valid during the call only.
  const char* request_method;
  const char* request_url;
} uvscope_stack_context;

// Called on the environment's own thread, inside V8's interrupt (no JavaScript may run there,
// so it must not call into JS or block), or with CANCELLED during the environment's teardown.
// captured_at_ns is uv_hrtime() when the stack was taken (0 when cancelled); context is NULL
// when cancelled.
typedef void (*uvscope_stack_done_fn)(void* user, int status, const uvscope_stack_frame* frames,
                                      uint32_t count, uint64_t captured_at_ns,
                                      const uvscope_stack_context* context);

typedef struct uvscope_stack_provider {
  uint32_t version;  // UVSCOPE_STACK_PROVIDER_VERSION
  // Any thread. Asks V8 to interrupt the environment's thread at its next stack check (a
  // function entry or a loop back-edge in JavaScript: a thread inside a native call is
  // interrupted only when the call returns) and capture up to max_frames frames there.
  // Never blocks for long: it takes a mutex held only for O(1) work.
  int (*request)(struct uvscope_stack_provider* self, uint32_t max_frames, uvscope_stack_done_fn done,
                 void* user);
  void (*retain)(struct uvscope_stack_provider* self);
  void (*release)(struct uvscope_stack_provider* self);
} uvscope_stack_provider;

#ifdef __cplusplus
}
#endif
