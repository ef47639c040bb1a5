#pragma once
/// Builds each stage's artifact from live gRPC data of the other services: demand consensus
/// from Forecasting.GetForecast, the supply gap report from Mrp.GetSupplyPlan, the reconciliation
/// pack from Mrp gaps + Capacity.EvaluateScenarios + Exceptions.ListExceptions, the signed plan
/// and the commitment log from the cycle's own decisions and commitments.
///
/// A source that is not configured or fails does not fail the assembly: the document lists it
/// under `unavailable_sources` with the reason, so nobody signs a pack believing it complete.
/// Threads: stateless apart from the channels (thread-safe); one call blocks for at most
/// `deadline` per remote call.
#include <grpcpp/channel.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "sop/workflow/core.hpp"

namespace sop::workflow {

struct ArtifactSources {
  std::shared_ptr<grpc::Channel> forecasting;  ///< null: not configured
  std::shared_ptr<grpc::Channel> mrp;
  std::shared_ptr<grpc::Channel> capacity;
  std::shared_ptr<grpc::Channel> exceptions;
  std::chrono::milliseconds deadline{5000};
  /// Bearer token presented to the other services (empty: none).
  std::string token;
};

struct AssemblyScope {
  std::string site_id;                ///< empty: every site
  std::vector<std::string> item_ids;  ///< demand consensus SKUs; empty: the items of the gaps
  int months = 18;                    ///< demand consensus horizon
  /// Demand consensus: customer/channel rows shown per SKU (by volume); the rest are summed
  /// into one "other (k rows)" line.
  int customers_per_sku = 5;
  int top_gaps = 3;  ///< trade-offs in the reconciliation pack
};

/// The document for `stage` of `cycle` (not yet validated or hashed: the core does that).
ArtifactDocument AssembleArtifact(const ArtifactSources& sources, const Cycle& cycle, Stage stage,
                                  const AssemblyScope& scope);

}  // namespace sop::workflow
