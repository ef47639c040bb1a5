#include "sop/planning/testing/generator.hpp"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace sop::planning::testing {

using namespace sop::model;

GeneratorOptions ScaleL(std::uint64_t seed) {
  GeneratorOptions o;
  o.seed = seed;
  o.plants = 3;
  o.distribution_centers = 2;
  o.items_per_site = 20'000;
  o.levels = 6;
  o.horizon = 78;
  o.sales_orders = 700'000;
  o.purchase_orders = 150'000;
  o.work_orders = 100'000;
  o.transfers = 50'000;
  o.work_centers_per_plant = 67;  // ≈ 200 work centers
  o.frozen_share = 0.1;
  return o;
}

namespace {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(engine_); }
  double Real(double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(engine_);
  }
  bool Chance(double p) { return Real(0.0, 1.0) < p; }
  // A quantity on a coarse grid (multiples of 0.5) so hand-checkable numbers stay exact.
  double Quantity(int lo, int hi) { return 0.5 * Int(2 * lo, 2 * hi); }

 private:
  std::mt19937_64 engine_;
};

std::string PlantId(int p) {
  return "PLANT-" + std::to_string(p);
}
std::string DcId(int d) {
  return "DC-" + std::to_string(d);
}

}  // namespace

BuildResult Generate(const GeneratorOptions& o) {
  Rng rng(o.seed);
  SnapshotBuilder builder(Horizon{BucketKind::kWeek, o.horizon, rng.Int(0, 2), rng.Int(0, 2)});
  const int H = o.horizon;
  const int levels = std::max(1, o.levels);

  struct Planned {
    std::string item;
    std::string site;
    int level;  // −1 at a DC
    bool make;
  };
  std::vector<Planned> all;
  std::vector<std::size_t> end_items;  // indices into `all` that carry independent demand
  std::vector<std::vector<std::string>> plant_work_centers(static_cast<std::size_t>(o.plants));

  auto lot_policy = [&](ItemRecord& item) {
    int kind = rng.Int(0, 9);
    if (kind < 4) {
      item.lot.rule = LotRule::kLotForLot;
    } else if (kind < 6) {
      item.lot.rule = LotRule::kFixedOrderQuantity;
      item.lot.fixed_quantity = 25.0 * rng.Int(1, 40);
    } else {
      item.lot.rule = LotRule::kPeriodsOfSupply;
      item.lot.periods_of_supply = rng.Int(1, 4);
    }
    if (item.lot.rule != LotRule::kFixedOrderQuantity) {
      if (rng.Chance(0.4)) item.lot.minimum = 5.0 * rng.Int(1, 10);
      if (rng.Chance(0.4)) item.lot.multiple = 5.0 * rng.Int(1, 4);
      if (rng.Chance(0.3)) {
        double base = item.lot.multiple > 0.0 ? item.lot.multiple : 5.0;
        item.lot.maximum = base * rng.Int(40, 400);
        item.lot.maximum =
            std::max(item.lot.maximum,
                     item.lot.multiple > 0.0
                         ? item.lot.multiple * std::ceil(item.lot.minimum / item.lot.multiple)
                         : item.lot.minimum);
      }
    }
  };
  auto common = [&](ItemRecord& item) {
    item.unit_cost = rng.Real(1.0, 100.0);
    item.lead_time = rng.Int(0, 4);
    item.safety_stock = rng.Chance(0.3) ? rng.Quantity(1, 40) : 0.0;
    item.yield = rng.Chance(0.15) ? 0.8 + 0.05 * rng.Int(0, 3) : 1.0;
    item.frozen_fence = rng.Chance(o.frozen_share) ? rng.Int(1, 3) : 0;
    item.active = !rng.Chance(o.inactive_share);
    lot_policy(item);
  };

  // Plants: level sizes grow with depth (more components than finished goods).
  for (int p = 0; p < o.plants; ++p) {
    const std::string site = PlantId(p);
    builder.AddSite(SiteRecord{site, "Plant " + std::to_string(p), SiteKind::kPlant});
    for (int w = 0; w < o.work_centers_per_plant; ++w) {
      WorkCenterRecord wc;
      wc.work_center_id = site + "-WC" + std::to_string(w);
      wc.site_id = site;
      wc.efficiency = rng.Chance(0.5) ? 1.0 : 0.85;
      wc.available_hours.assign(static_cast<std::size_t>(H), 0.0);
      const double base = 40.0 * rng.Int(1, 6) * std::max(1.0, o.items_per_site / 200.0);
      for (auto& h : wc.available_hours) h = rng.Chance(0.05) ? 0.0 : base;
      plant_work_centers[static_cast<std::size_t>(p)].push_back(wc.work_center_id);
      builder.AddWorkCenter(std::move(wc));
    }
    std::vector<std::vector<std::string>> by_level(static_cast<std::size_t>(levels));
    double weight_total = 0.0;
    for (int l = 0; l < levels; ++l) weight_total += 1.0 + 0.5 * l;
    for (int l = 0; l < levels; ++l) {
      int count = std::max(1, static_cast<int>(o.items_per_site * (1.0 + 0.5 * l) / weight_total));
      for (int k = 0; k < count; ++k) {
        ItemRecord item;
        item.item_id = "I" + std::to_string(p) + "-" + std::to_string(l) + "-" + std::to_string(k);
        item.site_id = site;
        item.kind = l + 1 < levels ? ItemKind::kMake : ItemKind::kBuy;
        item.family = "F" + std::to_string(k % 20);
        item.unit_price = l == 0 ? rng.Real(50.0, 500.0) : 0.0;
        common(item);
        by_level[static_cast<std::size_t>(l)].push_back(item.item_id);
        all.push_back(Planned{item.item_id, site, l, item.kind == ItemKind::kMake});
        if (l == 0 || rng.Chance(0.02)) end_items.push_back(all.size() - 1);
        builder.SetOnHand(item.item_id, site, rng.Chance(0.6) ? rng.Quantity(0, 100) : 0.0);
        if (item.kind == ItemKind::kMake) {
          std::vector<RoutingStepRecord> steps;
          const auto& wcs = plant_work_centers[static_cast<std::size_t>(p)];
          int n_steps = wcs.empty() ? 0 : rng.Int(1, 2);
          for (int s = 0; s < n_steps; ++s) {
            steps.push_back(RoutingStepRecord{
                10 * (s + 1),
                wcs[static_cast<std::size_t>(rng.Int(0, static_cast<int>(wcs.size()) - 1))],
                0.25 * rng.Int(0, 8), 0.01 * rng.Int(1, 50)});
          }
          builder.SetRouting(item.item_id, site, std::move(steps));
        }
        builder.AddItem(std::move(item));
      }
    }
    // BOMs: components from the next level (sometimes two down), shared between parents.
    for (int l = 0; l + 1 < levels; ++l) {
      for (const auto& parent : by_level[static_cast<std::size_t>(l)]) {
        std::vector<BomLineRecord> lines;
        int n_lines = rng.Int(1, 3);
        for (int k = 0; k < n_lines; ++k) {
          int cl = (l + 2 < levels && rng.Chance(0.2)) ? l + 2 : l + 1;
          const auto& pool = by_level[static_cast<std::size_t>(cl)];
          BomLineRecord line;
          line.component_item_id =
              pool[static_cast<std::size_t>(rng.Int(0, static_cast<int>(pool.size()) - 1))];
          bool duplicate = std::any_of(lines.begin(), lines.end(), [&](const BomLineRecord& x) {
            return x.component_item_id == line.component_item_id;
          });
          if (duplicate) continue;
          int per = rng.Int(0, 9);
          line.quantity_per = per < 7 ? 1.0 : per < 9 ? 2.0 : 0.5;
          line.scrap = rng.Chance(0.2) ? 0.05 : 0.0;
          if (rng.Chance(0.1)) {
            line.effective_from = rng.Int(0, H / 2);
            if (rng.Chance(0.5)) line.effective_to = line.effective_from + rng.Int(1, H);
          }
          lines.push_back(std::move(line));
        }
        builder.SetBom(parent, PlantId(p), std::move(lines));
      }
    }
  }

  // Distribution centers: transfer items replenished from the plant that makes them.
  const std::size_t plant_items = all.size();
  for (int d = 0; d < o.distribution_centers && plant_items > 0; ++d) {
    const std::string site = DcId(d);
    builder.AddSite(SiteRecord{site, "DC " + std::to_string(d), SiteKind::kDistributionCenter});
    std::vector<std::size_t> picks(plant_items);
    for (std::size_t i = 0; i < plant_items; ++i) picks[i] = i;
    // Finished goods first, then a random selection of spare parts.
    std::stable_partition(picks.begin(), picks.end(),
                          [&](std::size_t i) { return all[i].level == 0; });
    auto fg_end =
        std::find_if(picks.begin(), picks.end(), [&](std::size_t i) { return all[i].level != 0; });
    std::vector<std::size_t> rest(fg_end, picks.end());
    for (std::size_t i = rest.size(); i > 1; --i) {
      std::swap(rest[i - 1], rest[static_cast<std::size_t>(rng.Int(0, static_cast<int>(i) - 1))]);
    }
    picks.erase(fg_end, picks.end());
    picks.insert(picks.end(), rest.begin(), rest.end());
    picks.resize(std::min(picks.size(), static_cast<std::size_t>(o.items_per_site)));
    for (auto i : picks) {
      ItemRecord item;
      item.item_id = all[i].item;
      item.site_id = site;
      item.kind = ItemKind::kTransfer;
      item.source_site_id = all[i].site;
      item.unit_price = rng.Real(50.0, 500.0);
      common(item);
      item.lead_time = rng.Int(0, 2);
      builder.SetOnHand(item.item_id, site, rng.Chance(0.6) ? rng.Quantity(0, 60) : 0.0);
      builder.AddItem(std::move(item));
      all.push_back(Planned{all[i].item, site, -1, false});
      end_items.push_back(all.size() - 1);
    }
  }
  if (all.empty()) return builder.Build();

  // Demand.
  auto pick_end = [&]() -> const Planned& {
    return all[end_items[static_cast<std::size_t>(
        rng.Int(0, static_cast<int>(end_items.size()) - 1))]];
  };
  for (int s = 0; s < o.sales_orders; ++s) {
    const Planned& target = pick_end();
    SalesOrderRecord so;
    so.order_id = "SO-" + std::to_string(s);
    so.customer_id = "C" + std::to_string(rng.Int(0, 99));
    so.channel = rng.Chance(0.5) ? "OEM" : "ECOM";
    so.priority = rng.Int(0, 3);
    so.item_id = target.item;
    so.site_id = target.site;
    so.due_bucket = std::min(
        H - 1,
        rng.Int(-1, 1) + static_cast<int>(std::abs(rng.Real(0.0, 1.0) * rng.Real(0.0, 1.0)) * H));
    so.quantity = rng.Quantity(1, 30);
    so.unit_price = rng.Real(50.0, 500.0);
    builder.AddSalesOrder(std::move(so));
  }
  if (o.forecast) {
    for (auto e : end_items) {
      if (!rng.Chance(0.7)) continue;
      double level = rng.Quantity(0, 20);
      for (int t = 0; t < H; ++t) {
        if (rng.Chance(0.8))
          builder.SetForecast(all[e].item, all[e].site, t, level + rng.Quantity(0, 5));
      }
    }
  }

  // Supply: purchase orders on buy items, work orders on make items, transfers into DCs.
  std::vector<std::size_t> buys, makes, dc_items;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i].level < 0)
      dc_items.push_back(i);
    else if (all[i].make)
      makes.push_back(i);
    else
      buys.push_back(i);
  }
  auto pick_from = [&](const std::vector<std::size_t>& pool) -> const Planned& {
    return all[pool[static_cast<std::size_t>(rng.Int(0, static_cast<int>(pool.size()) - 1))]];
  };
  for (int r = 0; r < o.purchase_orders && !buys.empty(); ++r) {
    const Planned& target = pick_from(buys);
    builder.AddScheduledReceipt(
        ScheduledReceiptRecord{"PO-" + std::to_string(r), ReceiptKind::kPurchaseOrder, target.item,
                               target.site, rng.Int(-1, H / 3), 0, rng.Quantity(5, 100), ""});
  }
  for (int r = 0; r < o.work_orders && !makes.empty(); ++r) {
    const Planned& target = pick_from(makes);
    int due = rng.Int(0, H / 4);
    builder.AddScheduledReceipt(
        ScheduledReceiptRecord{"WO-" + std::to_string(r), ReceiptKind::kWorkOrder, target.item,
                               target.site, due, due - rng.Int(0, 3), rng.Quantity(5, 100), ""});
  }
  for (int r = 0; r < o.transfers && !dc_items.empty(); ++r) {
    const Planned& target = pick_from(dc_items);
    builder.AddScheduledReceipt(
        ScheduledReceiptRecord{"TR-" + std::to_string(r), ReceiptKind::kTransfer, target.item,
                               target.site, rng.Int(0, 3), 0, rng.Quantity(5, 50), ""});
  }

  if (o.bad_data) {
    auto pick_any = [&]() -> const Planned& {
      return all[static_cast<std::size_t>(rng.Int(0, static_cast<int>(all.size()) - 1))];
    };
    // A cycle, a missing component, an unknown site, a negative lead time, nonsense lot data.
    const Planned& a = pick_any();
    const Planned& b = pick_any();
    if (a.level >= 0 && b.level >= 0 && a.site == b.site) {
      builder.SetBom(a.item, a.site,
                     {BomLineRecord{b.item, 1.0, 0.0, kBeginningOfTime, kEndOfTime}});
      builder.SetBom(b.item, b.site,
                     {BomLineRecord{a.item, 2.0, 0.0, kBeginningOfTime, kEndOfTime}});
    }
    const Planned& c = pick_any();
    builder.SetBom(c.item, c.site,
                   {BomLineRecord{"NO-SUCH-ITEM", 1.0, 0.0, kBeginningOfTime, kEndOfTime},
                    BomLineRecord{c.item, 1.0, -0.5, kBeginningOfTime, kEndOfTime}});
    ItemRecord ghost;
    ghost.item_id = "GHOST";
    ghost.site_id = "NO-SUCH-SITE";
    builder.AddItem(ghost);
    ItemRecord weird;
    weird.item_id = "WEIRD";
    weird.site_id = all.front().site;
    weird.kind = ItemKind::kTransfer;
    weird.source_site_id = "NOWHERE";
    weird.lead_time = -3;
    weird.frozen_fence = -1;
    weird.yield = 7.0;
    weird.safety_stock = -5.0;
    weird.lot.rule = LotRule::kFixedOrderQuantity;
    weird.lot.fixed_quantity = 0.0;
    weird.lot.minimum = 50.0;
    weird.lot.maximum = 10.0;
    builder.AddItem(weird);
    builder.AddSalesOrder(
        SalesOrderRecord{"SO-BAD-1", "C1", "OEM", 1, "WEIRD", weird.site_id, H + 5, 3.0, 1.0});
    builder.AddSalesOrder(
        SalesOrderRecord{"SO-BAD-2", "C1", "OEM", 1, "WEIRD", weird.site_id, -4, 3.0, 1.0});
    builder.AddSalesOrder(
        SalesOrderRecord{"SO-BAD-3", "C1", "OEM", 1, "GHOST", "NO-SUCH-SITE", 1, 3.0, 1.0});
    builder.SetForecast("WEIRD", weird.site_id, 2, -4.0);
    builder.SetOnHand("WEIRD", weird.site_id, -7.0);
    builder.AddScheduledReceipt(ScheduledReceiptRecord{"PO-BAD", ReceiptKind::kPurchaseOrder,
                                                       "WEIRD", weird.site_id, 1, 0, -2.0, ""});
  }
  return builder.Build();
}

}  // namespace sop::planning::testing
