#pragma once
/// Strong types for identifiers and indices where a mix-up is possible (an item index passed
/// where a site index is expected does not compile). Zero-cost: a tagged wrapper over T.

#include <compare>
#include <cstddef>
#include <functional>

namespace sop {

/// A value of type T tagged with Tag, comparable and hashable, explicitly constructed.
template <class T, class Tag>
class StrongId {
 public:
  using value_type = T;
  constexpr StrongId() = default;
  constexpr explicit StrongId(T value) : value_(value) {}
  constexpr T value() const noexcept { return value_; }
  friend constexpr auto operator<=>(const StrongId&, const StrongId&) = default;

 private:
  T value_{};
};

}  // namespace sop

template <class T, class Tag>
struct std::hash<sop::StrongId<T, Tag>> {
  std::size_t operator()(const sop::StrongId<T, Tag>& id) const noexcept {
    return std::hash<T>{}(id.value());
  }
};
