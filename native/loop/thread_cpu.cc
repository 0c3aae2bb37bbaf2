// ThreadCpuClock and StretchCpu: see thread_cpu.h.
#include "thread_cpu.h"

#include <pthread.h>

#include <algorithm>

namespace uvscope {

void ThreadCpuClock::TakeCurrentThread() {
#if defined(__linux__) || defined(__FreeBSD__)
  available_ = pthread_getcpuclockid(pthread_self(), &clock_) == 0;
#else
  available_ = false;  // macOS has no per-thread clock id usable from another thread
#endif
}

bool ThreadCpuClock::Read(uint64_t* cpuNs) const {
  if (!available_) return false;
  struct timespec now;
  if (clock_gettime(clock_, &now) != 0) return false;
  *cpuNs = static_cast<uint64_t>(now.tv_sec) * 1000000000ull + static_cast<uint64_t>(now.tv_nsec);
  return true;
}

void StretchCpu::Sample(uint64_t seq, uint64_t stretchStartNs, uint64_t nowNs, uint64_t cpuNs, bool waiting) {
  if (waiting) {
    hasWait_ = true;
    waitSeq_ = seq;
    waitAtNs_ = nowNs;
    waitCpuNs_ = cpuNs;
  }
  if (has_ && atNs_ >= stretchStartNs) return;  // already the first sample of this stretch
  has_ = true;
  atNs_ = nowNs;
  cpuNs_ = cpuNs;
}

bool StretchCpu::Since(uint64_t seq, uint64_t stretchStartNs, uint64_t nowNs, uint64_t cpuNowNs, uint64_t* cpuNs) const {
  constexpr uint64_t kMinWindowNs = 1000000;
  // The wait of this heartbeat ended where the stretch began (within a look's rounding).
  if (hasWait_ && waitSeq_ == seq && waitAtNs_ <= stretchStartNs + kMinWindowNs && cpuNowNs >= waitCpuNs_ && nowNs > stretchStartNs) {
    *cpuNs = std::min(cpuNowNs - waitCpuNs_, nowNs - stretchStartNs);
    return true;
  }
  if (!has_ || atNs_ < stretchStartNs || nowNs < atNs_ + kMinWindowNs || cpuNowNs < cpuNs_) {
    // No sample inside the stretch yet (the watchdog thread came late, right after a look that
    // found the loop waiting): the clock since that wait, which began before the stretch and
    // may count a few callbacks of the turn before it.
    if (!hasWait_ || waitAtNs_ > stretchStartNs || cpuNowNs < waitCpuNs_ || nowNs <= stretchStartNs) return false;
    *cpuNs = std::min(cpuNowNs - waitCpuNs_, nowNs - stretchStartNs);
    return true;
  }
  const uint64_t measuredCpu = cpuNowNs - cpuNs_;
  const uint64_t window = nowNs - atNs_;
  const double rate = std::min(1.0, static_cast<double>(measuredCpu) / static_cast<double>(window));
  const uint64_t before = static_cast<uint64_t>(rate * static_cast<double>(atNs_ - stretchStartNs));
  *cpuNs = std::min(measuredCpu + before, nowNs - stretchStartNs);
  return true;
}

}  // namespace uvscope
