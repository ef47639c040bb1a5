#include "sop/ingestion/service.hpp"

#include <google/protobuf/timestamp.pb.h>
#include <grpcpp/grpcpp.h>

#include <future>
#include <string>
#include <vector>

#include "sop/bus/topics.hpp"
#include "sop/runtime/grpc_status.hpp"

namespace sop::ingestion {
namespace {

std::string TrimmedCopy(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

}  // namespace

IngestionService::IngestionService(ServiceOptions options, bus::Producer& producer,
                                   Processor& processor)
    : options_(options), producer_(producer), processor_(processor) {}

grpc::Status IngestionService::Submit(grpc::ServerContext* context,
                                      grpc::ServerReader<sop::v1::Envelope>* reader,
                                      sop::v1::SubmitSummary* summary) {
  auto pending = std::make_shared<PendingOutcomes>(options_.max_summary_rejections);
  std::vector<std::future<Result<bus::DeliveryReport>>> sends;
  std::int64_t forwarded = 0;
  std::int64_t rejected_here = 0;
  sop::v1::Envelope envelope;
  while (reader->Read(&envelope)) {
    summary->set_received(summary->received() + 1);
    std::string bytes = envelope.SerializeAsString();
    const std::string event_id = TrimmedCopy(envelope.event_id());
    const std::string site = TrimmedCopy(envelope.site());
    if (event_id.empty()) {
      sop::v1::Rejection rejection;
      rejection.set_site(site);
      rejection.set_field("event_id");
      rejection.set_reason("required, got ''");
      rejection.set_original(bytes);
      const auto now = std::chrono::system_clock::now().time_since_epoch();
      rejection.mutable_rejected_at()->set_seconds(
          std::chrono::duration_cast<std::chrono::seconds>(now).count());
      rejection.set_source_topic("grpc:sop.v1.Ingestion/Submit");
      rejection.set_source_offset(summary->received() - 1);
      const bus::Message original{.topic = rejection.source_topic(),
                                  .offset = rejection.source_offset(),
                                  .key = site,
                                  .value = bytes};
      if (auto sent = processor_.dead_letter().Send(
              original, Error(Errc::kInvalidArgument, "event_id: required, got ''"));
          !sent) {
        processor_.outcomes().Forget(pending);
        return runtime::ToGrpcStatus(sent.error());
      }
      processor_.RecordRejection(rejection, ReasonClass::kMissingField);
      ++rejected_here;
      if (summary->rejections_size() < static_cast<int>(options_.max_summary_rejections))
        *summary->add_rejections() = rejection;
      continue;
    }
    processor_.outcomes().Expect(pending, event_id);
    ++forwarded;
    sends.push_back(producer_.Send(bus::OutgoingMessage{
        .topic = std::string(bus::kErpEventsTopic), .key = site, .value = std::move(bytes)}));
  }
  std::int64_t failed = 0;
  Error last_error(Errc::kOk, "");
  for (auto& send : sends) {
    auto report = send.get();
    if (!report) {
      ++failed;
      last_error = report.error();
    }
  }
  if (failed > 0) {
    processor_.outcomes().Forget(pending);
    return runtime::ToGrpcStatus(
        Error(Errc::kUnavailable,
              std::to_string(failed) + " of " + std::to_string(forwarded) +
                  " envelopes not produced to sop.erp.events.v1: " + last_error.message()));
  }
  auto deadline = std::chrono::steady_clock::now() + options_.decision_timeout;
  if (context->deadline() != std::chrono::system_clock::time_point::max()) {
    const auto client_left = context->deadline() - std::chrono::system_clock::now();
    deadline =
        std::min(deadline, std::chrono::steady_clock::now() +
                               std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                   client_left - std::chrono::milliseconds(200)));
  }
  pending->WaitFor(forwarded, deadline);
  processor_.outcomes().Forget(pending);
  summary->set_rejected(rejected_here);
  pending->Fill(*summary);
  summary->set_pending(summary->received() - summary->accepted() - summary->duplicates() -
                       summary->rejected());
  return grpc::Status::OK;
}

grpc::Status IngestionService::ListRejected(grpc::ServerContext*,
                                            const sop::v1::ListRejectedRequest* request,
                                            sop::v1::ListRejectedResponse* response) {
  if (request->page_size() < 0 || request->page_size() > 1000) {
    return runtime::ToGrpcStatus(
        InvalidField("page_size", "must be in [0, 1000]", std::to_string(request->page_size()))
            .error());
  }
  const std::size_t page_size =
      request->page_size() == 0 ? 50 : static_cast<std::size_t>(request->page_size());
  auto page =
      processor_.rejections().List(TrimmedCopy(request->site()), page_size, request->page_token());
  if (!page) return runtime::ToGrpcStatus(page.error());
  for (auto& rejection : page->rejections) *response->add_rejections() = std::move(rejection);
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

}  // namespace sop::ingestion
