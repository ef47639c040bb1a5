// Bad events through the running services: truncated protobuf bytes, an unknown site, a negative
// quantity and a BOM cycle each land on sop.dlq.v1 with a reason naming the field and the value,
// and a valid event produced after them still reaches the plan.

#include <gtest/gtest.h>

#include <set>

#include "e2e_support.hpp"

namespace sop::e2e {
namespace {

sop::v1::Envelope SalesOrder(const std::string& id, const std::string& site,
                             const std::string& item, double quantity) {
  sop::v1::Envelope envelope;
  envelope.set_event_id(id);
  envelope.set_site(site);
  auto* order = envelope.mutable_sales_order();
  order->set_order_id(id);
  order->set_site_id(site);
  order->set_item_id(item);
  order->set_quantity(quantity);
  order->mutable_due_date()->set_seconds(1'796'000'000);
  return envelope;
}

std::string Header(const bus::Message& message, std::string_view name) {
  const auto value = message.FindHeader(name);
  return value ? std::string(*value) : std::string();
}

TEST(DeadLetters, BadEventsLandInTheDlqWithReasonsAndTheNextEventStillPlans) {
  // One plant of the generated instance (its master data and open documents): quick to plan.
  const auto all = GenerateInstance(/*seed=*/5);
  std::string site;
  for (const auto& envelope : all) {
    if (envelope.has_bom()) {
      site = envelope.site();
      break;
    }
  }
  ASSERT_FALSE(site.empty());
  std::vector<sop::v1::Envelope> instance;
  const sop::v1::Envelope* some_bom = nullptr;
  const sop::v1::Envelope* some_order = nullptr;
  for (const auto& envelope : all) {
    if (envelope.site() != site) continue;
    instance.push_back(envelope);
  }
  for (const auto& envelope : instance) {
    if (envelope.has_bom() && some_bom == nullptr) some_bom = &envelope;
    if (envelope.has_sales_order() && envelope.sales_order().quantity() > 0 &&
        some_order == nullptr) {
      some_order = &envelope;
    }
  }
  ASSERT_NE(some_bom, nullptr);
  ASSERT_NE(some_order, nullptr);
  ASSERT_GT(instance.size(), 2'000u);

  // The valid event after the bad ones: the same sales order line with three times the quantity.
  sop::v1::Envelope changed = *some_order;
  changed.set_event_id(some_order->event_id() + ":e2e-change");
  changed.mutable_sales_order()->set_quantity(some_order->sales_order().quantity() * 3);
  std::vector<sop::v1::Envelope> with_change = instance;
  with_change.push_back(changed);
  const auto reference = ReferencePlan(with_change);
  {
    // The change must show in the plan, or the last check below could not fail.
    const auto before = ReferencePlan(instance);
    const auto index =
        reference->snapshot().FindItemSite(some_order->sales_order().item_id(), site);
    ASSERT_TRUE(index.has_value());
    const auto changed_row = reference->plan().Row(reference->plan().gross_requirements, *index);
    const auto before_row = before->plan().Row(before->plan().gross_requirements, *index);
    ASSERT_FALSE(std::equal(changed_row.begin(), changed_row.end(), before_row.begin()));
  }

  auto stack = stack::Stack::Start(TestStackOptions("dead_letters"));
  ASSERT_TRUE(stack.has_value()) << stack.error().ToString();
  for (const char* required : {"ingestion", "mrp"}) {
    ASSERT_TRUE((*stack)->Has(required)) << required << " must be built for this test";
  }
  const auto& endpoints = (*stack)->Endpoints();
  TopicReader plan_reader(endpoints.broker, bus::kPlanTopic, "e2e-plan-reader");
  TopicReader dlq_reader(endpoints.broker, bus::kDeadLetterTopic, "e2e-dlq-reader");
  auto producer = bus::Producer::Create(ClientConfig(endpoints.broker));
  ASSERT_TRUE(producer.has_value()) << producer.error().ToString();
  ProduceEnvelopes(**producer, instance);

  // The bad ones, after the master data they refer to, then the valid change.
  const std::string item = some_order->sales_order().item_id();
  const std::string truncated = SalesOrder("e2e:truncated", site, item, 1).SerializeAsString();
  sop::v1::Envelope cycle;
  cycle.set_event_id("e2e:cycle");
  cycle.set_site(site);
  cycle.mutable_bom()->set_site_id(site);
  cycle.mutable_bom()->set_parent_item_id(some_bom->bom().lines(0).component_item_id());
  auto* line = cycle.mutable_bom()->add_lines();
  line->set_component_item_id(some_bom->bom().parent_item_id());
  line->set_quantity_per(1);
  ProduceRaw(**producer,
             {{site, truncated.substr(0, truncated.size() - 4)},
              {"NOWHERE", SalesOrder("e2e:site", "NOWHERE", item, 1).SerializeAsString()},
              {site, SalesOrder("e2e:negative", site, item, -5).SerializeAsString()},
              {site, cycle.SerializeAsString()},
              {site, changed.SerializeAsString()}});

  ASSERT_TRUE(dlq_reader.Wait([](const auto& messages) { return messages.size() >= 4; }, 60s))
      << dlq_reader.Messages().size() << " dead letters; " << dlq_reader.DescribeLag();
  std::set<std::string> reasons;
  for (const auto& message : dlq_reader.Messages()) {
    reasons.insert(Header(message, "sop.dlq.error.message"));
    EXPECT_EQ(Header(message, "sop.dlq.source.topic"), bus::kErpEventsTopic);
  }
  auto has = [&](const std::string& needle) {
    for (const auto& reason : reasons) {
      if (reason.find(needle) != std::string::npos) return true;
    }
    return false;
  };
  std::string all_reasons;
  for (const auto& reason : reasons) all_reasons += "\n  " + reason;
  EXPECT_EQ(reasons.size(), 4u) << all_reasons;
  EXPECT_TRUE(has("envelope: not a sop.v1.Envelope")) << all_reasons;
  EXPECT_TRUE(has("site: unknown site (no SiteMaster accepted), got 'NOWHERE'")) << all_reasons;
  EXPECT_TRUE(has("sales_order.quantity: must be >= 0, got '-5'")) << all_reasons;
  EXPECT_TRUE(has("bom.lines: would create a BOM cycle")) << all_reasons;

  // The valid change after them flowed through: the plan equals the reference with the change.
  auto settled = (*stack)->WaitSettled(
      {.quiet = 2s,
       .timeout = 60s,
       .min_consumed = {{"ingestion", static_cast<double>(instance.size() + 5)}}});
  ASSERT_TRUE(settled.has_value()) << settled.error().ToString();
  EXPECT_EQ((*stack)->MetricSum("ingestion", "sop_ingestion_dlq_total").value_or(-1), 4.0);
  PlanComparison comparison;
  const auto deadline = Clock::now() + 30s;
  while (Clock::now() < deadline) {
    if (plan_reader.CaughtUp()) {
      comparison = ComparePlan(*reference, LatestPlan(plan_reader.Messages()));
      if (comparison.Same()) break;
    }
    const std::size_t seen = plan_reader.Messages().size();
    plan_reader.Wait([&](const auto& messages) { return messages.size() > seen; }, 500ms);
  }
  EXPECT_TRUE(comparison.Same()) << comparison.Describe() << "\n" << plan_reader.DescribeLag();

  plan_reader.Stop();
  dlq_reader.Stop();
  const auto stopped = (*stack)->Stop();
  EXPECT_TRUE(stopped.has_value()) << stopped.error().ToString();
}

}  // namespace
}  // namespace sop::e2e
