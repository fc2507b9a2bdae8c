// The local journal: records survive segment rotations and restarts in order; snapshots replace
// the records they cover and prune old segments; a torn or corrupt tail is cut and appending goes
// on; a corrupt snapshot falls back to the previous one; a full ring and a failed writer refuse
// appends without crashing; a directory that cannot be written fails open with the reason.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "acd/dataplane/journal.hpp"
#include "acd/dataplane/input_log.hpp"

namespace acd::dataplane {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

// Record `seq`'s payload: 1 to 64 bytes that depend on seq.
Bytes payload(std::uint64_t seq) {
  Bytes b(1 + seq % 64);
  for (std::size_t i = 0; i < b.size(); ++i) {
    b[i] = static_cast<std::uint8_t>(seq * 31 + i);
  }
  return b;
}

// Polls `done` for up to 10 s (the watchdog of every wait here).
bool wait_for(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/acd-journal-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/journal";  // does not exist yet: open creates it
  }
  void TearDown() override { fs::remove_all(root_); }

  JournalConfig config(std::size_t segment_bytes = 4096) const {
    JournalConfig c;
    c.dir = dir_;
    c.segment_bytes = segment_bytes;
    c.ring_bytes = 1 << 16;
    return c;
  }

  // Appends seqs [from, to], retrying while the ring is full.
  static void append_range(Journal& j, std::uint64_t from, std::uint64_t to) {
    for (std::uint64_t s = from; s <= to; ++s) {
      const Bytes p = payload(s);
      ASSERT_TRUE(wait_for([&] { return j.append(s, p); })) << "seq " << s;
    }
  }

  // Opens at `next`, appends [next, to], closes.
  void write_range(std::uint64_t next, std::uint64_t to, std::size_t segment_bytes = 4096) {
    std::string why;
    auto j = Journal::open(config(segment_bytes), next, why);
    ASSERT_NE(j, nullptr) << why;
    append_range(*j, next, to);
  }

  Recovered recover() {
    std::string why;
    auto r = recover_journal(dir_, why);
    EXPECT_TRUE(r.has_value()) << why;
    return r.value_or(Recovered{});
  }

  std::vector<std::string> files(const std::string& prefix) const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string name = e.path().filename();
      if (name.starts_with(prefix)) {
        out.push_back(name);
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::vector<std::string> segments() const { return files("journal-"); }

  static std::uint64_t first_seq(const std::string& segment) {
    return std::stoull(segment.substr(8, 20));
  }

  // Offset of record `seq` in `segment` (records laid out as payload() sizes them).
  static std::size_t offset_of(const std::string& segment, std::uint64_t seq) {
    std::size_t off = 24;
    for (std::uint64_t s = first_seq(segment); s < seq; ++s) {
      off += Journal::kRecordHeaderBytes + payload(s).size();
    }
    return off;
  }

  static void flip_byte(const std::string& path, std::size_t offset) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(&c, 1);
  }

  static void expect_records(const Recovered& r, std::uint64_t from, std::uint64_t to) {
    ASSERT_EQ(r.records.size(), to + 1 - from);
    for (std::uint64_t s = from; s <= to; ++s) {
      const auto& [seq, bytes] = r.records[s - from];
      ASSERT_EQ(seq, s);
      ASSERT_EQ(bytes, payload(s)) << "seq " << s;
    }
    EXPECT_EQ(r.next_seq, to + 1);
  }

  std::string root_;
  std::string dir_;
};

// An empty or missing directory is a fresh journal; a path that is not a directory is an error.
TEST_F(JournalTest, RecoverNothing) {
  const Recovered r = recover();
  EXPECT_EQ(r.snapshot_seq, 0u);
  EXPECT_TRUE(r.records.empty());
  EXPECT_EQ(r.next_seq, 1u);
  EXPECT_EQ(r.cut, "");

  const std::string file = root_ + "/plain";
  std::ofstream(file) << "x";
  std::string why;
  EXPECT_FALSE(recover_journal(file, why).has_value());
  EXPECT_NE(why.find("Not a directory"), std::string::npos) << why;
}

// Records written across several segment rotations come back in order after a restart; the
// destructor writes what was appended without anyone waiting for durable_seq.
TEST_F(JournalTest, RecoversAllRecordsAcrossSegments) {
  constexpr std::uint64_t kCount = 3000;
  write_range(1, kCount);
  EXPECT_GE(segments().size(), 5u);
  const Recovered r = recover();
  EXPECT_EQ(r.cut, "");
  expect_records(r, 1, kCount);
}

// durable_seq reaches the last appended seq and the counters say what was written.
TEST_F(JournalTest, DurableSeqReachesLastSeq) {
  std::string why;
  auto j = Journal::open(config(), 1, why);
  ASSERT_NE(j, nullptr) << why;
  EXPECT_EQ(j->durable_seq(), 0u);
  append_range(*j, 1, 500);
  ASSERT_TRUE(wait_for([&] { return j->durable_seq() == 500; })) << j->durable_seq();
  EXPECT_EQ(j->counter(JournalCounter::records), 500u);
  EXPECT_GE(j->counter(JournalCounter::group_commits), 1u);
  EXPECT_GT(j->counter(JournalCounter::bytes), 500u * Journal::kRecordHeaderBytes);
  EXPECT_GT(j->counter(JournalCounter::sync_ns_total), 0u);
  EXPECT_FALSE(j->failed());
  EXPECT_EQ(journal_counter_name(JournalCounter::group_commits), "group_commits");
}

// With sync off, durable_seq means written: it still reaches the last seq and a restart reads all.
TEST_F(JournalTest, WriteOnlyModeRecovers) {
  JournalConfig c = config();
  c.sync = false;
  std::string why;
  auto j = Journal::open(c, 1, why);
  ASSERT_NE(j, nullptr) << why;
  append_range(*j, 1, 700);
  ASSERT_TRUE(wait_for([&] { return j->durable_seq() == 700; })) << j->durable_seq();
  j.reset();
  expect_records(recover(), 1, 700);
}

// After two snapshots a restart gets the newest image and only the records after it; segments
// covered by the previous snapshot are deleted, and only the newest two snapshots are kept.
TEST_F(JournalTest, SnapshotReplacesCoveredRecordsAndPrunes) {
  std::string why;
  auto j = Journal::open(config(), 1, why);
  ASSERT_NE(j, nullptr) << why;
  append_range(*j, 1, 600);
  ASSERT_TRUE(wait_for([&] { return j->durable_seq() == 600; }));
  const std::size_t before = segments().size();
  j->snapshot(300, Bytes{1, 2, 3});
  ASSERT_TRUE(wait_for([&] { return j->last_snapshot_seq() == 300; }));
  EXPECT_EQ(segments().size(), before) << "one snapshot: its records are the fallback's";
  append_range(*j, 601, 900);
  j->snapshot(800, Bytes{4, 5});
  ASSERT_TRUE(wait_for([&] { return j->last_snapshot_seq() == 800; }));
  EXPECT_GT(j->counter(JournalCounter::segments_pruned), 0u);
  const auto segs = segments();
  ASSERT_GE(segs.size(), 2u);
  EXPECT_LE(first_seq(segs[0]), 301u) << "seq 301 must still be on disk";
  EXPECT_GT(first_seq(segs[1]), 301u) << "a segment wholly <= 300 was kept";
  EXPECT_EQ(files("snapshot-").size(), 2u);
  j.reset();

  Recovered r = recover();
  EXPECT_EQ(r.snapshot_seq, 800u);
  EXPECT_EQ(r.snapshot, (Bytes{4, 5}));
  expect_records(r, 801, 900);

  // A third snapshot drops the first.
  j = Journal::open(config(), r.next_seq, why);
  ASSERT_NE(j, nullptr) << why;
  append_range(*j, 901, 950);
  j->snapshot(950, Bytes{6});
  ASSERT_TRUE(wait_for([&] { return j->last_snapshot_seq() == 950; }));
  j.reset();
  const auto snaps = files("snapshot-");
  ASSERT_EQ(snaps.size(), 2u);
  EXPECT_EQ(snaps[0], "snapshot-00000000000000000800.bin");
  EXPECT_EQ(snaps[1], "snapshot-00000000000000000950.bin");
  r = recover();
  EXPECT_EQ(r.snapshot_seq, 950u);
  EXPECT_TRUE(r.records.empty());
  EXPECT_EQ(r.next_seq, 951u);
}

// A snapshot is written only once its records are durable: never ahead of the log.
TEST_F(JournalTest, SnapshotWaitsForItsRecords) {
  std::string why;
  auto j = Journal::open(config(), 1, why);
  ASSERT_NE(j, nullptr) << why;
  append_range(*j, 1, 10);
  j->snapshot(20, Bytes{9});
  ASSERT_TRUE(wait_for([&] { return j->durable_seq() == 10; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(j->last_snapshot_seq(), 0u);
  append_range(*j, 11, 20);
  ASSERT_TRUE(wait_for([&] { return j->last_snapshot_seq() == 20; }));
}

// A node image is written beside the group commits, by a thread of its own that also encodes
// it: records appended while a large image is being written become durable before it is (at a
// million agents an image is hundreds of MB, and every reply waits for its record's commit).
TEST_F(JournalTest, RecordsStayDurableWhileALargeImageIsWritten) {
  std::string why;
  auto j = Journal::open(config(), 1, why);
  ASSERT_NE(j, nullptr) << why;
  append_range(*j, 1, 10);
  ASSERT_TRUE(wait_for([&] { return j->durable_seq() == 10; }));
  NodeImage image;
  image.seq = 10;
  image.engine.assign(std::size_t{192} << 20, 7);
  image.session = {1, 2, 3};
  j->snapshot(std::move(image));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the image thread has begun
  append_range(*j, 11, 20);
  ASSERT_TRUE(wait_for([&] { return j->durable_seq() == 20; }));
  EXPECT_EQ(j->last_snapshot_seq(), 0u) << "the records waited for the image";
  ASSERT_TRUE(wait_for([&] { return j->last_snapshot_seq() == 10; }));
  j.reset();
  Recovered r = recover();
  EXPECT_EQ(r.snapshot_seq, 10u);
  NodeImage read;
  ASSERT_TRUE(decode_image(r.snapshot, read));
  EXPECT_EQ(read.seq, 10u);
  EXPECT_EQ(read.engine.size(), std::size_t{192} << 20);
  EXPECT_EQ(read.session, (std::vector<std::uint8_t>{1, 2, 3}));
  expect_records(r, 11, 20);
}

// A last file cut mid-record is truncated to its last whole record; appending goes on from there.
TEST_F(JournalTest, TornTailIsCutAndAppendingContinues) {
  write_range(1, 1000);
  const std::string last = dir_ + "/" + segments().back();
  const auto size = fs::file_size(last);
  fs::resize_file(last, size - 5);
  Recovered r = recover();
  EXPECT_NE(r.cut.find("torn"), std::string::npos) << r.cut;
  EXPECT_NE(r.cut.find(segments().back()), std::string::npos) << r.cut;
  expect_records(r, 1, 999);
  EXPECT_EQ(fs::file_size(last), size - Journal::kRecordHeaderBytes - payload(1000).size());

  write_range(r.next_seq, 1200);
  r = recover();
  EXPECT_EQ(r.cut, "");
  expect_records(r, 1, 1200);
}

// A corrupt byte inside an earlier segment cuts the log at that record and deletes every later
// segment.
TEST_F(JournalTest, CorruptRecordCutsThereAndDropsLaterSegments) {
  write_range(1, 2000);
  const auto before = segments();
  ASSERT_GE(before.size(), 4u);
  const std::string victim = before[before.size() - 3];
  const std::uint64_t bad = first_seq(victim) + 7;
  const std::size_t off = offset_of(victim, bad);
  flip_byte(dir_ + "/" + victim, off + Journal::kRecordHeaderBytes);  // the payload's first byte
  const Recovered r = recover();
  EXPECT_NE(r.cut.find("checksum"), std::string::npos) << r.cut;
  EXPECT_NE(r.cut.find(victim + " at offset " + std::to_string(off)), std::string::npos) << r.cut;
  expect_records(r, 1, bad - 1);
  EXPECT_EQ(segments().back(), victim);
  EXPECT_EQ(fs::file_size(dir_ + "/" + victim), off);
}

// A corrupt newest snapshot is rejected (and removed); the previous one and its records are used.
TEST_F(JournalTest, CorruptSnapshotFallsBackToThePrevious) {
  std::string why;
  auto j = Journal::open(config(), 1, why);
  ASSERT_NE(j, nullptr) << why;
  append_range(*j, 1, 400);
  j->snapshot(100, Bytes{1, 1});
  ASSERT_TRUE(wait_for([&] { return j->last_snapshot_seq() == 100; }));
  j->snapshot(300, Bytes{3, 3, 3});
  ASSERT_TRUE(wait_for([&] { return j->last_snapshot_seq() == 300; }));
  j.reset();
  const std::string newest = "snapshot-00000000000000000300.bin";
  flip_byte(dir_ + "/" + newest, 41);
  const Recovered r = recover();
  EXPECT_EQ(r.snapshot_seq, 100u);
  EXPECT_EQ(r.snapshot, (Bytes{1, 1}));
  EXPECT_NE(r.snapshots_rejected.find(newest + ": checksum"), std::string::npos)
      << r.snapshots_rejected;
  EXPECT_FALSE(fs::exists(dir_ + "/" + newest));
  expect_records(r, 101, 400);
}

// Appends with a wrong seq or too large for the ring are refused; so is everything once the ring
// is full behind a writer that failed (file size limit: EFBIG, as a full disk would). The failure
// is reported, durable_seq stops, nothing crashes, and the journal closes.
TEST_F(JournalTest, RingFullAndWriterFailureRefuseAppends) {
  JournalConfig c = config(1 << 20);
  c.ring_bytes = 4096;
  std::string why;
  auto j = Journal::open(c, 1, why);
  ASSERT_NE(j, nullptr) << why;
  EXPECT_FALSE(j->append(2, payload(2)));
  EXPECT_FALSE(j->append(1, Bytes(5000)));
  EXPECT_EQ(j->counter(JournalCounter::rejected), 2u);

  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  const auto old_handler = signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = 8192;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  std::uint64_t seq = 1;
  const Bytes big(200, 7);
  // Offers records until the writer has failed on the size limit. A full ring refuses some on the
  // way when this loop outruns the writer; stopping at the first refusal left the writer short of
  // the limit now and then, and it never failed.
  const bool failed = wait_for([&] {
    if (j->append(seq, big)) {
      ++seq;
    }
    return j->failed();
  });
  // Once failed, the ring fills for good.
  for (int i = 0; i < 100 && j->append(seq, big); ++i) {
    ++seq;
  }
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  ASSERT_TRUE(failed);
  EXPECT_FALSE(j->append(seq, big));
  EXPECT_GT(j->counter(JournalCounter::ring_full), 0u);
  EXPECT_GE(j->counter(JournalCounter::errors), 1u);
  EXPECT_NE(j->error().find("File too large"), std::string::npos) << j->error();
  const std::uint64_t durable = j->durable_seq();
  EXPECT_LT(durable, seq - 1);
  EXPECT_LE(durable * (Journal::kRecordHeaderBytes + big.size()), 8192u);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(j->durable_seq(), durable);
  j.reset();
  const Recovered r = recover();
  EXPECT_GE(r.next_seq, durable + 1);
}

// A directory that cannot be created or written fails open with the reason; so does next_seq
// behind records already on disk, which changes nothing.
TEST_F(JournalTest, OpenFailsWithAClearReason) {
  std::string why;
  const std::string file = root_ + "/plain";
  std::ofstream(file) << "x";
  JournalConfig c = config();
  c.dir = file + "/journal";
  EXPECT_EQ(Journal::open(c, 1, why), nullptr);
  EXPECT_NE(why.find("create journal dir " + c.dir + ": Not a directory"), std::string::npos)
      << why;

  if (geteuid() != 0) {  // root writes anywhere
    const std::string locked = root_ + "/locked";
    fs::create_directory(locked);
    fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
    c.dir = locked;
    why.clear();
    EXPECT_EQ(Journal::open(c, 1, why), nullptr);
    EXPECT_NE(why.find("Permission denied"), std::string::npos) << why;
  }

  write_range(1, 100);
  const auto before = segments();
  why.clear();
  EXPECT_EQ(Journal::open(config(), 50, why), nullptr);
  EXPECT_NE(why.find("at or after next_seq 50"), std::string::npos) << why;
  EXPECT_EQ(segments(), before);
  EXPECT_EQ(Journal::open(config(), 0, why), nullptr);
  expect_records(recover(), 1, 100);
}

}  // namespace
}  // namespace acd::dataplane
