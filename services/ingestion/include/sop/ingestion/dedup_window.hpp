#pragma once
/// A bounded de-duplication window of event ids: the ids decided most recently on one partition,
/// kept by count and by age, with their decision times, in decision order.
///
/// Pure (no I/O, no clocks: times are passed in, normally the Kafka record timestamp, so a replay
/// of the same log evicts the same ids). Used by ingestion (PartitionState) and forecasting.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "sop/model/error.hpp"

namespace sop::ingestion {

/// How much a DedupWindow remembers. An id is forgotten as soon as EITHER bound is passed:
/// more than `max_ids` newer ids were decided after it, or it was decided more than `max_age`
/// before the newest decision time seen.
struct DedupRetention {
  std::size_t max_ids = 200'000;
  std::chrono::milliseconds max_age = std::chrono::hours(24 * 7);

  friend bool operator==(const DedupRetention&, const DedupRetention&) = default;
};

/// The guarantee: an id that is still in the window is a duplicate (Contains is true); an id
/// that fell out of it is new again to the window, and only the idempotence of what it carries
/// (full-replacement master data, document ids) protects the state.
///
/// Ids whose decision time is unknown (restored from a format without times) carry
/// kUnknownTime: they leave only by count.
///
/// Cost: Contains and Insert are O(1) expected (open addressing over 64-bit hashes, the id
/// compared on a hash match, so there are no false duplicates); memory ~ ids × (id length + 64
/// bytes). Plain value, not thread-safe.
class DedupWindow {
 public:
  static constexpr std::int64_t kUnknownTime = std::numeric_limits<std::int64_t>::min();

  explicit DedupWindow(DedupRetention retention = {});

  bool Contains(std::string_view id) const;
  /// Remembers `id` decided at `at_ms` (milliseconds since the epoch, or kUnknownTime), then
  /// evicts what the retention no longer covers. False (and nothing changes) if `id` is held.
  bool Insert(std::string_view id, std::int64_t at_ms);

  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }
  const DedupRetention& retention() const noexcept { return retention_; }
  /// Changes the bounds and evicts at once what they no longer cover.
  void SetRetention(DedupRetention retention);
  /// Ids evicted since construction (by count or age).
  std::uint64_t evicted() const noexcept { return evicted_; }
  /// The newest decision time seen (kUnknownTime before any).
  std::int64_t newest_ms() const noexcept { return newest_ms_; }
  /// The decision time of the oldest id held (kUnknownTime if none or unknown). With
  /// newest_ms(): the span of record time the window covers.
  std::int64_t oldest_ms() const noexcept {
    return entries_.empty() ? kUnknownTime : entries_.front().at_ms;
  }

  /// The held ids, oldest first, with their decision times.
  template <class Visit>
  void ForEach(Visit&& visit) const {
    for (const Entry& entry : entries_) visit(std::string_view(entry.id), entry.at_ms);
  }
  std::vector<std::string> Ids() const;

  /// Compact encoding (count, then per id: length-prefixed id and the time as a zigzag delta
  /// to the previous one), oldest first, appended to `out`.
  void AppendTo(std::string& out) const;
  /// Reads what AppendTo wrote at `pos` (advanced) into a window with `retention` (which may
  /// be smaller than the writer's: the surplus is evicted). DATA_LOSS if malformed.
  static Result<DedupWindow> ReadFrom(std::string_view in, std::size_t& pos,
                                      DedupRetention retention);

  /// Same ids with the same times in the same order (the retention is not compared).
  friend bool operator==(const DedupWindow& a, const DedupWindow& b);

 private:
  struct Entry {
    std::string id;
    std::int64_t at_ms;
    std::uint64_t hash;
  };
  // A slot of the index: the entry's absolute sequence number + 1 (0 = empty) and its hash.
  struct Slot {
    std::uint64_t hash = 0;
    std::uint64_t sequence_plus_one = 0;
  };

  static std::uint64_t Hash(std::string_view id) noexcept;
  std::size_t FindSlot(std::string_view id, std::uint64_t hash) const;  // npos if absent
  void IndexInsert(std::uint64_t hash, std::uint64_t sequence);
  void IndexErase(std::uint64_t hash, std::uint64_t sequence);
  void Grow();
  void EvictOldest();
  void Evict();

  DedupRetention retention_;
  std::deque<Entry> entries_;  ///< oldest first; entries_[i] has sequence front_sequence_ + i
  std::uint64_t front_sequence_ = 0;
  std::vector<Slot> slots_;  ///< power-of-two size, at most half full
  std::int64_t newest_ms_ = kUnknownTime;
  std::uint64_t evicted_ = 0;
};

}  // namespace sop::ingestion
