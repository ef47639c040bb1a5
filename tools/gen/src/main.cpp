// sop-gen: writes a generated manufacturer as JSON lines of sop.v1.Envelope.
#include <charconv>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>

#include "sop/gen/generator.hpp"

namespace {

constexpr std::string_view kUsage = R"(usage: sop-gen --scale S|L --seed N --out FILE.jsonl [options]

Writes a deterministic, realistic multi-site manufacturer as JSON lines, one sop.v1.Envelope per
line (protobuf JSON mapping): master data first, then open transactions, then shipment history.
The same options give byte-identical files (no wall clock is read).

  --scale S|L           S: 3 plants + 2 DCs, 500 finished goods, 1,500 components, 3-level BOMs,
                        24 work centers, 10,000 open order lines, 156 weeks of history.
                        L: 5 sites x 20,000 item-sites, 6-level BOMs, 200 work centers,
                        1,000,000 open order lines. History is OFF by default at L: 156 weeks
                        would be ~15 million Shipment events; ask for it with --history-weeks.
  --seed N              random seed (default 1)
  --out FILE            output file ('-' = stdout)
  --plan-start DATE     start of bucket 0, a Monday, YYYY-MM-DD (default 2026-11-23)
  --history-weeks N     weeks of weekly Shipment history (default: 156 at S, 0 at L; max 520)
  --help                this text
)";

int Usage(const std::string& error) {
  std::cerr << "sop-gen: " << error << "\n\n" << kUsage;
  return 2;
}

template <class T>
bool ParseNumber(std::string_view text, T& value) {
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end;
}

}  // namespace

int main(int argc, char** argv) {
  sop::gen::GeneratorOptions options;
  std::string out_path;
  bool have_scale = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (i + 1 >= argc) return Usage(std::string(arg) + ": missing value");
    const std::string_view value = argv[++i];
    if (arg == "--scale") {
      auto scale = sop::gen::ParseScale(value);
      if (!scale) return Usage(scale.error().message());
      options.scale = *scale;
      have_scale = true;
    } else if (arg == "--seed") {
      if (!ParseNumber(value, options.seed)) return Usage("--seed: not a non-negative integer: " + std::string(value));
    } else if (arg == "--out") {
      out_path = value;
    } else if (arg == "--plan-start") {
      auto date = sop::gen::ParseDate(value, "--plan-start");
      if (!date) return Usage(date.error().message());
      options.plan_start = *date;
    } else if (arg == "--history-weeks") {
      if (!ParseNumber(value, options.history_weeks) || options.history_weeks < 0) {
        return Usage("--history-weeks: not a non-negative integer: " + std::string(value));
      }
    } else {
      return Usage("unknown option " + std::string(arg));
    }
  }
  if (!have_scale) return Usage("--scale is required");
  if (out_path.empty()) return Usage("--out is required");
  if (auto status = sop::gen::Validate(options); !status) return Usage(status.error().message());

  std::ofstream file;
  std::ostream* out = &std::cout;
  if (out_path != "-") {
    file.open(out_path, std::ios::binary | std::ios::trunc);
    if (!file) {
      std::cerr << "sop-gen: cannot open " << out_path << " for writing\n";
      return 1;
    }
    out = &file;
  }
  auto stats = sop::gen::WriteJsonLines(options, *out);
  if (!stats) {
    std::cerr << "sop-gen: " << stats.error().ToString() << "\n";
    return 1;
  }
  std::fprintf(stderr,
               "sop-gen: scale %s seed %llu: %lld envelopes (%lld item-sites, %lld open order lines, "
               "%lld forecasts, %lld shipments)\n",
               std::string(sop::gen::ToString(options.scale)).c_str(),
               static_cast<unsigned long long>(options.seed), static_cast<long long>(stats->envelopes),
               static_cast<long long>(stats->items), static_cast<long long>(stats->OpenOrderLines()),
               static_cast<long long>(stats->forecasts), static_cast<long long>(stats->shipments));
  return 0;
}
