#pragma once
/// gRPC server bootstrap shared by every service: listens on host:port (port 0 picks a free port
/// and reports it), registers the service implementations, serves grpc.health.v1 and server
/// reflection, optionally TLS, and records RED metrics per method through the metrics facade:
///
///   sop_grpc_server_requests_total{method,code}            counter
///   sop_grpc_server_request_duration_seconds{method}       histogram (seconds)
///
/// `method` is the full path ("/grpc.health.v1.Health/Check"), `code` the status name ("OK").

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sop/model/error.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"

namespace grpc {
class AuthMetadataProcessor;
class Server;
class Service;
}  // namespace grpc

namespace sop::runtime {

namespace detail {
struct CallTracker;
}  // namespace detail

/// Where and how to listen.
struct GrpcServerOptions {
  std::string host = "0.0.0.0";
  int port = 0;               ///< 0: pick a free port
  std::string tls_cert_path;  ///< PEM certificate chain; TLS when both paths are set
  std::string tls_key_path;   ///< PEM private key
  /// Checks every call's metadata (":path", "authorization", ...) before any handler or
  /// interceptor runs; a non-OK status answers the call with that code and message (sop::auth's
  /// bearer-token policy). Null: no check. Server interceptors cannot refuse a call in gRPC C++,
  /// and grpc::InsecureServerCredentials() cannot take a processor, so without TLS the server
  /// listens with gRPC core's insecure credentials, which can: the processor then runs inline on
  /// the transport thread with a null AuthContext (it must not block), and its consumed/response
  /// metadata are ignored.
  std::shared_ptr<grpc::AuthMetadataProcessor> auth_processor = nullptr;
};

/// A running gRPC server. Health starts NOT_SERVING: the service calls `SetServing(true)` once
/// its components are ready, and `Shutdown` turns every health status NOT_SERVING first.
/// Threads: gRPC's own thread pool runs the handlers; every method here is thread-safe.
/// Errors: `Builder::Start` fails with kUnavailable when the address cannot be bound and
/// kInvalidArgument when a TLS file cannot be read or only one of cert/key is set.
/// Lifetime: registered services must outlive the server; destroying it shuts it down.
class GrpcServer {
 public:
  /// Collects the services, then starts the server.
  class Builder {
   public:
    Builder(GrpcServerOptions options, Logger& logger, MetricsRegistry& metrics);
    /// Registers a service implementation (not owned).
    Builder& AddService(grpc::Service* service);
    Result<std::unique_ptr<GrpcServer>> Start();

   private:
    GrpcServerOptions options_;
    Logger& logger_;
    MetricsRegistry& metrics_;
    std::vector<grpc::Service*> services_;
  };

  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  /// The bound port (the chosen one when the options said 0).
  int port() const noexcept { return port_; }
  bool tls() const noexcept { return tls_; }

  /// Overall health (the empty service name).
  void SetServing(bool serving);
  /// Health of one service name, e.g. "sop.v1.Mrp".
  void SetServing(std::string_view service_name, bool serving);

  /// Turns health NOT_SERVING, stops accepting calls, waits up to `deadline` for in-flight
  /// calls and then cancels them. Idempotent. Health Watch streams are not waited for, and
  /// once no call is in flight the remaining (idle) client connections are closed at once:
  /// gRPC would otherwise wait for every client to notice the GOAWAY, which an idle C-core
  /// client only does on its 5 s backup poll.
  void Shutdown(std::chrono::nanoseconds deadline);

 private:
  GrpcServer(std::unique_ptr<grpc::Server> server, std::shared_ptr<detail::CallTracker> calls,
             int port, bool tls, Logger& logger);

  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<detail::CallTracker> calls_;
  int port_;
  bool tls_;
  Logger& logger_;
  std::atomic<bool> shut_down_{false};
};

/// The status-code name used in the `code` label: "OK", "INVALID_ARGUMENT", ...
std::string_view GrpcCodeName(int code) noexcept;

}  // namespace sop::runtime
