// How much of a busy stretch a thread spent on a CPU, seen from another thread: the stall
// watchdog's view of the loop thread, so a report tells computing (a regular expression,
// JSON.parse, pbkdf2Sync) from waiting (Atomics.wait, a synchronous read of a slow pipe or
// NFS file, a lock).
//
// ThreadCpuClock: the thread's CPU clock (pthread_getcpuclockid), taken on that thread and
// read from any thread while it lives. StretchCpu: the watchdog samples the clock at each look
// and keeps the first sample taken inside the current busy stretch; the CPU used since the
// stretch began is measured from that sample and extrapolated back to the stretch's start at the
// rate measured. A sample taken while the loop waits for I/O (its busy time unchanged since the
// previous look of the same heartbeat) is better still: the clock does not move while the
// thread sleeps, so it is the clock at the end of that wait, where the next stretch begins, and
// the stretch's CPU time is measured exactly. With it the watchdog need not look every 50 ms
// over a loop that sleeps in poll. Lifetime: owned by the watchdog core; used by its thread only (the clock is
// taken on the loop thread at start).
#pragma once
#include <time.h>

#include <cstdint>

namespace uvscope {

class ThreadCpuClock {
 public:
  // On the thread to measure. available() is false where the platform has no such clock.
  void TakeCurrentThread();
  bool available() const { return available_; }
  // Any thread, while the thread lives: its CPU time, ns. False when it cannot be read.
  bool Read(uint64_t* cpuNs) const;

 private:
  clockid_t clock_{};
  bool available_ = false;
};

class StretchCpu {
 public:
  // At each look: the current busy stretch began at stretchStartNs (monotonic ns); `seq` is
  // the heartbeat's sequence number; `waiting`: the loop has been waiting for I/O since the
  // previous look and still is.
  void Sample(uint64_t seq, uint64_t stretchStartNs, uint64_t nowNs, uint64_t cpuNs, bool waiting);
  // CPU ns used since stretchStartNs (a stretch of heartbeat `seq`), at nowNs with the clock
  // reading cpuNowNs: from a waiting sample of that heartbeat taken before the stretch, else
  // from a sample inside the stretch at least 1 ms before nowNs, else from a waiting sample of
  // an earlier heartbeat (an upper bound); false when there is none.
  bool Since(uint64_t seq, uint64_t stretchStartNs, uint64_t nowNs, uint64_t cpuNowNs, uint64_t* cpuNs) const;

 private:
  bool has_ = false;
  uint64_t atNs_ = 0;
  uint64_t cpuNs_ = 0;
  // The last sample taken while the loop waited.
  bool hasWait_ = false;
  uint64_t waitSeq_ = 0;
  uint64_t waitAtNs_ = 0;
  uint64_t waitCpuNs_ = 0;
};

}  // namespace uvscope
