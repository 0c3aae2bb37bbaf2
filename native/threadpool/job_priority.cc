// Job priority: see job_priority.h.
#include "job_priority.h"

#include <cerrno>
#include <cstring>
#include <thread>

#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace uvscope {

std::atomic<uint64_t> priorityRestoreFailures{0};

namespace {

constexpr int kLowNice = 19;

#ifdef __linux__
// setpriority(PRIO_PROCESS, tid) acts on one thread on Linux.
int ThreadId() { return static_cast<int>(syscall(SYS_gettid)); }

// The calling thread's nice, or false (errno set) when it cannot be read.
bool CurrentNice(int* nice) {
  errno = 0;
  int value = getpriority(PRIO_PROCESS, ThreadId());
  if (value == -1 && errno != 0) return false;
  *nice = value;
  return true;
}
#endif

// On a thread of its own: lower it, then return it. '' or why not.
std::string Probe() {
#ifdef __linux__
  int before;
  if (!CurrentNice(&before)) return std::string("cannot read a thread's priority: ") + std::strerror(errno);
  if (before >= kLowNice) return "threads already run at nice 19";
  if (setpriority(PRIO_PROCESS, ThreadId(), kLowNice) != 0) return std::string("cannot lower a thread's priority: ") + std::strerror(errno);
  if (setpriority(PRIO_PROCESS, ThreadId(), before) != 0) {
    int error = errno;
    return std::string("a thread lowered to nice 19 cannot return to nice ") + std::to_string(before) + " (" + std::strerror(error) +
           "): that needs RLIMIT_NICE >= " + std::to_string(20 - before) + " (ulimit -e) or CAP_SYS_NICE";
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
  if (!CurrentNice(&before_) || before_ >= kLowNice) return;
  lowered_ = setpriority(PRIO_PROCESS, ThreadId(), kLowNice) == 0;
#endif
}

LowPriorityScope::~LowPriorityScope() {
#ifdef __linux__
  if (lowered_ && setpriority(PRIO_PROCESS, ThreadId(), before_) != 0) priorityRestoreFailures.fetch_add(1, std::memory_order_relaxed);
#endif
}

void InitJobPriority(Napi::Env env, Napi::Object exports) {
  exports.Set("priorityProbe", Napi::Function::New(env, PriorityProbe, "priorityProbe"));
  exports.Set("priorityRestoreFailures", Napi::Function::New(env, PriorityRestoreFailures, "priorityRestoreFailures"));
}

}  // namespace uvscope
