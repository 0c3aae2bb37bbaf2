// The stack addon's test hook: requests made from a native thread (or from the environment's
// own thread) through the C contract, with their outcome kept for JavaScript to take, so the
// addon can be tested without the Node-API watchdog.
//
// Owns: at most one request thread and one result slot per environment. Lifetime: created at
// module init, destroyed in the environment's cleanup hook after the provider's Shutdown()
// (which may still report CANCELLED into the slot); Stop() wakes and joins the thread first.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "stack_provider.h"

namespace uvscope_stack {

struct HookFrame {
  std::string function_name;
  std::string url;
  int32_t line;
  int32_t column;
};

struct HookResult {
  std::vector<int> requests;  // what each request() of the batch returned, in order
  int status = -1;            // done() status, -1 until it is called
  uint32_t done_calls = 0;
  uint64_t requested_at_ns = 0;  // uv_hrtime() just before the batch's first request()
  uint64_t captured_at_ns = 0;
  std::vector<HookFrame> frames;
  bool has_context = false;  // done() got a context (captured)
  double execution_async_id = 0, trigger_async_id = 0, request_id = -1;
  std::string context_json, context_unavailable, request_method, request_url;  // "" when NULL
};

class TestHook {
 public:
  explicit TestHook(uvscope_stack_provider* provider) : provider_(provider) {}

  // Environment thread. False when the previous batch's result has not been taken.
  // Starts a thread that waits delay_ms, or with `gated` until OpenGate() is next called from
  // any thread (either cut short by Stop()), and calls request() `count` times back to back.
  bool StartThread(uint32_t delay_ms, uint32_t max_frames, uint32_t count, bool gated);
  // Any thread: releases every thread waiting for the gate (process-wide).
  static void OpenGate();
  // Environment thread: a native call that returns once this hook's whole batch was made with
  // its first request queued (true), or after timeout_ms (false). Counted in Blocking() meanwhile.
  bool BlockUntilQueued(uint32_t timeout_ms);
  // How many threads are inside BlockUntilQueued() now, process-wide.
  static uint32_t Blocking();
  // Environment thread: `count` request() calls now, in one native call.
  bool RequestNow(uint32_t max_frames, uint32_t count);
  // Environment thread: joins the request thread, then moves the result out when there is
  // one and it is final (no request queued, or done() called). False otherwise.
  bool Take(HookResult* out);
  // Environment cleanup, after the provider's Shutdown(): ends the thread's wait and joins it.
  void Stop();

 private:
  bool Begin();  // resets the slot for a new batch under mutex_; false if one is untaken
  void RunBatch(uint32_t max_frames, uint32_t count);
  static void Done(void* user, int status, const uvscope_stack_frame* frames, uint32_t count, uint64_t captured_at_ns,
                   const uvscope_stack_context* context);

  uvscope_stack_provider* provider_;  // the environment's reference covers this object's life
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::atomic<bool> stopping_gate_{false};
  bool queued_ = false;  // the current batch's first request() returned QUEUED
  bool active_ = false;  // a batch began and its result was not taken
  HookResult result_;
  std::thread thread_;
};

}  // namespace uvscope_stack
