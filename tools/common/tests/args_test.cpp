// The tools' flag parser: values stored, bounds and unknown flags named with the value,
// required options, switches, --help.

#include "sop/cli/args.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sop::cli {
namespace {

using Kind = ParseOutcome::Kind;

struct SimArgs {
  std::string out;
  int series = 1000;
  std::uint64_t seed = 1;
  bool json = false;
  bool pegging = true;
  std::string scale;
};

ArgParser SimParser(SimArgs& args) {
  ArgParser parser("forecast-sim", "usage: forecast-sim --out FILE [--series N] [--seed S]\n");
  parser.String("--out", &args.out)
      .Int("--series", &args.series, 1)
      .Int("--seed", &args.seed, 0)
      .Switch("--json", &args.json)
      .Switch("--no-pegging", &args.pegging, false)
      .Value("--scale",
             [&args](std::string_view text) -> std::optional<std::string> {
               if (text != "S" && text != "L")
                 return "--scale: expected S or L, got '" + std::string(text) + "'";
               args.scale = std::string(text);
               return std::nullopt;
             })
      .Required("--out");
  return parser;
}

ParseOutcome Check(const ArgParser& parser, std::vector<std::string_view> args) {
  return parser.Check(args);
}

TEST(ArgParser, StoresEveryKindOfValue) {
  SimArgs args;
  const ArgParser parser = SimParser(args);
  const auto outcome =
      Check(parser, {"--out", "sim.csv", "--series", "250", "--seed", "18446744073709551615",
                     "--json", "--no-pegging", "--scale", "L"});
  EXPECT_EQ(outcome.kind, Kind::kRun) << outcome.problem;
  EXPECT_EQ(args.out, "sim.csv");
  EXPECT_EQ(args.series, 250);
  EXPECT_EQ(args.seed, 18446744073709551615ULL);
  EXPECT_TRUE(args.json);
  EXPECT_FALSE(args.pegging);
  EXPECT_EQ(args.scale, "L");
}

TEST(ArgParser, DefaultsStayWhenAFlagIsAbsentAndTheLastValueWins) {
  SimArgs args;
  const ArgParser parser = SimParser(args);
  EXPECT_EQ(Check(parser, {"--out", "a", "--out", "b"}).kind, Kind::kRun);
  EXPECT_EQ(args.out, "b");
  EXPECT_EQ(args.series, 1000);
  EXPECT_EQ(args.seed, 1u);
  EXPECT_FALSE(args.json);
  EXPECT_TRUE(args.pegging);
}

TEST(ArgParser, ProblemsNameTheFlagAndTheValue) {
  SimArgs args;
  const ArgParser parser = SimParser(args);
  EXPECT_EQ(Check(parser, {"--out", "a", "--series", "0"}).problem,
            "--series: expected an integer >= 1, got '0'");
  EXPECT_EQ(Check(parser, {"--out", "a", "--series", "12x"}).problem,
            "--series: expected an integer >= 1, got '12x'");
  EXPECT_EQ(Check(parser, {"--out", "a", "--seed", "-1"}).problem,
            "--seed: expected an integer >= 0, got '-1'");
  EXPECT_EQ(Check(parser, {"--out", "a", "--series", "99999999999"}).problem,
            "--series: expected an integer >= 1, got '99999999999'");
  EXPECT_EQ(Check(parser, {"--out", "a", "--scale", "M"}).problem,
            "--scale: expected S or L, got 'M'");
  EXPECT_EQ(Check(parser, {"--out", "a", "--lenght", "5"}).problem, "unknown flag '--lenght'");
  EXPECT_EQ(Check(parser, {"--out"}).problem, "--out: missing value");
  EXPECT_EQ(Check(parser, {"--series", "5"}).problem, "--out is required");
  EXPECT_EQ(Check(parser, {"--series", "5"}).kind, Kind::kProblem);
  EXPECT_EQ(args.series, 5);  // what was parsed before the problem is kept
}

TEST(ArgParser, HelpWinsOverEverythingBeforeIt) {
  SimArgs args;
  const ArgParser parser = SimParser(args);
  EXPECT_EQ(Check(parser, {"--help"}).kind, Kind::kHelp);
  EXPECT_EQ(Check(parser, {"--series", "3", "-h"}).kind, Kind::kHelp);
  EXPECT_EQ(Check(parser, {"--bogus", "--help"}).kind, Kind::kProblem);  // in order
}

TEST(ArgParser, ParsePrintsTheUsageAndReturnsTheExitCode) {
  SimArgs args;
  const ArgParser parser = SimParser(args);
  std::vector<std::string> words = {"forecast-sim", "--series", "x"};
  std::vector<char*> argv;
  for (auto& word : words) argv.push_back(word.data());
  testing::internal::CaptureStderr();
  EXPECT_EQ(parser.Parse(static_cast<int>(argv.size()), argv.data()), kUsageExitCode);
  EXPECT_EQ(testing::internal::GetCapturedStderr(),
            "forecast-sim: --series: expected an integer >= 1, got 'x'\n"
            "usage: forecast-sim --out FILE [--series N] [--seed S]\n");

  words = {"forecast-sim", "--help"};
  argv.clear();
  for (auto& word : words) argv.push_back(word.data());
  testing::internal::CaptureStdout();
  EXPECT_EQ(parser.Parse(static_cast<int>(argv.size()), argv.data()), 0);
  EXPECT_EQ(testing::internal::GetCapturedStdout(),
            "usage: forecast-sim --out FILE [--series N] [--seed S]\n");

  words = {"forecast-sim", "--out", "f.csv"};
  argv.clear();
  for (auto& word : words) argv.push_back(word.data());
  EXPECT_EQ(parser.Parse(static_cast<int>(argv.size()), argv.data()), std::nullopt);
  EXPECT_EQ(args.out, "f.csv");
}

}  // namespace
}  // namespace sop::cli
