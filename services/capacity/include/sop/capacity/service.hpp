#pragma once
/// The capacity service wired together: sop.v1.Capacity over the CapacityState, and the
/// running service (host + state + gRPC) that sop-capacity's main starts through
/// host::RunServiceMain.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "sop/capacity/api.hpp"
#include "sop/capacity/state.hpp"
#include "sop/host/partitioned_state.hpp"
#include "sop/host/service_main.hpp"
#include "sop/model/error.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"

namespace sop::capacity {

/// Settings of the capacity service beyond the host's.
struct CapacityServiceOptions {
  CapacityStateOptions state;
  ScenarioRequestOptions scenarios;
};

/// One running capacity replica: CapacityState under a host::PartitionedHost (consumer of
/// sop.facts.v1 + sop.forecast.v1, producer of sop.capacity.v1, Redis snapshots) and the
/// sop.v1.Capacity implementation.
///
/// Threads: the host's (consumer, batch, health) and gRPC's. Errors: Start fails with the
/// host's start error. Lifetime: Stop (or the destructor) stops the host; the object must
/// outlive the gRPC server that uses grpc_services().
class CapacityService final : public host::RunningService {
 public:
  /// `host.topics` is set here (facts and forecasts).
  static Result<std::unique_ptr<CapacityService>> Start(host::HostOptions host,
                                                        CapacityServiceOptions options,
                                                        runtime::Logger& logger,
                                                        runtime::MetricsRegistry& metrics);
  ~CapacityService() override;

  std::vector<grpc::Service*> grpc_services() override { return {grpc_.get()}; }
  /// Orderly stop: intake, commit, last batch published and snapshotted. Idempotent.
  void Stop() override;
  /// Stops without the final batch and snapshot (what a crash leaves behind; tests).
  void Crash();

  host::PartitionedHost& host() { return *host_; }
  CapacityGrpc& api() { return *grpc_; }
  /// Runs `fn(state)` under the host's lock (tests: read the state consistently).
  template <class Fn>
  decltype(auto) WithState(Fn&& fn) {
    return host_->WithStateConst([&]() -> decltype(auto) { return fn(std::as_const(*state_)); });
  }

 private:
  CapacityService() = default;

  std::unique_ptr<CapacityState> state_;
  std::unique_ptr<host::PartitionedHost> host_;
  std::unique_ptr<CapacityGrpc> grpc_;
};

/// The sop-capacity binary's description for host::RunServiceMain (ports 50054/9464, group
/// sop-capacity, health name sop.v1.Capacity, settings capacity.*).
host::ServiceSpec CapacityServiceSpec();

}  // namespace sop::capacity
