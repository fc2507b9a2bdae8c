// acd-loadgen: an open-loop, constant-rate load generator for acdd over ACDP/1 (UDP), or ACDP/2
// (authenticated, encrypted: secure_clients.hpp) with --keys-dir and --server-key.
//
//   acd-loadgen --target HOST:PORT[,HOST:PORT] --rate N|max --duration SECONDS [--agents N]
//               [--failover-after MS] [--json] [--keys-dir DIR --server-key FILE [--rekey-after S]]
//   acd-loadgen --write-keys DIR [--agents N] [--first-agent ID]   (the client keys, then exit)
//
// --rate capacity finds the highest rate the target serves (nothing lost, p99 within
// --p99-bound-us, default 1 ms), each step of the search --reps trials of --trial-s, then runs the
// load at that rate --reps times; the report adds capacity, capacity_steps, runs and summary
// (median, min, max of every figure). Every report counts the datagrams and messages each way,
// calls_per_s, and the generator's own CPU time (getrusage of its one thread, loadgen_cpu_share:
// 1 means it used a whole CPU and may have been the limit). In clear text to one target, the
// datagrams of one pass of the loop go out in one sendmmsg, and the answers and releases of the
// calls routed in one receive pass are collected per switch client (8 calls a datagram).
//
// ACD_LOADGEN_TRACE=1 in the environment: every request sent again is named on stderr.
//
// --token-file FILE (ACDP/2): the desktops keep the session tokens acd sends after a sign-in
// (docs/protocol.md "Session tokens") and write them to FILE at the end; agents FILE already
// holds a token for sign in with it instead of the password (a token refused: with the password
// at once, as a desktop does). The report adds token_sign_ins, tokens_received, tokens_refused.
//
// --routed-order FILE: the IDs of the calls that got an agent after waiting in a queue, one a
// line, in the order those decisions arrived (tests/ha/queue_order.py checks it against a queue
// listing).
//
// --password PATTERN signs the agents in with PATTERN ("{id}": the agent's ID; default
// demo-{id}); --change-password PATTERN (ACDP/2) then has each desktop change its agent's password
// to PATTERN (PasswordChange) before the load; the report adds password_changes.
//
// ACDP/2: every client it plays has its own identity (DIR/lg-switch-<k>.key, DIR/lg-desk-<agent
// ID>.key) and [[clients]] entry (--write-keys writes both), makes its session before it
// registers, and seals every datagram. With a pair it keeps a session with each node (it tries the
// missing ones again every second), so that a standby's NotPrimary and the takeover announcement
// reach it sealed; whatever does not open with the sending node's session is ignored.
//
// It plays both sides: the switch (route requests, then answered and released for every call that
// gets an agent, by the switch client that routed it) and the agents' desktops (sign-in, ready),
// one desktop client per agent, each acting only for its own agent as acd requires (docs/
// protocol.md "Who may send what"); acdd's dataplane.max_clients must hold 32 + --agents clients.
// Each request has an intended send time (start + i / rate); latency is measured from that time,
// not from when the request actually left, so a stall in acdd (or here) shows up in the percentiles
// instead of silently lowering the rate (no coordinated omission). One thread, non-blocking socket,
// batched sends and receives.
//
// With one target, a call event unanswered for 200 ms is sent again (same seq); other requests are
// sent once. With two targets (a hot-standby pair, docs/protocol.md "Two nodes") it drives the
// pair as a client of one must: one socket, one client ID and seq numbering for both nodes, every
// request kept until answered. It sends to the node it believes primary (the first target at
// start). On Error NotPrimary from that node it switches to the node the Error names (if that is
// the other target; otherwise, zeros included, to the other target); when the node goes silent
// (a request unanswered for --failover-after and nothing heard from the node for as long) it
// switches to the other one, alternating every --failover-after while neither answers. After a
// switch every unanswered request goes at once to the new node with its own seq, whose reply cache
// answers what the old primary already decided; unanswered requests are also sent again every
// --failover-after. Latency stays measured from each request's own intended send time. The report
// adds `failovers`, `failover_gaps_ms` (per outage: the first send of the oldest request waiting
// when the node went silent or said NotPrimary, to the first RouteResponse from the new node; an
// outage before the load starts ends at the first Ack), `max_failover_gap_ms`, `not_primary`
// (Errors NotPrimary, not counted as errors), `epochs` (each epoch and node heard, with when it was
// first seen), `epoch_conflicts` and `epoch_regressions` (bench/loadgen/pair.hpp).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <queue>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "acd/dataplane/codec.hpp"
#include "acd/dataplane/port.hpp"
#include "acd/router/types.hpp"
#include "flood.hpp"
#include "pair.hpp"
#include "secure_clients.hpp"

namespace {

using namespace acd::dataplane;
using namespace acd::dataplane::wire;
using Clock = std::chrono::steady_clock;
using acd::loadgen::EpochLedger;
using acd::loadgen::NodeChooser;
using acd::loadgen::SecureClients;

// Several switch clients, as a centre has several SBCs; each has its own reply-cache window.
constexpr std::uint32_t kSwitchClients = 32;
constexpr std::uint32_t kFirstSwitch = 100;
// Agent index i's desktop is client kFirstDesktop + i: two runs for different agents use
// different desktops, and a later run for the same agent is the same desktop (still bound to it).
constexpr std::uint32_t kFirstDesktop = 1000;
constexpr std::uint32_t kMaxClientId = 0xFFFF;  // request keys hold a client ID in 16 bits
constexpr std::uint64_t kRetransmitNs = 200'000'000;
// A sign-in unanswered this long is sent again (its check may queue behind a shift's worth).
constexpr std::uint64_t kSignInRetransmitNs = 3'000'000'000;

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

struct Result {
  std::uint64_t sent = 0;
  std::uint64_t received = 0;  // first RouteResponse per call
  std::uint64_t routed = 0;    // got an agent (at once or after queueing)
  std::uint64_t queued = 0;
  std::uint64_t rejected = 0;  // refused by acd (call pool full, ...): answered, but not routed
  std::uint64_t duplicates = 0;
  std::uint64_t errors = 0;
  std::map<std::uint16_t, std::uint64_t> error_reasons;  // Error.reason -> how many
  double duration_s = 0;
  std::vector<double> latency_us;
  // The calls admitted (first answer: an agent, or queued for one), apart from those sent away
  // (overflowed, a surge step) or refused: a surge's admitted calls are compared with these.
  std::vector<double> admitted_latency_us;
  std::uint64_t overflowed = 0;  // first answer Overflow
  std::vector<std::pair<double, double>> by_time;  // (intended send, steady clock ms; latency us)
  // Calls given an agent after they waited (the engine's own decision, not a reply), in the order
  // their decisions arrived: the order the queue served them.
  std::vector<std::uint64_t> routed_after_wait;
  // The load itself (from its start until every answer is in or the grace ends): datagrams and
  // messages each way, the requests sent again, and this thread's CPU time (getrusage), so that
  // a report shows whether the generator, not the target, was the limit.
  double elapsed_s = 0;
  std::uint64_t out_datagrams = 0;
  std::uint64_t out_messages = 0;
  std::uint64_t in_datagrams = 0;
  std::uint64_t in_messages = 0;
  std::uint64_t retransmitted = 0;
  double cpu_user_s = 0;
  double cpu_sys_s = 0;
  // Passes of the load loop that found nothing to receive and nothing due: the generator spins
  // (its CPU share is then near 1 whatever the load), so this, not the CPU share, says how much
  // headroom it had; near 0 means it was always busy and may have been the limit.
  double idle_share = 0;
};

// This thread's CPU time so far (user, system), in seconds.
std::pair<double, double> thread_cpu() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  auto s = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return {s(u.ru_utime), s(u.ru_stime)};
}

// --token-file: one line per agent, "ID HEX" (the 48-byte TokenProof in hex). A missing file is
// no tokens; a malformed line is an error naming it.
std::string read_tokens(const std::string& path, std::map<std::uint64_t, TokenProof>& out) {
  std::ifstream in(path);
  if (!in) {
    return {};
  }
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    std::istringstream words(line);
    std::uint64_t id = 0;
    std::string hex;
    TokenProof p{};
    if (!(words >> id >> hex) || id == 0 || hex.size() != 2 * sizeof(p)) {
      return path + ":" + std::to_string(n) + ": not 'AGENT_ID HEX'";
    }
    auto* bytes = reinterpret_cast<std::uint8_t*>(&p);
    for (std::size_t i = 0; i < sizeof(p); ++i) {
      unsigned v = 0;
      if (std::sscanf(hex.c_str() + 2 * i, "%2x", &v) != 1) {
        return path + ":" + std::to_string(n) + ": not hexadecimal";
      }
      bytes[i] = static_cast<std::uint8_t>(v);
    }
    out[id] = p;
  }
  return {};
}

std::string write_tokens(const std::string& path, const std::map<std::uint64_t, TokenProof>& in) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) {
    return tmp + ": " + std::strerror(errno);
  }
  std::string text;
  for (const auto& [id, p] : in) {
    text += std::to_string(id) + " ";
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(&p);
    char two[3];
    for (std::size_t i = 0; i < sizeof(p); ++i) {
      std::snprintf(two, sizeof(two), "%02x", bytes[i]);
      text += two;
    }
    text += "\n";
  }
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    return path + ": could not be written";
  }
  return {};
}

class LoadGen {
 public:
  // `fd`: a non-blocking UDP socket (connected to the target when there is one). `nodes`: the
  // target, or the pair's two nodes.
  LoadGen(int fd, NodeChooser nodes, std::uint32_t agents, std::uint32_t queue)
      : fd_(fd), nodes_(std::move(nodes)), agents_(agents), queue_(queue), start_ns_(now_ns()) {}
  // The agents' IDs and engine indices start here (1000 and 0 in the embedded configuration).
  void set_first_agent(std::uint64_t id, std::uint32_t index) {
    first_id_ = id;
    first_index_ = index;
  }

  // Registers the switch clients and one desktop per agent, signs every agent in at its desktop
  // and makes it ready. False on timeout.
  bool setup(std::string& why) {
    if (desktop(agents_ - 1) > kMaxClientId) {
      why = "--first-index + --agents is too large for the desktops' client IDs";
      return false;
    }
    if (!secure_.empty() && !handshake(why)) {
      return false;
    }
    for (std::uint32_t k = 0; k < kSwitchClients; ++k) {
      Writer w(*this, first_switch_ + k);
      w.add(Type::Register, Register{static_cast<std::uint32_t>(Role::Switch), 0, now_ns()});
    }
    for (std::uint32_t a = 0; a < agents_; ++a) {
      Writer w(*this, desktop(a));
      w.add(Type::Register, Register{static_cast<std::uint32_t>(Role::Desktop), 0, now_ns()});
    }
    if (!await_acks(kSwitchClients + agents_, why)) {
      return false;
    }
    return sign_in_and_ready(0, why);
  }

  // ACDP/2: a session for every client with the node in use (an init each, again every 500 ms
  // give or take 125 ms at random for those still without one), and with the other node of a
  // pair as it answers (keep_sessions goes on trying during the run). False after 30 s.
  bool handshake(std::string& why) {
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    SecureClients& first = *secure_[static_cast<std::size_t>(nodes_.index_of(nodes_.active()))];
    while (first.established() < first.size() && Clock::now() < deadline) {
      keep_sessions(now_ns(), 500'000'000);
      drain();
    }
    if (first.established() < first.size()) {
      why = "only " + std::to_string(first.established()) + " of " + std::to_string(first.size()) +
            " clients made a session (are they in acd.toml's [[clients]], is --server-key acdd's "
            "key?)";
      return false;
    }
    return true;
  }
  // About every `every` ns: an init for each client still without a session at a node. The
  // interval is drawn anew each time, uniformly within a quarter of `every` either side: retries
  // at a fixed period can stay in step with a flood's period and miss the node's cookie replies
  // at every try.
  void keep_sessions(std::uint64_t now, std::uint64_t every = 1'000'000'000) {
    if (secure_.empty() || now < next_handshakes_) {
      return;
    }
    const std::uint64_t spread_us = every / 2 / 1000;
    next_handshakes_ = now + every - every / 4 +
                       1000ull * randombytes_uniform(static_cast<std::uint32_t>(
                                     std::min<std::uint64_t>(spread_us, UINT32_MAX - 1) + 1));
    for (SecureClients* s : secure_) {
      s->handshake_missing(now);
      s->renew(now, rekey_after_ns_);
    }
  }
  // ACDP/2: a client's session this old is renewed with a new handshake (--rekey-after).
  void set_rekey_after(std::uint64_t ns) { rekey_after_ns_ = ns; }
  // ACDP/2: handshakes of clients that had a session (renewed, or after acd forgot it), and the
  // sessions they made.
  std::uint64_t renewals() const {
    std::uint64_t n = 0;
    for (const SecureClients* s : secure_) {
      n += s->renewals();
    }
    return n;
  }
  std::uint64_t renewed() const {
    std::uint64_t n = 0;
    for (const SecureClients* s : secure_) {
      n += s->renewed();
    }
    return n;
  }
  // ACDP/2 instead of clear text (empty: ACDP/1): one per target, in --target's order. Set
  // before setup(); they outlive the generator.
  void set_secure(std::vector<SecureClients*> secure) { secure_ = std::move(secure); }
  // Sends one datagram as it is to the node in use / to a node.
  void send_raw(std::span<const std::uint8_t> d) { send_to(nodes_.active(), d); }
  void send_to(const Endpoint& node, std::span<const std::uint8_t> d) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = node.address;
    to.sin_port = node.port;
    sendto(fd_, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof(to));
  }

  // Step 0: sign in and make ready; step 1: only ready again (agents a ring-no-answer set not
  // ready during an overload come back).
  bool sign_in_and_ready(int first_step, std::string& why) {
    for (int step = first_step; step < 2; ++step) {
      const std::uint64_t began = now_ns();
      std::uint32_t expected = 0;
      for (std::uint32_t a = 0; a < agents_; ++a) {
        Writer w(*this, desktop(a));  // each agent's events from its own desktop
        AgentEvent e{};
        e.agent = first_index_ + a;
        e.agent_number = first_id_ + a;
        if (step == 0) {
          e = sign_in_event(first_id_ + a, true);
          e.agent = first_index_ + a;
        } else {
          e.kind = AgentEventKind::Ready;
        }
        w.add(Type::AgentEvent, e);
        ++expected;
      }
      if (!await_acks(expected, why)) {
        return false;
      }
      if (step == 0) {
        signin_began_ms_ = static_cast<double>(began) / 1e6;
        signin_ms_ = static_cast<double>(now_ns() - began) / 1e6;
        std::fprintf(stderr, "acd-loadgen: %u agents signed in in %.0f ms (%u answered Overloaded "
                     "and sent again; %u told to change their password)\n", agents_, signin_ms_,
                     signin_overloaded_, must_change_acks_);
        if (!new_password_.empty() && !change_passwords(why)) {
          return false;
        }
      }
    }
    return true;
  }
  // A sign-in of agent `id`: with its kept token if there is one and `token_allowed`, else with
  // its password (demo-<ID>).
  AgentEvent sign_in_event(std::uint64_t id, bool token_allowed) {
    AgentEvent e{};
    e.kind = AgentEventKind::SignIn;
    e.agent_number = id;
    const auto kept = tokens_.find(id);
    if (token_allowed && kept != tokens_.end()) {
      e.flags = kSignInWithToken;
      std::memcpy(e.password, &kept->second, sizeof(kept->second));
      ++token_sign_ins_;
      return e;
    }
    const std::string password = password_of(password_, id);
    std::strncpy(e.password, password.c_str(), sizeof(e.password) - 1);
    return e;
  }
  // --password, --change-password: patterns in which "{id}" stands for the agent's ID.
  void set_passwords(std::string sign_in, std::string change_to) {
    password_ = std::move(sign_in);
    new_password_ = std::move(change_to);
  }
  static std::string password_of(const std::string& pattern, std::uint64_t id) {
    std::string out = pattern;
    for (std::size_t at = out.find("{id}"); at != std::string::npos; at = out.find("{id}", at)) {
      out.replace(at, 4, std::to_string(id));
    }
    return out;
  }
  // Each desktop changes its agent's password from the one it signed in with to
  // --change-password (docs/protocol.md "PasswordChange"; ACDP/2 only: acd refuses it in clear
  // text), and waits for every Ack. False, with why, unless all were changed.
  bool change_passwords(std::string& why) {
    const std::uint64_t began = now_ns();
    for (std::uint32_t a = 0; a < agents_; ++a) {
      Writer w(*this, desktop(a));
      PasswordChange c{};
      c.agent_number = first_id_ + a;
      const std::string old_password = password_of(password_, first_id_ + a);
      const std::string new_password = password_of(new_password_, first_id_ + a);
      std::memcpy(c.old_password, old_password.data(),
                  std::min(old_password.size(), sizeof(c.old_password)));  // NUL-padded
      std::memcpy(c.new_password, new_password.data(),
                  std::min(new_password.size(), sizeof(c.new_password)));
      w.add(Type::PasswordChange, c);
    }
    if (!await_acks(agents_, why)) {
      why = "password changes: " + why;
      return false;
    }
    password_changes_ = agents_;
    std::fprintf(stderr, "acd-loadgen: %u passwords changed in %.0f ms\n", agents_,
                 static_cast<double>(now_ns() - began) / 1e6);
    return true;
  }
  std::uint32_t password_changes() const { return password_changes_; }
  // Session tokens: kept by agent ID (read from and written to --token-file).
  std::map<std::uint64_t, TokenProof>& tokens() { return tokens_; }
  std::uint32_t token_sign_ins() const { return token_sign_ins_; }
  std::uint32_t tokens_received() const { return tokens_received_; }
  std::uint32_t tokens_refused() const { return tokens_refused_; }
  // Sign-ins answered Overloaded and sent again after a back-off; how long signing in took.
  std::uint32_t signin_overloaded() const { return signin_overloaded_; }
  double signin_ms() const { return signin_ms_; }
  // When the sign-ins were first sent (steady clock, ms: comparable across processes).
  double signin_began_ms() const { return signin_began_ms_; }
  // Two load generators on one node need switch clients of their own.
  void set_first_switch(std::uint32_t id) { first_switch_ = id; }
  // How long past the end of the load to wait for calls answered Queued to get their decision.
  void set_settle(double seconds) { settle_ns_ = static_cast<std::uint64_t>(seconds * 1e9); }
  void set_signin_timeout(double seconds) {
    signin_timeout_ns_ = static_cast<std::uint64_t>(seconds * 1e9);
  }

  Result run(double rate, double seconds) {
    Result r;
    std::string why;
    sign_in_and_ready(1, why);
    const std::uint64_t total = static_cast<std::uint64_t>(std::llround(rate * seconds));
    const std::uint64_t first_call = next_call_;
    intended_.assign(total, 0);
    first_result_.assign(total, 0);
    first_agent_.assign(total, 0);
    routed_agent_.assign(total, 0);
    left_queue_.assign(total, false);
    still_queued_ = 0;
    r.latency_us.reserve(total);
    result_ = &r;
    nodes_.start_measuring();
    measuring_since_ = now_ns();
    // Scripts that disturb a run (a failover) wait for this line: sign-ins are over by now.
    std::fprintf(stderr, "acd-loadgen: load starts at %.0f calls/s\n", rate);
    if (sessions_at_start_.empty()) {
      for (const SecureClients* s : secure_) {
        sessions_at_start_.push_back(s->established());
      }
    }
    base_call_ = first_call;
    const auto cpu_before = thread_cpu();
    const std::uint64_t out_d = out_datagrams_, out_m = out_messages_, in_d = in_datagrams_,
                        in_m = in_messages_, again = retransmissions_;
    batching_ = batch_ok();
    const std::uint64_t start = now_ns() + 1'000'000;
    const double interval_ns = 1e9 / rate;
    std::uint64_t i = 0;
    const std::uint64_t end = start + static_cast<std::uint64_t>(seconds * 1e9);
    std::uint64_t passes = 0;
    std::uint64_t idle_passes = 0;  // nothing received and nothing due to be sent
    while (true) {
      const std::uint64_t now = now_ns();
      const std::uint64_t i_before = i;
      const std::uint64_t in_before = in_datagrams_;
      ++passes;
      if (i < total) {
        Writer w(*this, first_switch_ + static_cast<std::uint32_t>(i / 32 % kSwitchClients));
        while (i < total &&
               start + static_cast<std::uint64_t>(static_cast<double>(i) * interval_ns) <= now &&
               w.count() < 16) {  // 16 answers (64 bytes each) fit one reply datagram
          intended_[i] = start + static_cast<std::uint64_t>(static_cast<double>(i) * interval_ns);
          RouteRequest rr{};
          rr.call_id = first_call + i;
          rr.queue = queue_;
          rr.language = 0xFFFF;
          w.add(Type::RouteRequest, rr);
          ++i;
          ++r.sent;
        }
      }
      keep_sessions(now);
      drain();
      release_due(now);
      retransmit(now);
      follow_pair(now);
      flush_sends();
      idle_passes += i == i_before && in_datagrams_ == in_before ? 1 : 0;
      if (!spin_ && i < total && rate < 10'000 &&
          start + static_cast<std::uint64_t>(static_cast<double>(i) * interval_ns) >
              now + 500'000) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));  // low rates need no busy loop
      }
      // Everything answered and no call still waiting in a queue; or a second of grace after the
      // end, --settle-s while answered calls still wait (a busy pair, or a site handing over,
      // routes them late, not never).
      const std::uint64_t grace_ns =
          std::max<std::uint64_t>(still_queued_ > 0 ? settle_ns_ : 0, 1'000'000'000);
      if (i == total && ((r.received == total && still_queued_ == 0) || now > end + grace_ns)) {
        break;
      }
    }
    flush_sends();
    batching_ = false;
    const auto cpu_after = thread_cpu();
    r.elapsed_s = static_cast<double>(now_ns() - start) / 1e9;
    r.cpu_user_s = cpu_after.first - cpu_before.first;
    r.cpu_sys_s = cpu_after.second - cpu_before.second;
    r.out_datagrams = out_datagrams_ - out_d;
    r.out_messages = out_messages_ - out_m;
    r.in_datagrams = in_datagrams_ - in_d;
    r.in_messages = in_messages_ - in_m;
    r.retransmitted = retransmissions_ - again;
    r.idle_share = passes > 0 ? static_cast<double>(idle_passes) / static_cast<double>(passes) : 0;
    // A route request still unanswered is lost (a pair keeps them until now): its late answer
    // must not be asked for again once the next run numbers its calls.
    std::erase_if(outstanding_, [](const auto& e) { return e.second.type == Type::RouteRequest; });
    // Let every answer and release be acknowledged, so no agent is left busy for the next run.
    for (const std::uint64_t stop = now_ns() + 2'000'000'000 + talk_ns_ * 5;
         (!outstanding_.empty() || !releases_.empty()) && now_ns() < stop;) {
      drain();
      release_due(now_ns());
      retransmit(now_ns());
      follow_pair(now_ns());
    }
    next_call_ = first_call + total;
    r.duration_s = seconds;
    result_ = nullptr;
    return r;
  }

 private:
  std::uint32_t desktop(std::uint32_t a) const { return kFirstDesktop + first_index_ + a; }

  // A request sent and not yet answered, as it went on the wire.
  struct Outstanding {
    std::uint32_t client;
    std::uint64_t seq;
    Type type;
    std::uint8_t size;
    std::uint8_t body[std::max(sizeof(AgentEvent), sizeof(PasswordChange))];  // the largest
    std::uint64_t first_sent;
    std::uint64_t since;  // first sent to the node in use
    std::uint64_t sent;   // last sent
    std::uint64_t retry_at = 0;  // a sign-in answered Overloaded: sent again at this time
    std::uint32_t overloads = 0;
  };
  struct Waiting {
    std::uint64_t key;
    std::uint64_t since;
  };

  // Collects messages for one client into one datagram, sent when full or destroyed.
  class Writer {
   public:
    Writer(LoadGen& g, std::uint32_t client)
        : g_(g),
          // ACDP/2 adds 24 bytes: the sealed datagram still fits one Ethernet frame.
          w_(std::span<std::uint8_t>(
                 buf_, !g.secure_.empty()
                           ? kMaxSendDatagram + 16 - acd::dataplane::secure::kDataOverhead
                           : kMaxSendDatagram),
             client),
          client_(client) {}
    ~Writer() { flush(); }
    // A new request (its own seq), kept until answered if it is to be sent again.
    template <typename Body>
    std::uint64_t add(Type type, const Body& body) {
      const std::uint64_t seq = ++g_.seq_[client_];
      add_raw(type, &body, sizeof(body), seq);
      g_.remember(client_, seq, type, &body, sizeof(body));
      return seq;
    }
    // A message as it is, with the seq it already has (a retransmission).
    void add_raw(Type type, const void* body, std::size_t size, std::uint64_t seq) {
      if (!w_.add(type, seq, body, size)) {
        flush();
        w_.add(type, seq, body, size);
      }
    }
    std::size_t count() const { return w_.count(); }
    // To the node in use.
    void flush() {
      std::size_t n = w_.finish();
      if (n > 0 && !g_.secure_.empty()) {
        SecureClients& s =
            *g_.secure_[static_cast<std::size_t>(g_.nodes_.index_of(g_.nodes_.active()))];
        const std::size_t sealed =
            s.seal(client_, std::span<const std::uint8_t>(buf_, n), g_.sealed_, now_ns());
        if (sealed > 0) {
          g_.send_raw(std::span<const std::uint8_t>(g_.sealed_, sealed));
        }
        n = 0;  // no session: not sent (the request waits for its retransmission)
      }
      if (n > 0) {
        ++g_.out_datagrams_;
        g_.out_messages_ += w_.count();
        if (g_.batching_) {
          g_.queue_send(std::span<const std::uint8_t>(buf_, n));
        } else {
          sockaddr_in to{};
          to.sin_family = AF_INET;
          to.sin_addr.s_addr = g_.nodes_.active().address;
          to.sin_port = g_.nodes_.active().port;
          sendto(g_.fd_, buf_, n, 0, reinterpret_cast<const sockaddr*>(&to), sizeof(to));
        }
      }
      w_.reset();
    }

   private:
    LoadGen& g_;
    std::uint8_t buf_[kMaxSendDatagram];
    DatagramWriter w_;
    std::uint32_t client_;
  };

  bool await_acks(std::uint32_t expected, std::string& why) {
    acks_ = 0;
    refused_ = 0;
    // Sign-ins are checked on acd's verifier threads (milliseconds to tens of ms each, more on a
    // busy machine): a shift start's thousands may take a minute. The wait yields the CPU between
    // polls: on the node's own machine a spinning load generator would take the verifiers' core.
    const auto deadline = Clock::now() + std::chrono::nanoseconds(signin_timeout_ns_);
    // Every request answered (acknowledged or refused for good): nothing more will come.
    while (acks_ + refused_ < expected && Clock::now() < deadline) {
      keep_sessions(now_ns());
      const std::uint32_t heard = acks_ + errors_;
      drain();
      retransmit(now_ns());
      follow_pair(now_ns());
      if (acks_ + errors_ == heard) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    }
    if (acks_ < expected) {
      why = "only " + std::to_string(acks_) + " of " + std::to_string(expected) +
            " set-up requests were acknowledged (" + std::to_string(errors_) + " errors" +
            (last_error_ != 0 ? ", the last with reason " + std::to_string(last_error_) : "") +
            ")";
      return false;
    }
    return true;
  }

  // Receives everything waiting and reacts: answer and release each call that got an agent.
  // Datagrams from anyone but the targets are ignored (one target: the connected socket filters).
  void drain() {
    for (;;) {
      mmsghdr msgs[32];
      iovec iov[32];
      sockaddr_in from[32];
      for (int k = 0; k < 32; ++k) {
        iov[k] = iovec{rx_[k], sizeof(rx_[k])};
        msgs[k] = mmsghdr{};
        msgs[k].msg_hdr.msg_iov = &iov[k];
        msgs[k].msg_hdr.msg_iovlen = 1;
        msgs[k].msg_hdr.msg_name = &from[k];
        msgs[k].msg_hdr.msg_namelen = sizeof(from[k]);
      }
      const int n = recvmmsg(fd_, msgs, 32, MSG_DONTWAIT, nullptr);
      if (n <= 0) {
        call_batch_.clear();  // the answers and releases collected below go out now
        return;
      }
      in_datagrams_ += static_cast<std::uint64_t>(n);
      const std::uint64_t now = now_ns();
      for (int k = 0; k < n; ++k) {
        Endpoint node{from[k].sin_addr.s_addr, from[k].sin_port, 0};
        if (nodes_.targets().size() == 1) {
          node = nodes_.active();  // connected: only the target's datagrams arrive
        } else if (msgs[k].msg_hdr.msg_namelen != sizeof(sockaddr_in) ||
                   nodes_.index_of(node) < 0) {
          continue;
        }
        std::span<const std::uint8_t> d(rx_[k], msgs[k].msg_len);
        if (!secure_.empty()) {
          // Only what opens with this node's session counts: a clear-text or forged datagram
          // (a takeover announcement included) is dropped here.
          d = secure_[static_cast<std::size_t>(nodes_.index_of(node))]->receive(d, opened_, now);
          if (d.empty()) {
            continue;  // a handshake answer, or not authentic
          }
        }
        DatagramHeader h;
        if (check_header(d, h) != HeaderCheck::Ok) {
          ++errors_;
          continue;
        }
        nodes_.heard(node, now);
        bool decision = false;
        for_each_message(
            d, h,
            [&](const Message& m) {
              ++in_messages_;
              // A decision message, unless it repeats an answer already received (on_message
              // says so): a reply cache answering a request sent twice decides nothing.
              repeat_ = false;
              on_message(h.client_id, node, h.epoch, m, now);
              decision = decision || ((m.type == Type::RouteResponse || m.type == Type::Offer ||
                                       m.type == Type::Ack) &&
                                      !repeat_);
            },
            [&](std::uint64_t, WireError) { ++errors_; });
        nodes_.epoch_heard(h.epoch);
        epochs_.observe(h.epoch, node, decision, static_cast<double>(now - start_ns_) / 1e6);
      }
    }
  }

  // Answer and release, remembered until acknowledged (retransmitted with the same sequence
  // numbers, which acdd answers from its reply cache).
  // With a talk time, the release waits that long (exponential around the mean).
  void answer_and_release(std::uint32_t client, std::uint64_t call) {
    if (talk_ns_ == 0) {
      // One datagram: its messages are applied in order, so the release never overtakes. While
      // a load runs in clear text, the answers and releases of one switch client are collected
      // over a whole receive pass (up to 8 calls a datagram, so that acd's 16 Acks fit one
      // reply datagram), as route requests are, and go out when drain() has nothing more.
      if (batching_) {
        Writer& w = call_writer(client);
        if (w.count() + 2 > 16) {
          w.flush();
        }
        w.add(Type::CallEvent, CallEvent{call, CallEventKind::Answered, {}});
        w.add(Type::CallEvent, CallEvent{call, CallEventKind::Released, {}});
        return;
      }
      Writer w(*this, client);
      w.add(Type::CallEvent, CallEvent{call, CallEventKind::Answered, {}});
      w.add(Type::CallEvent, CallEvent{call, CallEventKind::Released, {}});
      return;
    }
    const std::uint64_t answered = send_call_event(client, call, CallEventKind::Answered);
    talk_state_ = talk_state_ * 6364136223846793005ull + 1442695040888963407ull;
    const double u = static_cast<double>(talk_state_ >> 11) * 0x1.0p-53;
    const auto talk = static_cast<std::uint64_t>(-std::log1p(-u) * static_cast<double>(talk_ns_));
    releases_.push({now_ns() + talk, client, call, answered});
  }

  // Returns the event's seq.
  std::uint64_t send_call_event(std::uint32_t client, std::uint64_t call, CallEventKind kind) {
    Writer w(*this, client);
    return w.add(Type::CallEvent, CallEvent{call, kind, {}});
  }

  // A release goes only once its call's answer is acknowledged (docs/protocol.md, "Ordering"):
  // sent earlier, a retransmission after a failover could reach the new node first.
  void release_due(std::uint64_t now) {
    std::vector<Release> later;
    while (!releases_.empty() && releases_.top().at <= now) {
      const Release r = releases_.top();
      releases_.pop();
      if (outstanding_.contains(key(r.client, r.answered_seq))) {
        later.push_back(Release{now + 1'000'000, r.client, r.call, r.answered_seq});
        continue;
      }
      send_call_event(r.client, r.call, CallEventKind::Released);
    }
    for (const Release& r : later) {
      releases_.push(r);
    }
  }

 public:
  void set_talk_ms(double ms) { talk_ns_ = static_cast<std::uint64_t>(ms * 1e6); }
  // Poll without sleeping at every rate (--spin): a reply is read as soon as it arrives, so the
  // latency measured is the target's, not the generator's sleep (200 us naps below 10k calls/s).
  void set_spin(bool on) { spin_ = on; }

 private:
  struct Release {
    std::uint64_t at;
    std::uint32_t client;
    std::uint64_t call;
    std::uint64_t answered_seq;  // the answer's CallEvent
    bool operator>(const Release& o) const { return at > o.at; }
  };
  std::priority_queue<Release, std::vector<Release>, std::greater<>> releases_;
  std::uint64_t talk_ns_ = 0;
  bool spin_ = false;
  std::uint64_t talk_state_ = 88172645463325252ull;

  // Keeps a request until it is answered: registrations and call events always (sent again after
  // 200 ms; a burst of thousands of registrations can lose answers), every request when driving a
  // pair (sent again after --failover-after, and to the new node at once after a switch).
  void remember(std::uint32_t client, std::uint64_t seq, Type type, const void* body,
                std::size_t size) {
    // Sign-ins are kept too, to be sent again when acdd answers Overloaded (its verifier queue
    // was full), as a desktop would after a back-off (docs/protocol.md).
    if (type != Type::CallEvent && type != Type::AgentEvent && type != Type::Register &&
        type != Type::PasswordChange && !nodes_.pair()) {
      return;
    }
    const std::uint64_t now = now_ns();
    Outstanding o{client, seq, type, static_cast<std::uint8_t>(size), {}, now, now, now};
    std::memcpy(o.body, body, size);
    outstanding_[key(client, seq)] = o;
    if (nodes_.pair()) {
      waiting_.push_back(Waiting{key(client, seq), now});
    }
  }

  void resend(Outstanding& o, std::uint64_t now) {
    Writer w(*this, o.client);
    w.add_raw(o.type, o.body, o.size, o.seq);
    o.sent = now;
    ++retransmissions_;
    if (std::getenv("ACD_LOADGEN_TRACE") != nullptr) {
      std::fprintf(stderr, "acd-loadgen: sent again: client %u seq %llu type %u, first sent %.1f ms ago\n",
                   o.client, static_cast<unsigned long long>(o.seq), static_cast<unsigned>(o.type),
                   static_cast<double>(now - o.first_sent) / 1e6);
    }
  }

  void retransmit(std::uint64_t now) {
    if (now < next_retransmit_) {
      return;
    }
    const std::uint64_t after = nodes_.pair() ? nodes_.failover_after_ns() : kRetransmitNs;
    next_retransmit_ = now + after / 2;
    for (auto& [k, o] : outstanding_) {
      if (o.retry_at != 0) {
        if (now >= o.retry_at) {
          o.retry_at = 0;
          resend(o, now);
        }
      } else if (o.sent <= now &&  // sent after `now` was read (in this pass): not due
                 now - o.sent >= ((o.type == Type::AgentEvent || o.type == Type::PasswordChange) &&
                                          !nodes_.pair()
                                      ? kSignInRetransmitNs
                                      : after)) {
        // A sign-in may take long to check, so it waits longer; but its answer (or acd's
        // Overloaded) can be lost like any datagram, and a sign-in never sent again would wait
        // for ever. acd drops a copy of one still being checked and answers a checked one from
        // its reply cache, so a copy never signs in twice.
        resend(o, now);
      }
    }
  }

  // The first send of the oldest request still waiting (now if none is), but not before the
  // measured run began: a sign-in still waiting for its password check is not an outage.
  std::uint64_t oldest_first_sent(std::uint64_t now) const {
    std::uint64_t oldest = now;
    for (const auto& [k, o] : outstanding_) {
      oldest = std::min(oldest, o.first_sent);
    }
    return std::max(oldest, measuring_since_);
  }

  // After a switch: every request still waiting goes to the new node at once, with its own seq.
  // In each client's seq order, the order they were first sent in.
  void resend_all_to_new_node(std::uint64_t now) {
    waiting_.clear();
    std::vector<std::uint64_t> keys;
    keys.reserve(outstanding_.size());
    for (const auto& [k, o] : outstanding_) {
      keys.push_back(k);
    }
    std::sort(keys.begin(), keys.end());
    for (const std::uint64_t k : keys) {
      Outstanding& o = outstanding_.at(k);
      o.since = now;
      resend(o, now);
      waiting_.push_back(Waiting{k, now});
    }
  }

  // With a pair: switches to the other node when the one in use is silent.
  void follow_pair(std::uint64_t now) {
    if (!nodes_.pair()) {
      return;
    }
    // The oldest request waiting on the node in use; the queue is in send order, entries of
    // answered requests (or of an earlier node) are dropped as they reach the front.
    while (!waiting_.empty()) {
      const auto it = outstanding_.find(waiting_.front().key);
      if (it != outstanding_.end() && it->second.since == waiting_.front().since) {
        break;
      }
      waiting_.pop_front();
    }
    if (!waiting_.empty() && nodes_.silent(waiting_.front().since, now)) {
      nodes_.fail_over(oldest_first_sent(now));
      resend_all_to_new_node(now);
      return;
    }
    // A slow answer (a sign-in's password check takes tens of milliseconds) is not a dead node:
    // while requests wait, the node in use is asked for a Heartbeat, which acd echoes at once,
    // so silence means that nothing at all comes back.
    if (!waiting_.empty() && now >= next_probe_) {
      next_probe_ = now + nodes_.failover_after_ns() / 3;
      Writer w(*this, first_switch_);
      const Heartbeat probe{now, 0};
      w.add_raw(Type::Heartbeat, &probe, sizeof(probe), 0);
    }
  }

  static std::uint64_t key(std::uint32_t client, std::uint64_t seq) {
    return (static_cast<std::uint64_t>(client) << 48) | seq;
  }

  void on_message(std::uint32_t client, const Endpoint& node, std::uint32_t epoch, const Message& m,
                  std::uint64_t now) {
    switch (m.type) {
      case Type::Ack: {
        const auto ack = m.as<Ack>();
        // With a pair every request is remembered until answered: a second answer to it (both
        // nodes answered a Register while the load generator switched) is not a new ack.
        // Every request answered by an Ack is kept until answered, so an Ack for none is a
        // second answer (to a copy sent again) and counts nothing.
        const auto answered = outstanding_.find(key(client, ack.reply_to));
        const bool first = answered != outstanding_.end();
        const bool set_up = first && (answered->second.type == Type::AgentEvent ||
                                      answered->second.type == Type::PasswordChange);
        if (first) {
          outstanding_.erase(answered);
        }
        if (result_ == nullptr) {
          nodes_.answered(node, now);  // before the load starts, an Ack ends an outage
        }
        if (!first) {
          repeat_ = true;
          break;
        }
        if (ack.status == 0) {
          ++acks_;
          if ((ack.flags & kAckMustChangePassword) != 0) {
            ++must_change_acks_;
          }
        } else {
          ++errors_;
          refused_ += set_up ? 1 : 0;  // final: the set-up wait stops counting on it
        }
        break;
      }
      case Type::Error: {
        const auto err = m.as<Error>();
        if (err.reason == static_cast<std::uint16_t>(WireError::NotPrimary)) {
          // Not an error: this node is a standby. With a pair the request waits for the primary.
          ++not_primary_;
          if (!nodes_.pair()) {
            outstanding_.erase(key(client, err.reply_to));
          } else if (node == nodes_.active()) {
            Endpoint named{};
            std::memcpy(&named.address, err.detail, 4);
            std::memcpy(&named.port, err.detail + 4, 2);
            if (nodes_.not_primary(node, named, oldest_first_sent(now)) &&
                nodes_.resend_after_not_primary(now)) {
              resend_all_to_new_node(now);
            }
          }
          break;
        }
        if (err.reason == static_cast<std::uint16_t>(WireError::Overloaded)) {
          const auto it = outstanding_.find(key(client, err.reply_to));
          if (it != outstanding_.end() && (it->second.type == Type::AgentEvent ||
                                           it->second.type == Type::PasswordChange)) {
            Outstanding& o = it->second;
            std::uint32_t hint_ms = 0;  // acd's retry-after (docs/protocol.md), 0: none
            std::memcpy(&hint_ms, err.detail, sizeof(hint_ms));
            talk_state_ = talk_state_ * 6364136223846793005ull + 1442695040888963407ull;
            if (hint_ms != 0) {
              // The turn acd booked, plus up to a tenth more (at most 1 s) so that neighbours
              // spread out.
              const std::uint64_t base = std::uint64_t{hint_ms} * 1'000'000ull;
              o.retry_at = now + base +
                           (talk_state_ >> 33) % (std::min<std::uint64_t>(base / 10, 1'000'000'000) + 1);
            } else {
              // Back-off: 50 ms doubling to 2 s, with jitter so a storm does not come back at once.
              const std::uint64_t base = std::min<std::uint64_t>(
                  50'000'000ull << std::min(o.overloads, 6u), 2'000'000'000ull);
              o.retry_at = now + base / 2 + (talk_state_ >> 33) % (base / 2 + 1);
            }
            ++o.overloads;
            ++signin_overloaded_;
            break;
          }
        }
        if (err.reason == static_cast<std::uint16_t>(WireError::TokenRefused)) {
          const auto it = outstanding_.find(key(client, err.reply_to));
          if (it != outstanding_.end() && it->second.type == Type::AgentEvent) {
            // As a desktop does: ask for the password and sign in with it.
            AgentEvent refused;
            std::memcpy(&refused, it->second.body, sizeof(refused));
            outstanding_.erase(it);
            ++tokens_refused_;
            tokens_.erase(refused.agent_number);
            AgentEvent e = sign_in_event(refused.agent_number, false);
            e.agent = refused.agent;
            Writer w(*this, client);
            w.add(Type::AgentEvent, e);
            break;
          }
        }
        const auto answered = outstanding_.find(key(client, err.reply_to));
        const bool was_waiting = answered != outstanding_.end();
        // A refused sign-in, ready or password change is final (it is not sent again): the
        // set-up wait stops counting on it.
        const bool set_up = was_waiting && (answered->second.type == Type::AgentEvent ||
                                            answered->second.type == Type::PasswordChange);
        if (was_waiting) {
          outstanding_.erase(answered);
        } else if (nodes_.pair()) {
          break;  // answered already
        }
        last_error_ = err.reason;
        if (err.reason == static_cast<std::uint16_t>(acd::router::Status::AlreadySignedIn)) {
          ++acks_;  // signed in by an earlier run: fine
          break;
        }
        if (set_up) {
          ++refused_;
        }
        ++errors_;
        if (result_ != nullptr) {
          ++result_->errors;
          ++result_->error_reasons[err.reason];
        }
        break;
      }
      case Type::RouteResponse: {
        const auto r = m.as<RouteResponse>();
        if (r.reply_to != 0) {
          outstanding_.erase(key(client, r.reply_to));
        }
        nodes_.answered(node, now);
        const bool agent = r.result == RouteResult::Agent;
        if (result_ == nullptr || r.call_id < base_call_ ||
            r.call_id - base_call_ >= first_result_.size()) {
          if (agent) {
            // Every call that reaches an agent is answered and released, even one left over from
            // an earlier trial, so agents never stay reserved.
            answer_and_release(client, r.call_id);
          }
          break;
        }
        const std::uint64_t i = r.call_id - base_call_;
        const auto result = static_cast<std::uint8_t>(r.result);
        if (r.reply_to == 0 && r.result != RouteResult::Queued && !left_queue_[i]) {
          // The call's own decision after it waited (an agent, an overflow): it left its queue.
          left_queue_[i] = true;
          if (first_result_[i] == static_cast<std::uint8_t>(RouteResult::Queued)) {
            --still_queued_;
          }
        }
        // The same answer again (a reply cache answering a request sent twice, or a new primary
        // repeating a decision) is no new decision: nothing to count, nothing to answer.
        if (r.reply_to != 0 && first_result_[i] == result &&
            (!agent || first_agent_[i] == r.agent)) {
          repeat_ = true;
          break;
        }
        if (r.reply_to == 0 && agent && routed_agent_[i] == r.agent + 1) {
          repeat_ = true;
          break;
        }
        if (agent) {
          answer_and_release(client, r.call_id);
        }
        if (r.reply_to != 0) {
          if (first_result_[i] != 0) {
            ++result_->duplicates;  // a second, different answer to one request
            break;
          }
          first_result_[i] = result;
          first_agent_[i] = r.agent;
          ++result_->received;
          result_->latency_us.push_back(static_cast<double>(now - intended_[i]) / 1000.0);
          result_->by_time.emplace_back(static_cast<double>(intended_[i]) / 1e6,
                                        result_->latency_us.back());
          if (r.result == RouteResult::Queued) {
            ++result_->queued;
            if (!left_queue_[i]) {
              ++still_queued_;  // its decision has not overtaken this answer
            }
          }
          if (r.result == RouteResult::Agent || r.result == RouteResult::Queued) {
            result_->admitted_latency_us.push_back(result_->latency_us.back());
          } else if (r.result == RouteResult::Overflow) {
            ++result_->overflowed;
          }
        }
        if (agent) {
          ++result_->routed;
          if (r.reply_to == 0 && routed_agent_[i] == 0) {
            result_->routed_after_wait.push_back(r.call_id);
          }
          routed_agent_[i] = r.agent + 1;
        } else if (r.result == RouteResult::Rejected && r.reply_to != 0) {
          ++result_->rejected;
        }
        break;
      }
      case Type::Offer: {
        // The desktop's copy of a decision the switch already has: the same call at the same
        // agent is that decision again (an old primary woken from a pause may still deliver an
        // Offer its standby acknowledged, after the standby took over with it).
        const auto o = m.as<Offer>();
        if (result_ != nullptr && o.call_id >= base_call_ &&
            o.call_id - base_call_ < routed_agent_.size() &&
            routed_agent_[o.call_id - base_call_] == o.agent + 1) {
          repeat_ = true;
        }
        break;
      }
      case Type::SessionToken: {
        const auto t = m.as<SessionToken>();
        tokens_[t.agent_number] = t.proof;
        ++tokens_received_;
        break;
      }
      case Type::Heartbeat:
        // seq 0 and no time: a node that has just won a newer epoch announces itself
        // (docs/protocol.md); an echo of a probe carries the probe's time.
        if (m.seq == 0 && m.as<Heartbeat>().sent_ns == 0 &&
            nodes_.announced(node, epoch, oldest_first_sent(now))) {
          resend_all_to_new_node(now);
        }
        break;
      default:
        break;  // offers to the desktop: the switch side answers
    }
  }

  int fd_;
  NodeChooser nodes_;
  EpochLedger epochs_;
  std::uint32_t agents_;
  std::uint32_t queue_;
  std::uint64_t first_id_ = 1000;
  std::uint32_t first_index_ = 0;
  std::unordered_map<std::uint32_t, std::uint64_t> seq_;
  std::unordered_map<std::uint64_t, Outstanding> outstanding_;
  std::deque<Waiting> waiting_;  // pair only: outstanding requests by `since`
  std::uint64_t next_retransmit_ = 0;
  std::uint64_t next_probe_ = 0;
  std::uint64_t measuring_since_ = 0;  // when the current run began
  std::uint64_t retransmissions_ = 0;
  std::uint64_t not_primary_ = 0;
  std::uint64_t start_ns_;
  std::uint64_t out_datagrams_ = 0;
  std::uint64_t out_messages_ = 0;
  std::uint64_t in_datagrams_ = 0;
  std::uint64_t in_messages_ = 0;

  // Batched sends (sendmmsg) while a clear-text load to one target runs: datagrams are copied
  // here as their writers finish them and go out together once per pass of the load loop (or
  // when kSendBatch are waiting), one system call for many datagrams.
  static constexpr std::size_t kSendBatch = 64;
  bool batching_ = false;
  bool batch_ok() const { return secure_.empty() && !nodes_.pair(); }
  std::uint8_t send_buf_[kSendBatch][kMaxSendDatagram];
  iovec send_iov_[kSendBatch];
  mmsghdr send_msgs_[kSendBatch];
  std::size_t send_count_ = 0;
  void queue_send(std::span<const std::uint8_t> d) {
    if (send_count_ == kSendBatch) {
      send_batch();
    }
    std::memcpy(send_buf_[send_count_], d.data(), d.size());
    send_iov_[send_count_] = iovec{send_buf_[send_count_], d.size()};
    send_msgs_[send_count_] = mmsghdr{};
    send_msgs_[send_count_].msg_hdr.msg_iov = &send_iov_[send_count_];
    send_msgs_[send_count_].msg_hdr.msg_iovlen = 1;  // the socket is connected to the target
    ++send_count_;
  }
  // The call events collected, then every datagram waiting.
  void flush_sends() {
    call_batch_.clear();  // each writer sends what it holds as it goes
    send_batch();
  }
  void send_batch() {
    std::size_t sent = 0;
    while (sent < send_count_) {
      const int n = sendmmsg(fd_, send_msgs_ + sent, static_cast<unsigned>(send_count_ - sent), 0);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) {
          continue;
        }
        break;  // no room in the socket: dropped, as a single sendto's would be (resent later)
      }
      sent += static_cast<std::size_t>(n);
    }
    send_count_ = 0;
  }
  // One open writer per switch client for the answers and releases of one receive pass.
  std::vector<std::pair<std::uint32_t, std::unique_ptr<Writer>>> call_batch_;
  Writer& call_writer(std::uint32_t client) {
    for (auto& [c, w] : call_batch_) {
      if (c == client) {
        return *w;
      }
    }
    call_batch_.emplace_back(client, std::make_unique<Writer>(*this, client));
    return *call_batch_.back().second;
  }

 public:
  std::uint64_t retransmissions() const { return retransmissions_; }
  // ACDP/2, per target: clients with a session when the first load started, and now.
  const std::vector<std::size_t>& sessions_at_start() const { return sessions_at_start_; }
  std::vector<std::size_t> sessions() const {
    std::vector<std::size_t> out;
    for (const SecureClients* s : secure_) {
      out.push_back(s->established());
    }
    return out;
  }
  std::uint64_t not_primary() const { return not_primary_; }
  const NodeChooser& nodes() const { return nodes_; }
  const EpochLedger& epochs() const { return epochs_; }

 private:
  // Call IDs of this process: calls a previous load generator left in acd (queued when it
  // stopped, offered since to desktops nobody answers) must not collide with ours
  // (DuplicateCall). 20 bits of wall-clock seconds, 16 of the pid, 28 for the calls.
  static std::uint64_t first_call_id() {
    const auto seconds = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(
            std::chrono::system_clock::now().time_since_epoch())
            .count());
    return ((seconds & 0xFFFFF) << 44) | ((static_cast<std::uint64_t>(getpid()) & 0xFFFF) << 28) | 1;
  }
  std::uint64_t next_call_ = first_call_id();
  std::uint64_t base_call_ = next_call_;
  std::uint32_t acks_ = 0;
  std::uint32_t errors_ = 0;
  std::uint32_t refused_ = 0;  // set-up requests refused for good (await_acks)
  bool repeat_ = false;  // on_message: the message repeated an answer already received
  std::map<std::uint64_t, TokenProof> tokens_;
  std::string password_ = "demo-{id}";
  std::string new_password_;  // empty: no password change
  std::uint32_t password_changes_ = 0;
  std::uint32_t token_sign_ins_ = 0;
  std::uint32_t tokens_received_ = 0;
  std::uint32_t tokens_refused_ = 0;
  std::uint32_t signin_overloaded_ = 0;
  std::uint32_t must_change_acks_ = 0;  // sign-ins acknowledged with kAckMustChangePassword
  std::uint32_t first_switch_ = kFirstSwitch;
  double signin_ms_ = 0;
  double signin_began_ms_ = 0;
  std::uint64_t signin_timeout_ns_ = 30'000'000'000ull;
  std::uint64_t settle_ns_ = 3'000'000'000ull;
  std::uint16_t last_error_ = 0;  // reason of the last Error (docs/protocol.md codes)
  std::vector<std::uint64_t> intended_;
  std::vector<std::uint8_t> first_result_;   // RouteResult of the first direct answer, 0: none
  std::vector<bool> left_queue_;  // a decision of its own (reply_to 0) came for the call
  std::uint64_t still_queued_ = 0;  // first answered Queued, no decision of its own yet
  std::vector<std::uint32_t> first_agent_;   // its agent
  std::vector<std::uint32_t> routed_agent_;  // agent + 1 of the last Agent decision, 0: none
  Result* result_ = nullptr;
  std::uint8_t rx_[32][kMaxDatagram];
  std::vector<SecureClients*> secure_;
  std::vector<std::size_t> sessions_at_start_;  // ACDP/2: clients with a session at each node
  std::uint64_t next_handshakes_ = 0;  // keep_sessions(): the next round of inits is due
  std::uint64_t rekey_after_ns_ = 600'000'000'000;
  std::uint8_t opened_[kMaxDatagram];  // ACDP/2: a received datagram, opened
  std::uint8_t sealed_[kMaxDatagram];  // ACDP/2: a datagram to send, sealed
};

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) {
    return 0;
  }
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

// What the load generator heard from the node or pair over all its runs (set-up included).
nlohmann::json pair_report(const LoadGen& gen) {
  nlohmann::json j;
  j["failovers"] = gen.nodes().failovers();
  j["failover_gaps_ms"] = gen.nodes().gaps_ms();
  j["max_failover_gap_ms"] = gen.nodes().max_gap_ms();
  j["not_primary"] = gen.not_primary();
  nlohmann::json epochs = nlohmann::json::array();
  for (const auto& s : gen.epochs().sightings()) {
    epochs.push_back(
        {{"epoch", s.epoch}, {"node", to_string(s.node)}, {"first_seen_ms", s.first_seen_ms}});
  }
  j["epochs"] = epochs;
  j["epoch_conflicts"] = gen.epochs().conflicts();
  j["epoch_regressions"] = gen.epochs().regressions();
  return j;
}

nlohmann::json report(Result& r, double rate) {
  nlohmann::json j;
  j["target_rate"] = rate;
  j["sent"] = r.sent;
  j["received"] = r.received;
  j["lost"] = r.sent - r.received;
  j["queued"] = r.queued;
  j["routed"] = r.routed;
  j["rejected"] = r.rejected;
  j["duplicates"] = r.duplicates;
  j["errors"] = r.errors;
  nlohmann::json reasons = nlohmann::json::object();
  for (const auto& [reason, n] : r.error_reasons) {
    reasons[std::to_string(reason)] = n;
  }
  j["error_reasons"] = reasons;
  j["achieved_rate"] = static_cast<double>(r.received) / r.duration_s;
  j["p50_us"] = percentile(r.latency_us, 0.50);
  j["p90_us"] = percentile(r.latency_us, 0.90);
  j["p99_us"] = percentile(r.latency_us, 0.99);
  j["p999_us"] = percentile(r.latency_us, 0.999);
  j["max_us"] =
      r.latency_us.empty() ? 0.0 : *std::max_element(r.latency_us.begin(), r.latency_us.end());
  j["overflowed"] = r.overflowed;
  j["admitted"] = r.admitted_latency_us.size();
  j["admitted_p50_us"] = percentile(r.admitted_latency_us, 0.50);
  j["admitted_p99_us"] = percentile(r.admitted_latency_us, 0.99);
  j["admitted_p999_us"] = percentile(r.admitted_latency_us, 0.999);
  // The 1 % slowest calls with when each was due (steady clock ms, as signin_began_ms), to see
  // what they coincide with.
  std::sort(r.by_time.begin(), r.by_time.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  nlohmann::json slowest = nlohmann::json::array();
  for (std::size_t k = 0; k < r.by_time.size() && k < (r.by_time.size() + 99) / 100; ++k) {
    slowest.push_back({r.by_time[k].first, r.by_time[k].second});
  }
  j["slowest"] = slowest;
  // The wire's work and the generator's own cost over the load (Result::elapsed_s).
  const double t = r.elapsed_s > 0 ? r.elapsed_s : r.duration_s;
  j["elapsed_s"] = r.elapsed_s;
  j["calls_per_s"] = static_cast<double>(r.received) / t;
  j["datagrams_out"] = r.out_datagrams;
  j["datagrams_in"] = r.in_datagrams;
  j["messages_out"] = r.out_messages;
  j["messages_in"] = r.in_messages;
  j["datagrams_out_per_s"] = static_cast<double>(r.out_datagrams) / t;
  j["datagrams_in_per_s"] = static_cast<double>(r.in_datagrams) / t;
  j["messages_out_per_s"] = static_cast<double>(r.out_messages) / t;
  j["messages_in_per_s"] = static_cast<double>(r.in_messages) / t;
  j["retransmitted"] = r.retransmitted;
  j["loadgen_cpu_user_s"] = r.cpu_user_s;
  j["loadgen_cpu_sys_s"] = r.cpu_sys_s;
  j["loadgen_cpu_share"] = (r.cpu_user_s + r.cpu_sys_s) / t;  // of one CPU (it spins: see idle)
  j["loadgen_idle_share"] = r.idle_share;
  return j;
}

// Nothing lost and the p99 within the bound: a trial the target served.
bool served(const Result& r, double p99_us, double bound_us) {
  return r.received == r.sent && r.rejected == 0 && r.retransmitted == 0 && r.errors == 0 &&
         p99_us <= bound_us;
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// Median, lowest and highest of each numeric figure over `runs`.
nlohmann::json summarize(const nlohmann::json& runs) {
  nlohmann::json out;
  for (const char* part : {"median", "min", "max"}) {
    out[part] = nlohmann::json::object();
  }
  if (runs.empty()) {
    return out;
  }
  for (const auto& [name, value] : runs[0].items()) {
    if (!value.is_number()) {
      continue;
    }
    std::vector<double> v;
    for (const auto& run : runs) {
      v.push_back(run.value(name, 0.0));
    }
    out["median"][name] = median_of(v);
    out["min"][name] = *std::min_element(v.begin(), v.end());
    out["max"][name] = *std::max_element(v.begin(), v.end());
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"acd-loadgen: open-loop load generator for acdd"};
  std::string target;
  std::string rate_text;
  double duration = 0;
  std::uint32_t agents = 50;
  std::uint32_t queue = 0;
  bool json = false;
  app.add_option("--target", target,
                 "acdd address, A.B.C.D:PORT; or a hot-standby pair, A.B.C.D:PORT,A.B.C.D:PORT "
                 "(requests go to the first until it is silent or answers NotPrimary)");
  app.add_option("--rate", rate_text,
                 "Route requests per second; 'max' to find the highest loss-free rate; "
                 "'capacity' to find the highest rate served within --p99-bound-us");
  app.add_option("--duration", duration, "Seconds of load")->check(CLI::Range(0.01, 31'536'000.0));
  app.add_option("--agents", agents, "Agents to sign in (IDs 1000.., password demo-<ID>)")
      ->check(CLI::Range(1u, 100'000u));
  app.add_option("--queue", queue, "Queue of the route requests");
  std::uint64_t first_agent = 1000;
  std::uint32_t first_index = 0;
  app.add_option("--first-agent", first_agent, "ID of the first agent")->capture_default_str();
  app.add_option("--first-index", first_index, "Engine index of the first agent")
      ->capture_default_str();
  double talk_ms = 0;
  app.add_option("--talk-ms", talk_ms,
                 "Mean talk time before a call is released (exponential); 0 = at once")
      ->check(CLI::Range(0.0, 3'600'000.0));
  double failover_after_ms = 30;
  auto* failover_after =
      app.add_option("--failover-after", failover_after_ms,
                     "Pair only: milliseconds a request may go unanswered by a silent node before "
                     "switching to the other (also the pair's retransmission interval)")
          ->check(CLI::Range(1.0, 60'000.0))
          ->capture_default_str();
  std::uint32_t first_switch = kFirstSwitch;
  app.add_option("--first-switch", first_switch,
                 "Client ID of the first of the 32 switch clients (two load generators on one "
                 "node need different ones, clear of the desktops' 1000 + agent index)")
      ->check(CLI::Range(1u, 900u))
      ->capture_default_str();
  double signin_timeout = 30;
  app.add_option("--signin-timeout", signin_timeout,
                 "Seconds the set-up (registration, sign-in, ready) may take per step")
      ->check(CLI::Range(1.0, 3600.0))
      ->capture_default_str();
  double settle = 3;
  app.add_option("--settle-s", settle,
                 "Seconds past the end of the load to wait for calls answered Queued to be "
                 "routed (a run ends sooner when none waits)")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app.add_flag("--json", json, "Print one JSON object");
  bool spin = false;
  app.add_flag("--spin", spin,
               "Poll without sleeping at any rate (always with --rate capacity): the latency is the "
               "target's, not the generator's naps");
  double p99_bound_us = 1000;
  double trial_s = 1;
  unsigned reps = 1;
  double capacity_start = 5'000;
  double capacity_max = 20'000'000;
  app.add_option("--p99-bound-us", p99_bound_us,
                 "--rate capacity: the p99 a served rate stays within (microseconds)")
      ->capture_default_str();
  app.add_option("--trial-s", trial_s, "--rate capacity: seconds of each trial of the search")
      ->check(CLI::Range(0.05, 60.0))->capture_default_str();
  app.add_option("--reps", reps,
                 "Runs of each search step and of the measured load (median, min, max reported)")
      ->check(CLI::Range(1u, 99u))->capture_default_str();
  app.add_option("--capacity-start", capacity_start, "--rate capacity: the first rate tried")
      ->check(CLI::Range(1.0, 1e9))->capture_default_str();
  app.add_option("--capacity-max", capacity_max, "--rate capacity: the highest rate tried")
      ->check(CLI::Range(1.0, 1e9))->capture_default_str();
  std::string routed_order;
  app.add_option("--routed-order", routed_order,
                 "Write to FILE the IDs of the calls given an agent after waiting, one a line, in "
                 "the order those decisions arrived");
  std::string token_file;
  app.add_option("--token-file", token_file,
                 "ACDP/2: sign agents in with the session tokens FILE holds (if it exists), and "
                 "write the tokens acd sent to it at the end");
  std::string keys_dir;
  std::string server_key;
  std::string write_keys;
  std::string aead = "chacha20-poly1305";
  app.add_option("--aead", aead, "ACDP/2: the data datagrams' AEAD, as acdd's [security] aead")
      ->check(CLI::IsMember({"chacha20-poly1305", "aes256-gcm"}))
      ->capture_default_str();
  double rekey_after = 600;
  app.add_option("--rekey-after", rekey_after,
                 "ACDP/2: seconds after which a client makes a new session (keep it below acdd's "
                 "[security] session_lifetime_s); a client whose datagrams go unanswered for 1 s "
                 "makes a new one at once")
      ->check(CLI::Range(1.0, 604'800.0))
      ->capture_default_str();
  app.add_option("--keys-dir", keys_dir,
                 "ACDP/2: the clients' secret keys, DIR/lg-switch-<k>.key (k = 0..31) and "
                 "DIR/lg-desk-<agent ID>.key (needs --server-key)");
  app.add_option(
      "--server-key", server_key,
      "ACDP/2: a file with acdd's public key (base64, as acdctl key generate prints it); "
      "FILE_A,FILE_B for a pair whose nodes have their own keys");
  double flood_rate = 0;
  app.add_option("--flood", flood_rate,
                 "Send only a forged ACDP/2 flood at this many datagrams/s for --duration (half data "
                 "datagrams naming random sessions, half handshake inits with a right mac1 for "
                 "--server-key), then print how many went; no clients are played")
      ->check(CLI::Range(1.0, 10'000'000.0));
  std::uint32_t flood_sources = 250;
  app.add_option("--flood-sources", flood_sources,
                 "--flood: source addresses 127.2.0.1.. the flood comes from")
      ->check(CLI::Range(1u, 250u))
      ->capture_default_str();
  std::uint32_t flood_burst = 0;
  app.add_option("--flood-burst", flood_burst,
                 "--flood: send N datagrams back to back every N / RATE seconds (same rate, in "
                 "bursts); 0: evenly, 8 at a time")
      ->check(CLI::Range(0u, 100'000u))
      ->capture_default_str();
  app.add_option("--write-keys", write_keys,
                 "Write the missing client keys for --agents/--first-agent into DIR and "
                 "DIR/clients.toml (their [[clients]] blocks for acd.toml), then exit");
  std::string password = "demo-{id}";
  app.add_option("--password", password,
                 "The agents' password; {id} stands for the agent's ID")
      ->capture_default_str();
  std::string change_password;
  app.add_option("--change-password", change_password,
                 "ACDP/2: once signed in, each desktop changes its agent's password from "
                 "--password to this one ({id}: the agent's ID) and waits for the Ack; the report "
                 "adds password_changes");
  app.footer(
      "With two targets every request is kept until answered and sent again every "
      "--failover-after; after a switch (silence, or Error NotPrimary: to the node it names if "
      "that is the other target, else to the other target) every unanswered request goes to the "
      "new node at once, same seq. The report adds failovers, failover_gaps_ms (per outage: the "
      "oldest waiting request's first send to the new node's first RouteResponse, or first Ack "
      "before the load starts), max_failover_gap_ms, not_primary (not counted in errors), epochs "
      "({epoch, node, first_seen_ms}), epoch_conflicts (decisions in an epoch another node "
      "decided in) and epoch_regressions (decisions in an epoch below the highest decided).");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help prints and succeeds; every other parse problem is a usage error: exit status 2.
    return app.exit(e) == 0 ? 0 : 2;
  }

  // The clients this run plays, by local number, and their ACDP/2 identities.
  std::vector<acd::loadgen::Identity> identities;
  for (std::uint32_t k = 0; k < kSwitchClients; ++k) {
    identities.push_back({first_switch + k, "lg-switch-" + std::to_string(k), "switch"});
  }
  for (std::uint32_t a = 0; a < agents; ++a) {
    identities.push_back(
        {kFirstDesktop + first_index + a, "lg-desk-" + std::to_string(first_agent + a), "desktop"});
  }
  if (!write_keys.empty()) {
    if (const std::string e = acd::loadgen::write_identities(write_keys, identities); !e.empty()) {
      std::cerr << "acd-loadgen: --write-keys: " << e << "\n";
      return 1;
    }
    std::cout << "acd-loadgen: " << identities.size() << " client keys in " << write_keys
              << "; add " << write_keys << "/clients.toml to acd.toml\n";
    return 0;
  }
  if (flood_rate > 0) {
    Endpoint to;
    std::string why;
    const auto key = server_key.empty() ? std::nullopt
                                        : acd::loadgen::read_public_key_file(server_key, why);
    if (!parse_endpoint(target, to) || duration <= 0 || !key) {
      std::cerr << "acd-loadgen: --flood needs one --target, --duration and --server-key"
                << (why.empty() ? "" : " (" + why + ")") << "\n";
      return 2;
    }
    // SIGTERM or SIGINT ends the flood early, with its report (the benchmark stops it when the
    // clients it floods are done).
    static std::atomic<bool> flood_stop{false};
    static_assert(std::atomic<bool>::is_always_lock_free);
    std::signal(SIGTERM, [](int) { flood_stop.store(true, std::memory_order_relaxed); });
    std::signal(SIGINT, [](int) { flood_stop.store(true, std::memory_order_relaxed); });
    const acd::loadgen::FloodReport r =
        acd::loadgen::run_flood(*key, to.address, to.port, flood_rate, duration, flood_sources,
                                flood_burst, &flood_stop);
    if (!r.why.empty()) {
      std::cerr << "acd-loadgen: --flood: " << r.why << "\n";
      return 1;
    }
    if (json) {
      std::cout << nlohmann::json{{"flood_sent", r.sent},
                                  {"flood_seconds", r.seconds},
                                  {"flood_rate", r.seconds > 0 ? static_cast<double>(r.sent) / r.seconds : 0.0},
                                  {"flood_send_errors", r.send_errors},
                                  {"flood_cpu_percent",
                                   r.seconds > 0 ? 100.0 * r.cpu_seconds / r.seconds : 0.0}}
                       .dump(2)
                << "\n";
    } else {
      std::cout << "flood: " << r.sent << " forged datagrams in " << r.seconds << " s ("
                << (r.seconds > 0 ? static_cast<double>(r.sent) / r.seconds : 0.0) << "/s), " << r.send_errors
                << " not taken by the socket, " << r.cpu_seconds << " s of CPU\n";
    }
    return 0;
  }
  if (target.empty() || rate_text.empty() || duration <= 0) {
    std::cerr << "acd-loadgen: --target, --rate and --duration are required (or --write-keys)\n";
    return 2;
  }
  if (keys_dir.empty() != server_key.empty()) {
    std::cerr << "acd-loadgen: ACDP/2 needs both --keys-dir and --server-key\n";
    return 2;
  }
  if (!change_password.empty() && keys_dir.empty()) {
    std::cerr << "acd-loadgen: --change-password needs ACDP/2 (--keys-dir, --server-key): acd "
                 "refuses a password change in clear text\n";
    return 2;
  }
  if (password.empty() || password.size() >= acd::dataplane::wire::kPasswordBytes ||
      change_password.size() >= acd::dataplane::wire::kPasswordBytes) {
    std::cerr << "acd-loadgen: --password and --change-password hold 1 to "
              << acd::dataplane::wire::kPasswordBytes - 1 << " bytes\n";
    return 2;
  }

  std::vector<Endpoint> targets;
  for (std::size_t at = 0;;) {
    const std::size_t comma = target.find(',', at);
    Endpoint to;
    if (!parse_endpoint(target.substr(at, comma == std::string::npos ? comma : comma - at), to)) {
      targets.clear();
      break;
    }
    targets.push_back(to);
    if (comma == std::string::npos) {
      break;
    }
    at = comma + 1;
  }
  if (targets.empty() || targets.size() > 2 || (targets.size() == 2 && targets[0] == targets[1])) {
    std::cerr << "acd-loadgen: --target must be A.B.C.D:PORT or two different addresses "
                 "A.B.C.D:PORT,A.B.C.D:PORT\n";
    return 2;
  }
  if (failover_after->count() > 0 && targets.size() == 1) {
    std::cerr << "acd-loadgen: --failover-after needs two targets (--target A:PORT,B:PORT)\n";
    return 2;
  }
  const bool find_max = rate_text == "max";
  const bool find_capacity = rate_text == "capacity";
  double rate = 0;
  if (!find_max && !find_capacity) {
    try {
      rate = std::stod(rate_text);
    } catch (...) {
      rate = 0;
    }
    if (!(rate > 0)) {
      std::cerr << "acd-loadgen: --rate must be a positive number or 'max'\n";
      return 2;
    }
  }
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const int size = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  if (targets.size() == 1) {
    // One target: connected, so only its datagrams arrive. A pair's socket takes both nodes'.
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = targets[0].address;
    addr.sin_port = targets[0].port;
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      std::cerr << "acd-loadgen: connect: " << std::strerror(errno) << "\n";
      return 1;
    }
  }
  LoadGen gen(fd, NodeChooser(targets, static_cast<std::uint64_t>(failover_after_ms * 1'000'000.0)),
              agents, queue);
  gen.set_first_agent(first_agent, first_index);
  gen.set_talk_ms(talk_ms);
  gen.set_spin(spin || find_capacity);
  std::vector<std::unique_ptr<SecureClients>> secure;
  if (!keys_dir.empty()) {
    // One key for both nodes of a pair, or one each (--server-key A,B).
    std::vector<std::string> files;
    for (std::size_t at = 0;;) {
      const std::size_t comma = server_key.find(',', at);
      files.push_back(server_key.substr(at, comma == std::string::npos ? comma : comma - at));
      if (comma == std::string::npos) {
        break;
      }
      at = comma + 1;
    }
    if (files.size() != 1 && files.size() != targets.size()) {
      std::cerr << "acd-loadgen: --server-key takes one file, or one per target\n";
      return 2;
    }
    std::vector<SecureClients*> nodes;
    for (std::size_t t = 0; t < targets.size(); ++t) {
      std::string why;
      const auto server = acd::loadgen::read_public_key_file(files[files.size() == 1 ? 0 : t], why);
      if (!server) {
        std::cerr << "acd-loadgen: --server-key " << why << "\n";
        return 2;
      }
      const Endpoint node = targets[t];
      const auto cipher = aead == "aes256-gcm" ? acd::dataplane::secure::Aead::Aes256Gcm
                                               : acd::dataplane::secure::Aead::ChaCha20Poly1305;
      if (!acd::dataplane::secure::aead_available(cipher)) {
        std::cerr << "acd-loadgen: --aead aes256-gcm needs a CPU with AES-NI\n";
        return 2;
      }
      secure.push_back(std::make_unique<SecureClients>(
          *server, [&gen, node](std::span<const std::uint8_t> d) { gen.send_to(node, d); },
          cipher));
      if (const std::string e = secure.back()->load(keys_dir, identities); !e.empty()) {
        std::cerr << "acd-loadgen: --keys-dir: " << e << "\n";
        return 1;
      }
      nodes.push_back(secure.back().get());
    }
    gen.set_secure(nodes);
  }
  gen.set_signin_timeout(signin_timeout);
  gen.set_settle(settle);
  gen.set_rekey_after(static_cast<std::uint64_t>(rekey_after * 1e9));
  gen.set_first_switch(first_switch);
  gen.set_passwords(password, change_password);
  if (!token_file.empty()) {
    if (const std::string e = read_tokens(token_file, gen.tokens()); !e.empty()) {
      std::cerr << "acd-loadgen: --token-file: " << e << "\n";
      return 1;
    }
  }
  std::string why;
  if (!gen.setup(why)) {
    std::cerr << "acd-loadgen: set-up failed: " << why << "\n";
    return 1;
  }
  nlohmann::json out;
  if (find_max) {
    // Double until a one-second trial loses a request, then bisect between the last two rates.
    double good = 0;
    double bad = 0;
    for (double r = 5'000; r <= 20'000'000; r *= 2) {
      Result trial = gen.run(r, 1.0);
      if (trial.received < trial.sent || trial.rejected > 0) {
        bad = r;
        break;
      }
      good = r;
    }
    for (int step = 0; step < 5 && bad > 0 && good > 0; ++step) {
      const double mid = (good + bad) / 2;
      Result trial = gen.run(mid, 1.0);
      (trial.received < trial.sent || trial.rejected > 0 ? bad : good) = mid;
    }
    rate = good > 0 ? good : 1'000;
    out["max_loss_free_rate"] = good;
  }
  if (find_capacity) {
    // The highest rate the target serves: a step is --reps trials of --trial-s at one rate, and
    // passes when most of them (the median trial) lost nothing (no request unanswered, sent
    // again, refused or answered Error) and kept the p99 within --p99-bound-us. Doubling from
    // --capacity-start until a step fails (halving if the first fails), then five bisections
    // between the last two rates.
    nlohmann::json steps = nlohmann::json::array();
    auto step = [&](double at) {
      nlohmann::json trials = nlohmann::json::array();
      std::vector<double> p99s;
      unsigned ok = 0;
      for (unsigned k = 0; k < reps; ++k) {
        Result t = gen.run(at, trial_s);
        const double p99 = percentile(t.latency_us, 0.99);
        p99s.push_back(p99);
        ok += served(t, p99, p99_bound_us) ? 1 : 0;
        trials.push_back({{"p99_us", p99},
                          {"lost", t.sent - t.received},
                          {"retransmitted", t.retransmitted},
                          {"errors", t.errors},
                          {"calls_per_s", static_cast<double>(t.received) /
                                              std::max(t.elapsed_s, 1e-9)}});
      }
      const bool pass = 2 * ok > reps;
      std::fprintf(stderr, "acd-loadgen: %.0f calls/s: %u of %u trials served, median p99 %.0f us\n",
                   at, ok, reps, median_of(p99s));
      steps.push_back({{"rate", at}, {"served", pass}, {"median_p99_us", median_of(p99s)},
                       {"trials", trials}});
      return pass;
    };
    double good = 0;
    double bad = 0;
    for (double at = capacity_start; at <= capacity_max; at *= 2) {
      if (!step(at)) {
        bad = at;
        break;
      }
      good = at;
    }
    // Not served even at the first rate: halving, down to a 64th of it.
    for (double at = capacity_start / 2; good == 0 && at >= capacity_start / 64; at /= 2) {
      (step(at) ? good : bad) = at;
    }
    for (int k = 0; k < 5 && good > 0 && bad > 0; ++k) {
      const double mid = (good + bad) / 2;
      (step(mid) ? good : bad) = mid;
    }
    out["capacity"] = good;
    out["p99_bound_us"] = p99_bound_us;
    out["capacity_steps"] = steps;
    rate = good > 0 ? good : capacity_start;
  }
  // The measured load, --reps times: the last run's figures at the top level (as before), every
  // run's and their median, min and max under "runs" and "summary" when there are several.
  Result r;
  nlohmann::json runs = nlohmann::json::array();
  std::uint64_t duplicates = 0;
  for (unsigned k = 0; k < reps; ++k) {
    r = gen.run(rate, duration);
    duplicates += r.duplicates;
    nlohmann::json one = report(r, rate);
    one.erase("slowest");
    runs.push_back(one);
  }
  out.update(report(r, rate));
  if (reps > 1) {
    out["runs"] = runs;
    out["summary"] = summarize(runs);
  }
  if (!routed_order.empty()) {
    std::ofstream order(routed_order);
    for (const std::uint64_t id : r.routed_after_wait) {
      order << id << "\n";
    }
    if (!order.flush()) {
      std::cerr << "acd-loadgen: cannot write " << routed_order << "\n";
      return 1;
    }
  }
  out["retransmissions"] = gen.retransmissions();
  if (!keys_dir.empty()) {
    out["sessions_at_start"] = gen.sessions_at_start();
    out["sessions"] = gen.sessions();
    out["renewals"] = gen.renewals();
    out["renewed"] = gen.renewed();
  }
  out["signin_ms"] = gen.signin_ms();
  if (!change_password.empty()) {
    out["password_changes"] = gen.password_changes();
  }
  out["signin_began_ms"] = gen.signin_began_ms();
  out["signin_overloaded"] = gen.signin_overloaded();
  if (!token_file.empty()) {
    out["token_sign_ins"] = gen.token_sign_ins();
    out["tokens_received"] = gen.tokens_received();
    out["tokens_refused"] = gen.tokens_refused();
    if (const std::string e = write_tokens(token_file, gen.tokens()); !e.empty()) {
      std::cerr << "acd-loadgen: --token-file: " << e << "\n";
      return 1;
    }
  }
  out.update(pair_report(gen));
  if (json) {
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << out.dump() << "\n";
  }
  close(fd);
  return duplicates == 0 ? 0 : 3;
}
