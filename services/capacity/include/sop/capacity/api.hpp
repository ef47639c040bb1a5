#pragma once
/// sop.v1.Capacity implemented over a CapacityState: GetLoad and EvaluateScenarios.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "sop/capacity/scenarios.hpp"
#include "sop/capacity/state.hpp"
#include "sop/model/error.hpp"
#include "sop/runtime/metrics.hpp"
#include "sop/v1/capacity.grpc.pb.h"

namespace sop::capacity {

/// Runs `fn` with the state's lock held (the host's WithState, or a test's mutex).
using StateLock = std::function<void(const std::function<void()>& fn)>;

/// sop.v1.Capacity: decode → CapacityState / decision core → encode; errors through runtime's
/// one mapping (ToGrpcStatus).
///
/// GetLoad reads the capacity plan of the last batch end under the state lock. EvaluateScenarios
/// validates the request, copies the engine and its detection history under the lock (once per plan
/// version; the copy is kept until the plan changes), then evaluates outside the lock on `threads`
/// threads, so consumption goes on meanwhile; one evaluation runs at a time (later calls wait).
/// Threads: gRPC threads; safe for concurrent calls. Lifetime: `state` and `lock` must outlive
/// it.
class CapacityGrpc final : public sop::v1::Capacity::Service {
 public:
  CapacityGrpc(CapacityState& state, StateLock lock, ScenarioRequestOptions options = {},
               runtime::MetricsRegistry* metrics = nullptr);
  ~CapacityGrpc() override;

  grpc::Status GetLoad(grpc::ServerContext* context, const sop::v1::GetLoadRequest* request,
                       sop::v1::GetLoadResponse* response) override;
  grpc::Status EvaluateScenarios(grpc::ServerContext* context,
                                 const sop::v1::EvaluateScenariosRequest* request,
                                 sop::v1::EvaluateScenariosResponse* response) override;

  /// The same calls without gRPC (tests, tools).
  Result<sop::v1::GetLoadResponse> Load(const sop::v1::GetLoadRequest& request) const;
  Result<sop::v1::EvaluateScenariosResponse> Evaluate(
      const sop::v1::EvaluateScenariosRequest& request);

 private:
  struct Probe;

  CapacityState& state_;
  StateLock lock_;
  ScenarioRequestOptions options_;
  std::unique_ptr<Probe> probe_;
  std::mutex evaluate_mutex_;  ///< one evaluation at a time; guards the cached copy
  std::shared_ptr<const PlanCopy> plan_copy_;
  std::int64_t plan_copy_version_ = -1;
};

}  // namespace sop::capacity
