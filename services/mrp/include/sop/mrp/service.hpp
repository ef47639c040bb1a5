#pragma once
/// The mrp service: the MrpPlanner as a host::PartitionedState (facts of sop.facts.v1 and
/// consensus forecasts of sop.forecast.v1 in, PlanDeltas of sop.plan.v1 out) on a
/// host::PartitionedHost (consumer, restore on assign, batches, snapshots in Redis, dead
/// letters, metrics, health), and the sop.v1.Mrp gRPC implementation. main.cpp only runs
/// host::RunServiceMain.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sop/host/partitioned_state.hpp"
#include "sop/model/error.hpp"
#include "sop/mrp/planner.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"
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
  /// Called when health (Kafka reachable, Redis writable) changes; see host::HostOptions.
  std::function<void(bool)> on_health_change;
  /// How often an idle replica checks Kafka and Redis.
  std::chrono::milliseconds health_interval{1000};
};

/// The host settings of an mrp replica: topics sop.facts.v1 + sop.forecast.v1, service "mrp".
host::HostOptions MrpHostOptions(MrpServiceOptions options);

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
  std::int64_t fenced = 0;               ///< partitions lost to a newer replica's snapshot
  std::int64_t partitions = 0;           ///< partitions owned
  bool healthy = true;
};

/// One mrp replica.
///
/// Threads: the host's consumer thread applies facts (net change, publishing its deltas at
/// once); its batch thread ends batches (full rebuild when needed, publish, snapshot with
/// offsets); gRPC threads call GetPlan/Replan/GetSupplyPlan. The host's one mutex serializes
/// all access to the planner.
/// Errors: Start fails with the producer's/consumer's creation error (INVALID_ARGUMENT for bad
/// kafka.* settings); at run time Redis or broker outages are logged, counted, turn health
/// NOT_SERVING and are retried; a fact that does not parse is dead-lettered to sop.dlq.v1.
/// Lifetime: Stop (or the destructor) stops the host; the object must outlive the gRPC server
/// that uses grpc_service().
class MrpService final {
 public:
  static Result<std::unique_ptr<MrpService>> Start(MrpServiceOptions options,
                                                   runtime::Logger& logger,
                                                   runtime::MetricsRegistry& metrics);
  /// The same from ready host options (service main): `host.topics` and `host.service` are set
  /// here.
  static Result<std::unique_ptr<MrpService>> Start(host::HostOptions host, PlannerOptions planner,
                                                   runtime::Logger& logger,
                                                   runtime::MetricsRegistry& metrics);
  ~MrpService();
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

 private:
  class GrpcImpl;
  class State;
  struct Probe;

  MrpService(PlannerOptions planner, runtime::Logger& logger, runtime::MetricsRegistry& metrics);
  MrpProgress ProgressLocked(const host::HostProgress& host) const;

  runtime::Logger& logger_;
  std::unique_ptr<Probe> probe_;
  std::unique_ptr<State> state_;  // declared before host_: destroyed after it
  std::unique_ptr<host::PartitionedHost> host_;
  std::unique_ptr<GrpcImpl> grpc_;
};

}  // namespace sop::mrp
