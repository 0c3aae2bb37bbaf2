// TraceRing: the loop observer's trace ring buffer, the phase markers recorded between two
// drains. Push() writes one entry per marker (on the loop's hot path: inline, no division, no
// virtual call); Drain() reads the oldest out into the four columns drainTrace() returns; Trim()
// forgets all but the newest. When full, the oldest entry gives way and is counted as dropped.
// Knows nothing of libuv or JavaScript. Lifetime: a member of its ObserverCore (observer.h),
// sized once at construction; used on the loop thread only.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../always_inline.h"
#include "phase.h"

namespace uvscope {

class TraceRing {
 public:
  // One entry per marker, its fields together: a marker writes one place, not four columns.
  // 24 bytes, not 32: the phase rides in the time's top bits (a monotonic time below 2^60 ns,
  // 36 years of uptime), so a turn's four markers fill 1.5 cache lines instead of 2.
  class Entry {
   public:
    Entry() = default;
    Entry(uint64_t timeNs, uint64_t iteration, uint64_t pollWaitNs, Phase phase)
        : timeAndPhase_((timeNs & kTimeMask) | (static_cast<uint64_t>(phase) << kPhaseShift)),
          iteration_(iteration),
          pollWaitNs_(pollWaitNs) {}
    uint64_t timeNs() const { return timeAndPhase_ & kTimeMask; }
    Phase phase() const { return static_cast<Phase>(timeAndPhase_ >> kPhaseShift); }
    uint64_t iteration() const { return iteration_; }
    uint64_t pollWaitNs() const { return pollWaitNs_; }  // check events: the poll wait that check ends

   private:
    static constexpr int kPhaseShift = 60;
    static constexpr uint64_t kTimeMask = (uint64_t{1} << kPhaseShift) - 1;
    uint64_t timeAndPhase_ = 0;
    uint64_t iteration_ = 0;
    uint64_t pollWaitNs_ = 0;
  };
  static_assert(sizeof(Entry) == 24, "three words a marker");
  static_assert(kEventLongIteration < 16, "a phase code fits in the time's top four bits");

  // capacity 0: no trace (Push must not be called).
  explicit TraceRing(size_t capacity) : entries_(capacity), capacity_(capacity) {}

  size_t capacity() const { return capacity_; }
  size_t buffered() const { return count_; }
  uint64_t dropped() const { return dropped_; }

  // Appends `entry`; capacity must not be 0. The loop's hot path (every marker): keep it inline.
  UVSCOPE_ALWAYS_INLINE void Push(const Entry& entry) {
    size_t capacity = capacity_;
    size_t slot = head_ + count_;
    if (slot >= capacity) slot -= capacity;
    if (count_ < capacity) {
      count_++;
    } else {  // full: the oldest entry (at `slot`) gives way
      if (++head_ == capacity) head_ = 0;
      dropped_++;
    }
    entries_[slot] = entry;
  }

  // Copies up to maxEntries buffered trace entries, oldest first, into the four columns and
  // removes them from the buffer. Returns the number of entries.
  size_t Drain(uint64_t* times, double* iterations, uint8_t* phases, double* pollWaits, size_t maxEntries);
  // Forgets all but the newest `keep` buffered entries, O(1); not counted as dropped (the
  // caller summarizes them: see ObserverCore::TakeWindow).
  void Trim(size_t keep);
  // Empties the ring and zeroes the dropped count.
  void Clear();

 private:
  // Entries [head_, head_ + count_) modulo capacity.
  std::vector<Entry> entries_;
  size_t capacity_ = 0;
  size_t head_ = 0;
  size_t count_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace uvscope
