#include "sop/workflow/codec.hpp"

namespace sop::workflow {
// Helpers with internal linkage, in this namespace so they overload the public ToProto.

static sop::v1::ArtifactStatus ToProto(ArtifactStatus status) {
  switch (status) {
    case ArtifactStatus::kSubmitted:
      return sop::v1::ARTIFACT_STATUS_SUBMITTED;
    case ArtifactStatus::kSigned:
      return sop::v1::ARTIFACT_STATUS_SIGNED;
    case ArtifactStatus::kSentBack:
      return sop::v1::ARTIFACT_STATUS_SENT_BACK;
    case ArtifactStatus::kSuperseded:
      return sop::v1::ARTIFACT_STATUS_SUPERSEDED;
  }
  return sop::v1::ARTIFACT_STATUS_UNSPECIFIED;
}

static sop::v1::CarryOverStatus ToProto(CarryOverStatus status) {
  switch (status) {
    case CarryOverStatus::kKept:
      return sop::v1::CARRY_OVER_STATUS_KEPT;
    case CarryOverStatus::kMissed:
      return sop::v1::CARRY_OVER_STATUS_MISSED;
    case CarryOverStatus::kRenegotiated:
      return sop::v1::CARRY_OVER_STATUS_RENEGOTIATED;
    case CarryOverStatus::kPending:
      return sop::v1::CARRY_OVER_STATUS_PENDING;
  }
  return sop::v1::CARRY_OVER_STATUS_UNSPECIFIED;
}

static CarryOverStatus FromProto(sop::v1::CarryOverStatus status) {
  switch (status) {
    case sop::v1::CARRY_OVER_STATUS_KEPT:
      return CarryOverStatus::kKept;
    case sop::v1::CARRY_OVER_STATUS_MISSED:
      return CarryOverStatus::kMissed;
    case sop::v1::CARRY_OVER_STATUS_RENEGOTIATED:
      return CarryOverStatus::kRenegotiated;
    default:
      return CarryOverStatus::kPending;
  }
}

static sop::v1::CarryOverItem ToProto(const CarryOverItem& item) {
  sop::v1::CarryOverItem out;
  out.set_kind(item.kind);
  out.set_reference(item.reference);
  out.set_description(item.description);
  out.set_due_date(FormatDate(item.due_date));
  out.set_status(ToProto(item.status));
  out.set_basis(item.basis);
  return out;
}

static sop::v1::Decision ToProto(const Decision& decision) {
  sop::v1::Decision out;
  out.set_trade_off_id(decision.trade_off_id);
  out.set_chosen_option(decision.chosen_option);
  out.set_owner(decision.owner);
  out.set_due_date(FormatDate(decision.due_date));
  out.set_decided_by(decision.decided_by);
  ToProto(decision.decided_at, out.mutable_decided_at());
  return out;
}

static sop::v1::CustomerCommitment ToProto(const Commitment& commitment) {
  sop::v1::CustomerCommitment out;
  out.set_commitment_id(commitment.commitment_id);
  out.set_customer_id(commitment.customer_id);
  out.set_item_id(commitment.item_id);
  out.set_quantity(commitment.quantity);
  out.set_due_date(FormatDate(commitment.due_date));
  out.set_promised_by(commitment.promised_by);
  ToProto(commitment.promised_at, out.mutable_promised_at());
  return out;
}

/// Parses a date of a stored record: a bad one means the log is corrupt.
static Status ReadDate(std::string_view field, const std::string& text, Date& out) {
  auto date = ParseDate(field, text);
  if (!date) return Fail(Errc::kDataLoss, "workflow event: " + date.error().message());
  out = *date;
  return {};
}

static Status ReadStage(std::string_view field, sop::v1::CycleStage stage, Stage& out) {
  auto parsed = FromProto(field, stage);
  if (!parsed) return Fail(Errc::kDataLoss, "workflow event: " + parsed.error().message());
  out = *parsed;
  return {};
}

sop::v1::CycleStage ToProto(Stage stage) {
  return static_cast<sop::v1::CycleStage>(static_cast<int>(stage) + 1);
}

Result<Stage> FromProto(std::string_view field, sop::v1::CycleStage stage) {
  const int value = static_cast<int>(stage);
  if (value < 1 || value > static_cast<int>(Stage::kClosed) + 1) {
    return InvalidField(field, "must be a cycle stage", sop::v1::CycleStage_Name(stage));
  }
  return static_cast<Stage>(value - 1);
}

void ToProto(Timestamp at, google::protobuf::Timestamp* out) {
  const auto ms = at.time_since_epoch().count();
  auto seconds = ms / 1000;
  auto millis = ms % 1000;
  if (millis < 0) {
    millis += 1000;
    seconds -= 1;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<std::int32_t>(millis * 1'000'000));
}

Timestamp FromProto(const google::protobuf::Timestamp& at) {
  return Timestamp(std::chrono::milliseconds(at.seconds() * 1000 + at.nanos() / 1'000'000));
}

sop::v1::ArtifactDocument ToProto(const ArtifactDocument& document) {
  sop::v1::ArtifactDocument out;
  out.set_stage(ToProto(document.stage));
  out.set_cycle_id(document.cycle_id);
  out.set_title(std::string(ArtifactTitle(document.stage)));
  for (const auto& table : document.tables) {
    auto* t = out.add_tables();
    t->set_name(table.name);
    for (const auto& column : table.columns) t->add_columns(column);
    for (const auto& row : table.rows) {
      auto* r = t->add_rows();
      for (const auto& cell : row) r->add_cells(cell);
    }
  }
  for (const auto& trade_off : document.trade_offs) {
    auto* t = out.add_trade_offs();
    t->set_id(trade_off.id);
    t->set_description(trade_off.description);
    for (const auto& option : trade_off.options) t->add_options(option);
  }
  for (const auto& source : document.unavailable_sources) out.add_unavailable_sources(source);
  for (const auto& note : document.notes) out.add_notes(note);
  return out;
}

ArtifactDocument FromProto(const sop::v1::ArtifactDocument& document) {
  ArtifactDocument out;
  out.stage = FromProto("document.stage", document.stage()).value_or(Stage::kClosed);
  out.cycle_id = document.cycle_id();
  for (const auto& table : document.tables()) {
    ArtifactTable t{table.name(), {table.columns().begin(), table.columns().end()}, {}};
    for (const auto& row : table.rows())
      t.rows.emplace_back(row.cells().begin(), row.cells().end());
    out.tables.push_back(std::move(t));
  }
  for (const auto& trade_off : document.trade_offs()) {
    out.trade_offs.push_back({trade_off.id(),
                              trade_off.description(),
                              {trade_off.options().begin(), trade_off.options().end()}});
  }
  out.unavailable_sources.assign(document.unavailable_sources().begin(),
                                 document.unavailable_sources().end());
  out.notes.assign(document.notes().begin(), document.notes().end());
  return out;
}

sop::v1::ChangeRequest ToProto(const ChangeRequest& request) {
  sop::v1::ChangeRequest out;
  out.set_id(request.id);
  out.set_cycle_id(request.cycle_id);
  out.set_kind(request.kind == ChangeRequestKind::kDemand ? sop::v1::CHANGE_REQUEST_KIND_DEMAND
                                                          : sop::v1::CHANGE_REQUEST_KIND_SUPPLY);
  out.set_item_id(request.item_id);
  out.set_site_id(request.site_id);
  out.set_period_start(FormatDate(request.period_start));
  out.set_quantity_delta(request.quantity_delta);
  out.set_reason(request.reason);
  out.set_requested_by(request.requested_by);
  ToProto(request.requested_at, out.mutable_requested_at());
  switch (request.status) {
    case ChangeRequestStatus::kPending:
      out.set_status(sop::v1::CHANGE_REQUEST_STATUS_PENDING);
      break;
    case ChangeRequestStatus::kApproved:
      out.set_status(sop::v1::CHANGE_REQUEST_STATUS_APPROVED);
      break;
    case ChangeRequestStatus::kRejected:
      out.set_status(sop::v1::CHANGE_REQUEST_STATUS_REJECTED);
      break;
  }
  if (request.status != ChangeRequestStatus::kPending) {
    out.set_decided_by(request.decided_by);
    ToProto(request.decided_at, out.mutable_decided_at());
    out.set_decision_reason(request.decision_reason);
    out.set_applied_reference(request.applied_reference);
  }
  return out;
}

sop::v1::WorkflowEvent ToProto(const Event& event) {
  sop::v1::WorkflowEvent out;
  out.set_sequence(static_cast<std::int64_t>(event.sequence));
  out.set_cycle_id(event.cycle_id);
  ToProto(event.at, out.mutable_occurred_at());
  out.set_principal(event.principal);
  std::visit(
      [&](const auto& change) {
        using T = std::decay_t<decltype(change)>;
        if constexpr (std::is_same_v<T, CycleOpened>) {
          auto* o = out.mutable_cycle_opened();
          o->set_business_unit(change.business_unit);
          o->set_period(change.period);
          o->set_open_date(FormatDate(change.open_date));
          o->set_meeting_date(FormatDate(change.meeting_date));
          for (const auto& item : change.carry_over) *o->add_carry_over() = ToProto(item);
        } else if constexpr (std::is_same_v<T, ArtifactSubmitted>) {
          auto* o = out.mutable_artifact_submitted();
          o->set_stage(ToProto(change.stage));
          o->set_version(change.version);
          *o->mutable_document() = ToProto(change.document);
          o->set_content_sha256(change.content_sha256);
        } else if constexpr (std::is_same_v<T, ArtifactSigned>) {
          auto* o = out.mutable_artifact_signed();
          o->set_stage(ToProto(change.stage));
          o->set_version(change.version);
          o->set_content_sha256(change.content_sha256);
          o->set_role(change.role);
        } else if constexpr (std::is_same_v<T, StageSentBack>) {
          auto* o = out.mutable_stage_sent_back();
          o->set_stage(ToProto(change.stage));
          o->set_reason(change.reason);
        } else if constexpr (std::is_same_v<T, DecisionRecorded>) {
          *out.mutable_decision_recorded() = ToProto(change.decision);
        } else if constexpr (std::is_same_v<T, CommitmentRecorded>) {
          *out.mutable_commitment_recorded() = ToProto(change.commitment);
        } else if constexpr (std::is_same_v<T, MeetingMoved>) {
          auto* o = out.mutable_meeting_moved();
          o->set_from_date(FormatDate(change.from));
          o->set_to_date(FormatDate(change.to));
          o->set_reason(change.reason);
        } else if constexpr (std::is_same_v<T, StageOverdueRaised>) {
          auto* o = out.mutable_stage_overdue();
          o->set_stage(ToProto(change.stage));
          o->set_due_date(FormatDate(change.due_date));
        } else if constexpr (std::is_same_v<T, ChangeRequestCreated>) {
          *out.mutable_change_request_created() = ToProto(change.request);
        } else if constexpr (std::is_same_v<T, ChangeRequestDecided>) {
          auto* o = out.mutable_change_request_decided();
          o->set_id(change.id);
          o->set_approved(change.approved);
          o->set_reason(change.reason);
          o->set_applied_reference(change.applied_reference);
        }
      },
      event.change);
  return out;
}

Result<Event> FromProto(const sop::v1::WorkflowEvent& in) {
  Event event;
  event.sequence = static_cast<std::uint64_t>(in.sequence());
  event.cycle_id = in.cycle_id();
  event.at = FromProto(in.occurred_at());
  event.principal = in.principal();
  Status read;
  switch (in.change_case()) {
    case sop::v1::WorkflowEvent::kCycleOpened: {
      const auto& o = in.cycle_opened();
      CycleOpened change{o.business_unit(), o.period(), {}, {}, {}};
      if (read = ReadDate("open_date", o.open_date(), change.open_date); !read) break;
      if (read = ReadDate("meeting_date", o.meeting_date(), change.meeting_date); !read) break;
      for (const auto& item : o.carry_over()) {
        CarryOverItem c{item.kind(), item.reference(),         item.description(),
                        {},          FromProto(item.status()), item.basis()};
        if (read = ReadDate("carry_over.due_date", item.due_date(), c.due_date); !read) break;
        change.carry_over.push_back(std::move(c));
      }
      event.change = std::move(change);
      break;
    }
    case sop::v1::WorkflowEvent::kArtifactSubmitted: {
      const auto& o = in.artifact_submitted();
      ArtifactSubmitted change{{}, o.version(), FromProto(o.document()), o.content_sha256()};
      read = ReadStage("stage", o.stage(), change.stage);
      event.change = std::move(change);
      break;
    }
    case sop::v1::WorkflowEvent::kArtifactSigned: {
      const auto& o = in.artifact_signed();
      ArtifactSigned change{{}, o.version(), o.content_sha256(), o.role()};
      read = ReadStage("stage", o.stage(), change.stage);
      event.change = std::move(change);
      break;
    }
    case sop::v1::WorkflowEvent::kStageSentBack: {
      StageSentBack change{{}, in.stage_sent_back().reason()};
      read = ReadStage("stage", in.stage_sent_back().stage(), change.stage);
      event.change = std::move(change);
      break;
    }
    case sop::v1::WorkflowEvent::kDecisionRecorded: {
      const auto& o = in.decision_recorded();
      Decision d;
      d.trade_off_id = o.trade_off_id();
      d.chosen_option = o.chosen_option();
      d.owner = o.owner();
      d.decided_by = o.decided_by();
      d.decided_at = FromProto(o.decided_at());
      read = ReadDate("due_date", o.due_date(), d.due_date);
      event.change = DecisionRecorded{std::move(d)};
      break;
    }
    case sop::v1::WorkflowEvent::kCommitmentRecorded: {
      const auto& o = in.commitment_recorded();
      Commitment c;
      c.commitment_id = o.commitment_id();
      c.customer_id = o.customer_id();
      c.item_id = o.item_id();
      c.quantity = o.quantity();
      c.promised_by = o.promised_by();
      c.promised_at = FromProto(o.promised_at());
      read = ReadDate("due_date", o.due_date(), c.due_date);
      event.change = CommitmentRecorded{std::move(c)};
      break;
    }
    case sop::v1::WorkflowEvent::kMeetingMoved: {
      const auto& o = in.meeting_moved();
      MeetingMoved change{{}, {}, o.reason()};
      if (read = ReadDate("from_date", o.from_date(), change.from); read) {
        read = ReadDate("to_date", o.to_date(), change.to);
      }
      event.change = std::move(change);
      break;
    }
    case sop::v1::WorkflowEvent::kStageOverdue: {
      StageOverdueRaised change{};
      if (read = ReadStage("stage", in.stage_overdue().stage(), change.stage); read) {
        read = ReadDate("due_date", in.stage_overdue().due_date(), change.due_date);
      }
      event.change = change;
      break;
    }
    case sop::v1::WorkflowEvent::kChangeRequestCreated: {
      const auto& o = in.change_request_created();
      ChangeRequest r;
      r.id = o.id();
      r.cycle_id = o.cycle_id();
      r.kind = o.kind() == sop::v1::CHANGE_REQUEST_KIND_SUPPLY ? ChangeRequestKind::kSupply
                                                               : ChangeRequestKind::kDemand;
      r.item_id = o.item_id();
      r.site_id = o.site_id();
      r.quantity_delta = o.quantity_delta();
      r.reason = o.reason();
      r.requested_by = o.requested_by();
      r.requested_at = FromProto(o.requested_at());
      read = ReadDate("period_start", o.period_start(), r.period_start);
      event.change = ChangeRequestCreated{std::move(r)};
      break;
    }
    case sop::v1::WorkflowEvent::kChangeRequestDecided: {
      const auto& o = in.change_request_decided();
      event.change = ChangeRequestDecided{o.id(), o.approved(), o.reason(), o.applied_reference()};
      break;
    }
    case sop::v1::WorkflowEvent::CHANGE_NOT_SET:
      return Fail(Errc::kDataLoss,
                  "workflow event " + std::to_string(in.sequence()) + ": no change recorded");
  }
  if (!read) return std::unexpected(read.error());
  return event;
}

sop::v1::Artifact ToProto(const ArtifactVersion& version, bool with_document) {
  sop::v1::Artifact out;
  out.set_stage(ToProto(version.stage));
  out.set_version(version.version);
  out.set_status(ToProto(version.status));
  if (with_document) {
    *out.mutable_document() = ToProto(version.document);
    out.set_canonical_json(CanonicalJson(version.document));
  }
  out.set_content_sha256(version.content_sha256);
  out.set_submitted_by(version.submitted_by);
  ToProto(version.submitted_at, out.mutable_submitted_at());
  if (version.signature) {
    auto* s = out.mutable_signature();
    s->set_principal(version.signature->principal);
    s->set_role(version.signature->role);
    ToProto(version.signature->signed_at, s->mutable_signed_at());
    s->set_content_sha256(version.signature->content_sha256);
    s->set_version(version.signature->version);
  }
  out.set_sent_back_reason(version.sent_back_reason);
  return out;
}

sop::v1::Cycle ToProto(const Cycle& cycle, Timestamp now, bool with_documents) {
  sop::v1::Cycle out;
  out.set_cycle_id(cycle.cycle_id);
  out.set_business_unit(cycle.business_unit);
  out.set_period(cycle.period);
  out.set_open_date(FormatDate(cycle.open_date));
  out.set_meeting_date(FormatDate(cycle.meeting_date));
  out.set_current_stage(ToProto(cycle.current));
  for (const auto& stage : cycle.stages) {
    auto* s = out.add_stages();
    s->set_stage(ToProto(stage.stage));
    s->set_due_date(FormatDate(stage.due_date));
    s->set_overdue(cycle.Overdue(stage.stage, now));
    for (const auto& version : stage.versions)
      *s->add_versions() = ToProto(version, with_documents);
  }
  for (const auto& decision : cycle.decisions) *out.add_decisions() = ToProto(decision);
  for (const auto& commitment : cycle.commitments) *out.add_commitments() = ToProto(commitment);
  for (const auto& item : cycle.carry_over) *out.add_carry_over() = ToProto(item);
  for (const auto& request : cycle.change_requests) *out.add_change_requests() = ToProto(request);
  return out;
}

sop::v1::Envelope SupplyChangeEnvelope(const ChangeRequest& request, std::string_view approved_by,
                                       Timestamp approved_at) {
  sop::v1::Envelope envelope;
  envelope.set_event_id("sop-workflow:cr:" + request.id);
  envelope.set_source_system("sop-workflow");
  envelope.set_site(request.site_id);
  ToProto(approved_at, envelope.mutable_occurred_at());
  ToProto(approved_at, envelope.mutable_produced_at());
  auto* order = envelope.mutable_purchase_order();
  order->set_po_id(request.id);
  order->set_line(1);
  order->set_supplier_id("sop-workflow");
  order->set_item_id(request.item_id);
  order->set_site_id(request.site_id);
  order->set_quantity(request.quantity_delta);
  ToProto(Timestamp(std::chrono::sys_days(request.period_start)), order->mutable_due_date());
  ToProto(approved_at, order->mutable_order_date());
  order->set_status(sop::v1::ORDER_STATUS_OPEN);
  (void)approved_by;  // who approved is in the audit log and the change request
  return envelope;
}

}  // namespace sop::workflow
