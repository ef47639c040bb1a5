// sop-demo (live), after the pack: the S&OP cycle on sop-workflow, run by the named local
// principals of the stack's generated tokens file (tools/stack): eve opens the month's cycle,
// dana and sue assemble and sign the demand consensus and the supply plan, fin assembles the
// reconciliation pack (its top 3 gaps as trade-offs with options) and signs it, eve records a
// decision. Then the cycle's state, the artifacts' versions and content hashes, and the audit
// trail — who, when, what — as the service recorded them.

#include <grpcpp/grpcpp.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <optional>
#include <string>

#include "demo.hpp"
#include "sop/auth/grpc_auth.hpp"
#include "sop/stack/stack.hpp"
#include "sop/v1/workflow.grpc.pb.h"

namespace sop::demo {
namespace {

using Stub = sop::v1::Workflow::Stub;

std::string StageName(sop::v1::CycleStage stage) {
  std::string name = sop::v1::CycleStage_Name(stage);
  if (name.starts_with("CYCLE_STAGE_")) name = name.substr(12);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::string StatusName(sop::v1::ArtifactStatus status) {
  std::string name = sop::v1::ArtifactStatus_Name(status);
  if (name.starts_with("ARTIFACT_STATUS_")) name = name.substr(16);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::string TimeOfDay(const google::protobuf::Timestamp& at) {
  const std::time_t seconds = at.seconds();
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &utc);
  return text;
}

class Cycle {
 public:
  Cycle(std::shared_ptr<grpc::Channel> channel, std::map<std::string, std::string> tokens)
      : stub_(sop::v1::Workflow::NewStub(std::move(channel))), tokens_(std::move(tokens)) {}

  /// Calls `method` as `who`; prints the refusal and returns false when it fails.
  template <class Request, class Response>
  bool Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
            const std::string& who, const char* what, const Request& request, Response* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(3));
    auth::AttachBearer(context, tokens_.at(who));
    const auto status = (stub_.get()->*method)(&context, request, response);
    if (!status.ok()) {
      std::printf("%s (as %s) failed: %d %s\n", what, who.c_str(),
                  static_cast<int>(status.error_code()), status.error_message().c_str());
    }
    return status.ok();
  }

  /// Submits the current stage's artifact as `who` and signs the frozen version's hash.
  std::optional<sop::v1::Artifact> SubmitAndSign(const std::string& who, sop::v1::CycleStage stage,
                                                 const std::string& cycle_id) {
    sop::v1::SubmitArtifactRequest submit;
    submit.set_cycle_id(cycle_id);
    submit.set_stage(stage);
    sop::v1::ArtifactResponse submitted;
    if (!Call(&Stub::SubmitArtifact, who, "SubmitArtifact", submit, &submitted)) return {};
    sop::v1::SignRequest sign;
    sign.set_cycle_id(cycle_id);
    sign.set_stage(stage);
    sign.set_version(submitted.artifact().version());
    sign.set_content_sha256(submitted.artifact().content_sha256());
    sop::v1::CycleResponse signed_cycle;
    if (!Call(&Stub::Sign, who, "Sign", sign, &signed_cycle)) return {};
    return submitted.artifact();
  }

 private:
  std::unique_ptr<Stub> stub_;
  std::map<std::string, std::string> tokens_;
};

}  // namespace

void RunSopCycle(const stack::StackEndpoints& endpoints) {
  std::printf("\n## 6. The S&OP cycle (sop-workflow), run by the named demo principals\n\n");
  const auto* workflow = endpoints.Find("workflow");
  if (workflow == nullptr || workflow->grpc.empty()) {
    std::printf("workflow service not built\n");
    return;
  }
  std::map<std::string, std::string> tokens;
  for (const char* who : {"eve", "dana", "sue", "fin"}) {
    const auto file = endpoints.token_files.find(who);
    if (file == endpoints.token_files.end()) {
      std::printf("no generated token for %s (the stack was given a tokens file)\n", who);
      return;
    }
    std::ifstream in(file->second);
    std::getline(in, tokens[who]);
  }
  Cycle cycle(grpc::CreateChannel(workflow->grpc, grpc::InsecureChannelCredentials()), tokens);

  // This month's cycle of the business unit "EU".
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char period[8];
  std::strftime(period, sizeof period, "%Y-%m", &utc);
  sop::v1::OpenCycleRequest open;
  open.set_business_unit("EU");
  open.set_period(period);
  sop::v1::CycleResponse opened;
  if (!cycle.Call(&Stub::OpenCycle, "eve", "OpenCycle", open, &opened)) return;
  const std::string id = opened.cycle().cycle_id();
  std::printf("eve (executive) opened %s: opens %s, executive meeting %s.\n", id.c_str(),
              opened.cycle().open_date().c_str(), opened.cycle().meeting_date().c_str());

  if (!cycle.SubmitAndSign("dana", sop::v1::CYCLE_STAGE_DEMAND_REVIEW, id)) return;
  if (!cycle.SubmitAndSign("sue", sop::v1::CYCLE_STAGE_SUPPLY_REVIEW, id)) return;
  auto pack = cycle.SubmitAndSign("fin", sop::v1::CYCLE_STAGE_PRE_SOP, id);
  if (!pack) return;
  std::printf(
      "dana (demand_lead) and sue (supply_lead) assembled and signed the demand consensus and "
      "the supply plan; fin (finance_partner) the reconciliation pack. Its top gaps:\n\n");
  std::printf("| trade-off | gap | options |\n|---|---|---|\n");
  for (const auto& trade_off : pack->document().trade_offs()) {
    std::string options;
    for (const auto& option : trade_off.options()) {
      if (!options.empty()) options += " / ";
      options += option;
    }
    std::printf("| %s | %s | %s |\n", trade_off.id().c_str(), trade_off.description().c_str(),
                options.c_str());
  }
  for (const auto& missing : pack->document().unavailable_sources()) {
    std::printf("(unavailable: %s)\n", missing.c_str());
  }
  if (pack->document().trade_offs_size() > 0) {
    const auto& first = pack->document().trade_offs(0);
    sop::v1::RecordDecisionRequest decide;
    decide.set_cycle_id(id);
    decide.set_trade_off_id(first.id());
    decide.set_chosen_option(first.options(0));
    decide.set_owner("sue");
    decide.set_due_date(opened.cycle().meeting_date());
    sop::v1::CycleResponse decided;
    if (!cycle.Call(&Stub::RecordDecision, "eve", "RecordDecision", decide, &decided)) return;
    std::printf("\neve decided %s: \"%s\" (owner sue, due %s).\n", first.id().c_str(),
                first.options(0).c_str(), opened.cycle().meeting_date().c_str());
  }

  sop::v1::GetCycleRequest get;
  get.set_cycle_id(id);
  sop::v1::CycleResponse state;
  if (!cycle.Call(&Stub::GetCycle, "eve", "GetCycle", get, &state)) return;
  std::printf("\nCycle %s is at stage %s. Artifacts:\n\n", id.c_str(),
              StageName(state.cycle().current_stage()).c_str());
  std::printf("| stage | due | version | status | content SHA-256 | signed by |\n");
  std::printf("|---|---|---:|---|---|---|\n");
  for (const auto& stage : state.cycle().stages()) {
    for (const auto& version : stage.versions()) {
      std::printf(
          "| %s | %s%s | %d | %s | %.16s… | %s |\n", StageName(stage.stage()).c_str(),
          stage.due_date().c_str(), stage.overdue() ? " OVERDUE" : "", version.version(),
          StatusName(version.status()).c_str(), version.content_sha256().c_str(),
          version.has_signature()
              ? (version.signature().principal() + " as " + version.signature().role()).c_str()
              : "");
    }
  }

  sop::v1::ListAuditRequest audit;
  audit.set_cycle_id(id);
  sop::v1::ListAuditResponse trail;
  if (!cycle.Call(&Stub::ListAudit, "eve", "ListAudit", audit, &trail)) return;
  std::printf("\nAudit trail (append-only, %d entries):\n\n", trail.entries_size());
  std::printf("| # | when (UTC) | who | what | outcome |\n|---:|---|---|---|---|\n");
  for (const auto& entry : trail.entries()) {
    std::string what = entry.action();
    if (!entry.detail().empty()) what += ": " + entry.detail();
    if (what.size() > 90) what = what.substr(0, 87) + "...";
    std::printf("| %lld | %s | %s | %s | %s |\n", static_cast<long long>(entry.index()),
                TimeOfDay(entry.at()).c_str(), entry.principal().c_str(), what.c_str(),
                entry.outcome().c_str());
  }
  std::fflush(stdout);
}

}  // namespace sop::demo
