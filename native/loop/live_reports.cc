// LiveReportHub and LiveReportSubscription: see live_reports.h.
#include "live_reports.h"

#include <algorithm>
#include <mutex>
#include <vector>

#include "../js_callback.h"

namespace uvscope {

namespace {

// Process-wide, never destroyed: watchdog threads may publish while static destructors run
// at exit, so both live for the whole process.
std::mutex& HubMutex() {
  static auto* mutex = new std::mutex();
  return *mutex;
}
std::vector<LiveReportSubscription*>& Subscribers() {
  static auto* subscribers = new std::vector<LiveReportSubscription*>();
  return *subscribers;
}

}  // namespace

struct LiveReportSubscription::Handle {
  uv_async_t async;
  LiveReportSubscription* owner;  // null once the wrapper is gone
  std::deque<std::string> queue;  // guarded by the hub's mutex
  size_t queuedBytes = 0;         // the queue's lines' bytes, guarded by the hub's mutex
  std::function<void()> onClosed;
};

void live_reports::Publish(const std::string& line) {
  std::lock_guard<std::mutex> lock(HubMutex());
  for (LiveReportSubscription* subscriber : Subscribers()) subscriber->Enqueue(line);
}

void LiveReportSubscription::Enqueue(const std::string& line) {
  if (handle_ == nullptr) return;
  if (line.size() > kMaxQueuedBytes) {  // larger than a whole queue: only this line is lost
    dropped_++;
    return;
  }
  // A subscriber that cannot keep up loses the oldest.
  while (!handle_->queue.empty() &&
         (handle_->queue.size() >= kMaxQueued || handle_->queuedBytes + line.size() > kMaxQueuedBytes)) {
    handle_->queuedBytes -= handle_->queue.front().size();
    handle_->queue.pop_front();
    dropped_++;
  }
  handle_->queue.push_back(line);
  handle_->queuedBytes += line.size();
  uv_async_send(&handle_->async);
}

void LiveReportSubscription::Init(Napi::Env env, Napi::Object exports, AddonData* data) {
  Napi::Function ctor = DefineClass(env, "NativeLiveReportSubscription",
                                    {
                                        InstanceMethod<&LiveReportSubscription::Close>("close"),
                                        InstanceMethod<&LiveReportSubscription::Dropped>("dropped"),
                                    },
                                    data);
  exports.Set("NativeLiveReportSubscription", ctor);
}

// new NativeLiveReportSubscription(fn(line: string)): fn validated in TypeScript.
LiveReportSubscription::LiveReportSubscription(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<LiveReportSubscription>(info) {
  data_ = static_cast<AddonData*>(info.Data());
  if (data_->tearingDown()) throw Napi::Error::New(info.Env(), "uvscope: the environment is shutting down");
  // Out of memory must not leave this constructor as a C++ exception (it would end the
  // process), nor leave a registration or an open handle behind.
  auto outOfMemory = [&info] {
    Napi::Error error = Napi::Error::New(info.Env(), "uvscope: out of memory");
    error.Set("code", Napi::String::New(info.Env(), "ERR_UVSCOPE_OUT_OF_MEMORY"));
    return error;
  };
  std::unique_ptr<Handle> handle;
  try {
    callback_ = Napi::Persistent(info[0].As<Napi::Function>());
    asyncContext_ = std::make_unique<Napi::AsyncContext>(info.Env(), "uvscope:LiveReport", Napi::Object::New(info.Env()));
    handle = std::make_unique<Handle>();
    data_->Register(this);
  } catch (const std::bad_alloc&) {
    throw outOfMemory();
  }
  handle->owner = this;
  uv_async_init(data_->loop, &handle->async, OnAsync);
  handle->async.data = handle.get();
  uv_unref(reinterpret_cast<uv_handle_t*>(&handle->async));
  handle_ = handle.release();
  try {
    std::lock_guard<std::mutex> lock(HubMutex());
    Subscribers().push_back(this);
  } catch (const std::bad_alloc&) {
    data_->Unregister(this);
    Detach(nullptr);
    throw outOfMemory();
  }
}

LiveReportSubscription::~LiveReportSubscription() {
  if (handle_ != nullptr) {
    data_->Unregister(this);
    Detach(nullptr);
  }
}

void LiveReportSubscription::Detach(std::function<void()> done) {
  {
    std::lock_guard<std::mutex> lock(HubMutex());
    auto& subscribers = Subscribers();
    subscribers.erase(std::remove(subscribers.begin(), subscribers.end(), this), subscribers.end());
  }
  Handle* handle = handle_;
  handle_ = nullptr;
  handle->owner = nullptr;
  handle->onClosed = std::move(done);
  uv_close(reinterpret_cast<uv_handle_t*>(&handle->async), [](uv_handle_t* closed) {
    auto* handle = static_cast<Handle*>(closed->data);
    std::function<void()> done = std::move(handle->onClosed);
    delete handle;
    if (done) done();
  });
}

void LiveReportSubscription::CloseForTeardown(std::function<void()> done) {
  if (handle_ == nullptr) {
    done();
    return;
  }
  callback_.Reset();
  Detach(std::move(done));
}

Napi::Value LiveReportSubscription::Close(const Napi::CallbackInfo& info) {
  if (handle_ != nullptr) {
    data_->Unregister(this);
    Detach(nullptr);
  }
  callback_.Reset();
  return info.Env().Undefined();
}

Napi::Value LiveReportSubscription::Dropped(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(HubMutex());
  return Napi::Number::New(info.Env(), static_cast<double>(dropped_));
}

void LiveReportSubscription::OnAsync(uv_async_t* async) {
  auto* handle = static_cast<Handle*>(async->data);
  std::deque<std::string> lines;
  {
    std::lock_guard<std::mutex> lock(HubMutex());
    lines.swap(handle->queue);
    handle->queuedBytes = 0;
  }
  LiveReportSubscription* self = handle->owner;
  if (self == nullptr) return;
  for (const std::string& line : lines) {
    // The callback may unsubscribe (or the environment may stop running JavaScript): re-check.
    if (handle->owner == nullptr || self->callback_.IsEmpty()) return;
    CallWithString(self->Env(), *self->asyncContext_, self->callback_, line);
  }
}

}  // namespace uvscope
