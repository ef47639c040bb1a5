#include "sop/planning/ranking.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sop::planning {

namespace {

double Saturate(double x, double reference) {
  return x <= 0.0 ? 0.0 : x / (x + reference);
}

}  // namespace

Status Validate(const RankingWeights& w) {
  for (double v : {w.revenue, w.margin, w.priority, w.time, w.breadth, w.severity}) {
    if (!std::isfinite(v) || v < 0.0)
      return Fail(Errc::kInvalidArgument, "ranking weights: must be finite and >= 0");
  }
  for (double v : {w.revenue_reference, w.margin_reference, w.breadth_reference}) {
    if (!std::isfinite(v) || v <= 0.0)
      return Fail(Errc::kInvalidArgument, "ranking references: must be > 0");
  }
  if (w.lowest_priority < 1)
    return Fail(Errc::kInvalidArgument, "ranking lowest_priority: must be >= 1");
  if (w.time_horizon < 1) return Fail(Errc::kInvalidArgument, "ranking time_horizon: must be >= 1");
  return {};
}

Result<RankingWeights> ScaleReferences(std::span<const Exception> exceptions,
                                       RankingWeights weights, double percentile) {
  if (!(percentile > 0.0 && percentile <= 1.0)) {
    return Fail(Errc::kInvalidArgument, "ranking reference percentile: must be in (0, 1], got " +
                                            std::to_string(percentile));
  }
  auto nearest_rank = [&](auto value_of, double& reference) {
    std::vector<double> values;
    values.reserve(exceptions.size());
    for (const auto& e : exceptions) {
      const double v = value_of(e);
      if (v > 0.0 && std::isfinite(v)) values.push_back(v);
    }
    if (values.empty()) return;
    const auto rank =
        static_cast<std::size_t>(std::ceil(percentile * static_cast<double>(values.size())));
    const auto k = std::min(values.size() - 1, rank == 0 ? 0 : rank - 1);
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
    reference = values[k];
  };
  nearest_rank([](const Exception& e) { return e.revenue_at_risk; }, weights.revenue_reference);
  nearest_rank([](const Exception& e) { return e.margin_at_risk; }, weights.margin_reference);
  nearest_rank([](const Exception& e) { return static_cast<double>(e.end_demands); },
               weights.breadth_reference);
  return weights;
}

void Score(Exception& e, const RankingWeights& w) {
  auto& s = e.score;
  s.revenue = Saturate(e.revenue_at_risk, w.revenue_reference);
  s.margin = Saturate(e.margin_at_risk, w.margin_reference);
  // Priority 1 scores 1, priority `lowest_priority` scores 1/lowest, worse or unset 0.
  s.priority = e.best_priority >= 1 && e.best_priority <= w.lowest_priority
                   ? static_cast<double>(w.lowest_priority - e.best_priority + 1) /
                         static_cast<double>(w.lowest_priority)
                   : 0.0;
  // Sooner is worse: bucket 0 scores 1, time_horizon and later 0; no bucket scores 0.
  s.time = e.first_impact_bucket < 0
               ? 0.0
               : std::max(0.0, 1.0 - static_cast<double>(e.first_impact_bucket) /
                                         static_cast<double>(w.time_horizon));
  s.breadth = Saturate(static_cast<double>(e.end_demands), w.breadth_reference);
  s.severity = e.severity == Severity::kRed ? 1.0 : e.severity == Severity::kAmber ? 0.5 : 0.0;
  s.total = w.revenue * s.revenue + w.margin * s.margin + w.priority * s.priority +
            w.time * s.time + w.breadth * s.breadth + w.severity * s.severity;
}

void RankAll(std::vector<Exception>& exceptions, const RankingWeights& weights) {
  // Sort (−score, position) keys, then move each exception once: an Exception is a few hundred
  // bytes, which swapping inside the sort would move O(n log n) times.
  struct Key {
    double negative_total;
    std::uint32_t position;
  };
  std::vector<Key> keys(exceptions.size());
  for (std::size_t k = 0; k < exceptions.size(); ++k) {
    Score(exceptions[k], weights);
    keys[k] = Key{-exceptions[k].score.total, static_cast<std::uint32_t>(k)};
  }
  std::sort(keys.begin(), keys.end(), [&](const Key& a, const Key& b) {
    if (a.negative_total != b.negative_total) return a.negative_total < b.negative_total;
    return exceptions[a.position].id < exceptions[b.position].id;
  });
  std::vector<Exception> sorted;
  sorted.reserve(exceptions.size());
  for (const auto& key : keys) sorted.push_back(std::move(exceptions[key.position]));
  exceptions.swap(sorted);
}

namespace {

// Keys per block of the order: inserting moves at most 2 × kBlock keys; RankOf sums n / kBlock
// block sizes.
constexpr std::size_t kBlock = 512;

std::uint64_t HashId(std::string_view id) noexcept {
  return std::hash<std::string_view>{}(id);
}

}  // namespace

Ranker::Ranker(Ranker&& other) noexcept
    : weights_(other.weights_),
      slots_(std::move(other.slots_)),
      free_(std::move(other.free_)),
      hashes_(std::move(other.hashes_)),
      index_(std::move(other.index_)),
      blocks_(std::move(other.blocks_)),
      size_(std::exchange(other.size_, 0)) {
  other.Clear();
}

Ranker& Ranker::operator=(Ranker&& other) noexcept {
  if (this != &other) {
    weights_ = other.weights_;
    slots_ = std::move(other.slots_);
    free_ = std::move(other.free_);
    hashes_ = std::move(other.hashes_);
    index_ = std::move(other.index_);
    blocks_ = std::move(other.blocks_);
    size_ = std::exchange(other.size_, 0);
    other.Clear();
  }
  return *this;
}

void Ranker::Clear() noexcept {
  slots_.clear();
  free_.clear();
  hashes_.clear();
  index_.clear();
  blocks_.clear();
  size_ = 0;
}

bool Ranker::Less(const Key& a, const Key& b) const noexcept {
  if (a.negative_total != b.negative_total) return a.negative_total < b.negative_total;
  return slots_[a.slot].id < slots_[b.slot].id;
}

std::size_t Ranker::Probe(std::string_view id, std::uint64_t hash) const noexcept {
  const std::size_t mask = index_.size() - 1;
  for (std::size_t position = hash & mask;; position = (position + 1) & mask) {
    const std::uint32_t slot = index_[position];
    if (slot == kEmpty || (hashes_[slot] == hash && slots_[slot].id == id)) return position;
  }
}

void Ranker::GrowIndex(std::size_t entries) {
  std::size_t capacity = 16;
  while (capacity < 2 * entries) capacity *= 2;
  if (capacity <= index_.size()) return;
  index_.assign(capacity, kEmpty);
  for (const auto& block : blocks_) {
    for (const auto& key : block) index_[Probe(slots_[key.slot].id, hashes_[key.slot])] = key.slot;
  }
}

void Ranker::IndexErase(std::size_t position) {
  // Backward-shift deletion: move later entries of the probe run into the hole, so lookups never
  // need tombstones.
  const std::size_t mask = index_.size() - 1;
  std::size_t hole = position;
  for (std::size_t next = (hole + 1) & mask; index_[next] != kEmpty; next = (next + 1) & mask) {
    const std::size_t home = hashes_[index_[next]] & mask;
    // `next` may fill the hole unless its home lies cyclically in (hole, next].
    const bool home_after_hole =
        hole <= next ? (home > hole && home <= next) : (home > hole || home <= next);
    if (home_after_hole) continue;
    index_[hole] = index_[next];
    hole = next;
  }
  index_[hole] = kEmpty;
}

std::pair<std::size_t, std::size_t> Ranker::Locate(const Key& key) const noexcept {
  // The first block whose last key is not less than `key`, then the position inside it.
  auto block = std::partition_point(blocks_.begin(), blocks_.end(),
                                    [&](const std::vector<Key>& b) { return Less(b.back(), key); });
  if (block == blocks_.end()) return {blocks_.size(), 0};
  auto at = std::partition_point(block->begin(), block->end(),
                                 [&](const Key& k) { return Less(k, key); });
  return {static_cast<std::size_t>(block - blocks_.begin()),
          static_cast<std::size_t>(at - block->begin())};
}

void Ranker::OrderInsert(const Key& key) {
  if (blocks_.empty()) {
    blocks_.emplace_back().push_back(key);
    return;
  }
  auto [b, p] = Locate(key);
  if (b == blocks_.size()) {
    b = blocks_.size() - 1;
    p = blocks_[b].size();
  }
  auto& block = blocks_[b];
  block.insert(block.begin() + static_cast<std::ptrdiff_t>(p), key);
  if (block.size() > 2 * kBlock) {
    std::vector<Key> upper(block.begin() + static_cast<std::ptrdiff_t>(kBlock), block.end());
    block.resize(kBlock);
    blocks_.insert(blocks_.begin() + static_cast<std::ptrdiff_t>(b) + 1, std::move(upper));
  }
}

void Ranker::OrderErase(const Key& key) {
  auto [b, p] = Locate(key);
  if (b == blocks_.size()) return;  // cannot happen: every stored key is in the order
  auto& block = blocks_[b];
  block.erase(block.begin() + static_cast<std::ptrdiff_t>(p));
  if (block.empty()) {
    blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(b));
  } else if (b + 1 < blocks_.size() && block.size() + blocks_[b + 1].size() <= kBlock) {
    block.insert(block.end(), blocks_[b + 1].begin(), blocks_[b + 1].end());
    blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(b) + 1);
  }
}

void Ranker::Reset(std::vector<Exception> exceptions) {
  Clear();
  slots_ = std::move(exceptions);  // the caller's exceptions stay where they are
  const std::size_t n = slots_.size();
  hashes_.resize(n);
  GrowIndex(n);
  std::vector<Key> keys;
  keys.reserve(n);
  for (std::size_t k = 0; k < n; ++k) {
    auto& e = slots_[k];
    Score(e, weights_);
    hashes_[k] = HashId(e.id);
    const std::size_t position = Probe(e.id, hashes_[k]);
    const auto slot = static_cast<std::uint32_t>(k);
    if (index_[position] == kEmpty) {
      index_[position] = slot;
      continue;
    }
    // A duplicate id: the later value replaces the earlier one in its slot.
    slots_[index_[position]] = std::move(e);
    e = Exception{};
    free_.push_back(slot);
  }
  std::vector<char> is_free(n, 0);
  for (auto slot : free_) is_free[slot] = 1;
  for (std::size_t k = 0; k < n; ++k) {
    if (!is_free[k]) keys.push_back(Key{-slots_[k].score.total, static_cast<std::uint32_t>(k)});
  }
  std::sort(keys.begin(), keys.end(), [&](const Key& a, const Key& b) { return Less(a, b); });
  size_ = keys.size();
  blocks_.reserve((keys.size() + kBlock - 1) / kBlock);
  for (std::size_t k = 0; k < keys.size(); k += kBlock) {
    const auto end = std::min(keys.size(), k + kBlock);
    blocks_.emplace_back(keys.begin() + static_cast<std::ptrdiff_t>(k),
                         keys.begin() + static_cast<std::ptrdiff_t>(end));
  }
}

void Ranker::Upsert(Exception exception) {
  Score(exception, weights_);
  GrowIndex(size_ + 1);
  const std::uint64_t hash = HashId(exception.id);
  const std::size_t position = Probe(exception.id, hash);
  if (index_[position] != kEmpty) {
    const std::uint32_t slot = index_[position];
    OrderErase(Key{-slots_[slot].score.total, slot});
    slots_[slot] = std::move(exception);
    OrderInsert(Key{-slots_[slot].score.total, slot});
    return;
  }
  std::uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
    slots_[slot] = std::move(exception);
    hashes_[slot] = hash;
  } else {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.push_back(std::move(exception));
    hashes_.push_back(hash);
  }
  index_[position] = slot;
  ++size_;
  OrderInsert(Key{-slots_[slot].score.total, slot});
}

bool Ranker::Remove(const std::string& id) {
  if (size_ == 0) return false;
  const std::size_t position = Probe(id, HashId(id));
  const std::uint32_t slot = index_[position];
  if (slot == kEmpty) return false;
  OrderErase(Key{-slots_[slot].score.total, slot});
  IndexErase(position);
  slots_[slot] = Exception{};
  free_.push_back(slot);
  --size_;
  return true;
}

std::ptrdiff_t Ranker::RankOf(const std::string& id) const {
  if (size_ == 0) return -1;
  const std::uint32_t slot = index_[Probe(id, HashId(id))];
  if (slot == kEmpty) return -1;
  const auto [b, p] = Locate(Key{-slots_[slot].score.total, slot});
  std::size_t rank = p;
  for (std::size_t k = 0; k < b; ++k) rank += blocks_[k].size();
  return static_cast<std::ptrdiff_t>(rank);
}

const Exception* Ranker::Find(const std::string& id) const {
  if (size_ == 0) return nullptr;
  const std::uint32_t slot = index_[Probe(id, HashId(id))];
  return slot == kEmpty ? nullptr : &slots_[slot];
}

std::vector<const Exception*> Ranker::Top(std::size_t n) const {
  std::vector<const Exception*> out;
  out.reserve(std::min(n, size_));
  for (const auto& block : blocks_) {
    for (const auto& key : block) {
      if (out.size() >= n) return out;
      out.push_back(&slots_[key.slot]);
    }
  }
  return out;
}

}  // namespace sop::planning
