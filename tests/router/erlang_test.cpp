#include "acd/router/erlang.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace {

using acd::router::erlang::erlang_a_metrics;
using acd::router::erlang::erlang_b;
using acd::router::erlang::erlang_c;
using acd::router::erlang::erlang_c_metrics;
using acd::router::erlang::ErlangAResult;
using acd::router::erlang::ErlangCResult;

constexpr double kInf = std::numeric_limits<double>::infinity();

// ---------------------------------------------------------------------------
// Independent reference implementations (deliberately different methods).
// ---------------------------------------------------------------------------

// Erlang B from the defining ratio a^N/N! / sum_k a^k/k!, in long double.
double brute_erlang_b(int n, double a) {
  long double term = 1.0L;
  long double sum = 1.0L;
  for (int k = 1; k <= n; ++k) {
    term *= static_cast<long double>(a) / k;
    sum += term;
  }
  return static_cast<double>(term / sum);
}

// Erlang C from its defining formula (a^N/N! * N/(N-a)) / (sum_{k<N} a^k/k! + same).
double brute_erlang_c(int n, double a) {
  long double term = 1.0L;
  long double sum = 0.0L;
  for (int k = 0; k < n; ++k) {
    sum += term;
    term *= static_cast<long double>(a) / (k + 1);
  }
  const long double top = term * n / (n - static_cast<long double>(a));
  return static_cast<double>(top / (sum + top));
}

// Stationary distribution of the M/M/N+M chain built forward from state 0 with
// plain long-double products, truncated at N + queue_states.
struct BruteChain {
  long double c = 0.0L;            // N * mu
  long double theta = 0.0L;        // 1 / patience
  long double p_low = 0.0L;        // P(n < N)
  std::vector<long double> queue;  // queue[j] = pi_{N+j}
};

BruteChain brute_chain(int n_agents, double lambda, double aht, double patience, int queue_states) {
  BruteChain ch;
  const long double lam = lambda;
  const long double mu = 1.0L / aht;
  ch.c = n_agents * mu;
  ch.theta = 1.0L / patience;
  std::vector<long double> w(static_cast<std::size_t>(n_agents + queue_states + 1));
  w[0] = 1.0L;
  for (int n = 1; n < static_cast<int>(w.size()); ++n) {
    const long double death = std::min(n, n_agents) * mu + std::max(n - n_agents, 0) * ch.theta;
    w[static_cast<std::size_t>(n)] = w[static_cast<std::size_t>(n - 1)] * lam / death;
  }
  long double z = 0.0L;
  for (long double x : w) {
    z += x;
  }
  for (int n = 0; n < n_agents; ++n) {
    ch.p_low += w[static_cast<std::size_t>(n)] / z;
  }
  for (std::size_t n = static_cast<std::size_t>(n_agents); n < w.size(); ++n) {
    ch.queue.push_back(w[n] / z);
  }
  return ch;
}

struct BruteA {
  double p_wait;
  double p_abandon;
  double asa_s;
  double mean_queue_length;
};

// Per-customer view: a tagged arrival with j calls ahead goes through stages
// i = j..0 with exit rate r_i = c + i*theta and own abandonment theta. P(served)
// and E[W; served] are built stage by stage in O(j^2) (no closed forms).
BruteA brute_erlang_a(const BruteChain& ch) {
  long double p_wait = 0.0L;
  long double served = ch.p_low;
  long double wait_served = 0.0L;
  long double lq = 0.0L;
  for (std::size_t j = 0; j < ch.queue.size(); ++j) {
    long double surv = 1.0L;
    long double mean_w = 0.0L;
    for (std::size_t i = 0; i <= j; ++i) {
      const long double r = ch.c + static_cast<long double>(i) * ch.theta;
      surv *= r / (r + ch.theta);
      mean_w += 1.0L / (r + ch.theta);
    }
    p_wait += ch.queue[j];
    served += ch.queue[j] * surv;
    wait_served += ch.queue[j] * surv * mean_w;
    lq += static_cast<long double>(j) * ch.queue[j];
  }
  return BruteA{static_cast<double>(p_wait), static_cast<double>(1.0L - served),
                static_cast<double>(wait_served / served), static_cast<double>(lq)};
}

// Service level by uniformisation of the tagged-call phase chain (positions
// j = queue.size()-1 .. 0, absorbing "served" and "abandoned"), started from
// the stationary queue distribution. Truncation error of the Poisson sum < 1e-14.
double uniformised_service_level(const BruteChain& ch, double t) {
  const std::size_t m = ch.queue.size();
  const long double big_lambda = ch.c + static_cast<long double>(m) * ch.theta;
  const long double lt = big_lambda * t;
  std::vector<long double> v(ch.queue.begin(), ch.queue.end());
  std::vector<long double> next(m);
  long double served = 0.0L;       // absorbed in "served" after k steps
  long double pk = std::exp(-lt);  // Poisson(k; lt)
  long double cdf = pk;
  long double result = pk * served;
  const int k_max = static_cast<int>(lt + 12.0L * std::sqrt(lt) + 60.0L);
  for (int k = 1; k <= k_max; ++k) {
    for (std::size_t j = 0; j < m; ++j) {
      const long double r = ch.c + static_cast<long double>(j) * ch.theta;
      const long double stay = 1.0L - (r + ch.theta) / big_lambda;
      next[j] =
          v[j] * stay + (j + 1 < m ? v[j + 1] * (ch.c + (j + 1) * ch.theta) / big_lambda : 0.0L);
    }
    served += v[0] * ch.c / big_lambda;
    v.swap(next);
    pk *= lt / k;
    cdf += pk;
    result += pk * served;
  }
  EXPECT_GT(cdf, 1.0L - 1e-14L);
  return static_cast<double>(ch.p_low + result);
}

// Queue length at which the stationary tail is negligible for the brute force.
void expect_tail_negligible(const BruteChain& ch) {
  ASSERT_FALSE(ch.queue.empty());
  EXPECT_LT(static_cast<double>(ch.queue.back()), 1e-22);
}

// ---------------------------------------------------------------------------
// Erlang B
// ---------------------------------------------------------------------------

// Proves the textbook table value B(10 agents, 5 erlangs) = 0.0183846.
TEST(ErlangB, TextbookValue) {
  EXPECT_NEAR(erlang_b(10, 5.0), 0.0183845703366481, 1e-13);
  EXPECT_NEAR(erlang_b(1, 3.0), 3.0 / 4.0, 1e-15);
}

// Proves the recurrence equals the defining ratio over a wide range of N and a.
TEST(ErlangB, MatchesDefiningFormula) {
  for (int n : {1, 2, 7, 30, 150, 600}) {
    for (double a : {0.1, 1.0, 5.5, 25.0, 140.0, 700.0}) {
      const double expected = brute_erlang_b(n, a);
      EXPECT_NEAR(erlang_b(n, a), expected, 1e-12 * std::max(expected, 1e-300)) << n << " " << a;
    }
  }
}

// Proves edge cases: no agents blocks everything, no load blocks nothing, huge N underflows
// cleanly.
TEST(ErlangB, EdgeCases) {
  EXPECT_EQ(erlang_b(0, 3.0), 1.0);
  EXPECT_EQ(erlang_b(5, 0.0), 0.0);
  EXPECT_GE(erlang_b(2000, 10.0), 0.0);
  EXPECT_LT(erlang_b(2000, 10.0), 1e-300);
  EXPECT_TRUE(std::isnan(erlang_b(-1, 3.0)));
  EXPECT_TRUE(std::isnan(erlang_b(5, -1.0)));
}

// ---------------------------------------------------------------------------
// Erlang C
// ---------------------------------------------------------------------------

// Proves the textbook value C(10 agents, 8 erlangs) = 0.409.
TEST(ErlangC, TextbookValue) {
  EXPECT_NEAR(erlang_c(10, 8.0), 0.409180150796444, 1e-13);
}

// Proves the B-based formula equals the defining Erlang C formula across a range.
TEST(ErlangC, MatchesDefiningFormula) {
  for (int n : {1, 3, 12, 50, 400}) {
    for (double frac : {0.05, 0.5, 0.9, 0.99}) {
      const double a = frac * n;
      EXPECT_NEAR(erlang_c(n, a), brute_erlang_c(n, a), 1e-12) << n << " " << a;
    }
  }
}

// Proves unstable load (a >= N) returns 1, and no load returns 0.
TEST(ErlangC, UnstableAndEmpty) {
  EXPECT_EQ(erlang_c(10, 10.0), 1.0);
  EXPECT_EQ(erlang_c(10, 12.5), 1.0);
  EXPECT_EQ(erlang_c(0, 0.0), 1.0);
  EXPECT_EQ(erlang_c(10, 0.0), 0.0);
}

// Proves the classic worked example (100 calls / 30 min, AHT 180 s, 14 agents, 20 s target)
// against values computed independently with 30-digit arithmetic (mpmath).
TEST(ErlangCMetrics, CallCentreExample) {
  const ErlangCResult r = erlang_c_metrics(14, 100.0 / 1800.0, 180.0, 20.0);
  EXPECT_NEAR(r.p_wait, 0.174131933595050, 1e-12);
  EXPECT_NEAR(r.asa_s, 7.83593701177724, 1e-10);
  EXPECT_NEAR(r.service_level, 0.888350019179467, 1e-12);
  EXPECT_NEAR(r.occupancy, 10.0 / 14.0, 1e-14);
}

// Proves unstable load yields p_wait=1, ASA=+inf, SL=0, occupancy=1.
TEST(ErlangCMetrics, UnstableLoad) {
  for (double lambda : {10.0, 12.5}) {  // a = 10 (= N, critical) and a = 12.5
    const ErlangCResult r = erlang_c_metrics(10, lambda, 1.0, 20.0);
    EXPECT_EQ(r.p_wait, 1.0);
    EXPECT_EQ(r.asa_s, kInf);
    EXPECT_EQ(r.service_level, 0.0);
    EXPECT_EQ(r.occupancy, 1.0);
  }
}

// Proves zero arrivals give the trivial idle answer and bad inputs give NaN.
TEST(ErlangCMetrics, ZeroArrivalsAndInvalidInput) {
  const ErlangCResult r = erlang_c_metrics(3, 0.0, 100.0, 20.0);
  EXPECT_EQ(r.p_wait, 0.0);
  EXPECT_EQ(r.asa_s, 0.0);
  EXPECT_EQ(r.service_level, 1.0);
  EXPECT_EQ(r.occupancy, 0.0);
  EXPECT_TRUE(std::isnan(erlang_c_metrics(0, 1.0, 100.0, 20.0).p_wait));
  EXPECT_TRUE(std::isnan(erlang_c_metrics(3, -1.0, 100.0, 20.0).p_wait));
  EXPECT_TRUE(std::isnan(erlang_c_metrics(3, 0.01, 0.0, 20.0).p_wait));
  EXPECT_TRUE(std::isnan(erlang_c_metrics(3, 0.01, 100.0, -1.0).p_wait));
}

// Proves Erlang C service level is non-decreasing in t, equals 1-C at t=0 and tends to 1.
TEST(ErlangCMetrics, ServiceLevelMonotoneInThreshold) {
  double prev = -1.0;
  for (double t = 0.0; t <= 600.0; t += 5.0) {
    const double sl = erlang_c_metrics(14, 100.0 / 1800.0, 180.0, t).service_level;
    EXPECT_GE(sl, prev);
    prev = sl;
  }
  EXPECT_NEAR(erlang_c_metrics(14, 100.0 / 1800.0, 180.0, 0.0).service_level,
              1.0 - erlang_c(14, 10.0), 1e-15);
  EXPECT_NEAR(prev, 1.0, 1e-6);
}

// ---------------------------------------------------------------------------
// Erlang A
// ---------------------------------------------------------------------------

// Proves infinite / non-positive patience reproduces Erlang C exactly (stable case).
TEST(ErlangA, NoAbandonmentEqualsErlangC) {
  const ErlangCResult c = erlang_c_metrics(14, 100.0 / 1800.0, 180.0, 20.0);
  for (double patience : {kInf, 0.0, -5.0}) {
    const ErlangAResult a = erlang_a_metrics(14, 100.0 / 1800.0, 180.0, patience, 20.0);
    EXPECT_EQ(a.p_wait, c.p_wait);
    EXPECT_EQ(a.asa_s, c.asa_s);
    EXPECT_EQ(a.service_level, c.service_level);
    EXPECT_EQ(a.occupancy, c.occupancy);
    EXPECT_EQ(a.p_abandon, 0.0);
    EXPECT_NEAR(a.mean_queue_length, c.p_wait * 10.0 / 4.0, 1e-12);
  }
}

// Proves no-abandonment Erlang A reports the unstable Erlang C answer when a >= N.
TEST(ErlangA, NoAbandonmentUnstable) {
  const ErlangAResult a = erlang_a_metrics(10, 0.1, 180.0, kInf, 20.0);
  EXPECT_EQ(a.p_wait, 1.0);
  EXPECT_EQ(a.asa_s, kInf);
  EXPECT_EQ(a.service_level, 0.0);
  EXPECT_EQ(a.occupancy, 1.0);
  EXPECT_EQ(a.mean_queue_length, kInf);
}

// Proves that with finite but huge patience the numerical Erlang A converges to Erlang C.
TEST(ErlangA, HugePatienceConvergesToErlangC) {
  struct Case {
    int n;
    double lambda;
    double aht;
    double t;
  };
  for (const Case& k : {Case{10, 8.0 / 60.0, 60.0, 15.0}, Case{14, 100.0 / 1800.0, 180.0, 20.0},
                        Case{300, 1.6, 180.0, 20.0}}) {
    const ErlangCResult c = erlang_c_metrics(k.n, k.lambda, k.aht, k.t);
    const ErlangAResult a = erlang_a_metrics(k.n, k.lambda, k.aht, 1e9, k.t);
    EXPECT_NEAR(a.p_wait, c.p_wait, 1e-6);
    EXPECT_NEAR(a.asa_s, c.asa_s, 1e-5 * c.asa_s);
    EXPECT_NEAR(a.service_level, c.service_level, 1e-6);
    EXPECT_NEAR(a.occupancy, c.occupancy, 1e-6);
    EXPECT_LT(a.p_abandon, 1e-6);
  }
}

struct ChainCase {
  int n;
  double lambda;
  double aht;
  double patience;
  double t;
  int queue_states;  // truncation for the brute force
};

const std::vector<ChainCase>& chain_cases() {
  static const std::vector<ChainCase> cases = {
      {5, 1.0, 4.0, 10.0, 10.0, 300},         // the Monte-Carlo case
      {5, 2.0, 4.0, 10.0, 10.0, 300},         // overloaded (a = 8 > N = 5)
      {3, 0.5, 4.0, 2.0, 3.0, 200},           // impatient callers
      {50, 0.3, 180.0, 120.0, 20.0, 300},     // a = 54 > N = 50
      {200, 1.0, 180.0, 30.0, 20.0, 600},     // a = 180, N = 200
      {2000, 8.0, 300.0, 60.0, 20.0, 1200},   // a = 2400 > N = 2000
      {2000, 6.6, 300.0, 600.0, 20.0, 2500},  // a = 1980, N = 2000
  };
  return cases;
}

// Proves p_wait, queue length, p_abandon and ASA match a brute-force chain built differently
// (forward long-double products, stage-by-stage per-customer abandonment and wait).
TEST(ErlangA, MatchesBruteForceChain) {
  for (const ChainCase& k : chain_cases()) {
    const BruteChain ch = brute_chain(k.n, k.lambda, k.aht, k.patience, k.queue_states);
    expect_tail_negligible(ch);
    const BruteA b = brute_erlang_a(ch);
    const ErlangAResult a = erlang_a_metrics(k.n, k.lambda, k.aht, k.patience, k.t);
    EXPECT_NEAR(a.p_wait, b.p_wait, 1e-11) << k.n << " " << k.lambda;
    EXPECT_NEAR(a.p_abandon, b.p_abandon, 1e-11) << k.n << " " << k.lambda;
    EXPECT_NEAR(a.mean_queue_length, b.mean_queue_length,
                1e-10 * std::max(1.0, b.mean_queue_length));
    EXPECT_NEAR(a.asa_s, b.asa_s, 1e-10 * std::max(1.0, b.asa_s)) << k.n << " " << k.lambda;
    EXPECT_NEAR(a.occupancy, k.lambda * (1.0 - b.p_abandon) * k.aht / k.n, 1e-11);
  }
}

// Proves the closed-form (incomplete-beta) service level matches uniformisation of the phase chain.
TEST(ErlangA, ServiceLevelMatchesUniformisation) {
  for (const ChainCase& k : chain_cases()) {
    const BruteChain ch = brute_chain(k.n, k.lambda, k.aht, k.patience, k.queue_states);
    for (double t : {0.5 * k.t, k.t}) {
      const double expected = uniformised_service_level(ch, t);
      const double got = erlang_a_metrics(k.n, k.lambda, k.aht, k.patience, t).service_level;
      EXPECT_NEAR(got, expected, 1e-10) << k.n << " " << k.lambda << " t=" << t;
    }
  }
}

// Proves values for two cases against an offline 80-digit reference (mpmath, partial-fraction
// hypoexponential CDF).
TEST(ErlangA, ReferenceValues) {
  const ErlangAResult a = erlang_a_metrics(5, 1.0, 4.0, 10.0, 10.0);
  EXPECT_NEAR(a.p_wait, 0.428481404253868, 1e-12);
  EXPECT_NEAR(a.p_abandon, 0.0704388243139721, 1e-12);
  EXPECT_NEAR(a.asa_s, 0.646604842844021, 1e-12);
  EXPECT_NEAR(a.service_level, 0.929427690787221, 1e-12);
  EXPECT_NEAR(a.occupancy, 0.743648940548822, 1e-12);
  EXPECT_NEAR(a.mean_queue_length, 0.704388243139721, 1e-12);
  const ErlangAResult b = erlang_a_metrics(50, 0.3, 180.0, 120.0, 20.0);
  EXPECT_NEAR(b.p_wait, 0.662340192981996, 1e-12);
  EXPECT_NEAR(b.p_abandon, 0.104095591563264, 1e-12);
  EXPECT_NEAR(b.asa_s, 12.2227694609897, 1e-10);
  EXPECT_NEAR(b.service_level, 0.661681595360934, 1e-12);
}

// Proves service level is non-decreasing in t, equals 1-p_wait at t=0 and 1-p_abandon at t=inf.
TEST(ErlangA, ServiceLevelMonotoneInThreshold) {
  for (const ChainCase& k : chain_cases()) {
    double prev = -1.0;
    for (double t = 0.0; t <= 300.0; t += 2.5) {
      const double sl = erlang_a_metrics(k.n, k.lambda, k.aht, k.patience, t).service_level;
      EXPECT_GE(sl, prev - 1e-15) << k.n << " t=" << t;
      prev = sl;
    }
    const ErlangAResult at0 = erlang_a_metrics(k.n, k.lambda, k.aht, k.patience, 0.0);
    EXPECT_NEAR(at0.service_level, 1.0 - at0.p_wait, 1e-14);
    const ErlangAResult at_inf = erlang_a_metrics(k.n, k.lambda, k.aht, k.patience, kInf);
    EXPECT_NEAR(at_inf.service_level, 1.0 - at_inf.p_abandon, 1e-12);
  }
}

// Proves heavy overload stays finite and obeys flow conservation (abandon rate = excess load).
TEST(ErlangA, HeavyOverloadIsFinite) {
  const ErlangAResult a = erlang_a_metrics(2000, 10.0, 300.0, 1e5, 20.0);
  EXPECT_NEAR(a.p_wait, 1.0, 1e-9);
  // lambda - N*mu = 10 - 2000/300 calls/s must abandon; fluid limit is exact to O(sqrt).
  EXPECT_NEAR(a.p_abandon, 1.0 - (2000.0 / 300.0) / 10.0, 1e-4);
  EXPECT_NEAR(a.occupancy, 1.0, 1e-6);
  EXPECT_TRUE(std::isfinite(a.asa_s));
  EXPECT_TRUE(std::isfinite(a.mean_queue_length));
  EXPECT_GE(a.service_level, 0.0);
}

// Proves zero arrivals and invalid inputs are handled without throwing.
TEST(ErlangA, ZeroArrivalsAndInvalidInput) {
  const ErlangAResult a = erlang_a_metrics(5, 0.0, 4.0, 10.0, 10.0);
  EXPECT_EQ(a.p_wait, 0.0);
  EXPECT_EQ(a.p_abandon, 0.0);
  EXPECT_EQ(a.service_level, 1.0);
  EXPECT_EQ(a.occupancy, 0.0);
  EXPECT_TRUE(std::isnan(erlang_a_metrics(0, 1.0, 4.0, 10.0, 10.0).p_wait));
  EXPECT_TRUE(std::isnan(erlang_a_metrics(5, 1.0, 4.0, std::nan(""), 10.0).p_wait));
  EXPECT_TRUE(std::isnan(erlang_a_metrics(5, 1.0, -4.0, 10.0, 10.0).asa_s));
}

// ---------------------------------------------------------------------------
// Monte-Carlo cross-check of Erlang A
// ---------------------------------------------------------------------------

struct Estimate {
  double mean;
  double se;  // batch-means standard error
};

struct McResult {
  Estimate p_wait;
  Estimate p_abandon;
  Estimate asa_s;
  Estimate service_level;
};

Estimate batch_estimate(const std::vector<double>& num, const std::vector<double>& den) {
  double num_total = 0.0;
  double den_total = 0.0;
  for (std::size_t i = 0; i < num.size(); ++i) {
    num_total += num[i];
    den_total += den[i];
  }
  const double mean = num_total / den_total;
  double ss = 0.0;
  for (std::size_t i = 0; i < num.size(); ++i) {
    const double d = num[i] / den[i] - mean;
    ss += d * d;
  }
  const double nb = static_cast<double>(num.size());
  return Estimate{mean, std::sqrt(ss / (nb - 1.0) / nb)};
}

// FCFS M/M/N+M simulation. Because service is FCFS, each call in arrival order
// takes the earliest-free agent if it can wait that long; an abandoning call
// never touches an agent, so this per-call recursion is an exact event simulation.
template <int N>
McResult simulate_mmn_m(double lambda, double aht, double patience, double t_sl, int calls,
                        std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> inter(lambda);
  std::exponential_distribution<double> service(1.0 / aht);
  std::exponential_distribution<double> impatience(1.0 / patience);
  std::array<double, N> free_at{};
  constexpr int kBatches = 100;
  const int warmup = calls / 100;
  const int per_batch = calls / kBatches;
  std::vector<double> waited(kBatches, 0.0);
  std::vector<double> abandoned(kBatches, 0.0);
  std::vector<double> in_time(kBatches, 0.0);
  std::vector<double> served(kBatches, 0.0);
  std::vector<double> wait_sum(kBatches, 0.0);
  std::vector<double> offered(kBatches, 0.0);
  double now = 0.0;
  for (int i = 0; i < warmup + per_batch * kBatches; ++i) {
    now += inter(rng);
    const double s = service(rng);
    const double p = impatience(rng);
    const auto it = std::min_element(free_at.begin(), free_at.end());
    const double wait = std::max(0.0, *it - now);
    const bool ok = wait <= p;
    if (ok) {
      *it = now + wait + s;
    }
    if (i < warmup) {
      continue;
    }
    const auto b = static_cast<std::size_t>((i - warmup) / per_batch);
    offered[b] += 1.0;
    waited[b] += (wait > 0.0) ? 1.0 : 0.0;
    abandoned[b] += ok ? 0.0 : 1.0;
    if (ok) {
      served[b] += 1.0;
      wait_sum[b] += wait;
      in_time[b] += (wait <= t_sl) ? 1.0 : 0.0;
    }
  }
  return McResult{batch_estimate(waited, offered), batch_estimate(abandoned, offered),
                  batch_estimate(wait_sum, served), batch_estimate(in_time, offered)};
}

void expect_within_se(const Estimate& e, double exact, const char* what) {
  EXPECT_LT(e.se, 0.02 * std::max(1.0, exact)) << what << ": simulation too noisy to be useful";
  EXPECT_NEAR(e.mean, exact, 4.0 * e.se) << what << " se=" << e.se;
}

// Proves Erlang A p_wait, p_abandon, ASA (answered calls) and SL agree with a seeded
// M/M/5+M simulation (lambda=1/s, AHT=4 s, patience=10 s, t=10 s) within 4 standard errors.
TEST(ErlangA, AgreesWithMonteCarlo) {
  const McResult mc = simulate_mmn_m<5>(1.0, 4.0, 10.0, 10.0, 1'000'000, 20240601);
  const ErlangAResult a = erlang_a_metrics(5, 1.0, 4.0, 10.0, 10.0);
  expect_within_se(mc.p_wait, a.p_wait, "p_wait");
  expect_within_se(mc.p_abandon, a.p_abandon, "p_abandon");
  expect_within_se(mc.asa_s, a.asa_s, "asa_s");
  expect_within_se(mc.service_level, a.service_level, "service_level");
}

// Proves the same agreement in overload (lambda=2/s, a=8 erlangs on 5 agents), t=5 s.
TEST(ErlangA, AgreesWithMonteCarloOverloaded) {
  const McResult mc = simulate_mmn_m<5>(2.0, 4.0, 10.0, 5.0, 1'000'000, 7);
  const ErlangAResult a = erlang_a_metrics(5, 2.0, 4.0, 10.0, 5.0);
  expect_within_se(mc.p_wait, a.p_wait, "p_wait");
  expect_within_se(mc.p_abandon, a.p_abandon, "p_abandon");
  expect_within_se(mc.asa_s, a.asa_s, "asa_s");
  expect_within_se(mc.service_level, a.service_level, "service_level");
}

}  // namespace
