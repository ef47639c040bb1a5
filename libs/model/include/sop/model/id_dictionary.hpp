#pragma once
/// String id ↔ dense index dictionary, used at the edges of the model.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>  // (kept for includers that relied on it)
#include <vector>

namespace sop::model {

/// Maps external string ids to dense indices 0..size−1 in insertion order and back.
/// Not thread-safe for writes; concurrent const use is fine. Indices are stable for the
/// lifetime of the dictionary (ids are never removed).
class IdDictionary {
 public:
  /// The index of `id`, inserting it at the end when new.
  std::int32_t Intern(std::string_view id);
  /// The index of `id`, or nullopt when unknown.
  std::optional<std::int32_t> Find(std::string_view id) const;
  const std::string& Name(std::int32_t index) const {
    return names_[static_cast<std::size_t>(index)];
  }
  std::int32_t size() const noexcept { return static_cast<std::int32_t>(names_.size()); }

 private:
  // Open addressing with linear probing over a power-of-two table at most half full; a slot
  // keeps 32 bits of the id's hash so that a probe compares strings only on a likely match.
  // (std::unordered_map with a custom hash does not cache hash codes in libstdc++: each lookup
  // rehashed the strings of the nodes it walked — the largest cost of building an L snapshot.)
  struct Slot {
    std::uint32_t tag = 0;
    std::int32_t index = -1;  ///< −1 = empty
  };
  static std::uint64_t HashOf(std::string_view id) noexcept;
  /// The slot holding `id`, or the empty slot where it would go. Requires a non-empty table.
  std::size_t Probe(std::string_view id, std::uint64_t hash) const noexcept;
  void Grow();

  std::vector<std::string> names_;
  std::vector<std::uint64_t> hashes_;  ///< per index, for growing without rehashing strings
  std::vector<Slot> slots_;
};

}  // namespace sop::model
