#pragma once
/// The S&OP cycle as a pure, event-sourced state machine (no I/O, no clock, no threads).
///
/// Every command (`Decide*`) validates against the current state and returns the one `Event`
/// that records it, or an Error (kNotFound, kPermissionDenied, kFailedPrecondition,
/// kInvalidArgument naming the field and the value). Nothing changes until the caller has made
/// the event durable and calls `Apply`; replaying the same events in order rebuilds the same
/// state, which is how the service restarts. Roles are checked here because they are part of
/// the governance rules (who signs what); authentication lives in libs/auth.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sop/model/error.hpp"
#include "sop/workflow/artifact.hpp"

namespace sop::workflow {

using Timestamp = std::chrono::sys_time<std::chrono::milliseconds>;
using Date = std::chrono::year_month_day;

/// "2026-12-03"; ParseDate names `field` in its error.
std::string FormatDate(Date date);
Result<Date> ParseDate(std::string_view field, std::string_view text);
/// "2026-12-03T09:30:00.000Z"
std::string FormatTimestamp(Timestamp at);

/// The roles of the cycle (tokens file role names).
namespace roles {
inline constexpr std::string_view kDemandLead = "demand_lead";
inline constexpr std::string_view kSupplyLead = "supply_lead";
inline constexpr std::string_view kFinancePartner = "finance_partner";
inline constexpr std::string_view kExecutive = "executive";
inline constexpr std::string_view kSalesLead = "sales_lead";
/// May prepare (submit) any stage's artifact, signs nothing.
inline constexpr std::string_view kPlanner = "planner";
}  // namespace roles

/// The role whose holder signs the stage's artifact (empty for kClosed).
std::string_view SignOffRole(Stage stage);

/// Calendar: a cycle for period M opens on the `open_working_day`-th Monday–Friday of M; its
/// stages end on the days below (day 1 = the open date), all inside 14 calendar days.
struct CalendarPolicy {
  int open_working_day = 1;  ///< 1..20
  /// Days (inside the cycle, not counting the open date's hour) a change request's period must
  /// start within to count as inside the frozen fence.
  int frozen_fence_days = 28;
};
/// Last day (1-based within the cycle) of each stage: demand 3, supply 5, pre-S&OP 8,
/// executive 10, commit-back 14.
int StageLastDay(Stage stage);
/// The open date of period `period` ("YYYY-MM").
Result<Date> CycleOpenDate(const CalendarPolicy& policy, std::string_view period);

/// Who is acting: the authenticated principal and its roles.
struct Actor {
  std::string principal;
  std::vector<std::string> roles;
  bool Has(std::string_view role) const;
};

enum class ArtifactStatus { kSubmitted, kSigned, kSentBack, kSuperseded };
std::string_view ToString(ArtifactStatus status);

struct Signature {
  std::string principal;
  std::string role;
  Timestamp signed_at{};
  std::string content_sha256;
  int version = 0;
};

/// One frozen version of a stage's artifact. Content and hash never change after submission;
/// only the status moves (signed, sent back, superseded by a newer version).
struct ArtifactVersion {
  Stage stage = Stage::kDemandReview;
  int version = 0;
  ArtifactDocument document;
  std::string content_sha256;
  std::string submitted_by;
  Timestamp submitted_at{};
  ArtifactStatus status = ArtifactStatus::kSubmitted;
  std::optional<Signature> signature;
  std::string sent_back_reason;
  std::uint64_t sequence = 0;  ///< of the event that submitted it
};

/// A decision on a trade-off raised by the reconciliation pack.
struct Decision {
  std::string trade_off_id;
  std::string chosen_option;
  std::string owner;
  Date due_date{};
  std::string decided_by;
  Timestamp decided_at{};
  std::uint64_t sequence = 0;  ///< of the event that recorded it
};

/// A promise made to a customer during commit-back.
struct Commitment {
  std::string commitment_id;  ///< assigned: "<cycle>/C<n>"
  std::string customer_id;
  std::string item_id;
  double quantity = 0;
  Date due_date{};
  std::string promised_by;
  Timestamp promised_at{};
  std::uint64_t sequence = 0;  ///< of the event that recorded it
};

enum class CarryOverStatus { kKept, kMissed, kRenegotiated, kPending };
std::string_view ToString(CarryOverStatus status);

/// The previous cycle's decision or commitment as seen when the next cycle opens.
struct CarryOverItem {
  std::string kind;       ///< "decision" | "commitment"
  std::string reference;  ///< trade-off id or commitment id
  std::string description;
  Date due_date{};
  CarryOverStatus status = CarryOverStatus::kPending;
  std::string basis;  ///< why: "delivered 120 of 100", "superseded by ...", "due ..., no actual"
};

/// What was achieved, reported when the next cycle opens: delivered quantity per
/// "customer/item" for commitments, 1 per "decision/<trade_off_id>" done.
using Actuals = std::map<std::string, double>;

enum class ChangeRequestKind { kDemand, kSupply };
enum class ChangeRequestStatus { kPending, kApproved, kRejected };
std::string_view ToString(ChangeRequestKind kind);
std::string_view ToString(ChangeRequestStatus status);

/// A demand or supply change inside the frozen fence: it reaches planning only once a supply
/// lead approves it.
struct ChangeRequest {
  std::string id;  ///< assigned: "<cycle>/CR<n>"
  std::string cycle_id;
  ChangeRequestKind kind = ChangeRequestKind::kDemand;
  std::string item_id;
  std::string site_id;
  Date period_start{};
  double quantity_delta = 0;
  std::string reason;
  std::string requested_by;
  Timestamp requested_at{};
  ChangeRequestStatus status = ChangeRequestStatus::kPending;
  std::string decided_by;
  Timestamp decided_at{};
  std::string decision_reason;
  std::string applied_reference;  ///< e.g. the forecast adjustment id it became
};

struct StageState {
  Stage stage = Stage::kDemandReview;
  Date due_date{};  ///< last day of the stage; overdue from the next day on
  std::vector<ArtifactVersion> versions;
  bool overdue_raised = false;  ///< an overdue exception was recorded for this stage

  const ArtifactVersion* Latest() const { return versions.empty() ? nullptr : &versions.back(); }
  bool Signed() const;
};

struct Cycle {
  std::string cycle_id;  ///< "<business unit>-<YYYY-MM>"
  std::string business_unit;
  std::string period;
  Date open_date{};
  Date meeting_date{};  ///< the executive S&OP meeting (due date of that stage)
  Stage current = Stage::kDemandReview;
  std::vector<StageState> stages;  ///< one per stage before kClosed, in order
  std::vector<Decision> decisions;
  std::vector<Commitment> commitments;
  std::vector<CarryOverItem> carry_over;
  std::vector<ChangeRequest> change_requests;

  const StageState& StageOf(Stage stage) const { return stages[static_cast<int>(stage)]; }
  StageState& StageOf(Stage stage) { return stages[static_cast<int>(stage)]; }
  /// The trade-offs of the latest signed reconciliation pack.
  std::vector<TradeOff> TradeOffs() const;
  /// True if `stage` is the current stage, unsigned and past its due date at `now`.
  bool Overdue(Stage stage, Timestamp now) const;
};

// ---- Events: what happened, as recorded (and replayed) -------------------------------------
struct CycleOpened {
  std::string business_unit;
  std::string period;
  Date open_date{};
  Date meeting_date{};
  std::vector<CarryOverItem> carry_over;
};
struct ArtifactSubmitted {
  Stage stage{};
  int version = 0;
  ArtifactDocument document;
  std::string content_sha256;
};
struct ArtifactSigned {
  Stage stage{};
  int version = 0;
  std::string content_sha256;
  std::string role;
};
struct StageSentBack {
  Stage stage{};
  std::string reason;
};
struct DecisionRecorded {
  Decision decision;
};
struct CommitmentRecorded {
  Commitment commitment;
};
struct MeetingMoved {
  Date from{};
  Date to{};
  std::string reason;
};
struct StageOverdueRaised {
  Stage stage{};
  Date due_date{};
};
struct ChangeRequestCreated {
  ChangeRequest request;
};
struct ChangeRequestDecided {
  std::string id;
  bool approved = false;
  std::string reason;
  std::string applied_reference;
};

using Change = std::variant<CycleOpened, ArtifactSubmitted, ArtifactSigned, StageSentBack,
                            DecisionRecorded, CommitmentRecorded, MeetingMoved, StageOverdueRaised,
                            ChangeRequestCreated, ChangeRequestDecided>;

struct Event {
  std::uint64_t sequence = 0;  ///< 1, 2, ... over the whole workflow
  std::string cycle_id;
  Timestamp at{};
  std::string principal;  ///< "system" for overdue detection
  Change change;
};
/// "open_cycle", "submit_artifact", "sign", ... (the audit action of the event).
std::string_view ActionOf(const Change& change);

/// The cycle state machine over all cycles. Not thread-safe: the owner serializes calls.
class Workflow {
 public:
  explicit Workflow(CalendarPolicy policy = {});

  Result<Event> DecideOpenCycle(const Actor& actor, Timestamp now, std::string_view business_unit,
                                std::string_view period, const Actuals& actuals) const;
  /// Freezes `document` as the next version of the current stage's artifact.
  Result<Event> DecideSubmit(const Actor& actor, Timestamp now, std::string_view cycle_id,
                             Stage stage, ArtifactDocument document) const;
  /// Signs `version` of `stage`, which must be the current stage; `content_sha256` is the hash the
  /// signer reviewed and must equal the frozen artifact's.
  Result<Event> DecideSign(const Actor& actor, Timestamp now, std::string_view cycle_id,
                           Stage stage, int version, std::string_view content_sha256) const;
  /// Reopens `stage` (the current one or an earlier one) with a reason.
  Result<Event> DecideSendBack(const Actor& actor, Timestamp now, std::string_view cycle_id,
                               Stage stage, std::string_view reason) const;
  Result<Event> DecideDecision(const Actor& actor, Timestamp now, std::string_view cycle_id,
                               Decision decision) const;
  Result<Event> DecideCommitment(const Actor& actor, Timestamp now, std::string_view cycle_id,
                                 Commitment commitment) const;
  Result<Event> DecideMoveMeeting(const Actor& actor, Timestamp now, std::string_view cycle_id,
                                  Date meeting_date, std::string_view reason) const;
  Result<Event> DecideCreateChangeRequest(const Actor& actor, Timestamp now,
                                          ChangeRequest request) const;
  Result<Event> DecideChangeRequest(const Actor& actor, Timestamp now, std::string_view id,
                                    bool approve, std::string_view reason,
                                    std::string_view applied_reference) const;
  /// Overdue exceptions not yet raised at `now` (principal "system"), in cycle order. Each event
  /// must be applied before the next one is decided (they carry consecutive sequences).
  std::vector<Event> DetectOverdue(Timestamp now) const;

  /// Applies a recorded event. kFailedPrecondition if its sequence is not the next one, kDataLoss
  /// if it does not fit the state (a replayed log that was tampered with) or its artifact content
  /// does not hash to the recorded hash.
  Status Apply(const Event& event);

  const Cycle* FindCycle(std::string_view cycle_id) const;
  const ChangeRequest* FindChangeRequest(std::string_view id) const;
  const std::map<std::string, Cycle, std::less<>>& cycles() const { return cycles_; }
  std::uint64_t last_sequence() const { return last_sequence_; }
  const CalendarPolicy& policy() const { return policy_; }
  /// The cycle id of a business unit and period: "EU-2026-12".
  static std::string CycleId(std::string_view business_unit, std::string_view period);

 private:
  Result<const Cycle*> Require(std::string_view cycle_id) const;
  Event Make(const Actor& actor, Timestamp now, std::string_view cycle_id, Change change) const;
  std::vector<CarryOverItem> CarryOver(std::string_view business_unit, std::string_view period,
                                       Date open_date, const Actuals& actuals) const;

  CalendarPolicy policy_;
  std::map<std::string, Cycle, std::less<>> cycles_;
  std::uint64_t last_sequence_ = 0;
};

}  // namespace sop::workflow
