#include "sop/forecasting/forecaster.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <span>
#include <utility>

#include "sop/forecast/engine.hpp"
#include "sop/forecast/metrics.hpp"

namespace sop::forecasting {

namespace {

using std::chrono::days;
using std::chrono::sys_days;

constexpr std::int32_t kDefaultHorizon = 78;
constexpr std::int32_t kDefaultLookback = 13;
constexpr std::int32_t kMaxLookback = 104;
// A backtest with fewer training buckets than this says nothing about the model.
constexpr std::int32_t kMinTrainingBuckets = 4;
constexpr double kAmber = 0.10;
constexpr double kRed = 0.25;

model::BucketKind KindOf(const sop::v1::PlanningSettings& settings) {
  switch (settings.bucket_size()) {
    case sop::v1::BUCKET_SIZE_DAY:
      return model::BucketKind::kDay;
    case sop::v1::BUCKET_SIZE_MONTH:
      return model::BucketKind::kMonth;
    default:
      return model::BucketKind::kWeek;  // UNSPECIFIED means weeks
  }
}

std::int64_t EpochMs(Seconds t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

Seconds ToSeconds(const google::protobuf::Timestamp& ts) {
  return Seconds(std::chrono::seconds(ts.seconds()));
}

void SetTimestamp(google::protobuf::Timestamp* ts, Seconds t) {
  ts->set_seconds(t.time_since_epoch().count());
  ts->set_nanos(0);
}

std::string ItemSiteKey(std::string_view item_id, std::string_view site_id) {
  std::string key(item_id);
  key += '@';
  key += site_id;
  return key;
}

sop::v1::DemandClass ToProto(forecast::DemandClass demand_class) {
  switch (demand_class) {
    case forecast::DemandClass::kSmooth:
      return sop::v1::DEMAND_CLASS_SMOOTH;
    case forecast::DemandClass::kErratic:
      return sop::v1::DEMAND_CLASS_ERRATIC;
    case forecast::DemandClass::kIntermittent:
      return sop::v1::DEMAND_CLASS_INTERMITTENT;
    case forecast::DemandClass::kLumpy:
      return sop::v1::DEMAND_CLASS_LUMPY;
    case forecast::DemandClass::kNoDemand:
      return sop::v1::DEMAND_CLASS_UNSPECIFIED;
  }
  return sop::v1::DEMAND_CLASS_UNSPECIFIED;
}

std::string SelectionReason(const forecast::Forecast& f) {
  std::string reason = "automatic selection: demand ";
  reason += forecast::ToString(f.profile.demand_class);
  reason +=
      " (ADI " + std::to_string(f.profile.adi) + ", CV2 " + std::to_string(f.profile.cv2) + ")";
  reason += f.seasonality.seasonal ? "; seasonal (ACF " : "; not seasonal (ACF ";
  reason += std::to_string(f.seasonality.acf) + " vs threshold " +
            std::to_string(f.seasonality.threshold) + ")";
  return reason;
}

// Validation shared by facts and calls: the message names the field.
Status CheckAdjustment(const sop::v1::ForecastAdjustment& a) {
  if (a.item_id().empty()) return Fail(Errc::kInvalidArgument, "adjustment.item_id: required");
  if (a.site_id().empty()) return Fail(Errc::kInvalidArgument, "adjustment.site_id: required");
  if (a.layer() != sop::v1::FORECAST_LAYER_SALES &&
      a.layer() != sop::v1::FORECAST_LAYER_MARKETING &&
      a.layer() != sop::v1::FORECAST_LAYER_CONSENSUS) {
    return Fail(Errc::kInvalidArgument,
                "adjustment.layer: must be SALES, MARKETING or CONSENSUS, got " +
                    sop::v1::ForecastLayer_Name(a.layer()));
  }
  if (!a.has_period_start()) {
    return Fail(Errc::kInvalidArgument, "adjustment.period_start: required");
  }
  if (!std::isfinite(a.quantity_delta())) {
    return Fail(Errc::kInvalidArgument, "adjustment.quantity_delta: must be finite");
  }
  if (a.owner().empty()) return Fail(Errc::kInvalidArgument, "adjustment.owner: required");
  if (a.reason().empty()) return Fail(Errc::kInvalidArgument, "adjustment.reason: required");
  return {};
}

}  // namespace

codec::BucketGrid PlanGrid(const sop::v1::PlanningSettings& settings) {
  const std::int32_t horizon =
      settings.horizon_buckets() > 0 ? settings.horizon_buckets() : kDefaultHorizon;
  return codec::BucketGrid(ToSeconds(settings.plan_start()), KindOf(settings), horizon);
}

codec::BucketGrid HistoryGrid(const sop::v1::PlanningSettings& settings, std::int32_t buckets) {
  const Seconds plan_start = ToSeconds(settings.plan_start());
  const model::BucketKind kind = KindOf(settings);
  Seconds start = plan_start;
  if (kind == model::BucketKind::kMonth) {
    const auto day = std::chrono::floor<days>(plan_start);
    const std::chrono::year_month_day ymd(day);
    std::chrono::year_month_day back = ymd - std::chrono::months(buckets);
    if (!back.ok()) back = back.year() / back.month() / std::chrono::last;
    start = Seconds(sys_days(back)) + (plan_start - Seconds(day));
  } else {
    const int bucket_days = kind == model::BucketKind::kDay ? 1 : 7;
    start = plan_start - days(static_cast<std::int64_t>(buckets) * bucket_days);
  }
  return codec::BucketGrid(start, kind, buckets);
}

std::vector<double> BucketHistory(const std::map<std::int32_t, double>& daily_quantities,
                                  const sop::v1::PlanningSettings& settings, std::int32_t buckets) {
  std::vector<double> history;
  if (daily_quantities.empty() || buckets <= 0) return history;
  const Seconds plan_start = ToSeconds(settings.plan_start());
  const Seconds first{sys_days{days{daily_quantities.begin()->first}}};
  if (first >= plan_start) return history;
  // Enough buckets to reach the first shipment (a month is at least 28 days), capped.
  const codec::BucketGrid plan_grid = PlanGrid(settings);
  const double span_days =
      std::chrono::duration<double, std::ratio<86400>>(plan_start - first).count();
  const double min_bucket_days =
      plan_grid.kind() == model::BucketKind::kMonth ? 28.0 : plan_grid.BucketDays();
  const auto needed = static_cast<std::int32_t>(std::ceil(span_days / min_bucket_days)) + 1;
  const std::int32_t n = std::min(buckets, needed);
  const codec::BucketGrid grid = HistoryGrid(settings, n);
  history.assign(static_cast<std::size_t>(n), 0.0);
  for (const auto& [day, quantity] : daily_quantities) {
    const Seconds t{sys_days{days{day}}};
    if (t < grid.plan_start()) continue;  // older than the history window
    const std::int32_t b = grid.BucketOf(t);
    if (b >= n) break;  // at or after the plan start: not history
    history[static_cast<std::size_t>(b)] += quantity;
  }
  // Leading empty buckets are before the item-site existed, not zero demand.
  const auto first_demand =
      std::find_if(history.begin(), history.end(), [](double q) { return q != 0.0; });
  history.erase(history.begin(), first_demand);
  return history;
}

int SeasonLength(const sop::v1::PlanningSettings& settings) {
  switch (KindOf(settings)) {
    case model::BucketKind::kDay:
      return 7;
    case model::BucketKind::kMonth:
      return 12;
    case model::BucketKind::kWeek:
      return 52;
  }
  return 1;
}

sop::v1::Severity DeviationSeverity(double deviation) {
  const double magnitude = std::abs(deviation);
  if (magnitude > kRed) return sop::v1::SEVERITY_RED;
  if (magnitude > kAmber) return sop::v1::SEVERITY_AMBER;
  return sop::v1::SEVERITY_INFO;
}

std::vector<sop::v1::CustomerForecastRow> SplitByCustomer(
    const CustomerDaily& by_customer, const sop::v1::ForecastUpdate& forecast,
    const std::vector<sop::v1::AdjustmentRecord>& adjustments,
    const sop::v1::PlanningSettings& settings) {
  const auto plan_day = static_cast<std::int32_t>(
      std::chrono::floor<days>(ToSeconds(settings.plan_start())).time_since_epoch().count());
  const std::int32_t first_day = plan_day - kMixWindowDays;
  struct Row {
    CustomerChannel key;
    double window_quantity = 0.0;
    double share = 0.0;
  };
  std::vector<Row> rows;
  double total = 0.0;
  for (const auto& [key, daily] : by_customer) {
    double quantity = 0.0;
    for (auto it = daily.lower_bound(first_day); it != daily.end() && it->first < plan_day; ++it) {
      quantity += it->second;
    }
    if (quantity <= 0.0) continue;  // nothing (net) shipped to it in the window
    rows.push_back({key, quantity, 0.0});
    total += quantity;
  }
  if (rows.empty()) {
    rows.push_back({{std::string(kUnassignedCustomer), ""}, 0.0, 1.0});
  } else {
    for (Row& row : rows) row.share = row.window_quantity / total;
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    if (a.window_quantity != b.window_quantity) return a.window_quantity > b.window_quantity;
    return a.key < b.key;
  });

  // Layers per row and bucket: 0 sales, 1 marketing, 2 consensus-layer deltas.
  const codec::BucketGrid grid = PlanGrid(settings);
  const auto horizon = static_cast<std::size_t>(grid.buckets());
  std::vector<std::vector<std::array<double, 3>>> layers(
      rows.size(), std::vector<std::array<double, 3>>(horizon, {0.0, 0.0, 0.0}));
  for (const auto& record : adjustments) {
    const Seconds t = ToSeconds(record.period_start());
    if (grid.IsPastDue(t) || grid.IsOutsideHorizon(t)) continue;
    const auto b = static_cast<std::size_t>(grid.BucketOf(t));
    const std::size_t layer = record.layer() == sop::v1::FORECAST_LAYER_SALES       ? 0
                              : record.layer() == sop::v1::FORECAST_LAYER_MARKETING ? 1
                                                                                    : 2;
    std::vector<std::size_t> matched;
    double matched_share = 0.0;
    for (std::size_t r = 0; r < rows.size(); ++r) {
      if (!record.customer_id().empty() && rows[r].key.first != record.customer_id()) continue;
      if (!record.channel().empty() && rows[r].key.second != record.channel()) continue;
      matched.push_back(r);
      matched_share += rows[r].share;
    }
    if (matched.empty()) {
      // Names a customer/channel that bought nothing in the window: a row of its own.
      rows.push_back(
          {{record.customer_id().empty() ? std::string(kUnassignedCustomer) : record.customer_id(),
            record.channel()},
           0.0,
           0.0});
      layers.emplace_back(horizon, std::array<double, 3>{0.0, 0.0, 0.0});
      matched.push_back(rows.size() - 1);
    }
    for (std::size_t r : matched) {
      const double part = matched_share > 0.0 ? rows[r].share / matched_share
                                              : 1.0 / static_cast<double>(matched.size());
      layers[r][b][layer] += record.quantity_delta() * part;
    }
  }

  std::vector<sop::v1::CustomerForecastRow> out;
  out.reserve(rows.size());
  for (std::size_t r = 0; r < rows.size(); ++r) {
    sop::v1::CustomerForecastRow row;
    row.set_customer_id(rows[r].key.first);
    row.set_channel(rows[r].key.second);
    row.set_share(rows[r].share);
    row.set_window_quantity(rows[r].window_quantity);
    for (const auto& period : forecast.periods()) {
      auto* split = row.add_periods();
      *split->mutable_period_start() = period.period_start();
      split->set_bucket(period.bucket());
      const double statistical = period.statistical() * rows[r].share;
      const auto b = static_cast<std::size_t>(period.bucket());
      const auto& deltas = b < horizon ? layers[r][b] : std::array<double, 3>{0.0, 0.0, 0.0};
      split->set_statistical(statistical);
      split->set_sales_adjustment(deltas[0]);
      split->set_marketing_adjustment(deltas[1]);
      split->set_consensus(statistical + deltas[0] + deltas[1] + deltas[2]);
    }
    out.push_back(std::move(row));
  }
  return out;
}

Forecaster::Forecaster(ForecasterOptions options) : options_(options) {}

sop::v1::Cause Forecaster::CauseOf(const sop::v1::Envelope& envelope, Seconds ingested_at) {
  sop::v1::Cause cause;
  cause.set_event_id(envelope.event_id());
  SetTimestamp(cause.mutable_ingested_at(), ingested_at);
  cause.set_description(
      std::string(
          sop::v1::Envelope::descriptor()->FindFieldByNumber(envelope.payload_case())->name()) +
      " fact " + envelope.event_id());
  return cause;
}

Forecaster::ItemSite& Forecaster::ItemSiteOf(Partition& partition, const std::string& item_id,
                                             const std::string& site_id) {
  auto [it, inserted] = partition.item_sites.try_emplace(ItemSiteKey(item_id, site_id));
  if (inserted) {
    it->second.item_id = item_id;
    it->second.site_id = site_id;
  }
  return it->second;
}

Forecaster::Partition& Forecaster::PartitionAt(const PartitionKey& key) {
  auto [it, created] = partitions_.try_emplace(key);
  if (created) it->second.event_ids.SetRetention(options_.applied_ids);
  return it->second;
}

void Forecaster::MarkAllDirty(const PartitionKey& key, const Partition& partition) {
  sop::v1::Cause cause;
  cause.set_description("state of the partition restored or planning settings changed");
  for (const auto& [name, item_site] : partition.item_sites) {
    dirty_.try_emplace({key, name}, cause);
  }
}

Result<bool> Forecaster::ApplyFact(const PartitionKey& key, std::string_view fact_bytes) {
  sop::v1::Fact fact;
  if (!fact.ParseFromArray(fact_bytes.data(), static_cast<int>(fact_bytes.size()))) {
    return Fail(Errc::kInvalidArgument, "fact: not a sop.v1.Fact");
  }
  return ApplyEnvelope(key, fact.envelope(), ToSeconds(fact.ingested_at()));
}

Result<bool> Forecaster::ApplyEnvelope(const PartitionKey& key, const sop::v1::Envelope& envelope,
                                       Seconds ingested_at) {
  if (envelope.event_id().empty()) {
    return Fail(Errc::kInvalidArgument, "envelope.event_id: required");
  }
  using P = sop::v1::Envelope::PayloadCase;
  const auto kind = envelope.payload_case();
  if (kind != P::kPlanningSettings && kind != P::kItem && kind != P::kShipment &&
      kind != P::kForecastAdjustment) {
    return true;  // not forecasting's business; no id to remember
  }
  if (kind == P::kForecastAdjustment) {
    if (auto checked = CheckAdjustment(envelope.forecast_adjustment()); !checked) {
      return std::unexpected(checked.error());
    }
  }
  Partition& partition = PartitionAt(key);
  if (partition.event_ids.Contains(envelope.event_id())) {
    ++duplicates_;
    return false;
  }
  if (kind == P::kForecastAdjustment && !envelope.forecast_adjustment().adjustment_id().empty()) {
    // Keyed by its adjustment id: a re-delivery beyond the id window changes nothing either.
    const auto& a = envelope.forecast_adjustment();
    const auto it = partition.item_sites.find(ItemSiteKey(a.item_id(), a.site_id()));
    if (it != partition.item_sites.end() &&
        std::any_of(
            it->second.adjustments.begin(), it->second.adjustments.end(),
            [&](const auto& record) { return record.adjustment_id() == a.adjustment_id(); })) {
      ++duplicates_;
      return false;
    }
  }
  partition.event_ids.Insert(envelope.event_id(), EpochMs(ingested_at));
  partition.new_event_ids.push_back(envelope.event_id());
  ++facts_applied_;

  switch (kind) {
    case P::kPlanningSettings:
      partition.settings = envelope.planning_settings();
      MarkAllDirty(key, partition);
      break;
    case P::kItem: {
      const auto& item = envelope.item();
      const std::string& site = item.site_id().empty() ? envelope.site() : item.site_id();
      ItemSite& item_site = ItemSiteOf(partition, item.item_id(), site);
      if (item_site.family != item.family()) {
        item_site.family = item.family();
        if (!item_site.daily.empty()) {
          dirty_[{key, ItemSiteKey(item.item_id(), site)}] = CauseOf(envelope, ingested_at);
        }
      }
      break;
    }
    case P::kShipment: {
      const auto& shipment = envelope.shipment();
      const std::string& site = shipment.site_id().empty() ? envelope.site() : shipment.site_id();
      ItemSite& item_site = ItemSiteOf(partition, shipment.item_id(), site);
      const auto day = std::chrono::floor<days>(ToSeconds(shipment.shipped_at()));
      const auto day_number = static_cast<std::int32_t>(day.time_since_epoch().count());
      item_site.daily[day_number] += shipment.quantity();
      item_site.by_customer[{shipment.customer_id().empty() ? std::string(kUnassignedCustomer)
                                                            : shipment.customer_id(),
                             shipment.channel()}][day_number] += shipment.quantity();
      dirty_[{key, ItemSiteKey(shipment.item_id(), site)}] = CauseOf(envelope, ingested_at);
      break;
    }
    case P::kForecastAdjustment: {
      const auto& a = envelope.forecast_adjustment();
      ItemSite& item_site = ItemSiteOf(partition, a.item_id(), a.site_id());
      sop::v1::AdjustmentRecord record;
      record.set_adjustment_id(a.adjustment_id().empty() ? envelope.event_id() : a.adjustment_id());
      record.set_layer(a.layer());
      record.set_bucket(partition.settings
                            ? PlanGrid(*partition.settings).BucketOf(ToSeconds(a.period_start()))
                            : -1);
      *record.mutable_period_start() = a.period_start();
      record.set_quantity_delta(a.quantity_delta());
      record.set_owner(a.owner());
      record.set_reason(a.reason());
      record.set_customer_id(a.customer_id());
      record.set_channel(a.channel());
      SetTimestamp(record.mutable_recorded_at(), ingested_at);
      item_site.adjustments.push_back(std::move(record));
      dirty_[{key, ItemSiteKey(a.item_id(), a.site_id())}] = CauseOf(envelope, ingested_at);
      break;
    }
    default:
      break;
  }
  return true;
}

Result<sop::v1::AdjustmentRecord> Forecaster::Adjust(const sop::v1::ForecastAdjustment& adjustment,
                                                     Seconds now) {
  if (auto checked = CheckAdjustment(adjustment); !checked) {
    return std::unexpected(checked.error());
  }
  const std::string name = ItemSiteKey(adjustment.item_id(), adjustment.site_id());
  for (auto& [key, partition] : partitions_) {
    auto it = partition.item_sites.find(name);
    if (it == partition.item_sites.end()) continue;
    ItemSite& item_site = it->second;
    if (!partition.settings) {
      return Fail(Errc::kFailedPrecondition,
                  "no PlanningSettings fact yet for the partition of " + name);
    }
    const codec::BucketGrid grid = PlanGrid(*partition.settings);
    const Seconds period_start = ToSeconds(adjustment.period_start());
    if (grid.IsPastDue(period_start) || grid.IsOutsideHorizon(period_start)) {
      return Fail(Errc::kInvalidArgument,
                  "adjustment.period_start: outside the planning horizon (" +
                      std::to_string(period_start.time_since_epoch().count()) + " s)");
    }
    std::string id = adjustment.adjustment_id();
    if (id.empty()) {
      id = "adj-" + std::to_string(now.time_since_epoch().count()) + "-" +
           std::to_string(++adjustment_sequence_);
    }
    const std::string event_id = "adjust:" + id;
    // A retried call (inside the id window or beyond it): answer with what was recorded first.
    for (const auto& record : item_site.adjustments) {
      if (record.adjustment_id() == id) return record;
    }
    partition.event_ids.Insert(event_id, EpochMs(now));
    partition.new_event_ids.push_back(event_id);
    sop::v1::AdjustmentRecord record;
    record.set_adjustment_id(id);
    record.set_layer(adjustment.layer());
    record.set_bucket(grid.BucketOf(period_start));
    *record.mutable_period_start() = adjustment.period_start();
    record.set_quantity_delta(adjustment.quantity_delta());
    record.set_owner(adjustment.owner());
    record.set_reason(adjustment.reason());
    record.set_customer_id(adjustment.customer_id());
    record.set_channel(adjustment.channel());
    SetTimestamp(record.mutable_recorded_at(), now);
    item_site.adjustments.push_back(record);
    sop::v1::Cause cause;
    cause.set_event_id(event_id);
    SetTimestamp(cause.mutable_ingested_at(), now);
    cause.set_description("forecast adjusted by '" + adjustment.owner() +
                          "': " + adjustment.reason());
    dirty_[{key, name}] = cause;
    return record;
  }
  return Fail(Errc::kNotFound, "item-site " + name + ": not held by this replica");
}

std::vector<sop::v1::ForecastUpdate> Forecaster::Reforecast(Seconds now) {
  struct Job {
    ItemSite* item_site;
    const sop::v1::PlanningSettings* settings;
    sop::v1::Cause cause;
  };
  std::vector<Job> jobs;
  std::vector<forecast::SeriesInput> inputs;
  for (auto& [dirty_key, cause] : dirty_) {
    auto partition = partitions_.find(dirty_key.first);
    if (partition == partitions_.end() || !partition->second.settings) continue;
    auto it = partition->second.item_sites.find(dirty_key.second);
    if (it == partition->second.item_sites.end()) continue;
    ItemSite& item_site = it->second;
    const sop::v1::PlanningSettings& settings = *partition->second.settings;
    item_site.history = BucketHistory(item_site.daily, settings, options_.max_history_buckets);
    if (item_site.history.empty()) continue;  // nothing shipped before the plan start
    jobs.push_back({&item_site, &settings, cause});
  }
  dirty_.clear();
  inputs.reserve(jobs.size());
  for (const Job& job : jobs) {
    inputs.push_back(
        {job.item_site->history, SeasonLength(*job.settings), PlanGrid(*job.settings).buckets()});
  }
  auto results = forecast::ForecastBatch(inputs, forecast::ForecastOptions{}, options_.threads);

  std::vector<sop::v1::ForecastUpdate> updates;
  updates.reserve(jobs.size());
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    if (!results[j]) {
      ++forecast_errors_;
      continue;
    }
    const forecast::Forecast& f = *results[j];
    ++forecasts_made_;
    ItemSite& item_site = *jobs[j].item_site;
    const codec::BucketGrid grid = PlanGrid(*jobs[j].settings);
    const auto horizon = static_cast<std::size_t>(grid.buckets());
    // Layers per bucket: the sum of every recorded delta of that layer (history is kept).
    std::vector<double> sales(horizon, 0.0), marketing(horizon, 0.0), consensus(horizon, 0.0);
    for (const auto& record : item_site.adjustments) {
      const Seconds t = ToSeconds(record.period_start());
      if (grid.IsPastDue(t) || grid.IsOutsideHorizon(t)) continue;
      const auto b = static_cast<std::size_t>(grid.BucketOf(t));
      if (record.layer() == sop::v1::FORECAST_LAYER_SALES) sales[b] += record.quantity_delta();
      if (record.layer() == sop::v1::FORECAST_LAYER_MARKETING) {
        marketing[b] += record.quantity_delta();
      }
      if (record.layer() == sop::v1::FORECAST_LAYER_CONSENSUS) {
        consensus[b] += record.quantity_delta();
      }
    }
    sop::v1::ForecastUpdate update;
    update.set_item_id(item_site.item_id);
    update.set_site_id(item_site.site_id);
    update.set_family(item_site.family);
    for (std::size_t b = 0; b < horizon && b < f.point.size(); ++b) {
      auto* period = update.add_periods();
      SetTimestamp(period->mutable_period_start(), grid.BucketStart(static_cast<std::int32_t>(b)));
      period->set_bucket(static_cast<std::int32_t>(b));
      period->set_statistical(f.point[b]);
      period->set_sales_adjustment(sales[b]);
      period->set_marketing_adjustment(marketing[b]);
      period->set_consensus(f.point[b] + sales[b] + marketing[b] + consensus[b]);
      period->set_p10(f.p10[b]);
      period->set_p50(f.p50[b]);
      period->set_p90(f.p90[b]);
    }
    auto* model = update.mutable_model();
    model->set_name(f.model);
    for (const auto& param : f.params) (*model->mutable_parameters())[param.name] = param.value;
    model->set_demand_class(ToProto(f.profile.demand_class));
    model->set_seasonal(f.seasonality.seasonal);
    for (const auto& outlier : f.outliers) model->add_outlier_periods(outlier.index);
    model->set_selection_reason(SelectionReason(f));
    SetTimestamp(update.mutable_generated_at(), now);
    *update.mutable_cause() = jobs[j].cause;
    item_site.forecast = update;
    updates.push_back(std::move(update));
  }
  return updates;
}

Result<sop::v1::GetForecastResponse> Forecaster::GetForecast(std::string_view item_id,
                                                             std::string_view site_id,
                                                             bool split_by_customer) const {
  const std::string name = ItemSiteKey(item_id, site_id);
  for (const auto& [key, partition] : partitions_) {
    auto it = partition.item_sites.find(name);
    if (it == partition.item_sites.end()) continue;
    const ItemSite& item_site = it->second;
    if (!item_site.forecast) {
      return Fail(Errc::kFailedPrecondition,
                  "item-site " + name + ": no forecast yet (needs settings and shipments)");
    }
    sop::v1::GetForecastResponse response;
    *response.mutable_forecast() = *item_site.forecast;
    auto* statistical = response.add_owners();
    statistical->set_layer(sop::v1::FORECAST_LAYER_STATISTICAL);
    statistical->set_owner("system: " + item_site.forecast->model().name());
    *statistical->mutable_changed_at() = item_site.forecast->generated_at();
    // The owner of a layer is whoever changed it last.
    for (auto layer : {sop::v1::FORECAST_LAYER_SALES, sop::v1::FORECAST_LAYER_MARKETING,
                       sop::v1::FORECAST_LAYER_CONSENSUS}) {
      const sop::v1::AdjustmentRecord* last = nullptr;
      for (const auto& record : item_site.adjustments) {
        if (record.layer() == layer) last = &record;
      }
      if (last == nullptr) continue;
      auto* owner = response.add_owners();
      owner->set_layer(layer);
      owner->set_owner(last->owner());
      *owner->mutable_changed_at() = last->recorded_at();
    }
    for (const auto& record : item_site.adjustments) *response.add_history() = record;
    for (double q : item_site.history) response.add_history_actuals(q);
    if (split_by_customer && partition.settings) {
      for (auto& row : SplitByCustomer(item_site.by_customer, *item_site.forecast,
                                       item_site.adjustments, *partition.settings)) {
        *response.add_customer_rows() = std::move(row);
      }
      response.set_mix_window_days(kMixWindowDays);
    }
    return response;
  }
  return Fail(Errc::kNotFound, "item-site " + name + ": not held by this replica");
}

Result<sop::v1::GetAccuracyResponse> Forecaster::GetAccuracy(
    const sop::v1::GetAccuracyRequest& request) const {
  const auto level = request.level() == sop::v1::ACCURACY_LEVEL_UNSPECIFIED
                         ? sop::v1::ACCURACY_LEVEL_SKU
                         : request.level();
  if (level == sop::v1::ACCURACY_LEVEL_CHANNEL) {
    return Fail(Errc::kInvalidArgument,
                "level: ACCURACY_LEVEL_CHANNEL is not supported (the backtest is per item-site)");
  }
  const std::int32_t lookback =
      request.lookback_buckets() == 0 ? kDefaultLookback : request.lookback_buckets();
  if (lookback < 1 || lookback > kMaxLookback) {
    return Fail(Errc::kInvalidArgument, "lookback_buckets: must be in [1, " +
                                            std::to_string(kMaxLookback) + "], got " +
                                            std::to_string(lookback));
  }
  struct Series {
    std::string group;
    std::vector<double> actual;
  };
  std::vector<Series> series;
  std::vector<std::vector<double>> trainings;
  std::vector<forecast::SeriesInput> inputs;
  for (const auto& [key, partition] : partitions_) {
    if (!partition.settings) continue;
    for (const auto& [name, item_site] : partition.item_sites) {
      if (!request.site_id().empty() && item_site.site_id != request.site_id()) continue;
      if (!request.family().empty() && item_site.family != request.family()) continue;
      std::vector<double> history =
          BucketHistory(item_site.daily, *partition.settings, options_.max_history_buckets);
      if (static_cast<std::int32_t>(history.size()) < lookback + kMinTrainingBuckets) continue;
      const auto split = history.end() - lookback;
      std::string group = level == sop::v1::ACCURACY_LEVEL_FAMILY ? item_site.family
                          : level == sop::v1::ACCURACY_LEVEL_SITE ? item_site.site_id
                                                                  : name;
      series.push_back({std::move(group), std::vector<double>(split, history.end())});
      trainings.emplace_back(history.begin(), split);
      inputs.push_back({{}, SeasonLength(*partition.settings), lookback});
    }
  }
  for (std::size_t i = 0; i < inputs.size(); ++i) inputs[i].history = trainings[i];
  auto results = forecast::ForecastBatch(inputs, forecast::ForecastOptions{}, options_.threads);

  struct Group {
    std::vector<double> actual, forecast;
  };
  std::map<std::string, Group> groups;
  for (std::size_t i = 0; i < series.size(); ++i) {
    if (!results[i]) continue;
    Group& group = groups[series[i].group];
    group.actual.insert(group.actual.end(), series[i].actual.begin(), series[i].actual.end());
    group.forecast.insert(group.forecast.end(), results[i]->point.begin(),
                          results[i]->point.begin() + lookback);
  }
  sop::v1::GetAccuracyResponse response;
  for (const auto& [name, group] : groups) {
    auto* row = response.add_rows();
    row->set_key(name);
    double actual = 0.0, predicted = 0.0;
    for (double a : group.actual) actual += a;
    for (double f : group.forecast) predicted += f;
    row->set_actual(actual);
    row->set_forecast(predicted);
    // libs/forecast reports WMAPE in percent; rows carry fractions like the bias.
    auto wmape = forecast::Wmape(group.actual, group.forecast);
    row->set_wmape(wmape ? *wmape / 100.0 : 0.0);
    // MAPE: mean of the single-point WMAPEs over the buckets with demand.
    double mape_sum = 0.0;
    int mape_points = 0;
    for (std::size_t b = 0; b < group.actual.size(); ++b) {
      if (group.actual[b] == 0.0) continue;
      auto point =
          forecast::Wmape(std::span(&group.actual[b], 1), std::span(&group.forecast[b], 1));
      if (!point) continue;
      mape_sum += *point / 100.0;
      ++mape_points;
    }
    row->set_mape(mape_points > 0 ? mape_sum / mape_points : 0.0);
    auto bias = forecast::RelativeBias(group.actual, group.forecast);
    row->set_bias(bias ? *bias : 0.0);
    // Deviation = WMAPE (forecast error relative to demand), the S&OP amber/red rule.
    row->set_severity(wmape ? DeviationSeverity(row->wmape()) : sop::v1::SEVERITY_RED);
  }
  return response;
}

Result<std::vector<double>> Forecaster::History(std::string_view item_id,
                                                std::string_view site_id) const {
  const std::string name = ItemSiteKey(item_id, site_id);
  for (const auto& [key, partition] : partitions_) {
    auto it = partition.item_sites.find(name);
    if (it == partition.item_sites.end()) continue;
    if (!partition.settings) return std::vector<double>{};
    return BucketHistory(it->second.daily, *partition.settings, options_.max_history_buckets);
  }
  return Fail(Errc::kNotFound, "item-site " + name + ": not held by this replica");
}

std::optional<PartitionKey> Forecaster::PartitionOf(std::string_view item_id,
                                                    std::string_view site_id) const {
  const std::string name = ItemSiteKey(item_id, site_id);
  for (const auto& [key, partition] : partitions_) {
    if (partition.item_sites.contains(name)) return key;
  }
  return std::nullopt;
}

std::string Forecaster::SerializePartition(const PartitionKey& key) const {
  sop::v1::ForecastingPartitionState state;
  auto it = partitions_.find(key);
  if (it != partitions_.end()) {
    const Partition& partition = it->second;
    if (partition.settings) {
      *state.mutable_settings() = *partition.settings;
    }
    for (const auto& [name, item_site] : partition.item_sites) {
      auto* out = state.add_item_sites();
      out->set_item_id(item_site.item_id);
      out->set_site_id(item_site.site_id);
      out->set_family(item_site.family);
      for (const auto& [day, quantity] : item_site.daily) {
        out->add_shipment_days(day);
        out->add_shipment_quantities(quantity);
      }
      for (const auto& record : item_site.adjustments) *out->add_adjustments() = record;
      for (const auto& [customer, daily] : item_site.by_customer) {
        auto* shipments = out->add_customers();
        shipments->set_customer_id(customer.first);
        shipments->set_channel(customer.second);
        for (const auto& [day, quantity] : daily) {
          shipments->add_shipment_days(day);
          shipments->add_shipment_quantities(quantity);
        }
      }
    }
    partition.event_ids.ForEach([&](std::string_view id, std::int64_t at_ms) {
      state.add_applied_event_ids(std::string(id));
      state.add_applied_event_times_ms(at_ms);
    });
  }
  return state.SerializeAsString();
}

Status Forecaster::RestorePartition(const PartitionKey& key, std::string_view bytes) {
  sop::v1::ForecastingPartitionState state;
  if (!state.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Fail(Errc::kDataLoss, "snapshot of " + key.topic + "/" + std::to_string(key.partition) +
                                     ": not a forecasting partition state (" +
                                     std::to_string(bytes.size()) + " bytes)");
  }
  Partition partition;
  if (state.has_settings()) partition.settings = state.settings();
  for (const auto& in : state.item_sites()) {
    if (in.shipment_days_size() != in.shipment_quantities_size()) {
      return Fail(Errc::kDataLoss, "snapshot item-site " + in.item_id() + "@" + in.site_id() +
                                       ": shipment days and quantities differ in length");
    }
    ItemSite& item_site = ItemSiteOf(partition, in.item_id(), in.site_id());
    item_site.family = in.family();
    for (int i = 0; i < in.shipment_days_size(); ++i) {
      item_site.daily[in.shipment_days(i)] += in.shipment_quantities(i);
    }
    item_site.adjustments.assign(in.adjustments().begin(), in.adjustments().end());
    for (const auto& customer : in.customers()) {
      if (customer.shipment_days_size() != customer.shipment_quantities_size()) {
        return Fail(Errc::kDataLoss, "snapshot item-site " + in.item_id() + "@" + in.site_id() +
                                         " customer " + customer.customer_id() +
                                         ": shipment days and quantities differ in length");
      }
      auto& daily = item_site.by_customer[{customer.customer_id(), customer.channel()}];
      for (int i = 0; i < customer.shipment_days_size(); ++i) {
        daily[customer.shipment_days(i)] += customer.shipment_quantities(i);
      }
    }
  }
  // Oldest first, as written; read unbounded, then the retention keeps the newest.
  partition.event_ids =
      ingestion::DedupWindow({.max_ids = static_cast<std::size_t>(state.applied_event_ids_size()),
                              .max_age = options_.applied_ids.max_age});
  // Snapshots written before applied_event_times_ms existed carry no times: those ids leave
  // the window by count only.
  const bool timed = state.applied_event_times_ms_size() == state.applied_event_ids_size();
  for (int i = 0; i < state.applied_event_ids_size(); ++i) {
    partition.event_ids.Insert(
        state.applied_event_ids(i),
        timed ? state.applied_event_times_ms(i) : ingestion::DedupWindow::kUnknownTime);
  }
  partition.event_ids.SetRetention(options_.applied_ids);
  DropPartition(key);
  MarkAllDirty(key, partition);
  partitions_[key] = std::move(partition);
  return {};
}

void Forecaster::DropPartition(const PartitionKey& key) {
  partitions_.erase(key);
  std::erase_if(dirty_, [&](const auto& entry) { return entry.first.first == key; });
}

std::vector<std::string> Forecaster::TakeNewEventIds(const PartitionKey& key) {
  auto it = partitions_.find(key);
  if (it == partitions_.end()) return {};
  return std::exchange(it->second.new_event_ids, {});
}

ForecasterStats Forecaster::stats() const {
  ForecasterStats out;
  out.facts_applied = facts_applied_;
  out.duplicates = duplicates_;
  for (const auto& [key, partition] : partitions_) {
    out.item_sites += static_cast<std::int64_t>(partition.item_sites.size());
    out.applied_ids += static_cast<std::int64_t>(partition.event_ids.size());
  }
  out.dirty = static_cast<std::int64_t>(dirty_.size());
  out.forecasts_made = forecasts_made_;
  out.forecast_errors = forecast_errors_;
  return out;
}

}  // namespace sop::forecasting
