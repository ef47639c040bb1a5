#pragma once
/// A service binary as a child process for the binary e2e tests: started with the flags every
/// such test passes (the embedded broker with fast group timings, a redis-server port,
/// loopback gRPC and metrics on port 0) plus its own, its JSON log in a file, its gRPC port
/// read from the start-up line, stopped with SIGTERM (exit status) or SIGKILL. The destructor
/// SIGKILLs a process still running, so a failed assertion leaves nothing behind.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace sop::service_testing {

/// The whole file (empty when it cannot be read).
std::string ReadFile(const std::filesystem::path& path);

/// The flags of a service under test: --kafka.bootstrap.servers=`bootstrap` with short session,
/// heartbeat, commit and fetch intervals, --redis.port, gRPC and metrics on 127.0.0.1:0.
std::vector<std::string> ServiceFlags(const std::string& bootstrap, int redis_port);

class ServiceProcess {
 public:
  /// Spawns `binary` with `flags` (argv[0] is the binary), stderr to `log_path`. started() says
  /// whether the spawn worked.
  ServiceProcess(std::string binary, const std::vector<std::string>& flags,
                 std::filesystem::path log_path);
  ~ServiceProcess();
  ServiceProcess(const ServiceProcess&) = delete;
  ServiceProcess& operator=(const ServiceProcess&) = delete;

  bool started() const noexcept { return pid_ > 0 || exited_; }
  /// The gRPC port from the "listening" log line, polled until `timeout`; 0 if it did not come.
  int WaitForPort(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  int port() const noexcept { return port_; }
  /// A channel to 127.0.0.1:port() (after WaitForPort).
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  /// SIGKILL and reap: no final snapshot, no commit.
  void Kill();
  /// SIGTERM and reap: the exit code, 128 + signal when killed by one, -1 when not running.
  int Terminate();
  std::string Log() const { return ReadFile(log_path_); }

 private:
  std::string binary_;
  std::filesystem::path log_path_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
};

using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

/// grpc.health.v1 Check of `service` ("" = the server as a whole) over `channel`, 2 s deadline;
/// UNKNOWN when the call fails.
ServingStatus HealthOf(const std::shared_ptr<grpc::Channel>& channel, const std::string& service);

/// Polls HealthOf("") and HealthOf(service) until both are `want` (false after `timeout`).
bool WaitForHealth(const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
                   ServingStatus want,
                   std::chrono::milliseconds timeout = std::chrono::seconds(20));

}  // namespace sop::service_testing
