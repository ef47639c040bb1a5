#include "sop/model/id_dictionary.hpp"

namespace sop::model {

std::int32_t IdDictionary::Intern(std::string_view id) {
  if (auto it = index_.find(id); it != index_.end()) return it->second;
  auto index = static_cast<std::int32_t>(names_.size());
  names_.emplace_back(id);
  index_.emplace(std::string(id), index);
  return index;
}

std::optional<std::int32_t> IdDictionary::Find(std::string_view id) const {
  if (auto it = index_.find(id); it != index_.end()) return it->second;
  return std::nullopt;
}

}  // namespace sop::model
