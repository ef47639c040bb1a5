// sop-plan: plans an events file offline (forecast consumption, full netting, pegging,
// rough-cut capacity) and prints the complete result as JSON (--json) or a summary.
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>

#include "sop/plan_tool/plan_run.hpp"

namespace {

constexpr std::string_view kUsage = R"(usage: sop-plan --events FILE.jsonl [--json] [options]

Reads JSON lines of sop.v1.Envelope (as written by sop-gen), builds the planning snapshot, runs
forecast consumption, full regenerative MRP netting with pegging and rough-cut capacity, and
prints the result.

  --events FILE     the events (required)
  --json            print the complete result as one JSON object (default: a short summary)
  --out FILE        write the output to FILE instead of stdout
  --no-pegging      skip pegging (faster; planned orders carry no pegging)
  --end-demands     also list, per planned order, the end demands it serves (slower)
  --help            this text

Exit status: 0 planned, 1 input or I/O error (the message names the line or field), 2 usage.
)";

int Usage(const std::string& error) {
  std::cerr << "sop-plan: " << error << "\n\n" << kUsage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string events, out_path;
  bool json = false;
  sop::plan_tool::PlanOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (arg == "--json") {
      json = true;
    } else if (arg == "--no-pegging") {
      options.pegging = false;
    } else if (arg == "--end-demands") {
      options.end_demands = true;
    } else if (arg == "--events" || arg == "--out") {
      if (i + 1 >= argc) return Usage(std::string(arg) + ": missing value");
      (arg == "--events" ? events : out_path) = argv[++i];
    } else {
      return Usage("unknown option " + std::string(arg));
    }
  }
  if (events.empty()) return Usage("--events is required");

  auto run = sop::plan_tool::RunPlanFile(events, options);
  if (!run) {
    std::cerr << "sop-plan: " << run.error().ToString() << "\n";
    return 1;
  }
  std::ofstream file;
  std::ostream* out = &std::cout;
  if (!out_path.empty()) {
    file.open(out_path, std::ios::binary | std::ios::trunc);
    if (!file) {
      std::cerr << "sop-plan: cannot open " << out_path << " for writing\n";
      return 1;
    }
    out = &file;
  }
  const bool written = json ? sop::plan_tool::WritePlanJson(*run, *out, options)
                            : static_cast<bool>(*out << sop::plan_tool::PlanSummary(*run) << std::flush);
  if (!written) {
    std::cerr << "sop-plan: cannot write " << (out_path.empty() ? std::string("stdout") : out_path) << "\n";
    return 1;
  }
  return 0;
}
