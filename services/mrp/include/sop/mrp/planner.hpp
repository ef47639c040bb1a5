#pragma once
/// The mrp service's state and its adapter to the planning core, without any I/O.
///
/// MrpPlanner keeps, per owned topic-partition, the facts applied so far (their wire bytes, in
/// order) and the latest consensus forecast per item-site; one codec::SnapshotAssembler fed with
/// every owned fact; and one planning::NettingEngine over the assembled snapshot. A fact that
/// maps to a planning::Change is re-planned by net change at once; anything else (master data,
/// new settings, a partition gained or lost) marks the plan for a full rebuild, done by Flush().
/// The result of each step is a list of sop.v1.PlanDelta messages to publish.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "sop/codec/assembler.hpp"
#include "sop/model/error.hpp"
#include "sop/planning/netting.hpp"
#include "sop/v1/mrp.pb.h"
#include "sop/v1/planning.pb.h"

namespace sop::mrp {

/// A Kafka topic-partition owned by this replica: the unit of state and of snapshots.
struct PartitionKey {
  std::string topic;
  std::int32_t partition = 0;
  friend auto operator<=>(const PartitionKey&, const PartitionKey&) = default;
};

/// Tuning of the planner.
struct PlannerOptions {
  /// Item-sites per published PlanDelta: a full run of a site is split into several deltas so
  /// that no Kafka message grows past the broker's size limit (~4 KiB per item-site record).
  std::size_t max_item_sites_per_delta = 100;
  /// ... and no PlanDelta grows much beyond this many bytes (a new one starts once it is passed).
  std::size_t max_delta_bytes = 256 * 1024;
  /// Fill EndDemandPeg pegging of planned orders in published records.
  bool pegging = true;
  /// A shared component's planned order can serve hundreds of end demands: the record keeps
  /// the largest ones by revenue and folds the rest into one peg of kind UNSPECIFIED carrying
  /// their summed quantity and revenue (so revenue totals stay exact).
  std::size_t max_pegs_per_order = 5;
};

/// Summary of a full regenerative run.
struct ReplanSummary {
  std::int64_t plan_version = 0;
  std::int64_t item_sites = 0;
  std::int64_t planned_orders = 0;
  double seconds = 0.0;
};

/// Counters for metrics and tests.
struct PlannerStats {
  std::int64_t facts_applied = 0;   ///< facts held (all owned partitions)
  std::int64_t duplicates = 0;      ///< re-delivered facts skipped
  std::int64_t net_changes = 0;     ///< facts planned by net change
  std::int64_t full_runs = 0;       ///< rebuilds + full regenerative runs
  std::int64_t item_sites = 0;      ///< item-sites in the current plan
  std::int64_t planned_orders = 0;  ///< planned orders in the current plan
};

/// The mrp state of one replica (see the file comment).
///
/// Threads: not thread-safe; the service serializes every call with one mutex.
/// Errors: bad facts never fail (the codec turns them into findings); undecodable bytes give
/// INVALID_ARGUMENT; queries give NOT_FOUND (unknown item-site or site), INVALID_ARGUMENT
/// (missing argument) and FAILED_PRECONDITION (no plan yet: no PlanningSettings applied).
/// Lifetime: plain object; owns its assembler, engine and stored facts.
class MrpPlanner {
 public:
  explicit MrpPlanner(PlannerOptions options = {});
  ~MrpPlanner();
  MrpPlanner(const MrpPlanner&) = delete;
  MrpPlanner& operator=(const MrpPlanner&) = delete;

  /// Applies one sop.v1.Fact (wire bytes) consumed from `key`. Returns false when its event id
  /// was already applied (a re-delivery: nothing changes). INVALID_ARGUMENT if the bytes do not
  /// parse or carry no event id.
  Result<bool> ApplyFact(const PartitionKey& key, std::string_view fact_bytes);
  /// Applies one sop.v1.ForecastUpdate (wire bytes): its consensus layer replaces the forecast
  /// of the item-site in the buckets it names (and wins over DemandForecast facts).
  Status ApplyForecast(const PartitionKey& key, std::string_view update_bytes);

  /// Performs the pending full rebuild, if any, and returns every delta produced since the
  /// last call (net-change deltas in fact order, then the full run's deltas).
  std::vector<sop::v1::PlanDelta> Flush();
  /// A full regenerative run now (rebuilding the snapshot from the facts). `site` empty: all.
  /// NOT_FOUND for a site this replica has no facts for; FAILED_PRECONDITION before settings.
  Result<ReplanSummary> Replan(std::string_view site, const sop::v1::Cause& cause,
                               std::vector<sop::v1::PlanDelta>* deltas);

  /// The MRP record of one item-site.
  Result<sop::v1::ItemSitePlan> GetPlan(std::string_view item_id, std::string_view site_id) const;
  /// The gap report: buckets where projected available goes (further) below zero, by family,
  /// site and bucket, with the revenue of the end demands hit (from pegging).
  Result<std::vector<sop::v1::SupplyGap>> GetSupplyPlan(std::string_view site,
                                                        std::string_view family) const;

  /// Serialized state of one partition (its facts and forecasts) for the Redis snapshot.
  std::string SerializePartition(const PartitionKey& key) const;
  /// Adopts a partition's state from a snapshot (replaces what is held for it); the plan is
  /// rebuilt at the next Flush. DATA_LOSS if the bytes are not a snapshot of this format.
  Status RestorePartition(const PartitionKey& key, std::string_view bytes);
  /// Forgets a partition (revoked); the plan is rebuilt at the next Flush.
  void DropPartition(const PartitionKey& key);
  /// Event ids applied to `key` since the last call (to mark them applied in Redis).
  std::vector<std::string> TakeNewEventIds(const PartitionKey& key);
  /// Partitions changed since the last call (to snapshot them).
  std::vector<PartitionKey> TakeDirtyPartitions();
  bool HasPartition(const PartitionKey& key) const { return partitions_.contains(key); }

  bool rebuild_pending() const noexcept { return rebuild_ || reassemble_; }
  std::int64_t plan_version() const noexcept { return plan_version_; }
  PlannerStats stats() const;
  /// The engine (nullptr before the first successful build); for tests and tools.
  const planning::NettingEngine* engine() const noexcept { return engine_.get(); }

 private:
  struct PartitionState {
    std::vector<std::string> facts;  ///< Fact bytes in applied order
    std::unordered_set<std::string> event_ids;
    std::map<std::string, std::string> forecasts;  ///< item-site key → ForecastUpdate bytes
    std::vector<std::string> new_event_ids;
    bool dirty = false;
  };

  /// Rebuilds the snapshot and runs a full regeneration. Publishes every item-site (full) when
  /// `full` or when there was no plan before; otherwise only the item-sites whose records
  /// changed against the previous plan.
  void Rebuild(const sop::v1::Cause& cause, bool full);
  void ApplyForecastOverrides(model::Snapshot& snapshot) const;
  bool HasForecastOverride(const std::string& item_site_key) const;
  std::optional<planning::Change> ToChange(const codec::ModelUpdate& update) const;
  void EmitDelta(const std::vector<model::ItemSiteIndex>& item_sites, const sop::v1::Cause& cause,
                 bool full, std::string_view only_site = {});
  void FillRecord(model::ItemSiteIndex item_site, sop::v1::ItemSitePlan& out) const;
  void FillPeg(const planning::EndDemand& end, sop::v1::EndDemandPeg& out) const;
  void FillPegging(model::ItemSiteIndex item_site, std::int32_t ordinal, model::Bucket bucket,
                   sop::v1::PlannedOrder& out) const;

  PlannerOptions options_;
  std::map<PartitionKey, PartitionState> partitions_;
  std::unique_ptr<codec::SnapshotAssembler> assembler_;
  std::unique_ptr<planning::NettingEngine> engine_;
  bool rebuild_ = false;     ///< the snapshot must be rebuilt from the assembler
  bool reassemble_ = false;  ///< the assembler must be rebuilt from the stored facts
  sop::v1::Cause last_cause_;
  std::int64_t plan_version_ = 0;
  std::vector<sop::v1::PlanDelta> pending_;
  PlannerStats stats_;
};

}  // namespace sop::mrp
