// Stack capture with V8's StackTrace API (see capture.h). Built per Node ABI, so the V8
// version decides which string-copy API exists.
#include "capture.h"

#include <v8.h>

#include <algorithm>

namespace uvscope_stack {
namespace {

// Longest copy of one name or URL, in bytes (a data: URL can be megabytes).
constexpr size_t kMaxStringBytes = 4096;

std::string ToUtf8(v8::Isolate* isolate, v8::Local<v8::String> value) {
  std::string out;
  if (value.IsEmpty() || value->Length() == 0) return out;
#if V8_MAJOR_VERSION >= 13
  size_t length = std::min(value->Utf8LengthV2(isolate), kMaxStringBytes);
  out.resize(length);
  // Not null-terminated, no partial sequence at the cut (V8 stops before it).
  size_t written = value->WriteUtf8V2(isolate, out.data(), length, v8::String::WriteFlags::kReplaceInvalidUtf8);
#else
  size_t length = std::min(static_cast<size_t>(value->Utf8Length(isolate)), kMaxStringBytes);
  out.resize(length);
  size_t written = static_cast<size_t>(value->WriteUtf8(isolate, out.data(), static_cast<int>(length), nullptr,
                                                        v8::String::NO_NULL_TERMINATION | v8::String::REPLACE_INVALID_UTF8));
#endif
  out.resize(written);
  return out;
}

}  // namespace

void CaptureStack(v8::Isolate* isolate, uint32_t max_frames, CapturedStack* out) {
  out->strings.clear();
  out->frames.clear();
  if (max_frames == 0) return;
  v8::HandleScope scope(isolate);
  const auto options = static_cast<v8::StackTrace::StackTraceOptions>(
      v8::StackTrace::kLineNumber | v8::StackTrace::kColumnOffset | v8::StackTrace::kScriptNameOrSourceURL |
      v8::StackTrace::kFunctionName);
  int limit = static_cast<int>(std::min<uint32_t>(max_frames, 0x7fffffff));
  v8::Local<v8::StackTrace> trace = v8::StackTrace::CurrentStackTrace(isolate, limit, options);
  if (trace.IsEmpty()) return;
  const int count = trace->GetFrameCount();
  out->strings.reserve(static_cast<size_t>(count) * 2);
  for (int i = 0; i < count; i++) {
    v8::Local<v8::StackFrame> frame = trace->GetFrame(isolate, static_cast<uint32_t>(i));
    out->strings.push_back(ToUtf8(isolate, frame->GetFunctionName()));
    out->strings.push_back(ToUtf8(isolate, frame->GetScriptNameOrSourceURL()));
    int line = frame->GetLineNumber();   // 1-based; 0 or less when unknown
    int column = frame->GetColumn();     // 1-based; 0 when unknown
    out->frames.push_back({nullptr, nullptr, line > 0 ? line : 0, column > 0 ? column : 0});
  }
  // Pointers only now: the strings vector no longer grows.
  for (size_t i = 0; i < out->frames.size(); i++) {
    out->frames[i].function_name = out->strings[2 * i].c_str();
    out->frames[i].url = out->strings[2 * i + 1].c_str();
  }
}

}  // namespace uvscope_stack
