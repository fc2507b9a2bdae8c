// acdd's history thread against a real journal: killed (SIGKILL) and stopped mid-traffic, then
// started again, it stores exactly the records of a one-shot derivation of the whole journal —
// none lost, none twice; registrations are skipped; a journal that no longer goes back far enough
// is crossed from its snapshot and counted as a gap.
#include "acd/control/history_feed.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "../router/random_stream.hpp"
#include "acd/dataplane/input_log.hpp"
#include "acd/dataplane/journal.hpp"
#include "acd/history/feed.hpp"
#include "acd/history/store.hpp"

namespace acd::control {
namespace {

namespace fs = std::filesystem;
using history::Records;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/acd-history-feed-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const char* name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The log as acdd writes it: a tick to each input's time, the input, and now and then a client's
// registration (no engine input). The reference feed derives the one-shot records as it goes.
class LogWriter {
 public:
  LogWriter(std::uint64_t seed, const router::EngineConfig& domain,
            const history::DeriverConfig& dc)
      : reference_(domain, dc), gen_(seed, domain) {}

  // Appends `inputs` inputs (and their ticks) to `journal`.
  void write(dataplane::Journal& journal, int inputs) {
    for (int i = 0; i < inputs; ++i) {
      router::Event e = gen_.next(reference_.engine());
      router::Event tick;
      tick.time = e.time;
      input(journal, tick);
      input(journal, e);
      if (i % 97 == 0) {
        dataplane::LogRecord r;
        r.kind = dataplane::RecordKind::Register;
        r.client_id = 5;
        r.nonce = static_cast<std::uint64_t>(i) + 1;
        r.endpoint = dataplane::Endpoint{0x7F000001, 4000, 0};
        r.role = dataplane::wire::Role::Desktop;
        append(journal, r);
      }
      if (i % 64 == 0) {
        gen_.forget_gone(reference_.engine());
      }
    }
  }
  std::uint64_t last_seq() const { return seq_; }
  const Records& reference() const { return all_; }
  history::Feed& feed() { return reference_; }

 private:
  void input(dataplane::Journal& journal, const router::Event& e) {
    dataplane::LogRecord r;
    r.kind = dataplane::RecordKind::Input;
    r.event = e;
    // The generator's deliberately malformed events never reach a log (the wire refuses them
    // first): only what a record can carry is written.
    std::uint8_t buf[dataplane::kMaxLogRecord];
    dataplane::LogRecord back;
    if (!dataplane::decode_record(
            std::span<const std::uint8_t>(buf, dataplane::encode_record(r, buf)), back)) {
      return;
    }
    append(journal, r);
    ASSERT_TRUE(reference_.apply(seq_, e, all_));
  }
  void append(dataplane::Journal& journal, const dataplane::LogRecord& r) {
    std::uint8_t buf[dataplane::kMaxLogRecord];
    const std::size_t n = dataplane::encode_record(r, buf);
    ++seq_;
    while (!journal.append(seq_, std::span<const std::uint8_t>(buf, n))) {
      ASSERT_FALSE(journal.failed()) << journal.error();
      std::this_thread::yield();
    }
  }

  history::Feed reference_;
  router::testing::StreamGenerator gen_;
  Records all_;
  std::uint64_t seq_ = 0;
};

std::unique_ptr<dataplane::Journal> open_journal(const std::string& dir, std::uint64_t next) {
  dataplane::JournalConfig jc;
  jc.dir = dir;
  jc.sync = false;
  jc.segment_bytes = 64 << 10;  // many segments: the reader crosses from one to the next
  std::string why;
  auto j = dataplane::Journal::open(jc, next, why);
  EXPECT_TRUE(j) << why;
  return j;
}

HistoryFeedOptions options_for(const TempDir& dir, const ApplianceConfig& start) {
  HistoryFeedOptions o;
  o.journal_dir = dir.file("journal");
  o.path = dir.file("history.db");
  o.deriver.interval_us = 5ull * 60 * 1'000'000;
  o.retention_days = 0;
  o.checkpoint_every = std::chrono::milliseconds(30);
  o.commit_every = std::chrono::milliseconds(5);
  o.commit_inputs = 500;
  o.idle_wait = std::chrono::milliseconds(2);
  o.start = &start;
  return o;
}

std::uint64_t stored_seq(const std::string& path) {
  std::string why;
  auto s = history::Store::open_read_only(path, why);
  return s ? s->last_seq() : 0;
}

// Waits (at most 60 s: a watchdog) until `done` holds.
template <class Done>
bool wait_for(Done done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

Records read_all(const std::string& path) {
  Records r;
  std::string why;
  auto store = history::Store::open_read_only(path, why);
  EXPECT_TRUE(store) << why;
  if (!store) {
    return r;
  }
  const history::Micros end = ~history::Micros{0} >> 1;
  EXPECT_TRUE(store->calls(0, end, r.calls, why)) << why;
  EXPECT_TRUE(store->agent_states(0, end, r.states, why)) << why;
  EXPECT_TRUE(store->queue_intervals(0, end, r.queue_intervals, why)) << why;
  EXPECT_TRUE(store->agent_intervals(0, end, r.agent_intervals, why)) << why;
  return r;
}

// A journal begun again from an image (a standby's, from its primary's): `before` inputs go
// only to the reference, then the image of the reference's engine (and, `with_state`, its
// deriver's state) is the journal's snapshot, then `after` inputs follow in the journal.
struct BegunFromImage {
  std::unique_ptr<dataplane::Journal> journal;  // null if it could not be made
  std::uint64_t seq = 0;                        // the image's
  history::Micros time = 0;                     // the log's time at the image
};
BegunFromImage begin_from_image(LogWriter& log, const std::string& dir, int before, int after,
                                bool with_state) {
  BegunFromImage out;
  {
    TempDir elsewhere;
    auto scratch = open_journal(elsewhere.file("j"), 1);
    if (!scratch) {
      return out;
    }
    log.write(*scratch, before);
  }
  out.seq = log.last_seq();
  out.time = log.feed().deriver().now();
  auto journal = open_journal(dir, out.seq + 1);
  if (!journal) {
    return out;
  }
  dataplane::NodeImage image;
  image.seq = out.seq;
  image.engine = log.feed().engine_image();
  if (with_state) {
    image.history = log.feed().deriver_image();
  }
  journal->snapshot(out.seq, dataplane::encode_image(image));
  if (!wait_for([&] { return journal->last_snapshot_seq() == out.seq; })) {
    ADD_FAILURE() << "the snapshot was not written";
    return out;
  }
  log.write(*journal, after);
  out.journal = std::move(journal);
  return out;
}

// Killed mid-stream, stopped mid-traffic, started again twice: the store holds exactly the
// one-shot derivation's records (same IDs, same fields), none missing and none twice.
TEST(HistoryFeed, RestartsLoseAndDuplicateNothing) {
  TempDir dir;
  ApplianceConfig start;
  start.domain = router::testing::random_domain(41);
  HistoryFeedOptions options = options_for(dir, start);
  LogWriter log(41, start.domain, options.deriver);

  // Phase 1: a journal, and a history thread in a child process killed part way through it.
  {
    auto journal = open_journal(options.journal_dir, 1);
    ASSERT_TRUE(journal);
    log.write(*journal, 6000);
  }
  const std::uint64_t phase1 = log.last_seq();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives the test
    // Small batches and frequent checkpoints: the kill falls between checkpoints, with records
    // stored past the last one.
    HistoryFeedOptions child_options = options;
    child_options.commit_inputs = 100;
    child_options.checkpoint_every = std::chrono::milliseconds(3);
    auto feed = HistoryFeed::start(child_options);
    if (!feed.ok()) {
      _exit(2);
    }
    for (;;) {
      pause();
    }
  }
  auto checkpoint_seq = [&] {
    std::string why;
    std::uint64_t seq = 0;
    std::vector<std::uint8_t> state;
    auto s = history::Store::open_read_only(options.path, why);
    return s && s->load_checkpoint(seq, state, why) ? seq : 0;
  };
  const bool reached = wait_for(
      [&] { return stored_seq(options.path) >= phase1 / 3 && checkpoint_seq() > 0; });
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(reached) << "the child stored " << stored_seq(options.path) << " of " << phase1;
  ASSERT_TRUE(WIFSIGNALED(status));
  const std::uint64_t at_kill = stored_seq(options.path);
  EXPECT_LT(at_kill, phase1);  // it was killed part way, not after the end

  // Phase 2: started again while traffic goes on, stopped in the middle of it.
  auto journal = open_journal(options.journal_dir, phase1 + 1);
  ASSERT_TRUE(journal);
  {
    auto feed = HistoryFeed::start(options);
    ASSERT_TRUE(feed.ok()) << feed.failure().message;
    log.write(*journal, 3000);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Phase 3: started again; the rest of the traffic; caught up.
  {
    auto feed = HistoryFeed::start(options);
    ASSERT_TRUE(feed.ok()) << feed.failure().message;
    log.write(*journal, 3000);
    const std::uint64_t last = log.last_seq();
    ASSERT_TRUE(wait_for([&] { return feed.value()->stored_seq() >= last; }))
        << "stored " << feed.value()->stored_seq() << " of " << last << "; "
        << feed.value()->error();
    EXPECT_EQ(feed.value()->counter(HistoryCounter::gaps), 0u);
    EXPECT_EQ(feed.value()->error(), "");
  }
  journal.reset();

  const Records got = read_all(options.path);
  const Records& want = log.reference();
  ASSERT_GT(want.calls.size(), 1000u);
  EXPECT_EQ(got.calls.size(), want.calls.size());
  EXPECT_TRUE(got.calls == want.calls);
  EXPECT_TRUE(got.states == want.states);
  EXPECT_TRUE(got.queue_intervals == want.queue_intervals);
  EXPECT_TRUE(got.agent_intervals == want.agent_intervals);
}

// A journal that begins after the history's next seq (pruned, or begun again from a primary's
// image): the feed starts again from the snapshot, counts the gap and its inputs, and goes on.
TEST(HistoryFeed, CrossesAGapFromTheSnapshot) {
  TempDir dir;
  ApplianceConfig start;
  start.domain = router::testing::random_domain(43);
  HistoryFeedOptions options = options_for(dir, start);
  LogWriter log(43, start.domain, options.deriver);
  // The first 1000-odd inputs are applied only to the reference: they are not in the journal.
  const BegunFromImage begun = begin_from_image(log, options.journal_dir, 500, 1500, false);
  ASSERT_TRUE(begun.journal);
  const std::uint64_t snap = begun.seq;

  auto feed = HistoryFeed::start(options);
  ASSERT_TRUE(feed.ok()) << feed.failure().message;
  const std::uint64_t last = log.last_seq();
  ASSERT_TRUE(wait_for([&] { return feed.value()->stored_seq() >= last; }))
      << feed.value()->error();
  EXPECT_EQ(feed.value()->counter(HistoryCounter::gaps), 1u);
  EXPECT_EQ(feed.value()->counter(HistoryCounter::gap_inputs), snap);
  EXPECT_GT(feed.value()->counter(HistoryCounter::calls_written), 100u);
}

// Only the records an input after `seq` closed.
template <class T>
std::vector<T> after(const std::vector<T>& all, std::uint64_t seq) {
  std::vector<T> out;
  for (const T& r : all) {
    if (r.id.seq > seq) {
      out.push_back(r);
    }
  }
  return out;
}

// A standby's journal begun again from its primary's image in the middle of the day: the image
// carries the deriver's state at its seq, and the history thread, crossing the gap from it, stores
// exactly the records a node that derived the whole log has for every input after the image —
// the calls and agent states open across it included, with their whole figures.
TEST(HistoryFeed, CrossesAGapWithTheDeriverStateTheImageCarries) {
  TempDir dir;
  ApplianceConfig start;
  start.domain = router::testing::random_domain(47);
  HistoryFeedOptions options = options_for(dir, start);
  LogWriter log(47, start.domain, options.deriver);
  const BegunFromImage begun = begin_from_image(log, options.journal_dir, 1500, 2500, true);
  ASSERT_TRUE(begun.journal);
  const std::uint64_t snap = begun.seq;
  const history::Micros image_time = begun.time;

  auto feed = HistoryFeed::start(options);
  ASSERT_TRUE(feed.ok()) << feed.failure().message;
  const std::uint64_t last = log.last_seq();
  ASSERT_TRUE(wait_for([&] { return feed.value()->stored_seq() >= last; }))
      << feed.value()->error();
  EXPECT_EQ(feed.value()->counter(HistoryCounter::gaps), 1u);
  EXPECT_EQ(feed.value()->counter(HistoryCounter::gaps_with_state), 1u);
  feed.value().reset();

  const Records got = read_all(options.path);
  const Records& all = log.reference();
  // The image cuts through open calls and agent states: some records after it began before it.
  std::size_t open_calls = 0;
  for (const auto& c : after(all.calls, snap)) {
    open_calls += c.arrived < image_time ? 1 : 0;
  }
  std::size_t open_states = 0;
  for (const auto& r : after(all.states, snap)) {
    open_states += r.start < image_time ? 1 : 0;
  }
  EXPECT_GT(open_calls, 5u);
  EXPECT_GT(open_states, 5u);
  ASSERT_GT(after(all.calls, snap).size(), 500u);
  EXPECT_EQ(got.calls.size(), after(all.calls, snap).size());
  EXPECT_TRUE(got.calls == after(all.calls, snap));
  EXPECT_TRUE(got.states == after(all.states, snap));
  EXPECT_TRUE(got.queue_intervals == after(all.queue_intervals, snap));
  EXPECT_TRUE(got.agent_intervals == after(all.agent_intervals, snap));
}

// The history thread answers the IO thread's question: the deriver's state right after the seq
// asked (what a node deriving the log has there), once; a seq it has already passed gets an empty
// answer (the image goes without a state).
TEST(HistoryFeed, GivesTheDeriverStateAtTheImageSeq) {
  TempDir dir;
  ApplianceConfig start;
  start.domain = router::testing::random_domain(53);
  HistoryFeedOptions options = options_for(dir, start);
  dataplane::HistoryStateChannel channel;
  options.states = &channel;
  LogWriter log(53, start.domain, options.deriver);
  auto journal = open_journal(options.journal_dir, 1);
  ASSERT_TRUE(journal);
  log.write(*journal, 800);
  const std::uint64_t asked = log.last_seq();
  const std::vector<std::uint8_t> want = log.feed().deriver_image();
  log.write(*journal, 800);
  channel.request(asked);  // before the thread starts: it has not passed it

  auto feed = HistoryFeed::start(options);
  ASSERT_TRUE(feed.ok()) << feed.failure().message;
  std::vector<std::uint8_t> got;
  dataplane::HistoryStateChannel::Answer answer = dataplane::HistoryStateChannel::Answer::None;
  ASSERT_TRUE(wait_for([&] {
    answer = channel.take(asked, got);
    return answer != dataplane::HistoryStateChannel::Answer::None;
  }));
  EXPECT_EQ(answer, dataplane::HistoryStateChannel::Answer::Ready);
  EXPECT_EQ(got, want);
  EXPECT_EQ(feed.value()->counter(HistoryCounter::states_given), 1u);

  // Asked for a seq it passed: nothing to give.
  ASSERT_TRUE(wait_for([&] { return feed.value()->applied_seq() >= log.last_seq(); }));
  channel.request(asked + 3);
  ASSERT_TRUE(wait_for([&] {
    answer = channel.take(asked + 3, got);
    return answer != dataplane::HistoryStateChannel::Answer::None;
  }));
  EXPECT_EQ(answer, dataplane::HistoryStateChannel::Answer::Missed);
  EXPECT_EQ(feed.value()->counter(HistoryCounter::states_given), 1u);
}

}  // namespace
}  // namespace acd::control
