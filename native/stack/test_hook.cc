// The test hook's request thread and result slot (see test_hook.h).
#include "test_hook.h"

#include <uv.h>

#include <chrono>

namespace uvscope_stack {
namespace {

// The process-wide gate of StartThread(..., gated): never destroyed (threads may wait on it
// while the process exits).
struct Gate {
  std::mutex mutex;
  std::condition_variable opened;
  uint64_t generation = 0;
};
Gate& gate() {
  static Gate* instance = new Gate();
  return *instance;
}
std::atomic<uint32_t> blocking{0};

}  // namespace

void TestHook::OpenGate() {
  Gate& g = gate();
  {
    std::lock_guard<std::mutex> lock(g.mutex);
    g.generation++;
  }
  g.opened.notify_all();
}

uint32_t TestHook::Blocking() { return blocking.load(); }

bool TestHook::BlockUntilQueued(uint32_t timeout_ms) {
  blocking++;
  std::unique_lock<std::mutex> lock(mutex_);
  bool queued = wake_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return queued_; });
  lock.unlock();
  blocking--;
  return queued;
}

bool TestHook::Begin() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (active_) return false;
  active_ = true;
  queued_ = false;
  result_ = HookResult();
  return true;
}

void TestHook::RunBatch(uint32_t max_frames, uint32_t count) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    result_.requested_at_ns = uv_hrtime();
  }
  bool first_queued = false;
  for (uint32_t i = 0; i < count; i++) {
    int status = provider_->request(provider_, max_frames, Done, this);
    std::lock_guard<std::mutex> lock(mutex_);
    result_.requests.push_back(status);
    if (i == 0) first_queued = status == UVSCOPE_STACK_QUEUED;
  }
  // A thread blocked in BlockUntilQueued() goes on once the whole batch was made: its later
  // requests then certainly met the first one pending (it cannot be taken while that thread is
  // still blocked in native code).
  if (first_queued) {
    std::lock_guard<std::mutex> lock(mutex_);
    queued_ = true;
    wake_.notify_all();
  }
}

bool TestHook::StartThread(uint32_t delay_ms, uint32_t max_frames, uint32_t count, bool gated) {
  if (thread_.joinable()) thread_.join();
  if (!Begin()) return false;
  // The thread holds its own reference: it may call request() after the environment is gone
  // (it then gets GONE), though Stop() joins it before this hook is freed.
  provider_->retain(provider_);
  uint64_t generation = 0;
  if (gated) {
    std::lock_guard<std::mutex> lock(gate().mutex);
    generation = gate().generation;
  }
  thread_ = std::thread([this, delay_ms, max_frames, count, gated, generation] {
    if (gated) {
      Gate& g = gate();
      std::unique_lock<std::mutex> lock(g.mutex);
      g.opened.wait(lock, [this, &g, generation] { return g.generation != generation || stopping_gate_.load(); });
    } else {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait_for(lock, std::chrono::milliseconds(delay_ms), [this] { return stopping_; });
    }
    RunBatch(max_frames, count);
    provider_->release(provider_);
  });
  return true;
}

bool TestHook::RequestNow(uint32_t max_frames, uint32_t count) {
  if (!Begin()) return false;
  RunBatch(max_frames, count);
  return true;
}

bool TestHook::Take(HookResult* out) {
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  if (!active_) return false;
  bool queued = !result_.requests.empty() && result_.requests[0] == UVSCOPE_STACK_QUEUED;
  if (queued && result_.done_calls == 0) return false;  // still pending
  *out = std::move(result_);
  result_ = HookResult();
  active_ = false;
  return true;
}

void TestHook::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  {
    std::lock_guard<std::mutex> lock(gate().mutex);
    stopping_gate_ = true;
  }
  gate().opened.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TestHook::Done(void* user, int status, const uvscope_stack_frame* frames, uint32_t count, uint64_t captured_at_ns,
                   const uvscope_stack_context* context) {
  TestHook* self = static_cast<TestHook*>(user);
  std::lock_guard<std::mutex> lock(self->mutex_);
  HookResult& r = self->result_;
  r.done_calls++;
  r.status = status;
  r.captured_at_ns = captured_at_ns;
  r.frames.clear();
  for (uint32_t i = 0; i < count; i++) {
    r.frames.push_back({frames[i].function_name, frames[i].url, frames[i].line, frames[i].column});
  }
  r.has_context = context != nullptr;
  if (context != nullptr) {
    r.execution_async_id = context->execution_async_id;
    r.trigger_async_id = context->trigger_async_id;
    r.request_id = context->request_id;
    r.context_json = context->context_json != nullptr ? context->context_json : "";
    r.context_unavailable = context->context_unavailable != nullptr ? context->context_unavailable : "";
    r.request_method = context->request_method != nullptr ? context->request_method : "";
    r.request_url = context->request_url != nullptr ? context->request_url : "";
  }
}

}  // namespace uvscope_stack
