// sopctl scenarios FILE: evaluates scenarios side by side with the base
// (Capacity.EvaluateScenarios). FILE is a JSON list of sop.v1.Scenario in protobuf's JSON
// mapping, e.g. [{"name": "overtime", "overrides": [{"extra_capacity": {"work_center_id":
// "WC-P1-01", "hours_per_bucket": 8, "pay_only_used": true}}]}], or a whole
// EvaluateScenariosRequest object; an empty list evaluates the decision core's seed scenarios.

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <ostream>
#include <sstream>

#include "sop/sopctl/command.hpp"
#include "sop/v1/capacity.grpc.pb.h"

namespace sop::sopctl {
namespace {

constexpr std::string_view kName = "scenarios";
constexpr std::string_view kUsage = "sopctl scenarios FILE [--site SITE] [--json]";

std::string Fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

// Reads FILE into a request: a JSON list of scenarios or a request object.
Result<sop::v1::EvaluateScenariosRequest> ReadRequest(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Fail(Errc::kNotFound, "cannot open '" + path + "'");
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  const auto start = text.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) {
    return InvalidField(path, "must hold a JSON list of scenarios", "");
  }
  const bool list = text[start] == '[';
  if (list) text = "{\"scenarios\":" + text + "}";
  sop::v1::EvaluateScenariosRequest request;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto parsed = google::protobuf::util::JsonStringToMessage(text, &request, options);
  if (!parsed.ok()) {
    return Fail(Errc::kInvalidArgument,
                path + ": not a JSON " +
                    (list ? "list of sop.v1.Scenario" : "sop.v1.EvaluateScenariosRequest") + ": " +
                    std::string(parsed.message()));
  }
  return request;
}

void PrintSideBySide(const CommandContext& context,
                     const sop::v1::EvaluateScenariosResponse& response) {
  std::vector<const sop::v1::ScenarioKpis*> columns{&response.base()};
  for (const auto& s : response.scenarios()) columns.push_back(&s);
  std::vector<std::string> header{"KPI"};
  for (const auto* c : columns) header.push_back(c->name());

  using Getter = std::function<std::string(const sop::v1::ScenarioKpis&)>;
  const std::vector<std::pair<std::string, Getter>> kpis = {
      {"fill rate %", [](const auto& k) { return Fixed(k.fill_rate() * 100.0, 1); }},
      {"units short", [](const auto& k) { return Fixed(k.units_short(), 0); }},
      {"revenue short", [](const auto& k) { return Fixed(k.revenue_short(), 0); }},
      {"load h", [](const auto& k) { return Fixed(k.load_hours(), 0); }},
      {"overload h", [](const auto& k) { return Fixed(k.overload_hours(), 1); }},
      {"unresolved overload h",
       [](const auto& k) { return Fixed(k.unresolved_overload_hours(), 1); }},
      {"overtime cost", [](const auto& k) { return Fixed(k.overtime_cost(), 0); }},
      {"subcontract cost", [](const auto& k) { return Fixed(k.subcontract_cost(), 0); }},
      {"added capacity cost", [](const auto& k) { return Fixed(k.extra_capacity_cost(), 0); }},
      {"step subcontract cost", [](const auto& k) { return Fixed(k.step_subcontract_cost(), 0); }},
      {"move cost", [](const auto& k) { return Fixed(k.move_cost(), 0); }},
      {"avg inventory value", [](const auto& k) { return Fixed(k.average_inventory_value(), 0); }},
      {"working capital", [](const auto& k) { return Fixed(k.working_capital(), 0); }},
      {"revenue", [](const auto& k) { return Fixed(k.revenue(), 0); }},
      {"gross margin", [](const auto& k) { return Fixed(k.gross_margin(), 0); }},
      {"exceptions", [](const auto& k) { return std::to_string(k.exception_count()); }},
      {"exceptions appearing",
       [](const auto& k) { return std::to_string(k.exceptions_added_size()); }},
      {"exceptions disappearing",
       [](const auto& k) { return std::to_string(k.exceptions_removed_size()); }},
  };
  std::vector<std::vector<std::string>> rows;
  for (const auto& [label, get] : kpis) {
    std::vector<std::string> row{label};
    for (const auto* c : columns) row.push_back(get(*c));
    rows.push_back(std::move(row));
  }
  PrintTable(context.out, header, rows);
  context.out << "\n";
  std::vector<std::vector<std::string>> described;
  for (const auto* c : columns) described.push_back({c->name(), c->description()});
  PrintTable(context.out, {"SCENARIO", "WHAT"}, described);
  context.out << "(evaluated in " << Fixed(response.seconds(), 2) << " s)\n";
}

int Run(CommandContext& context) {
  std::string path;
  std::string site;
  for (std::size_t i = 0; i < context.args.size(); ++i) {
    const std::string& arg = context.args[i];
    if (arg == "--json") {
      context.json = true;
    } else if (arg == "--site" && i + 1 < context.args.size()) {
      site = context.args[++i];
    } else if (!arg.starts_with("--") && path.empty()) {
      path = arg;
    } else {
      context.err << "sopctl scenarios: unexpected argument '" << arg << "'\nusage: " << kUsage
                  << "\n";
      return kExitUsage;
    }
  }
  if (path.empty()) {
    context.err << "usage: " << kUsage << "\n";
    return kExitUsage;
  }
  auto request = ReadRequest(path);
  if (!request) return context.Failed(kName, request.error().message());
  if (!site.empty()) request->set_site_id(site);

  auto stub = sop::v1::Capacity::NewStub(context.Channel("capacity"));
  grpc::ClientContext call;
  call.set_deadline(context.Deadline());
  sop::v1::EvaluateScenariosResponse response;
  const grpc::Status status = stub->EvaluateScenarios(&call, *request, &response);
  if (!status.ok()) {
    return context.Failed(kName, "EvaluateScenarios at " + context.services.at("capacity").address +
                                     " failed: " + status.error_message());
  }
  if (context.json) {
    return PrintJson(context, kName, response);
  }
  PrintSideBySide(context, response);
  return kExitOk;
}

const CommandRegistrar kRegistered{
    Command{.name = std::string(kName),
            .summary = "evaluate scenarios (a JSON list; empty = the seed scenarios) side by side",
            .usage = std::string(kUsage),
            .run = Run}};

}  // namespace
}  // namespace sop::sopctl
