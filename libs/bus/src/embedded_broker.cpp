#include "sop/bus/embedded_broker.hpp"

#include <librdkafka/rdkafka.h>
// rdkafka_mock.h must follow rdkafka.h.
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <string>
#include <vector>

#include "rdkafka_util.hpp"
#include "sop/bus/topics.hpp"

namespace sop::bus {
namespace {

constexpr std::int16_t kProduceApiKey = 0;  // Kafka protocol ProduceRequest

rd_kafka_resp_err_t ToRdError(ProduceFault fault) {
  switch (fault) {
    case ProduceFault::kNotLeaderForPartition:
      return RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION;
    case ProduceFault::kNotEnoughReplicas:
      return RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS;
    case ProduceFault::kRequestTimedOut:
      return RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT;
    case ProduceFault::kDisconnect:
      return RD_KAFKA_RESP_ERR__TRANSPORT;
  }
  return RD_KAFKA_RESP_ERR_UNKNOWN;
}

struct ClusterDeleter {
  void operator()(rd_kafka_mock_cluster_t* cluster) const noexcept {
    rd_kafka_mock_cluster_destroy(cluster);
  }
};

class MockBroker final : public EmbeddedBroker {
 public:
  MockBroker(detail::HandlePtr handle, std::int32_t brokers)
      : handle_(std::move(handle)), brokers_(brokers) {}

  ~MockBroker() override {
    cluster_.reset();  // before the handle it was created on
  }

  Status Init(const EmbeddedBrokerOptions& options) {
    cluster_.reset(rd_kafka_mock_cluster_new(handle_.get(), brokers_));
    if (!cluster_) return Fail(Errc::kUnavailable, "embedded broker: mock cluster not created");
    bootstrap_ = rd_kafka_mock_cluster_bootstraps(cluster_.get());
    std::vector<std::string> topics = options.topics;
    if (topics.empty()) topics.assign(kAllTopics.begin(), kAllTopics.end());
    for (const std::string& topic : topics) {
      if (auto status = CreateTopic(topic, options.partitions); !status) return status;
    }
    return {};
  }

  const std::string& bootstrap_servers() const override { return bootstrap_; }
  std::int32_t broker_count() const override { return brokers_; }

  Status CreateTopic(std::string_view name, std::int32_t partitions) override {
    if (partitions < 1) {
      return InvalidField("embedded broker partitions", "must be >= 1", std::to_string(partitions));
    }
    const std::string topic(name);
    // Replicas beyond three add nothing in memory; leaders spread over the brokers anyway.
    const int replication = std::min(brokers_, 3);
    const rd_kafka_resp_err_t err =
        rd_kafka_mock_topic_create(cluster_.get(), topic.c_str(), partitions, replication);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::unexpected(detail::ErrorFrom(err, "embedded broker: create topic " + topic));
    }
    return {};
  }

  void FailNextProduceRequests(std::span<const ProduceFault> faults) override {
    std::vector<rd_kafka_resp_err_t> errors;
    errors.reserve(faults.size());
    for (ProduceFault fault : faults) errors.push_back(ToRdError(fault));
    rd_kafka_mock_push_request_errors_array(cluster_.get(), kProduceApiKey, errors.size(),
                                            errors.data());
  }

  Status FailNextProduceRequestsOn(std::int32_t broker_id,
                                   std::span<const ProduceFault> faults) override {
    if (auto status = CheckBroker(broker_id); !status) return status;
    for (ProduceFault fault : faults) {
      // One (error, no extra delay) tuple per call keeps the C varargs fixed.
      const rd_kafka_resp_err_t err = rd_kafka_mock_broker_push_request_error_rtts(
          cluster_.get(), broker_id, kProduceApiKey, 1, ToRdError(fault), 0);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return std::unexpected(detail::ErrorFrom(err, "embedded broker: inject produce fault"));
      }
    }
    return {};
  }

  Result<std::size_t> PendingProduceFaults(std::int32_t broker_id) const override {
    if (auto status = CheckBroker(broker_id); !status) return std::unexpected(status.error());
    std::size_t count = 0;
    const rd_kafka_resp_err_t err =
        rd_kafka_mock_broker_error_stack_cnt(cluster_.get(), broker_id, kProduceApiKey, &count);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::unexpected(detail::ErrorFrom(err, "embedded broker: count produce faults"));
    }
    return count;
  }

  Status SetPartitionLeader(std::string_view topic, std::int32_t partition,
                            std::int32_t broker_id) override {
    if (auto status = CheckBroker(broker_id); !status) return status;
    const std::string name(topic);
    const rd_kafka_resp_err_t err =
        rd_kafka_mock_partition_set_leader(cluster_.get(), name.c_str(), partition, broker_id);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::unexpected(detail::ErrorFrom(
          err, "embedded broker: set leader of " + name + "[" + std::to_string(partition) + "]"));
    }
    return {};
  }

  Status SetBrokerDown(std::int32_t broker_id) override {
    if (auto status = CheckBroker(broker_id); !status) return status;
    const rd_kafka_resp_err_t err = rd_kafka_mock_broker_set_down(cluster_.get(), broker_id);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::unexpected(detail::ErrorFrom(err, "embedded broker: set broker down"));
    }
    return {};
  }

  Status SetBrokerUp(std::int32_t broker_id) override {
    if (auto status = CheckBroker(broker_id); !status) return status;
    const rd_kafka_resp_err_t err = rd_kafka_mock_broker_set_up(cluster_.get(), broker_id);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::unexpected(detail::ErrorFrom(err, "embedded broker: set broker up"));
    }
    return {};
  }

 private:
  Status CheckBroker(std::int32_t broker_id) const {
    if (broker_id < 1 || broker_id > brokers_) {
      return InvalidField("embedded broker id", "must be 1.." + std::to_string(brokers_),
                          std::to_string(broker_id));
    }
    return {};
  }

  detail::HandlePtr handle_;
  std::unique_ptr<rd_kafka_mock_cluster_t, ClusterDeleter> cluster_;
  std::int32_t brokers_;
  std::string bootstrap_;
};

}  // namespace

Result<std::unique_ptr<EmbeddedBroker>> EmbeddedBroker::Start(EmbeddedBrokerOptions options) {
  if (options.brokers < 1 || options.brokers > 32) {
    return InvalidField("embedded broker brokers", "must be 1..32",
                        std::to_string(options.brokers));
  }
  if (options.partitions < 1 || options.partitions > 1'000) {
    return InvalidField("embedded broker partitions", "must be 1..1000",
                        std::to_string(options.partitions));
  }
  // The mock cluster needs a client handle for its bookkeeping; this one never connects.
  auto conf = detail::BuildConf(KafkaConfig{});
  if (!conf) return std::unexpected(conf.error());
  auto handle = detail::NewHandle(RD_KAFKA_PRODUCER, std::move(*conf));
  if (!handle) return std::unexpected(handle.error());
  auto broker = std::make_unique<MockBroker>(std::move(*handle), options.brokers);
  if (auto status = broker->Init(options); !status) return std::unexpected(status.error());
  return std::unique_ptr<EmbeddedBroker>(std::move(broker));
}

}  // namespace sop::bus
