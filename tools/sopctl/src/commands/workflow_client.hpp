#pragma once
// The workflow client helpers shared by sopctl's cycle, audit, artifact and change-request
// commands (sop.v1.Workflow). Defined in cycle.cpp.

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sop/sopctl/command.hpp"
#include "sop/v1/workflow.grpc.pb.h"

namespace sop::sopctl::workflow_client {

/// Options every workflow command takes after its own name.
struct Options {
  std::string token;    ///< --token or $SOPCTL_TOKEN
  std::string address;  ///< --workflow or $SOPCTL_WORKFLOW or localhost:50056
  std::vector<std::string> rest;
};

/// Splits --token/--workflow off `args` (defaults: what the caller put in `options`, then
/// $SOPCTL_TOKEN / $SOPCTL_WORKFLOW, then localhost:50056); an error text on a missing value or
/// when no token is known.
std::string ParseOptions(const std::vector<std::string>& args, Options& options);
/// A stub on options.address.
std::unique_ptr<sop::v1::Workflow::Stub> Stub(const Options& options);
/// Deadline and bearer token of one call.
void Prepare(grpc::ClientContext& call, const CommandContext& context, const Options& options);
/// Splits `rest` into --flag value pairs and positional arguments; an error text when a flag
/// has no value.
std::string Flags(const std::vector<std::string>& rest, std::map<std::string, std::string>& flags,
                  std::vector<std::string>& positional);
/// A message as one line of JSON.
std::string Json(const google::protobuf::Message& message);
/// "demand_review" → CYCLE_STAGE_DEMAND_REVIEW (UNSPECIFIED when unknown), and back.
sop::v1::CycleStage StageOf(std::string_view name);
std::string StageName(sop::v1::CycleStage stage);
/// An enum value name without `prefix`, lower-case.
std::string Trimmed(const std::string& name, std::string_view prefix);

}  // namespace sop::sopctl::workflow_client
