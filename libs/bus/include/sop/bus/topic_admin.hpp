#pragma once
/// Creating and listing topics.

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "sop/bus/kafka_config.hpp"
#include "sop/model/error.hpp"

namespace sop::bus {

/// A topic to create.
struct TopicSpec {
  std::string name{};
  std::int32_t partitions = 1;
  std::int32_t replication_factor = 1;
  /// Topic configs, e.g. {"retention.ms", "604800000"}.
  std::vector<std::pair<std::string, std::string>> configs{};
};

/// A topic as the cluster reports it.
struct TopicInfo {
  std::string name{};
  std::int32_t partitions = 0;

  friend bool operator==(const TopicInfo&, const TopicInfo&) = default;
};

/// Topic administration over the Kafka admin API.
///
/// CreateTopics is idempotent: a topic that exists already counts as created and is left as it
/// is (its partition count and configs are not changed). Topics that exist are detected from
/// metadata first, so provisioning an already provisioned cluster needs no admin rights and
/// works against the embedded broker, whose mock does not implement CreateTopics (creating a
/// new topic there fails with FAILED_PRECONDITION).
/// Threads: thread-safe; calls block for at most their timeout.
/// Errors: UNAVAILABLE / DEADLINE_EXCEEDED when the cluster cannot be reached in time;
/// INVALID_ARGUMENT for a bad spec; the broker's refusal otherwise, naming the topic.
class TopicAdmin {
 public:
  static Result<std::unique_ptr<TopicAdmin>> Create(const KafkaConfig& config);
  virtual ~TopicAdmin() = default;

  virtual Status CreateTopics(std::span<const TopicSpec> topics,
                              std::chrono::milliseconds timeout) = 0;
  /// All topics of the cluster (internal ones such as __consumer_offsets excluded), by name.
  virtual Result<std::vector<TopicInfo>> ListTopics(std::chrono::milliseconds timeout) = 0;

 protected:
  TopicAdmin() = default;
};

}  // namespace sop::bus
