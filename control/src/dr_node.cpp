// Disaster recovery between sites, the active site's side (docs/dr.md): NodeShipper serving a DR
// follower it never waits for, its lag (the RPO), and the planned switchover that hands the
// site's epoch to the DR site once the follower holds everything. DrStatus's helpers.
#include <algorithm>
#include <chrono>

#include "acd/control/ha_node.hpp"

namespace acd::control {

using dataplane::LinkPrimary;
using SteadyTime = std::chrono::steady_clock;

std::string_view to_string(DrRole role) {
  switch (role) {
    case DrRole::None:
      return "none";
    case DrRole::Serving:
      return "serving";
    case DrRole::Following:
      return "following";
    case DrRole::OutOfService:
      return "out-of-service";
    case DrRole::TakenOver:
      return "taken-over";
    case DrRole::HandedOver:
      return "handed-over";
    case DrRole::Standby:
      return "standby";
  }
  return "?";
}

namespace {

std::uint64_t wall_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace

std::optional<double> age_seconds(std::uint64_t then_ns, std::uint64_t now_ns) {
  constexpr std::uint64_t kSkew = 3'600'000'000'000;  // an hour, in ns
  if (then_ns == 0 || then_ns >= (std::uint64_t{1} << 63) ||
      (then_ns > now_ns && then_ns - now_ns > kSkew)) {
    return std::nullopt;
  }
  return then_ns >= now_ns ? 0.0 : static_cast<double>(now_ns - then_ns) / 1e9;
}

void DrStatus::note(const std::string& event) {
  log_line("dr: " + event);
  std::lock_guard<std::mutex> lock(mutex);
  history.emplace_back(wall_ns(), event);
  if (history.size() > 256) {
    history.erase(history.begin());
  }
}

void DrStatus::answer(std::uint64_t id, bool ok, const std::string& text) {
  std::lock_guard<std::mutex> lock(mutex);
  outcomes.push_back(Outcome{id, ok, text});
  if (outcomes.size() > 16) {
    outcomes.erase(outcomes.begin());
  }
}

std::optional<DrStatus::Outcome> DrStatus::outcome_of(std::uint64_t id) const {
  std::lock_guard<std::mutex> lock(mutex);
  for (const Outcome& o : outcomes) {
    if (o.id == id) {
      return o;
    }
  }
  return std::nullopt;
}

void NodeShipper::set_dr(dataplane::LinkPrimary* dr, dataplane::Endpoint dr_dataplane,
                         std::string dr_node) {
  dr_ = dr;
  dr_dataplane_ = dr_dataplane;
  dr_node_ = std::move(dr_node);
  dr_max_sent_ = last_seq_;  // nothing of this term sent yet: a follower at our seq holds our past
  if (dr_ != nullptr) {
    dr_->set_announce_head(true);
    dr_->set_head(last_seq_);
    if (status_.dr.role.load() == DrRole::None) {
      status_.dr.role.store(DrRole::Serving);  // a node that took over stays TakenOver
    }
  }
}

void NodeShipper::poll_dr(SteadyTime::time_point now) {
  dr_->poll(now);
  if (const auto applied = dr_->take_hello()) {
    // As for the standby: the records it lacks when this term sent it what it has, else an image.
    if (*applied >= term_start_ && *applied <= dr_max_sent_ &&
        send_recent(*dr_, *applied, dr_max_sent_)) {
      status_.dr.note("follower at seq " + std::to_string(*applied) + ", ours " +
                      std::to_string(last_seq_) + ": sending the records it lacks");
    } else {
      image_for_dr_ = true;
      image_dr_from_ = last_seq_;
      after_image_dr_.clear();
      dr_->announce_catch_up(last_seq_);  // it waits while this thread captures the image
      io_.want_image();
      status_.dr.note("follower at seq " + std::to_string(*applied) + ", ours " +
                      std::to_string(last_seq_) + ": sending an image");
    }
  }
  if (const auto bad = dr_->hash_mismatch_seq()) {
    status_.dr.note("state hash mismatch with the DR follower at seq " + std::to_string(*bad));
  }
  const std::uint64_t acked = dr_->acked_seq();
  if (last_seq_ > (dr_marks_.empty() ? acked : dr_marks_.back().first) &&
      dr_marks_.size() < kDrMarks) {
    dr_marks_.emplace_back(last_seq_, now);
  }
  while (!dr_marks_.empty() && dr_marks_.front().first <= acked) {
    dr_marks_.pop_front();
  }
  const auto peer = dr_->peer();
  // A node without a synchronous standby (the DR site that took over, a primary routing alone)
  // has no standby's turn asking for the state hash: its caught-up DR follower is checked against
  // it all the same.
  if (role_ != HaRole::Primary && peer == dataplane::LinkPrimary::PeerState::Synchronous &&
      last_seq_ >= next_hash_at_ && now - last_hash_ >= options_.hash_min_interval) {
    io_.want_hash();
    next_hash_at_ = last_seq_ + options_.hash_every;
    last_hash_ = now;
  }
  if (peer != last_dr_peer_) {
    static constexpr const char* kNames[] = {"none", "catching up", "caught up", "dead"};
    status_.dr.note(std::string("DR follower ") + kNames[static_cast<int>(peer)] + " at seq " +
                    std::to_string(acked));
    last_dr_peer_ = peer;
  }
  dr_switchover_step();
  dr_->flush();
  status_.dr.follower_state.store(static_cast<std::uint8_t>(peer));
  status_.dr.follower_acked.store(acked);
  status_.dr.lag_records.store(last_seq_ > acked ? last_seq_ - acked : 0);
  status_.dr.lag_us.store(
      dr_marks_.empty()
          ? 0
          : static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                           now - dr_marks_.front().second)
                                           .count()));
}

// `acdctl dr switchover` on the active primary: stop admitting requests (clients are told
// NotPrimary, naming the DR site), wait until the DR follower and the standby acknowledged every
// record and every held reply left (RPO 0), then hand the epoch to the DR node in etcd, naming the
// seq it must hold ("NODE.at-SEQ"): it takes over on seeing that, and this node emits nothing more.
void NodeShipper::dr_switchover_step() {
  if (dr_switching_) {
    // One switchover at a time: a request while it drains is told so, under its own ID.
    if (const std::uint64_t again = status_.dr.switchover_requested.exchange(0)) {
      status_.dr.answer(again, false, "a switchover is already draining; see acdctl dr status");
    }
  } else if (const std::uint64_t id = status_.dr.switchover_requested.exchange(0)) {
    dr_request_ = id;
    const bool routing =
        role_ == HaRole::Primary || role_ == HaRole::Alone || role_ == HaRole::Single;
    if (!routing || fence_ == nullptr) {
      status_.dr.answer(
          dr_request_, false,
          fence_ == nullptr
              ? "a DR switchover hands the epoch over in etcd: this node has "
                "no [ha] etcd"
              : "this node is " + std::string(to_string(role_)) + ", not the routing primary");
      return;
    }
    if (dr_->peer() != LinkPrimary::PeerState::Synchronous || image_for_dr_) {
      status_.dr.answer(dr_request_, false,
                        "the DR follower is not caught up (see acdctl dr status)");
      return;
    }
    dr_switching_ = true;
    dr_drain_until_ = SteadyTime::now() + kDrDrainLimit;
    dr_drain_from_ = last_seq_;
    io_.set_standby(true, dr_dataplane_);
    status_.dr.note("switchover: admitting nothing more; draining at seq " +
                    std::to_string(last_seq_));
  }
  if (!dr_switching_ || role_ == HaRole::SteppedDown || role_ == HaRole::Fenced) {
    return;
  }
  if (SteadyTime::now() > dr_drain_until_) {
    // The follower did not get everything in time (gone, or too slow): route on, nothing was
    // handed over. (A follower that drops and reconnects meanwhile is simply waited for.)
    dr_switching_ = false;
    io_.set_standby(false);
    status_.dr.note("switchover abandoned: the DR follower did not acknowledge seq " +
                    std::to_string(last_seq_) + " within the drain limit; routing again");
    status_.dr.answer(dr_request_, false,
                      "the DR follower did not acknowledge everything within " +
                          std::to_string(kDrDrainLimit.count()) +
                          " s (see acdctl dr status); nothing was handed over, this site "
                          "routes again");
    return;
  }
  // Timers keep logging while the drain lasts: the hand-over point is what both followers hold,
  // once it covers everything admitted before the drain and no reply waits here (so nothing a
  // client could have seen lies beyond it). Later records are never released by this node; the
  // DR node may hold some of them already, and takes over at the point or after it.
  std::uint64_t target = dr_->acked_seq();
  if (role_ == HaRole::Primary) {
    target = std::min(target, link_->acked_seq());
  }
  if (journal_ != nullptr && options_.journal_gates) {
    target = std::min(target, journal_->durable_seq());
  }
  target = std::min(target, last_seq_);
  const auto now = SteadyTime::now();
  if (target < dr_drain_from_ || io_.held() != 0 || now < next_fence_try_) {
    return;
  }
  const std::string holder = dr_node_ + ".at-" + std::to_string(target);
  const CasResult r = fence_->advance(epoch_, holder);
  switch (r.outcome) {
    case CasOutcome::Won:
      role_ = HaRole::SteppedDown;
      frozen_at_ = target;
      status_.dr.role.store(DrRole::HandedOver);
      status_.say("handed over to the DR site at seq " + std::to_string(target));
      status_.dr.note("switchover: the DR follower holds every record up to seq " +
                      std::to_string(target) + " (RPO 0); epoch " +
                      std::to_string(r.current.epoch) + " handed to " + holder);
      status_.dr.answer(dr_request_, true,
                        "handed over at seq " + std::to_string(target) + ", epoch " +
                            std::to_string(r.current.epoch));
      break;
    case CasOutcome::Lost:
      role_ = HaRole::Fenced;
      status_.dr.note("switchover: lost the epoch to " + r.current.holder + " (epoch " +
                      std::to_string(r.current.epoch) + "): fenced");
      status_.dr.answer(dr_request_, false,
                        "another node holds epoch " + std::to_string(r.current.epoch) + " (" +
                            r.current.holder + "); this node is fenced");
      break;
    case CasOutcome::Unreachable:
    case CasOutcome::Invalid:
      status_.fence_unreachable.store(status_.fence_unreachable.load() + 1);
      next_fence_try_ = now + std::chrono::milliseconds(20);
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// The DR pair's primary passing the active site's log on to its standby.

PairForwarder::PairForwarder(dataplane::LinkPrimary& link, dataplane::IoStage& io,
                             router::Engine& engine, DrStatus& status)
    : link_(link), io_(io), engine_(engine), status_(status), first_(ours()), max_sent_(first_) {}

void PairForwarder::image(std::uint64_t seq, std::span<const std::uint8_t> bytes) {
  // Our state starts again from the active site's image: whatever the standby held is of no use.
  first_ = seq;
  max_sent_ = seq;
  if (link_.send_snapshot(seq, bytes)) {
    max_sent_ = seq;
  }
}

void PairForwarder::record(std::uint64_t seq, std::span<const std::uint8_t> bytes) {
  Recent& r = recent_[seq % kRecent];
  r.seq = seq;
  r.bytes.assign(bytes.begin(), bytes.end());
  if (link_.append(seq, bytes)) {  // refused while no standby is answered
    max_sent_ = seq;
  }
}

void PairForwarder::hash(std::uint64_t seq, std::uint64_t state_hash) {
  // The active site's hash: the standby compares its own state with it, as we did.
  if (seq == ours()) {
    (void)link_.send_hash(seq, state_hash);
  }
}

void PairForwarder::poll(std::chrono::steady_clock::time_point now) {
  link_.poll(now);
  if (const auto applied = link_.take_hello()) {
    const std::uint64_t seq = ours();
    bool recent = *applied >= first_ && *applied <= max_sent_ && seq - *applied < kRecent;
    for (std::uint64_t s = *applied + 1; recent && s <= seq; ++s) {
      recent = recent_[s % kRecent].seq == s;
    }
    if (recent) {
      for (std::uint64_t s = *applied + 1; s <= seq; ++s) {
        if (link_.append(s, recent_[s % kRecent].bytes)) {
          max_sent_ = s;
        }
      }
      status_.note("pair standby at seq " + std::to_string(*applied) + ", ours " +
                   std::to_string(seq) + ": sending the records it lacks");
    } else {
      // An image of our state, taken here: this loop is the only one touching the engine. The
      // standby is told first, and waits while it is taken and encoded.
      link_.announce_catch_up(seq);
      link_.flush();
      dataplane::NodeImage image;
      image.seq = seq;
      image.engine = engine_.snapshot();
      image.session = io_.save_session();
      if (io_.config_tag() != nullptr) {
        image.config = io_.config_tag()->log_payload;
      }
      if (link_.send_snapshot(seq, dataplane::encode_image(image))) {
        max_sent_ = std::max(max_sent_, seq);
      }
      status_.note("pair standby at seq " + std::to_string(*applied) + ", ours " +
                   std::to_string(seq) + ": sending an image");
    }
  }
  if (const auto bad = link_.hash_mismatch_seq()) {
    status_.note("state hash mismatch with the pair standby at seq " + std::to_string(*bad));
  }
  const auto peer = static_cast<std::uint8_t>(link_.peer());
  if (peer != last_peer_) {
    static constexpr const char* kNames[] = {"none", "catching up", "caught up", "dead"};
    status_.note(std::string("pair standby ") + (peer < 4 ? kNames[peer] : "?") + " at seq " +
                 std::to_string(link_.acked_seq()));
    last_peer_ = peer;
  }
  status_.standby_state.store(peer);
  status_.standby_acked.store(link_.acked_seq());
  history_.poll({&link_, nullptr});  // our records before the standby's image
  link_.flush();
}

}  // namespace acd::control
