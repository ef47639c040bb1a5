#pragma once
/// The exceptions service wired together: the PartitionedHost (sop.facts.v1 + sop.forecast.v1 →
/// ExceptionsState → sop.exceptions.v1, snapshots in Redis), the append-only acknowledgement log
/// in Redis, and the sop.v1.Exceptions gRPC implementation. main.cpp only reads config and
/// calls these (through host::RunServiceMain).

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sop/exceptions/book.hpp"
#include "sop/exceptions/state.hpp"
#include "sop/host/partitioned_state.hpp"
#include "sop/host/service_main.hpp"
#include "sop/model/error.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"
#include "sop/store/redis_store.hpp"
#include "sop/v1/exceptions.grpc.pb.h"

namespace sop::exceptions {

/// The acknowledgements as an append-only Redis log (`sop:log:{<name>}`): an audit trail of who
/// acknowledged what and why, read back in full by every replica at start and caught up before
/// each query, so an acknowledgement survives restarts and reaches every replica.
///
/// Threads: thread-safe (one mutex around the read position; the store is thread-safe).
/// Errors: the store's (UNAVAILABLE when Redis is unreachable); a record that does not decode is
/// skipped and counted in `corrupt()`.
class AckLog {
 public:
  explicit AckLog(store::RedisStore& store, std::string name = "exceptions/acks");
  /// Appends one acknowledgement (durable when it returns).
  Status Append(const Acknowledgement& acknowledgement);
  /// Records appended since the previous call (every record the first time).
  Result<std::vector<Acknowledgement>> ReadNew();
  std::int64_t corrupt() const;

 private:
  store::RedisStore& store_;
  std::string name_;
  mutable std::mutex mutex_;
  std::uint64_t next_ = 0;
  std::int64_t corrupt_ = 0;
};

/// Runs `fn` with the state locked (the host's WithState, or a plain mutex in unit tests).
using StateAccess = std::function<void(const std::function<void(ExceptionsState&)>&)>;

/// The sop.v1.Exceptions implementation (ListExceptions, Acknowledge).
///
/// Threads: gRPC threads; every state access goes through `access`. Errors: through
/// runtime::ToGrpcStatus — INVALID_ARGUMENT naming the field and the value, NOT_FOUND for an
/// unknown exception id, UNAVAILABLE when the acknowledgement cannot be written to Redis.
/// Lifetime: `log` (optional: without it acknowledgements live in memory only, for hermetic
/// tests) and whatever `access` reaches must outlive it.
class ExceptionsGrpc final : public sop::v1::Exceptions::Service {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;
  ExceptionsGrpc(
      StateAccess access, AckLog* log, runtime::Logger* logger = nullptr,
      Clock now = [] { return std::chrono::system_clock::now(); });

  Result<sop::v1::ListExceptionsResponse> List(const sop::v1::ListExceptionsRequest& request);
  Result<sop::v1::AcknowledgeResponse> Ack(const sop::v1::AcknowledgeRequest& request);
  /// Applies the acknowledgements appended to the log since the last call (also by other
  /// replicas). UNAVAILABLE when Redis cannot be read.
  Status CatchUp();

  grpc::Status ListExceptions(grpc::ServerContext* context,
                              const sop::v1::ListExceptionsRequest* request,
                              sop::v1::ListExceptionsResponse* response) override;
  grpc::Status Acknowledge(grpc::ServerContext* context, const sop::v1::AcknowledgeRequest* request,
                           sop::v1::AcknowledgeResponse* response) override;

 private:
  StateAccess access_;
  AckLog* log_;
  runtime::Logger* logger_;
  Clock now_;
};

/// One exceptions replica: state, host, acknowledgement log and gRPC implementation.
///
/// Threads: the host's (consumer, batch, health) and gRPC threads. Errors: Start fails with the
/// host's creation error. Lifetime: Stop (or the destructor) stops the host; the object must
/// outlive the gRPC server that uses grpc_services().
class ExceptionsService final : public host::RunningService {
 public:
  static Result<std::unique_ptr<ExceptionsService>> Start(host::HostOptions host_options,
                                                          StateOptions state_options,
                                                          runtime::Logger& logger,
                                                          runtime::MetricsRegistry& metrics);
  ~ExceptionsService() override;

  std::vector<grpc::Service*> grpc_services() override { return {grpc_.get()}; }
  /// Orderly stop: final batch published and snapshotted. Idempotent.
  void Stop() override;
  /// Stops without the final snapshot (what a crash leaves behind; for tests).
  void Crash();

  ExceptionsGrpc& grpc() { return *grpc_; }
  host::PartitionedHost& host() { return *host_; }
  /// Runs `fn(state)` with the host's mutex held.
  void WithState(const std::function<void(ExceptionsState&)>& fn);
  /// The state without locking: only inside host().WaitUntil predicates (mutex already held).
  const ExceptionsState& state_locked_by_caller() const { return state_; }

 private:
  ExceptionsService(StateOptions state_options, store::RedisStoreOptions redis,
                    runtime::MetricsRegistry& metrics);

  ExceptionsState state_;
  store::RedisStore ack_store_;
  AckLog ack_log_;
  std::unique_ptr<host::PartitionedHost> host_;
  std::unique_ptr<ExceptionsGrpc> grpc_;
};

/// The service binary's description for host::RunServiceMain (ports, group, settings).
host::ServiceSpec ExceptionsServiceSpec();

}  // namespace sop::exceptions
