#pragma once
/// The workflow service: the cycle core behind authenticated gRPC, its event log and audit log
/// in Redis, every state change published to sop.workflow.v1, artifacts assembled from the
/// other services, an overdue ticker, and the sop_workflow_* metrics.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sop/auth/token_authenticator.hpp"
#include "sop/bus/kafka_config.hpp"
#include "sop/bus/producer.hpp"
#include "sop/model/error.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"
#include "sop/store/redis_store.hpp"
#include "sop/v1/workflow.grpc.pb.h"
#include "sop/workflow/assembler.hpp"
#include "sop/workflow/core.hpp"

namespace sop::workflow {

/// Settings of the workflow service (main maps the config names onto these).
struct WorkflowServiceOptions {
  store::RedisStoreOptions redis;
  /// The append-only Redis log holding every audit entry (and with it every event).
  std::string audit_log = "workflow/audit";
  /// kafka.* pass-through; bootstrap.servers is required to publish sop.workflow.v1.
  bus::KafkaConfig kafka;
  CalendarPolicy calendar;
  ArtifactSources sources;
  /// How often overdue stages are looked for (and the gauges refreshed).
  std::chrono::milliseconds overdue_interval{30'000};
  /// How long Start keeps retrying to read the log while Redis is unreachable.
  std::chrono::milliseconds startup_timeout{10'000};
  /// Test seam: the wall clock (Unix time). Empty: std::chrono::system_clock.
  std::function<Timestamp()> clock{};
};

/// One workflow replica. Run exactly one: the event log has a single writer (see README).
///
/// Threads: gRPC threads call the handlers; one mutex serializes every state change (decide →
/// append to Redis → apply → publish) and the overdue ticker thread. Assembly calls to other
/// services run outside the mutex; approving a demand change request calls Forecasting under
/// it (bounded by the sources' deadline).
/// Errors: a call whose audit record cannot be appended fails with UNAVAILABLE and changes
/// nothing in memory; a refused call's record is kept pending until Redis takes it (at the next
/// call or overdue tick, and at Stop); if the append's outcome is unknown the state is re-read from
/// Redis before the next call. A log record that does not replay (corrupt or tampered) fails Start
/// with DATA_LOSS. Lifetime: Stop (or the destructor) stops the ticker and flushes the producer;
/// the object must outlive the gRPC server that uses grpc_service().
class WorkflowService {
 public:
  static Result<std::unique_ptr<WorkflowService>> Start(WorkflowServiceOptions options,
                                                        const auth::TokenAuthenticator& tokens,
                                                        runtime::Logger& logger,
                                                        runtime::MetricsRegistry& metrics);
  ~WorkflowService();
  WorkflowService(const WorkflowService&) = delete;
  WorkflowService& operator=(const WorkflowService&) = delete;

  /// Idempotent.
  void Stop();
  grpc::Service* grpc_service();

  /// Runs overdue detection now (the ticker does this every `overdue_interval`).
  Status CheckOverdue();
  std::uint64_t last_sequence() const;
  /// Every audit entry in log order, read from Redis (tests compare before/after a restart).
  Result<std::vector<sop::v1::AuditEntry>> ReadAudit(std::uint64_t from = 0,
                                                     std::size_t count = 1'000'000);
  /// The cycle as GetCycle returns it (with documents), for tests.
  Result<sop::v1::Cycle> CycleView(std::string_view cycle_id) const;

 private:
  class GrpcImpl;
  struct Probe;
  friend class GrpcImpl;

  WorkflowService(WorkflowServiceOptions options, const auth::TokenAuthenticator& tokens,
                  runtime::Logger& logger, runtime::MetricsRegistry& metrics);
  Timestamp Now() const;
  /// Rebuilds the core from the Redis log. Requires mutex_.
  Status ReloadLocked();
  /// Appends an audit entry (with the event if any); applies and publishes the event.
  /// Requires mutex_.
  Status RecordLocked(std::string_view method, std::string_view action, std::string_view principal,
                      std::string_view cycle_id, const Result<Event>& decided);
  /// Audits a refusal (authentication, role, rule, bad request). If Redis cannot take it, the
  /// entry is kept pending (in memory, in order) and appended before the next audit entry.
  /// Requires mutex_.
  void AuditRefusalLocked(std::string_view method, std::string_view action,
                          std::string_view principal, std::string_view cycle_id,
                          const Error& error);
  /// Appends the pending refusal entries in order. A pending entry whose failed append did
  /// land after all (a timeout) is recognised at the log's end and not appended twice.
  /// Requires mutex_.
  Status FlushPendingAuditLocked();
  void Publish(const Event& event);
  void RefreshGaugesLocked(Timestamp now);
  void TickerLoop();

  WorkflowServiceOptions options_;
  const auth::TokenAuthenticator& tokens_;
  runtime::Logger& logger_;
  std::unique_ptr<Probe> probe_;
  std::unique_ptr<store::RedisStore> store_;
  std::unique_ptr<bus::Producer> producer_;
  std::unique_ptr<GrpcImpl> grpc_;

  mutable std::mutex mutex_;
  Workflow workflow_;
  bool needs_reload_ = false;
  /// Records in the audit log as far as this writer knows (the index of the next append).
  std::uint64_t log_length_ = 0;
  /// Refusal entries (serialized AuditEntry) Redis has not taken yet, oldest first.
  std::deque<std::string> pending_audit_;

  std::mutex ticker_mutex_;
  std::condition_variable ticker_wake_;
  bool stopping_ = false;
  std::thread ticker_;
};

}  // namespace sop::workflow
