// sopctl rejected: the most recent rejected events (Ingestion.ListRejected), newest first.

#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include <charconv>
#include <ostream>

#include "sop/sopctl/command.hpp"
#include "sop/v1/ingestion.grpc.pb.h"

namespace sop::sopctl {
namespace {

constexpr std::string_view kName = "rejected";

int Run(CommandContext& context) {
  sop::v1::ListRejectedRequest request;
  request.set_page_size(50);
  for (std::size_t i = 0; i < context.args.size(); ++i) {
    const std::string& arg = context.args[i];
    const bool has_value = i + 1 < context.args.size();
    if (arg == "--site" && has_value) {
      request.set_site(context.args[++i]);
    } else if (arg == "--limit" && has_value) {
      const std::string& value = context.args[++i];
      int limit = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), limit);
      if (ec != std::errc() || end != value.data() + value.size() || limit < 1 || limit > 1000) {
        context.err << "sopctl rejected: --limit: must be in [1, 1000], got '" << value << "'\n";
        return kExitUsage;
      }
      request.set_page_size(limit);
    } else if (arg == "--page-token" && has_value) {
      request.set_page_token(context.args[++i]);
    } else {
      context.err << "sopctl rejected: unexpected argument '" << arg
                  << "'\nusage: sopctl rejected [--site SITE] [--limit N] [--page-token T]\n";
      return kExitUsage;
    }
  }
  auto stub = sop::v1::Ingestion::NewStub(context.Channel("ingestion"));
  grpc::ClientContext call;
  call.set_deadline(context.Deadline());
  sop::v1::ListRejectedResponse response;
  const grpc::Status status = stub->ListRejected(&call, request, &response);
  if (!status.ok()) {
    return context.Failed(kName, "ListRejected at " + context.services.at("ingestion").address +
                                     " failed: " + status.error_message());
  }
  using google::protobuf::util::TimeUtil;
  if (context.json) {
    context.out << "{\"rejections\":[";
    for (int i = 0; i < response.rejections_size(); ++i) {
      const auto& r = response.rejections(i);
      context.out << (i ? "," : "") << "{\"event_id\":\"" << JsonEscape(r.event_id())
                  << "\",\"site\":\"" << JsonEscape(r.site()) << "\",\"field\":\""
                  << JsonEscape(r.field()) << "\",\"reason\":\"" << JsonEscape(r.reason())
                  << "\",\"rejected_at\":\"" << TimeUtil::ToString(r.rejected_at())
                  << "\",\"source_topic\":\"" << JsonEscape(r.source_topic())
                  << "\",\"source_partition\":" << r.source_partition()
                  << ",\"source_offset\":" << r.source_offset() << "}";
    }
    context.out << "],\"next_page_token\":\"" << JsonEscape(response.next_page_token()) << "\"}\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : response.rejections()) {
    rows.push_back(
        {TimeUtil::ToString(r.rejected_at()), r.site(), r.event_id(), r.field(), r.reason()});
  }
  PrintTable(context.out, {"REJECTED_AT", "SITE", "EVENT_ID", "FIELD", "REASON"}, rows);
  if (!response.next_page_token().empty())
    context.out << "(more: --page-token " << response.next_page_token() << ")\n";
  return kExitOk;
}

const CommandRegistrar kRegistered{
    Command{.name = std::string(kName),
            .summary = "list the most recent rejected events, newest first",
            .usage = "sopctl rejected [--site SITE] [--limit N] [--page-token T]",
            .run = Run}};

}  // namespace
}  // namespace sop::sopctl
