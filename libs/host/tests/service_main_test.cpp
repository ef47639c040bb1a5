// The service main helper's settings, hermetic: per-service default ports, the host settings,
// validation naming the setting, and HostOptions built from a loaded config.

#include "sop/host/service_main.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace sop::host {
namespace {

using namespace std::chrono_literals;

ServiceSpec MrpLikeSpec() {
  ServiceSpec spec;
  spec.binary = "sop-mrp";
  spec.service = "mrp";
  spec.grpc_port = 50053;
  spec.metrics_port = 9463;
  spec.group_id = "sop-mrp";
  spec.batch_quiet = 150ms;
  spec.batch_max = 3s;
  spec.add_settings = [](runtime::ConfigSchema& schema) {
    schema.Add(runtime::SettingSpec::Int("mrp.horizon-weeks", "Planning horizon.").Default("78"));
  };
  return spec;
}

Result<runtime::Config> Load(const ServiceSpec& spec, std::vector<std::string> args,
                             std::map<std::string, std::string> env = {}) {
  runtime::ConfigSchema schema(spec.binary);
  AddHostSettings(schema, spec);
  return runtime::LoadConfig(schema, args, env);
}

// spec.start only notes that it ran (these tests expect it not to).
void RecordStart(ServiceSpec& spec, bool& started) {
  spec.start = [&started](ServiceContext&) -> Result<std::unique_ptr<RunningService>> {
    started = true;
    return Fail(Errc::kInternal, "must not start");
  };
}

// RunServiceMain on `args` (args[0] is the program name); the exit code.
int RunMain(const ServiceSpec& spec, std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  return RunServiceMain(spec, static_cast<int>(args.size()), argv.data());
}

TEST(ServiceMain, DeclaresTheServicesDefaultPortsAndHostSettings) {
  const ServiceSpec spec = MrpLikeSpec();
  auto config = Load(spec, {"--kafka.bootstrap.servers=broker:9092"});
  ASSERT_TRUE(config.has_value()) << config.error().ToString();
  EXPECT_EQ(config->GetInt("grpc.port"), 50053);
  EXPECT_EQ(config->GetInt("metrics.port"), 9463);
  EXPECT_EQ(config->GetString("redis.host"), "127.0.0.1");
  EXPECT_EQ(config->GetInt("redis.port"), 6379);
  EXPECT_EQ(config->GetString("service.instance"), "mrp-0");
  EXPECT_EQ(config->GetDuration("mrp.batch.quiet"), 150ms);
  EXPECT_EQ(config->GetDuration("mrp.batch.max"), 3s);
  EXPECT_EQ(config->GetInt("mrp.horizon-weeks"), 78);  // the service's own setting

  auto options = HostOptionsFromConfig(*config, spec);
  ASSERT_TRUE(options.has_value()) << options.error().ToString();
  EXPECT_EQ(options->service, "mrp");
  EXPECT_EQ(options->group_id, "sop-mrp");
  ASSERT_NE(options->kafka.Find("bootstrap.servers"), nullptr);
  EXPECT_EQ(*options->kafka.Find("bootstrap.servers"), "broker:9092");
  EXPECT_EQ(options->batch_quiet, 150ms);
  EXPECT_EQ(options->batch_max, 3s);
  EXPECT_EQ(options->redis.command_timeout, 5s);
  EXPECT_EQ(options->snapshot_interval, 0ms);  // default: a snapshot at every batch end
  EXPECT_EQ(options->drain_max_messages, 500u);
  EXPECT_EQ(options->drain_max_interval, 20ms);
}

TEST(ServiceMain, FlagsAndEnvironmentReachTheHostOptions) {
  const ServiceSpec spec = MrpLikeSpec();
  auto config = Load(spec,
                     {"--kafka.bootstrap.servers=a:1", "--kafka.group.id=mrp-blue", "--redis.port",
                      "6380", "--mrp.batch.quiet=20ms", "--mrp.drain.max-messages=50"},
                     {{"SOP_REDIS_HOST", "redis.internal"},
                      {"SOP_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"},
                      {"SOP_SERVICE_INSTANCE", "mrp-7"},
                      {"SOP_SNAPSHOT_INTERVAL", "15s"},
                      {"SOP_MRP_DRAIN_MAX_INTERVAL", "5ms"}});
  ASSERT_TRUE(config.has_value()) << config.error().ToString();
  auto options = HostOptionsFromConfig(*config, spec);
  ASSERT_TRUE(options.has_value());
  EXPECT_EQ(options->group_id, "mrp-blue");
  EXPECT_EQ(options->kafka.Find("group.id"), nullptr);  // the consumer's option, not librdkafka's
  ASSERT_NE(options->kafka.Find("security.protocol"), nullptr);
  EXPECT_EQ(*options->kafka.Find("security.protocol"), "SASL_SSL");
  EXPECT_EQ(options->redis.host, "redis.internal");
  EXPECT_EQ(options->redis.port, 6380);
  EXPECT_EQ(options->instance, "mrp-7");
  EXPECT_EQ(options->batch_quiet, 20ms);
  EXPECT_EQ(options->snapshot_interval, 15s);
}

TEST(ServiceMain, BadSettingsAreNamedWithTheirValue) {
  const ServiceSpec spec = MrpLikeSpec();
  auto bad_port = Load(spec, {"--kafka.bootstrap.servers=a:1", "--redis.port=70000"});
  ASSERT_FALSE(bad_port.has_value());
  EXPECT_NE(bad_port.error().message().find("redis.port"), std::string::npos);
  EXPECT_NE(bad_port.error().message().find("70000"), std::string::npos);

  auto bad_quiet = Load(spec, {"--mrp.batch.quiet=0"});
  ASSERT_FALSE(bad_quiet.has_value());
  EXPECT_NE(bad_quiet.error().message().find("mrp.batch.quiet"), std::string::npos);

  auto no_bootstrap = Load(spec, {});
  ASSERT_TRUE(no_bootstrap.has_value());
  auto options = HostOptionsFromConfig(*no_bootstrap, spec);
  ASSERT_FALSE(options.has_value());
  EXPECT_EQ(options.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(options.error().message().find("kafka.bootstrap.servers"), std::string::npos);

  auto empty_group = Load(spec, {"--kafka.bootstrap.servers=a:1", "--kafka.group.id="});
  ASSERT_TRUE(empty_group.has_value());
  auto empty = HostOptionsFromConfig(*empty_group, spec);
  ASSERT_FALSE(empty.has_value());
  EXPECT_NE(empty.error().message().find("kafka.group.id"), std::string::npos);
}

TEST(ServiceMain, RunWithoutBootstrapExits64AndHelpExits0) {
  ServiceSpec spec = MrpLikeSpec();
  bool started = false;
  RecordStart(spec, started);
  EXPECT_EQ(RunMain(spec, {"sop-mrp", "--redis.port=6380"}), kConfigErrorExitCode);
  EXPECT_FALSE(started);

  testing::internal::CaptureStdout();
  EXPECT_EQ(RunMain(spec, {"sop-mrp", "--help"}), 0);
  const std::string text = testing::internal::GetCapturedStdout();
  EXPECT_NE(text.find("mrp.batch.quiet"), std::string::npos);
  EXPECT_NE(text.find("default: 50053"), std::string::npos);
  EXPECT_FALSE(started);
}

TEST(ServiceMain, DeclaresTheAuthSettingsDevModeByDefault) {
  auto config = Load(MrpLikeSpec(), {"--kafka.bootstrap.servers=127.0.0.1:9092"});
  ASSERT_TRUE(config) << config.error().ToString();
  EXPECT_EQ(config->GetString("auth.tokens-file"), "");
  EXPECT_FALSE(config->GetBool("auth.open-reads"));
  auto set = Load(MrpLikeSpec(), {"--kafka.bootstrap.servers=127.0.0.1:9092"},
                  {{"SOP_AUTH_TOKENS_FILE", "/etc/sop/tokens"}, {"SOP_AUTH_OPEN_READS", "true"}});
  ASSERT_TRUE(set) << set.error().ToString();
  EXPECT_EQ(set->GetString("auth.tokens-file"), "/etc/sop/tokens");
  EXPECT_TRUE(set->GetBool("auth.open-reads"));
}

TEST(ServiceMain, AnUnreadableTokensFileExits64BeforeTheServiceStarts) {
  ServiceSpec spec = MrpLikeSpec();
  bool started = false;
  RecordStart(spec, started);
  testing::internal::CaptureStderr();
  EXPECT_EQ(RunMain(spec, {"sop-mrp", "--kafka.bootstrap.servers=127.0.0.1:1",
                           "--auth.tokens-file=/nonexistent/sop-tokens", "--grpc.port=0",
                           "--metrics.port=0"}),
            kConfigErrorExitCode);
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_FALSE(started);
  EXPECT_NE(log.find("auth.tokens-file: "), std::string::npos) << log;
  EXPECT_NE(log.find("/nonexistent/sop-tokens"), std::string::npos) << log;
}

ServiceSpec IngestionLikeSpec() {
  ServiceSpec spec;
  spec.binary = "sop-ingestion";
  spec.service = "ingestion";
  spec.grpc_port = 50051;
  spec.metrics_port = 9461;
  spec.group_id = "sop-ingestion";
  spec.kind = ServiceKind::kStandalone;
  spec.default_instance = "sop-ingestion";
  spec.add_settings = [](runtime::ConfigSchema& schema) {
    schema.Add(
        runtime::SettingSpec::Duration("ingestion.submit.timeout", "Submit wait.").Default("30s"));
  };
  return spec;
}

TEST(ServiceMain, AStandaloneServiceGetsNoBatchOrSnapshotSettings) {
  const ServiceSpec spec = IngestionLikeSpec();
  runtime::ConfigSchema schema(spec.binary);
  AddHostSettings(schema, spec);
  std::vector<std::string> names;
  for (const auto& setting : schema.settings()) names.push_back(setting.name);
  for (const char* absent : {"redis.timeout", "snapshot.interval", "ingestion.batch.quiet",
                             "ingestion.batch.max", "ingestion.drain.max-messages"}) {
    EXPECT_EQ(std::count(names.begin(), names.end(), absent), 0) << absent;
  }
  for (const char* present : {"redis.host", "redis.port", "service.instance", "auth.tokens-file",
                              "grpc.port", "ingestion.submit.timeout"}) {
    EXPECT_EQ(std::count(names.begin(), names.end(), present), 1) << present;
  }

  auto config = Load(spec, {"--kafka.bootstrap.servers=broker:9092", "--redis.port=6390"});
  ASSERT_TRUE(config.has_value()) << config.error().ToString();
  EXPECT_EQ(config->GetInt("grpc.port"), 50051);
  EXPECT_EQ(config->GetInt("metrics.port"), 9461);
  EXPECT_EQ(config->GetString("service.instance"), "sop-ingestion");
  auto options = HostOptionsFromConfig(*config, spec);
  ASSERT_TRUE(options.has_value()) << options.error().ToString();
  EXPECT_EQ(options->service, "ingestion");
  EXPECT_EQ(options->group_id, "sop-ingestion");
  EXPECT_EQ(options->instance, "sop-ingestion");
  EXPECT_EQ(options->redis.port, 6390);
  // Not declared, so RedisStoreOptions' own bound stays (1 s), not the host's 5 s default.
  EXPECT_EQ(options->redis.command_timeout, 1s);

  auto unknown = Load(spec, {"--kafka.bootstrap.servers=a:1", "--ingestion.batch.quiet=5ms"});
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.error().message().find("ingestion.batch.quiet"), std::string::npos);
}

TEST(ServiceMain, AStandaloneServiceWithoutBootstrapExits64) {
  ServiceSpec spec = IngestionLikeSpec();
  bool started = false;
  RecordStart(spec, started);
  testing::internal::CaptureStderr();
  EXPECT_EQ(RunMain(spec, {"sop-ingestion", "--grpc.port=0", "--metrics.port=0"}),
            kConfigErrorExitCode);
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_FALSE(started);
  EXPECT_NE(log.find("kafka.bootstrap.servers"), std::string::npos) << log;
}

}  // namespace
}  // namespace sop::host
