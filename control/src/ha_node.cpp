#include "acd/control/ha_node.hpp"

#include "acd/dataplane/image_buffers.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <thread>

#include <poll.h>
#include <sys/resource.h>

namespace acd::control {

using dataplane::LinkPrimary;
using SteadyTime = std::chrono::steady_clock;

std::string_view to_string(HaRole role) {
  switch (role) {
    case HaRole::Single:
      return "single";
    case HaRole::Standby:
      return "standby";
    case HaRole::Primary:
      return "primary";
    case HaRole::Alone:
      return "primary-alone";
    case HaRole::Fenced:
      return "fenced";
    case HaRole::OutOfService:
      return "out-of-service";
    case HaRole::SteppedDown:
      return "stepped-down";
  }
  return "?";
}

void wait_readable(std::span<const int> fds, std::chrono::microseconds timeout) {
  std::array<pollfd, 4> set{};
  nfds_t n = 0;
  for (const int fd : fds) {
    if (fd >= 0 && n < set.size()) {
      set[n++] = pollfd{fd, POLLIN, 0};
    }
  }
  const auto us = timeout.count();
  const timespec ts{static_cast<time_t>(us / 1'000'000), static_cast<long>(us % 1'000'000) * 1000};
  (void)ppoll(set.data(), n, &ts, nullptr);  // an error or a signal: the caller polls again
}

void log_line(const std::string& text) {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  tm local{};
  localtime_r(&now.tv_sec, &local);
  std::fprintf(stderr, "acdd: ha: %02d:%02d:%02d.%03ld %s\n", local.tm_hour, local.tm_min,
               local.tm_sec, now.tv_nsec / 1'000'000, text.c_str());
  std::fflush(stderr);
}

// ---------------------------------------------------------------------------------------------
// NodeShipper: the primary's side.

NodeShipper::NodeShipper(dataplane::IoStage& io, dataplane::Journal* journal,
                         dataplane::LinkPrimary* link, EtcdEpoch* fence, std::uint64_t epoch,
                         HaRole role, Options options, HaStatus& status)
    : io_(io),
      journal_(journal),
      link_(link),
      fence_(fence),
      epoch_(epoch),
      role_(role),
      options_(std::move(options)),
      status_(status),
      last_seq_(io.sequencer().next() - 1),
      term_start_(last_seq_),
      last_snapshot_(SteadyTime::now()) {
  status_.role.store(role_);
  status_.epoch.store(epoch_);
  status_.set_sources(link_ != nullptr ? &link_->counters() : nullptr,
                      link_ != nullptr ? &link_->ack_latency() : nullptr, journal_);
  next_hash_at_ = last_seq_ + options_.hash_every;
}

NodeShipper::~NodeShipper() {
  status_.set_sources(nullptr, nullptr, nullptr);  // the link and journal may die before status_
}

void NodeShipper::append(std::uint64_t seq, std::span<const std::uint8_t> record) {
  last_seq_ = seq;
  Recent& r = recent_[seq % kRecentRecords];
  // A record larger than the ring's slots (a reload, with its configuration) is left out of it:
  // a standby that lacks it is caught up with an image instead.
  r.seq = record.size() <= r.bytes.size() ? seq : 0;
  r.length = static_cast<std::uint8_t>(std::min(record.size(), r.bytes.size()));
  std::copy_n(record.begin(), r.length, r.bytes.begin());
  if (journal_ != nullptr) {
    if (!overflow_.empty() || !journal_->append(seq, record)) {
      overflow_.emplace_back(seq, std::vector<std::uint8_t>(record.begin(), record.end()));
    }
  }
  if (link_ != nullptr) {
    if (image_for_standby_) {
      after_image_.emplace_back(seq, std::vector<std::uint8_t>(record.begin(), record.end()));
    } else if (link_->append(seq, record)) {  // refused while no standby is answered
      max_sent_ = seq;
    }
  }
  if (dr_ != nullptr) {
    dr_->set_head(seq);
    if (image_for_dr_) {
      after_image_dr_.emplace_back(seq, std::vector<std::uint8_t>(record.begin(), record.end()));
    } else if (dr_->append(seq, record)) {  // refused while no follower is answered
      dr_max_sent_ = seq;
    }
  }
}

void NodeShipper::poll() {
  while (journal_ != nullptr && !overflow_.empty() &&
         journal_->append(overflow_.front().first, overflow_.front().second)) {
    overflow_.pop_front();
  }
  if (link_ != nullptr) {
    const auto now = SteadyTime::now();
    link_->poll(now);
    if (const auto applied = link_->take_hello()) {
      serve_hello(*applied);
    }
    if (const auto bad = link_->hash_mismatch_seq()) {
      // The standby is wrong (or we are): it takes itself out of service on its side; here it is
      // counted and said loudly. Replies keep needing its acks: it still holds the log.
      status_.hash_mismatches.store(status_.hash_mismatches.load() + 1);
      log_line("state hash mismatch with the standby at seq " + std::to_string(*bad));
      status_.say("state hash mismatch with the standby at seq " + std::to_string(*bad));
    }
    const auto link_peer = link_->peer();
    const bool connected = link_peer == LinkPrimary::PeerState::CatchingUp ||
                           link_peer == LinkPrimary::PeerState::Synchronous;
    // Synchronous for us: it acknowledged the image or the records that caught it up.
    const auto peer = !connected ? link_peer
                      : (!image_for_standby_ && link_->acked_seq() >= sync_target_)
                          ? LinkPrimary::PeerState::Synchronous
                          : LinkPrimary::PeerState::CatchingUp;
    if (peer == LinkPrimary::PeerState::Synchronous && last_seq_ >= next_hash_at_ &&
        SteadyTime::now() - last_hash_ >= options_.hash_min_interval) {
      io_.want_hash();
      next_hash_at_ = last_seq_ + options_.hash_every;
      last_hash_ = SteadyTime::now();
    }
    if (peer != last_peer_) {
      log_line(std::string("standby ") +
               (peer == LinkPrimary::PeerState::Synchronous  ? "synchronous"
                : peer == LinkPrimary::PeerState::CatchingUp ? "catching up"
                : peer == LinkPrimary::PeerState::Dead       ? "dead"
                                                             : "none") +
               " at seq " + std::to_string(link_->acked_seq()) +
               (peer == LinkPrimary::PeerState::Dead && link_->last_drop() != dataplane::LinkCounter::kCount
                    ? " (" + std::string(dataplane::link_counter_name(link_->last_drop())) + ")"
                    : std::string()));
      last_peer_ = peer;
    }
    if (peer == LinkPrimary::PeerState::Synchronous &&
        (role_ == HaRole::Alone || (role_ == HaRole::Primary && frozen_at_ != 0))) {
      // A standby that caught up holds everything: replies wait for its acks again.
      role_ = HaRole::Primary;
      frozen_at_ = 0;
      status_.say("standby synchronous");
    } else if (role_ == HaRole::Primary && peer != LinkPrimary::PeerState::Synchronous) {
      on_standby_lost();
    }
    step_down_if_asked();
    ship_audit();
    history_.poll({link_, dr_});
    link_->flush();
    status_.peer_state.store(static_cast<std::uint8_t>(peer));
    status_.peer_seq.store(link_->acked_seq());
  }
  if (dr_ != nullptr) {
    if (link_ == nullptr) {
      history_.poll({nullptr, dr_});  // the DR follower's requests (with a standby: above)
    }
    poll_dr(SteadyTime::now());  // after the standby's turn: it never waits for the DR follower
  }
  status_.role.store(role_);
  status_.last_seq.store(last_seq_);
  status_.held.store(io_.held());
}

void HistoryServer::poll(const std::array<dataplane::LinkPrimary*, kLinks>& links) {
  if (fetch_ == nullptr) {
    return;
  }
  std::vector<std::uint8_t> request;
  for (std::size_t i = 0; i < kLinks; ++i) {
    if (links[i] != nullptr && links[i]->take_history_request(request)) {
      waiting_[i] = std::move(request);
      request = {};
    }
  }
  if (serving_ < 0) {
    for (std::size_t k = 0; k < kLinks; ++k) {
      const std::size_t i = (next_ + k) % kLinks;
      if (!waiting_[i].empty()) {
        auto m = std::make_unique<dataplane::HistoryFetch>();
        m->request = std::move(waiting_[i]);
        waiting_[i].clear();
        fetch_->serve(std::move(m));
        serving_ = static_cast<int>(i);
        next_ = i + 1;
        break;
      }
    }
  }
  if (serving_ < 0) {
    return;
  }
  if (answer_ == nullptr) {
    answer_ = fetch_->take_served();
  }
  if (answer_ == nullptr) {
    return;
  }
  dataplane::LinkPrimary* to = links[static_cast<std::size_t>(serving_)];
  const bool gone = to == nullptr ||
                    (to->peer() != dataplane::LinkPrimary::PeerState::CatchingUp &&
                     to->peer() != dataplane::LinkPrimary::PeerState::Synchronous);
  if (gone || to->history_room()) {
    if (!gone && !answer_->answer.empty()) {
      (void)to->send_history(answer_->answer);
    }
    answer_.reset();
    serving_ = -1;
  }
}

// The audit stream: where the standby's copy stands (once per connection), then up to 64 of our
// records per cycle while the connection has room; the rest wait in the audit log's ring.
void NodeShipper::ship_audit() {
  if (audit_ == nullptr) {
    return;
  }
  if (const auto held = link_->take_audit_resume()) {
    // The standby's position, checked by the writer against our files; its answer (the
    // restart) goes out before any record.
    audit_->ship_after(*held, link_->audit_resume_hash());
  } else if (audit_shipping_ && !link_->audit_open()) {
    audit_->stop_shipping();
  }
  audit_shipping_ = link_->audit_open();
  (void)audit_->drain_shipping(
      [&](std::uint64_t after, const std::array<std::uint8_t, 32>& prev) {
        return link_->restart_audit(after, prev);
      },
      [&](std::uint64_t seq, std::span<const std::uint8_t> line) {
        if (!link_->audit_room()) {
          return false;
        }
        (void)link_->append_audit(seq, line);  // a refusal is counted by the link
        return true;
      },
      64);
  if (audit_shipping_) {
    audit_->note_acked(link_->audit_acked());
  }
}

// `acdctl ha switchover`: stop taking requests (clients are told NotPrimary, naming the standby),
// wait until the standby acknowledged every record and every held reply left, then step down:
// the standby, hearing nothing more, wins the next epoch and routes.
void NodeShipper::step_down_if_asked() {
  if (!stepping_down_ && status_.switchover_requested.exchange(false)) {
    if (role_ != HaRole::Primary) {
      status_.say("switchover refused: the standby is not synchronous");
      return;
    }
    stepping_down_ = true;
    io_.set_standby(true, options_.peer_dataplane);
    log_line("switchover: draining at seq " + std::to_string(last_seq_));
    status_.say("switchover: draining");
  }
  if (stepping_down_ && role_ == HaRole::Primary && link_->acked_seq() >= last_seq_ &&
      io_.held() == 0) {
    role_ = HaRole::SteppedDown;
    frozen_at_ = last_seq_;
    log_line("switchover: the standby holds everything up to seq " + std::to_string(last_seq_) +
             "; stepping down");
    status_.say("stepped down for a switchover");
  }
}

// The standby stopped acknowledging. Replies wait (released_through stays) until etcd says who
// continues: this node, alone, with epoch E+1; or the standby, which then holds E+1 and this node
// is fenced for good.
void NodeShipper::on_standby_lost() {
  if (frozen_at_ == 0) {
    frozen_at_ = link_->acked_seq();
    log_line("standby lost; everything after seq " + std::to_string(frozen_at_) +
             " waits for the epoch swap");
  }
  const auto now = SteadyTime::now();
  if (fence_ == nullptr || now < next_fence_try_) {
    return;
  }
  const CasResult r = fence_->advance(epoch_, options_.node);
  switch (r.outcome) {
    case CasOutcome::Won:
      epoch_ = r.current.epoch;
      io_.set_epoch(static_cast<std::uint32_t>(epoch_));
      link_->set_epoch(epoch_);  // a standby that comes back follows this epoch
      role_ = HaRole::Alone;
      frozen_at_ = 0;
      status_.epoch.store(epoch_);
      log_line("won epoch " + std::to_string(epoch_) + ": routing alone");
      status_.say("standby lost; won epoch " + std::to_string(epoch_) + ", routing alone");
      break;
    case CasOutcome::Lost:
      role_ = HaRole::Fenced;
      status_.fence_lost.store(status_.fence_lost.load() + 1);
      log_line("lost the epoch to " + r.current.holder + " (epoch " +
               std::to_string(r.current.epoch) + "): fenced, emitting nothing");
      status_.say("fenced: " + r.current.holder + " holds epoch " +
                  std::to_string(r.current.epoch));
      break;
    case CasOutcome::Unreachable:
    case CasOutcome::Invalid:
      status_.fence_unreachable.store(status_.fence_unreachable.load() + 1);
      status_.say("standby lost and etcd unreachable: holding every reply (" + r.why + ")");
      next_fence_try_ = now + std::chrono::milliseconds(5);
      break;
  }
}

void NodeShipper::serve_hello(std::uint64_t applied) {
  sync_target_ = last_seq_;
  if (applied == last_seq_ && applied >= term_start_ && applied <= max_sent_ && applied != 0) {
    return;  // it holds exactly our state: the live log continues from here
  }
  // A little behind on our own history: the records it lacks, if the recent ring has them all.
  // Only a standby whose seq we sent it ourselves, in this term, holds our history up to there; a
  // node that was primary before us may hold records of its own past the point we took over
  // (never acknowledged, so never seen by a client), and gets an image.
  if (applied >= term_start_ && applied <= max_sent_ && send_recent(*link_, applied, max_sent_)) {
    log_line("standby at seq " + std::to_string(applied) + ", ours " + std::to_string(last_seq_) +
             ": sending the records it lacks");
    return;
  }
  // Anything else (behind, or a history of its own after a split): a whole image.
  image_for_standby_ = true;
  image_standby_from_ = last_seq_;
  after_image_.clear();
  link_->announce_catch_up(last_seq_);  // it waits while this thread captures the image
  io_.want_image();
  log_line("standby at seq " + std::to_string(applied) + ", ours " + std::to_string(last_seq_) +
           ": sending an image");
}

// The records after `applied`, from the recent ring, if it still has them all (false: none sent).
bool NodeShipper::send_recent(dataplane::LinkPrimary& to, std::uint64_t applied,
                              std::uint64_t& max_sent) {
  if (last_seq_ - applied >= kRecentRecords) {
    return false;
  }
  for (std::uint64_t seq = applied + 1; seq <= last_seq_; ++seq) {
    if (recent_[seq % kRecentRecords].seq != seq) {
      return false;
    }
  }
  for (std::uint64_t seq = applied + 1; seq <= last_seq_; ++seq) {
    const Recent& r = recent_[seq % kRecentRecords];
    if (to.append(seq, std::span<const std::uint8_t>(r.bytes.data(), r.length))) {
      max_sent = seq;
    }
  }
  return true;
}

bool NodeShipper::wants_image() {
  if (journal_ != nullptr && SteadyTime::now() - last_snapshot_ >= options_.snapshot_every) {
    snapshot_due_ = true;
  }
  return snapshot_due_;
}

void NodeShipper::on_image(dataplane::NodeImage image) {
  snapshot_due_ = false;
  last_snapshot_ = SteadyTime::now();
  // Encoded here only for a standby or DR follower that waits for it; for the journal alone it is
  // encoded on the journal's image thread, off the routing core (hundreds of MB at 1M agents).
  const bool sent = (link_ != nullptr && image_for_standby_ && image.seq >= image_standby_from_) ||
                    (dr_ != nullptr && image_for_dr_ && image.seq >= image_dr_from_);
  std::vector<std::uint8_t> bytes;
  if (sent) {
    bytes = dataplane::encode_image(image);
  }
  if (link_ != nullptr && image_for_standby_ && image.seq < image_standby_from_) {
    io_.want_image();  // taken before the standby asked: the next one is its
  } else if (link_ != nullptr && image_for_standby_) {
    image_for_standby_ = false;
    if (link_->send_snapshot(image.seq, bytes)) {
      max_sent_ = std::max(max_sent_, image.seq);
      sync_target_ = image.seq;
      for (const auto& [seq, record] : after_image_) {
        if (seq > image.seq && link_->append(seq, record)) {
          max_sent_ = seq;
        }
      }
    }
    after_image_.clear();
  }
  if (dr_ != nullptr && image_for_dr_ && image.seq < image_dr_from_) {
    io_.want_image();
  } else if (dr_ != nullptr && image_for_dr_) {
    image_for_dr_ = false;
    if (dr_->send_snapshot(image.seq, bytes)) {
      dr_max_sent_ = std::max(dr_max_sent_, image.seq);
      for (const auto& [seq, record] : after_image_dr_) {
        if (seq > image.seq && dr_->append(seq, record)) {
          dr_max_sent_ = seq;
        }
      }
    }
    after_image_dr_.clear();
  }
  if (journal_ != nullptr && sent) {
    journal_->snapshot(image.seq, std::move(bytes));
  } else if (journal_ != nullptr) {
    journal_->snapshot(std::move(image));
    return;
  }
  if (sent) {
    dataplane::image_buffers().give(std::move(image.engine));  // encoded: for the next capture
  }
}

void NodeShipper::on_hash(std::uint64_t seq, std::uint64_t hash) {
  // Compared on the standby when the hash arrives right after record `seq`: only when no later
  // record went out before it (always so when one thread routes).
  if (link_ != nullptr && seq == last_seq_ && link_->send_hash(seq, hash)) {
    status_.hash_checks.store(status_.hash_checks.load() + 1);
    status_.last_hash_seq.store(seq);
  }
  if (dr_ != nullptr && !image_for_dr_ && seq == last_seq_) {
    (void)dr_->send_hash(seq, hash);  // the follower takes itself out of service if it differs
  }
}

std::uint64_t NodeShipper::released_through() const {
  std::uint64_t through = last_seq_;
  if (journal_ != nullptr && options_.journal_gates) {
    through = std::min(through, journal_->durable_seq());
  }
  switch (role_) {
    case HaRole::Primary:
      through = std::min(through, link_->acked_seq());
      break;
    case HaRole::Fenced:
    case HaRole::SteppedDown:
      return std::min(through, frozen_at_);  // nothing more, ever: the other node takes the epoch
    default:
      break;
  }
  if (frozen_at_ != 0) {
    through = std::min(through, frozen_at_);
  }
  return through;
}

// ---------------------------------------------------------------------------------------------
// Starting from the journal.

Recovery recover_node(const std::string& dir, router::Engine& engine, dataplane::IoStage& io) {
  Recovery out;
  std::string why;
  const std::optional<dataplane::Recovered> found = dataplane::recover_journal(dir, why);
  if (!found) {
    out.error = "journal " + dir + ": " + why;
    return out;
  }
  out.cut = found->cut;
  out.snapshot_seq = found->snapshot_seq;
  if (found->snapshot_seq != 0) {
    dataplane::NodeImage image;
    if (!dataplane::decode_image(found->snapshot, image) || image.seq != found->snapshot_seq) {
      out.error = "journal " + dir + ": the snapshot at seq " +
                  std::to_string(found->snapshot_seq) + " is not a node image";
      return out;
    }
    // A snapshot taken after a reload names the configuration it was taken under, and is
    // restored into an engine built from it.
    std::string why_not;
    if (!io.restore_image(image, engine, why_not)) {
      out.error = "journal " + dir + ": the snapshot at seq " + std::to_string(image.seq) +
                  " cannot be restored: " + why_not +
                  " (queues, agents or sizes differ from when it was taken, or "
                  "dataplane.max_clients or reply_cache_per_client changed); start with that "
                  "configuration, or move the journal aside to start empty";
      return out;
    }
  }
  dataplane::RouterStage router(engine);
  for (const auto& [seq, record] : found->records) {
    switch (io.replay(seq, record, router)) {
      case dataplane::IoStage::Replay::Applied:
        ++out.records;
        continue;
      case dataplane::IoStage::Replay::ConfigChange:
        out.error = "journal " + dir + ": seq " + std::to_string(seq) +
                    " is a configuration reload this node cannot apply (written before the log "
                    "carried the configuration, or not valid here); start with the "
                    "configuration it loaded, or move the journal aside";
        return out;
      default:
        out.error = "journal " + dir + ": seq " + std::to_string(seq) + " cannot be applied";
        return out;
    }
  }
  out.next_seq = found->next_seq;
  if (io.sequencer().next() != out.next_seq) {
    out.error = "journal " + dir + ": replay ended at seq " +
                std::to_string(io.sequencer().next() - 1) + ", the journal at " +
                std::to_string(out.next_seq - 1);
  }
  return out;
}

namespace {

// `acdctl dr drill` on the DR follower. The follower's loop waits for a state hash of the active
// site at or after the seq it had applied when the drill was asked (the current one), then hands
// this to a thread of its own, which, at the lowest CPU priority:
// * builds a sandbox: a fresh engine of the follower's configuration and an IO stage of its sizes
//   on a port of its own (in memory, never read);
// * replays the followed log to that seq from the follower's journal (its newest snapshot, then
//   every record after it), read only (JournalReader);
// * compares the sandbox's state hash with the active site's at that seq;
// * routes one synthetic call there, to the queue with the most ready agents.
// The follower's engine, journal, wire and credential file are untouched; the sandbox and its
// decisions are thrown away. The follower's loop goes on meanwhile (its RPO does not grow).
struct DrillJob {
  std::uint64_t request = 0;
  DrStatus::Drill d;  // applied_seq, head_seq and hash_seq filled in by the loop
  std::uint64_t theirs = 0;  // the active site's state hash at d.hash_seq
  std::string journal_dir;
  router::EngineConfig domain;
  dataplane::DataplaneConfig sizes;
  std::vector<std::string> queue_names;
  SteadyTime::time_point asked;
};

void sandbox_drill(DrillJob job, HaStatus& status) {
  DrStatus& dr = status.dr;
  DrStatus::Drill& d = job.d;
  const auto finish = [&](const std::string& why) {
    d.took_ms = std::chrono::duration<double, std::milli>(SteadyTime::now() - job.asked).count();
    const std::string summary =
        std::string(d.passed ? "passed" : "FAILED") + ": sandbox replayed the log " +
        (d.snapshot_seq == 0 ? std::string("from seq 1")
                             : "from the snapshot at seq " + std::to_string(d.snapshot_seq)) +
        " to seq " + std::to_string(d.hash_seq) + " (" + std::to_string(d.replayed) +
        " records; follower at " + std::to_string(d.applied_seq) + ", active site at " +
        std::to_string(d.head_seq) + " when asked); " +
        (why.empty()
             ? "state hash " + std::string(d.hash_match ? "matches" : "differs from") +
                   " the active site's at seq " + std::to_string(d.hash_seq) + "; a call to queue " +
                   d.queue + " " + (d.detail.empty() ? "got no decision" : d.detail)
             : why) +
        "; " + std::to_string(d.took_ms) + " ms";
    {
      std::lock_guard<std::mutex> lock(dr.mutex);
      dr.drill = d;
    }
    dr.note("drill " + summary);
    dr.answer(job.request, true, summary);  // the drill ran; `passed` says how it went
  };

  dataplane::JournalReader reader(job.journal_dir);
  std::vector<std::uint8_t> bytes;
  std::string why;
  std::uint64_t snapshot_seq = 0;
  if (!reader.newest_snapshot(snapshot_seq, bytes, why) && !why.empty()) {
    return finish("the journal's snapshot cannot be read: " + why);
  }
  if (snapshot_seq > d.hash_seq) {
    return finish("the journal's newest snapshot (seq " + std::to_string(snapshot_seq) +
                  ") is past the active site's hash at seq " + std::to_string(d.hash_seq));
  }
  std::vector<router::AgentNumber> numbers;
  for (const auto& a : job.domain.agents) {
    numbers.push_back(a.number);
  }
  router::Engine sandbox(job.domain);
  dataplane::MemoryPort port;
  dataplane::ContinuingClock clock;
  dataplane::IoStage io(port, clock, nullptr, numbers, job.sizes);
  io.set_standby(true);
  if (snapshot_seq != 0) {
    dataplane::NodeImage image;
    if (!dataplane::decode_image(bytes, image) || image.seq != snapshot_seq) {
      return finish("the journal's snapshot at seq " + std::to_string(snapshot_seq) +
                    " is not a node image");
    }
    if (!io.restore_image(image, sandbox, why)) {
      return finish("the journal's snapshot at seq " + std::to_string(snapshot_seq) +
                    " cannot be restored in the sandbox: " + why);
    }
  }
  d.snapshot_seq = snapshot_seq;
  dataplane::RouterStage router(sandbox);
  auto waited_since = SteadyTime::now();
  for (std::uint64_t seq = snapshot_seq + 1; seq <= d.hash_seq;) {
    switch (reader.read(seq, bytes, why)) {
      case dataplane::JournalReader::Next::Record: {
        const auto r = io.replay(seq, bytes, router);
        if (r != dataplane::IoStage::Replay::Applied) {
          return finish("record " + std::to_string(seq) + " cannot be replayed in the sandbox" +
                        (r == dataplane::IoStage::Replay::ConfigChange
                             ? " (a configuration reload: a drill replays none)"
                             : ""));
        }
        ++d.replayed;
        ++seq;
        waited_since = SteadyTime::now();
        continue;
      }
      case dataplane::JournalReader::Next::Wait:
        // Applied by the follower, still on its way to the journal's files.
        if (SteadyTime::now() - waited_since > std::chrono::seconds(10)) {
          return finish("record " + std::to_string(seq) + " did not reach the journal in 10 s");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      case dataplane::JournalReader::Next::Gap:
        return finish("the journal no longer holds record " + std::to_string(seq) +
                      " (it begins at " + std::to_string(reader.earliest()) + ")");
      case dataplane::JournalReader::Next::Error:
        return finish("the journal cannot be read at seq " + std::to_string(seq) + ": " + why);
    }
  }
  d.hash_match = sandbox.state_hash() == job.theirs;

  router::QueueIndex queue = 0;
  for (router::QueueIndex q = 1; q < sandbox.queue_count(); ++q) {
    if (sandbox.queue(q).ready_agents > sandbox.queue(queue).ready_agents) {
      queue = q;
    }
  }
  std::vector<router::Decision> decisions;
  router::Event call;
  call.type = router::EventType::RouteRequest;
  call.time = sandbox.now();
  call.call = (std::uint64_t{0xD7} << 56) | (job.request & 0xFFFF'FFFF);
  call.queue = queue;
  call.media = sandbox.queue(queue).media;
  sandbox.apply(call, [&](const router::Decision& x) { decisions.push_back(x); });
  d.queue = queue < job.queue_names.size() ? job.queue_names[queue] : "#" + std::to_string(queue);
  d.routed = "none";
  for (const router::Decision& x : decisions) {
    if (x.call != call.call) {
      continue;
    }
    if (x.type == router::DecisionType::Offer) {
      d.routed = "agent";
      d.agent = sandbox.agent(x.agent).number;
      d.detail = "offered to agent " + std::to_string(d.agent);
      break;
    }
    if (x.type == router::DecisionType::Queued) {
      d.routed = "queued";
      d.detail = "queued at position " + std::to_string(x.position) + " (no agent ready)";
      break;
    }
    if (x.type == router::DecisionType::Overflowed) {
      d.routed = "overflowed";
      d.detail = "overflowed: " + std::string(router::to_string(x.action));
      break;
    }
    if (x.type == router::DecisionType::Rejected || x.type == router::DecisionType::Error) {
      d.routed = "rejected";
      d.detail = "rejected: " + std::string(router::describe(x.status));
      break;
    }
  }
  d.passed = d.hash_match && d.routed != "rejected" && d.routed != "none";
  finish("");
}

// The follower loop's side of drills: takes requests, waits for the current hash, runs the
// sandbox on its thread (one drill at a time: a request made meanwhile waits for it) and joins it.
class DrillRunner {
 public:
  ~DrillRunner() {
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  // Each turn of the follower's loop. `theirs_seq`/`theirs`: the active site's last state hash
  // received (seq 0: none yet).
  void turn(HaStatus& status, const dataplane::IoStage& io, const dataplane::LinkStandby& link,
            const dataplane::Journal* journal, const std::string& journal_dir, bool in_service,
            std::uint64_t theirs_seq, std::uint64_t theirs, SteadyTime::time_point now) {
    DrStatus& dr = status.dr;
    if (thread_.joinable() && done_.load(std::memory_order_acquire)) {
      thread_.join();
    }
    if (const std::uint64_t request = dr.drill_requested.exchange(0)) {
      if (pending_.request != 0) {
        dr.answer(request, false, "a drill is waiting for the active site's hash; nothing changed");
      } else if (!in_service) {
        dr.answer(request, false,
                  "this follower is out of service (" + status.why() +
                      "): its state is not the active site's");
      } else if (journal == nullptr || dr.drill_domain == nullptr) {
        dr.answer(request, false,
                  "this node keeps no journal ([journal] dir): a drill replays the followed log "
                  "from it");
      } else {
        pending_ = DrillJob{};
        pending_.request = request;
        pending_.asked = now;
        pending_.d.applied_seq = link.applied_seq();
        pending_.d.head_seq = std::max(dr.head_seq.load(), pending_.d.applied_seq);
      }
    }
    if (pending_.request == 0 || thread_.joinable()) {
      return;  // (the next drill starts once the last one's thread has ended)
    }
    if (!in_service) {
      dr.answer(pending_.request, false, "this follower went out of service (" + status.why() + ")");
      pending_ = DrillJob{};
      return;
    }
    if (theirs_seq == 0 || theirs_seq < pending_.d.applied_seq) {
      if (now - pending_.asked > std::chrono::seconds(5)) {
        dr.answer(pending_.request, false,
                  "no state hash from the active site at or after seq " +
                      std::to_string(pending_.d.applied_seq) +
                      " within 5 s (it sends one every [ha] hash_every records); nothing changed");
        pending_ = DrillJob{};
      }
      return;
    }
    // The active site's current hash, at or after the follower's state when asked.
    pending_.d.hash_seq = theirs_seq;
    pending_.theirs = theirs;
    pending_.journal_dir = journal_dir;
    const auto* config = static_cast<const ApplianceConfig*>(io.config_tag());
    pending_.domain = config != nullptr ? config->domain : *dr.drill_domain;
    for (const auto& q : pending_.domain.queues) {
      pending_.queue_names.push_back(q.name);
    }
    pending_.sizes = dr.drill_dataplane;
    done_.store(false, std::memory_order_relaxed);
    thread_ = std::thread([this, job = std::move(pending_), &status]() mutable {
      (void)setpriority(PRIO_PROCESS, 0, 19);  // this thread only (Linux): production first
      sandbox_drill(std::move(job), status);
      done_.store(true, std::memory_order_release);
    });
    pending_ = DrillJob{};
  }

 private:
  DrillJob pending_;
  std::thread thread_;
  std::atomic<bool> done_{false};
};

}  // namespace

bool taken_by_site(const std::string& holder, const std::string& site) {
  return !site.empty() && (holder == site || holder.rfind(site + ".at-", 0) == 0 ||
                           holder.rfind(site + ".took-", 0) == 0);
}

std::optional<std::uint64_t> takeover_point(const std::string& holder, const std::string& site) {
  if (site.empty()) {
    return std::nullopt;
  }
  std::string seq;
  for (const char* mark : {".at-", ".took-"}) {
    if (holder.rfind(site + mark, 0) == 0) {
      seq = holder.substr(site.size() + std::char_traits<char>::length(mark));
    }
  }
  if (seq.empty() || seq.size() > 19 || seq.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return std::stoull(seq);
}

// ---------------------------------------------------------------------------------------------
// The standby's side.

namespace {

// Moves the journal aside and begins it again from the primary's image.
bool restart_journal(std::unique_ptr<dataplane::Journal>& journal,
                     const dataplane::JournalConfig& config, std::uint64_t seq,
                     std::span<const std::uint8_t> image, std::string& why) {
  journal.reset();
  std::error_code ec;
  const std::filesystem::path dir(config.dir);
  const std::filesystem::path aside(config.dir + ".replaced");
  std::filesystem::remove_all(aside, ec);
  std::filesystem::rename(dir, aside, ec);
  journal = dataplane::Journal::open(config, seq + 1, why);
  if (!journal) {
    return false;
  }
  journal->snapshot(seq, std::vector<std::uint8_t>(image.begin(), image.end()));
  return true;
}

// The DR follower's turn at taking over (follow_primary with dr_follower): true when it won the
// epoch, `epoch` then the new one. A hand-over by the active primary ("NODE.at-SEQ" in etcd,
// looked at while the primary is silent) is taken when SEQ is what this node applied; an
// operator's failover when the primary is silent and the epoch is still the one followed.
bool dr_take_over(dataplane::LinkStandby& link, EtcdEpoch& fence, const HaSettings& settings,
                  HaStatus& status, bool alive, bool in_service, std::uint64_t& epoch,
                  SteadyTime::time_point now, SteadyTime::time_point& next_fence_try) {
  DrStatus& dr = status.dr;
  const std::uint64_t applied = link.applied_seq();
  const std::uint64_t head = std::max(dr.head_seq.load(), applied);
  auto taken = [&](std::uint64_t new_epoch, const std::string& how) {
    epoch = new_epoch;
    status.epoch.store(epoch);
    status.failovers.store(status.failovers.load() + 1);
    status.say("took over as the active site: " + how);
    {
      std::lock_guard<std::mutex> lock(dr.mutex);
      dr.takeover_epoch = epoch;
      dr.takeover_seq = applied;
      dr.takeover_loss = head - applied;
    }
    dr.role.store(DrRole::TakenOver);
    dr.note("took over (" + how + ") with epoch " + std::to_string(epoch) + " at applied seq " +
            std::to_string(applied) + "; the active site had logged at least " +
            std::to_string(head) + " (" + std::to_string(head - applied) + " records lost)");
    return true;
  };
  if (const std::uint64_t request = dr.failover_requested.exchange(0)) {
    if (!in_service) {
      dr.answer(request, false,
                "this follower is out of service (" + status.why() +
                    "): its state is not the active site's; it will not take over");
    } else if (alive) {
      dr.answer(request, false,
                "the active site's primary is alive (connected, heard within " +
                    std::to_string(settings.dead_after_ms) +
                    " ms): a failover would split the centre; use 'acdctl dr switchover' "
                    "on the active primary, or stop it first");
    } else if (epoch == 0) {
      dr.answer(request, false,
                "this node never followed the active site (no epoch heard): it holds "
                "nothing to take over with");
    } else {
      // The holder names the seq taken over at: a DR pair's standby that never heard its primary
      // announce the epoch knows from it whether it holds everything (follow_primary).
      const CasResult r = fence.advance(epoch, settings.node + ".took-" + std::to_string(applied));
      if (r.outcome == CasOutcome::Won) {
        taken(r.current.epoch, "failover");
        dr.answer(request, true,
                  "took over with epoch " + std::to_string(epoch) + " at seq " +
                      std::to_string(applied) + "; estimated loss " +
                      std::to_string(head - applied) + " records");
        return true;
      }
      dr.answer(request, false,
                r.outcome == CasOutcome::Lost
                    ? "the epoch moved on to " + std::to_string(r.current.epoch) + " (" +
                          r.current.holder +
                          ") since this node last heard the active "
                          "site: another node routes, or its state is newer than ours"
                    : "etcd did not answer: " + r.why + "; nothing changed, try again");
    }
  }
  if (alive || !in_service || now < next_fence_try || epoch == 0) {
    return false;
  }
  // The primary went silent: a hand-over says so in etcd.
  next_fence_try = now + std::chrono::milliseconds(20);
  std::string why;
  const std::optional<EpochRecord> current = fence.read(why);
  const std::string mine = settings.node + ".at-";
  if (!current || current->epoch != epoch + 1 || current->holder.rfind(mine, 0) != 0) {
    return false;
  }
  const std::string seq = current->holder.substr(mine.size());
  std::uint64_t at = 0;
  if (seq.empty() || seq.size() > 19 || seq.find_first_not_of("0123456789") != std::string::npos ||
      (at = std::stoull(seq)) > applied) {
    // Not yet (records still in flight), or not a hand-over we can read.
    return false;
  }
  // At the point or past it: the records after it came from the same primary, which released
  // none of their replies.
  return taken(current->epoch, "switchover at RPO 0");
}

}  // namespace

bool follow_primary(dataplane::LinkStandby& link, dataplane::IoStage& io, router::Engine& engine,
                    dataplane::StatePublisher* publisher,
                    std::unique_ptr<dataplane::Journal>& journal,
                    const dataplane::JournalConfig& journal_config, EtcdEpoch& fence,
                    const HaSettings& settings, bool may_promote_at_once, HaStatus& status,
                    const std::atomic<bool>& stop, std::uint64_t& epoch, int port_fd,
                    bool dr_follower, const std::string& dr_site, PairForwarder* forward,
                    DrPairFence* pair) {
  dataplane::RouterStage router(engine, io.config_tag());
  // An idle turn sleeps until the link or the port has something, at most this long: heartbeats
  // leave on time (a tenth of the interval late at most) and silence is measured as before.
  const auto idle_wait = std::clamp<std::chrono::microseconds>(
      std::chrono::milliseconds(settings.heartbeat_ms) / 10, std::chrono::microseconds(100),
      std::chrono::microseconds(1000));
  io.set_standby(true);
  status.role.store(HaRole::Standby);
  status.set_sources(&link.counters(), nullptr, journal.get());
  // The link dies with the caller's standby; nothing reads its counters after this returns.
  struct Detach {
    HaStatus& status;
    ~Detach() {
      std::lock_guard<std::mutex> lock(status.sources_mutex);
      status.link = nullptr;
    }
  } detach{status};
  link.set_applied(io.sequencer().next() - 1);
  bool in_service = true;
  bool followed = false;     // applied a snapshot or record from a primary
  bool fence_known = false;  // etcd's epoch record read while the primary was alive
  const auto started = SteadyTime::now();
  auto last_alive = started;
  auto next_fence_try = started;
  const auto dead_after = std::chrono::milliseconds(settings.dead_after_ms);
  if (dr_follower) {
    status.dr.role.store(DrRole::Following);
  } else if (pair != nullptr) {
    status.dr.role.store(DrRole::Standby);
  }
  std::uint64_t link_epoch = 0;  // the epoch the primary announced last (a DR pair's standby)
  auto out_of_service = [&](const std::string& why) {
    if (in_service) {
      in_service = false;
      status.role.store(HaRole::OutOfService);
      if (dr_follower) {
        status.dr.role.store(DrRole::OutOfService);
        status.dr.note("out of service: " + why);
      }
      status.say(why);
      log_line("OUT OF SERVICE: " + why +
               " (this standby will not promote; restart it to catch up)");
    }
  };
  auto last_turn = started;
  std::uint64_t theirs_seq = 0;   // the active site's last state hash received, and its seq
  std::uint64_t theirs_hash = 0;
  DrillRunner drills;             // joins a running drill when the loop ends
  while (!stop.load(std::memory_order_relaxed)) {
    const auto now = SteadyTime::now();
    if (now - last_turn > dead_after / 2) {
      // This loop itself stood still (installing an image, writing a journal snapshot, the
      // machine busy): the primary's silence over that time is ours, not its. It must be silent
      // for dead_after while we listen before we take over.
      last_alive = now;
    }
    last_turn = now;
    if (journal && journal_config.sync) {
      // What the primary releases to clients is then on this node's disk as well as its own.
      link.set_durable_through(journal->durable_seq());
    }
    bool worked = false;  // something arrived this turn
    link.poll(
        now,
        [&](std::uint64_t seq, std::span<const std::uint8_t> bytes) {
          worked = true;
          dataplane::NodeImage image;
          std::string why;
          if (!dataplane::decode_image(bytes, image) || image.seq != seq) {
            why = "it is malformed";
          } else if (!io.restore_image(image, engine, why)) {
            why = "it does not fit this node's configuration: " + why;
          }
          if (!why.empty()) {
            out_of_service("the primary's image at seq " + std::to_string(seq) +
                           " cannot be "
                           "installed: " +
                           why);
            return;
          }
          followed = true;
          if (journal) {
            why.clear();
            // restart_journal closes the old journal: nothing may read it from here on.
            status.set_sources(&link.counters(), nullptr, nullptr);
            if (!restart_journal(journal, journal_config, seq, bytes, why)) {
              out_of_service("the journal could not begin again: " + why);
            }
            status.set_sources(&link.counters(), nullptr, journal.get());
          }
          if (forward != nullptr && in_service) {
            forward->image(seq, bytes);
          }
          status.last_seq.store(seq);
        },
        [&](std::uint64_t seq, std::span<const std::uint8_t> record) {
          worked = true;
          if (!in_service) {
            return;
          }
          if (journal) {
            while (!journal->append(seq, record)) {
              if (journal->failed()) {
                out_of_service("the journal failed: " + journal->error());
                return;
              }
              std::this_thread::yield();  // the writer drains the ring
            }
          }
          const dataplane::ConfigTag* const was = io.config_tag();
          const auto r = io.replay(seq, record, router);
          if (r == dataplane::IoStage::Replay::Applied && journal && io.config_tag() != was &&
              io.config_tag() != nullptr) {
            // A reload installed: an image naming its configuration, as the primary takes one,
            // so that this journal restarts from it whatever the node's file says by then.
            dataplane::NodeImage image;
            image.seq = seq;
            image.engine = engine.snapshot();
            image.session = io.save_session();
            image.config = io.config_tag()->log_payload;
            journal->snapshot(std::move(image));
          }
          if (r != dataplane::IoStage::Replay::Applied) {
            out_of_service(r == dataplane::IoStage::Replay::ConfigChange
                               ? "the primary's configuration reload at seq " +
                                     std::to_string(seq) +
                                     " cannot be applied here (its record carries no "
                                     "configuration, or one this node refuses); restart this "
                                     "node with the primary's file"
                               : "record " + std::to_string(seq) + " cannot be applied");
            return;
          }
          followed = true;
          if (forward != nullptr) {
            forward->record(seq, record);
          }
          status.last_seq.store(seq);
        },
        [&](std::uint64_t seq, std::uint64_t theirs) -> std::uint64_t {
          worked = true;
          const std::uint64_t ours = engine.state_hash();
          theirs_seq = seq;
          theirs_hash = theirs;
          status.hash_checks.store(status.hash_checks.load() + 1);
          status.last_hash_seq.store(seq);
          if (ours != theirs) {
            status.hash_mismatches.store(status.hash_mismatches.load() + 1);
            out_of_service("state hash differs from the primary's at seq " + std::to_string(seq));
          } else if (forward != nullptr) {
            forward->hash(seq, theirs);
          }
          return ours;
        });
    if (forward != nullptr) {
      forward->poll(now);  // before any takeover below: the standby gets what we applied
    }
    const bool alive = link.primary_alive();
    if (pair != nullptr) {
      status.dr.applied_seq.store(link.applied_seq());
      status.dr.connected.store(alive);
    }
    if (dr_follower) {
      status.dr.applied_seq.store(link.applied_seq());
      if (link.primary_head_wall_ns() != 0) {  // this link heard a Head; else the last one's stay
        status.dr.head_seq.store(link.primary_head_seq());
        status.dr.head_wall_ns.store(link.primary_head_wall_ns());
      }
      status.dr.connected.store(alive);
      if (alive) {
        epoch = std::max(epoch, link.primary_epoch());
      }
      drills.turn(status, io, link, journal.get(), journal_config.dir, in_service, theirs_seq,
                  theirs_hash, now);
      // Taking over is an operator's decision (or the active primary's hand-over): never the
      // silence of a link between sites.
      if (dr_take_over(link, fence, settings, status, alive, in_service, epoch, now,
                       next_fence_try)) {
        io.set_standby(false);
        return true;
      }
    }
    if (alive || !in_service || !(followed || may_promote_at_once) || dr_follower) {
      worked = io.refuse_as_standby() != 0 || worked;
    }
    // else: the primary is silent and this node may take over: requests wait in the port's
    // buffer and are answered by this node right after it promotes, instead of being sent back to
    // a primary that may be dead.
    if (publisher != nullptr) {
      // Operators see the standby's state too, named by the configuration it runs under.
      publisher->maybe_publish(engine, io.config_tag());
    }
    status.peer_state.store(alive ? 1 : 0);
    if (alive) {
      last_alive = now;
      link_epoch = link.primary_epoch();
      epoch = std::max(epoch, link.primary_epoch());
      status.epoch.store(epoch);
      if (!fence_known && followed) {
        // Learn etcd's record now, so that the swap on the failover path is one round trip.
        std::string why;
        fence_known = fence.read(why).has_value();
      }
      const bool durable_behind =
          journal && journal_config.sync && journal->durable_seq() < link.applied_seq();
      if (!worked && !durable_behind) {
        // Nothing arrived: sleep on the link and the port instead of spinning on two cores
        // shared with the primary. (Records the journal has not made durable yet are waited
        // for by polling: their acknowledgement leaves when they are.)
        const int fds[] = {link.socket_fd(), port_fd,
                           forward != nullptr ? forward->link().standby_socket() : -1};
        wait_readable(fds, idle_wait);
      }
      continue;
    }
    if (dr_follower) {
      if (now - last_alive > std::chrono::seconds(1)) {
        return false;  // the caller tries the active site's next address
      }
      std::this_thread::sleep_for(std::chrono::microseconds(500));
      continue;
    }
    // No primary. Promote only if this node holds the state (it followed one) or may start as
    // one, the primary has been silent for dead_after, and etcd gives us the next epoch.
    const bool may_promote = in_service && (followed || may_promote_at_once);
    if (!may_promote || now - last_alive < dead_after || now < next_fence_try) {
      if (!alive) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      continue;
    }
    std::string why;
    std::uint64_t expected = epoch;
    EtcdEpoch* swap = &fence;
    std::string holder = settings.node;
    if (pair != nullptr && pair->centre != nullptr && followed) {
      // A DR pair's standby: after a takeover its primary held the centre's epoch, which it
      // announced on our link; we take the next one (under the site's name) and route. Before,
      // the pair's own key decides which of us follows the active site.
      const auto centre = pair->centre->read(why);
      if (!centre) {
        status.fence_unreachable.store(status.fence_unreachable.load() + 1);
        next_fence_try = now + std::chrono::milliseconds(20);
        continue;
      }
      if (taken_by_site(centre->holder, pair->site)) {
        const std::uint64_t held = io.sequencer().next() - 1;
        const std::optional<std::uint64_t> point = takeover_point(centre->holder, pair->site);
        if (point ? *point > held : centre->epoch != link_epoch) {
          // A takeover at a seq past ours (we lack records the old active site may have
          // released), or a node of this site routing alone (a plain holder) whose epoch we never
          // heard announced: taking the next one could skip records it released.
          status.say("site " + pair->site + " holds epoch " + std::to_string(centre->epoch) + " (" +
                     centre->holder + ") but the pair primary last announced " +
                     std::to_string(link_epoch) + " and this node holds seq " +
                     std::to_string(held) + ": not taking over");
          next_fence_try = now + std::chrono::seconds(1);
          continue;
        }
        if (point) {
          // A takeover at a seq we hold, by a node that releases nothing its standby has not
          // acknowledged until it bumps the epoch (NodeShipper starts it as Primary): everything
          // it or the old active site released is here.
          log_line("site " + pair->site + " took epoch " + std::to_string(centre->epoch) +
                   " at seq " + std::to_string(*point) + " (" + centre->holder +
                   "; the pair primary last announced " + std::to_string(link_epoch) +
                   "); this node holds seq " + std::to_string(held) + ": taking over");
        }
        swap = pair->centre;
        // Plain: this node routes alone at first (its link is new), so the holder proves nothing
        // to a standby that joins it later.
        holder = pair->site;
        expected = centre->epoch;
      }
    }
    if (followed && !dr_site.empty() && swap == &fence) {
      // A pair of the old active site whose primary followed the DR site (and passed its log on
      // to us) while that site held the centre: its epoch is not ours to take. Wait for our
      // primary to come back (or the centre to be handed back to this site).
      const auto current = fence.read(why);
      if (!current) {
        status.fence_unreachable.store(status.fence_unreachable.load() + 1);
        next_fence_try = now + std::chrono::milliseconds(20);
        continue;
      }
      if (taken_by_site(current->holder, dr_site)) {
        status.say("site " + dr_site + " holds epoch " + std::to_string(current->epoch) + " (" +
                   current->holder + "): not taking over; waiting for this pair's primary");
        next_fence_try = now + std::chrono::seconds(1);
        continue;
      }
    }
    if (!followed) {
      const auto current = fence.read(why);
      if (!current) {
        status.fence_unreachable.store(status.fence_unreachable.load() + 1);
        next_fence_try = now + std::chrono::milliseconds(20);
        continue;
      }
      if (!dr_site.empty() && taken_by_site(current->holder, dr_site)) {
        // The DR site took the centre over while this site was down: its epoch is newer than
        // anything this node knew, and taking the next one would split the centre. Stop; acdd
        // starts again as the new active site's follower.
        status.say("site " + dr_site + " holds epoch " + std::to_string(current->epoch) + " (" +
                   current->holder + "): this site is no longer the active one");
        log_line("not promoting: " + status.why());
        return false;
      }
      expected = current->epoch;
    }
    const CasResult r = swap->advance(expected, holder);
    if (r.outcome == CasOutcome::Won) {
      if (pair != nullptr) {
        pair->took_centre = swap == pair->centre;
      }
      epoch = r.current.epoch;
      status.epoch.store(epoch);
      status.failovers.store(status.failovers.load() + 1);
      status.say("promoted: won epoch " + std::to_string(epoch));
      log_line("promoted: won epoch " + std::to_string(epoch) + " at seq " +
               std::to_string(io.sequencer().next() - 1));
      io.set_standby(false);
      return true;
    }
    if (r.outcome == CasOutcome::Lost) {
      // Another node holds the next epoch: the old primary continuing alone, or another standby.
      // Either way it routes on without us, so our state falls behind from here: we may promote
      // again only after following it again (catching up). Trying the next epoch blindly would
      // take over from a primary that is alive, with a stale state.
      status.fence_lost.store(status.fence_lost.load() + 1);
      epoch = std::max(epoch, r.current.epoch);
      followed = false;
      may_promote_at_once = false;
      status.say("lost epoch " + std::to_string(r.current.epoch) + " to " + r.current.holder +
                 "; following it again before this node may take over");
      log_line("lost the swap to " + r.current.holder + " (epoch " +
               std::to_string(r.current.epoch) + "): standing by until it is followed again");
    } else {
      status.fence_unreachable.store(status.fence_unreachable.load() + 1);
    }
    next_fence_try = now + std::chrono::milliseconds(20);
  }
  return false;
}

}  // namespace acd::control
