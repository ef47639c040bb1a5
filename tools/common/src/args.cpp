#include "sop/cli/args.hpp"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <utility>

namespace sop::cli {

namespace {

void PrintProblem(std::string_view program, std::string_view usage, std::string_view problem) {
  std::cerr << program << ": " << problem << "\n" << usage;
}

}  // namespace

void ExitWithProblem(std::string_view program, std::string_view usage, std::string_view problem) {
  PrintProblem(program, usage, problem);
  std::exit(kUsageExitCode);
}

ArgParser::ArgParser(std::string_view program, std::string_view usage)
    : program_(program), usage_(usage) {}

ArgParser& ArgParser::Switch(std::string flag, bool* out, bool value) {
  flags_[std::move(flag)] = Flag{.takes_value = false, .check = {}, .out = out, .value = value};
  return *this;
}

ArgParser& ArgParser::String(std::string flag, std::string* out) {
  return Value(std::move(flag), [out](std::string_view text) -> std::optional<std::string> {
    *out = std::string(text);
    return std::nullopt;
  });
}

ArgParser& ArgParser::Value(std::string flag, ValueCheck check) {
  flags_[std::move(flag)] = Flag{.takes_value = true, .check = std::move(check)};
  return *this;
}

ArgParser& ArgParser::Required(std::string flag) {
  required_.push_back(std::move(flag));
  return *this;
}

ParseOutcome ArgParser::Check(std::span<const std::string_view> args) const {
  using Kind = ParseOutcome::Kind;
  std::vector<std::string_view> seen;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") return {Kind::kHelp, {}};
    const auto found = flags_.find(arg);
    if (found == flags_.end()) return {Kind::kProblem, "unknown flag '" + std::string(arg) + "'"};
    const Flag& flag = found->second;
    seen.push_back(found->first);
    if (!flag.takes_value) {
      if (flag.out != nullptr) *flag.out = flag.value;
      continue;
    }
    if (i + 1 >= args.size()) return {Kind::kProblem, std::string(arg) + ": missing value"};
    if (auto problem = flag.check(args[++i])) return {Kind::kProblem, std::move(*problem)};
  }
  for (const std::string& flag : required_) {
    if (std::find(seen.begin(), seen.end(), flag) == seen.end()) {
      return {Kind::kProblem, flag + " is required"};
    }
  }
  return {Kind::kRun, {}};
}

std::optional<int> ArgParser::Parse(int argc, char** argv) const {
  std::vector<std::string_view> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  const ParseOutcome outcome = Check(args);
  switch (outcome.kind) {
    case ParseOutcome::Kind::kRun:
      return std::nullopt;
    case ParseOutcome::Kind::kHelp:
      std::cout << usage_;
      return 0;
    case ParseOutcome::Kind::kProblem:
      break;
  }
  PrintProblem(program_, usage_, outcome.problem);
  return kUsageExitCode;
}

}  // namespace sop::cli
