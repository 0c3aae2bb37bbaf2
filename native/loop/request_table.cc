// RequestTable: see request_table.h.
#include "request_table.h"

#include "../clock.h"
#include "../json_text.h"

namespace uvscope {

void RequestTable::Start(double id, double asyncId, std::string method, std::string url, uint64_t startedAtNs) {
  if (url.size() > kMaxUrlBytes) {
    size_t cut = kMaxUrlBytes;
    while (cut > 0 && (static_cast<unsigned char>(url[cut]) & 0xC0) == 0x80) cut--;
    url.resize(cut);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (byId_.size() >= kMaxRequests) {
    untracked_++;
    return;
  }
  byId_[id] = RequestRecord{id, std::move(method), std::move(url), startedAtNs, asyncId};
  if (asyncId > 0) latestByAsyncId_[asyncId] = id;
}

void RequestTable::Finish(double id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = byId_.find(id);
  if (found == byId_.end()) return;
  auto latest = latestByAsyncId_.find(found->second.asyncId);
  if (latest != latestByAsyncId_.end() && latest->second == id) latestByAsyncId_.erase(latest);
  byId_.erase(found);
}

Attribution RequestTable::Attribute(const uvscope_stack_context& context) const {
  Attribution out;
  if (context.context_json != nullptr) {
    out.hasContext = true;
    out.contextJson = context.context_json;
  }
  if (context.context_unavailable != nullptr) out.contextUnavailable = context.context_unavailable;
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = byId_.end();
  if (context.request_id >= 0) found = byId_.find(context.request_id);
  for (double asyncId : {context.execution_async_id, context.trigger_async_id}) {
    if (found != byId_.end() || asyncId <= 0) continue;
    auto latest = latestByAsyncId_.find(asyncId);
    if (latest != latestByAsyncId_.end()) found = byId_.find(latest->second);
  }
  if (found != byId_.end()) {
    out.hasRequest = true;
    out.request = found->second;
  }
  return out;
}

size_t RequestTable::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return byId_.size();
}

uint64_t RequestTable::untracked() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return untracked_;
}

void AppendAttribution(std::string& out, const Attribution& attribution) {
  if (attribution.hasRequest) {
    out += ",\"request\":{\"id\":" + std::to_string(static_cast<uint64_t>(attribution.request.id)) + ",\"method\":";
    AppendJsonString(out, attribution.request.method);
    out += ",\"url\":";
    AppendJsonString(out, attribution.request.url);
    out += ",\"startedAtNs\":\"" + std::to_string(attribution.request.startedAtNs) + "\"}";
  }
  if (attribution.hasContext) out += ",\"context\":" + attribution.contextJson;
  if (!attribution.contextUnavailable.empty()) {
    out += ",\"contextUnavailable\":";
    AppendJsonString(out, attribution.contextUnavailable);
  }
}

namespace {

struct TableHolder {
  std::shared_ptr<RequestTable> table;
};

RequestTable* TableOf(const Napi::CallbackInfo& info) { return static_cast<TableHolder*>(info.Data())->table.get(); }

// Checked by the TypeScript caller; wrong kinds are a TypeError.
Napi::Value RequestStarted(const Napi::CallbackInfo& info) {
  if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsString() || !info[3].IsString()) {
    throw Napi::TypeError::New(info.Env(), "requestStarted(id: number, asyncId: number, method: string, url: string)");
  }
  TableOf(info)->Start(info[0].As<Napi::Number>().DoubleValue(), info[1].As<Napi::Number>().DoubleValue(),
                       info[2].As<Napi::String>().Utf8Value(), info[3].As<Napi::String>().Utf8Value(), NowNs());
  return info.Env().Undefined();
}

Napi::Value RequestFinished(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "requestFinished(id: number)");
  TableOf(info)->Finish(info[0].As<Napi::Number>().DoubleValue());
  return info.Env().Undefined();
}

Napi::Value RequestTableStats(const Napi::CallbackInfo& info) {
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, Napi::Number::New(info.Env(), static_cast<double>(TableOf(info)->size())));
  out.Set(1u, Napi::Number::New(info.Env(), static_cast<double>(TableOf(info)->untracked())));
  return out;
}

}  // namespace

void InitRequestTable(Napi::Env env, Napi::Object exports, std::shared_ptr<RequestTable> table) {
  auto* holder = new TableHolder{std::move(table)};
  env.AddCleanupHook([holder] { delete holder; });
  exports.Set("requestStarted", Napi::Function::New(env, RequestStarted, "requestStarted", holder));
  exports.Set("requestFinished", Napi::Function::New(env, RequestFinished, "requestFinished", holder));
  exports.Set("requestTableStats", Napi::Function::New(env, RequestTableStats, "requestTableStats", holder));
}

}  // namespace uvscope
