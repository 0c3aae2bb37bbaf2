// LiveReportHub: delivers stall reports from watchdog threads to subscribers on other
// threads while the watched loop is blocked. Process-wide: one mutex and a list of
// subscriptions, each with a uv_async_t on its own thread's loop and a queue of report lines
// (JSON) bounded in lines and in bytes (a line with a deep stack of long names can be
// megabytes). A watchdog thread publishes under the mutex; each subscriber's loop drains its
// queue and calls its JavaScript function there. A subscriber that does not keep up loses its
// oldest lines, counted in dropped().
//
// LiveReportSubscription is the JS face of one subscription (`onLiveReport`). Lifetime: from
// subscribe to unsubscribe (or its environment's teardown); its async handle is closed
// before its memory is freed, and it leaves the hub's list before the handle closes, so no
// publisher can reach a closing handle.
#pragma once
#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "../addon_data.h"

namespace uvscope {

namespace live_reports {
// Any thread: queue `line` for every subscriber and wake their loops.
void Publish(const std::string& line);
}  // namespace live_reports

class LiveReportSubscription : public Napi::ObjectWrap<LiveReportSubscription>, public Closeable {
 public:
  static void Init(Napi::Env env, Napi::Object exports, AddonData* data);
  explicit LiveReportSubscription(const Napi::CallbackInfo& info);
  ~LiveReportSubscription() override;

  void CloseForTeardown(std::function<void()> done) override;

  // Called by the hub with its mutex held.
  void Enqueue(const std::string& line);

  static constexpr size_t kMaxQueued = 1024;
  static constexpr size_t kMaxQueuedBytes = 8u << 20;

 private:
  struct Handle;  // the uv_async_t and its queue; outlives this wrapper until its close callback
  static void OnAsync(uv_async_t* async);
  void Detach(std::function<void()> done);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Dropped(const Napi::CallbackInfo& info);

  AddonData* data_;
  Handle* handle_ = nullptr;
  uint64_t dropped_ = 0;  // guarded by the hub's mutex
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
};

}  // namespace uvscope
