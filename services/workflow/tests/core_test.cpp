// The pure cycle state machine: calendar, sign-off order and roles, content hashes, send-back,
// decisions, carry-over, overdue, meeting moves, change requests, and replay.
#include "sop/workflow/core.hpp"

#include <gtest/gtest.h>

namespace sop::workflow {
namespace {

using namespace std::chrono_literals;

Date D(int y, unsigned m, unsigned d) {
  return Date{std::chrono::year(y), std::chrono::month(m), std::chrono::day(d)};
}
Timestamp At(int y, unsigned m, unsigned d, int hour = 9) {
  return Timestamp(std::chrono::sys_days(D(y, m, d))) + std::chrono::hours(hour);
}

const Actor kDana{"dana", {"demand_lead"}};
const Actor kSupi{"supi", {"supply_lead"}};
const Actor kFinn{"finn", {"finance_partner"}};
const Actor kEve{"eve", {"executive"}};
const Actor kSam{"sam", {"sales_lead"}};

Decision Dec(std::string trade_off, std::string option, std::string owner, Date due) {
  Decision decision;
  decision.trade_off_id = std::move(trade_off);
  decision.chosen_option = std::move(option);
  decision.owner = std::move(owner);
  decision.due_date = due;
  return decision;
}

ArtifactDocument Doc(std::string note, std::vector<TradeOff> trade_offs = {}) {
  ArtifactDocument doc;
  doc.tables.push_back({"rows", {"item", "qty"}, {{"FG-1", "120"}, {"FG-2", "80"}}});
  doc.notes.push_back(std::move(note));
  doc.trade_offs = std::move(trade_offs);
  return doc;
}

/// Decides and applies in one step (the service persists in between).
class Cycle1 : public ::testing::Test {
 protected:
  Workflow workflow{CalendarPolicy{.open_working_day = 1, .frozen_fence_days = 28}};
  Timestamp now = At(2026, 12, 1);
  const std::string id = "EU-2026-12";

  Event Ok(Result<Event> event) {
    EXPECT_TRUE(event) << event.error().ToString();
    if (!event) return {};
    auto applied = workflow.Apply(*event);
    EXPECT_TRUE(applied) << applied.error().ToString();
    return *event;
  }
  static Errc Code(const Result<Event>& event) { return event ? Errc::kOk : event.error().code(); }
  const Cycle& cycle() { return *workflow.FindCycle(id); }
  void SubmitAndSign(const Actor& actor, Stage stage, ArtifactDocument doc) {
    auto submitted = Ok(workflow.DecideSubmit(actor, now, id, stage, std::move(doc)));
    const auto& s = std::get<ArtifactSubmitted>(submitted.change);
    Ok(workflow.DecideSign(actor, now, id, stage, s.version, s.content_sha256));
  }
  void ThroughPreSop() {
    Ok(workflow.DecideOpenCycle(kEve, now, "EU", "2026-12", {}));
    SubmitAndSign(kDana, Stage::kDemandReview, Doc("demand"));
    SubmitAndSign(kSupi, Stage::kSupplyReview, Doc("supply"));
    SubmitAndSign(kFinn, Stage::kPreSop,
                  Doc("pack", {{"T1", "FG-1 short 300 in Dec", {"overtime", "subcontract"}},
                               {"T2", "FG-2 short 50", {"expedite", "accept"}}}));
  }
};

TEST(Calendar, OpensOnTheConfiguredWorkingDay) {
  // 2026-08-01 is a Saturday: the 1st working day is Monday the 3rd, the 3rd is Wednesday the 5th.
  EXPECT_EQ(*CycleOpenDate({.open_working_day = 1}, "2026-08"), D(2026, 8, 3));
  EXPECT_EQ(*CycleOpenDate({.open_working_day = 3}, "2026-08"), D(2026, 8, 5));
  // 2026-12-01 is a Tuesday.
  EXPECT_EQ(*CycleOpenDate({.open_working_day = 1}, "2026-12"), D(2026, 12, 1));
  auto bad = CycleOpenDate({}, "2026-13");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "period: must be a month YYYY-MM, got '2026-13'");
}

TEST_F(Cycle1, StageDueDatesFallInsideTheFourteenDayWindow) {
  Ok(workflow.DecideOpenCycle(kEve, now, "EU", "2026-12", {}));
  const auto& c = cycle();
  EXPECT_EQ(c.open_date, D(2026, 12, 1));
  EXPECT_EQ(c.StageOf(Stage::kDemandReview).due_date, D(2026, 12, 3));   // days 1-3
  EXPECT_EQ(c.StageOf(Stage::kSupplyReview).due_date, D(2026, 12, 5));   // days 4-5
  EXPECT_EQ(c.StageOf(Stage::kPreSop).due_date, D(2026, 12, 8));         // days 6-8
  EXPECT_EQ(c.StageOf(Stage::kExecutiveSop).due_date, D(2026, 12, 10));  // days 9-10
  EXPECT_EQ(c.StageOf(Stage::kCommitBack).due_date, D(2026, 12, 14));    // days 11-14
  EXPECT_EQ(c.meeting_date, D(2026, 12, 10));
  EXPECT_EQ(Code(workflow.DecideOpenCycle(kEve, now, "EU", "2026-12", {})), Errc::kAlreadyExists);
  EXPECT_EQ(Code(workflow.DecideOpenCycle(kSam, now, "US", "2026-12", {})),
            Errc::kPermissionDenied);
}

TEST_F(Cycle1, FullCycleSignedInOrderByFivePrincipals) {
  ThroughPreSop();
  EXPECT_EQ(cycle().current, Stage::kExecutiveSop);
  Ok(workflow.DecideDecision(kEve, now, id, Dec("T1", "overtime", "supi", D(2026, 12, 20))));
  Ok(workflow.DecideDecision(kEve, now, id, Dec("T2", "accept", "sam", D(2026, 12, 31))));
  SubmitAndSign(kEve, Stage::kExecutiveSop, Doc("signed plan"));
  EXPECT_EQ(cycle().current, Stage::kCommitBack);
  Commitment promise;
  promise.customer_id = "C-9";
  promise.item_id = "FG-1";
  promise.quantity = 100;
  promise.due_date = D(2026, 12, 18);
  Ok(workflow.DecideCommitment(kSam, now, id, promise));
  SubmitAndSign(kSam, Stage::kCommitBack, Doc("log"));
  const auto& c = cycle();
  EXPECT_EQ(c.current, Stage::kClosed);
  EXPECT_EQ(c.commitments.at(0).commitment_id, "EU-2026-12/C1");
  const std::vector<std::string> signers = {"dana", "supi", "finn", "eve", "sam"};
  for (int s = 0; s < kSignedStageCount; ++s) {
    const auto* latest = c.stages[s].Latest();
    ASSERT_NE(latest, nullptr);
    ASSERT_TRUE(latest->signature);
    EXPECT_EQ(latest->signature->principal, signers[s]);
    EXPECT_EQ(latest->signature->role, SignOffRole(static_cast<Stage>(s)));
    EXPECT_EQ(latest->signature->content_sha256, ContentHash(latest->document));
  }
  EXPECT_EQ(workflow.last_sequence(), 14u);  // open + 5 x (submit, sign) + 2 decisions + 1 promise
}

TEST_F(Cycle1, OutOfOrderWrongRoleAndTamperedHashAreRefused) {
  Ok(workflow.DecideOpenCycle(kEve, now, "EU", "2026-12", {}));
  auto demand = Ok(workflow.DecideSubmit(kDana, now, id, Stage::kDemandReview, Doc("d")));
  const auto hash = std::get<ArtifactSubmitted>(demand.change).content_sha256;

  auto early = workflow.DecideSign(kSupi, now, id, Stage::kSupplyReview, 1, hash);
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().code(), Errc::kFailedPrecondition);
  EXPECT_EQ(early.error().message(),
            "stage: cycle 'EU-2026-12' is at demand_review; supply_review cannot be signed out "
            "of order");

  auto wrong_role = workflow.DecideSign(kSam, now, id, Stage::kDemandReview, 1, hash);
  ASSERT_FALSE(wrong_role);
  EXPECT_EQ(wrong_role.error().code(), Errc::kPermissionDenied);
  EXPECT_EQ(wrong_role.error().message(),
            "Sign demand_review: principal 'sam' needs role demand_lead, has 'sales_lead'");

  std::string tampered = hash;
  tampered[0] = tampered[0] == 'a' ? 'b' : 'a';
  auto bad_hash = workflow.DecideSign(kDana, now, id, Stage::kDemandReview, 1, tampered);
  ASSERT_FALSE(bad_hash);
  EXPECT_EQ(bad_hash.error().code(), Errc::kFailedPrecondition);
  EXPECT_NE(bad_hash.error().message().find("content_sha256: does not match the frozen "
                                            "demand_review v1 (" +
                                            hash + ")"),
            std::string::npos);
  EXPECT_EQ(Code(workflow.DecideSign(kDana, now, id, Stage::kDemandReview, 2, hash)),
            Errc::kFailedPrecondition);
  EXPECT_EQ(Code(workflow.DecideSign(kDana, now, "EU-2027-01", Stage::kDemandReview, 1, hash)),
            Errc::kNotFound);
  EXPECT_EQ(workflow.last_sequence(), 2u);  // refusals change nothing
  const auto* latest = cycle().StageOf(Stage::kDemandReview).Latest();
  ASSERT_NE(latest, nullptr);
  EXPECT_EQ(latest->status, ArtifactStatus::kSubmitted);
  EXPECT_FALSE(latest->signature.has_value());
}

TEST_F(Cycle1, SendBackReopensTheStageAndANewVersionNeedsANewSignature) {
  Ok(workflow.DecideOpenCycle(kEve, now, "EU", "2026-12", {}));
  SubmitAndSign(kDana, Stage::kDemandReview, Doc("v1"));
  const std::string v1_hash = cycle().StageOf(Stage::kDemandReview).Latest()->content_sha256;
  EXPECT_EQ(Code(workflow.DecideSendBack(kSupi, now, id, Stage::kDemandReview, "")),
            Errc::kInvalidArgument);
  Ok(workflow.DecideSendBack(kSupi, now, id, Stage::kDemandReview, "FG-2 promo missing"));
  EXPECT_EQ(cycle().current, Stage::kDemandReview);
  const auto& v1 = cycle().StageOf(Stage::kDemandReview).versions.at(0);
  EXPECT_EQ(v1.status, ArtifactStatus::kSentBack);
  EXPECT_EQ(v1.sent_back_reason, "FG-2 promo missing");
  ASSERT_TRUE(v1.signature);  // the signed version keeps its signature and content
  EXPECT_EQ(v1.content_sha256, v1_hash);
  // The old version cannot be signed again; the new one must be.
  EXPECT_EQ(Code(workflow.DecideSign(kDana, now, id, Stage::kDemandReview, 1, v1_hash)),
            Errc::kFailedPrecondition);
  auto v2 = Ok(workflow.DecideSubmit(kDana, now, id, Stage::kDemandReview, Doc("v2")));
  const auto& submitted = std::get<ArtifactSubmitted>(v2.change);
  EXPECT_EQ(submitted.version, 2);
  EXPECT_NE(submitted.content_sha256, v1_hash);
  EXPECT_EQ(Code(workflow.DecideSubmit(kSupi, now, id, Stage::kSupplyReview, Doc("s"))),
            Errc::kFailedPrecondition);
  Ok(workflow.DecideSign(kDana, now, id, Stage::kDemandReview, 2, submitted.content_sha256));
  EXPECT_EQ(cycle().current, Stage::kSupplyReview);
}

TEST_F(Cycle1, ExecutiveSignOffNeedsADecisionOnEveryTradeOffAndAFreshArtifact) {
  ThroughPreSop();
  auto early = Ok(workflow.DecideSubmit(kEve, now, id, Stage::kExecutiveSop, Doc("plan")));
  const auto& plan = std::get<ArtifactSubmitted>(early.change);
  auto undecided = workflow.DecideSign(kEve, now, id, Stage::kExecutiveSop, 1, plan.content_sha256);
  ASSERT_FALSE(undecided);
  EXPECT_EQ(undecided.error().message(),
            "executive_sop: no decision recorded on trade-off(s) T1, T2");
  EXPECT_EQ(Code(workflow.DecideDecision(kEve, now, id, Dec("T9", "x", "eve", D(2026, 12, 20)))),
            Errc::kNotFound);
  auto bad_option =
      workflow.DecideDecision(kEve, now, id, Dec("T1", "magic", "eve", D(2026, 12, 20)));
  ASSERT_FALSE(bad_option);
  EXPECT_EQ(bad_option.error().message(),
            "chosen_option: must be one of the trade-off's options, got 'magic'");
  EXPECT_EQ(
      Code(workflow.DecideDecision(kDana, now, id, Dec("T1", "overtime", "x", D(2026, 12, 20)))),
      Errc::kPermissionDenied);
  Ok(workflow.DecideDecision(kEve, now, id, Dec("T1", "overtime", "supi", D(2026, 12, 20))));
  Ok(workflow.DecideDecision(kEve, now, id, Dec("T2", "accept", "sam", D(2026, 12, 31))));
  auto stale = workflow.DecideSign(kEve, now, id, Stage::kExecutiveSop, 1, plan.content_sha256);
  ASSERT_FALSE(stale);
  EXPECT_NE(stale.error().message().find("predates a later decision"), std::string::npos);
  SubmitAndSign(kEve, Stage::kExecutiveSop, Doc("plan v2"));
  EXPECT_EQ(cycle().current, Stage::kCommitBack);
}

TEST_F(Cycle1, OverdueIsRaisedOnceAfterTheDueDay) {
  Ok(workflow.DecideOpenCycle(kEve, now, "EU", "2026-12", {}));
  // Demand review is due on Dec 3: still on time until 23:59:59.999 that day.
  EXPECT_TRUE(workflow.DetectOverdue(At(2026, 12, 3, 23)).empty());
  EXPECT_FALSE(cycle().Overdue(Stage::kDemandReview, At(2026, 12, 3, 23)));
  auto overdue = workflow.DetectOverdue(At(2026, 12, 4, 0));
  ASSERT_EQ(overdue.size(), 1u);
  EXPECT_EQ(std::get<StageOverdueRaised>(overdue[0].change).stage, Stage::kDemandReview);
  EXPECT_EQ(overdue[0].principal, "system");
  ASSERT_TRUE(workflow.Apply(overdue[0]));
  EXPECT_TRUE(workflow.DetectOverdue(At(2026, 12, 5)).empty());
  EXPECT_TRUE(cycle().Overdue(Stage::kDemandReview, At(2026, 12, 5)));
}

TEST_F(Cycle1, MovingTheMeetingIsAnAuditedDecisionInsideTheWindow) {
  Ok(workflow.DecideOpenCycle(kEve, now, "EU", "2026-12", {}));
  auto outside = workflow.DecideMoveMeeting(kEve, now, id, D(2026, 12, 15), "board trip");
  ASSERT_FALSE(outside);
  EXPECT_EQ(outside.error().message(),
            "meeting_date: must be inside the cycle window 2026-12-01..2026-12-14, got "
            "'2026-12-15'");
  EXPECT_EQ(Code(workflow.DecideMoveMeeting(kDana, now, id, D(2026, 12, 11), "x")),
            Errc::kPermissionDenied);
  auto moved = Ok(workflow.DecideMoveMeeting(kEve, now, id, D(2026, 12, 11), "board trip"));
  EXPECT_EQ(ActionOf(moved.change), "move_meeting");
  EXPECT_EQ(std::get<MeetingMoved>(moved.change).from, D(2026, 12, 10));
  EXPECT_EQ(cycle().StageOf(Stage::kExecutiveSop).due_date, D(2026, 12, 11));
}

TEST_F(Cycle1, CarryOverClassifiesLastCyclesDecisionsAndCommitments) {
  // November's cycle (opens Mon 2026-11-02) runs to commit-back with two decisions on T1 (the
  // first re-negotiated), one on T2, and three promises.
  now = At(2026, 11, 2);
  const std::string nov = "EU-2026-11";
  Ok(workflow.DecideOpenCycle(kEve, now, "EU", "2026-11", {}));
  for (auto [actor, stage] :
       {std::pair{kDana, Stage::kDemandReview}, std::pair{kSupi, Stage::kSupplyReview}}) {
    auto s = Ok(workflow.DecideSubmit(actor, now, nov, stage, Doc("x")));
    Ok(workflow.DecideSign(actor, now, nov, stage, 1,
                           std::get<ArtifactSubmitted>(s.change).content_sha256));
  }
  auto pack = Ok(workflow.DecideSubmit(kFinn, now, nov, Stage::kPreSop,
                                       Doc("p", {{"T1", "a", {}}, {"T2", "b", {}}})));
  Ok(workflow.DecideSign(kFinn, now, nov, Stage::kPreSop, 1,
                         std::get<ArtifactSubmitted>(pack.change).content_sha256));
  Ok(workflow.DecideDecision(kEve, now, nov, Dec("T1", "overtime", "supi", D(2026, 11, 20))));
  Ok(workflow.DecideDecision(kEve, now, nov, Dec("T1", "subcontract", "supi", D(2026, 11, 25))));
  Ok(workflow.DecideDecision(kEve, now, nov, Dec("T2", "expedite", "dana", D(2026, 12, 20))));
  auto plan = Ok(workflow.DecideSubmit(kEve, now, nov, Stage::kExecutiveSop, Doc("plan")));
  Ok(workflow.DecideSign(kEve, now, nov, Stage::kExecutiveSop, 1,
                         std::get<ArtifactSubmitted>(plan.change).content_sha256));
  auto promise = [&](std::string customer, double quantity, Date due) {
    Commitment c;
    c.customer_id = std::move(customer);
    c.item_id = "FG-1";
    c.quantity = quantity;
    c.due_date = due;
    Ok(workflow.DecideCommitment(kSam, now, nov, c));
  };
  promise("C-1", 100, D(2026, 11, 27));  // delivered 120 → kept
  promise("C-2", 80, D(2026, 11, 27));   // delivered 50 → missed
  promise("C-3", 40, D(2026, 11, 27));   // superseded by the next → re-negotiated
  promise("C-3", 30, D(2026, 12, 15));   // not yet due → pending

  now = At(2026, 12, 1);
  Actuals actuals{{"C-1/FG-1", 120}, {"C-2/FG-1", 50}, {"decision/T1", 1}};
  Ok(workflow.DecideOpenCycle(kEve, now, "EU", "2026-12", actuals));
  const auto& items = cycle().carry_over;
  ASSERT_EQ(items.size(), 7u);
  auto expect = [&](std::size_t i, std::string reference, CarryOverStatus status,
                    std::string basis) {
    EXPECT_EQ(items[i].reference, reference) << i;
    EXPECT_EQ(ToString(items[i].status), ToString(status)) << i;
    EXPECT_EQ(items[i].basis, basis) << i;
  };
  expect(0, "T1", CarryOverStatus::kRenegotiated, "superseded by 'subcontract' due 2026-11-25");
  expect(1, "T1", CarryOverStatus::kKept, "reported done");
  expect(2, "T2", CarryOverStatus::kPending, "due 2026-12-20");
  expect(3, "EU-2026-11/C1", CarryOverStatus::kKept, "delivered 120 of 100");
  expect(4, "EU-2026-11/C2", CarryOverStatus::kMissed, "delivered 50 of 80 by 2026-11-27");
  expect(5, "EU-2026-11/C3", CarryOverStatus::kRenegotiated,
         "superseded by EU-2026-11/C4 (30 due 2026-12-15)");
  expect(6, "EU-2026-11/C4", CarryOverStatus::kPending, "due 2026-12-15");
}

TEST_F(Cycle1, ChangeRequestsInsideTheFenceWaitForASupplyLead) {
  Ok(workflow.DecideOpenCycle(kEve, now, "EU", "2026-12", {}));
  ChangeRequest request;
  request.cycle_id = id;
  request.item_id = "FG-1";
  request.site_id = "PL1";
  request.period_start = D(2027, 1, 4);  // fence: 2026-12-01..2026-12-28
  request.quantity_delta = 40;
  request.reason = "promo";
  auto outside = workflow.DecideCreateChangeRequest(kSam, now, request);
  ASSERT_FALSE(outside);
  EXPECT_EQ(outside.error().message(),
            "period_start: outside the frozen fence 2026-12-01..2026-12-28 (change the plan "
            "directly), got '2027-01-04'");
  request.period_start = D(2026, 12, 14);
  auto created = Ok(workflow.DecideCreateChangeRequest(kSam, now, request));
  const std::string cr = std::get<ChangeRequestCreated>(created.change).request.id;
  EXPECT_EQ(cr, "EU-2026-12/CR1");
  EXPECT_EQ(workflow.FindChangeRequest(cr)->status, ChangeRequestStatus::kPending);
  EXPECT_EQ(Code(workflow.DecideChangeRequest(kSam, now, cr, true, "", "")),
            Errc::kPermissionDenied);
  EXPECT_EQ(Code(workflow.DecideChangeRequest(kSupi, now, cr, false, "", "")),
            Errc::kInvalidArgument);
  Ok(workflow.DecideChangeRequest(kSupi, now, cr, true, "capacity ok", "adj-1"));
  EXPECT_EQ(workflow.FindChangeRequest(cr)->status, ChangeRequestStatus::kApproved);
  EXPECT_EQ(workflow.FindChangeRequest(cr)->applied_reference, "adj-1");
  EXPECT_EQ(Code(workflow.DecideChangeRequest(kSupi, now, cr, false, "no", "")),
            Errc::kFailedPrecondition);
  EXPECT_EQ(Code(workflow.DecideChangeRequest(kSupi, now, "EU-2026-12/CR9", true, "", "")),
            Errc::kNotFound);
}

TEST_F(Cycle1, ReplayRebuildsTheSameStateAndRejectsATamperedArtifact) {
  std::vector<Event> log;
  auto record = [&](Result<Event> event) { log.push_back(Ok(std::move(event))); };
  record(workflow.DecideOpenCycle(kEve, now, "EU", "2026-12", {}));
  record(workflow.DecideSubmit(kDana, now, id, Stage::kDemandReview, Doc("v1")));
  record(workflow.DecideSendBack(kDana, now, id, Stage::kDemandReview, "typo"));
  record(workflow.DecideSubmit(kDana, now, id, Stage::kDemandReview, Doc("v2")));
  const auto& v2 = std::get<ArtifactSubmitted>(log.back().change);
  record(workflow.DecideSign(kDana, now, id, Stage::kDemandReview, 2, v2.content_sha256));

  Workflow replayed(workflow.policy());
  for (const auto& event : log) ASSERT_TRUE(replayed.Apply(event));
  const auto& a = cycle();
  const auto& b = *replayed.FindCycle(id);
  EXPECT_EQ(b.current, a.current);
  ASSERT_EQ(b.StageOf(Stage::kDemandReview).versions.size(), 2u);
  EXPECT_EQ(b.StageOf(Stage::kDemandReview).versions[0].status, ArtifactStatus::kSentBack);
  EXPECT_EQ(b.StageOf(Stage::kDemandReview).versions[1].signature->principal, "dana");
  EXPECT_EQ(replayed.last_sequence(), 5u);

  Workflow tampered(workflow.policy());
  ASSERT_TRUE(tampered.Apply(log[0]));
  Event changed = log[1];
  std::get<ArtifactSubmitted>(changed.change).document.tables[0].rows[0][1] = "999";
  auto refused = tampered.Apply(changed);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), Errc::kDataLoss);
  auto gap = tampered.Apply(log[2]);
  ASSERT_FALSE(gap);
  EXPECT_EQ(gap.error().code(), Errc::kFailedPrecondition);  // sequence 3 cannot follow 1
}

TEST(Artifact, CanonicalJsonIsStableAndEscaped) {
  ArtifactDocument doc;
  doc.stage = Stage::kSupplyReview;
  doc.cycle_id = "EU-2026-12";
  doc.tables.push_back({"gaps", {"family", "short"}, {{"Pumps \"X\"", "300"}}});
  doc.unavailable_sources.push_back("capacity: UNAVAILABLE: connect failed");
  EXPECT_EQ(CanonicalJson(doc),
            "{\"format\":1,\"stage\":\"supply_review\",\"cycle_id\":\"EU-2026-12\",\"title\":"
            "\"Supply plan\",\"tables\":[{\"name\":\"gaps\",\"columns\":[\"family\",\"short\"],"
            "\"rows\":[[\"Pumps \\\"X\\\"\",\"300\"]]}],\"trade_offs\":[],\"unavailable_sources\":"
            "[\"capacity: UNAVAILABLE: connect failed\"],\"notes\":[]}");
  EXPECT_EQ(ContentHash(doc).size(), 64u);
  doc.tables[0].rows[0].push_back("extra");
  auto invalid = Validate(doc);
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error().message(),
            "artifact.tables['gaps'].rows[0]: must have 2 cells, got '3 cells'");
}

}  // namespace
}  // namespace sop::workflow
