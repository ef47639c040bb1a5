#include "sop/workflow/service.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "sop/auth/grpc_auth.hpp"
#include "sop/bus/topics.hpp"
#include "sop/runtime/grpc_status.hpp"
#include "sop/v1/forecasting.grpc.pb.h"
#include "sop/workflow/codec.hpp"

namespace sop::workflow {
namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string Describe(const Event& event) {
  return std::visit(
      [&](const auto& change) -> std::string {
        using T = std::decay_t<decltype(change)>;
        if constexpr (std::is_same_v<T, CycleOpened>) {
          return "opened " + change.period + " on " + FormatDate(change.open_date) + ", " +
                 std::to_string(change.carry_over.size()) + " carry-over item(s)";
        } else if constexpr (std::is_same_v<T, ArtifactSubmitted>) {
          return std::string(ToString(change.stage)) + " v" + std::to_string(change.version) +
                 " sha256 " + change.content_sha256 +
                 (change.document.unavailable_sources.empty()
                      ? std::string()
                      : ", " + std::to_string(change.document.unavailable_sources.size()) +
                            " source(s) unavailable");
        } else if constexpr (std::is_same_v<T, ArtifactSigned>) {
          return std::string(ToString(change.stage)) + " v" + std::to_string(change.version) +
                 " signed as " + change.role + ", sha256 " + change.content_sha256;
        } else if constexpr (std::is_same_v<T, StageSentBack>) {
          return std::string(ToString(change.stage)) + " sent back: " + change.reason;
        } else if constexpr (std::is_same_v<T, DecisionRecorded>) {
          return change.decision.trade_off_id + ": " + change.decision.chosen_option + " (owner " +
                 change.decision.owner + ", due " + FormatDate(change.decision.due_date) + ")";
        } else if constexpr (std::is_same_v<T, CommitmentRecorded>) {
          return change.commitment.commitment_id + ": " + change.commitment.item_id + " to " +
                 change.commitment.customer_id + " due " + FormatDate(change.commitment.due_date);
        } else if constexpr (std::is_same_v<T, MeetingMoved>) {
          return "executive meeting " + FormatDate(change.from) + " -> " + FormatDate(change.to) +
                 ": " + change.reason;
        } else if constexpr (std::is_same_v<T, StageOverdueRaised>) {
          return std::string(ToString(change.stage)) + " overdue (due " +
                 FormatDate(change.due_date) + ")";
        } else if constexpr (std::is_same_v<T, ChangeRequestCreated>) {
          return change.request.id + ": " + std::string(ToString(change.request.kind)) + " " +
                 change.request.item_id + "@" + change.request.site_id + " from " +
                 FormatDate(change.request.period_start);
        } else {
          return change.id + (change.approved ? " approved" : " rejected") +
                 (change.reason.empty() ? "" : ": " + change.reason);
        }
      },
      event.change);
}

grpc::Status ToStatus(const Error& error) {
  return runtime::ToGrpcStatus(error);
}

// Refused-call audit entries kept while Redis is unreachable; beyond this the newest are
// dropped (counted, logged): the memory of a replica cut off from Redis stays bounded.
constexpr std::size_t kMaxPendingAudit = 10'000;

}  // namespace

struct WorkflowService::Probe {
  explicit Probe(runtime::MetricsRegistry& metrics)
      : actions(metrics.AddCounter({"sop_workflow_actions_total",
                                    "Workflow actions by outcome (ok or the refusal's code)",
                                    {"action", "outcome"}})),
        overdue(metrics.AddGauge({"sop_workflow_stage_overdue",
                                  "Open cycles whose current stage is past its due date",
                                  {"stage"}})),
        cycle_stage(metrics.AddGauge(
            {"sop_workflow_cycle_stage", "Cycles currently at each stage", {"stage"}})),
        published(metrics.AddCounter({"sop_workflow_events_published_total",
                                      "sop.workflow.v1 publications by outcome",
                                      {"outcome"}})),
        last_sequence(metrics
                          .AddGauge({"sop_workflow_event_sequence",
                                     "Sequence of the last applied workflow event"})
                          .WithLabels()),
        auth_denied(metrics.AddCounter(
            {"sop_workflow_auth_denied_total",
             "Calls refused as UNAUTHENTICATED or PERMISSION_DENIED, by method and status code",
             {"method", "code"}})),
        audit_pending(metrics
                          .AddGauge({"sop_workflow_audit_pending",
                                     "Refused-call audit entries waiting for Redis to take them"})
                          .WithLabels()),
        audit_dropped(metrics
                          .AddCounter({"sop_workflow_audit_dropped_total",
                                       "Refused-call audit entries dropped because "
                                       "pending ones reached the bound (10,000)"})
                          .WithLabels()) {}
  runtime::CounterFamily actions;
  runtime::GaugeFamily overdue;
  runtime::GaugeFamily cycle_stage;
  runtime::CounterFamily published;
  runtime::Gauge last_sequence;
  runtime::CounterFamily auth_denied;
  runtime::Gauge audit_pending;
  runtime::Counter audit_dropped;
};

// ---- gRPC ------------------------------------------------------------------------------------

class WorkflowService::GrpcImpl final : public sop::v1::Workflow::Service {
 public:
  explicit GrpcImpl(WorkflowService& service) : s_(service) {}

  grpc::Status OpenCycle(grpc::ServerContext* context, const sop::v1::OpenCycleRequest* request,
                         sop::v1::CycleResponse* response) override {
    const std::string id = Workflow::CycleId(request->business_unit(), request->period());
    Actuals actuals(request->actuals().begin(), request->actuals().end());
    return Mutate(
        *context, "OpenCycle", "open_cycle", id,
        [&](const Actor& actor, Timestamp now) {
          return s_.workflow_.DecideOpenCycle(actor, now, request->business_unit(),
                                              request->period(), actuals);
        },
        [&] { FillCycle(id, response); });
  }

  grpc::Status GetCycle(grpc::ServerContext* context, const sop::v1::GetCycleRequest* request,
                        sop::v1::CycleResponse* response) override {
    return Read(*context, "GetCycle", request->cycle_id(), [&]() -> grpc::Status {
      if (s_.workflow_.FindCycle(request->cycle_id()) == nullptr) {
        return ToStatus(Error(Errc::kNotFound, "cycle '" + request->cycle_id() + "' not found"));
      }
      FillCycle(request->cycle_id(), response);
      return grpc::Status::OK;
    });
  }

  grpc::Status SubmitArtifact(grpc::ServerContext* context,
                              const sop::v1::SubmitArtifactRequest* request,
                              sop::v1::ArtifactResponse* response) override {
    const std::string& id = request->cycle_id();
    auto principal = auth::AuthenticateCall(*context, s_.tokens_);
    auto stage = FromProto("stage", request->stage());
    std::optional<Cycle> snapshot;
    {
      std::lock_guard lock(s_.mutex_);
      if (!principal) return Refuse("SubmitArtifact", "submit_artifact", "", id, principal.error());
      if (!stage) {
        return Refuse("SubmitArtifact", "submit_artifact", principal->name, id, stage.error());
      }
      if (auto ready = Ready(); !ready.ok()) return ready;
      // Authorization and stage order before any remote call.
      const Actor actor{principal->name, principal->roles};
      auto precheck = s_.workflow_.DecideSubmit(actor, s_.Now(), id, *stage, {});
      if (!precheck) {
        return Refuse("SubmitArtifact", "submit_artifact", actor.principal, id, precheck.error());
      }
      snapshot = *s_.workflow_.FindCycle(id);
    }
    AssemblyScope scope;
    scope.site_id = request->site_id();
    scope.item_ids.assign(request->item_ids().begin(), request->item_ids().end());
    ArtifactDocument document = AssembleArtifact(s_.options_.sources, *snapshot, *stage, scope);
    std::lock_guard lock(s_.mutex_);
    if (auto ready = Ready(); !ready.ok()) return ready;
    const Actor actor{principal->name, principal->roles};
    auto decided = s_.workflow_.DecideSubmit(actor, s_.Now(), id, *stage, std::move(document));
    if (auto recorded =
            s_.RecordLocked("SubmitArtifact", "submit_artifact", actor.principal, id, decided);
        !recorded) {
      return ToStatus(recorded.error());
    }
    const auto* latest = s_.workflow_.FindCycle(id)->StageOf(*stage).Latest();
    *response->mutable_artifact() = ToProto(*latest, /*with_document=*/true);
    return grpc::Status::OK;
  }

  grpc::Status GetArtifact(grpc::ServerContext* context, const sop::v1::GetArtifactRequest* request,
                           sop::v1::ArtifactResponse* response) override {
    return Read(*context, "GetArtifact", request->cycle_id(), [&]() -> grpc::Status {
      const auto* cycle = s_.workflow_.FindCycle(request->cycle_id());
      if (cycle == nullptr) {
        return ToStatus(Error(Errc::kNotFound, "cycle '" + request->cycle_id() + "' not found"));
      }
      auto stage = FromProto("stage", request->stage());
      if (!stage) return ToStatus(stage.error());
      if (*stage == Stage::kClosed) {
        return ToStatus(Error(Errc::kInvalidArgument,
                              "stage: closed has no artifact, got 'CYCLE_STAGE_CLOSED'"));
      }
      const auto& versions = cycle->StageOf(*stage).versions;
      const int wanted =
          request->version() == 0 ? static_cast<int>(versions.size()) : request->version();
      if (wanted < 1 || wanted > static_cast<int>(versions.size())) {
        return ToStatus(Error(Errc::kNotFound, std::string(ToString(*stage)) + " v" +
                                                   std::to_string(request->version()) +
                                                   " of cycle '" + cycle->cycle_id +
                                                   "' not found"));
      }
      *response->mutable_artifact() = ToProto(versions[wanted - 1], /*with_document=*/true);
      return grpc::Status::OK;
    });
  }

  grpc::Status Sign(grpc::ServerContext* context, const sop::v1::SignRequest* request,
                    sop::v1::CycleResponse* response) override {
    auto stage = FromProto("stage", request->stage());
    return Mutate(
        *context, "Sign", "sign", request->cycle_id(),
        [&](const Actor& actor, Timestamp now) -> Result<Event> {
          if (!stage) return std::unexpected(stage.error());
          return s_.workflow_.DecideSign(actor, now, request->cycle_id(), *stage,
                                         request->version(), request->content_sha256());
        },
        [&] { FillCycle(request->cycle_id(), response); });
  }

  grpc::Status SendBack(grpc::ServerContext* context, const sop::v1::SendBackRequest* request,
                        sop::v1::CycleResponse* response) override {
    auto stage = FromProto("stage", request->stage());
    return Mutate(
        *context, "SendBack", "send_back", request->cycle_id(),
        [&](const Actor& actor, Timestamp now) -> Result<Event> {
          if (!stage) return std::unexpected(stage.error());
          return s_.workflow_.DecideSendBack(actor, now, request->cycle_id(), *stage,
                                             request->reason());
        },
        [&] { FillCycle(request->cycle_id(), response); });
  }

  grpc::Status RecordDecision(grpc::ServerContext* context,
                              const sop::v1::RecordDecisionRequest* request,
                              sop::v1::CycleResponse* response) override {
    return Mutate(
        *context, "RecordDecision", "record_decision", request->cycle_id(),
        [&](const Actor& actor, Timestamp now) -> Result<Event> {
          auto due = ParseDate("due_date", request->due_date());
          if (!due) return std::unexpected(due.error());
          Decision decision;
          decision.trade_off_id = request->trade_off_id();
          decision.chosen_option = request->chosen_option();
          decision.owner = request->owner();
          decision.due_date = *due;
          return s_.workflow_.DecideDecision(actor, now, request->cycle_id(), std::move(decision));
        },
        [&] { FillCycle(request->cycle_id(), response); });
  }

  grpc::Status CommitToCustomer(grpc::ServerContext* context,
                                const sop::v1::CommitToCustomerRequest* request,
                                sop::v1::CycleResponse* response) override {
    return Mutate(
        *context, "CommitToCustomer", "commit_to_customer", request->cycle_id(),
        [&](const Actor& actor, Timestamp now) -> Result<Event> {
          auto due = ParseDate("due_date", request->due_date());
          if (!due) return std::unexpected(due.error());
          Commitment commitment;
          commitment.customer_id = request->customer_id();
          commitment.item_id = request->item_id();
          commitment.quantity = request->quantity();
          commitment.due_date = *due;
          return s_.workflow_.DecideCommitment(actor, now, request->cycle_id(),
                                               std::move(commitment));
        },
        [&] { FillCycle(request->cycle_id(), response); });
  }

  grpc::Status MoveMeeting(grpc::ServerContext* context, const sop::v1::MoveMeetingRequest* request,
                           sop::v1::CycleResponse* response) override {
    return Mutate(
        *context, "MoveMeeting", "move_meeting", request->cycle_id(),
        [&](const Actor& actor, Timestamp now) -> Result<Event> {
          auto date = ParseDate("meeting_date", request->meeting_date());
          if (!date) return std::unexpected(date.error());
          return s_.workflow_.DecideMoveMeeting(actor, now, request->cycle_id(), *date,
                                                request->reason());
        },
        [&] { FillCycle(request->cycle_id(), response); });
  }

  grpc::Status ListAudit(grpc::ServerContext* context, const sop::v1::ListAuditRequest* request,
                         sop::v1::ListAuditResponse* response) override {
    {
      auto principal = auth::AuthenticateCall(*context, s_.tokens_);
      if (!principal) {
        std::lock_guard lock(s_.mutex_);
        return Refuse("ListAudit", "list_audit", "", request->cycle_id(), principal.error());
      }
    }
    if (request->page_size() < 0 || request->page_size() > 1000) {
      return ToStatus(
          Error(Errc::kInvalidArgument,
                "page_size: must be 0..1000, got '" + std::to_string(request->page_size()) + "'"));
    }
    const std::size_t page = request->page_size() == 0 ? 100 : request->page_size();
    std::uint64_t from = 0;
    if (!request->page_token().empty()) {
      const auto& token = request->page_token();
      auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), from);
      if (ec != std::errc() || end != token.data() + token.size()) {
        return ToStatus(Error(
            Errc::kInvalidArgument,
            "page_token: must be the next_page_token of a previous call, got '" + token + "'"));
      }
    }
    constexpr std::size_t kChunk = 256;
    while (static_cast<std::size_t>(response->entries_size()) < page) {
      auto entries = s_.ReadAudit(from, kChunk);
      if (!entries) return ToStatus(entries.error());
      for (auto& entry : *entries) {
        from = static_cast<std::uint64_t>(entry.index()) + 1;
        if ((!request->cycle_id().empty() && entry.cycle_id() != request->cycle_id()) ||
            (!request->principal().empty() && entry.principal() != request->principal()) ||
            (!request->action().empty() && entry.action() != request->action())) {
          continue;
        }
        *response->add_entries() = std::move(entry);
        if (static_cast<std::size_t>(response->entries_size()) == page) break;
      }
      if (entries->size() < kChunk && static_cast<std::size_t>(response->entries_size()) < page) {
        return grpc::Status::OK;  // end of the log
      }
    }
    auto more = s_.ReadAudit(from, 1);
    if (more && !more->empty()) response->set_next_page_token(std::to_string(from));
    return grpc::Status::OK;
  }

  grpc::Status CreateChangeRequest(grpc::ServerContext* context,
                                   const sop::v1::CreateChangeRequestRequest* request,
                                   sop::v1::ChangeRequestResponse* response) override {
    std::string created;
    return Mutate(
        *context, "CreateChangeRequest", "create_change_request", request->cycle_id(),
        [&](const Actor& actor, Timestamp now) -> Result<Event> {
          if (request->kind() != sop::v1::CHANGE_REQUEST_KIND_DEMAND &&
              request->kind() != sop::v1::CHANGE_REQUEST_KIND_SUPPLY) {
            return InvalidField("kind", "must be DEMAND or SUPPLY",
                                sop::v1::ChangeRequestKind_Name(request->kind()));
          }
          auto start = ParseDate("period_start", request->period_start());
          if (!start) return std::unexpected(start.error());
          ChangeRequest change;
          change.cycle_id = request->cycle_id();
          change.kind = request->kind() == sop::v1::CHANGE_REQUEST_KIND_DEMAND
                            ? ChangeRequestKind::kDemand
                            : ChangeRequestKind::kSupply;
          change.item_id = request->item_id();
          change.site_id = request->site_id();
          change.period_start = *start;
          change.quantity_delta = request->quantity_delta();
          change.reason = request->reason();
          auto event = s_.workflow_.DecideCreateChangeRequest(actor, now, std::move(change));
          if (event) created = std::get<ChangeRequestCreated>(event->change).request.id;
          return event;
        },
        [&] {
          *response->mutable_change_request() = ToProto(*s_.workflow_.FindChangeRequest(created));
        });
  }

  grpc::Status ListChangeRequests(grpc::ServerContext* context,
                                  const sop::v1::ListChangeRequestsRequest* request,
                                  sop::v1::ListChangeRequestsResponse* response) override {
    return Read(*context, "ListChangeRequests", request->cycle_id(), [&]() -> grpc::Status {
      for (const auto& [id, cycle] : s_.workflow_.cycles()) {
        if (!request->cycle_id().empty() && id != request->cycle_id()) continue;
        for (const auto& change : cycle.change_requests) {
          auto proto = ToProto(change);
          if (request->status() != sop::v1::CHANGE_REQUEST_STATUS_UNSPECIFIED &&
              proto.status() != request->status()) {
            continue;
          }
          *response->add_change_requests() = std::move(proto);
        }
      }
      return grpc::Status::OK;
    });
  }

  grpc::Status ApproveChangeRequest(grpc::ServerContext* context,
                                    const sop::v1::DecideChangeRequestRequest* request,
                                    sop::v1::ChangeRequestResponse* response) override {
    return DecideChange(*context, *request, /*approve=*/true, response);
  }

  grpc::Status RejectChangeRequest(grpc::ServerContext* context,
                                   const sop::v1::DecideChangeRequestRequest* request,
                                   sop::v1::ChangeRequestResponse* response) override {
    return DecideChange(*context, *request, /*approve=*/false, response);
  }

 private:
  static std::string CycleOfChange(std::string_view id) {
    const auto slash = id.find('/');
    return std::string(slash == std::string_view::npos ? std::string_view() : id.substr(0, slash));
  }

  /// Approving a demand change makes it a forecast adjustment (consensus layer, idempotent by
  /// the change request id) before the approval is recorded.
  grpc::Status DecideChange(grpc::ServerContext& context,
                            const sop::v1::DecideChangeRequestRequest& request, bool approve,
                            sop::v1::ChangeRequestResponse* response) {
    const char* method = approve ? "ApproveChangeRequest" : "RejectChangeRequest";
    const char* action = approve ? "approve_change_request" : "reject_change_request";
    return Mutate(
        context, method, action, CycleOfChange(request.id()),
        [&](const Actor& actor, Timestamp now) -> Result<Event> {
          auto checked = s_.workflow_.DecideChangeRequest(actor, now, request.id(), approve,
                                                          request.reason(), "");
          if (!checked || !approve) return checked;
          const auto* change = s_.workflow_.FindChangeRequest(request.id());
          auto applied = change->kind == ChangeRequestKind::kDemand
                             ? ApplyToForecast(*change, actor, request.reason())
                             : PublishSupplyChange(*change, actor, now);
          if (!applied) return std::unexpected(applied.error());
          return s_.workflow_.DecideChangeRequest(actor, now, request.id(), true, request.reason(),
                                                  *applied);
        },
        [&] {
          *response->mutable_change_request() =
              ToProto(*s_.workflow_.FindChangeRequest(request.id()));
        });
  }

  Result<std::string> ApplyToForecast(const ChangeRequest& change, const Actor& actor,
                                      std::string_view reason) {
    const auto& sources = s_.options_.sources;
    if (!sources.forecasting) {
      return Fail(Errc::kUnavailable,
                  "forecasting: not configured (workflow.forecasting-address); the change "
                  "request stays pending");
    }
    auto stub = sop::v1::Forecasting::NewStub(sources.forecasting);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + sources.deadline);
    auth::AttachBearer(context, sources.token);
    sop::v1::AdjustForecastRequest adjust;
    auto* a = adjust.mutable_adjustment();
    a->set_adjustment_id(change.id);
    a->set_item_id(change.item_id);
    a->set_site_id(change.site_id);
    a->set_layer(sop::v1::FORECAST_LAYER_CONSENSUS);
    ToProto(Timestamp(std::chrono::sys_days(change.period_start)), a->mutable_period_start());
    a->set_quantity_delta(change.quantity_delta);
    a->set_owner(change.requested_by);
    a->set_reason("change request " + change.id + ": " + change.reason + " (approved by " +
                  actor.principal + (reason.empty() ? "" : ": " + std::string(reason)) + ")");
    sop::v1::AdjustForecastResponse adjusted;
    const auto status = stub->AdjustForecast(&context, adjust, &adjusted);
    if (!status.ok()) {
      const Error error = runtime::FromGrpcStatus(status);
      return Fail(
          error.code() == Errc::kInvalidArgument ? Errc::kFailedPrecondition : error.code(),
          "forecasting AdjustForecast: " + error.message() + " (the change request stays pending)");
    }
    return adjusted.recorded().adjustment_id();
  }

  /// Approving a supply change publishes it as an ERP event that ingestion validates like any
  /// other: a purchase order line `<id>` line 1 (a firm scheduled receipt of quantity_delta due
  /// at period_start), source system "sop-workflow", keyed by the site, with the deterministic
  /// event id "sop-workflow:cr:<id>" — a re-publish (an approval retried after a lost append)
  /// is a duplicate to ingestion and changes nothing. The approval is recorded only after the
  /// broker acknowledged the event. Returns the event id (the request's applied_reference).
  Result<std::string> PublishSupplyChange(const ChangeRequest& change, const Actor& actor,
                                          Timestamp now) {
    sop::v1::Envelope envelope = SupplyChangeEnvelope(change, actor.principal, now);
    bus::OutgoingMessage message;
    message.topic = std::string(bus::kErpEventsTopic);
    message.key = change.site_id;
    message.value = envelope.SerializeAsString();
    auto delivered = s_.producer_->SendSync(std::move(message), s_.options_.sources.deadline);
    if (!delivered) {
      return Fail(Errc::kUnavailable, std::string(bus::kErpEventsTopic) +
                                          ": the supply change could not be published (" +
                                          delivered.error().message() +
                                          "); the change request stays pending");
    }
    s_.logger_.Info("supply change published", {{"change_request", change.id},
                                                {"event_id", envelope.event_id()},
                                                {"site", change.site_id},
                                                {"partition", delivered->partition},
                                                {"offset", delivered->offset}});
    return envelope.event_id();
  }

  /// Writes pending refusal entries, then re-reads the log if an earlier append's outcome is
  /// unknown. Requires the mutex.
  grpc::Status Ready() {
    if (auto flushed = s_.FlushPendingAuditLocked(); !flushed) {
      // Still pending (logged when queued); reads answer from memory, writes fail at the append.
    }
    if (!s_.needs_reload_) return grpc::Status::OK;
    if (auto reloaded = s_.ReloadLocked(); !reloaded) return ToStatus(reloaded.error());
    return grpc::Status::OK;
  }

  grpc::Status Refuse(std::string_view method, std::string_view action, std::string_view principal,
                      std::string_view cycle_id, const Error& error) {
    s_.AuditRefusalLocked(method, action, principal, cycle_id, error);
    return ToStatus(error);
  }

  template <class Decide, class Fill>
  grpc::Status Mutate(grpc::ServerContext& context, std::string_view method,
                      std::string_view action, std::string_view cycle_id, Decide&& decide,
                      Fill&& fill) {
    auto principal = auth::AuthenticateCall(context, s_.tokens_);
    std::lock_guard lock(s_.mutex_);
    if (!principal) return Refuse(method, action, "", cycle_id, principal.error());
    if (auto ready = Ready(); !ready.ok()) return ready;
    const Actor actor{principal->name, principal->roles};
    auto decided = decide(actor, s_.Now());
    if (auto recorded = s_.RecordLocked(method, action, actor.principal, cycle_id, decided);
        !recorded) {
      return ToStatus(recorded.error());
    }
    fill();
    return grpc::Status::OK;
  }

  template <class Answer>
  grpc::Status Read(grpc::ServerContext& context, std::string_view method,
                    std::string_view cycle_id, Answer&& answer) {
    auto principal = auth::AuthenticateCall(context, s_.tokens_);
    std::lock_guard lock(s_.mutex_);
    if (!principal) return Refuse(method, Lower(method), "", cycle_id, principal.error());
    if (auto ready = Ready(); !ready.ok()) return ready;
    return answer();
  }

  void FillCycle(const std::string& id, sop::v1::CycleResponse* response) {
    const auto* cycle = s_.workflow_.FindCycle(id);
    if (cycle == nullptr) return;
    *response->mutable_cycle() = ToProto(*cycle, s_.Now(), /*with_documents=*/false);
    response->mutable_cycle()->set_last_sequence(
        static_cast<std::int64_t>(s_.workflow_.last_sequence()));
  }

  WorkflowService& s_;
};

// ---- Service ---------------------------------------------------------------------------------

WorkflowService::WorkflowService(WorkflowServiceOptions options,
                                 const auth::TokenAuthenticator& tokens, runtime::Logger& logger,
                                 runtime::MetricsRegistry& metrics)
    : options_(std::move(options)),
      tokens_(tokens),
      logger_(logger),
      probe_(std::make_unique<Probe>(metrics)),
      workflow_(options_.calendar) {}

Result<std::unique_ptr<WorkflowService>> WorkflowService::Start(
    WorkflowServiceOptions options, const auth::TokenAuthenticator& tokens, runtime::Logger& logger,
    runtime::MetricsRegistry& metrics) {
  if (options.overdue_interval <= std::chrono::milliseconds::zero()) {
    return InvalidField("workflow.overdue-interval", "must be > 0",
                        std::to_string(options.overdue_interval.count()) + "ms");
  }
  std::unique_ptr<WorkflowService> service(
      new WorkflowService(std::move(options), tokens, logger, metrics));
  service->store_ = std::make_unique<store::RedisStore>(service->options_.redis);
  auto producer = bus::Producer::Create(service->options_.kafka);
  if (!producer) return std::unexpected(producer.error());
  service->producer_ = std::move(*producer);
  service->grpc_ = std::make_unique<GrpcImpl>(*service);

  const auto deadline = std::chrono::steady_clock::now() + service->options_.startup_timeout;
  for (;;) {
    std::lock_guard lock(service->mutex_);
    auto loaded = service->ReloadLocked();
    if (loaded) break;
    if (loaded.error().code() != Errc::kUnavailable ||
        std::chrono::steady_clock::now() >= deadline) {
      return std::unexpected(loaded.error());
    }
    logger.Warn("redis unavailable at start-up, retrying", {{"error", loaded.error().ToString()}});
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // start-up retry pacing
  }
  logger.Info("workflow state restored",
              {{"events", static_cast<std::int64_t>(service->workflow_.last_sequence())},
               {"cycles", static_cast<std::int64_t>(service->workflow_.cycles().size())}});
  {
    std::lock_guard lock(service->mutex_);
    service->RefreshGaugesLocked(service->Now());
  }
  // Every action's "ok" series exists from the start (at 0), so rates work before the first use.
  for (const char* action :
       {"open_cycle", "submit_artifact", "sign", "send_back", "record_decision",
        "commit_to_customer", "move_meeting", "stage_overdue", "create_change_request",
        "approve_change_request", "reject_change_request"}) {
    service->probe_->actions.WithLabels({action, "ok"});
  }
  service->ticker_ = std::thread([raw = service.get()] { raw->TickerLoop(); });
  return service;
}

WorkflowService::~WorkflowService() {
  Stop();
}

void WorkflowService::Stop() {
  {
    std::lock_guard lock(ticker_mutex_);
    if (stopping_ && !ticker_.joinable()) return;
    stopping_ = true;
  }
  ticker_wake_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  {
    std::lock_guard lock(mutex_);
    if (!pending_audit_.empty() && store_) {
      if (auto flushed = FlushPendingAuditLocked(); !flushed) {
        logger_.Error("refused-call audit entries not written at stop",
                      {{"pending", static_cast<std::int64_t>(pending_audit_.size())},
                       {"error", flushed.error().ToString()}});
      }
    }
  }
  if (producer_) {
    if (auto flushed = producer_->Flush(std::chrono::seconds(5)); !flushed) {
      logger_.Warn("producer flush failed", {{"error", flushed.error().ToString()}});
    }
  }
}

grpc::Service* WorkflowService::grpc_service() {
  return grpc_.get();
}

Timestamp WorkflowService::Now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

std::uint64_t WorkflowService::last_sequence() const {
  std::lock_guard lock(mutex_);
  return workflow_.last_sequence();
}

Result<sop::v1::Cycle> WorkflowService::CycleView(std::string_view cycle_id) const {
  std::lock_guard lock(mutex_);
  const auto* cycle = workflow_.FindCycle(cycle_id);
  if (cycle == nullptr) {
    return Fail(Errc::kNotFound, "cycle '" + std::string(cycle_id) + "' not found");
  }
  auto view = ToProto(*cycle, Now(), /*with_documents=*/true);
  view.set_last_sequence(static_cast<std::int64_t>(workflow_.last_sequence()));
  return view;
}

Result<std::vector<sop::v1::AuditEntry>> WorkflowService::ReadAudit(std::uint64_t from,
                                                                    std::size_t count) {
  std::vector<sop::v1::AuditEntry> entries;
  constexpr std::size_t kChunk = 1000;
  while (entries.size() < count) {
    const std::size_t want = std::min(kChunk, count - entries.size());
    auto records = store_->Range(options_.audit_log, from, want);
    if (!records) return std::unexpected(records.error());
    for (const auto& record : *records) {
      sop::v1::AuditEntry entry;
      if (!entry.ParseFromString(record)) {
        return Fail(Errc::kDataLoss, "audit log '" + options_.audit_log + "' record " +
                                         std::to_string(from) + " does not parse");
      }
      entry.set_index(static_cast<std::int64_t>(from));
      ++from;
      entries.push_back(std::move(entry));
    }
    if (records->size() < want) break;
  }
  return entries;
}

Status WorkflowService::ReloadLocked() {
  Workflow rebuilt(options_.calendar);
  std::uint64_t from = 0;
  for (;;) {
    auto entries = ReadAudit(from, 1000);
    if (!entries) return std::unexpected(entries.error());
    for (const auto& entry : *entries) {
      if (!entry.has_event()) continue;
      auto event = FromProto(entry.event());
      if (!event) {
        return Fail(Errc::kDataLoss, "audit log record " + std::to_string(entry.index()) + ": " +
                                         event.error().message());
      }
      if (auto applied = rebuilt.Apply(*event); !applied) {
        return Fail(Errc::kDataLoss, "audit log record " + std::to_string(entry.index()) + ": " +
                                         applied.error().message());
      }
    }
    from += entries->size();
    if (entries->size() < 1000) break;
  }
  workflow_ = std::move(rebuilt);
  needs_reload_ = false;
  log_length_ = from;
  probe_->last_sequence.Set(static_cast<double>(workflow_.last_sequence()));
  return {};
}

void WorkflowService::AuditRefusalLocked(std::string_view method, std::string_view action,
                                         std::string_view principal, std::string_view cycle_id,
                                         const Error& error) {
  sop::v1::AuditEntry entry;
  ToProto(Now(), entry.mutable_at());
  entry.set_principal(std::string(principal));
  entry.set_action(std::string(action));
  entry.set_method(std::string(method));
  entry.set_cycle_id(std::string(cycle_id));
  entry.set_outcome(std::string(sop::ToString(error.code())));
  entry.set_detail(error.message());
  probe_->actions.WithLabels({action, Lower(sop::ToString(error.code()))}).Increment();
  if (error.code() == Errc::kUnauthenticated || error.code() == Errc::kPermissionDenied) {
    probe_->auth_denied
        .WithLabels({"/sop.v1.Workflow/" + std::string(method), sop::ToString(error.code())})
        .Increment();
  }
  // Earlier refusals first, so the log keeps the order of the calls.
  std::string record = entry.SerializeAsString();
  Status appended = FlushPendingAuditLocked();
  if (appended) {
    if (auto index = store_->Append(options_.audit_log, record); index) {
      log_length_ = *index + 1;
    } else {
      appended = std::unexpected(index.error());
    }
  }
  if (!appended) {
    // A refusal changes no state, but the attempt must be audited: keep it until Redis is back.
    if (pending_audit_.size() < kMaxPendingAudit) {
      pending_audit_.push_back(std::move(record));
      logger_.Warn("audit append failed, entry kept pending",
                   {{"action", action},
                    {"outcome", entry.outcome()},
                    {"pending", static_cast<std::int64_t>(pending_audit_.size())},
                    {"error", appended.error().ToString()}});
    } else {
      probe_->audit_dropped.Increment();
      logger_.Error("audit append failed and the pending entries are at their bound; dropped",
                    {{"action", action},
                     {"outcome", entry.outcome()},
                     {"principal", principal},
                     {"error", appended.error().ToString()}});
    }
    probe_->audit_pending.Set(static_cast<double>(pending_audit_.size()));
  }
  logger_.Info("refused", {{"method", method},
                           {"principal", principal},
                           {"cycle", cycle_id},
                           {"code", sop::ToString(error.code())},
                           {"error", error.message()}});
}

Status WorkflowService::FlushPendingAuditLocked() {
  if (pending_audit_.empty()) return {};
  // Single writer: whatever lies beyond log_length_ came from this replica's appends whose
  // outcome was unknown (a timed-out RPUSH that still landed). Pending entries found there in
  // order are already written.
  auto length = store_->Length(options_.audit_log);
  if (!length) return std::unexpected(length.error());
  if (*length > log_length_) {
    auto landed = store_->Range(options_.audit_log, log_length_, *length - log_length_);
    if (!landed) return std::unexpected(landed.error());
    for (const auto& record : *landed) {
      if (!pending_audit_.empty() && record == pending_audit_.front()) pending_audit_.pop_front();
    }
    log_length_ = *length;
  }
  while (!pending_audit_.empty()) {
    auto index = store_->Append(options_.audit_log, pending_audit_.front());
    if (!index) {
      probe_->audit_pending.Set(static_cast<double>(pending_audit_.size()));
      return std::unexpected(index.error());
    }
    log_length_ = *index + 1;
    pending_audit_.pop_front();
  }
  probe_->audit_pending.Set(0);
  logger_.Info("pending refused-call audit entries written",
               {{"log_length", static_cast<std::int64_t>(log_length_)}});
  return {};
}

Status WorkflowService::RecordLocked(std::string_view method, std::string_view action,
                                     std::string_view principal, std::string_view cycle_id,
                                     const Result<Event>& decided) {
  if (!decided) {
    AuditRefusalLocked(method, action, principal, cycle_id, decided.error());
    return std::unexpected(decided.error());
  }
  const Event& event = *decided;
  sop::v1::AuditEntry entry;
  ToProto(event.at, entry.mutable_at());
  entry.set_principal(event.principal);
  entry.set_action(std::string(ActionOf(event.change)));
  entry.set_method(std::string(method));
  entry.set_cycle_id(event.cycle_id);
  entry.set_outcome("OK");
  entry.set_detail(Describe(event));
  *entry.mutable_event() = ToProto(event);
  if (auto flushed = FlushPendingAuditLocked(); !flushed) {
    // Redis does not take the earlier refusals: it would not take this one either.
    probe_->actions.WithLabels({entry.action(), "unavailable"}).Increment();
    return Fail(Errc::kUnavailable,
                "workflow state store: " + flushed.error().message() + " (nothing applied; retry)");
  }
  auto appended = store_->Append(options_.audit_log, entry.SerializeAsString());
  if (appended) log_length_ = *appended + 1;
  if (!appended) {
    // Unknown outcome: the record may be in Redis. Re-read before the next call.
    needs_reload_ = true;
    probe_->actions.WithLabels({entry.action(), "unavailable"}).Increment();
    logger_.Warn("audit append failed",
                 {{"action", entry.action()}, {"error", appended.error().ToString()}});
    return Fail(Errc::kUnavailable, "workflow state store: " + appended.error().message() +
                                        " (nothing applied; retry)");
  }
  if (auto applied = workflow_.Apply(event); !applied) {
    // Decided against this very state under the same lock: a broken invariant.
    logger_.Error("recorded event does not apply", {{"error", applied.error().ToString()}});
    needs_reload_ = true;
    return std::unexpected(applied.error());
  }
  probe_->actions.WithLabels({entry.action(), "ok"}).Increment();
  probe_->last_sequence.Set(static_cast<double>(workflow_.last_sequence()));
  logger_.Info("recorded", {{"action", entry.action()},
                            {"principal", event.principal},
                            {"cycle", event.cycle_id},
                            {"sequence", static_cast<std::int64_t>(event.sequence)}});
  Publish(event);
  RefreshGaugesLocked(Now());
  return {};
}

void WorkflowService::Publish(const Event& event) {
  bus::OutgoingMessage message;
  message.topic = std::string(bus::kWorkflowTopic);
  message.key = event.cycle_id;
  message.value = ToProto(event).SerializeAsString();
  message.headers.push_back({"sequence", std::to_string(event.sequence)});
  producer_->Send(std::move(message), [this](Result<bus::DeliveryReport> report) {
    probe_->published.WithLabels({report ? "ok" : "error"}).Increment();
    if (!report) {
      logger_.Warn("sop.workflow.v1 publish failed", {{"error", report.error().ToString()}});
    }
  });
}

void WorkflowService::RefreshGaugesLocked(Timestamp now) {
  for (int s = 0; s <= static_cast<int>(Stage::kClosed); ++s) {
    const auto stage = static_cast<Stage>(s);
    int at_stage = 0;
    int overdue = 0;
    for (const auto& [id, cycle] : workflow_.cycles()) {
      if (cycle.current == stage) ++at_stage;
      if (cycle.Overdue(stage, now)) ++overdue;
    }
    probe_->cycle_stage.WithLabels({ToString(stage)}).Set(at_stage);
    if (stage != Stage::kClosed) probe_->overdue.WithLabels({ToString(stage)}).Set(overdue);
  }
}

Status WorkflowService::CheckOverdue() {
  std::lock_guard lock(mutex_);
  if (auto flushed = FlushPendingAuditLocked(); !flushed) return flushed;
  if (needs_reload_) {
    if (auto reloaded = ReloadLocked(); !reloaded) return reloaded;
  }
  const Timestamp now = Now();
  for (;;) {
    auto events = workflow_.DetectOverdue(now);
    if (events.empty()) break;
    const Event& event = events.front();  // the rest carry stale sequences after this one
    const auto& raised = std::get<StageOverdueRaised>(event.change);
    logger_.Warn("stage overdue", {{"cycle", event.cycle_id},
                                   {"stage", ToString(raised.stage)},
                                   {"due_date", FormatDate(raised.due_date)}});
    if (auto recorded =
            RecordLocked("OverdueTicker", "stage_overdue", "system", event.cycle_id, event);
        !recorded) {
      return recorded;
    }
  }
  RefreshGaugesLocked(now);
  return {};
}

void WorkflowService::TickerLoop() {
  std::unique_lock lock(ticker_mutex_);
  while (!stopping_) {
    ticker_wake_.wait_for(lock, options_.overdue_interval, [&] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    if (auto checked = CheckOverdue(); !checked) {
      logger_.Warn("overdue check failed", {{"error", checked.error().ToString()}});
    }
    lock.lock();
  }
}

}  // namespace sop::workflow
