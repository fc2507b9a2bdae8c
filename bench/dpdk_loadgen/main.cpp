// acd-dpdk-loadgen: acdd's poll-mode path seen from a client. A DPDK process of its own (its own
// EAL, here the client end of a net_memif link whose server end is `acdd --backend dpdk`) that
// speaks ACDP/1 as acd-loadgen does in clear text: 32 switch clients and one desktop per agent
// register, every agent signs in at its desktop (password demo-<ID>) and is made ready; then the
// switch clients send route requests, 16 to a datagram, and every call routed to an agent is
// answered and released by the switch client that routed it (8 calls to a datagram). Each request
// is sent once: memif loses nothing unless a ring is full, and what is not answered is reported.
//
//   acd-dpdk-loadgen --dpdk-args "EAL ARGS" --local A.B.C.D:PORT --target A.B.C.D:PORT
//                    --target-mac XX:XX:XX:XX:XX:XX [--agents N] [--duration S] [--rate N]
//                    [--window N] [--json]
//
// --rate 0 (the default) sends as fast as the window allows: at most --window route requests
// unanswered at any time. With a rate, request i is due at start + i / rate and its latency is
// measured from then (a stall shows in the percentiles rather than lowering the rate). The report
// gives the route requests answered per second during the load, the latency of the first answer
// to each (p50, p99, p99.9), what the answers were, the datagrams each way, and the generator's own
// CPU time: its polling thread's and the whole process's (a poll-mode loop spins, so its share is
// near 1 by nature; idle_share, the passes of the loop that received nothing and had nothing to
// send, says how much of it was waiting).
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "acd/dataplane/codec.hpp"
#include "acd/dataplane/dpdk_port.hpp"
#include "acd/router/types.hpp"

namespace {

using namespace acd::dataplane;
using namespace acd::dataplane::wire;

constexpr std::uint32_t kSwitchClients = 32;
constexpr std::uint32_t kFirstSwitch = 100;
constexpr std::uint32_t kFirstDesktop = 1000;
constexpr std::size_t kRoutesPerDatagram = 16;  // their 16 answers fit one reply datagram
constexpr std::size_t kCallsPerDatagram = 8;    // answered + released: 16 messages, 16 Acks
constexpr std::size_t kBatch = 64;              // datagrams handed to the port at once
constexpr std::size_t kRing = 1u << 17;         // slots for unanswered requests, > any window
constexpr double kBucketNs = 100;               // latency histogram resolution
constexpr std::size_t kBuckets = 1u << 20;      // up to ~105 ms; later ones in the last bucket

std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}
double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}
double process_cpu_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

bool parse_mac(const std::string& text, std::array<std::uint8_t, 6>& mac) {
  unsigned b[6];
  char tail = 0;
  if (std::sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
                  &tail) != 6) {
    return false;
  }
  for (int i = 0; i < 6; ++i) {
    if (b[i] > 0xFF) {
      return false;
    }
    mac[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(b[i]);
  }
  return true;
}

struct Report {
  std::uint64_t sent = 0;      // route requests sent during the load
  std::uint64_t answered = 0;  // of them, answered (a RouteResponse with reply_to)
  std::uint64_t answered_in_time = 0;  // answered before the load's end
  std::uint64_t routed = 0;    // decisions naming an agent (first answers and later ones)
  std::uint64_t queued = 0;
  std::uint64_t overflowed = 0;
  std::uint64_t rejected = 0;
  std::uint64_t still_queued = 0;  // answered Queued, no later decision by the end
  std::uint64_t errors = 0;
  std::map<std::uint16_t, std::uint64_t> error_reasons;
  std::uint64_t call_events = 0;  // answered + released sent
  std::uint64_t call_event_acks = 0;
  std::uint64_t offers = 0;  // to the desktops
  std::uint64_t out_datagrams = 0, in_datagrams = 0, out_messages = 0, in_messages = 0;
  std::uint64_t not_sent = 0;  // datagrams the port did not take (ring full, no mbuf)
  double seconds = 0;
  double elapsed = 0;  // the load and the wait for its last answers
  double thread_cpu = 0, process_cpu = 0, idle_share = 0;
  std::vector<std::uint32_t> histogram = std::vector<std::uint32_t>(kBuckets, 0);

  void count_error(std::uint16_t reason) {
    ++errors;
    ++error_reasons[reason];
  }
  double percentile(double q) const {
    if (answered == 0) {
      return 0;
    }
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(answered - 1));
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < kBuckets; ++b) {
      seen += histogram[b];
      if (seen > rank) {
        return (static_cast<double>(b) + 0.5) * kBucketNs / 1000.0;
      }
    }
    return static_cast<double>(kBuckets) * kBucketNs / 1000.0;
  }
};

class Generator {
 public:
  Generator(DpdkPort& port, Endpoint target, std::uint32_t agents)
      : port_(port), target_(target), agents_(agents), seq_(kFirstDesktop + agents, 0),
        buffers_(kBatch), out_(kBatch), sent_ns_(kRing, 0), pending_(kRing, 0) {
    writers_.reserve(kBatch);
  }

  // Registers the switch clients and the desktops, signs every agent in and makes it ready.
  bool setup(std::string& why) {
    std::vector<Request> regs;
    for (std::uint32_t k = 0; k < kSwitchClients; ++k) {
      regs.push_back(request(kFirstSwitch + k, Type::Register,
                             Register{static_cast<std::uint32_t>(Role::Switch), 0, now_ns()}));
    }
    for (std::uint32_t a = 0; a < agents_; ++a) {
      regs.push_back(request(kFirstDesktop + a, Type::Register,
                             Register{static_cast<std::uint32_t>(Role::Desktop), 0, now_ns()}));
    }
    if (!exchange(regs, "registrations", why)) {
      return false;
    }
    std::vector<Request> sign_ins;
    std::vector<Request> readies;
    for (std::uint32_t a = 0; a < agents_; ++a) {
      AgentEvent e{};
      e.agent = a;
      e.agent_number = 1000 + a;
      e.kind = AgentEventKind::SignIn;
      std::snprintf(e.password, sizeof(e.password), "demo-%u", 1000 + a);
      sign_ins.push_back(request(kFirstDesktop + a, Type::AgentEvent, e));
      AgentEvent r{};
      r.agent = a;
      r.agent_number = 1000 + a;
      r.kind = AgentEventKind::Ready;
      readies.push_back(request(kFirstDesktop + a, Type::AgentEvent, r));
    }
    const bool ok = exchange(sign_ins, "sign-ins", why) && exchange(readies, "ready", why);
    setup_acks_.clear();
    return ok;
  }

  // The load: route requests for `seconds`, then up to `grace_s` for the last answers and for the
  // queued calls' decisions (each routed call answered and released, so no agent stays busy).
  Report run(double seconds, double rate, std::uint32_t window, double grace_s) {
    Report r;
    const double thread_before = thread_cpu_s();
    const double process_before = process_cpu_s();
    const std::uint64_t start = now_ns();
    const std::uint64_t end = start + static_cast<std::uint64_t>(seconds * 1e9);
    const std::uint64_t stop = end + static_cast<std::uint64_t>(grace_s * 1e9);
    load_end_ = end;
    const double interval_ns = rate > 0 ? 1e9 / rate : 0;
    report_ = &r;
    std::uint64_t passes = 0, idle = 0;
    std::uint32_t next_switch = 0;
    for (std::uint64_t now = start; now < stop; now = now_ns()) {
      ++passes;
      bool busy = false;
      // Route requests: whole datagrams while the window has room and requests are due.
      while (now < end && used_ < kBatch && outstanding_ + kRoutesPerDatagram <= window) {
        const std::uint64_t due =
            rate > 0 ? start + static_cast<std::uint64_t>(static_cast<double>(r.sent) * interval_ns)
                     : now;
        if (due > now) {
          break;
        }
        const std::uint32_t client = kFirstSwitch + next_switch;
        next_switch = (next_switch + 1) % kSwitchClients;
        DatagramWriter& w = writer(client);
        // Paced: only the requests already due (a datagram never carries one early).
        for (std::size_t k = 0; k < kRoutesPerDatagram; ++k) {
          const std::uint64_t intended =
              rate > 0 ? start + static_cast<std::uint64_t>(static_cast<double>(r.sent) *
                                                            interval_ns)
                       : now;
          if (intended > now) {
            break;
          }
          RouteRequest rr{};
          rr.call_id = next_call_;
          rr.language = 0xFFFF;
          sent_ns_[next_call_ % kRing] = intended;
          pending_[next_call_ % kRing] = 1;
          w.add(Type::RouteRequest, ++seq_[client], rr);
          ++next_call_;
          ++r.sent;
          ++outstanding_;
        }
        close_datagram(w);
        busy = true;
      }
      busy = receive() || busy;
      busy = flush() || busy;
      idle += busy ? 0 : 1;
      if (now >= end && outstanding_ == 0 && waiting_ == 0 && acks_due_ == 0) {
        break;
      }
    }
    flush();
    r.seconds = seconds;
    r.elapsed = static_cast<double>(now_ns() - start) / 1e9;
    r.thread_cpu = thread_cpu_s() - thread_before;
    r.process_cpu = process_cpu_s() - process_before;
    r.idle_share = passes > 0 ? static_cast<double>(idle) / static_cast<double>(passes) : 0;
    r.still_queued = waiting_;
    r.not_sent = not_sent_;
    load_end_ = 0;
    report_ = nullptr;
    return r;
  }

 private:
  struct Request {
    std::uint32_t client;
    std::uint64_t seq;
    Type type;
    std::vector<std::uint8_t> body;
  };
  template <typename Body>
  Request request(std::uint32_t client, Type type, const Body& body) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(&body);
    return Request{client, ++seq_[client], type, std::vector<std::uint8_t>(p, p + sizeof(body))};
  }

  // Sends each request in a datagram of its own and waits for its Ack (or AlreadySignedIn);
  // unanswered ones go again, same seq, every 500 ms; 30 s in all.
  bool exchange(const std::vector<Request>& requests, const char* what, std::string& why) {
    setup_acks_.clear();
    for (const Request& q : requests) {
      setup_acks_[key(q.client, q.seq)] = 0;
    }
    const std::uint64_t deadline = now_ns() + 30'000'000'000ull;
    std::uint64_t next_send = 0;
    while (setup_pending() > 0) {
      const std::uint64_t now = now_ns();
      if (now > deadline) {
        why = std::string(what) + ": " + std::to_string(setup_pending()) + " of " +
              std::to_string(requests.size()) + " unanswered after 30 s" + last_error_;
        return false;
      }
      if (now >= next_send) {
        for (const Request& q : requests) {
          if (setup_acks_[key(q.client, q.seq)] == 0) {
            DatagramWriter& w = writer(q.client);
            w.add(q.type, q.seq, q.body.data(), q.body.size());
            close_datagram(w);
            if (used_ == kBatch) {
              flush();
            }
          }
        }
        flush();
        next_send = now + 500'000'000;
      }
      receive();
    }
    return true;
  }
  std::size_t setup_pending() const {
    return static_cast<std::size_t>(
        std::count_if(setup_acks_.begin(), setup_acks_.end(), [](const auto& e) { return e.second == 0; }));
  }
  static std::uint64_t key(std::uint32_t client, std::uint64_t seq) {
    return (static_cast<std::uint64_t>(client) << 48) | seq;
  }

  // The next datagram of the batch, for `client`; closed (close_datagram) before the next opens.
  DatagramWriter& writer(std::uint32_t client) {
    if (used_ == kBatch) {
      flush();
    }
    writers_.emplace_back(std::span<std::uint8_t>(buffers_[used_]), client);
    return writers_.back();
  }
  void close_datagram(DatagramWriter& w) {
    const std::size_t n = w.finish();
    out_messages_ += w.count();
    out_[used_] = Datagram{target_, std::span<const std::uint8_t>(buffers_[used_].data(), n)};
    ++used_;
  }
  bool flush() {
    if (used_ == 0) {
      return false;
    }
    const std::size_t taken = port_.send(std::span<const Datagram>(out_.data(), used_));
    not_sent_ += used_ - taken;
    if (report_ != nullptr) {
      report_->out_datagrams += taken;
      report_->out_messages += out_messages_;
    }
    out_messages_ = 0;
    used_ = 0;
    writers_.clear();
    return true;
  }

  // One receive burst; the answers and releases it calls for are added to the batch.
  bool receive() {
    std::array<Datagram, kBatch> in;
    const std::size_t n = port_.receive(in);
    const std::uint64_t now = now_ns();
    for (std::size_t i = 0; i < n; ++i) {
      DatagramHeader h;
      if (check_header(in[i].payload, h) != HeaderCheck::Ok) {
        ++bad_;
        continue;
      }
      if (report_ != nullptr) {
        ++report_->in_datagrams;
      }
      for_each_message(
          in[i].payload, h, [&](const Message& m) { on_message(h.client_id, m, now); },
          [&](std::uint64_t, WireError) { ++bad_; });
    }
    flush_call_events();
    return n > 0;
  }

  void on_message(std::uint32_t client, const Message& m, std::uint64_t now) {
    if (report_ != nullptr) {
      ++report_->in_messages;
    }
    switch (m.type) {
      case Type::Ack: {
        const auto a = m.as<Ack>();
        auto it = setup_acks_.find(key(client, a.reply_to));
        if (it != setup_acks_.end()) {
          it->second = 1;
        } else if (acks_due_ > 0) {
          --acks_due_;
          if (report_ != nullptr) {
            ++report_->call_event_acks;
          }
        }
        break;
      }
      case Type::Error: {
        const auto e = m.as<Error>();
        auto it = setup_acks_.find(key(client, e.reply_to));
        if (it != setup_acks_.end()) {
          if (e.reason == static_cast<std::uint16_t>(acd::router::Status::AlreadySignedIn)) {
            it->second = 1;  // signed in by an earlier run
            break;
          }
          last_error_ = " (last error: reason " + std::to_string(e.reason) + ")";
          break;
        }
        if (report_ != nullptr) {
          report_->count_error(e.reason);
        }
        break;
      }
      case Type::RouteResponse: {
        const auto rr = m.as<RouteResponse>();
        if (rr.result == RouteResult::Agent) {
          add_call_events(client, rr.call_id);
        }
        if (report_ == nullptr) {
          break;
        }
        Report& r = *report_;
        if (rr.result == RouteResult::Agent) {
          ++r.routed;
        }
        if (rr.reply_to == 0) {
          // A later decision for a call that waited in its queue.
          if (rr.result != RouteResult::Queued && waiting_ > 0) {
            --waiting_;
          }
          break;
        }
        const std::size_t slot = rr.call_id % kRing;
        if (rr.call_id >= next_call_ || pending_[slot] == 0) {
          break;  // not one of ours, or answered already
        }
        pending_[slot] = 0;
        --outstanding_;
        ++r.answered;
        if (now <= load_end_) {
          ++r.answered_in_time;
        }
        const double ns = static_cast<double>(now - std::min(now, sent_ns_[slot]));
        ++r.histogram[std::min<std::size_t>(static_cast<std::size_t>(ns / kBucketNs),
                                            kBuckets - 1)];
        switch (rr.result) {
          case RouteResult::Queued:
            ++r.queued;
            ++waiting_;
            break;
          case RouteResult::Overflow:
            ++r.overflowed;
            break;
          case RouteResult::Rejected:
            ++r.rejected;
            break;
          default:
            break;
        }
        break;
      }
      case Type::Offer:
        if (report_ != nullptr) {
          ++report_->offers;
        }
        break;
      default:
        break;
    }
  }

  // Answered and released, from the switch client that routed the call; collected over a receive
  // burst and sent 8 calls to a datagram.
  void add_call_events(std::uint32_t client, std::uint64_t call) {
    routed_calls_.emplace_back(client, call);
    acks_due_ += 2;
    if (report_ != nullptr) {
      report_->call_events += 2;
    }
  }
  void flush_call_events() {
    std::stable_sort(routed_calls_.begin(), routed_calls_.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t i = 0; i < routed_calls_.size();) {
      const std::uint32_t client = routed_calls_[i].first;
      DatagramWriter& w = writer(client);
      for (std::size_t k = 0; k < kCallsPerDatagram && i < routed_calls_.size() &&
                              routed_calls_[i].first == client;
           ++k, ++i) {
        const std::uint64_t call = routed_calls_[i].second;
        w.add(Type::CallEvent, ++seq_[client], CallEvent{call, CallEventKind::Answered, {}});
        w.add(Type::CallEvent, ++seq_[client], CallEvent{call, CallEventKind::Released, {}});
      }
      close_datagram(w);
    }
    routed_calls_.clear();
  }

  DpdkPort& port_;
  Endpoint target_;
  std::uint32_t agents_;
  std::vector<std::uint64_t> seq_;  // per client ID
  std::vector<std::array<std::uint8_t, kMaxSendDatagram>> buffers_;
  std::vector<Datagram> out_;
  std::vector<DatagramWriter> writers_;  // the batch's datagrams, reserved: never moved
  std::vector<std::pair<std::uint32_t, std::uint64_t>> routed_calls_;  // switch client, call
  std::size_t used_ = 0;
  std::uint64_t out_messages_ = 0;
  std::uint64_t not_sent_ = 0;
  std::uint64_t bad_ = 0;
  std::map<std::uint64_t, int> setup_acks_;
  std::string last_error_;
  std::vector<std::uint64_t> sent_ns_;
  std::vector<std::uint8_t> pending_;
  std::uint64_t next_call_ = 1;
  std::uint64_t outstanding_ = 0;
  std::uint64_t waiting_ = 0;   // answered Queued, no decision yet
  std::uint64_t acks_due_ = 0;  // call events not yet acknowledged
  std::uint64_t load_end_ = 0;
  Report* report_ = nullptr;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"acd-dpdk-loadgen: ACDP/1 load over a DPDK port, for acdd --backend dpdk"};
  std::string dpdk_args, local_text, target_text, mac_text;
  std::uint32_t agents = 40;
  std::uint32_t window = 4096;
  double duration = 2, rate = 0, grace = 2;
  bool json = false;
  app.add_option("--dpdk-args", dpdk_args, "EAL arguments (one port: the link to acdd)")->required();
  app.add_option("--local", local_text, "This end's IPv4 address and UDP port")->required();
  app.add_option("--target", target_text, "acdd's address and port")->required();
  app.add_option("--target-mac", mac_text, "acdd's port's MAC address")->required();
  app.add_option("--agents", agents, "Agents to sign in (IDs 1000.., indices 0..)")
      ->check(CLI::Range(1u, 60'000u));
  app.add_option("--duration", duration, "Seconds of load")->check(CLI::Range(0.01, 3600.0));
  app.add_option("--rate", rate, "Route requests per second; 0: as fast as --window allows")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--window", window, "Most route requests unanswered at once")
      ->check(CLI::Range(16u, static_cast<std::uint32_t>(kRing / 2)));
  app.add_option("--grace", grace, "Seconds after the load for the last answers")
      ->check(CLI::Range(0.0, 60.0));
  app.add_flag("--json", json, "Print one JSON object");
  CLI11_PARSE(app, argc, argv);

  Endpoint local{}, target{};
  std::array<std::uint8_t, 6> mac{};
  if (!parse_endpoint(local_text, local) || !parse_endpoint(target_text, target) ||
      !parse_mac(mac_text, mac)) {
    std::cerr << "acd-dpdk-loadgen: --local and --target are A.B.C.D:PORT, --target-mac "
                 "XX:XX:XX:XX:XX:XX\n";
    return 2;
  }
  std::vector<std::string> eal;
  std::istringstream words(dpdk_args);
  for (std::string w; words >> w;) {
    eal.push_back(w);
  }
  std::string error;
  if (!init_eal(eal, error)) {
    std::cerr << "acd-dpdk-loadgen: " << error << "\n";
    return 1;
  }
  if (rte_eth_dev_count_avail() < 1) {
    std::cerr << "acd-dpdk-loadgen: no DPDK port (give one with --vdev)\n";
    return 1;
  }
  auto port = DpdkPort::create(0, local, error);
  if (!port) {
    std::cerr << "acd-dpdk-loadgen: " << error << "\n";
    return 1;
  }
  // A memif link is up once both ends are connected.
  const auto link_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (rte_eth_link link{}; rte_eth_link_get_nowait(0, &link) == 0 && link.link_status == 0;) {
    if (std::chrono::steady_clock::now() > link_deadline) {
      std::cerr << "acd-dpdk-loadgen: the link to acdd did not come up in 10 s\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  port->add_neighbour(target.address, mac);
  Generator gen(*port, target, agents);
  if (!gen.setup(error)) {
    std::cerr << "acd-dpdk-loadgen: " << error << "\n";
    return 1;
  }
  const Report r = gen.run(duration, rate, window, grace);
  const DpdkStats& s = port->stats();
  nlohmann::ordered_json out = {
      {"sent", r.sent},         {"answered", r.answered},         {"lost", r.sent - r.answered},
      {"routed", r.routed},     {"queued", r.queued},             {"still_queued", r.still_queued},
      {"overflowed", r.overflowed}, {"rejected", r.rejected},     {"errors", r.errors}};
  for (const auto& [reason, count] : r.error_reasons) {
    out["error_reasons"][std::to_string(reason)] = count;
  }
  out["call_events"] = r.call_events;
  out["call_event_acks"] = r.call_event_acks;
  out["offers"] = r.offers;
  out["seconds"] = r.seconds;
  out["route_requests_per_s"] = static_cast<double>(r.answered_in_time) / r.seconds;
  out["p50_us"] = r.percentile(0.50);
  out["p99_us"] = r.percentile(0.99);
  out["p999_us"] = r.percentile(0.999);
  out["out_datagrams"] = r.out_datagrams;
  out["in_datagrams"] = r.in_datagrams;
  out["out_messages"] = r.out_messages;
  out["in_messages"] = r.in_messages;
  out["not_sent"] = r.not_sent;
  out["tx_dropped"] = s.tx_dropped;
  out["elapsed_s"] = r.elapsed;
  out["loadgen_thread_cpu_s"] = r.thread_cpu;
  out["loadgen_cpu_share"] = r.thread_cpu / r.elapsed;
  out["loadgen_process_cpu_s"] = r.process_cpu;
  out["idle_share"] = r.idle_share;
  if (json) {
    std::cout << out.dump(2) << "\n";
  } else {
    std::printf("sent %llu answered %llu (%.0f route requests/s) p50 %.1f us p99 %.1f us, "
                "cpu %.2f s of %.2f s\n",
                static_cast<unsigned long long>(r.sent), static_cast<unsigned long long>(r.answered),
                out["route_requests_per_s"].get<double>(), r.percentile(0.5), r.percentile(0.99),
                r.thread_cpu, r.seconds);
  }
  port.reset();
  rte_eal_cleanup();
  return 0;
}
