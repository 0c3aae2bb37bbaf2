// The provider's request / interrupt / cancel protocol (see provider.h).
//
// Threads: Request() runs on any thread; OnInterrupt() and Shutdown() on the environment's
// thread. A request is owned by whoever takes its token from the registry: the interrupt
// (which then reports CAPTURED) or Shutdown() (CANCELLED), so done() runs exactly once.
// Lock order: the provider's mutex, then the registry's; OnInterrupt takes the registry's
// alone first. done() is never called with a lock held.
#include "provider.h"

#include <uv.h>
#include <v8.h>

#include "capture.h"
#include "token_registry.h"

namespace uvscope_stack {

Counters& GlobalCounters() {
  static Counters* counters = new Counters();  // never destroyed, like the token registry
  return *counters;
}

namespace {

int RequestThunk(uvscope_stack_provider* self, uint32_t max_frames, uvscope_stack_done_fn done, void* user) {
  return Provider::From(self)->Request(max_frames, done, user);
}
void RetainThunk(uvscope_stack_provider* self) { Provider::From(self)->Retain(); }
void ReleaseThunk(uvscope_stack_provider* self) { Provider::From(self)->Release(); }

}  // namespace

Provider::Provider(v8::Isolate* isolate) : uvscope_stack_provider(), isolate_(isolate) {
  version = UVSCOPE_STACK_PROVIDER_VERSION;
  request = RequestThunk;
  retain = RetainThunk;
  release = ReleaseThunk;
}

Provider* Provider::Create(v8::Isolate* isolate) { return new Provider(isolate); }

void Provider::Retain() { refs_.fetch_add(1, std::memory_order_relaxed); }

void Provider::Release() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

int Provider::Request(uint32_t max_frames, uvscope_stack_done_fn done, void* user) {
  Counters& counters = GlobalCounters();
  std::lock_guard<std::mutex> lock(mutex_);
  if (isolate_ == nullptr) {
    counters.gone++;
    return UVSCOPE_STACK_GONE;
  }
  if (token_ != 0) {
    counters.busy++;
    return UVSCOPE_STACK_BUSY;
  }
  token_ = RegisterToken(this);
  max_frames_ = max_frames;
  done_ = done;
  user_ = user;
  counters.queued++;
  // Thread-safe in V8; O(1) (a queue push under V8's own lock). The isolate is alive: Shutdown()
  // clears isolate_ under this mutex before the environment lets it go.
  isolate_->RequestInterrupt(OnInterrupt, reinterpret_cast<void*>(token_));
  return UVSCOPE_STACK_QUEUED;
}

void Provider::OnInterrupt(v8::Isolate* isolate, void* data) {
  Provider* self = TakeToken(reinterpret_cast<uintptr_t>(data));
  if (self == nullptr) {
    // Cancelled by Shutdown() already (this isolate kept running JavaScript afterwards).
    GlobalCounters().stale++;
    return;
  }
  // Alive: only Shutdown(), on this same thread, releases the environment's reference.
  uvscope_stack_done_fn done;
  void* user;
  uint32_t max_frames;
  {
    std::lock_guard<std::mutex> lock(self->mutex_);
    done = self->done_;
    user = self->user_;
    max_frames = self->max_frames_;
    // No longer pending: done() may queue the next request.
    self->token_ = 0;
    self->done_ = nullptr;
    self->user_ = nullptr;
  }
  CapturedStack stack;
  CaptureStack(isolate, max_frames, &stack);
  uint64_t captured_at = uv_hrtime();
  AsyncContextReading reading;
  ReadAsyncContext(isolate, &self->lookup_, &reading);
  uvscope_stack_context context = {reading.executionAsyncId, reading.triggerAsyncId, reading.requestId,
                                   reading.hasContext ? reading.contextJson.c_str() : nullptr,
                                   reading.contextUnavailable,
                                   reading.requestId >= 0 ? reading.requestMethod.c_str() : nullptr,
                                   reading.requestId >= 0 ? reading.requestUrl.c_str() : nullptr};
  GlobalCounters().captured++;
  done(user, UVSCOPE_STACK_CAPTURED, stack.frames.data(), static_cast<uint32_t>(stack.frames.size()), captured_at,
       &context);
}

void Provider::Shutdown() {
  uvscope_stack_done_fn done = nullptr;
  void* user = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    isolate_ = nullptr;
    if (token_ != 0 && TakeToken(token_) == this) {
      done = done_;
      user = user_;
    }
    token_ = 0;
    done_ = nullptr;
    user_ = nullptr;
  }
  lookup_ = ContextLookup();  // its handles go with the environment
  if (done != nullptr) {
    GlobalCounters().cancelled++;
    done(user, UVSCOPE_STACK_CANCELLED, nullptr, 0, 0, nullptr);
  }
  Release();
}

}  // namespace uvscope_stack
