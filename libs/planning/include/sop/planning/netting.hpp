#pragma once
/// MRP netting per NETTING.md: low-level codes, forecast consumption, gross-to-net, lot sizing,
/// yield, lead-time offset, time fences, single-level pegging, and net change.

#include <cstdint>
#include <span>
#include <vector>

#include "sop/model/error.hpp"
#include "sop/model/snapshot.hpp"
#include "sop/planning/change.hpp"
#include "sop/planning/plan.hpp"

namespace sop::planning {

/// Options of a netting run.
struct NettingPolicy {
  /// Compute single-level pegging after netting (and keep it current under net change).
  bool pegging = true;
};

/// Plans one snapshot. Owns its copy of the snapshot (net-change events modify it) and the plan.
///
/// Usage: `NettingEngine engine(std::move(snapshot), policy); engine.RunFull();` then any number
/// of `engine.Apply(change)` (or of `engine.Stage(change)` followed by one `engine.Commit()`);
/// after each Apply/Commit `engine.plan()` is the result a full regenerative run over
/// `engine.snapshot()` would give (bitwise: both run the same per-item computation in the same
/// order of inputs).
///
/// Threads: not thread-safe; one thread drives an engine. Errors: Apply rejects a change that
/// names an unknown entity or carries invalid values (INVALID_ARGUMENT / NOT_FOUND) and leaves
/// the engine unchanged; bad master data in the snapshot is reported as findings, never UB.
class NettingEngine {
 public:
  NettingEngine(model::Snapshot snapshot, NettingPolicy policy = {});

  /// Full regenerative run: low-level codes, then every item-site in low-level-code order,
  /// then pegging (if enabled).
  void RunFull();
  /// Netting only (no pegging), regardless of the policy; for measuring.
  void RunNettingOnly();
  /// Computes pegging for every item-site over the current netting result.
  void RunPegging();

  /// Applies one change and re-plans what it touches (the item-site, then transitively the
  /// components and supplying sites whose inputs changed). Returns the re-netted item-sites in
  /// the order they were netted. Requires a prior RunFull.
  Result<std::vector<ItemSiteIndex>> Apply(const Change& change);
  /// Applies several changes to the inputs, then re-plans everything they touch in one
  /// propagation (each item-site is netted at most once). Every change is validated against the
  /// current snapshot before any is applied, so a change cannot name an entity another change of
  /// the same batch creates; on an error nothing changes. Same result as applying them one by
  /// one; returns the re-netted item-sites in the order they were netted.
  Result<std::vector<ItemSiteIndex>> ApplyAll(std::span<const Change> changes);

  /// Coalesced net change, for a stream of changes planned once per batch: Stage validates one
  /// change against the current snapshot (which includes what is already staged, so a change
  /// may name an order an earlier staged change created) and applies it to the inputs only,
  /// accumulating the item-sites to re-net and whether the BOM/transfer structure changed; a
  /// rejected change (INVALID_ARGUMENT / NOT_FOUND / OUT_OF_RANGE naming the field, or
  /// FAILED_PRECONDITION before a RunFull) changes nothing. Commit then re-plans everything
  /// staged in one propagation (restructuring once if any staged change was structural; each
  /// item-site netted at most once) and returns the re-netted item-sites in the order they were
  /// netted, exactly as ApplyAll of the same changes would; with nothing staged it returns an
  /// empty list. Apply/ApplyAll commit what is staged together with their own changes.
  ///
  /// Between Stage and Commit, plan() is stale (the last committed plan, except that the
  /// scheduled-receipt rows of staged receipts already moved) while snapshot() holds the staged
  /// inputs: do not read the plan against the snapshot then, and do not call EndDemands or
  /// ShortageEndDemands (they combine both). A RunFull meanwhile plans the staged inputs too (they
  /// are in the snapshot); the Commit after it then only re-nets the staged item-sites again.
  Status Stage(const Change& change);
  /// Whether changes are staged and not yet committed.
  bool staged() const noexcept { return staged_; }
  /// Item-sites whose inputs staged changes touched directly (unordered, may repeat); empty when
  /// nothing is staged.
  std::span<const ItemSiteIndex> staged_item_sites() const noexcept { return staged_dirty_; }
  Result<std::vector<ItemSiteIndex>> Commit();

  const Plan& plan() const noexcept { return plan_; }
  const model::Snapshot& snapshot() const noexcept { return snapshot_; }

  /// The end demands (sales orders, forecast) that `supply` of `item_site` serves, by following
  /// dependent/transfer pegs up through the parents in proportion, merged per end demand and
  /// ordered by (kind, index, item-site, bucket). Requires pegging. Computed through a
  /// throw-away EndDemandCache (so a caller that asks for many supplies of one plan should keep
  /// one EndDemandCache instead: same results, bit for bit).
  std::vector<EndDemand> EndDemands(ItemSiteIndex item_site, const SupplyRef& supply) const;
  /// The end demands hit by a shortage of `item_site` in `bucket`: every demand element due in
  /// or before `bucket` whose supply arrives later or not at all, followed up to end demands.
  std::vector<EndDemand> ShortageEndDemands(ItemSiteIndex item_site, Bucket bucket) const;

 private:
  friend class EndDemandCache;
  void Prepare();
  void ComputeLowLevelCodes();
  void BuildWhereUsed();
  void RebuildOrder();
  /// Nets one item-site; returns whether its planned orders changed.
  bool NetItem(ItemSiteIndex item_site);
  /// Pegs one item-site over its netted orders; `forecast_consumed`: scratch_forecast_ already
  /// holds its unconsumed forecast (NetItem of the same item-site ran just before).
  void PegItem(ItemSiteIndex item_site, bool forecast_consumed);
  void SortSalesOrders(ItemSiteIndex item_site);
  void RecomputeScheduledReceipts(ItemSiteIndex item_site);
  void ConsumeForecast(ItemSiteIndex item_site, std::vector<double>& remaining) const;
  bool IsSupplier(ItemSiteIndex item_site) const;
  template <class F>
  void ForEachSupplier(ItemSiteIndex item_site, F&& f) const;
  void Propagate(const std::vector<ItemSiteIndex>& dirty, std::vector<ItemSiteIndex>& touched);
  void Restructure();
  void ZeroCyclicRows();
  Status Validate(const Change& change) const;
  /// Changes the snapshot (and the per-item indexes) for one validated change; collects the
  /// item-sites to re-net in `dirty` and whether the BOM/transfer structure changed.
  void ApplyInput(const Change& change, std::vector<ItemSiteIndex>& dirty, bool& structural);
  double SupplyQuantity(ItemSiteIndex item_site, const SupplyRef& supply) const;

  model::Snapshot snapshot_;
  NettingPolicy policy_;
  Plan plan_;
  bool ran_ = false;
  // Staged net change (Stage/Commit): item-sites to re-net, structural flag.
  std::vector<ItemSiteIndex> staged_dirty_;
  bool staged_structural_ = false;
  bool staged_ = false;

  // Derived structure (CSR): consumers of each item-site (BOM parents with the line, and the
  // item-sites it supplies by transfer), sales orders and receipts per item-site.
  struct WhereUsed {
    ItemSiteIndex consumer;
    std::uint32_t bom_line;  ///< index into snapshot_.bom_lines; kTransferLine for a transfer
  };
  static constexpr std::uint32_t kTransferLine = UINT32_MAX;
  std::vector<std::uint32_t> where_used_offsets_;
  std::vector<WhereUsed> where_used_;
  std::vector<std::vector<std::int32_t>> sales_orders_by_item_;  ///< sorted for consumption
  std::vector<std::vector<std::int32_t>> receipts_by_item_;
  std::size_t ids_sorted_prefix_ = 0;         ///< sales orders [0, prefix) have increasing ids
  std::vector<ItemSiteIndex> netting_order_;  ///< by low-level code, then index

  // Scratch reused across items (no per-bucket allocation in the netting loop).
  std::vector<double> scratch_forecast_;
  std::vector<double> scratch_gross_;
  std::vector<PlannedOrder> scratch_orders_;
  std::vector<model::Finding> scratch_findings_;
  struct SalesOrderKey {
    Bucket due_bucket;
    std::int32_t rank;   ///< priority, unset last
    std::int32_t index;  ///< into snapshot_.sales_orders
  };
  std::vector<SalesOrderKey> scratch_sales_order_keys_;
  std::vector<std::vector<ItemSiteIndex>> levels_;
  struct DemandElement {
    PegDemand ref;
    double quantity;
  };
  struct SupplyElement {
    PegSupply ref;
    double quantity;
  };
  std::vector<DemandElement> peg_elements_;
  std::vector<DemandElement> peg_demand_;
  std::vector<SupplyElement> peg_supply_;
  std::vector<std::uint32_t> peg_start_;
  std::vector<char> queued_;
};

/// Memo of end demands over one state of a NettingEngine's plan, for a read-only phase that
/// asks for many supplies or shortages (a publication of re-netted records, a gap report).
///
/// End demands are defined through one summary per planned order P (item-site, ordinal): the
/// end demands the whole of P serves, merged per end demand: for each peg j of P (quantity p_j
/// on a demand element of size d_j, P's quantity O_P, in peg order), an end-demand element
/// gives (element, p_j, p_j / O_P), a dependent/transfer element of parent order P' gives every
/// entry (end, w, s) of P' summary scaled to ((p_j / d_j) × w, (p_j / O_P) × s); entries naming
/// the same end demand are then summed in that order (stable sort by (kind, index, item-site,
/// bucket)). A supply or shortage is the same sum over its pegs with `p_j / total`. The cache
/// keeps every summary it computed (and, per item-site reached, its pegs grouped by planned
/// order), so the parents shared by many supplies are walked once; NettingEngine::EndDemands
/// and ShortageEndDemands run the same code on a fresh cache, so the results are identical bit
/// for bit whether or not a cache is kept.
///
/// Lifetime: holds a reference to the engine and reads its plan; valid only while the engine
/// does not change. Build one per publication (after Commit/Apply/RunFull) and throw it away
/// before the next Stage, Commit, Apply, ApplyAll or RunFull (a stale cache answers for the old
/// plan or reads out of range). Requires pegging (empty results otherwise), like EndDemands.
/// Threads: not thread-safe (lookups fill the memo); one thread per cache.
class EndDemandCache {
 public:
  explicit EndDemandCache(const NettingEngine& engine) : engine_(&engine) {}

  /// Forgets every summary and serves `engine` from now on, keeping the storage (a caller that
  /// publishes repeatedly keeps one cache and resets it at the start of each publication).
  void Reset(const NettingEngine& engine);

  /// Same as NettingEngine::EndDemands.
  std::vector<EndDemand> EndDemands(ItemSiteIndex item_site, const SupplyRef& supply);
  /// The end demands of planned order `ordinal` of `item_site` (= EndDemands with that planned
  /// order) without a copy; the span is valid until the next call on this cache.
  std::span<const EndDemand> PlannedOrderEndDemands(ItemSiteIndex item_site, std::int32_t ordinal);
  /// Same as NettingEngine::ShortageEndDemands.
  std::vector<EndDemand> ShortageEndDemands(ItemSiteIndex item_site, Bucket bucket);

  /// Planned-order summaries held.
  std::size_t orders_cached() const noexcept { return orders_cached_; }

 private:
  // Flat storage (no allocation per order): per item-site reached, a block of one Slot per
  // planned order and its pegs grouped by order; every summary a range of one arena.
  struct Slot {
    std::uint32_t begin = 0;
    std::uint32_t size = 0;
    std::uint8_t state = 0;  ///< 0 not computed, 1 being computed, 2 done
  };
  struct ItemSiteEntry {
    std::uint32_t slots = 0;       ///< first Slot of the item-site's orders
    std::uint32_t peg_starts = 0;  ///< first of orders + 1 offsets into peg_positions_
  };
  const ItemSiteEntry& Entry(ItemSiteIndex item_site);
  /// Computes the summary of one planned order (and, first, those of the parents it reaches);
  /// returns the index of its Slot, or -1 when the order does not exist.
  std::int64_t Summarize(ItemSiteIndex item_site, std::int32_t ordinal);
  /// Ensures the summary a demand element leads to exists (dependent/transfer elements).
  void Prepare(const DemandRef& demand);
  /// Appends to the arena what `quantity` of demand element `demand` (of size
  /// `demand_quantity`) reaches, with `share` the fraction of the asking supply that goes to it.
  /// The parent's summary must be computed (Prepare).
  void Reach(const DemandRef& demand, double quantity, double demand_quantity, double share);
  /// Merges arena_[begin, end) per end demand (stable by key, sums in order); returns its size.
  std::uint32_t MergeTail(std::size_t begin);

  const NettingEngine* engine_;
  std::vector<std::int32_t> item_site_entry_;  ///< per item-site: index into entries_, −1
  std::vector<ItemSiteEntry> entries_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> peg_starts_;
  std::vector<std::uint32_t> peg_positions_;
  std::vector<EndDemand> arena_;
  std::size_t orders_cached_ = 0;
};

// Calls f(supplier) for every item-site that `item_site` consumes: BOM components, then the
// supplying item-site of a transfer item.
template <class F>
void NettingEngine::ForEachSupplier(ItemSiteIndex item_site, F&& f) const {
  for (const auto& line : snapshot_.Bom(item_site)) f(line.component);
  const auto& is = snapshot_.item_sites[static_cast<std::size_t>(item_site.value())];
  if (is.kind == model::ItemKind::kTransfer && is.source != model::kNoItemSite) f(is.source);
}

}  // namespace sop::planning
