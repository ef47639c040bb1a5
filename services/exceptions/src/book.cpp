#include "sop/exceptions/book.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <chrono>
#include <cmath>
#include <set>
#include <unordered_set>
#include <utility>

namespace sop::exceptions {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::size_t Idx(std::int32_t value) {
  return static_cast<std::size_t>(value);
}

// Two published values are the same when they agree to 1e-9 relative (net change performs the
// same operations as a full run, so in practice they are bit-identical).
bool Same(double a, double b) {
  return std::abs(a - b) <= 1e-9 * std::max({1.0, std::abs(a), std::abs(b)});
}

bool Changed(const sop::v1::PlanningException& before, const sop::v1::PlanningException& after) {
  return before.severity() != after.severity() || !Same(before.score(), after.score()) ||
         !Same(before.quantity(), after.quantity()) ||
         before.first_impact_bucket() != after.first_impact_bucket() ||
         !Same(before.revenue_at_risk(), after.revenue_at_risk()) ||
         before.explanation() != after.explanation();
}

bool SameReferences(const planning::RankingWeights& a, const planning::RankingWeights& b) {
  return a.revenue_reference == b.revenue_reference && a.margin_reference == b.margin_reference &&
         a.breadth_reference == b.breadth_reference;
}

// Page tokens: "<16 hex digits: bits of the score>/<exception id>" of the last exception of the
// previous page. A cursor, not an offset, so pages stay consistent while the list changes.
std::string MakeToken(double score, std::string_view id) {
  char hex[17];
  const auto bits = std::bit_cast<std::uint64_t>(score);
  auto [end, ec] = std::to_chars(hex, hex + 16, bits, 16);
  (void)ec;
  std::string token(static_cast<std::size_t>(16 - (end - hex)), '0');
  token.append(hex, end);
  token.push_back('/');
  token.append(id);
  return token;
}

bool ParseToken(std::string_view token, double& score, std::string& id) {
  if (token.size() < 18 || token[16] != '/') return false;
  std::uint64_t bits = 0;
  auto [end, ec] = std::from_chars(token.data(), token.data() + 16, bits, 16);
  if (ec != std::errc() || end != token.data() + 16) return false;
  score = std::bit_cast<double>(bits);
  if (!std::isfinite(score)) return false;
  id = std::string(token.substr(17));
  return true;
}

// The Ranker's order: score descending, then id ascending.
bool Before(double score_a, std::string_view id_a, double score_b, std::string_view id_b) {
  if (score_a != score_b) return score_a > score_b;
  return id_a < id_b;
}

// Two detections of the same exception that convert to the same published fields.
bool IsCapacity(planning::ExceptionType type) {
  return type == planning::ExceptionType::kCapacityOverload ||
         type == planning::ExceptionType::kBottleneck;
}

bool SameFindings(const planning::Exception& a, const planning::Exception& b) {
  return a.id == b.id && a.type == b.type && a.severity == b.severity && a.site == b.site &&
         a.item_site == b.item_site && a.work_center == b.work_center &&
         a.first_impact_bucket == b.first_impact_bucket && a.quantity == b.quantity &&
         a.reference_quantity == b.reference_quantity && a.end_demands == b.end_demands &&
         a.best_priority == b.best_priority && a.revenue_at_risk == b.revenue_at_risk &&
         a.margin_at_risk == b.margin_at_risk && a.sales_orders == b.sales_orders &&
         a.customers == b.customers && a.subject == b.subject && a.explanation == b.explanation;
}

}  // namespace

sop::v1::ExceptionType ToProto(planning::ExceptionType type) noexcept {
  using T = planning::ExceptionType;
  switch (type) {
    case T::kForecastDeviation:
      return sop::v1::EXCEPTION_TYPE_FORECAST_DEVIATION;
    case T::kForecastBias:
      return sop::v1::EXCEPTION_TYPE_FORECAST_BIAS;
    case T::kShortage:
      return sop::v1::EXCEPTION_TYPE_PROJECTED_SHORTAGE;
    case T::kBelowSafetyStock:
      return sop::v1::EXCEPTION_TYPE_BELOW_SAFETY_STOCK;
    case T::kPastDueRelease:
      return sop::v1::EXCEPTION_TYPE_PAST_DUE_RELEASE;
    case T::kCapacityOverload:
      return sop::v1::EXCEPTION_TYPE_CAPACITY_OVERLOAD;
    case T::kBottleneck:
      return sop::v1::EXCEPTION_TYPE_BOTTLENECK;
    case T::kSharedComponent:
      return sop::v1::EXCEPTION_TYPE_CONSTRAINED_COMPONENT;
    case T::kOrderAtRisk:
      return sop::v1::EXCEPTION_TYPE_ORDER_AT_RISK;
    case T::kSupplierRisk:
      return sop::v1::EXCEPTION_TYPE_SUPPLIER_RISK;
    case T::kExcessInventory:
      return sop::v1::EXCEPTION_TYPE_EXCESS_INVENTORY;
    case T::kObsoleteInventory:
      return sop::v1::EXCEPTION_TYPE_OBSOLETE_INVENTORY;
    case T::kTimeFenceViolation:
      return sop::v1::EXCEPTION_TYPE_TIME_FENCE_VIOLATION;
    case T::kDataQuality:
      return sop::v1::EXCEPTION_TYPE_DATA_QUALITY;
  }
  return sop::v1::EXCEPTION_TYPE_UNSPECIFIED;
}

sop::v1::Severity ToProto(planning::Severity severity) noexcept {
  switch (severity) {
    case planning::Severity::kInfo:
      return sop::v1::SEVERITY_INFO;
    case planning::Severity::kAmber:
      return sop::v1::SEVERITY_AMBER;
    case planning::Severity::kRed:
      return sop::v1::SEVERITY_RED;
  }
  return sop::v1::SEVERITY_UNSPECIFIED;
}

namespace {

void SetScore(const planning::ScoreComponents& score, sop::v1::PlanningException& out) {
  out.set_score(score.total);
  auto* components = out.mutable_score_components();
  components->set_revenue_at_risk(score.revenue);
  components->set_margin_at_risk(score.margin);
  components->set_customer_priority(score.priority);
  components->set_time_to_impact(score.time);
  components->set_breadth(score.breadth);
  components->set_severity(score.severity);
}

bool ReferencesMoved(const planning::RankingWeights& in_use,
                     const planning::RankingWeights& detected, double tolerance) {
  auto moved = [&](double before, double after) {
    return std::abs(after - before) > tolerance * std::abs(before);
  };
  return moved(in_use.revenue_reference, detected.revenue_reference) ||
         moved(in_use.margin_reference, detected.margin_reference) ||
         moved(in_use.breadth_reference, detected.breadth_reference);
}

}  // namespace

sop::v1::PlanningException ToProto(const planning::Exception& e,
                                   const planning::NettingEngine& engine,
                                   std::size_t max_affected_demands) {
  const model::Snapshot& snapshot = engine.snapshot();
  sop::v1::PlanningException out;
  out.set_exception_id(e.id);
  out.set_type(ToProto(e.type));
  out.set_severity(ToProto(e.severity));
  if (e.site != model::kNoSite && Idx(e.site.value()) < snapshot.sites.size()) {
    out.set_site_id(snapshot.sites[Idx(e.site.value())].id);
  }
  if (e.item_site != model::kNoItemSite && Idx(e.item_site.value()) < snapshot.item_site_count()) {
    const model::ItemSite& is = snapshot.item_sites[Idx(e.item_site.value())];
    out.set_item_id(is.item_id);
    out.set_family(is.family);
    out.set_supplier_id(is.supplier_id);
    if (out.site_id().empty() && Idx(is.site.value()) < snapshot.sites.size()) {
      out.set_site_id(snapshot.sites[Idx(is.site.value())].id);
    }
  }
  if (e.work_center != model::kNoWorkCenter &&
      Idx(e.work_center.value()) < snapshot.work_centers.size()) {
    const model::WorkCenter& wc = snapshot.work_centers[Idx(e.work_center.value())];
    out.set_work_center_id(wc.id);
    if (out.site_id().empty() && wc.site != model::kNoSite) {
      out.set_site_id(snapshot.sites[Idx(wc.site.value())].id);
    }
  }
  if (e.type == planning::ExceptionType::kSupplierRisk) out.set_supplier_id(e.subject);
  out.set_first_impact_bucket(e.first_impact_bucket);
  out.set_quantity(e.quantity);
  out.set_revenue_at_risk(e.revenue_at_risk);
  out.set_margin_at_risk(e.margin_at_risk);
  SetScore(e.score, out);
  out.set_explanation(e.explanation);
  out.set_subject(e.subject);
  for (const std::string& customer : e.customers) out.add_customer_ids(customer);
  out.set_end_demands(e.end_demands);
  out.set_reference_quantity(e.reference_quantity);

  // The touched sales orders, largest revenue first (ties: order id), at most N.
  std::vector<const model::SalesOrder*> orders;
  orders.reserve(e.sales_orders.size());
  for (std::int32_t index : e.sales_orders) {
    if (index >= 0 && Idx(index) < snapshot.sales_orders.size()) {
      orders.push_back(&snapshot.sales_orders[Idx(index)]);
    }
  }
  const auto by_revenue = [](const model::SalesOrder* a, const model::SalesOrder* b) {
    const double ra = a->quantity * a->unit_price;
    const double rb = b->quantity * b->unit_price;
    if (ra != rb) return ra > rb;
    return a->id < b->id;
  };
  const std::size_t kept = std::min(orders.size(), max_affected_demands);
  std::partial_sort(orders.begin(), orders.begin() + static_cast<std::ptrdiff_t>(kept),
                    orders.end(), by_revenue);
  for (std::size_t k = 0; k < kept; ++k) {
    const model::SalesOrder& order = *orders[k];
    auto* peg = out.add_affected_demands();
    peg->set_kind(sop::v1::END_DEMAND_KIND_SALES_ORDER);
    peg->set_order_id(order.id);
    peg->set_customer_id(order.customer_id);
    peg->set_customer_priority(order.priority);
    if (order.item_site != model::kNoItemSite) {
      const model::ItemSite& is = snapshot.item_sites[Idx(order.item_site.value())];
      peg->set_item_id(is.item_id);
      peg->set_site_id(snapshot.sites[Idx(is.site.value())].id);
    }
    peg->set_bucket(order.due_bucket);
    peg->set_quantity(order.quantity);
    peg->set_revenue(order.quantity * order.unit_price);
  }
  return out;
}

std::string Acknowledgement::Encode() const {
  sop::v1::PlanningException record;
  record.set_exception_id(exception_id);
  record.set_acknowledged_by(who);
  record.set_acknowledge_reason(reason);
  record.mutable_acknowledged_at()->set_seconds(at_unix_ms / 1000);
  record.mutable_acknowledged_at()->set_nanos(static_cast<std::int32_t>(at_unix_ms % 1000) *
                                              1'000'000);
  return record.SerializeAsString();
}

Result<Acknowledgement> Acknowledgement::Decode(std::string_view bytes) {
  sop::v1::PlanningException record;
  if (!record.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ||
      record.exception_id().empty() || record.acknowledged_by().empty()) {
    return Fail(Errc::kDataLoss, "acknowledgement record: not an encoded acknowledgement (" +
                                     std::to_string(bytes.size()) + " bytes)");
  }
  Acknowledgement ack;
  ack.exception_id = record.exception_id();
  ack.who = record.acknowledged_by();
  ack.reason = record.acknowledge_reason();
  ack.at_unix_ms =
      record.acknowledged_at().seconds() * 1000 + record.acknowledged_at().nanos() / 1'000'000;
  return ack;
}

ExceptionBook::ExceptionBook(BookOptions options)
    : options_(std::move(options)), weights_(options_.weights), ranker_(weights_) {}

bool ExceptionBook::AdoptReferences(const planning::RankingWeights& detected) {
  if (options_.reference_percentile <= 0.0) return false;
  if (references_set_ && !ReferencesMoved(weights_, detected, options_.reference_tolerance)) {
    return false;
  }
  weights_ = detected;
  references_set_ = true;
  return true;
}

bool ExceptionBook::Store(sop::v1::PlanningException proto) {
  auto [it, inserted] = protos_.try_emplace(proto.exception_id());
  const bool publish = inserted || Changed(it->second, proto);
  it->second = std::move(proto);
  return publish;
}

FullDetection DetectFull(const BookOptions& options, const planning::NettingEngine& engine,
                         const planning::CapacityPlan& capacity,
                         const planning::DetectionHistory& history) {
  FullDetection full;
  const auto detect_start = Clock::now();
  full.exceptions = planning::DetectExceptions(engine, capacity, history, options.detection);
  full.timings.detect_seconds = Since(detect_start);
  const auto rank_start = Clock::now();
  full.weights = options.weights;
  if (options.reference_percentile > 0.0) {
    auto scaled =
        planning::ScaleReferences(full.exceptions, options.weights, options.reference_percentile);
    if (scaled) full.weights = *scaled;  // a percentile outside (0, 1]: the fixed references
  }
  full.protos.reserve(full.exceptions.size());
  for (planning::Exception& e : full.exceptions) {
    planning::Score(e, full.weights);
    full.protos.push_back(ToProto(e, engine, options.max_affected_demands));
  }
  full.timings.rank_seconds = Since(rank_start);
  return full;
}

std::vector<sop::v1::ExceptionDelta> ExceptionBook::Refresh(
    const planning::NettingEngine& engine, const planning::CapacityPlan& capacity,
    const planning::DetectionHistory& history, const sop::v1::Cause& cause) {
  return Merge(DetectFull(options_, engine, capacity, history), &engine, {}, cause);
}

std::vector<sop::v1::ExceptionDelta> ExceptionBook::Merge(
    FullDetection full, const planning::NettingEngine* engine,
    std::span<const model::ItemSiteIndex> redetect, const sop::v1::Cause& cause,
    planning::MaterialRedetector* redetector) {
  timings_ = full.timings;
  const auto merge_start = Clock::now();
  // The references in use: the detection's own when they are the first or moved beyond the
  // tolerance (everything is re-scored, so every exception is published again), else the book's
  // (the detection's exceptions are re-scored with them: a few multiplications each).
  AdoptReferences(full.weights);
  if (!SameReferences(weights_, full.weights)) {
    for (std::size_t i = 0; i < full.exceptions.size(); ++i) {
      planning::Score(full.exceptions[i], weights_);
      SetScore(full.exceptions[i].score, full.protos[i]);
    }
  }
  // The re-detected item-sites' material exceptions come from the current plan.
  std::vector<std::string> in_scope;
  std::vector<planning::Exception> fresh;
  const bool follow = options_.follow_orders_at_risk && redetector != nullptr && engine != nullptr;
  if (follow) redetector->FollowOrdersAtRisk();  // no-op when it already follows them
  const bool follow_capacity =
      options_.follow_capacity && redetector != nullptr && engine != nullptr;
  if (follow_capacity) redetector->FollowCapacity();  // no-op when it already follows it
  if (!redetect.empty() && engine != nullptr) {
    fresh = redetector != nullptr ? redetector->Redetect(redetect, &in_scope)
                                  : planning::DetectItemSiteExceptions(
                                        *engine, redetect, options_.detection, &in_scope);
  }
  std::unordered_set<std::string> overridden(in_scope.begin(), in_scope.end());
  for (const planning::Exception& e : fresh) overridden.insert(e.id);
  // Following orders at risk: the redetector's are the current plan's, the full result's are
  // of the plan it copied. Where both agree the full result's (scored, converted) one is kept.
  std::vector<planning::Exception> orders;
  std::unordered_map<std::string, std::size_t> order_of;  // id → index in `orders`
  std::vector<char> order_kept;
  if (follow) {
    redetector->TakeOrdersAtRisk(nullptr);  // all of them are merged now
    orders = redetector->OrdersAtRisk();
  }
  // Following capacity: the same for CAPACITY_OVERLOAD and BOTTLENECK.
  if (follow_capacity) {
    redetector->TakeCapacity(nullptr);
    for (planning::Exception& e : redetector->CapacityExceptions()) orders.push_back(std::move(e));
  }
  order_kept.assign(orders.size(), 0);
  order_of.reserve(orders.size());
  for (std::size_t k = 0; k < orders.size(); ++k) order_of.emplace(orders[k].id, k);
  const auto followed = [&](planning::ExceptionType type) {
    return (follow && type == planning::ExceptionType::kOrderAtRisk) ||
           (follow_capacity && IsCapacity(type));
  };

  std::vector<planning::Exception> detected;
  detected.reserve(full.exceptions.size() + fresh.size());
  std::vector<sop::v1::PlanningException> protos;
  protos.reserve(full.exceptions.size() + fresh.size());
  for (std::size_t i = 0; i < full.exceptions.size(); ++i) {
    if (overridden.contains(full.exceptions[i].id)) continue;
    if (followed(full.exceptions[i].type)) {
      auto it = order_of.find(full.exceptions[i].id);
      if (it == order_of.end()) continue;                                   // no longer at risk
      if (!SameFindings(full.exceptions[i], orders[it->second])) continue;  // taken below
      order_kept[it->second] = 1;
    }
    detected.push_back(std::move(full.exceptions[i]));
    protos.push_back(std::move(full.protos[i]));
  }
  for (std::size_t k = 0; k < orders.size(); ++k) {
    if (!order_kept[k]) fresh.push_back(std::move(orders[k]));
  }
  for (planning::Exception& e : fresh) {
    planning::Score(e, weights_);
    protos.push_back(ToProto(e, *engine, options_.max_affected_demands));
    detected.push_back(std::move(e));
  }

  std::unordered_map<std::string, sop::v1::PlanningException> previous = std::move(protos_);
  protos_.clear();
  protos_.reserve(detected.size());
  std::vector<std::string> upserted;
  for (sop::v1::PlanningException& proto : protos) {
    auto before = previous.find(proto.exception_id());
    if (before == previous.end() || Changed(before->second, proto)) {
      upserted.push_back(proto.exception_id());
    }
    if (before != previous.end()) previous.erase(before);
    std::string id = proto.exception_id();
    protos_.emplace(std::move(id), std::move(proto));
  }
  std::vector<sop::v1::PlanningException> removed;
  removed.reserve(previous.size());
  for (auto& [id, proto] : previous) removed.push_back(std::move(proto));
  if (!SameReferences(ranker_.weights(), weights_)) ranker_ = planning::Ranker(weights_);
  ranker_.Reset(std::move(detected));
  timings_.rank_seconds += Since(merge_start);
  return MakeDeltas(upserted, std::move(removed), cause);
}

std::vector<sop::v1::ExceptionDelta> ExceptionBook::Update(
    const planning::NettingEngine& engine, std::span<const model::ItemSiteIndex> item_sites,
    const sop::v1::Cause& cause, planning::MaterialRedetector* redetector) {
  const auto detect_start = Clock::now();
  const bool follow = options_.follow_orders_at_risk && redetector != nullptr;
  // A redetector that starts following now (the first change after it was made) follows the
  // plan with this change: every order at risk of the book is reconciled with it once.
  const bool reconcile = follow && !redetector->follows_orders_at_risk();
  if (reconcile) redetector->FollowOrdersAtRisk();
  // The same for capacity: a redetector that starts following it reconciles the book's
  // CAPACITY_OVERLOAD and BOTTLENECK exceptions with the plan once.
  const bool follow_capacity = options_.follow_capacity && redetector != nullptr;
  const bool reconcile_capacity = follow_capacity && !redetector->follows_capacity();
  if (reconcile_capacity) redetector->FollowCapacity();
  std::vector<std::string> in_scope;
  std::vector<planning::Exception> detected =
      redetector != nullptr
          ? redetector->Redetect(item_sites, &in_scope)
          : planning::DetectItemSiteExceptions(engine, item_sites, options_.detection, &in_scope);
  if (follow) {
    std::vector<planning::Exception> orders;
    if (reconcile) {
      redetector->TakeOrdersAtRisk(nullptr);
      orders = redetector->OrdersAtRisk();
      for (const auto& [id, proto] : protos_) {
        if (proto.type() == sop::v1::EXCEPTION_TYPE_ORDER_AT_RISK) in_scope.push_back(id);
      }
    } else {
      orders = redetector->TakeOrdersAtRisk(&in_scope);
    }
    detected.reserve(detected.size() + orders.size());
    for (planning::Exception& e : orders) detected.push_back(std::move(e));
  }
  if (follow_capacity) {
    std::vector<planning::Exception> capacity;
    if (reconcile_capacity) {
      redetector->TakeCapacity(nullptr);
      capacity = redetector->CapacityExceptions();
      for (const auto& [id, proto] : protos_) {
        if (proto.type() == sop::v1::EXCEPTION_TYPE_CAPACITY_OVERLOAD ||
            proto.type() == sop::v1::EXCEPTION_TYPE_BOTTLENECK) {
          in_scope.push_back(id);
        }
      }
    } else {
      capacity = redetector->TakeCapacity(&in_scope);
    }
    detected.reserve(detected.size() + capacity.size());
    for (planning::Exception& e : capacity) detected.push_back(std::move(e));
  }
  timings_.detect_seconds = Since(detect_start);

  const auto rank_start = Clock::now();
  std::set<std::string> found;
  std::vector<std::string> upserted;
  for (planning::Exception& e : detected) {
    planning::Score(e, weights_);
    found.insert(e.id);
    // An order at risk rebuilt as it was (same finding, same score): nothing to convert, store
    // or re-rank (its proto depends only on these fields and the order itself).
    if (e.type == planning::ExceptionType::kOrderAtRisk || IsCapacity(e.type)) {
      const planning::Exception* known = ranker_.Find(e.id);
      if (known != nullptr && known->score.total == e.score.total && SameFindings(*known, e)) {
        continue;
      }
    }
    if (Store(ToProto(e, engine, options_.max_affected_demands))) upserted.push_back(e.id);
    ranker_.Upsert(std::move(e));
  }
  std::vector<sop::v1::PlanningException> removed;
  for (const std::string& id : in_scope) {
    if (found.contains(id)) continue;
    auto it = protos_.find(id);
    if (it == protos_.end()) continue;
    removed.push_back(std::move(it->second));
    protos_.erase(it);
    ranker_.Remove(id);
  }
  timings_.rank_seconds = Since(rank_start);
  return MakeDeltas(upserted, std::move(removed), cause);
}

std::vector<sop::v1::ExceptionDelta> ExceptionBook::Clear(const sop::v1::Cause& cause) {
  std::vector<sop::v1::PlanningException> removed;
  removed.reserve(protos_.size());
  for (auto& [id, proto] : protos_) removed.push_back(std::move(proto));
  protos_.clear();
  ranker_.Reset({});
  references_set_ = false;  // the next plan's first full detection sets them again
  return MakeDeltas({}, std::move(removed), cause);
}

void ExceptionBook::Decorate(sop::v1::PlanningException& proto) const {
  auto ack = acks_.find(proto.exception_id());
  if (ack == acks_.end()) return;
  proto.set_acknowledged_by(ack->second.who);
  proto.set_acknowledge_reason(ack->second.reason);
  proto.mutable_acknowledged_at()->set_seconds(ack->second.at_unix_ms / 1000);
  proto.mutable_acknowledged_at()->set_nanos(
      static_cast<std::int32_t>(ack->second.at_unix_ms % 1000) * 1'000'000);
}

std::vector<sop::v1::ExceptionDelta> ExceptionBook::MakeDeltas(
    const std::vector<std::string>& upserted, std::vector<sop::v1::PlanningException> removed,
    const sop::v1::Cause& cause) const {
  // Per site: upserts in rank order (with their current rank), then the resolved ids sorted.
  std::map<std::string, std::vector<sop::v1::PlanningException>> upserts;
  if (!upserted.empty()) {
    const std::set<std::string> wanted(upserted.begin(), upserted.end());
    std::int32_t rank = 0;
    for (const planning::Exception* e : ranker_.Top(ranker_.size())) {
      ++rank;
      if (!wanted.contains(e->id)) continue;
      sop::v1::PlanningException proto = protos_.at(e->id);
      proto.set_rank(rank);
      Decorate(proto);
      upserts[proto.site_id()].push_back(std::move(proto));
    }
  }
  std::map<std::string, std::vector<std::string>> resolved;
  for (auto& proto : removed) resolved[proto.site_id()].push_back(proto.exception_id());

  std::set<std::string> sites;
  for (const auto& [site, list] : upserts) sites.insert(site);
  for (const auto& [site, list] : resolved) sites.insert(site);
  std::vector<sop::v1::ExceptionDelta> deltas;
  const std::size_t chunk = std::max<std::size_t>(1, options_.max_upserts_per_delta);
  for (const std::string& site : sites) {
    auto& site_upserts = upserts[site];
    auto& site_resolved = resolved[site];
    std::sort(site_resolved.begin(), site_resolved.end());
    std::size_t next = 0;
    do {
      sop::v1::ExceptionDelta delta;
      delta.set_site_id(site);
      *delta.mutable_cause() = cause;
      const std::size_t end = std::min(site_upserts.size(), next + chunk);
      for (; next < end; ++next) *delta.add_upserts() = std::move(site_upserts[next]);
      if (next >= site_upserts.size()) {
        for (auto& id : site_resolved) delta.add_resolved_ids(std::move(id));
        site_resolved.clear();
      }
      deltas.push_back(std::move(delta));
    } while (next < site_upserts.size());
  }
  return deltas;
}

Result<sop::v1::ListExceptionsResponse> ExceptionBook::List(
    const sop::v1::ListExceptionsRequest& request) const {
  if (request.top() < 0) {
    return InvalidField("top", "must be >= 0 (0 = no limit)", std::to_string(request.top()));
  }
  if (request.page_size() < 0 || request.page_size() > options_.max_page_size) {
    return InvalidField("page_size",
                        "must be in [0, " + std::to_string(options_.max_page_size) +
                            "] (0 = default " + std::to_string(options_.default_page_size) + ")",
                        std::to_string(request.page_size()));
  }
  if (!sop::v1::Severity_IsValid(request.min_severity())) {
    return InvalidField("min_severity", "must be a known severity",
                        std::to_string(request.min_severity()));
  }
  std::set<int> types;
  for (int k = 0; k < request.types_size(); ++k) {
    const int type = request.types(k);
    if (type == sop::v1::EXCEPTION_TYPE_UNSPECIFIED || !sop::v1::ExceptionType_IsValid(type)) {
      return InvalidField("types[" + std::to_string(k) + "]", "must be a known exception type",
                          sop::v1::ExceptionType_IsValid(type) ? sop::v1::ExceptionType_Name(type)
                                                               : std::to_string(type));
    }
    types.insert(type);
  }
  double after_score = 0.0;
  std::string after_id;
  const bool has_cursor = !request.page_token().empty();
  if (has_cursor && !ParseToken(request.page_token(), after_score, after_id)) {
    return InvalidField("page_token", "not a page token of ListExceptions", request.page_token());
  }
  std::int32_t page_size = request.page_size();
  if (page_size == 0) {
    page_size = request.top() > 0 ? std::min(request.top(), options_.max_page_size)
                                  : options_.default_page_size;
  }

  sop::v1::ListExceptionsResponse response;
  std::int64_t matched = 0;  // exceptions passing the filters, in rank order
  std::int32_t rank = 0;
  const planning::Exception* last = nullptr;
  bool more = false;
  for (const planning::Exception* e : ranker_.Top(ranker_.size())) {
    ++rank;
    const sop::v1::PlanningException& proto = protos_.at(e->id);
    if (!request.site_id().empty() && proto.site_id() != request.site_id()) continue;
    if (!request.family().empty() && proto.family() != request.family()) continue;
    if (!types.empty() && !types.contains(proto.type())) continue;
    if (proto.severity() < request.min_severity()) continue;
    if (!request.include_acknowledged() && acks_.contains(e->id)) continue;
    ++matched;
    if (request.top() > 0 && matched > request.top()) continue;  // still counted in total
    if (has_cursor && !Before(after_score, after_id, e->score.total, e->id)) continue;
    if (response.exceptions_size() >= page_size) {
      more = true;
      continue;
    }
    sop::v1::PlanningException* out = response.add_exceptions();
    *out = proto;
    out->set_rank(rank);
    Decorate(*out);
    last = e;
  }
  response.set_total(matched);
  sop::v1::ScoreReferences& references = *response.mutable_references();
  references.set_revenue_reference(weights_.revenue_reference);
  references.set_margin_reference(weights_.margin_reference);
  references.set_breadth_reference(weights_.breadth_reference);
  references.set_percentile(references_set_ ? options_.reference_percentile : 0.0);
  if (more && last != nullptr) response.set_next_page_token(MakeToken(last->score.total, last->id));
  return response;
}

Result<Acknowledgement> ExceptionBook::PrepareAcknowledge(
    const sop::v1::AcknowledgeRequest& request, std::int64_t now_unix_ms) const {
  if (request.exception_id().empty()) {
    return InvalidField("exception_id", "must not be empty", request.exception_id());
  }
  if (request.who().empty()) {
    return InvalidField("who", "must name the person acknowledging", request.who());
  }
  if (!protos_.contains(request.exception_id())) {
    return Fail(Errc::kNotFound,
                "exception '" + request.exception_id() + "' is not open on this replica");
  }
  Acknowledgement ack;
  ack.exception_id = request.exception_id();
  ack.who = request.who();
  ack.reason = request.reason();
  ack.at_unix_ms = now_unix_ms;
  return ack;
}

void ExceptionBook::Acknowledge(const Acknowledgement& acknowledgement) {
  acks_[acknowledgement.exception_id] = acknowledgement;
}

Result<sop::v1::PlanningException> ExceptionBook::Get(std::string_view exception_id) const {
  const std::string id(exception_id);
  auto it = protos_.find(id);
  if (it == protos_.end()) {
    return Fail(Errc::kNotFound, "exception '" + id + "' is not open on this replica");
  }
  sop::v1::PlanningException out = it->second;
  out.set_rank(static_cast<std::int32_t>(ranker_.RankOf(id) + 1));
  Decorate(out);
  return out;
}

OpenCounts ExceptionBook::Counts() const {
  OpenCounts counts;
  for (const auto& [id, proto] : protos_) {
    ++counts[{proto.type(), proto.severity(), proto.site_id()}];
  }
  return counts;
}

}  // namespace sop::exceptions
