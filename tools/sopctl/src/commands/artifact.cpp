// sopctl artifact show CYCLE STAGE [--version N] --format md|json: a stage's frozen artifact as a
// readable Markdown document with its signature, or as JSON (the canonical bytes and the hash
// are part of it, so anyone can re-hash).

#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include <charconv>
#include <ostream>

#include "workflow_client.hpp"

namespace sop::sopctl {
namespace {

using namespace workflow_client;
constexpr std::string_view kName = "artifact";
constexpr const char* kUsage =
    "usage: sopctl artifact show CYCLE STAGE [--version N] [--format md|json]\n"
    "                            [--token TOKEN] [--workflow HOST:PORT]\n";

/// Markdown cells cannot hold '|' or line breaks.
std::string Cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

void Markdown(std::ostream& out, const sop::v1::Artifact& artifact) {
  using google::protobuf::util::TimeUtil;
  const auto& doc = artifact.document();
  out << "# " << doc.title() << " — " << doc.cycle_id() << "\n\n";
  out << "| | |\n|---|---|\n";
  out << "| stage | " << StageName(artifact.stage()) << " |\n";
  out << "| version | " << artifact.version() << " |\n";
  out << "| status | "
      << Trimmed(sop::v1::ArtifactStatus_Name(artifact.status()), "ARTIFACT_STATUS_") << " |\n";
  out << "| content SHA-256 | `" << artifact.content_sha256() << "` |\n";
  out << "| submitted | " << artifact.submitted_by() << ", "
      << TimeUtil::ToString(artifact.submitted_at()) << " |\n";
  if (artifact.has_signature()) {
    const auto& s = artifact.signature();
    out << "| signed | " << s.principal() << " (" << s.role() << "), "
        << TimeUtil::ToString(s.signed_at()) << ", over `" << s.content_sha256() << "` |\n";
  } else {
    out << "| signed | not yet |\n";
  }
  if (!artifact.sent_back_reason().empty()) {
    out << "| sent back | " << Cell(artifact.sent_back_reason()) << " |\n";
  }
  if (doc.unavailable_sources_size() > 0) {
    out << "\n**Incomplete — sources unavailable while assembling:**\n\n";
    for (const auto& source : doc.unavailable_sources()) out << "- " << source << "\n";
  }
  for (const auto& table : doc.tables()) {
    out << "\n## " << table.name() << "\n\n";
    if (table.rows_size() == 0) {
      out << "(no rows)\n";
      continue;
    }
    // The demand consensus (SKU × customer/channel × month) reads per SKU: one sub-table per
    // item and site, without repeating them on every row.
    const bool per_sku = table.name() == "consensus" && table.columns_size() > 2 &&
                         table.columns(0) == "item" && table.columns(1) == "site";
    const int skip = per_sku ? 2 : 0;
    auto header = [&] {
      out << "|";
      for (int i = skip; i < table.columns_size(); ++i)
        out << " " << Cell(table.columns(i)) << " |";
      out << "\n|";
      for (int i = skip; i < table.columns_size(); ++i) out << "---|";
      out << "\n";
    };
    if (!per_sku) header();
    std::string sku;
    for (const auto& row : table.rows()) {
      if (per_sku && row.cells_size() > 2) {
        const std::string current = row.cells(0) + " @ " + row.cells(1);
        if (current != sku) {
          out << (sku.empty() ? "" : "\n") << "### " << Cell(current) << "\n\n";
          sku = current;
          header();
        }
      }
      out << "|";
      for (int i = skip; i < row.cells_size(); ++i) out << " " << Cell(row.cells(i)) << " |";
      out << "\n";
    }
  }
  if (doc.trade_offs_size() > 0) {
    out << "\n## Trade-offs\n\n";
    for (const auto& trade_off : doc.trade_offs()) {
      out << "- **" << trade_off.id() << "** " << trade_off.description() << "\n";
      for (const auto& option : trade_off.options()) out << "  - " << option << "\n";
    }
  }
  if (doc.notes_size() > 0) {
    out << "\n## Notes\n\n";
    for (const auto& note : doc.notes()) out << "- " << note << "\n";
  }
}

int Run(CommandContext& context) {
  // Global --token / --workflow (or SOPCTL_TOKEN / SOPCTL_WORKFLOW) first; the command's own
  // --token / --workflow override them.
  Options options;
  options.token = context.token;
  options.address = context.services.at("workflow").address;
  std::map<std::string, std::string> flags;
  std::vector<std::string> words;
  std::string problem = ParseOptions(context.args, options);
  if (problem.empty()) problem = Flags(options.rest, flags, words);
  if (problem.empty() && (words.size() != 3 || words[0] != "show")) {
    problem = "expected: show CYCLE STAGE";
  }
  const std::string format = flags.contains("format") ? flags["format"] : "md";
  if (problem.empty() && format != "md" && format != "json") {
    problem = "--format: must be md or json, got '" + format + "'";
  }
  int version = 0;
  if (problem.empty() && flags.contains("version")) {
    const auto& text = flags["version"];
    if (std::from_chars(text.data(), text.data() + text.size(), version).ec != std::errc() ||
        version < 1) {
      problem = "--version: must be a positive integer, got '" + text + "'";
    }
  }
  if (problem.empty() && StageOf(words[2]) == sop::v1::CYCLE_STAGE_UNSPECIFIED) {
    problem =
        "STAGE: must be demand_review, supply_review, pre_sop, executive_sop or "
        "commit_back, got '" +
        words[2] + "'";
  }
  if (!problem.empty()) {
    context.err << "sopctl artifact: " << problem << "\n" << kUsage;
    return kExitUsage;
  }
  sop::v1::GetArtifactRequest request;
  request.set_cycle_id(words[1]);
  request.set_stage(StageOf(words[2]));
  request.set_version(version);
  auto stub = Stub(options);
  grpc::ClientContext call;
  Prepare(call, context, options);
  sop::v1::ArtifactResponse response;
  const auto status = stub->GetArtifact(&call, request, &response);
  if (!status.ok()) {
    return context.Failed(kName,
                          "GetArtifact at " + options.address + ": " + status.error_message());
  }
  if (format == "json" || context.json) {
    context.out << Json(response.artifact()) << "\n";
  } else {
    Markdown(context.out, response.artifact());
  }
  return kExitOk;
}

const CommandRegistrar kRegistered{
    Command{.name = std::string(kName),
            .summary = "show a stage's frozen artifact with its signature (Markdown or JSON)",
            .usage = "sopctl artifact show CYCLE STAGE [--version N] [--format md|json]",
            .run = Run}};

}  // namespace
}  // namespace sop::sopctl
