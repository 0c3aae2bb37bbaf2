// Job priority: see job_priority.h.
#include "job_priority.h"

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>

#ifdef __linux__
#include <sched.h>
#include <sys/resource.h>
#endif

namespace uvscope {

std::atomic<uint64_t> priorityRestoreFailures{0};

namespace {

#ifdef __linux__
// Only the ordinary time-sharing policies are lowered: a real-time pool thread (someone's
// choice) is left alone.
bool Lowerable(int policy) { return policy == SCHED_OTHER || policy == SCHED_BATCH; }

bool SetPolicy(int policy) {
  sched_param param{};  // 0: the only priority of the time-sharing policies
  return sched_setscheduler(0, policy, &param) == 0;
}
#endif

// On a thread of its own: lower it, then return it. '' or why not.
std::string Probe() {
#ifdef __linux__
  int before = sched_getscheduler(0);
  if (before == -1) return std::string("cannot read a thread's scheduling policy: ") + std::strerror(errno);
  if (!Lowerable(before)) return "threads already run under SCHED_IDLE or a real-time policy";
  if (!SetPolicy(SCHED_IDLE)) return std::string("cannot move a thread to SCHED_IDLE: ") + std::strerror(errno);
  if (!SetPolicy(before)) {
    int error = errno;
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);  // this thread's nice (a thread is a process to setpriority on Linux)
    return std::string("a thread moved to SCHED_IDLE cannot return to its policy (") + std::strerror(error) +
           "): that needs RLIMIT_NICE >= " + std::to_string(20 - nice) + " (ulimit -e) or CAP_SYS_NICE";
  }
  return "";
#else
  return "thread priorities are lowered on Linux only";
#endif
}

Napi::Value PriorityProbe(const Napi::CallbackInfo& info) {
  std::string why;
  // The probe's thread may stay low when it fails: it ends here, and no other thread was touched.
  std::thread probe([&why] { why = Probe(); });
  probe.join();
  return Napi::String::New(info.Env(), why);
}

Napi::Value PriorityRestoreFailures(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(priorityRestoreFailures.load(std::memory_order_relaxed)));
}

}  // namespace

LowPriorityScope::LowPriorityScope() {
#ifdef __linux__
  before_ = sched_getscheduler(0);
  lowered_ = Lowerable(before_) && SetPolicy(SCHED_IDLE);
#endif
}

LowPriorityScope::~LowPriorityScope() {
#ifdef __linux__
  if (lowered_ && !SetPolicy(before_)) priorityRestoreFailures.fetch_add(1, std::memory_order_relaxed);
#endif
}

void InitJobPriority(Napi::Env env, Napi::Object exports) {
  exports.Set("priorityProbe", Napi::Function::New(env, PriorityProbe, "priorityProbe"));
  exports.Set("priorityRestoreFailures", Napi::Function::New(env, PriorityRestoreFailures, "priorityRestoreFailures"));
}

}  // namespace uvscope
