// Process-wide counts of the native objects alive right now, read by the leak tests
// (test/stress/stress.test.ts) through the addon's liveObjects(): exact where RSS is blurred by the
// allocator and by V8 (which from Node 24 keeps emptied heap pages). Process-wide atomics, not
// per-environment state, because an observer core outlives its environment's AddonData by its
// last close callback, and jobs are counted from several environments at once.
#pragma once
#include <atomic>
#include <cstdint>

namespace uvscope::live {

// ObserverCore objects constructed and not yet freed (freed only in the last handle's close
// callback, so 0 also means every observer handle was uv_close'd).
inline std::atomic<int64_t> observerCores{0};
// Job allocations (in flight, or kept on a queue's free list for reuse) not yet deleted.
inline std::atomic<int64_t> jobs{0};
// WorkQueueWrap objects (one per ThreadPool) not yet destroyed.
inline std::atomic<int64_t> workQueues{0};
// StallWatchdogCore objects (freed in their async handle's close callback) and the watchdog
// threads running now (a thread counts until it has returned, just before its join).
inline std::atomic<int64_t> watchdogs{0};
inline std::atomic<int64_t> watchdogThreads{0};

}  // namespace uvscope::live
