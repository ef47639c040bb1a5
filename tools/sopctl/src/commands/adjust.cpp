// sopctl adjust ITEM SITE --layer sales|marketing --bucket B --quantity Q --owner NAME --reason
// TEXT: a named owner's change of one forecast layer in one bucket (Forecasting.AdjustForecast),
// answered with the resulting consensus of that bucket.

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <optional>
#include <ostream>
#include <string>

#include "sop/sopctl/command.hpp"
#include "sop/v1/forecasting.grpc.pb.h"

namespace sop::sopctl {
namespace {

constexpr std::string_view kName = "adjust";
constexpr std::string_view kUsage =
    "sopctl adjust ITEM SITE --layer sales|marketing --bucket B --quantity Q --owner NAME "
    "--reason TEXT [--json]   (Q: the change, may be negative)";

std::string Signed(double value) {
  return (value >= 0.0 ? "+" : "") + Quantity(value);
}

// Full precision for scripts (the table rounds to two decimals).
std::string JsonNumber(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.17g", value);
  return buffer;
}

const sop::v1::ForecastPeriod* FindBucket(const sop::v1::ForecastUpdate& forecast, int bucket) {
  for (const auto& period : forecast.periods()) {
    if (period.bucket() == bucket) return &period;
  }
  return nullptr;
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) return "null";
  return json;
}

int Usage(CommandContext& context, std::string_view message) {
  context.err << "sopctl adjust: " << message << "\nusage: " << kUsage << "\n";
  return kExitUsage;
}

int Run(CommandContext& context) {
  std::string item;
  std::string site;
  std::optional<sop::v1::ForecastLayer> layer;
  std::optional<int> bucket;
  std::optional<double> quantity;
  std::string owner;
  std::string reason;
  for (std::size_t i = 0; i < context.args.size(); ++i) {
    const std::string& arg = context.args[i];
    const bool has_value = i + 1 < context.args.size();
    if (arg == "--json") {
      context.json = true;
    } else if (arg == "--layer" && has_value) {
      const std::string& value = context.args[++i];
      if (value == "sales") {
        layer = sop::v1::FORECAST_LAYER_SALES;
      } else if (value == "marketing") {
        layer = sop::v1::FORECAST_LAYER_MARKETING;
      } else {
        return Usage(context, "--layer: must be sales or marketing, got '" + value + "'");
      }
    } else if (arg == "--bucket" && has_value) {
      const std::string& value = context.args[++i];
      int parsed = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
      if (ec != std::errc() || end != value.data() + value.size() || parsed < 0) {
        return Usage(context, "--bucket: must be a bucket number >= 0, got '" + value + "'");
      }
      bucket = parsed;
    } else if (arg == "--quantity" && has_value) {
      const std::string& value = context.args[++i];
      double parsed = 0.0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
      if (ec != std::errc() || end != value.data() + value.size() || !std::isfinite(parsed)) {
        return Usage(context, "--quantity: must be a finite number, got '" + value + "'");
      }
      quantity = parsed;
    } else if (arg == "--owner" && has_value) {
      owner = context.args[++i];
      if (owner.empty()) return Usage(context, "--owner: must not be empty, got ''");
    } else if (arg == "--reason" && has_value) {
      reason = context.args[++i];
      if (reason.empty()) return Usage(context, "--reason: must not be empty, got ''");
    } else if (!arg.starts_with("--") && item.empty()) {
      item = arg;
    } else if (!arg.starts_with("--") && site.empty()) {
      site = arg;
    } else {
      return Usage(context, "unexpected argument '" + arg + "'");
    }
  }
  if (item.empty() || site.empty()) return Usage(context, "ITEM and SITE are required");
  if (!layer) return Usage(context, "--layer is required");
  if (!bucket) return Usage(context, "--bucket is required");
  if (!quantity) return Usage(context, "--quantity is required");
  if (owner.empty()) return Usage(context, "--owner is required");
  if (reason.empty()) return Usage(context, "--reason is required");

  auto stub = sop::v1::Forecasting::NewStub(context.Channel("forecasting"));
  const std::string& address = context.services.at("forecasting").address;

  // The service takes the period's start date: read the forecast to find bucket B's start (and
  // its consensus before the change).
  sop::v1::GetForecastRequest get;
  get.set_item_id(item);
  get.set_site_id(site);
  sop::v1::GetForecastResponse before;
  {
    grpc::ClientContext call;
    call.set_deadline(context.Deadline());
    const grpc::Status status = stub->GetForecast(&call, get, &before);
    if (!status.ok()) {
      return context.Failed(kName, "GetForecast at " + address + " failed: " + StatusText(status));
    }
  }
  const sop::v1::ForecastPeriod* period = FindBucket(before.forecast(), *bucket);
  if (period == nullptr || !period->has_period_start()) {
    const auto& periods = before.forecast().periods();
    return Usage(context, "--bucket: " + item + " at " + site +
                              (periods.empty()
                                   ? std::string(" has no forecast buckets yet")
                                   : " has buckets " + std::to_string(periods.begin()->bucket()) +
                                         ".." + std::to_string(periods.rbegin()->bucket())) +
                              ", got '" + std::to_string(*bucket) + "'");
  }
  const double consensus_before = period->consensus();

  sop::v1::AdjustForecastRequest request;
  sop::v1::ForecastAdjustment& adjustment = *request.mutable_adjustment();
  adjustment.set_item_id(item);
  adjustment.set_site_id(site);
  adjustment.set_layer(*layer);
  *adjustment.mutable_period_start() = period->period_start();
  adjustment.set_quantity_delta(*quantity);
  adjustment.set_owner(owner);
  adjustment.set_reason(reason);

  sop::v1::AdjustForecastResponse response;
  {
    grpc::ClientContext call;
    call.set_deadline(context.Deadline());
    const grpc::Status status = stub->AdjustForecast(&call, request, &response);
    if (!status.ok()) {
      return context.Failed(kName,
                            "AdjustForecast at " + address + " failed: " + StatusText(status));
    }
  }
  const sop::v1::AdjustmentRecord& recorded = response.recorded();
  const sop::v1::ForecastPeriod* after = FindBucket(response.forecast(), recorded.bucket());

  if (context.json) {
    context.out << "{\"recorded\":" << ToJson(recorded)
                << ",\"consensus_before\":" << JsonNumber(consensus_before)
                << ",\"period\":" << (after == nullptr ? std::string("null") : ToJson(*after))
                << "}\n";
    return kExitOk;
  }
  std::string layer_name = sop::v1::ForecastLayer_Name(recorded.layer());
  if (layer_name.starts_with("FORECAST_LAYER_")) layer_name.erase(0, 15);
  context.out << "recorded " << recorded.adjustment_id() << ": " << layer_name << " "
              << Signed(recorded.quantity_delta()) << " in bucket " << recorded.bucket() << " ("
              << google::protobuf::util::TimeUtil::ToString(recorded.period_start()).substr(0, 10)
              << ") by " << recorded.owner() << ": " << recorded.reason() << "\n";
  if (after == nullptr) {
    context.out << "the re-forecast does not show bucket " << recorded.bucket() << " yet\n";
    return kExitOk;
  }
  context.out << "bucket " << after->bucket() << " consensus " << Quantity(consensus_before)
              << " -> " << Quantity(after->consensus()) << " = statistical "
              << Quantity(after->statistical()) << " " << Signed(after->sales_adjustment())
              << " sales " << Signed(after->marketing_adjustment()) << " marketing";
  // Whatever the layers below do not explain is the consensus layer's own override.
  const double override_delta = after->consensus() - after->statistical() -
                                after->sales_adjustment() - after->marketing_adjustment();
  if (std::abs(override_delta) > 1e-9) context.out << " " << Signed(override_delta) << " consensus";
  context.out << "\n";
  return kExitOk;
}

const CommandRegistrar kRegistered{Command{
    .name = std::string(kName),
    .summary = "change the sales or marketing forecast of one bucket (named owner and reason)",
    .usage = std::string(kUsage),
    .run = Run}};

}  // namespace
}  // namespace sop::sopctl
