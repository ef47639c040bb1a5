#pragma once
/// The forecasting service's components wired together: consumer of sop.facts.v1, the
/// Forecaster, the producer of sop.forecast.v1, snapshots in Redis, metrics, and the
/// sop.v1.Forecasting gRPC implementation. main.cpp only reads config and calls these.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "sop/bus/consumer.hpp"
#include "sop/bus/dead_letter.hpp"
#include "sop/bus/kafka_config.hpp"
#include "sop/bus/producer.hpp"
#include "sop/forecasting/forecaster.hpp"
#include "sop/model/error.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"
#include "sop/store/redis_store.hpp"
#include "sop/v1/forecasting.grpc.pb.h"

namespace sop::forecasting {

/// Settings of one forecasting replica (main maps the config names onto these).
struct ForecastingServiceOptions {
  bus::KafkaConfig kafka;                    ///< kafka.* pass-through (bootstrap.servers required)
  std::string group_id = "sop-forecasting";  ///< kafka.group.id
  store::RedisStoreOptions redis;            ///< redis.host, redis.port
  std::string instance = "forecasting-0";    ///< service.instance (logs)
  /// Debounce: the dirty item-sites are re-forecast when no fact arrived for `batch_quiet`, or
  /// `batch_max` after the first unprocessed fact; then the changed partitions are snapshotted.
  std::chrono::milliseconds batch_quiet{200};
  std::chrono::milliseconds batch_max{2000};
  ForecasterOptions forecaster;
};

/// Where a replica stands, for tests and health.
struct ForecastingProgress {
  std::int64_t facts = 0;       ///< facts applied
  std::int64_t duplicates = 0;  ///< re-delivered facts skipped
  std::int64_t item_sites = 0;
  bool pending = false;                ///< a batch waits to be forecast / snapshotted
  std::int64_t snapshots = 0;          ///< successful snapshot writes
  std::int64_t updates_published = 0;  ///< ForecastUpdates handed to the producer
  std::int64_t batches = 0;            ///< debounced re-forecast runs
  std::int64_t restored_partitions = 0;
};

/// One forecasting replica.
///
/// Threads: the consumer thread applies facts and runs the assignment listener (restore on
/// assign, snapshot on revoke); one batch thread re-forecasts the dirty item-sites (debounced),
/// publishes and snapshots; gRPC threads call GetForecast/AdjustForecast/GetAccuracy. One mutex
/// serializes all access to the Forecaster (GetAccuracy runs its backtest under it).
/// Errors: Start fails with the producer's/consumer's creation error; at run time Redis or
/// broker outages are logged, counted and retried at the next batch; a fact that does not parse
/// is dead-lettered to sop.dlq.v1; RPC errors map through runtime::ToGrpcStatus.
/// Lifetime: Stop (or the destructor) stops the consumer and the batch thread; the object must
/// outlive the gRPC server that uses grpc_service().
class ForecastingService final : public bus::ConsumerListener {
 public:
  static Result<std::unique_ptr<ForecastingService>> Start(ForecastingServiceOptions options,
                                                           runtime::Logger& logger,
                                                           runtime::MetricsRegistry& metrics);
  ~ForecastingService() override;
  ForecastingService(const ForecastingService&) = delete;
  ForecastingService& operator=(const ForecastingService&) = delete;

  /// Stops consuming (commits, leaves the group). With `final_snapshot` the last batch is
  /// forecast, published and snapshotted; without it the memory is dropped (a simulated crash).
  void Stop(bool final_snapshot = true);

  /// The sop.v1.Forecasting implementation to register with the gRPC server.
  grpc::Service* grpc_service();

  Result<sop::v1::GetForecastResponse> GetForecast(
      const sop::v1::GetForecastRequest& request) const;
  /// Records the adjustment, re-forecasts the item-site, publishes the update and snapshots
  /// its partition before answering (so an acknowledged adjustment survives a crash).
  Result<sop::v1::AdjustForecastResponse> AdjustForecast(
      const sop::v1::AdjustForecastRequest& request);
  Result<sop::v1::GetAccuracyResponse> GetAccuracy(
      const sop::v1::GetAccuracyRequest& request) const;

  ForecastingProgress progress() const;
  /// Waits until `predicate(progress())` holds, at most `timeout`.
  bool WaitFor(const std::function<bool(const ForecastingProgress&)>& predicate,
               std::chrono::milliseconds timeout) const;

  // bus::ConsumerListener (consumer thread).
  void OnAssigned(std::span<bus::AssignedPartition> partitions) override;
  void OnRevoked(std::span<const bus::TopicPartition> partitions) override;
  void OnError(const Error& error) override;

 private:
  class GrpcImpl;
  struct Probe;

  ForecastingService(ForecastingServiceOptions options, runtime::Logger& logger,
                     runtime::MetricsRegistry& metrics);
  Status Handle(const bus::Message& message);
  void BatchLoop();
  /// Re-forecasts what is dirty, publishes, snapshots the dirty partitions. Requires mutex_.
  void EndBatchLocked();
  void PublishLocked(std::vector<sop::v1::ForecastUpdate> updates);
  void FlushProducerLocked();
  void SnapshotLocked(const std::vector<PartitionKey>& keys);
  static std::string SnapshotName(const PartitionKey& key);
  ForecastingProgress ProgressLocked() const;

  ForecastingServiceOptions options_;
  runtime::Logger& logger_;
  std::unique_ptr<Probe> probe_;
  store::RedisStore store_;
  std::unique_ptr<bus::Producer> producer_;
  std::unique_ptr<bus::DeadLetter> dead_letter_;
  std::unique_ptr<bus::Consumer> consumer_;
  std::unique_ptr<GrpcImpl> grpc_;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  Forecaster forecaster_;
  std::map<PartitionKey, std::int64_t> next_offsets_;
  std::map<PartitionKey, std::uint64_t> sequences_;
  std::map<PartitionKey, std::vector<std::string>> unsaved_ids_;
  std::set<PartitionKey> dirty_partitions_;
  bool batch_open_ = false;
  std::chrono::steady_clock::time_point batch_started_{};
  std::chrono::steady_clock::time_point last_message_{};
  bool stopping_ = false;
  bool crashed_ = false;
  bool stopped_ = false;
  std::int64_t snapshots_ = 0;
  std::int64_t updates_published_ = 0;
  std::int64_t batches_ = 0;
  std::int64_t restored_partitions_ = 0;
  std::thread batch_thread_;
};

}  // namespace sop::forecasting
