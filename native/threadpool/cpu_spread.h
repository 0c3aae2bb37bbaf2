// CPU spread: a lane's jobs started on a CPU where another of them already runs move to a CPU
// where none does. A lane hands each slot to the next job from the loop thread, and libuv wakes
// whichever pool thread waited longest; the kernel tends to place that thread beside the loop
// thread or where it last ran, often the CPU still running the lane's other job, while the CPU
// the finished job freed idles until the load balancer moves one of them (milliseconds). On a
// 2-CPU machine a lane of 2 got 1.6-1.7 CPUs that way. SpreadScope counts the lane jobs
// running on each CPU; a job that starts on a CPU already counted pins its thread to a
// CPU of its own affinity mask with none counted and at once gives the mask back (the thread
// stays where it was moved until the kernel balances it again). Linux only; elsewhere nothing
// is done. The counts are hints: the kernel may move a thread mid-job, a later job then sees a
// stale count, and the worst that does is one move too many or too few.
// Lifetime: process-wide counters; one scope per job on its pool thread.
#pragma once

#include <napi.h>

#include <atomic>
#include <cstdint>

namespace uvscope {

class SpreadScope {
 public:
  SpreadScope();
  ~SpreadScope();
  SpreadScope(const SpreadScope&) = delete;
  SpreadScope& operator=(const SpreadScope&) = delete;

 private:
  int cpu_ = -1;  // the CPU counted for this job, -1 for none
};

// spreadMoves(): lane jobs moved to another CPU at their start (process-wide).
void InitCpuSpread(Napi::Env env, Napi::Object exports);

}  // namespace uvscope
