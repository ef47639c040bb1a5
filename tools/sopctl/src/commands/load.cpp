// sopctl load SITE: rough-cut load per work center and bucket (Capacity.GetLoad).

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <ostream>

#include "sop/sopctl/command.hpp"
#include "sop/v1/capacity.grpc.pb.h"

namespace sop::sopctl {
namespace {

constexpr std::string_view kName = "load";
constexpr std::string_view kUsage =
    "sopctl load SITE [--wc WORK_CENTER] [--from BUCKET] [--to BUCKET] [--json]";
// Bucket columns shown in the table when --to is not given (a quarter of weeks); --json and
// an explicit --to show the whole window.
constexpr int kTableBuckets = 13;

std::string Hours(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f", value);
  return buffer;
}

// "85%" or, overloaded, "130%!"; "-" for an empty cell, "inf!" for load without capacity.
std::string Cell(double load, double capacity, double overload, double utilization) {
  if (load <= 0.0 && capacity <= 0.0) return "-";
  std::string text =
      std::isfinite(utilization)
          ? std::to_string(static_cast<long long>(std::lround(utilization * 100.0))) + "%"
          : std::string("inf");
  if (overload > 1e-9 * std::max(1.0, capacity)) text += "!";
  return text;
}

bool ParseBucket(const std::string& value, int& out) {
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  return ec == std::errc() && end == value.data() + value.size() && out >= 0;
}

int Run(CommandContext& context) {
  sop::v1::GetLoadRequest request;
  bool to_given = false;
  for (std::size_t i = 0; i < context.args.size(); ++i) {
    const std::string& arg = context.args[i];
    const bool has_value = i + 1 < context.args.size();
    if (arg == "--json") {
      context.json = true;
    } else if (arg == "--wc" && has_value) {
      request.set_work_center_id(context.args[++i]);
    } else if ((arg == "--from" || arg == "--to") && has_value) {
      const std::string& value = context.args[++i];
      int bucket = 0;
      if (!ParseBucket(value, bucket)) {
        context.err << "sopctl load: " << arg << ": must be a bucket number >= 0, got '" << value
                    << "'\n";
        return kExitUsage;
      }
      if (arg == "--from") {
        request.set_from_bucket(bucket);
      } else {
        request.set_to_bucket(bucket);
        to_given = true;
      }
    } else if (!arg.starts_with("--") && request.site_id().empty()) {
      request.set_site_id(arg);
    } else {
      context.err << "sopctl load: unexpected argument '" << arg << "'\nusage: " << kUsage << "\n";
      return kExitUsage;
    }
  }
  if (request.site_id().empty()) {
    context.err << "usage: " << kUsage << "\n";
    return kExitUsage;
  }
  if (to_given && request.to_bucket() <= request.from_bucket()) {
    context.err << "sopctl load: --to: must be greater than --from (" << request.from_bucket()
                << "), got '" << request.to_bucket() << "'\n";
    return kExitUsage;
  }

  auto stub = sop::v1::Capacity::NewStub(context.Channel("capacity"));
  grpc::ClientContext call;
  call.set_deadline(context.Deadline());
  sop::v1::GetLoadResponse response;
  const grpc::Status status = stub->GetLoad(&call, request, &response);
  if (!status.ok()) {
    return context.Failed(kName, "GetLoad at " + context.services.at("capacity").address +
                                     " failed: " + status.error_message());
  }

  if (context.json) {
    return PrintJson(context, kName, response);
  }

  if (response.work_centers().empty()) {
    context.out << "site " << request.site_id() << " has no work centers (plan version "
                << response.plan_version() << ")\n";
    return kExitOk;
  }
  const auto& first = response.work_centers(0);
  const int from = first.from_bucket();
  const int available = first.load_hours_size();
  const int shown = to_given ? available : std::min(available, kTableBuckets);

  context.out << "site " << request.site_id() << ", plan version " << response.plan_version()
              << ", buckets " << from << ".." << (from + shown - 1) << " of " << response.horizon()
              << " (utilization; ! = overloaded)\n";
  std::vector<std::string> header{"WORK_CENTER", "NAME"};
  for (int t = 0; t < shown; ++t) header.push_back("B" + std::to_string(from + t));
  std::vector<std::vector<std::string>> rows;
  std::vector<std::vector<std::string>> overloads;
  for (const auto& wc : response.work_centers()) {
    std::vector<std::string> row{wc.work_center_id(), wc.name()};
    for (int t = 0; t < shown; ++t) {
      row.push_back(
          Cell(wc.load_hours(t), wc.capacity_hours(t), wc.overload_hours(t), wc.utilization(t)));
    }
    rows.push_back(std::move(row));
    for (int t = 0; t < wc.load_hours_size(); ++t) {
      if (!(wc.overload_hours(t) > 1e-9 * std::max(1.0, wc.capacity_hours(t)))) continue;
      std::string top;
      if (from + t == wc.first_overloaded_bucket()) {
        for (const auto& c : wc.top_contributions()) {
          if (!top.empty()) top += ", ";
          top += c.item_id() + " " + Hours(c.hours()) + " h";
        }
      }
      overloads.push_back({wc.work_center_id(), std::to_string(from + t), Hours(wc.load_hours(t)),
                           Hours(wc.capacity_hours(t)), Hours(wc.overload_hours(t)),
                           Hours(wc.overtime_max_hours()), top});
    }
  }
  PrintTable(context.out, header, rows);
  if (shown < available) {
    context.out << "(" << (available - shown) << " more buckets: --to " << (from + available)
                << " or --json)\n";
  }
  if (overloads.empty()) {
    context.out << "\nno overloaded bucket\n";
    return kExitOk;
  }
  context.out << "\noverloaded buckets (" << overloads.size() << "):\n";
  PrintTable(context.out,
             {"WORK_CENTER", "BUCKET", "LOAD_H", "CAPACITY_H", "OVERLOAD_H", "OVERTIME_MAX_H",
              "TOP_CONTRIBUTIONS (first overloaded bucket)"},
             overloads);
  return kExitOk;
}

const CommandRegistrar kRegistered{
    Command{.name = std::string(kName),
            .summary = "rough-cut load of a site's work centers per bucket, overloads marked",
            .usage = std::string(kUsage),
            .run = Run}};

}  // namespace
}  // namespace sop::sopctl
