// The local journal: the sequenced input log on disk, plus snapshots of the engine. Replaying the
// newest snapshot and then every record after it reproduces the engine's state.
//
// On disk (one directory):
//   journal-<first seq, 20 digits>.log   a segment: 24-byte header (magic "ACDJRNL1", version,
//                                         first seq), then records [u32 length][u32 crc32][u64 seq]
//                                         [payload]; the crc (zlib crc32_z) covers seq + payload.
//   snapshot-<seq, 20 digits>.bin        40-byte header (magic "ACDSNAP1", version, crc32 of seq +
//                                         image, seq, image length), then the image.
// All integers little-endian. Record payloads are opaque bytes here.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace acd::dataplane {

struct NodeImage;  // input_log.hpp

struct JournalConfig {
  std::string dir;                       // created (mode 0750) if missing; its parent must exist
  std::size_t segment_bytes = 64 << 20;  // past this a segment is closed and a new one begun
  std::size_t ring_bytes = 8 << 20;      // the appending thread's byte ring (rounded up to 2^n)
  bool sync = true;                      // fdatasync each group commit (false: write only)
};

// What a restart finds on disk.
struct Recovered {
  std::uint64_t snapshot_seq = 0;      // 0: no snapshot
  std::vector<std::uint8_t> snapshot;  // the newest valid snapshot image
  // Every record with seq > snapshot_seq, in order, contiguous (snapshot_seq + 1, + 2, ...).
  std::vector<std::pair<std::uint64_t, std::vector<std::uint8_t>>> records;
  std::uint64_t next_seq = 1;      // the seq the next append must carry
  std::string cut;                 // "" or what was cut from the log: file, offset, why
  std::string snapshots_rejected;  // "" or the snapshot files found invalid (and removed)
};

// Reads `dir` (a missing dir is an empty journal): the newest snapshot whose checksum holds (older
// ones are fallbacks; invalid ones newer than the one used are deleted), then every record after
// it. At the first bad record (short, bad checksum, seq not the next one, bad segment header) it
// truncates that segment there, deletes the later segments, and says so in `cut`.
// Returns nullopt with `why`, changing nothing, for errors that are not a torn or corrupt tail: an
// unreadable dir or file, or records missing between the snapshot and the first segment.
// Call it before Journal::open, never while a Journal writes to the dir.
std::optional<Recovered> recover_journal(const std::string& dir, std::string& why);

// Counters, declared once: the list generates the enum and the metric names and help.
#define ACD_JOURNAL_COUNTERS(X)                                                  \
  X(records, "records written (and synced when sync is on)")                     \
  X(bytes, "bytes written to segments, record headers included")                 \
  X(group_commits, "group commits: one write (+ fdatasync) per round")           \
  X(sync_ns_total, "nanoseconds spent waiting for group commits to complete")    \
  X(sync_ns_last, "nanoseconds the last group commit took")                      \
  X(snapshots, "snapshots written")                                              \
  X(segments_pruned, "segment files deleted after a snapshot")                   \
  X(ring_full, "appends refused: the ring had no room")                          \
  X(rejected, "appends refused: seq not the next one, record too large, failed") \
  X(errors, "write, sync, file or snapshot errors")

enum class JournalCounter : std::uint32_t {
#define ACD_X(name, help) name,
  ACD_JOURNAL_COUNTERS(ACD_X)
#undef ACD_X
      kCount
};
inline constexpr std::size_t kJournalCounterCount =
    static_cast<std::size_t>(JournalCounter::kCount);
std::string_view journal_counter_name(JournalCounter c);  // e.g. "records"
std::string_view journal_counter_help(JournalCounter c);

// The writer of one journal directory. It owns one writer thread, which takes everything in the
// ring each round, writes it with one io_uring write linked to an fdatasync, waits, and publishes
// durable_seq. Not copyable, not movable.
class Journal {
 public:
  // Bytes a record takes in the ring and in a segment: header + payload.
  static constexpr std::size_t kRecordHeaderBytes = 16;

  // Opens `config.dir` for appending at `next_seq` (what recover_journal said): starts a new
  // segment named next_seq. Fails (nullptr + why, nothing changed) if the dir cannot be created or
  // written, if a segment starting after next_seq exists (records would be overwritten), if
  // next_seq is 0, or if io_uring cannot be set up.
  static std::unique_ptr<Journal> open(const JournalConfig& config, std::uint64_t next_seq,
                                       std::string& why);
  // Waits until everything appended is written and synced (unless the writer failed), writes a
  // pending snapshot whose records are all durable, then stops the threads. Call it from the
  // appending thread or once that thread has stopped appending.
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // The appending thread (one only): copies the record into the ring; no syscall, no allocation,
  // no lock. False (nothing queued) if the ring has no room (counted ring_full: the caller treats
  // the input as not accepted), or (counted rejected) if seq is not the one after the last
  // accepted one, or the record cannot fit in the ring at all, or the writer has failed.
  [[nodiscard]] bool append(std::uint64_t seq, std::span<const std::uint8_t> payload);
  // Appending thread: the seq the next append must carry.
  std::uint64_t next_seq() const { return next_seq_; }

  // Any thread: highest seq written (and synced when sync is on): everything <= it survives a
  // crash. next_seq - 1 at open. Acquire load, paired with the writer's release store.
  std::uint64_t durable_seq() const { return durable_seq_.load(std::memory_order_acquire); }

  // Any thread, rare: hands over an engine image taken at `seq` (all records <= seq applied). The
  // journal's image thread (acd-journal-img, beside the writer: group commits go on while an image
  // is written) writes it once durable_seq >= seq (a snapshot never runs ahead of the log):
  // temp file, fsync, rename to snapshot-<seq>.bin, fsync dir. It then keeps this snapshot and the
  // previous one, deletes older snapshots, and deletes the segments all of whose records are <= the
  // previous snapshot's seq (so that the fallback snapshot still has its records). A newer
  // hand-over replaces one not yet written; one with seq <= last_snapshot_seq() is ignored.
  void snapshot(std::uint64_t seq, std::vector<std::uint8_t> image);
  // The same for a node image not encoded yet: encode_image runs on the image thread, so that the
  // thread handing it over (the routing core) does not copy hundreds of MB at a million agents.
  void snapshot(NodeImage image);
  // Any thread: seq of the last snapshot this Journal wrote (0: none yet).
  std::uint64_t last_snapshot_seq() const {
    return last_snapshot_seq_.load(std::memory_order_acquire);
  }

  // Any thread: true once a write, sync or segment file error stopped the writer. durable_seq then
  // stays where it was and appends return false. error() says what failed; it is set once, before
  // failed() turns true (release/acquire), and never changes after.
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  std::string error() const;
  // Any thread: the last snapshot error ("" if none); snapshot errors do not stop the log.
  std::string snapshot_error() const;

  // Any thread, relaxed: statistics that order nothing.
  std::uint64_t counter(JournalCounter c) const {
    return counters_[static_cast<std::size_t>(c)].load(std::memory_order_relaxed);
  }

  struct Writer;  // the writer thread's state (journal.cpp)

 private:
  Journal() = default;
  // ring_full and rejected by the appending thread, the rest by the writer and image threads
  // (errors by both).
  void bump(JournalCounter c, std::uint64_t n = 1) {
    counters_[static_cast<std::size_t>(c)].fetch_add(n, std::memory_order_relaxed);
  }
  void set(JournalCounter c, std::uint64_t v) {
    counters_[static_cast<std::size_t>(c)].store(v, std::memory_order_relaxed);
  }

  // The byte ring: [tail_, head_) holds records laid out exactly as on disk (crc filled in by the
  // writer). Positions grow without wrapping; index = position & mask_.
  std::unique_ptr<std::uint8_t[]> ring_;
  std::size_t mask_ = 0;
  // Appending thread's line: head_ is stored with release (paired with the writer's acquire load);
  // tail_cache_ is its last acquire load of tail_.
  alignas(64) std::atomic<std::uint64_t> head_{0};
  std::uint64_t tail_cache_ = 0;
  std::uint64_t next_seq_ = 1;
  // Writer thread's line: tail_ is stored with release once the bytes are on disk (paired with the
  // appender's acquire load of tail_), durable_seq_ with release after the group commit.
  alignas(64) std::atomic<std::uint64_t> tail_{0};
  std::atomic<std::uint64_t> durable_seq_{0};
  std::atomic<std::uint64_t> last_snapshot_seq_{0};
  std::atomic<bool> failed_{false};
  alignas(64) std::array<std::atomic<std::uint64_t>, kJournalCounterCount> counters_{};

  std::unique_ptr<Writer> writer_;
  friend struct Writer;
};

// A read-only follower of a journal directory that a Journal (in this process or another) is
// writing: the records in seq order as they reach the files, for readers of the log that run beside
// the writer (the history feed). It never changes the directory. It reads what the files hold —
// which may be ahead of durable_seq() by the round being synced — and only whole records whose
// checksum holds; a record still being written is "not yet" (Wait), read again on the next call.
// It follows the writer to its next segment, and to a new directory put in place of the old one
// (a standby's journal begun again from its primary's image).
//
// Threading: one thread owns a reader. Allocates (payloads, directory listings).
class JournalReader {
 public:
  explicit JournalReader(std::string dir);
  ~JournalReader();
  JournalReader(const JournalReader&) = delete;
  JournalReader& operator=(const JournalReader&) = delete;

  enum class Next : std::uint8_t {
    Record,  // `payload` holds record `seq`
    Wait,    // not in the files yet (or the directory holds no segment yet): ask again later
    Gap,     // no segment holds `seq` any more (pruned, or the journal begun again after it):
             // earliest() says where the files begin now
    Error,   // a file cannot be read, or the record at `seq` is corrupt although later records
             // exist: `why` says which
  };
  // The record numbered `seq`. Asking for seq after seq is a sequential read; any other seq is
  // found from the directory's listing.
  Next read(std::uint64_t seq, std::vector<std::uint8_t>& payload, std::string& why);
  // After a Gap: the first seq of the oldest segment (0: no segment).
  std::uint64_t earliest() const { return earliest_; }
  // The newest snapshot whose checksum holds: its seq and image; false (seq 0) when there is
  // none, `why` saying so if a file could not be read.
  bool newest_snapshot(std::uint64_t& seq, std::vector<std::uint8_t>& image, std::string& why);

 private:
  Next locate(std::uint64_t seq, std::string& why);
  bool next_segment_starts_at(std::uint64_t seq);
  bool replaced() const;
  void close_segment();

  std::string dir_;
  int fd_ = -1;
  std::string segment_;      // the open segment's file name
  std::size_t offset_ = 0;   // of the next record in it
  std::uint64_t next_in_file_ = 0;  // the seq of the record at offset_
  std::uint64_t earliest_ = 0;
};

}  // namespace acd::dataplane
