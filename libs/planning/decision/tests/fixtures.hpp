#pragma once
// Small hand-worked plants for the decision tests.

#include <string>
#include <vector>

#include "sop/model/snapshot_builder.hpp"
#include "sop/planning/netting.hpp"

namespace sop::planning::testing {

inline model::ItemRecord Item(std::string id, model::ItemKind kind, double cost, double price,
                              std::int32_t lead_time, std::int32_t frozen_fence = 0,
                              std::string family = "", std::string supplier = "") {
  model::ItemRecord item;
  item.item_id = std::move(id);
  item.site_id = "P1";
  item.kind = kind;
  item.unit_cost = cost;
  item.unit_price = price;
  item.lead_time = lead_time;
  item.frozen_fence = frozen_fence;
  item.family = std::move(family);
  item.supplier_id = std::move(supplier);
  return item;
}

inline model::SalesOrderRecord Order(std::string id, std::string customer, std::int32_t priority,
                                     std::string item, model::Bucket due, double quantity,
                                     double price) {
  model::SalesOrderRecord order;
  order.order_id = std::move(id);
  order.customer_id = std::move(customer);
  order.channel = "direct";
  order.priority = priority;
  order.item_id = std::move(item);
  order.site_id = "P1";
  order.due_bucket = due;
  order.quantity = quantity;
  order.unit_price = price;
  return order;
}

inline model::SnapshotBuilder Plant(std::int32_t buckets = 10) {
  model::Horizon horizon;
  horizon.buckets = buckets;
  model::SnapshotBuilder builder(horizon);
  builder.AddSite(model::SiteRecord{"P1", "Plant 1", model::SiteKind::kPlant});
  return builder;
}

inline NettingEngine Run(model::SnapshotBuilder& builder) {
  auto built = builder.Build();
  NettingEngine engine(std::move(built.snapshot));
  engine.RunFull();
  return engine;
}

}  // namespace sop::planning::testing
