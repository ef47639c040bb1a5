#include "sop/capacity/service.hpp"

#include <utility>

#include "sop/bus/topics.hpp"

namespace sop::capacity {

Result<std::unique_ptr<CapacityService>> CapacityService::Start(host::HostOptions host,
                                                                CapacityServiceOptions options,
                                                                runtime::Logger& logger,
                                                                runtime::MetricsRegistry& metrics) {
  std::unique_ptr<CapacityService> service(new CapacityService());
  service->state_ = std::make_unique<CapacityState>(options.state, &metrics);
  host.topics = {std::string(bus::kFactsTopic), std::string(bus::kForecastTopic)};
  host.co_partitioned = true;  // a site's facts and forecasts on the same replica
  auto started = host::PartitionedHost::Start(std::move(host), *service->state_, logger, metrics);
  if (!started) return std::unexpected(started.error());
  service->host_ = std::move(*started);
  host::PartitionedHost* running = service->host_.get();
  service->grpc_ = std::make_unique<CapacityGrpc>(
      *service->state_, [running](const std::function<void()>& fn) { running->WithStateConst(fn); },
      options.scenarios, &metrics);
  return service;
}

CapacityService::~CapacityService() {
  Stop();
}

void CapacityService::Stop() {
  if (host_) host_->Stop(true);
}

void CapacityService::Crash() {
  if (host_) host_->Stop(false);
}

host::ServiceSpec CapacityServiceSpec() {
  host::ServiceSpec spec;
  spec.binary = "sop-capacity";
  spec.service = "capacity";
  spec.grpc_service_names = {"sop.v1.Capacity"};
  spec.grpc_port = 50054;
  spec.metrics_port = 9464;
  spec.group_id = "sop-capacity";
  spec.add_settings = [](runtime::ConfigSchema& schema) {
    schema.Add(runtime::SettingSpec::Int("capacity.scenario-threads",
                                         "Threads evaluating the scenarios of one call.")
                   .Default("2")
                   .Min("1")
                   .Max("16"));
    schema.Add(runtime::SettingSpec::Int("capacity.delta-work-centers",
                                         "Work centers per CapacityDelta message at most.")
                   .Default("50")
                   .Min("1")
                   .Max("1000"));
  };
  spec.start = [](host::ServiceContext& context) -> Result<std::unique_ptr<host::RunningService>> {
    CapacityServiceOptions options;
    options.scenarios.threads =
        static_cast<int>(context.config.GetInt("capacity.scenario-threads"));
    options.state.max_work_centers_per_delta =
        static_cast<std::size_t>(context.config.GetInt("capacity.delta-work-centers"));
    auto service = CapacityService::Start(context.host, options, context.logger, context.metrics);
    if (!service) return std::unexpected(service.error());
    return std::unique_ptr<host::RunningService>(std::move(*service));
  };
  return spec;
}

}  // namespace sop::capacity
