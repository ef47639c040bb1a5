// sopctl audit: the workflow's append-only audit log (Workflow.ListAudit), filtered by cycle,
// principal and action, oldest first.

#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include <charconv>
#include <ostream>

#include "workflow_client.hpp"

namespace sop::sopctl {
namespace {

using namespace workflow_client;
constexpr std::string_view kName = "audit";
constexpr const char* kUsage =
    "usage: sopctl audit [--cycle ID] [--principal NAME] [--action ACTION] [--limit N]\n"
    "                    [--page-token T] [--token TOKEN] [--workflow HOST:PORT]\n";

int Run(CommandContext& context) {
  // Global --token / --workflow (or SOPCTL_TOKEN / SOPCTL_WORKFLOW) first; the command's own
  // --token / --workflow override them.
  Options options;
  options.token = context.token;
  options.address = context.services.at("workflow").address;
  std::map<std::string, std::string> flags;
  std::vector<std::string> words;
  std::string problem = ParseOptions(context.args, options);
  if (problem.empty()) problem = Flags(options.rest, flags, words);
  if (problem.empty() && !words.empty()) problem = "unexpected argument '" + words[0] + "'";
  sop::v1::ListAuditRequest request;
  for (const auto& [name, value] : flags) {
    if (name == "cycle") {
      request.set_cycle_id(value);
    } else if (name == "principal") {
      request.set_principal(value);
    } else if (name == "action") {
      request.set_action(value);
    } else if (name == "page-token") {
      request.set_page_token(value);
    } else if (name == "limit") {
      int limit = 0;
      if (std::from_chars(value.data(), value.data() + value.size(), limit).ec != std::errc() ||
          limit < 1 || limit > 1000) {
        problem = "--limit: must be in [1, 1000], got '" + value + "'";
      }
      request.set_page_size(limit);
    } else if (problem.empty()) {
      problem = "unknown option --" + name;
    }
  }
  if (!problem.empty()) {
    context.err << "sopctl audit: " << problem << "\n" << kUsage;
    return kExitUsage;
  }
  auto stub = Stub(options);
  grpc::ClientContext call;
  Prepare(call, context, options);
  sop::v1::ListAuditResponse response;
  const auto status = stub->ListAudit(&call, request, &response);
  if (!status.ok()) {
    return context.Failed(kName, "ListAudit at " + options.address + ": " + status.error_message());
  }
  if (context.json) {
    context.out << Json(response) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& entry : response.entries()) {
    rows.push_back({std::to_string(entry.index()),
                    google::protobuf::util::TimeUtil::ToString(entry.at()),
                    entry.principal().empty() ? "(unauthenticated)" : entry.principal(),
                    entry.action(), entry.cycle_id(), entry.outcome(), entry.detail()});
  }
  PrintTable(context.out, {"#", "AT", "PRINCIPAL", "ACTION", "CYCLE", "OUTCOME", "DETAIL"}, rows);
  if (!response.next_page_token().empty()) {
    context.out << "(more: --page-token " << response.next_page_token() << ")\n";
  }
  return kExitOk;
}

const CommandRegistrar kRegistered{
    Command{.name = std::string(kName),
            .summary = "the workflow audit log (every action, refused ones too)",
            .usage = "sopctl audit [--cycle ID] [--principal NAME] [--action ACTION] [--limit N]",
            .run = Run}};

}  // namespace
}  // namespace sop::sopctl
