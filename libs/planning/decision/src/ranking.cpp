#include "sop/planning/ranking.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

namespace sop::planning {

namespace {

double Saturate(double x, double reference) {
  return x <= 0.0 ? 0.0 : x / (x + reference);
}

}  // namespace

Status Validate(const RankingWeights& w) {
  for (double v : {w.revenue, w.margin, w.priority, w.time, w.breadth, w.severity}) {
    if (!std::isfinite(v) || v < 0.0)
      return Fail(Errc::kInvalidArgument, "ranking weights: must be finite and >= 0");
  }
  for (double v : {w.revenue_reference, w.margin_reference, w.breadth_reference}) {
    if (!std::isfinite(v) || v <= 0.0)
      return Fail(Errc::kInvalidArgument, "ranking references: must be > 0");
  }
  if (w.lowest_priority < 1)
    return Fail(Errc::kInvalidArgument, "ranking lowest_priority: must be >= 1");
  if (w.time_horizon < 1) return Fail(Errc::kInvalidArgument, "ranking time_horizon: must be >= 1");
  return {};
}

Result<RankingWeights> ScaleReferences(std::span<const Exception> exceptions,
                                       RankingWeights weights, double percentile) {
  if (!(percentile > 0.0 && percentile <= 1.0)) {
    return Fail(Errc::kInvalidArgument, "ranking reference percentile: must be in (0, 1], got " +
                                            std::to_string(percentile));
  }
  auto nearest_rank = [&](auto value_of, double& reference) {
    std::vector<double> values;
    values.reserve(exceptions.size());
    for (const auto& e : exceptions) {
      const double v = value_of(e);
      if (v > 0.0 && std::isfinite(v)) values.push_back(v);
    }
    if (values.empty()) return;
    const auto rank =
        static_cast<std::size_t>(std::ceil(percentile * static_cast<double>(values.size())));
    const auto k = std::min(values.size() - 1, rank == 0 ? 0 : rank - 1);
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
    reference = values[k];
  };
  nearest_rank([](const Exception& e) { return e.revenue_at_risk; }, weights.revenue_reference);
  nearest_rank([](const Exception& e) { return e.margin_at_risk; }, weights.margin_reference);
  nearest_rank([](const Exception& e) { return static_cast<double>(e.end_demands); },
               weights.breadth_reference);
  return weights;
}

void Score(Exception& e, const RankingWeights& w) {
  auto& s = e.score;
  s.revenue = Saturate(e.revenue_at_risk, w.revenue_reference);
  s.margin = Saturate(e.margin_at_risk, w.margin_reference);
  // Priority 1 scores 1, priority `lowest_priority` scores 1/lowest, worse or unset 0.
  s.priority = e.best_priority >= 1 && e.best_priority <= w.lowest_priority
                   ? static_cast<double>(w.lowest_priority - e.best_priority + 1) /
                         static_cast<double>(w.lowest_priority)
                   : 0.0;
  // Sooner is worse: bucket 0 scores 1, time_horizon and later 0; no bucket scores 0.
  s.time = e.first_impact_bucket < 0
               ? 0.0
               : std::max(0.0, 1.0 - static_cast<double>(e.first_impact_bucket) /
                                         static_cast<double>(w.time_horizon));
  s.breadth = Saturate(static_cast<double>(e.end_demands), w.breadth_reference);
  s.severity = e.severity == Severity::kRed ? 1.0 : e.severity == Severity::kAmber ? 0.5 : 0.0;
  s.total = w.revenue * s.revenue + w.margin * s.margin + w.priority * s.priority +
            w.time * s.time + w.breadth * s.breadth + w.severity * s.severity;
}

void RankAll(std::vector<Exception>& exceptions, const RankingWeights& weights) {
  for (auto& e : exceptions) Score(e, weights);
  // Sort positions, then move each exception once: an Exception is a few hundred bytes, which
  // swapping inside the sort would move O(n log n) times.
  std::vector<std::uint32_t> order(exceptions.size());
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = static_cast<std::uint32_t>(k);
  std::sort(order.begin(), order.end(), [&](std::uint32_t x, std::uint32_t y) {
    const auto& a = exceptions[x];
    const auto& b = exceptions[y];
    if (a.score.total != b.score.total) return a.score.total > b.score.total;
    return a.id < b.id;
  });
  std::vector<Exception> sorted;
  sorted.reserve(exceptions.size());
  for (auto k : order) sorted.push_back(std::move(exceptions[k]));
  exceptions.swap(sorted);
}

Ranker::Ranker(const Ranker& other) : weights_(other.weights_), by_id_(other.by_id_) {
  RebuildOrder();
}

Ranker& Ranker::operator=(const Ranker& other) {
  if (this != &other) {
    weights_ = other.weights_;
    order_.clear();
    by_id_ = other.by_id_;
    RebuildOrder();
  }
  return *this;
}

void Ranker::RebuildOrder() {
  order_.clear();
  // Sorted keys inserted with an end hint: linear instead of n log n tree descents.
  std::vector<Key> keys;
  keys.reserve(by_id_.size());
  for (const auto& entry : by_id_) keys.push_back(Key{-entry.second.score.total, &entry});
  std::sort(keys.begin(), keys.end(), KeyLess{});
  for (const auto& key : keys) order_.emplace_hint(order_.end(), key);
}

void Ranker::Reset(std::vector<Exception> exceptions) {
  order_.clear();
  by_id_.clear();
  by_id_.reserve(exceptions.size());
  std::vector<Key> keys;
  keys.reserve(exceptions.size());
  for (auto& e : exceptions) {
    Score(e, weights_);
    const double negative_total = -e.score.total;
    std::string id = e.id;
    auto [it, inserted] =
        by_id_.insert_or_assign(std::move(id), std::move(e));  // a duplicate keeps its last value
    if (inserted) keys.push_back(Key{negative_total, &*it});
  }
  if (keys.size() != by_id_.size()) {
    RebuildOrder();
    return;
  }
  // A duplicate id changed a score after its key was taken: rebuild from the map.
  for (const auto& key : keys) {
    if (key.negative_total != -key.entry->second.score.total) {
      RebuildOrder();
      return;
    }
  }
  std::sort(keys.begin(), keys.end(), KeyLess{});
  for (const auto& key : keys) order_.emplace_hint(order_.end(), key);
}

void Ranker::Upsert(Exception exception) {
  Score(exception, weights_);
  auto it = by_id_.find(exception.id);
  if (it != by_id_.end()) {
    order_.erase(Key{-it->second.score.total, &*it});
    it->second = std::move(exception);
    order_.insert(Key{-it->second.score.total, &*it});
    return;
  }
  std::string id = exception.id;
  auto inserted = by_id_.emplace(std::move(id), std::move(exception)).first;
  order_.insert(Key{-inserted->second.score.total, &*inserted});
}

bool Ranker::Remove(const std::string& id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return false;
  order_.erase(Key{-it->second.score.total, &*it});
  by_id_.erase(it);
  return true;
}

std::ptrdiff_t Ranker::RankOf(const std::string& id) const {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return -1;
  return std::distance(order_.begin(), order_.find(Key{-it->second.score.total, &*it}));
}

const Exception* Ranker::Find(const std::string& id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

std::vector<const Exception*> Ranker::Top(std::size_t n) const {
  std::vector<const Exception*> out;
  out.reserve(std::min(n, order_.size()));
  for (auto it = order_.begin(); it != order_.end() && out.size() < n; ++it)
    out.push_back(&it->entry->second);
  return out;
}

}  // namespace sop::planning
