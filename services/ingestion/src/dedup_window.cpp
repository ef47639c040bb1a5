#include "sop/ingestion/dedup_window.hpp"

#include <functional>
#include <utility>

#include "state_codec.hpp"

namespace sop::ingestion {
namespace {

constexpr std::size_t kNotFound = static_cast<std::size_t>(-1);
constexpr std::size_t kInitialSlots = 64;

std::uint64_t ZigZag(std::int64_t value) {
  return (static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63);
}
std::int64_t UnZigZag(std::uint64_t value) {
  return static_cast<std::int64_t>(value >> 1) ^ -static_cast<std::int64_t>(value & 1);
}

}  // namespace

DedupWindow::DedupWindow(DedupRetention retention) : retention_(retention) {}

std::uint64_t DedupWindow::Hash(std::string_view id) noexcept {
  return std::hash<std::string_view>{}(id);
}

std::size_t DedupWindow::FindSlot(std::string_view id, std::uint64_t hash) const {
  if (slots_.empty()) return kNotFound;
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.sequence_plus_one == 0) return kNotFound;
    if (slot.hash == hash &&
        entries_[static_cast<std::size_t>(slot.sequence_plus_one - 1 - front_sequence_)].id == id)
      return i;
  }
}

bool DedupWindow::Contains(std::string_view id) const {
  return FindSlot(id, Hash(id)) != kNotFound;
}

void DedupWindow::IndexInsert(std::uint64_t hash, std::uint64_t sequence) {
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = hash & mask;
  while (slots_[i].sequence_plus_one != 0) i = (i + 1) & mask;
  slots_[i] = Slot{hash, sequence + 1};
}

void DedupWindow::IndexErase(std::uint64_t hash, std::uint64_t sequence) {
  const std::size_t mask = slots_.size() - 1;
  std::size_t hole = hash & mask;
  while (slots_[hole].sequence_plus_one != sequence + 1) hole = (hole + 1) & mask;
  // Backward-shift deletion (linear probing keeps no tombstones): move later members of the
  // probe run into the hole unless their home slot lies cyclically in (hole, current].
  for (std::size_t current = (hole + 1) & mask; slots_[current].sequence_plus_one != 0;
       current = (current + 1) & mask) {
    const std::size_t home = slots_[current].hash & mask;
    const bool stays =
        hole <= current ? (hole < home && home <= current) : (hole < home || home <= current);
    if (stays) continue;
    slots_[hole] = slots_[current];
    hole = current;
  }
  slots_[hole] = Slot{};
}

void DedupWindow::Grow() {
  std::vector<Slot> old = std::exchange(slots_, {});
  slots_.assign(old.empty() ? kInitialSlots : old.size() * 2, Slot{});
  for (const Slot& slot : old) {
    if (slot.sequence_plus_one != 0) IndexInsert(slot.hash, slot.sequence_plus_one - 1);
  }
}

bool DedupWindow::Insert(std::string_view id, std::int64_t at_ms) {
  const std::uint64_t hash = Hash(id);
  if (FindSlot(id, hash) != kNotFound) return false;
  if ((entries_.size() + 1) * 2 > slots_.size()) Grow();
  const std::uint64_t sequence = front_sequence_ + entries_.size();
  entries_.push_back(Entry{std::string(id), at_ms, hash});
  IndexInsert(hash, sequence);
  if (at_ms != kUnknownTime && (newest_ms_ == kUnknownTime || at_ms > newest_ms_)) {
    newest_ms_ = at_ms;
  }
  Evict();
  return true;
}

void DedupWindow::EvictOldest() {
  const Entry& oldest = entries_.front();
  IndexErase(oldest.hash, front_sequence_);
  entries_.pop_front();
  ++front_sequence_;
  ++evicted_;
}

void DedupWindow::Evict() {
  while (entries_.size() > retention_.max_ids) EvictOldest();
  // No horizon yet, or one before the representable range (no overflow below).
  if (newest_ms_ == kUnknownTime || newest_ms_ < kUnknownTime + retention_.max_age.count() + 1)
    return;
  const std::int64_t horizon = newest_ms_ - retention_.max_age.count();
  while (!entries_.empty() && entries_.front().at_ms != kUnknownTime &&
         entries_.front().at_ms < horizon) {
    EvictOldest();
  }
}

void DedupWindow::SetRetention(DedupRetention retention) {
  retention_ = retention;
  Evict();
}

std::vector<std::string> DedupWindow::Ids() const {
  std::vector<std::string> ids;
  ids.reserve(entries_.size());
  for (const Entry& entry : entries_) ids.push_back(entry.id);
  return ids;
}

void DedupWindow::AppendTo(std::string& out) const {
  std::size_t bytes = 10;
  for (const Entry& entry : entries_) bytes += entry.id.size() + 4;
  out.reserve(out.size() + bytes);
  detail::PutVarint(out, entries_.size());
  // Times: 0 = unknown, else 1 + zigzag(delta to the previous known time).
  std::int64_t previous = 0;
  for (const Entry& entry : entries_) {
    detail::PutString(out, entry.id);
    if (entry.at_ms == kUnknownTime) {
      detail::PutVarint(out, 0);
      continue;
    }
    const auto delta = static_cast<std::int64_t>(static_cast<std::uint64_t>(entry.at_ms) -
                                                 static_cast<std::uint64_t>(previous));
    detail::PutVarint(out, ZigZag(delta) + 1);
    previous = entry.at_ms;
  }
}

Result<DedupWindow> DedupWindow::ReadFrom(std::string_view in, std::size_t& pos,
                                          DedupRetention retention) {
  auto count = detail::GetVarint(in, pos);
  if (!count) return std::unexpected(count.error());
  if (*count > in.size() - pos) {
    return Fail(Errc::kDataLoss, "de-duplication window: " + std::to_string(*count) +
                                     " ids cannot fit in " + std::to_string(in.size() - pos) +
                                     " bytes");
  }
  // Read with no bound, then apply `retention` once (a smaller one evicts the oldest).
  DedupWindow window(DedupRetention{.max_ids = static_cast<std::size_t>(*count),
                                    .max_age = std::chrono::milliseconds::max()});
  std::int64_t previous = 0;
  for (std::uint64_t i = 0; i < *count; ++i) {
    auto id = detail::GetString(in, pos);
    if (!id) return std::unexpected(id.error());
    auto time = detail::GetVarint(in, pos);
    if (!time) return std::unexpected(time.error());
    std::int64_t at_ms = kUnknownTime;
    if (*time != 0) {
      at_ms = static_cast<std::int64_t>(static_cast<std::uint64_t>(previous) +
                                        static_cast<std::uint64_t>(UnZigZag(*time - 1)));
      previous = at_ms;
    }
    if (!window.Insert(*id, at_ms)) {
      return Fail(Errc::kDataLoss, "de-duplication window: id '" + *id + "' twice");
    }
  }
  window.evicted_ = 0;
  window.SetRetention(retention);
  return window;
}

bool operator==(const DedupWindow& a, const DedupWindow& b) {
  if (a.entries_.size() != b.entries_.size()) return false;
  for (std::size_t i = 0; i < a.entries_.size(); ++i) {
    if (a.entries_[i].id != b.entries_[i].id || a.entries_[i].at_ms != b.entries_[i].at_ms)
      return false;
  }
  return true;
}

}  // namespace sop::ingestion
