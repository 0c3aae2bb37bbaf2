// A log-linear histogram of non-negative nanosecond durations: exact below 64 ns, then 64
// sub-buckets per power of two, so any recorded value is reported within 1/64 (1.6%) of
// itself; up to 2^47 ns (39 hours), larger values land in the last bucket. min, max, sum
// and count are exact. Recording is a few integer instructions and never allocates: the
// buckets live inside the object. Owned by whoever embeds it; not thread-safe.
// Bucket i < 64 holds exactly the value i; bucket i >= 64 holds [2^e + s*2^(e-6),
// 2^e + (s+1)*2^(e-6) - 1] with e = i/64 + 5 and s = i%64 (the last bucket also holds every
// larger value). src/export/native-buckets.ts mirrors this layout to read WriteBuckets().
#pragma once
#include <cstdint>
#include <cstring>

namespace uvscope {

class Histogram {
 public:
  static constexpr int kSubBits = 6;
  static constexpr uint64_t kSub = 1u << kSubBits;       // 64 sub-buckets
  static constexpr int kMaxExponent = 47;                 // top power of two kept
  static constexpr int kBuckets = (kMaxExponent - kSubBits + 2) * kSub;

  // The summary a snapshot reports, in the order the TypeScript side reads it.
  static constexpr int kSummaryFields = 8;  // count min max mean p50 p90 p99 p999

  Histogram() { Reset(); }

  void Reset() {
    std::memset(buckets_, 0, sizeof(buckets_));
    count_ = 0;
    sum_ = 0;
    min_ = UINT64_MAX;
    max_ = 0;
  }

  void Record(uint64_t value) {
    buckets_[BucketOf(value)]++;
    count_++;
    sum_ += static_cast<double>(value);
    if (value < min_) min_ = value;
    if (value > max_) max_ = value;
  }

  // Adds every value recorded in `other` (for overall statistics built from per-kernel ones).
  void Merge(const Histogram& other) {
    if (other.count_ == 0) return;
    for (int i = 0; i < kBuckets; i++) buckets_[i] += other.buckets_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    if (other.min_ < min_) min_ = other.min_;
    if (other.max_ > max_) max_ = other.max_;
  }

  // Bucket read-out for exporters: writes count, sum, then (bucket index, count) for every
  // non-empty bucket in index order, at most `capacity` numbers; returns how many it wrote
  // (kBuckets * 2 + 2 always suffices).
  int WriteBuckets(double* out, int capacity) const {
    if (capacity < 2) return 0;
    int at = 0;
    out[at++] = static_cast<double>(count_);
    out[at++] = sum_;
    for (int i = 0; i < kBuckets && at + 2 <= capacity; i++) {
      if (buckets_[i] == 0) continue;
      out[at++] = i;
      out[at++] = static_cast<double>(buckets_[i]);
    }
    return at;
  }
  static constexpr int kBucketReadoutSize = kBuckets * 2 + 2;

  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }

  // The smallest recorded value v such that at least `quantile` of all values are <= v,
  // reported as its bucket's midpoint and clamped into [min, max].
  double ValueAtQuantile(double quantile) const {
    if (count_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(quantile * static_cast<double>(count_) + 0.5);
    if (rank < 1) rank = 1;
    if (rank > count_) rank = count_;
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; i++) {
      seen += buckets_[i];
      if (seen >= rank) {
        double mid = Midpoint(i);
        if (mid < static_cast<double>(min_)) mid = static_cast<double>(min_);
        if (mid > static_cast<double>(max_)) mid = static_cast<double>(max_);
        return mid;
      }
    }
    return static_cast<double>(max_);
  }

  // Writes count, min, max, mean, p50, p90, p99, p999 (all 0 when empty).
  void Summarize(double* out) const {
    out[0] = static_cast<double>(count_);
    out[1] = count_ ? static_cast<double>(min_) : 0;
    out[2] = static_cast<double>(max_);
    out[3] = count_ ? sum_ / static_cast<double>(count_) : 0;
    out[4] = ValueAtQuantile(0.5);
    out[5] = ValueAtQuantile(0.9);
    out[6] = ValueAtQuantile(0.99);
    out[7] = ValueAtQuantile(0.999);
  }

 private:
  static int BucketOf(uint64_t value) {
    if (value < kSub) return static_cast<int>(value);
    int exponent = 63 - __builtin_clzll(value);  // >= kSubBits
    if (exponent > kMaxExponent) return kBuckets - 1;
    uint64_t sub = (value >> (exponent - kSubBits)) & (kSub - 1);
    return static_cast<int>((exponent - kSubBits + 1) * kSub + sub);
  }

  static double Midpoint(int bucket) {
    if (bucket < static_cast<int>(kSub)) return bucket;
    int exponent = bucket / static_cast<int>(kSub) + kSubBits - 1;
    uint64_t sub = bucket % kSub;
    uint64_t width = uint64_t{1} << (exponent - kSubBits);
    uint64_t low = (uint64_t{1} << exponent) + sub * width;
    return static_cast<double>(low) + static_cast<double>(width - 1) / 2.0;
  }

  uint64_t buckets_[kBuckets];
  uint64_t count_;
  double sum_;
  uint64_t min_;
  uint64_t max_;
};

}  // namespace uvscope
