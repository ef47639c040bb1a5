#include "sop/runtime/service_settings.hpp"

namespace sop::runtime {

void AddServiceSettings(ConfigSchema& schema) {
  schema
      .Add(SettingSpec::String("log.level", "Lowest level written to the JSON log on stderr.")
               .Default("info")
               .OneOf({"debug", "info", "warn", "error"}))
      .Add(SettingSpec::String("grpc.host", "Address the gRPC server listens on.")
               .Default("0.0.0.0"))
      .Add(SettingSpec::Int("grpc.port",
                            "gRPC port; 0 picks a free port (reported in the start-up log line).")
               .Default("50051")
               .Min("0")
               .Max("65535"))
      .Add(SettingSpec::String("grpc.tls.cert",
                               "PEM certificate chain file; TLS is on when cert and key are set."))
      .Add(SettingSpec::String("grpc.tls.key", "PEM private key file for grpc.tls.cert."))
      .Add(SettingSpec::String("metrics.host",
                               "Address the Prometheus /metrics endpoint listens on.")
               .Default("0.0.0.0"))
      .Add(SettingSpec::Int("metrics.port", "Prometheus /metrics port; 0 picks a free port.")
               .Default("9464")
               .Min("0")
               .Max("65535"))
      .Add(SettingSpec::Duration("shutdown.drain",
                                 "Time between reporting NOT_SERVING and stopping intake, so load "
                                 "balancers stop routing first.")
               .Default("0s")
               .Min("0s")
               .Max("60s"))
      .Add(SettingSpec::Duration("shutdown.timeout",
                                 "Deadline for a graceful shutdown; past it the exit is forced "
                                 "with code 2.")
               .Default("20s")
               .Min("100ms")
               .Max("10m"))
      .AddPassthrough("kafka");
}

GrpcServerOptions GrpcOptionsFromConfig(const Config& config) {
  GrpcServerOptions options;
  options.host = config.GetString("grpc.host");
  options.port = static_cast<int>(config.GetInt("grpc.port"));
  if (config.Has("grpc.tls.cert")) options.tls_cert_path = config.GetString("grpc.tls.cert");
  if (config.Has("grpc.tls.key")) options.tls_key_path = config.GetString("grpc.tls.key");
  return options;
}

LogLevel LogLevelFromConfig(const Config& config) {
  return ParseLogLevel(config.GetString("log.level")).value_or(LogLevel::kInfo);
}

}  // namespace sop::runtime
