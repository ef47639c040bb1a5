#pragma once
/// Ranking of exceptions: a weighted sum of normalized components, deterministic ties, and an
/// ordered structure so that a change re-scores only the exceptions it touches.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
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

/// The live ranked list: exceptions ordered by (−score, id). Upsert and Remove re-score only the
/// exception given; Reset scores and orders everything at once.
///
/// Storage is flat: the exceptions in one vector (Reset takes the caller's vector as it is),
/// an open-addressing index from id to slot, and the order as a list of sorted blocks of
/// (−score, slot) keys (Upsert/Remove: O(log n + block) without an allocation per exception;
/// RankOf: O(n / block + log n)).
///
/// Threads: not synchronised; one writer, or readers only. Lifetime: owns its exceptions;
/// pointers from Find and Top stay valid until the next Reset, Remove or Upsert.
class Ranker {
 public:
  explicit Ranker(RankingWeights weights = {}) : weights_(weights) {}
  Ranker(const Ranker&) = default;
  Ranker& operator=(const Ranker&) = default;
  Ranker(Ranker&& other) noexcept;  ///< leaves `other` empty
  Ranker& operator=(Ranker&& other) noexcept;

  /// Replaces the whole content (scores everything; a duplicate id keeps its last value).
  /// O(n log n).
  void Reset(std::vector<Exception> exceptions);
  /// Adds or replaces the exception with the same id, re-scoring only it.
  void Upsert(Exception exception);
  /// Removes an exception; returns whether it existed.
  bool Remove(const std::string& id);

  std::size_t size() const noexcept { return size_; }
  /// The rank (0 = top) of an exception, or −1.
  std::ptrdiff_t RankOf(const std::string& id) const;
  const Exception* Find(const std::string& id) const;
  /// The top `n` exceptions in order (all when n exceeds the size).
  std::vector<const Exception*> Top(std::size_t n) const;
  /// The weights exceptions are scored with.
  const RankingWeights& weights() const noexcept { return weights_; }

 private:
  struct Key {
    double negative_total;
    std::uint32_t slot;
  };
  static constexpr std::uint32_t kEmpty = UINT32_MAX;
  void Clear() noexcept;
  bool Less(const Key& a, const Key& b) const noexcept;
  // The index entry of `id` (its slot, or kEmpty where it would go).
  std::size_t Probe(std::string_view id, std::uint64_t hash) const noexcept;
  void IndexErase(std::size_t position);
  void GrowIndex(std::size_t entries);
  // Block and position of `key` in the order (the first key not less than it).
  std::pair<std::size_t, std::size_t> Locate(const Key& key) const noexcept;
  void OrderInsert(const Key& key);
  void OrderErase(const Key& key);

  RankingWeights weights_;
  std::vector<Exception> slots_;          // exceptions by slot; free slots have an empty id
  std::vector<std::uint32_t> free_;       // free slots
  std::vector<std::uint64_t> hashes_;     // by slot: hash of the id
  std::vector<std::uint32_t> index_;      // open addressing (linear probing): slots, or kEmpty
  std::vector<std::vector<Key>> blocks_;  // the order, in sorted blocks (none empty)
  std::size_t size_ = 0;
};

}  // namespace sop::planning
