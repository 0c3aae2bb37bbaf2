// LoopClock: see loop_clock.h. Whether the counter may be used, and the slow path (anchoring,
// calibration, the mapping's check); Now() is inline in the header.
#include "loop_clock.h"

#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#if UVSCOPE_LOOP_CLOCK_TSC
#include <cpuid.h>
#include <dlfcn.h>
#endif

namespace uvscope {

#if UVSCOPE_LOOP_CLOCK_TSC
namespace {

constexpr uint64_t kMinCalibrationNs = 50'000'000;      // the first rate: 50 ms of both clocks
constexpr uint64_t kCalibrationStepNs = 1'000'000'000;  // the older point moves every second
constexpr double kAnchorSpanNs = 1'000'000;             // re-anchored every ms of counter
// The mapping may be off uv_hrtime() by 20 us + 1000 ppm of the time since its anchor (twice
// NTP's largest slew) before the counter is taken to have jumped.
constexpr double kCheckSlackNs = 20'000;
constexpr double kCheckRate = 1e-3;
// uv_hrtime() is paired with the counter half-way between readings before and after it (~100
// cycles apart); further apart (~0.25 us here), the thread was interrupted between them: not paired,
// so a pair is off by at most half of that.
constexpr uint64_t kMaxBracketCycles = 512;
// Behind the calibration point by more than this (~0.5 ms), the counter went back.
constexpr uint64_t kMaxBehindCycles = uint64_t{1} << 20;

bool InvariantCounter() {
  if (__get_cpuid_max(0x80000000u, nullptr) < 0x80000007u) return false;
  unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
  __get_cpuid(0x80000007u, &eax, &ebx, &ecx, &edx);
  return (edx & (1u << 8)) != 0;  // EDX bit 8: invariant TSC
}

bool CounterWanted() {
  static const bool wanted = [] {
    const char* choice = std::getenv("UVSCOPE_LOOP_CLOCK");
    return !(choice != nullptr && std::strcmp(choice, "hrtime") == 0) && InvariantCounter();
  }();
  return wanted;
}

// This thread's rseq cpu_id (struct rseq: cpu_id_start, then cpu_id), or nullptr where glibc
// registered none (older than 2.35, GLIBC_TUNABLES=glibc.pthread.rseq=0, valgrind).
const volatile uint32_t* ThreadCpuId() {
  auto* offset = static_cast<const ptrdiff_t*>(dlsym(RTLD_DEFAULT, "__rseq_offset"));
  auto* size = static_cast<const unsigned int*>(dlsym(RTLD_DEFAULT, "__rseq_size"));
  if (offset == nullptr || size == nullptr || *size < 8) return nullptr;
  char* threadPointer;
  asm("mov %%fs:0, %0" : "=r"(threadPointer));  // x86-64 TLS ABI: the TCB points to itself
  auto* cpuId = reinterpret_cast<const volatile uint32_t*>(threadPointer + *offset + 4);
  // Negative: not registered (-1) or registration failed (-2).
  return static_cast<int32_t>(*cpuId) >= 0 ? cpuId : nullptr;
}

}  // namespace
#endif

LoopClock::LoopClock() {
#if UVSCOPE_LOOP_CLOCK_TSC
  if (CounterWanted()) cpuId_ = ThreadCpuId();
#endif
}

#if UVSCOPE_LOOP_CLOCK_TSC
void LoopClock::Resync(uint64_t tsc, uint64_t ns) {
  anchorSpanCycles_ = 0;
  if (++resyncs_ >= kMaxResyncs) {
    cpuId_ = nullptr;
    return;
  }
  olderTsc_ = newerTsc_ = tsc;
  olderNs_ = newerNs_ = ns;
}

uint64_t LoopClock::Anchor() {
  uint32_t cpu = *cpuId_;
  uint64_t before = ReadCounter();
  uint64_t ns = uv_hrtime();
  uint64_t after = ReadCounter();
  // Moved or interrupted between the readings: no anchor; the next reading tries again.
  if (*cpuId_ != cpu || after < before || after - before > kMaxBracketCycles) return Monotonic(ns);
  uint64_t tsc = before + (after - before) / 2;
  if (newerNs_ == 0) {  // the first pair: both calibration points
    olderTsc_ = newerTsc_ = tsc;
    olderNs_ = newerNs_ = ns;
    return Monotonic(ns);
  }
  if (tsc <= olderTsc_) {
    // Another CPU's counter a little behind, or the counter went back (a restored VM).
    if (olderTsc_ - tsc > kMaxBehindCycles) Resync(tsc, ns);
    return Monotonic(ns);
  }
  if (anchorSpanCycles_ != 0) {
    double sinceAnchorNs = std::fabs(static_cast<double>(ns) - static_cast<double>(anchorNs_));
    double mappedNs = static_cast<double>(anchorNs_) + (static_cast<double>(tsc) - static_cast<double>(anchorTsc_)) * nsPerCycle_;
    if (std::fabs(mappedNs - static_cast<double>(ns)) > kCheckSlackNs + sinceAnchorNs * kCheckRate) {
      Resync(tsc, ns);
      return Monotonic(ns);
    }
  }
  if (ns - newerNs_ >= kCalibrationStepNs) {
    olderTsc_ = newerTsc_;
    olderNs_ = newerNs_;
    newerTsc_ = tsc;
    newerNs_ = ns;
  }
  uint64_t baseNs = ns - olderNs_;
  if (baseNs < kMinCalibrationNs) return Monotonic(ns);
  double nsPerCycle = static_cast<double>(baseNs) / static_cast<double>(tsc - olderTsc_);
  // A counter between 100 MHz and 20 GHz, or it is not what it seems.
  if (!(nsPerCycle > 0.05 && nsPerCycle < 10.0)) {
    Resync(tsc, ns);
    return Monotonic(ns);
  }
  nsPerCycle_ = nsPerCycle;
  nsPerCycleFixed_ = static_cast<uint64_t>(std::llround(std::ldexp(nsPerCycle, kFixedShift)));
  anchorCpu_ = cpu;
  anchorTsc_ = tsc;
  anchorNs_ = ns;
  // (cycles * nsPerCycleFixed_ stays below 2^64: a span is ~1e6 ns * 2^32.)
  anchorSpanCycles_ = static_cast<uint64_t>(kAnchorSpanNs / nsPerCycle);
  return Monotonic(ns);
}
#endif

}  // namespace uvscope
