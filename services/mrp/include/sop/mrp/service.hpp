#pragma once
/// The mrp service's components wired together: consumer of sop.facts.v1 and sop.forecast.v1,
/// the MrpPlanner, the producer of sop.plan.v1, snapshots in Redis, metrics, and the
/// sop.v1.Mrp gRPC implementation. main.cpp only reads config and calls these.

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
#include "sop/model/error.hpp"
#include "sop/mrp/planner.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"
#include "sop/store/redis_store.hpp"
#include "sop/v1/mrp.grpc.pb.h"

namespace sop::mrp {

/// Settings of one mrp replica (main maps the config names onto these).
struct MrpServiceOptions {
  bus::KafkaConfig kafka;            ///< kafka.* pass-through (bootstrap.servers required)
  std::string group_id = "sop-mrp";  ///< kafka.group.id
  store::RedisStoreOptions redis;    ///< redis.host, redis.port
  std::string instance = "mrp-0";    ///< service.instance (logs)
  /// A batch ends when no message arrived for `batch_quiet`, or `batch_max` after it began;
  /// then the pending full rebuild runs and the changed partitions are snapshotted.
  std::chrono::milliseconds batch_quiet{100};
  std::chrono::milliseconds batch_max{2000};
  PlannerOptions planner;
};

/// Where a replica stands, for tests and health.
struct MrpProgress {
  std::int64_t facts = 0;  ///< facts held for the owned partitions
  std::int64_t plan_version = 0;
  bool pending = false;        ///< a batch is waiting to be planned / snapshotted
  std::int64_t snapshots = 0;  ///< successful snapshot writes
  std::int64_t deltas_published = 0;
  std::int64_t duplicates = 0;           ///< re-delivered facts skipped
  std::int64_t restored_partitions = 0;  ///< partitions restored from a Redis snapshot
  std::int64_t dead_lettered = 0;        ///< undecodable messages sent to sop.dlq.v1
};

/// One mrp replica.
///
/// Threads: the consumer thread applies facts (net change, publishing its deltas at once) and
/// runs the assignment listener (restore on assign, snapshot on revoke); one planner thread
/// ends batches (full rebuild when needed, publish, snapshot with offsets); gRPC threads call
/// GetPlan/Replan/GetSupplyPlan. One mutex serializes all access to the planner.
/// Errors: Start fails with the producer's/consumer's creation error (INVALID_ARGUMENT for bad
/// kafka.* settings); at run time Redis or broker outages are logged, counted and retried at
/// the next batch; a fact that does not parse is dead-lettered to sop.dlq.v1.
/// Lifetime: Stop (or the destructor) stops the consumer and the planner thread; the object
/// must outlive the gRPC server that uses grpc_service().
class MrpService final : public bus::ConsumerListener {
 public:
  static Result<std::unique_ptr<MrpService>> Start(MrpServiceOptions options,
                                                   runtime::Logger& logger,
                                                   runtime::MetricsRegistry& metrics);
  ~MrpService() override;
  MrpService(const MrpService&) = delete;
  MrpService& operator=(const MrpService&) = delete;

  /// Stops consuming (commits, leaves the group). With `final_snapshot` the last batch is
  /// planned, published and snapshotted; without it the state in memory is simply dropped
  /// (what a crash leaves behind, for tests). Idempotent.
  void Stop(bool final_snapshot = true);

  /// The sop.v1.Mrp implementation to register with the gRPC server.
  grpc::Service* grpc_service();

  Result<sop::v1::GetPlanResponse> GetPlan(const sop::v1::GetPlanRequest& request) const;
  Result<sop::v1::ReplanResponse> Replan(const sop::v1::ReplanRequest& request);
  Result<sop::v1::GetSupplyPlanResponse> GetSupplyPlan(
      const sop::v1::GetSupplyPlanRequest& request) const;

  MrpProgress progress() const;
  /// Waits until `predicate(progress())` holds, at most `timeout`.
  bool WaitFor(const std::function<bool(const MrpProgress&)>& predicate,
               std::chrono::milliseconds timeout) const;

  // bus::ConsumerListener (consumer thread).
  void OnAssigned(std::span<bus::AssignedPartition> partitions) override;
  void OnRevoked(std::span<const bus::TopicPartition> partitions) override;
  void OnError(const Error& error) override;

 private:
  class GrpcImpl;
  struct Probe;

  MrpService(MrpServiceOptions options, runtime::Logger& logger, runtime::MetricsRegistry& metrics);
  Status Handle(const bus::Message& message);
  void PlannerLoop();
  /// Plans what is pending, publishes, snapshots the dirty partitions. Requires mutex_.
  void EndBatchLocked();
  void PublishLocked(std::vector<sop::v1::PlanDelta> deltas);
  void SnapshotLocked(const std::vector<PartitionKey>& keys);
  static std::string SnapshotName(const PartitionKey& key);
  MrpProgress ProgressLocked() const;

  MrpServiceOptions options_;
  runtime::Logger& logger_;
  std::unique_ptr<Probe> probe_;
  store::RedisStore store_;
  std::unique_ptr<bus::Producer> producer_;
  std::unique_ptr<bus::DeadLetter> dead_letter_;
  std::unique_ptr<bus::Consumer> consumer_;
  std::unique_ptr<GrpcImpl> grpc_;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  MrpPlanner planner_;
  std::map<PartitionKey, std::int64_t> next_offsets_;
  std::map<PartitionKey, std::uint64_t> sequences_;
  std::map<PartitionKey, std::vector<std::string>> unsaved_ids_;
  std::set<PartitionKey> dirty_;
  bool batch_open_ = false;
  std::chrono::steady_clock::time_point batch_started_{};
  std::chrono::steady_clock::time_point last_message_{};
  bool stopping_ = false;
  bool crashed_ = false;
  bool stopped_ = false;
  std::int64_t snapshots_ = 0;
  std::int64_t deltas_published_ = 0;
  std::int64_t restored_partitions_ = 0;
  std::int64_t dead_lettered_ = 0;
  std::thread planner_thread_;
};

}  // namespace sop::mrp
