#include "sop/codec/planning_state.hpp"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "sop/model/text.hpp"

namespace sop::codec {
namespace {

using model::Format;

constexpr std::string_view kMagic = "sop-planning-partition-v1\n";
constexpr std::string_view kLegacyMagic = "sop-mrp-partition-v1\n";  // services/mrp before codec
constexpr char kFactRecord = 'F';
constexpr char kForecastRecord = 'P';
constexpr char kConsensusRecord = 'C';
constexpr char kShipmentRecord = 'S';   // an item-site's shipment history, compacted
constexpr char kExternalRecord = 'X';   // a TransferDemand received (supplying partition)
constexpr char kPublishedRecord = 'T';  // a TransferDemand published (demanding partition)

void AppendU32(std::string& out, std::uint32_t value) {
  for (int shift = 0; shift < 32; shift += 8)
    out.push_back(static_cast<char>((value >> shift) & 0xffU));
}
void AppendU64(std::string& out, std::uint64_t value) {
  for (int shift = 0; shift < 64; shift += 8)
    out.push_back(static_cast<char>((value >> shift) & 0xffU));
}
void AppendBytes(std::string& out, std::string_view bytes) {
  AppendU32(out, static_cast<std::uint32_t>(bytes.size()));
  out.append(bytes);
}

/// Reads what AppendU32/U64/Bytes wrote; false once the input is too short.
struct Reader {
  std::string_view in;
  bool U64(std::uint64_t& value) {
    if (in.size() < 8) return false;
    value = 0;
    for (int k = 0; k < 8; ++k) {
      value |=
          static_cast<std::uint64_t>(static_cast<unsigned char>(in[static_cast<std::size_t>(k)]))
          << (8 * k);
    }
    in.remove_prefix(8);
    return true;
  }
  bool U32(std::uint32_t& value) {
    if (in.size() < 4) return false;
    value = 0;
    for (int k = 0; k < 4; ++k) {
      value |=
          static_cast<std::uint32_t>(static_cast<unsigned char>(in[static_cast<std::size_t>(k)]))
          << (8 * k);
    }
    in.remove_prefix(4);
    return true;
  }
  bool Bytes(std::string& value) {
    std::uint32_t length = 0;
    if (!U32(length) || in.size() < length) return false;
    value.assign(in.substr(0, length));
    in.remove_prefix(length);
    return true;
  }
};

/// A shipment History takes (the assembler only counts shipments): kept compactly.
bool IsCompactShipment(const sop::v1::Envelope& envelope) {
  if (!envelope.has_shipment()) return false;
  const auto& s = envelope.shipment();
  return std::isfinite(s.quantity()) && s.quantity() >= 0.0 && s.has_shipped_at();
}

bool Newer(const sop::v1::TransferDemand& a, const sop::v1::TransferDemand& b) {
  return std::pair(a.epoch(), a.sequence()) > std::pair(b.epoch(), b.sequence());
}

/// The external item-site a change would modify, if any (none for cancels and closes: those name
/// documents, which external item-sites never have).
std::optional<model::ItemSiteIndex> ChangedItemSite(const planning::Change& change) {
  if (const auto* so = std::get_if<planning::UpsertSalesOrder>(&change)) return so->order.item_site;
  if (const auto* r = std::get_if<planning::UpsertReceipt>(&change)) return r->receipt.item_site;
  if (const auto* f = std::get_if<planning::SetForecast>(&change)) return f->item_site;
  if (const auto* h = std::get_if<planning::SetOnHand>(&change)) return h->item_site;
  return std::nullopt;
}

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

bool IsClosed(sop::v1::OrderStatus status) {
  return status == sop::v1::ORDER_STATUS_CANCELLED || status == sop::v1::ORDER_STATUS_CLOSED;
}

std::string LineKey(const std::string& document, std::int32_t line) {
  return document + ":" + std::to_string(line);
}

/// The bucket of `t` (seconds since the epoch) in `grid`, extended into the past: bucket −1 is
/// the bucket of fixed length just before the plan start (months count 365.25/12 days).
std::int32_t ExtendedBucket(const BucketGrid& grid, std::int64_t t) {
  const std::int64_t start = grid.plan_start().time_since_epoch().count();
  if (t >= start) return grid.BucketOf(Seconds{std::chrono::seconds{t}});
  const double length = grid.BucketDays() * 86400.0;
  return static_cast<std::int32_t>(std::floor(static_cast<double>(t - start) / length));
}

std::optional<planning::Change> ToChange(const model::Snapshot& snapshot,
                                         const ModelUpdate& update) {
  if (const auto* so = std::get_if<SalesOrderUpsert>(&update)) {
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
  if (const auto* cancel = std::get_if<SalesOrderCancel>(&update)) {
    if (!snapshot.sales_order_ids.Find(cancel->order_id)) return std::nullopt;
    return planning::CancelSalesOrder{cancel->order_id};
  }
  if (const auto* receipt = std::get_if<ReceiptUpsert>(&update)) {
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
  if (const auto* close = std::get_if<ReceiptClose>(&update)) {
    if (!snapshot.receipt_ids.Find(close->receipt_id)) return std::nullopt;
    return planning::CloseReceipt{close->receipt_id};
  }
  if (const auto* on_hand = std::get_if<OnHandSet>(&update)) {
    auto item_site = snapshot.FindItemSite(on_hand->item_id, on_hand->site_id);
    if (!item_site) return std::nullopt;
    return planning::SetOnHand{*item_site, on_hand->quantity};
  }
  if (const auto* forecast = std::get_if<ForecastSet>(&update)) {
    auto item_site = snapshot.FindItemSite(forecast->item_id, forecast->site_id);
    if (!item_site || forecast->bucket < 0 || forecast->bucket >= snapshot.H()) return std::nullopt;
    return planning::SetForecast{*item_site, forecast->bucket, forecast->quantity};
  }
  return std::nullopt;  // master data, horizon reset: rebuild
}

/// Whether item-site `now` of `plan` has the same MRP record as `before` of `old`.
bool SameRecord(const planning::NettingEngine& engine, model::ItemSiteIndex now,
                const planning::NettingEngine& previous, model::ItemSiteIndex before) {
  const planning::Plan& plan = engine.plan();
  const planning::Plan& old = previous.plan();
  if (plan.horizon != old.horizon) return false;
  auto same = [&](const std::vector<double> planning::Plan::*rows) {
    auto a = plan.Row(plan.*rows, now);
    auto b = old.Row(old.*rows, before);
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  };
  const auto& new_orders = plan.orders[static_cast<std::size_t>(now.value())];
  const auto& old_orders = old.orders[static_cast<std::size_t>(before.value())];
  const bool orders_same =
      std::equal(new_orders.begin(), new_orders.end(), old_orders.begin(), old_orders.end(),
                 [](const planning::PlannedOrder& x, const planning::PlannedOrder& y) {
                   return x.receipt_bucket == y.receipt_bucket &&
                          x.release_bucket == y.release_bucket && x.quantity == y.quantity &&
                          x.release_quantity == y.release_quantity && x.past_due == y.past_due;
                 });
  return orders_same && same(&planning::Plan::gross_requirements) &&
         same(&planning::Plan::scheduled_receipts) && same(&planning::Plan::projected_available) &&
         same(&planning::Plan::net_requirements) && same(&planning::Plan::planned_receipts) &&
         same(&planning::Plan::planned_releases) &&
         engine.snapshot().item_sites[static_cast<std::size_t>(now.value())].on_hand ==
             previous.snapshot().item_sites[static_cast<std::size_t>(before.value())].on_hand;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// History: what detection needs from the facts that no snapshot carries. Kept with times (not
// buckets) so that a new plan start re-buckets it; rebuilt with the assembler from the facts.
// ---------------------------------------------------------------------------------------------

class PlanningState::History {
 public:
  void Apply(const sop::v1::Envelope& e) {
    using P = sop::v1::Envelope::PayloadCase;
    switch (e.payload_case()) {
      case P::kShipment: {
        const auto& s = e.shipment();
        if (!std::isfinite(s.quantity()) || s.quantity() < 0.0 || !s.has_shipped_at()) return;
        AddShipment(s.item_id(), s.site_id(), s.shipped_at().seconds(), s.quantity());
        return;
      }
      case P::kDemandForecast: {
        const auto& f = e.demand_forecast();
        for (const auto& q : f.quantities()) {
          if (!std::isfinite(q.quantity()) || q.quantity() < 0.0) return;  // rejected by codec
        }
        auto& forecast = forecasts_[model::ItemSiteKey(f.item_id(), f.site_id())];
        for (const auto& q : f.quantities()) {
          forecast.periods[q.period_start().seconds()] = q.quantity();
        }
        return;
      }
      case P::kForecastAdjustment: {
        const auto& a = e.forecast_adjustment();
        if (!std::isfinite(a.quantity_delta()) || !a.has_period_start()) return;
        auto& forecast = forecasts_[model::ItemSiteKey(a.item_id(), a.site_id())];
        const std::string id = a.adjustment_id().empty() ? e.event_id() : a.adjustment_id();
        forecast.adjustments[id] = {a.period_start().seconds(), a.quantity_delta()};
        return;
      }
      case P::kPurchaseOrder: {
        const auto& po = e.purchase_order();
        if (po.po_id().empty()) return;
        auto& line = purchase_lines_[LineKey(po.po_id(), po.line())];
        if (!po.supplier_id().empty()) line.supplier_id = po.supplier_id();
        if (!po.item_id().empty()) line.item_id = po.item_id();
        if (!po.site_id().empty()) line.site_id = po.site_id();
        if (po.has_order_date()) line.ordered_at = po.order_date().seconds();
        if (po.has_due_date() && !line.confirmed) line.expected_at = po.due_date().seconds();
        return;
      }
      case P::kSupplierConfirmation: {
        const auto& c = e.supplier_confirmation();
        auto it = purchase_lines_.find(LineKey(c.po_id(), c.line()));
        if (it == purchase_lines_.end() || !c.has_confirmed_date()) return;
        it->second.expected_at = c.confirmed_date().seconds();
        it->second.confirmed = true;
        return;
      }
      case P::kGoodsReceipt: {
        const auto& r = e.goods_receipt();
        auto it = purchase_lines_.find(LineKey(r.po_id(), r.line()));
        if (it == purchase_lines_.end() || !r.has_received_at() || !std::isfinite(r.quantity()) ||
            r.quantity() < 0.0) {
          return;
        }
        const PurchaseLine& line = it->second;
        Delivery delivery;
        delivery.supplier_id = r.supplier_id().empty() ? line.supplier_id : r.supplier_id();
        delivery.item_id = r.item_id().empty() ? line.item_id : r.item_id();
        delivery.site_id = r.site_id().empty() ? line.site_id : r.site_id();
        delivery.expected_at = line.expected_at;
        delivery.received_at = r.received_at().seconds();
        delivery.ordered_at = line.ordered_at;
        if (!delivery.supplier_id.empty() && delivery.expected_at) {
          deliveries_.push_back(std::move(delivery));
        }
        return;
      }
      case P::kSalesOrder: {
        const auto& so = e.sales_order();
        if (so.order_id().empty()) return;
        const std::string id = LineKey(so.order_id(), so.line());
        auto it = sales_lines_.find(id);
        if (IsClosed(so.status())) {
          if (it == sales_lines_.end()) return;
          changes_.push_back(
              {e.event_id(), it->second.item_id, it->second.site_id, it->second.due_at,
               -it->second.quantity,
               Format("sales order {} cancelled ({} units)", id, it->second.quantity)});
          sales_lines_.erase(it);
          return;
        }
        if (!std::isfinite(so.quantity()) || so.quantity() < 0.0 || !so.has_due_date()) return;
        SalesLine now{so.item_id(), so.site_id(), so.quantity(), so.due_date().seconds()};
        if (it != sales_lines_.end()) {
          const SalesLine& before = it->second;
          if (before.quantity != now.quantity || before.due_at != now.due_at) {
            std::string what = before.quantity != now.quantity
                                   ? Format("quantity {} → {}", before.quantity, now.quantity)
                                   : std::string();
            if (before.due_at != now.due_at) {
              what += (what.empty() ? "" : ", ") + std::string("due date moved");
            }
            changes_.push_back({e.event_id(), now.item_id, now.site_id, now.due_at,
                                now.quantity - before.quantity,
                                Format("sales order {} changed: {}", id, what)});
          }
        }
        sales_lines_[id] = std::move(now);
        return;
      }
      default:
        return;
    }
  }

  void AddShipment(const std::string& item_id, const std::string& site_id, std::int64_t at,
                   double quantity) {
    auto& series = shipments_[model::ItemSiteKey(item_id, site_id)];
    series.item_id = item_id;
    series.site_id = site_id;
    series.shipped.emplace_back(at, quantity);
  }

  /// Fills `out` against `snapshot` and `grid`. `consensus`: item-site key → period start →
  /// consensus quantity received from the forecasting service.
  void Build(const model::Snapshot& snapshot, const BucketGrid& grid,
             const std::map<std::string, std::map<std::int64_t, double>>& consensus,
             planning::DetectionHistory& out) const {
    // Forecast vs actuals, per item-site in index order, buckets ascending.
    std::vector<std::pair<model::ItemSiteIndex, const Shipments*>> sold;
    for (const auto& [key, series] : shipments_) {
      if (auto item_site = snapshot.FindItemSite(series.item_id, series.site_id)) {
        sold.emplace_back(*item_site, &series);
      }
    }
    std::sort(sold.begin(), sold.end(),
              [](const auto& a, const auto& b) { return a.first.value() < b.first.value(); });
    for (const auto& [item_site, series] : sold) {
      std::map<std::int32_t, double> actual;
      for (const auto& [at, quantity] : series->shipped) {
        const std::int32_t b = ExtendedBucket(grid, at);
        if (b < 0) actual[b] += quantity;  // completed buckets only
      }
      if (actual.empty()) continue;
      const std::string key = model::ItemSiteKey(series->item_id, series->site_id);
      std::map<std::int32_t, double> forecast = ForecastInForce(key, grid, consensus);
      // Buckets with a known forecast from the first shipment on: no forecast known is not a
      // forecast of 0 (that would flag every item-site whose history predates its forecasts).
      for (auto f = forecast.lower_bound(actual.begin()->first);
           f != forecast.end() && f->first < 0; ++f) {
        auto a = actual.find(f->first);
        out.forecast_actuals.push_back(
            {item_site, f->first, "", f->second, a != actual.end() ? a->second : 0.0});
      }
    }
    const double bucket_seconds = grid.BucketDays() * 86400.0;
    for (const Delivery& d : deliveries_) {
      planning::SupplierDelivery delivery;
      delivery.supplier_id = d.supplier_id;
      delivery.item_site = snapshot.FindItemSite(d.item_id, d.site_id).value_or(model::kNoItemSite);
      delivery.confirmed_bucket = ExtendedBucket(grid, *d.expected_at);
      delivery.received_bucket = ExtendedBucket(grid, d.received_at);
      delivery.lead_time =
          d.ordered_at ? static_cast<double>(d.received_at - *d.ordered_at) / bucket_seconds : 0.0;
      out.deliveries.push_back(std::move(delivery));
    }
    const std::int64_t plan_start = grid.plan_start().time_since_epoch().count();
    for (const Change& c : changes_) {
      if (c.due_at < plan_start) continue;  // due in the past: no longer planned
      const auto item_site = snapshot.FindItemSite(c.item_id, c.site_id);
      if (!item_site) continue;
      const std::int32_t bucket = grid.BucketOf(Seconds{std::chrono::seconds{c.due_at}});
      if (bucket >= snapshot.H()) continue;
      if (bucket >= snapshot.item_sites[static_cast<std::size_t>(item_site->value())].frozen_fence)
        continue;
      out.changes.push_back({c.event_id, *item_site, bucket, c.quantity_delta, c.description});
    }
  }

 private:
  struct Shipments {
    std::string item_id, site_id;
    std::vector<std::pair<std::int64_t, double>> shipped;  ///< (shipped at, quantity)
  };
  struct FactForecast {
    std::map<std::int64_t, double> periods;  ///< period start → quantity (latest)
    std::map<std::string, std::pair<std::int64_t, double>> adjustments;  ///< id → (period, Δ)
  };
  struct PurchaseLine {
    std::string supplier_id, item_id, site_id;
    std::optional<std::int64_t> ordered_at, expected_at;
    bool confirmed = false;
  };
  struct Delivery {
    std::string supplier_id, item_id, site_id;
    std::optional<std::int64_t> expected_at, ordered_at;
    std::int64_t received_at = 0;
  };
  struct SalesLine {
    std::string item_id, site_id;
    double quantity = 0.0;
    std::int64_t due_at = 0;
  };
  struct Change {
    std::string event_id, item_id, site_id;
    std::int64_t due_at = 0;
    double quantity_delta = 0.0;
    std::string description;
  };

  /// Forecast per past bucket: the consensus periods received for the bucket if any, else the
  /// DemandForecast periods plus adjustments; floored at 0 like the assembler's buckets.
  std::map<std::int32_t, double> ForecastInForce(
      const std::string& key, const BucketGrid& grid,
      const std::map<std::string, std::map<std::int64_t, double>>& consensus) const {
    std::map<std::int32_t, double> from_consensus;
    if (auto it = consensus.find(key); it != consensus.end()) {
      for (const auto& [period, quantity] : it->second) {
        from_consensus[ExtendedBucket(grid, period)] += quantity;
      }
    }
    std::map<std::int32_t, double> from_facts;
    if (auto it = forecasts_.find(key); it != forecasts_.end()) {
      for (const auto& [period, quantity] : it->second.periods) {
        from_facts[ExtendedBucket(grid, period)] += quantity;
      }
      for (const auto& [id, adjustment] : it->second.adjustments) {
        from_facts[ExtendedBucket(grid, adjustment.first)] += adjustment.second;
      }
    }
    for (auto& [bucket, quantity] : from_facts) {
      auto [slot, inserted] = from_consensus.try_emplace(bucket, quantity);
      (void)slot;
      (void)inserted;  // a consensus value of the bucket wins
    }
    for (auto& [bucket, quantity] : from_consensus) quantity = std::max(0.0, quantity);
    return from_consensus;
  }

  std::unordered_map<std::string, Shipments> shipments_;          ///< key: ItemSiteKey
  std::unordered_map<std::string, FactForecast> forecasts_;       ///< key: ItemSiteKey
  std::unordered_map<std::string, PurchaseLine> purchase_lines_;  ///< "po:line"
  std::unordered_map<std::string, SalesLine> sales_lines_;        ///< "order:line"
  std::vector<Delivery> deliveries_;
  std::vector<Change> changes_;
};

// ---------------------------------------------------------------------------------------------

PlanningState::PlanningState(PlanningStateOptions options)
    : options_(options),
      assembler_(std::make_unique<SnapshotAssembler>()),
      history_(std::make_unique<History>()) {}

PlanningState::~PlanningState() = default;

const model::Snapshot* PlanningState::snapshot() const noexcept {
  return engine_ != nullptr ? &engine_->snapshot() : nullptr;
}

const std::optional<BucketGrid>& PlanningState::grid() const noexcept {
  return assembler_->grid();
}

Result<bool> PlanningState::ApplyFact(const PartitionKey& key, std::string_view fact_bytes) {
  sop::v1::Fact fact;
  if (!fact.ParseFromArray(fact_bytes.data(), static_cast<int>(fact_bytes.size()))) {
    return InvalidField("fact", "not a sop.v1.Fact", std::to_string(fact_bytes.size()) + " bytes");
  }
  const sop::v1::Envelope& envelope = fact.envelope();
  if (envelope.event_id().empty()) {
    return InvalidField("fact.envelope.event_id", "must not be empty", "");
  }
  if (envelope.has_transfer_demand()) return ApplyTransferDemand(key, fact);
  Partition& partition = partitions_[key];
  if (partition.event_ids.contains(envelope.event_id())) {
    ++stats_.duplicates;
    return false;
  }
  if (!envelope.site().empty() && !partition.sites.contains(envelope.site())) {
    // A site planned from now on: vectors it demands from a supplier planned here were taken as
    // external transfer demand so far; the netting engine computes them now.
    if (!PlansSite(envelope.site()) && DemandsExternally(envelope.site())) rebuild_ = true;
    partition.sites.insert(envelope.site());
  }
  if (IsCompactShipment(envelope)) {
    // History only: kept as (id, shipped at, quantity); the assembler merely counts shipments.
    const auto& s = envelope.shipment();
    auto& series = partition.shipments[model::ItemSiteKey(s.item_id(), s.site_id())];
    series.item_id = s.item_id();
    series.site_id = s.site_id();
    series.event_ids.push_back(envelope.event_id());
    series.shipped.emplace_back(s.shipped_at().seconds(), s.quantity());
    ++partition.shipment_count;
  } else {
    partition.facts.emplace_back(fact_bytes);
  }
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

  history_->Apply(envelope);
  NoteTransferItem(key, envelope);
  std::vector<ModelUpdate> updates;
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

  for (const ModelUpdate& update : updates) {
    if (const auto* forecast = std::get_if<ForecastSet>(&update)) {
      // A consensus forecast from sop.forecast.v1 wins over the fact's statistical one.
      if (HasForecastOverride(model::ItemSiteKey(forecast->item_id, forecast->site_id))) continue;
    }
    std::optional<planning::Change> change = ToChange(engine_->snapshot(), update);
    if (change) {
      // A fact never changes an external item-site (its site is not planned here).
      if (auto target = ChangedItemSite(*change); target && IsExternal(*target)) continue;
    }
    if (!change || !engine_->Stage(*change)) {
      // Something the engine cannot take incrementally (master data, an item the snapshot does
      // not plan): the rebuild takes it in, with everything staged so far (it reports what
      // differs from the last committed plan).
      rebuild_ = true;
      return true;
    }
  }
  ++stats_.net_changes;
  NoteStaged(cause);
  return true;
}

Status PlanningState::ApplyForecast(const PartitionKey& key, std::string_view update_bytes) {
  sop::v1::ForecastUpdate update;
  if (!update.ParseFromArray(update_bytes.data(), static_cast<int>(update_bytes.size()))) {
    return InvalidField("forecast_update", "not a sop.v1.ForecastUpdate",
                        std::to_string(update_bytes.size()) + " bytes");
  }
  if (update.item_id().empty() || update.site_id().empty()) {
    return InvalidField("forecast_update.item_id/site_id", "must not be empty",
                        update.item_id() + "@" + update.site_id());
  }
  Partition& partition = partitions_[key];
  const std::string item_site_key = model::ItemSiteKey(update.item_id(), update.site_id());
  partition.forecasts[item_site_key] = std::string(update_bytes);
  ConsensusHistory& consensus = partition.consensus[item_site_key];
  consensus.item_id = update.item_id();
  consensus.site_id = update.site_id();
  for (const auto& period : update.periods()) {
    if (period.has_period_start()) {
      consensus.by_period_start[period.period_start().seconds()] = period.consensus();
    } else if (grid() && period.bucket() >= 0 && period.bucket() < grid()->buckets()) {
      consensus.by_period_start[grid()->BucketStart(period.bucket()).time_since_epoch().count()] =
          period.consensus();
    }
  }
  partition.dirty = true;
  if (update.has_cause()) last_cause_ = update.cause();

  if (rebuild_ || reassemble_ || engine_ == nullptr) {
    rebuild_ = true;
    return {};
  }
  const auto item_site = engine_->snapshot().FindItemSite(update.item_id(), update.site_id());
  if (!item_site) return {};              // not planned here (yet): applied at the next rebuild
  if (IsExternal(*item_site)) return {};  // the demanding site is planned elsewhere
  const auto horizon = engine_->snapshot().H();
  for (const auto& period : update.periods()) {
    if (period.bucket() < 0 || period.bucket() >= horizon) continue;
    if (!engine_->Stage(planning::SetForecast{*item_site, period.bucket(),
                                              std::max(0.0, period.consensus())})) {
      rebuild_ = true;  // the rebuild takes in what is staged
      return {};
    }
  }
  ++stats_.net_changes;
  sop::v1::Cause cause = update.cause();
  if (cause.description().empty()) {
    cause.set_description("consensus forecast " + update.item_id() + "@" + update.site_id());
  }
  NoteStaged(cause);
  return {};
}

void PlanningState::NoteStaged(const sop::v1::Cause& cause) {
  if (pending_events_ == 0) {
    pending_cause_ = cause;
    pending_cause_.clear_event_ids();
    pending_cause_.clear_event_count();
  } else if (cause.has_ingested_at()) {
    const auto& at = cause.ingested_at();
    const auto& earliest = pending_cause_.ingested_at();
    if (!pending_cause_.has_ingested_at() ||
        std::pair(at.seconds(), at.nanos()) < std::pair(earliest.seconds(), earliest.nanos())) {
      *pending_cause_.mutable_ingested_at() = at;
    }
  }
  if (static_cast<int>(pending_ids_.size()) < kMaxCauseEventIds) {
    pending_ids_.push_back(cause.event_id());
  }
  ++pending_events_;
}

void PlanningState::ClearStaged() {
  pending_events_ = 0;
  pending_cause_.Clear();
  pending_ids_.clear();
}

bool PlanningState::CommitNetChange() {
  if (pending_events_ == 0 || engine_ == nullptr || rebuild_pending()) return false;
  auto replanned = engine_->Commit();
  if (!replanned) {
    // Only before a full run, which an engine here always had: rebuild to be safe.
    rebuild_ = true;
    return false;
  }
  sop::v1::Cause cause = std::move(pending_cause_);
  if (pending_events_ > 1) {
    for (std::string& id : pending_ids_) cause.add_event_ids(std::move(id));
    cause.set_description(cause.description() + Format(" (+{} more events)", pending_events_ - 1));
  }
  cause.set_event_count(static_cast<std::int32_t>(
      std::min<std::int64_t>(pending_events_, std::numeric_limits<std::int32_t>::max())));
  ClearStaged();
  ++stats_.net_change_commits;
  NoteNetChange(*replanned, cause);
  return true;
}

void PlanningState::NoteNetChange(std::span<const model::ItemSiteIndex> all_item_sites,
                                  const sop::v1::Cause& cause) {
  std::vector<model::ItemSiteIndex> planned;
  planned.reserve(all_item_sites.size());
  for (model::ItemSiteIndex i : all_item_sites) {
    if (!IsExternal(i)) planned.push_back(i);
  }
  const std::span<const model::ItemSiteIndex> item_sites(planned);
  ++version_;
  changed_marks_.resize(engine_->snapshot().item_site_count(), 0);
  for (model::ItemSiteIndex i : item_sites) changed_marks_[static_cast<std::size_t>(i.value())] = 1;
  if (listener_ != nullptr) listener_->OnNetChange(*engine_, item_sites, cause, version_);
}

PlanChanges PlanningState::Flush() {
  // A changed partition set can add or remove whole sites: report those in full.
  if (rebuild_ || reassemble_) {
    RebuildImpl(last_cause_, /*full=*/reassemble_);
  } else {
    CommitNetChange();
  }
  return TakeChanges();
}

PlanChanges PlanningState::Rebuild(const sop::v1::Cause& cause, bool full) {
  RebuildImpl(cause, full);
  return TakeChanges();
}

void PlanningState::Reassemble() {
  assembler_ = std::make_unique<SnapshotAssembler>();
  history_ = std::make_unique<History>();
  transfer_items_.clear();
  sop::v1::Fact fact;
  // Partitions in key order, facts in their applied order: within a site the stream order is
  // preserved (one site is one partition), which is all the assembler's semantics need.
  for (const auto& [key, partition] : partitions_) {
    for (const std::string& bytes : partition.facts) {
      if (!fact.ParseFromString(bytes)) continue;
      history_->Apply(fact.envelope());
      NoteTransferItem(key, fact.envelope());
      assembler_->Apply(fact.envelope());
    }
    for (const auto& [item_site, series] : partition.shipments) {
      for (const auto& [at, quantity] : series.shipped) {
        history_->AddShipment(series.item_id, series.site_id, at, quantity);
      }
    }
  }
  reassemble_ = false;
}

void PlanningState::RebuildImpl(const sop::v1::Cause& cause, bool full) {
  if (reassemble_) Reassemble();
  rebuild_ = false;
  // Staged net change is discarded with the engine: the new plan includes its inputs, and its
  // item-sites are compared with the last committed plan below. Item-sites whose inputs a staged
  // change touched directly are reported even when their rows come out equal (the old engine's
  // snapshot already holds the staged on-hand, which the comparison reads).
  std::unordered_set<std::string> staged_keys;
  if (engine_ != nullptr && engine_->staged()) {
    const model::Snapshot& before = engine_->snapshot();
    for (model::ItemSiteIndex i : engine_->staged_item_sites()) {
      const auto& is = before.item_sites[static_cast<std::size_t>(i.value())];
      staged_keys.insert(model::ItemSiteKey(
          is.item_id, before.sites[static_cast<std::size_t>(is.site.value())].id));
    }
  }
  ClearStaged();
  // Net-change marks refer to the engine about to be replaced: keep them by key.
  if (engine_ != nullptr) {
    const model::Snapshot& before = engine_->snapshot();
    for (std::size_t i = 0; i < changed_marks_.size() && i < before.item_site_count(); ++i) {
      if (changed_marks_[i] == 0) continue;
      const auto& is = before.item_sites[i];
      changed_keys_.insert(model::ItemSiteKey(
          is.item_id, before.sites[static_cast<std::size_t>(is.site.value())].id));
    }
  }
  changed_marks_.clear();
  auto built = assembler_->Build();
  if (!built) {
    engine_.reset();  // no PlanningSettings yet: nothing to plan
    findings_.clear();
    changed_keys_.clear();
    external_index_.clear();
    return;
  }
  findings_ = std::move(built->findings);
  ApplyForecastOverrides(built->snapshot);
  const std::size_t previous_external = external_begin_;
  AddExternalDemands(built->snapshot);
  std::unique_ptr<planning::NettingEngine> previous = std::move(engine_);
  const std::size_t previous_external_begin = previous_external;
  engine_ = std::make_unique<planning::NettingEngine>(
      std::move(built->snapshot), planning::NettingPolicy{.pegging = options_.pegging});
  engine_->RunFull();
  ++stats_.full_runs;
  ++version_;
  changed_rebuilt_ = true;

  const model::Snapshot& snapshot = engine_->snapshot();
  const bool all = full || previous == nullptr;
  std::vector<model::ItemSiteIndex> changed;
  changed.reserve(snapshot.item_site_count());
  changed_marks_.assign(snapshot.item_site_count(), 0);
  for (std::size_t i = 0; i < external_begin_; ++i) {
    const model::ItemSiteIndex item_site(static_cast<std::int32_t>(i));
    const auto& is = snapshot.item_sites[i];
    const std::string& site_id = snapshot.sites[static_cast<std::size_t>(is.site.value())].id;
    if (!all) {
      // Master data changes touch few item-sites: report only records that differ.
      const auto before = previous->snapshot().FindItemSite(is.item_id, site_id);
      const bool was_external =
          before && static_cast<std::size_t>(before->value()) >= previous_external_begin;
      const std::string key = model::ItemSiteKey(is.item_id, site_id);
      if (before && !was_external && !staged_keys.contains(key) &&
          SameRecord(*engine_, item_site, *previous, *before)) {
        if (changed_keys_.contains(key)) changed_marks_[i] = 1;
        continue;
      }
    }
    changed_marks_[i] = 1;
    changed.push_back(item_site);
  }
  changed_keys_.clear();
  if (all) changed_all_ = true;
  previous.reset();
  if (listener_ != nullptr) {
    sop::v1::Cause full_cause = cause;
    full_cause.set_description(
        (all ? "full replan" : "replan") +
        (cause.description().empty() ? std::string() : " after " + cause.description()));
    listener_->OnRebuild(*engine_, changed, full_cause, all, version_);
  }
}

PlanChanges PlanningState::TakeChanges() {
  PlanChanges out;
  out.version = version_;
  out.rebuilt = std::exchange(changed_rebuilt_, false);
  out.all = std::exchange(changed_all_, false);
  if (engine_ != nullptr) {
    for (std::size_t i = 0; i < changed_marks_.size(); ++i) {
      if (changed_marks_[i] != 0) out.item_sites.emplace_back(static_cast<std::int32_t>(i));
    }
  } else {
    out.all = false;
  }
  changed_marks_.assign(engine_ != nullptr ? engine_->snapshot().item_site_count() : 0, 0);
  return out;
}

bool PlanningState::HasForecastOverride(const std::string& item_site_key) const {
  for (const auto& [key, partition] : partitions_) {
    if (partition.forecasts.contains(item_site_key)) return true;
  }
  return false;
}

void PlanningState::ApplyForecastOverrides(model::Snapshot& snapshot) const {
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

planning::DetectionHistory PlanningState::BuildHistory() const {
  planning::DetectionHistory out;
  if (engine_ == nullptr || !grid()) return out;
  std::map<std::string, std::map<std::int64_t, double>> consensus;
  for (const auto& [key, partition] : partitions_) {
    for (const auto& [item_site_key, periods] : partition.consensus) {
      auto& merged = consensus[item_site_key];
      for (const auto& [start, quantity] : periods.by_period_start) merged[start] = quantity;
    }
  }
  history_->Build(engine_->snapshot(), *grid(), consensus, out);
  out.extra_findings = findings_;
  return out;
}

std::string PlanningState::SerializePartition(const PartitionKey& key) const {
  std::string out(kMagic);
  auto it = partitions_.find(key);
  if (it == partitions_.end()) return out;
  for (const std::string& fact : it->second.facts) AppendRecord(out, kFactRecord, fact);
  std::string record;
  for (const auto& [item_site, series] : it->second.shipments) {
    record.clear();
    AppendBytes(record, series.item_id);
    AppendBytes(record, series.site_id);
    AppendU32(record, static_cast<std::uint32_t>(series.shipped.size()));
    for (std::size_t k = 0; k < series.shipped.size(); ++k) {
      AppendBytes(record, series.event_ids[k]);
      AppendU64(record, static_cast<std::uint64_t>(series.shipped[k].first));
      AppendU64(record, std::bit_cast<std::uint64_t>(series.shipped[k].second));
    }
    AppendRecord(out, kShipmentRecord, record);
  }
  for (const auto& [item_site, update] : it->second.forecasts) {
    AppendRecord(out, kForecastRecord, update);
  }
  sop::v1::ForecastUpdate periods;
  for (const auto& [item_site, consensus] : it->second.consensus) {
    periods.Clear();
    periods.set_item_id(consensus.item_id);
    periods.set_site_id(consensus.site_id);
    for (const auto& [start, quantity] : consensus.by_period_start) {
      auto* period = periods.add_periods();
      period->mutable_period_start()->set_seconds(start);
      period->set_consensus(quantity);
    }
    AppendRecord(out, kConsensusRecord, periods.SerializeAsString());
  }
  for (const auto& [transfer_key, demand] : it->second.external) {
    AppendRecord(out, kExternalRecord, demand.SerializeAsString());
  }
  for (const auto& [transfer_key, demand] : it->second.published) {
    AppendRecord(out, kPublishedRecord, demand.SerializeAsString());
  }
  return out;
}

Status PlanningState::RestorePartition(const PartitionKey& key, std::string_view bytes) {
  const std::string where = "snapshot of " + key.ToString() + ": ";
  std::size_t pos = 0;
  if (bytes.starts_with(kMagic)) {
    pos = kMagic.size();
  } else if (bytes.starts_with(kLegacyMagic)) {
    pos = kLegacyMagic.size();
  } else {
    return Fail(Errc::kDataLoss, where + "not a planning partition snapshot (bad magic)");
  }
  Partition state;
  sop::v1::Fact fact;
  sop::v1::ForecastUpdate update;
  auto merge = [&](const sop::v1::ForecastUpdate& u) {
    ConsensusHistory& consensus = state.consensus[model::ItemSiteKey(u.item_id(), u.site_id())];
    consensus.item_id = u.item_id();
    consensus.site_id = u.site_id();
    for (const auto& period : u.periods()) {
      if (period.has_period_start()) {
        consensus.by_period_start[period.period_start().seconds()] = period.consensus();
      }
    }
  };
  while (pos < bytes.size()) {
    if (bytes.size() - pos < 5) return Fail(Errc::kDataLoss, where + "truncated record");
    const char kind = bytes[pos];
    std::uint32_t length = 0;
    for (int k = 0; k < 4; ++k) {
      length |= static_cast<std::uint32_t>(
                    static_cast<unsigned char>(bytes[pos + 1 + static_cast<std::size_t>(k)]))
                << (8 * k);
    }
    pos += 5;
    if (bytes.size() - pos < length) return Fail(Errc::kDataLoss, where + "truncated record");
    const std::string_view record = bytes.substr(pos, length);
    pos += length;
    if (kind == kFactRecord) {
      if (!fact.ParseFromArray(record.data(), static_cast<int>(record.size()))) {
        return Fail(Errc::kDataLoss, where + "a fact does not parse");
      }
      state.event_ids.insert(fact.envelope().event_id());
      if (!fact.envelope().site().empty()) state.sites.insert(fact.envelope().site());
      state.facts.emplace_back(record);
    } else if (kind == kForecastRecord || kind == kConsensusRecord) {
      if (!update.ParseFromArray(record.data(), static_cast<int>(record.size()))) {
        return Fail(Errc::kDataLoss, where + "a forecast does not parse");
      }
      if (kind == kForecastRecord) {
        state.forecasts[model::ItemSiteKey(update.item_id(), update.site_id())] =
            std::string(record);
      }
      merge(update);
    } else if (kind == kShipmentRecord) {
      Reader reader{record};
      Partition::Shipments series;
      std::uint32_t count = 0;
      if (!reader.Bytes(series.item_id) || !reader.Bytes(series.site_id) || !reader.U32(count)) {
        return Fail(Errc::kDataLoss, where + "a shipment history does not parse");
      }
      for (std::uint32_t k = 0; k < count; ++k) {
        std::string id;
        std::uint64_t at = 0, quantity = 0;
        if (!reader.Bytes(id) || !reader.U64(at) || !reader.U64(quantity)) {
          return Fail(Errc::kDataLoss, where + "a shipment history does not parse");
        }
        state.event_ids.insert(id);
        series.event_ids.push_back(std::move(id));
        series.shipped.emplace_back(static_cast<std::int64_t>(at), std::bit_cast<double>(quantity));
      }
      if (!series.site_id.empty()) state.sites.insert(series.site_id);
      state.shipment_count += count;
      state.shipments[model::ItemSiteKey(series.item_id, series.site_id)] = std::move(series);
    } else if (kind == kExternalRecord || kind == kPublishedRecord) {
      sop::v1::TransferDemand demand;
      if (!demand.ParseFromArray(record.data(), static_cast<int>(record.size()))) {
        return Fail(Errc::kDataLoss, where + "a transfer demand does not parse");
      }
      const std::string transfer_key =
          TransferKey(demand.item_id(), demand.supplying_site_id(), demand.demanding_site_id());
      if (kind == kExternalRecord) {
        state.external[transfer_key] = std::move(demand);
      } else {
        state.restored_epoch = std::max(state.restored_epoch, demand.epoch());
        state.published[transfer_key] = std::move(demand);
      }
    } else {
      return Fail(Errc::kDataLoss,
                  where + "unknown record kind " + std::to_string(static_cast<int>(kind)));
    }
  }
  auto& slot = partitions_[key];
  stats_.facts_applied += static_cast<std::int64_t>(state.facts.size()) + state.shipment_count -
                          static_cast<std::int64_t>(slot.facts.size()) - slot.shipment_count;
  slot = std::move(state);
  slot.republish = true;  // what this replica's predecessor published last may be lost
  reassemble_ = true;
  return {};
}

void PlanningState::DropPartition(const PartitionKey& key) {
  auto it = partitions_.find(key);
  if (it == partitions_.end()) return;
  stats_.facts_applied -=
      static_cast<std::int64_t>(it->second.facts.size()) + it->second.shipment_count;
  partitions_.erase(it);
  reassemble_ = true;
}

std::vector<std::string> PlanningState::TakeNewEventIds(const PartitionKey& key) {
  auto it = partitions_.find(key);
  if (it == partitions_.end()) return {};
  return std::exchange(it->second.new_event_ids, {});
}

std::vector<PartitionKey> PlanningState::TakeDirtyPartitions() {
  std::vector<PartitionKey> out;
  for (auto& [key, partition] : partitions_) {
    if (partition.dirty) {
      out.push_back(key);
      partition.dirty = false;
    }
  }
  return out;
}

std::vector<PartitionKey> PlanningState::Partitions() const {
  std::vector<PartitionKey> out;
  out.reserve(partitions_.size());
  for (const auto& [key, partition] : partitions_) out.push_back(key);
  return out;
}

PlanningStats PlanningState::stats() const {
  PlanningStats out = stats_;
  for (const auto& [key, partition] : partitions_) {
    out.forecasts += static_cast<std::int64_t>(partition.forecasts.size());
  }
  if (engine_ != nullptr) {
    const std::size_t n = engine_->snapshot().item_site_count();
    std::size_t external_orders = 0;
    for (std::size_t i = external_begin_; i < n; ++i) {
      external_orders += engine_->plan().orders[i].size();
    }
    out.item_sites = static_cast<std::int64_t>(external_begin_);
    out.planned_orders =
        static_cast<std::int64_t>(engine_->plan().PlannedOrderCount() - external_orders);
    out.transfer_demands = static_cast<std::int64_t>(n - external_begin_);
  }
  return out;
}

}  // namespace sop::codec

namespace sop::codec {

std::string PlanningState::TransferKey(std::string_view item_id, std::string_view supplying_site_id,
                                       std::string_view demanding_site_id) {
  std::string key(item_id);
  key.push_back('\x1f');
  key.append(supplying_site_id);
  key.push_back('\x1f');
  key.append(demanding_site_id);
  return key;
}

bool PlanningState::PlansSite(std::string_view site_id) const {
  for (const auto& [key, partition] : partitions_) {
    if (partition.sites.find(std::string(site_id)) != partition.sites.end()) return true;
  }
  return false;
}

bool PlanningState::DemandsExternally(std::string_view site_id) const {
  for (const auto& [key, partition] : partitions_) {
    for (const auto& [transfer_key, demand] : partition.external) {
      if (demand.demanding_site_id() == site_id) return true;
    }
  }
  return false;
}

bool PlanningState::GridMatches(const sop::v1::TransferDemand& demand) const {
  const auto& g = grid();
  return g && demand.plan_start().seconds() == g->plan_start().time_since_epoch().count() &&
         demand.horizon_buckets() == g->buckets() && demand.bucket_days() == g->BucketDays() &&
         demand.release_quantities_size() <= g->buckets();
}

void PlanningState::NoteTransferItem(const PartitionKey& key, const sop::v1::Envelope& envelope) {
  if (!envelope.has_item()) return;
  const auto& item = envelope.item();
  const std::string& site = item.site_id().empty() ? envelope.site() : item.site_id();
  const std::string item_site_key = model::ItemSiteKey(item.item_id(), site);
  if (item.type() == sop::v1::ITEM_TYPE_TRANSFER && !item.source_site_id().empty() &&
      item.source_site_id() != site && !item.item_id().empty()) {
    transfer_items_[item_site_key] = {item.item_id(), site, item.source_site_id(), key};
  } else {
    transfer_items_.erase(item_site_key);
  }
}

Result<bool> PlanningState::ApplyTransferDemand(const PartitionKey& key,
                                                const sop::v1::Fact& fact) {
  const sop::v1::Envelope& envelope = fact.envelope();
  const sop::v1::TransferDemand& demand = envelope.transfer_demand();
  if (demand.item_id().empty()) {
    return InvalidField("transfer_demand.item_id", "must not be empty", "");
  }
  if (demand.demanding_site_id().empty()) {
    return InvalidField("transfer_demand.demanding_site_id", "must not be empty", "");
  }
  if (demand.supplying_site_id() != envelope.site() || demand.supplying_site_id().empty()) {
    return InvalidField("transfer_demand.supplying_site_id",
                        "must equal the envelope's site '" + envelope.site() + "'",
                        demand.supplying_site_id());
  }
  if (demand.supplying_site_id() == demand.demanding_site_id()) {
    return InvalidField("transfer_demand.demanding_site_id", "must differ from the supplying site",
                        demand.demanding_site_id());
  }
  for (int b = 0; b < demand.release_quantities_size(); ++b) {
    const double q = demand.release_quantities(b);
    if (!std::isfinite(q) || q < 0.0) {
      return InvalidField("transfer_demand.release_quantities[" + std::to_string(b) + "]",
                          "must be finite and >= 0", Format("{}", q));
    }
  }
  const std::string transfer_key =
      TransferKey(demand.item_id(), demand.supplying_site_id(), demand.demanding_site_id());
  Partition& partition = partitions_[key];
  auto held = partition.external.find(transfer_key);
  if (held != partition.external.end() && !Newer(demand, held->second)) {
    ++stats_.duplicates;  // a re-delivery (equal version) or a stale vector (smaller one)
    return false;
  }
  const bool had_vector =
      held != partition.external.end() && held->second.release_quantities_size() > 0;
  partition.external[transfer_key] = demand;
  partition.dirty = true;

  sop::v1::Cause cause;
  cause.set_event_id(envelope.event_id());
  *cause.mutable_ingested_at() = fact.ingested_at();
  cause.set_description("transfer demand " + demand.item_id() + " " + demand.supplying_site_id() +
                        " → " + demand.demanding_site_id());
  last_cause_ = cause;

  // Planned here anyway (the engine computes it), or nothing planned yet: kept only.
  if (PlansSite(demand.demanding_site_id())) return true;
  if (reassemble_ || rebuild_ || engine_ == nullptr) {
    if (engine_ != nullptr) rebuild_ = true;
    return true;
  }
  auto existing = external_index_.find(transfer_key);
  const bool wanted = demand.release_quantities_size() > 0 && GridMatches(demand);
  if (existing == external_index_.end()) {
    // A new external item-site (if its supplier is planned here) is a structural change.
    if (wanted && engine_->snapshot().FindItemSite(demand.item_id(), demand.supplying_site_id())) {
      rebuild_ = true;
    }
    return true;
  }
  if (!wanted || !had_vector) {
    rebuild_ = true;  // the external item-site goes away
    return true;
  }
  // Net change: the external item-site's forecast is the vector; only changed buckets move.
  const model::ItemSiteIndex item_site = existing->second;
  const std::span<const double> row = engine_->snapshot().Forecast(item_site);
  std::vector<planning::Change> changes;
  for (std::size_t b = 0; b < row.size(); ++b) {
    const int index = static_cast<int>(b);
    const double q =
        index < demand.release_quantities_size() ? demand.release_quantities(index) : 0.0;
    if (q != row[b]) {
      changes.emplace_back(planning::SetForecast{item_site, static_cast<model::Bucket>(b), q});
    }
  }
  if (changes.empty()) return true;
  for (const planning::Change& change : changes) {
    if (!engine_->Stage(change)) {
      rebuild_ = true;  // the rebuild takes in what is staged
      return true;
    }
  }
  ++stats_.net_changes;
  NoteStaged(cause);
  return true;
}

void PlanningState::AddExternalDemands(model::Snapshot& snapshot) {
  external_index_.clear();
  external_begin_ = snapshot.item_site_count();
  external_site_begin_ = snapshot.sites.size();
  const auto horizon = static_cast<std::size_t>(snapshot.H());
  for (const auto& [key, partition] : partitions_) {
    for (const auto& [transfer_key, demand] : partition.external) {
      if (demand.release_quantities_size() == 0 || !GridMatches(demand)) continue;
      if (PlansSite(demand.demanding_site_id())) continue;
      const auto source = snapshot.FindItemSite(demand.item_id(), demand.supplying_site_id());
      if (!source || snapshot.FindItemSite(demand.item_id(), demand.demanding_site_id())) continue;
      std::int32_t site = 0;
      if (auto found = snapshot.site_ids.Find(demand.demanding_site_id())) {
        site = *found;
      } else {
        site = snapshot.site_ids.Intern(demand.demanding_site_id());
        snapshot.sites.push_back(model::Site{demand.demanding_site_id(),
                                             "planned by another replica",
                                             model::SiteKind::kDistributionCenter});
      }
      const auto& supplier = snapshot.item_sites[static_cast<std::size_t>(source->value())];
      model::ItemSite external;
      external.item_id = demand.item_id();
      external.site = model::SiteIndex(site);
      external.description = "transfer demand of " + demand.demanding_site_id();
      external.kind = model::ItemKind::kTransfer;
      external.unit_cost = supplier.unit_cost;
      external.unit_price = demand.unit_price();
      external.family = supplier.family;
      external.source_site = supplier.site;
      external.source = *source;
      const auto index = static_cast<std::int32_t>(snapshot.item_sites.size());
      snapshot.item_sites.push_back(std::move(external));
      snapshot.item_site_keys.Intern(
          model::ItemSiteKey(demand.item_id(), demand.demanding_site_id()));
      snapshot.bom_offsets.push_back(snapshot.bom_offsets.back());
      snapshot.routing_offsets.push_back(snapshot.routing_offsets.back());
      snapshot.forecast.resize(snapshot.forecast.size() + horizon, 0.0);
      for (int b = 0; b < demand.release_quantities_size(); ++b) {
        snapshot.forecast[static_cast<std::size_t>(index) * horizon + static_cast<std::size_t>(b)] =
            demand.release_quantities(b);
      }
      external_index_[transfer_key] = model::ItemSiteIndex(index);
    }
  }
}

std::vector<sop::v1::Envelope> PlanningState::TakeTransferDemands() {
  std::vector<sop::v1::Envelope> out;
  if (engine_ == nullptr || rebuild_pending() || net_change_pending() || !grid()) return out;
  const model::Snapshot& snapshot = engine_->snapshot();
  const planning::Plan& plan = engine_->plan();
  const BucketGrid& g = *grid();
  const std::int64_t now = now_ms_ ? now_ms_()
                                   : std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count();
  auto publish = [&](Partition& partition, const std::string& transfer_key,
                     sop::v1::TransferDemand demand) {
    if (partition.epoch == 0) partition.epoch = std::max(now, partition.restored_epoch + 1);
    auto previous = partition.published.find(transfer_key);
    const bool same_epoch =
        previous != partition.published.end() && previous->second.epoch() == partition.epoch;
    demand.set_epoch(partition.epoch);
    demand.set_sequence(same_epoch ? previous->second.sequence() + 1 : 1);
    sop::v1::Envelope& envelope = out.emplace_back();
    envelope.set_event_id(Format("mrp:transfer-demand:{}:{}>{}:{}.{}", demand.item_id(),
                                 demand.supplying_site_id(), demand.demanding_site_id(),
                                 demand.epoch(), demand.sequence()));
    envelope.set_source_system("sop-mrp");
    envelope.set_site(demand.supplying_site_id());
    *envelope.mutable_transfer_demand() = demand;
    partition.published[transfer_key] = std::move(demand);
    partition.dirty = true;
    ++stats_.transfer_demands_published;
  };
  std::set<std::pair<PartitionKey, std::string>> current;
  for (const auto& [item_site_key, item] : transfer_items_) {
    auto owner = partitions_.find(item.partition);
    if (owner == partitions_.end()) continue;
    Partition& partition = owner->second;
    const std::string transfer_key = TransferKey(item.item_id, item.source_site_id, item.site_id);
    current.emplace(item.partition, transfer_key);
    sop::v1::TransferDemand demand;
    demand.set_item_id(item.item_id);
    demand.set_supplying_site_id(item.source_site_id);
    demand.set_demanding_site_id(item.site_id);
    demand.mutable_plan_start()->set_seconds(g.plan_start().time_since_epoch().count());
    demand.set_horizon_buckets(g.buckets());
    demand.set_bucket_days(g.BucketDays());
    if (auto index = snapshot.FindItemSite(item.item_id, item.site_id);
        index && !IsExternal(*index)) {
      const auto row = plan.Row(plan.planned_releases, *index);
      if (std::any_of(row.begin(), row.end(), [](double q) { return q != 0.0; })) {
        demand.mutable_release_quantities()->Add(row.begin(), row.end());
      }
      demand.set_unit_price(
          snapshot.item_sites[static_cast<std::size_t>(index->value())].unit_price);
    }
    auto previous = partition.published.find(transfer_key);
    if (previous == partition.published.end()) {
      if (demand.release_quantities_size() > 0) publish(partition, transfer_key, std::move(demand));
      continue;
    }
    const sop::v1::TransferDemand& last = previous->second;
    const bool same =
        last.plan_start().seconds() == demand.plan_start().seconds() &&
        last.horizon_buckets() == demand.horizon_buckets() &&
        last.bucket_days() == demand.bucket_days() && last.unit_price() == demand.unit_price() &&
        std::equal(last.release_quantities().begin(), last.release_quantities().end(),
                   demand.release_quantities().begin(), demand.release_quantities().end());
    if (!same || (partition.republish && demand.release_quantities_size() > 0)) {
      publish(partition, transfer_key, std::move(demand));
    }
  }
  // Item-sites that stopped being transfer items (or moved to another source): one empty vector.
  for (auto& [key, partition] : partitions_) {
    std::vector<std::string> gone;
    for (const auto& [transfer_key, last] : partition.published) {
      if (last.release_quantities_size() > 0 && !current.contains({key, transfer_key})) {
        gone.push_back(transfer_key);
      }
    }
    for (const std::string& transfer_key : gone) {
      sop::v1::TransferDemand demand = partition.published[transfer_key];
      demand.clear_release_quantities();
      publish(partition, transfer_key, std::move(demand));
    }
    partition.republish = false;
  }
  return out;
}

}  // namespace sop::codec
