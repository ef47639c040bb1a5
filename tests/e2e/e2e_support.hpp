#pragma once
// Shared by the end-to-end tests: a generated instance, producing envelopes to
// sop.erp.events.v1, a reader that keeps the latest ItemSitePlan per item-site from
// sop.plan.v1 (and everything on sop.dlq.v1), and the reference plan the libraries compute
// directly on the same events.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "sop/bus/consumer.hpp"
#include "sop/bus/dead_letter.hpp"
#include "sop/bus/producer.hpp"
#include "sop/bus/topics.hpp"
#include "sop/codec/assembler.hpp"
#include "sop/codec/planning_state.hpp"
#include "sop/gen/generator.hpp"
#include "sop/planning/exceptions.hpp"
#include "sop/planning/netting.hpp"
#include "sop/planning/ranking.hpp"
#include "sop/planning/rough_cut.hpp"
#include "sop/stack/stack.hpp"
#include "sop/v1/events.pb.h"
#include "sop/v1/exceptions.grpc.pb.h"
#include "sop/v1/planning.pb.h"

namespace sop::e2e {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ItemSiteKey = std::pair<std::string, std::string>;  // item, site

// The generated S manufacturer without shipment history (21.5k envelopes): no history means
// the forecasting service publishes no statistical forecast, so the plan is the netting of the
// events' own DemandForecasts — exactly what the libraries compute directly.
inline std::vector<sop::v1::Envelope> GenerateInstance(std::uint64_t seed) {
  gen::GeneratorOptions options;
  options.scale = gen::Scale::kS;
  options.seed = seed;
  options.history_weeks = 0;
  auto all = gen::GenerateAll(options);
  if (!all) throw std::runtime_error(all.error().ToString());
  return std::move(*all);
}

// A fresh run directory per test (logs stay there for a look after a failure).
inline std::filesystem::path RunDir(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(SOP_E2E_RUN_DIR) / name;
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  std::filesystem::create_directories(dir);
  return dir;
}

inline stack::StackOptions TestStackOptions(const std::string& name) {
  stack::StackOptions options;
  options.dir = RunDir(name);
  options.partitions = 6;
  // The planning pipeline; workflow (a cycle needs people signing) is not part of it.
  for (const std::string kind : {"ingestion", "forecasting", "mrp", "capacity", "exceptions"}) {
    const bool required = kind == "ingestion" || kind == "forecasting" || kind == "mrp";
    if (required || !stack::FindServiceBinary(kind).empty()) options.services.push_back(kind);
  }
  options.start_timeout = 30s;
  options.stop_timeout = 15s;
  options.extra_env = {"SOP_SHUTDOWN_TIMEOUT=10s"};
  return options;
}

inline bus::KafkaConfig ClientConfig(const std::string& bootstrap) {
  return bus::KafkaConfig{{"bootstrap.servers", bootstrap}, {"linger.ms", "5"},
                          {"session.timeout.ms", "6000"},   {"heartbeat.interval.ms", "300"},
                          {"fetch.wait.max.ms", "50"},      {"log_level", "3"}};
}

// Produces raw bytes to sop.erp.events.v1 with the site as key and waits for every ack.
inline void ProduceRaw(bus::Producer& producer,
                       const std::vector<std::pair<std::string, std::string>>& records) {
  std::mutex mutex;
  int failures = 0;
  std::string first_error;
  for (const auto& [key, value] : records) {
    bus::OutgoingMessage message;
    message.topic = std::string(bus::kErpEventsTopic);
    message.key = key;
    message.value = value;
    producer.Send(std::move(message), [&](Result<bus::DeliveryReport> report) {
      if (!report) {
        std::lock_guard lock(mutex);
        if (failures++ == 0) first_error = report.error().ToString();
      }
    });
  }
  ASSERT_TRUE(producer.Flush(60s).has_value());
  std::lock_guard lock(mutex);
  ASSERT_EQ(failures, 0) << first_error;
}

inline void ProduceEnvelopes(bus::Producer& producer,
                             const std::vector<sop::v1::Envelope>& envelopes) {
  std::vector<std::pair<std::string, std::string>> records;
  records.reserve(envelopes.size());
  for (const auto& envelope : envelopes) {
    records.emplace_back(envelope.site(), envelope.SerializeAsString());
  }
  ProduceRaw(producer, records);
}

// Reads a topic from the beginning in its own consumer group; the handler runs on the consumer
// thread under the reader's mutex. Wait() blocks on a predicate with a deadline.
class TopicReader {
 public:
  TopicReader(const std::string& bootstrap, std::string_view topic, std::string group) {
    bus::ConsumerOptions options;
    options.group_id = std::move(group);
    options.topics = {std::string(topic)};
    options.handler = [this](const bus::Message& message) -> Status {
      {
        std::lock_guard lock(mutex_);
        messages_.push_back(message);
      }
      changed_.notify_all();
      return {};
    };
    // The handler never rejects; a rejection would be a bug in the reader itself.
    options.on_rejected = [](const bus::Message&, const Error& error) -> Status {
      ADD_FAILURE() << "reader rejected a message: " << error.ToString();
      return {};
    };
    options.listener = &listener_;
    // The embedded broker keeps only ~5 MiB per partition: a reader must take what the mrp
    // publishes (a full plan is tens of MB before lz4) in large fetches to stay ahead of it.
    bus::KafkaConfig config = ClientConfig(bootstrap);
    config.Set("max.partition.fetch.bytes", "33554432");
    config.Set("fetch.max.bytes", "134217728");
    config.Set("receive.message.max.bytes", "135000000");
    auto consumer = bus::Consumer::Create(config, std::move(options));
    if (!consumer) throw std::runtime_error(consumer.error().ToString());
    consumer_ = std::move(*consumer);
    if (auto started = consumer_->Start(); !started) {
      throw std::runtime_error(started.error().ToString());
    }
  }
  ~TopicReader() { consumer_->Stop(); }

  std::vector<bus::Message> Messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  bool Wait(const std::function<bool(const std::vector<bus::Message>&)>& predicate,
            std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return predicate(messages_); });
  }
  // True once every assigned partition has been read up to its high watermark.
  bool CaughtUp() const {
    const auto lags = consumer_->Lag();
    if (lags.empty()) return false;
    for (const auto& lag : lags) {
      if (!lag.high_watermark) return false;   // not fetched yet
      if (*lag.high_watermark == 0) continue;  // an empty partition
      if (!lag.lag || *lag.lag != 0) return false;
    }
    return true;
  }
  std::string DescribeLag() const {
    std::ostringstream text;
    for (const auto& error : listener_.Errors()) text << error << "; ";
    for (const auto& lag : consumer_->Lag()) {
      text << lag.topic << "[" << lag.partition << "] hwm "
           << (lag.high_watermark ? std::to_string(*lag.high_watermark) : "?") << " position "
           << (lag.position ? std::to_string(*lag.position) : "?") << "; ";
    }
    return text.str();
  }
  void Stop() { consumer_->Stop(); }

 private:
  // Consumer errors (e.g. DATA_LOSS when the broker dropped what the reader had not read).
  class ErrorListener final : public bus::ConsumerListener {
   public:
    void OnError(const Error& error) override {
      std::lock_guard lock(mutex_);
      errors_.push_back(error.ToString());
    }
    std::vector<std::string> Errors() const {
      std::lock_guard lock(mutex_);
      return errors_;
    }

   private:
    mutable std::mutex mutex_;
    std::vector<std::string> errors_;
  };

  ErrorListener listener_;
  std::unique_ptr<bus::Consumer> consumer_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<bus::Message> messages_;
};

// The latest ItemSitePlan per item-site from PlanDeltas in topic order (key = site, so one
// site's deltas are in one partition, in order).
inline std::map<ItemSiteKey, sop::v1::ItemSitePlan> LatestPlan(
    const std::vector<bus::Message>& messages) {
  std::map<ItemSiteKey, sop::v1::ItemSitePlan> latest;
  for (const auto& message : messages) {
    sop::v1::PlanDelta delta;
    if (!delta.ParseFromString(message.value)) continue;
    for (const auto& record : delta.item_sites()) {
      latest[{record.item_id(), record.site_id()}] = record;
    }
  }
  return latest;
}

// The plan codec + planning compute directly on the same envelopes.
inline std::unique_ptr<planning::NettingEngine> ReferencePlan(
    const std::vector<sop::v1::Envelope>& envelopes) {
  codec::SnapshotAssembler assembler;
  for (const auto& envelope : envelopes) assembler.Apply(envelope);
  auto built = assembler.Build();
  if (!built) throw std::runtime_error(built.error().ToString());
  auto engine = std::make_unique<planning::NettingEngine>(std::move(built->snapshot));
  engine->RunFull();
  return engine;
}

struct PlanComparison {
  std::size_t expected = 0;  // item-sites in the reference
  std::size_t published = 0;
  std::size_t equal = 0;
  std::size_t planned_orders_expected = 0;
  std::size_t planned_orders_published = 0;
  std::vector<std::string> differences;  // the first few, for the failure message
  bool Same() const {
    return expected > 0 && differences.empty() && published == expected && equal == expected;
  }
  std::string Describe() const {
    std::ostringstream text;
    text << equal << " of " << expected << " item-sites equal, " << published
         << " published; planned orders " << planned_orders_published << " vs "
         << planned_orders_expected;
    for (const auto& difference : differences) text << "\n  " << difference;
    return text.str();
  }
};

// Every reference item-site must be published with the same six MRP rows (relative 1e-9),
// on-hand, safety stock, low-level code and planned orders (receipt bucket and quantity).
inline PlanComparison ComparePlan(const planning::NettingEngine& reference,
                                  const std::map<ItemSiteKey, sop::v1::ItemSitePlan>& published) {
  PlanComparison result;
  const auto& snapshot = reference.snapshot();
  const auto& plan = reference.plan();
  result.expected = snapshot.item_site_count();
  result.published = published.size();
  for (const auto& [key, record] : published)
    result.planned_orders_published += record.planned_orders_size();
  auto note = [&](std::string text) {
    if (result.differences.size() < 8) result.differences.push_back(std::move(text));
  };
  auto close = [](double a, double b) {
    return std::abs(a - b) <= 1e-9 * std::max(1.0, std::max(std::abs(a), std::abs(b)));
  };
  for (std::size_t i = 0; i < snapshot.item_site_count(); ++i) {
    const model::ItemSiteIndex index(static_cast<std::int32_t>(i));
    const auto& item_site = snapshot.item_sites[i];
    const std::string& site = snapshot.sites[static_cast<std::size_t>(item_site.site.value())].id;
    result.planned_orders_expected += plan.orders[i].size();
    const auto found = published.find({item_site.item_id, site});
    const std::string name = item_site.item_id + "@" + site;
    if (found == published.end()) {
      note(name + ": not published");
      continue;
    }
    const auto& record = found->second;
    bool same = true;
    auto rows = [&](const char* row, const std::vector<double>& expected_rows,
                    const google::protobuf::RepeatedField<double>& actual) {
      const auto expected = plan.Row(expected_rows, index);
      if (static_cast<std::size_t>(actual.size()) != expected.size()) {
        note(name + " " + row + ": " + std::to_string(actual.size()) + " buckets, expected " +
             std::to_string(expected.size()));
        same = false;
        return;
      }
      for (std::size_t b = 0; b < expected.size(); ++b) {
        if (!close(expected[b], actual[static_cast<int>(b)])) {
          note(name + " " + row + "[" + std::to_string(b) +
               "] = " + std::to_string(actual[static_cast<int>(b)]) + ", expected " +
               std::to_string(expected[b]));
          same = false;
          return;
        }
      }
    };
    rows("gross_requirements", plan.gross_requirements, record.gross_requirements());
    rows("scheduled_receipts", plan.scheduled_receipts, record.scheduled_receipts());
    rows("projected_available", plan.projected_available, record.projected_available());
    rows("net_requirements", plan.net_requirements, record.net_requirements());
    rows("planned_receipts", plan.planned_receipts, record.planned_receipts());
    rows("planned_releases", plan.planned_releases, record.planned_releases());
    const auto& orders = plan.orders[i];
    if (static_cast<std::size_t>(record.planned_orders_size()) != orders.size()) {
      note(name + ": " + std::to_string(record.planned_orders_size()) +
           " planned orders, expected " + std::to_string(orders.size()));
      same = false;
    } else {
      for (std::size_t o = 0; o < orders.size(); ++o) {
        const auto& actual = record.planned_orders(static_cast<int>(o));
        if (actual.receipt_bucket() != orders[o].receipt_bucket ||
            !close(actual.quantity(), orders[o].quantity)) {
          note(name + " planned order " + std::to_string(o) + ": bucket " +
               std::to_string(actual.receipt_bucket()) + " qty " +
               std::to_string(actual.quantity()) + ", expected bucket " +
               std::to_string(orders[o].receipt_bucket) + " qty " +
               std::to_string(orders[o].quantity));
          same = false;
          break;
        }
      }
    }
    if (record.low_level_code() != plan.low_level_code[i]) {
      note(name + ": low-level code " + std::to_string(record.low_level_code()) + ", expected " +
           std::to_string(plan.low_level_code[i]));
      same = false;
    }
    if (same) ++result.equal;
  }
  return result;
}

// One ranked exception as compared: id, rank (1 = top), score, severity.
struct RankedException {
  std::string id;
  int rank = 0;
  double score = 0;
  int severity = 0;
};

// The decision core run directly on the facts the services consumed (read back from
// sop.facts.v1, so ingestion times and normalization are the same): codec::PlanningState →
// NettingEngine, RoughCut, its detection history, DetectExceptions with the default policy,
// ranked by planning::Ranker with the default weights and the score references `references`
// (ListExceptions tells which the service uses; nullptr: the fixed ones). `scaled` (optional)
// receives the references planning::ScaleReferences gives this detection at `percentile`.
inline std::vector<RankedException> ReferenceExceptions(
    const std::vector<bus::Message>& facts, const sop::v1::ScoreReferences* references = nullptr,
    planning::RankingWeights* scaled = nullptr, double percentile = 0.9) {
  codec::PlanningState state;
  for (const auto& message : facts) {
    auto applied = state.ApplyFact({message.topic, message.partition}, message.value);
    if (!applied) throw std::runtime_error(applied.error().ToString());
  }
  state.Rebuild(sop::v1::Cause(), /*full=*/true);
  const planning::NettingEngine* engine = state.engine();
  if (engine == nullptr) throw std::runtime_error("reference: no plan (no PlanningSettings)");
  const auto capacity = planning::RoughCut(engine->snapshot(), engine->plan());
  const auto history = state.BuildHistory();
  auto exceptions = planning::DetectExceptions(*engine, capacity, history);
  planning::RankingWeights weights;
  if (scaled != nullptr) {
    auto references_now = planning::ScaleReferences(exceptions, weights, percentile);
    if (!references_now) throw std::runtime_error(references_now.error().ToString());
    *scaled = *references_now;
  }
  if (references != nullptr) {
    weights.revenue_reference = references->revenue_reference();
    weights.margin_reference = references->margin_reference();
    weights.breadth_reference = references->breadth_reference();
  }
  planning::Ranker ranker(weights);
  ranker.Reset(std::move(exceptions));
  std::vector<RankedException> ranked;
  int rank = 0;
  for (const planning::Exception* e : ranker.Top(ranker.size())) {
    ranked.push_back({e->id, ++rank, e->score.total, static_cast<int>(e->severity)});
  }
  return ranked;
}

// Every open exception from Exceptions.ListExceptions, page by page, in rank order.
// `references` (optional) receives the score references the service ranked with.
inline std::vector<RankedException> ListedExceptions(
    const std::string& address, std::string& error,
    sop::v1::ScoreReferences* references = nullptr) {
  auto stub = sop::v1::Exceptions::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  std::vector<RankedException> listed;
  std::string token;
  do {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 30s);
    sop::v1::ListExceptionsRequest request;
    request.set_page_size(1000);
    request.set_page_token(token);
    sop::v1::ListExceptionsResponse response;
    const grpc::Status status = stub->ListExceptions(&context, request, &response);
    if (!status.ok()) {
      error = "ListExceptions: " + status.error_message();
      return listed;
    }
    if (references != nullptr && token.empty()) *references = response.references();
    for (const auto& e : response.exceptions()) {
      listed.push_back({e.exception_id(), e.rank(), e.score(), static_cast<int>(e.severity())});
    }
    token = response.next_page_token();
  } while (!token.empty());
  return listed;
}

// Differences between the listed and the reference ranking (empty = equal), at most a few.
inline std::vector<std::string> CompareRanking(const std::vector<RankedException>& listed,
                                               const std::vector<RankedException>& reference) {
  std::vector<std::string> differences;
  if (listed.size() != reference.size()) {
    differences.push_back(std::to_string(listed.size()) + " exceptions listed, reference has " +
                          std::to_string(reference.size()));
  }
  for (std::size_t k = 0; k < std::min(listed.size(), reference.size()); ++k) {
    const auto& a = listed[k];
    const auto& b = reference[k];
    const bool same = a.id == b.id && a.rank == b.rank &&
                      std::abs(a.score - b.score) <= 1e-9 * std::max(1.0, std::abs(b.score));
    if (!same && differences.size() < 8) {
      differences.push_back("position " + std::to_string(k + 1) + ": listed " + a.id + " rank " +
                            std::to_string(a.rank) + " score " + std::to_string(a.score) +
                            ", reference " + b.id + " rank " + std::to_string(b.rank) + " score " +
                            std::to_string(b.score));
    }
  }
  return differences;
}

}  // namespace sop::e2e
