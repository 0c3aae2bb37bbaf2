// Per-environment state of the addon (one per Node environment: the main thread and each
// worker_thread), stored as Node-API instance data, never in statics. It owns the JS
// constructors and the list of native objects that hold libuv handles or pool jobs, so
// that the async cleanup hook can close them all when the environment is torn down.
// Lifetime: created in Init, freed by Node after the cleanup hook has removed itself.
#pragma once
#include <napi.h>
#include <uv.h>

#include <functional>
#include <list>
#include <memory>
#include <vector>

#include "threadpool/ciphers.h"
#include "threadpool/digests.h"
#include "loop/request_table.h"

namespace uvscope {

class LoopHeartbeat;

// Something whose loop-thread callbacks can beat the environment's heartbeat (a running
// LoopObserver core). `beating` is set by the heartbeat to itself while this source is the
// elected one, so a source checks only its own member per callback.
struct HeartbeatSource {
  LoopHeartbeat* beating = nullptr;
};

// Something that holds libuv handles or requests on this environment's loop. Close()
// starts closing; the object calls its `done` callback (once) when its last close
// callback or after_work has run, and must not touch AddonData after that.
class Closeable {
 public:
  virtual ~Closeable() = default;
  virtual void CloseForTeardown(std::function<void()> done) = 0;
  // The process is exiting without environment teardown (process.exit()): stop pool work so
  // that libuv's shutdown does not wait for it. No callback will run afterwards.
  virtual void AbortForExit() {}
};

class AddonData {
 public:
  explicit AddonData(Napi::Env env);

  Napi::Env env;
  uv_loop_t* loop;
  Napi::FunctionReference loopObserverConstructor;
  Napi::FunctionReference hasherConstructor;
  DigestCache digests;
  CipherCache ciphers;
  // The HTTP requests in flight on this thread (loop/request_table.h), for stall attribution.
  std::shared_ptr<RequestTable> requests = std::make_shared<RequestTable>();
  // The environment's loop heartbeat (loop/heartbeat.h), created on first use, freed on
  // teardown. Heartbeat() creates it; `heartbeat` may be null.
  LoopHeartbeat* heartbeat = nullptr;
  LoopHeartbeat* Heartbeat();
  // Running heartbeat sources, in start order (the heartbeat elects the first).
  std::vector<HeartbeatSource*> heartbeatSources;
  void SourceStarted(HeartbeatSource* source);
  void SourceStopped(HeartbeatSource* source);

  // Registration of live closeables; Unregister is a no-op during teardown.
  void Register(Closeable* item);
  void Unregister(Closeable* item);
  bool tearingDown() const { return tearingDown_; }
  void AbortForExit() {
    for (Closeable* item : live_) item->AbortForExit();
  }

 private:
  static void OnTeardown(napi_async_cleanup_hook_handle handle, void* arg);
  void OneClosed();

  std::list<Closeable*> live_;
  napi_async_cleanup_hook_handle cleanupHandle_ = nullptr;
  bool tearingDown_ = false;
  size_t pendingTeardown_ = 0;
};

}  // namespace uvscope
