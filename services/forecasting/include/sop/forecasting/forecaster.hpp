#pragma once
/// The forecasting service's state and its pure operations: demand history per item-site built
/// from Shipment facts, families from ItemMaster facts, the sales / marketing / consensus layers
/// from ForecastAdjustment facts and AdjustForecast calls, re-forecasting with libs/forecast, and
/// the accuracy backtest. No I/O: the service (service.hpp) feeds it and carries its results.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "sop/codec/buckets.hpp"
#include "sop/ingestion/dedup_window.hpp"
#include "sop/model/error.hpp"
#include "sop/v1/forecasting.pb.h"

namespace sop::forecasting {

using Seconds = std::chrono::sys_seconds;

/// A Kafka topic-partition owned by this replica: the unit of state and of snapshots.
struct PartitionKey {
  std::string topic;
  std::int32_t partition = 0;
  friend auto operator<=>(const PartitionKey&, const PartitionKey&) = default;
};

/// Tuning of the forecaster.
struct ForecasterOptions {
  /// At most this many history buckets (the most recent) feed a forecast: 3 years of weeks.
  std::int32_t max_history_buckets = 156;
  /// Worker threads of one ForecastBatch call (0 = hardware concurrency).
  int threads = 1;
  /// The de-duplication window of applied event ids per partition (ids by count, and by the
  /// facts' ingested_at age). Beyond it a re-delivered fact is applied again: ItemMaster and
  /// PlanningSettings are replacements and ForecastAdjustments are keyed by adjustment id
  /// (idempotent), a Shipment would be counted twice.
  ingestion::DedupRetention applied_ids{};
};

/// Counts for metrics and tests.
struct ForecasterStats {
  std::int64_t facts_applied = 0;
  std::int64_t duplicates = 0;
  std::int64_t item_sites = 0;       ///< item-sites held (with or without history)
  std::int64_t dirty = 0;            ///< item-sites waiting for a re-forecast
  std::int64_t forecasts_made = 0;   ///< series forecast since start
  std::int64_t forecast_errors = 0;  ///< series libs/forecast refused (logged by the caller)
  std::int64_t applied_ids = 0;      ///< event ids held in the de-duplication windows
};

/// History bucket grid: the settings' grid moved `buckets` buckets back, so that bucket
/// `buckets` of the result is the plan start. Reuses codec::BucketGrid's bucketing rules.
codec::BucketGrid HistoryGrid(const sop::v1::PlanningSettings& settings, std::int32_t buckets);
/// The planning grid of a PlanningSettings message (horizon 78 when unset).
codec::BucketGrid PlanGrid(const sop::v1::PlanningSettings& settings);
/// Sums daily shipped quantities into the `buckets` history buckets before the plan start
/// (oldest first). Days at or after the plan start are not history and are left out.
std::vector<double> BucketHistory(const std::map<std::int32_t, double>& daily_quantities,
                                  const sop::v1::PlanningSettings& settings, std::int32_t buckets);
/// Seasonal period of the bucket size: 52 weeks, 12 months, 7 days.
int SeasonLength(const sop::v1::PlanningSettings& settings);
/// Severity of a forecast deviation (fraction): amber above 10 %, red above 25 %.
sop::v1::Severity DeviationSeverity(double deviation);

/// The trailing window of the customer/channel mix: the 52 weeks (364 days) before the plan
/// start.
inline constexpr std::int32_t kMixWindowDays = 364;
/// The customer of shipments that name none, and of the single row of an item-site without
/// shipments in the mix window.
inline constexpr std::string_view kUnassignedCustomer = "(unassigned)";

/// Shipped quantity per day (days since epoch) of one customer/channel.
using CustomerChannel = std::pair<std::string, std::string>;
using CustomerDaily = std::map<CustomerChannel, std::map<std::int32_t, double>>;

/// The forecast split by customer/channel (CustomerForecastRow in forecasting.proto): shares of
/// the days in [plan start − kMixWindowDays, plan start) of `by_customer`; statistical × share
/// per period of `forecast`; each adjustment of `adjustments` inside the horizon spread over the
/// rows it matches (same customer if it names one, same channel if it names one) by their
/// shares, or onto a new zero-share row when it names a customer/channel without shipments in
/// the window. Rows sorted by window quantity, largest first (then customer, channel).
/// Per period the rows add up to the forecast's statistical, sales, marketing and consensus.
std::vector<sop::v1::CustomerForecastRow> SplitByCustomer(
    const CustomerDaily& by_customer, const sop::v1::ForecastUpdate& forecast,
    const std::vector<sop::v1::AdjustmentRecord>& adjustments,
    const sop::v1::PlanningSettings& settings);

/// All forecasting state of one replica, per owned partition.
///
/// Threads: not thread-safe; the service serializes every call with one mutex.
/// Errors: ApplyFact returns INVALID_ARGUMENT for bytes that are not a Fact or carry no event
/// id (dead-lettered by the caller); Adjust returns INVALID_ARGUMENT naming the missing or bad
/// field and NOT_FOUND for an item-site this replica does not hold; GetForecast NOT_FOUND;
/// RestorePartition DATA_LOSS for bytes that are not a snapshot of this format.
/// Lifetime: plain value owned by the service.
class Forecaster {
 public:
  explicit Forecaster(ForecasterOptions options = {});

  /// Applies one sop.v1.Fact (wire bytes) consumed from `key`. Returns false when its event id
  /// was already applied to the partition (a re-delivery: nothing changes).
  Result<bool> ApplyFact(const PartitionKey& key, std::string_view fact_bytes);
  /// Applies one envelope (the decoded form of ApplyFact).
  Result<bool> ApplyEnvelope(const PartitionKey& key, const sop::v1::Envelope& envelope,
                             Seconds ingested_at);

  /// A planner's adjustment over gRPC: validated, recorded at `now` in the partition that holds
  /// the item-site, the item-site marked for re-forecast. The adjustment id is generated when
  /// empty; an id already applied returns the earlier record unchanged.
  Result<sop::v1::AdjustmentRecord> Adjust(const sop::v1::ForecastAdjustment& adjustment,
                                           Seconds now);

  /// Re-forecasts every item-site whose history or layers changed since the last call (those of
  /// partitions that have settings and at least one shipment) and returns one ForecastUpdate per
  /// item-site, generated at `now`.
  std::vector<sop::v1::ForecastUpdate> Reforecast(Seconds now);

  /// Layers side by side with owners and the adjustment history, and with
  /// `split_by_customer` the customer/channel rows (SplitByCustomer). NOT_FOUND for an unknown
  /// item-site; FAILED_PRECONDITION when it has no forecast yet.
  Result<sop::v1::GetForecastResponse> GetForecast(std::string_view item_id,
                                                   std::string_view site_id,
                                                   bool split_by_customer = false) const;
  /// Accuracy rows by SKU, family or site: the statistical forecast made `lookback` buckets
  /// before the plan start (history up to then only) against the actuals since.
  Result<sop::v1::GetAccuracyResponse> GetAccuracy(
      const sop::v1::GetAccuracyRequest& request) const;

  /// Bucketed demand history of an item-site (oldest first; empty before settings).
  Result<std::vector<double>> History(std::string_view item_id, std::string_view site_id) const;
  /// The partition holding an item-site, if any.
  std::optional<PartitionKey> PartitionOf(std::string_view item_id, std::string_view site_id) const;

  /// The applied event ids are written oldest first (the window's order) with their ingestion
  /// times, so restored ids leave the window by count and by age as before the restart.
  std::string SerializePartition(const PartitionKey& key) const;
  /// Replaces the state of `key` with a snapshot; all its item-sites are re-forecast next.
  Status RestorePartition(const PartitionKey& key, std::string_view bytes);
  void DropPartition(const PartitionKey& key);
  /// Event ids applied to `key` since the last call (to mark them applied in Redis).
  std::vector<std::string> TakeNewEventIds(const PartitionKey& key);
  /// Whether any item-site waits for a re-forecast.
  bool HasDirty() const noexcept { return !dirty_.empty(); }
  ForecasterStats stats() const;

 private:
  struct ItemSite {
    std::string item_id;
    std::string site_id;
    std::string family;
    std::map<std::int32_t, double> daily;  // days since epoch → shipped quantity
    CustomerDaily by_customer;             // the same shipments per customer/channel
    std::vector<sop::v1::AdjustmentRecord> adjustments;
    std::optional<sop::v1::ForecastUpdate> forecast;  // last published
    std::vector<double> history;                      // what the last forecast saw
  };
  struct Partition {
    std::optional<sop::v1::PlanningSettings> settings;
    std::map<std::string, ItemSite> item_sites;  // "item@site"
    ingestion::DedupWindow event_ids;
    std::vector<std::string> new_event_ids;
  };
  using DirtyKey = std::pair<PartitionKey, std::string>;

  ItemSite& ItemSiteOf(Partition& partition, const std::string& item_id,
                       const std::string& site_id);
  Partition& PartitionAt(const PartitionKey& key);  // created with the window's retention
  void MarkAllDirty(const PartitionKey& key, const Partition& partition);
  static sop::v1::Cause CauseOf(const sop::v1::Envelope& envelope, Seconds ingested_at);

  ForecasterOptions options_;
  std::map<PartitionKey, Partition> partitions_;
  std::map<DirtyKey, sop::v1::Cause> dirty_;  // latest cause per dirty item-site
  std::int64_t facts_applied_ = 0;
  std::int64_t duplicates_ = 0;
  std::int64_t forecasts_made_ = 0;
  std::int64_t forecast_errors_ = 0;
  std::int64_t adjustment_sequence_ = 0;
};

}  // namespace sop::forecasting
