#include "sop/model/snapshot_builder.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>

#include "sop/model/text.hpp"

namespace sop::model {

void SnapshotBuilder::AddSite(SiteRecord site) {
  auto key = site.site_id;
  sites_[key] = std::move(site);
}

void SnapshotBuilder::AddItem(ItemRecord item) {
  Key key{item.site_id, item.item_id};
  items_[std::move(key)] = std::move(item);
}

void SnapshotBuilder::SetBom(std::string parent_item_id, std::string site_id,
                             std::vector<BomLineRecord> lines) {
  boms_[Key{std::move(site_id), std::move(parent_item_id)}] = std::move(lines);
}

void SnapshotBuilder::SetRouting(std::string item_id, std::string site_id,
                                 std::vector<RoutingStepRecord> steps) {
  routings_[Key{std::move(site_id), std::move(item_id)}] = std::move(steps);
}

void SnapshotBuilder::AddWorkCenter(WorkCenterRecord work_center) {
  auto key = work_center.work_center_id;
  work_centers_[key] = std::move(work_center);
}

void SnapshotBuilder::SetOnHand(std::string item_id, std::string site_id, double quantity) {
  on_hand_[Key{std::move(site_id), std::move(item_id)}] = quantity;
}

void SnapshotBuilder::AddOnHand(std::string item_id, std::string site_id, double delta) {
  on_hand_[Key{std::move(site_id), std::move(item_id)}] += delta;
}

void SnapshotBuilder::AddScheduledReceipt(ScheduledReceiptRecord receipt) {
  auto [it, inserted] = receipt_index_.try_emplace(receipt.receipt_id, receipts_.size());
  if (inserted) {
    receipts_.push_back(std::move(receipt));
  } else {
    receipts_[it->second] = std::move(receipt);
  }
}

void SnapshotBuilder::CloseScheduledReceipt(const std::string& receipt_id) {
  if (auto it = receipt_index_.find(receipt_id); it != receipt_index_.end()) {
    receipts_[it->second].quantity = 0.0;
  }
}

void SnapshotBuilder::AddSalesOrder(SalesOrderRecord order) {
  auto [it, inserted] = sales_order_index_.try_emplace(order.order_id, sales_orders_.size());
  if (inserted) {
    sales_orders_.push_back(std::move(order));
  } else {
    sales_orders_[it->second] = std::move(order);
  }
}

void SnapshotBuilder::CancelSalesOrder(const std::string& order_id) {
  if (auto it = sales_order_index_.find(order_id); it != sales_order_index_.end()) {
    sales_orders_[it->second].quantity = 0.0;
  }
}

namespace {

// The value of `bucket` in a bucket-sorted list, inserted as 0 when missing.
double& BucketValue(std::vector<std::pair<Bucket, double>>& values, Bucket bucket) {
  if (values.empty() || values.back().first < bucket)
    return values.emplace_back(bucket, 0.0).second;
  auto it = std::lower_bound(values.begin(), values.end(), bucket,
                             [](const auto& entry, Bucket b) { return entry.first < b; });
  if (it == values.end() || it->first != bucket) it = values.insert(it, {bucket, 0.0});
  return it->second;
}

}  // namespace

void SnapshotBuilder::SetForecast(std::string item_id, std::string site_id, Bucket bucket,
                                  double quantity) {
  BucketValue(forecast_[Key{std::move(site_id), std::move(item_id)}], bucket) = quantity;
}

void SnapshotBuilder::AddForecast(std::string item_id, std::string site_id, Bucket bucket,
                                  double delta) {
  BucketValue(forecast_[Key{std::move(site_id), std::move(item_id)}], bucket) += delta;
}

namespace {

std::string Subject(const std::string& item_id, const std::string& site_id) {
  return item_id + "@" + site_id;
}

bool Finite(double v) {
  return std::isfinite(v);
}

}  // namespace

BuildResult SnapshotBuilder::Build() {
  BuildResult out;
  Snapshot& s = out.snapshot;
  auto& findings = out.findings;
  auto report = [&](FindingType type, ItemSiteIndex is, std::string subject, std::string field,
                    std::string message, Bucket bucket = -1, double quantity = 0.0) {
    findings.push_back(Finding{type, is, bucket, quantity, std::move(subject), std::move(field),
                               std::move(message)});
  };

  if (horizon_.buckets < 1) {
    report(FindingType::kDataQuality, kNoItemSite, "planning_settings", "horizon_buckets",
           Format("horizon must be >= 1 bucket, got {}; using 78", horizon_.buckets));
    horizon_.buckets = 78;
  }
  if (horizon_.buckets > kMaxBuckets) {
    report(FindingType::kDataQuality, kNoItemSite, "planning_settings", "horizon_buckets",
           Format("horizon must be <= {} buckets, got {}; using {}", kMaxBuckets, horizon_.buckets,
                  kMaxBuckets));
    horizon_.buckets = kMaxBuckets;
  }
  if (horizon_.consumption_backward < 0 || horizon_.consumption_forward < 0) {
    report(FindingType::kDataQuality, kNoItemSite, "planning_settings", "consumption_window",
           "negative consumption window set to 0");
    horizon_.consumption_backward = std::max(0, horizon_.consumption_backward);
    horizon_.consumption_forward = std::max(0, horizon_.consumption_forward);
  }
  s.horizon = horizon_;
  const Bucket H = horizon_.buckets;
  const auto uH = static_cast<std::size_t>(H);

  // Sites.
  for (auto& [id, site] : sites_) {
    if (id.empty()) {
      report(FindingType::kDataQuality, kNoItemSite, "site", "site_id", "empty site id: dropped");
      continue;
    }
    s.site_ids.Intern(id);
    s.sites.push_back(Site{site.site_id, site.name, site.kind});
  }

  // Item-sites, in (site id, item id) order.
  for (auto& [key, rec] : items_) {
    const std::string subject = Subject(rec.item_id, rec.site_id);
    auto site = s.site_ids.Find(rec.site_id);
    if (!site) {
      report(FindingType::kDataQuality, kNoItemSite, subject, "site_id",
             Format("unknown site '{}': item not planned", rec.site_id));
      continue;
    }
    ItemSiteIndex index(s.item_site_keys.Intern(ItemSiteKey(rec.item_id, rec.site_id)));
    ItemSite is;
    is.item_id = rec.item_id;
    is.site = SiteIndex(*site);
    is.description = rec.description;
    is.kind = rec.kind;
    is.unit_cost = Finite(rec.unit_cost) ? rec.unit_cost : 0.0;
    is.unit_price = Finite(rec.unit_price) ? rec.unit_price : 0.0;
    is.family = rec.family;
    is.supplier_id = rec.supplier_id;
    is.active = rec.active;
    is.slushy_fence = std::max(0, rec.slushy_fence);
    is.lead_time = rec.lead_time;
    if (is.lead_time < 0) {
      report(FindingType::kDataQuality, index, subject, "lead_time",
             Format("negative lead time {} set to 0", rec.lead_time));
      is.lead_time = 0;
    }
    is.frozen_fence = rec.frozen_fence;
    if (is.frozen_fence < 0) {
      report(FindingType::kDataQuality, index, subject, "frozen_fence",
             Format("negative frozen fence {} set to 0", rec.frozen_fence));
      is.frozen_fence = 0;
    }
    is.yield = rec.yield == 0.0 ? 1.0 : rec.yield;
    if (!(is.yield > 0.0 && is.yield <= 1.0)) {
      report(FindingType::kDataQuality, index, subject, "yield",
             Format("yield {} outside (0, 1] set to 1", rec.yield));
      is.yield = 1.0;
    }
    is.safety_stock = rec.safety_stock;
    if (!(is.safety_stock >= 0.0) || !Finite(is.safety_stock)) {
      report(FindingType::kDataQuality, index, subject, "safety_stock",
             Format("safety stock {} set to 0", rec.safety_stock));
      is.safety_stock = 0.0;
    }
    LotPolicy lot = rec.lot;
    auto clean = [&](double& v, const char* field) {
      if (!(v >= 0.0) || !Finite(v)) {
        report(FindingType::kDataQuality, index, subject, field,
               Format("{} {} set to 0", field, v));
        v = 0.0;
      }
    };
    clean(lot.minimum, "minimum_order_quantity");
    clean(lot.maximum, "maximum_order_quantity");
    clean(lot.multiple, "order_multiple");
    clean(lot.fixed_quantity, "fixed_order_quantity");
    if (lot.rule == LotRule::kFixedOrderQuantity && lot.fixed_quantity <= 0.0) {
      report(FindingType::kDataQuality, index, subject, "fixed_order_quantity",
             "fixed order quantity policy without a positive quantity: lot-for-lot used");
      lot.rule = LotRule::kLotForLot;
    }
    if (lot.periods_of_supply < 1) {
      if (lot.rule == LotRule::kPeriodsOfSupply) {
        report(FindingType::kDataQuality, index, subject, "periods_of_supply",
               Format("periods of supply {} set to 1", lot.periods_of_supply));
      }
      lot.periods_of_supply = 1;
    }
    if (lot.maximum > 0.0 && lot.maximum < lot.minimum) {
      report(FindingType::kDataQuality, index, subject, "maximum_order_quantity",
             Format("maximum {} below minimum {}: maximum ignored", lot.maximum, lot.minimum));
      lot.maximum = 0.0;
    }
    if (lot.maximum > 0.0 && lot.multiple > 0.0 && lot.maximum < lot.multiple) {
      report(FindingType::kDataQuality, index, subject, "maximum_order_quantity",
             Format("maximum {} below multiple {}: maximum ignored", lot.maximum, lot.multiple));
      lot.maximum = 0.0;
    }
    if (lot.maximum > 0.0 && lot.multiple > 0.0) {
      // The split rule of NETTING.md keeps every order within the maximum and on the multiple
      // only when the maximum is itself a multiple (NETTING-DECISIONS.md D4).
      const double aligned = lot.multiple * std::floor(lot.maximum / lot.multiple + 1e-9);
      if (std::abs(aligned - lot.maximum) > 1e-9 * lot.maximum) {
        report(FindingType::kDataQuality, index, subject, "maximum_order_quantity",
               Format("maximum {} not a multiple of {}: lowered to {}", lot.maximum, lot.multiple,
                      aligned));
        lot.maximum = aligned;
      }
      if (lot.maximum < lot.minimum) {
        report(FindingType::kDataQuality, index, subject, "maximum_order_quantity",
               Format("aligned maximum {} below minimum {}: maximum ignored", lot.maximum,
                      lot.minimum));
        lot.maximum = 0.0;
      }
    }
    is.lot = lot;
    s.item_sites.push_back(std::move(is));
  }
  const std::size_t n = s.item_sites.size();

  // Transfer sources need every item-site indexed first.
  for (auto& [key, rec] : items_) {
    auto found = s.FindItemSite(rec.item_id, rec.site_id);
    if (!found) continue;
    ItemSite& is = s.item_sites[static_cast<std::size_t>(found->value())];
    if (is.kind != ItemKind::kTransfer) continue;
    const std::string subject = Subject(rec.item_id, rec.site_id);
    auto source_site = s.site_ids.Find(rec.source_site_id);
    if (!source_site) {
      report(FindingType::kDataQuality, *found, subject, "source_site_id",
             Format("unknown source site '{}': planned as a buy item", rec.source_site_id));
      is.kind = ItemKind::kBuy;
      continue;
    }
    if (SiteIndex(*source_site) == is.site) {
      report(FindingType::kDataQuality, *found, subject, "source_site_id",
             "source site is the item's own site: planned as a buy item");
      is.kind = ItemKind::kBuy;
      continue;
    }
    auto source = s.FindItemSite(rec.item_id, rec.source_site_id);
    if (!source) {
      report(FindingType::kDataQuality, *found, subject, "source_site_id",
             Format("item not planned at source site '{}': planned as a buy item",
                    rec.source_site_id));
      is.kind = ItemKind::kBuy;
      continue;
    }
    is.source_site = SiteIndex(*source_site);
    is.source = *source;
  }

  // Work centers.
  for (auto& [id, rec] : work_centers_) {
    auto site = s.site_ids.Find(rec.site_id);
    if (!site) {
      report(FindingType::kDataQuality, kNoItemSite, id, "site_id",
             Format("work center at unknown site '{}': dropped", rec.site_id));
      continue;
    }
    s.work_center_ids.Intern(id);
    WorkCenter wc{rec.work_center_id,
                  SiteIndex(*site),
                  rec.name,
                  rec.efficiency,
                  rec.machines,
                  rec.overtime_max_hours_per_bucket,
                  rec.overtime_cost_per_hour,
                  rec.subcontract_allowed,
                  rec.subcontract_cost_per_hour,
                  rec.regular_cost_per_hour};
    if (wc.efficiency == 0.0) wc.efficiency = 1.0;
    if (!(wc.efficiency > 0.0) || !Finite(wc.efficiency)) {
      report(FindingType::kDataQuality, kNoItemSite, id, "efficiency",
             Format("efficiency {} set to 1", rec.efficiency));
      wc.efficiency = 1.0;
    }
    if (wc.machines <= 0) wc.machines = 1;
    s.work_centers.push_back(std::move(wc));
    std::size_t base = s.available_hours.size();
    s.available_hours.resize(base + uH, 0.0);
    bool bad = false;
    for (std::size_t t = 0; t < uH && t < rec.available_hours.size(); ++t) {
      double h = rec.available_hours[t];
      if (!(h >= 0.0) || !Finite(h)) {
        bad = true;
        h = 0.0;
      }
      s.available_hours[base + t] = h;
    }
    if (bad) {
      report(FindingType::kDataQuality, kNoItemSite, id, "available_hours",
             "negative or non-finite hours set to 0");
    }
  }

  // BOMs (CSR in item-site order).
  std::vector<std::vector<BomLine>> bom_rows(n);
  for (auto& [key, lines] : boms_) {
    const std::string subject = Subject(key.second, key.first);
    auto parent = s.FindItemSite(key.second, key.first);
    if (!parent) {
      report(FindingType::kDataQuality, kNoItemSite, subject, "parent_item_id",
             "BOM of an item not planned at this site: dropped");
      continue;
    }
    auto& row = bom_rows[static_cast<std::size_t>(parent->value())];
    for (const auto& line : lines) {
      auto component = s.FindItemSite(line.component_item_id, key.first);
      if (!component) {
        report(FindingType::kDataQuality, *parent, subject, "component_item_id",
               Format("missing component '{}' at site '{}': line dropped", line.component_item_id,
                      key.first));
        continue;
      }
      if (!(line.quantity_per > 0.0) || !Finite(line.quantity_per)) {
        report(FindingType::kDataQuality, *parent, subject, "quantity_per",
               Format("component '{}' quantity per {} not positive: line dropped",
                      line.component_item_id, line.quantity_per));
        continue;
      }
      double scrap = line.scrap;
      if (!(scrap >= 0.0) || !Finite(scrap)) {
        report(FindingType::kDataQuality, *parent, subject, "scrap_fraction",
               Format("component '{}' scrap {} set to 0", line.component_item_id, scrap));
        scrap = 0.0;
      }
      row.push_back(
          BomLine{*component, line.quantity_per, scrap, line.effective_from, line.effective_to});
    }
  }
  s.bom_offsets.assign(n + 1, 0);
  for (std::size_t i = 0; i < n; ++i) {
    s.bom_offsets[i + 1] = s.bom_offsets[i] + static_cast<std::uint32_t>(bom_rows[i].size());
  }
  s.bom_lines.reserve(s.bom_offsets[n]);
  for (auto& row : bom_rows) s.bom_lines.insert(s.bom_lines.end(), row.begin(), row.end());
  bom_rows.clear();

  // Routings.
  std::vector<std::vector<RoutingStep>> routing_rows(n);
  for (auto& [key, steps] : routings_) {
    const std::string subject = Subject(key.second, key.first);
    auto item = s.FindItemSite(key.second, key.first);
    if (!item) {
      report(FindingType::kDataQuality, kNoItemSite, subject, "item_id",
             "routing of an item not planned at this site: dropped");
      continue;
    }
    auto& row = routing_rows[static_cast<std::size_t>(item->value())];
    for (const auto& step : steps) {
      auto wc = s.work_center_ids.Find(step.work_center_id);
      if (!wc) {
        report(FindingType::kDataQuality, *item, subject, "work_center_id",
               Format("unknown work center '{}': step dropped", step.work_center_id));
        continue;
      }
      double setup = step.setup_hours, run = step.run_hours_per_unit;
      if (!(setup >= 0.0) || !(run >= 0.0) || !Finite(setup) || !Finite(run)) {
        report(FindingType::kDataQuality, *item, subject, "run_hours_per_unit",
               Format("negative hours at work center '{}' set to 0", step.work_center_id));
        setup = Finite(setup) ? std::max(0.0, setup) : 0.0;
        run = Finite(run) ? std::max(0.0, run) : 0.0;
      }
      row.push_back(RoutingStep{step.sequence, WorkCenterIndex(*wc), setup, run});
    }
    std::stable_sort(row.begin(), row.end(), [](const RoutingStep& a, const RoutingStep& b) {
      return a.sequence < b.sequence;
    });
  }
  s.routing_offsets.assign(n + 1, 0);
  for (std::size_t i = 0; i < n; ++i) {
    s.routing_offsets[i + 1] =
        s.routing_offsets[i] + static_cast<std::uint32_t>(routing_rows[i].size());
  }
  for (auto& row : routing_rows)
    s.routing_steps.insert(s.routing_steps.end(), row.begin(), row.end());
  routing_rows.clear();

  // On-hand.
  for (auto& [key, quantity] : on_hand_) {
    auto item = s.FindItemSite(key.second, key.first);
    if (!item) {
      report(FindingType::kDataQuality, kNoItemSite, Subject(key.second, key.first), "on_hand",
             "on-hand of an item not planned at this site: ignored");
      continue;
    }
    if (!Finite(quantity)) {
      report(FindingType::kDataQuality, *item, Subject(key.second, key.first), "on_hand",
             "non-finite on-hand set to 0");
      continue;
    }
    // A negative on-hand (unposted issues) is kept: netting treats it as a requirement.
    s.item_sites[static_cast<std::size_t>(item->value())].on_hand = quantity;
  }

  // Scheduled receipts.
  // In id order: indices follow ids, which net change and the engine's sales-order sort use.
  auto by_id = [](const auto& records, auto id_of) {
    std::vector<std::uint32_t> order(records.size());
    for (std::uint32_t k = 0; k < order.size(); ++k) order[k] = k;
    std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
      return id_of(records[a]) < id_of(records[b]);
    });
    return order;
  };
  std::string key_buffer;
  auto find_item_site = [&](const std::string& item_id,
                            const std::string& site_id) -> std::optional<ItemSiteIndex> {
    // ItemSiteKey into a reused buffer: one lookup per order line without an allocation.
    key_buffer.assign(item_id).push_back('\x1f');
    key_buffer.append(site_id);
    if (auto index = s.item_site_keys.Find(key_buffer)) return ItemSiteIndex(*index);
    return std::nullopt;
  };
  for (std::uint32_t k :
       by_id(receipts_, [](const auto& r) -> const std::string& { return r.receipt_id; })) {
    auto& rec = receipts_[k];
    const std::string& id = rec.receipt_id;
    auto subject = [&] { return Subject(rec.item_id, rec.site_id); };
    auto item = find_item_site(rec.item_id, rec.site_id);
    if (!item) {
      report(FindingType::kDataQuality, kNoItemSite, subject(), "receipt_id",
             Format("receipt '{}' for an item not planned at this site: ignored", id));
      continue;
    }
    if (!(rec.quantity >= 0.0) || !Finite(rec.quantity)) {
      report(FindingType::kDataQuality, *item, subject(), "quantity",
             Format("receipt '{}' quantity {} not >= 0: ignored", id, rec.quantity));
      continue;
    }
    if (rec.due_bucket >= H) {
      report(
          FindingType::kOutsideHorizon, *item, subject(), "due_bucket",
          Format("receipt '{}' due in bucket {} beyond the horizon: ignored", id, rec.due_bucket),
          rec.due_bucket, rec.quantity);
      continue;
    }
    ScheduledReceipt r;
    s.receipt_ids.Intern(id);
    r.id = std::move(rec.receipt_id);
    r.kind = rec.kind;
    r.item_site = *item;
    r.due_bucket = std::max<Bucket>(0, rec.due_bucket);
    r.start_bucket = std::clamp<Bucket>(rec.start_bucket, 0, r.due_bucket);
    r.quantity = rec.quantity;
    if (auto from = s.site_ids.Find(rec.from_site_id)) r.from_site = SiteIndex(*from);
    s.receipts.push_back(std::move(r));
  }

  // Sales orders.
  for (std::uint32_t k :
       by_id(sales_orders_, [](const auto& r) -> const std::string& { return r.order_id; })) {
    auto& rec = sales_orders_[k];
    const std::string& id = rec.order_id;
    auto subject = [&] { return Subject(rec.item_id, rec.site_id); };
    auto item = find_item_site(rec.item_id, rec.site_id);
    if (!item) {
      report(FindingType::kDataQuality, kNoItemSite, subject(), "order_id",
             Format("sales order '{}' for an item not planned at this site: ignored", id));
      continue;
    }
    if (!(rec.quantity >= 0.0) || !Finite(rec.quantity)) {
      report(FindingType::kDataQuality, *item, subject(), "quantity",
             Format("sales order '{}' quantity {} not >= 0: ignored", id, rec.quantity));
      continue;
    }
    if (rec.due_bucket >= H) {
      report(FindingType::kOutsideHorizon, *item, subject(), "due_bucket",
             Format("sales order '{}' due in bucket {} beyond the horizon: ignored", id,
                    rec.due_bucket),
             rec.due_bucket, rec.quantity);
      continue;
    }
    SalesOrder so;
    s.sales_order_ids.Intern(id);
    so.id = std::move(rec.order_id);
    so.customer_id = std::move(rec.customer_id);
    so.channel = std::move(rec.channel);
    so.priority = rec.priority;
    so.item_site = *item;
    so.due_bucket = std::max<Bucket>(0, rec.due_bucket);
    so.quantity = rec.quantity;
    so.unit_price = Finite(rec.unit_price) ? rec.unit_price : 0.0;
    s.sales_orders.push_back(std::move(so));
  }

  // Forecast.
  s.forecast.assign(n * uH, 0.0);
  // In (key, bucket) order, as the findings and the sums into bucket 0 always were.
  std::vector<const std::pair<const Key, BucketValues>*> forecast_keys;
  forecast_keys.reserve(forecast_.size());
  for (const auto& entry : forecast_) forecast_keys.push_back(&entry);
  std::sort(forecast_keys.begin(), forecast_keys.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  for (const auto* entry : forecast_keys) {
    const auto& key = entry->first;
    auto subject = [&] { return Subject(key.second, key.first); };
    auto item = find_item_site(key.second, key.first);
    for (const auto& [bucket, quantity] : entry->second) {
      if (!item) {
        report(FindingType::kDataQuality, kNoItemSite, subject(), "forecast",
               "forecast of an item not planned at this site: ignored");
        continue;
      }
      if (!(quantity >= 0.0) || !Finite(quantity)) {
        report(FindingType::kDataQuality, *item, subject(), "forecast",
               Format("forecast {} in bucket {} not >= 0: ignored", quantity, bucket), bucket);
        continue;
      }
      if (bucket >= H) {
        if (quantity > 0.0) {
          report(FindingType::kOutsideHorizon, *item, subject(), "forecast",
                 Format("forecast in bucket {} beyond the horizon: ignored", bucket), bucket,
                 quantity);
        }
        continue;
      }
      s.forecast[static_cast<std::size_t>(item->value()) * uH +
                 static_cast<std::size_t>(std::max<Bucket>(0, bucket))] += quantity;
    }
  }
  return out;
}

}  // namespace sop::model
