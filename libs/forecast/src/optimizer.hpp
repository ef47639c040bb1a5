#pragma once
// Bounded Nelder–Mead minimiser for the few smoothing parameters of one model. Fixed-size
// arrays: no allocation per iteration, so it can run millions of times per batch.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>

namespace sop::forecast::detail {

/// Maps an unconstrained value to (lo, hi) with a logistic curve, so that the simplex search
/// never leaves the bounds and needs no penalty.
inline double ToBounded(double u, double lo, double hi) {
  return lo + (hi - lo) / (1.0 + std::exp(-u));
}

/// Inverse of ToBounded for a starting value strictly inside (lo, hi).
inline double FromBounded(double x, double lo, double hi) {
  const double p = std::clamp((x - lo) / (hi - lo), 1e-6, 1.0 - 1e-6);
  return std::log(p / (1.0 - p));
}

/// Minimises f over R^D from `start` with initial step `step`; stops after `max_evaluations`
/// or when the simplex's function values differ by less than `tolerance` (relative).
template <std::size_t D, class F>
std::array<double, D> NelderMead(F&& f, std::array<double, D> start, double step,
                                 int max_evaluations, double tolerance) {
  constexpr std::size_t kPoints = D + 1;
  std::array<std::array<double, D>, kPoints> simplex{};
  std::array<double, kPoints> value{};
  simplex[0] = start;
  for (std::size_t i = 0; i < D; ++i) {
    simplex[i + 1] = start;
    simplex[i + 1][i] += step;
  }
  int evaluations = 0;
  for (std::size_t i = 0; i < kPoints; ++i) {
    value[i] = f(simplex[i]);
    ++evaluations;
  }
  std::array<std::size_t, kPoints> order{};
  while (evaluations < max_evaluations) {
    for (std::size_t i = 0; i < kPoints; ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return value[a] < value[b]; });
    const std::size_t best = order[0];
    const std::size_t worst = order[D];
    const std::size_t second_worst = order[D > 0 ? D - 1 : 0];
    if (std::abs(value[worst] - value[best]) <=
        tolerance * (std::abs(value[best]) + 1e-300)) {
      break;
    }
    std::array<double, D> centroid{};
    for (std::size_t i = 0; i < kPoints; ++i) {
      if (i == worst) continue;
      for (std::size_t d = 0; d < D; ++d) centroid[d] += simplex[i][d] / static_cast<double>(D);
    }
    auto along = [&](double t) {
      std::array<double, D> point{};
      for (std::size_t d = 0; d < D; ++d) {
        point[d] = centroid[d] + t * (simplex[worst][d] - centroid[d]);
      }
      return point;
    };
    const auto reflected = along(-1.0);
    const double reflected_value = f(reflected);
    ++evaluations;
    if (reflected_value < value[best]) {
      const auto expanded = along(-2.0);
      const double expanded_value = f(expanded);
      ++evaluations;
      if (expanded_value < reflected_value) {
        simplex[worst] = expanded;
        value[worst] = expanded_value;
      } else {
        simplex[worst] = reflected;
        value[worst] = reflected_value;
      }
      continue;
    }
    if (reflected_value < value[second_worst]) {
      simplex[worst] = reflected;
      value[worst] = reflected_value;
      continue;
    }
    const bool outside = reflected_value < value[worst];
    const auto contracted = along(outside ? -0.5 : 0.5);
    const double contracted_value = f(contracted);
    ++evaluations;
    if (contracted_value < std::min(reflected_value, value[worst])) {
      simplex[worst] = contracted;
      value[worst] = contracted_value;
      continue;
    }
    // Shrink towards the best point.
    for (std::size_t i = 0; i < kPoints; ++i) {
      if (i == best) continue;
      for (std::size_t d = 0; d < D; ++d) {
        simplex[i][d] = simplex[best][d] + 0.5 * (simplex[i][d] - simplex[best][d]);
      }
      value[i] = f(simplex[i]);
      ++evaluations;
    }
  }
  std::size_t best = 0;
  for (std::size_t i = 1; i < kPoints; ++i) {
    if (value[i] < value[best]) best = i;
  }
  return simplex[best];
}

}  // namespace sop::forecast::detail
