#pragma once
/// Input records of the planning model: plain aggregates keyed by external string ids, already
/// converted to buckets (the codec turns dates into bucket indices; a date before bucket 0 may be
/// given as a negative bucket and counts in bucket 0, a bucket ≥ H is reported and ignored).
/// They are fed to a SnapshotBuilder, which validates them and compiles a dense Snapshot.

#include <cstdint>
#include <string>
#include <vector>

#include "sop/model/ids.hpp"

namespace sop::model {

enum class BucketKind : std::uint8_t { kWeek, kDay, kMonth };
enum class SiteKind : std::uint8_t { kPlant, kDistributionCenter };
enum class ItemKind : std::uint8_t { kMake, kBuy, kTransfer };
enum class LotRule : std::uint8_t { kLotForLot, kFixedOrderQuantity, kPeriodsOfSupply };
enum class ReceiptKind : std::uint8_t { kPurchaseOrder, kWorkOrder, kTransfer };

/// Planning horizon and forecast-consumption windows.
struct Horizon {
  BucketKind bucket_kind = BucketKind::kWeek;
  std::int32_t buckets = 78;              ///< H
  std::int32_t consumption_backward = 0;  ///< b: buckets before the due bucket
  std::int32_t consumption_forward = 0;   ///< f: buckets after the due bucket
};

/// Lot-sizing policy per NETTING.md. 0 means "not set" for minimum, maximum and multiple.
struct LotPolicy {
  LotRule rule = LotRule::kLotForLot;
  double fixed_quantity = 0.0;         ///< Q, for kFixedOrderQuantity (> 0)
  std::int32_t periods_of_supply = 1;  ///< p, for kPeriodsOfSupply (≥ 1)
  double minimum = 0.0;
  double maximum = 0.0;   ///< 0 = no maximum
  double multiple = 0.0;  ///< 0 = no multiple
};

/// A site as the codec delivers it.
struct SiteRecord {
  std::string site_id{};
  std::string name{};
  SiteKind kind = SiteKind::kPlant;
};

/// An item as planned at one site.
struct ItemRecord {
  std::string item_id{};
  std::string site_id{};
  std::string description{};
  ItemKind kind = ItemKind::kBuy;
  double unit_cost = 0.0;
  double unit_price = 0.0;
  std::int32_t lead_time = 0;  ///< buckets (purchase, production or transfer)
  LotPolicy lot{};
  double safety_stock = 0.0;
  double yield = 1.0;             ///< (0, 1]; 0 = unset = 1
  std::int32_t frozen_fence = 0;  ///< buckets
  std::int32_t slushy_fence = 0;  ///< buckets (informational for planning)
  std::string family{};
  std::string supplier_id{};     ///< kBuy
  std::string source_site_id{};  ///< kTransfer: the supplying site (same item id there)
  bool active = true;            ///< false = phased out: no new planned orders
};

/// One BOM line of a parent at its site.
struct BomLineRecord {
  std::string component_item_id{};  ///< at the parent's site
  double quantity_per = 1.0;
  double scrap = 0.0;                        ///< 0.02 = 2 % component scrap
  Bucket effective_from = kBeginningOfTime;  ///< inclusive
  Bucket effective_to = kEndOfTime;          ///< exclusive
};

/// One routing step (work center by id).
struct RoutingStepRecord {
  std::int32_t sequence = 0;
  std::string work_center_id{};
  double setup_hours = 0.0;  ///< per order
  double run_hours_per_unit = 0.0;
};

/// A work center with its calendar already expanded to hours per bucket.
struct WorkCenterRecord {
  std::string work_center_id{};
  std::string site_id{};
  std::string name{};
  double efficiency = 1.0;  ///< 0 = unset = 1
  std::int32_t machines = 1;
  double overtime_max_hours_per_bucket = 0.0;
  double overtime_cost_per_hour = 0.0;
  bool subcontract_allowed = false;
  double subcontract_cost_per_hour = 0.0;
  double regular_cost_per_hour = 0.0;
  /// Calendar hours per bucket (calendar, shifts, holidays and machines already expanded);
  /// shorter than H means 0 for the missing buckets.
  std::vector<double> available_hours{};
};

/// An open purchase order line, released work order or in-transit transfer.
struct ScheduledReceiptRecord {
  std::string receipt_id{};  ///< e.g. "PO-1:2", "WO-7", "TR-3"
  ReceiptKind kind = ReceiptKind::kPurchaseOrder;
  std::string item_id{};
  std::string site_id{};  ///< receiving site
  Bucket due_bucket = 0;
  Bucket start_bucket = 0;     ///< work orders: start (for rough-cut load)
  double quantity = 0.0;       ///< open quantity
  std::string from_site_id{};  ///< transfers: shipping site (informational)
};

/// An open sales-order line.
struct SalesOrderRecord {
  std::string order_id{};  ///< unique per line, e.g. "SO-4711:1"
  std::string customer_id{};
  std::string channel{};
  std::int32_t priority = 0;  ///< 1 = most important; 0 = unset (after all set ones)
  std::string item_id{};
  std::string site_id{};
  Bucket due_bucket = 0;
  double quantity = 0.0;  ///< open quantity
  double unit_price = 0.0;
};

}  // namespace sop::model
