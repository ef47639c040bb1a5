// sopctl change-request list|create|approve|reject: demand/supply changes inside the frozen
// fence, which reach planning only once a supply lead approves them.

#include <grpcpp/grpcpp.h>

#include <charconv>
#include <cstdio>
#include <ostream>

#include "workflow_client.hpp"

namespace sop::sopctl {
namespace {

using namespace workflow_client;
constexpr std::string_view kName = "change-request";
constexpr const char* kUsage =
    "usage: sopctl change-request list [--cycle ID] [--status pending|approved|rejected]\n"
    "       sopctl change-request create CYCLE --kind demand|supply --item I --site S\n"
    "                                     --period-start YYYY-MM-DD --delta Q --reason TEXT\n"
    "       sopctl change-request approve ID [--reason TEXT]\n"
    "       sopctl change-request reject ID --reason TEXT\n"
    "  (with --token TOKEN or SOPCTL_TOKEN, --workflow HOST:PORT or SOPCTL_WORKFLOW)\n";

int Usage(CommandContext& context, std::string_view problem) {
  context.err << "sopctl change-request: " << problem << "\n" << kUsage;
  return kExitUsage;
}

void Print(CommandContext& context, const std::vector<sop::v1::ChangeRequest>& requests) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : requests) {
    char delta[32];
    std::snprintf(delta, sizeof delta, "%+g", r.quantity_delta());
    rows.push_back(
        {r.id(), Trimmed(sop::v1::ChangeRequestKind_Name(r.kind()), "CHANGE_REQUEST_KIND_"),
         r.item_id() + "@" + r.site_id(), r.period_start(), delta,
         Trimmed(sop::v1::ChangeRequestStatus_Name(r.status()), "CHANGE_REQUEST_STATUS_"),
         r.requested_by(), r.decided_by(), r.reason()});
  }
  PrintTable(context.out,
             {"ID", "KIND", "ITEM@SITE", "FROM", "DELTA", "STATUS", "BY", "DECIDED_BY", "REASON"},
             rows);
}

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
  if (!problem.empty()) return Usage(context, problem);
  if (words.empty()) return Usage(context, "missing subcommand");
  const auto flag = [&](const std::string& name) {
    auto found = flags.find(name);
    return found == flags.end() ? std::string() : found->second;
  };
  auto stub = Stub(options);
  grpc::ClientContext call;
  Prepare(call, context, options);
  const std::string& sub = words[0];
  grpc::Status status;
  if (sub == "list" && words.size() == 1) {
    sop::v1::ListChangeRequestsRequest request;
    request.set_cycle_id(flag("cycle"));
    if (!flag("status").empty()) {
      std::string upper = "CHANGE_REQUEST_STATUS_";
      for (char c : flag("status")) upper.push_back(static_cast<char>(std::toupper(c)));
      sop::v1::ChangeRequestStatus wanted{};
      if (!sop::v1::ChangeRequestStatus_Parse(upper, &wanted)) {
        return Usage(context, "--status: must be pending, approved or rejected, got '" +
                                  flag("status") + "'");
      }
      request.set_status(wanted);
    }
    sop::v1::ListChangeRequestsResponse response;
    status = stub->ListChangeRequests(&call, request, &response);
    if (status.ok()) {
      if (context.json) {
        context.out << Json(response) << "\n";
      } else {
        Print(context, {response.change_requests().begin(), response.change_requests().end()});
      }
      return kExitOk;
    }
  } else if (sub == "create" && words.size() == 2) {
    sop::v1::CreateChangeRequestRequest request;
    request.set_cycle_id(words[1]);
    request.set_kind(flag("kind") == "demand"   ? sop::v1::CHANGE_REQUEST_KIND_DEMAND
                     : flag("kind") == "supply" ? sop::v1::CHANGE_REQUEST_KIND_SUPPLY
                                                : sop::v1::CHANGE_REQUEST_KIND_UNSPECIFIED);
    request.set_item_id(flag("item"));
    request.set_site_id(flag("site"));
    request.set_period_start(flag("period-start"));
    double delta = 0;
    const std::string text = flag("delta");
    if (std::from_chars(text.data(), text.data() + text.size(), delta).ec != std::errc()) {
      return Usage(context, "--delta: must be a number, got '" + text + "'");
    }
    request.set_quantity_delta(delta);
    request.set_reason(flag("reason"));
    sop::v1::ChangeRequestResponse response;
    status = stub->CreateChangeRequest(&call, request, &response);
    if (status.ok()) {
      if (context.json) {
        context.out << Json(response.change_request()) << "\n";
      } else {
        Print(context, {response.change_request()});
      }
      return kExitOk;
    }
  } else if ((sub == "approve" || sub == "reject") && words.size() == 2) {
    sop::v1::DecideChangeRequestRequest request;
    request.set_id(words[1]);
    request.set_reason(flag("reason"));
    sop::v1::ChangeRequestResponse response;
    status = sub == "approve" ? stub->ApproveChangeRequest(&call, request, &response)
                              : stub->RejectChangeRequest(&call, request, &response);
    if (status.ok()) {
      if (context.json) {
        context.out << Json(response.change_request()) << "\n";
      } else {
        Print(context, {response.change_request()});
      }
      return kExitOk;
    }
  } else {
    return Usage(context, "unexpected arguments for '" + sub + "'");
  }
  return context.Failed(kName, sub + " at " + options.address + ": " + status.error_message());
}

const CommandRegistrar kRegistered{
    Command{.name = std::string(kName),
            .summary = "change requests inside the frozen fence: list, create, approve, reject",
            .usage = "sopctl change-request list|create|approve|reject",
            .run = Run}};

}  // namespace
}  // namespace sop::sopctl
