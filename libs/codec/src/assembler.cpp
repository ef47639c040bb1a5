#include "sop/codec/assembler.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>

#include "sop/codec/jsonl.hpp"
#include "sop/model/snapshot_builder.hpp"
#include "sop/model/text.hpp"

namespace sop::codec {
namespace {

using model::Format;

Seconds ToSeconds(const google::protobuf::Timestamp& ts) { return Seconds{std::chrono::seconds{ts.seconds()}}; }

std::string DateText(Seconds t) {
  const auto day = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd{day};
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buffer;
}

std::string LineKey(const std::string& document, std::int32_t line) { return document + ":" + std::to_string(line); }

model::BucketKind ToBucketKind(sop::v1::BucketSize size) {
  switch (size) {
    case sop::v1::BUCKET_SIZE_DAY: return model::BucketKind::kDay;
    case sop::v1::BUCKET_SIZE_MONTH: return model::BucketKind::kMonth;
    default: return model::BucketKind::kWeek;
  }
}

bool IsClosed(sop::v1::OrderStatus status) {
  return status == sop::v1::ORDER_STATUS_CANCELLED || status == sop::v1::ORDER_STATUS_CLOSED;
}

}  // namespace

void SnapshotAssembler::Reject(const sop::v1::Envelope& envelope, std::string field, std::string message) {
  ++stats_.rejected;
  model::Finding finding;
  finding.type = model::FindingType::kDataQuality;
  finding.subject = envelope.event_id().empty() ? std::string("(no event id)") : envelope.event_id();
  finding.message = "event " + finding.subject + ": " + field + ": " + message;
  finding.field = std::move(field);
  findings_.push_back(std::move(finding));
}

bool SnapshotAssembler::CheckQuantity(const sop::v1::Envelope& envelope, const char* field, double value) {
  if (std::isfinite(value) && value >= 0.0) return true;
  Reject(envelope, field, Format("must be a finite quantity >= 0, got {}; event ignored", value));
  return false;
}

bool SnapshotAssembler::CheckDate(const sop::v1::Envelope& envelope, const char* field, bool present) {
  if (present) return true;
  Reject(envelope, field, "missing date; event ignored");
  return false;
}

void SnapshotAssembler::Apply(const sop::v1::Envelope& e, std::vector<ModelUpdate>* updates) {
  ++stats_.events;
  std::vector<ModelUpdate>* const requested = updates;
  if (!grid_) updates = nullptr;  // nothing is bucket-addressable before the first settings
  using P = sop::v1::Envelope::PayloadCase;
  switch (e.payload_case()) {
    case P::kSiteMaster: {
      const auto& m = e.site_master();
      if (m.site_id().empty()) return Reject(e, "site_master.site_id", "empty; event ignored");
      model::SiteRecord site{m.site_id(), m.name(),
                             m.type() == sop::v1::SITE_TYPE_DISTRIBUTION_CENTER ? model::SiteKind::kDistributionCenter
                                                                                 : model::SiteKind::kPlant};
      sites_[m.site_id()] = site;
      if (updates) updates->push_back(SiteUpsert{std::move(site)});
      return;
    }
    case P::kPlanningSettings: {
      const auto& s = e.planning_settings();
      if (!s.has_plan_start()) return Reject(e, "planning_settings.plan_start", "missing; event ignored");
      if (s.horizon_buckets() < 0 || s.horizon_buckets() > 10000) {
        return Reject(e, "planning_settings.horizon_buckets",
                      Format("must be in [0, 10000] (0 = 78), got {}; event ignored", s.horizon_buckets()));
      }
      if (s.consumption_backward_buckets() < 0 || s.consumption_forward_buckets() < 0) {
        return Reject(e, "planning_settings.consumption_backward_buckets",
                      Format("consumption windows must be >= 0, got {} and {}; event ignored",
                             s.consumption_backward_buckets(), s.consumption_forward_buckets()));
      }
      model::Horizon horizon;
      horizon.bucket_kind = ToBucketKind(s.bucket_size());
      horizon.buckets = s.horizon_buckets() == 0 ? 78 : s.horizon_buckets();
      horizon.consumption_backward = s.consumption_backward_buckets();
      horizon.consumption_forward = s.consumption_forward_buckets();
      const bool same = grid_ && grid_->plan_start() == ToSeconds(s.plan_start()) &&
                        horizon_.bucket_kind == horizon.bucket_kind && horizon_.buckets == horizon.buckets &&
                        horizon_.consumption_backward == horizon.consumption_backward &&
                        horizon_.consumption_forward == horizon.consumption_forward;
      if (same) return;  // the per-site copies of the same settings change nothing
      horizon_ = horizon;
      grid_.emplace(ToSeconds(s.plan_start()), horizon.bucket_kind, horizon.buckets);
      if (requested != nullptr) requested->push_back(HorizonReset{horizon});
      return;
    }
    case P::kCalendar: {
      const auto& c = e.calendar();
      if (c.calendar_id().empty()) return Reject(e, "calendar.calendar_id", "empty; event ignored");
      for (int wd : c.working_weekdays()) {
        if (wd < 1 || wd > 7) {
          return Reject(e, "calendar.working_weekdays", Format("ISO weekday must be 1..7, got {}; event ignored", wd));
        }
      }
      for (const auto& shift : c.shifts()) {
        if (!std::isfinite(shift.hours()) || shift.hours() < 0.0 || shift.hours() > 24.0) {
          return Reject(e, "calendar.shifts.hours", Format("must be in [0, 24], got {}; event ignored", shift.hours()));
        }
      }
      calendars_[c.calendar_id()] = c;
      if (updates) {
        for (const auto& [id, wc] : work_centers_) {
          if (wc.calendar_id() != c.calendar_id()) continue;
          if (auto record = ToWorkCenter(wc, *grid_)) updates->push_back(WorkCenterUpsert{std::move(*record)});
        }
      }
      return;
    }
    case P::kWorkCenter: {
      const auto& w = e.work_center();
      if (w.work_center_id().empty()) return Reject(e, "work_center.work_center_id", "empty; event ignored");
      if (w.machines() < 0) {
        return Reject(e, "work_center.machines", Format("must be >= 0 (0 = 1), got {}; event ignored", w.machines()));
      }
      if (!std::isfinite(w.efficiency()) || w.efficiency() < 0.0) {
        return Reject(e, "work_center.efficiency", Format("must be >= 0 (0 = 1), got {}; event ignored", w.efficiency()));
      }
      work_centers_[w.work_center_id()] = w;
      if (updates) {
        if (auto record = ToWorkCenter(w, *grid_)) updates->push_back(WorkCenterUpsert{std::move(*record)});
      }
      return;
    }
    case P::kSupplier:
      return;  // quoted lead times are informational; items carry the planning lead time
    case P::kCustomer:
      customer_priority_[e.customer().customer_id()] = e.customer().priority();
      return;
    case P::kItem: {
      const auto& m = e.item();
      if (m.item_id().empty()) return Reject(e, "item.item_id", "empty; event ignored");
      if (m.site_id().empty()) return Reject(e, "item.site_id", "empty; event ignored");
      for (const auto& [field, value] : {std::pair{"item.lead_time_days", m.lead_time_days()},
                                         std::pair{"item.frozen_fence_days", m.frozen_fence_days()},
                                         std::pair{"item.slushy_fence_days", m.slushy_fence_days()},
                                         std::pair{"item.safety_stock", m.safety_stock()},
                                         std::pair{"item.fixed_order_quantity", m.fixed_order_quantity()},
                                         std::pair{"item.yield", m.yield()}}) {
        if (!std::isfinite(value)) return Reject(e, field, Format("must be a finite number, got {}; event ignored", value));
      }
      if (m.type() == sop::v1::ITEM_TYPE_UNSPECIFIED) {
        Reject(e, "item.type", "ITEM_TYPE_UNSPECIFIED: planned as BUY");
      }
      const std::string key = model::ItemSiteKey(m.item_id(), m.site_id());
      items_[key] = m;
      if (updates) updates->push_back(ItemUpsert{ToItem(m, *grid_)});
      return;
    }
    case P::kBom: {
      const auto& b = e.bom();
      if (b.parent_item_id().empty()) return Reject(e, "bom.parent_item_id", "empty; event ignored");
      for (const auto& line : b.lines()) {
        if (!std::isfinite(line.quantity_per()) || line.quantity_per() <= 0.0) {
          return Reject(e, "bom.lines.quantity_per",
                        Format("must be > 0, got {} for component '{}'; BOM ignored", line.quantity_per(),
                               line.component_item_id()));
        }
        if (!std::isfinite(line.scrap_fraction()) || line.scrap_fraction() < 0.0 || line.scrap_fraction() >= 1.0) {
          return Reject(e, "bom.lines.scrap_fraction",
                        Format("must be in [0, 1), got {} for component '{}'; BOM ignored", line.scrap_fraction(),
                               line.component_item_id()));
        }
      }
      boms_[model::ItemSiteKey(b.parent_item_id(), b.site_id())] = b;
      if (updates) updates->push_back(BomReplace{b.parent_item_id(), b.site_id(), ToBom(b, *grid_)});
      return;
    }
    case P::kRouting: {
      const auto& r = e.routing();
      for (const auto& step : r.steps()) {
        if (!std::isfinite(step.setup_hours()) || step.setup_hours() < 0.0 || !std::isfinite(step.run_hours_per_unit()) ||
            step.run_hours_per_unit() < 0.0) {
          return Reject(e, "routing.steps.run_hours_per_unit",
                        Format("setup and run hours must be >= 0, got {} and {} at work center '{}'; routing ignored",
                               step.setup_hours(), step.run_hours_per_unit(), step.work_center_id()));
        }
      }
      routings_[model::ItemSiteKey(r.item_id(), r.site_id())] = r;
      if (updates) {
        RoutingReplace replace{r.item_id(), r.site_id(), {}};
        for (const auto& step : r.steps()) {
          replace.steps.push_back({step.sequence(), step.work_center_id(), step.setup_hours(), step.run_hours_per_unit()});
        }
        updates->push_back(std::move(replace));
      }
      return;
    }
    case P::kInventorySnapshot: {
      const auto& s = e.inventory_snapshot();
      if (!std::isfinite(s.on_hand())) {
        return Reject(e, "inventory_snapshot.on_hand", Format("must be finite, got {}; event ignored", s.on_hand()));
      }
      // A negative count is kept: it is what the ERP believes (unposted issues); netting reports it.
      const std::string key = model::ItemSiteKey(s.item_id(), s.site_id());
      on_hand_[key] = s.on_hand();
      if (updates) updates->push_back(OnHandSet{s.item_id(), s.site_id(), s.on_hand()});
      return;
    }
    case P::kInventoryMovement: {
      const auto& m = e.inventory_movement();
      if (!std::isfinite(m.quantity())) {
        return Reject(e, "inventory_movement.quantity", Format("must be finite, got {}; event ignored", m.quantity()));
      }
      const std::string key = model::ItemSiteKey(m.item_id(), m.site_id());
      const double value = (on_hand_[key] += m.quantity());
      if (updates) updates->push_back(OnHandSet{m.item_id(), m.site_id(), value});
      return;
    }
    case P::kSalesOrder: {
      const auto& so = e.sales_order();
      if (so.order_id().empty()) return Reject(e, "sales_order.order_id", "empty; event ignored");
      const std::string id = LineKey(so.order_id(), so.line());
      if (IsClosed(so.status())) {
        auto it = sales_lines_.find(id);
        if (it != sales_lines_.end()) it->second.cancelled = true;
        if (updates) updates->push_back(SalesOrderCancel{id});
        return;
      }
      if (!CheckQuantity(e, "sales_order.quantity", so.quantity())) return;
      if (!CheckDate(e, "sales_order.due_date", so.has_due_date())) return;
      SalesLine line;
      line.customer_id = so.customer_id();
      line.channel = so.channel();
      line.item_id = so.item_id();
      line.site_id = so.site_id();
      line.priority = so.customer_priority();
      line.due = ToSeconds(so.due_date());
      line.quantity = so.quantity();
      line.unit_price = std::isfinite(so.unit_price()) ? so.unit_price() : 0.0;
      line.event_id = e.event_id();
      auto& stored = sales_lines_[id] = std::move(line);
      if (updates) {
        if (auto record = ToSalesOrder(id, stored, *grid_, nullptr)) {
          updates->push_back(SalesOrderUpsert{std::move(*record)});
        } else {
          updates->push_back(SalesOrderCancel{id});
        }
      }
      return;
    }
    case P::kShipment:
      ++stats_.history;
      return;
    case P::kDemandForecast: {
      const auto& f = e.demand_forecast();
      for (const auto& q : f.quantities()) {
        if (!std::isfinite(q.quantity()) || q.quantity() < 0.0) {
          return Reject(e, "demand_forecast.quantities.quantity",
                        Format("must be a finite quantity >= 0, got {} for period {}; event ignored", q.quantity(),
                               DateText(ToSeconds(q.period_start()))));
        }
      }
      const std::string key = model::ItemSiteKey(f.item_id(), f.site_id());
      auto& state = forecasts_[key];
      state.item_id = f.item_id();
      state.site_id = f.site_id();
      const std::vector<double> before = updates ? ForecastBuckets(state, *grid_) : std::vector<double>{};
      for (const auto& q : f.quantities()) {
        const std::int64_t period = q.period_start().seconds();
        auto it = std::lower_bound(state.periods.begin(), state.periods.end(), std::pair{period, -1e300});
        if (it != state.periods.end() && it->first == period) {
          it->second = q.quantity();
        } else {
          state.periods.insert(it, {period, q.quantity()});
        }
      }
      if (updates) ForecastUpdates(state, before, updates);
      return;
    }
    case P::kForecastAdjustment: {
      const auto& a = e.forecast_adjustment();
      if (!std::isfinite(a.quantity_delta())) {
        return Reject(e, "forecast_adjustment.quantity_delta", Format("must be finite, got {}; event ignored", a.quantity_delta()));
      }
      if (!CheckDate(e, "forecast_adjustment.period_start", a.has_period_start())) return;
      auto& state = forecasts_[model::ItemSiteKey(a.item_id(), a.site_id())];
      state.item_id = a.item_id();
      state.site_id = a.site_id();
      const std::vector<double> before = updates ? ForecastBuckets(state, *grid_) : std::vector<double>{};
      const std::string id = a.adjustment_id().empty() ? e.event_id() : a.adjustment_id();
      state.adjustments[id] = {a.period_start().seconds(), a.quantity_delta()};
      if (updates) ForecastUpdates(state, before, updates);
      return;
    }
    case P::kPurchaseOrder: {
      const auto& po = e.purchase_order();
      if (po.po_id().empty()) return Reject(e, "purchase_order.po_id", "empty; event ignored");
      const std::string id = LineKey(po.po_id(), po.line());
      auto& line = purchase_lines_[id];
      if (IsClosed(po.status())) {
        line.closed = true;
      } else {
        if (!CheckQuantity(e, "purchase_order.quantity", po.quantity()) ||
            !CheckDate(e, "purchase_order.due_date", po.has_due_date())) {
          if (line.item_id.empty()) purchase_lines_.erase(id);
          return;
        }
        // The PO carries the ERP's current open quantity: receipts seen so far are in it.
        line = PurchaseLine{po.item_id(), po.site_id(), po.supplier_id(), ToSeconds(po.due_date()),
                            po.quantity(), 0.0, false, e.event_id()};
      }
      if (updates) {
        auto record = ToReceipt(id, line, *grid_, nullptr);
        if (record) updates->push_back(ReceiptUpsert{std::move(*record)});
        else updates->push_back(ReceiptClose{id});
      }
      return;
    }
    case P::kSupplierConfirmation:
    case P::kAdvanceShipNotice: {
      const bool asn = e.payload_case() == P::kAdvanceShipNotice;
      const std::string& po_id = asn ? e.advance_ship_notice().po_id() : e.supplier_confirmation().po_id();
      const std::int32_t po_line = asn ? e.advance_ship_notice().line() : e.supplier_confirmation().line();
      const std::string id = LineKey(po_id, po_line);
      auto it = purchase_lines_.find(id);
      if (it == purchase_lines_.end()) {
        return Reject(e, asn ? "advance_ship_notice.po_id" : "supplier_confirmation.po_id",
                      Format("unknown purchase order line '{}'; event ignored", id));
      }
      const bool has_date = asn ? e.advance_ship_notice().has_expected_arrival() : e.supplier_confirmation().has_confirmed_date();
      if (!CheckDate(e, asn ? "advance_ship_notice.expected_arrival" : "supplier_confirmation.confirmed_date", has_date)) return;
      // The supplier's date replaces the requested one; a confirmed quantity replaces the
      // ordered one (receipts are counted from here on).
      it->second.due = ToSeconds(asn ? e.advance_ship_notice().expected_arrival() : e.supplier_confirmation().confirmed_date());
      const double quantity = asn ? 0.0 : e.supplier_confirmation().confirmed_quantity();
      if (!asn && quantity > 0.0 && std::isfinite(quantity)) {
        it->second.quantity = quantity;
        it->second.received = 0.0;
      }
      if (updates) {
        auto record = ToReceipt(id, it->second, *grid_, nullptr);
        if (record) updates->push_back(ReceiptUpsert{std::move(*record)});
        else updates->push_back(ReceiptClose{id});
      }
      return;
    }
    case P::kGoodsReceipt: {
      const auto& r = e.goods_receipt();
      if (!CheckQuantity(e, "goods_receipt.quantity", r.quantity())) return;
      const std::string id = LineKey(r.po_id(), r.line());
      auto it = purchase_lines_.find(id);
      std::string item_id = r.item_id(), site_id = r.site_id();
      if (it == purchase_lines_.end()) {
        // The goods are here whatever the PO says: on-hand grows, the PO link is reported.
        Reject(e, "goods_receipt.po_id", Format("unknown purchase order line '{}'; only on-hand updated", id));
      } else {
        it->second.received += r.quantity();
        if (item_id.empty()) item_id = it->second.item_id;
        if (site_id.empty()) site_id = it->second.site_id;
      }
      const double value = (on_hand_[model::ItemSiteKey(item_id, site_id)] += r.quantity());
      if (updates) {
        updates->push_back(OnHandSet{item_id, site_id, value});
        if (it != purchase_lines_.end()) {
          auto record = ToReceipt(id, it->second, *grid_, nullptr);
          if (record) updates->push_back(ReceiptUpsert{std::move(*record)});
          else updates->push_back(ReceiptClose{id});
        }
      }
      return;
    }
    case P::kTransferOrder: {
      const auto& t = e.transfer_order();
      if (t.transfer_id().empty()) return Reject(e, "transfer_order.transfer_id", "empty; event ignored");
      auto& state = transfers_[t.transfer_id()];
      if (IsClosed(t.status())) {
        state.closed = true;
      } else {
        if (!CheckQuantity(e, "transfer_order.quantity", t.quantity()) ||
            !CheckDate(e, "transfer_order.due_date", t.has_due_date())) {
          if (state.item_id.empty()) transfers_.erase(t.transfer_id());
          return;
        }
        state = TransferState{t.item_id(), t.from_site_id(), t.to_site_id(),
                              t.has_ship_date() ? ToSeconds(t.ship_date()) : ToSeconds(t.due_date()),
                              ToSeconds(t.due_date()), t.quantity(), false, e.event_id()};
      }
      if (updates) {
        auto record = ToReceipt(t.transfer_id(), state, *grid_, nullptr);
        if (record) updates->push_back(ReceiptUpsert{std::move(*record)});
        else updates->push_back(ReceiptClose{t.transfer_id()});
      }
      return;
    }
    case P::kWorkOrder: {
      const auto& w = e.work_order();
      if (w.work_order_id().empty()) return Reject(e, "work_order.work_order_id", "empty; event ignored");
      auto& state = work_orders_[w.work_order_id()];
      if (IsClosed(w.status())) {
        state.closed = true;
      } else {
        if (!CheckQuantity(e, "work_order.quantity", w.quantity()) ||
            !CheckDate(e, "work_order.due_date", w.has_due_date())) {
          if (state.item_id.empty()) work_orders_.erase(w.work_order_id());
          return;
        }
        state = WorkOrderState{w.item_id(), w.site_id(),
                               w.has_start_date() ? ToSeconds(w.start_date()) : ToSeconds(w.due_date()),
                               ToSeconds(w.due_date()), w.quantity(), 0.0, false, e.event_id()};
      }
      if (updates) {
        auto record = ToReceipt(w.work_order_id(), state, *grid_, nullptr);
        if (record) updates->push_back(ReceiptUpsert{std::move(*record)});
        else updates->push_back(ReceiptClose{w.work_order_id()});
      }
      return;
    }
    case P::kProductionCompletion: {
      const auto& c = e.production_completion();
      if (!CheckQuantity(e, "production_completion.quantity", c.quantity())) return;
      auto it = work_orders_.find(c.work_order_id());
      std::string item_id = c.item_id(), site_id = c.site_id();
      if (it == work_orders_.end()) {
        Reject(e, "production_completion.work_order_id",
               Format("unknown work order '{}'; only on-hand updated", c.work_order_id()));
      } else {
        it->second.completed += c.quantity();
        if (item_id.empty()) item_id = it->second.item_id;
        if (site_id.empty()) site_id = it->second.site_id;
      }
      const double value = (on_hand_[model::ItemSiteKey(item_id, site_id)] += c.quantity());
      if (updates) {
        updates->push_back(OnHandSet{item_id, site_id, value});
        if (it != work_orders_.end()) {
          auto record = ToReceipt(c.work_order_id(), it->second, *grid_, nullptr);
          if (record) updates->push_back(ReceiptUpsert{std::move(*record)});
          else updates->push_back(ReceiptClose{c.work_order_id()});
        }
      }
      return;
    }
    case P::PAYLOAD_NOT_SET:
      return Reject(e, "payload", "envelope carries no payload; event ignored");
  }
}

model::ItemRecord SnapshotAssembler::ToItem(const sop::v1::ItemMaster& m, const BucketGrid& grid) const {
  model::ItemRecord r;
  r.item_id = m.item_id();
  r.site_id = m.site_id();
  r.description = m.description();
  switch (m.type()) {
    case sop::v1::ITEM_TYPE_MAKE: r.kind = model::ItemKind::kMake; break;
    case sop::v1::ITEM_TYPE_TRANSFER: r.kind = model::ItemKind::kTransfer; break;
    default: r.kind = model::ItemKind::kBuy; break;
  }
  r.unit_cost = m.unit_cost();
  r.unit_price = m.unit_price();
  r.lead_time = grid.DaysToBuckets(m.lead_time_days());
  switch (m.lot_sizing_policy()) {
    case sop::v1::LOT_SIZING_POLICY_FIXED_ORDER_QUANTITY:
      r.lot.rule = model::LotRule::kFixedOrderQuantity;
      r.lot.fixed_quantity = m.fixed_order_quantity();
      break;
    case sop::v1::LOT_SIZING_POLICY_PERIODS_OF_SUPPLY:
      r.lot.rule = model::LotRule::kPeriodsOfSupply;
      r.lot.periods_of_supply = m.periods_of_supply();
      break;
    default: r.lot.rule = model::LotRule::kLotForLot; break;
  }
  r.lot.minimum = m.minimum_order_quantity();
  r.lot.maximum = m.maximum_order_quantity();
  r.lot.multiple = m.order_multiple();
  r.safety_stock = m.safety_stock();
  r.yield = m.yield();
  r.frozen_fence = grid.DaysToBuckets(m.frozen_fence_days());
  r.slushy_fence = grid.DaysToBuckets(m.slushy_fence_days());
  r.family = m.family();
  r.supplier_id = m.supplier_id();
  r.source_site_id = m.source_site_id();
  r.active = m.active();
  return r;
}

std::vector<model::BomLineRecord> SnapshotAssembler::ToBom(const sop::v1::BillOfMaterials& b,
                                                           const BucketGrid& grid) const {
  std::vector<model::BomLineRecord> lines;
  lines.reserve(static_cast<std::size_t>(b.lines_size()));
  for (const auto& l : b.lines()) {
    model::BomLineRecord line;
    line.component_item_id = l.component_item_id();
    line.quantity_per = l.quantity_per();
    line.scrap = l.scrap_fraction();
    // A change dated inside a bucket takes effect for that whole bucket (both the outgoing
    // line's exclusive end and the incoming line's start map to the bucket holding the date).
    if (l.has_effective_from()) line.effective_from = grid.BucketOf(ToSeconds(l.effective_from()));
    if (l.has_effective_to()) line.effective_to = grid.BucketOf(ToSeconds(l.effective_to()));
    lines.push_back(std::move(line));
  }
  return lines;
}

std::optional<model::WorkCenterRecord> SnapshotAssembler::ToWorkCenter(const sop::v1::WorkCenter& w,
                                                                       const BucketGrid& grid) const {
  model::WorkCenterRecord r;
  r.work_center_id = w.work_center_id();
  r.site_id = w.site_id();
  r.name = w.name();
  r.efficiency = w.efficiency();
  r.machines = w.machines() == 0 ? 1 : w.machines();
  const double weeks_per_bucket = grid.BucketDays() / 7.0;
  r.overtime_max_hours_per_bucket = w.overtime_max_hours_per_week() * r.machines * weeks_per_bucket;
  r.overtime_cost_per_hour = w.overtime_cost_per_hour();
  r.subcontract_allowed = w.subcontract_allowed();
  r.subcontract_cost_per_hour = w.subcontract_cost_per_hour();
  r.regular_cost_per_hour = w.regular_cost_per_hour();
  auto cal = calendars_.find(w.calendar_id());
  if (cal == calendars_.end()) return std::nullopt;
  r.available_hours = CalendarHours(cal->second, grid);
  for (double& h : r.available_hours) h *= r.machines;
  return r;
}

namespace {

// Where a document dated `due` falls, and its bucket (clamped to 0 when past due).
struct Placed {
  std::int32_t bucket = 0;
  bool past_due = false;
  bool outside = false;
};

Placed Place(const BucketGrid& grid, Seconds due) {
  Placed p;
  p.past_due = grid.IsPastDue(due);
  p.bucket = grid.BucketOf(due);
  p.outside = p.bucket >= grid.buckets();
  return p;
}

}  // namespace

template <class T>
static void SetPlacement(T* out, const Placed& p) {
  if (out == nullptr) return;
  *out = p.outside ? T::kOutside : (p.past_due ? T::kPastDue : T::kInside);
}

std::optional<model::ScheduledReceiptRecord> SnapshotAssembler::ToReceipt(const std::string& id, const PurchaseLine& po,
                                                                          const BucketGrid& grid,
                                                                          Placement* placement) const {
  const Placed p = Place(grid, po.due);
  SetPlacement(placement, p);
  const double open = po.quantity - po.received;
  if (po.closed || p.outside || open <= 0.0) return std::nullopt;
  model::ScheduledReceiptRecord r;
  r.receipt_id = id;
  r.kind = model::ReceiptKind::kPurchaseOrder;
  r.item_id = po.item_id;
  r.site_id = po.site_id;
  r.due_bucket = p.bucket;
  r.start_bucket = p.bucket;
  r.quantity = open;
  return r;
}

std::optional<model::ScheduledReceiptRecord> SnapshotAssembler::ToReceipt(const std::string& id,
                                                                          const WorkOrderState& wo,
                                                                          const BucketGrid& grid,
                                                                          Placement* placement) const {
  const Placed p = Place(grid, wo.due);
  SetPlacement(placement, p);
  const double open = wo.quantity - wo.completed;
  if (wo.closed || p.outside || open <= 0.0) return std::nullopt;
  model::ScheduledReceiptRecord r;
  r.receipt_id = id;
  r.kind = model::ReceiptKind::kWorkOrder;
  r.item_id = wo.item_id;
  r.site_id = wo.site_id;
  r.due_bucket = p.bucket;
  r.start_bucket = std::min(grid.BucketOf(wo.start), p.bucket);
  r.quantity = open;
  return r;
}

std::optional<model::ScheduledReceiptRecord> SnapshotAssembler::ToReceipt(const std::string& id,
                                                                          const TransferState& to,
                                                                          const BucketGrid& grid,
                                                                          Placement* placement) const {
  const Placed p = Place(grid, to.due);
  SetPlacement(placement, p);
  if (to.closed || p.outside || to.quantity <= 0.0) return std::nullopt;
  model::ScheduledReceiptRecord r;
  r.receipt_id = id;
  r.kind = model::ReceiptKind::kTransfer;
  r.item_id = to.item_id;
  r.site_id = to.to_site_id;
  r.from_site_id = to.from_site_id;
  r.due_bucket = p.bucket;
  r.start_bucket = std::min(grid.BucketOf(to.ship), p.bucket);
  r.quantity = to.quantity;
  return r;
}

std::optional<model::SalesOrderRecord> SnapshotAssembler::ToSalesOrder(const std::string& id, const SalesLine& so,
                                                                       const BucketGrid& grid,
                                                                       Placement* placement) const {
  const Placed p = Place(grid, so.due);
  SetPlacement(placement, p);
  if (so.cancelled || p.outside || so.quantity <= 0.0) return std::nullopt;
  model::SalesOrderRecord r;
  r.order_id = id;
  r.customer_id = so.customer_id;
  r.channel = so.channel;
  r.priority = so.priority;
  if (r.priority == 0) {
    if (auto it = customer_priority_.find(so.customer_id); it != customer_priority_.end()) r.priority = it->second;
  }
  r.item_id = so.item_id;
  r.site_id = so.site_id;
  r.due_bucket = p.bucket;
  r.quantity = so.quantity;
  r.unit_price = so.unit_price;
  return r;
}

std::vector<double> SnapshotAssembler::ForecastBuckets(const ForecastState& f, const BucketGrid& grid) const {
  std::vector<double> buckets(static_cast<std::size_t>(grid.buckets()), 0.0);
  // Forecast for periods before the plan start is not demand any more (only orders carry past
  // due); periods past the horizon are outside it. Several periods in one bucket add up.
  auto add = [&](std::int64_t period, double quantity) {
    const Seconds t{std::chrono::seconds{period}};
    if (grid.IsPastDue(t)) return;
    const std::int32_t b = grid.BucketOf(t);
    if (b < grid.buckets()) buckets[static_cast<std::size_t>(b)] += quantity;
  };
  for (const auto& [period, quantity] : f.periods) add(period, quantity);
  for (const auto& [id, adjustment] : f.adjustments) add(adjustment.first, adjustment.second);
  for (double& q : buckets) q = std::max(0.0, q);  // layers may not push demand below zero
  return buckets;
}

void SnapshotAssembler::ForecastUpdates(const ForecastState& f, const std::vector<double>& before,
                                        std::vector<ModelUpdate>* updates) const {
  const std::vector<double> after = ForecastBuckets(f, *grid_);
  for (std::size_t b = 0; b < after.size(); ++b) {
    if (b >= before.size() || before[b] != after[b]) {
      updates->push_back(ForecastSet{f.item_id, f.site_id, static_cast<model::Bucket>(b), after[b]});
    }
  }
}

Result<Assembled> SnapshotAssembler::Build() const { return BuildImpl(nullptr); }

Result<Assembled> SnapshotAssembler::BuildAndRelease() {
  auto result = BuildImpl(this);
  if (result) *this = SnapshotAssembler{};
  return result;
}

namespace {
// Frees a container's memory now (clear() keeps hash buckets allocated).
template <class C>
void Release(C& container) {
  C empty;
  container.swap(empty);
}
}  // namespace

Result<Assembled> SnapshotAssembler::BuildImpl(SnapshotAssembler* release) const {
  if (!grid_) {
    return Fail(Errc::kFailedPrecondition,
                "planning_settings: no PlanningSettings event applied yet (plan start and buckets unknown)");
  }
  const BucketGrid& grid = *grid_;
  Assembled out;
  std::vector<model::Finding> conversion;
  auto outside = [&](const std::string& subject, const std::string& event_id, const char* field, Seconds date) {
    ++out.outside_horizon;
    model::Finding f;
    f.type = model::FindingType::kOutsideHorizon;
    f.subject = subject;
    f.field = field;
    f.message = Format("{} (event {}): {} {} is at or after the end of the horizon ({} buckets); ignored", subject,
                       event_id, field, DateText(date), grid.buckets());
    conversion.push_back(std::move(f));
  };
  model::SnapshotBuilder builder(horizon_);
  for (const auto& [id, site] : sites_) builder.AddSite(site);
  for (const auto& [key, item] : items_) builder.AddItem(ToItem(item, grid));
  for (const auto& [key, bom] : boms_) builder.SetBom(bom.parent_item_id(), bom.site_id(), ToBom(bom, grid));
  if (release) Release(release->boms_);
  for (const auto& [key, routing] : routings_) {
    std::vector<model::RoutingStepRecord> steps;
    for (const auto& s : routing.steps()) steps.push_back({s.sequence(), s.work_center_id(), s.setup_hours(), s.run_hours_per_unit()});
    builder.SetRouting(routing.item_id(), routing.site_id(), std::move(steps));
  }
  if (release) Release(release->routings_);
  for (const auto& [id, wc] : work_centers_) {
    auto record = ToWorkCenter(wc, grid);
    if (!record) {
      model::Finding f;
      f.subject = id;
      f.field = "calendar_id";
      f.message = Format("work center {}: unknown calendar '{}': no available hours", id, wc.calendar_id());
      conversion.push_back(std::move(f));
      model::WorkCenterRecord bare;
      bare.work_center_id = wc.work_center_id();
      bare.site_id = wc.site_id();
      bare.name = wc.name();
      bare.efficiency = wc.efficiency();
      bare.machines = wc.machines() == 0 ? 1 : wc.machines();
      builder.AddWorkCenter(std::move(bare));
      continue;
    }
    builder.AddWorkCenter(std::move(*record));
  }
  for (const auto& [key, quantity] : on_hand_) {
    // Keys are ItemSiteKey(item, site); the item record holds the two ids unambiguously.
    auto item = items_.find(key);
    if (item != items_.end()) {
      builder.SetOnHand(item->second.item_id(), item->second.site_id(), quantity);
    } else {
      model::Finding f;
      f.subject = key;
      f.field = "item_id";
      f.message = "on-hand for an item-site without an item master: ignored";
      for (char& c : f.subject) {
        if (c == '\x1f') c = '@';
      }
      conversion.push_back(std::move(f));
    }
  }
  if (release) {
    Release(release->on_hand_);
    Release(release->items_);
  }
  auto count = [&](Placement placement) {
    if (placement == Placement::kPastDue) ++out.past_due;
  };
  for (const auto& [id, po] : purchase_lines_) {
    Placement placement = Placement::kInside;
    auto record = ToReceipt(id, po, grid, &placement);
    if (placement == Placement::kOutside && !po.closed) outside("purchase order " + id, po.event_id, "due_date", po.due);
    if (!record) continue;
    count(placement);
    builder.AddScheduledReceipt(std::move(*record));
  }
  if (release) Release(release->purchase_lines_);
  for (const auto& [id, wo] : work_orders_) {
    Placement placement = Placement::kInside;
    auto record = ToReceipt(id, wo, grid, &placement);
    if (placement == Placement::kOutside && !wo.closed) outside("work order " + id, wo.event_id, "due_date", wo.due);
    if (!record) continue;
    count(placement);
    builder.AddScheduledReceipt(std::move(*record));
  }
  if (release) Release(release->work_orders_);
  for (const auto& [id, to] : transfers_) {
    Placement placement = Placement::kInside;
    auto record = ToReceipt(id, to, grid, &placement);
    if (placement == Placement::kOutside && !to.closed) outside("transfer " + id, to.event_id, "due_date", to.due);
    if (!record) continue;
    count(placement);
    builder.AddScheduledReceipt(std::move(*record));
  }
  if (release) Release(release->transfers_);
  for (const auto& [id, so] : sales_lines_) {
    Placement placement = Placement::kInside;
    auto record = ToSalesOrder(id, so, grid, &placement);
    if (placement == Placement::kOutside && !so.cancelled) outside("sales order " + id, so.event_id, "due_date", so.due);
    if (!record) continue;
    count(placement);
    builder.AddSalesOrder(std::move(*record));
  }
  if (release) Release(release->sales_lines_);
  for (const auto& [key, forecast] : forecasts_) {
    const auto buckets = ForecastBuckets(forecast, grid);
    for (std::size_t b = 0; b < buckets.size(); ++b) {
      if (buckets[b] != 0.0) builder.SetForecast(forecast.item_id, forecast.site_id, static_cast<model::Bucket>(b), buckets[b]);
    }
  }
  if (release) Release(release->forecasts_);
  model::BuildResult built = builder.Build();
  out.snapshot = std::move(built.snapshot);
  out.findings = findings_;
  out.findings.insert(out.findings.end(), std::make_move_iterator(conversion.begin()),
                      std::make_move_iterator(conversion.end()));
  out.findings.insert(out.findings.end(), std::make_move_iterator(built.findings.begin()),
                      std::make_move_iterator(built.findings.end()));
  return out;
}

Result<Assembled> AssembleFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(Errc::kNotFound, "events file: cannot open '" + path + "'");
  SnapshotAssembler assembler;
  auto read = ReadJsonLines(in, [&](const sop::v1::Envelope& e, std::int64_t) -> Status {
    assembler.Apply(e);
    return {};
  });
  if (!read) return Fail(read.error().code(), path + ": " + read.error().message());
  return assembler.Build();
}

}  // namespace sop::codec
