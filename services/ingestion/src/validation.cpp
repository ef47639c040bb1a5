#include "sop/ingestion/validation.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "state_codec.hpp"

namespace sop::ingestion {
namespace {

namespace pb = google::protobuf;
using sop::v1::Envelope;

// Dates outside [1990-01-01, 2100-01-01) are typos (a year 0 or 20260), not planning data.
constexpr std::int64_t kMinSeconds = 631'152'000;
constexpr std::int64_t kMaxSeconds = 4'102'444'800;
constexpr std::size_t kMaxIdLength = 256;

std::string FormatNumber(double value) {
  char buffer[32];
  const int n = std::snprintf(buffer, sizeof buffer, "%.17g", value);
  return std::string(buffer, static_cast<std::size_t>(n));
}

// Collects the first violation; every check after it is a no-op, so the rule list reads top
// down without early returns.
class Checker {
 public:
  explicit Checker(const MasterData& master, std::string_view site)
      : master_(master), site_(site) {}

  bool failed() const { return violation_.has_value(); }
  std::optional<Violation> Take() { return std::move(violation_); }

  void Fail(ReasonClass reason_class, std::string field, std::string reason) {
    if (!violation_) violation_ = Violation{reason_class, std::move(field), std::move(reason)};
  }
  void Required(std::string_view field, const std::string& value) {
    if (failed()) return;
    if (value.empty())
      Fail(ReasonClass::kMissingField, std::string(field), "required, got ''");
    else if (value.size() > kMaxIdLength)
      Fail(ReasonClass::kInvalidValue, std::string(field),
           "must be at most 256 characters, got " + std::to_string(value.size()));
  }
  void Finite(std::string_view field, double value) {
    if (failed() || std::isfinite(value)) return;
    Fail(ReasonClass::kInvalidValue, std::string(field),
         "must be a finite number, got '" + FormatNumber(value) + "'");
  }
  void NonNegative(std::string_view field, double value) {
    Finite(field, value);
    if (failed() || value >= 0) return;
    Fail(ReasonClass::kInvalidValue, std::string(field),
         "must be >= 0, got '" + FormatNumber(value) + "'");
  }
  void NonNegativeInt(std::string_view field, std::int64_t value) {
    if (failed() || value >= 0) return;
    Fail(ReasonClass::kInvalidValue, std::string(field),
         "must be >= 0, got '" + std::to_string(value) + "'");
  }
  void Positive(std::string_view field, double value) {
    Finite(field, value);
    if (failed() || value > 0) return;
    Fail(ReasonClass::kInvalidValue, std::string(field),
         "must be > 0, got '" + FormatNumber(value) + "'");
  }
  void Range(std::string_view field, double value, double low, double high, std::string_view text) {
    Finite(field, value);
    if (failed() || (value >= low && value <= high)) return;
    Fail(ReasonClass::kInvalidValue, std::string(field),
         std::string("must be in ") + std::string(text) + ", got '" + FormatNumber(value) + "'");
  }
  // An optional timestamp: unset passes, set must be within bounds.
  void Date(std::string_view field, bool has, const pb::Timestamp& value) {
    if (failed() || !has) return;
    if (value.seconds() < kMinSeconds || value.seconds() >= kMaxSeconds || value.nanos() < 0 ||
        value.nanos() > 999'999'999) {
      Fail(ReasonClass::kInvalidValue, std::string(field),
           "must be between 1990-01-01 and 2100-01-01, got " + std::to_string(value.seconds()) +
               " s since epoch");
    }
  }
  void RequiredDate(std::string_view field, bool has, const pb::Timestamp& value) {
    if (failed()) return;
    if (!has) Fail(ReasonClass::kMissingField, std::string(field), "required, got unset");
    Date(field, has, value);
  }
  // The payload's own site must be the envelope's (the partition key).
  void SameSite(std::string_view field, const std::string& value) {
    Required(field, value);
    if (failed() || value == site_) return;
    Fail(ReasonClass::kInconsistent, std::string(field),
         "must equal the envelope site '" + std::string(site_) + "', got '" + value + "'");
  }
  void KnownSite(std::string_view field, const std::string& site) {
    if (failed() || master_.HasSite(site)) return;
    Fail(ReasonClass::kUnknownReference, std::string(field),
         "unknown site (no SiteMaster accepted), got '" + site + "'");
  }
  void KnownItem(std::string_view field, const std::string& item) {
    Required(field, item);
    if (failed() || master_.HasItem(site_, item)) return;
    Fail(ReasonClass::kUnknownReference, std::string(field),
         "unknown item at site '" + std::string(site_) + "' (no ItemMaster accepted), got '" +
             item + "'");
  }
  void KnownWorkCenter(std::string_view field, const std::string& work_center) {
    Required(field, work_center);
    if (failed() || master_.HasWorkCenter(site_, work_center)) return;
    Fail(ReasonClass::kUnknownReference, std::string(field),
         "unknown work center at site '" + std::string(site_) + "', got '" + work_center + "'");
  }
  void UnitOfMeasure(std::string_view field, const std::string& unit) {
    if (failed() || unit.empty()) return;  // empty: the item's base unit
    const bool ok = unit.size() <= 8 && std::all_of(unit.begin(), unit.end(), [](char c) {
                      return std::isupper(static_cast<unsigned char>(c)) ||
                             std::isdigit(static_cast<unsigned char>(c));
                    });
    if (!ok)
      Fail(ReasonClass::kInvalidValue, std::string(field),
           "must be 1-8 letters or digits (e.g. EA, KG), got '" + unit + "'");
  }
  void Currency(std::string_view field, const std::string& currency) {
    if (failed() || currency.empty()) return;
    const bool ok = currency.size() == 3 &&
                    std::all_of(currency.begin(), currency.end(),
                                [](char c) { return std::isupper(static_cast<unsigned char>(c)); });
    if (!ok)
      Fail(ReasonClass::kInvalidValue, std::string(field),
           "must be an ISO 4217 code (3 letters), got '" + currency + "'");
  }

  const MasterData& master() const { return master_; }
  std::string_view site() const { return site_; }

 private:
  const MasterData& master_;
  std::string_view site_;
  std::optional<Violation> violation_;
};

void CheckItem(Checker& c, const sop::v1::ItemMaster& m) {
  c.Required("item.item_id", m.item_id());
  c.SameSite("item.site_id", m.site_id());
  c.KnownSite("item.site_id", m.site_id());
  c.UnitOfMeasure("item.unit_of_measure", m.unit_of_measure());
  c.Currency("item.currency", m.currency());
  c.NonNegative("item.unit_cost", m.unit_cost());
  c.NonNegative("item.unit_price", m.unit_price());
  c.NonNegative("item.lead_time_days", m.lead_time_days());
  c.NonNegative("item.fixed_order_quantity", m.fixed_order_quantity());
  c.NonNegativeInt("item.periods_of_supply", m.periods_of_supply());
  c.NonNegative("item.minimum_order_quantity", m.minimum_order_quantity());
  c.NonNegative("item.maximum_order_quantity", m.maximum_order_quantity());
  c.NonNegative("item.order_multiple", m.order_multiple());
  c.NonNegative("item.safety_stock", m.safety_stock());
  // 0 means unset (= 1); anything else must be a fraction in (0, 1].
  c.Range("item.yield", m.yield(), 0.0, 1.0, "(0, 1] (0 = unset)");
  c.NonNegative("item.frozen_fence_days", m.frozen_fence_days());
  c.NonNegative("item.slushy_fence_days", m.slushy_fence_days());
  c.NonNegative("item.days_of_supply_policy", m.days_of_supply_policy());
  if (!c.failed() && m.maximum_order_quantity() > 0 &&
      m.maximum_order_quantity() < m.minimum_order_quantity()) {
    c.Fail(ReasonClass::kInconsistent, "item.maximum_order_quantity",
           "must be >= minimum_order_quantity " + FormatNumber(m.minimum_order_quantity()) +
               " (or 0 = no maximum), got '" + FormatNumber(m.maximum_order_quantity()) + "'");
  }
  if (!c.failed() && m.type() == sop::v1::ITEM_TYPE_TRANSFER) {
    c.Required("item.source_site_id", m.source_site_id());
    if (!c.failed() && m.source_site_id() == m.site_id())
      c.Fail(ReasonClass::kInconsistent, "item.source_site_id",
             "a TRANSFER item must come from another site, got '" + m.source_site_id() + "'");
  }
}

void CheckBom(Checker& c, const sop::v1::BillOfMaterials& m) {
  c.SameSite("bom.site_id", m.site_id());
  c.KnownItem("bom.parent_item_id", m.parent_item_id());
  std::vector<std::string> components;
  components.reserve(static_cast<std::size_t>(m.lines_size()));
  for (int i = 0; i < m.lines_size() && !c.failed(); ++i) {
    const auto& line = m.lines(i);
    const std::string prefix = "bom.lines[" + std::to_string(i) + "].";
    c.KnownItem(prefix + "component_item_id", line.component_item_id());
    c.Positive(prefix + "quantity_per", line.quantity_per());
    c.Range(prefix + "scrap_fraction", line.scrap_fraction(), 0.0, 0.99, "[0, 0.99]");
    c.Date(prefix + "effective_from", line.has_effective_from(), line.effective_from());
    c.Date(prefix + "effective_to", line.has_effective_to(), line.effective_to());
    components.push_back(line.component_item_id());
  }
  std::vector<std::string> path;
  if (!c.failed() && c.master().WouldCycle(c.site(), m.parent_item_id(), components, &path)) {
    std::string text;
    for (const auto& item : path) text.append(item).append(" -> ");
    text.append(m.parent_item_id());
    c.Fail(ReasonClass::kInconsistent, "bom.lines",
           "would create a BOM cycle " + text + ", got parent '" + m.parent_item_id() + "'");
  }
}

void CheckPayload(Checker& c, const Envelope& e) {
  switch (e.payload_case()) {
    case Envelope::kSiteMaster:
      c.SameSite("site_master.site_id", e.site_master().site_id());
      break;
    case Envelope::kItem:
      CheckItem(c, e.item());
      break;
    case Envelope::kBom:
      CheckBom(c, e.bom());
      break;
    case Envelope::kRouting: {
      const auto& m = e.routing();
      c.SameSite("routing.site_id", m.site_id());
      c.KnownItem("routing.item_id", m.item_id());
      for (int i = 0; i < m.steps_size() && !c.failed(); ++i) {
        const std::string prefix = "routing.steps[" + std::to_string(i) + "].";
        c.KnownWorkCenter(prefix + "work_center_id", m.steps(i).work_center_id());
        c.NonNegative(prefix + "setup_hours", m.steps(i).setup_hours());
        c.NonNegative(prefix + "run_hours_per_unit", m.steps(i).run_hours_per_unit());
      }
      break;
    }
    case Envelope::kWorkCenter: {
      const auto& m = e.work_center();
      c.Required("work_center.work_center_id", m.work_center_id());
      c.SameSite("work_center.site_id", m.site_id());
      c.KnownSite("work_center.site_id", m.site_id());
      c.NonNegative("work_center.efficiency", m.efficiency());
      c.NonNegativeInt("work_center.machines", m.machines());
      c.NonNegative("work_center.overtime_max_hours_per_week", m.overtime_max_hours_per_week());
      c.NonNegative("work_center.overtime_cost_per_hour", m.overtime_cost_per_hour());
      c.NonNegative("work_center.subcontract_cost_per_hour", m.subcontract_cost_per_hour());
      c.NonNegative("work_center.regular_cost_per_hour", m.regular_cost_per_hour());
      break;
    }
    case Envelope::kCalendar: {
      const auto& m = e.calendar();
      c.Required("calendar.calendar_id", m.calendar_id());
      c.SameSite("calendar.site_id", m.site_id());
      for (int i = 0; i < m.working_weekdays_size(); ++i)
        c.Range("calendar.working_weekdays[" + std::to_string(i) + "]", m.working_weekdays(i), 1, 7,
                "[1, 7] (ISO weekday)");
      for (int i = 0; i < m.shifts_size(); ++i)
        c.Range("calendar.shifts[" + std::to_string(i) + "].hours", m.shifts(i).hours(), 0, 24,
                "[0, 24]");
      for (int i = 0; i < m.holidays_size(); ++i)
        c.Date("calendar.holidays[" + std::to_string(i) + "]", true, m.holidays(i));
      break;
    }
    case Envelope::kSupplier:
      c.Required("supplier.supplier_id", e.supplier().supplier_id());
      c.NonNegative("supplier.quoted_lead_time_days", e.supplier().quoted_lead_time_days());
      break;
    case Envelope::kCustomer:
      c.Required("customer.customer_id", e.customer().customer_id());
      c.NonNegativeInt("customer.priority", e.customer().priority());
      break;
    case Envelope::kPlanningSettings: {
      const auto& m = e.planning_settings();
      c.RequiredDate("planning_settings.plan_start", m.has_plan_start(), m.plan_start());
      c.Range("planning_settings.horizon_buckets", m.horizon_buckets(), 0, 520, "[0, 520]");
      c.NonNegativeInt("planning_settings.consumption_backward_buckets",
                       m.consumption_backward_buckets());
      c.NonNegativeInt("planning_settings.consumption_forward_buckets",
                       m.consumption_forward_buckets());
      break;
    }
    case Envelope::kInventorySnapshot: {
      const auto& m = e.inventory_snapshot();
      c.SameSite("inventory_snapshot.site_id", m.site_id());
      c.KnownItem("inventory_snapshot.item_id", m.item_id());
      c.NonNegative("inventory_snapshot.on_hand", m.on_hand());
      c.Date("inventory_snapshot.as_of", m.has_as_of(), m.as_of());
      break;
    }
    case Envelope::kInventoryMovement: {
      const auto& m = e.inventory_movement();
      c.Required("inventory_movement.movement_id", m.movement_id());
      c.SameSite("inventory_movement.site_id", m.site_id());
      c.KnownItem("inventory_movement.item_id", m.item_id());
      c.Finite("inventory_movement.quantity", m.quantity());  // signed by design
      break;
    }
    case Envelope::kSalesOrder: {
      const auto& m = e.sales_order();
      c.Required("sales_order.order_id", m.order_id());
      c.NonNegativeInt("sales_order.line", m.line());
      c.SameSite("sales_order.site_id", m.site_id());
      c.KnownItem("sales_order.item_id", m.item_id());
      c.NonNegative("sales_order.quantity", m.quantity());
      c.NonNegative("sales_order.unit_price", m.unit_price());
      c.NonNegativeInt("sales_order.customer_priority", m.customer_priority());
      c.RequiredDate("sales_order.due_date", m.has_due_date(), m.due_date());
      break;
    }
    case Envelope::kShipment: {
      const auto& m = e.shipment();
      c.Required("shipment.shipment_id", m.shipment_id());
      c.SameSite("shipment.site_id", m.site_id());
      c.KnownItem("shipment.item_id", m.item_id());
      c.NonNegative("shipment.quantity", m.quantity());
      c.NonNegative("shipment.unit_price", m.unit_price());
      c.RequiredDate("shipment.shipped_at", m.has_shipped_at(), m.shipped_at());
      c.Date("shipment.due_date", m.has_due_date(), m.due_date());
      break;
    }
    case Envelope::kDemandForecast: {
      const auto& m = e.demand_forecast();
      c.SameSite("demand_forecast.site_id", m.site_id());
      c.KnownItem("demand_forecast.item_id", m.item_id());
      for (int i = 0; i < m.quantities_size() && !c.failed(); ++i) {
        const std::string prefix = "demand_forecast.quantities[" + std::to_string(i) + "].";
        c.NonNegative(prefix + "quantity", m.quantities(i).quantity());
        c.RequiredDate(prefix + "period_start", m.quantities(i).has_period_start(),
                       m.quantities(i).period_start());
      }
      break;
    }
    case Envelope::kForecastAdjustment: {
      const auto& m = e.forecast_adjustment();
      c.Required("forecast_adjustment.adjustment_id", m.adjustment_id());
      c.SameSite("forecast_adjustment.site_id", m.site_id());
      c.KnownItem("forecast_adjustment.item_id", m.item_id());
      if (!c.failed() && m.layer() == sop::v1::FORECAST_LAYER_UNSPECIFIED)
        c.Fail(ReasonClass::kMissingField, "forecast_adjustment.layer",
               "required, got UNSPECIFIED");
      c.Required("forecast_adjustment.owner", m.owner());
      c.Finite("forecast_adjustment.quantity_delta", m.quantity_delta());
      c.RequiredDate("forecast_adjustment.period_start", m.has_period_start(), m.period_start());
      break;
    }
    case Envelope::kPurchaseOrder: {
      const auto& m = e.purchase_order();
      c.Required("purchase_order.po_id", m.po_id());
      c.NonNegativeInt("purchase_order.line", m.line());
      c.SameSite("purchase_order.site_id", m.site_id());
      c.KnownItem("purchase_order.item_id", m.item_id());
      c.NonNegative("purchase_order.quantity", m.quantity());
      c.NonNegative("purchase_order.unit_cost", m.unit_cost());
      c.RequiredDate("purchase_order.due_date", m.has_due_date(), m.due_date());
      c.Date("purchase_order.order_date", m.has_order_date(), m.order_date());
      break;
    }
    case Envelope::kSupplierConfirmation: {
      const auto& m = e.supplier_confirmation();
      c.Required("supplier_confirmation.po_id", m.po_id());
      c.NonNegative("supplier_confirmation.confirmed_quantity", m.confirmed_quantity());
      c.Date("supplier_confirmation.confirmed_date", m.has_confirmed_date(), m.confirmed_date());
      break;
    }
    case Envelope::kAdvanceShipNotice: {
      const auto& m = e.advance_ship_notice();
      c.Required("advance_ship_notice.asn_id", m.asn_id());
      c.Required("advance_ship_notice.po_id", m.po_id());
      c.NonNegative("advance_ship_notice.quantity", m.quantity());
      c.Date("advance_ship_notice.expected_arrival", m.has_expected_arrival(),
             m.expected_arrival());
      break;
    }
    case Envelope::kGoodsReceipt: {
      const auto& m = e.goods_receipt();
      c.Required("goods_receipt.receipt_id", m.receipt_id());
      c.SameSite("goods_receipt.site_id", m.site_id());
      c.KnownItem("goods_receipt.item_id", m.item_id());
      c.NonNegative("goods_receipt.quantity", m.quantity());
      c.Date("goods_receipt.received_at", m.has_received_at(), m.received_at());
      break;
    }
    case Envelope::kTransferOrder: {
      const auto& m = e.transfer_order();
      c.Required("transfer_order.transfer_id", m.transfer_id());
      c.Required("transfer_order.from_site_id", m.from_site_id());
      c.Required("transfer_order.to_site_id", m.to_site_id());
      if (!c.failed() && m.from_site_id() == m.to_site_id())
        c.Fail(ReasonClass::kInconsistent, "transfer_order.to_site_id",
               "must differ from from_site_id, got '" + m.to_site_id() + "'");
      if (!c.failed() && m.from_site_id() != c.site() && m.to_site_id() != c.site())
        c.Fail(ReasonClass::kInconsistent, "transfer_order.to_site_id",
               "from_site_id or to_site_id must be the envelope site '" + std::string(c.site()) +
                   "', got '" + m.to_site_id() + "'");
      c.KnownItem("transfer_order.item_id", m.item_id());
      c.NonNegative("transfer_order.quantity", m.quantity());
      c.Date("transfer_order.ship_date", m.has_ship_date(), m.ship_date());
      c.Date("transfer_order.due_date", m.has_due_date(), m.due_date());
      break;
    }
    case Envelope::kWorkOrder: {
      const auto& m = e.work_order();
      c.Required("work_order.work_order_id", m.work_order_id());
      c.SameSite("work_order.site_id", m.site_id());
      c.KnownItem("work_order.item_id", m.item_id());
      c.NonNegative("work_order.quantity", m.quantity());
      c.Date("work_order.start_date", m.has_start_date(), m.start_date());
      c.Date("work_order.due_date", m.has_due_date(), m.due_date());
      break;
    }
    case Envelope::kProductionCompletion: {
      const auto& m = e.production_completion();
      c.Required("production_completion.completion_id", m.completion_id());
      c.Required("production_completion.work_order_id", m.work_order_id());
      c.SameSite("production_completion.site_id", m.site_id());
      c.KnownItem("production_completion.item_id", m.item_id());
      c.NonNegative("production_completion.quantity", m.quantity());
      c.NonNegative("production_completion.scrapped_quantity", m.scrapped_quantity());
      c.Date("production_completion.completed_at", m.has_completed_at(), m.completed_at());
      break;
    }
    case Envelope::PAYLOAD_NOT_SET:
      c.Fail(ReasonClass::kMissingField, "payload", "required, got no payload");
      break;
  }
}

std::string_view Trimmed(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

bool IsIdField(const std::string& name) {
  return name == "site" || name.ends_with("_id") || name == "work_order_id";
}

bool IsCodeField(const std::string& name) {
  return name == "unit_of_measure" || name == "currency";
}

// What normalization visits in one message type: its id and code string fields, and the
// message fields whose type (transitively) has any. Built once per type from the descriptors,
// so a new payload type is normalized without touching this file, and a record pays only for
// the fields that can change (no ListFields over every set field).
struct FieldStep {
  enum class Kind { kId, kCode, kMessage, kRepeatedMessage };
  const pb::FieldDescriptor* field;
  Kind kind;
};
using NormalizationPlan = std::unordered_map<const pb::Descriptor*, std::vector<FieldStep>>;

// True if `type` has anything to normalize; fills plan[type].
bool BuildPlan(const pb::Descriptor* type, NormalizationPlan& plan) {
  if (const auto it = plan.find(type); it != plan.end()) return !it->second.empty();
  plan[type];  // in progress: a recursive type ends here
  std::vector<FieldStep> steps;
  for (int i = 0; i < type->field_count(); ++i) {
    const pb::FieldDescriptor* field = type->field(i);
    if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (BuildPlan(field->message_type(), plan)) {
        steps.push_back({field, field->is_repeated() ? FieldStep::Kind::kRepeatedMessage
                                                     : FieldStep::Kind::kMessage});
      }
    } else if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING && !field->is_repeated()) {
      if (IsIdField(field->name())) steps.push_back({field, FieldStep::Kind::kId});
      if (IsCodeField(field->name())) steps.push_back({field, FieldStep::Kind::kCode});
    }
  }
  const bool any = !steps.empty();
  plan[type] = std::move(steps);
  return any;
}

const NormalizationPlan& EnvelopePlan() {
  static const NormalizationPlan plan = [] {
    NormalizationPlan built;
    BuildPlan(Envelope::descriptor(), built);
    return built;
  }();
  return plan;
}

bool IsUpper(std::string_view text) {
  return std::none_of(text.begin(), text.end(),
                      [](char ch) { return std::islower(static_cast<unsigned char>(ch)) != 0; });
}

// Trims ids and upper-cases codes of `message` and its sub-messages; true if anything changed.
bool NormalizeMessage(pb::Message& message, const NormalizationPlan& plan) {
  const auto steps = plan.find(message.GetDescriptor());
  if (steps == plan.end()) return false;
  const pb::Reflection* reflection = message.GetReflection();
  bool changed = false;
  for (const FieldStep& step : steps->second) {
    switch (step.kind) {
      case FieldStep::Kind::kMessage:
        if (reflection->HasField(message, step.field)) {
          changed |= NormalizeMessage(*reflection->MutableMessage(&message, step.field), plan);
        }
        break;
      case FieldStep::Kind::kRepeatedMessage:
        for (int i = 0; i < reflection->FieldSize(message, step.field); ++i) {
          changed |=
              NormalizeMessage(*reflection->MutableRepeatedMessage(&message, step.field, i), plan);
        }
        break;
      case FieldStep::Kind::kId:
      case FieldStep::Kind::kCode: {
        std::string scratch;
        const std::string& value = reflection->GetStringReference(message, step.field, &scratch);
        const std::string_view trimmed = Trimmed(value);
        const bool code = step.kind == FieldStep::Kind::kCode;
        if (trimmed.size() == value.size() && (!code || IsUpper(value))) break;  // the usual case
        std::string normalized(trimmed);
        if (code) {
          std::transform(normalized.begin(), normalized.end(), normalized.begin(), [](char ch) {
            return static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
          });
        }
        reflection->SetString(&message, step.field, std::move(normalized));
        changed = true;
        break;
      }
    }
  }
  return changed;
}

}  // namespace

std::string_view ToString(ReasonClass reason_class) noexcept {
  switch (reason_class) {
    case ReasonClass::kMalformed:
      return "malformed";
    case ReasonClass::kMissingField:
      return "missing_field";
    case ReasonClass::kInvalidValue:
      return "invalid_value";
    case ReasonClass::kUnknownReference:
      return "unknown_reference";
    case ReasonClass::kInconsistent:
      return "inconsistent";
  }
  return "unknown";
}

std::string MasterData::Key(std::string_view site, std::string_view id) {
  std::string key;
  key.reserve(site.size() + id.size() + 1);
  key.append(site).push_back('\x1f');
  key.append(id);
  return key;
}

bool MasterData::ContainsKey(const Set& set, std::string_view site, std::string_view id) {
  std::array<char, 2 * kMaxIdLength + 1> buffer;
  if (site.size() + id.size() + 1 > buffer.size()) return set.contains(Key(site, id));
  char* end = std::copy(site.begin(), site.end(), buffer.data());
  *end++ = '\x1f';
  end = std::copy(id.begin(), id.end(), end);
  return set.contains(
      std::string_view(buffer.data(), static_cast<std::size_t>(end - buffer.data())));
}

bool MasterData::HasSite(std::string_view site) const {
  return sites_.contains(site);
}
bool MasterData::HasItem(std::string_view site, std::string_view item) const {
  return ContainsKey(items_, site, item);
}
bool MasterData::HasWorkCenter(std::string_view site, std::string_view work_center) const {
  return ContainsKey(work_centers_, site, work_center);
}

bool MasterData::WouldCycle(std::string_view site, std::string_view parent,
                            const std::vector<std::string>& components,
                            std::vector<std::string>* path) const {
  // Depth-first from each new component through the current BOMs (the parent's own old BOM is
  // replaced, so it is not followed); reaching the parent closes a cycle.
  std::unordered_set<std::string> visited;
  std::vector<std::string> trail{std::string(parent)};
  std::function<bool(const std::string&)> reaches = [&](const std::string& item) -> bool {
    if (item == parent) return true;
    if (!visited.insert(item).second) return false;
    trail.push_back(item);
    const auto bom = boms_.find(Key(site, item));
    if (bom != boms_.end()) {
      for (const auto& child : bom->second)
        if (reaches(child)) return true;
    }
    trail.pop_back();
    return false;
  };
  for (const auto& component : components) {
    if (reaches(component)) {
      if (path) *path = trail;
      return true;
    }
  }
  return false;
}

void MasterData::Remember(const Envelope& e) {
  switch (e.payload_case()) {
    case Envelope::kSiteMaster:
      sites_.insert(e.site_master().site_id());
      break;
    case Envelope::kItem:
      items_.insert(Key(e.item().site_id(), e.item().item_id()));
      break;
    case Envelope::kWorkCenter:
      work_centers_.insert(Key(e.work_center().site_id(), e.work_center().work_center_id()));
      break;
    case Envelope::kBom: {
      std::vector<std::string> components;
      components.reserve(static_cast<std::size_t>(e.bom().lines_size()));
      for (const auto& line : e.bom().lines()) components.push_back(line.component_item_id());
      boms_[Key(e.bom().site_id(), e.bom().parent_item_id())] = std::move(components);
      break;
    }
    default:
      break;
  }
}

void MasterData::AppendTo(std::string& out) const {
  auto put_set = [&](const Set& set) {
    detail::PutVarint(out, set.size());
    for (const auto& value : set) detail::PutString(out, value);
  };
  put_set(sites_);
  put_set(items_);
  put_set(work_centers_);
  detail::PutVarint(out, boms_.size());
  for (const auto& [key, components] : boms_) {
    detail::PutString(out, key);
    detail::PutVarint(out, components.size());
    for (const auto& component : components) detail::PutString(out, component);
  }
}

Result<MasterData> MasterData::ReadFrom(std::string_view in, std::size_t& pos) {
  MasterData master;
  auto read_set = [&](Set& set) -> Status {
    auto count = detail::GetVarint(in, pos);
    if (!count) return std::unexpected(count.error());
    set.reserve(*count);
    for (std::uint64_t i = 0; i < *count; ++i) {
      auto value = detail::GetString(in, pos);
      if (!value) return std::unexpected(value.error());
      set.insert(std::move(*value));
    }
    return {};
  };
  if (auto s = read_set(master.sites_); !s) return std::unexpected(s.error());
  if (auto s = read_set(master.items_); !s) return std::unexpected(s.error());
  if (auto s = read_set(master.work_centers_); !s) return std::unexpected(s.error());
  auto boms = detail::GetVarint(in, pos);
  if (!boms) return std::unexpected(boms.error());
  for (std::uint64_t i = 0; i < *boms; ++i) {
    auto key = detail::GetString(in, pos);
    if (!key) return std::unexpected(key.error());
    auto count = detail::GetVarint(in, pos);
    if (!count) return std::unexpected(count.error());
    std::vector<std::string> components;
    for (std::uint64_t j = 0; j < *count; ++j) {
      auto component = detail::GetString(in, pos);
      if (!component) return std::unexpected(component.error());
      components.push_back(std::move(*component));
    }
    master.boms_.emplace(std::move(*key), std::move(components));
  }
  return master;
}

bool Normalize(Envelope& envelope) {
  return NormalizeMessage(envelope, EnvelopePlan());
}

std::optional<Violation> Validate(const Envelope& envelope, const MasterData& master) {
  Checker c(master, envelope.site());
  c.Required("event_id", envelope.event_id());
  c.Required("site", envelope.site());
  c.Date("occurred_at", envelope.has_occurred_at(), envelope.occurred_at());
  c.Date("produced_at", envelope.has_produced_at(), envelope.produced_at());
  // Everything that belongs to a site needs its SiteMaster first; settings, suppliers and
  // customers are not site data (the site only routes them).
  switch (envelope.payload_case()) {
    case Envelope::kSiteMaster:
    case Envelope::kPlanningSettings:
    case Envelope::kSupplier:
    case Envelope::kCustomer:
    case Envelope::PAYLOAD_NOT_SET:
      break;
    default:
      c.KnownSite("site", envelope.site());
  }
  if (!c.failed()) CheckPayload(c, envelope);
  return c.Take();
}

}  // namespace sop::ingestion
