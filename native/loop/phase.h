// The phase codes of the loop: where a marker saw the loop, in reports, heartbeats, trace
// columns and events. Shared with src/native.ts (PhaseCode), which checks them against the
// addon's exported table at load. Plain constants: no lifetime.
#pragma once
#include <cstdint>

namespace uvscope {

enum Phase : uint8_t {
  kPhaseUnknown = 0,
  kPhaseTimers = 1,
  kPhasePending = 2,
  kPhaseIdle = 3,
  kPhasePrepare = 4,
  kPhasePoll = 5,
  kPhaseCheck = 6,
  kPhaseClose = 7,
  kEventLongIteration = 8,  // not a phase: an iteration above the threshold just ended
};

// Not a libuv phase: the main script (or a worker's) before the loop first turned.
constexpr uint8_t kPhaseStartup = 9;

}  // namespace uvscope
