#pragma once

// Closed-form / numerical queueing formulas (Erlang B, Erlang C, Erlang A)
// used to validate the call-centre simulator and as a staffing aid.
//
// Conventions shared by every function in this header:
//   * Times are in seconds, rates in events per second, offered load in
//     erlangs (a = arrival_rate_per_s * aht_s, i.e. mean number of busy agents
//     needed to carry all traffic).
//   * Service times are exponential with mean aht_s (mu = 1 / aht_s), arrivals
//     are Poisson, the queue is FCFS with an unlimited waiting room.
//   * No function throws or allocates. Arguments that violate a documented
//     precondition (negative counts/rates, NaN, non-positive AHT, ...) yield
//     quiet NaN in every floating-point field of the result.

namespace acd::router::erlang {

// Erlang B: probability that an arriving call is blocked (lost) in an M/M/N/N
// loss system with `agents` servers and `offered_erlangs` of offered load.
// Computed with the numerically stable recurrence
//   B(0) = 1,  B(n) = a*B(n-1) / (n + a*B(n-1)),
// which never overflows (O(agents) time). Result in [0, 1].
// Preconditions: agents >= 0, offered_erlangs >= 0 and finite.
// erlang_b(0, a) == 1; erlang_b(n, 0) == 0 for n >= 1.
double erlang_b(int agents, double offered_erlangs);

// Erlang C: probability that an arriving call has to wait (finds all agents
// busy) in an M/M/N queue with `agents` servers and `offered_erlangs` load.
// Computed from Erlang B as C = N*B / (N - a*(1 - B)).
// Returns 1.0 when offered_erlangs >= agents (unstable: the queue grows without
// bound, every call eventually waits). Result in [0, 1].
// Preconditions: agents >= 0, offered_erlangs >= 0 and finite.
double erlang_c(int agents, double offered_erlangs);

struct ErlangCResult {
  double p_wait;         // P(arriving call waits) = Erlang C, in [0, 1]
  double asa_s;          // mean wait over ALL calls (zero waits included), s
  double service_level;  // P(wait <= sl_threshold_s), in [0, 1]
  double occupancy;      // a / N: fraction of time an agent is busy, in [0, 1]
};

// M/M/N (Erlang C) performance metrics.
//   a = lambda * aht, mu = 1 / aht, C = erlang_c(N, a)
//   asa_s         = C / (N*mu - lambda)
//   service_level = 1 - C * exp(-(N*mu - lambda) * t)
//   occupancy     = a / N
// Unstable load (a >= N): p_wait = 1, asa_s = +inf, service_level = 0,
// occupancy = 1. Zero arrivals: p_wait = 0, asa_s = 0, service_level = 1,
// occupancy = 0.
// Preconditions: agents >= 1, arrival_rate_per_s >= 0, aht_s > 0 (all
// finite), sl_threshold_s >= 0.
ErlangCResult erlang_c_metrics(int agents, double arrival_rate_per_s, double aht_s,
                               double sl_threshold_s);

struct ErlangAResult {
  double p_wait;             // P(arrival finds all N agents busy), in [0, 1]
  double p_abandon;          // P(arrival abandons before being answered)
  double asa_s;              // mean wait of ANSWERED calls only (incl. 0s), s
  double service_level;      // answered within t / all offered calls
  double occupancy;          // carried load per agent, in [0, 1]
  double mean_queue_length;  // time-average number of calls waiting
};

// Erlang A (Palm, M/M/N+M): M/M/N with exponential patience of mean
// mean_patience_s (abandonment rate theta = 1 / mean_patience_s per waiting
// call). Works on the birth-death chain over n = number of calls in system:
//   birth rate lambda, death rate min(n,N)*mu + max(n-N,0)*theta.
//
// Definitions (pi = stationary distribution; PASTA: arrivals see pi):
//   p_wait            = sum_{n>=N} pi_n
//   mean_queue_length = sum_{n>N} (n-N) pi_n
//   p_abandon         = theta * mean_queue_length / lambda
//   asa_s             = E[W ; answered] / P(answered)
//   service_level     = P(no wait) + P(waits, answered, W <= t)
//   occupancy         = lambda * P(answered) * aht / N
//
// Method.
//   * Stationary distribution: pi_{n<N} is summed relative to pi_N via Erlang
//     B (sum_{n<=N} pi_n / pi_N = 1/B(N,a)), and the queue states N+j are
//     generated with log-ratios log(lambda / (N*mu + j*theta)). All sums are
//     accumulated in a single streaming pass with progressive rescaling, so
//     nothing overflows for N and a in the thousands and no memory is
//     allocated. The pass stops once the remaining tail (bounded by a
//     geometric series because the ratios decrease) is < 1e-16 relative to the
//     running total, or after kErlangAMaxQueueStates queue states (hard cap,
//     ~1 s of CPU; only reached with absurdly long patience, > ~1e5-1e6 x AHT,
//     in heavy overload or within ~1e-6 of critical load; the result is then
//     that of the chain truncated at N + cap, i.e. queue length and ASA are
//     underestimated). Typical inputs need a few hundred to a few thousand
//     states (microseconds to a millisecond).
//   * Tagged arrival finding j = n - N calls ahead (n >= N): while i calls
//     are ahead the queue ahead shrinks at rate r_i = N*mu + i*theta, and the
//     tagged call abandons at its own rate theta. Writing V_j for the time
//     until the tagged call would reach an agent ignoring its own patience,
//     V_j = sum_{i=0..j} Exp(r_i), and one can show V_j ~ -ln(U)/theta with
//     U ~ Beta(beta, j+1), beta = N*mu/theta. Hence, exactly,
//       P(answered | j)          = beta / (beta + j + 1)
//                                = prod_{i=0..j} r_i / (r_i + theta),
//       E[W ; answered | j]      = P(answered | j) * sum_{i=0..j} 1/(r_i + theta),
//       P(answered, W <= t | j)  = P(answered | j) * (1 - I_x(beta + 1, j + 1)),
//     with x = exp(-theta*t) and I the regularised incomplete beta function,
//     evaluated by the exact recurrence in its second argument (log-space
//     terms). Accuracy is limited only by double rounding (~1e-12 absolute
//     on the service level), not by a discretisation step.
//
// Patience: mean_patience_s = +inf or <= 0 means "no abandonment" (as does a
// finite patience so long that N*mu*mean_patience_s overflows a double); the result
// then equals erlang_c_metrics (with p_abandon = 0, mean_queue_length =
// C*a/(N-a), asa_s = the Erlang C ASA) and is unstable when a >= N
// (p_wait = 1, asa_s = +inf, service_level = 0, occupancy = 1,
// mean_queue_length = +inf). With finite patience the chain is always stable.
// Zero arrivals: p_wait = p_abandon = asa_s = occupancy = mean_queue_length =
// 0, service_level = 1.
// Preconditions: agents >= 1, arrival_rate_per_s >= 0, aht_s > 0 (finite),
// sl_threshold_s >= 0, mean_patience_s not NaN.
ErlangAResult erlang_a_metrics(int agents, double arrival_rate_per_s, double aht_s,
                               double mean_patience_s, double sl_threshold_s);

// Hard cap on the number of queue states (n - N) summed by erlang_a_metrics.
inline constexpr long kErlangAMaxQueueStates = 10'000'000;

}  // namespace acd::router::erlang
