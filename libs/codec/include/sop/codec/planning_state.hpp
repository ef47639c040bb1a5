#pragma once
/// The planning picture a stateful service builds from the facts it owns: the shared part of mrp,
/// capacity and exceptions, so that all three plan the same facts the same way.
///
/// PlanningState keeps, per owned partition (an opaque PartitionKey), the facts applied so far
/// (their sop.v1.Fact wire bytes, in applied order, de-duplicated by event id) and the latest
/// consensus forecast per item-site (sop.v1.ForecastUpdate bytes). It feeds every owned fact into
/// one codec::SnapshotAssembler and plans the assembled snapshot with one planning::NettingEngine:
/// a fact (or forecast) that maps to a planning::Change is *staged* on the engine
/// (NettingEngine::Stage), and everything staged is re-planned by one net change at
/// CommitNetChange() (or Flush()): a batch of facts costs one propagation, each shared component
/// re-netted once, not once per fact. Anything else (master data, new PlanningSettings, a
/// partition restored or dropped) marks a full rebuild, performed by Flush() (or Rebuild()); a
/// rebuild replaces the engine with what is staged on it and reports every difference against the
/// last *committed* plan. It also keeps the event history the decision core needs and no snapshot
/// carries (BuildHistory()).
///
/// Between a staged fact and the next CommitNetChange()/Flush()/Rebuild() (net_change_pending()),
/// engine()->plan() is the last committed plan while engine()->snapshot() already holds the staged
/// inputs: readers of the plan (queries, copies, EndDemands) must commit first or wait.
///
/// Consumers learn what changed in two ways:
/// - Flush()/Rebuild() return the item-sites changed since the previous call (net change and
///   rebuild together), as indices into the current engine()'s snapshot, so a consumer
///   (capacity load, exception detection) re-derives only those;
/// - an optional PlanningListener is told synchronously about each committed net change and each
///   rebuild, while the engine is in exactly that state (mrp publishes one PlanDelta per step).
///   The Cause of a net change that planned several events names the first (event_id,
///   description + " (+N more events)"), the earliest ingested_at, every event id in applied
///   order in event_ids (at most kMaxCauseEventIds: a batch larger than that is still one step,
///   its cause lists the first 256) and the number of events in event_count (1 for one event).
///
/// Partition snapshot format (SerializePartition): the magic line "sop-planning-partition-v1\n",
/// then records [kind: 1 byte][length: 4 bytes little endian][bytes]: 'F' a Fact, 'P' the latest
/// ForecastUpdate of an item-site, 'C' a ForecastUpdate holding every consensus period ever
/// received for an item-site (the forecast in force for past buckets, for BuildHistory).
/// RestorePartition also reads the earlier "sop-mrp-partition-v1\n" snapshots (F and P only).
/// 'S' holds the shipment history of one item-site compactly (shipments are history only: kept
/// as event id, shipped at, quantity instead of whole facts; [u32 LE length][bytes] for item id,
/// site id, then a u32 count of [id][i64 LE seconds][f64 LE quantity]).
/// Two more kinds hold cross-replica transfer demand (below): 'X' the latest sop.v1.TransferDemand
/// received on the partition per (item, supplying site, demanding site), 'T' the latest one this
/// replica published for a demanding item-site whose facts are in the partition.
///
/// Cross-replica transfer demand (DESIGN.md: "Inter-site supply travels as dependent-demand facts
/// to the supplying site's partition"). The sites a state *plans* are those it holds facts of.
/// - Publishing (mrp): TakeTransferDemands() gives, for every planned item-site whose ItemMaster
///   is a TRANSFER item from another site, its planned-release vector (NETTING.md transfer
///   demand) whenever it changed since it was last published, as a TransferDemand envelope keyed
///   by the supplying site, versioned (epoch, sequence) as events.proto defines.
/// - Receiving: a TransferDemand fact (never stored in the fact log; de-duplicated by version,
///   the greater (epoch, sequence) replaces the held one) is planned only when this state does
///   not plan the demanding site (when it does, the netting engine computes that demand itself
///   and the fact is only kept). It enters the plan as an *external* item-site appended to the
///   snapshot: item@demanding site, a transfer item from the supplying site with lead time 0,
///   lot-for-lot, no stock, whose forecast is the vector. Its planned releases are then exactly
///   the vector, so the supplier's gross requirements, low-level code (when the demanding
///   item-site is at level 0), net change and pegging (to a forecast of the demanding item-site at
///   its unit price) work as for an internal transfer. External item-sites are never reported:
///   not in PlanChanges, listener callbacks or stats; IsExternal() tells queries to skip them.
///   A changed vector is net change on the external item-site; a new, emptied or no longer
///   external one (the demanding site's facts arrived) is a rebuild.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "sop/codec/assembler.hpp"
#include "sop/codec/buckets.hpp"
#include "sop/model/error.hpp"
#include "sop/model/finding.hpp"
#include "sop/model/snapshot.hpp"
#include "sop/planning/exceptions.hpp"
#include "sop/planning/netting.hpp"
#include "sop/v1/planning.pb.h"

namespace sop::codec {

/// A unit of state and of snapshots: for a Kafka consumer, a topic-partition. Opaque to
/// PlanningState (only compared and printed); facts of one site must stay in one partition so
/// that their stream order is kept.
struct PartitionKey {
  std::string topic;
  std::int32_t partition = 0;
  friend auto operator<=>(const PartitionKey&, const PartitionKey&) = default;
  /// "topic[partition]", for messages.
  std::string ToString() const { return topic + "[" + std::to_string(partition) + "]"; }
};

/// Tuning.
struct PlanningStateOptions {
  /// Compute pegging (needed for end demands: mrp pegging, exception impact). Off = netting only.
  bool pegging = true;
};

/// What changed in the plan since the previous Flush()/Rebuild().
struct PlanChanges {
  std::int64_t version = 0;  ///< version() after the call
  /// A full rebuild ran (master data, settings, partitions changed, or Rebuild()): derived
  /// state that depends on more than the plan rows (routings, work centers, calendars) should
  /// be re-derived in full.
  bool rebuilt = false;
  /// Every item-site must be treated as changed (first plan, partitions changed, Rebuild with
  /// full = true); `item_sites` then lists all of them.
  bool all = false;
  /// Changed item-sites, as indices into engine()->snapshot() (valid until the next mutating
  /// call), ascending, unique. Empty when there is no plan.
  std::vector<model::ItemSiteIndex> item_sites;
};

/// Told synchronously about each planning step. Implementations must not call mutating methods
/// of the PlanningState they listen to; they may read engine()/snapshot()/grid().
class PlanningListener {
 public:
  virtual ~PlanningListener() = default;
  /// The facts and forecast updates staged since the previous step were planned by one net change
  /// (CommitNetChange or Flush): `item_sites` were re-netted (in netting order, unique), `version`
  /// is the new plan version, `cause` names the events (see the file comment).
  virtual void OnNetChange(const planning::NettingEngine& engine,
                           std::span<const model::ItemSiteIndex> item_sites,
                           const sop::v1::Cause& cause, std::int64_t version) = 0;
  /// A full rebuild ran: `item_sites` are those whose MRP record differs from the previous plan
  /// (every item-site when `full`: first plan, partitions changed, or a requested full run).
  virtual void OnRebuild(const planning::NettingEngine& engine,
                         std::span<const model::ItemSiteIndex> item_sites,
                         const sop::v1::Cause& cause, bool full, std::int64_t version) = 0;
};

/// Counters for metrics and tests.
struct PlanningStats {
  std::int64_t facts_applied = 0;       ///< facts held (all owned partitions)
  std::int64_t duplicates = 0;          ///< re-delivered facts skipped
  std::int64_t forecasts = 0;           ///< consensus forecasts held (item-sites, all partitions)
  std::int64_t net_changes = 0;         ///< facts and forecasts planned (staged) by net change
  std::int64_t net_change_commits = 0;  ///< committed net changes (steps; ≤ net_changes)
  std::int64_t full_runs = 0;           ///< rebuilds (full regenerative runs)
  std::int64_t item_sites = 0;          ///< item-sites in the current plan
  std::int64_t planned_orders = 0;      ///< planned orders in the current plan
  std::int64_t transfer_demands = 0;    ///< external item-sites planned from TransferDemand facts
  std::int64_t transfer_demands_published = 0;  ///< TransferDemand envelopes handed out
};

/// The planning picture of one replica (see the file comment).
///
/// Threads: not thread-safe; the owner serializes every call (services use one mutex). The
/// engine, snapshot and history it hands out are valid until the next mutating call.
/// Errors: bad facts never fail (the codec turns them into findings, see findings());
/// undecodable bytes give INVALID_ARGUMENT naming the field; a corrupt partition snapshot gives
/// DATA_LOSS naming the partition. Nothing is changed by a call that fails.
/// Lifetime: plain object; owns its assembler, engine and stored facts; the listener (if any)
/// must outlive it or be reset with set_listener(nullptr).
class PlanningState {
 public:
  /// At most this many ids in a coalesced step's Cause.event_ids.
  static constexpr int kMaxCauseEventIds = 256;

  explicit PlanningState(PlanningStateOptions options = {});
  ~PlanningState();
  PlanningState(const PlanningState&) = delete;
  PlanningState& operator=(const PlanningState&) = delete;

  void set_listener(PlanningListener* listener) noexcept { listener_ = listener; }
  /// The wall clock (milliseconds since the Unix epoch) for the epoch of published transfer
  /// demand; default: the system clock. For tests.
  void set_clock(std::function<std::int64_t()> now_ms) { now_ms_ = std::move(now_ms); }

  /// Applies one sop.v1.Fact (wire bytes) of `partition`. Returns false when its event id was
  /// already applied to that partition (a re-delivery: nothing changes), or for a TransferDemand
  /// whose (epoch, sequence) is not greater than the one held. INVALID_ARGUMENT if the bytes do
  /// not parse ("fact") or carry no event id ("fact.envelope.event_id"), or for a TransferDemand
  /// naming no item or site, a supplying site other than the envelope's, or a negative or
  /// non-finite quantity (the field and the value are named).
  Result<bool> ApplyFact(const PartitionKey& partition, std::string_view fact_bytes);
  /// Applies one sop.v1.ForecastUpdate (wire bytes): its consensus layer replaces the forecast
  /// of the item-site in the buckets it names (and wins over DemandForecast facts), and its
  /// periods become the forecast in force for history. INVALID_ARGUMENT if the bytes do not
  /// parse ("forecast_update") or name no item-site ("forecast_update.item_id/site_id").
  Status ApplyForecast(const PartitionKey& partition, std::string_view update_bytes);

  /// Re-plans everything staged since the previous step in one net change: one OnNetChange with
  /// the union of the re-netted item-sites and one version increment. Returns whether a step ran.
  /// Nothing while a rebuild is pending (the rebuild takes the staged work in) or with nothing
  /// staged.
  bool CommitNetChange();
  /// Facts or forecast updates are staged and not yet committed (CommitNetChange has work).
  bool net_change_pending() const noexcept { return pending_events_ > 0; }
  /// Performs the pending full rebuild, if any (cause: the last fact applied; full when the
  /// partitions changed; staged net change is discarded into it), else commits the staged net
  /// change, and returns what changed since the previous Flush()/Rebuild().
  PlanChanges Flush();
  /// A full rebuild now, rebuilding the snapshot from the stored facts (a full regenerative
  /// run; staged net change is discarded into it); `full` reports every item-site as changed. With
  /// no PlanningSettings yet there is no plan afterwards (engine() == nullptr) and nothing is
  /// reported.
  PlanChanges Rebuild(const sop::v1::Cause& cause, bool full);

  /// The engine over the current snapshot; nullptr before the first build with settings.
  const planning::NettingEngine* engine() const noexcept { return engine_.get(); }
  /// The current snapshot; nullptr when engine() is.
  const model::Snapshot* snapshot() const noexcept;
  /// The current bucket grid (after the first PlanningSettings fact).
  const std::optional<BucketGrid>& grid() const noexcept;
  /// Findings of the last build: event findings (naming event id, field, value), conversion and
  /// model-builder findings. Empty before the first build.
  const std::vector<model::Finding>& findings() const noexcept { return findings_; }
  /// Incremented by every committed net change and every rebuild; 0 before the first.
  std::int64_t version() const noexcept { return version_; }
  /// A rebuild is pending (Flush() will run it).
  bool rebuild_pending() const noexcept { return rebuild_ || reassemble_; }
  /// The partition set changed (restore, drop): the next rebuild replays every stored fact.
  bool reassemble_pending() const noexcept { return reassemble_; }

  /// History for planning::DetectExceptions, as indices into the current snapshot (empty
  /// before a plan exists). Buckets are relative to the current plan start: bucket −1 is the
  /// bucket before bucket 0 (fixed 1- or 7-day buckets; month buckets count 365.25/12 days).
  /// - forecast_actuals: per item-site with shipments, every completed past bucket (< 0) from
  ///   its first shipment on that has a forecast in force: the shipped quantity (Shipment facts
  ///   by shipped_at, all channels, channel "", 0 in a bucket without shipments) against that
  ///   forecast (the consensus received from sop.forecast.v1 for the bucket's periods if any,
  ///   else the last DemandForecast quantities plus ForecastAdjustment deltas; floored at 0).
  ///   A bucket no forecast ever named is left out (unknown, not 0). Ascending by item-site
  ///   index, then bucket;
  /// - deliveries: one per GoodsReceipt of a purchase order: the confirmed bucket (the last
  ///   SupplierConfirmation's date before the receipt, else the PO's due date), the received
  ///   bucket, and the lead time in buckets from the PO's order date (0 if unknown);
  /// - changes: sales-order changes (quantity or due date of a known order line changed) due in
  ///   bucket ≥ 0 and inside the item-site's frozen fence; change_id = the event id;
  /// - extra_findings: findings().
  /// Cost is proportional to the stored history; call it when detection runs, not per fact.
  planning::DetectionHistory BuildHistory() const;

  /// Serialized state of one partition (see the file comment); the magic line alone for an
  /// unknown partition.
  std::string SerializePartition(const PartitionKey& partition) const;
  /// Adopts a partition's state from SerializePartition bytes (replaces what is held for it);
  /// the plan is rebuilt at the next Flush. DATA_LOSS naming the partition if the bytes are not
  /// such a snapshot.
  Status RestorePartition(const PartitionKey& partition, std::string_view bytes);
  /// Forgets a partition (revoked); the plan is rebuilt at the next Flush.
  void DropPartition(const PartitionKey& partition);
  /// Event ids applied to `partition` since the previous call (to mark them applied elsewhere).
  std::vector<std::string> TakeNewEventIds(const PartitionKey& partition);
  /// Partitions changed since the previous call (to snapshot them).
  std::vector<PartitionKey> TakeDirtyPartitions();
  bool HasPartition(const PartitionKey& partition) const { return partitions_.contains(partition); }
  std::vector<PartitionKey> Partitions() const;

  PlanningStats stats() const;

  /// Whether `item_site` of the current snapshot is an external item-site (transfer demand of a
  /// site planned elsewhere, see the file comment); such item-sites are never a planning answer.
  bool IsExternal(model::ItemSiteIndex item_site) const noexcept {
    return engine_ != nullptr && static_cast<std::size_t>(item_site.value()) >= external_begin_;
  }
  /// Whether `site_id` is planned here (this state holds facts of it).
  bool PlansSite(std::string_view site_id) const;
  /// TransferDemand envelopes (site = supplying site, event id and version set, no timestamps)
  /// for the transfer vectors of planned item-sites that changed since they were last handed out
  /// (every one once after its partition was restored, an empty vector once for an item-site
  /// that stopped being a transfer item). Nothing while a rebuild is pending or before a plan
  /// exists, nor while a net change is pending: call it after Flush(). The partitions concerned
  /// become dirty (snapshot them after the envelopes are published).
  std::vector<sop::v1::Envelope> TakeTransferDemands();
  /// The key of a transfer vector: item, supplying site, demanding site.
  static std::string TransferKey(std::string_view item_id, std::string_view supplying_site_id,
                                 std::string_view demanding_site_id);

 private:
  /// One owned partition's state.
  struct ConsensusHistory {
    std::string item_id, site_id;
    std::map<std::int64_t, double> by_period_start;  ///< period start (s) → consensus
  };
  struct Partition {
    std::vector<std::string> facts;  ///< Fact bytes in applied order (shipments: below)
    struct Shipments {
      std::string item_id, site_id;
      std::vector<std::string> event_ids;
      std::vector<std::pair<std::int64_t, double>> shipped;  ///< (shipped at s, quantity)
    };
    /// Valid Shipment facts, compacted (history only): ItemSiteKey → series in applied order.
    std::map<std::string, Shipments> shipments;
    std::int64_t shipment_count = 0;
    std::unordered_set<std::string> event_ids;
    std::map<std::string, std::string> forecasts;       ///< item-site key → ForecastUpdate bytes
    std::map<std::string, ConsensusHistory> consensus;  ///< item-site key → periods ever seen
    std::vector<std::string> new_event_ids;
    bool dirty = false;
    std::set<std::string> sites;  ///< envelope sites of the facts held
    /// TransferKey → the latest TransferDemand received on this (supplying) partition.
    std::map<std::string, sop::v1::TransferDemand> external;
    /// TransferKey → the latest TransferDemand published for a demanding item-site of this
    /// partition (an empty vector once the item-site stopped being a transfer item).
    std::map<std::string, sop::v1::TransferDemand> published;
    std::int64_t restored_epoch = 0;  ///< the greatest epoch in the restored 'T' records
    std::int64_t epoch = 0;           ///< of this ownership (0 until the first publication)
    bool republish = false;           ///< restored: publish every vector once
  };
  /// A TRANSFER item of a planned site (from its latest ItemMaster).
  struct TransferItem {
    std::string item_id, site_id, source_site_id;
    PartitionKey partition;
  };
  class History;  // fact-derived history (shipments, forecasts, purchase orders), in .cpp

  void RebuildImpl(const sop::v1::Cause& cause, bool full);
  void Reassemble();
  void ApplyToAssembler(const sop::v1::Fact& fact);
  Result<bool> ApplyTransferDemand(const PartitionKey& key, const sop::v1::Fact& fact);
  void NoteTransferItem(const PartitionKey& key, const sop::v1::Envelope& envelope);
  bool DemandsExternally(std::string_view site_id) const;
  bool GridMatches(const sop::v1::TransferDemand& demand) const;
  void AddExternalDemands(model::Snapshot& snapshot);
  void NoteNetChange(std::span<const model::ItemSiteIndex> item_sites, const sop::v1::Cause& cause);
  /// Records one event staged for the next CommitNetChange.
  void NoteStaged(const sop::v1::Cause& cause);
  void ClearStaged();
  PlanChanges TakeChanges();
  bool HasForecastOverride(const std::string& item_site_key) const;
  void ApplyForecastOverrides(model::Snapshot& snapshot) const;

  PlanningStateOptions options_;
  PlanningListener* listener_ = nullptr;
  std::function<std::int64_t()> now_ms_;
  std::map<PartitionKey, Partition> partitions_;
  std::unique_ptr<SnapshotAssembler> assembler_;
  std::unique_ptr<History> history_;
  std::unique_ptr<planning::NettingEngine> engine_;
  std::vector<model::Finding> findings_;
  bool rebuild_ = false;     ///< the snapshot must be rebuilt from the assembler
  bool reassemble_ = false;  ///< the assembler must be rebuilt from the stored facts
  sop::v1::Cause last_cause_;
  // Events staged since the last committed step (their cause, coalesced at commit).
  std::int64_t pending_events_ = 0;
  sop::v1::Cause pending_cause_;          ///< the first event's; ingested_at the earliest so far
  std::vector<std::string> pending_ids_;  ///< at most kMaxCauseEventIds
  std::int64_t version_ = 0;
  PlanningStats stats_;
  // Changes since the last Flush/Rebuild: item-site keys touched by net change before the
  // latest rebuild, indices touched since, and the flags.
  std::unordered_set<std::string> changed_keys_;
  std::vector<char> changed_marks_;
  bool changed_rebuilt_ = false;
  bool changed_all_ = false;
  // Cross-replica transfer demand (see the file comment).
  std::map<std::string, TransferItem> transfer_items_;          ///< ItemSiteKey → transfer item
  std::map<std::string, model::ItemSiteIndex> external_index_;  ///< TransferKey → item-site
  std::size_t external_begin_ = 0;       ///< item-sites from here on are external
  std::size_t external_site_begin_ = 0;  ///< sites from here on exist only for external ones
};

}  // namespace sop::codec
