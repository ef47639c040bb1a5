// Turns the generated manufacturer into the ordered stream of ERP/MES envelopes.
#include "sop/gen/generator.hpp"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>

#include "random.hpp"
#include "sop/v1/events.pb.h"
#include "world.hpp"

namespace sop::gen {
namespace {

using detail::ItemDef;
using detail::Rng;
using detail::World;
using std::chrono::days;
using std::chrono::sys_days;

constexpr std::int64_t kSecondsPerDay = 86400;

std::string Numbered(const char* prefix, std::int64_t number, int width) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%s%0*lld", prefix, width, static_cast<long long>(number));
  return buffer;
}

double RoundTo(double value, double step) {
  return std::round(value / step) * step;
}

void SetTime(google::protobuf::Timestamp* ts, sys_days day, std::int64_t extra_seconds = 0) {
  ts->set_seconds(static_cast<std::int64_t>(day.time_since_epoch().count()) * kSecondsPerDay +
                  extra_seconds);
  ts->set_nanos(0);
}

// Owns the reusable envelope and the counters; one Emit per event.
class Emitter {
 public:
  Emitter(const World& world, const EnvelopeSink& sink) : sink_(sink) {
    prefix_ = "gen" + std::to_string(world.options.seed) + ":";
  }

  // Clears the envelope, stamps id, source, site and times; the caller fills the payload.
  sop::v1::Envelope& Begin(std::string_view kind, std::string_view key, const std::string& site,
                           sys_days occurred, std::int64_t extra_seconds = 0) {
    envelope_.Clear();
    std::string id = prefix_;
    id.append(kind).append(":").append(key);
    envelope_.set_event_id(std::move(id));
    envelope_.set_source_system(kind == "shp" || kind == "so" || kind == "cust" ? "erp-sales"
                                                                                : "erp-core");
    envelope_.set_site(site);
    SetTime(envelope_.mutable_occurred_at(), occurred, extra_seconds);
    SetTime(envelope_.mutable_produced_at(), occurred, extra_seconds + 60);
    return envelope_;
  }
  void Commit() {
    ++stats_.envelopes;
    sink_(envelope_);
  }
  GenerationStats& stats() { return stats_; }

 private:
  const EnvelopeSink& sink_;
  std::string prefix_;
  sop::v1::Envelope envelope_;
  GenerationStats stats_;
};

const std::string& SiteId(const World& w, int site) {
  return w.sites[static_cast<std::size_t>(site)].id;
}

void EmitMasterData(const World& w, Emitter& out) {
  const sys_days as_of = w.options.plan_start - days{7};
  for (const auto& site : w.sites) {
    auto& env = out.Begin("site", site.id, site.id, as_of);
    auto* m = env.mutable_site_master();
    m->set_site_id(site.id);
    m->set_name(site.name);
    m->set_type(site.plant ? sop::v1::SITE_TYPE_PLANT : sop::v1::SITE_TYPE_DISTRIBUTION_CENTER);
    m->set_time_zone(site.time_zone);
    out.Commit();
    ++out.stats().sites;
  }
  // The settings have no site; each site's partition gets the same copy (the latest wins).
  for (const auto& site : w.sites) {
    auto& env = out.Begin("settings", site.id, site.id, as_of, 1);
    auto* s = env.mutable_planning_settings();
    SetTime(s->mutable_plan_start(), w.options.plan_start);
    s->set_bucket_size(sop::v1::BUCKET_SIZE_WEEK);
    s->set_horizon_buckets(w.spec.horizon_buckets);
    s->set_consumption_backward_buckets(2);
    s->set_consumption_forward_buckets(2);
    out.Commit();
  }
  for (const auto& cal : w.calendars) {
    auto& env = out.Begin("cal", cal.id, SiteId(w, cal.site), as_of, 2);
    auto* c = env.mutable_calendar();
    c->set_calendar_id(cal.id);
    c->set_site_id(SiteId(w, cal.site));
    for (int wd : cal.weekdays) c->add_working_weekdays(wd);
    for (const auto& shift : cal.shifts) {
      auto* s = c->add_shifts();
      s->set_name(shift.first);
      s->set_hours(shift.second);
    }
    for (sys_days day : cal.holidays) SetTime(c->add_holidays(), day);
    out.Commit();
  }
  for (const auto& wc : w.work_centers) {
    auto& env = out.Begin("wc", wc.id, SiteId(w, wc.site), as_of, 3);
    auto* m = env.mutable_work_center();
    m->set_work_center_id(wc.id);
    m->set_site_id(SiteId(w, wc.site));
    m->set_name(wc.name);
    m->set_calendar_id(w.calendars[static_cast<std::size_t>(wc.calendar)].id);
    m->set_efficiency(wc.efficiency);
    m->set_machines(wc.machines);
    m->set_overtime_max_hours_per_week(wc.overtime_max_hours_per_week);
    m->set_overtime_cost_per_hour(wc.overtime_cost_per_hour);
    m->set_subcontract_allowed(wc.subcontract_allowed);
    m->set_subcontract_cost_per_hour(wc.subcontract_cost_per_hour);
    m->set_regular_cost_per_hour(wc.regular_cost_per_hour);
    out.Commit();
    ++out.stats().work_centers;
  }
  for (const auto& sup : w.suppliers) {
    auto& env = out.Begin("sup", sup.id, SiteId(w, sup.site), as_of, 4);
    auto* m = env.mutable_supplier();
    m->set_supplier_id(sup.id);
    m->set_name(sup.name);
    m->set_quoted_lead_time_days(sup.quoted_lead_time_days);
    out.Commit();
  }
  for (const auto& cust : w.customers) {
    auto& env = out.Begin("cust", cust.id, SiteId(w, cust.site), as_of, 5);
    auto* m = env.mutable_customer();
    m->set_customer_id(cust.id);
    m->set_name(cust.name);
    m->set_priority(cust.priority);
    m->set_channel(cust.channel);
    out.Commit();
  }
  for (const ItemDef& item : w.items) {
    const std::string& site = SiteId(w, item.site);
    auto& env = out.Begin("item", site + ":" + item.id, site, as_of, 6);
    auto* m = env.mutable_item();
    m->set_item_id(item.id);
    m->set_site_id(site);
    m->set_description(item.description);
    m->set_unit_of_measure(item.unit_of_measure);
    m->set_type(item.type);
    m->set_unit_cost(item.unit_cost);
    m->set_unit_price(item.unit_price);
    m->set_currency(w.sites[static_cast<std::size_t>(item.site)].time_zone.starts_with("America")
                        ? "USD"
                        : "EUR");
    m->set_lead_time_days(item.lead_time_days);
    m->set_lot_sizing_policy(item.policy);
    m->set_fixed_order_quantity(item.fixed_order_quantity);
    m->set_periods_of_supply(item.periods_of_supply);
    m->set_minimum_order_quantity(item.minimum_order_quantity);
    m->set_maximum_order_quantity(item.maximum_order_quantity);
    m->set_order_multiple(item.order_multiple);
    m->set_safety_stock(item.safety_stock);
    m->set_yield(item.yield);
    m->set_frozen_fence_days(item.frozen_fence_days);
    m->set_slushy_fence_days(item.slushy_fence_days);
    if (item.family >= 0) m->set_family(w.families[static_cast<std::size_t>(item.family)].id);
    if (item.supplier >= 0)
      m->set_supplier_id(w.suppliers[static_cast<std::size_t>(item.supplier)].id);
    if (item.source_item >= 0) {
      m->set_source_site_id(SiteId(w, w.items[static_cast<std::size_t>(item.source_item)].site));
    }
    m->set_active(true);
    out.Commit();
    ++out.stats().items;
  }
  for (const ItemDef& item : w.items) {
    if (item.bom.empty()) continue;
    const std::string& site = SiteId(w, item.site);
    auto& env = out.Begin("bom", site + ":" + item.id, site, as_of, 7);
    auto* m = env.mutable_bom();
    m->set_parent_item_id(item.id);
    m->set_site_id(site);
    for (const auto& line : item.bom) {
      auto* l = m->add_lines();
      l->set_component_item_id(w.items[static_cast<std::size_t>(line.component)].id);
      l->set_quantity_per(line.quantity_per);
      l->set_scrap_fraction(line.scrap_fraction);
      if (line.effective_from_week >= 0)
        SetTime(l->mutable_effective_from(), detail::WeekStart(w, line.effective_from_week));
      if (line.effective_to_week >= 0)
        SetTime(l->mutable_effective_to(), detail::WeekStart(w, line.effective_to_week));
    }
    out.Commit();
    ++out.stats().boms;
  }
  for (const ItemDef& item : w.items) {
    if (item.routing.empty()) continue;
    const std::string& site = SiteId(w, item.site);
    auto& env = out.Begin("routing", site + ":" + item.id, site, as_of, 8);
    auto* m = env.mutable_routing();
    m->set_item_id(item.id);
    m->set_site_id(site);
    int sequence = 10;
    for (const auto& step : item.routing) {
      auto* s = m->add_steps();
      s->set_sequence(sequence);
      sequence += 10;
      s->set_work_center_id(w.work_centers[static_cast<std::size_t>(step.work_center)].id);
      s->set_setup_hours(step.setup_hours);
      s->set_run_hours_per_unit(step.run_hours_per_unit);
    }
    out.Commit();
    ++out.stats().routings;
  }
}

// Splits `total` lines over `eligible` items as evenly as possible.
int LinesFor(int total, std::size_t eligible, std::size_t k) {
  if (eligible == 0) return 0;
  const auto n = static_cast<int>(eligible);
  const auto i = static_cast<int>(k);
  return total / n + (i < total % n ? 1 : 0);
}

int LeadWeeks(const ItemDef& item) {
  return static_cast<int>(std::ceil(item.lead_time_days / 7.0 - 1e-9));
}

double RoundUpToLot(const ItemDef& item, double quantity) {
  quantity = std::max(1.0, std::round(quantity));
  if (item.order_multiple > 0)
    quantity = std::ceil(quantity / item.order_multiple) * item.order_multiple;
  return quantity;
}

struct SalesLine {
  int item = 0;
  int customer = 0;
  int week = 0;
  int weekday = 0;
  double quantity = 0.0;
};

void EmitSalesOrders(const World& w, Emitter& out) {
  Rng rng(w.options.seed, "sales-orders");
  // Bookings fall off with distance: the first weeks are mostly sold, later weeks barely.
  constexpr double kBooked[] = {0.05, 1.0, 0.8, 0.55, 0.35, 0.2, 0.1};  // weeks -1 .. 5
  constexpr int kFirstWeek = -1;
  std::vector<SalesLine> lines;
  lines.reserve(static_cast<std::size_t>(w.spec.sales_order_lines));
  for (std::size_t k = 0; k < w.sold_items.size(); ++k) {
    const int index = w.sold_items[k];
    const ItemDef& item = w.items[static_cast<std::size_t>(index)];
    const auto& customers = w.sites[static_cast<std::size_t>(item.site)].customers;
    const int count = LinesFor(w.spec.sales_order_lines, w.sold_items.size(), k);
    double weight_sum = 0.0;
    for (double b : kBooked) weight_sum += b;
    for (int n = 0; n < count; ++n) {
      double pick = rng.Uniform() * weight_sum;
      int slot = 0;
      while (slot + 1 < static_cast<int>(std::size(kBooked)) && pick >= kBooked[slot])
        pick -= kBooked[slot++];
      SalesLine line;
      line.item = index;
      line.week = kFirstWeek + slot;
      line.weekday = rng.Int(0, 4);
      line.customer = customers.empty() ? rng.Int(0, static_cast<int>(w.customers.size()) - 1)
                                        : customers[static_cast<std::size_t>(
                                              rng.Int(0, static_cast<int>(customers.size()) - 1))];
      const double mean = w.MeanDemand(item, std::max(0, line.week));
      line.quantity = item.intermittent ? 1.0 + rng.Poisson(item.intermittent_size - 1.0)
                                        : std::max(1.0, std::round(mean * rng.Uniform(0.1, 0.45)));
      lines.push_back(line);
    }
  }
  // Orders group a customer's lines of one week at one site: realistic multi-line orders.
  std::stable_sort(lines.begin(), lines.end(), [&](const SalesLine& a, const SalesLine& b) {
    const int sa = w.items[static_cast<std::size_t>(a.item)].site,
              sb = w.items[static_cast<std::size_t>(b.item)].site;
    if (sa != sb) return sa < sb;
    if (a.customer != b.customer) return a.customer < b.customer;
    return a.week < b.week;
  });
  std::int64_t order_number = 0;
  int line_number = 0;
  const SalesLine* previous = nullptr;
  std::string order_id;
  for (const SalesLine& line : lines) {
    const ItemDef& item = w.items[static_cast<std::size_t>(line.item)];
    if (previous == nullptr || previous->customer != line.customer || previous->week != line.week ||
        w.items[static_cast<std::size_t>(previous->item)].site != item.site || line_number >= 8) {
      order_id = Numbered("SO", ++order_number, 8);
      line_number = 0;
    }
    ++line_number;
    previous = &line;
    const auto& customer = w.customers[static_cast<std::size_t>(line.customer)];
    const std::string& site = SiteId(w, item.site);
    const sys_days due = detail::WeekStart(w, line.week) + days{line.weekday};
    auto& env = out.Begin("so", order_id + ":" + std::to_string(line_number), site,
                          std::min(due, w.options.plan_start) - days{14}, line_number);
    auto* so = env.mutable_sales_order();
    so->set_order_id(order_id);
    so->set_line(line_number);
    so->set_customer_id(customer.id);
    so->set_customer_priority(customer.priority);
    so->set_channel(customer.channel);
    so->set_item_id(item.id);
    so->set_site_id(site);
    so->set_quantity(line.quantity);
    const double discount = customer.priority == 1 ? 0.12 : (customer.priority == 2 ? 0.06 : 0.0);
    so->set_unit_price(RoundTo(item.unit_price * (1.0 - discount), 0.01));
    SetTime(so->mutable_due_date(), due);
    so->set_status(sop::v1::ORDER_STATUS_OPEN);
    out.Commit();
    ++out.stats().sales_order_lines;
  }
}

struct PurchaseLine {
  int item = 0;
  int week = 0;
  double quantity = 0.0;
};

void EmitPurchaseOrders(const World& w, Emitter& out) {
  Rng rng(w.options.seed, "purchase-orders");
  std::vector<int> bought;
  for (int i = 0; i < static_cast<int>(w.items.size()); ++i) {
    if (w.items[static_cast<std::size_t>(i)].type == sop::v1::ITEM_TYPE_BUY) bought.push_back(i);
  }
  std::vector<PurchaseLine> lines;
  for (std::size_t k = 0; k < bought.size(); ++k) {
    const ItemDef& item = w.items[static_cast<std::size_t>(bought[k])];
    const int count = LinesFor(w.spec.purchase_order_lines, bought.size(), k);
    const int span = LeadWeeks(item) + 1;  // weeks 0 .. lead time: what is already on order
    for (int n = 0; n < count; ++n) {
      PurchaseLine line;
      line.item = bought[k];
      line.week = count <= 1 ? rng.Int(0, span - 1) : (n * span) / count;
      if (rng.Chance(0.04)) line.week = -1;  // overdue
      line.quantity = RoundUpToLot(
          item, item.expected_weekly * span / std::max(1, count) * rng.Uniform(0.7, 1.3));
      lines.push_back(line);
    }
  }
  // Purchase orders group a supplier's lines for one site and week (scheduling agreement).
  std::stable_sort(lines.begin(), lines.end(), [&](const PurchaseLine& a, const PurchaseLine& b) {
    const ItemDef& ia = w.items[static_cast<std::size_t>(a.item)];
    const ItemDef& ib = w.items[static_cast<std::size_t>(b.item)];
    if (ia.site != ib.site) return ia.site < ib.site;
    if (ia.supplier != ib.supplier) return ia.supplier < ib.supplier;
    return a.week < b.week;
  });
  std::int64_t po_number = 0, receipt_number = 0;
  int line_number = 0;
  const PurchaseLine* previous = nullptr;
  std::string po_id;
  for (const PurchaseLine& line : lines) {
    const ItemDef& item = w.items[static_cast<std::size_t>(line.item)];
    if (previous == nullptr || previous->week != line.week ||
        w.items[static_cast<std::size_t>(previous->item)].supplier != item.supplier ||
        w.items[static_cast<std::size_t>(previous->item)].site != item.site || line_number >= 10) {
      po_id = Numbered("PO", ++po_number, 8);
      line_number = 0;
    }
    ++line_number;
    previous = &line;
    const std::string& site = SiteId(w, item.site);
    const std::string supplier =
        item.supplier >= 0 ? w.suppliers[static_cast<std::size_t>(item.supplier)].id : "";
    const bool late_supplier =
        item.supplier >= 0 && w.suppliers[static_cast<std::size_t>(item.supplier)].late;
    const sys_days due = detail::WeekStart(w, line.week) + days{rng.Int(0, 4)};
    const sys_days ordered = due - days{static_cast<int>(item.lead_time_days)};
    const std::string key = po_id + ":" + std::to_string(line_number);
    {
      auto& env = out.Begin("po", key, site, std::min(ordered, w.options.plan_start - days{1}),
                            line_number);
      auto* po = env.mutable_purchase_order();
      po->set_po_id(po_id);
      po->set_line(line_number);
      po->set_supplier_id(supplier);
      po->set_item_id(item.id);
      po->set_site_id(site);
      po->set_quantity(line.quantity);
      SetTime(po->mutable_due_date(), due);
      SetTime(po->mutable_order_date(), ordered);
      po->set_status(sop::v1::ORDER_STATUS_OPEN);
      po->set_unit_cost(item.unit_cost);
      out.Commit();
      ++out.stats().purchase_order_lines;
    }
    // Late suppliers confirm one to three weeks after the requested date; the others confirm
    // about half their lines on time.
    if (late_supplier || rng.Chance(0.5)) {
      const sys_days confirmed = late_supplier ? due + days{7 * rng.Int(1, 3)} : due;
      auto& env = out.Begin("poconf", key, site, w.options.plan_start - days{2}, line_number);
      auto* c = env.mutable_supplier_confirmation();
      c->set_po_id(po_id);
      c->set_line(line_number);
      c->set_supplier_id(supplier);
      SetTime(c->mutable_confirmed_date(), confirmed);
      c->set_confirmed_quantity(line.quantity);
      out.Commit();
    }
    // A partial receipt against some lines due now: the open quantity shrinks.
    if (line.week <= 0 && line.quantity >= 2.0 && rng.Chance(0.3)) {
      const double received = std::floor(line.quantity * rng.Uniform(0.3, 0.7));
      auto& env = out.Begin("gr", Numbered("GR", ++receipt_number, 8), site,
                            w.options.plan_start - days{1}, line_number);
      auto* r = env.mutable_goods_receipt();
      r->set_receipt_id(Numbered("GR", receipt_number, 8));
      r->set_po_id(po_id);
      r->set_line(line_number);
      r->set_supplier_id(supplier);
      r->set_item_id(item.id);
      r->set_site_id(site);
      r->set_quantity(received);
      SetTime(r->mutable_received_at(), w.options.plan_start - days{1}, 36000);
      out.Commit();
    }
  }
}

void EmitWorkOrders(const World& w, Emitter& out) {
  Rng rng(w.options.seed, "work-orders");
  std::vector<int> made;
  for (int i = 0; i < static_cast<int>(w.items.size()); ++i) {
    if (w.items[static_cast<std::size_t>(i)].type == sop::v1::ITEM_TYPE_MAKE) made.push_back(i);
  }
  std::int64_t wo_number = 0, completion_number = 0;
  for (std::size_t k = 0; k < made.size(); ++k) {
    const ItemDef& item = w.items[static_cast<std::size_t>(made[k])];
    const int count = LinesFor(w.spec.work_order_lines, made.size(), k);
    const int span = std::max(1, LeadWeeks(item));
    const std::string& site = SiteId(w, item.site);
    for (int n = 0; n < count; ++n) {
      const std::string id = Numbered("WO", ++wo_number, 8);
      const int week = count <= 1 ? rng.Int(0, span - 1) : (n * span) / count;
      const sys_days due = detail::WeekStart(w, week) + days{rng.Int(0, 4)};
      const sys_days start = due - days{static_cast<int>(item.lead_time_days)};
      const double quantity =
          RoundUpToLot(item, item.expected_weekly * span / count * rng.Uniform(0.8, 1.3));
      {
        auto& env = out.Begin("wo", id, site, std::min(start, w.options.plan_start - days{1}));
        auto* wo = env.mutable_work_order();
        wo->set_work_order_id(id);
        wo->set_item_id(item.id);
        wo->set_site_id(site);
        wo->set_quantity(quantity);
        SetTime(wo->mutable_start_date(), start);
        SetTime(wo->mutable_due_date(), due);
        wo->set_status(sop::v1::ORDER_STATUS_OPEN);
        out.Commit();
        ++out.stats().work_order_lines;
      }
      // A work order that started before the plan start has been running: output comes off the
      // line as it goes, so it reports the elapsed share of its quantity (a little less: the
      // last operations lag). Rough-cut plans an order's work before its due bucket, so the
      // share is of the time from start to the Monday of the due week; an order due this week
      // is nearly done. Without this every running order's full quantity loads bucket 0 and
      // every work center opens overloaded. The output is stock: on-hand grows by it.
      const sys_days work_end = std::max(detail::WeekStart(w, week), start + days{1});
      const double elapsed = static_cast<double>((w.options.plan_start - start).count()) /
                             static_cast<double>((work_end - start).count());
      const double completed =
          elapsed > 0.0
              ? std::min(quantity - 1.0,
                         std::floor(quantity * std::min(1.0, elapsed) * rng.Uniform(0.85, 1.0)))
              : 0.0;
      if (completed >= 1.0) {
        const std::string cid = Numbered("PC", ++completion_number, 8);
        auto& env = out.Begin("pc", cid, site, w.options.plan_start - days{1}, 50400);
        auto* c = env.mutable_production_completion();
        c->set_completion_id(cid);
        c->set_work_order_id(id);
        c->set_item_id(item.id);
        c->set_site_id(site);
        c->set_quantity(completed);
        c->set_scrapped_quantity(rng.Chance(0.3) ? 1.0 : 0.0);
        SetTime(c->mutable_completed_at(), w.options.plan_start - days{1}, 50400);
        out.Commit();
      }
    }
  }
}

void EmitTransfers(const World& w, Emitter& out) {
  Rng rng(w.options.seed, "transfers");
  std::vector<int> moved;
  for (int i = 0; i < static_cast<int>(w.items.size()); ++i) {
    if (w.items[static_cast<std::size_t>(i)].source_item >= 0) moved.push_back(i);
  }
  std::int64_t number = 0;
  for (std::size_t k = 0; k < moved.size(); ++k) {
    const ItemDef& item = w.items[static_cast<std::size_t>(moved[k])];
    const ItemDef& origin = w.items[static_cast<std::size_t>(item.source_item)];
    const int count = LinesFor(w.spec.transfer_order_lines, moved.size(), k);
    const int span = std::max(1, LeadWeeks(item));
    for (int n = 0; n < count; ++n) {
      const std::string id = Numbered("TO", ++number, 8);
      const int week = count <= 1 ? rng.Int(0, span - 1) : (n * span) / count;
      const sys_days due = detail::WeekStart(w, week) + days{rng.Int(0, 4)};
      const sys_days ship = due - days{static_cast<int>(item.lead_time_days)};
      auto& env =
          out.Begin("to", id, SiteId(w, item.site), std::min(ship, w.options.plan_start - days{1}));
      auto* t = env.mutable_transfer_order();
      t->set_transfer_id(id);
      t->set_item_id(item.id);
      t->set_from_site_id(SiteId(w, origin.site));
      t->set_to_site_id(SiteId(w, item.site));
      t->set_quantity(
          RoundUpToLot(item, item.expected_weekly * span / count * rng.Uniform(0.8, 1.3)));
      SetTime(t->mutable_ship_date(), ship);
      SetTime(t->mutable_due_date(), due);
      t->set_status(sop::v1::ORDER_STATUS_OPEN);
      out.Commit();
      ++out.stats().transfer_order_lines;
    }
  }
}

void EmitOpenTransactions(const World& w, Emitter& out) {
  Rng rng(w.options.seed, "on-hand");
  const sys_days counted = w.options.plan_start - days{1};
  // A running business has its lead time covered: by open orders where the item has some (the
  // order emitters below size them to the lead-time demand), otherwise by stock. Without this
  // every plan would open with a wall of past-due releases and a week-0 capacity spike.
  std::vector<int> open_lines(w.items.size(), 0);
  {
    std::vector<int> bought, made, moved;
    for (int i = 0; i < static_cast<int>(w.items.size()); ++i) {
      const ItemDef& item = w.items[static_cast<std::size_t>(i)];
      if (item.type == sop::v1::ITEM_TYPE_BUY) bought.push_back(i);
      if (item.type == sop::v1::ITEM_TYPE_MAKE) made.push_back(i);
      if (item.source_item >= 0) moved.push_back(i);
    }
    auto count = [&](const std::vector<int>& list, int total) {
      for (std::size_t k = 0; k < list.size(); ++k)
        open_lines[static_cast<std::size_t>(list[k])] += LinesFor(total, list.size(), k);
    };
    count(bought, w.spec.purchase_order_lines);
    count(made, w.spec.work_order_lines);
    count(moved, w.spec.transfer_order_lines);
  }
  for (std::size_t i = 0; i < w.items.size(); ++i) {
    const ItemDef& item = w.items[i];
    const std::string& site = SiteId(w, item.site);
    auto& env = out.Begin("inv", site + ":" + item.id, site, counted, 72000);
    auto* s = env.mutable_inventory_snapshot();
    s->set_item_id(item.id);
    s->set_site_id(site);
    const double lead_cover = open_lines[i] > 0 ? 0.0 : static_cast<double>(LeadWeeks(item) + 1);
    // Stock sits around safety stock plus cycle stock; one item in twenty is out of stock.
    const double on_hand =
        rng.Chance(0.05)
            ? 0.0
            : item.safety_stock + item.expected_weekly * (lead_cover + rng.Uniform(0.5, 2.5));
    s->set_on_hand(std::round(on_hand));
    SetTime(s->mutable_as_of(), counted, 72000);
    out.Commit();
  }
  for (int index : w.sold_items) {
    const ItemDef& item = w.items[static_cast<std::size_t>(index)];
    const std::string& site = SiteId(w, item.site);
    auto& env = out.Begin("fcst", site + ":" + item.id, site, counted, 75600);
    auto* f = env.mutable_demand_forecast();
    f->set_item_id(item.id);
    f->set_site_id(site);
    for (int week = 0; week < w.spec.horizon_buckets; ++week) {
      auto* q = f->add_quantities();
      SetTime(q->mutable_period_start(), detail::WeekStart(w, week));
      q->set_quantity(RoundTo(w.MeanDemand(item, week) * item.forecast_bias, 0.1));
    }
    out.Commit();
    ++out.stats().forecasts;
  }
  EmitSalesOrders(w, out);
  EmitPurchaseOrders(w, out);
  EmitWorkOrders(w, out);
  EmitTransfers(w, out);
}

void EmitHistory(const World& w, Emitter& out) {
  const int weeks = w.history_weeks;
  if (weeks <= 0) return;
  std::vector<std::vector<double>> series;
  series.reserve(w.sold_items.size());
  for (int index : w.sold_items) series.push_back(w.History(index, weeks));
  Rng rng(w.options.seed, "shipments");
  std::int64_t number = 0;
  for (int k = 0; k < weeks; ++k) {
    const sys_days week_start = detail::WeekStart(w, k - weeks);
    for (std::size_t s = 0; s < w.sold_items.size(); ++s) {
      const double quantity = series[s][static_cast<std::size_t>(k)];
      if (quantity <= 0.0) continue;
      const ItemDef& item = w.items[static_cast<std::size_t>(w.sold_items[s])];
      const auto& customers = w.sites[static_cast<std::size_t>(item.site)].customers;
      const int customer = customers.empty() ? 0
                                             : customers[static_cast<std::size_t>(rng.Int(
                                                   0, static_cast<int>(customers.size()) - 1))];
      const std::string& site = SiteId(w, item.site);
      const sys_days shipped = week_start + days{rng.Int(0, 4)};
      // About one shipment in ten leaves after its promised date (OTIF < 100%).
      const sys_days due =
          rng.Chance(0.1) ? shipped - days{rng.Int(1, 7)} : shipped + days{rng.Int(0, 2)};
      const std::string id = Numbered("SH", ++number, 9);
      auto& env = out.Begin("shp", id, site, shipped, 57600);
      auto* m = env.mutable_shipment();
      m->set_shipment_id(id);
      if (!w.customers.empty()) {
        m->set_customer_id(w.customers[static_cast<std::size_t>(customer)].id);
        m->set_channel(w.customers[static_cast<std::size_t>(customer)].channel);
      }
      m->set_item_id(item.id);
      m->set_site_id(site);
      m->set_quantity(quantity);
      SetTime(m->mutable_shipped_at(), shipped, 57600);
      SetTime(m->mutable_due_date(), due);
      m->set_unit_price(item.unit_price);
      out.Commit();
      ++out.stats().shipments;
    }
  }
}

}  // namespace

Result<Scale> ParseScale(std::string_view text) {
  if (text == "S" || text == "s") return Scale::kS;
  if (text == "L" || text == "l") return Scale::kL;
  return InvalidField("scale", "must be S or L", text);
}

std::string_view ToString(Scale scale) noexcept {
  return scale == Scale::kS ? "S" : "L";
}

ScaleSpec SpecFor(Scale scale) noexcept {
  ScaleSpec spec;
  spec.horizon_buckets = 78;
  if (scale == Scale::kS) {
    spec.plants = 3;
    spec.distribution_centers = 2;
    spec.finished_goods = 500;
    spec.components = 1500;
    spec.bom_levels = 3;
    spec.work_centers = 24;
    spec.spare_parts_per_dc = 100;
    spec.families = 12;
    spec.customers = 60;
    spec.suppliers = 40;
    spec.default_history_weeks = 156;
    spec.sales_order_lines = 6000;
    spec.purchase_order_lines = 2500;
    spec.work_order_lines = 1000;
    spec.transfer_order_lines = 500;
  } else {
    // 3 plants × (5,000 FG + 15,000 components) and 2 DCs × (15,000 FG + 5,000 spare parts):
    // 5 sites × 20,000 item-sites.
    spec.plants = 3;
    spec.distribution_centers = 2;
    spec.finished_goods = 15000;
    spec.components = 45000;
    spec.bom_levels = 6;
    spec.work_centers = 200;
    spec.spare_parts_per_dc = 5000;
    spec.families = 120;
    spec.customers = 600;
    spec.suppliers = 300;
    spec.default_history_weeks = 0;
    spec.sales_order_lines = 600000;
    spec.purchase_order_lines = 250000;
    spec.work_order_lines = 100000;
    spec.transfer_order_lines = 50000;
  }
  return spec;
}

Status Validate(const GeneratorOptions& options) {
  if (std::chrono::weekday{options.plan_start}.iso_encoding() != 1) {
    return InvalidField("plan_start", "must be a Monday (buckets are ISO weeks)",
                        FormatDate(options.plan_start));
  }
  if (options.history_weeks > 520) {
    return InvalidField("history_weeks", "must be at most 520",
                        std::to_string(options.history_weeks));
  }
  return {};
}

Result<GenerationStats> Generate(const GeneratorOptions& options, const EnvelopeSink& sink) {
  if (auto status = Validate(options); !status) return std::unexpected(status.error());
  const World world = detail::BuildWorld(options);
  Emitter out(world, sink);
  EmitMasterData(world, out);
  EmitOpenTransactions(world, out);
  EmitHistory(world, out);
  return out.stats();
}

Result<std::vector<sop::v1::Envelope>> GenerateAll(const GeneratorOptions& options) {
  std::vector<sop::v1::Envelope> envelopes;
  auto stats = Generate(options, [&](const sop::v1::Envelope& e) { envelopes.push_back(e); });
  if (!stats) return std::unexpected(stats.error());
  return envelopes;
}

Result<GenerationStats> WriteJsonLines(const GeneratorOptions& options, std::ostream& out) {
  std::string line;
  std::string failure;
  auto stats = Generate(options, [&](const sop::v1::Envelope& envelope) {
    if (!failure.empty()) return;
    line.clear();
    const auto status = google::protobuf::util::MessageToJsonString(envelope, &line);
    if (!status.ok()) {
      failure = envelope.event_id() + ": " + status.ToString();
      return;
    }
    line.push_back('\n');
    out.write(line.data(), static_cast<std::streamsize>(line.size()));
  });
  if (!stats) return std::unexpected(stats.error());
  if (!failure.empty()) return Fail(Errc::kInternal, "JSON serialization failed: " + failure);
  out.flush();
  if (!out)
    return std::unexpected(
        Error(Errc::kUnavailable, "output stream failed while writing (disk full?)"));
  return stats;
}

Result<std::vector<DemandSeries>> DemandHistory(const GeneratorOptions& options, int weeks) {
  if (auto status = Validate(options); !status) return std::unexpected(status.error());
  const World world = detail::BuildWorld(options);
  const int n = weeks < 0 ? world.history_weeks : weeks;
  std::vector<DemandSeries> result;
  result.reserve(world.sold_items.size());
  for (int index : world.sold_items) {
    const ItemDef& item = world.items[static_cast<std::size_t>(index)];
    DemandSeries series;
    series.item_id = item.id;
    series.site_id = world.sites[static_cast<std::size_t>(item.site)].id;
    if (item.family >= 0 && !item.intermittent)
      series.family = world.families[static_cast<std::size_t>(item.family)].id;
    series.intermittent = item.intermittent;
    series.first_week = detail::WeekStart(world, -n);
    series.weekly_quantities = world.History(index, n);
    result.push_back(std::move(series));
  }
  return result;
}

Result<std::chrono::sys_days> ParseDate(std::string_view text, std::string_view field) {
  int y = 0;
  unsigned m = 0, d = 0;
  char tail = 0;
  const std::string copy(text);
  if (std::sscanf(copy.c_str(), "%d-%u-%u%c", &y, &m, &d, &tail) != 3) {
    return InvalidField(field, "must be a date YYYY-MM-DD", text);
  }
  const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{m},
                                        std::chrono::day{d}};
  if (!ymd.ok()) return InvalidField(field, "is not a calendar date", text);
  return sys_days{ymd};
}

std::string FormatDate(std::chrono::sys_days day) {
  const std::chrono::year_month_day ymd{day};
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buffer;
}

}  // namespace sop::gen
