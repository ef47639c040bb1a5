// The generated manufacturer through the real conversion and planner: work centers are sized so
// that the plan's rough-cut load is realistic (most at 60–90 %, a few bottlenecks), and the
// plan does not open with every work center overloaded in week 0 (running work orders report
// their progress). Seed 1 at S, as the demo and sop-bench-supply --scale S use.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "sop/codec/assembler.hpp"
#include "sop/gen/generator.hpp"
#include "sop/planning/netting.hpp"
#include "sop/planning/rough_cut.hpp"
#include "sop/v1/events.pb.h"

namespace sop::gen {
namespace {

struct Load {
  std::vector<double> horizon_utilization;  // per work center: Σ load / Σ capacity
  int overloaded_bucket0 = 0;
  int overloaded_early = 0;  // overloaded in at least 2 of buckets 1..4
};

Load LoadOfScaleS(std::uint64_t seed) {
  GeneratorOptions options;
  options.scale = Scale::kS;
  options.seed = seed;
  options.history_weeks = 0;
  codec::SnapshotAssembler assembler;
  auto stats = Generate(options, [&](const v1::Envelope& e) { assembler.Apply(e); });
  EXPECT_TRUE(stats.has_value());
  auto assembled = assembler.BuildAndRelease();
  EXPECT_TRUE(assembled.has_value());
  if (!assembled) return {};
  planning::NettingEngine engine(std::move(assembled->snapshot), {.pegging = false});
  engine.RunFull();
  const auto capacity = planning::RoughCut(engine.snapshot(), engine.plan());
  Load out;
  for (std::size_t w = 0; w < capacity.work_center_count; ++w) {
    const model::WorkCenterIndex wc(static_cast<std::int32_t>(w));
    const auto load = capacity.Row(capacity.load_hours, wc);
    const auto cap = capacity.Row(capacity.capacity_hours, wc);
    double load_sum = 0.0, cap_sum = 0.0;
    for (std::size_t t = 0; t < load.size(); ++t) {
      load_sum += load[t];
      cap_sum += cap[t];
    }
    out.horizon_utilization.push_back(load_sum / cap_sum);
    out.overloaded_bucket0 += load[0] > cap[0] ? 1 : 0;
    int early = 0;
    for (std::size_t t = 1; t < 5; ++t) early += load[t] > cap[t] ? 1 : 0;
    out.overloaded_early += early >= 2 ? 1 : 0;
  }
  return out;
}

TEST(GenCapacity, WorkCentersRunAt60To110PercentWithAFewBottlenecks) {
  Load load = LoadOfScaleS(1);
  ASSERT_EQ(load.horizon_utilization.size(), 24u);
  std::sort(load.horizon_utilization.begin(), load.horizon_utilization.end());
  // Lowest and highest horizon utilization: 60 % and 110 % with a few points of lot-size slack.
  EXPECT_GE(load.horizon_utilization.front(), 0.55);
  EXPECT_LE(load.horizon_utilization.back(), 1.15);
  // Bottlenecks: every seventh work center is sized at 95–108 % (3 of 24 at S).
  const auto bottlenecks =
      std::count_if(load.horizon_utilization.begin(), load.horizon_utilization.end(),
                    [](double u) { return u >= 0.95; });
  EXPECT_GE(bottlenecks, 2);
  EXPECT_LE(bottlenecks, 6);
  // The median work center has headroom.
  EXPECT_LT(load.horizon_utilization[12], 0.9);
}

TEST(GenCapacity, WeekZeroIsNotAWallOfOverloads) {
  const Load load = LoadOfScaleS(1);
  ASSERT_EQ(load.horizon_utilization.size(), 24u);
  // Week 0 carries the running orders' remaining work and the US plant's Thanksgiving week;
  // before running work orders reported their progress, all 24 were overloaded.
  EXPECT_LE(load.overloaded_bucket0, 12);
  EXPECT_LE(load.overloaded_early, 4);
}

}  // namespace
}  // namespace sop::gen
