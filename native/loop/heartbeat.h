// LoopHeartbeat: where the loop thread of one environment was last seen, published for other
// threads (the stall watchdogs). The loop thread beats at uvscope's markers (prepare, check,
// and the timers/close markers when they run); a watchdog thread reads the last beat and
// libuv's idle time to tell a loop waiting for I/O from a blocked one.
//
// One writer, the loop thread; any number of readers. A seqlock keeps the fields of one beat
// together: a beat is a handful of relaxed stores, with no lock and no system call.
//
// Who beats: while at least one watchdog watches, exactly one "source" per environment. A
// running LoopObserver is one (its callbacks already hold the time and the idle reading, so
// beating costs it a few stores; it learns it was elected from its own `beating` member);
// when none runs, the heartbeat's own prepare+check pair does.
// Stall ends: each watchdog has a StallEndSlot of its own. A watchdog that sees a stall marks
// its slot open; the first beat after that stores its time there and closes the slot. One
// summary flag keeps the beat's cost at one relaxed load while no slot is open.
// Owned by AddonData (one per environment), closed on teardown like any other Closeable.
#pragma once
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "../addon_data.h"
#include "loop_idle_time.h"
#include "phase.h"

namespace uvscope {

// What a reader sees of the last beat.
struct HeartbeatReading {
  uint64_t seq;        // changes at every beat (even numbers)
  uint64_t beatNs;     // when, uv_hrtime()
  uint64_t idleNs;     // uv_metrics_idle_time() at that moment (it only grows inside poll)
  uint64_t iteration;  // prepares seen by the heartbeat since it was created
  uint8_t phase;       // a Phase code (phase.h)
};

// Where one watchdog learns when its open stall ended: written by the loop thread at the first
// beat after MarkStallOpen(), read by that watchdog's thread. Owned by the watchdog; registered
// with the heartbeat from Watch() to Unwatch().
struct StallEndSlot {
  std::atomic<bool> open{false};
  std::atomic<uint64_t> endNs{0};
};


class LoopHeartbeat : public Closeable {
 public:
  explicit LoopHeartbeat(AddonData* data);

  // ---- loop thread ----
  // A watchdog starts or stops watching: the heartbeat runs while at least one watches. Its
  // stall-end slot is registered while it watches (it must outlive Unwatch()).
  void Watch(StallEndSlot* slot);
  void Unwatch(StallEndSlot* slot);
  bool watched() const { return watchers_ > 0; }
  // Elects who beats: nobody while no watchdog watches; else the first running source
  // (AddonData::heartbeatSources), or the heartbeat's own prepare+check pair when none runs.
  void Elect();
  // One beat. idleNs: a uv_metrics_idle_time() reading taken since the last poll phase. The
  // iteration count grows when the phase becomes poll (a prepare).
  void Beat(uint64_t nowNs, uint64_t idleNs, uint8_t phase) {
    uint64_t seq = seq_.load(std::memory_order_relaxed);
    seq_.store(seq + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    if (phase == kPhasePoll && lastPhase_ != kPhasePoll) iteration_.store(++iterations_, std::memory_order_relaxed);
    lastPhase_ = phase;
    beatNs_.store(nowNs, std::memory_order_relaxed);
    idleNs_.store(idleNs, std::memory_order_relaxed);
    phase_.store(phase, std::memory_order_relaxed);
    seq_.store(seq + 2, std::memory_order_release);
    if (anyStallOpen_.load(std::memory_order_relaxed)) EndStalls(nowNs);
  }
  // A beat that reads the clock and the idle time itself (watchdog start, the end of a stall
  // seen from inside a callback), in the phase the last marker said.
  void BeatNow(uint8_t phase);
  void BeatNow() { BeatNow(lastPhase_); }
  uv_loop_t* loop() const { return loop_; }
  // Phase for a beat taken outside any marker: startup before the loop first turned.
  uint8_t PhaseOutsideMarkers() const;

  // ---- any thread ----
  HeartbeatReading Read() const;
  // A watchdog saw a stall: the next beat records its time in `slot` as the stall's end.
  void MarkStallOpen(StallEndSlot& slot) {
    slot.open.store(true, std::memory_order_release);
    anyStallOpen_.store(true, std::memory_order_release);
  }
  // The time of the first beat after MarkStallOpen(slot), or 0 when none has come yet.
  static uint64_t StallEndNs(const StallEndSlot& slot) {
    return slot.open.load(std::memory_order_acquire) ? 0 : slot.endNs.load(std::memory_order_relaxed);
  }

  void CloseForTeardown(std::function<void()> done) override;

 private:
  static void OnPrepare(uv_prepare_t* handle);
  static void OnCheck(uv_check_t* handle);
  static void OnClosed(uv_handle_t* handle);
  void EndStalls(uint64_t nowNs);  // a beat while some slot is open (rare: out of line)

  AddonData* data_;
  uv_loop_t* loop_;
  int watchers_ = 0;
  bool ownPairRunning_ = false;
  bool closed_ = false;
  int openHandles_ = 0;
  std::function<void()> onClosed_;
  uv_prepare_t prepare_;
  uv_check_t check_;
  uint64_t idleAtLastCheck_ = 0;
  LoopIdleTime idleTime_;  // libuv's idle time of loop_, its field verified every 256th turn
  uint64_t iterations_ = 0;         // loop thread's copy of iteration_
  uint8_t lastPhase_ = kPhaseUnknown;
  bool checkSeen_ = false;

  std::atomic<uint64_t> seq_{0};
  std::atomic<uint64_t> beatNs_{0};
  std::atomic<uint64_t> idleNs_{0};
  std::atomic<uint64_t> iteration_{0};
  std::atomic<uint8_t> phase_{0};
  std::atomic<bool> anyStallOpen_{false};  // some registered slot may be open
  std::vector<StallEndSlot*> slots_;       // loop thread only
};

}  // namespace uvscope
