#pragma once
/// The embedded development broker: librdkafka's in-memory mock Kafka cluster.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sop/model/error.hpp"

namespace sop::bus {

/// A produce error the broker can be told to answer with.
enum class ProduceFault {
  kNotLeaderForPartition,  ///< NOT_LEADER_FOR_PARTITION (retryable, triggers a metadata refresh)
  kNotEnoughReplicas,      ///< NOT_ENOUGH_REPLICAS (retryable)
  kRequestTimedOut,        ///< REQUEST_TIMED_OUT (retryable)
  kDisconnect,             ///< the broker drops the connection instead of answering
};

/// Settings of the embedded broker.
struct EmbeddedBrokerOptions {
  std::int32_t brokers = 1;
  std::int32_t partitions = 6;        ///< for every topic in `topics`
  std::vector<std::string> topics{};  ///< empty: every sop.* topic of topics.hpp
};

/// A real Kafka-protocol cluster in memory (librdkafka's mock cluster) listening on
/// localhost, with the sop.* topics created, for development and tests.
///
/// It is a pipe, not a store: each partition keeps only about 5 MiB / 100,000 batches and
/// drops the oldest; there is no compaction and no ACLs; the CreateTopics admin API is not
/// implemented (use CreateTopic here). In librdkafka 2.0.2 retried batches are de-duplicated
/// only for transactional producers.
/// Threads: the cluster runs its own threads; all methods are thread-safe.
/// Errors: Start fails with UNAVAILABLE if the cluster cannot be created, INVALID_ARGUMENT for
/// bad options. Fault injection is a test tool: injected error stacks live as long as the
/// broker, so each test should start a fresh one.
/// Lifetime: the destructor shuts the cluster down; clients still connected see it vanish.
class EmbeddedBroker {
 public:
  static Result<std::unique_ptr<EmbeddedBroker>> Start(EmbeddedBrokerOptions options);
  virtual ~EmbeddedBroker() = default;

  /// "127.0.0.1:port,..." for bootstrap.servers.
  virtual const std::string& bootstrap_servers() const = 0;
  virtual std::int32_t broker_count() const = 0;

  virtual Status CreateTopic(std::string_view name, std::int32_t partitions) = 0;

  /// The next faults.size() produce requests (to any broker) fail with these errors, in order.
  virtual void FailNextProduceRequests(std::span<const ProduceFault> faults) = 0;
  /// The next faults.size() produce requests that broker `broker_id` receives fail, in order.
  virtual Status FailNextProduceRequestsOn(std::int32_t broker_id,
                                           std::span<const ProduceFault> faults) = 0;
  /// Injected produce faults broker `broker_id` has not answered with yet (per-broker ones).
  virtual Result<std::size_t> PendingProduceFaults(std::int32_t broker_id) const = 0;
  /// Makes broker `broker_id` (1-based) the leader of one partition; clients learn it from
  /// their next metadata refresh (e.g. after a NOT_LEADER_FOR_PARTITION).
  virtual Status SetPartitionLeader(std::string_view topic, std::int32_t partition,
                                    std::int32_t broker_id) = 0;
  /// Disconnects broker `broker_id` (1-based) and refuses connections; leadership stays.
  virtual Status SetBrokerDown(std::int32_t broker_id) = 0;
  /// Lets broker `broker_id` accept connections again.
  virtual Status SetBrokerUp(std::int32_t broker_id) = 0;

 protected:
  EmbeddedBroker() = default;
};

}  // namespace sop::bus
