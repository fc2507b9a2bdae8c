// How acd-loadgen follows a hot-standby pair (docs/protocol.md, "Two nodes (hot standby)"): which
// node it sends to and when it switches (NodeChooser), and what it hears about epochs
// (EpochLedger). Pure bookkeeping: the caller passes the time in (nanoseconds on one monotonic
// clock) and does the sending; nothing here touches a socket, allocates per message or throws.
//
// Thread-safety: each object belongs to the one thread that drives the load generator.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "acd/dataplane/port.hpp"

namespace acd::loadgen {

using acd::dataplane::Endpoint;

// Chooses the node requests go to: the first target at start; on Error NotPrimary from the node in
// use, the node it names (if that is the other target) or else the other target; when the node in
// use has been silent for `failover_after` while a request waited that long, the other target (so
// while neither answers, it alternates every `failover_after`). With one target it never switches.
//
// It also measures each outage: from the first send of the oldest request still waiting when the
// node went silent (or said NotPrimary) to the first answer from the node then in use. Switches
// made while no node answers belong to one outage and give one gap.
class NodeChooser {
 public:
  // `targets`: one or two distinct endpoints (precondition). `failover_after_ns` > 0.
  NodeChooser(std::vector<Endpoint> targets, std::uint64_t failover_after_ns)
      : targets_(std::move(targets)),
        failover_after_ns_(failover_after_ns),
        last_heard_(targets_.size(), 0),
        ever_heard_(targets_.size(), false) {}

  bool pair() const { return targets_.size() == 2; }
  const Endpoint& active() const { return targets_[active_]; }
  std::size_t active_index() const { return active_; }
  const std::vector<Endpoint>& targets() const { return targets_; }
  std::uint64_t failover_after_ns() const { return failover_after_ns_; }

  // The index of `node` among the targets, or -1.
  int index_of(const Endpoint& node) const {
    for (std::size_t k = 0; k < targets_.size(); ++k) {
      if (targets_[k] == node) {
        return static_cast<int>(k);
      }
    }
    return -1;
  }

  // Any datagram from `from` arrived at `now`: that node is alive.
  void heard(const Endpoint& from, std::uint64_t now) {
    const int k = index_of(from);
    if (k >= 0) {
      last_heard_[static_cast<std::size_t>(k)] = now;
      ever_heard_[static_cast<std::size_t>(k)] = true;
    }
  }

  // An answer that ends an outage (a RouteResponse; before the load starts, any Ack) from `from`.
  void answered(const Endpoint& from, std::uint64_t now) {
    if (gap_open_ && from == active()) {
      gaps_ms_.push_back(static_cast<double>(now - gap_start_) / 1e6);
      gap_open_ = false;
    }
  }

  // Error NotPrimary from `from`, naming `named` (zeros when the standby does not know the
  // primary). `oldest_first_sent`: the first send of the oldest request still waiting. True when
  // it switched: the caller then sends every waiting request to active() at once. A NotPrimary
  // from a node not in use (a late answer from before a switch) changes nothing.
  bool not_primary(const Endpoint& from, const Endpoint& named, std::uint64_t oldest_first_sent) {
    if (!pair() || !(from == active())) {
      return false;
    }
    const int k = index_of(named);
    const std::size_t to = k >= 0 && static_cast<std::size_t>(k) != active_
                               ? static_cast<std::size_t>(k)
                               : 1 - active_;
    switch_to(to, oldest_first_sent);
    return true;
  }

  // After not_primary() switched at `now`: whether to send every waiting request to the new node
  // at once. While both nodes refuse (a hand-over under way) the switches come back to back, one per
  // round trip; resending everything on each would flood both nodes with the same requests (seen:
  // three million in ten seconds, which slowed the hand-over itself). So at most once per
  // failover_after; the retransmission timer, at that pace, does the rest.
  bool resend_after_not_primary(std::uint64_t now) {
    if (not_primary_resent_ && now < last_not_primary_resend_ + failover_after_ns_) {
      return false;
    }
    not_primary_resent_ = true;
    last_not_primary_resend_ = now;
    return true;
  }

  // Every datagram's header epoch, after its messages were handled.
  void epoch_heard(std::uint32_t epoch) { highest_epoch_ = std::max(highest_epoch_, epoch); }

  // A takeover announcement (a Heartbeat with seq 0) from `from` carrying `epoch`. When the epoch
  // is newer than any heard before and `from` is the other target, the node that just won it is
  // the primary: switches to it at once. `oldest_first_sent` as for not_primary(). True when it
  // switched: the caller then sends every waiting request to active() at once.
  bool announced(const Endpoint& from, std::uint32_t epoch, std::uint64_t oldest_first_sent) {
    const int k = index_of(from);
    if (!pair() || k < 0 || epoch <= highest_epoch_) {
      return false;
    }
    highest_epoch_ = epoch;
    if (static_cast<std::size_t>(k) == active_) {
      return false;
    }
    switch_to(static_cast<std::size_t>(k), oldest_first_sent);
    return true;
  }

  // Requests are waiting; the oldest has waited on the node in use since `oldest_since` (when it
  // was first sent to that node). True when the node in use counts as silent: that request waited
  // failover_after and nothing was heard from the node for as long. Always false with one target.
  bool silent(std::uint64_t oldest_since, std::uint64_t now) const {
    if (!pair() || now < oldest_since + failover_after_ns_) {
      return false;
    }
    // A node that answers other requests is alive: this one was lost, retransmission will do.
    return !ever_heard_[active_] || now >= last_heard_[active_] + failover_after_ns_;
  }

  // Switches to the other node after silent() said so; `oldest_first_sent`: the first send of the
  // oldest request still waiting. The caller then sends every waiting request there at once.
  void fail_over(std::uint64_t oldest_first_sent) {
    if (pair()) {
      switch_to(1 - active_, oldest_first_sent);
    }
  }

  // From here on only: forgets the failovers and outages so far (those of the sign-ins before a
  // run, whose slow answers are not the pair's doing) and any outage still open.
  void start_measuring() {
    failovers_ = 0;
    gaps_ms_.clear();
    gap_open_ = false;
  }

  std::uint64_t failovers() const { return failovers_; }
  // One per outage that ended with an answer, in milliseconds.
  const std::vector<double>& gaps_ms() const { return gaps_ms_; }
  double max_gap_ms() const {
    return gaps_ms_.empty() ? 0.0 : *std::max_element(gaps_ms_.begin(), gaps_ms_.end());
  }

 private:
  void switch_to(std::size_t to, std::uint64_t gap_start) {
    active_ = to;
    ++failovers_;
    if (!gap_open_) {
      gap_open_ = true;
      gap_start_ = gap_start;
    }
  }

  std::vector<Endpoint> targets_;
  std::uint64_t failover_after_ns_;
  std::vector<std::uint64_t> last_heard_;
  std::vector<bool> ever_heard_;
  std::size_t active_ = 0;
  std::uint64_t failovers_ = 0;
  bool gap_open_ = false;
  std::uint64_t gap_start_ = 0;
  std::uint32_t highest_epoch_ = 0;
  std::vector<double> gaps_ms_;
  bool not_primary_resent_ = false;
  std::uint64_t last_not_primary_resend_ = 0;
};

// The epochs heard: each (epoch, node) pair with when it was first seen, and two violations of the
// pair's promise, counted per datagram carrying a decision (RouteResponse, Offer or Ack) other than
// one already received: an old primary woken from a pause may still send what its standby had
// acknowledged (a reply-cache answer to a request sent twice, an Offer of a call already routed),
// decisions the node that took over holds too. A second answer that differs still counts:
//   conflict   — its epoch already came with a decision from a different node (two nodes deciding
//                in one epoch);
//   regression — its epoch is lower than the highest epoch of any decision before (a node that
//                lost its role still deciding).
// Only decisions are compared: a standby's NotPrimary may carry the primary's epoch.
class EpochLedger {
 public:
  struct Sighting {
    std::uint32_t epoch;
    Endpoint node;
    double first_seen_ms;
  };

  // A datagram with header epoch `epoch` from `node`; `decision` when it carries a RouteResponse,
  // Offer or Ack. `now_ms`: milliseconds since the load generator started.
  void observe(std::uint32_t epoch, const Endpoint& node, bool decision, double now_ms) {
    if (std::none_of(seen_.begin(), seen_.end(),
                     [&](const Sighting& s) { return s.epoch == epoch && s.node == node; })) {
      seen_.push_back(Sighting{epoch, node, now_ms});
    }
    if (!decision) {
      return;
    }
    bool known = false;
    bool other = false;
    for (const auto& [e, n] : deciders_) {
      if (e == epoch) {
        (n == node ? known : other) = true;
      }
    }
    if (other) {
      ++conflicts_;
    }
    if (any_decision_ && epoch < highest_) {
      ++regressions_;
    }
    if (!known) {
      deciders_.emplace_back(epoch, node);
    }
    highest_ = any_decision_ ? std::max(highest_, epoch) : epoch;
    any_decision_ = true;
  }

  const std::vector<Sighting>& sightings() const { return seen_; }
  std::uint64_t conflicts() const { return conflicts_; }
  std::uint64_t regressions() const { return regressions_; }

 private:
  std::vector<Sighting> seen_;
  std::vector<std::pair<std::uint32_t, Endpoint>> deciders_;
  bool any_decision_ = false;
  std::uint32_t highest_ = 0;
  std::uint64_t conflicts_ = 0;
  std::uint64_t regressions_ = 0;
};

}  // namespace acd::loadgen
