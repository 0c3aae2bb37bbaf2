// RequestTable: see request_table.h.
#include "request_table.h"

#include "../json_text.h"
#include "../typed_args.h"

#include <algorithm>

namespace uvscope {

void RequestTable::SetSlots(const double* meta, size_t metaElements, const uint8_t* text, size_t textBytes,
                            size_t textStride, double timeOffsetNs) {
  meta_ = meta;
  text_ = text;
  textStride_ = textStride;
  slots_ = textStride == 0 ? 0 : std::min(metaElements / kMetaStride, textBytes / textStride);
  timeOffsetNs_ = timeOffsetNs;
}

long RequestTable::Find(size_t field, double value) const {
  long best = -1;
  for (size_t slot = 0; slot < slots_; slot++) {
    const double* m = meta_ + slot * kMetaStride;
    if (m[0] == 1 && m[field] == value && (best < 0 || m[1] > meta_[best * kMetaStride + 1])) best = static_cast<long>(slot);
  }
  return best;
}

uint64_t RequestTable::StartedAtNs(const double* m) const {
  return static_cast<uint64_t>(std::max(0.0, timeOffsetNs_ + m[3] * 1e6));
}

Attribution RequestTable::Attribute(const uvscope_stack_context& context) const {
  Attribution out;
  if (context.context_json != nullptr) {
    out.hasContext = true;
    out.contextJson = context.context_json;
  }
  if (context.context_unavailable != nullptr) out.contextUnavailable = context.context_unavailable;
  if (meta_ == nullptr) return out;
  long found = context.request_id >= 0 ? Find(1, context.request_id) : -1;
  if (found >= 0 && context.request_method != nullptr && context.request_url != nullptr) {
    // Named by the frame, which holds its method and URL (the slot has no text then).
    const double* m = meta_ + found * kMetaStride;
    out.hasRequest = true;
    out.request = RequestRecord{m[1], context.request_method, context.request_url, StartedAtNs(m), m[2]};
    return out;
  }
  for (double asyncId : {context.execution_async_id, context.trigger_async_id}) {
    if (found < 0 && asyncId > 0) found = Find(2, asyncId);
  }
  if (found < 0) return out;
  const double* m = meta_ + found * kMetaStride;
  const size_t methodBytes = static_cast<size_t>(m[4]);
  const size_t urlBytes = static_cast<size_t>(m[5]);
  if (!(m[4] >= 0 && m[5] >= 0) || methodBytes + urlBytes > textStride_) return out;  // never written so
  const char* text = reinterpret_cast<const char*>(text_ + found * textStride_);
  out.hasRequest = true;
  out.request = RequestRecord{m[1], std::string(text, methodBytes), std::string(text + methodBytes, urlBytes), StartedAtNs(m), m[2]};
  return out;
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
  // The arrays the table reads, held until they are replaced or the environment is cleaned up.
  Napi::Reference<Napi::Value> meta;
  Napi::Reference<Napi::Value> text;
};

// setRequestSlots(meta, text, textStride, timeOffsetNs): checked by the TypeScript caller;
// wrong kinds are a TypeError.
Napi::Value SetRequestSlots(const Napi::CallbackInfo& info) {
  auto* holder = static_cast<TableHolder*>(info.Data());
  size_t metaElements = 0;
  const double* meta = Float64ArrayArg(info[0], "meta", &metaElements);
  Napi::Value textValue = info[1];
  bool isTypedArray = false;
  napi_typedarray_type type;
  size_t textBytes = 0;
  void* text = nullptr;
  if (napi_is_typedarray(info.Env(), textValue, &isTypedArray) != napi_ok || !isTypedArray ||
      napi_get_typedarray_info(info.Env(), textValue, &type, &textBytes, &text, nullptr, nullptr) != napi_ok ||
      type != napi_uint8_array) {
    throw Napi::TypeError::New(info.Env(), "setRequestSlots: text must be a Uint8Array");
  }
  if (!info[2].IsNumber() || !info[3].IsNumber()) throw Napi::TypeError::New(info.Env(), "setRequestSlots(meta, text, textStride: number, timeOffsetNs: number)");
  const double stride = info[2].As<Napi::Number>().DoubleValue();
  if (!(stride >= 1 && stride <= 1 << 20)) throw Napi::RangeError::New(info.Env(), "setRequestSlots: textStride must be from 1 to 2^20");
  holder->meta = Napi::Persistent(info[0]);
  holder->text = Napi::Persistent(textValue);
  holder->table->SetSlots(meta, metaElements, static_cast<const uint8_t*>(text), textBytes, static_cast<size_t>(stride),
                          info[3].As<Napi::Number>().DoubleValue());
  return info.Env().Undefined();
}

}  // namespace

void InitRequestTable(Napi::Env env, Napi::Object exports, std::shared_ptr<RequestTable> table) {
  auto* holder = new TableHolder{std::move(table), {}, {}};
  env.AddCleanupHook([holder] {
    holder->table->Detach();
    delete holder;
  });
  exports.Set("setRequestSlots", Napi::Function::New(env, SetRequestSlots, "setRequestSlots", holder));
}

}  // namespace uvscope
