#include "sop/runtime/metrics.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace sop::runtime {
namespace {

bool Contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

TEST(Metrics, CounterGaugeAndHistogramSerializeInTextFormat) {
  MetricsRegistry registry;
  auto planned = registry.AddCounter({"sop_mrp_planned_orders_total", "Planned orders.", {"site"}});
  planned.WithLabels({"S1"}).Increment(3);
  planned.WithLabels({"S1"}).Increment();
  auto backlog = registry.AddGauge({"sop_mrp_backlog_lines", "Open lines."});
  backlog.WithLabels().Set(7);
  backlog.WithLabels().Decrement(2);
  auto latency = registry.AddHistogram({"sop_mrp_run_duration_seconds", "Run time."}, {0.1, 1.0});
  latency.WithLabels().ObserveDuration(std::chrono::milliseconds(50));
  latency.WithLabels().Observe(0.5);

  EXPECT_DOUBLE_EQ(planned.WithLabels({"S1"}).Value(), 4.0);
  const std::string text = registry.SerializeText();
  EXPECT_TRUE(Contains(text, "# TYPE sop_mrp_planned_orders_total counter")) << text;
  EXPECT_TRUE(Contains(text, "sop_mrp_planned_orders_total{site=\"S1\"} 4")) << text;
  EXPECT_TRUE(Contains(text, "sop_mrp_backlog_lines 5")) << text;
  EXPECT_TRUE(Contains(text, "sop_mrp_run_duration_seconds_bucket{le=\"0.1\"} 1")) << text;
  EXPECT_TRUE(Contains(text, "sop_mrp_run_duration_seconds_bucket{le=\"1\"} 2")) << text;
  EXPECT_TRUE(Contains(text, "sop_mrp_run_duration_seconds_count 2")) << text;
}

TEST(Metrics, NamesFollowTheConventionsOrAreRefused) {
  MetricsRegistry registry;
  EXPECT_THROW(registry.AddCounter({"sop_mrp_planned_orders", "no _total"}), std::logic_error);
  EXPECT_THROW(registry.AddGauge({"sop_mrp_lines_total", "gauge with _total"}), std::logic_error);
  EXPECT_THROW(registry.AddGauge({"mrp_lines", "no sop_ prefix"}), std::logic_error);
  EXPECT_THROW(registry.AddGauge({"sop_mrp-lines", "dash"}), std::logic_error);
  EXPECT_THROW(registry.AddGauge({"sop_mrp_lines", ""}), std::logic_error);
  EXPECT_THROW(registry.AddGauge({"sop_mrp_lines", "h", {"__reserved"}}), std::logic_error);
}

TEST(Metrics, SameDeclarationTwiceSharesTheFamilyDifferentShapeIsRefused) {
  MetricsRegistry registry;
  auto first = registry.AddCounter({"sop_x_events_total", "Events.", {"kind"}});
  auto second = registry.AddCounter({"sop_x_events_total", "Events.", {"kind"}});
  first.WithLabels({"a"}).Increment();
  second.WithLabels({"a"}).Increment();
  EXPECT_DOUBLE_EQ(first.WithLabels({"a"}).Value(), 2.0);
  EXPECT_THROW(registry.AddCounter({"sop_x_events_total", "Events.", {"other"}}), std::logic_error);
}

TEST(Metrics, LabelSetsBeyondTheBoundFoldIntoOneOverflowSeries) {
  MetricsRegistry registry;
  auto calls = registry.AddCounter({"sop_x_calls_total", "Calls.", {"method"}, 2});
  calls.WithLabels({"a"}).Increment();
  calls.WithLabels({"b"}).Increment();
  for (int i = 0; i < 100; ++i) calls.WithLabels({"user-" + std::to_string(i)}).Increment();
  calls.WithLabels({"a"}).Increment();
  const std::string text = registry.SerializeText();
  EXPECT_TRUE(Contains(text, "sop_x_calls_total{method=\"a\"} 2")) << text;
  EXPECT_TRUE(Contains(text, "sop_x_calls_total{method=\"_overflow\"} 100")) << text;
  EXPECT_FALSE(Contains(text, "user-")) << text;
}

TEST(Metrics, WrongNumberOfLabelValuesIsAProgrammingError) {
  MetricsRegistry registry;
  auto calls = registry.AddCounter({"sop_x_calls_total", "Calls.", {"method", "code"}});
  EXPECT_THROW(calls.WithLabels({"only-one"}), std::logic_error);
}

TEST(Metrics, ProcessMetricsReportBuildStartCpuAndMemory) {
  MetricsRegistry registry;
  registry.AddProcessMetrics("mrp", "1.2.3");
  const std::string text = registry.SerializeText();
  EXPECT_TRUE(Contains(text, "sop_build_info{service=\"mrp\",version=\"1.2.3\"} 1")) << text;
  EXPECT_TRUE(Contains(text, "process_start_time_seconds ")) << text;
  EXPECT_TRUE(Contains(text, "process_cpu_seconds_total ")) << text;
  EXPECT_TRUE(Contains(text, "process_resident_memory_bytes ")) << text;
}

TEST(MetricsExposer, ServesTheRegistryOverHttpOnAPickedPort) {
  MetricsRegistry registry;
  registry.AddCounter({"sop_x_scrapes_total", "Test counter."}).WithLabels().Increment(5);
  auto exposer = MetricsExposer::Start(registry, "127.0.0.1", 0);
  ASSERT_TRUE(exposer.has_value()) << exposer.error().ToString();
  const int port = (*exposer)->port();
  EXPECT_GT(port, 0);
  auto body = testing::HttpGet(port, "/metrics", testing::Clock::now() + std::chrono::seconds(5));
  ASSERT_TRUE(body.has_value());
  EXPECT_TRUE(Contains(*body, "sop_x_scrapes_total 5")) << *body;

  // civetweb alone notices a stop only on its 2 s accept poll; Stop wakes it.
  const auto stopping = testing::Clock::now();
  (*exposer)->Stop();
  EXPECT_LT(testing::Clock::now() - stopping, std::chrono::milliseconds(1000));
  EXPECT_FALSE(testing::HttpGet(port, "/metrics", testing::Clock::now() + std::chrono::seconds(1))
                   .has_value());
}

TEST(MetricsExposer, PortInUseFailsWithUnavailable) {
  MetricsRegistry registry;
  auto first = MetricsExposer::Start(registry, "127.0.0.1", 0);
  ASSERT_TRUE(first.has_value());
  auto second = MetricsExposer::Start(registry, "127.0.0.1", (*first)->port());
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code(), Errc::kUnavailable);
  EXPECT_TRUE(Contains(second.error().message(), "metrics.port"));
}

}  // namespace
}  // namespace sop::runtime
