// The inter-site availability summary this site sends its active peers (docs/protocol.md
// "Sites", docs/dr.md "Inter-site overflow"): per queue its ready agents, expected wait, service
// level and load, a few times a second, as ACDP SiteSummary messages.
//
// Off the routing core: the summaries are built from the published snapshot (SnapshotBoard) on
// a thread of their own, and sent over a plain UDP socket as a clear-text ACDP/1 client of role
// site (Register, then SiteSummary messages, up to 30 to a datagram). What a site sends is not an
// input of its own engine; what it receives is one of the receiver's (logged there), so the
// receiving pair and its replays decide alike whatever the sender's timing.
//
// Threads: start/stop and the counters' readers on any one control thread; the sender's thread
// owns the socket. Errors: start() fails with a message when the socket cannot be made; a peer
// that does not answer or refuses costs nothing but the datagrams (counted).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "acd/control/result.hpp"
#include "acd/control/snapshot_board.hpp"
#include "acd/dataplane/port.hpp"
#include "acd/dataplane/wire.hpp"

namespace acd::control {

// The summary of each queue in `s` (retired queues left out), as this site (`site`) sends it;
// `seq` numbers them (the same for every queue of one round). A queue accepts overflow when it is
// staffed, its EWT is known and it is not in surge.
std::vector<dataplane::wire::SiteSummary> build_site_summaries(const Snapshot& s,
                                                               std::uint8_t site,
                                                               std::uint64_t seq);

struct SiteSenderCounters {
  std::atomic<std::uint64_t> rounds{0};
  std::atomic<std::uint64_t> summaries{0};    // SiteSummary messages sent
  std::atomic<std::uint64_t> datagrams{0};
  std::atomic<std::uint64_t> send_failed{0};  // datagrams the socket refused
  std::atomic<std::uint64_t> refused{0};      // Error answers from peers (not a site there, ...)
};

class SiteSummarySender {
 public:
  // `peers`: the active peers' dataplane addresses; `client_id`: this site's ID at the peers.
  SiteSummarySender(const SnapshotBoard& board, std::vector<dataplane::Endpoint> peers,
                    std::uint8_t site, std::uint32_t client_id, std::uint32_t per_second);
  ~SiteSummarySender();
  SiteSummarySender(const SiteSummarySender&) = delete;
  SiteSummarySender& operator=(const SiteSummarySender&) = delete;

  [[nodiscard]] Result<void> start();
  void stop();
  const SiteSenderCounters& counters() const { return counters_; }

 private:
  void run(std::stop_token stop);
  void send_round(std::uint64_t seq, bool register_first);
  void drain_answers();

  const SnapshotBoard& board_;
  std::vector<dataplane::Endpoint> peers_;
  std::uint8_t site_;
  std::uint32_t client_id_;
  std::uint32_t per_second_;
  int socket_ = -1;
  std::uint64_t message_seq_ = 0;
  SiteSenderCounters counters_;
  std::jthread thread_;
};

}  // namespace acd::control
