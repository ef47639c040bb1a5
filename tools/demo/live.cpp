// sop-demo (live): the Monday S&OP pack computed by the running services.
//
// sop::stack starts the embedded Kafka broker, a redis-server and every built service as its own
// process; the generated S-scale manufacturer (master data, open orders, three years of weekly
// shipments) is replayed as ERP/MES envelopes into sop.erp.events.v1, paced so that no consumer
// falls further behind than the embedded broker keeps; once the pipeline has settled (every
// service at consumer lag 0 with no progress for a quiet period) the pack is read over gRPC.
// Then three live changes go in and the demo shows how long each took to reach the plan and the
// ranked exceptions. Ctrl-C at any point stops everything in order.

#include <grpcpp/grpcpp.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "demo.hpp"
#include "sop/bus/consumer.hpp"
#include "sop/bus/producer.hpp"
#include "sop/bus/topics.hpp"
#include "sop/gen/generator.hpp"
#include "sop/stack/stack.hpp"
#include "sop/v1/capacity.grpc.pb.h"
#include "sop/v1/events.pb.h"
#include "sop/v1/exceptions.grpc.pb.h"
#include "sop/v1/forecasting.grpc.pb.h"
#include "sop/v1/mrp.grpc.pb.h"
#include "sop/v1/planning.pb.h"

namespace sop::demo {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::atomic<bool> g_stop{false};

// ------------------------------------------------------------------------------------------
// Options, output helpers
// ------------------------------------------------------------------------------------------

struct LiveOptions {
  std::uint64_t seed = 1;
  std::filesystem::path dir{};
  bool stay = false;
  int history_weeks = -1;  // the scale's default (156)
  int window = 8'000;      // envelopes produced ahead of the slowest facts consumer
};

int Usage(const std::string& error) {
  std::fprintf(stderr,
               "sop-demo: %s\n"
               "usage: sop-demo [--seed N] [--dir DIR] [--history-weeks N] [--stay]\n"
               "       sop-demo --offline [--seed N] [--threads N]\n",
               error.c_str());
  return 64;
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

std::string Money(double value) {
  char text[32];
  if (std::abs(value) >= 1e6) {
    std::snprintf(text, sizeof text, "%.2f M", value / 1e6);
  } else if (std::abs(value) >= 1e3) {
    std::snprintf(text, sizeof text, "%.1f k", value / 1e3);
  } else {
    std::snprintf(text, sizeof text, "%.0f", value);
  }
  return text;
}

std::string Count(double value) {
  std::string digits = std::to_string(static_cast<long long>(std::llround(value)));
  for (int at = static_cast<int>(digits.size()) - 3; at > 0 && digits[at - 1] != '-'; at -= 3) {
    digits.insert(static_cast<std::size_t>(at), ",");
  }
  return digits;
}

std::string SeverityName(sop::v1::Severity severity) {
  switch (severity) {
    case sop::v1::SEVERITY_RED:
      return "RED";
    case sop::v1::SEVERITY_AMBER:
      return "AMBER";
    case sop::v1::SEVERITY_INFO:
      return "info";
    default:
      return "ok";
  }
}

std::string TypeName(sop::v1::ExceptionType type) {
  std::string name = sop::v1::ExceptionType_Name(type);
  constexpr std::string_view kPrefix = "EXCEPTION_TYPE_";
  if (name.starts_with(kPrefix)) name = name.substr(kPrefix.size());
  std::transform(name.begin(), name.end(), name.begin(),
                 [](char c) { return c == '_' ? ' ' : static_cast<char>(std::tolower(c)); });
  return name;
}

std::string Cell(std::string text, std::size_t limit = 110) {
  for (char& c : text) {
    if (c == '|' || c == '\n') c = ' ';
  }
  if (text.size() > limit) text = text.substr(0, limit - 3) + "...";
  return text;
}

// Sum of the samples of `metric` whose label set contains `label` (e.g. topic="sop.facts.v1").
double SumWhere(const std::string& text, std::string_view metric, std::string_view label) {
  double sum = 0;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.starts_with(metric) || line.size() <= metric.size() || line[metric.size()] != '{') {
      continue;
    }
    const auto close = line.find('}');
    if (close == std::string::npos) continue;
    if (std::string_view(line).substr(0, close).find(label) == std::string_view::npos) continue;
    sum += std::strtod(line.c_str() + close + 1, nullptr);
  }
  return sum;
}

// ------------------------------------------------------------------------------------------
// Signals: a thread waits for SIGINT/SIGTERM; the first asks the demo to stop in order, a
// second one forces the exit.
// ------------------------------------------------------------------------------------------

void WatchSignals(sigset_t signals) {
  int received = 0;
  sigwait(&signals, &received);
  g_stop.store(true);
  std::fprintf(stderr, "\nsop-demo: signal %d, stopping the services in order (again to force)\n",
               received);
  sigwait(&signals, &received);
  std::fprintf(stderr, "sop-demo: second signal, exiting now\n");
  _exit(130);
}

// ------------------------------------------------------------------------------------------
// gRPC clients
// ------------------------------------------------------------------------------------------

class Clients {
 public:
  Clients(const stack::StackEndpoints& endpoints, std::string token) : token_(std::move(token)) {
    auto channel = [&](std::string_view name) -> std::shared_ptr<grpc::Channel> {
      const auto* endpoint = endpoints.Find(name);
      if (endpoint == nullptr || endpoint->grpc.empty()) return nullptr;
      return grpc::CreateChannel(endpoint->grpc, grpc::InsecureChannelCredentials());
    };
    if (auto c = channel("forecasting")) forecasting = sop::v1::Forecasting::NewStub(c);
    if (auto c = channel("mrp")) mrp = sop::v1::Mrp::NewStub(c);
    if (auto c = channel("capacity")) capacity = sop::v1::Capacity::NewStub(c);
    if (auto c = channel("exceptions")) exceptions = sop::v1::Exceptions::NewStub(c);
  }

  std::unique_ptr<grpc::ClientContext> Context(std::chrono::seconds timeout = 60s) const {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + timeout);
    if (!token_.empty()) context->AddMetadata("authorization", "Bearer " + token_);
    return context;
  }

  std::unique_ptr<sop::v1::Forecasting::Stub> forecasting;
  std::unique_ptr<sop::v1::Mrp::Stub> mrp;
  std::unique_ptr<sop::v1::Capacity::Stub> capacity;
  std::unique_ptr<sop::v1::Exceptions::Stub> exceptions;

 private:
  std::string token_;
};

std::string Failed(const grpc::Status& status) {
  return "(" + std::to_string(static_cast<int>(status.error_code())) + " " +
         status.error_message() + ")";
}

// ------------------------------------------------------------------------------------------
// The pack
// ------------------------------------------------------------------------------------------

void DemandReview(const Clients& clients) {
  std::printf(
      "\n## 1. Demand review — forecast vs actuals of the last 13 weeks, by family "
      "(Forecasting.GetAccuracy)\n\n");
  if (!clients.forecasting) {
    std::printf("forecasting service not built\n");
    return;
  }
  sop::v1::GetAccuracyRequest request;
  request.set_level(sop::v1::ACCURACY_LEVEL_FAMILY);
  request.set_lookback_buckets(13);
  sop::v1::GetAccuracyResponse response;
  const auto status = clients.forecasting->GetAccuracy(clients.Context().get(), request, &response);
  if (!status.ok()) {
    std::printf("forecasting unavailable %s\n", Failed(status).c_str());
    return;
  }
  std::printf(
      "| family | actual | forecast | WMAPE | bias | flag |\n|---|---:|---:|---:|---:|---|\n");
  int amber = 0;
  int red = 0;
  for (const auto& row : response.rows()) {
    amber += row.severity() == sop::v1::SEVERITY_AMBER;
    red += row.severity() == sop::v1::SEVERITY_RED;
    std::printf("| %s | %s | %s | %.1f %% | %+.1f %% | %s |\n",
                row.key().empty() ? "(spare parts)" : row.key().c_str(),
                Count(row.actual()).c_str(), Count(row.forecast()).c_str(), 100 * row.wmape(),
                100 * row.bias(), SeverityName(row.severity()).c_str());
  }
  std::printf("\n%d families amber (> 10 %% deviation), %d red (> 25 %%).\n", amber, red);
}

void SupplyReview(const Clients& clients, const std::vector<std::string>& plants) {
  std::printf("\n## 2. Supply review — material gaps by family (Mrp.GetSupplyPlan)\n\n");
  if (!clients.mrp) {
    std::printf("mrp service not built\n");
  } else {
    sop::v1::GetSupplyPlanRequest request;
    sop::v1::GetSupplyPlanResponse response;
    const auto status = clients.mrp->GetSupplyPlan(clients.Context().get(), request, &response);
    if (!status.ok()) {
      std::printf("mrp unavailable %s\n", Failed(status).c_str());
    } else {
      struct Row {
        double near = 0, window = 0, later = 0, revenue = 0;
        int first = -1;
      };
      std::map<std::pair<std::string, std::string>, Row> rows;
      for (const auto& gap : response.gaps()) {
        auto& row = rows[{gap.family().empty() ? "(components)" : gap.family(), gap.site_id()}];
        (gap.bucket() < 6     ? row.near
         : gap.bucket() <= 12 ? row.window
                              : row.later) += gap.shortage_quantity();
        row.revenue += gap.revenue_at_risk();
        if (row.first < 0 || gap.bucket() < row.first) row.first = gap.bucket();
      }
      std::vector<std::pair<std::pair<std::string, std::string>, Row>> sorted(rows.begin(),
                                                                              rows.end());
      std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
        return a.second.revenue > b.second.revenue ||
               (a.second.revenue == b.second.revenue && a.first < b.first);
      });
      std::printf(
          "| family | site | short weeks 0–5 | weeks 6–12 | later | first week | revenue "
          "at risk |\n|---|---|---:|---:|---:|---:|---:|\n");
      for (std::size_t k = 0; k < sorted.size() && k < 12; ++k) {
        const auto& [key, row] = sorted[k];
        std::printf("| %s | %s | %s | %s | %s | %d | %s |\n", key.first.c_str(), key.second.c_str(),
                    Count(row.near).c_str(), Count(row.window).c_str(), Count(row.later).c_str(),
                    row.first, Money(row.revenue).c_str());
      }
      if (sorted.empty()) std::printf("| (no material gap) | | | | | | |\n");
      std::printf("\n%d gap rows (family × site × week), plan version %lld.\n",
                  response.gaps_size(), static_cast<long long>(response.plan_version()));
    }
  }

  std::printf("\n### Capacity gaps in weeks 0–12 (Capacity.GetLoad, hours over capacity)\n\n");
  if (!clients.capacity) {
    std::printf("capacity service not built\n");
    return;
  }
  struct Overload {
    std::string work_center, site;
    double near = 0, window = 0, peak = 0;
    int first = -1;
  };
  std::vector<Overload> overloads;
  for (const auto& site : plants) {
    sop::v1::GetLoadRequest request;
    request.set_site_id(site);
    request.set_from_bucket(0);
    request.set_to_bucket(13);
    sop::v1::GetLoadResponse response;
    const auto status = clients.capacity->GetLoad(clients.Context().get(), request, &response);
    if (!status.ok()) {
      std::printf("GetLoad %s unavailable %s\n", site.c_str(), Failed(status).c_str());
      continue;
    }
    for (const auto& load : response.work_centers()) {
      Overload row{load.work_center_id(), load.site_id(), 0, 0, 0, load.first_overloaded_bucket()};
      for (int b = 0; b < load.overload_hours_size(); ++b) {
        const int bucket = load.from_bucket() + b;
        (bucket < 6 ? row.near : row.window) += load.overload_hours(b);
        if (b < load.utilization_size() && std::isfinite(load.utilization(b))) {
          row.peak = std::max(row.peak, load.utilization(b));
        }
      }
      if (row.near + row.window > 0) overloads.push_back(row);
    }
  }
  std::sort(overloads.begin(), overloads.end(), [](const Overload& a, const Overload& b) {
    return a.near + a.window > b.near + b.window;
  });
  std::printf(
      "| work center | site | weeks 0–5 | weeks 6–12 | first overloaded week | peak "
      "utilization |\n|---|---|---:|---:|---:|---:|\n");
  for (const auto& row : overloads) {
    std::printf("| %s | %s | %.0f | %.0f | %d | %.0f %% |\n", row.work_center.c_str(),
                row.site.c_str(), row.near, row.window, row.first, 100 * row.peak);
  }
  if (overloads.empty()) std::printf("| (no overload) | | | | | |\n");
}

void TopExceptions(const Clients& clients) {
  constexpr int kTop = 10;
  std::printf("\n## 3. Top %d exceptions with why (Exceptions.ListExceptions)\n\n", kTop);
  if (!clients.exceptions) {
    std::printf("exceptions service not built\n");
    return;
  }
  sop::v1::ListExceptionsRequest request;
  request.set_top(kTop);
  request.set_page_size(kTop);
  sop::v1::ListExceptionsResponse response;
  const auto status =
      clients.exceptions->ListExceptions(clients.Context().get(), request, &response);
  if (!status.ok()) {
    std::printf("exceptions unavailable %s\n", Failed(status).c_str());
    return;
  }
  std::printf(
      "| # | type | severity | subject | week | revenue at risk | score (rev/margin/prio/"
      "time/breadth) | why |\n|---:|---|---|---|---:|---:|---|---|\n");
  for (const auto& e : response.exceptions()) {
    const auto& c = e.score_components();
    std::printf("| %d | %s | %s | %s | %d | %s | %.2f (%.2f/%.2f/%.2f/%.2f/%.2f) | %s |\n",
                e.rank(), TypeName(e.type()).c_str(), SeverityName(e.severity()).c_str(),
                Cell(e.subject(), 40).c_str(), e.first_impact_bucket(),
                Money(e.revenue_at_risk()).c_str(), e.score(), c.revenue_at_risk(),
                c.margin_at_risk(), c.customer_priority(), c.time_to_impact(), c.breadth(),
                Cell(e.explanation()).c_str());
  }
  std::printf("\n%lld exceptions open in total.\n", static_cast<long long>(response.total()));
}

std::optional<sop::v1::ScenarioKpis> Scenarios(const Clients& clients) {
  constexpr int kShown = 3;
  std::printf(
      "\n## 4. Scenarios side by side (Capacity.EvaluateScenarios, the seed scenarios)\n\n");
  if (!clients.capacity) {
    std::printf("capacity service not built\n");
    return std::nullopt;
  }
  sop::v1::EvaluateScenariosRequest request;
  sop::v1::EvaluateScenariosResponse response;
  const auto status =
      clients.capacity->EvaluateScenarios(clients.Context(300s).get(), request, &response);
  if (!status.ok()) {
    std::printf("capacity unavailable %s\n", Failed(status).c_str());
    return std::nullopt;
  }
  std::printf(
      "| scenario | fill rate | revenue short | overload h | added cost | avg inventory | "
      "working capital | revenue | gross margin | exceptions +/− |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  auto row = [](const sop::v1::ScenarioKpis& k) {
    const double added = k.extra_capacity_cost() + k.step_subcontract_cost() + k.move_cost() +
                         k.overtime_cost() + k.subcontract_cost();
    std::printf("| %s | %.1f %% | %s | %.0f | %s | %s | %s | %s | %s | +%d / −%d |\n",
                Cell(k.name(), 40).c_str(), 100 * k.fill_rate(), Money(k.revenue_short()).c_str(),
                k.overload_hours(), Money(added).c_str(),
                Money(k.average_inventory_value()).c_str(), Money(k.working_capital()).c_str(),
                Money(k.revenue()).c_str(), Money(k.gross_margin()).c_str(),
                k.exceptions_added_size(), k.exceptions_removed_size());
  };
  row(response.base());
  for (int k = 0; k < response.scenarios_size() && k < kShown; ++k) row(response.scenarios(k));
  std::printf("\n%d seed scenarios evaluated in %.1f s; the first %d are shown.\n",
              response.scenarios_size(), response.seconds(), kShown);
  return response.base();
}

void KpiSummary(const std::optional<sop::v1::ScenarioKpis>& base, const Clients& clients) {
  std::printf("\n## 5. KPI summary (plan horizon)\n\n");
  if (clients.forecasting) {
    sop::v1::GetAccuracyRequest request;
    request.set_level(sop::v1::ACCURACY_LEVEL_SITE);
    sop::v1::GetAccuracyResponse response;
    if (clients.forecasting->GetAccuracy(clients.Context().get(), request, &response).ok()) {
      double actual = 0, error = 0, bias = 0;
      for (const auto& row : response.rows()) {
        actual += row.actual();
        error += row.wmape() * row.actual();
        bias += row.bias() * row.actual();
      }
      if (actual > 0) {
        std::printf(
            "- forecast accuracy (last 13 weeks, all sites): WMAPE %.1f %%, bias %+.1f %%\n",
            100 * error / actual, 100 * bias / actual);
      }
    }
  }
  if (!base) {
    std::printf("- plan KPIs need the capacity service (not available)\n");
    return;
  }
  const auto& k = *base;
  std::printf("- fill rate of open sales orders: %.1f %% (%s of %s units at risk)\n",
              100 * k.fill_rate(), Count(k.units_short()).c_str(),
              Count(k.sales_order_units()).c_str());
  std::printf("- revenue %s, gross margin %s (%.1f %%)\n", Money(k.revenue()).c_str(),
              Money(k.gross_margin()).c_str(),
              k.revenue() > 0 ? 100 * k.gross_margin() / k.revenue() : 0.0);
  std::printf("- average inventory value %s, working capital %s\n",
              Money(k.average_inventory_value()).c_str(), Money(k.working_capital()).c_str());
  std::printf("- load %s h, overload %.0f h (overtime cost %s, subcontract %s)\n",
              Count(k.load_hours()).c_str(), k.overload_hours(), Money(k.overtime_cost()).c_str(),
              Money(k.subcontract_cost()).c_str());
  std::printf("- exceptions open: %d\n", k.exception_count());
}

// ------------------------------------------------------------------------------------------
// Live changes: watch sop.plan.v1 and sop.exceptions.v1 for deltas caused by our events.
// ------------------------------------------------------------------------------------------

struct Observed {
  Clock::time_point at{};
  std::string summary{};
};

class CauseWatcher {
 public:
  explicit CauseWatcher(const std::string& bootstrap) {
    bus::ConsumerOptions options;
    options.group_id = "sop-demo-live-" + std::to_string(getpid());
    options.topics = {std::string(bus::kPlanTopic), std::string(bus::kExceptionsTopic)};
    options.handler = [this](const bus::Message& message) -> Status {
      Handle(message);
      return {};
    };
    options.on_rejected = [](const bus::Message&, const Error&) -> Status { return {}; };
    bus::KafkaConfig config{{"bootstrap.servers", bootstrap},
                            {"fetch.wait.max.ms", "20"},
                            {"session.timeout.ms", "6000"},
                            {"heartbeat.interval.ms", "300"},
                            {"max.partition.fetch.bytes", "33554432"},
                            {"fetch.max.bytes", "134217728"},
                            {"receive.message.max.bytes", "135000000"},
                            {"log_level", "3"}};
    auto consumer = bus::Consumer::Create(config, std::move(options));
    if (consumer && (*consumer)->Start()) consumer_ = std::move(*consumer);
  }
  ~CauseWatcher() {
    if (consumer_) consumer_->Stop();
  }
  bool ok() const { return consumer_ != nullptr; }

  void Watch(const std::string& event_id) {
    std::lock_guard lock(mutex_);
    watched_.insert(event_id);
  }
  // Waits until both topics showed a delta caused by `event_id` (or the deadline passed).
  std::pair<std::optional<Observed>, std::optional<Observed>> Wait(const std::string& event_id,
                                                                   std::chrono::seconds timeout) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] {
      return g_stop.load() || (plan_.contains(event_id) && exceptions_.contains(event_id));
    });
    std::pair<std::optional<Observed>, std::optional<Observed>> result;
    if (auto found = plan_.find(event_id); found != plan_.end()) result.first = found->second;
    if (auto found = exceptions_.find(event_id); found != exceptions_.end()) {
      result.second = found->second;
    }
    return result;
  }

 private:
  void Handle(const bus::Message& message) {
    const auto now = Clock::now();
    std::unique_lock lock(mutex_);
    if (message.topic == bus::kPlanTopic) {
      sop::v1::PlanDelta delta;
      if (!delta.ParseFromString(message.value) || !watched_.contains(delta.cause().event_id())) {
        return;
      }
      auto& observed = plan_[delta.cause().event_id()];
      if (observed.summary.empty()) {
        observed.at = now;
      }
      std::size_t orders = 0;
      for (const auto& record : delta.item_sites()) orders += record.planned_orders_size();
      records_[delta.cause().event_id()] += delta.item_sites_size();
      observed.summary = std::to_string(records_[delta.cause().event_id()]) +
                         " item-site records re-planned (plan version " +
                         std::to_string(delta.plan_version()) + ")";
    } else {
      sop::v1::ExceptionDelta delta;
      if (!delta.ParseFromString(message.value) || !watched_.contains(delta.cause().event_id())) {
        return;
      }
      auto& observed = exceptions_[delta.cause().event_id()];
      if (observed.summary.empty()) observed.at = now;
      std::string top;
      for (const auto& e : delta.upserts()) {
        if (top.empty() || e.rank() > 0) {
          top = TypeName(e.type()) + " " + e.subject() + " (rank " + std::to_string(e.rank()) +
                ", " + SeverityName(e.severity()) + "): " + e.explanation();
          break;
        }
      }
      observed.summary += (observed.summary.empty() ? "" : "; ") +
                          std::to_string(delta.upserts_size()) + " exceptions new/changed, " +
                          std::to_string(delta.resolved_ids_size()) + " resolved" +
                          (top.empty() ? "" : " — e.g. " + Cell(top, 160));
    }
    lock.unlock();
    changed_.notify_all();
  }

  std::unique_ptr<bus::Consumer> consumer_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::set<std::string> watched_;
  std::map<std::string, Observed> plan_;
  std::map<std::string, Observed> exceptions_;
  std::map<std::string, std::size_t> records_;
};

struct LiveChange {
  std::string title;
  sop::v1::Envelope envelope;
};

// Three changes a planner would see on a Monday: a large order, a supplier delay, a completion.
std::vector<LiveChange> PickLiveChanges(const std::vector<sop::v1::Envelope>& open,
                                        std::chrono::sys_days plan_start) {
  const auto start_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(plan_start.time_since_epoch()).count();
  const std::int64_t week = 7 * 24 * 3600;
  const sop::v1::Envelope* order = nullptr;
  const sop::v1::Envelope* purchase = nullptr;
  const sop::v1::Envelope* work_order = nullptr;
  for (const auto& e : open) {
    if (e.has_sales_order() && e.sales_order().quantity() > 0 &&
        (order == nullptr ||
         e.sales_order().quantity() * e.sales_order().unit_price() >
             order->sales_order().quantity() * order->sales_order().unit_price())) {
      order = &e;
    }
    if (e.has_purchase_order() && e.purchase_order().quantity() > 0) {
      const auto due = e.purchase_order().due_date().seconds();
      if (due >= start_seconds + week && due < start_seconds + 4 * week &&
          (purchase == nullptr ||
           e.purchase_order().quantity() * e.purchase_order().unit_cost() >
               purchase->purchase_order().quantity() * purchase->purchase_order().unit_cost())) {
        purchase = &e;
      }
    }
    if (e.has_work_order() && e.work_order().quantity() > 0 &&
        (work_order == nullptr ||
         e.work_order().quantity() > work_order->work_order().quantity())) {
      work_order = &e;
    }
  }
  std::vector<LiveChange> changes;
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  auto stamp = [&](sop::v1::Envelope& e, const std::string& id) {
    e.set_event_id(id);
    e.set_source_system("sop-demo");
    e.mutable_produced_at()->set_seconds(
        std::chrono::duration_cast<std::chrono::seconds>(now).count());
    e.mutable_occurred_at()->set_seconds(start_seconds);
  };
  const std::string run = std::to_string(getpid());
  if (order != nullptr) {
    sop::v1::Envelope e = *order;
    auto* so = e.mutable_sales_order();
    so->set_order_id("DEMO-" + run + "-BIG");
    so->set_line(1);
    so->set_quantity(std::ceil(order->sales_order().quantity() * 5));
    so->mutable_due_date()->set_seconds(start_seconds + 3 * week);
    stamp(e, "demo:" + run + ":large-order");
    changes.push_back({"large sales order: " + Count(so->quantity()) + " × " + so->item_id() +
                           " at " + so->site_id() + " due in week 3 (customer " +
                           so->customer_id() + ")",
                       e});
  }
  if (purchase != nullptr) {
    sop::v1::Envelope e;
    e.set_site(purchase->site());
    auto* confirmation = e.mutable_supplier_confirmation();
    confirmation->set_po_id(purchase->purchase_order().po_id());
    confirmation->set_line(purchase->purchase_order().line());
    confirmation->set_supplier_id(purchase->purchase_order().supplier_id());
    confirmation->mutable_confirmed_date()->set_seconds(
        purchase->purchase_order().due_date().seconds() + 3 * week);
    confirmation->set_confirmed_quantity(purchase->purchase_order().quantity());
    stamp(e, "demo:" + run + ":supplier-delay");
    changes.push_back({"supplier delay: " + purchase->purchase_order().supplier_id() +
                           " confirms PO " + purchase->purchase_order().po_id() + " (" +
                           Count(purchase->purchase_order().quantity()) + " × " +
                           purchase->purchase_order().item_id() + ") three weeks late",
                       e});
  }
  if (work_order != nullptr) {
    sop::v1::Envelope e;
    e.set_site(work_order->site());
    auto* completion = e.mutable_production_completion();
    completion->set_completion_id("DEMO-" + run + "-DONE");
    completion->set_work_order_id(work_order->work_order().work_order_id());
    completion->set_item_id(work_order->work_order().item_id());
    completion->set_site_id(work_order->work_order().site_id());
    completion->set_quantity(work_order->work_order().quantity());
    completion->mutable_completed_at()->set_seconds(start_seconds);
    stamp(e, "demo:" + run + ":completion");
    changes.push_back({"production completion: work order " +
                           work_order->work_order().work_order_id() + " finished (" +
                           Count(work_order->work_order().quantity()) + " × " +
                           work_order->work_order().item_id() + ")",
                       e});
  }
  return changes;
}

constexpr int kExceptionWait = 15;  // seconds an exception delta is waited for

void LiveChanges(const stack::StackEndpoints& endpoints, bus::Producer& producer,
                 CauseWatcher& watcher, const std::vector<LiveChange>& changes, bool exceptions) {
  std::printf(
      "\n## 7. Live changes — ERP event produced → plan delta (sop.plan.v1) → exception "
      "delta (sop.exceptions.v1)\n\n");
  (void)endpoints;
  for (const auto& change : changes) {
    if (g_stop.load()) return;
    watcher.Watch(change.envelope.event_id());
    bus::OutgoingMessage message;
    message.topic = std::string(bus::kErpEventsTopic);
    message.key = change.envelope.site();
    message.value = change.envelope.SerializeAsString();
    const auto sent = Clock::now();
    auto delivered = producer.SendSync(std::move(message), 10s);
    if (!delivered) {
      std::printf("- %s: not produced (%s)\n", change.title.c_str(),
                  delivered.error().ToString().c_str());
      continue;
    }
    const auto [plan, exception] = watcher.Wait(change.envelope.event_id(), exceptions ? 30s : 15s);
    std::printf("- **%s**\n", change.title.c_str());
    if (plan) {
      std::printf("  - plan: %.0f ms — %s\n",
                  std::chrono::duration<double, std::milli>(plan->at - sent).count(),
                  plan->summary.c_str());
    } else {
      std::printf("  - plan: no delta caused by this event within the wait\n");
    }
    if (exception) {
      std::printf("  - exceptions: %.0f ms end to end — %s\n",
                  std::chrono::duration<double, std::milli>(exception->at - sent).count(),
                  exception->summary.c_str());
    } else if (exceptions) {
      std::printf(
          "  - exceptions: no exception delta named this event as its cause within %d s "
          "(no ranked exception changed, or it was folded into another event's delta)\n",
          kExceptionWait);
    } else {
      std::printf("  - exceptions: exceptions service not built\n");
    }
  }
}

// ------------------------------------------------------------------------------------------
// Replay with pacing
// ------------------------------------------------------------------------------------------

// The slowest consumer of the replayed events: ingestion (of sop.erp.events.v1) and every service
// consuming sop.facts.v1 that has started to.
double SlowestConsumer(const stack::Stack& stack) {
  double slowest = -1;
  for (const auto& endpoint : stack.Endpoints().services) {
    if (endpoint.pid <= 0) continue;
    auto text = stack.Scrape(endpoint.name);
    if (!text) continue;
    double consumed = -1;
    if (endpoint.kind == "ingestion") {
      consumed = SumWhere(*text, "sop_ingestion_consumed_total", "");
    } else {
      const std::string metric = "sop_" + endpoint.kind + "_consumed_total";
      if (text->find(metric + "{") != std::string::npos &&
          text->find("topic=\"sop.facts.v1\"") != std::string::npos) {
        consumed = SumWhere(*text, metric, "topic=\"sop.facts.v1\"");
      }
    }
    if (consumed >= 0 && (slowest < 0 || consumed < slowest)) slowest = consumed;
  }
  return std::max(slowest, 0.0);
}

Status Replay(const stack::Stack& stack, bus::Producer& producer,
              const std::vector<std::pair<std::string, std::string>>& records, int window) {
  const auto started = Clock::now();
  std::atomic<long> failed{0};
  constexpr std::size_t kChunk = 2'000;
  double slowest = 0;
  for (std::size_t next = 0; next < records.size();) {
    if (g_stop.load()) return Fail(Errc::kCancelled, "stopped during the replay");
    const std::size_t end = std::min(records.size(), next + kChunk);
    for (; next < end; ++next) {
      bus::OutgoingMessage message;
      message.topic = std::string(bus::kErpEventsTopic);
      message.key = records[next].first;
      message.value = records[next].second;
      producer.Send(std::move(message), [&failed](Result<bus::DeliveryReport> report) {
        if (!report) failed.fetch_add(1);
      });
    }
    // Pace: the embedded broker keeps ~5 MiB per partition, so nobody may fall far behind.
    for (;;) {
      slowest = SlowestConsumer(stack);
      std::fprintf(stderr,
                   "\r  replaying ERP events: %s / %s produced, %s through the slowest "
                   "consumer (%.0f events/s)   ",
                   Count(static_cast<double>(next)).c_str(),
                   Count(static_cast<double>(records.size())).c_str(), Count(slowest).c_str(),
                   static_cast<double>(next) / std::max(0.001, Seconds(started)));
      if (static_cast<double>(next) - slowest <= window || g_stop.load()) break;
      std::this_thread::sleep_for(100ms);  // metrics poll interval while paced
    }
  }
  if (auto flushed = producer.Flush(60s); !flushed) return flushed;
  std::fprintf(stderr, "\n");
  if (failed.load() > 0) {
    return Fail(Errc::kUnavailable, std::to_string(failed.load()) + " events not acknowledged");
  }
  return {};
}

}  // namespace

int RunLive(int argc, char** argv) {
  LiveOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (arg == "--seed" && value != nullptr) {
      options.seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--dir" && value != nullptr) {
      options.dir = argv[++i];
    } else if (arg == "--history-weeks" && value != nullptr) {
      options.history_weeks = std::atoi(argv[++i]);
      if (options.history_weeks < 0 || options.history_weeks > 520) {
        return Usage("--history-weeks: must be 0..520, got '" + std::string(value) + "'");
      }
    } else if (arg == "--stay") {
      options.stay = true;
    } else if (arg == "--help" || arg == "-h") {
      std::printf(
          "usage: sop-demo [--seed N] [--dir DIR] [--history-weeks N] [--stay]\n"
          "Starts the services, replays a generated S-scale manufacturer through Kafka "
          "and prints the S&OP pack over gRPC, then three live changes.\n"
          "--stay keeps the stack running until Ctrl-C. --offline: the in-process "
          "pack.\n");
      return 0;
    } else {
      return Usage("unknown argument '" + std::string(arg) + "'");
    }
  }
  if (options.dir.empty()) {
    options.dir = std::filesystem::temp_directory_path() / ("sop-demo-" + std::to_string(getpid()));
  }

  // Before any thread exists: the stop signals go to the watcher thread only.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::thread(WatchSignals, signals).detach();

  const auto started = Clock::now();
  std::fprintf(stderr,
               "sop-demo: starting the embedded broker, redis-server and the services "
               "(logs in %s)\n",
               options.dir.c_str());
  stack::StackOptions stack_options;
  stack_options.dir = options.dir;
  // A partition snapshot of the replayed history is tens of MB (services that keep the fact log)
  // and takes longer than the 5 s default on a busy machine; services without the setting
  // ignore the variable. During the replay the stateful services snapshot at most every 10 s
  // instead of at every batch end (a restart would replay at most 10 s more from Kafka).
  // The workflow assembles the reconciliation pack from Capacity.EvaluateScenarios on the whole
  // manufacturer: give its calls to the other services a minute.
  stack_options.extra_env = {"SOP_REDIS_TIMEOUT=30s", "SOP_SNAPSHOT_INTERVAL=10s",
                             "SOP_WORKFLOW_SOURCE_DEADLINE=60s"};
  auto stack = stack::Stack::Start(stack_options);
  if (!stack) {
    std::fprintf(stderr, "sop-demo: %s\n", stack.error().ToString().c_str());
    return 1;
  }
  const auto& endpoints = (*stack)->Endpoints();
  for (const auto& service : endpoints.services) {
    std::fprintf(stderr, "  %-12s SERVING on %s (metrics %s, pid %d)\n", service.name.c_str(),
                 service.grpc.c_str(), service.metrics.c_str(), service.pid);
  }
  for (const auto& skipped : (*stack)->Skipped()) {
    std::fprintf(stderr, "  not started: %s\n", skipped.c_str());
  }
  std::fprintf(stderr, "  stack up in %.1f s (%s/stack.json)\n", Seconds(started),
               options.dir.c_str());

  auto stop = [&](int code) {
    std::fprintf(stderr, "sop-demo: stopping the services in reverse order\n");
    auto stopped = (*stack)->Stop();
    if (!stopped) {
      std::fprintf(stderr, "sop-demo: %s\n", stopped.error().ToString().c_str());
      return code == 0 ? 1 : code;
    }
    std::fprintf(stderr, "sop-demo: stopped cleanly\n");
    return code;
  };

  // The manufacturer as ERP/MES events.
  gen::GeneratorOptions generator;
  generator.scale = gen::Scale::kS;
  generator.seed = options.seed;
  generator.history_weeks = options.history_weeks;
  std::vector<std::pair<std::string, std::string>> records;
  std::vector<sop::v1::Envelope> open_documents;
  std::vector<std::string> plants;
  auto stats = gen::Generate(generator, [&](const sop::v1::Envelope& e) {
    records.emplace_back(e.site(), e.SerializeAsString());
    if (e.has_sales_order() || e.has_purchase_order() || e.has_work_order()) {
      open_documents.push_back(e);
    }
    if (e.has_site_master() && e.site_master().type() == sop::v1::SITE_TYPE_PLANT) {
      plants.push_back(e.site());
    }
  });
  if (!stats) {
    std::fprintf(stderr, "sop-demo: %s\n", stats.error().ToString().c_str());
    return stop(1);
  }
  std::fprintf(stderr, "sop-demo: generated the S-scale manufacturer (seed %llu): %s events\n",
               static_cast<unsigned long long>(options.seed),
               Count(static_cast<double>(records.size())).c_str());

  bus::KafkaConfig producer_config{{"bootstrap.servers", endpoints.broker},
                                   {"linger.ms", "5"},
                                   {"compression.type", "lz4"},
                                   {"log_level", "3"}};
  auto producer = bus::Producer::Create(producer_config);
  if (!producer) {
    std::fprintf(stderr, "sop-demo: %s\n", producer.error().ToString().c_str());
    return stop(1);
  }
  const auto replay_started = Clock::now();
  if (auto replayed = Replay(**stack, **producer, records, options.window); !replayed) {
    std::fprintf(stderr, "sop-demo: replay: %s\n", replayed.error().ToString().c_str());
    return stop(g_stop.load() ? 0 : 1);
  }
  std::fprintf(stderr,
               "sop-demo: replayed %s events in %.1f s; waiting for the pipeline to "
               "settle\n",
               Count(static_cast<double>(records.size())).c_str(), Seconds(replay_started));

  stack::SettleOptions settle;
  settle.quiet = 3s;
  settle.timeout = 900s;
  settle.poll = 250ms;
  settle.min_consumed = {{"ingestion", static_cast<double>(records.size())}};
  settle.stop_requested = [] { return g_stop.load(); };
  settle.on_poll = [](const std::map<std::string, double>& consumed, const std::string& busy) {
    (void)consumed;
    std::fprintf(stderr, "\r  settling; busy:%s%s", Cell(busy, 150).c_str(),
                 std::string(20, ' ').c_str());
  };
  auto settled = (*stack)->WaitSettled(settle);
  std::fprintf(stderr, "\n");
  if (!settled) {
    std::fprintf(stderr, "sop-demo: %s\n", settled.error().ToString().c_str());
    return stop(g_stop.load() ? 0 : 1);
  }
  std::fprintf(stderr,
               "sop-demo: pipeline settled %.1f s after the replay began (%.1f s since start)\n",
               Seconds(replay_started), Seconds(started));

  std::string token;
  if (!endpoints.demo_token_file.empty()) {
    std::ifstream in(endpoints.demo_token_file);
    std::getline(in, token);
  }
  Clients clients(endpoints, token);
  // Reads what the broker retains while the pack prints, then watches the live changes.
  auto watcher = std::make_unique<CauseWatcher>(endpoints.broker);

  std::printf("# S&OP pack — generated manufacturer (seed %llu), computed by the services\n\n",
              static_cast<unsigned long long>(options.seed));
  std::printf(
      "%s ERP/MES events replayed through Kafka: %s item-sites, %s open order lines, "
      "%s shipments of history. Services:",
      Count(static_cast<double>(stats->envelopes)).c_str(),
      Count(static_cast<double>(stats->items)).c_str(),
      Count(static_cast<double>(stats->OpenOrderLines())).c_str(),
      Count(static_cast<double>(stats->shipments)).c_str());
  for (const auto& service : endpoints.services) std::printf(" %s", service.name.c_str());
  std::printf(".\n");
  if (!g_stop.load()) DemandReview(clients);
  if (!g_stop.load()) SupplyReview(clients, plants);
  if (!g_stop.load()) TopExceptions(clients);
  std::optional<sop::v1::ScenarioKpis> base;
  if (!g_stop.load()) base = Scenarios(clients);
  if (!g_stop.load()) KpiSummary(base, clients);
  if (!g_stop.load()) RunSopCycle(endpoints);
  std::fflush(stdout);

  if (!g_stop.load() && watcher->ok()) {
    LiveChanges(endpoints, **producer, *watcher,
                PickLiveChanges(open_documents, generator.plan_start), (*stack)->Has("exceptions"));
  }
  std::printf("\nDemo run: %.1f s in total. Logs and stack.json in %s.\n", Seconds(started),
              options.dir.c_str());
  std::fflush(stdout);

  if (options.stay && !g_stop.load()) {
    std::fprintf(stderr, "sop-demo: the stack keeps running (%s/stack.json); Ctrl-C stops it\n",
                 options.dir.c_str());
    while (!g_stop.load()) std::this_thread::sleep_for(200ms);  // the watcher thread sets it
  }
  watcher.reset();  // Kafka clients go before the broker they talk to
  producer->reset();
  return stop(0);
}

}  // namespace sop::demo
