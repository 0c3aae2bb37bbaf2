// Module entry: creates the per-environment AddonData, registers its async cleanup hook and
// exports the native classes and functions the TypeScript loader (src/native.ts) declares.
#include <napi.h>
#include <uv.h>

#include "addon_data.h"
#include "clock.h"
#include "loop_observer.h"

namespace uvscope {

AddonData::AddonData(Napi::Env env_) : env(env_), loop(nullptr) {
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    throw Napi::Error::New(env, "uvscope: could not get this environment's libuv loop");
  }
  // Async, not synchronous: teardown has to wait for uv_close callbacks and running pool
  // jobs before Node frees anything they point to.
  napi_status status = napi_add_async_cleanup_hook(env, OnTeardown, this, &cleanupHandle_);
  if (status != napi_ok) {
    throw Napi::Error::New(env, "uvscope: could not register the environment cleanup hook");
  }
}

void AddonData::Register(Closeable* item) { live_.push_back(item); }

void AddonData::Unregister(Closeable* item) {
  if (!tearingDown_) live_.remove(item);
}

void AddonData::OnTeardown(napi_async_cleanup_hook_handle, void* arg) {
  auto* self = static_cast<AddonData*>(arg);
  self->tearingDown_ = true;
  // One extra count so that closeables finishing synchronously cannot end teardown early.
  self->pendingTeardown_ = self->live_.size() + 1;
  std::list<Closeable*> items;
  items.swap(self->live_);
  for (Closeable* item : items) {
    item->CloseForTeardown([self] { self->OneClosed(); });
  }
  self->OneClosed();
}

void AddonData::OneClosed() {
  if (--pendingTeardown_ == 0) {
    // Removing the hook lets Node finish tearing down the environment, which may free this
    // AddonData before the call returns: nothing may touch `this` afterwards.
    napi_async_cleanup_hook_handle handle = cleanupHandle_;
    cleanupHandle_ = nullptr;
    napi_remove_async_cleanup_hook(handle);
  }
}

static Napi::Value Now(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), NowNs());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData(env);
  env.SetInstanceData<AddonData>(data);
  exports.Set("nowNs", Napi::Function::New(env, Now, "nowNs"));
  exports.Set("uvVersion", Napi::String::New(env, uv_version_string()));
  LoopObserverWrap::Init(env, exports, data);
  return exports;
}

}  // namespace uvscope

static Napi::Object InitUvscope(Napi::Env env, Napi::Object exports) {
  return uvscope::Init(env, exports);
}

NODE_API_MODULE(uvscope, InitUvscope)
