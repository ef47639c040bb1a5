// sopctl cycle open|status|submit|sign|send-back|decide|commit|move-meeting: the S&OP cycle
// (sop.v1.Workflow). Also defines the workflow client helpers the audit, artifact and
// change-request commands share (workflow_client.hpp).

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <charconv>
#include <cstdlib>
#include <ostream>

#include "workflow_client.hpp"

namespace sop::sopctl::workflow_client {

std::string ParseOptions(const std::vector<std::string>& args, Options& options) {
  // Defaults: what the caller put into `options` (sopctl's global options), then the
  // environment, then localhost:50056.
  const char* env_token = std::getenv("SOPCTL_TOKEN");
  const char* env_address = std::getenv("SOPCTL_WORKFLOW");
  if (options.token.empty() && env_token != nullptr) options.token = env_token;
  if (options.address.empty()) options.address = env_address ? env_address : "localhost:50056";
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--token" || args[i] == "--workflow") {
      if (i + 1 >= args.size()) return args[i] + " needs a value";
      std::string& target = args[i] == "--token" ? options.token : options.address;
      target = args[i + 1];
      ++i;
    } else {
      options.rest.push_back(args[i]);
    }
  }
  if (options.token.empty()) return "--token TOKEN or SOPCTL_TOKEN is required";
  return "";
}

std::unique_ptr<sop::v1::Workflow::Stub> Stub(const Options& options) {
  return sop::v1::Workflow::NewStub(
      grpc::CreateChannel(options.address, grpc::InsecureChannelCredentials()));
}

void Prepare(grpc::ClientContext& call, const CommandContext& context, const Options& options) {
  call.set_deadline(context.Deadline());
  call.AddMetadata("authorization", "Bearer " + options.token);
}

/// "--name value" pairs of `rest` (positional words are left in `positional`); an error text.
std::string Flags(const std::vector<std::string>& rest, std::map<std::string, std::string>& flags,
                  std::vector<std::string>& positional) {
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (rest[i].starts_with("--")) {
      if (i + 1 >= rest.size()) return rest[i] + " needs a value";
      flags[rest[i].substr(2)] = rest[i + 1];
      ++i;
    } else {
      positional.push_back(rest[i]);
    }
  }
  return "";
}

std::string Json(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, print);
  return json;
}

/// "demand_review" → CYCLE_STAGE_DEMAND_REVIEW; UNSPECIFIED for an unknown name.
sop::v1::CycleStage StageOf(std::string_view name) {
  std::string upper = "CYCLE_STAGE_";
  for (char c : name) upper.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(c)));
  sop::v1::CycleStage stage = sop::v1::CYCLE_STAGE_UNSPECIFIED;
  sop::v1::CycleStage_Parse(upper, &stage);
  return stage;
}

std::string StageName(sop::v1::CycleStage stage) {
  std::string name = sop::v1::CycleStage_Name(stage);
  if (name.starts_with("CYCLE_STAGE_")) name = name.substr(12);
  for (char& c : name) c = static_cast<char>(std::tolower(c));
  return name;
}

std::string Trimmed(const std::string& name, std::string_view prefix) {
  std::string out = name.starts_with(prefix) ? name.substr(prefix.size()) : name;
  for (char& c : out) c = static_cast<char>(std::tolower(c));
  return out;
}

}  // namespace sop::sopctl::workflow_client

namespace sop::sopctl {
namespace {

using namespace workflow_client;
constexpr std::string_view kName = "cycle";
constexpr const char* kUsage =
    "usage: sopctl cycle open BU YYYY-MM [--actual KEY=QTY ...]\n"
    "       sopctl cycle status CYCLE\n"
    "       sopctl cycle submit CYCLE STAGE [--site SITE] [--item ITEM ...]\n"
    "       sopctl cycle sign CYCLE STAGE --sha256 HASH\n"
    "       sopctl cycle send-back CYCLE STAGE --reason TEXT\n"
    "       sopctl cycle decide CYCLE TRADE_OFF --option TEXT --owner WHO --due YYYY-MM-DD\n"
    "       sopctl cycle commit CYCLE --customer C --item I --quantity Q --due YYYY-MM-DD\n"
    "       sopctl cycle move-meeting CYCLE YYYY-MM-DD --reason TEXT\n"
    "  (every form takes --token TOKEN (or SOPCTL_TOKEN) and --workflow HOST:PORT\n"
    "   (or SOPCTL_WORKFLOW, default localhost:50056); STAGE: demand_review, supply_review,\n"
    "   pre_sop, executive_sop, commit_back)\n";

int Usage(CommandContext& context, std::string_view problem) {
  context.err << "sopctl cycle: " << problem << "\n" << kUsage;
  return kExitUsage;
}

void PrintCycle(CommandContext& context, const sop::v1::Cycle& cycle) {
  if (context.json) {
    context.out << Json(cycle) << "\n";
    return;
  }
  context.out << "cycle " << cycle.cycle_id() << "  opened " << cycle.open_date()
              << "  executive meeting " << cycle.meeting_date() << "  now at "
              << StageName(cycle.current_stage()) << "\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& stage : cycle.stages()) {
    std::string version = "-", status = "open", signer, hash;
    if (stage.versions_size() > 0) {
      const auto& latest = stage.versions(stage.versions_size() - 1);
      version = "v" + std::to_string(latest.version());
      status = Trimmed(sop::v1::ArtifactStatus_Name(latest.status()), "ARTIFACT_STATUS_");
      signer = latest.signature().principal();
      hash = latest.content_sha256().substr(0, 16);
    }
    rows.push_back({StageName(stage.stage()), stage.due_date(), stage.overdue() ? "OVERDUE" : "",
                    version, status, signer, hash});
  }
  PrintTable(context.out, {"STAGE", "DUE", "", "VERSION", "STATUS", "SIGNED_BY", "SHA256"}, rows);
  if (cycle.decisions_size() > 0) {
    context.out << "\ndecisions\n";
    rows.clear();
    for (const auto& d : cycle.decisions()) {
      rows.push_back(
          {d.trade_off_id(), d.chosen_option(), d.owner(), d.due_date(), d.decided_by()});
    }
    PrintTable(context.out, {"TRADE_OFF", "OPTION", "OWNER", "DUE", "DECIDED_BY"}, rows);
  }
  if (cycle.commitments_size() > 0) {
    context.out << "\ncustomer commitments\n";
    rows.clear();
    for (const auto& c : cycle.commitments()) {
      char quantity[32];
      std::snprintf(quantity, sizeof quantity, "%g", c.quantity());
      rows.push_back({c.commitment_id(), c.customer_id(), c.item_id(), quantity, c.due_date(),
                      c.promised_by()});
    }
    PrintTable(context.out, {"ID", "CUSTOMER", "ITEM", "QTY", "DUE", "PROMISED_BY"}, rows);
  }
  if (cycle.carry_over_size() > 0) {
    context.out << "\ncarried over from the previous cycle\n";
    rows.clear();
    for (const auto& c : cycle.carry_over()) {
      rows.push_back({c.kind(), c.reference(),
                      Trimmed(sop::v1::CarryOverStatus_Name(c.status()), "CARRY_OVER_STATUS_"),
                      c.basis()});
    }
    PrintTable(context.out, {"KIND", "REFERENCE", "STATUS", "BASIS"}, rows);
  }
}

int Run(CommandContext& context) {
  // Global --token / --workflow (or SOPCTL_TOKEN / SOPCTL_WORKFLOW) first; the command's own
  // --token / --workflow override them.
  Options options;
  options.token = context.token;
  options.address = context.services.at("workflow").address;
  if (auto problem = ParseOptions(context.args, options); !problem.empty()) {
    return Usage(context, problem);
  }
  std::map<std::string, std::string> flags;
  std::vector<std::string> words;
  // --actual and --item repeat: collect them before the generic flag split.
  std::vector<std::string> actuals, items, rest;
  for (std::size_t i = 0; i < options.rest.size(); ++i) {
    if ((options.rest[i] == "--actual" || options.rest[i] == "--item") &&
        i + 1 < options.rest.size()) {
      auto& list = options.rest[i] == "--actual" ? actuals : items;
      list.push_back(options.rest[i + 1]);
      ++i;
    } else {
      rest.push_back(options.rest[i]);
    }
  }
  if (auto problem = Flags(rest, flags, words); !problem.empty()) return Usage(context, problem);
  if (words.empty()) return Usage(context, "missing subcommand");
  const std::string sub = words[0];
  const auto need = [&](std::size_t count) { return words.size() == count + 1; };
  const auto flag = [&](const std::string& name) {
    auto found = flags.find(name);
    return found == flags.end() ? std::string() : found->second;
  };
  auto stub = Stub(options);
  grpc::ClientContext call;
  Prepare(call, context, options);
  sop::v1::CycleResponse cycle;
  grpc::Status status;

  if (sub == "open" && need(2)) {
    sop::v1::OpenCycleRequest request;
    request.set_business_unit(words[1]);
    request.set_period(words[2]);
    for (const auto& actual : actuals) {
      const auto eq = actual.find('=');
      double quantity = 0;
      if (eq == std::string::npos ||
          std::from_chars(actual.data() + eq + 1, actual.data() + actual.size(), quantity).ec !=
              std::errc()) {
        return Usage(context, "--actual: must be KEY=QUANTITY, got '" + actual + "'");
      }
      (*request.mutable_actuals())[actual.substr(0, eq)] = quantity;
    }
    status = stub->OpenCycle(&call, request, &cycle);
  } else if (sub == "status" && need(1)) {
    sop::v1::GetCycleRequest request;
    request.set_cycle_id(words[1]);
    status = stub->GetCycle(&call, request, &cycle);
  } else if (sub == "submit" && need(2)) {
    sop::v1::SubmitArtifactRequest request;
    request.set_cycle_id(words[1]);
    request.set_stage(StageOf(words[2]));
    request.set_site_id(flag("site"));
    for (const auto& item : items) request.add_item_ids(item);
    sop::v1::ArtifactResponse response;
    status = stub->SubmitArtifact(&call, request, &response);
    if (status.ok()) {
      if (context.json) {
        context.out << Json(response.artifact()) << "\n";
      } else {
        context.out << words[2] << " v" << response.artifact().version() << " frozen, sha256 "
                    << response.artifact().content_sha256() << "\n";
        for (const auto& source : response.artifact().document().unavailable_sources()) {
          context.out << "  unavailable: " << source << "\n";
        }
      }
      return kExitOk;
    }
  } else if (sub == "sign" && need(2) && !flag("sha256").empty()) {
    // The version is the latest one; the server refuses if its hash is not the one given.
    sop::v1::GetArtifactRequest get;
    get.set_cycle_id(words[1]);
    get.set_stage(StageOf(words[2]));
    sop::v1::ArtifactResponse latest;
    grpc::ClientContext get_call;
    Prepare(get_call, context, options);
    status = stub->GetArtifact(&get_call, get, &latest);
    if (status.ok()) {
      sop::v1::SignRequest request;
      request.set_cycle_id(words[1]);
      request.set_stage(StageOf(words[2]));
      request.set_version(latest.artifact().version());
      request.set_content_sha256(flag("sha256"));
      status = stub->Sign(&call, request, &cycle);
    }
  } else if (sub == "send-back" && need(2) && !flag("reason").empty()) {
    sop::v1::SendBackRequest request;
    request.set_cycle_id(words[1]);
    request.set_stage(StageOf(words[2]));
    request.set_reason(flag("reason"));
    status = stub->SendBack(&call, request, &cycle);
  } else if (sub == "decide" && need(2)) {
    sop::v1::RecordDecisionRequest request;
    request.set_cycle_id(words[1]);
    request.set_trade_off_id(words[2]);
    request.set_chosen_option(flag("option"));
    request.set_owner(flag("owner"));
    request.set_due_date(flag("due"));
    status = stub->RecordDecision(&call, request, &cycle);
  } else if (sub == "commit" && need(1)) {
    sop::v1::CommitToCustomerRequest request;
    request.set_cycle_id(words[1]);
    request.set_customer_id(flag("customer"));
    request.set_item_id(flag("item"));
    double quantity = 0;
    const std::string text = flag("quantity");
    if (std::from_chars(text.data(), text.data() + text.size(), quantity).ec != std::errc()) {
      return Usage(context, "--quantity: must be a number, got '" + text + "'");
    }
    request.set_quantity(quantity);
    request.set_due_date(flag("due"));
    status = stub->CommitToCustomer(&call, request, &cycle);
  } else if (sub == "move-meeting" && need(2) && !flag("reason").empty()) {
    sop::v1::MoveMeetingRequest request;
    request.set_cycle_id(words[1]);
    request.set_meeting_date(words[2]);
    request.set_reason(flag("reason"));
    status = stub->MoveMeeting(&call, request, &cycle);
  } else {
    return Usage(context, "unexpected arguments for '" + sub + "'");
  }
  if (!status.ok()) {
    return context.Failed(kName, sub + " at " + options.address + ": " + status.error_message());
  }
  PrintCycle(context, cycle.cycle());
  return kExitOk;
}

const CommandRegistrar kRegistered{
    Command{.name = std::string(kName),
            .summary = "the S&OP cycle: open, status, submit, sign, send back, decide, commit",
            .usage = "sopctl cycle open|status|submit|sign|send-back|decide|commit|move-meeting",
            .run = Run}};

}  // namespace
}  // namespace sop::sopctl
