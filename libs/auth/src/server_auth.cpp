#include "sop/auth/server_auth.hpp"

#include "sop/runtime/grpc_status.hpp"

namespace sop::auth {

CallAuthorizer::CallAuthorizer(std::string service, CallPolicy policy, TokenAuthenticator tokens,
                               runtime::Logger& logger, runtime::MetricsRegistry& metrics)
    : service_(std::move(service)),
      policy_(std::move(policy)),
      tokens_(std::move(tokens)),
      logger_(logger),
      denied_(metrics.AddCounter(
          {"sop_" + service_ + "_auth_denied_total",
           "Calls refused by the platform call policy before reaching a handler, by method and "
           "status code.",
           {"method", "code"}})) {}

grpc::Status CallAuthorizer::Process(const InputMetadata& metadata, grpc::AuthContext* /*context*/,
                                     OutputMetadata* /*consumed*/, OutputMetadata* /*response*/) {
  std::string_view method;
  if (const auto path = metadata.find(":path"); path != metadata.end()) {
    method = std::string_view(path->second.data(), path->second.size());
  }
  std::string_view authorization;
  const std::string_view* presented = nullptr;
  if (const auto found = metadata.find("authorization"); found != metadata.end()) {
    authorization = std::string_view(found->second.data(), found->second.size());
    presented = &authorization;
  }
  auto grant = policy_.Check(method, presented, tokens_);
  if (grant) return grpc::Status::OK;
  const grpc::Status status = runtime::ToGrpcStatus(grant.error());
  const std::string_view code =
      grant.error().code() == Errc::kUnauthenticated ? "UNAUTHENTICATED" : "PERMISSION_DENIED";
  const std::string_view label = policy_.Find(method) != nullptr ? method : "_unknown";
  denied_.WithLabels({label, code}).Increment();
  logger_.Warn("call refused",
               {{"method", label}, {"code", code}, {"reason", grant.error().message()}});
  return status;
}

void AddServerAuthSettings(runtime::ConfigSchema& schema) {
  using runtime::SettingSpec;
  schema.Add(SettingSpec::String("auth.tokens-file",
                                 "Tokens file: 'sha256:<hex> <principal> <role>,...' per line (a "
                                 "mounted Kubernetes Secret). Empty: dev mode, every call is "
                                 "open (logged as a warning at start-up)")
                 .Default(""));
  schema.Add(SettingSpec::Bool("auth.open-reads",
                               "Reads need no bearer token (writes still need their roles)")
                 .Default("false"));
}

Result<std::shared_ptr<grpc::AuthMetadataProcessor>> ServerAuthFromConfig(
    const runtime::Config& config, std::string_view service, runtime::Logger& logger,
    runtime::MetricsRegistry& metrics) {
  const std::string& path = config.GetString("auth.tokens-file");
  if (path.empty()) {
    logger.Warn(
        "auth.tokens-file not set: dev mode, every call is open (no token checked); set it in "
        "any shared environment");
    return std::shared_ptr<grpc::AuthMetadataProcessor>();
  }
  auto tokens = TokenAuthenticator::LoadFile(path);
  if (!tokens) {
    return Fail(tokens.error().code(), "auth.tokens-file: " + tokens.error().message());
  }
  const bool open_reads = config.GetBool("auth.open-reads");
  logger.Info("call policy enforced",
              {{"principals", tokens->size()}, {"open_reads", open_reads}, {"tokens_file", path}});
  return std::shared_ptr<grpc::AuthMetadataProcessor>(std::make_shared<CallAuthorizer>(
      std::string(service), CallPolicy::Platform(open_reads), std::move(*tokens), logger, metrics));
}

}  // namespace sop::auth
