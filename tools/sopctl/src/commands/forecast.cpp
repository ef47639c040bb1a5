// sopctl forecast ITEM SITE: the forecast layers side by side per bucket with each layer's owner
// and the model behind the statistical layer (Forecasting.GetForecast); --by-customer adds the
// customer/channel split (each row's share and its layers summed over the horizon).

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "sop/sopctl/command.hpp"
#include "sop/v1/forecasting.grpc.pb.h"

namespace sop::sopctl {
namespace {

constexpr std::string_view kName = "forecast";
constexpr std::string_view kUsage = "sopctl forecast ITEM SITE [--by-customer] [--json]";

std::string Date(const google::protobuf::Timestamp& at) {
  return google::protobuf::util::TimeUtil::ToString(at).substr(0, 10);
}

int Run(CommandContext& context) {
  sop::v1::GetForecastRequest request;
  for (const std::string& arg : context.args) {
    if (arg == "--json") {
      context.json = true;
    } else if (arg == "--by-customer") {
      request.set_split_by_customer(true);
    } else if (!arg.starts_with("--") && request.item_id().empty()) {
      request.set_item_id(arg);
    } else if (!arg.starts_with("--") && request.site_id().empty()) {
      request.set_site_id(arg);
    } else {
      context.err << "sopctl forecast: unexpected argument '" << arg << "'\nusage: " << kUsage
                  << "\n";
      return kExitUsage;
    }
  }
  if (request.item_id().empty() || request.site_id().empty()) {
    context.err << "sopctl forecast: ITEM and SITE are required\nusage: " << kUsage << "\n";
    return kExitUsage;
  }

  auto stub = sop::v1::Forecasting::NewStub(context.Channel("forecasting"));
  grpc::ClientContext call;
  call.set_deadline(context.Deadline());
  sop::v1::GetForecastResponse response;
  const grpc::Status status = stub->GetForecast(&call, request, &response);
  if (!status.ok()) {
    return context.Failed(kName, "GetForecast at " + context.services.at("forecasting").address +
                                     " failed: " + StatusText(status));
  }

  if (context.json) {
    return PrintJson(context, kName, response);
  }

  const sop::v1::ForecastUpdate& forecast = response.forecast();
  context.out << "forecast of " << forecast.item_id() << " at " << forecast.site_id() << ", family "
              << (forecast.family().empty() ? "-" : forecast.family());
  if (forecast.has_generated_at()) {
    context.out << ", generated "
                << google::protobuf::util::TimeUtil::ToString(forecast.generated_at());
  }
  context.out << "\n";

  if (forecast.has_model() && !forecast.model().name().empty()) {
    const sop::v1::ForecastModel& model = forecast.model();
    std::string demand_class = sop::v1::DemandClass_Name(model.demand_class());
    if (demand_class.starts_with("DEMAND_CLASS_")) demand_class.erase(0, 13);
    context.out << "model " << model.name() << " (" << demand_class
                << (model.seasonal() ? ", seasonal" : ", not seasonal") << ")\n";
    // The map's order is unspecified: sort for a stable line.
    const std::map<std::string, double> parameters(model.parameters().begin(),
                                                   model.parameters().end());
    if (!parameters.empty()) {
      context.out << "parameters:";
      for (const auto& [name, value] : parameters) {
        char text[32];
        std::snprintf(text, sizeof text, "=%.4g", value);
        context.out << " " << name << text;
      }
      context.out << "\n";
    }
    if (!model.selection_reason().empty())
      context.out << "why: " << model.selection_reason() << "\n";
    if (!model.outlier_periods().empty()) {
      context.out << "outlier history periods (kept):";
      for (const int period : model.outlier_periods()) context.out << " " << period;
      context.out << "\n";
    }
  } else {
    context.out << "model: none yet\n";
  }

  // Each layer's owner: the last person who changed it ("-" when nobody has).
  std::map<sop::v1::ForecastLayer, std::string> owners;
  for (const auto& owner : response.owners()) {
    std::string text = owner.owner().empty() ? std::string("-") : owner.owner();
    if (owner.has_changed_at()) text += " (" + Date(owner.changed_at()) + ")";
    owners[owner.layer()] = text;
  }
  const auto owner_of = [&](sop::v1::ForecastLayer layer) {
    const auto it = owners.find(layer);
    return it == owners.end() ? std::string("-") : it->second;
  };
  context.out << "owners: statistical " << owner_of(sop::v1::FORECAST_LAYER_STATISTICAL)
              << ", sales " << owner_of(sop::v1::FORECAST_LAYER_SALES) << ", marketing "
              << owner_of(sop::v1::FORECAST_LAYER_MARKETING) << ", consensus "
              << owner_of(sop::v1::FORECAST_LAYER_CONSENSUS) << "\n";

  if (forecast.periods().empty()) {
    context.out << "no forecast periods yet\n";
    return kExitOk;
  }
  const bool quantiles =
      std::any_of(forecast.periods().begin(), forecast.periods().end(),
                  [](const auto& p) { return p.p10() != 0.0 || p.p50() != 0.0 || p.p90() != 0.0; });
  std::vector<std::string> header{"BUCKET",    "PERIOD_START",  "STATISTICAL",
                                  "SALES_ADJ", "MARKETING_ADJ", "CONSENSUS"};
  if (quantiles) header.insert(header.end(), {"P10", "P50", "P90"});
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : forecast.periods()) {
    std::vector<std::string> row{
        std::to_string(p.bucket()),         p.has_period_start() ? Date(p.period_start()) : "-",
        Quantity(p.statistical()),          Quantity(p.sales_adjustment()),
        Quantity(p.marketing_adjustment()), Quantity(p.consensus())};
    if (quantiles) {
      row.insert(row.end(), {Quantity(p.p10()), Quantity(p.p50()), Quantity(p.p90())});
    }
    rows.push_back(std::move(row));
  }
  PrintTable(context.out, header, rows);
  if (request.split_by_customer()) {
    // One line per customer/channel: share of the mix window's shipments and the layers summed
    // over the horizon (the lines add up to the item-site; --json for every bucket).
    std::vector<std::vector<std::string>> split;
    std::array<double, 4> total{};
    for (const auto& row : response.customer_rows()) {
      std::array<double, 4> sums{};
      for (const auto& p : row.periods()) {
        sums[0] += p.statistical();
        sums[1] += p.sales_adjustment();
        sums[2] += p.marketing_adjustment();
        sums[3] += p.consensus();
      }
      for (std::size_t i = 0; i < sums.size(); ++i) total[i] += sums[i];
      char share[16];
      std::snprintf(share, sizeof share, "%.1f%%", 100.0 * row.share());
      split.push_back({row.customer_id(), row.channel().empty() ? "-" : row.channel(), share,
                       Quantity(row.window_quantity()), Quantity(sums[0]), Quantity(sums[1]),
                       Quantity(sums[2]), Quantity(sums[3])});
    }
    split.push_back({"total", "", "", "", Quantity(total[0]), Quantity(total[1]),
                     Quantity(total[2]), Quantity(total[3])});
    context.out << "by customer/channel (mix of the " << response.mix_window_days()
                << " days before the plan start; layers summed over " << forecast.periods_size()
                << " buckets):\n";
    PrintTable(context.out,
               {"CUSTOMER", "CHANNEL", "SHARE", "SHIPPED", "STATISTICAL", "SALES_ADJ",
                "MARKETING_ADJ", "CONSENSUS"},
               split);
  }
  context.out << response.history_size() << " adjustment(s) recorded, "
              << response.history_actuals_size() << " history bucket(s) seen by the model"
              << (response.history().empty() ? "" : " (--json for the adjustment history)") << "\n";
  return kExitOk;
}

const CommandRegistrar kRegistered{Command{
    .name = std::string(kName),
    .summary = "statistical, sales, marketing and consensus forecast per bucket, with owners "
               "(--by-customer: the customer/channel split)",
    .usage = std::string(kUsage),
    .run = Run}};

}  // namespace
}  // namespace sop::sopctl
