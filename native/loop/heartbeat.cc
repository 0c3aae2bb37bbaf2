// LoopHeartbeat: see heartbeat.h. Everything but Read(), MarkStallOpen() and StallEndNs()
// runs on the environment's loop thread.
#include "heartbeat.h"

#include <algorithm>

#include "../clock.h"
#include "loop_counters.h"

namespace uvscope {

LoopHeartbeat::LoopHeartbeat(AddonData* data) : data_(data), loop_(data->loop), idleTime_(data->loop) {
  uv_prepare_init(loop_, &prepare_);
  uv_check_init(loop_, &check_);
  prepare_.data = this;
  check_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&prepare_));
  uv_unref(reinterpret_cast<uv_handle_t*>(&check_));
  openHandles_ = 2;
  data_->Register(this);
}

uint8_t LoopHeartbeat::PhaseOutsideMarkers() const {
  // uv_metrics_info (libuv >= 1.45) counts iterations: none yet means the main script (or a
  // worker's) is still running before the loop first turned.
  LoopCounters counters = ReadLoopCounters(loop_);
  if (counters.available && counters.loopCount == 0) return kPhaseStartup;
  // Otherwise the last marker says where the loop is (unknown before any).
  HeartbeatReading last = Read();
  return last.seq == 0 ? static_cast<uint8_t>(kPhaseUnknown) : last.phase;
}

void LoopHeartbeat::BeatNow(uint8_t phase) { Beat(NowNs(), idleTime_.Read(), phase); }

HeartbeatReading LoopHeartbeat::Read() const {
  HeartbeatReading reading;
  for (;;) {
    uint64_t before = seq_.load(std::memory_order_acquire);
    reading.beatNs = beatNs_.load(std::memory_order_relaxed);
    reading.idleNs = idleNs_.load(std::memory_order_relaxed);
    reading.iteration = iteration_.load(std::memory_order_relaxed);
    reading.phase = phase_.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    uint64_t after = seq_.load(std::memory_order_relaxed);
    if (before == after && (before & 1) == 0) {
      reading.seq = before;
      return reading;
    }
  }
}

void LoopHeartbeat::Watch(StallEndSlot* slot) {
  watchers_++;
  if (slot != nullptr) slots_.push_back(slot);
  Elect();
}

void LoopHeartbeat::Unwatch(StallEndSlot* slot) {
  if (watchers_ > 0) watchers_--;
  slots_.erase(std::remove(slots_.begin(), slots_.end(), slot), slots_.end());
  Elect();
}

// The flag is cleared before the slots are read: a slot marked after that sets it again, and
// the next beat ends it; a slot marked before is seen here (the exchange synchronizes with the
// mark's store of the flag).
void LoopHeartbeat::EndStalls(uint64_t nowNs) {
  if (!anyStallOpen_.exchange(false, std::memory_order_acq_rel)) return;
  for (StallEndSlot* slot : slots_) {
    if (!slot->open.load(std::memory_order_acquire)) continue;
    slot->endNs.store(nowNs, std::memory_order_relaxed);
    slot->open.store(false, std::memory_order_release);
  }
}

void LoopHeartbeat::Elect() {
  HeartbeatSource* elected = nullptr;
  bool beating = watchers_ > 0 && !closed_;
  for (HeartbeatSource* source : data_->heartbeatSources) {
    source->beating = nullptr;
    if (beating && elected == nullptr) elected = source;
  }
  if (elected != nullptr) elected->beating = this;
  bool ownPair = beating && elected == nullptr;
  if (ownPair == ownPairRunning_) return;
  ownPairRunning_ = ownPair;
  if (ownPair) {
    checkSeen_ = false;
    uv_prepare_start(&prepare_, OnPrepare);
    uv_check_start(&check_, OnCheck);
  } else {
    uv_prepare_stop(&prepare_);
    uv_check_stop(&check_);
  }
}

void LoopHeartbeat::OnPrepare(uv_prepare_t* handle) {
  auto* self = static_cast<LoopHeartbeat*>(handle->data);
  // Idle time only grows inside poll: the reading taken at the last check is still current.
  uint64_t idle = self->checkSeen_ ? self->idleAtLastCheck_ : self->idleTime_.Read();
  self->Beat(NowNs(), idle, kPhasePoll);
}

void LoopHeartbeat::OnCheck(uv_check_t* handle) {
  auto* self = static_cast<LoopHeartbeat*>(handle->data);
  if ((self->iterations_ & 255) == 0) self->idleTime_.Verify();  // found yet? still right?
  self->idleAtLastCheck_ = self->idleTime_.Read();
  self->checkSeen_ = true;
  self->Beat(NowNs(), self->idleAtLastCheck_, kPhaseCheck);
}

void LoopHeartbeat::CloseForTeardown(std::function<void()> done) {
  closed_ = true;
  Elect();
  onClosed_ = std::move(done);
  uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), OnClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&check_), OnClosed);
}

void LoopHeartbeat::OnClosed(uv_handle_t* handle) {
  auto* self = static_cast<LoopHeartbeat*>(handle->data);
  if (--self->openHandles_ > 0) return;
  std::function<void()> done = std::move(self->onClosed_);
  self->data_->heartbeat = nullptr;
  delete self;
  if (done) done();
}

}  // namespace uvscope
