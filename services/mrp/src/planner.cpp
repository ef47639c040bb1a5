#include "sop/mrp/planner.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <tuple>
#include <utility>

namespace sop::mrp {
namespace {

// Snapshot format of one partition: a magic line, then records of
// [kind: 1 byte][length: 4 bytes little endian][bytes]. Kind 'F' = Fact, 'P' = ForecastUpdate.
constexpr std::string_view kMagic = "sop-mrp-partition-v1\n";
constexpr char kFactRecord = 'F';
constexpr char kForecastRecord = 'P';

void AppendRecord(std::string& out, char kind, std::string_view bytes) {
  out.push_back(kind);
  const auto length = static_cast<std::uint32_t>(bytes.size());
  for (int shift = 0; shift < 32; shift += 8) {
    out.push_back(static_cast<char>((length >> shift) & 0xffU));
  }
  out.append(bytes);
}

bool IsMasterData(const sop::v1::Envelope& envelope) {
  using P = sop::v1::Envelope::PayloadCase;
  switch (envelope.payload_case()) {
    case P::kSiteMaster:
    case P::kItem:
    case P::kBom:
    case P::kRouting:
    case P::kWorkCenter:
    case P::kCalendar:
    case P::kSupplier:
    case P::kCustomer:
    case P::kPlanningSettings:
      return true;
    default:
      return false;
  }
}

std::string Describe(const sop::v1::Envelope& envelope) {
  const auto* field =
      sop::v1::Envelope::descriptor()->FindFieldByNumber(static_cast<int>(envelope.payload_case()));
  std::string what = field != nullptr ? field->name() : "event";
  return what + " " + envelope.event_id() + " at " + envelope.site();
}

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
    : options_(options), assembler_(std::make_unique<codec::SnapshotAssembler>()) {}

MrpPlanner::~MrpPlanner() = default;

Result<bool> MrpPlanner::ApplyFact(const PartitionKey& key, std::string_view fact_bytes) {
  sop::v1::Fact fact;
  if (!fact.ParseFromArray(fact_bytes.data(), static_cast<int>(fact_bytes.size()))) {
    return InvalidField("fact", "not a sop.v1.Fact", std::to_string(fact_bytes.size()) + " bytes");
  }
  const sop::v1::Envelope& envelope = fact.envelope();
  if (envelope.event_id().empty()) {
    return InvalidField("fact.envelope.event_id", "must not be empty", "");
  }
  PartitionState& partition = partitions_[key];
  if (partition.event_ids.contains(envelope.event_id())) {
    ++stats_.duplicates;
    return false;
  }
  partition.facts.emplace_back(fact_bytes);
  partition.event_ids.insert(envelope.event_id());
  partition.new_event_ids.push_back(envelope.event_id());
  partition.dirty = true;
  ++stats_.facts_applied;

  sop::v1::Cause cause;
  cause.set_event_id(envelope.event_id());
  *cause.mutable_ingested_at() = fact.ingested_at();
  cause.set_description(Describe(envelope));
  last_cause_ = cause;

  // The fact is replayed with everything else when the assembler is rebuilt.
  if (reassemble_) return true;

  std::vector<codec::ModelUpdate> updates;
  assembler_->Apply(envelope, &updates);
  if (IsMasterData(envelope)) {
    // Master data (and customer priorities, supplier data) reach the snapshot only through
    // Build: a full rebuild is the exact way to take them in.
    rebuild_ = true;
    return true;
  }
  if (updates.empty()) return true;  // history, or a rejected event (a finding)
  if (rebuild_ || engine_ == nullptr) {
    rebuild_ = true;
    return true;
  }

  std::vector<model::ItemSiteIndex> touched;
  std::vector<char> seen(engine_->snapshot().item_site_count(), 0);
  for (const codec::ModelUpdate& update : updates) {
    if (const auto* forecast = std::get_if<codec::ForecastSet>(&update)) {
      // A consensus forecast from sop.forecast.v1 wins over the fact's statistical one.
      if (HasForecastOverride(model::ItemSiteKey(forecast->item_id, forecast->site_id))) continue;
    }
    std::optional<planning::Change> change = ToChange(update);
    auto replanned = change ? engine_->Apply(*change)
                            : Result<std::vector<model::ItemSiteIndex>>(
                                  Fail(Errc::kFailedPrecondition, "not a net change"));
    if (!replanned) {
      // Something the engine cannot take incrementally (master data, an item the snapshot does
      // not plan): the rebuild takes it in. What earlier updates of this fact already re-netted
      // is published now, because the rebuild only publishes what differs from this plan.
      if (!touched.empty()) {
        ++plan_version_;
        EmitDelta(touched, cause, /*full=*/false);
      }
      rebuild_ = true;
      return true;
    }
    for (model::ItemSiteIndex item_site : *replanned) {
      auto& mark = seen[static_cast<std::size_t>(item_site.value())];
      if (mark == 0) {
        mark = 1;
        touched.push_back(item_site);
      }
    }
  }
  ++stats_.net_changes;
  ++plan_version_;
  EmitDelta(touched, cause, /*full=*/false);
  return true;
}

Status MrpPlanner::ApplyForecast(const PartitionKey& key, std::string_view update_bytes) {
  sop::v1::ForecastUpdate update;
  if (!update.ParseFromArray(update_bytes.data(), static_cast<int>(update_bytes.size()))) {
    return InvalidField("forecast_update", "not a sop.v1.ForecastUpdate",
                        std::to_string(update_bytes.size()) + " bytes");
  }
  if (update.item_id().empty() || update.site_id().empty()) {
    return InvalidField("forecast_update.item_id/site_id", "must not be empty",
                        update.item_id() + "@" + update.site_id());
  }
  PartitionState& partition = partitions_[key];
  partition.forecasts[model::ItemSiteKey(update.item_id(), update.site_id())] =
      std::string(update_bytes);
  partition.dirty = true;
  if (update.has_cause()) last_cause_ = update.cause();

  if (rebuild_ || reassemble_ || engine_ == nullptr) {
    rebuild_ = true;
    return {};
  }
  const auto item_site = engine_->snapshot().FindItemSite(update.item_id(), update.site_id());
  if (!item_site) return {};  // not planned here (yet): applied at the next rebuild
  std::vector<model::ItemSiteIndex> touched;
  std::vector<char> seen(engine_->snapshot().item_site_count(), 0);
  const auto horizon = engine_->snapshot().H();
  for (const auto& period : update.periods()) {
    if (period.bucket() < 0 || period.bucket() >= horizon) continue;
    auto replanned = engine_->Apply(
        planning::SetForecast{*item_site, period.bucket(), std::max(0.0, period.consensus())});
    if (!replanned) {
      if (!touched.empty()) {  // see ApplyFact
        ++plan_version_;
        EmitDelta(touched, update.cause(), /*full=*/false);
      }
      rebuild_ = true;
      return {};
    }
    for (model::ItemSiteIndex i : *replanned) {
      auto& mark = seen[static_cast<std::size_t>(i.value())];
      if (mark == 0) {
        mark = 1;
        touched.push_back(i);
      }
    }
  }
  ++stats_.net_changes;
  ++plan_version_;
  sop::v1::Cause cause = update.cause();
  if (cause.description().empty()) {
    cause.set_description("consensus forecast " + update.item_id() + "@" + update.site_id());
  }
  EmitDelta(touched, cause, /*full=*/false);
  return {};
}

std::vector<sop::v1::PlanDelta> MrpPlanner::Flush() {
  // A changed partition set can add or remove whole sites: publish those in full.
  if (rebuild_ || reassemble_) Rebuild(last_cause_, /*full=*/reassemble_);
  return std::exchange(pending_, {});
}

Result<ReplanSummary> MrpPlanner::Replan(std::string_view site, const sop::v1::Cause& cause,
                                         std::vector<sop::v1::PlanDelta>* deltas) {
  const auto start = std::chrono::steady_clock::now();
  // Check the site first when a plan exists, so a bad request does not swallow the deltas of a
  // rebuild it triggered.
  if (!site.empty() && engine_ != nullptr && !reassemble_ &&
      !engine_->snapshot().site_ids.Find(site)) {
    return Fail(Errc::kNotFound, "site '" + std::string(site) + "' is not planned by this replica");
  }
  rebuild_ = true;
  Rebuild(cause, /*full=*/true);
  if (engine_ == nullptr) {
    return Fail(Errc::kFailedPrecondition,
                "no plan: no PlanningSettings fact has been applied on this replica");
  }
  if (!site.empty() && !engine_->snapshot().site_ids.Find(site)) {
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
  summary.plan_version = plan_version_;
  summary.item_sites = static_cast<std::int64_t>(engine_->snapshot().item_site_count());
  summary.planned_orders = static_cast<std::int64_t>(engine_->plan().PlannedOrderCount());
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

void MrpPlanner::Rebuild(const sop::v1::Cause& cause, bool full) {
  if (reassemble_) {
    assembler_ = std::make_unique<codec::SnapshotAssembler>();
    sop::v1::Fact fact;
    // Partitions in key order, facts in their applied order: within a site the stream order
    // is preserved (one site is one partition), which is all the assembler's semantics need.
    for (const auto& [key, partition] : partitions_) {
      for (const std::string& bytes : partition.facts) {
        if (fact.ParseFromString(bytes)) assembler_->Apply(fact.envelope());
      }
    }
    reassemble_ = false;
  }
  rebuild_ = false;
  auto built = assembler_->Build();
  if (!built) {
    engine_.reset();  // no PlanningSettings yet: nothing to plan
    return;
  }
  ApplyForecastOverrides(built->snapshot);
  std::unique_ptr<planning::NettingEngine> previous = std::move(engine_);
  engine_ = std::make_unique<planning::NettingEngine>(std::move(built->snapshot),
                                                      planning::NettingPolicy{.pegging = true});
  engine_->RunFull();
  ++stats_.full_runs;
  ++plan_version_;

  const model::Snapshot& snapshot = engine_->snapshot();
  const planning::Plan& plan = engine_->plan();
  std::vector<model::ItemSiteIndex> changed;
  changed.reserve(snapshot.item_site_count());
  const bool publish_all = full || previous == nullptr;
  for (std::size_t i = 0; i < snapshot.item_site_count(); ++i) {
    const model::ItemSiteIndex item_site(static_cast<std::int32_t>(i));
    if (!publish_all) {
      // Master data changes touch few item-sites: publish only records that differ.
      const auto& is = snapshot.item_sites[i];
      const auto before = previous->snapshot().FindItemSite(
          is.item_id, snapshot.sites[static_cast<std::size_t>(is.site.value())].id);
      if (before && previous->plan().horizon == plan.horizon) {
        const planning::Plan& old = previous->plan();
        auto same = [&](const std::vector<double> planning::Plan::*rows) {
          auto a = plan.Row(plan.*rows, item_site);
          auto b = old.Row(old.*rows, *before);
          return std::equal(a.begin(), a.end(), b.begin(), b.end());
        };
        const auto& new_orders = plan.orders[i];
        const auto& old_orders = old.orders[static_cast<std::size_t>(before->value())];
        const bool orders_same = std::equal(
            new_orders.begin(), new_orders.end(), old_orders.begin(), old_orders.end(),
            [](const planning::PlannedOrder& x, const planning::PlannedOrder& y) {
              return x.receipt_bucket == y.receipt_bucket && x.release_bucket == y.release_bucket &&
                     x.quantity == y.quantity && x.release_quantity == y.release_quantity &&
                     x.past_due == y.past_due;
            });
        if (orders_same && same(&planning::Plan::gross_requirements) &&
            same(&planning::Plan::scheduled_receipts) &&
            same(&planning::Plan::projected_available) && same(&planning::Plan::net_requirements) &&
            same(&planning::Plan::planned_receipts) && same(&planning::Plan::planned_releases) &&
            is.on_hand == previous->snapshot()
                              .item_sites[static_cast<std::size_t>(before->value())]
                              .on_hand) {
          continue;
        }
      }
    }
    changed.push_back(item_site);
  }
  previous.reset();
  sop::v1::Cause full_cause = cause;
  full_cause.set_description(
      (publish_all ? "full replan" : "replan") +
      (cause.description().empty() ? std::string() : " after " + cause.description()));
  EmitDelta(changed, full_cause, publish_all);
}

bool MrpPlanner::HasForecastOverride(const std::string& item_site_key) const {
  for (const auto& [key, partition] : partitions_) {
    if (partition.forecasts.contains(item_site_key)) return true;
  }
  return false;
}

void MrpPlanner::ApplyForecastOverrides(model::Snapshot& snapshot) const {
  sop::v1::ForecastUpdate update;
  const auto horizon = static_cast<std::size_t>(snapshot.H());
  for (const auto& [key, partition] : partitions_) {
    for (const auto& [item_site_key, bytes] : partition.forecasts) {
      if (!update.ParseFromString(bytes)) continue;
      const auto item_site = snapshot.FindItemSite(update.item_id(), update.site_id());
      if (!item_site) continue;
      const auto row = static_cast<std::size_t>(item_site->value()) * horizon;
      for (const auto& period : update.periods()) {
        if (period.bucket() < 0 || static_cast<std::size_t>(period.bucket()) >= horizon) continue;
        snapshot.forecast[row + static_cast<std::size_t>(period.bucket())] =
            std::max(0.0, period.consensus());
      }
    }
  }
}

std::optional<planning::Change> MrpPlanner::ToChange(const codec::ModelUpdate& update) const {
  const model::Snapshot& snapshot = engine_->snapshot();
  if (const auto* so = std::get_if<codec::SalesOrderUpsert>(&update)) {
    const auto& record = so->order;
    auto item_site = snapshot.FindItemSite(record.item_id, record.site_id);
    if (!item_site || record.due_bucket >= snapshot.H()) return std::nullopt;
    model::SalesOrder order;
    order.id = record.order_id;
    order.customer_id = record.customer_id;
    order.channel = record.channel;
    order.priority = record.priority;
    order.item_site = *item_site;
    order.due_bucket = std::max<model::Bucket>(0, record.due_bucket);
    order.quantity = record.quantity;
    order.unit_price = record.unit_price;
    return planning::UpsertSalesOrder{std::move(order)};
  }
  if (const auto* cancel = std::get_if<codec::SalesOrderCancel>(&update)) {
    if (!snapshot.sales_order_ids.Find(cancel->order_id)) return std::nullopt;
    return planning::CancelSalesOrder{cancel->order_id};
  }
  if (const auto* receipt = std::get_if<codec::ReceiptUpsert>(&update)) {
    const auto& record = receipt->receipt;
    auto item_site = snapshot.FindItemSite(record.item_id, record.site_id);
    if (!item_site || record.due_bucket >= snapshot.H()) return std::nullopt;
    model::ScheduledReceipt r;
    r.id = record.receipt_id;
    r.kind = record.kind;
    r.item_site = *item_site;
    r.due_bucket = std::max<model::Bucket>(0, record.due_bucket);
    r.start_bucket = std::clamp<model::Bucket>(record.start_bucket, 0, r.due_bucket);
    r.quantity = record.quantity;
    if (auto from = snapshot.site_ids.Find(record.from_site_id)) {
      r.from_site = model::SiteIndex(static_cast<std::int32_t>(*from));
    }
    return planning::UpsertReceipt{std::move(r)};
  }
  if (const auto* close = std::get_if<codec::ReceiptClose>(&update)) {
    if (!snapshot.receipt_ids.Find(close->receipt_id)) return std::nullopt;
    return planning::CloseReceipt{close->receipt_id};
  }
  if (const auto* on_hand = std::get_if<codec::OnHandSet>(&update)) {
    auto item_site = snapshot.FindItemSite(on_hand->item_id, on_hand->site_id);
    if (!item_site) return std::nullopt;
    return planning::SetOnHand{*item_site, on_hand->quantity};
  }
  if (const auto* forecast = std::get_if<codec::ForecastSet>(&update)) {
    auto item_site = snapshot.FindItemSite(forecast->item_id, forecast->site_id);
    if (!item_site || forecast->bucket < 0 || forecast->bucket >= snapshot.H()) return std::nullopt;
    return planning::SetForecast{*item_site, forecast->bucket, forecast->quantity};
  }
  return std::nullopt;  // master data, horizon reset: rebuild
}

void MrpPlanner::EmitDelta(const std::vector<model::ItemSiteIndex>& item_sites,
                           const sop::v1::Cause& cause, bool full, std::string_view only_site) {
  const model::Snapshot& snapshot = engine_->snapshot();
  std::map<std::int32_t, std::vector<model::ItemSiteIndex>> by_site;
  for (model::ItemSiteIndex i : item_sites) {
    by_site[snapshot.item_sites[static_cast<std::size_t>(i.value())].site.value()].push_back(i);
  }
  const auto& grid = assembler_->grid();
  const std::size_t chunk = std::max<std::size_t>(1, options_.max_item_sites_per_delta);
  for (const auto& [site, members] : by_site) {
    const std::string& site_id =
        site >= 0 ? snapshot.sites[static_cast<std::size_t>(site)].id : std::string();
    if (!only_site.empty() && site_id != only_site) continue;
    sop::v1::PlanDelta* delta = nullptr;
    std::size_t delta_bytes = 0;
    for (model::ItemSiteIndex member : members) {
      if (delta == nullptr || static_cast<std::size_t>(delta->item_sites_size()) >= chunk ||
          delta_bytes >= options_.max_delta_bytes) {
        delta = &pending_.emplace_back();
        delta->set_site_id(site_id);
        if (grid) {
          delta->mutable_plan_start()->set_seconds(grid->plan_start().time_since_epoch().count());
        }
        delta->set_horizon(snapshot.H());
        delta->set_plan_version(plan_version_);
        delta->set_full(full);
        *delta->mutable_cause() = cause;
        delta_bytes = 0;
      }
      sop::v1::ItemSitePlan* record = delta->add_item_sites();
      FillRecord(member, *record);
      delta_bytes += record->ByteSizeLong();
    }
  }
}

void MrpPlanner::FillPeg(const planning::EndDemand& end, sop::v1::EndDemandPeg& out) const {
  const model::Snapshot& snapshot = engine_->snapshot();
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
                             model::Bucket bucket, sop::v1::PlannedOrder& out) const {
  const planning::SupplyRef supply{planning::SupplyKind::kPlannedOrder, ordinal, bucket};
  const std::vector<planning::EndDemand> ends = engine_->EndDemands(item_site, supply);
  std::vector<sop::v1::EndDemandPeg> pegs(ends.size());
  for (std::size_t k = 0; k < ends.size(); ++k) FillPeg(ends[k], pegs[k]);
  const std::size_t keep = std::max<std::size_t>(1, options_.max_pegs_per_order);
  if (pegs.size() > keep) {
    // Largest revenue first; ties by due bucket so the order is deterministic.
    std::partial_sort(pegs.begin(), pegs.begin() + static_cast<std::ptrdiff_t>(keep - 1),
                      pegs.end(),
                      [](const sop::v1::EndDemandPeg& a, const sop::v1::EndDemandPeg& b) {
                        if (a.revenue() != b.revenue()) return a.revenue() > b.revenue();
                        return a.bucket() < b.bucket();
                      });
    sop::v1::EndDemandPeg rest;
    rest.set_kind(sop::v1::END_DEMAND_KIND_UNSPECIFIED);
    rest.set_bucket(-1);
    for (std::size_t k = keep - 1; k < pegs.size(); ++k) {
      rest.set_quantity(rest.quantity() + pegs[k].quantity());
      rest.set_revenue(rest.revenue() + pegs[k].revenue());
    }
    pegs.resize(keep - 1);
    pegs.push_back(std::move(rest));
  }
  for (auto& peg : pegs) *out.add_pegging() = std::move(peg);
}

void MrpPlanner::FillRecord(model::ItemSiteIndex item_site, sop::v1::ItemSitePlan& out) const {
  const model::Snapshot& snapshot = engine_->snapshot();
  const planning::Plan& plan = engine_->plan();
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
      FillPegging(item_site, static_cast<std::int32_t>(k), order.receipt_bucket, po);
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
  if (engine_ == nullptr) {
    return Fail(Errc::kFailedPrecondition,
                "no plan yet: no PlanningSettings fact has been applied on this replica");
  }
  const auto item_site = engine_->snapshot().FindItemSite(item_id, site_id);
  if (!item_site) {
    return Fail(Errc::kNotFound, "item '" + std::string(item_id) + "' is not planned at site '" +
                                     std::string(site_id) + "' by this replica");
  }
  sop::v1::ItemSitePlan out;
  FillRecord(*item_site, out);
  return out;
}

Result<std::vector<sop::v1::SupplyGap>> MrpPlanner::GetSupplyPlan(std::string_view site,
                                                                  std::string_view family) const {
  if (engine_ == nullptr) {
    return Fail(Errc::kFailedPrecondition,
                "no plan yet: no PlanningSettings fact has been applied on this replica");
  }
  const model::Snapshot& snapshot = engine_->snapshot();
  const planning::Plan& plan = engine_->plan();
  std::optional<std::int32_t> site_filter;
  if (!site.empty()) {
    auto found = snapshot.site_ids.Find(site);
    if (!found) {
      return Fail(Errc::kNotFound,
                  "site '" + std::string(site) + "' is not planned by this replica");
    }
    site_filter = static_cast<std::int32_t>(*found);
  }
  // (family, site, bucket) → gap; std::map keeps the report ordered.
  std::map<std::tuple<std::string, std::string, std::int32_t>, sop::v1::SupplyGap> gaps;
  const std::int32_t horizon = snapshot.H();
  for (std::size_t i = 0; i < snapshot.item_site_count(); ++i) {
    const model::ItemSite& is = snapshot.item_sites[i];
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
        for (const planning::EndDemand& end : engine_->ShortageEndDemands(item_site, b)) {
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
  std::string out(kMagic);
  auto it = partitions_.find(key);
  if (it == partitions_.end()) return out;
  for (const std::string& fact : it->second.facts) AppendRecord(out, kFactRecord, fact);
  for (const auto& [item_site, update] : it->second.forecasts) {
    AppendRecord(out, kForecastRecord, update);
  }
  return out;
}

Status MrpPlanner::RestorePartition(const PartitionKey& key, std::string_view bytes) {
  if (!bytes.starts_with(kMagic)) {
    return Fail(Errc::kDataLoss, "snapshot of " + key.topic + "[" + std::to_string(key.partition) +
                                     "]: not an mrp partition snapshot (bad magic)");
  }
  PartitionState state;
  sop::v1::Fact fact;
  sop::v1::ForecastUpdate update;
  std::size_t pos = kMagic.size();
  while (pos < bytes.size()) {
    if (bytes.size() - pos < 5) {
      return Fail(Errc::kDataLoss, "snapshot of " + key.topic + "[" +
                                       std::to_string(key.partition) + "]: truncated record");
    }
    const char kind = bytes[pos];
    std::uint32_t length = 0;
    for (int k = 0; k < 4; ++k) {
      length |= static_cast<std::uint32_t>(
                    static_cast<unsigned char>(bytes[pos + 1 + static_cast<std::size_t>(k)]))
                << (8 * k);
    }
    pos += 5;
    if (bytes.size() - pos < length) {
      return Fail(Errc::kDataLoss, "snapshot of " + key.topic + "[" +
                                       std::to_string(key.partition) + "]: truncated record");
    }
    const std::string_view record = bytes.substr(pos, length);
    pos += length;
    if (kind == kFactRecord) {
      if (!fact.ParseFromArray(record.data(), static_cast<int>(record.size()))) {
        return Fail(Errc::kDataLoss, "snapshot of " + key.topic + ": a fact does not parse");
      }
      state.event_ids.insert(fact.envelope().event_id());
      state.facts.emplace_back(record);
    } else if (kind == kForecastRecord) {
      if (!update.ParseFromArray(record.data(), static_cast<int>(record.size()))) {
        return Fail(Errc::kDataLoss, "snapshot of " + key.topic + ": a forecast does not parse");
      }
      state.forecasts[model::ItemSiteKey(update.item_id(), update.site_id())] = std::string(record);
    } else {
      return Fail(Errc::kDataLoss, "snapshot of " + key.topic + ": unknown record kind");
    }
  }
  auto& slot = partitions_[key];
  stats_.facts_applied +=
      static_cast<std::int64_t>(state.facts.size()) - static_cast<std::int64_t>(slot.facts.size());
  slot = std::move(state);
  reassemble_ = true;
  return {};
}

void MrpPlanner::DropPartition(const PartitionKey& key) {
  auto it = partitions_.find(key);
  if (it == partitions_.end()) return;
  stats_.facts_applied -= static_cast<std::int64_t>(it->second.facts.size());
  partitions_.erase(it);
  reassemble_ = true;
}

std::vector<std::string> MrpPlanner::TakeNewEventIds(const PartitionKey& key) {
  auto it = partitions_.find(key);
  if (it == partitions_.end()) return {};
  return std::exchange(it->second.new_event_ids, {});
}

std::vector<PartitionKey> MrpPlanner::TakeDirtyPartitions() {
  std::vector<PartitionKey> out;
  for (auto& [key, partition] : partitions_) {
    if (partition.dirty) {
      out.push_back(key);
      partition.dirty = false;
    }
  }
  return out;
}

PlannerStats MrpPlanner::stats() const {
  PlannerStats out = stats_;
  if (engine_ != nullptr) {
    out.item_sites = static_cast<std::int64_t>(engine_->snapshot().item_site_count());
    out.planned_orders = static_cast<std::int64_t>(engine_->plan().PlannedOrderCount());
  }
  return out;
}

}  // namespace sop::mrp
