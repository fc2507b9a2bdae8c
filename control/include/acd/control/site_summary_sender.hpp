// The inter-site availability summary this site sends its active peers (docs/protocol.md
// "Sites", docs/dr.md "Inter-site overflow"): per queue its ready agents, expected wait, service
// level and load, a few times a second, as ACDP SiteSummary messages.
//
// Off the routing core: the summaries are built from the published snapshot (SnapshotBoard) on
// a thread of their own, and sent over a UDP socket as a client of role site (Register, then
// SiteSummary messages, up to 30 to a datagram). To a peer whose public key the configuration
// gives ([[sites]] public_key) and with this node's own key ([security] key_file) it speaks ACDP/2:
// one session per peer address, made by a handshake as any configured client's (the peer lists
// this site as a [[clients]] entry of role "site" with this node's public key), renewed when the
// peer stops answering or the session ages; to any other peer clear-text ACDP/1. What a site
// sends is not an input of its own engine; what it receives is one of the receiver's (logged
// there), so the receiving pair and its replays decide alike whatever the sender's timing.
//
// Threads: start/stop and the counters' readers on any one control thread; the sender's thread
// owns the socket and the sessions. Errors: start() fails with a message when the socket cannot be
// made; a peer that does not answer, refuses or never completes a handshake costs nothing but the
// datagrams (counted).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "acd/control/result.hpp"
#include "acd/control/snapshot_board.hpp"
#include "acd/dataplane/port.hpp"
#include "acd/dataplane/secure_handshake.hpp"
#include "acd/dataplane/secure_keys.hpp"
#include "acd/dataplane/secure_session.hpp"
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
  // Error answers from peers (not a site there, ...); NotRegistered is not one: it makes the
  // sender Register again in its next round.
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> handshakes{0};   // ACDP/2 handshake inits sent
  std::atomic<std::uint64_t> sessions{0};     // ACDP/2 sessions made (first and renewed)
  std::atomic<std::uint64_t> not_sealed{0};   // rounds a keyed peer missed: no session yet
};

// Where one peer site's node listens, and how to speak to it.
struct SummaryPeer {
  dataplane::Endpoint address;
  // The peer's static public key: ACDP/2 (with the sender's own keys); none: clear-text ACDP/1.
  std::optional<dataplane::secure::PublicKey> key;
};

// The ACDP/2 side of the sender: this node's key pair and the data AEAD ([security] aead).
struct SummarySecurity {
  dataplane::secure::StaticKeyPair keys;
  dataplane::secure::Aead aead = dataplane::secure::Aead::ChaCha20Poly1305;
};

class SiteSummarySender {
 public:
  // `peers`: the active peers' dataplane addresses (with their keys); `client_id`: this site's ID
  // at the peers in clear text (under ACDP/2 the peer knows it by its key); `security`: this
  // node's keys, needed by every keyed peer (without them a keyed peer is sent nothing; the
  // configuration refuses a peer key without [security] key_file).
  SiteSummarySender(const SnapshotBoard& board, std::vector<SummaryPeer> peers, std::uint8_t site,
                    std::uint32_t client_id, std::uint32_t per_second,
                    std::optional<SummarySecurity> security = std::nullopt);
  ~SiteSummarySender();
  SiteSummarySender(const SiteSummarySender&) = delete;
  SiteSummarySender& operator=(const SiteSummarySender&) = delete;

  [[nodiscard]] Result<void> start();
  void stop();
  const SiteSenderCounters& counters() const { return counters_; }

 private:
  // A session is renewed when the peer has sent nothing authentic for kSilentNs while this site
  // sends, or once it is kRenewAfterNs old; at most one init per peer per kInitEveryNs, give or
  // take a quarter of it at random.
  static constexpr std::uint64_t kSilentNs = 3'000'000'000;
  static constexpr std::uint64_t kRenewAfterNs = 3'600'000'000'000;
  static constexpr std::uint64_t kInitEveryNs = 1'000'000'000;

  struct Link {
    SummaryPeer peer;
    std::unique_ptr<dataplane::secure::Initiator> initiator;  // keyed peers only
    std::unique_ptr<dataplane::secure::SessionCipher> cipher;  // once a handshake completed
    std::uint32_t session_index = 0;
    std::uint64_t established_ns = 0;
    std::uint64_t last_init_ns = 0;
    std::uint64_t init_gap_ns = 0;  // the time from last_init_ns to the next try (jittered)
    std::uint64_t heard_ns = 0;     // the last authentic datagram from the peer
    bool needs_register = true;     // a new session: Register again first
  };

  void run(std::stop_token stop);
  void send_round(std::uint64_t seq, bool register_first);
  void handshake_where_due(std::uint64_t now_ns);
  void send_to(const Link& link, std::span<const std::uint8_t> datagram);
  void drain_answers(std::uint64_t now_ns);
  void on_answer(std::span<const std::uint8_t> acdp1);

  const SnapshotBoard& board_;
  std::vector<Link> links_;
  std::optional<SummarySecurity> security_;
  std::uint8_t site_;
  std::uint32_t client_id_;
  std::uint32_t per_second_;
  int socket_ = -1;
  std::uint64_t message_seq_ = 0;
  bool register_soon_ = false;  // a peer answered NotRegistered: Register in the next round
  SiteSenderCounters counters_;
  std::jthread thread_;
};

}  // namespace acd::control
