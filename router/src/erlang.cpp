#include "acd/router/erlang.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace acd::router::erlang {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Relative size below which the remaining Erlang A tail is dropped.
constexpr double kTailTolerance = 1e-16;

bool is_nonneg_finite(double x) {
  return std::isfinite(x) && x >= 0.0;
}

ErlangCResult invalid_c() {
  return ErlangCResult{kNaN, kNaN, kNaN, kNaN};
}

ErlangAResult invalid_a() {
  return ErlangAResult{kNaN, kNaN, kNaN, kNaN, kNaN, kNaN};
}

bool valid_common(int agents, double arrival_rate_per_s, double aht_s, double sl_threshold_s) {
  if (agents < 1) {
    return false;
  }
  if (!is_nonneg_finite(arrival_rate_per_s)) {
    return false;
  }
  if (!std::isfinite(aht_s) || !(aht_s > 0.0)) {
    return false;
  }
  if (std::isnan(sl_threshold_s) || sl_threshold_s < 0.0) {
    return false;
  }
  return true;
}

}  // namespace

double erlang_b(int agents, double offered_erlangs) {
  if (agents < 0 || !is_nonneg_finite(offered_erlangs)) {
    return kNaN;
  }
  double b = 1.0;
  for (int n = 1; n <= agents; ++n) {
    const double ab = offered_erlangs * b;
    b = ab / (static_cast<double>(n) + ab);
  }
  return b;
}

double erlang_c(int agents, double offered_erlangs) {
  if (agents < 0 || !is_nonneg_finite(offered_erlangs)) {
    return kNaN;
  }
  const double n = static_cast<double>(agents);
  if (offered_erlangs >= n) {
    return 1.0;
  }
  if (offered_erlangs == 0.0) {
    return 0.0;
  }
  const double b = erlang_b(agents, offered_erlangs);
  const double c = n * b / (n - offered_erlangs * (1.0 - b));
  return std::clamp(c, 0.0, 1.0);
}

ErlangCResult erlang_c_metrics(int agents, double arrival_rate_per_s, double aht_s,
                               double sl_threshold_s) {
  if (!valid_common(agents, arrival_rate_per_s, aht_s, sl_threshold_s)) {
    return invalid_c();
  }
  if (arrival_rate_per_s == 0.0) {
    return ErlangCResult{0.0, 0.0, 1.0, 0.0};
  }
  const double n = static_cast<double>(agents);
  const double a = arrival_rate_per_s * aht_s;
  if (!std::isfinite(a)) {
    return invalid_c();
  }
  if (a >= n) {
    return ErlangCResult{1.0, kInf, 0.0, 1.0};
  }
  const double c = erlang_c(agents, a);
  // N*mu - lambda, written as (N - a) / aht to avoid cancellation.
  const double drain_rate = (n - a) / aht_s;
  ErlangCResult r{};
  r.p_wait = c;
  r.asa_s = c / drain_rate;
  r.service_level = std::clamp(1.0 - c * std::exp(-drain_rate * sl_threshold_s), 0.0, 1.0);
  r.occupancy = a / n;
  return r;
}

ErlangAResult erlang_a_metrics(int agents, double arrival_rate_per_s, double aht_s,
                               double mean_patience_s, double sl_threshold_s) {
  if (!valid_common(agents, arrival_rate_per_s, aht_s, sl_threshold_s) ||
      std::isnan(mean_patience_s)) {
    return invalid_a();
  }
  if (arrival_rate_per_s == 0.0) {
    return ErlangAResult{0.0, 0.0, 0.0, 1.0, 0.0, 0.0};
  }

  const double n_agents = static_cast<double>(agents);
  const double lambda = arrival_rate_per_s;
  const double a = lambda * aht_s;
  if (!std::isfinite(a)) {
    return invalid_a();
  }
  const double c = n_agents / aht_s;  // N * mu: total service rate when all busy
  const double theta = (mean_patience_s > 0.0) ? 1.0 / mean_patience_s : 0.0;
  const double beta = c / theta;  // +inf when theta == 0

  // No abandonment (or patience so long that N*mu*patience overflows): Erlang C.
  if (!(theta > 0.0) || !std::isfinite(beta)) {
    const ErlangCResult ec = erlang_c_metrics(agents, lambda, aht_s, sl_threshold_s);
    ErlangAResult r{};
    r.p_wait = ec.p_wait;
    r.p_abandon = 0.0;
    r.asa_s = ec.asa_s;
    r.service_level = ec.service_level;
    r.occupancy = ec.occupancy;
    r.mean_queue_length = (a >= n_agents) ? kInf : ec.p_wait * a / (n_agents - a);
    return r;
  }

  // Lower states relative to pi_N: sum_{n<N} pi_n / pi_N = (1 - B) / B.
  const double b = erlang_b(agents, a);
  if (b == 0.0) {
    // pi_N underflows: the probability of waiting is below ~1e-308.
    return ErlangAResult{0.0, 0.0, 0.0, 1.0, a / n_agents, 0.0};
  }
  const double log_low = std::log1p(-b) - std::log(b);  // -inf if b == 1

  // Running sums, all scaled by exp(-scale_log).
  double scale_log = std::max(0.0, log_low);
  double s_low = std::exp(log_low - scale_log);
  double s_queue = 0.0;    // sum_j q_j                 -> p_wait
  double s_len = 0.0;      // sum_j j q_j               -> mean queue length
  double s_served = 0.0;   // sum_j q_j P(ans | j)
  double s_wait = 0.0;     // sum_j q_j E[W ; ans | j]
  double s_in_time = 0.0;  // sum_j q_j P(ans, W <= t | j)

  const double log_lambda = std::log(lambda);
  const double t = sl_threshold_s;
  const double one_minus_x = -std::expm1(-theta * t);    // 1 - exp(-theta t)
  const double log_one_minus_x = std::log(one_minus_x);  // -inf when t == 0
  const double log_beta1 = std::log(beta + 1.0);

  double log_q = 0.0;  // log(pi_{N+j} / pi_N)
  double h = 0.0;      // sum_{i=0..j} 1 / (r_i + theta) = sum 1/(c + (i+1) theta)
  // d = 1 - I_x(beta + 1, j + 1); d_1 = 1 - x^(beta+1) = 1 - exp(-(c + theta) t).
  double d = -std::expm1(-(c + theta) * t);
  // log of T_b = x^A (1-x)^b Gamma(A+b) / (Gamma(A) Gamma(b+1)), A = beta + 1, b = j + 1;
  // I_x(A, b+1) = I_x(A, b) + T_b.
  double log_t = -(c + theta) * t + log_beta1 + log_one_minus_x;

  for (long j = 0;; ++j) {
    const double jd = static_cast<double>(j);
    if (j > 0) {
      log_q += log_lambda - std::log(c + jd * theta);
    }
    if (log_q > scale_log) {
      const double f = std::exp(scale_log - log_q);
      s_low *= f;
      s_queue *= f;
      s_len *= f;
      s_served *= f;
      s_wait *= f;
      s_in_time *= f;
      scale_log = log_q;
    }
    const double w = std::exp(log_q - scale_log);
    const double exit_plus_own = c + (jd + 1.0) * theta;  // r_j + theta
    const double p_ans = c / exit_plus_own;               // = beta / (beta + j + 1)
    h += 1.0 / exit_plus_own;

    s_queue += w;
    s_len += jd * w;
    s_served += w * p_ans;
    s_wait += w * p_ans * h;
    s_in_time += w * p_ans * std::max(d, 0.0);

    // Advance the incomplete-beta complement to b = j + 2.
    d -= std::exp(log_t);
    log_t += log_one_minus_x + std::log(beta + 1.0 + (jd + 1.0)) - std::log(jd + 2.0);

    if (j + 1 >= kErlangAMaxQueueStates) {
      break;
    }
    // Ratios q_{k+1}/q_k = lambda / (c + (k+1) theta) decrease in k, so once the
    // next ratio rho < 1 the tail is bounded by a geometric series.
    const double rho = lambda / (c + (jd + 1.0) * theta);
    if (rho < 1.0) {
      const double tail_mass = w * rho / (1.0 - rho);
      const double tail_len = tail_mass * (jd + 1.0 / (1.0 - rho));
      const double total = s_low + s_queue;
      if (tail_mass < kTailTolerance * total && tail_len < kTailTolerance * (total + s_len)) {
        break;
      }
    }
  }

  const double z = s_low + s_queue;
  const double p_low = s_low / z;
  const double p_served = std::clamp(p_low + s_served / z, 0.0, 1.0);

  ErlangAResult r{};
  r.p_wait = std::clamp(s_queue / z, 0.0, 1.0);
  r.mean_queue_length = s_len / z;
  r.p_abandon = std::clamp(theta * r.mean_queue_length / lambda, 0.0, 1.0);
  r.asa_s = (p_served > 0.0) ? (s_wait / z) / p_served : kInf;
  r.service_level = std::clamp(p_low + s_in_time / z, 0.0, 1.0);
  r.occupancy = std::clamp(lambda * p_served * aht_s / n_agents, 0.0, 1.0);
  return r;
}

}  // namespace acd::router::erlang
