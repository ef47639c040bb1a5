#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace sop::store {

/// Exponential reconnect backoff with bounded, jittered delays ("equal jitter").
///
/// Each `Next()` returns a delay drawn uniformly from [base/2, base] and then doubles the base,
/// up to `max`. The jitter spreads the reconnects of many replicas after a shared Redis outage so
/// they do not arrive in lock-step; the upper bound keeps recovery time predictable.
/// Threads: not thread-safe; owned by one `RedisStore`, which guards it. Errors: none (the
/// constructor clamps nonsensical bounds: initial >= 1 ms, max >= initial). Pure value type.
class ReconnectBackoff {
 public:
  ReconnectBackoff(std::chrono::milliseconds initial, std::chrono::milliseconds max,
                   std::uint64_t seed);

  /// The delay to wait before the next attempt; advances the exponential base.
  std::chrono::milliseconds Next();

  /// Back to the initial base, after a successful connect.
  void Reset() noexcept { base_ = initial_; }

  /// The base the next `Next()` draws from (its upper bound).
  std::chrono::milliseconds base() const noexcept { return base_; }
  std::chrono::milliseconds initial() const noexcept { return initial_; }
  std::chrono::milliseconds max() const noexcept { return max_; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds base_;
  std::mt19937_64 random_;
};

}  // namespace sop::store
