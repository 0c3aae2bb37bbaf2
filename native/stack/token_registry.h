// The process-wide table of interrupt tokens: what V8's RequestInterrupt carries as its data.
//
// Owns: one map from token to the provider whose request the token stands for, created on
// first use and never destroyed (reachable from a global, so neither a static destructor at
// exit nor LeakSanitizer sees it go away). Tokens are plain numbers, never pointers: an
// interrupt V8 never runs (its isolate is disposed first) leaves nothing allocated behind, and
// one that runs after its request was cancelled finds no entry and does nothing. Tokens are
// never reused (a 64-bit counter).
#pragma once
#include <cstdint>

namespace uvscope_stack {

struct Provider;

// Registers `provider` under a new token and returns the token (never 0).
uintptr_t RegisterToken(Provider* provider);
// Removes the entry and returns its provider, or nullptr if the token is not (or no longer)
// registered. Whoever gets the provider owns the request's completion.
Provider* TakeToken(uintptr_t token);

}  // namespace uvscope_stack
