#include "sop/auth/call_policy.hpp"

#include <algorithm>

namespace sop::auth {

CallPolicy CallPolicy::Platform(bool open_reads) {
  using Access = MethodRule::Access;
  const MethodRule read{open_reads ? Access::kOpen : Access::kPrincipal, {}};
  const auto roles = [](std::vector<std::string> names) {
    return MethodRule{Access::kRoles, std::move(names)};
  };
  CallPolicy policy;
  // Always open: Kubernetes probes and tooling.
  policy.Set("/grpc.health.v1.Health/Check", {Access::kOpen, {}});
  policy.Set("/grpc.health.v1.Health/Watch", {Access::kOpen, {}});
  policy.Set("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", {Access::kOpen, {}});
  policy.Set("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", {Access::kOpen, {}});
  // Writes.
  policy.Set("/sop.v1.Ingestion/Submit", roles({"integration", "planner"}));
  policy.Set("/sop.v1.Forecasting/AdjustForecast",
             roles({"demand_lead", "sales_lead", "planner", "workflow"}));
  policy.Set("/sop.v1.Mrp/Replan", roles({"planner", "supply_lead"}));
  policy.Set("/sop.v1.Exceptions/Acknowledge", roles({"planner", "supply_lead", "demand_lead"}));
  // Reads.
  for (const char* method :
       {"/sop.v1.Ingestion/ListRejected", "/sop.v1.Forecasting/GetForecast",
        "/sop.v1.Forecasting/GetAccuracy", "/sop.v1.Mrp/GetPlan", "/sop.v1.Mrp/GetSupplyPlan",
        "/sop.v1.Capacity/GetLoad", "/sop.v1.Capacity/EvaluateScenarios",
        "/sop.v1.Exceptions/ListExceptions"}) {
    policy.Set(method, read);
  }
  // The workflow service checks each call's stage role itself; the platform only needs a
  // known principal.
  for (const char* method :
       {"OpenCycle", "GetCycle", "SubmitArtifact", "GetArtifact", "Sign", "SendBack",
        "RecordDecision", "CommitToCustomer", "MoveMeeting", "ListAudit", "CreateChangeRequest",
        "ListChangeRequests", "ApproveChangeRequest", "RejectChangeRequest"}) {
    policy.Set(std::string("/sop.v1.Workflow/") + method, {Access::kPrincipal, {}});
  }
  return policy;
}

void CallPolicy::Set(std::string method, MethodRule rule) {
  rules_.insert_or_assign(std::move(method), std::move(rule));
}

const MethodRule* CallPolicy::Find(std::string_view method) const {
  const auto found = rules_.find(method);
  return found == rules_.end() ? nullptr : &found->second;
}

Result<CallGrant> CallPolicy::Check(std::string_view method, const std::string_view* authorization,
                                    const TokenAuthenticator& tokens) const {
  const MethodRule* rule = Find(method);
  if (rule == nullptr) {
    return Fail(Errc::kPermissionDenied,
                std::string(method) + ": not in the platform's call policy (libs/auth)");
  }
  if (rule->access == MethodRule::Access::kOpen && authorization == nullptr) return CallGrant{};
  if (authorization == nullptr) {
    return Fail(Errc::kUnauthenticated, "authorization: missing bearer token");
  }
  auto principal = tokens.AuthenticateHeader(*authorization);
  if (!principal) return std::unexpected(principal.error());
  if (rule->access != MethodRule::Access::kRoles ||
      std::any_of(rule->roles.begin(), rule->roles.end(),
                  [&](const std::string& role) { return principal->HasRole(role); })) {
    return CallGrant{principal->name};
  }
  std::string needed;
  for (const auto& role : rule->roles) {
    if (!needed.empty()) needed += " or ";
    needed += role;
  }
  return Fail(Errc::kPermissionDenied, std::string(method) + ": principal '" + principal->name +
                                           "' needs role " + needed + ", has '" +
                                           principal->RolesText() + "'");
}

}  // namespace sop::auth
