// Synthetic kernels for benchmarks and pool introspection: noop (an empty job), spin (burns
// CPU for a duration), sleep (blocks a thread without CPU, like slow I/O), probe (an empty
// job excluded from statistics) and hold (blocks until a barrier releases it, to count how
// many pool threads run at once).
#include <time.h>

#include <algorithm>
#include <chrono>

#include "../../clock.h"
#include "kernel.h"

namespace uvscope {

namespace {

class NoopKernel : public Kernel {
 public:
  explicit NoopKernel(KernelId id) : Kernel(id) {}
  void Execute(const std::atomic<bool>&) override {}
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }
};

class SpinKernel : public Kernel {
 public:
  explicit SpinKernel(double ms) : Kernel(kKernelSpin), ns_(static_cast<uint64_t>(ms * 1e6)) {}
  void Execute(const std::atomic<bool>& abort) override {
    uint64_t end = NowNs() + ns_;
    while (NowNs() < end) {
      if (abort.load(std::memory_order_relaxed)) {
        aborted_ = true;
        return;
      }
    }
  }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  uint64_t ns_;
};

class SleepKernel : public Kernel {
 public:
  explicit SleepKernel(double ms) : Kernel(kKernelSleep), ns_(static_cast<uint64_t>(ms * 1e6)) {}
  void Execute(const std::atomic<bool>& abort) override {
    // Sleeps in slices of at most 1 ms so that an abort is noticed quickly.
    constexpr uint64_t kSliceNs = 1000000;
    uint64_t end = NowNs() + ns_;
    for (uint64_t now = NowNs(); now < end; now = NowNs()) {
      if (abort.load(std::memory_order_relaxed)) {
        aborted_ = true;
        return;
      }
      uint64_t slice = std::min(kSliceNs, end - now);
      struct timespec request = {static_cast<time_t>(slice / 1000000000),
                                 static_cast<long>(slice % 1000000000)};
      nanosleep(&request, nullptr);
    }
  }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  uint64_t ns_;
};

class HoldKernel : public Kernel {
 public:
  explicit HoldKernel(std::shared_ptr<HoldBarrier> barrier)
      : Kernel(kKernelProbe), barrier_(std::move(barrier)) {}
  void Execute(const std::atomic<bool>& abort) override {
    std::unique_lock<std::mutex> lock(barrier_->mutex);
    if (barrier_->released) return;
    barrier_->arrived++;
    if (barrier_->target != 0 && barrier_->arrived >= barrier_->target) {
      barrier_->released = true;
      barrier_->wake.notify_all();
    }
    using Clock = std::chrono::steady_clock;
    const bool limited = barrier_->maxHoldMs > 0;
    const Clock::time_point deadline =
        Clock::now() + std::chrono::microseconds(static_cast<int64_t>(barrier_->maxHoldMs * 1000));
    while (!barrier_->released && !abort.load(std::memory_order_relaxed)) {
      Clock::time_point wakeAt = Clock::now() + std::chrono::milliseconds(5);  // polls abort
      if (limited) {
        if (Clock::now() >= deadline) return;
        wakeAt = std::min(wakeAt, deadline);
      }
      barrier_->wake.wait_until(lock, wakeAt);
    }
  }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::shared_ptr<HoldBarrier> barrier_;
};

}  // namespace

void HoldBarrier::Release() {
  std::lock_guard<std::mutex> lock(mutex);
  released = true;
  wake.notify_all();
}

uint32_t HoldBarrier::Arrived() {
  std::lock_guard<std::mutex> lock(mutex);
  return arrived;
}

std::unique_ptr<Kernel> MakeNoopKernel(KernelId id) { return std::make_unique<NoopKernel>(id); }
std::unique_ptr<Kernel> MakeSpinKernel(double ms) { return std::make_unique<SpinKernel>(ms); }
std::unique_ptr<Kernel> MakeSleepKernel(double ms) { return std::make_unique<SleepKernel>(ms); }
std::unique_ptr<Kernel> MakeHoldKernel(std::shared_ptr<HoldBarrier> barrier) {
  return std::make_unique<HoldKernel>(std::move(barrier));
}

}  // namespace uvscope
