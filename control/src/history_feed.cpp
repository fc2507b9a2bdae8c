// acdd's history thread: the journal followed record by record into a history::Feed, the records
// committed to the Store in batches with a checkpoint of the feed, retention, gaps.
#include "acd/control/history_feed.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <vector>

#include "acd/control/reload_record.hpp"
#include "acd/dataplane/input_log.hpp"
#include "acd/dataplane/journal.hpp"
#include "acd/history/feed.hpp"
#include "acd/history/store.hpp"
#include "acd/dataplane/thread_name.hpp"

namespace acd::control {

namespace {

constexpr std::uint32_t kCheckpointMagic = 0x50434841;  // "AHCP"
constexpr std::uint8_t kCheckpointVersion = 1;

constexpr std::string_view kNames[] = {
#define ACD_X(name, help) #name,
    ACD_HISTORY_COUNTERS(ACD_X)
#undef ACD_X
};
constexpr std::string_view kHelp[] = {
#define ACD_X(name, help) help,
    ACD_HISTORY_COUNTERS(ACD_X)
#undef ACD_X
};

void say(const std::string& text) {
  std::fprintf(stderr, "acdd: history: %s\n", text.c_str());
  std::fflush(stderr);
}

// The feed's checkpoint: u32 magic, u8 version, u64 seq, then three length-prefixed parts: the
// configuration the follower runs under (a reload payload; empty: the starting one), the engine's
// snapshot, the deriver's state.
std::vector<std::uint8_t> encode_checkpoint(std::uint64_t seq,
                                            const std::vector<std::uint8_t>& config,
                                            const history::Feed& feed) {
  std::vector<std::uint8_t> out;
  dataplane::ByteWriter w(out);
  w.u32(kCheckpointMagic);
  w.u8(kCheckpointVersion);
  w.u64(seq);
  for (const std::vector<std::uint8_t>& part :
       {config, feed.engine_image(), feed.deriver_image()}) {
    w.u64(part.size());
    w.bytes(part);
  }
  return out;
}

struct DecodedCheckpoint {
  std::uint64_t seq = 0;
  std::span<const std::uint8_t> config;
  std::span<const std::uint8_t> engine;
  std::span<const std::uint8_t> deriver;
};

bool decode_checkpoint(std::span<const std::uint8_t> bytes, DecodedCheckpoint& out) {
  dataplane::ByteReader r(bytes);
  if (r.u32() != kCheckpointMagic || r.u8() != kCheckpointVersion) {
    return false;
  }
  out.seq = r.u64();
  for (std::span<const std::uint8_t>* part : {&out.config, &out.engine, &out.deriver}) {
    const std::uint64_t n = r.u64();
    *part = r.bytes(static_cast<std::size_t>(n));
  }
  return r.ok() && r.at_end();
}

}  // namespace

std::string_view history_counter_name(HistoryCounter c) {
  return kNames[static_cast<std::size_t>(c)];
}
std::string_view history_counter_help(HistoryCounter c) {
  return kHelp[static_cast<std::size_t>(c)];
}

HistoryFeedOptions history_options(const ApplianceConfig& cfg) {
  HistoryFeedOptions o;
  o.journal_dir = cfg.journal.dir;
  o.path = cfg.history.path;
  o.durable = cfg.history.durable;
  o.deriver.interval_us =
      (cfg.history.interval_seconds > 0 ? history::Micros{cfg.history.interval_seconds}
                                        : history::Micros{cfg.history.interval_minutes} * 60) *
      1'000'000;
  o.deriver.short_abandon_ms = cfg.history.short_abandon_ms;
  o.retention_days = cfg.history.retention_days;
  o.checkpoint_every = std::chrono::milliseconds(std::uint64_t{cfg.history.checkpoint_every_s} * 1000);
  o.kafka = cfg.history.kafka;
  o.start = &cfg;
  return o;
}

// The history thread's objects.
struct HistoryFeed::State {
  std::unique_ptr<history::Store> store;
  std::unique_ptr<history::Feed> feed;
  std::unique_ptr<dataplane::JournalReader> reader;
  std::vector<std::uint8_t> config;  // the reload payload the follower runs under ("" = start)
  dataplane::ConfigAssembler pieces;  // a chunked reload's ConfigChunk pieces read so far
  history::Records batch;
  std::uint64_t next = 1;     // the seq to read next
  std::uint64_t batched = 0;  // inputs applied since the last commit
  std::chrono::steady_clock::time_point last_commit{};
  std::chrono::steady_clock::time_point last_checkpoint{};
  std::chrono::steady_clock::time_point last_retention{};
  std::chrono::steady_clock::time_point last_error_said{};
  std::int64_t clock_offset = 0;  // wall - log µs as last noted (0: not yet)
  std::uint64_t state_answered = 0;  // the last image seq answered (HistoryFeedOptions::states)
  // The history fetch (HistoryFeedOptions::fetch). Standby: the copy still to do (from the
  // store), and whether its next chunk is asked. Primary: the request being served.
  std::optional<history::FetchPosition> fetch_pending;
  bool fetch_asked = false;
  std::unique_ptr<dataplane::HistoryFetch> serving;
  std::chrono::steady_clock::time_point last_served{};
};

namespace {

// The follower's configuration: the reload payload's domain, or the node's starting one.
std::optional<router::EngineConfig> domain_of(std::span<const std::uint8_t> payload,
                                              const ApplianceConfig& start, std::string& why) {
  if (payload.empty()) {
    return start.domain;
  }
  Result<DecodedReload> decoded = decode_reload(payload);
  if (!decoded.ok()) {
    why = decoded.failure().message;
    return std::nullopt;
  }
  return std::move(decoded.value().domain);
}

}  // namespace

Result<std::unique_ptr<HistoryFeed>> HistoryFeed::start(const HistoryFeedOptions& options,
                                                        history::RecordSink* sink) {
  std::unique_ptr<HistoryFeed> feed(new HistoryFeed());
  feed->options_ = options;
  feed->sink_ = sink;
  feed->state_ = std::make_unique<State>();
  State& s = *feed->state_;
  std::string why;
  s.store = history::Store::open(history::StoreOptions{options.path, options.durable}, why);
  if (!s.store) {
    return Failure{ControlError::Refused, why};
  }
  s.reader = std::make_unique<dataplane::JournalReader>(options.journal_dir);
  std::uint64_t cp_seq = 0;
  std::vector<std::uint8_t> cp;
  if (!s.store->load_checkpoint(cp_seq, cp, why)) {
    return Failure{ControlError::Refused, options.path + ": " + why};
  }
  bool restored = false;
  if (!cp.empty()) {
    DecodedCheckpoint d;
    std::optional<router::EngineConfig> domain;
    if (!decode_checkpoint(cp, d) || d.seq != cp_seq) {
      why = "the checkpoint is malformed";
    } else if (!(domain = domain_of(d.config, *options.start, why))) {
      why = "the checkpoint's configuration cannot be read: " + why;
    } else {
      s.feed = std::make_unique<history::Feed>(*domain, options.deriver);
      if (s.feed->restore(d.seq, d.engine, d.deriver)) {
        s.config.assign(d.config.begin(), d.config.end());
        s.next = d.seq + 1;
        restored = true;
      } else {
        why = "the checkpoint does not fit (another [history] interval length or "
              "short_abandon_ms, or another configuration)";
      }
    }
    if (!restored) {
      say(options.path + ": checkpoint at seq " + std::to_string(cp_seq) + " not used: " + why +
          "; deriving again from the start of the journal (records already stored keep theirs)");
    }
  }
  if (!restored) {
    s.feed = std::make_unique<history::Feed>(options.start->domain, options.deriver);
    s.config.clear();
    s.next = 1;
  }
  feed->applied_seq_.store(s.next - 1);
  feed->stored_seq_.store(s.store->last_seq());
  feed->checkpoint_seq_.store(restored ? cp_seq : 0);
  say(std::string(restored ? "resuming from the checkpoint at seq " : "starting at seq ") +
      std::to_string(s.next - (restored ? 1 : 0)) + "; " + options.path + " holds seq 1.." +
      std::to_string(s.store->last_seq()));
  if (options.fetch != nullptr && !s.store->pending_fetch(s.fetch_pending, why)) {
    return Failure{ControlError::Refused, options.path + ": " + why};
  }
  if (s.fetch_pending) {
    say("the primary's records of inputs " + std::to_string(s.fetch_pending->from) + ".." +
        std::to_string(s.fetch_pending->through) + " are still to be copied; asking again");
  }
  const auto now = std::chrono::steady_clock::now();
  s.last_commit = s.last_checkpoint = now;
  s.last_retention = now - std::chrono::hours(2);  // a sweep soon after start
  HistoryFeed* self = feed.get();
  feed->thread_ = std::jthread([self](std::stop_token stop) { self->run(stop); });
  return feed;
}

HistoryFeed::~HistoryFeed() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
}

std::string HistoryFeed::error() const {
  std::lock_guard lock(error_mutex_);
  return error_;
}

void HistoryFeed::set_error(const std::string& why) {
  {
    std::lock_guard lock(error_mutex_);
    if (error_ == why) {
      return;  // said once, not every retry
    }
    error_ = why;
  }
  if (!why.empty()) {
    say(why);
  }
}

void HistoryFeed::run(std::stop_token stop) {
  dataplane::name_this_thread("acd-history");
  State& s = *state_;
  std::vector<std::uint8_t> payload;
  std::string why;

  // Commits the batch (and, when due or asked, a checkpoint). False: the store refused; the batch
  // is kept for the next try.
  auto commit = [&](bool checkpoint) {
    const auto now = std::chrono::steady_clock::now();
    const std::uint64_t through = s.next - 1;
    if (s.batched == 0 && !checkpoint) {
      return true;
    }
    checkpoint = checkpoint || now - s.last_checkpoint >= options_.checkpoint_every;
    std::vector<std::uint8_t> cp;
    if (checkpoint) {
      cp = encode_checkpoint(through, s.config, *s.feed);
    }
    if (!s.store->write(s.batch, through, cp, why)) {
      bump(HistoryCounter::write_errors);
      set_error(options_.path + ": " + why + " (retrying)");
      return false;
    }
    set_error("");
    bump(HistoryCounter::commits);
    bump(HistoryCounter::records_written, s.batch.size());
    bump(HistoryCounter::calls_written, s.batch.calls.size());
    if (checkpoint) {
      bump(HistoryCounter::checkpoints);
      checkpoint_seq_.store(through, std::memory_order_relaxed);
      s.last_checkpoint = now;
    }
    stored_seq_.store(s.store->last_seq(), std::memory_order_relaxed);
    if (sink_ != nullptr) {
      sink_->on_committed(s.batch, through);
    }
    s.batch.clear();
    s.batched = 0;
    s.last_commit = now;
    return true;
  };

  auto retention = [&] {
    const auto now = std::chrono::steady_clock::now();
    if (options_.retention_days == 0 || now - s.last_retention < std::chrono::hours(1)) {
      return;
    }
    s.last_retention = now;
    const history::Micros keep = history::Micros{options_.retention_days} * 86'400'000'000ull;
    const history::Micros t = s.feed->deriver().now();
    if (t <= keep) {
      return;
    }
    std::uint64_t deleted = 0;
    if (s.store->delete_before(t - keep, deleted, why)) {
      bump(HistoryCounter::retention_deleted, deleted);
    } else {
      set_error(options_.path + ": " + why);
    }
  };

  // The journal no longer holds s.next: start again from its newest snapshot.
  auto over_gap = [&] {
    std::uint64_t snap_seq = 0;
    std::vector<std::uint8_t> image_bytes;
    dataplane::NodeImage image;
    std::optional<router::EngineConfig> domain;
    std::string reason;
    if (!s.reader->newest_snapshot(snap_seq, image_bytes, why) || snap_seq + 1 < s.next) {
      reason = "the journal has no snapshot after it";
    } else if (!dataplane::decode_image(image_bytes, image) || image.seq != snap_seq) {
      reason = "its snapshot at seq " + std::to_string(snap_seq) + " is malformed";
    } else if (!(domain = domain_of(image.config, *options_.start, reason))) {
      reason = "its snapshot's configuration cannot be read: " + reason;
    } else {
      auto fresh = std::make_unique<history::Feed>(*domain, options_.deriver);
      // The deriver's state at the snapshot's seq, when the node that took it carried it: the
      // calls and agent states open across the gap continue complete.
      std::string carried = "it carries no deriver state: calls and agent states open across "
                            "them are incomplete";
      bool with_state = false;
      if (!image.history.empty()) {
        with_state = fresh->restore(snap_seq, image.engine, image.history);
        if (with_state) {
          carried = "its deriver state is restored with it: calls and agent states open across "
                    "them continue complete";
        } else {
          carried = "its deriver state does not fit (another [history] interval length or "
                    "short_abandon_ms): calls and agent states open across them are incomplete";
        }
      }
      if (!with_state && !fresh->restore_engine(snap_seq, image.engine)) {
        reason = "its snapshot at seq " + std::to_string(snap_seq) +
                 " does not fit its configuration";
      } else {
        (void)commit(false);  // what was derived before the gap
        const std::uint64_t lost = snap_seq + 1 - s.next;
        say("gap: the journal " + options_.journal_dir + " begins at seq " +
            std::to_string(s.reader->earliest()) + " but history needs seq " +
            std::to_string(s.next) + "; inputs " + std::to_string(s.next) + ".." +
            std::to_string(snap_seq) + " (" + std::to_string(lost) +
            ") have no records on this node; continuing from the snapshot at seq " +
            std::to_string(snap_seq) + ", and " + carried);
        bump(HistoryCounter::gaps);
        bump(HistoryCounter::gap_inputs, lost);
        if (with_state) {
          bump(HistoryCounter::gaps_with_state);
        }
        // The records of the inputs before the image exist in the primary's database: copy them
        // (a primary that gave its deriver state knows how to send them).
        if (with_state && options_.fetch != nullptr && s.next <= snap_seq) {
          if (s.store->begin_fetch(s.next, snap_seq, why) &&
              s.store->pending_fetch(s.fetch_pending, why)) {
            say("asking the primary for its records of inputs " +
                std::to_string(s.fetch_pending->from) + ".." +
                std::to_string(s.fetch_pending->through));
          } else {
            set_error(options_.path + ": " + why);
          }
        }
        s.feed = std::move(fresh);
        s.config = std::move(image.config);
        s.next = snap_seq + 1;
        s.batched = 1;  // commit the new position with a checkpoint at once
        (void)commit(true);
        applied_seq_.store(snap_seq, std::memory_order_relaxed);
        return;
      }
    }
    set_error("gap: the journal " + options_.journal_dir + " begins at seq " +
              std::to_string(s.reader->earliest()) + " but history needs seq " +
              std::to_string(s.next) + ", and " + reason + "; waiting");
  };

  // The IO thread's question (HistoryFeedOptions::states): the deriver's state right after the
  // seq of the image it is taking. `applied`: the last seq applied. A seq already passed without
  // an answer (a restart, a gap) is answered with nothing, and the image goes without it.
  auto answer_state = [&](std::uint64_t applied) {
    if (options_.states == nullptr) {
      return;
    }
    const std::uint64_t wanted = options_.states->wanted();
    if (wanted == 0 || wanted == s.state_answered || wanted > applied) {
      return;
    }
    s.state_answered = wanted;
    if (wanted == applied) {
      options_.states->answer(wanted, s.feed->deriver_image());
      bump(HistoryCounter::states_given);
    } else {
      options_.states->answer(wanted, {});
    }
  };

  // The history fetch, standby side: store the chunk that came, ask for the next.
  auto fetch_step = [&] {
    if (options_.fetch == nullptr) {
      return;
    }
    if (auto m = options_.fetch->take_answer()) {
      s.fetch_asked = false;
      history::FetchPosition at;
      history::FetchPosition next;
      const auto a = std::span<const std::uint8_t>(m->answer);
      const std::size_t head = 2 * history::kFetchPositionBytes + 1;
      std::uint64_t imported = 0;
      if (!s.fetch_pending || a.size() < head || a[head - 1] > 1 ||
          !history::decode_position(a.first(history::kFetchPositionBytes), at) ||
          !history::decode_position(a.subspan(history::kFetchPositionBytes), next) ||
          !(at == *s.fetch_pending)) {
        bump(HistoryCounter::fetch_refused);
        set_error("an answer of the primary to our request for its records is malformed; "
                  "asking again");
      } else if (const bool done = a[head - 1] == 1;
                 !s.store->import_rows(at, a.subspan(head), next, done, imported, why)) {
        bump(HistoryCounter::fetch_refused);
        set_error(options_.path + ": " + why + "; asking again");
      } else {
        set_error("");
        bump(HistoryCounter::fetch_chunks);
        bump(HistoryCounter::fetch_records, imported);
        if (done) {
          say("copied the primary's records of inputs " + std::to_string(at.from) + ".." +
              std::to_string(at.through) + " (" +
              std::to_string(counter(HistoryCounter::fetch_records)) + " new records)");
          s.fetch_pending.reset();
        } else {
          s.fetch_pending = next;
        }
      }
    }
    if (s.fetch_pending && !s.fetch_asked) {
      auto m = std::make_unique<dataplane::HistoryFetch>();
      history::encode_position(*s.fetch_pending, m->request);
      m->answer.reserve(dataplane::HistoryFetchChannel::kMaxAnswerBytes);
      options_.fetch->ask(std::move(m));
      s.fetch_asked = true;
    }
  };

  // The history fetch, primary side: a standby's request answered from the store, once the store
  // holds every input the request covers, at most a chunk per fetch_every.
  auto serve_fetch = [&] {
    if (options_.fetch == nullptr) {
      return;
    }
    if (s.serving == nullptr) {
      s.serving = options_.fetch->take_serve();
      if (s.serving == nullptr) {
        return;
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - s.last_served < options_.fetch_every) {
      return;
    }
    history::FetchPosition at;
    history::FetchPosition next;
    bool done = false;
    auto& m = *s.serving;
    if (m.request.size() != history::kFetchPositionBytes ||
        !history::decode_position(m.request, at)) {
      m.answer.clear();  // nothing is sent; the shipper takes the next request
    } else if (s.store->last_seq() < at.through) {
      return;  // our own records of those inputs are not all committed yet
    } else if (s.fetch_pending && s.fetch_pending->from <= at.through) {
      // We were begun from an image too, and our own copy of the records before it, some of
      // those asked for, is still under way: answer once it is done, with every record (a
      // DR pair's primary, copying from the active site, asked by its standby).
      return;
    } else {
      m.answer = m.request;
      const std::size_t at_next = m.answer.size();
      m.answer.resize(at_next + history::kFetchPositionBytes + 1);
      if (!s.store->read_rows(at, options_.fetch_chunk_bytes, m.answer, next, done, why)) {
        set_error(options_.path + ": " + why);
        return;  // tried again
      }
      std::vector<std::uint8_t> position;
      history::encode_position(next, position);
      std::copy(position.begin(), position.end(), m.answer.begin() + static_cast<long>(at_next));
      m.answer[at_next + history::kFetchPositionBytes] = done ? 1 : 0;
      bump(HistoryCounter::fetch_chunks_served);
    }
    s.last_served = now;
    options_.fetch->served(std::move(s.serving));
  };

  auto apply = [&](std::uint64_t seq) {
    dataplane::LogRecord r;
    if (!dataplane::decode_record(payload, r)) {
      bump(HistoryCounter::read_errors);
      return false;
    }
    if (r.kind == dataplane::RecordKind::Input) {
      (void)s.feed->apply(seq, r.event, s.batch);
    } else if (r.kind == dataplane::RecordKind::ConfigChunk) {
      if (!s.pieces.chunk(seq, r)) {
        bump(HistoryCounter::read_errors);
        set_error("the configuration piece at seq " + std::to_string(seq) +
                  " continues no piece before it");
        return false;
      }
    } else if (r.kind == dataplane::RecordKind::ConfigChange) {
      const std::span<const std::uint8_t> config = s.pieces.complete(seq, r);
      Result<DecodedReload> decoded = decode_reload(config);
      if (!decoded.ok()) {
        s.pieces.release();
        bump(HistoryCounter::read_errors);
        set_error("the reload at seq " + std::to_string(seq) +
                  " cannot be applied: " + decoded.failure().message);
        return false;
      }
      bool refused = false;
      (void)s.feed->apply_reload(seq, r.event.time, decoded.value().domain,
                                 decoded.value().kind == ReloadKind::EngineSwap, s.batch, refused);
      if (!refused) {
        s.config.assign(config.begin(), config.end());
        bump(HistoryCounter::config_changes);
      }
      s.pieces.release();
    } else if (r.kind == dataplane::RecordKind::ExportPosition) {
      bump(HistoryCounter::export_positions);
      if (sink_ != nullptr) {
        sink_->on_export_position(
            history::RecordId{r.export_position.seq, r.export_position.index});
      }
    }
    return true;  // the other kinds (registrations, operations, credentials) carry no input
  };

  while (!stop.stop_requested()) {
    const dataplane::JournalReader::Next got = s.reader->read(s.next, payload, why);
    if (got == dataplane::JournalReader::Next::Record) {
      if (!apply(s.next)) {
        (void)commit(false);  // what came before it
        set_error("record " + std::to_string(s.next) + " of the journal " + options_.journal_dir +
                  " cannot be decoded; history stops there");
        std::this_thread::sleep_for(std::chrono::seconds(1));
        continue;
      }
      applied_seq_.store(s.next, std::memory_order_relaxed);
      bump(HistoryCounter::inputs_applied);
      answer_state(s.next);
      ++s.next;
      ++s.batched;
      if (s.batched >= options_.commit_inputs ||
          std::chrono::steady_clock::now() - s.last_commit >= options_.commit_every) {
        (void)commit(false);
        serve_fetch();
        fetch_step();
      }
      continue;
    }
    if (got == dataplane::JournalReader::Next::Gap) {
      over_gap();
    } else if (got == dataplane::JournalReader::Next::Error) {
      bump(HistoryCounter::read_errors);
      set_error("journal " + options_.journal_dir + ": " + why);
    }
    // Caught up (or waiting): commit what is pending, sweep, and look again shortly.
    answer_state(s.next - 1);
    (void)commit(false);
    serve_fetch();
    fetch_step();
    retention();
    if (got == dataplane::JournalReader::Next::Wait && s.feed->deriver().now() != 0) {
      // Live: the log's time is now, so note how it maps to the wall clock when that moved (a
      // restart continues the log's time line from another steady clock).
      timespec wall{};
      clock_gettime(CLOCK_REALTIME, &wall);
      const std::int64_t wall_us =
          static_cast<std::int64_t>(wall.tv_sec) * 1'000'000 + wall.tv_nsec / 1000;
      const history::Micros log_us = s.feed->deriver().now();
      const std::int64_t offset = wall_us - static_cast<std::int64_t>(log_us);
      if (s.clock_offset == 0 || std::llabs(offset - s.clock_offset) > 1'000'000) {
        if (s.store->note_clock(log_us, wall_us, why)) {
          s.clock_offset = offset;
        }
      }
    }
    if (sink_ != nullptr) {
      sink_->on_idle();
    }
    std::this_thread::sleep_for(options_.idle_wait);
  }
  // Stopping: everything derived is committed with a checkpoint (a failure is said; the records
  // are derived again at the next start).
  s.batched = std::max<std::uint64_t>(s.batched, 1);
  (void)commit(true);
  if (sink_ != nullptr) {
    sink_->on_stop();
  }
}

}  // namespace acd::control
