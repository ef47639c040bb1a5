#pragma once
/// Ranking of exceptions: a weighted sum of normalized components, deterministic ties, and an
/// ordered structure so that a change re-scores only the exceptions it touches.

#include <cstddef>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sop/model/error.hpp"
#include "sop/planning/exceptions.hpp"

namespace sop::planning {

/// Weights and normalization references. Components saturate (x / (x + reference)) instead of
/// being divided by the current maximum, so one exception's score never depends on the others —
/// which is what makes re-ranking incremental.
struct RankingWeights {
  double revenue = 0.30;
  double margin = 0.25;
  double priority = 0.15;
  double time = 0.15;
  double breadth = 0.05;
  double severity = 0.10;
  double revenue_reference = 10000.0;  ///< revenue at risk scoring 0.5
  double margin_reference = 3000.0;    ///< margin at risk scoring 0.5
  double breadth_reference = 5.0;      ///< end demands scoring 0.5
  std::int32_t lowest_priority = 5;    ///< priority scoring just above 0 (1 scores 1)
  std::int32_t time_horizon = 26;      ///< buckets after which time to impact scores 0
};

/// Validates weights: all finite and ≥ 0, references > 0, lowest_priority and time_horizon ≥ 1.
Status Validate(const RankingWeights& weights);

/// The saturation references scaled to an instance: `revenue_reference`, `margin_reference` and
/// `breadth_reference` become the `percentile` (nearest rank, in (0, 1]) of the exceptions'
/// positive revenue at risk, margin at risk and end demands, so an exception at that percentile
/// scores 0.5 on the component and only the largest approach 1 (fixed references saturate at a
/// small plant and spread nothing at a large one). A component with no positive value keeps its
/// reference; other weights are unchanged. Scores computed with the result depend on the
/// instance, not on each other: compute the references once (e.g. on the base run) and rank
/// incrementally with them. A percentile outside (0, 1] is INVALID_ARGUMENT.
Result<RankingWeights> ScaleReferences(std::span<const Exception> exceptions,
                                       RankingWeights weights, double percentile = 0.9);

/// Fills `exception.score` from its fields.
void Score(Exception& exception, const RankingWeights& weights);

/// Score then sort: by total descending, ties by id ascending (stable key).
void RankAll(std::vector<Exception>& exceptions, const RankingWeights& weights);

/// The live ranked list: exceptions keyed by id in a set ordered by (−score, id). Upsert and
/// Remove are O(log n) and re-score only the exception given.
///
/// Threads: not synchronised; one writer, or readers only. Lifetime: owns its exceptions.
class Ranker {
 public:
  explicit Ranker(RankingWeights weights = {}) : weights_(weights) {}
  Ranker(const Ranker& other);
  Ranker& operator=(const Ranker& other);
  Ranker(Ranker&&) noexcept = default;
  Ranker& operator=(Ranker&&) noexcept = default;

  /// Replaces the whole content (scores everything). O(n log n).
  void Reset(std::vector<Exception> exceptions);
  /// Adds or replaces the exception with the same id, re-scoring only it.
  void Upsert(Exception exception);
  /// Removes an exception; returns whether it existed.
  bool Remove(const std::string& id);

  std::size_t size() const noexcept { return by_id_.size(); }
  /// The rank (0 = top) of an exception, or −1. O(rank).
  std::ptrdiff_t RankOf(const std::string& id) const;
  const Exception* Find(const std::string& id) const;
  /// The top `n` exceptions in order (all when n exceeds the size).
  std::vector<const Exception*> Top(std::size_t n) const;

 private:
  // The order holds (−total, the by-id node) instead of a copy of the id: one string per
  // exception, not two; nodes of an unordered_map keep their address across rehashes.
  using Entry = std::pair<const std::string, Exception>;
  struct Key {
    double negative_total;
    const Entry* entry;
  };
  struct KeyLess {
    bool operator()(const Key& a, const Key& b) const noexcept {
      if (a.negative_total != b.negative_total) return a.negative_total < b.negative_total;
      return a.entry->first < b.entry->first;
    }
  };
  void RebuildOrder();
  RankingWeights weights_;
  std::set<Key, KeyLess> order_;
  std::unordered_map<std::string, Exception> by_id_;
};

}  // namespace sop::planning
