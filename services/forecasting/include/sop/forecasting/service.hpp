#pragma once
/// The forecasting service: the Forecaster as a host::PartitionedState (facts of sop.facts.v1
/// in, ForecastUpdates of sop.forecast.v1 out) on a host::PartitionedHost (consumer, restore on
/// assign, debounced batches, snapshots in Redis, dead letters, metrics, health), and the
/// sop.v1.Forecasting gRPC implementation. main.cpp only runs host::RunServiceMain.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sop/forecasting/forecaster.hpp"
#include "sop/host/partitioned_state.hpp"
#include "sop/model/error.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"
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
  /// Called when health (Kafka reachable, Redis writable) changes; see host::HostOptions.
  std::function<void(bool)> on_health_change;
};

/// The host settings of a forecasting replica: topic sop.facts.v1, service "forecasting".
host::HostOptions ForecastingHostOptions(ForecastingServiceOptions options);

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
  std::int64_t dead_lettered = 0;  ///< undecodable facts sent to sop.dlq.v1
  std::int64_t fenced = 0;         ///< partitions lost to a newer replica's snapshot
  bool healthy = true;
};

/// One forecasting replica: the Forecaster as a host::PartitionedState on a
/// host::PartitionedHost, and the sop.v1.Forecasting gRPC implementation.
///
/// Threads: the host's consumer thread applies facts; its batch thread re-forecasts the dirty
/// item-sites (debounced), publishes and snapshots; gRPC threads call GetForecast /
/// AdjustForecast / GetAccuracy. The host's one mutex serializes all access to the Forecaster
/// (GetAccuracy runs its backtest under it).
/// Errors: Start fails with the producer's/consumer's creation error; at run time Redis or
/// broker outages are logged, counted, turn health NOT_SERVING and are retried; a fact that
/// does not parse is dead-lettered to sop.dlq.v1; RPC errors map through runtime::ToGrpcStatus.
/// Lifetime: Stop (or the destructor) stops the host; the object must outlive the gRPC server
/// that uses grpc_service().
class ForecastingService final {
 public:
  static Result<std::unique_ptr<ForecastingService>> Start(ForecastingServiceOptions options,
                                                           runtime::Logger& logger,
                                                           runtime::MetricsRegistry& metrics);
  /// The same from ready host options (service main): `topics` and `service` are set here.
  static Result<std::unique_ptr<ForecastingService>> Start(host::HostOptions host,
                                                           ForecasterOptions forecaster,
                                                           runtime::Logger& logger,
                                                           runtime::MetricsRegistry& metrics);
  ~ForecastingService();
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

 private:
  class GrpcImpl;
  class State;
  struct Probe;

  ForecastingService(ForecasterOptions forecaster, runtime::Logger& logger,
                     runtime::MetricsRegistry& metrics);
  ForecastingProgress ProgressLocked(const host::HostProgress& host) const;

  runtime::Logger& logger_;
  std::unique_ptr<Probe> probe_;
  std::unique_ptr<State> state_;  // declared before host_: destroyed after it
  std::unique_ptr<host::PartitionedHost> host_;
  std::unique_ptr<GrpcImpl> grpc_;
};

}  // namespace sop::forecasting
