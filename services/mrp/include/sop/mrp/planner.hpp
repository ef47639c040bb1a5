#pragma once
/// The mrp service's state and its adapter to the planning core, without any I/O.
///
/// MrpPlanner is mrp's output over codec::PlanningState (the planning picture shared with the
/// capacity and exceptions services: per owned topic-partition the facts applied so far and the
/// latest consensus forecast per item-site, one assembled snapshot and one netting engine, net
/// change for facts that map to a planning::Change, a full rebuild for the rest). MrpPlanner
/// listens to each planning step and turns it into sop.v1.PlanDelta messages to publish, and
/// answers GetPlan / GetSupplyPlan (MRP records with folded pegging, the gap report).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sop/codec/planning_state.hpp"
#include "sop/model/error.hpp"
#include "sop/planning/netting.hpp"
#include "sop/v1/mrp.pb.h"
#include "sop/v1/planning.pb.h"

namespace sop::mrp {

/// A Kafka topic-partition owned by this replica: the unit of state and of snapshots.
using PartitionKey = codec::PartitionKey;

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
  /// In the net-change path, publish an item-site's record only when it differs from the last
  /// one published for it (a 64-bit hash of the serialized record per item-site; rebuild deltas
  /// always publish every record they carry). A coalesced net change re-nets shared components
  /// whose records often come out unchanged (~25 % of them at 1,000 facts/s), but the record
  /// must be built (pegging included) and serialized once more to know: measured with
  /// sop-bench-pipeline it did not pay clearly (mrp CPU-s up, latency within the noise; see
  /// services/mrp/README.md), so it is off by default.
  bool skip_unchanged_records = false;
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
  std::int64_t facts_applied = 0;     ///< facts held (all owned partitions)
  std::int64_t duplicates = 0;        ///< re-delivered facts skipped
  std::int64_t net_changes = 0;       ///< facts planned by net change
  std::int64_t full_runs = 0;         ///< rebuilds + full regenerative runs
  std::int64_t item_sites = 0;        ///< item-sites in the current plan
  std::int64_t planned_orders = 0;    ///< planned orders in the current plan
  std::int64_t transfer_demands = 0;  ///< external item-sites (other replicas' transfer demand)
  std::int64_t transfer_demands_published = 0;
  std::int64_t net_change_commits = 0;  ///< net-change steps (one per committed batch of facts)
  std::int64_t records_published = 0;   ///< ItemSitePlan records put into deltas
  std::int64_t records_unchanged = 0;   ///< net-change records left out as unchanged
};

/// The mrp state of one replica (see the file comment).
///
/// Threads: not thread-safe; the service serializes every call with one mutex.
/// Errors: bad facts never fail (the codec turns them into findings); undecodable bytes give
/// INVALID_ARGUMENT; queries give NOT_FOUND (unknown item-site or site), INVALID_ARGUMENT
/// (missing argument) and FAILED_PRECONDITION (no plan yet: no PlanningSettings applied).
/// Lifetime: plain object; owns its PlanningState (assembler, engine, stored facts).
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

  /// Performs the pending full rebuild, if any, else plans the staged facts by one net change,
  /// and returns every delta produced since the last call.
  std::vector<sop::v1::PlanDelta> Flush();
  /// Plans the staged facts by one net change (nothing while a rebuild is pending) and returns
  /// every delta produced since the last call.
  std::vector<sop::v1::PlanDelta> CommitNetChange();
  /// The transfer requirements of the planned DC (transfer) item-sites that changed since the
  /// last call, as sop.v1.Fact messages with a TransferDemand (key: the supplying site; see
  /// codec::PlanningState::TakeTransferDemands). Call after Flush(), at the end of a batch.
  std::vector<sop::v1::Fact> TakeTransferDemands();
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
  bool HasPartition(const PartitionKey& key) const { return state_.HasPartition(key); }

  bool rebuild_pending() const noexcept { return state_.rebuild_pending(); }
  /// Facts are staged and not yet planned (CommitNetChange/Flush plans them).
  bool net_change_pending() const noexcept { return state_.net_change_pending(); }
  std::int64_t plan_version() const noexcept { return state_.version(); }
  PlannerStats stats() const;
  /// The engine (nullptr before the first successful build); for tests and tools.
  const planning::NettingEngine* engine() const noexcept { return state_.engine(); }
  /// The shared planning picture (read-only), e.g. for its detection history.
  const codec::PlanningState& state() const noexcept { return state_; }

 private:
  /// Turns PlanningState's steps into pending deltas.
  class Publisher final : public codec::PlanningListener {
   public:
    explicit Publisher(MrpPlanner& planner) : planner_(planner) {}
    void OnNetChange(const planning::NettingEngine& engine,
                     std::span<const model::ItemSiteIndex> item_sites, const sop::v1::Cause& cause,
                     std::int64_t version) override;
    void OnRebuild(const planning::NettingEngine& engine,
                   std::span<const model::ItemSiteIndex> item_sites, const sop::v1::Cause& cause,
                   bool full, std::int64_t version) override;

   private:
    MrpPlanner& planner_;
  };

  /// `net_change`: may leave out records equal to the last published (skip_unchanged_records).
  void EmitDelta(std::span<const model::ItemSiteIndex> item_sites, const sop::v1::Cause& cause,
                 bool full, std::int64_t version, bool net_change);
  /// `ends`: the end-demand memo of the current engine for this publication/query (the shared
  /// parents of the records' planned orders are walked once per publication, not once per
  /// order); built by the caller, thrown away before the engine changes.
  void FillRecord(model::ItemSiteIndex item_site, planning::EndDemandCache& ends,
                  sop::v1::ItemSitePlan& out) const;
  void FillPeg(const planning::EndDemand& end, sop::v1::EndDemandPeg& out) const;
  void FillPegging(model::ItemSiteIndex item_site, std::int32_t ordinal,
                   planning::EndDemandCache& ends, sop::v1::PlannedOrder& out) const;

  PlannerOptions options_;
  codec::PlanningState state_;
  Publisher publisher_{*this};
  std::vector<sop::v1::PlanDelta> pending_;
  /// The end-demand memo of the publication being built (EmitDelta resets it for each one; its
  /// storage is kept from one publication to the next).
  std::optional<planning::EndDemandCache> end_demands_;
  /// Per item-site index of the current engine: hash of the record last published (0 = none
  /// known; reset by every rebuild, whose indices may differ).
  std::vector<std::uint64_t> published_hash_;
  std::int64_t records_published_ = 0;
  std::int64_t records_unchanged_ = 0;
};

}  // namespace sop::mrp
