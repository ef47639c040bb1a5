#pragma once
/// The platform check every sopstream gRPC server installs: the call policy (call_policy.hpp)
/// enforced before any handler runs, as a grpc::AuthMetadataProcessor handed to the server
/// through runtime::GrpcServerOptions::auth_processor. host::RunServiceMain installs it; a
/// service with its own main (sop-ingestion) calls the same two functions:
///
///   auth::AddServerAuthSettings(schema);                                  // declare
///   auto processor = auth::ServerAuthFromConfig(config, "ingestion", logger, metrics);
///   if (!processor) { log; return 64; }
///   grpc_options.auth_processor = *processor;                            // nullptr: dev mode
///
/// Settings (flags / SOP_* environment):
///   auth.tokens-file  string  ""     tokens file (libs/auth/README.md). Empty: dev mode — no
///                                    check at all, logged as a WARN line at start-up.
///   auth.open-reads   bool    false  reads need no token (writes still do).
#include <grpcpp/security/auth_metadata_processor.h>

#include <memory>
#include <string>
#include <string_view>

#include "sop/auth/call_policy.hpp"
#include "sop/auth/token_authenticator.hpp"
#include "sop/model/error.hpp"
#include "sop/runtime/config.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"

namespace sop::auth {

/// Enforces a CallPolicy on every call: refusals answer UNAUTHENTICATED / PERMISSION_DENIED
/// with the policy's message, are logged (WARN "call refused": method, code, reason; never the
/// token) and counted in sop_<service>_auth_denied_total{method,code} (`method` is the full
/// path, "_unknown" for a path the policy does not name, so the label stays bounded).
/// Threads: Process runs on gRPC transport threads; it is const apart from thread-safe metrics
/// and the logger. Lifetime: the logger and the metrics registry must outlive the server.
class CallAuthorizer final : public grpc::AuthMetadataProcessor {
 public:
  CallAuthorizer(std::string service, CallPolicy policy, TokenAuthenticator tokens,
                 runtime::Logger& logger, runtime::MetricsRegistry& metrics);

  /// Hashing a token and comparing it with every entry is microseconds: run inline.
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed, OutputMetadata* response) override;

 private:
  std::string service_;
  CallPolicy policy_;
  TokenAuthenticator tokens_;
  runtime::Logger& logger_;
  runtime::CounterFamily denied_;
};

/// Declares auth.tokens-file and auth.open-reads.
void AddServerAuthSettings(runtime::ConfigSchema& schema);

/// The processor for `service`'s server from the loaded config, or nullptr in dev mode (no
/// auth.tokens-file; a WARN line says every call is open). Logs an INFO line with the number
/// of principals. kNotFound / kInvalidArgument (naming auth.tokens-file, the path and the line)
/// when the file cannot be read or parsed: a start-up error (exit 64).
Result<std::shared_ptr<grpc::AuthMetadataProcessor>> ServerAuthFromConfig(
    const runtime::Config& config, std::string_view service, runtime::Logger& logger,
    runtime::MetricsRegistry& metrics);

}  // namespace sop::auth
