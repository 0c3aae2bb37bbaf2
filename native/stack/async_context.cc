// Reading the async context (see async_context.h). No JavaScript runs: the frame and Map
// stores are read with Map::AsArray (C++), objects with GetOwnPropertyDescriptor (accessors are
// never called; proxies are not entered), all under DisallowJavascriptExecutionScope, so that
// anything that would run JavaScript fails (and the field is left out) instead.
#include "async_context.h"

#include <node.h>

#include <cmath>
#include <cstdio>

#include "../json_text.h"

namespace uvscope_stack {
namespace {

v8::Local<v8::Value> CurrentFrame(v8::Isolate* isolate) {
#if V8_MAJOR_VERSION >= 14
  v8::Local<v8::Data> data = isolate->GetContinuationPreservedEmbedderDataV2();
  if (data.IsEmpty() || !data->IsValue()) return v8::Local<v8::Value>();
  return data.As<v8::Value>();
#elif V8_MAJOR_VERSION >= 12
  return isolate->GetContinuationPreservedEmbedderData();
#else
  (void)isolate;
  return v8::Local<v8::Value>();  // V8 11 (Node 20): no such data
#endif
}

std::string Utf8(v8::Isolate* isolate, v8::Local<v8::String> value, size_t maxBytes) {
  v8::String::Utf8Value text(isolate, value);
  if (*text == nullptr) return std::string();
  std::string out(*text, text.length());
  if (out.size() > maxBytes) {
    size_t cut = maxBytes;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) cut--;  // no split character
    out.resize(cut);
  }
  return out;
}

// The value stored under `key` in a Map (keys compared with ===), empty when absent.
v8::Local<v8::Value> MapEntry(v8::Local<v8::Context> context, v8::Local<v8::Map> map, v8::Local<v8::Value> key) {
  v8::Local<v8::Array> entries = map->AsArray();
  for (uint32_t i = 0; i + 1 < entries->Length(); i += 2) {
    v8::Local<v8::Value> k;
    if (!entries->Get(context, i).ToLocal(&k)) return v8::Local<v8::Value>();
    if (k->StrictEquals(key)) {
      v8::Local<v8::Value> v;
      if (!entries->Get(context, i + 1).ToLocal(&v)) return v8::Local<v8::Value>();
      return v;
    }
  }
  return v8::Local<v8::Value>();
}

// One step of a field path: a Map entry whose key is the string `name` or a Symbol described
// by it, or an own data property of an ordinary object.
v8::Local<v8::Value> Step(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Value> from,
                          const std::string& name) {
  if (from.IsEmpty() || !from->IsObject() || from->IsProxy()) return v8::Local<v8::Value>();
  v8::Local<v8::String> key;
  if (!v8::String::NewFromUtf8(isolate, name.data(), v8::NewStringType::kNormal, static_cast<int>(name.size())).ToLocal(&key)) {
    return v8::Local<v8::Value>();
  }
  if (from->IsMap()) {
    v8::Local<v8::Array> entries = from.As<v8::Map>()->AsArray();
    for (uint32_t i = 0; i + 1 < entries->Length(); i += 2) {
      v8::Local<v8::Value> k;
      if (!entries->Get(context, i).ToLocal(&k)) return v8::Local<v8::Value>();
      bool match = k->IsString() ? k->StrictEquals(key) : false;
      if (!match && k->IsSymbol()) {
        v8::Local<v8::Value> description = k.As<v8::Symbol>()->Description(isolate);
        match = description->IsString() && description->StrictEquals(key);
      }
      if (match) {
        v8::Local<v8::Value> v;
        return entries->Get(context, i + 1).ToLocal(&v) ? v : v8::Local<v8::Value>();
      }
    }
    return v8::Local<v8::Value>();
  }
  v8::Local<v8::Value> descriptor;
  if (!from.As<v8::Object>()->GetOwnPropertyDescriptor(context, key).ToLocal(&descriptor) || !descriptor->IsObject()) {
    return v8::Local<v8::Value>();
  }
  // A fresh ordinary object made by V8: reading it runs nothing of the user's. An accessor
  // property has no `value`: left out.
  v8::Local<v8::Object> desc = descriptor.As<v8::Object>();
  v8::Local<v8::String> valueKey = v8::String::NewFromUtf8Literal(isolate, "value");
  v8::Local<v8::Value> value;
  if (!desc->HasOwnProperty(context, valueKey).FromMaybe(false) || !desc->Get(context, valueKey).ToLocal(&value)) {
    return v8::Local<v8::Value>();
  }
  return value;
}

// A primitive as JSON; false for other kinds (left out).
bool AppendPrimitive(v8::Isolate* isolate, std::string& out, v8::Local<v8::Value> value) {
  if (value->IsString()) {
    uvscope::AppendJsonString(out, Utf8(isolate, value.As<v8::String>(), kMaxContextStringBytes));
    return true;
  }
  if (value->IsNumber()) {
    double number = value.As<v8::Number>()->Value();
    if (!std::isfinite(number)) {
      out += "null";
      return true;
    }
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", number);
    out += text;
    return true;
  }
  if (value->IsBoolean()) {
    out += value->IsTrue() ? "true" : "false";
    return true;
  }
  return false;
}

// The request uvscope's request storage holds (`{ id, method, url }`): all three, or none.
void ReadRequest(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Value> request,
                 AsyncContextReading* out) {
  v8::Local<v8::Value> id = Step(isolate, context, request, "id");
  if (id.IsEmpty() || !id->IsNumber()) return;
  v8::Local<v8::Value> method = Step(isolate, context, request, "method");
  v8::Local<v8::Value> url = Step(isolate, context, request, "url");
  if (method.IsEmpty() || url.IsEmpty() || !method->IsString() || !url->IsString()) return;
  out->requestMethod = Utf8(isolate, method.As<v8::String>(), kMaxRequestMethodBytes);
  out->requestUrl = Utf8(isolate, url.As<v8::String>(), kMaxRequestTextBytes - out->requestMethod.size());
  out->requestId = id.As<v8::Number>()->Value();
}

}  // namespace

void ReadAsyncContext(v8::Isolate* isolate, const ContextLookup* lookup, AsyncContextReading* out) {
  out->executionAsyncId = node::AsyncHooksGetExecutionAsyncId(isolate);
  out->triggerAsyncId = node::AsyncHooksGetTriggerAsyncId(isolate);
  if (lookup == nullptr) return;
  const bool wantsContext = !lookup->userStorage.IsEmpty();
  if (!lookup->framesInUse) {
    if (wantsContext) {
      out->contextUnavailable =
          "this Node keeps AsyncLocalStorage state in async_hooks resources (Node 20, and 22 without "
          "--experimental-async-context-frame), which cannot be read without running JavaScript on the blocked thread";
    }
    return;
  }
  v8::HandleScope scope(isolate);
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  if (context.IsEmpty()) return;
  v8::Isolate::DisallowJavascriptExecutionScope noJs(isolate, v8::Isolate::DisallowJavascriptExecutionScope::THROW_ON_FAILURE);
  v8::TryCatch tryCatch(isolate);
  v8::Local<v8::Value> frame = CurrentFrame(isolate);
  if (frame.IsEmpty() || !frame->IsMap()) return;  // no AsyncLocalStorage has a store here
  v8::Local<v8::Map> map = frame.As<v8::Map>();
  if (!lookup->requestStorage.IsEmpty()) {
    ReadRequest(isolate, context, MapEntry(context, map, lookup->requestStorage.Get(isolate)), out);
    if (tryCatch.HasCaught()) tryCatch.Reset();
  }
  if (!wantsContext) return;
  v8::Local<v8::Value> store = MapEntry(context, map, lookup->userStorage.Get(isolate));
  if (store.IsEmpty() || store->IsUndefined()) return;
  std::string json = "{";
  size_t written = 0;
  for (size_t i = 0; i < lookup->names.size() && i < kMaxContextFields; i++) {
    v8::Local<v8::Value> value = store;
    for (const std::string& step : lookup->paths[i]) {
      value = Step(isolate, context, value, step);
      if (value.IsEmpty()) break;
    }
    if (tryCatch.HasCaught()) tryCatch.Reset();
    if (value.IsEmpty()) continue;
    std::string field;
    uvscope::AppendJsonString(field, lookup->names[i]);
    field += ':';
    if (!AppendPrimitive(isolate, field, value)) continue;
    if (written++) json += ',';
    json += field;
  }
  json += '}';
  out->hasContext = true;
  out->contextJson = std::move(json);
}

}  // namespace uvscope_stack
