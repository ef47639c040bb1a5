#include "sop/mrp/planner.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <tuple>
#include <utility>

namespace sop::mrp {
namespace {

sop::v1::FindingType ToProto(model::FindingType type) {
  switch (type) {
    case model::FindingType::kDataQuality:
      return sop::v1::FINDING_TYPE_DATA_QUALITY;
    case model::FindingType::kShortage:
      return sop::v1::FINDING_TYPE_SHORTAGE;
    case model::FindingType::kBelowSafetyStock:
      return sop::v1::FINDING_TYPE_BELOW_SAFETY_STOCK;
    case model::FindingType::kPastDueRelease:
      return sop::v1::FINDING_TYPE_PAST_DUE_RELEASE;
    case model::FindingType::kOutsideHorizon:
      return sop::v1::FINDING_TYPE_OUTSIDE_HORIZON;
  }
  return sop::v1::FINDING_TYPE_UNSPECIFIED;
}

template <class T>
void CopyRow(std::span<const double> row, T* out) {
  out->Reserve(static_cast<int>(row.size()));
  for (double v : row) out->Add(v);
}

}  // namespace

MrpPlanner::MrpPlanner(PlannerOptions options)
    : options_(options), state_(codec::PlanningStateOptions{.pegging = true}) {
  state_.set_listener(&publisher_);
}

MrpPlanner::~MrpPlanner() {
  state_.set_listener(nullptr);
}

void MrpPlanner::Publisher::OnNetChange(const planning::NettingEngine& /*engine*/,
                                        std::span<const model::ItemSiteIndex> item_sites,
                                        const sop::v1::Cause& cause, std::int64_t version) {
  planner_.EmitDelta(item_sites, cause, /*full=*/false, version, /*net_change=*/true);
}

void MrpPlanner::Publisher::OnRebuild(const planning::NettingEngine& /*engine*/,
                                      std::span<const model::ItemSiteIndex> item_sites,
                                      const sop::v1::Cause& cause, bool full,
                                      std::int64_t version) {
  planner_.published_hash_.assign(planner_.state_.engine() != nullptr
                                      ? planner_.state_.engine()->snapshot().item_site_count()
                                      : 0,
                                  0);
  planner_.EmitDelta(item_sites, cause, full, version, /*net_change=*/false);
}

Result<bool> MrpPlanner::ApplyFact(const PartitionKey& key, std::string_view fact_bytes) {
  return state_.ApplyFact(key, fact_bytes);
}

Status MrpPlanner::ApplyForecast(const PartitionKey& key, std::string_view update_bytes) {
  return state_.ApplyForecast(key, update_bytes);
}

std::vector<sop::v1::PlanDelta> MrpPlanner::Flush() {
  state_.Flush();
  return std::exchange(pending_, {});
}

std::vector<sop::v1::PlanDelta> MrpPlanner::CommitNetChange() {
  state_.CommitNetChange();
  return std::exchange(pending_, {});
}

std::vector<sop::v1::Fact> MrpPlanner::TakeTransferDemands() {
  std::vector<sop::v1::Envelope> envelopes = state_.TakeTransferDemands();
  std::vector<sop::v1::Fact> out;
  out.reserve(envelopes.size());
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now);
  const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(now - seconds);
  for (sop::v1::Envelope& envelope : envelopes) {
    sop::v1::Fact& fact = out.emplace_back();
    for (auto* stamp : {envelope.mutable_occurred_at(), envelope.mutable_produced_at(),
                        fact.mutable_ingested_at()}) {
      stamp->set_seconds(seconds.count());
      stamp->set_nanos(static_cast<std::int32_t>(nanos.count()));
    }
    fact.set_ingestion_instance("sop-mrp");
    *fact.mutable_envelope() = std::move(envelope);
  }
  return out;
}

Result<ReplanSummary> MrpPlanner::Replan(std::string_view site, const sop::v1::Cause& cause,
                                         std::vector<sop::v1::PlanDelta>* deltas) {
  const auto start = std::chrono::steady_clock::now();
  // Check the site first when a plan exists, so a bad request does not swallow the deltas of a
  // rebuild it triggered.
  if (!site.empty() && state_.engine() != nullptr && !state_.reassemble_pending() &&
      !state_.PlansSite(site)) {
    return Fail(Errc::kNotFound, "site '" + std::string(site) + "' is not planned by this replica");
  }
  state_.Rebuild(cause, /*full=*/true);
  const planning::NettingEngine* engine = state_.engine();
  if (engine == nullptr) {
    return Fail(Errc::kFailedPrecondition,
                "no plan: no PlanningSettings fact has been applied on this replica");
  }
  if (!site.empty() && !state_.PlansSite(site)) {
    // (Only after a reassembly: the rebuilt plan's deltas stay pending for the next Flush.)
    return Fail(Errc::kNotFound, "site '" + std::string(site) + "' is not planned by this replica");
  }
  std::vector<sop::v1::PlanDelta> produced = std::exchange(pending_, {});
  if (deltas != nullptr) {
    for (auto& delta : produced) {
      if (site.empty() || delta.site_id() == site || !delta.full())
        deltas->push_back(std::move(delta));
    }
  }
  ReplanSummary summary;
  summary.plan_version = state_.version();
  summary.item_sites = static_cast<std::int64_t>(engine->snapshot().item_site_count());
  summary.planned_orders = static_cast<std::int64_t>(engine->plan().PlannedOrderCount());
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

void MrpPlanner::EmitDelta(std::span<const model::ItemSiteIndex> item_sites,
                           const sop::v1::Cause& cause, bool full, std::int64_t version,
                           bool net_change) {
  const model::Snapshot& snapshot = state_.engine()->snapshot();
  if (published_hash_.size() < snapshot.item_site_count()) {
    published_hash_.resize(snapshot.item_site_count(), 0);
  }
  std::map<std::int32_t, std::vector<model::ItemSiteIndex>> by_site;
  for (model::ItemSiteIndex i : item_sites) {
    by_site[snapshot.item_sites[static_cast<std::size_t>(i.value())].site.value()].push_back(i);
  }
  const auto& grid = state_.grid();
  // One end-demand memo per publication: the engine does not change while the records are
  // built (the listener runs after the step's Commit/RunFull, before the next Stage).
  if (end_demands_) {
    end_demands_->Reset(*state_.engine());
  } else {
    end_demands_.emplace(*state_.engine());
  }
  planning::EndDemandCache& ends = *end_demands_;
  const std::size_t chunk = std::max<std::size_t>(1, options_.max_item_sites_per_delta);
  for (const auto& [site, members] : by_site) {
    const std::string& site_id =
        site >= 0 ? snapshot.sites[static_cast<std::size_t>(site)].id : std::string();
    sop::v1::PlanDelta* delta = nullptr;
    std::size_t delta_bytes = 0;
    for (model::ItemSiteIndex member : members) {
      sop::v1::ItemSitePlan record;
      FillRecord(member, ends, record);
      if (options_.skip_unchanged_records) {
        const std::uint64_t hash = std::hash<std::string>{}(record.SerializeAsString());
        std::uint64_t& last = published_hash_[static_cast<std::size_t>(member.value())];
        if (net_change && last == hash) {
          ++records_unchanged_;
          continue;
        }
        last = hash;
      }
      ++records_published_;
      if (delta == nullptr || static_cast<std::size_t>(delta->item_sites_size()) >= chunk ||
          delta_bytes >= options_.max_delta_bytes) {
        delta = &pending_.emplace_back();
        delta->set_site_id(site_id);
        if (grid) {
          delta->mutable_plan_start()->set_seconds(grid->plan_start().time_since_epoch().count());
        }
        delta->set_horizon(snapshot.H());
        delta->set_plan_version(version);
        delta->set_full(full);
        *delta->mutable_cause() = cause;
        delta_bytes = 0;
      }
      delta_bytes += record.ByteSizeLong();
      *delta->add_item_sites() = std::move(record);
    }
  }
}

void MrpPlanner::FillPeg(const planning::EndDemand& end, sop::v1::EndDemandPeg& out) const {
  const model::Snapshot& snapshot = state_.engine()->snapshot();
  auto site_of = [&](model::ItemSiteIndex i) -> const std::string& {
    return snapshot
        .sites[static_cast<std::size_t>(
            snapshot.item_sites[static_cast<std::size_t>(i.value())].site.value())]
        .id;
  };
  out.set_quantity(end.quantity);
  switch (end.demand.kind) {
    case planning::DemandKind::kSalesOrder: {
      const auto& so = snapshot.sales_orders[static_cast<std::size_t>(end.demand.index)];
      out.set_kind(sop::v1::END_DEMAND_KIND_SALES_ORDER);
      out.set_order_id(so.id);
      out.set_customer_id(so.customer_id);
      out.set_customer_priority(so.priority);
      out.set_item_id(snapshot.item_sites[static_cast<std::size_t>(so.item_site.value())].item_id);
      out.set_site_id(site_of(so.item_site));
      out.set_bucket(so.due_bucket);
      out.set_revenue(end.quantity * so.unit_price);
      return;
    }
    case planning::DemandKind::kForecast: {
      const auto& is = snapshot.item_sites[static_cast<std::size_t>(end.demand.item_site.value())];
      out.set_kind(sop::v1::END_DEMAND_KIND_FORECAST);
      out.set_item_id(is.item_id);
      out.set_site_id(site_of(end.demand.item_site));
      out.set_bucket(end.demand.bucket);
      out.set_revenue(end.quantity * is.unit_price);
      return;
    }
    default:
      // An opening backlog (negative on-hand): no end item, no revenue.
      out.set_kind(sop::v1::END_DEMAND_KIND_UNSPECIFIED);
      out.set_bucket(end.demand.bucket);
      return;
  }
}

void MrpPlanner::FillPegging(model::ItemSiteIndex item_site, std::int32_t ordinal,
                             planning::EndDemandCache& cache, sop::v1::PlannedOrder& out) const {
  // Same as engine.EndDemands(item_site, planned order `ordinal`), bit for bit, without a copy.
  // (A view into the cache: nothing below asks the cache again while it is read.)
  const std::span<const planning::EndDemand> ends =
      cache.PlannedOrderEndDemands(item_site, ordinal);
  const model::Snapshot& snapshot = state_.engine()->snapshot();
  // Revenue and bucket of each end demand as FillPeg computes them, without building the peg
  // messages (four strings each): a shared component's order can serve hundreds of end demands
  // and only the kept ones become messages. Same selection and summation order as ranking the
  // messages themselves.
  struct Ranked {
    double revenue = 0.0;
    double quantity = 0.0;
    model::Bucket bucket = 0;
    std::size_t index = 0;
  };
  std::vector<Ranked> ranked(ends.size());
  for (std::size_t k = 0; k < ends.size(); ++k) {
    const planning::EndDemand& end = ends[k];
    Ranked& r = ranked[k];
    r.quantity = end.quantity;
    r.index = k;
    r.bucket = end.demand.bucket;
    if (end.demand.kind == planning::DemandKind::kSalesOrder) {
      const auto& so = snapshot.sales_orders[static_cast<std::size_t>(end.demand.index)];
      r.revenue = end.quantity * so.unit_price;
      r.bucket = so.due_bucket;
    } else if (end.demand.kind == planning::DemandKind::kForecast) {
      r.revenue =
          end.quantity *
          snapshot.item_sites[static_cast<std::size_t>(end.demand.item_site.value())].unit_price;
    }
  }
  const std::size_t keep = std::max<std::size_t>(1, options_.max_pegs_per_order);
  if (ranked.size() <= keep) {
    for (const planning::EndDemand& end : ends) FillPeg(end, *out.add_pegging());
    return;
  }
  // Largest revenue first; ties by due bucket so the order is deterministic.
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(keep - 1),
                    ranked.end(), [](const Ranked& a, const Ranked& b) {
                      if (a.revenue != b.revenue) return a.revenue > b.revenue;
                      return a.bucket < b.bucket;
                    });
  for (std::size_t k = 0; k + 1 < keep; ++k) FillPeg(ends[ranked[k].index], *out.add_pegging());
  sop::v1::EndDemandPeg& rest = *out.add_pegging();
  rest.set_kind(sop::v1::END_DEMAND_KIND_UNSPECIFIED);
  rest.set_bucket(-1);
  double quantity = 0.0;
  double revenue = 0.0;
  for (std::size_t k = keep - 1; k < ranked.size(); ++k) {
    quantity += ranked[k].quantity;
    revenue += ranked[k].revenue;
  }
  rest.set_quantity(quantity);
  rest.set_revenue(revenue);
}

void MrpPlanner::FillRecord(model::ItemSiteIndex item_site, planning::EndDemandCache& ends,
                            sop::v1::ItemSitePlan& out) const {
  const model::Snapshot& snapshot = state_.engine()->snapshot();
  const planning::Plan& plan = state_.engine()->plan();
  const auto index = static_cast<std::size_t>(item_site.value());
  const model::ItemSite& is = snapshot.item_sites[index];
  const std::string& site_id = snapshot.sites[static_cast<std::size_t>(is.site.value())].id;
  out.set_item_id(is.item_id);
  out.set_site_id(site_id);
  out.set_family(is.family);
  out.set_low_level_code(plan.low_level_code[index]);
  out.set_on_hand(is.on_hand);
  out.set_safety_stock(is.safety_stock);
  CopyRow(plan.Row(plan.gross_requirements, item_site), out.mutable_gross_requirements());
  CopyRow(plan.Row(plan.scheduled_receipts, item_site), out.mutable_scheduled_receipts());
  CopyRow(plan.Row(plan.projected_available, item_site), out.mutable_projected_available());
  CopyRow(plan.Row(plan.net_requirements, item_site), out.mutable_net_requirements());
  CopyRow(plan.Row(plan.planned_receipts, item_site), out.mutable_planned_receipts());
  CopyRow(plan.Row(plan.planned_releases, item_site), out.mutable_planned_releases());
  const auto& orders = plan.orders[index];
  for (std::size_t k = 0; k < orders.size(); ++k) {
    const planning::PlannedOrder& order = orders[k];
    sop::v1::PlannedOrder& po = *out.add_planned_orders();
    po.set_item_id(is.item_id);
    po.set_site_id(site_id);
    po.set_receipt_bucket(order.receipt_bucket);
    po.set_release_bucket(order.release_bucket);
    po.set_quantity(order.quantity);
    po.set_release_quantity(order.release_quantity);
    po.set_past_due(order.past_due);
    if (options_.pegging && plan.pegged) {
      FillPegging(item_site, static_cast<std::int32_t>(k), ends, po);
    }
  }
  for (const model::Finding& finding : plan.item_findings[index]) {
    sop::v1::Finding& f = *out.add_findings();
    f.set_type(ToProto(finding.type));
    f.set_item_id(is.item_id);
    f.set_site_id(site_id);
    f.set_bucket(finding.bucket);
    f.set_quantity(finding.quantity);
    f.set_subject(finding.subject);
    f.set_field(finding.field);
    f.set_message(finding.message);
  }
}

Result<sop::v1::ItemSitePlan> MrpPlanner::GetPlan(std::string_view item_id,
                                                  std::string_view site_id) const {
  if (item_id.empty()) return InvalidField("item_id", "must not be empty", item_id);
  if (site_id.empty()) return InvalidField("site_id", "must not be empty", site_id);
  if (state_.engine() == nullptr) {
    return Fail(Errc::kFailedPrecondition,
                "no plan yet: no PlanningSettings fact has been applied on this replica");
  }
  const auto item_site = state_.engine()->snapshot().FindItemSite(item_id, site_id);
  if (!item_site || state_.IsExternal(*item_site)) {
    return Fail(Errc::kNotFound, "item '" + std::string(item_id) + "' is not planned at site '" +
                                     std::string(site_id) + "' by this replica");
  }
  sop::v1::ItemSitePlan out;
  planning::EndDemandCache ends(*state_.engine());
  FillRecord(*item_site, ends, out);
  return out;
}

Result<std::vector<sop::v1::SupplyGap>> MrpPlanner::GetSupplyPlan(std::string_view site,
                                                                  std::string_view family) const {
  if (state_.engine() == nullptr) {
    return Fail(Errc::kFailedPrecondition,
                "no plan yet: no PlanningSettings fact has been applied on this replica");
  }
  const model::Snapshot& snapshot = state_.engine()->snapshot();
  const planning::Plan& plan = state_.engine()->plan();
  std::optional<std::int32_t> site_filter;
  if (!site.empty()) {
    auto found = snapshot.site_ids.Find(site);
    if (!found || !state_.PlansSite(site)) {
      return Fail(Errc::kNotFound,
                  "site '" + std::string(site) + "' is not planned by this replica");
    }
    site_filter = static_cast<std::int32_t>(*found);
  }
  // (family, site, bucket) → gap; std::map keeps the report ordered.
  std::map<std::tuple<std::string, std::string, std::int32_t>, sop::v1::SupplyGap> gaps;
  // The shortages of one report share their parents: one end-demand memo for the report.
  planning::EndDemandCache ends(*state_.engine());
  const std::int32_t horizon = snapshot.H();
  for (std::size_t i = 0; i < snapshot.item_site_count(); ++i) {
    const model::ItemSite& is = snapshot.item_sites[i];
    if (state_.IsExternal(model::ItemSiteIndex(static_cast<std::int32_t>(i)))) continue;
    if (site_filter && is.site.value() != *site_filter) continue;
    if (!family.empty() && is.family != family) continue;
    const model::ItemSiteIndex item_site(static_cast<std::int32_t>(i));
    const auto available = plan.Row(plan.projected_available, item_site);
    const auto gross = plan.Row(plan.gross_requirements, item_site);
    // A shortage is counted where it appears or grows (projected available is cumulative, so
    // a shortage carried into later buckets is not counted again); each end demand it hits is
    // counted once, at the first bucket it shows up in.
    std::set<std::tuple<int, std::int32_t, std::int32_t, std::int32_t>> hit;
    double previous_short = 0.0;
    for (std::int32_t b = 0; b < horizon; ++b) {
      const double short_now = std::max(0.0, -available[static_cast<std::size_t>(b)]);
      const double added = short_now - previous_short;
      previous_short = short_now;
      if (added <= 1e-9) continue;
      double revenue = 0.0;
      if (plan.pegged) {
        for (const planning::EndDemand& end : ends.ShortageEndDemands(item_site, b)) {
          auto id = std::make_tuple(static_cast<int>(end.demand.kind), end.demand.index,
                                    end.demand.item_site.value(), end.demand.bucket);
          if (!hit.insert(id).second) continue;
          sop::v1::EndDemandPeg peg;
          FillPeg(end, peg);
          revenue += peg.revenue();
        }
      }
      const std::string& site_id = snapshot.sites[static_cast<std::size_t>(is.site.value())].id;
      auto& gap = gaps[{is.family, site_id, b}];
      gap.set_family(is.family);
      gap.set_site_id(site_id);
      gap.set_bucket(b);
      gap.set_demand(gap.demand() + gross[static_cast<std::size_t>(b)]);
      gap.set_shortage_quantity(gap.shortage_quantity() + added);
      gap.set_revenue_at_risk(gap.revenue_at_risk() + revenue);
      gap.add_items(is.item_id);
    }
  }
  std::vector<sop::v1::SupplyGap> out;
  out.reserve(gaps.size());
  for (auto& [key, gap] : gaps) out.push_back(std::move(gap));
  return out;
}

std::string MrpPlanner::SerializePartition(const PartitionKey& key) const {
  return state_.SerializePartition(key);
}

Status MrpPlanner::RestorePartition(const PartitionKey& key, std::string_view bytes) {
  return state_.RestorePartition(key, bytes);
}

void MrpPlanner::DropPartition(const PartitionKey& key) {
  state_.DropPartition(key);
}

std::vector<std::string> MrpPlanner::TakeNewEventIds(const PartitionKey& key) {
  return state_.TakeNewEventIds(key);
}

std::vector<PartitionKey> MrpPlanner::TakeDirtyPartitions() {
  return state_.TakeDirtyPartitions();
}

PlannerStats MrpPlanner::stats() const {
  const codec::PlanningStats stats = state_.stats();
  PlannerStats out;
  out.facts_applied = stats.facts_applied;
  out.duplicates = stats.duplicates;
  out.net_changes = stats.net_changes;
  out.full_runs = stats.full_runs;
  out.item_sites = stats.item_sites;
  out.planned_orders = stats.planned_orders;
  out.transfer_demands = stats.transfer_demands;
  out.transfer_demands_published = stats.transfer_demands_published;
  out.net_change_commits = stats.net_change_commits;
  out.records_published = records_published_;
  out.records_unchanged = records_unchanged_;
  return out;
}

}  // namespace sop::mrp
