// TraceRing: see trace_ring.h. The ring's read side (drain, trim, clear); the write side,
// Push(), is inline in the header.
#include "trace_ring.h"

#include <algorithm>

namespace uvscope {

size_t TraceRing::Drain(uint64_t* times, double* iterations, uint8_t* phases, double* pollWaits, size_t maxEntries) {
  size_t n = std::min(count_, maxEntries);
  size_t slot = head_;
  for (size_t i = 0; i < n; i++) {
    const Entry& entry = entries_[slot];
    times[i] = entry.timeNs();
    iterations[i] = static_cast<double>(entry.iteration());
    phases[i] = entry.phase();
    pollWaits[i] = static_cast<double>(entry.pollWaitNs());
    if (++slot == capacity_) slot = 0;
  }
  head_ = slot;
  count_ -= n;
  return n;
}

void TraceRing::Trim(size_t keep) {
  if (count_ <= keep) return;
  head_ = (head_ + (count_ - keep)) % capacity_;
  count_ = keep;
}

void TraceRing::Clear() {
  head_ = count_ = 0;
  dropped_ = 0;
}

}  // namespace uvscope
