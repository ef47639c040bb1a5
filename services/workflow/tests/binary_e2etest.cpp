// The sop-workflow binary as a process, driven by sopctl's own command code: a tokens file, a
// real redis-server (append-only) and the embedded broker. SIGKILL of the service and of
// redis-server mid-cycle loses no signature and no audit entry (the audit log as sopctl prints
// it, compared before and after); SIGTERM exits 0; a bad setting exits 64 naming it.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "sop/auth/token_authenticator.hpp"
#include "sop/bus/embedded_broker.hpp"
#include "sop/sopctl/command.hpp"
#include "sop/store/testing/redis_server.hpp"

extern char** environ;

namespace sop::workflow {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// One sop-workflow process; SIGKILLed by the destructor if still running.
class WorkflowProcess {
 public:
  WorkflowProcess(std::vector<std::string> flags, std::filesystem::path log_path)
      : log_path_(std::move(log_path)) {
    std::vector<std::string> args = {SOP_WORKFLOW_BINARY};
    args.insert(args.end(), flags.begin(), flags.end());
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (posix_spawn(&pid_, SOP_WORKFLOW_BINARY, &actions, nullptr, argv.data(), environ) != 0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
  }
  ~WorkflowProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  /// The gRPC port of the n-th "listening" line of the (appended) log; 0 after 15 s.
  int WaitForPort(std::size_t occurrence) {
    const std::regex listening("\"msg\":\"listening\",\"grpc_port\":([0-9]+)");
    for (auto deadline = Clock::now() + 15s; Clock::now() < deadline;) {
      const std::string log = ReadFile(log_path_);
      std::vector<int> ports;
      for (auto it = std::sregex_iterator(log.begin(), log.end(), listening);
           it != std::sregex_iterator(); ++it) {
        ports.push_back(std::stoi((*it)[1]));
      }
      if (ports.size() >= occurrence) return ports[occurrence - 1];
      std::this_thread::sleep_for(20ms);  // polling a file against a deadline
    }
    return 0;
  }
  void Kill() {
    ASSERT_EQ(kill(pid_, SIGKILL), 0);
    ASSERT_EQ(waitpid(pid_, nullptr, 0), pid_);
    pid_ = -1;
  }
  /// SIGTERM; the exit status.
  int Terminate() {
    if (kill(pid_, SIGTERM) != 0) return -1;
    return Wait();
  }
  int Wait() {
    int status = 0;
    if (waitpid(pid_, &status, 0) != pid_) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  std::filesystem::path log_path_;
  pid_t pid_ = -1;
};

struct CliResult {
  int code;
  std::string out;
  std::string err;
};

CliResult Sopctl(std::vector<std::string> args) {
  std::ostringstream out, err;
  const int code = sopctl::RunCli(args, out, err);
  return {code, out.str(), err.str()};
}

class WorkflowBinary : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() / ("sop-workflow-e2e-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::ofstream tokens(dir_ / "tokens");
    tokens << "# test principals\n"
           << auth::TokenFileLine("bin-dana", {"dana", {"demand_lead"}}) << "\n"
           << auth::TokenFileLine("bin-supi", {"supi", {"supply_lead"}}) << "\n"
           << auth::TokenFileLine("bin-eve", {"eve", {"executive"}}) << "\n"
           << auth::TokenFileLine("bin-sam", {"sam", {"sales_lead"}}) << "\n";
    tokens.close();
    ASSERT_TRUE(redis_.Start());
    auto broker = bus::EmbeddedBroker::Start({.brokers = 1, .partitions = 1});
    ASSERT_TRUE(broker) << broker.error().ToString();
    broker_ = std::move(*broker);
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::vector<std::string> Flags() const {
    return {"--kafka.bootstrap.servers=" + broker_->bootstrap_servers(),
            "--kafka.log_level=3",
            "--redis.port=" + std::to_string(redis_.port()),
            "--auth.tokens-file=" + (dir_ / "tokens").string(),
            "--grpc.host=127.0.0.1",
            "--grpc.port=0",
            "--metrics.host=127.0.0.1",
            "--metrics.port=0"};
  }

  std::filesystem::path dir_;
  store_testing::RedisServer redis_{{.append_only = true}};
  std::unique_ptr<bus::EmbeddedBroker> broker_;
};

TEST_F(WorkflowBinary, SopctlCycleSurvivesKillOfServiceAndRedisAndSigtermExitsZero) {
  const auto log = dir_ / "workflow.log";
  auto process = std::make_unique<WorkflowProcess>(Flags(), log);
  int port = process->WaitForPort(1);
  ASSERT_GT(port, 0) << ReadFile(log);
  std::string address = "127.0.0.1:" + std::to_string(port);
  const auto as = [&](const char* token, std::vector<std::string> args) {
    args.insert(args.end(), {"--token", token, "--workflow", address});
    return Sopctl(args);
  };

  auto opened = as("bin-eve", {"cycle", "open", "EU", "2026-12"});
  ASSERT_EQ(opened.code, 0) << opened.err;
  EXPECT_NE(opened.out.find("cycle EU-2026-12  opened 2026-12-01"), std::string::npos)
      << opened.out;
  auto submitted = as("bin-dana", {"cycle", "submit", "EU-2026-12", "demand_review"});
  ASSERT_EQ(submitted.code, 0) << submitted.err;
  std::smatch hash;
  ASSERT_TRUE(std::regex_search(submitted.out, hash, std::regex("sha256 ([0-9a-f]{64})")))
      << submitted.out;
  EXPECT_NE(submitted.out.find("unavailable: mrp: not configured"), std::string::npos);

  auto shown = as("bin-sam", {"artifact", "show", "EU-2026-12", "demand_review"});
  ASSERT_EQ(shown.code, 0) << shown.err;
  EXPECT_NE(shown.out.find("# Demand consensus — EU-2026-12"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("| content SHA-256 | `" + hash[1].str() + "` |"), std::string::npos);
  EXPECT_NE(shown.out.find("| signed | not yet |"), std::string::npos);

  auto wrong_role =
      as("bin-sam", {"cycle", "sign", "EU-2026-12", "demand_review", "--sha256", hash[1].str()});
  EXPECT_EQ(wrong_role.code, 1);
  EXPECT_NE(wrong_role.err.find("needs role demand_lead"), std::string::npos) << wrong_role.err;
  auto unknown = as("bin-nobody", {"audit"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.err.find("unknown bearer token"), std::string::npos) << unknown.err;
  auto signed_ok =
      as("bin-dana", {"cycle", "sign", "EU-2026-12", "demand_review", "--sha256", hash[1].str()});
  ASSERT_EQ(signed_ok.code, 0) << signed_ok.err;
  EXPECT_NE(signed_ok.out.find("now at supply_review"), std::string::npos) << signed_ok.out;

  auto before = as("bin-eve", {"audit", "--cycle", "EU-2026-12"});
  ASSERT_EQ(before.code, 0) << before.err;
  EXPECT_NE(before.out.find("PERMISSION_DENIED"), std::string::npos) << before.out;

  // SIGKILL the service, SIGKILL redis-server, start both again.
  process->Kill();
  ASSERT_TRUE(redis_.Kill());
  ASSERT_TRUE(redis_.Start());
  process = std::make_unique<WorkflowProcess>(Flags(), log);
  port = process->WaitForPort(2);
  ASSERT_GT(port, 0) << ReadFile(log);
  address = "127.0.0.1:" + std::to_string(port);

  auto after = as("bin-eve", {"audit", "--cycle", "EU-2026-12"});
  ASSERT_EQ(after.code, 0) << after.err;
  EXPECT_EQ(after.out, before.out);
  auto status = as("bin-supi", {"cycle", "status", "EU-2026-12"});
  ASSERT_EQ(status.code, 0) << status.err;
  EXPECT_NE(status.out.find("now at supply_review"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("dana"), std::string::npos) << status.out;  // the signature

  EXPECT_EQ(process->Terminate(), 0) << ReadFile(log);
  for (const char* token : {"bin-dana", "bin-supi", "bin-eve", "bin-sam", "bin-nobody"}) {
    EXPECT_EQ(ReadFile(log).find(token), std::string::npos) << token;
  }
}

TEST_F(WorkflowBinary, BadSettingExits64NamingIt) {
  auto flags = Flags();
  flags.push_back("--workflow.open-working-day=25");
  const auto log = dir_ / "bad.log";
  WorkflowProcess process(flags, log);
  EXPECT_EQ(process.Wait(), 64);
  EXPECT_NE(ReadFile(log).find("workflow.open-working-day: must be <= 20"), std::string::npos)
      << ReadFile(log);
}

}  // namespace
}  // namespace sop::workflow
