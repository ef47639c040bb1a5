#pragma once
/// sop.v1.Ingestion over gRPC: Submit forwards envelopes to sop.erp.events.v1 and reports what
/// the pipeline decided; ListRejected pages through the recent rejections.

#include <chrono>
#include <cstddef>

#include "sop/bus/producer.hpp"
#include "sop/ingestion/processor.hpp"
#include "sop/v1/ingestion.grpc.pb.h"

namespace sop::ingestion {

struct ServiceOptions {
  /// How long Submit waits (after the client closed its stream) for the pipeline's decisions.
  /// Events owned by another replica are not seen here and count as `pending`.
  std::chrono::milliseconds decision_timeout{30'000};
  std::size_t max_summary_rejections = 100;
};

/// The gRPC face of ingestion. Submit does not bypass the topic: each envelope is produced to
/// sop.erp.events.v1 (key = trimmed site) so that it is ordered with the connectors' events and
/// decided by the partition's owner; an envelope without an event_id cannot be tracked or
/// de-duplicated and is rejected here (to sop.dlq.v1 as well).
/// Threads: gRPC's pool runs the handlers concurrently; everything used is thread-safe.
/// Errors: UNAVAILABLE if an envelope could not be produced (the client may resend: ids make it
/// idempotent); INVALID_ARGUMENT for a bad page_size/page_token.
/// Lifetime: borrows producer and processor.
class IngestionService final : public sop::v1::Ingestion::Service {
 public:
  IngestionService(ServiceOptions options, bus::Producer& producer, Processor& processor);

  grpc::Status Submit(grpc::ServerContext* context, grpc::ServerReader<sop::v1::Envelope>* reader,
                      sop::v1::SubmitSummary* summary) override;
  grpc::Status ListRejected(grpc::ServerContext* context,
                            const sop::v1::ListRejectedRequest* request,
                            sop::v1::ListRejectedResponse* response) override;

 private:
  ServiceOptions options_;
  bus::Producer& producer_;
  Processor& processor_;
};

}  // namespace sop::ingestion
