#pragma once
/// String id ↔ dense index dictionary, used at the edges of the model.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
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
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  std::vector<std::string> names_;
  std::unordered_map<std::string, std::int32_t, Hash, std::equal_to<>> index_;
};

}  // namespace sop::model
