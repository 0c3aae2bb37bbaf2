// Job priority: a lane made with `priority: 'low'` has its jobs run at nice 19, so that fs,
// dns.lookup and the loop's own thread (nice 0) take a CPU from them at once on a machine with
// fewer CPUs than busy threads. The pool thread is lowered for the job and returned to its own
// nice after it (Linux; elsewhere nothing is done and the probe says so). Returning a thread to
// a higher priority needs RLIMIT_NICE >= 20 - nice, or CAP_SYS_NICE in the initial user
// namespace: CanRestorePriority() finds out on a thread of its own (started, lowered, returned
// and joined), so that no pool thread is ever lowered where it could not come back.
// Lifetime: stateless but for a process-wide counter of failed returns.
#pragma once
#include <napi.h>

#include <atomic>
#include <cstdint>
#include <string>

namespace uvscope {

// On a pool thread, around one job: lowered on construction, returned on destruction.
class LowPriorityScope {
 public:
  LowPriorityScope();
  ~LowPriorityScope();
  LowPriorityScope(const LowPriorityScope&) = delete;
  LowPriorityScope& operator=(const LowPriorityScope&) = delete;

 private:
  int before_ = 0;
  bool lowered_ = false;
};

// Failed returns (a privilege dropped after the probe): the thread stays low; counted and said
// in the lanes' stats.
extern std::atomic<uint64_t> priorityRestoreFailures;

// priorityProbe(): '' when this process may lower a thread and return it, else why not.
// priorityRestoreFailures(): the counter above.
void InitJobPriority(Napi::Env env, Napi::Object exports);

}  // namespace uvscope
