#pragma once
/// ERP/MES envelopes → the planning model.
///
/// SnapshotAssembler keeps the current state of every master-data entity and open document as
/// the events describe it (dates still as dates), applies events one at a time in stream order,
/// and compiles a model::Snapshot on demand with the latest PlanningSettings. Each Apply can also
/// return the bucket-level ModelUpdates the event implies under the current settings, which is
/// what a service feeding net change needs (see README.md for the event semantics).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "sop/codec/buckets.hpp"
#include "sop/model/error.hpp"
#include "sop/model/finding.hpp"
#include "sop/model/records.hpp"
#include "sop/model/snapshot.hpp"
#include "sop/v1/events.pb.h"

namespace sop::codec {

// Bucket-level updates implied by one event. On-hand is always absolute (after the event).
struct SiteUpsert { model::SiteRecord site; };
struct ItemUpsert { model::ItemRecord item; };
struct BomReplace { std::string parent_item_id; std::string site_id; std::vector<model::BomLineRecord> lines; };
struct RoutingReplace { std::string item_id; std::string site_id; std::vector<model::RoutingStepRecord> steps; };
struct WorkCenterUpsert { model::WorkCenterRecord work_center; };
struct OnHandSet { std::string item_id; std::string site_id; double quantity = 0.0; };
struct ReceiptUpsert { model::ScheduledReceiptRecord receipt; };
struct ReceiptClose { std::string receipt_id; };
struct SalesOrderUpsert { model::SalesOrderRecord order; };
struct SalesOrderCancel { std::string order_id; };
struct ForecastSet { std::string item_id; std::string site_id; model::Bucket bucket = 0; double quantity = 0.0; };
/// The bucket grid changed (new PlanningSettings): every bucket-level value must be rebuilt.
struct HorizonReset { model::Horizon horizon; };

using ModelUpdate = std::variant<SiteUpsert, ItemUpsert, BomReplace, RoutingReplace, WorkCenterUpsert,
                                 OnHandSet, ReceiptUpsert, ReceiptClose, SalesOrderUpsert,
                                 SalesOrderCancel, ForecastSet, HorizonReset>;

/// Counters of an assembler's life so far.
struct AssemblerStats {
  std::int64_t events = 0;
  std::int64_t rejected = 0;  ///< events (or parts of events) dropped with a finding
  std::int64_t history = 0;   ///< Shipment events: kept for forecasting, not netting input
};

/// A compiled snapshot plus what the conversion found.
struct Assembled {
  model::Snapshot snapshot;
  /// Event findings (naming event id, field and value) first, then conversion findings
  /// (OUTSIDE_HORIZON, unknown calendar, …), then the model builder's own findings.
  std::vector<model::Finding> findings;
  std::int64_t past_due = 0;         ///< documents dated before bucket 0 (counted in bucket 0)
  std::int64_t outside_horizon = 0;  ///< documents dated at or after bucket H (dropped)
};

/// Applies envelopes in order and compiles snapshots. Single-threaded: one thread applies and
/// builds (Build is const and may run while no Apply is in progress). Errors: bad data never
/// fails an Apply — it becomes a finding naming the event id, the field and the value, and the
/// offending event (or line) is ignored. Build fails only with FAILED_PRECONDITION when no
/// PlanningSettings has been applied (no plan start, no buckets).
class SnapshotAssembler {
 public:
  /// Applies one envelope. When `updates` is given, appends the bucket-level updates the event
  /// implies under the current settings (none before the first PlanningSettings).
  void Apply(const sop::v1::Envelope& envelope, std::vector<ModelUpdate>* updates = nullptr);

  /// Compiles the current state into a snapshot. Cost is proportional to the whole state.
  Result<Assembled> Build() const;
  /// Build() that frees each part of the state as soon as it has been handed to the model
  /// builder, and leaves the assembler empty on success: lower peak memory for one-shot use
  /// (tools, benchmarks). On failure the state is untouched.
  Result<Assembled> BuildAndRelease();

  /// The current grid (after the first PlanningSettings).
  const std::optional<BucketGrid>& grid() const noexcept { return grid_; }
  const model::Horizon& horizon() const noexcept { return horizon_; }
  /// Findings from Apply so far (event-level data problems).
  const std::vector<model::Finding>& findings() const noexcept { return findings_; }
  const AssemblerStats& stats() const noexcept { return stats_; }

 private:
  struct PurchaseLine {
    std::string item_id, site_id, supplier_id;
    Seconds due{};
    double quantity = 0.0;  ///< ordered open quantity (or the confirmed quantity)
    double received = 0.0;  ///< receipts since the last PO/confirmation quantity
    bool closed = false;
    std::string event_id;
  };
  struct WorkOrderState {
    std::string item_id, site_id;
    Seconds start{}, due{};
    double quantity = 0.0;
    double completed = 0.0;
    bool closed = false;
    std::string event_id;
  };
  struct TransferState {
    std::string item_id, from_site_id, to_site_id;
    Seconds ship{}, due{};
    double quantity = 0.0;
    bool closed = false;
    std::string event_id;
  };
  struct SalesLine {
    std::string customer_id, channel, item_id, site_id;
    std::int32_t priority = 0;
    Seconds due{};
    double quantity = 0.0;
    double unit_price = 0.0;
    bool cancelled = false;
    std::string event_id;
  };
  struct ForecastState {
    std::string item_id, site_id;
    std::vector<std::pair<std::int64_t, double>> periods;  ///< (period start s, qty), sorted
    std::map<std::string, std::pair<std::int64_t, double>> adjustments;  ///< id → (period, delta)
  };
  // What one document contributes under the current grid.
  enum class Placement { kInside, kPastDue, kOutside };

  Result<Assembled> BuildImpl(SnapshotAssembler* release) const;
  void Reject(const sop::v1::Envelope& envelope, std::string field, std::string message);
  bool CheckQuantity(const sop::v1::Envelope& envelope, const char* field, double value);
  bool CheckDate(const sop::v1::Envelope& envelope, const char* field, bool present);

  model::ItemRecord ToItem(const sop::v1::ItemMaster& item, const BucketGrid& grid) const;
  std::vector<model::BomLineRecord> ToBom(const sop::v1::BillOfMaterials& bom, const BucketGrid& grid) const;
  std::optional<model::WorkCenterRecord> ToWorkCenter(const sop::v1::WorkCenter& wc, const BucketGrid& grid) const;
  std::optional<model::ScheduledReceiptRecord> ToReceipt(const std::string& id, const PurchaseLine& po,
                                                         const BucketGrid& grid, Placement* placement) const;
  std::optional<model::ScheduledReceiptRecord> ToReceipt(const std::string& id, const WorkOrderState& wo,
                                                         const BucketGrid& grid, Placement* placement) const;
  std::optional<model::ScheduledReceiptRecord> ToReceipt(const std::string& id, const TransferState& to,
                                                         const BucketGrid& grid, Placement* placement) const;
  std::optional<model::SalesOrderRecord> ToSalesOrder(const std::string& id, const SalesLine& so,
                                                      const BucketGrid& grid, Placement* placement) const;
  std::vector<double> ForecastBuckets(const ForecastState& forecast, const BucketGrid& grid) const;
  void ForecastUpdates(const ForecastState& before_buckets_source, const std::vector<double>& before,
                       std::vector<ModelUpdate>* updates) const;

  std::optional<BucketGrid> grid_;
  model::Horizon horizon_;
  std::map<std::string, model::SiteRecord> sites_;
  std::unordered_map<std::string, std::int32_t> customer_priority_;
  std::map<std::string, sop::v1::WorkCalendar> calendars_;
  std::map<std::string, sop::v1::WorkCenter> work_centers_;
  std::unordered_map<std::string, sop::v1::ItemMaster> items_;          ///< key: ItemSiteKey
  std::unordered_map<std::string, sop::v1::BillOfMaterials> boms_;      ///< key: ItemSiteKey
  std::unordered_map<std::string, sop::v1::Routing> routings_;          ///< key: ItemSiteKey
  std::unordered_map<std::string, double> on_hand_;                     ///< key: ItemSiteKey
  std::unordered_map<std::string, PurchaseLine> purchase_lines_;        ///< "po:line"
  std::unordered_map<std::string, WorkOrderState> work_orders_;
  std::unordered_map<std::string, TransferState> transfers_;
  std::unordered_map<std::string, SalesLine> sales_lines_;              ///< "order:line"
  std::unordered_map<std::string, ForecastState> forecasts_;            ///< key: ItemSiteKey
  std::vector<model::Finding> findings_;
  AssemblerStats stats_;
};

/// Reads a JSON-lines file and assembles it (convenience for tools and tests). Errors: those of
/// ReadJsonLinesFile (a bad line stops the read) and of Build.
Result<Assembled> AssembleFile(const std::string& path);

}  // namespace sop::codec
