// sopctl against a running ingestion service in-process (embedded broker, redis-server, a real
// gRPC channel): ingest prints the summary, rejected lists the bad event, status reports health,
// errors exit non-zero with a message.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness.hpp"
#include "sop/bus/embedded_broker.hpp"
#include "sop/codec/jsonl.hpp"
#include "sop/sopctl/command.hpp"
#include "sop/store/testing/redis_server.hpp"

namespace sop::sopctl {
namespace {

struct Outcome {
  int exit_code;
  std::string out;
  std::string err;
};

Outcome Cli(std::vector<std::string> args) {
  std::ostringstream out, err;
  const int code = RunCli(args, out, err);
  return {code, out.str(), err.str()};
}

sop::v1::Envelope Order(const std::string& id, double quantity) {
  sop::v1::Envelope e;
  e.set_event_id(id);
  e.set_site("P1");
  auto* so = e.mutable_sales_order();
  so->set_order_id(id);
  so->set_site_id("P1");
  so->set_item_id("FG");
  so->set_quantity(quantity);
  so->mutable_due_date()->set_seconds(1'796'000'000);
  return e;
}

class SopctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = bus::EmbeddedBroker::Start({.brokers = 1, .partitions = 2});
    ASSERT_TRUE(broker) << broker.error().ToString();
    broker_ = std::move(*broker);
    ASSERT_TRUE(redis_.Start());
    instance_ = std::make_unique<ingestion::testing::Instance>(
        broker_->bootstrap_servers(), redis_.StoreOptions(), "sop-ingestion", logger_);
    path_ = std::filesystem::temp_directory_path() /
            ("sopctl-test-" + std::to_string(::getpid()) + ".jsonl");
  }
  void TearDown() override { std::filesystem::remove(path_); }

  void WriteFile(const std::vector<sop::v1::Envelope>& envelopes) {
    std::ofstream out(path_);
    ASSERT_TRUE(codec::WriteJsonLines(envelopes, out));
  }
  std::vector<std::string> WithAddress(std::vector<std::string> args) {
    args.insert(args.begin(), {"--ingestion", instance_->address()});
    return args;
  }

  runtime::Logger logger_{"sopctl-test", runtime::LogLevel::kWarn};
  std::unique_ptr<bus::EmbeddedBroker> broker_;
  store_testing::RedisServer redis_;
  std::unique_ptr<ingestion::testing::Instance> instance_;
  std::filesystem::path path_;
};

TEST_F(SopctlTest, IngestPrintsSummaryThenReplayIsAllDuplicatesAndRejectedShowsTheField) {
  sop::v1::Envelope site;
  site.set_event_id("s:P1");
  site.set_site("P1");
  site.mutable_site_master()->set_site_id("P1");
  sop::v1::Envelope item;
  item.set_event_id("i:P1:FG");
  item.set_site("P1");
  item.mutable_item()->set_site_id("P1");
  item.mutable_item()->set_item_id("FG");
  WriteFile({site, item, Order("so:1", 2), Order("so:2", 3), Order("so:bad", -7)});

  const Outcome first = Cli(WithAddress({"ingest", path_.string(), "--batch", "2"}));
  EXPECT_EQ(first.exit_code, kExitFailure) << first.err;  // one event was rejected
  EXPECT_NE(first.out.find("received  accepted  duplicates  rejected  pending\n"
                           "5         4         0           1         0"),
            std::string::npos)
      << first.out;
  EXPECT_NE(first.out.find("sales_order.quantity"), std::string::npos);
  EXPECT_NE(first.err.find("1 rejected"), std::string::npos);

  const Outcome replay = Cli(WithAddress({"--json", "ingest", path_.string()}));
  EXPECT_EQ(replay.exit_code, kExitOk) << replay.err;
  EXPECT_EQ(replay.out,
            "{\"received\":5,\"accepted\":0,\"duplicates\":5,\"rejected\":0,\"pending\":0,"
            "\"rejections\":[]}\n");

  const Outcome rejected = Cli(WithAddress({"--json", "rejected", "--site", "P1"}));
  EXPECT_EQ(rejected.exit_code, kExitOk) << rejected.err;
  EXPECT_NE(rejected.out.find("\"event_id\":\"so:bad\""), std::string::npos) << rejected.out;
  EXPECT_NE(rejected.out.find("\"field\":\"sales_order.quantity\""), std::string::npos);
  EXPECT_NE(rejected.out.find("\"reason\":\"must be >= 0, got '-7'\""), std::string::npos);
}

TEST_F(SopctlTest, BadLineSubmitsNothingAndErrorsExitNonZeroWithAMessage) {
  {
    std::ofstream out(path_);
    out << "{\"eventId\":\"x\",\"site\":\"P1\",\"siteMaster\":{\"siteId\":\"P1\"}}\n{\"nope\":1}\n";
  }
  const Outcome bad = Cli(WithAddress({"ingest", path_.string()}));
  EXPECT_EQ(bad.exit_code, kExitFailure);
  EXPECT_NE(bad.err.find("line 2"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("nothing submitted"), std::string::npos) << bad.err;

  const Outcome missing = Cli(WithAddress({"ingest", "/nonexistent/file.jsonl"}));
  EXPECT_EQ(missing.exit_code, kExitFailure);
  EXPECT_NE(missing.err.find("cannot open '/nonexistent/file.jsonl'"), std::string::npos);

  EXPECT_EQ(Cli({"frobnicate"}).exit_code, kExitUsage);
  EXPECT_EQ(Cli({"ingest"}).exit_code, kExitUsage);
  EXPECT_EQ(Cli({"--timeout", "-1", "status"}).exit_code, kExitUsage);

  // Nothing listens on port 1: a clear UNAVAILABLE, exit 1.
  const Outcome down = Cli({"--ingestion", "127.0.0.1:1", "--timeout", "2", "rejected"});
  EXPECT_EQ(down.exit_code, kExitFailure);
  EXPECT_NE(down.err.find("ListRejected at 127.0.0.1:1 failed"), std::string::npos) << down.err;
}

TEST_F(SopctlTest, StatusReportsServingAndUnreachableServices) {
  const Outcome one = Cli(WithAddress({"status", "ingestion"}));
  EXPECT_EQ(one.exit_code, kExitOk) << one.out << one.err;
  EXPECT_NE(one.out.find("SERVING"), std::string::npos);

  const Outcome all = Cli(WithAddress({"--json", "--mrp", "127.0.0.1:1", "--forecasting",
                                       "127.0.0.1:1", "--capacity", "127.0.0.1:1", "--exceptions",
                                       "127.0.0.1:1", "--workflow", "127.0.0.1:1", "status"}));
  EXPECT_EQ(all.exit_code, kExitFailure);
  EXPECT_NE(all.out.find("{\"name\":\"ingestion\",\"address\":\"" + instance_->address() +
                         "\",\"status\":\"SERVING\""),
            std::string::npos)
      << all.out;
  EXPECT_NE(
      all.out.find("{\"name\":\"mrp\",\"address\":\"127.0.0.1:1\",\"status\":\"UNREACHABLE\""),
      std::string::npos)
      << all.out;
  // The workflow service (50056) is one of the default services.
  EXPECT_NE(
      all.out.find("{\"name\":\"workflow\",\"address\":\"127.0.0.1:1\",\"status\":\"UNREACHABLE\""),
      std::string::npos)
      << all.out;
}

}  // namespace
}  // namespace sop::sopctl
