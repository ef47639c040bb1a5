// sopctl exceptions: the ranked exceptions with why (Exceptions.ListExceptions), and
// sopctl ack ID --who NAME --why TEXT (Exceptions.Acknowledge).

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ostream>

#include "sop/sopctl/command.hpp"
#include "sop/v1/exceptions.grpc.pb.h"

namespace sop::sopctl {
namespace {

constexpr std::string_view kList = "exceptions";
constexpr std::string_view kListUsage =
    "sopctl exceptions [--top N] [--site S] [--family F] [--type T] [--severity S] [--all] "
    "[--json]";
constexpr std::string_view kAck = "ack";
constexpr std::string_view kAckUsage = "sopctl ack ID --who NAME --why TEXT [--json]";
// The explanation column is cut here in the table (--json prints it whole).
constexpr std::size_t kWhyWidth = 100;

std::string Upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  std::replace(text.begin(), text.end(), '-', '_');
  return text;
}

// "shortage", "PROJECTED_SHORTAGE" or "EXCEPTION_TYPE_PROJECTED_SHORTAGE" → the enum.
bool ParseType(const std::string& text, sop::v1::ExceptionType& type) {
  std::string name = Upper(text);
  if (name == "SHORTAGE") name = "PROJECTED_SHORTAGE";
  if (name == "SHARED_COMPONENT") name = "CONSTRAINED_COMPONENT";
  if (!name.starts_with("EXCEPTION_TYPE_")) name = "EXCEPTION_TYPE_" + name;
  return sop::v1::ExceptionType_Parse(name, &type) && type != sop::v1::EXCEPTION_TYPE_UNSPECIFIED;
}

bool ParseSeverity(const std::string& text, sop::v1::Severity& severity) {
  std::string name = Upper(text);
  if (!name.starts_with("SEVERITY_")) name = "SEVERITY_" + name;
  return sop::v1::Severity_Parse(name, &severity) && severity != sop::v1::SEVERITY_UNSPECIFIED;
}

std::string ShortType(sop::v1::ExceptionType type) {
  std::string name = sop::v1::ExceptionType_Name(type);
  if (name.starts_with("EXCEPTION_TYPE_")) name.erase(0, 15);
  return name;
}

std::string ShortSeverity(sop::v1::Severity severity) {
  std::string name = sop::v1::Severity_Name(severity);
  if (name.starts_with("SEVERITY_")) name.erase(0, 9);
  return name;
}

std::string Money(double value) {
  char text[32];
  if (std::abs(value) >= 1e6) {
    std::snprintf(text, sizeof text, "%.2f M", value / 1e6);
  } else if (std::abs(value) >= 1e3) {
    std::snprintf(text, sizeof text, "%.1f k", value / 1e3);
  } else {
    std::snprintf(text, sizeof text, "%.0f", value);
  }
  return text;
}

int RunList(CommandContext& context) {
  sop::v1::ListExceptionsRequest request;
  request.set_top(20);
  for (std::size_t i = 0; i < context.args.size(); ++i) {
    const std::string& arg = context.args[i];
    const bool has_value = i + 1 < context.args.size();
    if (arg == "--json") {
      context.json = true;
    } else if (arg == "--all") {
      request.set_include_acknowledged(true);
    } else if (arg == "--top" && has_value) {
      const std::string& value = context.args[++i];
      int top = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), top);
      if (ec != std::errc() || end != value.data() + value.size() || top < 1 || top > 1000) {
        context.err << "sopctl exceptions: --top: must be a number in [1, 1000], got '" << value
                    << "'\n";
        return kExitUsage;
      }
      request.set_top(top);
    } else if (arg == "--site" && has_value) {
      request.set_site_id(context.args[++i]);
    } else if (arg == "--family" && has_value) {
      request.set_family(context.args[++i]);
    } else if (arg == "--type" && has_value) {
      const std::string& value = context.args[++i];
      sop::v1::ExceptionType type{};
      if (!ParseType(value, type)) {
        context.err << "sopctl exceptions: --type: must be an exception type (e.g. shortage, "
                       "order_at_risk, capacity_overload), got '"
                    << value << "'\n";
        return kExitUsage;
      }
      request.add_types(type);
    } else if (arg == "--severity" && has_value) {
      const std::string& value = context.args[++i];
      sop::v1::Severity severity{};
      if (!ParseSeverity(value, severity)) {
        context.err << "sopctl exceptions: --severity: must be info, amber or red, got '" << value
                    << "'\n";
        return kExitUsage;
      }
      request.set_min_severity(severity);
    } else {
      context.err << "sopctl exceptions: unexpected argument '" << arg << "'\nusage: " << kListUsage
                  << "\n";
      return kExitUsage;
    }
  }
  request.set_page_size(request.top());

  auto stub = sop::v1::Exceptions::NewStub(context.Channel("exceptions"));
  grpc::ClientContext call;
  call.set_deadline(context.Deadline());
  sop::v1::ListExceptionsResponse response;
  const grpc::Status status = stub->ListExceptions(&call, request, &response);
  if (!status.ok()) {
    return context.Failed(kList, "ListExceptions at " + context.services.at("exceptions").address +
                                     " failed: " + status.error_message());
  }
  if (context.json) return PrintJson(context, kList, response);

  context.out << response.exceptions_size() << " of " << response.total()
              << " open exceptions (rank = position in the whole ranked list)\n";
  if (response.exceptions().empty()) return kExitOk;
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : response.exceptions()) {
    std::string why = e.explanation();
    if (why.size() > kWhyWidth) why = why.substr(0, kWhyWidth - 3) + "...";
    if (!e.acknowledged_by().empty()) why = "[ack " + e.acknowledged_by() + "] " + why;
    char score[16];
    std::snprintf(score, sizeof score, "%.3f", e.score());
    rows.push_back({std::to_string(e.rank()), ShortType(e.type()), ShortSeverity(e.severity()),
                    e.subject().empty() ? e.exception_id() : e.subject(),
                    e.first_impact_bucket() < 0 ? "-" : std::to_string(e.first_impact_bucket()),
                    Money(e.revenue_at_risk()), score, why});
  }
  PrintTable(
      context.out,
      {"RANK", "TYPE", "SEVERITY", "SUBJECT", "FIRST_BUCKET", "REVENUE_AT_RISK", "SCORE", "WHY"},
      rows);
  return kExitOk;
}

int RunAck(CommandContext& context) {
  sop::v1::AcknowledgeRequest request;
  for (std::size_t i = 0; i < context.args.size(); ++i) {
    const std::string& arg = context.args[i];
    const bool has_value = i + 1 < context.args.size();
    if (arg == "--json") {
      context.json = true;
    } else if (arg == "--who" && has_value) {
      request.set_who(context.args[++i]);
    } else if (arg == "--why" && has_value) {
      request.set_reason(context.args[++i]);
    } else if (!arg.starts_with("--") && request.exception_id().empty()) {
      request.set_exception_id(arg);
    } else {
      context.err << "sopctl ack: unexpected argument '" << arg << "'\nusage: " << kAckUsage
                  << "\n";
      return kExitUsage;
    }
  }
  if (request.exception_id().empty() || request.who().empty()) {
    context.err << "sopctl ack: an exception id and --who are required\nusage: " << kAckUsage
                << "\n";
    return kExitUsage;
  }
  auto stub = sop::v1::Exceptions::NewStub(context.Channel("exceptions"));
  grpc::ClientContext call;
  call.set_deadline(context.Deadline());
  sop::v1::AcknowledgeResponse response;
  const grpc::Status status = stub->Acknowledge(&call, request, &response);
  if (!status.ok()) {
    return context.Failed(kAck, "Acknowledge at " + context.services.at("exceptions").address +
                                    " failed: " + status.error_message());
  }
  if (context.json) return PrintJson(context, kAck, response);
  const auto& e = response.exception();
  context.out << "acknowledged " << e.exception_id() << " by " << e.acknowledged_by();
  if (!e.acknowledge_reason().empty()) context.out << " (" << e.acknowledge_reason() << ")";
  if (e.rank() > 0) context.out << "; rank " << e.rank() << ", " << ShortSeverity(e.severity());
  context.out << "\n";
  return kExitOk;
}

const CommandRegistrar kListRegistered{Command{
    std::string(kList), "the top ranked exceptions with their score and why (default top 20)",
    std::string(kListUsage), RunList}};
const CommandRegistrar kAckRegistered{
    Command{std::string(kAck), "acknowledge an exception (who and why are kept with it)",
            std::string(kAckUsage), RunAck}};

}  // namespace
}  // namespace sop::sopctl
