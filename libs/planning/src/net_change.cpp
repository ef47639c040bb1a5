// Net change: apply one input change to the engine's snapshot and re-plan only what it touches.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>

#include "sop/model/text.hpp"
#include "sop/planning/netting.hpp"

namespace sop::planning {

using model::Format;
using model::ItemKind;
using model::LotRule;

namespace {

inline std::size_t Idx(ItemSiteIndex i) {
  return static_cast<std::size_t>(i.value());
}

bool NonNegative(double v) {
  return v >= 0.0 && std::isfinite(v);
}

}  // namespace

Status NettingEngine::Validate(const Change& change) const {
  const auto n = static_cast<std::int32_t>(snapshot_.item_site_count());
  const auto H = snapshot_.H();
  auto known = [&](ItemSiteIndex i) { return i.value() >= 0 && i.value() < n; };
  auto bad_item = [&](std::string_view field, ItemSiteIndex i) {
    return InvalidField(field, "unknown item-site index", std::to_string(i.value()));
  };
  return std::visit(
      [&](const auto& c) -> Status {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, UpsertSalesOrder>) {
          if (c.order.id.empty()) return InvalidField("sales_order.id", "must not be empty", "");
          if (!known(c.order.item_site))
            return bad_item("sales_order.item_site", c.order.item_site);
          if (!NonNegative(c.order.quantity)) {
            return InvalidField("sales_order.quantity", "must be >= 0",
                                std::to_string(c.order.quantity));
          }
          if (c.order.due_bucket >= H) {
            return Fail(
                Errc::kOutOfRange,
                Format("sales_order.due_bucket: {} beyond the horizon {}", c.order.due_bucket, H));
          }
        } else if constexpr (std::is_same_v<T, CancelSalesOrder>) {
          if (!snapshot_.sales_order_ids.Find(c.order_id)) {
            return Fail(Errc::kNotFound, "sales_order.id: unknown '" + c.order_id + "'");
          }
        } else if constexpr (std::is_same_v<T, SetForecast>) {
          if (!known(c.item_site)) return bad_item("forecast.item_site", c.item_site);
          if (c.bucket < 0 || c.bucket >= H) {
            return Fail(Errc::kOutOfRange,
                        Format("forecast.bucket: {} outside 0..{}", c.bucket, H - 1));
          }
          if (!NonNegative(c.quantity)) {
            return InvalidField("forecast.quantity", "must be >= 0", std::to_string(c.quantity));
          }
        } else if constexpr (std::is_same_v<T, SetOnHand>) {
          if (!known(c.item_site)) return bad_item("on_hand.item_site", c.item_site);
          if (!std::isfinite(c.quantity)) {
            return InvalidField("on_hand.quantity", "must be finite", std::to_string(c.quantity));
          }
        } else if constexpr (std::is_same_v<T, UpsertReceipt>) {
          if (c.receipt.id.empty()) return InvalidField("receipt.id", "must not be empty", "");
          if (!known(c.receipt.item_site))
            return bad_item("receipt.item_site", c.receipt.item_site);
          if (!NonNegative(c.receipt.quantity)) {
            return InvalidField("receipt.quantity", "must be >= 0",
                                std::to_string(c.receipt.quantity));
          }
          if (c.receipt.due_bucket >= H) {
            return Fail(Errc::kOutOfRange, Format("receipt.due_bucket: {} beyond the horizon {}",
                                                  c.receipt.due_bucket, H));
          }
        } else if constexpr (std::is_same_v<T, CloseReceipt>) {
          if (!snapshot_.receipt_ids.Find(c.receipt_id)) {
            return Fail(Errc::kNotFound, "receipt.id: unknown '" + c.receipt_id + "'");
          }
        } else if constexpr (std::is_same_v<T, SetItemParameters>) {
          if (!known(c.item_site)) return bad_item("item.item_site", c.item_site);
          const auto& p = c.parameters;
          if (p.lead_time < 0)
            return InvalidField("item.lead_time", "must be >= 0", std::to_string(p.lead_time));
          if (p.frozen_fence < 0) {
            return InvalidField("item.frozen_fence", "must be >= 0",
                                std::to_string(p.frozen_fence));
          }
          if (!(p.yield > 0.0 && p.yield <= 1.0)) {
            return InvalidField("item.yield", "must be in (0, 1]", std::to_string(p.yield));
          }
          if (!NonNegative(p.safety_stock)) {
            return InvalidField("item.safety_stock", "must be >= 0",
                                std::to_string(p.safety_stock));
          }
          const auto& lot = p.lot;
          if (!NonNegative(lot.minimum) || !NonNegative(lot.maximum) ||
              !NonNegative(lot.multiple) || !NonNegative(lot.fixed_quantity)) {
            return InvalidField("item.lot", "quantities must be >= 0", "");
          }
          if (lot.rule == LotRule::kFixedOrderQuantity && lot.fixed_quantity <= 0.0) {
            return InvalidField("item.lot.fixed_quantity", "must be > 0 for FOQ",
                                std::to_string(lot.fixed_quantity));
          }
          if (lot.periods_of_supply < 1) {
            return InvalidField("item.lot.periods_of_supply", "must be >= 1",
                                std::to_string(lot.periods_of_supply));
          }
          if (lot.maximum > 0.0 && (lot.maximum < lot.minimum || lot.maximum < lot.multiple)) {
            return InvalidField("item.lot.maximum", "must be >= minimum and >= multiple",
                                std::to_string(lot.maximum));
          }
          if (lot.maximum > 0.0 && lot.multiple > 0.0) {
            double ratio = lot.maximum / lot.multiple;
            if (std::abs(ratio - std::round(ratio)) > 1e-9 * ratio) {
              return InvalidField("item.lot.maximum", "must be a multiple of the order multiple",
                                  std::to_string(lot.maximum));
            }
          }
          if (p.kind == ItemKind::kTransfer) {
            if (!known(p.source)) return bad_item("item.source", p.source);
            const auto& source = snapshot_.item_sites[Idx(p.source)];
            const auto& self = snapshot_.item_sites[Idx(c.item_site)];
            if (source.item_id != self.item_id || source.site == self.site) {
              return InvalidField("item.source", "must be the same item at another site",
                                  snapshot_.ItemSiteName(p.source));
            }
          }
        } else if constexpr (std::is_same_v<T, SetBom>) {
          if (!known(c.parent)) return bad_item("bom.parent", c.parent);
          for (const auto& line : c.lines) {
            if (!known(line.component)) return bad_item("bom.component", line.component);
            if (snapshot_.item_sites[Idx(line.component)].site !=
                snapshot_.item_sites[Idx(c.parent)].site) {
              return InvalidField("bom.component", "must be at the parent's site",
                                  snapshot_.ItemSiteName(line.component));
            }
            if (!(line.quantity_per > 0.0) || !std::isfinite(line.quantity_per)) {
              return InvalidField("bom.quantity_per", "must be > 0",
                                  std::to_string(line.quantity_per));
            }
            if (!NonNegative(line.scrap)) {
              return InvalidField("bom.scrap", "must be >= 0", std::to_string(line.scrap));
            }
          }
        }
        return {};
      },
      change);
}

void NettingEngine::Propagate(const std::vector<ItemSiteIndex>& dirty,
                              std::vector<ItemSiteIndex>& touched) {
  auto push = [&](ItemSiteIndex c) {
    auto level = plan_.low_level_code[Idx(c)];
    if (level < 0 || queued_[Idx(c)]) return;
    queued_[Idx(c)] = 1;
    levels_[static_cast<std::size_t>(level)].push_back(c);
  };
  for (auto c : dirty) push(c);
  // Suppliers always have a strictly higher low-level code than their consumers, so a level is
  // complete once every lower level has been processed.
  for (auto& level : levels_) {
    for (std::size_t i = 0; i < level.size(); ++i) {
      const ItemSiteIndex c = level[i];
      queued_[Idx(c)] = 0;
      const bool changed = NetItem(c);
      if (plan_.pegged) PegItem(c, true);
      touched.push_back(c);
      if (changed) ForEachSupplier(c, push);
    }
    level.clear();
  }
}

void NettingEngine::Restructure() {
  BuildWhereUsed();
  ComputeLowLevelCodes();
  RebuildOrder();
  queued_.assign(snapshot_.item_site_count(), 0);
}

void NettingEngine::ApplyInput(const Change& change, std::vector<ItemSiteIndex>& dirty,
                               bool& structural) {
  const auto H = static_cast<std::size_t>(snapshot_.H());
  std::visit(
      [&](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, UpsertSalesOrder>) {
          model::SalesOrder order = c.order;
          order.due_bucket = std::max<Bucket>(0, order.due_bucket);
          if (auto existing = snapshot_.sales_order_ids.Find(order.id)) {
            auto& slot = snapshot_.sales_orders[static_cast<std::size_t>(*existing)];
            if (slot.item_site != order.item_site) {
              auto& old_list = sales_orders_by_item_[Idx(slot.item_site)];
              old_list.erase(std::find(old_list.begin(), old_list.end(), *existing));
              sales_orders_by_item_[Idx(order.item_site)].push_back(*existing);
              dirty.push_back(slot.item_site);
            }
            slot = std::move(order);
            SortSalesOrders(slot.item_site);
            dirty.push_back(slot.item_site);
          } else {
            auto index = snapshot_.sales_order_ids.Intern(order.id);
            auto item = order.item_site;
            snapshot_.sales_orders.push_back(std::move(order));
            sales_orders_by_item_[Idx(item)].push_back(index);
            SortSalesOrders(item);
            dirty.push_back(item);
          }
        } else if constexpr (std::is_same_v<T, CancelSalesOrder>) {
          auto index = *snapshot_.sales_order_ids.Find(c.order_id);
          auto& slot = snapshot_.sales_orders[static_cast<std::size_t>(index)];
          slot.quantity = 0.0;
          dirty.push_back(slot.item_site);
        } else if constexpr (std::is_same_v<T, SetForecast>) {
          snapshot_.forecast[Idx(c.item_site) * H + static_cast<std::size_t>(c.bucket)] =
              c.quantity;
          dirty.push_back(c.item_site);
        } else if constexpr (std::is_same_v<T, SetOnHand>) {
          snapshot_.item_sites[Idx(c.item_site)].on_hand = c.quantity;
          dirty.push_back(c.item_site);
        } else if constexpr (std::is_same_v<T, UpsertReceipt>) {
          model::ScheduledReceipt receipt = c.receipt;
          receipt.due_bucket = std::max<Bucket>(0, receipt.due_bucket);
          receipt.start_bucket = std::clamp<Bucket>(receipt.start_bucket, 0, receipt.due_bucket);
          if (auto existing = snapshot_.receipt_ids.Find(receipt.id)) {
            auto& slot = snapshot_.receipts[static_cast<std::size_t>(*existing)];
            auto old_item = slot.item_site;
            if (old_item != receipt.item_site) {
              auto& old_list = receipts_by_item_[Idx(old_item)];
              old_list.erase(std::find(old_list.begin(), old_list.end(), *existing));
              receipts_by_item_[Idx(receipt.item_site)].push_back(*existing);
            }
            slot = std::move(receipt);
            RecomputeScheduledReceipts(old_item);
            RecomputeScheduledReceipts(slot.item_site);
            dirty.push_back(old_item);
            dirty.push_back(slot.item_site);
          } else {
            auto index = snapshot_.receipt_ids.Intern(receipt.id);
            auto item = receipt.item_site;
            snapshot_.receipts.push_back(std::move(receipt));
            receipts_by_item_[Idx(item)].push_back(index);
            RecomputeScheduledReceipts(item);
            dirty.push_back(item);
          }
        } else if constexpr (std::is_same_v<T, CloseReceipt>) {
          auto index = *snapshot_.receipt_ids.Find(c.receipt_id);
          auto& slot = snapshot_.receipts[static_cast<std::size_t>(index)];
          slot.quantity = 0.0;
          RecomputeScheduledReceipts(slot.item_site);
          dirty.push_back(slot.item_site);
        } else if constexpr (std::is_same_v<T, SetItemParameters>) {
          auto& slot = snapshot_.item_sites[Idx(c.item_site)];
          model::ItemSite next = c.parameters;
          next.item_id = slot.item_id;
          next.site = slot.site;
          next.on_hand = slot.on_hand;
          if (next.kind == ItemKind::kTransfer) {
            next.source_site = snapshot_.item_sites[Idx(next.source)].site;
          } else {
            next.source = model::kNoItemSite;
            next.source_site = model::kNoSite;
          }
          const bool old_transfer = slot.kind == ItemKind::kTransfer;
          const bool new_transfer = next.kind == ItemKind::kTransfer;
          if (old_transfer != new_transfer || (new_transfer && next.source != slot.source)) {
            structural = true;
            if (old_transfer) dirty.push_back(slot.source);
            if (new_transfer) dirty.push_back(next.source);
          }
          slot = std::move(next);
          dirty.push_back(c.item_site);
        } else if constexpr (std::is_same_v<T, SetBom>) {
          for (const auto& line : snapshot_.Bom(c.parent)) dirty.push_back(line.component);
          snapshot_.ReplaceBom(c.parent, c.lines);
          for (const auto& line : c.lines) dirty.push_back(line.component);
          dirty.push_back(c.parent);
          structural = true;
        }
      },
      change);
}

Result<std::vector<ItemSiteIndex>> NettingEngine::Apply(const Change& change) {
  return ApplyAll(std::span<const Change>(&change, 1));
}

Result<std::vector<ItemSiteIndex>> NettingEngine::ApplyAll(std::span<const Change> changes) {
  if (!ran_) return Fail(Errc::kFailedPrecondition, "net change before a full run");
  for (const auto& change : changes) {
    if (auto status = Validate(change); !status) return std::unexpected(status.error());
  }
  for (const auto& change : changes) ApplyInput(change, staged_dirty_, staged_structural_);
  staged_ = true;
  return Commit();
}

Status NettingEngine::Stage(const Change& change) {
  if (!ran_) return Fail(Errc::kFailedPrecondition, "net change before a full run");
  if (auto status = Validate(change); !status) return status;
  ApplyInput(change, staged_dirty_, staged_structural_);
  staged_ = true;
  return {};
}

Result<std::vector<ItemSiteIndex>> NettingEngine::Commit() {
  if (!ran_) return Fail(Errc::kFailedPrecondition, "net change before a full run");
  std::vector<ItemSiteIndex> dirty = std::exchange(staged_dirty_, {});
  const bool structural = std::exchange(staged_structural_, false);
  staged_ = false;

  std::vector<ItemSiteIndex> touched;
  if (structural) {
    std::vector<char> was_cyclic(snapshot_.item_site_count());
    for (std::size_t i = 0; i < was_cyclic.size(); ++i) was_cyclic[i] = plan_.low_level_code[i] < 0;
    Restructure();
    bool cycles_changed = false;
    for (std::size_t i = 0; i < was_cyclic.size(); ++i) {
      if (was_cyclic[i] != (plan_.low_level_code[i] < 0)) cycles_changed = true;
    }
    if (cycles_changed) {
      // An item entered or left a cycle: rare enough that a regenerative run is the simple,
      // certainly-identical answer.
      const bool pegged = plan_.pegged;
      RunNettingOnly();
      if (pegged) RunPegging();
      return netting_order_;
    }
  }
  Propagate(dirty, touched);
  return touched;
}

}  // namespace sop::planning
