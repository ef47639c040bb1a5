#pragma once
/// Pass-through librdkafka settings (bootstrap.servers, security.protocol, sasl.*, ssl.*, ...).

#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sop/model/error.hpp"

namespace sop::bus {

/// An ordered list of librdkafka configuration properties. Services pass every `kafka.*`
/// setting here with the prefix stripped (kafka.security.protocol=SASL_SSL becomes
/// security.protocol=SASL_SSL), so SASL/SSL against a real cluster needs no code.
///
/// Threads: a value type; not synchronised. Errors: `Validate()` (and every client's
/// `Create`) reports an unknown property or a bad value as INVALID_ARGUMENT naming the key
/// and the value (values of keys that look secret are redacted).
class KafkaConfig {
 public:
  KafkaConfig() = default;
  KafkaConfig(std::initializer_list<std::pair<std::string, std::string>> entries);

  /// Keeps every entry whose key starts with `prefix`, with the prefix removed.
  static KafkaConfig FromPrefixed(const std::map<std::string, std::string>& settings,
                                  std::string_view prefix = "kafka.");

  /// Sets (or replaces) one property.
  KafkaConfig& Set(std::string key, std::string value);

  /// The value of `key`, or nullptr when unset.
  const std::string* Find(std::string_view key) const;

  const std::vector<std::pair<std::string, std::string>>& entries() const { return entries_; }

  /// Checks every property against librdkafka's own schema without connecting anywhere.
  Status Validate() const;

  /// The value as it may appear in logs and errors: secrets become "[redacted]".
  static std::string Printable(std::string_view key, std::string_view value);

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

}  // namespace sop::bus
