#pragma once
/// Domain ↔ wire for the workflow: core events ↔ sop.v1.WorkflowEvent (the Kafka payload and the
/// audit-log record), and the read views (cycle, artifact, change request) for gRPC. The only
/// place that knows both the core types and the generated protobuf types.
#include "sop/model/error.hpp"
#include "sop/v1/events.pb.h"
#include "sop/v1/workflow.pb.h"
#include "sop/workflow/core.hpp"

namespace sop::workflow {

sop::v1::CycleStage ToProto(Stage stage);
/// kInvalidArgument naming `field` for UNSPECIFIED or an unknown value.
Result<Stage> FromProto(std::string_view field, sop::v1::CycleStage stage);

void ToProto(Timestamp at, google::protobuf::Timestamp* out);
Timestamp FromProto(const google::protobuf::Timestamp& at);

sop::v1::ArtifactDocument ToProto(const ArtifactDocument& document);
ArtifactDocument FromProto(const sop::v1::ArtifactDocument& document);

sop::v1::WorkflowEvent ToProto(const Event& event);
/// kDataLoss if the record has no change or a field does not parse (a corrupt log record).
Result<Event> FromProto(const sop::v1::WorkflowEvent& event);

/// `with_documents`: include each version's document and canonical JSON (GetArtifact does;
/// GetCycle sends the versions' hashes, statuses and signatures only).
sop::v1::Cycle ToProto(const Cycle& cycle, Timestamp now, bool with_documents);
sop::v1::Artifact ToProto(const ArtifactVersion& version, bool with_document);
sop::v1::ChangeRequest ToProto(const ChangeRequest& request);

/// The ERP event an approved supply change becomes (published to sop.erp.events.v1, keyed by
/// the site): purchase order `<request id>` line 1 of supplier "sop-workflow", open quantity
/// quantity_delta due at period_start (00:00 UTC), ordered at `approved_at`; event id
/// "sop-workflow:cr:<request id>", source system "sop-workflow", site = the request's site.
sop::v1::Envelope SupplyChangeEnvelope(const ChangeRequest& request, std::string_view approved_by,
                                       Timestamp approved_at);

}  // namespace sop::workflow
