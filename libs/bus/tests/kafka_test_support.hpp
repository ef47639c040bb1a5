#pragma once
// Helpers shared by the tests against the embedded broker: client settings that suit the
// mock cluster, and condition waits with deadlines (never sleeps).

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "sop/bus/consumer.hpp"
#include "sop/bus/kafka_config.hpp"

namespace sop::bus::testing {

using namespace std::chrono_literals;

inline KafkaConfig ProducerConfig(const std::string& bootstrap) {
  return KafkaConfig{{"bootstrap.servers", bootstrap},
                     {"linger.ms", "5"},
                     {"retry.backoff.ms", "50"},
                     {"reconnect.backoff.ms", "50"},
                     {"reconnect.backoff.max.ms", "500"}};
}

// The mock waits up to the session timeout for members during a rebalance, so keep it short.
inline KafkaConfig ConsumerConfig(const std::string& bootstrap) {
  return KafkaConfig{{"bootstrap.servers", bootstrap},   {"session.timeout.ms", "3000"},
                     {"heartbeat.interval.ms", "200"},   {"auto.commit.interval.ms", "200"},
                     {"fetch.wait.max.ms", "50"},        {"reconnect.backoff.ms", "50"},
                     {"reconnect.backoff.max.ms", "500"}};
}

// A value guarded by a mutex that tests wait on with a deadline.
template <class T>
class Watched {
 public:
  void Update(const std::function<void(T&)>& change) {
    {
      std::lock_guard lock(mutex_);
      change(value_);
    }
    cv_.notify_all();
  }
  T Get() const {
    std::lock_guard lock(mutex_);
    return value_;
  }
  // True if `predicate` held before `timeout` ran out.
  bool WaitUntil(const std::function<bool(const T&)>& predicate,
                 std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return predicate(value_); });
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  T value_{};
};

// Records the consumer's view of its assignment and the errors it reported.
class RecordingListener : public ConsumerListener {
 public:
  void OnAssigned(std::span<AssignedPartition> partitions) override {
    assignment.Update([&](std::set<int>& current) {
      for (const auto& partition : partitions) current.insert(partition.partition);
    });
    assigned_calls.Update([&](std::vector<AssignedPartition>& calls) {
      calls.insert(calls.end(), partitions.begin(), partitions.end());
    });
  }
  void OnRevoked(std::span<const TopicPartition> partitions) override {
    assignment.Update([&](std::set<int>& current) {
      for (const auto& partition : partitions) current.erase(partition.partition);
    });
  }
  void OnError(const Error& error) override {
    errors.Update([&](std::vector<Error>& all) { all.push_back(error); });
  }

  bool WaitForAssignmentSize(std::size_t size, std::chrono::milliseconds timeout) const {
    return assignment.WaitUntil(
        [&](const std::set<int>& current) { return current.size() == size; }, timeout);
  }

  Watched<std::set<int>> assignment;
  Watched<std::vector<AssignedPartition>> assigned_calls;
  Watched<std::vector<Error>> errors;
};

inline Status Reject(const Message&, const Error& error) {
  return std::unexpected(error);
}

}  // namespace sop::bus::testing
