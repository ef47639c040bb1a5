#pragma once
/// Typed start-up configuration shared by every service: a schema of settings, values from
/// command-line flags and the environment, validated once at start-up.
///
/// Precedence: flag > environment > default. A setting `grpc.port` is set by `--grpc.port=50051`,
/// `--grpc.port 50051`, or the environment variable `SOP_GRPC_PORT` (dots and dashes become
/// underscores, letters upper-case). Pass-through prefixes (e.g. `kafka`) collect every
/// `--kafka.x.y=v` flag and `SOP_KAFKA_X_Y=v` variable into a key/value map without declaring
/// them; see `ConfigSchema::AddPassthrough` for how the dots are recovered from variable names.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sop/model/error.hpp"

namespace sop::runtime {

/// The value type of a setting.
enum class SettingType { kString, kInt, kDouble, kBool, kDuration };

/// "string", "int", "double", "bool", "duration".
std::string_view ToString(SettingType type) noexcept;

/// One declared setting. Defaults and bounds are written as text and parsed with the same parser
/// as flag values, so `Min("100ms")` works for durations and error messages can quote them.
/// Built fluently: `SettingSpec::Int("grpc.port", "gRPC port").Default("50051").Max("65535")`.
struct SettingSpec {
  std::string name;  ///< dotted, lower-case: "grpc.port"
  SettingType type = SettingType::kString;
  std::string description;                   ///< one line, shown by --help
  std::optional<std::string> default_value;  ///< none: the setting is optional or required
  std::optional<std::string> min;            ///< inclusive lower bound (int, double, duration)
  std::optional<std::string> max;            ///< inclusive upper bound (int, double, duration)
  std::vector<std::string> allowed;          ///< allowed values (string only); empty: any
  bool required = false;  ///< must come from a flag or the environment (no default allowed)
  bool secret = false;    ///< never echoed: redacted in errors, --help defaults and dumps

  static SettingSpec Of(SettingType type, std::string name, std::string description) {
    SettingSpec spec;
    spec.name = std::move(name);
    spec.type = type;
    spec.description = std::move(description);
    return spec;
  }
  static SettingSpec String(std::string name, std::string description) {
    return Of(SettingType::kString, std::move(name), std::move(description));
  }
  static SettingSpec Int(std::string name, std::string description) {
    return Of(SettingType::kInt, std::move(name), std::move(description));
  }
  static SettingSpec Double(std::string name, std::string description) {
    return Of(SettingType::kDouble, std::move(name), std::move(description));
  }
  static SettingSpec Bool(std::string name, std::string description) {
    return Of(SettingType::kBool, std::move(name), std::move(description));
  }
  static SettingSpec Duration(std::string name, std::string description) {
    return Of(SettingType::kDuration, std::move(name), std::move(description));
  }
  SettingSpec Default(std::string text) && {
    default_value = std::move(text);
    return std::move(*this);
  }
  SettingSpec Min(std::string text) && {
    min = std::move(text);
    return std::move(*this);
  }
  SettingSpec Max(std::string text) && {
    max = std::move(text);
    return std::move(*this);
  }
  SettingSpec OneOf(std::vector<std::string> values) && {
    allowed = std::move(values);
    return std::move(*this);
  }
  SettingSpec Required() && {
    required = true;
    return std::move(*this);
  }
  SettingSpec Secret() && {
    secret = true;
    return std::move(*this);
  }
};

/// A parsed setting value: string, int, double, bool or duration.
using SettingValue =
    std::variant<std::string, std::int64_t, double, bool, std::chrono::nanoseconds>;

/// Where a value came from.
enum class ValueSource { kDefault, kEnvironment, kFlag };

/// Thrown by `LoadConfigOrThrow`: the message names the setting, the bad value and the bound.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The declared settings of one program. Build it once at start-up, then load values with
/// `LoadConfig`. A malformed declaration (bad name, default out of its own bounds, duplicate)
/// is a programming error and throws `std::logic_error` from `Add`.
/// Threads: not synchronised; build it before starting threads. Read-only use is thread-safe.
class ConfigSchema {
 public:
  explicit ConfigSchema(std::string program) : program_(std::move(program)) {}

  /// Declares a setting. Throws std::logic_error on a malformed declaration.
  ConfigSchema& Add(SettingSpec spec);

  /// Declares a pass-through prefix: every flag `--<prefix>.<key>=v` and every environment
  /// variable `SOP_<PREFIX>_<KEY>` is collected into `Config::Passthrough(prefix)` as
  /// `<key> -> v`, undeclared and unvalidated (e.g. librdkafka properties).
  /// Environment keys are recovered by lower-casing, mapping a single `_` to `.` and a double
  /// `__` to a literal `_`: `SOP_KAFKA_SECURITY_PROTOCOL` -> `security.protocol`,
  /// `SOP_KAFKA_SSL_CA_LOCATION` -> `ssl.ca.location`, `SOP_KAFKA_A__B` -> `a_b`.
  ConfigSchema& AddPassthrough(std::string prefix);

  const std::string& program() const noexcept { return program_; }
  const std::vector<SettingSpec>& settings() const noexcept { return settings_; }
  const std::vector<std::string>& passthrough_prefixes() const noexcept { return prefixes_; }
  const SettingSpec* Find(std::string_view name) const noexcept;

  /// The --help text: every setting with its type, environment variable, default, bounds and
  /// description, then the pass-through prefixes.
  std::string HelpText() const;

 private:
  std::string program_;
  std::vector<SettingSpec> settings_;
  std::vector<std::string> prefixes_;
};

/// The environment variable of a setting: "grpc.port" -> "SOP_GRPC_PORT".
std::string EnvVarName(std::string_view setting_name);

/// Parses one textual value as `type` ("1.5s", "true", "42"). Errors name `name` and `text`.
Result<SettingValue> ParseSettingValue(std::string_view name, SettingType type,
                                       std::string_view text);

/// Loaded, validated values. Getters take declared names; asking for an undeclared name or
/// with the wrong type is a programming error and throws std::logic_error.
/// Threads: immutable after loading, safe to read from any thread.
class Config {
 public:
  /// True when --help or -h was given: the caller prints `ConfigSchema::HelpText()` and exits 0.
  /// No validation was done in that case and the getters must not be used.
  bool help_requested() const noexcept { return help_requested_; }

  /// True when the setting has a value (from a flag, the environment or a default).
  bool Has(std::string_view name) const;
  const std::string& GetString(std::string_view name) const;
  std::int64_t GetInt(std::string_view name) const;
  double GetDouble(std::string_view name) const;
  bool GetBool(std::string_view name) const;
  std::chrono::nanoseconds GetDuration(std::string_view name) const;
  ValueSource Source(std::string_view name) const;

  /// The pass-through map for `prefix` (empty when nothing was given).
  const std::map<std::string, std::string>& Passthrough(std::string_view prefix) const;

  /// Every setting that has a value as "name -> text", secrets shown as "[REDACTED]"; for a
  /// start-up log line.
  std::map<std::string, std::string> Dump() const;

 private:
  friend Result<Config> LoadConfig(const ConfigSchema&, std::span<const std::string>,
                                   const std::map<std::string, std::string>&);
  struct Entry {
    SettingValue value;
    ValueSource source;
    bool secret;
  };
  const Entry& Get(std::string_view name, SettingType type) const;

  bool help_requested_ = false;
  std::map<std::string, Entry, std::less<>> values_;
  std::map<std::string, SettingType, std::less<>> declared_;
  std::map<std::string, std::map<std::string, std::string>, std::less<>> passthrough_;
};

/// Loads values for `schema` from `args` (argv without the program name) and `env`.
/// Errors (kInvalidArgument) name the setting, the bad value and the violated bound or rule:
/// unknown flags, unparsable values, values out of bounds, required settings missing.
Result<Config> LoadConfig(const ConfigSchema& schema, std::span<const std::string> args,
                          const std::map<std::string, std::string>& env);

/// The process environment as a map (from `environ`).
std::map<std::string, std::string> ProcessEnvironment();

/// `LoadConfig` from main's argc/argv and the process environment; throws ConfigError.
Config LoadConfigOrThrow(const ConfigSchema& schema, int argc, const char* const* argv);

}  // namespace sop::runtime
