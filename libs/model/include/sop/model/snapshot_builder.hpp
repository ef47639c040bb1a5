#pragma once
/// SnapshotBuilder: collects input records keyed by string ids (later records replace earlier
/// ones of the same key, like the master-data events they come from), then validates them and
/// compiles a dense Snapshot. Bad data never crashes the build: it is dropped or repaired and
/// reported as a DATA_QUALITY (or OUTSIDE_HORIZON) finding naming the entity and the field.

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sop/model/finding.hpp"
#include "sop/model/records.hpp"
#include "sop/model/snapshot.hpp"

namespace sop::model {

/// Output of SnapshotBuilder::Build.
struct BuildResult {
  Snapshot snapshot;
  std::vector<Finding> findings;
};

/// Accumulates records, then compiles them. Single-threaded; one Build per builder (it moves the
/// records out). Item-sites are indexed in order of (site id, item id), so indices are
/// deterministic regardless of the order records arrive in.
///
/// Repairs made (each reported): negative lead time or fence → 0; yield outside (0, 1] → 1
/// (0 means unset = 1 silently); FOQ without a positive quantity → lot-for-lot; POQ periods < 1 →
/// 1; negative min/max/multiple/safety stock → 0; max < min → max ignored; transfer item without a
/// valid source item-site → treated as buy; BOM line with an unknown component or a
/// non-positive quantity per → dropped; routing step with unknown work center → dropped; records
/// naming an unknown site or item-site → dropped; buckets ≥ H → ignored (OUTSIDE_HORIZON);
/// buckets < 0 → bucket 0.
class SnapshotBuilder {
 public:
  explicit SnapshotBuilder(Horizon horizon = {}) : horizon_(horizon) {}

  void SetHorizon(const Horizon& horizon) { horizon_ = horizon; }
  void AddSite(SiteRecord site);
  /// Adds or replaces the item `item.item_id` at `item.site_id`.
  void AddItem(ItemRecord item);
  /// Replaces the BOM of a parent at a site.
  void SetBom(std::string parent_item_id, std::string site_id, std::vector<BomLineRecord> lines);
  /// Replaces the routing of an item at a site.
  void SetRouting(std::string item_id, std::string site_id, std::vector<RoutingStepRecord> steps);
  void AddWorkCenter(WorkCenterRecord work_center);
  /// Sets the absolute on-hand balance.
  void SetOnHand(std::string item_id, std::string site_id, double quantity);
  /// Adds a signed movement to the on-hand balance.
  void AddOnHand(std::string item_id, std::string site_id, double delta);
  /// Adds or replaces a scheduled receipt (by receipt_id).
  void AddScheduledReceipt(ScheduledReceiptRecord receipt);
  /// Closes a scheduled receipt (quantity 0).
  void CloseScheduledReceipt(const std::string& receipt_id);
  /// Adds or replaces a sales order line (by order_id).
  void AddSalesOrder(SalesOrderRecord order);
  /// Cancels a sales order line (quantity 0).
  void CancelSalesOrder(const std::string& order_id);
  /// Sets the forecast of an item-site in one bucket (replaces).
  void SetForecast(std::string item_id, std::string site_id, Bucket bucket, double quantity);
  /// Adds a delta to the forecast of an item-site in one bucket (an adjustment layer).
  void AddForecast(std::string item_id, std::string site_id, Bucket bucket, double delta);

  /// Validates and compiles. Consumes the builder's records.
  BuildResult Build();

 private:
  using Key = std::pair<std::string, std::string>;  // (site id, item id)
  Horizon horizon_;
  std::map<std::string, SiteRecord> sites_;
  std::map<Key, ItemRecord> items_;
  std::map<Key, std::vector<BomLineRecord>> boms_;
  std::map<Key, std::vector<RoutingStepRecord>> routings_;
  std::map<std::string, WorkCenterRecord> work_centers_;
  std::map<Key, double> on_hand_;
  // Receipts and sales orders (400,000 and 600,000 at L) in arrival order with a hashed index by
  // id (a later record replaces an earlier one in place); Build visits them in id order.
  std::vector<ScheduledReceiptRecord> receipts_;
  std::unordered_map<std::string, std::size_t> receipt_index_;
  std::vector<SalesOrderRecord> sales_orders_;
  std::unordered_map<std::string, std::size_t> sales_order_index_;
  struct KeyHash {
    std::size_t operator()(const Key& key) const noexcept {
      const std::size_t a = std::hash<std::string>{}(key.first);
      return a ^
             (std::hash<std::string>{}(key.second) + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
    }
  };
  /// Forecast by item-site, then bucket: hashed by key (one lookup per event instead of a
  /// descent through a tree of item-site × bucket string keys), put in key order at Build.
  /// A bucket list is sorted by bucket; events usually come in bucket order (append).
  using BucketValues = std::vector<std::pair<Bucket, double>>;
  std::unordered_map<Key, BucketValues, KeyHash> forecast_;
};

}  // namespace sop::model
