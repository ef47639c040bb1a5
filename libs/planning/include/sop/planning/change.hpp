#pragma once
/// Input changes that net change (NettingEngine::Apply) re-plans incrementally.

#include <string>
#include <variant>
#include <vector>

#include "sop/model/snapshot.hpp"

namespace sop::planning {

/// Adds a sales-order line or replaces the one with the same id (item, due, quantity may move).
struct UpsertSalesOrder {
  model::SalesOrder order;
};
/// Cancels a sales-order line (its quantity becomes 0; the index stays valid).
struct CancelSalesOrder {
  std::string order_id;
};
/// Sets the forecast of an item-site in one bucket.
struct SetForecast {
  model::ItemSiteIndex item_site;
  model::Bucket bucket = 0;
  double quantity = 0.0;
};
/// Sets the on-hand balance of an item-site.
struct SetOnHand {
  model::ItemSiteIndex item_site;
  double quantity = 0.0;
};
/// Adds a scheduled receipt or replaces the one with the same id.
struct UpsertReceipt {
  model::ScheduledReceipt receipt;
};
/// Closes a scheduled receipt (quantity 0).
struct CloseReceipt {
  std::string receipt_id;
};
/// Replaces the planning parameters of an item-site (lead time, lot policy, safety stock, yield,
/// fences, kind/source, active, ...). `on_hand` in `parameters` is ignored (use SetOnHand).
struct SetItemParameters {
  model::ItemSiteIndex item_site;
  model::ItemSite parameters;
};
/// Replaces the BOM of a parent.
struct SetBom {
  model::ItemSiteIndex parent;
  std::vector<model::BomLine> lines;
};

using Change = std::variant<UpsertSalesOrder, CancelSalesOrder, SetForecast, SetOnHand,
                            UpsertReceipt, CloseReceipt, SetItemParameters, SetBom>;

}  // namespace sop::planning
