// Taking the JavaScript stack of the current thread with V8 (inside an interrupt).
//
// Owns: a CapturedStack holds the frames' UTF-8 strings; its uvscope_stack_frame array points
// into them and is valid while the CapturedStack lives and is not modified. Runs no
// JavaScript: only StackTrace::CurrentStackTrace, StackFrame accessors and string copies.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "stack_provider.h"

namespace v8 {
class Isolate;
}

namespace uvscope_stack {

struct CapturedStack {
  std::vector<std::string> strings;          // two per frame: function name, url
  std::vector<uvscope_stack_frame> frames;  // innermost first
};

// Up to max_frames frames of the isolate's current stack, innermost first. Opens its own
// HandleScope. Call on the isolate's thread only.
void CaptureStack(v8::Isolate* isolate, uint32_t max_frames, CapturedStack* out);

}  // namespace uvscope_stack
