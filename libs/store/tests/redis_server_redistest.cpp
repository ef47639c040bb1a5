#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "sop/store/redis_store.hpp"
#include "sop/store/testing/redis_server.hpp"

namespace sop::store_testing {
namespace {

using store::RedisStore;

TEST(RedisServer, StartsOnAFreeLoopbackPortAndAnswersPing) {
  RedisServer server;
  ASSERT_TRUE(server.Start()) << server.log_path();
  EXPECT_GT(server.port(), 0);
  EXPECT_EQ(server.host(), "127.0.0.1");
  RedisStore store(server.StoreOptions());
  auto ping = store.Ping();
  EXPECT_TRUE(ping.has_value()) << ping.error().ToString();
}

TEST(RedisServer, TwoServersRunSideBySideOnDifferentPorts) {
  RedisServer first;
  RedisServer second;
  ASSERT_TRUE(first.Start());
  ASSERT_TRUE(second.Start());
  EXPECT_NE(first.port(), second.port());
  EXPECT_NE(first.directory(), second.directory());
  RedisStore a(first.StoreOptions());
  RedisStore b(second.StoreOptions());
  ASSERT_TRUE(a.Append("log", "only in first"));
  EXPECT_EQ(b.Length("log").value(), 0u);
}

TEST(RedisServer, RestartsOnTheSamePortAfterKill) {
  RedisServer server;
  ASSERT_TRUE(server.Start());
  const int port = server.port();
  const pid_t first_pid = server.pid();
  ASSERT_TRUE(server.Kill());
  EXPECT_FALSE(server.running());
  EXPECT_NE(kill(first_pid, 0), 0) << "the killed server was reaped";
  ASSERT_TRUE(server.Start());
  EXPECT_EQ(server.port(), port);
  EXPECT_NE(server.pid(), first_pid);
  EXPECT_TRUE(RedisStore(server.StoreOptions()).Ping());
}

TEST(RedisServer, AppendOnlyServerKeepsAcknowledgedWritesAcrossKill) {
  RedisServer server(RedisServerOptions{.append_only = true});
  ASSERT_TRUE(server.Start());
  {
    RedisStore store(server.StoreOptions());
    ASSERT_TRUE(store.Append("audit", "before the crash"));
  }
  ASSERT_TRUE(server.Kill());
  ASSERT_TRUE(server.Start());
  RedisStore store(server.StoreOptions());
  auto records = store.Range("audit", 0, 10);
  ASSERT_TRUE(records.has_value()) << records.error().ToString();
  EXPECT_EQ(*records, std::vector<std::string>{"before the crash"});
}

TEST(RedisServer, InMemoryServerStartsEmptyAfterStop) {
  RedisServer server;
  ASSERT_TRUE(server.Start());
  ASSERT_TRUE(RedisStore(server.StoreOptions()).Append("audit", "gone"));
  ASSERT_TRUE(server.Stop());
  ASSERT_TRUE(server.Start());
  EXPECT_EQ(RedisStore(server.StoreOptions()).Length("audit").value(), 0u);
}

TEST(RedisServer, RestartWaitsForItsPortWhileAnotherProcessHoldsIt) {
  RedisServer server(RedisServerOptions{.start_timeout = std::chrono::milliseconds(300)});
  ASSERT_TRUE(server.Start());
  const int port = server.port();
  ASSERT_TRUE(server.Kill());

  const int squatter = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(squatter, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  ASSERT_EQ(bind(squatter, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(squatter, 1), 0);
  auto blocked = server.Start();
  ASSERT_FALSE(blocked.has_value());
  EXPECT_EQ(blocked.error().code(), Errc::kUnavailable);
  EXPECT_NE(blocked.error().message().find("Address already in use"), std::string::npos)
      << blocked.error().message();
  close(squatter);

  ASSERT_TRUE(server.Start());
  EXPECT_EQ(server.port(), port);
}

TEST(RedisServer, DestructorKillsTheServerAndRemovesItsDirectory) {
  pid_t pid = 0;
  std::filesystem::path directory;
  {
    RedisServer server;
    ASSERT_TRUE(server.Start());
    pid = server.pid();
    directory = server.directory();
    EXPECT_TRUE(std::filesystem::exists(directory / "redis.conf"));
  }
  EXPECT_NE(kill(pid, 0), 0);
  EXPECT_FALSE(std::filesystem::exists(directory));
}

TEST(RedisServer, KillAndDestructorWorkOnAPausedServer) {
  pid_t pid = 0;
  {
    RedisServer server;
    ASSERT_TRUE(server.Start());
    pid = server.pid();
    ASSERT_TRUE(server.Pause());
    EXPECT_TRUE(server.paused());
    EXPECT_FALSE(RedisStore(server.StoreOptions()).Ping().has_value());
  }
  EXPECT_NE(kill(pid, 0), 0);
}

TEST(RedisServer, StopOfAPausedServerStillExitsCleanly) {
  RedisServer server;
  ASSERT_TRUE(server.Start());
  ASSERT_TRUE(server.Pause());
  ASSERT_TRUE(server.Stop());
  EXPECT_FALSE(server.running());
  ASSERT_TRUE(server.Start());
  EXPECT_TRUE(RedisStore(server.StoreOptions()).Ping());
}

TEST(RedisServer, MissingExecutableIsAFailedPreconditionNotACrash) {
  RedisServer server(RedisServerOptions{.executable = "/nonexistent/redis-server"});
  auto started = server.Start();
  ASSERT_FALSE(started.has_value());
  EXPECT_EQ(started.error().code(), Errc::kFailedPrecondition);
  EXPECT_FALSE(server.running());
}

TEST(RedisServer, CallsInTheWrongStateAreRejected) {
  RedisServer server;
  EXPECT_EQ(server.Stop().error().code(), Errc::kFailedPrecondition);
  EXPECT_EQ(server.Kill().error().code(), Errc::kFailedPrecondition);
  ASSERT_TRUE(server.Start());
  EXPECT_EQ(server.Start().error().code(), Errc::kFailedPrecondition);
}

}  // namespace
}  // namespace sop::store_testing
