#include "sop/plan_tool/plan_run.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <ostream>
#include <sstream>

#include "sop/codec/jsonl.hpp"
#include "sop/plan_tool/json_writer.hpp"

namespace sop::plan_tool {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string Date(codec::Seconds t) {
  const std::chrono::year_month_day ymd{std::chrono::floor<std::chrono::days>(t)};
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buffer;
}

const char* BucketKindName(model::BucketKind kind) {
  switch (kind) {
    case model::BucketKind::kDay: return "day";
    case model::BucketKind::kMonth: return "month";
    case model::BucketKind::kWeek: return "week";
  }
  return "week";
}

const char* ItemKindName(model::ItemKind kind) {
  switch (kind) {
    case model::ItemKind::kMake: return "MAKE";
    case model::ItemKind::kBuy: return "BUY";
    case model::ItemKind::kTransfer: return "TRANSFER";
  }
  return "BUY";
}

const char* LotRuleName(model::LotRule rule) {
  switch (rule) {
    case model::LotRule::kLotForLot: return "LOT_FOR_LOT";
    case model::LotRule::kFixedOrderQuantity: return "FIXED_ORDER_QUANTITY";
    case model::LotRule::kPeriodsOfSupply: return "PERIODS_OF_SUPPLY";
  }
  return "LOT_FOR_LOT";
}

const char* SupplyKindName(planning::SupplyKind kind) {
  switch (kind) {
    case planning::SupplyKind::kOnHand: return "on_hand";
    case planning::SupplyKind::kScheduledReceipt: return "scheduled_receipt";
    case planning::SupplyKind::kPlannedOrder: return "planned_order";
  }
  return "on_hand";
}

void WriteDemand(JsonWriter& w, const model::Snapshot& s, const planning::DemandRef& d) {
  switch (d.kind) {
    case planning::DemandKind::kSalesOrder: {
      w.Field("demand", "sales_order");
      if (d.index >= 0 && static_cast<std::size_t>(d.index) < s.sales_orders.size()) {
        const auto& so = s.sales_orders[static_cast<std::size_t>(d.index)];
        w.Field("order_id", so.id).Field("customer_id", so.customer_id).Field("priority", so.priority);
      }
      break;
    }
    case planning::DemandKind::kForecast:
      w.Field("demand", "forecast");
      if (d.item_site != model::kNoItemSite) w.Field("item_site", s.ItemSiteName(d.item_site));
      break;
    case planning::DemandKind::kDependent:
    case planning::DemandKind::kTransfer:
      w.Field("demand", d.kind == planning::DemandKind::kDependent ? "dependent" : "transfer");
      if (d.parent.item_site != model::kNoItemSite) {
        w.Field("parent", s.ItemSiteName(d.parent.item_site)).Field("parent_order", d.parent.ordinal);
      }
      break;
    case planning::DemandKind::kNegativeOnHand:
      w.Field("demand", "negative_on_hand");
      break;
  }
  w.Field("bucket", d.bucket);
}

void WriteFinding(JsonWriter& w, const model::Snapshot& s, const model::Finding& f) {
  w.BeginObject();
  w.Field("type", std::string(model::ToString(f.type)));
  if (f.item_site != model::kNoItemSite && static_cast<std::size_t>(f.item_site.value()) < s.item_site_count()) {
    w.Field("item_site", s.ItemSiteName(f.item_site));
  }
  if (!f.subject.empty()) w.Field("subject", f.subject);
  if (!f.field.empty()) w.Field("field", f.field);
  if (f.bucket >= 0) w.Field("bucket", f.bucket);
  if (f.quantity != 0.0) w.Field("quantity", f.quantity);
  w.Field("message", f.message);
  w.EndObject();
}

}  // namespace

namespace {

// Plans an assembled snapshot; `grid`/`horizon`/`events` describe where it came from.
PlanRun Finish(codec::Assembled assembled, const codec::BucketGrid& grid, const model::Horizon& horizon,
               std::int64_t events, double convert_seconds, const PlanOptions& options) {
  PlanRun run;
  run.convert_seconds = convert_seconds;
  run.events = events;
  run.input_findings = std::move(assembled.findings);
  run.past_due_documents = assembled.past_due;
  run.outside_horizon_documents = assembled.outside_horizon;
  run.plan_start = Date(grid.plan_start());
  run.bucket_kind = BucketKindName(horizon.bucket_kind);

  planning::NettingPolicy policy;
  policy.pegging = options.pegging || options.end_demands;
  const auto netting_start = Clock::now();
  run.engine = std::make_unique<planning::NettingEngine>(std::move(assembled.snapshot), policy);
  run.engine->RunFull();
  run.netting_seconds = SecondsSince(netting_start);
  const auto rough_cut_start = Clock::now();
  run.capacity = planning::RoughCut(run.engine->snapshot(), run.engine->plan());
  run.rough_cut_seconds = SecondsSince(rough_cut_start);
  return run;
}

}  // namespace

Result<PlanRun> RunPlan(const codec::SnapshotAssembler& assembler, const PlanOptions& options) {
  const auto convert_start = Clock::now();
  auto assembled = assembler.Build();
  if (!assembled) return std::unexpected(assembled.error());
  return Finish(std::move(*assembled), *assembler.grid(), assembler.horizon(), assembler.stats().events,
                SecondsSince(convert_start), options);
}

Result<PlanRun> RunPlanFile(const std::string& path, const PlanOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(Errc::kNotFound, "--events: cannot open '" + path + "'");
  codec::SnapshotAssembler assembler;
  const auto start = Clock::now();
  auto read = codec::ReadJsonLines(in, [&](const sop::v1::Envelope& e, std::int64_t) -> Status {
    assembler.Apply(e);
    return {};
  });
  if (!read) return Fail(read.error().code(), path + ": " + read.error().message());
  if (!assembler.grid()) {
    return Fail(Errc::kFailedPrecondition, path + ": no PlanningSettings event (plan start and buckets unknown)");
  }
  // One-shot use: free the event state while compiling, to keep peak memory down at scale L.
  const codec::BucketGrid grid = *assembler.grid();
  const model::Horizon horizon = assembler.horizon();
  const std::int64_t events = assembler.stats().events;
  auto assembled = assembler.BuildAndRelease();
  if (!assembled) return Fail(assembled.error().code(), path + ": " + assembled.error().message());
  return Finish(std::move(*assembled), grid, horizon, events, SecondsSince(start), options);
}

std::string PlanToJson(const PlanRun& run, const PlanOptions& options) {
  std::ostringstream out;
  WritePlanJson(run, out, options);
  return out.str();
}

bool WritePlanJson(const PlanRun& run, std::ostream& stream, const PlanOptions& options) {
  const model::Snapshot& s = run.engine->snapshot();
  const planning::Plan& plan = run.engine->plan();
  const planning::CapacityPlan& cap = run.capacity;
  std::string out;
  constexpr std::size_t kFlushBytes = 1 << 20;  // stream in ~1 MiB pieces: L is gigabytes of JSON
  auto flush = [&] {
    stream.write(out.data(), static_cast<std::streamsize>(out.size()));
    out.clear();
  };
  JsonWriter w(out);
  std::vector<model::Finding> plan_findings = plan.AllFindings();

  w.BeginObject();
  w.Field("plan_start", run.plan_start).Field("bucket", run.bucket_kind).Field("horizon", s.H());
  w.Field("consumption_backward", s.horizon.consumption_backward).Field("consumption_forward", s.horizon.consumption_forward);
  w.Key("summary").BeginObject();
  w.Field("events", run.events);
  w.Field("sites", static_cast<std::int64_t>(s.sites.size()));
  w.Field("item_sites", static_cast<std::int64_t>(s.item_site_count()));
  w.Field("work_centers", static_cast<std::int64_t>(s.work_centers.size()));
  w.Field("sales_orders", static_cast<std::int64_t>(s.sales_orders.size()));
  w.Field("scheduled_receipts", static_cast<std::int64_t>(s.receipts.size()));
  w.Field("planned_orders", static_cast<std::int64_t>(plan.PlannedOrderCount()));
  w.Field("past_due_documents", run.past_due_documents);
  w.Field("outside_horizon_documents", run.outside_horizon_documents);
  w.Field("input_findings", static_cast<std::int64_t>(run.input_findings.size()));
  w.Field("plan_findings", static_cast<std::int64_t>(plan_findings.size()));
  w.Field("overloads", static_cast<std::int64_t>(cap.overloads.size()));
  w.Field("convert_seconds", run.convert_seconds);
  w.Field("netting_seconds", run.netting_seconds);
  w.Field("rough_cut_seconds", run.rough_cut_seconds);
  w.EndObject();

  w.Key("item_sites").BeginArray();
  std::vector<std::vector<const planning::Peg*>> pegs_by_order;
  for (std::size_t i = 0; i < s.item_site_count(); ++i) {
    const model::ItemSiteIndex index(static_cast<std::int32_t>(i));
    const model::ItemSite& item = s.item_sites[i];
    w.BeginObject();
    w.Field("item", item.item_id).Field("site", s.sites[static_cast<std::size_t>(item.site.value())].id);
    w.Field("kind", ItemKindName(item.kind));
    if (!plan.low_level_code.empty()) w.Field("low_level_code", plan.low_level_code[i]);
    w.Field("lead_time", item.lead_time).Field("lot_rule", LotRuleName(item.lot.rule));
    w.Field("safety_stock", item.safety_stock).Field("frozen_fence", item.frozen_fence);
    w.Field("on_hand", item.on_hand);
    w.Key("gross_requirements").Numbers(plan.Row(plan.gross_requirements, index));
    w.Key("scheduled_receipts").Numbers(plan.Row(plan.scheduled_receipts, index));
    w.Key("projected_available").Numbers(plan.Row(plan.projected_available, index));
    w.Key("net_requirements").Numbers(plan.Row(plan.net_requirements, index));
    w.Key("planned_receipts").Numbers(plan.Row(plan.planned_receipts, index));
    w.Key("planned_releases").Numbers(plan.Row(plan.planned_releases, index));

    const auto& orders = plan.orders[i];
    pegs_by_order.assign(orders.size(), {});
    if (plan.pegged && i < plan.pegs.size()) {
      for (const auto& peg : plan.pegs[i]) {
        if (peg.supply.kind == planning::SupplyKind::kPlannedOrder && peg.supply.index >= 0 &&
            static_cast<std::size_t>(peg.supply.index) < orders.size()) {
          pegs_by_order[static_cast<std::size_t>(peg.supply.index)].push_back(&peg);
        }
      }
    }
    w.Key("planned_orders").BeginArray();
    for (std::size_t k = 0; k < orders.size(); ++k) {
      const auto& order = orders[k];
      w.BeginObject();
      w.Field("ordinal", static_cast<std::int64_t>(k));
      w.Field("receipt_bucket", order.receipt_bucket).Field("release_bucket", order.release_bucket);
      w.Field("quantity", order.quantity).Field("release_quantity", order.release_quantity);
      w.Field("past_due", order.past_due);
      if (plan.pegged) {
        w.Key("pegging").BeginArray();
        for (const planning::Peg* peg : pegs_by_order[k]) {
          w.BeginObject();
          WriteDemand(w, s, peg->demand);
          w.Field("quantity", peg->quantity).Field("late", peg->late());
          w.EndObject();
        }
        w.EndArray();
      }
      if (options.end_demands && plan.pegged) {
        planning::SupplyRef supply{planning::SupplyKind::kPlannedOrder, static_cast<std::int32_t>(k), order.receipt_bucket};
        w.Key("end_demands").BeginArray();
        for (const auto& end : run.engine->EndDemands(index, supply)) {
          w.BeginObject();
          WriteDemand(w, s, end.demand);
          w.Field("quantity", end.quantity).Field("share", end.share);
          w.EndObject();
        }
        w.EndArray();
      }
      w.EndObject();
    }
    w.EndArray();
    if (plan.pegged && i < plan.uncovered.size() && !plan.uncovered[i].empty()) {
      w.Key("uncovered_demand").BeginArray();
      for (const auto& u : plan.uncovered[i]) {
        w.BeginObject();
        WriteDemand(w, s, u.demand);
        w.Field("quantity", u.quantity);
        w.EndObject();
      }
      w.EndArray();
    }
    w.EndObject();
    if (out.size() >= kFlushBytes) flush();
  }
  w.EndArray();

  w.Key("work_centers").BeginArray();
  for (std::size_t k = 0; k < s.work_centers.size() && k < cap.work_center_count; ++k) {
    const model::WorkCenterIndex wc(static_cast<std::int32_t>(k));
    const auto& center = s.work_centers[k];
    w.BeginObject();
    w.Field("id", center.id).Field("site", s.sites[static_cast<std::size_t>(center.site.value())].id);
    w.Field("efficiency", center.efficiency).Field("machines", center.machines);
    w.Key("load_hours").Numbers(cap.Row(cap.load_hours, wc));
    w.Key("capacity_hours").Numbers(cap.Row(cap.capacity_hours, wc));
    w.Key("utilization").Numbers(cap.Row(cap.utilization, wc));
    w.Key("overload_hours").Numbers(cap.Row(cap.overload_hours, wc));
    w.Field("first_overloaded_bucket", cap.first_overloaded_bucket[k]);
    w.EndObject();
  }
  w.EndArray();

  w.Key("overloads").BeginArray();
  for (const auto& o : cap.overloads) {
    w.BeginObject();
    w.Field("work_center", s.work_centers[static_cast<std::size_t>(o.work_center.value())].id);
    w.Field("bucket", o.bucket).Field("load_hours", o.load_hours).Field("capacity_hours", o.capacity_hours);
    w.Field("overload_hours", o.overload_hours);
    w.Key("contributions").BeginArray();
    for (const auto& c : o.contributions) {
      w.BeginObject();
      w.Field("item_site", s.ItemSiteName(c.item_site)).Field("supply", SupplyKindName(c.supply.kind));
      w.Field("index", c.supply.index).Field("hours", c.hours);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();

  w.Key("findings").BeginArray();
  for (const auto& f : run.input_findings) WriteFinding(w, s, f);
  for (const auto& f : plan_findings) WriteFinding(w, s, f);
  w.EndArray();
  w.EndObject();
  out.push_back('\n');
  flush();
  stream.flush();
  return static_cast<bool>(stream);
}

std::string PlanSummary(const PlanRun& run) {
  const model::Snapshot& s = run.engine->snapshot();
  const planning::Plan& plan = run.engine->plan();
  std::map<std::string, int> by_type;
  for (const auto& f : run.input_findings) ++by_type[std::string(model::ToString(f.type))];
  for (const auto& f : plan.AllFindings()) ++by_type[std::string(model::ToString(f.type))];
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "plan start %s, %d %s buckets, %zu sites, %zu item-sites, %zu work centers\n",
                run.plan_start.c_str(), s.H(), run.bucket_kind.c_str(), s.sites.size(), s.item_site_count(),
                s.work_centers.size());
  out += line;
  std::snprintf(line, sizeof line, "%zu sales orders, %zu scheduled receipts -> %zu planned orders\n",
                s.sales_orders.size(), s.receipts.size(), plan.PlannedOrderCount());
  out += line;
  std::snprintf(line, sizeof line, "convert %.3f s, netting %.3f s, rough-cut %.3f s\n", run.convert_seconds,
                run.netting_seconds, run.rough_cut_seconds);
  out += line;
  for (const auto& [type, count] : by_type) {
    std::snprintf(line, sizeof line, "  %-20s %d\n", type.c_str(), count);
    out += line;
  }
  std::snprintf(line, sizeof line, "%zu overloaded work-center buckets\n", run.capacity.overloads.size());
  out += line;
  return out;
}

}  // namespace sop::plan_tool
