// Pure pipeline: validation rules name the field, normalization, de-duplication, BOM cycles,
// the state encoding, and the generated S-scale data passing as a whole.

#include <gtest/gtest.h>

#include <chrono>
#include <map>

#include "sop/gen/generator.hpp"
#include "sop/ingestion/pipeline.hpp"
#include "sop/v1/events.pb.h"

namespace sop::ingestion {
namespace {

sop::v1::Envelope Site(const std::string& site) {
  sop::v1::Envelope e;
  e.set_event_id("site:" + site);
  e.set_site(site);
  e.mutable_site_master()->set_site_id(site);
  return e;
}

sop::v1::Envelope Item(const std::string& site, const std::string& item) {
  sop::v1::Envelope e;
  e.set_event_id("item:" + site + ":" + item);
  e.set_site(site);
  e.mutable_item()->set_site_id(site);
  e.mutable_item()->set_item_id(item);
  e.mutable_item()->set_unit_of_measure("EA");
  return e;
}

sop::v1::Envelope Bom(const std::string& site, const std::string& parent,
                      std::vector<std::string> components, const std::string& id) {
  sop::v1::Envelope e;
  e.set_event_id(id);
  e.set_site(site);
  e.mutable_bom()->set_site_id(site);
  e.mutable_bom()->set_parent_item_id(parent);
  for (const auto& c : components) {
    auto* line = e.mutable_bom()->add_lines();
    line->set_component_item_id(c);
    line->set_quantity_per(1);
  }
  return e;
}

sop::v1::Envelope Order(const std::string& site, const std::string& item, double quantity,
                        const std::string& id) {
  sop::v1::Envelope e;
  e.set_event_id(id);
  e.set_site(site);
  auto* so = e.mutable_sales_order();
  so->set_order_id("SO-" + id);
  so->set_site_id(site);
  so->set_item_id(item);
  so->set_quantity(quantity);
  so->mutable_due_date()->set_seconds(1'795'000'000);
  return e;
}

constexpr std::int64_t kRecordTimeMs = 1'795'000'000'000;

Decision Feed(const sop::v1::Envelope& e, PartitionState& state) {
  return Decide(e.SerializeAsString(), kRecordTimeMs, state);
}

PartitionState WithMaster() {
  PartitionState state;
  for (const auto& e : {Site("P1"), Item("P1", "FG"), Item("P1", "SUB"), Item("P1", "RAW")}) {
    EXPECT_EQ(Feed(e, state).outcome, Outcome::kAccepted);
  }
  EXPECT_EQ(Feed(Bom("P1", "FG", {"SUB"}, "bom:FG"), state).outcome, Outcome::kAccepted);
  EXPECT_EQ(Feed(Bom("P1", "SUB", {"RAW"}, "bom:SUB"), state).outcome, Outcome::kAccepted);
  return state;
}

TEST(IngestionValidation, NegativeQuantityNamesTheFieldAndValue) {
  PartitionState state = WithMaster();
  const Decision d = Feed(Order("P1", "FG", -5, "so-1"), state);
  ASSERT_EQ(d.outcome, Outcome::kRejected);
  EXPECT_EQ(d.violation->field, "sales_order.quantity");
  EXPECT_EQ(d.violation->reason, "must be >= 0, got '-5'");
  EXPECT_EQ(d.violation->reason_class, ReasonClass::kInvalidValue);
  // Decided once: a replay of the same event is a duplicate, not a second rejection.
  EXPECT_TRUE(state.applied_ids.Contains("so-1"));
  EXPECT_EQ(Feed(Order("P1", "FG", -5, "so-1"), state).outcome, Outcome::kDuplicate);
}

TEST(IngestionValidation, UnknownSiteAndItemAreUnknownReferences) {
  PartitionState state = WithMaster();
  auto item = Feed(Item("X9", "FG"), state);
  ASSERT_EQ(item.outcome, Outcome::kRejected);
  EXPECT_EQ(item.violation->field, "site");
  EXPECT_EQ(item.violation->reason_class, ReasonClass::kUnknownReference);
  auto order = Feed(Order("P1", "NOPE", 1, "so-2"), state);
  ASSERT_EQ(order.outcome, Outcome::kRejected);
  EXPECT_EQ(order.violation->field, "sales_order.item_id");
  EXPECT_NE(order.violation->reason.find("'NOPE'"), std::string::npos);
}

TEST(IngestionValidation, BomThatWouldCloseACycleIsRejectedWithThePath) {
  PartitionState state = WithMaster();
  const Decision d = Feed(Bom("P1", "RAW", {"FG"}, "bom:RAW"), state);
  ASSERT_EQ(d.outcome, Outcome::kRejected);
  EXPECT_EQ(d.violation->field, "bom.lines");
  EXPECT_EQ(d.violation->reason_class, ReasonClass::kInconsistent);
  EXPECT_NE(d.violation->reason.find("RAW -> FG -> SUB -> RAW"), std::string::npos)
      << d.violation->reason;
  // Replacing FG's own BOM is not a cycle through the old one.
  EXPECT_EQ(Feed(Bom("P1", "FG", {"RAW"}, "bom:FG:2"), state).outcome, Outcome::kAccepted);
  // A self-reference is the shortest cycle.
  EXPECT_EQ(Feed(Bom("P1", "SUB", {"SUB"}, "bom:SUB:2"), state).outcome, Outcome::kRejected);
}

TEST(IngestionValidation, ItemMasterBoundsYieldAndLeadTime) {
  PartitionState state = WithMaster();
  auto bad_yield = Item("P1", "Y");
  bad_yield.mutable_item()->set_yield(1.5);
  EXPECT_EQ(Feed(bad_yield, state).violation->field, "item.yield");
  auto bad_lead = Item("P1", "L");
  bad_lead.mutable_item()->set_lead_time_days(-1);
  EXPECT_EQ(Feed(bad_lead, state).violation->field, "item.lead_time_days");
  auto missing = Item("P1", "M");
  missing.clear_event_id();
  EXPECT_EQ(Feed(missing, state).violation->reason_class, ReasonClass::kMissingField);
  auto no_payload = Site("P1");
  no_payload.set_event_id("no-payload");
  no_payload.clear_payload();
  const Decision empty = Feed(no_payload, state);
  ASSERT_EQ(empty.outcome, Outcome::kRejected);
  EXPECT_EQ(empty.violation->field, "payload");
  auto date = Order("P1", "FG", 1, "so-date");
  date.mutable_sales_order()->mutable_due_date()->set_seconds(253'402'300'800);  // year 10000
  EXPECT_EQ(Feed(date, state).violation->field, "sales_order.due_date");
}

TEST(IngestionValidation, NormalizationTrimsIdsAndUppercasesUnits) {
  PartitionState state = WithMaster();
  auto e = Item(" P1 ", " NEW\t");
  e.set_event_id("  item:new ");
  e.mutable_item()->set_site_id("P1 ");
  e.mutable_item()->set_unit_of_measure(" kg");
  e.mutable_item()->set_currency("eur");
  const Decision d = Feed(e, state);
  ASSERT_EQ(d.outcome, Outcome::kAccepted) << d.violation->field << " " << d.violation->reason;
  EXPECT_EQ(d.envelope.event_id(), "item:new");
  EXPECT_EQ(d.envelope.site(), "P1");
  EXPECT_EQ(d.envelope.item().item_id(), "NEW");
  EXPECT_EQ(d.envelope.item().unit_of_measure(), "KG");
  EXPECT_EQ(d.envelope.item().currency(), "EUR");
  EXPECT_TRUE(state.master.HasItem("P1", "NEW"));
}

TEST(IngestionPipeline, ReplayIsADuplicateAndChangesNothing) {
  PartitionState state = WithMaster();
  ASSERT_EQ(Feed(Order("P1", "FG", 3, "so-3"), state).outcome, Outcome::kAccepted);
  const PartitionState before = state;
  EXPECT_EQ(Feed(Order("P1", "FG", 3, "so-3"), state).outcome, Outcome::kDuplicate);
  EXPECT_EQ(Feed(Order("P1", "FG", 999, " so-3 "), state).outcome, Outcome::kDuplicate);
  EXPECT_EQ(state, before);
}

TEST(IngestionPipeline, TruncatedBytesAreMalformed) {
  PartitionState state = WithMaster();
  const std::string bytes = Order("P1", "FG", 3, "so-4").SerializeAsString();
  const Decision d =
      Decide(std::string_view(bytes).substr(0, bytes.size() - 3), kRecordTimeMs, state);
  ASSERT_EQ(d.outcome, Outcome::kRejected);
  EXPECT_EQ(d.violation->reason_class, ReasonClass::kMalformed);
  EXPECT_EQ(d.violation->field, "envelope");
}

TEST(IngestionPipeline, StateEncodingRoundTripsAndRejectsGarbage) {
  PartitionState state = WithMaster();
  ASSERT_EQ(Feed(Order("P1", "FG", 3, "so-5"), state).outcome, Outcome::kAccepted);
  const std::string bytes = state.Encode();
  auto decoded = PartitionState::Decode(bytes);
  ASSERT_TRUE(decoded) << decoded.error().ToString();
  EXPECT_EQ(*decoded, state);
  EXPECT_EQ(PartitionState::Decode(bytes.substr(0, bytes.size() - 2)).error().code(),
            Errc::kDataLoss);
  EXPECT_EQ(PartitionState::Decode("XXXX").error().code(), Errc::kDataLoss);
}

// Every event of a generated S-scale manufacturer is valid data: all are accepted, and the
// throughput of the pure step is reported (the service target is 100,000 events/s).
TEST(IngestionPipeline, GeneratedScaleSIsAcceptedWholesale) {
  gen::GeneratorOptions options;
  options.history_weeks = 8;
  std::vector<std::string> records;
  auto stats = gen::Generate(
      options, [&](const sop::v1::Envelope& e) { records.push_back(e.SerializeAsString()); });
  ASSERT_TRUE(stats) << stats.error().ToString();
  std::map<std::string, PartitionState> by_site;  // as the topic would partition them
  std::map<std::string, int> rejected_fields;
  std::int64_t accepted = 0;
  const auto started = std::chrono::steady_clock::now();
  for (const auto& bytes : records) {
    sop::v1::Envelope peek;
    peek.ParseFromString(bytes);
    const Decision d = Decide(bytes, kRecordTimeMs, by_site[peek.site()]);
    if (d.outcome == Outcome::kAccepted)
      ++accepted;
    else if (d.violation)
      ++rejected_fields[d.violation->field + ": " + d.violation->reason];
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::string first;
  if (!rejected_fields.empty()) first = rejected_fields.begin()->first;
  EXPECT_EQ(accepted, static_cast<std::int64_t>(records.size())) << first;
  std::printf("[ decide ] %zu envelopes in %.3f s = %.0f events/s (parse twice incl.)\n",
              records.size(), seconds, static_cast<double>(records.size()) / seconds);
}

}  // namespace
}  // namespace sop::ingestion
