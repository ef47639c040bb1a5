// The sop-capacity binary as a process: started against the embedded broker and a real
// redis-server, fed the generated facts, queried over gRPC (health and GetLoad), stopped with
// SIGTERM: exit 0 and the state snapshotted in Redis with its offsets.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "capacity_test_support.hpp"
#include "sop/bus/producer.hpp"
#include "sop/planning/rough_cut.hpp"
#include "sop/service_testing/binary_test.hpp"
#include "sop/service_testing/facts.hpp"
#include "sop/service_testing/process.hpp"
#include "sop/v1/capacity.grpc.pb.h"

namespace sop::capacity {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class CapacityBinary : public service_testing::ServiceBinaryTest {};

TEST_F(CapacityBinary, ServesTheLibrarysLoadsAndSnapshotsOnSigterm) {
  service_testing::ServiceProcess process(
      SOP_CAPACITY_BINARY, service_testing::ServiceFlags(bootstrap(), redis().port()),
      redis().directory() / "sop-capacity.log");
  // The start-up log line names the chosen gRPC port.
  ASSERT_GT(process.WaitForPort(10s), 0) << process.Log();
  const auto channel = process.channel();
  EXPECT_EQ(service_testing::HealthOf(channel, "sop.v1.Capacity"),
            grpc::health::v1::HealthCheckResponse::SERVING);

  const auto& events = testing::SEvents();
  service_testing::ProduceFacts(producer(), events, 0, events.size());

  // Poll GetLoad (against a deadline) until the replica serves the library's total load.
  const auto expected = testing::Direct(events);
  const auto& snapshot = expected->snapshot();
  const auto capacity = planning::RoughCut(snapshot, expected->plan());
  double expected_total = 0.0;
  for (double v : capacity.load_hours) expected_total += v;
  auto stub = sop::v1::Capacity::NewStub(channel);
  double served_total = 0.0;
  for (auto deadline = Clock::now() + 60s; Clock::now() < deadline;) {
    served_total = 0.0;
    bool all = true;
    for (const auto& site : snapshot.sites) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + 5s);
      sop::v1::GetLoadRequest request;
      request.set_site_id(site.id);
      sop::v1::GetLoadResponse response;
      if (!stub->GetLoad(&context, request, &response).ok()) {
        all = false;
        break;
      }
      for (const auto& wc : response.work_centers())
        for (double v : wc.load_hours()) served_total += v;
    }
    if (all && std::abs(served_total - expected_total) <= 1e-6 * expected_total) break;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_NEAR(served_total, expected_total, 1e-6 * expected_total);

  EXPECT_EQ(process.Terminate(), 0) << process.Log();

  // Every partition that received facts has a snapshot with its consumed offset.
  const auto snapshots = FactSnapshots("capacity");
  EXPECT_GT(snapshots.size(), 0u);
  for (const auto& stored : snapshots) {
    ASSERT_FALSE(stored.offsets.empty());
    EXPECT_GT(stored.offsets[0].next_offset, 0);
  }
}

}  // namespace
}  // namespace sop::capacity
