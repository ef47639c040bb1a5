#include "sop/capacity/scenarios.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <set>
#include <unordered_set>

#include "sop/model/text.hpp"
#include "sop/planning/seed_scenarios.hpp"

namespace sop::capacity {
namespace {

using model::Bucket;

std::size_t Index(std::int32_t value) {
  return static_cast<std::size_t>(value);
}

// The value exactly as the caller sent it (shortest round-trip form), for error messages.
std::string Number(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

// What the snapshot knows by name, for validation.
struct Names {
  std::unordered_set<std::string> families;
  std::unordered_set<std::string> items;
  std::unordered_set<std::string> suppliers;

  explicit Names(const model::Snapshot& s) {
    for (const auto& is : s.item_sites) {
      if (!is.family.empty()) families.insert(is.family);
      items.insert(is.item_id);
      if (!is.supplier_id.empty()) suppliers.insert(is.supplier_id);
    }
  }
};

// Checks and converts the scenario; `f` is the field prefix of the override.
class Converter {
 public:
  Converter(const model::Snapshot& snapshot, const Names& names) : s_(snapshot), names_(names) {}

  Status NonNegative(const std::string& field, double value) const {
    if (!std::isfinite(value) || value < 0.0) {
      return InvalidField(field, "must be a finite number >= 0", Number(value));
    }
    return {};
  }
  Status Fraction(const std::string& field, double value) const {
    if (!std::isfinite(value) || value < 0.0 || value > 1.0) {
      return InvalidField(field, "must be in [0, 1]", Number(value));
    }
    return {};
  }
  Status Site(const std::string& field, const std::string& id, bool required) const {
    if (id.empty()) {
      if (required) return InvalidField(field, "must not be empty", id);
      return {};
    }
    if (!s_.site_ids.Find(id)) return InvalidField(field, "unknown site", id);
    return {};
  }
  Status Family(const std::string& field, const std::string& id, bool required) const {
    if (id.empty()) {
      if (required) return InvalidField(field, "must not be empty", id);
      return {};
    }
    if (!names_.families.contains(id)) return InvalidField(field, "unknown family", id);
    return {};
  }
  Status Item(const std::string& field, const std::string& id) const {
    if (!id.empty() && !names_.items.contains(id)) return InvalidField(field, "unknown item", id);
    return {};
  }
  Result<model::WorkCenterIndex> WorkCenter(const std::string& field, const std::string& id) const {
    if (id.empty()) return InvalidField(field, "must not be empty", id);
    const auto wc = s_.work_center_ids.Find(id);
    if (!wc) return InvalidField(field, "unknown work center", id);
    return model::WorkCenterIndex(*wc);
  }
  // [from, to) with to 0 = horizon end.
  Result<std::pair<Bucket, Bucket>> Window(const std::string& f, std::int32_t from,
                                           std::int32_t to) const {
    if (from < 0 || from >= s_.H()) {
      return InvalidField(f + ".from_bucket", "must be in [0, " + std::to_string(s_.H()) + ")",
                          std::to_string(from));
    }
    if (to != 0 && (to <= from || to > s_.H())) {
      return InvalidField(
          f + ".to_bucket",
          "must be 0 (horizon end) or in (from_bucket, " + std::to_string(s_.H()) + "]",
          std::to_string(to));
    }
    return std::pair<Bucket, Bucket>{from, to == 0 ? model::kEndOfTime : to};
  }

  Result<planning::Override> Convert(const sop::v1::ScenarioOverride& o,
                                     const std::string& f) const {
    using K = sop::v1::ScenarioOverride::KindCase;
    switch (o.kind_case()) {
      case K::kDemandMultiplier: {
        const auto& m = o.demand_multiplier();
        const std::string g = f + ".demand_multiplier";
        if (auto ok = NonNegative(g + ".multiplier", m.multiplier()); !ok) return Err(ok);
        if (auto ok = Family(g + ".family", m.family(), false); !ok) return Err(ok);
        if (auto ok = Item(g + ".item_id", m.item_id()); !ok) return Err(ok);
        if (auto ok = Site(g + ".site_id", m.site_id(), false); !ok) return Err(ok);
        auto window = Window(g, m.from_bucket(), m.to_bucket());
        if (!window) return std::unexpected(window.error());
        return planning::DemandMultiplier{m.family(),    m.item_id(),    m.site_id(),
                                          window->first, window->second, m.multiplier()};
      }
      case K::kSupplierDelay: {
        const auto& d = o.supplier_delay();
        const std::string g = f + ".supplier_delay";
        if (d.supplier_id().empty())
          return InvalidField(g + ".supplier_id", "must not be empty", "");
        if (!names_.suppliers.contains(d.supplier_id())) {
          return InvalidField(g + ".supplier_id", "no item is bought from this supplier",
                              d.supplier_id());
        }
        if (d.buckets_late() < 0) {
          return InvalidField(g + ".buckets_late", "must be >= 0",
                              std::to_string(d.buckets_late()));
        }
        return planning::SupplierDelay{d.supplier_id(), d.buckets_late(), !d.open_orders_only()};
      }
      case K::kExtraCapacity: {
        const auto& x = o.extra_capacity();
        const std::string g = f + ".extra_capacity";
        auto wc = WorkCenter(g + ".work_center_id", x.work_center_id());
        if (!wc) return std::unexpected(wc.error());
        if (!std::isfinite(x.hours_per_bucket()) || x.hours_per_bucket() <= 0.0) {
          return InvalidField(g + ".hours_per_bucket", "must be a finite number > 0",
                              Number(x.hours_per_bucket()));
        }
        if (auto ok = NonNegative(g + ".cost_per_hour", x.cost_per_hour()); !ok) return Err(ok);
        auto window = Window(g, x.from_bucket(), x.to_bucket());
        if (!window) return std::unexpected(window.error());
        const double rate = x.cost_per_hour() > 0.0
                                ? x.cost_per_hour()
                                : s_.work_centers[Index(wc->value())].overtime_cost_per_hour;
        return planning::ExtraCapacity{x.work_center_id(),   window->first, window->second,
                                       x.hours_per_bucket(), rate,          x.pay_only_used()};
      }
      case K::kSubcontract: {
        const auto& sub = o.subcontract();
        const std::string g = f + ".subcontract";
        if (sub.item_id().empty()) return InvalidField(g + ".item_id", "must not be empty", "");
        if (auto ok = Site(g + ".site_id", sub.site_id(), true); !ok) return Err(ok);
        const auto item_site = s_.FindItemSite(sub.item_id(), sub.site_id());
        if (!item_site) {
          return InvalidField(g + ".item_id", "not planned at site '" + sub.site_id() + "'",
                              sub.item_id());
        }
        auto wc = WorkCenter(g + ".work_center_id", sub.work_center_id());
        if (!wc) return std::unexpected(wc.error());
        const auto routing = s_.Routing(*item_site);
        const auto step = std::find_if(routing.begin(), routing.end(),
                                       [&](const auto& r) { return r.work_center == *wc; });
        if (step == routing.end()) {
          return InvalidField(g + ".work_center_id",
                              "not a step of the routing of " + sub.item_id() + "@" + sub.site_id(),
                              sub.work_center_id());
        }
        if (auto ok = NonNegative(g + ".cost_per_unit", sub.cost_per_unit()); !ok) return Err(ok);
        if (auto ok = Fraction(g + ".share", sub.share()); !ok) return Err(ok);
        return planning::SubcontractStep{sub.item_id(), sub.site_id(), step->sequence,
                                         sub.cost_per_unit(),
                                         sub.share() == 0.0 ? 1.0 : sub.share()};
      }
      case K::kMoveVolume: {
        const auto& mv = o.move_volume();
        const std::string g = f + ".move_volume";
        if (auto ok = Family(g + ".family", mv.family(), true); !ok) return Err(ok);
        if (auto ok = Site(g + ".from_site_id", mv.from_site_id(), true); !ok) return Err(ok);
        if (auto ok = Site(g + ".to_site_id", mv.to_site_id(), true); !ok) return Err(ok);
        if (mv.to_site_id() == mv.from_site_id()) {
          return InvalidField(g + ".to_site_id", "must differ from from_site_id", mv.to_site_id());
        }
        if (!std::isfinite(mv.share()) || mv.share() <= 0.0 || mv.share() > 1.0) {
          return InvalidField(g + ".share", "must be in (0, 1]", Number(mv.share()));
        }
        if (auto ok = NonNegative(g + ".hours_factor", mv.hours_factor()); !ok) return Err(ok);
        const auto from = *s_.site_ids.Find(mv.from_site_id());
        const auto to = *s_.site_ids.Find(mv.to_site_id());
        planning::MoveVolume move{mv.family(),
                                  mv.from_site_id(),
                                  mv.to_site_id(),
                                  mv.share(),
                                  {},
                                  mv.hours_factor() == 0.0 ? 1.0 : mv.hours_factor()};
        for (int k = 0; k < mv.work_centers_size(); ++k) {
          const auto& m = mv.work_centers(k);
          const std::string h = g + ".work_centers[" + std::to_string(k) + "]";
          auto a = WorkCenter(h + ".from_work_center_id", m.from_work_center_id());
          if (!a) return std::unexpected(a.error());
          auto b = WorkCenter(h + ".to_work_center_id", m.to_work_center_id());
          if (!b) return std::unexpected(b.error());
          if (s_.work_centers[Index(a->value())].site.value() != from) {
            return InvalidField(h + ".from_work_center_id", "not at " + mv.from_site_id(),
                                m.from_work_center_id());
          }
          if (s_.work_centers[Index(b->value())].site.value() != to) {
            return InvalidField(h + ".to_work_center_id", "not at " + mv.to_site_id(),
                                m.to_work_center_id());
          }
          move.work_centers.push_back({m.from_work_center_id(), m.to_work_center_id()});
        }
        if (move.work_centers.empty()) {
          std::vector<std::string> sending, receiving;
          for (const auto& wc : s_.work_centers) {
            if (wc.site.value() == from) sending.push_back(wc.id);
            if (wc.site.value() == to) receiving.push_back(wc.id);
          }
          if (receiving.empty()) {
            return InvalidField(g + ".to_site_id", "has no work centers", mv.to_site_id());
          }
          std::sort(sending.begin(), sending.end());
          std::sort(receiving.begin(), receiving.end());
          for (std::size_t k = 0; k < sending.size(); ++k) {
            move.work_centers.push_back({sending[k], receiving[k % receiving.size()]});
          }
        }
        bool made = false;
        for (const auto& is : s_.item_sites) {
          made |= is.family == mv.family() && is.site.value() == from &&
                  is.kind == model::ItemKind::kMake;
        }
        if (!made) {
          return InvalidField(g + ".family", "not made at " + mv.from_site_id(), mv.family());
        }
        return move;
      }
      case K::kSafetyStockPolicy: {
        const auto& ss = o.safety_stock_policy();
        const std::string g = f + ".safety_stock_policy";
        if (auto ok = NonNegative(g + ".multiplier", ss.multiplier()); !ok) return Err(ok);
        if (auto ok = Family(g + ".family", ss.family(), false); !ok) return Err(ok);
        if (auto ok = Item(g + ".item_id", ss.item_id()); !ok) return Err(ok);
        if (auto ok = Site(g + ".site_id", ss.site_id(), false); !ok) return Err(ok);
        return planning::SafetyStockChange{ss.family(), ss.item_id(), ss.site_id(),
                                           ss.multiplier()};
      }
      case K::KIND_NOT_SET:
        break;
    }
    return InvalidField(f,
                        "must set one of demand_multiplier, supplier_delay, extra_capacity, "
                        "subcontract, move_volume, safety_stock_policy",
                        "");
  }

 private:
  static std::unexpected<Error> Err(const Status& status) {
    return std::unexpected<Error>(status.error());
  }

  const model::Snapshot& s_;
  const Names& names_;
};

Result<planning::Scenario> Convert(const sop::v1::Scenario& scenario, const model::Snapshot& s,
                                   const Names& names, const std::string& field) {
  if (scenario.name().empty()) return InvalidField(field + ".name", "must not be empty", "");
  if (scenario.overrides().empty()) {
    return InvalidField(field + ".overrides", "must hold at least one override", scenario.name());
  }
  Converter converter(s, names);
  planning::Scenario out;
  out.name = scenario.name();
  for (int k = 0; k < scenario.overrides_size(); ++k) {
    auto o =
        converter.Convert(scenario.overrides(k), field + ".overrides[" + std::to_string(k) + "]");
    if (!o) return std::unexpected(o.error());
    out.overrides.push_back(std::move(*o));
  }
  return out;
}

std::string Window(Bucket from, Bucket to) {
  if (from <= 0 && to == model::kEndOfTime) return "";
  return model::Format(" in buckets {}..{}", from,
                       to == model::kEndOfTime ? std::string("end") : std::to_string(to - 1));
}

}  // namespace

Result<planning::Scenario> ToScenario(const sop::v1::Scenario& scenario,
                                      const model::Snapshot& snapshot, const std::string& field) {
  const Names names(snapshot);
  return Convert(scenario, snapshot, names, field);
}

std::string Describe(const planning::Scenario& scenario) {
  std::string out;
  for (const auto& o : scenario.overrides) {
    if (!out.empty()) out += "; ";
    if (const auto* m = std::get_if<planning::DemandMultiplier>(&o)) {
      const std::string what = !m->item_id.empty()  ? "item " + m->item_id
                               : !m->family.empty() ? "family " + m->family
                                                    : std::string("all demand");
      out += model::Format("{} x{}{}{}", what, m->factor,
                           m->site_id.empty() ? std::string() : " at " + m->site_id,
                           Window(m->from, m->to));
    } else if (const auto* d = std::get_if<planning::SupplierDelay>(&o)) {
      out += model::Format("supplier {} {} buckets late{}", d->supplier_id, d->buckets,
                           d->lead_time_too ? " (new orders too)" : "");
    } else if (const auto* x = std::get_if<planning::ExtraCapacity>(&o)) {
      out += model::Format("+{} h/bucket on {} at {}/h ({}){}", x->hours_per_bucket,
                           x->work_center_id, x->cost_per_hour,
                           x->pay_only_used ? "overtime, used hours paid" : "shift, paid in full",
                           Window(x->from, x->to));
    } else if (const auto* sub = std::get_if<planning::SubcontractStep>(&o)) {
      out += model::Format("subcontract step {} of {}@{} ({}% of the volume) at {}/unit",
                           sub->sequence, sub->item_id, sub->site_id, sub->share * 100.0,
                           sub->cost_per_unit);
    } else if (const auto* mv = std::get_if<planning::MoveVolume>(&o)) {
      out += model::Format("move {}% of family {} from {} to {}", mv->share * 100.0, mv->family,
                           mv->from_site_id, mv->to_site_id);
    } else if (const auto* ss = std::get_if<planning::SafetyStockChange>(&o)) {
      out += model::Format("safety stock x{}{}{}{}", ss->factor,
                           ss->family.empty() ? std::string() : " for family " + ss->family,
                           ss->item_id.empty() ? std::string() : " for item " + ss->item_id,
                           ss->site_id.empty() ? std::string() : " at " + ss->site_id);
    }
  }
  return out;
}

void FillKpis(const model::Snapshot& snapshot, const planning::ScenarioOutcome& outcome,
              sop::v1::ScenarioKpis& out) {
  const planning::ScenarioKpis& k = outcome.kpis;
  out.set_name(outcome.name);
  out.set_fill_rate(k.fill_rate);
  out.set_units_short(k.units_short);
  out.set_revenue_short(k.revenue_short);
  for (const auto& [priority, revenue] : k.revenue_short_by_priority) {
    (*out.mutable_revenue_short_by_priority())[priority] = revenue;
  }
  for (const auto& [priority, units] : k.units_short_by_priority) {
    (*out.mutable_units_short_by_priority())[priority] = units;
  }
  out.set_overload_hours(k.overload_hours);
  out.set_overtime_cost(k.overtime_cost);
  out.set_subcontract_cost(k.subcontract_cost);
  out.set_average_inventory_value(k.average_inventory_value);
  out.set_working_capital(k.working_capital);
  out.set_revenue(k.revenue);
  out.set_gross_margin(k.gross_margin);
  for (const auto& id : outcome.appeared) out.add_exceptions_added(id);
  for (const auto& id : outcome.disappeared) out.add_exceptions_removed(id);
  out.set_sales_order_units(k.sales_order_units);
  out.set_load_hours(k.load_hours);
  out.set_unresolved_overload_hours(k.unresolved_overload_hours);
  out.set_extra_capacity_cost(k.extra_capacity_cost);
  out.set_step_subcontract_cost(k.step_subcontract_cost);
  out.set_move_cost(k.move_cost);
  out.set_cost_of_goods(k.cost_of_goods);
  out.set_exception_count(static_cast<std::int32_t>(k.exceptions));
  for (std::size_t w = 0; w < outcome.overload_by_work_center.size(); ++w) {
    if (outcome.overload_by_work_center[w] > 0.0 && w < snapshot.work_centers.size()) {
      (*out.mutable_overload_hours_by_work_center())[snapshot.work_centers[w].id] =
          outcome.overload_by_work_center[w];
    }
  }
}

Result<sop::v1::EvaluateScenariosResponse> EvaluateScenarios(
    const planning::NettingEngine& base, const sop::v1::EvaluateScenariosRequest& request,
    const ScenarioRequestOptions& options, const planning::DetectionHistory& history) {
  const auto start = std::chrono::steady_clock::now();
  const model::Snapshot& snapshot = base.snapshot();
  if (!request.site_id().empty() && !snapshot.site_ids.Find(request.site_id())) {
    return InvalidField("site_id", "not a site planned by this capacity replica",
                        request.site_id());
  }
  // Validate everything before any work: a bad scenario fails the call, naming it.
  const Names names(snapshot);
  std::vector<planning::Scenario> scenarios;
  std::vector<std::string> descriptions;
  std::set<std::string> seen;
  for (int k = 0; k < request.scenarios_size(); ++k) {
    const std::string field = "scenarios[" + std::to_string(k) + "]";
    auto scenario = Convert(request.scenarios(k), snapshot, names, field);
    if (!scenario) return std::unexpected(scenario.error());
    if (scenario->name == "base" || !seen.insert(scenario->name).second) {
      return InvalidField(field + ".name", "must be unique and not 'base'", scenario->name);
    }
    descriptions.push_back(request.scenarios(k).description().empty()
                               ? Describe(*scenario)
                               : request.scenarios(k).description());
    scenarios.push_back(std::move(*scenario));
  }

  planning::ScenarioOptions scenario_options;
  scenario_options.threads = std::max(1, options.threads);
  const planning::ScenarioEvaluator evaluator(base, history, scenario_options);
  if (scenarios.empty()) {
    scenarios = planning::SeedScenarios(base, evaluator.base());
    for (const auto& scenario : scenarios) descriptions.push_back(Describe(scenario));
  }
  auto outcomes = evaluator.EvaluateAll(scenarios);

  sop::v1::EvaluateScenariosResponse response;
  FillKpis(snapshot, evaluator.base(), *response.mutable_base());
  response.mutable_base()->set_description("the current plan");
  for (std::size_t k = 0; k < outcomes.size(); ++k) {
    if (!outcomes[k]) {
      // The checks above mirror the decision core's; what it still rejects is named here.
      const Error& error = outcomes[k].error();
      return std::unexpected(Error(
          error.code() == Errc::kNotFound ? Errc::kInvalidArgument : error.code(),
          "scenarios[" + std::to_string(k) + "] '" + scenarios[k].name + "': " + error.message()));
    }
    auto& kpis = *response.add_scenarios();
    FillKpis(snapshot, *outcomes[k], kpis);
    kpis.set_description(descriptions[k]);
  }
  response.set_seconds(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return response;
}

}  // namespace sop::capacity
