// Per-core dataplane counters, declared once: the list generates the enum, the metric names and
// their help text. The owning core bumps them without atomic read-modify-write (it is the only
// writer); any thread may read them at any time (relaxed loads of 64-bit words never tear).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

namespace acd::dataplane {

#define ACD_DATAPLANE_COUNTERS(X)                                                               \
  X(rx_datagrams, "datagrams received")                                                         \
  X(rx_messages, "messages received in well-formed datagrams")                                  \
  X(tx_datagrams, "datagrams sent")                                                             \
  X(tx_messages, "messages sent")                                                               \
  X(tx_failed, "datagrams the port could not send")                                             \
  X(drop_bad_magic, "datagrams dropped: not ACDP")                                              \
  X(drop_bad_version, "datagrams dropped: unknown protocol version")                            \
  X(drop_bad_length, "datagrams or messages dropped: wrong length")                             \
  X(drop_bad_type, "messages dropped: unknown type")                                            \
  X(drop_bad_field, "messages dropped: a field out of range")                                   \
  X(drop_not_registered, "messages dropped: client not registered")                             \
  X(drop_stale_seq, "messages dropped: sequence number older than the reply cache")             \
  X(drop_pending, "retransmissions of a request still being verified")                          \
  X(duplicates_answered, "retransmissions answered from the reply cache")                       \
  X(decisions, "inputs applied to the routing engine")                                          \
  X(ring_full, "inputs not queued because a ring was full")                                     \
  X(auth_failed, "sign-ins refused by the credential check")                                    \
  X(unroutable_replies, "decisions for a client whose address is unknown")                      \
  X(refused_not_permitted, "messages refused: the client's role may not send them")             \
  X(refused_not_your_agent, "messages refused: they name an agent the client did not sign in")  \
  X(refused_not_your_call, "messages refused: the call is not the client's")                    \
  X(refused_sign_in_first, "messages refused: the desktop has not signed its agent in")         \
  X(operations_reported, "high-risk customer operations desktops reported (audit trail)")       \
  X(signin_unavailable, "sign-ins refused unchecked: the password directory was unavailable")   \
  X(token_sign_ins, "sign-ins accepted on a session token (no password)")                       \
  X(token_refused_path, "token sign-ins refused: not an ACDP/2 desktop session, or tokens off") \
  X(token_refused_expired, "token sign-ins refused: the token's day is over")                   \
  X(token_refused_revoked, "token sign-ins refused: revoked (sign-out, logout, operator)")      \
  X(token_refused_forged, "token sign-ins refused: MAC, agent, site or fields do not match")    \
  X(tokens_minted, "session tokens sent to desktops after a sign-in")                           \
  X(tokens_revoked, "agents whose tokens an operator revoked (log records applied)")            \
  X(password_changes, "passwords desktops changed (CredentialChange records applied)")          \
  X(password_change_refused, "password changes refused (old password, policy, not possible)")   \
  X(enrolments_spent, "enrolment codes spent by a sign-in (CredentialChange records applied)")  \
  X(credential_change_refused, "credential changes not applied: not a valid argon2id string") \
  X(signins_deferred, "password sign-ins that waited for a later part of a poll cycle")          \
  X(desk_moves, "agents a token sign-in moved from another desktop (which was told AgentMoved)") \
  X(refused_not_ringing_there, "RingNoAnswer reports refused: the call is not offered there")  \
  X(export_positions_logged, "history export positions logged (ExportPosition records)")       \
  X(images_with_history, "node images that carry the history deriver's state at their seq")     \
  X(images_without_history, "node images that went without it (not given in time, or missed)")

enum class Counter : std::uint32_t {
#define ACD_X(name, help) name,
  ACD_DATAPLANE_COUNTERS(ACD_X)
#undef ACD_X
      kCount
};
inline constexpr std::size_t kCounterCount = static_cast<std::size_t>(Counter::kCount);

std::string_view counter_name(Counter c);
std::string_view counter_help(Counter c);

// One core's counters, on cache lines of their own.
struct alignas(64) CoreCounters {
  // Written by the owner thread with relaxed load+store (no read-modify-write: one writer), read
  // by the metrics and control threads with relaxed loads: statistics that order nothing.
  std::array<std::atomic<std::uint64_t>, kCounterCount> values{};

  // Owner thread only.
  void bump(Counter c, std::uint64_t n = 1) {
    auto& v = values[static_cast<std::size_t>(c)];
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  // Any thread.
  std::uint64_t read(Counter c) const {
    return values[static_cast<std::size_t>(c)].load(std::memory_order_relaxed);
  }
};
static_assert(sizeof(CoreCounters) % 64 == 0, "counters of different cores never share a line");

// How long the engine takes per input, in fixed buckets (upper bounds in nanoseconds), written by
// the routing thread only and read by the metrics endpoint; Prometheus histogram semantics.
struct alignas(64) LatencyHistogram {
  static constexpr std::array<std::uint64_t, 10> kBoundsNs{
      250, 500, 1'000, 2'000, 5'000, 10'000, 50'000, 100'000, 1'000'000, 10'000'000};
  std::array<std::atomic<std::uint64_t>, kBoundsNs.size() + 1>
      buckets{};  // last: above every bound
  std::atomic<std::uint64_t> sum_ns{0};
  std::atomic<std::uint64_t> count{0};
  // The longest single sample since start: the buckets end at 10 ms, and a stall (a node image
  // of a million agents taken by the routing core) is one sample the percentiles hide.
  std::atomic<std::uint64_t> max_ns{0};

  void record(std::uint64_t ns) {  // owner thread only
    if (ns > max_ns.load(std::memory_order_relaxed)) {
      max_ns.store(ns, std::memory_order_relaxed);
    }
    std::size_t b = 0;
    while (b < kBoundsNs.size() && ns > kBoundsNs[b]) {
      ++b;
    }
    buckets[b].store(buckets[b].load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    sum_ns.store(sum_ns.load(std::memory_order_relaxed) + ns, std::memory_order_relaxed);
    count.store(count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
};

// The engine's time per input, by kind: `requests` are the inputs that ask for decisions (wire
// messages and operator commands), `ticks` only advance timers, so an idle engine's ticks do not
// flatter the decision latency. `applied` counts both: the watchdog's sign of progress.
// Written by the routing thread only (relaxed stores), read by the metrics endpoint and watchdog.
struct EngineLatency {
  LatencyHistogram requests;
  LatencyHistogram ticks;
  // Inputs that are commands, not events: a node image (the engine's snapshot and state hash), a
  // reload's reconfiguration or engine swap, a route preview. Routing waits while one runs.
  LatencyHistogram commands;
  alignas(64) std::atomic<std::uint64_t> applied{0};

  void record(bool tick, std::uint64_t ns) {  // owner thread only
    (tick ? ticks : requests).record(ns);
    applied.store(applied.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  void record_command(std::uint64_t ns) { commands.record(ns); }  // owner thread only
};

// How full the SPSC rings between the IO and routing cores are (split mode only). Each ring's
// consumer stores the entries waiting in it once per poll cycle, and the most it has seen; the
// metrics endpoint reads them with relaxed loads. A ring that stays near its capacity means the
// consumer core cannot keep up (inputs) or the IO core is behind with replies (outputs).
struct alignas(64) RingGauges {
  struct Ring {
    std::atomic<std::uint64_t> occupancy{0};
    std::atomic<std::uint64_t> high_water{0};
    std::atomic<std::uint64_t> capacity{0};
    void sample(std::uint64_t waiting) {  // the consumer thread only
      occupancy.store(waiting, std::memory_order_relaxed);
      if (waiting > high_water.load(std::memory_order_relaxed)) {
        high_water.store(waiting, std::memory_order_relaxed);
      }
    }
  };
  Ring to_router;  // inputs, IO core -> routing core
  Ring to_io;      // decisions, routing core -> IO core
};

}  // namespace acd::dataplane
