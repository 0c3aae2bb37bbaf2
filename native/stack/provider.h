// One uvscope_stack_provider (stack_provider.h) per Node environment.
//
// Owns: the request state of its environment (at most one pending request) and the isolate
// pointer, which is used only while the environment is alive, under the provider's mutex.
// Lifetime: created at module init with one reference held by the environment; holders add
// theirs with retain(). Shutdown() (the environment's cleanup hook) drops the isolate, cancels
// a pending request and releases the environment's reference; the last release frees it.
#pragma once
#include <atomic>
#include <cstdint>
#include <mutex>

#include "async_context.h"
#include "stack_provider.h"

namespace v8 {
class Isolate;
}

namespace uvscope_stack {

// Derives from the C struct: the pointer handed out is the base, From() casts back.
struct Provider : uvscope_stack_provider {
  static Provider* Create(v8::Isolate* isolate);
  static Provider* From(uvscope_stack_provider* base) { return static_cast<Provider*>(base); }

  // On the environment's thread, from its cleanup hook: no request reaches the isolate after
  // this returns; a pending one completes with CANCELLED here. Releases the environment's
  // reference (the provider may be freed on return).
  void Shutdown();

  int Request(uint32_t max_frames, uvscope_stack_done_fn done, void* user);
  // What the interrupt reads of the async context besides the ids. Environment's thread only
  // (as the interrupt is); reset by Shutdown().
  ContextLookup& lookup() { return lookup_; }
  void Retain();
  void Release();

 private:
  explicit Provider(v8::Isolate* isolate);
  static void OnInterrupt(v8::Isolate* isolate, void* data);

  std::atomic<uint32_t> refs_{1};
  std::mutex mutex_;
  v8::Isolate* isolate_;  // nullptr once the environment is being torn down
  uintptr_t token_ = 0;   // the pending request's interrupt token, 0 when none
  uint32_t max_frames_ = 0;
  uvscope_stack_done_fn done_ = nullptr;
  void* user_ = nullptr;
  ContextLookup lookup_;
};

// Process-wide totals over every provider, for tests ("done exactly once" is queued ==
// captured + cancelled once nothing is pending).
struct Counters {
  std::atomic<uint64_t> queued{0}, busy{0}, gone{0}, captured{0}, cancelled{0}, stale{0};
};
Counters& GlobalCounters();

}  // namespace uvscope_stack
