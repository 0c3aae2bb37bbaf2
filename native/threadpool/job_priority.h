// Job priority: a lane made with `priority: 'low'` has its jobs run under SCHED_IDLE, so that
// fs, dns.lookup and the loop's own thread (SCHED_OTHER) take a CPU from them the moment they
// wake, and are placed on a CPU running only such jobs as on an idle one, on a machine with
// fewer CPUs than busy threads. (Nice 19 was tried first: it still shares a CPU by weight and
// waits for the scheduler's slice; bench:pool measured fs p99 5-6x idle with it, 3-3.5x with
// SCHED_IDLE.) The pool thread is moved for the job and returned to its own policy after it
// (Linux; elsewhere nothing is done and the probe says so). Leaving SCHED_IDLE needs
// RLIMIT_NICE >= 20 - nice, or CAP_SYS_NICE in the initial user namespace: the probe finds out
// on a thread of its own (started, moved, returned and joined), so that no pool thread is ever
// lowered where it could not come back. Real-time pool threads are left alone.
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
