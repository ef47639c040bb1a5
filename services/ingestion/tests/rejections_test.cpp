// The rejection ring (paging, site filter, bound) and the Submit outcome routing.

#include "sop/ingestion/rejections.hpp"

#include <gtest/gtest.h>

namespace sop::ingestion {
namespace {

sop::v1::Rejection Rejected(const std::string& id, const std::string& site) {
  sop::v1::Rejection r;
  r.set_event_id(id);
  r.set_site(site);
  r.set_field("f");
  return r;
}

TEST(IngestionRejectionLog, NewestFirstPagedFilteredAndBounded) {
  RejectionLog log(nullptr, 4);
  for (int i = 0; i < 6; ++i) log.Add(Rejected("e" + std::to_string(i), i % 2 ? "B" : "A"));
  EXPECT_TRUE(log.Persist());  // no store: nothing to write
  EXPECT_EQ(log.size(), 4u);
  auto first = log.List("", 3, "");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->rejections.size(), 3u);
  EXPECT_EQ(first->rejections[0].event_id(), "e5");
  EXPECT_EQ(first->rejections[2].event_id(), "e3");
  auto second = log.List("", 3, first->next_page_token);
  ASSERT_TRUE(second);
  ASSERT_EQ(second->rejections.size(), 1u);
  EXPECT_EQ(second->rejections[0].event_id(), "e2");
  EXPECT_TRUE(second->next_page_token.empty());
  auto only_a = log.List("A", 10, "");
  ASSERT_EQ(only_a->rejections.size(), 2u);
  EXPECT_EQ(only_a->rejections[0].event_id(), "e4");
  EXPECT_EQ(log.List("", 3, "x1").error().code(), Errc::kInvalidArgument);
}

TEST(IngestionOutcomeRegistry, RoutesDecisionsInSubmissionOrderAndForgets) {
  OutcomeRegistry registry;
  auto one = std::make_shared<PendingOutcomes>(10);
  auto two = std::make_shared<PendingOutcomes>(10);
  registry.Expect(one, "a");
  registry.Expect(one, "a");
  registry.Expect(two, "b");
  registry.Resolve("a", Outcome::kAccepted, nullptr);
  registry.Resolve("a", Outcome::kDuplicate, nullptr);
  const auto rejection = Rejected("b", "S");
  registry.Resolve("b", Outcome::kRejected, &rejection);
  registry.Resolve("zzz", Outcome::kAccepted, nullptr);  // nobody waits: ignored
  EXPECT_TRUE(one->WaitFor(2, std::chrono::steady_clock::now()));
  sop::v1::SubmitSummary summary;
  one->Fill(summary);
  EXPECT_EQ(summary.accepted(), 1);
  EXPECT_EQ(summary.duplicates(), 1);
  sop::v1::SubmitSummary other;
  two->Fill(other);
  EXPECT_EQ(other.rejected(), 1);
  ASSERT_EQ(other.rejections_size(), 1);
  auto three = std::make_shared<PendingOutcomes>(10);
  registry.Expect(three, "c");
  registry.Forget(three);
  registry.Resolve("c", Outcome::kAccepted, nullptr);
  EXPECT_FALSE(three->WaitFor(1, std::chrono::steady_clock::now()));
}

}  // namespace
}  // namespace sop::ingestion
