#include "sop/store/backoff.hpp"

#include <algorithm>

namespace sop::store {

ReconnectBackoff::ReconnectBackoff(std::chrono::milliseconds initial, std::chrono::milliseconds max,
                                   std::uint64_t seed)
    : initial_(std::max(initial, std::chrono::milliseconds(1))),
      max_(std::max(max, initial_)),
      base_(initial_),
      random_(seed) {}

std::chrono::milliseconds ReconnectBackoff::Next() {
  const std::int64_t upper = base_.count();
  const std::int64_t lower = upper / 2;
  std::uniform_int_distribution<std::int64_t> pick(lower, upper);
  const std::chrono::milliseconds delay(pick(random_));
  // Doubling saturates at max_; comparing before multiplying keeps it free of overflow.
  base_ = (base_ > max_ / 2) ? max_ : base_ * 2;
  return delay;
}

}  // namespace sop::store
