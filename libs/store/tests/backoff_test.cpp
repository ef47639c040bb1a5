#include "sop/store/backoff.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <vector>

namespace sop::store {
namespace {

using std::chrono::milliseconds;

TEST(ReconnectBackoff, BaseDoublesFromInitialUpToMax) {
  ReconnectBackoff backoff(milliseconds(100), milliseconds(1000), 42);
  std::vector<long> bases;
  for (int i = 0; i < 7; ++i) {
    bases.push_back(static_cast<long>(backoff.base().count()));
    (void)backoff.Next();
  }
  EXPECT_EQ(bases, (std::vector<long>{100, 200, 400, 800, 1000, 1000, 1000}));
}

TEST(ReconnectBackoff, EveryDelayLiesBetweenHalfTheBaseAndTheBase) {
  ReconnectBackoff backoff(milliseconds(64), milliseconds(4096), 7);
  for (int i = 0; i < 200; ++i) {
    const milliseconds base = backoff.base();
    const milliseconds delay = backoff.Next();
    EXPECT_GE(delay, base / 2) << "attempt " << i;
    EXPECT_LE(delay, base) << "attempt " << i;
    EXPECT_LE(delay, milliseconds(4096));
  }
}

TEST(ReconnectBackoff, JitterSpreadsDelaysOfTheSameStep) {
  // Many replicas backing off after one outage must not reconnect in lock-step.
  std::set<long> first_delays;
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    ReconnectBackoff backoff(milliseconds(1000), milliseconds(8000), seed);
    first_delays.insert(static_cast<long>(backoff.Next().count()));
  }
  EXPECT_GE(first_delays.size(), 40u);
}

TEST(ReconnectBackoff, ResetReturnsToTheInitialBase) {
  ReconnectBackoff backoff(milliseconds(10), milliseconds(500), 3);
  for (int i = 0; i < 10; ++i) (void)backoff.Next();
  EXPECT_EQ(backoff.base(), milliseconds(500));
  backoff.Reset();
  EXPECT_EQ(backoff.base(), milliseconds(10));
  EXPECT_LE(backoff.Next(), milliseconds(10));
}

TEST(ReconnectBackoff, ClampsBoundsThatMakeNoSense) {
  ReconnectBackoff backoff(milliseconds(0), milliseconds(-5), 1);
  EXPECT_EQ(backoff.initial(), milliseconds(1));
  EXPECT_EQ(backoff.max(), milliseconds(1));
  EXPECT_LE(backoff.Next(), milliseconds(1));
}

}  // namespace
}  // namespace sop::store
