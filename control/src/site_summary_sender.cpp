// The inter-site summary sender: per queue availability from the published snapshot, sent to the
// active peers as ACDP SiteSummary messages a few times a second.
#include "acd/control/site_summary_sender.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "acd/dataplane/codec.hpp"
#include "acd/router/event.hpp"
#include "acd/dataplane/thread_name.hpp"

namespace acd::control {

namespace wire = dataplane::wire;

std::vector<wire::SiteSummary> build_site_summaries(const Snapshot& s, std::uint8_t site,
                                                    std::uint64_t seq) {
  std::vector<wire::SiteSummary> out;
  if (s.config == nullptr) {
    return out;
  }
  const auto& queues = s.config->domain.queues;
  for (router::QueueIndex q = 0; q < s.queues.size() && q < queues.size(); ++q) {
    if (queues[q].retired) {
      continue;
    }
    const router::QueueView& v = s.queues[q].view;
    const router::QueueStats& st = s.queues[q].stats;
    wire::SiteSummary m{};
    m.site = site;
    m.queue_key = router::queue_key(queues[q].name);
    m.summary_seq = seq;
    m.ready_agents = v.ready_agents;
    m.ewt_ms = v.ewt_ms;
    m.sl_permille = static_cast<std::uint16_t>(
        st.answered == 0 ? 1000 : std::min<std::uint64_t>(1000, st.answered_in_sl * 1000 / st.answered));
    const std::uint32_t busy = v.staffed > v.ready_agents ? v.staffed - v.ready_agents : 0;
    m.load_permille =
        static_cast<std::uint16_t>(v.staffed == 0 ? 1000 : std::min(1000u, busy * 1000 / v.staffed));
    const bool accepts = v.staffed > 0 && v.ewt_ms != router::kUnknownEwt && !v.surge;
    m.flags = accepts ? wire::kSiteAcceptsOverflow : 0;
    out.push_back(m);
  }
  return out;
}

SiteSummarySender::SiteSummarySender(const SnapshotBoard& board, std::vector<SummaryPeer> peers,
                                     std::uint8_t site, std::uint32_t client_id,
                                     std::uint32_t per_second,
                                     std::optional<SummarySecurity> security)
    : board_(board),
      security_(std::move(security)),
      site_(site),
      client_id_(client_id),
      per_second_(std::max<std::uint32_t>(per_second, 1)) {
  std::uint32_t local = 0;
  for (SummaryPeer& p : peers) {
    Link link;
    link.peer = p;
    if (p.key && security_) {
      // The sender index names the peer in its handshake answers (one init per peer address).
      link.initiator =
          std::make_unique<dataplane::secure::Initiator>(security_->keys, *p.key, ++local);
    }
    links_.push_back(std::move(link));
  }
}

SiteSummarySender::~SiteSummarySender() {
  stop();
}

Result<void> SiteSummarySender::start() {
  socket_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (socket_ < 0) {
    return Failure{ControlError::Refused, std::string("the site summary socket cannot be made (") +
                                              std::strerror(errno) + ")"};
  }
  thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
  return {};
}

void SiteSummarySender::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
  if (socket_ >= 0) {
    ::close(socket_);
    socket_ = -1;
  }
}

namespace {

std::uint64_t ns_of(std::chrono::steady_clock::time_point t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

std::uint64_t wall_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace

void SiteSummarySender::run(std::stop_token stop) {
  dataplane::name_this_thread("acd-site-send");
  using namespace std::chrono;
  const auto period = milliseconds(1000 / per_second_);
  // Sequences from the wall clock (ms): a restarted sender still numbers above what it sent.
  std::uint64_t last_seq = 0;
  auto next_register = steady_clock::now();
  while (!stop.stop_requested()) {
    const auto now = steady_clock::now();
    const auto wall =
        static_cast<std::uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
    last_seq = std::max(last_seq + 1, wall);
    // Register now and then: a peer that restarted knows this client again within seconds.
    const bool register_first = now >= next_register || std::exchange(register_soon_, false);
    if (register_first) {
      next_register = now + seconds(5);
    }
    handshake_where_due(ns_of(now));
    if (board_.ready()) {
      send_round(last_seq, register_first);
    }
    drain_answers(ns_of(steady_clock::now()));
    std::this_thread::sleep_for(period);
  }
}

// Keyed peers: an init where there is no session yet, the peer went silent while this site
// sent (it restarted and forgot the session, or let it expire), or the session is old. The
// session in hand stays in use until the peer answers.
void SiteSummarySender::handshake_where_due(std::uint64_t now_ns) {
  for (Link& link : links_) {
    if (!link.initiator ||
        (link.last_init_ns != 0 && now_ns - link.last_init_ns < link.init_gap_ns)) {
      continue;
    }
    const bool due = !link.cipher || now_ns - link.heard_ns >= kSilentNs ||
                     now_ns - link.established_ns >= kRenewAfterNs;
    if (!due) {
      continue;
    }
    std::uint8_t init[sizeof(dataplane::secure::HandshakeInit)];
    if (link.initiator->make_init(wall_ns(), now_ns, init) != sizeof init) {
      continue;
    }
    link.last_init_ns = now_ns;
    // The next try within a quarter of kInitEveryNs either side, at random: tries at a fixed
    // period can stay in step with a flood's and miss the peer's cookie replies every time.
    constexpr std::uint32_t kSpreadUs = kInitEveryNs / 2 / 1000;
    link.init_gap_ns =
        kInitEveryNs - kInitEveryNs / 4 + 1000ull * randombytes_uniform(kSpreadUs + 1);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = link.peer.address.address;
    to.sin_port = link.peer.address.port;
    if (::sendto(socket_, init, sizeof init, 0, reinterpret_cast<const sockaddr*>(&to),
                 sizeof(to)) < 0) {
      counters_.send_failed.fetch_add(1, std::memory_order_relaxed);
    } else {
      counters_.handshakes.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

void SiteSummarySender::send_to(const Link& link, std::span<const std::uint8_t> datagram) {
  std::array<std::uint8_t, wire::kMaxDatagram> sealed;
  std::span<const std::uint8_t> out = datagram;
  if (link.cipher) {
    wire::DatagramHeader h;
    std::memcpy(&h, datagram.data(), sizeof h);
    const std::size_t n = link.cipher->seal(
        dataplane::secure::DataHeader{h.count, link.session_index, 0},
        datagram.subspan(sizeof h), sealed);
    if (n == 0) {
      counters_.send_failed.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    out = std::span<const std::uint8_t>(sealed.data(), n);
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = link.peer.address.address;
  to.sin_port = link.peer.address.port;
  if (::sendto(socket_, out.data(), out.size(), 0, reinterpret_cast<const sockaddr*>(&to),
               sizeof(to)) < 0) {
    counters_.send_failed.fetch_add(1, std::memory_order_relaxed);
  } else {
    counters_.datagrams.fetch_add(1, std::memory_order_relaxed);
  }
}

void SiteSummarySender::send_round(std::uint64_t seq, bool register_first) {
  const std::vector<wire::SiteSummary> summaries = build_site_summaries(board_.read(), site_, seq);
  // Which peers may be sent to now: clear-text ones, and keyed ones with a session.
  std::size_t reachable = 0;
  bool any_new_session = false;
  for (const Link& link : links_) {
    if (link.peer.key && !link.cipher) {
      counters_.not_sealed.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    ++reachable;
    any_new_session = any_new_session || (link.peer.key && link.needs_register);
  }
  std::vector<std::uint8_t> buf(wire::kMaxSendDatagram);
  std::size_t next = 0;
  bool registering = register_first || any_new_session;
  while (registering || next < summaries.size()) {
    dataplane::DatagramWriter w(buf, client_id_);
    if (registering) {
      const wire::Register reg{static_cast<std::uint32_t>(wire::Role::Site), 0, seq};
      (void)w.add(wire::Type::Register, ++message_seq_, &reg, sizeof(reg));
      registering = false;
    }
    while (next < summaries.size() &&
           w.add(wire::Type::SiteSummary, message_seq_ + 1, &summaries[next],
                 sizeof(wire::SiteSummary))) {
      ++message_seq_;
      ++next;
      counters_.summaries.fetch_add(reachable, std::memory_order_relaxed);
    }
    const std::size_t length = w.finish();
    for (Link& link : links_) {
      if (link.peer.key && !link.cipher) {
        continue;
      }
      send_to(link, std::span<const std::uint8_t>(buf.data(), length));
      link.needs_register = false;
    }
  }
  counters_.rounds.fetch_add(1, std::memory_order_relaxed);
}

// Peers answer Ack (kept) or Error (counted: a peer that does not know this client as a site);
// a keyed peer's handshake answers make or renew its session.
void SiteSummarySender::drain_answers(std::uint64_t now_ns) {
  namespace secure = dataplane::secure;
  std::uint8_t buf[wire::kMaxDatagram];
  std::uint8_t plain[wire::kMaxDatagram];
  for (;;) {
    sockaddr_in from{};
    socklen_t from_length = sizeof(from);
    const ssize_t n = ::recvfrom(socket_, buf, sizeof(buf), 0,
                                 reinterpret_cast<sockaddr*>(&from), &from_length);
    if (n <= 0) {
      return;
    }
    const std::span<const std::uint8_t> d(buf, static_cast<std::size_t>(n));
    Link* link = nullptr;
    for (Link& l : links_) {
      if (l.peer.address.address == from.sin_addr.s_addr &&
          l.peer.address.port == from.sin_port) {
        link = &l;
      }
    }
    if (link == nullptr) {
      continue;  // not a peer's address: nobody this sender talks to
    }
    if (!link->peer.key) {
      on_answer(d);
      continue;
    }
    const secure::Peeked p = secure::peek(d);
    if (p.reason != secure::DropReason::None) {
      continue;  // clear text from a keyed peer: never taken
    }
    if (p.handshake && link->initiator) {
      if (p.kind == secure::Kind::CookieReply) {
        // The peer is under load: the next init (a second on) carries the cookie.
        (void)link->initiator->consume_cookie(d, now_ns);
        continue;
      }
      secure::Initiator::Established e = link->initiator->consume_response(d);
      if (e.reason != secure::DropReason::None) {
        continue;
      }
      link->cipher = std::make_unique<secure::SessionCipher>(e.keys, secure::Side::Client,
                                                              security_->aead);
      link->session_index = e.session_index;
      link->established_ns = now_ns;
      link->heard_ns = now_ns;
      link->needs_register = true;
      counters_.sessions.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (!link->cipher || p.index != link->session_index) {
      continue;
    }
    constexpr std::size_t kHead = sizeof(wire::DatagramHeader);
    const secure::Opened o =
        link->cipher->open(d, std::span<std::uint8_t>(plain + kHead, sizeof(plain) - kHead));
    if (o.reason != secure::DropReason::None) {
      continue;
    }
    link->heard_ns = now_ns;
    const wire::DatagramHeader h{wire::kMagic,
                                 wire::kVersion,
                                 o.header.count,
                                 static_cast<std::uint16_t>(kHead + o.plaintext.size()),
                                 client_id_,
                                 o.header.epoch};
    std::memcpy(plain, &h, kHead);
    on_answer(std::span<const std::uint8_t>(plain, kHead + o.plaintext.size()));
  }
}

void SiteSummarySender::on_answer(std::span<const std::uint8_t> d) {
  wire::DatagramHeader h;
  if (dataplane::check_header(d, h) != dataplane::HeaderCheck::Ok) {
    return;
  }
  dataplane::for_each_message(
      d, h,
      [&](const dataplane::Message& m) {
        if (m.type != wire::Type::Error) {
          return;
        }
        const auto e = m.as<wire::Error>();  // for_each_message checked its length
        if (e.reason == static_cast<std::uint16_t>(wire::WireError::NotRegistered)) {
          register_soon_ = true;  // the peer restarted, or missed the Register: again at once
        } else {
          counters_.refused.fetch_add(1, std::memory_order_relaxed);
        }
      },
      [](std::uint64_t, wire::WireError) {});
}

}  // namespace acd::control
