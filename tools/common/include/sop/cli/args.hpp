#pragma once
/// The command-line flags of the tools and benchmarks (forecast-eval, forecast-sim,
/// sop-bench-forecast, sop-bench-supply): `--name VALUE` options, `--name` switches, integers
/// with a lower bound, values checked by the tool, required options and --help, in one parse.
///
///   sop::cli::ArgParser parser("forecast-sim", kUsage);
///   parser.String("--out", &args.out).Int("--series", &args.series, 1).Required("--out");
///   if (auto exit_code = parser.Parse(argc, argv)) return *exit_code;
///
/// Parse returns nothing when the tool should run; 0 after --help or -h (the usage on stdout);
/// kUsageExitCode (2) after a problem, with "<program>: <problem>" and the usage on stderr.
/// A problem names the flag and the value: "unknown flag '--x'", "--series: missing value",
/// "--series: expected an integer >= 1, got 'abc'", "--out is required". A flag given twice
/// keeps the last value. Options take their value from the next argument (`--series 10`).

#include <charconv>
#include <concepts>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sop::cli {

/// Exit code of a command-line problem (what the tools have always returned).
inline constexpr int kUsageExitCode = 2;

/// What Check decided.
struct ParseOutcome {
  enum class Kind { kRun, kHelp, kProblem };
  Kind kind = Kind::kRun;
  std::string problem;  ///< kProblem: what is wrong, naming the flag and the value
};

/// Prints "<program>: <problem>" and the usage on stderr and exits with kUsageExitCode: for the
/// problems a tool finds after parsing (an unreadable --data file, a bad line in it).
[[noreturn]] void ExitWithProblem(std::string_view program, std::string_view usage,
                                  std::string_view problem);

class ArgParser {
 public:
  /// Checks one option's value: nothing when it is good (and stored), else the problem.
  using ValueCheck = std::function<std::optional<std::string>(std::string_view value)>;

  /// `usage` is printed as it is (after --help, and after a problem).
  ArgParser(std::string_view program, std::string_view usage);

  /// A switch: present → *out = value (e.g. `Switch("--no-pegging", &pegging, false)`).
  /// `out` may be null: the switch is accepted and changes nothing.
  ArgParser& Switch(std::string flag, bool* out, bool value = true);
  /// An option whose value is taken as it is.
  ArgParser& String(std::string flag, std::string* out);
  /// An integer option, at least `min` (the whole argument must be the number).
  template <std::integral T>
  ArgParser& Int(std::string flag, T* out, long long min) {
    return Value(flag, [flag, out, min](std::string_view text) -> std::optional<std::string> {
      T value{};
      const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec != std::errc() || ptr != text.data() + text.size() || std::cmp_less(value, min)) {
        return flag + ": expected an integer >= " + std::to_string(min) + ", got '" +
               std::string(text) + "'";
      }
      *out = value;
      return std::nullopt;
    });
  }
  /// An option whose value `check` parses and stores (its problem is reported as it is).
  ArgParser& Value(std::string flag, ValueCheck check);
  /// `flag` must be given.
  ArgParser& Required(std::string flag);

  /// Parses argv[1..argc): see the file comment. Prints the usage or the problem.
  std::optional<int> Parse(int argc, char** argv) const;
  /// The same without printing (for tests): the arguments after the program name.
  ParseOutcome Check(std::span<const std::string_view> args) const;

  const std::string& program() const noexcept { return program_; }
  const std::string& usage() const noexcept { return usage_; }

 private:
  struct Flag {
    bool takes_value = false;
    ValueCheck check;     // options
    bool* out = nullptr;  // switches
    bool value = true;
  };

  std::string program_;
  std::string usage_;
  std::map<std::string, Flag, std::less<>> flags_;
  std::vector<std::string> required_;
};

}  // namespace sop::cli
