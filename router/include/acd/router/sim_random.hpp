// The simulators' random numbers: one generator and the samplers acd-sim draws from, shared by
// the single-run simulator and acd-sim's planning mode so both draw the same way.
#pragma once

#include <cmath>
#include <cstdint>

#include "acd/router/simulator.hpp"
#include "acd/router/types.hpp"

namespace acd::router::sim {

// xoshiro256** seeded by splitmix64, with samplers of our own: the standard library's
// distributions are not specified bit for bit, so the same seed would not give the same run on
// every platform.
class Random {
 public:
  explicit Random(std::uint64_t seed) {
    for (auto& word : s_) {
      seed += 0x9e3779b97f4a7c15ull;
      std::uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      word = z ^ (z >> 31);
    }
  }
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double exponential(double mean) { return -mean * std::log1p(-uniform()); }
  double normal() {
    const double u1 = 1.0 - uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }
  // Gamma(shape, 1) by Marsaglia and Tsang's squeeze; shape < 1 through shape + 1 and a power of
  // a uniform.
  double gamma(double shape) {
    if (shape < 1) {
      return gamma(shape + 1) * std::pow(1.0 - uniform(), 1.0 / shape);
    }
    const double d = shape - 1.0 / 3.0;
    const double c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
      const double x = normal();
      double v = 1 + c * x;
      if (v <= 0) {
        continue;
      }
      v = v * v * v;
      const double u = 1.0 - uniform();
      if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) {
        return d * v;
      }
    }
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4]{};
};

inline Micros to_micros(double seconds) {
  return static_cast<Micros>(std::llround(seconds * 1e6));
}

// A call's handle time in seconds, drawn from the stream's distribution around a mean of aht_s
// (the stream's own, or its period's in planning mode).
inline double draw_handle_time(Random& random, const CallStream& stream, double aht_s) {
  switch (stream.handle_dist) {
    case HandleDist::Exponential:
      return random.exponential(aht_s);
    case HandleDist::Constant:
      return aht_s;
    case HandleDist::Lognormal: {
      const double sigma2 = std::log1p(stream.handle_cv * stream.handle_cv);
      const double mu = std::log(aht_s) - sigma2 / 2;
      return std::exp(mu + std::sqrt(sigma2) * random.normal());
    }
  }
  return aht_s;
}

}  // namespace acd::router::sim
