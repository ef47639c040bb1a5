// sop-devbroker as a subprocess: it prints a usable bootstrap address, writes it to the
// bootstrap file, and exits 0 on SIGTERM.

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include "sop/bus/producer.hpp"
#include "sop/bus/topic_admin.hpp"
#include "sop/bus/topics.hpp"

extern char** environ;

namespace sop::bus {
namespace {

using namespace std::chrono_literals;

// Reads one line from `fd`, waiting at most `timeout` in total.
std::string ReadLine(int fd, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string line;
  while (line.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd descriptor{fd, POLLIN, 0};
    if (poll(&descriptor, 1, static_cast<int>(left.count())) <= 0) break;
    std::array<char, 256> buffer{};
    const ssize_t got = read(fd, buffer.data(), buffer.size());
    if (got <= 0) break;
    line.append(buffer.data(), static_cast<std::size_t>(got));
  }
  return line.substr(0, line.find('\n'));
}

TEST(DevBroker, PrintsAUsableBootstrapAddressAndExitsZeroOnSigterm) {
  const std::filesystem::path bootstrap_file =
      std::filesystem::temp_directory_path() /
      ("sop-devbroker-test-" + std::to_string(getpid()) + ".addr");
  std::filesystem::remove(bootstrap_file);

  std::array<int, 2> pipe_fds{};
  ASSERT_EQ(pipe(pipe_fds.data()), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  std::vector<std::string> args = {SOP_DEVBROKER_PATH,     "--brokers", "2",
                                   "--partitions",         "4",         "--bootstrap-file",
                                   bootstrap_file.string()};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t child = 0;
  ASSERT_EQ(posix_spawn(&child, SOP_DEVBROKER_PATH, &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);

  const std::string bootstrap = ReadLine(pipe_fds[0], 20s);
  close(pipe_fds[0]);
  ASSERT_FALSE(bootstrap.empty());
  EXPECT_NE(bootstrap.find("127.0.0.1:"), std::string::npos) << bootstrap;
  EXPECT_NE(bootstrap.find(','), std::string::npos) << "two brokers: " << bootstrap;
  {
    std::ifstream file(bootstrap_file);
    std::string written;
    std::getline(file, written);
    EXPECT_EQ(written, bootstrap);
  }

  auto producer = Producer::Create(KafkaConfig{{"bootstrap.servers", bootstrap}});
  ASSERT_TRUE(producer.has_value());
  auto report = (*producer)->SendSync(
      OutgoingMessage{.topic = std::string(kErpEventsTopic), .key = "plant-1", .value = "hello"},
      20s);
  ASSERT_TRUE(report.has_value()) << report.error().ToString();
  EXPECT_GE(report->partition, 0);
  EXPECT_LT(report->partition, 4);
  EXPECT_EQ(report->offset, 0);

  auto admin = TopicAdmin::Create(KafkaConfig{{"bootstrap.servers", bootstrap}});
  ASSERT_TRUE(admin.has_value());
  auto topics = (*admin)->ListTopics(10s);
  ASSERT_TRUE(topics.has_value()) << topics.error().ToString();
  EXPECT_EQ(topics->size(), kAllTopics.size());
  producer->reset();
  admin->reset();

  ASSERT_EQ(kill(child, SIGTERM), 0);
  auto exited = std::async(std::launch::async, [child] {
    int status = 0;
    waitpid(child, &status, 0);
    return status;
  });
  ASSERT_EQ(exited.wait_for(20s), std::future_status::ready) << "sop-devbroker ignored SIGTERM";
  const int status = exited.get();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_FALSE(std::filesystem::exists(bootstrap_file));
}

}  // namespace
}  // namespace sop::bus
