#include "sop/workflow/assembler.hpp"

#include <grpcpp/client_context.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <set>

#include "sop/auth/grpc_auth.hpp"
#include "sop/runtime/grpc_status.hpp"
#include "sop/v1/capacity.grpc.pb.h"
#include "sop/v1/exceptions.grpc.pb.h"
#include "sop/v1/forecasting.grpc.pb.h"
#include "sop/v1/mrp.grpc.pb.h"
#include "sop/workflow/codec.hpp"

namespace sop::workflow {
namespace {

std::string Number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", value);
  std::string text(buffer);
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text == "-0" ? "0" : text;
}

std::string Month(const google::protobuf::Timestamp& at) {
  const Date date{std::chrono::floor<std::chrono::days>(FromProto(at))};
  return FormatDate(date).substr(0, 7);
}

void Prepare(grpc::ClientContext& context, const ArtifactSources& sources) {
  context.set_deadline(std::chrono::system_clock::now() + sources.deadline);
  auth::AttachBearer(context, sources.token);
}

std::string Unavailable(std::string_view source, const grpc::Status& status) {
  return std::string(source) + ": " + runtime::FromGrpcStatus(status).ToString();
}

/// Mrp gaps, or the reason they are missing (appended to the document).
std::vector<sop::v1::SupplyGap> SupplyGaps(const ArtifactSources& sources,
                                           const AssemblyScope& scope, ArtifactDocument& doc) {
  if (!sources.mrp) {
    doc.unavailable_sources.push_back("mrp: not configured (workflow.mrp-address)");
    return {};
  }
  auto stub = sop::v1::Mrp::NewStub(sources.mrp);
  grpc::ClientContext context;
  Prepare(context, sources);
  sop::v1::GetSupplyPlanRequest request;
  request.set_site_id(scope.site_id);
  sop::v1::GetSupplyPlanResponse response;
  const auto status = stub->GetSupplyPlan(&context, request, &response);
  if (!status.ok()) {
    doc.unavailable_sources.push_back(Unavailable("mrp GetSupplyPlan", status));
    return {};
  }
  doc.notes.push_back("mrp plan_version " + std::to_string(response.plan_version()));
  return {response.gaps().begin(), response.gaps().end()};
}

/// One customer/channel line of the demand consensus (periods of the split, or summed).
struct CustomerLine {
  std::string customer;
  std::string channel;
  std::vector<sop::v1::ForecastPeriod> periods;
};

/// The split's rows, largest first: the `top` largest as they are, the rest summed into one
/// "other (k rows)" line (only when there are at least two to fold). Without a split (an older
/// forecasting service) the totals as one "(all)" line, and `missing` is set.
std::vector<CustomerLine> CustomerRows(const sop::v1::GetForecastResponse& response, int top,
                                       bool& missing) {
  std::vector<CustomerLine> lines;
  const auto& rows = response.customer_rows();
  if (rows.empty()) {
    missing = true;
    lines.push_back({"(all)",
                     "",
                     {response.forecast().periods().begin(), response.forecast().periods().end()}});
    return lines;
  }
  const int kept = rows.size() > top + 1 ? top : rows.size();
  for (int r = 0; r < kept; ++r) {
    lines.push_back({rows[r].customer_id(),
                     rows[r].channel(),
                     {rows[r].periods().begin(), rows[r].periods().end()}});
  }
  if (kept < rows.size()) {
    CustomerLine other{"other (" + std::to_string(rows.size() - kept) + " rows)",
                       "",
                       {rows[kept].periods().begin(), rows[kept].periods().end()}};
    for (int r = kept + 1; r < rows.size(); ++r) {
      for (int b = 0; b < rows[r].periods_size() && b < static_cast<int>(other.periods.size());
           ++b) {
        auto& sum = other.periods[static_cast<std::size_t>(b)];
        const auto& add = rows[r].periods(b);
        sum.set_statistical(sum.statistical() + add.statistical());
        sum.set_sales_adjustment(sum.sales_adjustment() + add.sales_adjustment());
        sum.set_marketing_adjustment(sum.marketing_adjustment() + add.marketing_adjustment());
        sum.set_consensus(sum.consensus() + add.consensus());
      }
    }
    lines.push_back(std::move(other));
  }
  return lines;
}

void DemandConsensus(const ArtifactSources& sources, const AssemblyScope& scope,
                     ArtifactDocument& doc) {
  std::vector<std::string> items = scope.item_ids;
  std::string site = scope.site_id;
  const bool inferred = items.empty();
  std::string without_forecast;
  if (inferred) {
    std::set<std::string> from_gaps;
    for (const auto& gap : SupplyGaps(sources, scope, doc)) {
      for (const auto& item : gap.items()) from_gaps.insert(item);
      if (site.empty()) site = gap.site_id();
    }
    items.assign(from_gaps.begin(), from_gaps.end());
    if (items.size() > 20) items.resize(20);
    doc.notes.push_back("SKUs: the items of the supply gaps (request item_ids to choose)");
  }
  ArtifactTable consensus{"consensus",
                          {"item", "site", "customer", "channel", "month", "statistical", "sales",
                           "marketing", "consensus"},
                          {}};
  ArtifactTable owners{"owners", {"item", "site", "layer", "owner"}, {}};
  bool split_missing = false;
  if (!sources.forecasting) {
    doc.unavailable_sources.push_back("forecasting: not configured (workflow.forecasting-address)");
  } else {
    auto stub = sop::v1::Forecasting::NewStub(sources.forecasting);
    for (const auto& item : items) {
      grpc::ClientContext context;
      Prepare(context, sources);
      sop::v1::GetForecastRequest request;
      request.set_item_id(item);
      request.set_site_id(site);
      request.set_split_by_customer(true);
      sop::v1::GetForecastResponse response;
      const auto status = stub->GetForecast(&context, request, &response);
      if (!status.ok() && inferred &&
          status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
        // A gap item without a forecast of its own is a component (its demand is dependent).
        without_forecast += (without_forecast.empty() ? "" : " ") + item;
        continue;
      }
      if (!status.ok()) {
        doc.unavailable_sources.push_back(
            Unavailable("forecasting GetForecast " + item + "@" + site, status));
        continue;
      }
      // The first `months` calendar months of the item-site's horizon.
      std::vector<std::string> months;
      for (const auto& period : response.forecast().periods()) {
        const std::string month = Month(period.period_start());
        if (std::find(months.begin(), months.end(), month) != months.end()) continue;
        if (static_cast<int>(months.size()) >= scope.months) break;
        months.push_back(month);
      }
      for (const auto& row : CustomerRows(response, scope.customers_per_sku, split_missing)) {
        // Weekly (or daily) buckets summed per calendar month.
        std::map<std::string, std::array<double, 4>> by_month;
        for (const auto& period : row.periods) {
          const std::string month = Month(period.period_start());
          if (std::find(months.begin(), months.end(), month) == months.end()) continue;
          auto& sums = by_month[month];
          sums[0] += period.statistical();
          sums[1] += period.sales_adjustment();
          sums[2] += period.marketing_adjustment();
          sums[3] += period.consensus();
        }
        for (const auto& month : months) {
          const auto& sums = by_month[month];
          consensus.rows.push_back({item, site, row.customer, row.channel, month, Number(sums[0]),
                                    Number(sums[1]), Number(sums[2]), Number(sums[3])});
        }
      }
      for (const auto& owner : response.owners()) {
        owners.rows.push_back(
            {item, site, sop::v1::ForecastLayer_Name(owner.layer()), owner.owner()});
      }
    }
  }
  if (!without_forecast.empty()) {
    doc.notes.push_back("gap items without an independent forecast (components): " +
                        without_forecast);
  }
  doc.notes.push_back(
      "customer/channel: the item-site's forecast split by the mix of its shipments in the 52 "
      "weeks before the plan start; adjustments naming a customer/channel on its row, the others "
      "spread by share; per SKU the " +
      std::to_string(scope.customers_per_sku) +
      " largest customer/channel rows by volume, the rest summed into 'other'; the rows of a SKU "
      "and month add up to its totals");
  if (split_missing) {
    doc.notes.push_back(
        "forecasting answered without a customer/channel split for some SKUs: their rows are the "
        "item-site totals under customer '(all)'");
  }
  doc.tables.push_back(std::move(consensus));
  doc.tables.push_back(std::move(owners));
}

ArtifactTable GapTable(const std::vector<sop::v1::SupplyGap>& gaps) {
  ArtifactTable table{
      "gaps", {"family", "site", "bucket", "demand", "shortage", "revenue_at_risk", "items"}, {}};
  for (const auto& gap : gaps) {
    std::string items;
    for (const auto& item : gap.items()) items += (items.empty() ? "" : " ") + item;
    table.rows.push_back({gap.family(), gap.site_id(), std::to_string(gap.bucket()),
                          Number(gap.demand()), Number(gap.shortage_quantity()),
                          Number(gap.revenue_at_risk()), items});
  }
  return table;
}

void Reconciliation(const ArtifactSources& sources, const AssemblyScope& scope,
                    ArtifactDocument& doc) {
  auto gaps = SupplyGaps(sources, scope, doc);
  std::stable_sort(gaps.begin(), gaps.end(), [](const auto& a, const auto& b) {
    return a.revenue_at_risk() > b.revenue_at_risk();
  });
  if (static_cast<int>(gaps.size()) > scope.top_gaps) gaps.resize(scope.top_gaps);
  doc.tables.push_back(GapTable(gaps));

  // Options per gap: the capacity service evaluates each against the base plan.
  sop::v1::EvaluateScenariosRequest request;
  request.set_site_id(scope.site_id);
  for (std::size_t i = 0; i < gaps.size(); ++i) {
    const std::string id = "T" + std::to_string(i + 1);
    auto* cut = request.add_scenarios();
    cut->set_name(id + " reduce demand 10%");
    auto* multiplier = cut->add_overrides()->mutable_demand_multiplier();
    multiplier->set_family(gaps[i].family());
    multiplier->set_site_id(gaps[i].site_id());
    multiplier->set_multiplier(0.9);
    auto* stock = request.add_scenarios();
    stock->set_name(id + " halve safety stock");
    auto* policy = stock->add_overrides()->mutable_safety_stock_policy();
    policy->set_family(gaps[i].family());
    policy->set_site_id(gaps[i].site_id());
    policy->set_multiplier(0.5);
  }
  ArtifactTable impact{"options",
                       {"scenario", "fill_rate", "revenue_short", "overtime_cost",
                        "subcontract_cost", "working_capital", "gross_margin"},
                       {}};
  bool evaluated = false;
  if (gaps.empty()) {
    // nothing to evaluate
  } else if (!sources.capacity) {
    doc.unavailable_sources.push_back("capacity: not configured (workflow.capacity-address)");
  } else {
    auto stub = sop::v1::Capacity::NewStub(sources.capacity);
    grpc::ClientContext context;
    Prepare(context, sources);
    sop::v1::EvaluateScenariosResponse response;
    const auto status = stub->EvaluateScenarios(&context, request, &response);
    if (!status.ok()) {
      doc.unavailable_sources.push_back(Unavailable("capacity EvaluateScenarios", status));
    } else {
      evaluated = true;
      auto row = [&](const sop::v1::ScenarioKpis& k) {
        impact.rows.push_back({k.name().empty() ? "base" : k.name(), Number(k.fill_rate()),
                               Number(k.revenue_short()), Number(k.overtime_cost()),
                               Number(k.subcontract_cost()), Number(k.working_capital()),
                               Number(k.gross_margin())});
      };
      row(response.base());
      for (const auto& scenario : response.scenarios()) row(scenario);
    }
  }
  doc.tables.push_back(std::move(impact));
  for (std::size_t i = 0; i < gaps.size(); ++i) {
    const std::string id = "T" + std::to_string(i + 1);
    // Components have no family: name the first short component instead.
    const std::string subject =
        !gaps[i].family().empty() ? gaps[i].family()
        : gaps[i].items_size() > 0
            ? "components (" + gaps[i].items(0) +
                  (gaps[i].items_size() > 1 ? " +" + std::to_string(gaps[i].items_size() - 1)
                                            : std::string()) +
                  ")"
            : std::string("components");
    TradeOff trade_off{id,
                       subject + " at " + gaps[i].site_id() + " short " +
                           Number(gaps[i].shortage_quantity()) + " in bucket " +
                           std::to_string(gaps[i].bucket()) + " (revenue at risk " +
                           Number(gaps[i].revenue_at_risk()) + ")",
                       {"accept shortfall", id + " reduce demand 10%", id + " halve safety stock"}};
    if (!evaluated) trade_off.description += " — options not evaluated (capacity unavailable)";
    doc.trade_offs.push_back(std::move(trade_off));
  }

  ArtifactTable exceptions{
      "top_exceptions",
      {"rank", "type", "severity", "subject", "revenue_at_risk", "explanation"},
      {}};
  if (!sources.exceptions) {
    doc.unavailable_sources.push_back("exceptions: not configured (workflow.exceptions-address)");
  } else {
    auto stub = sop::v1::Exceptions::NewStub(sources.exceptions);
    grpc::ClientContext context;
    Prepare(context, sources);
    sop::v1::ListExceptionsRequest list;
    list.set_site_id(scope.site_id);
    list.set_top(10);
    sop::v1::ListExceptionsResponse response;
    const auto status = stub->ListExceptions(&context, list, &response);
    if (!status.ok()) {
      doc.unavailable_sources.push_back(Unavailable("exceptions ListExceptions", status));
    } else {
      for (const auto& e : response.exceptions()) {
        exceptions.rows.push_back({std::to_string(e.rank()), sop::v1::ExceptionType_Name(e.type()),
                                   sop::v1::Severity_Name(e.severity()), e.subject(),
                                   Number(e.revenue_at_risk()), e.explanation()});
      }
    }
  }
  doc.tables.push_back(std::move(exceptions));
}

const ArtifactVersion* LatestSigned(const Cycle& cycle, Stage stage) {
  const auto& versions = cycle.StageOf(stage).versions;
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    if (it->status == ArtifactStatus::kSigned) return &*it;
  }
  return nullptr;
}

void SignedPlan(const Cycle& cycle, ArtifactDocument& doc) {
  ArtifactTable decisions{
      "decisions",
      {"trade_off", "description", "chosen_option", "owner", "due_date", "decided_by"},
      {}};
  for (const auto& trade_off : cycle.TradeOffs()) {
    const Decision* last = nullptr;
    for (const auto& d : cycle.decisions) {
      if (d.trade_off_id == trade_off.id) last = &d;
    }
    decisions.rows.push_back({trade_off.id, trade_off.description,
                              last ? last->chosen_option : "(no decision)", last ? last->owner : "",
                              last ? FormatDate(last->due_date) : "",
                              last ? last->decided_by : ""});
  }
  doc.tables.push_back(std::move(decisions));
  if (const auto* pack = LatestSigned(cycle, Stage::kPreSop)) {
    doc.notes.push_back("reconciliation pack v" + std::to_string(pack->version) + " sha256 " +
                        pack->content_sha256);
  }
}

void CommitmentLog(const Cycle& cycle, ArtifactDocument& doc) {
  ArtifactTable log{
      "commitments",
      {"commitment", "customer", "item", "quantity", "due_date", "promised_by", "promised_at"},
      {}};
  for (const auto& c : cycle.commitments) {
    log.rows.push_back({c.commitment_id, c.customer_id, c.item_id, Number(c.quantity),
                        FormatDate(c.due_date), c.promised_by, FormatTimestamp(c.promised_at)});
  }
  doc.tables.push_back(std::move(log));
  if (const auto* plan = LatestSigned(cycle, Stage::kExecutiveSop)) {
    doc.notes.push_back("against the signed plan v" + std::to_string(plan->version) + " sha256 " +
                        plan->content_sha256);
  }
}

}  // namespace

ArtifactDocument AssembleArtifact(const ArtifactSources& sources, const Cycle& cycle, Stage stage,
                                  const AssemblyScope& scope) {
  ArtifactDocument doc;
  doc.stage = stage;
  doc.cycle_id = cycle.cycle_id;
  switch (stage) {
    case Stage::kDemandReview:
      DemandConsensus(sources, scope, doc);
      break;
    case Stage::kSupplyReview:
      doc.tables.push_back(GapTable(SupplyGaps(sources, scope, doc)));
      break;
    case Stage::kPreSop:
      Reconciliation(sources, scope, doc);
      break;
    case Stage::kExecutiveSop:
      SignedPlan(cycle, doc);
      break;
    case Stage::kCommitBack:
      CommitmentLog(cycle, doc);
      break;
    case Stage::kClosed:
      break;
  }
  return doc;
}

}  // namespace sop::workflow
