// sop-mrp: MRP netting as a service. Wiring only: host::RunServiceMain declares and validates
// the settings (shared, kafka/redis, mrp.batch.*), builds logger, signals, metrics, the
// MrpService (consumer, planner, producer, Redis) and the gRPC server last; SIGTERM: NOT_SERVING,
// drain, consumer stop + final plan/snapshot, gRPC shutdown, exposer stop, exit 0.

#include <memory>
#include <vector>

#include "sop/host/service_main.hpp"
#include "sop/mrp/service.hpp"

namespace {

class RunningMrp final : public sop::host::RunningService {
 public:
  explicit RunningMrp(std::unique_ptr<sop::mrp::MrpService> service)
      : service_(std::move(service)) {}
  std::vector<grpc::Service*> grpc_services() override { return {service_->grpc_service()}; }
  void Stop() override { service_->Stop(/*final_snapshot=*/true); }

 private:
  std::unique_ptr<sop::mrp::MrpService> service_;
};

}  // namespace

int main(int argc, char** argv) {
  sop::host::ServiceSpec spec;
  spec.binary = "sop-mrp";
  spec.service = "mrp";
  spec.grpc_service_names = {"sop.v1.Mrp"};
  spec.grpc_port = 50053;
  spec.metrics_port = 9463;
  spec.group_id = "sop-mrp";
  spec.batch_quiet = std::chrono::milliseconds(100);
  spec.batch_max = std::chrono::milliseconds(2000);
  spec.start = [](sop::host::ServiceContext& context)
      -> sop::Result<std::unique_ptr<sop::host::RunningService>> {
    auto service = sop::mrp::MrpService::Start(std::move(context.host), sop::mrp::PlannerOptions{},
                                               context.logger, context.metrics);
    if (!service) return std::unexpected(service.error());
    return std::make_unique<RunningMrp>(std::move(*service));
  };
  return sop::host::RunServiceMain(spec, argc, argv);
}
