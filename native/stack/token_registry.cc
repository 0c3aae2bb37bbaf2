// Process-wide interrupt tokens (see token_registry.h): a map guarded by one mutex, held only
// for a hash-map insert or erase.
#include "token_registry.h"

#include <mutex>
#include <unordered_map>

namespace uvscope_stack {
namespace {

struct Registry {
  std::mutex mutex;
  uintptr_t next = 1;
  std::unordered_map<uintptr_t, Provider*> pending;
};

// Never destroyed: worker threads may still request while the process runs its exit handlers.
Registry& registry() {
  static Registry* instance = new Registry();
  return *instance;
}

}  // namespace

uintptr_t RegisterToken(Provider* provider) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  uintptr_t token = r.next++;
  if (r.next == 0) r.next = 1;  // 32-bit targets only; 0 means "no token"
  r.pending.emplace(token, provider);
  return token;
}

Provider* TakeToken(uintptr_t token) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.pending.find(token);
  if (it == r.pending.end()) return nullptr;
  Provider* provider = it->second;
  r.pending.erase(it);
  return provider;
}

}  // namespace uvscope_stack
