// The pool's threads as the kernel knows them: a process-wide registry of the thread ids of
// libuv pool threads (each registers itself the first time it runs a uvscope job, probes
// included), and a reader of a thread's CPU and run-queue time from
// /proc/self/task/<tid>/schedstat. Lifetime: the registry lives as long as the process (libuv's
// pool is never torn down); entries are never removed (the pool never shrinks).
#pragma once
#include <napi.h>

namespace uvscope {

// Called once per pool thread, before the first uvscope job it runs (work_queue.cc).
void RegisterPoolThread();

// poolThreadIds(): Int32Array of the registered threads' kernel ids, in registration order.
// readThreadTimes(tids: Int32Array, out: Float64Array): per thread [cpuNs, runQueueWaitNs,
// timeslices], NaN where the figure cannot be read (the thread is gone, no schedstat). Returns
// false where the platform has no per-thread schedstat (not Linux).
void InitPoolThreads(Napi::Env env, Napi::Object exports);

}  // namespace uvscope
