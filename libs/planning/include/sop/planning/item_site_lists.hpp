#pragma once
/// One list of records per item-site, stored in a few large chunks instead of one heap vector
/// per item-site. Reading `lists[i]` gives a `std::span<const T>`, so code written against
/// `std::vector<std::vector<T>>` (`for (const auto& x : lists[i])`, `lists[i].size()`,
/// `lists[i][k]`, `lists.size()`) reads it unchanged.
///
/// Why: the planner writes millions of pegs per full run. A vector per item-site meant 100,000
/// allocations of guessed size, each run, plus the allocator's headers and the unused capacity
/// between them; here the records of consecutive item-sites are written back to back into
/// chunks that are allocated once and reused by the next run (no page faults when warm).
///
/// Writing (the engine only): `Begin(max)` reserves room for at most `max` records, `Push`
/// appends, `Commit(i)` makes the pushed records list i. A list that fits where it was before is
/// copied back there (net change); one that grew moves to the end with a quarter spare room and
/// leaves a hole. Holes are reclaimed by compaction once they outnumber the live records, so the
/// arena stays below twice the live size.
///
/// Threads: none inside; concurrent const reads are safe while nothing writes. Lifetime: a span
/// read from it is invalidated by the next Begin/Commit/Reset/Clear.

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

namespace sop::planning {

/// `kChunkRecords`: records per chunk (default 64 K, a few MiB); a longer list gets a chunk of
/// its own.
template <class T, std::size_t kChunkRecords = std::size_t{1} << 16>
class ItemSiteLists {
  static_assert(std::is_trivially_copyable_v<T>, "records are copied as plain bytes");

 public:
  std::span<const T> operator[](std::size_t item_site) const noexcept {
    const Slot& slot = slots_[item_site];
    if (slot.size == 0) return {};
    return {chunks_[slot.chunk].data() + slot.begin, slot.size};
  }
  /// Number of lists (item-sites), not records.
  std::size_t size() const noexcept { return slots_.size(); }
  bool empty() const noexcept { return slots_.empty(); }
  /// Records in all lists.
  std::size_t record_count() const noexcept { return live_; }
  /// Records left behind by lists that moved (reclaimed by compaction).
  std::size_t hole_count() const noexcept { return holes_; }

  /// List by list equality (where the records sit does not matter).
  friend bool operator==(const ItemSiteLists& a, const ItemSiteLists& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!std::ranges::equal(a[i], b[i])) return false;
    }
    return true;
  }

  /// `n` empty lists. Keeps the chunks' memory for the next run.
  void Reset(std::size_t n) {
    slots_.assign(n, Slot{});
    for (auto& chunk : chunks_) chunk.clear();
    current_ = 0;
    live_ = 0;
    holes_ = 0;
  }

  /// Empties list `item_site`.
  void Clear(std::size_t item_site) {
    Slot& slot = slots_[item_site];
    live_ -= slot.size;
    slot.size = 0;
  }

  /// Starts writing a list of at most `max_records` records.
  void Begin(std::size_t max_records) {
    // Room for the list plus the spare quarter Commit may add when a list moves.
    const std::size_t room = max_records + max_records / 4 + 1;
    while (current_ < chunks_.size() &&
           chunks_[current_].capacity() - chunks_[current_].size() < room) {
      ++current_;
    }
    if (current_ == chunks_.size()) {
      chunks_.emplace_back().reserve(std::max(kChunkRecords, room));
    }
    pending_begin_ = chunks_[current_].size();
    pending_max_ = max_records;
  }

  /// Appends to the list being written.
  void Push(const T& record) {
    assert(chunks_[current_].size() - pending_begin_ < pending_max_);
    chunks_[current_].push_back(record);
  }

  /// Makes the records pushed since Begin list `item_site`.
  void Commit(std::size_t item_site) {
    auto& chunk = chunks_[current_];
    const std::size_t count = chunk.size() - pending_begin_;
    Slot& slot = slots_[item_site];
    live_ = live_ - slot.size + count;
    if (count <= slot.capacity) {
      // Fits where it was (or both are empty): copy back, give the tail back to the chunk.
      if (count > 0) {
        std::copy(chunk.begin() + static_cast<std::ptrdiff_t>(pending_begin_), chunk.end(),
                  chunks_[slot.chunk].begin() + static_cast<std::ptrdiff_t>(slot.begin));
      }
      chunk.resize(pending_begin_);
      slot.size = static_cast<std::uint32_t>(count);
      return;
    }
    // A list that had a place before grew out of it: leave a hole, keep a spare quarter at the
    // new place. A list written for the first time since Reset gets exactly its size.
    std::size_t capacity = count;
    if (slot.capacity > 0) {
      holes_ += slot.capacity;
      capacity += count / 4;
      chunk.resize(pending_begin_ + capacity);
    }
    slot = Slot{static_cast<std::uint32_t>(current_), static_cast<std::uint32_t>(pending_begin_),
                static_cast<std::uint32_t>(count), static_cast<std::uint32_t>(capacity)};
    if (holes_ > live_ + kChunkRecords) Compact();
  }

 private:
  struct Slot {
    std::uint32_t chunk = 0;
    std::uint32_t begin = 0;
    std::uint32_t size = 0;
    std::uint32_t capacity = 0;  ///< records reserved at begin (≥ size)
  };

  // Rewrites every list tightly into fresh chunks, in item-site order.
  void Compact() {
    std::vector<std::vector<T>> old;
    old.swap(chunks_);
    std::vector<Slot> slots(slots_.size());
    current_ = 0;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      const Slot& from = slots_[i];
      if (from.size == 0) continue;
      if (chunks_.empty() || chunks_.back().capacity() - chunks_.back().size() < from.size) {
        chunks_.emplace_back().reserve(std::max<std::size_t>(kChunkRecords, from.size));
      }
      auto& chunk = chunks_.back();
      const T* data = old[from.chunk].data() + from.begin;
      slots[i] = Slot{static_cast<std::uint32_t>(chunks_.size() - 1),
                      static_cast<std::uint32_t>(chunk.size()), from.size, from.size};
      chunk.insert(chunk.end(), data, data + from.size);
    }
    current_ = chunks_.empty() ? 0 : chunks_.size() - 1;
    slots_.swap(slots);
    holes_ = 0;
  }

  std::vector<std::vector<T>> chunks_;
  std::vector<Slot> slots_;
  std::size_t current_ = 0;        ///< the chunk Begin writes into
  std::size_t pending_begin_ = 0;  ///< where the list being written starts in chunks_[current_]
  std::size_t pending_max_ = 0;
  std::size_t live_ = 0;   ///< records in lists
  std::size_t holes_ = 0;  ///< records left behind by lists that moved
};

}  // namespace sop::planning
