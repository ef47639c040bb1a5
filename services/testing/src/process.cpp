#include "sop/service_testing/process.hpp"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

extern char** environ;

namespace sop::service_testing {

using Clock = std::chrono::steady_clock;

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> ServiceFlags(const std::string& bootstrap, int redis_port) {
  return {"--kafka.bootstrap.servers=" + bootstrap,
          "--kafka.session.timeout.ms=4000",
          "--kafka.heartbeat.interval.ms=200",
          "--kafka.auto.commit.interval.ms=200",
          "--kafka.fetch.wait.max.ms=50",
          "--kafka.log_level=3",
          "--redis.port=" + std::to_string(redis_port),
          "--grpc.host=127.0.0.1",
          "--grpc.port=0",
          "--metrics.host=127.0.0.1",
          "--metrics.port=0"};
}

ServiceProcess::ServiceProcess(std::string binary, const std::vector<std::string>& flags,
                               std::filesystem::path log_path)
    : binary_(std::move(binary)), log_path_(std::move(log_path)) {
  std::vector<std::string> args = {binary_};
  args.insert(args.end(), flags.begin(), flags.end());
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (posix_spawn(&pid_, binary_.c_str(), &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
  posix_spawn_file_actions_destroy(&actions);
}

ServiceProcess::~ServiceProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

int ServiceProcess::WaitForPort(std::chrono::milliseconds timeout) {
  const std::regex listening("\"msg\":\"listening\",\"grpc_port\":([0-9]+)");
  for (auto deadline = Clock::now() + timeout; Clock::now() < deadline && port_ == 0;) {
    std::smatch match;
    const std::string log = Log();
    if (std::regex_search(log, match, listening)) {
      port_ = std::stoi(match[1]);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling against a deadline
    }
  }
  if (port_ > 0) {
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                                   grpc::InsecureChannelCredentials());
  }
  return port_;
}

void ServiceProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  exited_ = true;
}

int ServiceProcess::Terminate() {
  if (pid_ <= 0 || kill(pid_, SIGTERM) != 0) return -1;
  int status = 0;
  if (waitpid(pid_, &status, 0) != pid_) return -1;
  pid_ = -1;
  exited_ = true;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

ServingStatus HealthOf(const std::shared_ptr<grpc::Channel>& channel, const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  if (!stub->Check(&context, request, &response).ok()) {
    return grpc::health::v1::HealthCheckResponse::UNKNOWN;
  }
  return response.status();
}

bool WaitForHealth(const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
                   ServingStatus want, std::chrono::milliseconds timeout) {
  for (auto deadline = Clock::now() + timeout; Clock::now() < deadline;) {
    if (HealthOf(channel, "") == want && HealthOf(channel, service) == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // polling against a deadline
  }
  return false;
}

}  // namespace sop::service_testing
