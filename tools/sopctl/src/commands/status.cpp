// sopctl status: grpc.health.v1 of every configured service (or the ones named).

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <ostream>

#include "grpc/health/v1/health.grpc.pb.h"
#include "sop/sopctl/command.hpp"

namespace sop::sopctl {
namespace {

constexpr std::string_view kName = "status";

int Run(CommandContext& context) {
  std::vector<std::string> names;
  for (const auto& arg : context.args) {
    if (!context.services.contains(arg)) {
      context.err << "sopctl status: unknown service '" << arg
                  << "'\nusage: sopctl status [SERVICE ...]\n";
      return kExitUsage;
    }
    names.push_back(arg);
  }
  if (names.empty()) {
    for (const auto& service : DefaultServices()) names.push_back(service.name);
  }
  struct Row {
    std::string name, address, status, detail;
  };
  std::vector<Row> rows;
  bool all_serving = true;
  // A status check should answer fast even when a service is down.
  const auto per_call = std::min(context.timeout, std::chrono::milliseconds(3000));
  for (const auto& name : names) {
    const ServiceAddress& service = context.services.at(name);
    auto stub = grpc::health::v1::Health::NewStub(context.Channel(name));
    grpc::ClientContext call;
    call.set_deadline(std::chrono::system_clock::now() + per_call);
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service.grpc_service);
    grpc::health::v1::HealthCheckResponse response;
    const grpc::Status status = stub->Check(&call, request, &response);
    Row row{name, service.address, "", ""};
    if (status.ok()) {
      row.status = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
    } else if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
      row.status = "SERVICE_UNKNOWN";
      row.detail = service.grpc_service + " is not served at this address";
    } else {
      row.status = "UNREACHABLE";
      row.detail = status.error_message();
    }
    all_serving = all_serving && row.status == "SERVING";
    rows.push_back(std::move(row));
  }
  if (context.json) {
    context.out << "{\"services\":[";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      context.out << (i ? "," : "") << "{\"name\":\"" << JsonEscape(rows[i].name)
                  << "\",\"address\":\"" << JsonEscape(rows[i].address) << "\",\"status\":\""
                  << rows[i].status << "\",\"detail\":\"" << JsonEscape(rows[i].detail) << "\"}";
    }
    context.out << "]}\n";
  } else {
    std::vector<std::vector<std::string>> table;
    for (const auto& row : rows) table.push_back({row.name, row.address, row.status, row.detail});
    PrintTable(context.out, {"SERVICE", "ADDRESS", "STATUS", "DETAIL"}, table);
  }
  return all_serving ? kExitOk : kExitFailure;
}

const CommandRegistrar kRegistered{
    Command{.name = std::string(kName),
            .summary = "health (grpc.health.v1) of every service; exit 1 unless all are SERVING",
            .usage = "sopctl status [SERVICE ...]",
            .run = Run}};

}  // namespace
}  // namespace sop::sopctl
