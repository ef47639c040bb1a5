#pragma once
/// The settings every sopstream service shares, declared once so that flags, environment
/// variables and --help read the same in every service:
///
///   log.level         string   info   debug|info|warn|error
///   grpc.host         string   0.0.0.0
///   grpc.port         int      50051  [0, 65535]; 0 picks a free port
///   grpc.tls.cert     string   -      PEM certificate chain; TLS when cert and key are set
///   grpc.tls.key      string   -      PEM private key
///   metrics.host      string   0.0.0.0
///   metrics.port      int      9464   [0, 65535]; 0 picks a free port
///   shutdown.drain    duration 0s     [0s, 60s] NOT_SERVING before intake stops
///   shutdown.timeout  duration 20s    [100ms, 10m] then the exit is forced
///   kafka.*           pass-through for librdkafka (SOP_KAFKA_SECURITY_PROTOCOL=...)

#include "sop/runtime/config.hpp"
#include "sop/runtime/grpc_server.hpp"
#include "sop/runtime/log.hpp"

namespace sop::runtime {

/// Declares the shared settings (above) in `schema`. Throws std::logic_error if one of the names
/// is already declared.
void AddServiceSettings(ConfigSchema& schema);

/// The gRPC listening options from the shared settings.
GrpcServerOptions GrpcOptionsFromConfig(const Config& config);

/// The log level from the shared settings (validated at load, so this cannot fail).
LogLevel LogLevelFromConfig(const Config& config);

}  // namespace sop::runtime
