// Keeps the shared library this header is compiled into loaded until the process exits.
// Node unloads an addon (dlclose) when the last environment that loaded it is torn down, for
// example when the only worker that used it exits. uvscope's process-wide state (the
// live-report hub, the stack addon's interrupt tokens) and the function pointers it hands to
// other threads and to V8 (a stack request's done callback, an interrupt callback) must outlive
// any one environment: unloading would leave them pointing into unmapped memory (seen as
// LeakSanitizer reports from an "<unknown module>" in the worker churn test). Internal linkage,
// so each library pins itself even when both addons include it. Idempotent.
#pragma once
#include <dlfcn.h>

namespace {

inline void PinThisLibrary() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&PinThisLibrary), &info) != 0 && info.dli_fname != nullptr) {
    // Already loaded (RTLD_NOLOAD): this only adds RTLD_NODELETE to it; the handle is kept forever.
    dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
  }
}

}  // namespace
