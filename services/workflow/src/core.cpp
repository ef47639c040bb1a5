#include "sop/workflow/core.hpp"

#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <set>

namespace sop::workflow {
namespace {

using std::chrono::days;
using std::chrono::sys_days;

bool IsName(std::string_view text, std::size_t max) {
  return !text.empty() && text.size() <= max && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.';
  });
}

std::string Quantity(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3f", value);
  std::string text(buffer);
  while (!text.empty() && text.back() == '0') text.pop_back();
  if (!text.empty() && text.back() == '.') text.pop_back();
  return text;
}

Status RequireRole(const Actor& actor, std::string_view method,
                   std::initializer_list<std::string_view> roles) {
  std::string needed;
  for (auto role : roles) {
    if (actor.Has(role)) return {};
    if (!needed.empty()) needed += " or ";
    needed += role;
  }
  std::string has;
  for (const auto& role : actor.roles) has += (has.empty() ? "" : ",") + role;
  return Fail(Errc::kPermissionDenied, std::string(method) + ": principal '" + actor.principal +
                                           "' needs role " + needed + ", has '" + has + "'");
}

Date AddDays(Date date, int count) {
  return Date{sys_days(date) + days(count)};
}

Stage Next(Stage stage) {
  return stage == Stage::kClosed ? Stage::kClosed : static_cast<Stage>(static_cast<int>(stage) + 1);
}

Status Corrupt(const Event& event, std::string_view what) {
  return Fail(Errc::kDataLoss, "workflow event " + std::to_string(event.sequence) + " (" +
                                   std::string(ActionOf(event.change)) + ", cycle '" +
                                   event.cycle_id + "'): " + std::string(what));
}

}  // namespace

std::string FormatDate(Date date) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02u", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
  return buffer;
}

Result<Date> ParseDate(std::string_view field, std::string_view text) {
  int year = 0;
  unsigned month = 0, day = 0;
  char tail = 0;
  const std::string copy(text);
  if (text.size() != 10 ||
      std::sscanf(copy.c_str(), "%4d-%2u-%2u%c", &year, &month, &day, &tail) != 3) {
    return InvalidField(field, "must be a date YYYY-MM-DD", text);
  }
  Date date{std::chrono::year(year), std::chrono::month(month), std::chrono::day(day)};
  if (!date.ok()) return InvalidField(field, "is not a calendar date", text);
  return date;
}

std::string FormatTimestamp(Timestamp at) {
  const auto day = std::chrono::floor<days>(at);
  const Date date{day};
  const auto ms = (at - day).count();
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%sT%02lld:%02lld:%02lld.%03lldZ", FormatDate(date).c_str(),
                static_cast<long long>(ms / 3'600'000), static_cast<long long>(ms / 60'000 % 60),
                static_cast<long long>(ms / 1000 % 60), static_cast<long long>(ms % 1000));
  return buffer;
}

std::string_view SignOffRole(Stage stage) {
  switch (stage) {
    case Stage::kDemandReview:
      return roles::kDemandLead;
    case Stage::kSupplyReview:
      return roles::kSupplyLead;
    case Stage::kPreSop:
      return roles::kFinancePartner;
    case Stage::kExecutiveSop:
      return roles::kExecutive;
    case Stage::kCommitBack:
      return roles::kSalesLead;
    case Stage::kClosed:
      return "";
  }
  return "";
}

int StageLastDay(Stage stage) {
  switch (stage) {
    case Stage::kDemandReview:
      return 3;
    case Stage::kSupplyReview:
      return 5;
    case Stage::kPreSop:
      return 8;
    case Stage::kExecutiveSop:
      return 10;
    case Stage::kCommitBack:
      return 14;
    case Stage::kClosed:
      return 14;
  }
  return 14;
}

Result<Date> CycleOpenDate(const CalendarPolicy& policy, std::string_view period) {
  int year = 0;
  unsigned month = 0;
  char tail = 0;
  const std::string copy(period);
  if (period.size() != 7 || std::sscanf(copy.c_str(), "%4d-%2u%c", &year, &month, &tail) != 2 ||
      month < 1 || month > 12) {
    return InvalidField("period", "must be a month YYYY-MM", period);
  }
  if (policy.open_working_day < 1 || policy.open_working_day > 20) {
    return InvalidField("open_working_day", "must be 1..20",
                        std::to_string(policy.open_working_day));
  }
  int working = 0;
  for (unsigned day = 1; day <= 31; ++day) {
    const Date date{std::chrono::year(year), std::chrono::month(month), std::chrono::day(day)};
    const std::chrono::weekday weekday{sys_days(date)};
    if (weekday == std::chrono::Saturday || weekday == std::chrono::Sunday) continue;
    if (++working == policy.open_working_day) return date;
  }
  return Fail(Errc::kInternal, "no working day " + std::to_string(policy.open_working_day));
}

bool Actor::Has(std::string_view role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

std::string_view ToString(ArtifactStatus status) {
  switch (status) {
    case ArtifactStatus::kSubmitted:
      return "submitted";
    case ArtifactStatus::kSigned:
      return "signed";
    case ArtifactStatus::kSentBack:
      return "sent_back";
    case ArtifactStatus::kSuperseded:
      return "superseded";
  }
  return "unknown";
}

std::string_view ToString(CarryOverStatus status) {
  switch (status) {
    case CarryOverStatus::kKept:
      return "kept";
    case CarryOverStatus::kMissed:
      return "missed";
    case CarryOverStatus::kRenegotiated:
      return "re-negotiated";
    case CarryOverStatus::kPending:
      return "pending";
  }
  return "unknown";
}

std::string_view ToString(ChangeRequestKind kind) {
  return kind == ChangeRequestKind::kDemand ? "demand" : "supply";
}

std::string_view ToString(ChangeRequestStatus status) {
  switch (status) {
    case ChangeRequestStatus::kPending:
      return "pending";
    case ChangeRequestStatus::kApproved:
      return "approved";
    case ChangeRequestStatus::kRejected:
      return "rejected";
  }
  return "unknown";
}

bool StageState::Signed() const {
  const auto* latest = Latest();
  return latest != nullptr && latest->status == ArtifactStatus::kSigned;
}

std::vector<TradeOff> Cycle::TradeOffs() const {
  for (auto it = StageOf(Stage::kPreSop).versions.rbegin();
       it != StageOf(Stage::kPreSop).versions.rend(); ++it) {
    if (it->status == ArtifactStatus::kSigned) return it->document.trade_offs;
  }
  return {};
}

bool Cycle::Overdue(Stage stage, Timestamp now) const {
  if (stage == Stage::kClosed || stage != current) return false;
  return now >= Timestamp(sys_days(StageOf(stage).due_date) + days(1));
}

std::string_view ActionOf(const Change& change) {
  struct Visitor {
    std::string_view operator()(const CycleOpened&) const { return "open_cycle"; }
    std::string_view operator()(const ArtifactSubmitted&) const { return "submit_artifact"; }
    std::string_view operator()(const ArtifactSigned&) const { return "sign"; }
    std::string_view operator()(const StageSentBack&) const { return "send_back"; }
    std::string_view operator()(const DecisionRecorded&) const { return "record_decision"; }
    std::string_view operator()(const CommitmentRecorded&) const { return "commit_to_customer"; }
    std::string_view operator()(const MeetingMoved&) const { return "move_meeting"; }
    std::string_view operator()(const StageOverdueRaised&) const { return "stage_overdue"; }
    std::string_view operator()(const ChangeRequestCreated&) const {
      return "create_change_request";
    }
    std::string_view operator()(const ChangeRequestDecided& decided) const {
      return decided.approved ? "approve_change_request" : "reject_change_request";
    }
  };
  return std::visit(Visitor{}, change);
}

Workflow::Workflow(CalendarPolicy policy) : policy_(policy) {}

std::string Workflow::CycleId(std::string_view business_unit, std::string_view period) {
  return std::string(business_unit) + "-" + std::string(period);
}

const Cycle* Workflow::FindCycle(std::string_view cycle_id) const {
  auto found = cycles_.find(cycle_id);
  return found == cycles_.end() ? nullptr : &found->second;
}

const ChangeRequest* Workflow::FindChangeRequest(std::string_view id) const {
  const auto slash = id.find('/');
  if (slash == std::string_view::npos) return nullptr;
  const auto* cycle = FindCycle(id.substr(0, slash));
  if (cycle == nullptr) return nullptr;
  for (const auto& request : cycle->change_requests) {
    if (request.id == id) return &request;
  }
  return nullptr;
}

Result<const Cycle*> Workflow::Require(std::string_view cycle_id) const {
  if (cycle_id.empty()) return InvalidField("cycle_id", "required", cycle_id);
  const auto* cycle = FindCycle(cycle_id);
  if (cycle == nullptr) {
    return Fail(Errc::kNotFound, "cycle '" + std::string(cycle_id) + "' not found");
  }
  return cycle;
}

Event Workflow::Make(const Actor& actor, Timestamp now, std::string_view cycle_id,
                     Change change) const {
  return Event{last_sequence_ + 1, std::string(cycle_id), now, actor.principal, std::move(change)};
}

std::vector<CarryOverItem> Workflow::CarryOver(std::string_view business_unit,
                                               std::string_view period, Date open_date,
                                               const Actuals& actuals) const {
  const auto open = CycleOpenDate(policy_, period);
  if (!open) return {};
  const std::chrono::year_month previous =
      std::chrono::year_month(open->year(), open->month()) - std::chrono::months(1);
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u", static_cast<int>(previous.year()),
                static_cast<unsigned>(previous.month()));
  const auto* last = FindCycle(CycleId(business_unit, buffer));
  if (last == nullptr) return {};

  std::vector<CarryOverItem> items;
  const auto due_status = [&](Date due, bool done, std::string done_basis, std::string open_basis) {
    if (done) return std::pair{CarryOverStatus::kKept, std::move(done_basis)};
    if (sys_days(due) < sys_days(open_date)) {
      return std::pair{CarryOverStatus::kMissed, std::move(open_basis)};
    }
    return std::pair{CarryOverStatus::kPending, "due " + FormatDate(due)};
  };
  for (std::size_t i = 0; i < last->decisions.size(); ++i) {
    const auto& decision = last->decisions[i];
    CarryOverItem item{"decision",
                       decision.trade_off_id,
                       decision.chosen_option + " (owner " + decision.owner + ")",
                       decision.due_date,
                       CarryOverStatus::kPending,
                       ""};
    const auto later = std::find_if(
        last->decisions.begin() + static_cast<std::ptrdiff_t>(i) + 1, last->decisions.end(),
        [&](const Decision& other) { return other.trade_off_id == decision.trade_off_id; });
    if (later != last->decisions.end()) {
      item.status = CarryOverStatus::kRenegotiated;
      item.basis =
          "superseded by '" + later->chosen_option + "' due " + FormatDate(later->due_date);
    } else {
      const auto actual = actuals.find("decision/" + decision.trade_off_id);
      std::tie(item.status, item.basis) = due_status(
          decision.due_date, actual != actuals.end() && actual->second >= 1, "reported done",
          "due " + FormatDate(decision.due_date) + ", not reported done");
    }
    items.push_back(std::move(item));
  }
  for (std::size_t i = 0; i < last->commitments.size(); ++i) {
    const auto& commitment = last->commitments[i];
    CarryOverItem item{"commitment",
                       commitment.commitment_id,
                       Quantity(commitment.quantity) + " x " + commitment.item_id + " to " +
                           commitment.customer_id,
                       commitment.due_date,
                       CarryOverStatus::kPending,
                       ""};
    const auto later = std::find_if(last->commitments.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                                    last->commitments.end(), [&](const Commitment& other) {
                                      return other.customer_id == commitment.customer_id &&
                                             other.item_id == commitment.item_id;
                                    });
    if (later != last->commitments.end()) {
      item.status = CarryOverStatus::kRenegotiated;
      item.basis = "superseded by " + later->commitment_id + " (" + Quantity(later->quantity) +
                   " due " + FormatDate(later->due_date) + ")";
    } else {
      const auto actual = actuals.find(commitment.customer_id + "/" + commitment.item_id);
      if (actual == actuals.end()) {
        std::tie(item.status, item.basis) =
            due_status(commitment.due_date, false, "",
                       "due " + FormatDate(commitment.due_date) + ", no delivery reported");
      } else {
        const std::string delivered =
            "delivered " + Quantity(actual->second) + " of " + Quantity(commitment.quantity);
        std::tie(item.status, item.basis) =
            due_status(commitment.due_date, actual->second >= commitment.quantity - 1e-9, delivered,
                       delivered + " by " + FormatDate(commitment.due_date));
        if (item.status == CarryOverStatus::kPending) item.basis = delivered + " so far";
      }
    }
    items.push_back(std::move(item));
  }
  return items;
}

Result<Event> Workflow::DecideOpenCycle(const Actor& actor, Timestamp now,
                                        std::string_view business_unit, std::string_view period,
                                        const Actuals& actuals) const {
  if (auto allowed = RequireRole(actor, "OpenCycle", {roles::kExecutive, roles::kDemandLead});
      !allowed) {
    return std::unexpected(allowed.error());
  }
  if (!IsName(business_unit, 32)) {
    return InvalidField("business_unit", "must be 1..32 of [A-Za-z0-9_.]", business_unit);
  }
  auto open_date = CycleOpenDate(policy_, period);
  if (!open_date) return std::unexpected(open_date.error());
  const std::string cycle_id = CycleId(business_unit, period);
  if (FindCycle(cycle_id) != nullptr) {
    return Fail(Errc::kAlreadyExists, "cycle '" + cycle_id + "' already exists");
  }
  CycleOpened opened{std::string(business_unit), std::string(period), *open_date,
                     AddDays(*open_date, StageLastDay(Stage::kExecutiveSop) - 1),
                     CarryOver(business_unit, period, *open_date, actuals)};
  return Make(actor, now, cycle_id, std::move(opened));
}

Result<Event> Workflow::DecideSubmit(const Actor& actor, Timestamp now, std::string_view cycle_id,
                                     Stage stage, ArtifactDocument document) const {
  auto cycle = Require(cycle_id);
  if (!cycle) return std::unexpected(cycle.error());
  if (stage == Stage::kClosed) return InvalidField("stage", "closed has no artifact", "closed");
  if (auto allowed = RequireRole(actor, "SubmitArtifact", {SignOffRole(stage), roles::kPlanner});
      !allowed) {
    return std::unexpected(allowed.error());
  }
  const Cycle& c = **cycle;
  if (stage != c.current) {
    return Fail(Errc::kFailedPrecondition,
                "stage: cycle '" + c.cycle_id + "' is at " + std::string(ToString(c.current)) +
                    "; " + std::string(ToString(stage)) + " cannot be submitted out of order");
  }
  document.stage = stage;
  document.cycle_id = c.cycle_id;
  if (auto valid = Validate(document); !valid) return std::unexpected(valid.error());
  ArtifactSubmitted submitted{stage, static_cast<int>(c.StageOf(stage).versions.size()) + 1,
                              std::move(document), ""};
  submitted.content_sha256 = ContentHash(submitted.document);
  return Make(actor, now, cycle_id, std::move(submitted));
}

Result<Event> Workflow::DecideSign(const Actor& actor, Timestamp now, std::string_view cycle_id,
                                   Stage stage, int version,
                                   std::string_view content_sha256) const {
  auto cycle = Require(cycle_id);
  if (!cycle) return std::unexpected(cycle.error());
  if (stage == Stage::kClosed) return InvalidField("stage", "closed has no artifact", "closed");
  const std::string_view role = SignOffRole(stage);
  if (auto allowed = RequireRole(actor, "Sign " + std::string(ToString(stage)), {role}); !allowed) {
    return std::unexpected(allowed.error());
  }
  const Cycle& c = **cycle;
  if (stage != c.current) {
    return Fail(Errc::kFailedPrecondition,
                "stage: cycle '" + c.cycle_id + "' is at " + std::string(ToString(c.current)) +
                    "; " + std::string(ToString(stage)) + " cannot be signed out of order");
  }
  const auto* latest = c.StageOf(stage).Latest();
  if (latest == nullptr) {
    return Fail(Errc::kFailedPrecondition, std::string(ToString(stage)) + " of cycle '" +
                                               c.cycle_id + "': no artifact submitted yet");
  }
  if (version != latest->version) {
    return Fail(Errc::kFailedPrecondition,
                "version: " + std::string(ToString(stage)) + " v" + std::to_string(version) +
                    " is not the latest version (v" + std::to_string(latest->version) + ")");
  }
  if (latest->status != ArtifactStatus::kSubmitted) {
    return Fail(Errc::kFailedPrecondition,
                std::string(ToString(stage)) + " v" + std::to_string(version) + " is " +
                    std::string(ToString(latest->status)) + ", not awaiting a signature");
  }
  if (content_sha256 != latest->content_sha256) {
    return Fail(Errc::kFailedPrecondition,
                "content_sha256: does not match the frozen " + std::string(ToString(stage)) + " v" +
                    std::to_string(version) + " (" + latest->content_sha256 + "), got '" +
                    std::string(content_sha256) + "'");
  }
  if (stage == Stage::kExecutiveSop) {
    std::string undecided;
    for (const auto& trade_off : c.TradeOffs()) {
      const bool decided =
          std::any_of(c.decisions.begin(), c.decisions.end(),
                      [&](const Decision& d) { return d.trade_off_id == trade_off.id; });
      if (!decided) undecided += (undecided.empty() ? "" : ", ") + trade_off.id;
    }
    if (!undecided.empty()) {
      return Fail(Errc::kFailedPrecondition,
                  "executive_sop: no decision recorded on trade-off(s) " + undecided);
    }
  }
  const bool stale =
      (stage == Stage::kExecutiveSop &&
       std::any_of(c.decisions.begin(), c.decisions.end(),
                   [&](const Decision& d) { return d.sequence > latest->sequence; })) ||
      (stage == Stage::kCommitBack &&
       std::any_of(c.commitments.begin(), c.commitments.end(),
                   [&](const Commitment& m) { return m.sequence > latest->sequence; }));
  if (stale) {
    return Fail(Errc::kFailedPrecondition,
                std::string(ToString(stage)) + " v" + std::to_string(version) +
                    " predates a later decision or commitment: submit a new version first");
  }
  return Make(actor, now, cycle_id,
              ArtifactSigned{stage, version, std::string(content_sha256), std::string(role)});
}

Result<Event> Workflow::DecideSendBack(const Actor& actor, Timestamp now, std::string_view cycle_id,
                                       Stage stage, std::string_view reason) const {
  auto cycle = Require(cycle_id);
  if (!cycle) return std::unexpected(cycle.error());
  const Cycle& c = **cycle;
  if (stage == Stage::kClosed) return InvalidField("stage", "closed cannot be sent back", "closed");
  if (auto allowed = RequireRole(actor, "SendBack",
                                 {SignOffRole(c.current), SignOffRole(stage), roles::kExecutive});
      !allowed) {
    return std::unexpected(allowed.error());
  }
  if (reason.empty()) return InvalidField("reason", "required", reason);
  if (c.current == Stage::kClosed) {
    return Fail(Errc::kFailedPrecondition, "cycle '" + c.cycle_id + "' is closed");
  }
  if (static_cast<int>(stage) > static_cast<int>(c.current)) {
    return Fail(Errc::kFailedPrecondition,
                "stage: cycle '" + c.cycle_id + "' is at " + std::string(ToString(c.current)) +
                    "; " + std::string(ToString(stage)) + " has not been reached");
  }
  const auto* latest = c.StageOf(stage).Latest();
  if (latest == nullptr ||
      (latest->status != ArtifactStatus::kSubmitted && latest->status != ArtifactStatus::kSigned)) {
    return Fail(Errc::kFailedPrecondition, std::string(ToString(stage)) + " of cycle '" +
                                               c.cycle_id + "' has no artifact to send back");
  }
  return Make(actor, now, cycle_id, StageSentBack{stage, std::string(reason)});
}

Result<Event> Workflow::DecideDecision(const Actor& actor, Timestamp now, std::string_view cycle_id,
                                       Decision decision) const {
  auto cycle = Require(cycle_id);
  if (!cycle) return std::unexpected(cycle.error());
  if (auto allowed = RequireRole(actor, "RecordDecision", {roles::kExecutive}); !allowed) {
    return std::unexpected(allowed.error());
  }
  const Cycle& c = **cycle;
  if (c.current != Stage::kExecutiveSop) {
    return Fail(Errc::kFailedPrecondition, "cycle '" + c.cycle_id + "' is at " +
                                               std::string(ToString(c.current)) +
                                               "; decisions are recorded in executive_sop");
  }
  const auto trade_offs = c.TradeOffs();
  const auto found = std::find_if(trade_offs.begin(), trade_offs.end(),
                                  [&](const TradeOff& t) { return t.id == decision.trade_off_id; });
  if (found == trade_offs.end()) {
    return Fail(Errc::kNotFound, "trade-off '" + decision.trade_off_id +
                                     "' not in the signed reconciliation pack of cycle '" +
                                     c.cycle_id + "'");
  }
  if (decision.chosen_option.empty()) return InvalidField("chosen_option", "required", "");
  if (!found->options.empty() && std::find(found->options.begin(), found->options.end(),
                                           decision.chosen_option) == found->options.end()) {
    return InvalidField("chosen_option", "must be one of the trade-off's options",
                        decision.chosen_option);
  }
  if (decision.owner.empty()) return InvalidField("owner", "required", "");
  if (!decision.due_date.ok()) return InvalidField("due_date", "required", "");
  decision.decided_by = actor.principal;
  decision.decided_at = now;
  return Make(actor, now, cycle_id, DecisionRecorded{std::move(decision)});
}

Result<Event> Workflow::DecideCommitment(const Actor& actor, Timestamp now,
                                         std::string_view cycle_id, Commitment commitment) const {
  auto cycle = Require(cycle_id);
  if (!cycle) return std::unexpected(cycle.error());
  if (auto allowed = RequireRole(actor, "CommitToCustomer", {roles::kSalesLead}); !allowed) {
    return std::unexpected(allowed.error());
  }
  const Cycle& c = **cycle;
  if (c.current != Stage::kCommitBack) {
    return Fail(Errc::kFailedPrecondition, "cycle '" + c.cycle_id + "' is at " +
                                               std::string(ToString(c.current)) +
                                               "; customer commitments are made in commit_back");
  }
  if (commitment.customer_id.empty()) return InvalidField("customer_id", "required", "");
  if (commitment.item_id.empty()) return InvalidField("item_id", "required", "");
  if (!(commitment.quantity > 0)) {
    return InvalidField("quantity", "must be > 0", Quantity(commitment.quantity));
  }
  if (!commitment.due_date.ok()) return InvalidField("due_date", "required", "");
  commitment.commitment_id = c.cycle_id + "/C" + std::to_string(c.commitments.size() + 1);
  commitment.promised_by = actor.principal;
  commitment.promised_at = now;
  return Make(actor, now, cycle_id, CommitmentRecorded{std::move(commitment)});
}

Result<Event> Workflow::DecideMoveMeeting(const Actor& actor, Timestamp now,
                                          std::string_view cycle_id, Date meeting_date,
                                          std::string_view reason) const {
  auto cycle = Require(cycle_id);
  if (!cycle) return std::unexpected(cycle.error());
  if (auto allowed = RequireRole(actor, "MoveMeeting", {roles::kExecutive}); !allowed) {
    return std::unexpected(allowed.error());
  }
  const Cycle& c = **cycle;
  if (static_cast<int>(c.current) > static_cast<int>(Stage::kExecutiveSop)) {
    return Fail(Errc::kFailedPrecondition,
                "cycle '" + c.cycle_id + "' is past executive_sop; the meeting cannot move");
  }
  const Date first = c.open_date;
  const Date last = AddDays(c.open_date, StageLastDay(Stage::kCommitBack) - 1);
  if (!meeting_date.ok() || sys_days(meeting_date) < sys_days(first) ||
      sys_days(meeting_date) > sys_days(last)) {
    return InvalidField(
        "meeting_date",
        "must be inside the cycle window " + FormatDate(first) + ".." + FormatDate(last),
        meeting_date.ok() ? FormatDate(meeting_date) : "");
  }
  if (meeting_date == c.meeting_date) {
    return InvalidField("meeting_date", "is already the meeting date", FormatDate(meeting_date));
  }
  if (reason.empty()) return InvalidField("reason", "required", reason);
  return Make(actor, now, cycle_id,
              MeetingMoved{c.meeting_date, meeting_date, std::string(reason)});
}

Result<Event> Workflow::DecideCreateChangeRequest(const Actor& actor, Timestamp now,
                                                  ChangeRequest request) const {
  auto cycle = Require(request.cycle_id);
  if (!cycle) return std::unexpected(cycle.error());
  if (auto allowed =
          RequireRole(actor, "CreateChangeRequest",
                      {roles::kDemandLead, roles::kSalesLead, roles::kSupplyLead, roles::kPlanner});
      !allowed) {
    return std::unexpected(allowed.error());
  }
  if (request.item_id.empty()) return InvalidField("item_id", "required", "");
  if (request.site_id.empty()) return InvalidField("site_id", "required", "");
  if (request.quantity_delta == 0) return InvalidField("quantity_delta", "must not be 0", "0");
  if (request.kind == ChangeRequestKind::kSupply && request.quantity_delta < 0) {
    // An approved supply change becomes a firm receipt (a purchase order line) for ingestion;
    // less supply means changing or cancelling the order itself in the ERP.
    char value[32];
    std::snprintf(value, sizeof value, "%g", request.quantity_delta);
    return InvalidField("quantity_delta",
                        "a supply change adds a firm receipt and must be > 0 (reduce supply by "
                        "changing the order in the ERP)",
                        value);
  }
  if (request.reason.empty()) return InvalidField("reason", "required", "");
  const Date today{std::chrono::floor<days>(now)};
  const Date fence_end = AddDays(today, policy_.frozen_fence_days - 1);
  if (!request.period_start.ok() || sys_days(request.period_start) < sys_days(today) ||
      sys_days(request.period_start) > sys_days(fence_end)) {
    return InvalidField("period_start",
                        "outside the frozen fence " + FormatDate(today) + ".." +
                            FormatDate(fence_end) + " (change the plan directly)",
                        request.period_start.ok() ? FormatDate(request.period_start) : "");
  }
  const Cycle& c = **cycle;
  request.id = c.cycle_id + "/CR" + std::to_string(c.change_requests.size() + 1);
  request.requested_by = actor.principal;
  request.requested_at = now;
  request.status = ChangeRequestStatus::kPending;
  request.decided_by.clear();
  request.decision_reason.clear();
  request.applied_reference.clear();
  const std::string id = c.cycle_id;
  return Make(actor, now, id, ChangeRequestCreated{std::move(request)});
}

Result<Event> Workflow::DecideChangeRequest(const Actor& actor, Timestamp now, std::string_view id,
                                            bool approve, std::string_view reason,
                                            std::string_view applied_reference) const {
  const auto* request = FindChangeRequest(id);
  if (request == nullptr) {
    return Fail(Errc::kNotFound, "change request '" + std::string(id) + "' not found");
  }
  if (auto allowed = RequireRole(actor, approve ? "ApproveChangeRequest" : "RejectChangeRequest",
                                 {roles::kSupplyLead});
      !allowed) {
    return std::unexpected(allowed.error());
  }
  if (request->status != ChangeRequestStatus::kPending) {
    return Fail(Errc::kFailedPrecondition, "change request '" + request->id + "' is already " +
                                               std::string(ToString(request->status)));
  }
  if (!approve && reason.empty()) return InvalidField("reason", "required to reject", reason);
  return Make(actor, now, request->cycle_id,
              ChangeRequestDecided{request->id, approve, std::string(reason),
                                   std::string(applied_reference)});
}

std::vector<Event> Workflow::DetectOverdue(Timestamp now) const {
  std::vector<Event> events;
  const Actor system{"system", {}};
  for (const auto& [id, cycle] : cycles_) {
    if (cycle.current == Stage::kClosed) continue;
    const auto& stage = cycle.StageOf(cycle.current);
    if (stage.overdue_raised || !cycle.Overdue(cycle.current, now)) continue;
    Event event = Make(system, now, id, StageOverdueRaised{cycle.current, stage.due_date});
    event.sequence += events.size();
    events.push_back(std::move(event));
  }
  return events;
}

Status Workflow::Apply(const Event& event) {
  if (event.sequence != last_sequence_ + 1) {
    return Fail(Errc::kFailedPrecondition,
                "workflow event sequence " + std::to_string(event.sequence) + " is not the next (" +
                    std::to_string(last_sequence_ + 1) + ")");
  }
  Cycle* cycle = nullptr;
  if (!std::holds_alternative<CycleOpened>(event.change)) {
    auto found = cycles_.find(event.cycle_id);
    if (found == cycles_.end()) return Corrupt(event, "unknown cycle");
    cycle = &found->second;
  }
  Status applied = std::visit(
      [&](const auto& change) -> Status {
        using T = std::decay_t<decltype(change)>;
        if constexpr (std::is_same_v<T, CycleOpened>) {
          if (cycles_.contains(event.cycle_id)) return Corrupt(event, "cycle opened twice");
          Cycle opened;
          opened.cycle_id = event.cycle_id;
          opened.business_unit = change.business_unit;
          opened.period = change.period;
          opened.open_date = change.open_date;
          opened.meeting_date = change.meeting_date;
          opened.carry_over = change.carry_over;
          for (int s = 0; s < kSignedStageCount; ++s) {
            const auto stage = static_cast<Stage>(s);
            opened.stages.push_back({stage,
                                     stage == Stage::kExecutiveSop
                                         ? change.meeting_date
                                         : AddDays(change.open_date, StageLastDay(stage) - 1),
                                     {},
                                     false});
          }
          cycles_.emplace(event.cycle_id, std::move(opened));
        } else if constexpr (std::is_same_v<T, ArtifactSubmitted>) {
          if (change.stage == Stage::kClosed) return Corrupt(event, "closed stage");
          auto& stage = cycle->StageOf(change.stage);
          if (change.version != static_cast<int>(stage.versions.size()) + 1) {
            return Corrupt(event, "version out of sequence");
          }
          if (ContentHash(change.document) != change.content_sha256) {
            return Corrupt(event, "artifact content does not hash to its recorded content_sha256");
          }
          if (!stage.versions.empty() &&
              stage.versions.back().status == ArtifactStatus::kSubmitted) {
            stage.versions.back().status = ArtifactStatus::kSuperseded;
          }
          stage.versions.push_back({change.stage, change.version, change.document,
                                    change.content_sha256, event.principal, event.at,
                                    ArtifactStatus::kSubmitted, std::nullopt, "", event.sequence});
        } else if constexpr (std::is_same_v<T, ArtifactSigned>) {
          if (change.stage == Stage::kClosed) return Corrupt(event, "closed stage");
          auto& stage = cycle->StageOf(change.stage);
          if (stage.versions.empty() || stage.versions.back().version != change.version ||
              stage.versions.back().content_sha256 != change.content_sha256) {
            return Corrupt(event, "signature does not match the latest artifact");
          }
          auto& version = stage.versions.back();
          version.status = ArtifactStatus::kSigned;
          version.signature = Signature{event.principal, change.role, event.at,
                                        change.content_sha256, change.version};
          cycle->current = Next(change.stage);
        } else if constexpr (std::is_same_v<T, StageSentBack>) {
          if (change.stage == Stage::kClosed) return Corrupt(event, "closed stage");
          for (int s = static_cast<int>(change.stage);
               s <= static_cast<int>(cycle->current) && s < kSignedStageCount; ++s) {
            auto& stage = cycle->stages[s];
            if (stage.versions.empty()) continue;
            auto& latest = stage.versions.back();
            if (latest.status == ArtifactStatus::kSubmitted ||
                latest.status == ArtifactStatus::kSigned) {
              latest.status = ArtifactStatus::kSentBack;
              latest.sent_back_reason = s == static_cast<int>(change.stage)
                                            ? change.reason
                                            : "reopened with " +
                                                  std::string(ToString(change.stage)) + ": " +
                                                  change.reason;
            }
          }
          cycle->current = change.stage;
        } else if constexpr (std::is_same_v<T, DecisionRecorded>) {
          cycle->decisions.push_back(change.decision);
          cycle->decisions.back().sequence = event.sequence;
        } else if constexpr (std::is_same_v<T, CommitmentRecorded>) {
          cycle->commitments.push_back(change.commitment);
          cycle->commitments.back().sequence = event.sequence;
        } else if constexpr (std::is_same_v<T, MeetingMoved>) {
          cycle->meeting_date = change.to;
          auto& stage = cycle->StageOf(Stage::kExecutiveSop);
          stage.due_date = change.to;
          stage.overdue_raised = false;
        } else if constexpr (std::is_same_v<T, StageOverdueRaised>) {
          if (change.stage == Stage::kClosed) return Corrupt(event, "closed stage");
          cycle->StageOf(change.stage).overdue_raised = true;
        } else if constexpr (std::is_same_v<T, ChangeRequestCreated>) {
          cycle->change_requests.push_back(change.request);
        } else if constexpr (std::is_same_v<T, ChangeRequestDecided>) {
          auto found = std::find_if(cycle->change_requests.begin(), cycle->change_requests.end(),
                                    [&](const ChangeRequest& r) { return r.id == change.id; });
          if (found == cycle->change_requests.end())
            return Corrupt(event, "unknown change request");
          found->status =
              change.approved ? ChangeRequestStatus::kApproved : ChangeRequestStatus::kRejected;
          found->decided_by = event.principal;
          found->decided_at = event.at;
          found->decision_reason = change.reason;
          found->applied_reference = change.applied_reference;
        }
        return {};
      },
      event.change);
  if (!applied) return applied;
  last_sequence_ = event.sequence;
  return {};
}

}  // namespace sop::workflow
