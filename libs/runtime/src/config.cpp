#include "sop/runtime/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <set>
#include <sstream>

extern char** environ;  // POSIX; not declared by any standard C++ header.

namespace sop::runtime {
namespace {

constexpr std::string_view kRedacted = "[REDACTED]";
constexpr std::string_view kEnvPrefix = "SOP_";

std::string Lower(std::string_view text) {
  std::string out(text);
  std::ranges::transform(out, out.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool IsValidName(std::string_view name) {
  if (name.empty() || name.front() == '.' || name.back() == '.') return false;
  char previous = '.';
  for (char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
    if (!ok || (c == '.' && previous == '.')) return false;
    previous = c;
  }
  return true;
}

Result<std::int64_t> ParseInt(std::string_view name, std::string_view text) {
  std::int64_t value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) {
    return InvalidField(name, "not an integer", text);
  }
  return value;
}

Result<double> ParseDouble(std::string_view name, std::string_view text) {
  double value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(value)) {
    return InvalidField(name, "not a finite number", text);
  }
  return value;
}

Result<bool> ParseBool(std::string_view name, std::string_view text) {
  const std::string lower = Lower(text);
  if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "0" || lower == "no" || lower == "off") return false;
  return InvalidField(name, "not a bool (true/false/1/0/yes/no/on/off)", text);
}

// "1.5s", "250ms", "10us", "5m", "1h", "0". One number, one unit: compound forms such as
// "1m30s" are rare in service config and ambiguous to read back, so they are rejected.
Result<std::chrono::nanoseconds> ParseDuration(std::string_view name, std::string_view text) {
  std::size_t unit_pos = 0;
  while (unit_pos < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[unit_pos])) || text[unit_pos] == '.')) {
    ++unit_pos;
  }
  const std::string_view number = text.substr(0, unit_pos);
  const std::string_view unit = text.substr(unit_pos);
  double amount = 0;
  const auto* end = number.data() + number.size();
  auto [ptr, ec] = std::from_chars(number.data(), end, amount);
  if (number.empty() || ec != std::errc() || ptr != end) {
    return InvalidField(name, "not a duration (e.g. 500ms, 1.5s, 2m)", text);
  }
  double ns_per_unit = 0;
  if (unit == "ns") {
    ns_per_unit = 1;
  } else if (unit == "us") {
    ns_per_unit = 1e3;
  } else if (unit == "ms") {
    ns_per_unit = 1e6;
  } else if (unit == "s") {
    ns_per_unit = 1e9;
  } else if (unit == "m") {
    ns_per_unit = 60e9;
  } else if (unit == "h") {
    ns_per_unit = 3600e9;
  } else if (unit.empty() && amount == 0) {
    ns_per_unit = 1;
  } else {
    return InvalidField(name, "duration needs a unit ns/us/ms/s/m/h", text);
  }
  const double total = amount * ns_per_unit;
  if (total > 9.2e18) return InvalidField(name, "duration too large", text);
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(total)));
}

// Orders two values of the same numeric type; strings and bools are not ordered.
int Compare(const SettingValue& a, const SettingValue& b) {
  auto cmp = [](auto x, auto y) { return x < y ? -1 : (y < x ? 1 : 0); };
  if (const auto* x = std::get_if<std::int64_t>(&a)) return cmp(*x, std::get<std::int64_t>(b));
  if (const auto* x = std::get_if<double>(&a)) return cmp(*x, std::get<double>(b));
  if (const auto* x = std::get_if<std::chrono::nanoseconds>(&a)) {
    return cmp(*x, std::get<std::chrono::nanoseconds>(b));
  }
  return 0;
}

std::string Shown(const SettingSpec& spec, std::string_view text) {
  return spec.secret ? std::string(kRedacted) : std::string(text);
}

// Parses `text` for `spec` and checks its bounds and allowed values.
Result<SettingValue> ParseAndCheck(const SettingSpec& spec, std::string_view text,
                                   std::string_view origin) {
  auto parsed = ParseSettingValue(spec.name, spec.type, text);
  if (!parsed) {
    if (spec.secret) {
      return InvalidField(
          spec.name,
          "unparsable " + std::string(ToString(spec.type)) + " (from " + std::string(origin) + ")",
          kRedacted);
    }
    return std::unexpected(Error(Errc::kInvalidArgument,
                                 parsed.error().message() + " (from " + std::string(origin) + ")"));
  }
  const std::string shown = Shown(spec, text);
  if (spec.min) {
    auto bound = ParseSettingValue(spec.name, spec.type, *spec.min);
    if (bound && Compare(*parsed, *bound) < 0) {
      return InvalidField(spec.name,
                          "must be >= " + *spec.min + " (from " + std::string(origin) + ")", shown);
    }
  }
  if (spec.max) {
    auto bound = ParseSettingValue(spec.name, spec.type, *spec.max);
    if (bound && Compare(*parsed, *bound) > 0) {
      return InvalidField(spec.name,
                          "must be <= " + *spec.max + " (from " + std::string(origin) + ")", shown);
    }
  }
  if (!spec.allowed.empty() &&
      std::ranges::find(spec.allowed, std::string(text)) == spec.allowed.end()) {
    std::string list;
    for (const auto& allowed : spec.allowed) list += (list.empty() ? "" : "|") + allowed;
    return InvalidField(spec.name, "must be one of " + list + " (from " + std::string(origin) + ")",
                        shown);
  }
  return parsed;
}

// SOP_KAFKA_SSL_CA_LOCATION -> ssl.ca.location; "__" keeps a literal underscore.
std::string EnvKeyToDotted(std::string_view rest) {
  std::string out;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == '_' && i + 1 < rest.size() && rest[i + 1] == '_') {
      out.push_back('_');
      ++i;
    } else if (rest[i] == '_') {
      out.push_back('.');
    } else {
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(rest[i]))));
    }
  }
  return out;
}

// The largest unit that represents the duration exactly: 20s, 250ms, 1500us.
std::string FormatDuration(std::chrono::nanoseconds value) {
  static constexpr std::pair<std::int64_t, const char*> kUnits[] = {{3'600'000'000'000, "h"},
                                                                    {60'000'000'000, "m"},
                                                                    {1'000'000'000, "s"},
                                                                    {1'000'000, "ms"},
                                                                    {1'000, "us"}};
  const std::int64_t ns = value.count();
  if (ns == 0) return "0s";
  for (const auto& [size, unit] : kUnits) {
    if (ns % size == 0) return std::to_string(ns / size) + unit;
  }
  return std::to_string(ns) + "ns";
}

}  // namespace

std::string_view ToString(SettingType type) noexcept {
  switch (type) {
    case SettingType::kString:
      return "string";
    case SettingType::kInt:
      return "int";
    case SettingType::kDouble:
      return "double";
    case SettingType::kBool:
      return "bool";
    case SettingType::kDuration:
      return "duration";
  }
  return "unknown";
}

std::string EnvVarName(std::string_view setting_name) {
  std::string out(kEnvPrefix);
  for (char c : setting_name) {
    out.push_back(c == '.' || c == '-'
                      ? '_'
                      : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

Result<SettingValue> ParseSettingValue(std::string_view name, SettingType type,
                                       std::string_view text) {
  // GCC 12's std::expected has no transform(); widen by hand.
  auto widen = [](auto parsed) -> Result<SettingValue> {
    if (!parsed) return std::unexpected(parsed.error());
    return SettingValue(*parsed);
  };
  switch (type) {
    case SettingType::kString:
      return SettingValue(std::string(text));
    case SettingType::kInt:
      return widen(ParseInt(name, text));
    case SettingType::kDouble:
      return widen(ParseDouble(name, text));
    case SettingType::kBool:
      return widen(ParseBool(name, text));
    case SettingType::kDuration:
      return widen(ParseDuration(name, text));
  }
  return Fail(Errc::kInternal, std::string(name) + ": unknown setting type");
}

ConfigSchema& ConfigSchema::Add(SettingSpec spec) {
  auto fail = [&](std::string_view why) {
    throw std::logic_error("config schema: setting '" + spec.name + "': " + std::string(why));
  };
  if (!IsValidName(spec.name)) fail("name must be lower-case dotted [a-z0-9._-]");
  if (Find(spec.name) != nullptr) fail("declared twice");
  const std::string env = EnvVarName(spec.name);
  for (const auto& other : settings_) {
    if (EnvVarName(other.name) == env) fail("same environment variable as '" + other.name + "'");
  }
  for (const auto& prefix : prefixes_) {
    if (spec.name.starts_with(prefix + ".")) fail("lies under pass-through prefix " + prefix);
  }
  if (spec.required && spec.default_value) fail("a required setting cannot have a default");
  if (!spec.allowed.empty() && spec.type != SettingType::kString) {
    fail("allowed values are for string settings");
  }
  if ((spec.min || spec.max) &&
      (spec.type == SettingType::kString || spec.type == SettingType::kBool)) {
    fail("min/max are for int, double and duration settings");
  }
  for (const auto* bound : {&spec.min, &spec.max}) {
    if (*bound && !ParseSettingValue(spec.name, spec.type, **bound)) fail("unparsable bound");
  }
  if (spec.default_value) {
    auto checked = ParseAndCheck(spec, *spec.default_value, "default");
    if (!checked) fail("bad default: " + checked.error().message());
  }
  settings_.push_back(std::move(spec));
  return *this;
}

ConfigSchema& ConfigSchema::AddPassthrough(std::string prefix) {
  if (!IsValidName(prefix) || prefix.find('.') != std::string::npos) {
    throw std::logic_error("config schema: pass-through prefix '" + prefix +
                           "' must be one lower-case word");
  }
  for (const auto& spec : settings_) {
    if (spec.name.starts_with(prefix + ".")) {
      throw std::logic_error("config schema: pass-through prefix '" + prefix +
                             "' covers declared setting " + spec.name);
    }
  }
  prefixes_.push_back(std::move(prefix));
  return *this;
}

const SettingSpec* ConfigSchema::Find(std::string_view name) const noexcept {
  for (const auto& spec : settings_) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

std::string ConfigSchema::HelpText() const {
  std::ostringstream out;
  out << "Usage: " << program_ << " [--setting=value | --setting value]...\n"
      << "Every setting can also be given as an environment variable (shown in brackets).\n"
      << "Precedence: flag > environment > default.\n\n";
  for (const auto& spec : settings_) {
    out << "  --" << spec.name << "=<" << ToString(spec.type) << ">  [" << EnvVarName(spec.name)
        << "]\n      " << spec.description << "\n      ";
    if (spec.required) {
      out << "required";
    } else if (spec.default_value) {
      out << "default: " << (spec.secret ? std::string(kRedacted) : *spec.default_value);
    } else {
      out << "optional, no default";
    }
    if (spec.min) out << "; min " << *spec.min;
    if (spec.max) out << "; max " << *spec.max;
    if (!spec.allowed.empty()) {
      out << "; one of";
      for (const auto& allowed : spec.allowed) out << ' ' << allowed;
    }
    if (spec.secret) out << "; secret";
    out << '\n';
  }
  for (const auto& prefix : prefixes_) {
    std::string upper = EnvVarName(prefix);
    out << "  --" << prefix << ".<key>=<value>  [" << upper << "_<KEY>]\n"
        << "      passed through undeclared as <key>=<value>; in variable names '_' stands for '.'"
           " and '__' for '_'\n";
  }
  out << "  --help, -h\n      print this text and exit\n";
  return out.str();
}

bool Config::Has(std::string_view name) const {
  if (!declared_.contains(name)) {
    throw std::logic_error("config: undeclared setting " + std::string(name));
  }
  return values_.contains(name);
}

const Config::Entry& Config::Get(std::string_view name, SettingType type) const {
  auto declared = declared_.find(name);
  if (declared == declared_.end()) {
    throw std::logic_error("config: undeclared setting " + std::string(name));
  }
  if (declared->second != type) {
    throw std::logic_error("config: setting " + std::string(name) + " is a " +
                           std::string(ToString(declared->second)) + ", read as " +
                           std::string(ToString(type)));
  }
  auto found = values_.find(name);
  if (found == values_.end()) {
    throw std::logic_error("config: setting " + std::string(name) + " has no value (check Has)");
  }
  return found->second;
}

const std::string& Config::GetString(std::string_view name) const {
  return std::get<std::string>(Get(name, SettingType::kString).value);
}
std::int64_t Config::GetInt(std::string_view name) const {
  return std::get<std::int64_t>(Get(name, SettingType::kInt).value);
}
double Config::GetDouble(std::string_view name) const {
  return std::get<double>(Get(name, SettingType::kDouble).value);
}
bool Config::GetBool(std::string_view name) const {
  return std::get<bool>(Get(name, SettingType::kBool).value);
}
std::chrono::nanoseconds Config::GetDuration(std::string_view name) const {
  return std::get<std::chrono::nanoseconds>(Get(name, SettingType::kDuration).value);
}

ValueSource Config::Source(std::string_view name) const {
  auto found = values_.find(name);
  if (found == values_.end()) {
    throw std::logic_error("config: setting " + std::string(name) + " has no value");
  }
  return found->second.source;
}

const std::map<std::string, std::string>& Config::Passthrough(std::string_view prefix) const {
  static const std::map<std::string, std::string> kEmpty;
  auto found = passthrough_.find(prefix);
  return found == passthrough_.end() ? kEmpty : found->second;
}

std::map<std::string, std::string> Config::Dump() const {
  std::map<std::string, std::string> out;
  for (const auto& [name, entry] : values_) {
    if (entry.secret) {
      out[name] = std::string(kRedacted);
      continue;
    }
    out[name] = std::visit(
        [](const auto& v) -> std::string {
          using V = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<V, std::string>) {
            return v;
          } else if constexpr (std::is_same_v<V, bool>) {
            return v ? "true" : "false";
          } else if constexpr (std::is_same_v<V, std::chrono::nanoseconds>) {
            return FormatDuration(v);
          } else {
            return std::to_string(v);
          }
        },
        entry.value);
  }
  return out;
}

Result<Config> LoadConfig(const ConfigSchema& schema, std::span<const std::string> args,
                          const std::map<std::string, std::string>& env) {
  Config config;
  for (const auto& spec : schema.settings()) config.declared_.emplace(spec.name, spec.type);

  // Flags first, so that --help wins even over a bad value; the last occurrence of a flag wins.
  std::map<std::string, std::string, std::less<>> flags;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      config.help_requested_ = true;
      return config;
    }
    if (!arg.starts_with("--") || arg.size() == 2) {
      return InvalidField("command line", "expected --setting=value", arg);
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    const SettingSpec* spec = schema.Find(name);
    bool passthrough = false;
    for (const auto& prefix : schema.passthrough_prefixes()) {
      if (name.starts_with(prefix + ".") && name.size() > prefix.size() + 1) passthrough = true;
    }
    if (spec == nullptr && !passthrough) {
      return InvalidField(name, "unknown setting (see --help)", arg);
    }
    if (!value) {
      const bool is_bool = spec != nullptr && spec->type == SettingType::kBool;
      const bool next_is_value = i + 1 < args.size() && !args[i + 1].starts_with("--");
      if (is_bool && (!next_is_value || !ParseBool(name, args[i + 1]))) {
        value = "true";  // a bare boolean flag switches it on
      } else if (next_is_value) {
        value = args[++i];
      } else {
        return InvalidField(name, "flag needs a value", arg);
      }
    }
    flags[name] = *value;
  }

  for (const auto& prefix : schema.passthrough_prefixes()) {
    auto& collected = config.passthrough_[prefix];
    const std::string env_prefix = EnvVarName(prefix) + "_";
    for (const auto& [key, value] : env) {
      if (key.starts_with(env_prefix) && key.size() > env_prefix.size()) {
        collected[EnvKeyToDotted(std::string_view(key).substr(env_prefix.size()))] = value;
      }
    }
    for (const auto& [name, value] : flags) {
      if (name.starts_with(prefix + ".")) collected[name.substr(prefix.size() + 1)] = value;
    }
  }

  for (const auto& spec : schema.settings()) {
    std::optional<std::string> text;
    ValueSource source = ValueSource::kDefault;
    std::string origin = "default";
    if (auto flag = flags.find(spec.name); flag != flags.end()) {
      text = flag->second;
      source = ValueSource::kFlag;
      origin = "flag --" + spec.name;
    } else if (auto var = env.find(EnvVarName(spec.name)); var != env.end()) {
      text = var->second;
      source = ValueSource::kEnvironment;
      origin = "environment " + EnvVarName(spec.name);
    } else if (spec.default_value) {
      text = spec.default_value;
    }
    if (!text) {
      if (spec.required) {
        return Fail(Errc::kInvalidArgument, spec.name + ": required setting missing (set --" +
                                                spec.name + " or " + EnvVarName(spec.name) + ")");
      }
      continue;
    }
    auto value = ParseAndCheck(spec, *text, origin);
    if (!value) return std::unexpected(value.error());
    config.values_.emplace(spec.name, Config::Entry{std::move(*value), source, spec.secret});
  }
  return config;
}

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    if (auto eq = text.find('='); eq != std::string_view::npos) {
      env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
    }
  }
  return env;
}

Config LoadConfigOrThrow(const ConfigSchema& schema, int argc, const char* const* argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  auto config = LoadConfig(schema, args, ProcessEnvironment());
  if (!config) throw ConfigError(schema.program() + ": " + config.error().message());
  return std::move(*config);
}

}  // namespace sop::runtime
