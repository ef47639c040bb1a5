#include "sop/bus/kafka_config.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "rdkafka_util.hpp"

namespace sop::bus {

KafkaConfig::KafkaConfig(std::initializer_list<std::pair<std::string, std::string>> entries) {
  for (const auto& [key, value] : entries) Set(key, value);
}

KafkaConfig KafkaConfig::FromPrefixed(const std::map<std::string, std::string>& settings,
                                      std::string_view prefix) {
  KafkaConfig config;
  for (const auto& [key, value] : settings) {
    if (key.size() > prefix.size() && key.starts_with(prefix)) {
      config.Set(key.substr(prefix.size()), value);
    }
  }
  return config;
}

KafkaConfig& KafkaConfig::Set(std::string key, std::string value) {
  auto existing = std::find_if(entries_.begin(), entries_.end(),
                               [&](const auto& entry) { return entry.first == key; });
  if (existing != entries_.end()) {
    existing->second = std::move(value);
  } else {
    entries_.emplace_back(std::move(key), std::move(value));
  }
  return *this;
}

const std::string* KafkaConfig::Find(std::string_view key) const {
  for (const auto& entry : entries_) {
    if (entry.first == key) return &entry.second;
  }
  return nullptr;
}

Status KafkaConfig::Validate() const {
  auto conf = detail::BuildConf(*this);
  if (!conf) return std::unexpected(conf.error());
  return {};
}

std::string KafkaConfig::Printable(std::string_view key, std::string_view value) {
  std::string lower(key);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  constexpr std::array<std::string_view, 4> kSecretMarkers = {"password", "secret", "jaas",
                                                              "key.pem"};
  for (std::string_view marker : kSecretMarkers) {
    if (lower.find(marker) != std::string::npos) return "[redacted]";
  }
  return std::string(value);
}

}  // namespace sop::bus
