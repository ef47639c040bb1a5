// sopctl ingest FILE: streams JSON lines of sop.v1.Envelope through Ingestion.Submit.

#include <grpcpp/grpcpp.h>

#include <charconv>
#include <fstream>
#include <memory>
#include <ostream>

#include "sop/codec/jsonl.hpp"
#include "sop/sopctl/command.hpp"
#include "sop/v1/ingestion.grpc.pb.h"

namespace sop::sopctl {
namespace {

constexpr std::string_view kName = "ingest";

struct Totals {
  std::int64_t received = 0, accepted = 0, duplicates = 0, rejected = 0, pending = 0;
  std::vector<sop::v1::Rejection> rejections;
};

// One Submit call for `batch`; adds its summary to `totals`.
Status SubmitBatch(const CommandContext& context, sop::v1::Ingestion::Stub& stub,
                   const std::vector<sop::v1::Envelope>& batch, Totals& totals) {
  grpc::ClientContext call;
  call.set_deadline(context.Deadline());
  sop::v1::SubmitSummary summary;
  auto writer = stub.Submit(&call, &summary);
  for (const auto& envelope : batch) {
    if (!writer->Write(envelope)) break;  // the server ended the call; Finish says why
  }
  writer->WritesDone();
  const grpc::Status status = writer->Finish();
  if (!status.ok()) {
    return Fail(Errc::kUnavailable, "Submit to " + context.services.at("ingestion").address +
                                        " failed: " + status.error_message() + " (grpc code " +
                                        std::to_string(static_cast<int>(status.error_code())) +
                                        ")");
  }
  totals.received += summary.received();
  totals.accepted += summary.accepted();
  totals.duplicates += summary.duplicates();
  totals.rejected += summary.rejected();
  totals.pending += summary.pending();
  for (const auto& rejection : summary.rejections()) {
    if (totals.rejections.size() < 100) totals.rejections.push_back(rejection);
  }
  return {};
}

void Print(const CommandContext& context, const Totals& totals) {
  if (context.json) {
    context.out << "{\"received\":" << totals.received << ",\"accepted\":" << totals.accepted
                << ",\"duplicates\":" << totals.duplicates << ",\"rejected\":" << totals.rejected
                << ",\"pending\":" << totals.pending << ",\"rejections\":[";
    for (std::size_t i = 0; i < totals.rejections.size(); ++i) {
      const auto& r = totals.rejections[i];
      context.out << (i ? "," : "") << "{\"event_id\":\"" << JsonEscape(r.event_id())
                  << "\",\"site\":\"" << JsonEscape(r.site()) << "\",\"field\":\""
                  << JsonEscape(r.field()) << "\",\"reason\":\"" << JsonEscape(r.reason()) << "\"}";
    }
    context.out << "]}\n";
    return;
  }
  PrintTable(context.out, {"received", "accepted", "duplicates", "rejected", "pending"},
             {{std::to_string(totals.received), std::to_string(totals.accepted),
               std::to_string(totals.duplicates), std::to_string(totals.rejected),
               std::to_string(totals.pending)}});
  if (!totals.rejections.empty()) {
    context.out << "\nrejected events (first " << totals.rejections.size() << "):\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : totals.rejections)
      rows.push_back({r.event_id(), r.site(), r.field(), r.reason()});
    PrintTable(context.out, {"EVENT_ID", "SITE", "FIELD", "REASON"}, rows);
  }
}

int Run(CommandContext& context) {
  std::string path;
  std::size_t batch_size = 5000;
  for (std::size_t i = 0; i < context.args.size(); ++i) {
    const std::string& arg = context.args[i];
    if (arg == "--batch" && i + 1 < context.args.size()) {
      const std::string& value = context.args[++i];
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), batch_size);
      if (ec != std::errc() || end != value.data() + value.size() || batch_size == 0) {
        context.err << "sopctl ingest: --batch: must be a positive integer, got '" << value
                    << "'\n";
        return kExitUsage;
      }
    } else if (!arg.starts_with("--") && path.empty()) {
      path = arg;
    } else {
      context.err << "sopctl ingest: unexpected argument '" << arg
                  << "'\nusage: sopctl ingest FILE [--batch N]\n";
      return kExitUsage;
    }
  }
  if (path.empty()) {
    context.err << "usage: sopctl ingest FILE [--batch N]\n";
    return kExitUsage;
  }
  // First pass: the whole file must parse, so a bad line N submits nothing at all.
  {
    std::ifstream in(path);
    if (!in) return context.Failed(kName, "cannot open '" + path + "'");
    auto checked = codec::ReadJsonLines(
        in, [](const sop::v1::Envelope&, std::int64_t) -> Status { return {}; });
    if (!checked)
      return context.Failed(kName, path + ": " + checked.error().message() + "; nothing submitted");
  }
  std::ifstream in(path);
  auto stub = sop::v1::Ingestion::NewStub(context.Channel("ingestion"));
  Totals totals;
  std::vector<sop::v1::Envelope> batch;
  batch.reserve(batch_size);
  auto read =
      codec::ReadJsonLines(in, [&](const sop::v1::Envelope& envelope, std::int64_t) -> Status {
        batch.push_back(envelope);
        if (batch.size() < batch_size) return {};
        auto sent = SubmitBatch(context, *stub, batch, totals);
        batch.clear();
        return sent;
      });
  if (read && !batch.empty()) {
    if (auto sent = SubmitBatch(context, *stub, batch, totals); !sent)
      read = std::unexpected(sent.error());
  }
  if (!read) {
    if (totals.received > 0) Print(context, totals);
    return context.Failed(kName, read.error().message() + " (after " +
                                     std::to_string(totals.received) +
                                     " envelopes were submitted)");
  }
  Print(context, totals);
  if (totals.rejected > 0 || totals.pending > 0) {
    context.err << "sopctl ingest: " << totals.rejected << " rejected, " << totals.pending
                << " not yet decided (see sopctl rejected)\n";
    return kExitFailure;
  }
  return kExitOk;
}

const CommandRegistrar kRegistered{Command{
    .name = std::string(kName),
    .summary = "stream a JSON-lines file of Envelopes through Ingestion.Submit; print the summary",
    .usage = "sopctl ingest FILE [--batch N]   (exit 1 if any event was rejected or undecided)",
    .run = Run}};

}  // namespace
}  // namespace sop::sopctl
