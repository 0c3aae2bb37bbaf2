// CPU spread: see cpu_spread.h.
#include "cpu_spread.h"

#ifdef __linux__
#include <sched.h>
#endif

namespace uvscope {

namespace {

std::atomic<uint64_t> spreadMoves{0};

#ifdef __linux__
// Lane jobs running on each CPU; CPUs past the array are neither counted nor moved to.
constexpr int kCountedCpus = 1024;
std::atomic<int32_t> jobsOnCpu[kCountedCpus];

bool Counted(int cpu) { return cpu >= 0 && cpu < kCountedCpus; }

// A CPU of the calling thread's mask with no lane job on it, claimed (counted) for the caller,
// and the thread moved there; -1 when there is none or the move failed.
int MoveToFreeCpu() {
  cpu_set_t mask;
  if (sched_getaffinity(0, sizeof mask, &mask) != 0) return -1;
  for (int cpu = 0; cpu < kCountedCpus && cpu < CPU_SETSIZE; cpu++) {
    if (!CPU_ISSET(cpu, &mask)) continue;
    int32_t none = 0;
    if (!jobsOnCpu[cpu].compare_exchange_strong(none, 1, std::memory_order_relaxed)) continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) {
      jobsOnCpu[cpu].fetch_sub(1, std::memory_order_relaxed);
      return -1;
    }
    // Back to the thread's own mask: it stays on `cpu` until the kernel balances it again.
    sched_setaffinity(0, sizeof mask, &mask);
    spreadMoves.fetch_add(1, std::memory_order_relaxed);
    return cpu;
  }
  return -1;
}
#endif

Napi::Value SpreadMoves(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(spreadMoves.load(std::memory_order_relaxed)));
}

}  // namespace

SpreadScope::SpreadScope() {
#ifdef __linux__
  int cpu = sched_getcpu();
  if (!Counted(cpu)) return;
  if (jobsOnCpu[cpu].fetch_add(1, std::memory_order_relaxed) == 0) {
    cpu_ = cpu;
    return;
  }
  jobsOnCpu[cpu].fetch_sub(1, std::memory_order_relaxed);
  int moved = MoveToFreeCpu();
  if (moved >= 0) {
    cpu_ = moved;
    return;
  }
  // Every CPU holds a lane job already: stay, counted where we are.
  jobsOnCpu[cpu].fetch_add(1, std::memory_order_relaxed);
  cpu_ = cpu;
#endif
}

SpreadScope::~SpreadScope() {
#ifdef __linux__
  if (cpu_ >= 0) jobsOnCpu[cpu_].fetch_sub(1, std::memory_order_relaxed);
#endif
}

void InitCpuSpread(Napi::Env env, Napi::Object exports) {
  exports.Set("spreadMoves", Napi::Function::New(env, SpreadMoves, "spreadMoves"));
}

}  // namespace uvscope
