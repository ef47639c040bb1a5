// Failure and scale-out through the running processes: the mrp service killed with SIGKILL in the
// middle of the stream and started again ends with the plan of an uninterrupted run (nothing
// lost, nothing counted twice), and two mrp replicas splitting the sites publish the same plan
// as one.

#include <gtest/gtest.h>
#include <signal.h>

#include "e2e_support.hpp"

namespace sop::e2e {
namespace {

// Reads the plan topic until it is read to the end and equals the reference (or 30 s passed).
PlanComparison WaitForPlan(const TopicReader& plan_reader,
                           const planning::NettingEngine& reference) {
  PlanComparison comparison;
  const auto deadline = Clock::now() + 30s;
  while (Clock::now() < deadline) {
    if (plan_reader.CaughtUp()) {
      comparison = ComparePlan(reference, LatestPlan(plan_reader.Messages()));
      if (comparison.Same()) return comparison;
    }
    const std::size_t seen = plan_reader.Messages().size();
    plan_reader.Wait([&](const auto& messages) { return messages.size() > seen; }, 500ms);
  }
  comparison = ComparePlan(reference, LatestPlan(plan_reader.Messages()));
  if (!plan_reader.CaughtUp()) {
    comparison.differences.push_back("reader lag: " + plan_reader.DescribeLag());
  }
  return comparison;
}

TEST(Recovery, MrpKilledMidStreamAndRestartedEndsWithTheUninterruptedPlan) {
  const auto envelopes = GenerateInstance(/*seed=*/3);
  const auto reference = ReferencePlan(envelopes);

  auto options = TestStackOptions("recovery");
  options.services = {"ingestion", "mrp"};
  auto stack = stack::Stack::Start(options);
  ASSERT_TRUE(stack.has_value()) << stack.error().ToString();
  const auto& endpoints = (*stack)->Endpoints();
  TopicReader plan_reader(endpoints.broker, bus::kPlanTopic, "e2e-plan-reader");
  auto producer = bus::Producer::Create(ClientConfig(endpoints.broker));
  ASSERT_TRUE(producer.has_value()) << producer.error().ToString();

  // First 60 % of the stream; kill mrp once it has planned and snapshotted part of it.
  const std::size_t split = envelopes.size() * 6 / 10;
  ProduceEnvelopes(**producer, {envelopes.begin(), envelopes.begin() + static_cast<long>(split)});
  const auto deadline = Clock::now() + 60s;
  double consumed = 0;
  while (Clock::now() < deadline) {
    consumed = (*stack)->MetricSum("mrp", "sop_mrp_consumed_total").value_or(0);
    if (consumed >= static_cast<double>(split) / 3) break;
    std::this_thread::sleep_for(100ms);  // polling a counter against the deadline
  }
  ASSERT_GE(consumed, static_cast<double>(split) / 3);
  ASSERT_TRUE((*stack)->Kill("mrp", SIGKILL).has_value());

  // The rest of the stream arrives while mrp is down; then it comes back.
  ProduceEnvelopes(**producer, {envelopes.begin() + static_cast<long>(split), envelopes.end()});
  ASSERT_TRUE((*stack)->Restart("mrp").has_value());
  auto settled = (*stack)->WaitSettled(
      {.quiet = 2s,
       .timeout = 80s,
       .min_consumed = {{"ingestion", static_cast<double>(envelopes.size())}}});
  ASSERT_TRUE(settled.has_value()) << settled.error().ToString();

  const PlanComparison comparison = WaitForPlan(plan_reader, *reference);
  EXPECT_TRUE(comparison.Same()) << "killed after " << consumed
                                 << " facts: " << comparison.Describe();
  // Double counting would show as a different planned-order total.
  EXPECT_EQ(comparison.planned_orders_published, reference->plan().PlannedOrderCount());

  plan_reader.Stop();
  const auto stopped = (*stack)->Stop();
  EXPECT_TRUE(stopped.has_value()) << stopped.error().ToString();
}

// Two mrp replicas in one group split the sites; a plant's dependent demand from the planned
// transfers of a DC on the other replica reaches it as TransferDemand facts on sop.facts.v1
// (keyed by the plant), so every published record equals the one-replica reference.
// The replicas are co-partitioned (range assignor): each holds the facts and the forecasts of
// its own sites, so both hold facts and the cross-replica path is exercised.
TEST(Recovery, TwoMrpReplicasPublishThePlanOfOne) {
  const auto envelopes = GenerateInstance(/*seed=*/3);
  const auto reference = ReferencePlan(envelopes);

  auto options = TestStackOptions("replicas");
  options.services = {"ingestion", "mrp"};
  options.replicas = {{"mrp", 2}};
  auto stack = stack::Stack::Start(options);
  ASSERT_TRUE(stack.has_value()) << stack.error().ToString();
  const auto& endpoints = (*stack)->Endpoints();
  ASSERT_NE(endpoints.Find("mrp-1"), nullptr);
  TopicReader plan_reader(endpoints.broker, bus::kPlanTopic, "e2e-plan-reader");
  auto producer = bus::Producer::Create(ClientConfig(endpoints.broker));
  ASSERT_TRUE(producer.has_value()) << producer.error().ToString();
  ProduceEnvelopes(**producer, envelopes);

  auto settled = (*stack)->WaitSettled(
      {.quiet = 2s,
       .timeout = 80s,
       .min_consumed = {{"ingestion", static_cast<double>(envelopes.size())}}});
  ASSERT_TRUE(settled.has_value()) << settled.error().ToString();
  const PlanComparison comparison = WaitForPlan(plan_reader, *reference);
  EXPECT_TRUE(comparison.Same()) << comparison.Describe();
  EXPECT_EQ(comparison.planned_orders_published, reference->plan().PlannedOrderCount());

  auto metric = [&](const char* replica, const char* name) {
    return (*stack)->MetricSum(replica, name).value_or(0);
  };
  // The DCs' transfer requirements went out as facts (also when one replica plans both ends).
  EXPECT_GT(metric("mrp", "sop_mrp_transfer_demands_published_total") +
                metric("mrp-1", "sop_mrp_transfer_demands_published_total"),
            0);
  const double first = metric("mrp", "sop_mrp_state_facts");
  const double second = metric("mrp-1", "sop_mrp_state_facts");
  plan_reader.Stop();
  const auto stopped = (*stack)->Stop();
  EXPECT_TRUE(stopped.has_value()) << stopped.error().ToString();
  EXPECT_GT(first, 0) << "the first replica holds no sop.facts.v1 partition";
  EXPECT_GT(second, 0) << "the second replica holds no sop.facts.v1 partition";
}

}  // namespace
}  // namespace sop::e2e
