#pragma once
// Seeded random streams for the generator. Our own splitmix64 rather than <random>'s
// distributions: the standard leaves the distribution algorithms to the implementation, and the
// generator promises byte-identical output for a seed on any toolchain.

#include <cmath>
#include <cstdint>
#include <string_view>

namespace sop::gen::detail {

inline std::uint64_t SplitMix(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// FNV-1a of a purpose tag, so streams are named rather than numbered.
constexpr std::uint64_t TagHash(std::string_view tag) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : tag) {
    h ^= static_cast<std::uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

/// One independent random stream. Not thread-safe; cheap to copy.
class Rng {
 public:
  /// The stream for (seed, purpose, index): e.g. the history of item-site 17 under seed 42.
  Rng(std::uint64_t seed, std::string_view purpose, std::uint64_t index = 0)
      : state_(SplitMix(SplitMix(seed ^ TagHash(purpose)) + index)) {}

  std::uint64_t Next() noexcept {
    state_ += 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, 1).
  double Uniform() noexcept { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  double Uniform(double lo, double hi) noexcept { return lo + (hi - lo) * Uniform(); }
  /// Uniform integer in [lo, hi] (hi ≥ lo).
  int Int(int lo, int hi) noexcept {
    const auto span = static_cast<std::uint64_t>(static_cast<std::int64_t>(hi) - lo + 1);
    return lo + static_cast<int>(Next() % span);
  }
  bool Chance(double p) noexcept { return Uniform() < p; }
  /// Standard normal (Box–Muller, one value per call: simplicity over speed).
  double Normal() noexcept {
    const double u1 = 1.0 - Uniform();  // (0, 1]: log is finite
    const double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  /// Poisson count; Knuth's product method for small means, a rounded normal above 30.
  int Poisson(double mean) noexcept {
    if (mean <= 0.0) return 0;
    if (mean > 30.0) {
      const double x = std::round(mean + std::sqrt(mean) * Normal());
      return x < 0.0 ? 0 : static_cast<int>(x);
    }
    const double limit = std::exp(-mean);
    double product = Uniform();
    int count = 0;
    while (product > limit) {
      ++count;
      product *= Uniform();
    }
    return count;
  }

 private:
  std::uint64_t state_;
};

}  // namespace sop::gen::detail
