// The inter-site summary sender: per queue availability from the published snapshot, sent to the
// active peers as ACDP SiteSummary messages a few times a second.
#include "acd/control/site_summary_sender.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

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

SiteSummarySender::SiteSummarySender(const SnapshotBoard& board,
                                     std::vector<dataplane::Endpoint> peers, std::uint8_t site,
                                     std::uint32_t client_id, std::uint32_t per_second)
    : board_(board),
      peers_(std::move(peers)),
      site_(site),
      client_id_(client_id),
      per_second_(std::max<std::uint32_t>(per_second, 1)) {}

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
    const bool register_first = now >= next_register;
    if (register_first) {
      next_register = now + seconds(5);
    }
    if (board_.ready()) {
      send_round(last_seq, register_first);
    }
    drain_answers();
    std::this_thread::sleep_for(period);
  }
}

void SiteSummarySender::send_round(std::uint64_t seq, bool register_first) {
  const std::vector<wire::SiteSummary> summaries = build_site_summaries(board_.read(), site_, seq);
  std::vector<std::uint8_t> buf(wire::kMaxSendDatagram);
  std::size_t next = 0;
  bool registering = register_first;
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
      counters_.summaries.fetch_add(peers_.size(), std::memory_order_relaxed);
    }
    const std::size_t length = w.finish();
    for (const dataplane::Endpoint& peer : peers_) {
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_addr.s_addr = peer.address;
      to.sin_port = peer.port;
      if (::sendto(socket_, buf.data(), length, 0, reinterpret_cast<const sockaddr*>(&to),
                   sizeof(to)) < 0) {
        counters_.send_failed.fetch_add(1, std::memory_order_relaxed);
      } else {
        counters_.datagrams.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
  counters_.rounds.fetch_add(1, std::memory_order_relaxed);
}

// Peers answer Ack (kept) or Error (counted: a peer that does not know this client as a site).
void SiteSummarySender::drain_answers() {
  std::uint8_t buf[wire::kMaxDatagram];
  for (;;) {
    const ssize_t n = ::recv(socket_, buf, sizeof(buf), 0);
    if (n <= 0) {
      return;
    }
    const std::span<const std::uint8_t> d(buf, static_cast<std::size_t>(n));
    wire::DatagramHeader h;
    if (dataplane::check_header(d, h) != dataplane::HeaderCheck::Ok) {
      continue;
    }
    dataplane::for_each_message(
        d, h,
        [&](const dataplane::Message& m) {
          if (m.type == wire::Type::Error) {
            counters_.refused.fetch_add(1, std::memory_order_relaxed);
          }
        },
        [](std::uint64_t, wire::WireError) {});
  }
}

}  // namespace acd::control
