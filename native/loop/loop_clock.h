// LoopClock: the clock a loop observer reads at its phase markers (two to four times per loop
// iteration, on the loop thread). Its readings are uv_hrtime()'s: CLOCK_MONOTONIC ns, the clock
// of every other uvscope time, of process.hrtime and of performance.now.
//
// On x86-64 Linux they cost less than a uv_hrtime() call (~12 ns against ~30 in this VM, more
// in situ), read from the CPU's timestamp counter where it runs at a constant rate (CPUID's
// invariant-TSC bit) and glibc (2.35+) has registered the thread's rseq area, whose cpu_id the
// kernel keeps current. A reading maps the counter to uv_hrtime() from an anchor: a uv_hrtime()
// reading paired with the counter on the CPU the thread ran on, taken again after a
// millisecond of counter and whenever the thread moved to another CPU (a VM corrects each
// vCPU's clock on its own: a counter mapped on one vCPU read ~0.5-1 us off on the other here).
// The rate is measured against uv_hrtime() over the last 1-2 s (the first 50 ms read
// uv_hrtime() itself). So a reading is off uv_hrtime() by the rate's error over at most a
// millisecond: nanoseconds (0.5 us if NTP slewed the clock by its 500 ppm maximum meanwhile).
// Readings never go backwards. An anchor that finds the mapping further off than that (a
// counter that jumped: a migrated VM) starts the calibration over (resyncs()); after
// kMaxResyncs the clock reads uv_hrtime() for good. Elsewhere, or with UVSCOPE_LOOP_CLOCK=hrtime
// in the environment, every reading is uv_hrtime().
// Lifetime: a member of its ObserverCore, constructed and read on the loop thread only.
#pragma once
#include <uv.h>

#include <cstdint>

#include "../always_inline.h"

#if defined(__linux__) && defined(__x86_64__) && defined(__GNUC__)
#define UVSCOPE_LOOP_CLOCK_TSC 1
#else
#define UVSCOPE_LOOP_CLOCK_TSC 0
#endif

namespace uvscope {

class LoopClock {
 public:
  static constexpr int kMaxResyncs = 8;

  // On the thread that will read it (the rseq area is the thread's own).
  LoopClock();

  // Now, ns on uv_hrtime()'s clock; never less than this clock's previous reading.
  UVSCOPE_ALWAYS_INLINE uint64_t Now() {
#if UVSCOPE_LOOP_CLOCK_TSC
    if (cpuId_ != nullptr) {
      uint32_t cpu = *cpuId_;
      uint64_t tsc = ReadCounter();
      uint64_t cycles = tsc - anchorTsc_;  // a counter behind the anchor wraps: past the span
      // Span 0 while calibrating; the CPU read again after the counter: it ran there.
      if (cycles < anchorSpanCycles_ && cpu == anchorCpu_ && *cpuId_ == cpu) {
        return Monotonic(anchorNs_ + ((cycles * nsPerCycleFixed_) >> kFixedShift));
      }
      return Anchor();
    }
#endif
    return Monotonic(uv_hrtime());
  }

  // "tsc" (the counter, once calibrated) or "hrtime".
  const char* source() const { return cpuId_ != nullptr ? "tsc" : "hrtime"; }
  // Calibrations started over because the counter disagreed with uv_hrtime().
  int resyncs() const { return resyncs_; }

 private:
  static constexpr int kFixedShift = 32;
#if UVSCOPE_LOOP_CLOCK_TSC
  static UVSCOPE_ALWAYS_INLINE uint64_t ReadCounter() {
    uint32_t low, high;
    // "memory": not moved across the cpu_id reads around it.
    asm volatile("rdtsc" : "=a"(low), "=d"(high) : : "memory");
    return (static_cast<uint64_t>(high) << 32) | low;
  }
#endif
#if UVSCOPE_LOOP_CLOCK_TSC
  // A uv_hrtime() reading; re-anchors, calibrates and checks the mapping against it.
  uint64_t Anchor();
  void Resync(uint64_t tsc, uint64_t ns);
#endif
  UVSCOPE_ALWAYS_INLINE uint64_t Monotonic(uint64_t ns) {
    if (ns < lastNs_) return lastNs_;
    lastNs_ = ns;
    return ns;
  }

  // The thread's rseq cpu_id; nullptr: the counter is not used.
  const volatile uint32_t* cpuId_ = nullptr;
  int resyncs_ = 0;
  uint64_t lastNs_ = 0;
  // The mapping: anchorNs_ + (tsc - anchorTsc_) * nsPerCycleFixed_ / 2^32, on anchorCpu_,
  // while tsc - anchorTsc_ < anchorSpanCycles_.
  uint32_t anchorCpu_ = ~0u;
  uint64_t anchorTsc_ = 0;
  uint64_t anchorNs_ = 0;
  uint64_t anchorSpanCycles_ = 0;
  uint64_t nsPerCycleFixed_ = 0;
  double nsPerCycle_ = 0;
  // Calibration points: the rate is measured from the older one (1-2 s back, or the first).
  uint64_t olderTsc_ = 0, olderNs_ = 0;
  uint64_t newerTsc_ = 0, newerNs_ = 0;
};

}  // namespace uvscope
