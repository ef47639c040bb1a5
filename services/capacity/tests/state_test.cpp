// CapacityState (the host::PartitionedState adapter) and the sop.v1.Capacity implementation,
// hermetic: facts applied directly as consumed messages, no broker, no Redis.

#include "sop/capacity/state.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <mutex>

#include "capacity_test_support.hpp"
#include "sop/bus/topics.hpp"
#include "sop/capacity/api.hpp"
#include "sop/planning/rough_cut.hpp"

namespace sop::capacity {
namespace {

using testing::FactBytes;
using testing::TinyPlant;

bus::Message FactMessage(const sop::v1::Envelope& envelope, std::int32_t partition,
                         std::int64_t offset) {
  bus::Message m;
  m.topic = std::string(bus::kFactsTopic);
  m.partition = partition;
  m.offset = offset;
  m.key = envelope.site();
  m.value = FactBytes(envelope, offset);
  return m;
}

// Site → one of three partitions, as a keyed topic spreads them.
std::int32_t PartitionOf(const sop::v1::Envelope& envelope) {
  return static_cast<std::int32_t>(std::hash<std::string>{}(envelope.site()) % 3);
}

void ApplyAll(CapacityState& state, const std::vector<sop::v1::Envelope>& events) {
  std::map<std::int32_t, std::int64_t> offsets;
  for (const auto& e : events) {
    const auto p = PartitionOf(e);
    auto applied = state.Apply(FactMessage(e, p, offsets[p]++));
    ASSERT_TRUE(applied.has_value()) << applied.error().ToString();
  }
}

// Every work center's rows of `state` equal RoughCut over the reference engine, matched by id.
void ExpectLoadsEqualLibrary(const CapacityState& state, const planning::NettingEngine& reference) {
  const auto& s = reference.snapshot();
  const auto capacity = planning::RoughCut(s, reference.plan());
  std::size_t compared = 0;
  for (const auto& site : s.sites) {
    sop::v1::GetLoadRequest request;
    request.set_site_id(site.id);
    auto response = state.GetLoad(request);
    ASSERT_TRUE(response.has_value()) << response.error().ToString();
    for (const auto& wc : response->work_centers()) {
      const auto index = s.work_center_ids.Find(wc.work_center_id());
      ASSERT_TRUE(index.has_value()) << wc.work_center_id();
      const model::WorkCenterIndex w(*index);
      const auto load = capacity.Row(capacity.load_hours, w);
      const auto available = capacity.Row(capacity.capacity_hours, w);
      ASSERT_EQ(wc.load_hours_size(), static_cast<int>(load.size()));
      for (std::size_t t = 0; t < load.size(); ++t) {
        EXPECT_NEAR(wc.load_hours(static_cast<int>(t)), load[t], 1e-6 * std::max(1.0, load[t]))
            << wc.work_center_id() << " bucket " << t;
        EXPECT_EQ(wc.capacity_hours(static_cast<int>(t)), available[t]);
      }
      EXPECT_EQ(wc.first_overloaded_bucket(),
                capacity.first_overloaded_bucket[static_cast<std::size_t>(*index)]);
      ++compared;
    }
  }
  EXPECT_EQ(compared, s.work_centers.size());
}

TEST(CapacityState, TinyPlantFactsPublishTheHandWorkedLoadsThenOnlyWhatChanged) {
  CapacityState state;
  ApplyAll(state, TinyPlant());
  EXPECT_TRUE(state.BatchPending());
  auto first = state.EndBatchDeltas();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].site_id(), "P1");
  EXPECT_TRUE(first[0].full());
  ASSERT_EQ(first[0].work_centers_size(), 2);
  const auto& assy = first[0].work_centers(0);
  EXPECT_EQ(assy.work_center_id(), "WC-ASSY");
  EXPECT_DOUBLE_EQ(assy.load_hours(1), 52.0);
  EXPECT_DOUBLE_EQ(assy.overload_hours(1), 12.0);
  EXPECT_DOUBLE_EQ(assy.load_hours(3), 12.0);
  EXPECT_FALSE(state.BatchPending());
  EXPECT_TRUE(state.EndBatchDeltas().empty());

  // SO-2 grows from 116 to 120 units of B (a new event): net change, one delta, one cell.
  auto bigger = testing::SalesOrder("SO-2", "B", 120.0, 2, 80.0);
  ASSERT_EQ(state.Apply(FactMessage(bigger, PartitionOf(bigger), 100)), Result<bool>(true));
  auto change = state.EndBatchDeltas();
  ASSERT_EQ(change.size(), 1u);
  EXPECT_FALSE(change[0].full());
  EXPECT_EQ(change[0].cause().event_id(), bigger.event_id());
  ASSERT_EQ(change[0].work_centers_size(), 1);
  EXPECT_EQ(change[0].work_centers(0).work_center_id(), "WC-ASSY");
  ASSERT_EQ(change[0].work_centers(0).changed_buckets_size(), 1);
  EXPECT_EQ(change[0].work_centers(0).changed_buckets(0), 1);
  EXPECT_DOUBLE_EQ(change[0].work_centers(0).load_hours(1), 53.0);

  // The same event delivered again changes nothing.
  ASSERT_EQ(state.Apply(FactMessage(bigger, PartitionOf(bigger), 101)), Result<bool>(false));
  EXPECT_TRUE(state.EndBatchDeltas().empty());
  EXPECT_EQ(state.stats().duplicates, 1);

  // Encoded for Kafka: topic sop.capacity.v1, key = site.
  auto again = testing::SalesOrder("SO-2", "B", 116.0, 2, 80.0);
  again.set_event_id("so-2-back");
  ASSERT_TRUE(state.Apply(FactMessage(again, PartitionOf(again), 102)).has_value());
  auto messages = state.EndBatch();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].topic, "sop.capacity.v1");
  EXPECT_EQ(messages[0].key, std::optional<std::string>("P1"));
  sop::v1::CapacityDelta decoded;
  ASSERT_TRUE(decoded.ParseFromString(messages[0].value));
  EXPECT_DOUBLE_EQ(decoded.work_centers(0).load_hours(1), 52.0);
}

TEST(CapacityState, ConsensusForecastLoadsTheWorkCentersOfItsPlannedOrder) {
  CapacityState state;
  ApplyAll(state, TinyPlant());
  state.EndBatchDeltas();
  // Consensus 10 units of A in bucket 5: a planned order released in bucket 4 loads WC-ASSY
  // with 2 + 0.5 × 10 = 7 h and WC-PACK with 0.1 × 10 = 1 h there.
  sop::v1::ForecastUpdate update;
  update.set_item_id("A");
  update.set_site_id("P1");
  update.set_family("F1");
  auto* period = update.add_periods();
  period->set_bucket(5);
  period->mutable_period_start()->set_seconds(testing::kPlanStart + 5 * testing::kWeek);
  period->set_statistical(10.0);
  period->set_consensus(10.0);
  update.mutable_cause()->set_event_id("forecast:A:1");
  bus::Message message;
  message.topic = std::string(bus::kForecastTopic);
  message.key = "P1";
  message.value = update.SerializeAsString();
  ASSERT_EQ(state.Apply(message), Result<bool>(true));
  auto deltas = state.EndBatchDeltas();
  ASSERT_EQ(deltas.size(), 1u);
  EXPECT_EQ(deltas[0].cause().event_id(), "forecast:A:1");
  ASSERT_EQ(deltas[0].work_centers_size(), 2);
  for (const auto& wc : deltas[0].work_centers()) {
    ASSERT_EQ(wc.changed_buckets_size(), 1) << wc.work_center_id();
    EXPECT_EQ(wc.changed_buckets(0), 4);
    EXPECT_DOUBLE_EQ(wc.load_hours(4), wc.work_center_id() == "WC-ASSY" ? 7.0 : 1.0);
  }
}

TEST(CapacityState, BadMessagesAreInvalidArgumentsNamingTheField) {
  CapacityState state;
  bus::Message garbage;
  garbage.topic = std::string(bus::kFactsTopic);
  garbage.value = "\xff\xff\xff";
  auto fact = state.Apply(garbage);
  ASSERT_FALSE(fact.has_value());
  EXPECT_EQ(fact.error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(fact.error().message().rfind("fact:", 0), 0u) << fact.error().message();

  garbage.topic = std::string(bus::kForecastTopic);
  auto forecast = state.Apply(garbage);
  ASSERT_FALSE(forecast.has_value());
  EXPECT_EQ(forecast.error().code(), Errc::kInvalidArgument);

  garbage.topic = "sop.plan.v1";
  auto other = state.Apply(garbage);
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().message(),
            "topic: not consumed by the capacity service, got 'sop.plan.v1'");

  sop::v1::GetLoadRequest request;
  request.set_site_id("P1");
  auto none = state.GetLoad(request);
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code(), Errc::kFailedPrecondition);
}

class CapacityStateS : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { reference_ = testing::Direct(testing::SEvents()).release(); }
  static void TearDownTestSuite() {
    delete reference_;
    reference_ = nullptr;
  }
  static planning::NettingEngine* reference_;
};
planning::NettingEngine* CapacityStateS::reference_ = nullptr;

TEST_F(CapacityStateS, GeneratedFactsGiveTheLibrarysRoughCutAndRestoreFromSnapshots) {
  CapacityState state;
  ApplyAll(state, testing::SEvents());
  auto deltas = state.EndBatchDeltas();
  ExpectLoadsEqualLibrary(state, *reference_);

  // The first publication holds every work center of every site once, in full.
  std::map<std::string, int> published;
  for (const auto& delta : deltas) {
    EXPECT_TRUE(delta.full());
    for (const auto& wc : delta.work_centers()) {
      ++published[wc.work_center_id()];
      EXPECT_EQ(wc.site_id(), delta.site_id());
    }
  }
  EXPECT_EQ(published.size(), reference_->snapshot().work_centers.size());
  for (const auto& [id, count] : published) EXPECT_EQ(count, 1) << id;

  // Partition snapshots restore the same picture in a new replica.
  CapacityState restored;
  for (std::int32_t p = 0; p < 3; ++p) {
    const host::PartitionKey key{std::string(bus::kFactsTopic), p};
    ASSERT_TRUE(restored.Restore(key, state.Serialize(key)).has_value());
  }
  auto after = restored.EndBatchDeltas();
  EXPECT_FALSE(after.empty());
  ExpectLoadsEqualLibrary(restored, *reference_);
  EXPECT_EQ(restored.stats().facts, state.stats().facts);
}

TEST_F(CapacityStateS, GrpcImplementationServesLoadsAndScenariosOffACopy) {
  CapacityState state;
  ApplyAll(state, testing::SEvents());
  state.EndBatchDeltas();
  std::mutex mutex;
  int locks = 0;
  CapacityGrpc api(state, [&](const std::function<void()>& fn) {
    std::lock_guard lock(mutex);
    ++locks;
    fn();
  });
  // A plant: the site of the first work center (distribution centers have none).
  const auto& snapshot = reference_->snapshot();
  const auto& site =
      snapshot.sites[static_cast<std::size_t>(snapshot.work_centers[0].site.value())].id;
  sop::v1::GetLoadRequest load;
  load.set_site_id(site);
  auto served = api.Load(load);
  ASSERT_TRUE(served.has_value()) << served.error().ToString();
  EXPECT_GT(served->work_centers_size(), 0);
  EXPECT_EQ(served->plan_version(), state.stats().plan_version);

  sop::v1::EvaluateScenariosRequest request;
  auto* scenario = request.add_scenarios();
  scenario->set_name("site demand +10%");
  auto* m = scenario->add_overrides()->mutable_demand_multiplier();
  m->set_site_id(site);
  m->set_multiplier(1.1);
  auto first = api.Evaluate(request);
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  ASSERT_EQ(first->scenarios_size(), 1);
  EXPECT_GT(first->scenarios(0).load_hours(), first->base().load_hours());
  // The base equals the decision core on the reference plan.
  const planning::ScenarioEvaluator evaluator(*reference_, planning::DetectionHistory{});
  EXPECT_NEAR(first->base().load_hours(), evaluator.base().kpis.load_hours,
              1e-6 * evaluator.base().kpis.load_hours);
  EXPECT_NEAR(first->base().overload_hours(), evaluator.base().kpis.overload_hours,
              1e-6 * std::max(1.0, evaluator.base().kpis.overload_hours));
  EXPECT_NEAR(first->base().revenue(), evaluator.base().kpis.revenue,
              1e-6 * evaluator.base().kpis.revenue);

  // A second call on the same plan reuses the copy and gives the same numbers.
  auto second = api.Evaluate(request);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->scenarios(0).load_hours(), first->scenarios(0).load_hours());

  sop::v1::EvaluateScenariosRequest bad;
  bad.add_scenarios()->set_name("");
  auto error = api.Evaluate(bad);
  ASSERT_FALSE(error.has_value());
  EXPECT_EQ(error.error().code(), Errc::kInvalidArgument);
  EXPECT_GE(locks, 3);
}

}  // namespace
}  // namespace sop::capacity
