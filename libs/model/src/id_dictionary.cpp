#include "sop/model/id_dictionary.hpp"

#include <functional>

namespace sop::model {

std::uint64_t IdDictionary::HashOf(std::string_view id) noexcept {
  return std::hash<std::string_view>{}(id);
}

std::size_t IdDictionary::Probe(std::string_view id, std::uint64_t hash) const noexcept {
  const std::size_t mask = slots_.size() - 1;
  const auto tag = static_cast<std::uint32_t>(hash >> 32);
  for (std::size_t pos = static_cast<std::size_t>(hash) & mask;; pos = (pos + 1) & mask) {
    const Slot& slot = slots_[pos];
    if (slot.index < 0) return pos;
    if (slot.tag == tag && names_[static_cast<std::size_t>(slot.index)] == id) return pos;
  }
}

void IdDictionary::Grow() {
  std::vector<Slot> slots(slots_.empty() ? 16 : slots_.size() * 2);
  const std::size_t mask = slots.size() - 1;
  for (std::size_t i = 0; i < names_.size(); ++i) {
    std::size_t pos = static_cast<std::size_t>(hashes_[i]) & mask;
    while (slots[pos].index >= 0) pos = (pos + 1) & mask;
    slots[pos] = Slot{static_cast<std::uint32_t>(hashes_[i] >> 32), static_cast<std::int32_t>(i)};
  }
  slots_.swap(slots);
}

std::int32_t IdDictionary::Intern(std::string_view id) {
  if ((names_.size() + 1) * 2 > slots_.size()) Grow();
  const std::uint64_t hash = HashOf(id);
  const std::size_t pos = Probe(id, hash);
  if (slots_[pos].index >= 0) return slots_[pos].index;
  const auto index = static_cast<std::int32_t>(names_.size());
  names_.emplace_back(id);
  hashes_.push_back(hash);
  slots_[pos] = Slot{static_cast<std::uint32_t>(hash >> 32), index};
  return index;
}

std::optional<std::int32_t> IdDictionary::Find(std::string_view id) const {
  if (slots_.empty()) return std::nullopt;
  const Slot& slot = slots_[Probe(id, HashOf(id))];
  if (slot.index < 0) return std::nullopt;
  return slot.index;
}

}  // namespace sop::model
