#include "sop/capacity/api.hpp"

#include <chrono>
#include <optional>
#include <utility>

#include "sop/runtime/grpc_status.hpp"

namespace sop::capacity {

struct CapacityGrpc::Probe {
  explicit Probe(runtime::MetricsRegistry& metrics)
      : scenarios(metrics
                      .AddHistogram({"sop_capacity_scenario_evaluation_seconds",
                                     "Wall time of one EvaluateScenarios call (all scenarios)."})
                      .WithLabels()),
        engine_copies(metrics
                          .AddCounter({"sop_capacity_engine_copies_total",
                                       "Plan copies taken for scenario evaluation."})
                          .WithLabels()) {}
  runtime::Histogram scenarios;
  runtime::Counter engine_copies;
};

CapacityGrpc::CapacityGrpc(CapacityState& state, StateLock lock, ScenarioRequestOptions options,
                           runtime::MetricsRegistry* metrics)
    : state_(state),
      lock_(std::move(lock)),
      options_(options),
      probe_(metrics != nullptr ? std::make_unique<Probe>(*metrics) : nullptr) {}

CapacityGrpc::~CapacityGrpc() = default;

Result<sop::v1::GetLoadResponse> CapacityGrpc::Load(const sop::v1::GetLoadRequest& request) const {
  std::optional<Result<sop::v1::GetLoadResponse>> result;
  lock_([&] { result.emplace(state_.GetLoad(request)); });
  return std::move(*result);
}

Result<sop::v1::EvaluateScenariosResponse> CapacityGrpc::Evaluate(
    const sop::v1::EvaluateScenariosRequest& request) {
  const auto start = std::chrono::steady_clock::now();
  std::lock_guard evaluating(evaluate_mutex_);
  // The plan the evaluation runs on: a copy of the current engine, taken under the state lock
  // only when the plan changed (any net change or rebuild) since the last call.
  std::optional<Error> error;
  lock_([&] {
    const std::int64_t version = state_.planning_version();
    if (plan_copy_ && version == plan_copy_version_) return;
    auto copy = state_.CopyPlan();
    if (!copy) {
      error = copy.error();
      return;
    }
    plan_copy_ = std::move(*copy);
    plan_copy_version_ = version;
    if (probe_) probe_->engine_copies.Increment();
  });
  if (error) return std::unexpected(*error);
  auto response =
      capacity::EvaluateScenarios(plan_copy_->engine, request, options_, plan_copy_->history);
  if (probe_) {
    probe_->scenarios.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return response;
}

grpc::Status CapacityGrpc::GetLoad(grpc::ServerContext*, const sop::v1::GetLoadRequest* request,
                                   sop::v1::GetLoadResponse* response) {
  return runtime::Reply(Load(*request), response);
}

grpc::Status CapacityGrpc::EvaluateScenarios(grpc::ServerContext*,
                                             const sop::v1::EvaluateScenariosRequest* request,
                                             sop::v1::EvaluateScenariosResponse* response) {
  return runtime::Reply(Evaluate(*request), response);
}

}  // namespace sop::capacity
