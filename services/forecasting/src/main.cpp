// sop-forecasting: statistical forecast and its layers as a service. Wiring only:
// host::RunServiceMain declares and validates the settings (shared, kafka/redis,
// forecasting.batch.*), builds logger, signals, metrics, the ForecastingService (consumer,
// forecaster, producer, Redis) and the gRPC server last; SIGTERM: NOT_SERVING, drain, consumer
// stop + final re-forecast/snapshot, gRPC shutdown, exposer stop, exit 0.

#include <memory>
#include <vector>

#include "sop/forecasting/service.hpp"
#include "sop/host/service_main.hpp"

namespace {

class RunningForecasting final : public sop::host::RunningService {
 public:
  explicit RunningForecasting(std::unique_ptr<sop::forecasting::ForecastingService> service)
      : service_(std::move(service)) {}
  std::vector<grpc::Service*> grpc_services() override { return {service_->grpc_service()}; }
  void Stop() override { service_->Stop(/*final_snapshot=*/true); }

 private:
  std::unique_ptr<sop::forecasting::ForecastingService> service_;
};

}  // namespace

int main(int argc, char** argv) {
  sop::host::ServiceSpec spec;
  spec.binary = "sop-forecasting";
  spec.service = "forecasting";
  spec.grpc_service_names = {"sop.v1.Forecasting"};
  spec.grpc_port = 50052;
  spec.metrics_port = 9462;
  spec.group_id = "sop-forecasting";
  spec.batch_quiet = std::chrono::milliseconds(200);
  // A shipment reaches the plan through a re-forecast: under a steady stream the batch ends
  // every batch.max, which bounds that part of ERP event → exception latency (docs/BENCHMARKS.md).
  spec.batch_max = std::chrono::milliseconds(250);
  spec.start = [](sop::host::ServiceContext& context)
      -> sop::Result<std::unique_ptr<sop::host::RunningService>> {
    auto service = sop::forecasting::ForecastingService::Start(
        std::move(context.host), sop::forecasting::ForecasterOptions{}, context.logger,
        context.metrics);
    if (!service) return std::unexpected(service.error());
    return std::make_unique<RunningForecasting>(std::move(*service));
  };
  return sop::host::RunServiceMain(spec, argc, argv);
}
