// The local journal: segment and snapshot file formats, recovery, and the writer thread's group
// commit through io_uring.
#include "acd/dataplane/journal.hpp"

#include "acd/dataplane/image_buffers.hpp"
#include "acd/dataplane/input_log.hpp"
#include "acd/dataplane/thread_name.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <liburing.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

namespace acd::dataplane {

static_assert(std::endian::native == std::endian::little, "the journal's files are little-endian");

namespace {

constexpr char kSegmentMagic[8] = {'A', 'C', 'D', 'J', 'R', 'N', 'L', '1'};
constexpr char kSnapshotMagic[8] = {'A', 'C', 'D', 'S', 'N', 'A', 'P', '1'};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kSegmentHeaderBytes = 24;   // magic, u32 version, u32 0, u64 first seq
constexpr std::size_t kSnapshotHeaderBytes = 40;  // magic, u32 version, u32 crc, u64 seq,
                                                  // u64 length, u64 0
constexpr std::size_t kHdr = Journal::kRecordHeaderBytes;

std::string errno_text(const std::string& what, int err) {
  return what + ": " + std::strerror(err);
}

std::string file_name(const char* prefix, std::uint64_t seq, const char* suffix) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s%020" PRIu64 "%s", prefix, seq, suffix);
  return buf;
}
std::string segment_name(std::uint64_t seq) {
  return file_name("journal-", seq, ".log");
}
std::string snapshot_name(std::uint64_t seq) {
  return file_name("snapshot-", seq, ".bin");
}

// "journal-00000000000000000042.log" → 42; nullopt for any other name.
std::optional<std::uint64_t> parse_name(std::string_view name, std::string_view prefix,
                                        std::string_view suffix) {
  if (name.size() != prefix.size() + 20 + suffix.size() || !name.starts_with(prefix) ||
      !name.ends_with(suffix)) {
    return std::nullopt;
  }
  std::uint64_t v = 0;
  for (char c : name.substr(prefix.size(), 20)) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) {
      return std::nullopt;
    }
    v = v * 10 + digit;
  }
  return v;
}

template <typename T>
T load_le(const std::uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
template <typename T>
void store_le(std::uint8_t* p, T v) {
  std::memcpy(p, &v, sizeof(v));
}

std::uint32_t crc_extend(std::uint32_t crc, const std::uint8_t* p, std::size_t n) {
  return static_cast<std::uint32_t>(crc32_z(crc, p, n));
}
std::uint32_t record_crc(std::uint64_t seq, const std::uint8_t* payload, std::size_t n) {
  std::uint8_t s[8];
  store_le(s, seq);
  return crc_extend(crc_extend(static_cast<std::uint32_t>(crc32_z(0, nullptr, 0)), s, 8), payload,
                    n);
}

struct DirEntries {
  std::vector<std::pair<std::uint64_t, std::string>> segments;   // ascending by first seq
  std::vector<std::pair<std::uint64_t, std::string>> snapshots;  // descending by seq
  std::vector<std::string> temporaries;                          // snapshot-*.tmp
};

// Lists the journal's files in `dir`; false + why if it cannot be read (errno_out set).
bool list_dir(const std::string& dir, DirEntries& out, std::string& why, int& errno_out) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    errno_out = errno;
    why = errno_text("open journal dir " + dir, errno);
    return false;
  }
  while (const dirent* e = readdir(d)) {
    const std::string_view name = e->d_name;
    if (auto s = parse_name(name, "journal-", ".log")) {
      out.segments.emplace_back(*s, std::string(name));
    } else if (auto p = parse_name(name, "snapshot-", ".bin")) {
      out.snapshots.emplace_back(*p, std::string(name));
    } else if (name.starts_with("snapshot-") && name.ends_with(".tmp")) {
      out.temporaries.emplace_back(name);
    }
  }
  closedir(d);
  std::sort(out.segments.begin(), out.segments.end());
  std::sort(out.snapshots.begin(), out.snapshots.end(), std::greater<>());
  return true;
}

bool read_file(const std::string& path, std::vector<std::uint8_t>& out, std::string& why) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    why = errno_text("open " + path, errno);
    return false;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    why = errno_text("stat " + path, errno);
    ::close(fd);
    return false;
  }
  out.resize(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      why = errno_text("read " + path, errno);
      ::close(fd);
      return false;
    }
    if (n == 0) {
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  ::close(fd);
  return true;
}

bool write_all(int fd, const std::uint8_t* p, std::size_t n, std::size_t offset) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(offset));
    if (w < 0 && errno == EINTR) {
      continue;
    }
    if (w <= 0) {
      if (w == 0) {
        errno = EIO;
      }
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
    offset += static_cast<std::size_t>(w);
  }
  return true;
}

bool fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  const bool ok = ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  errno = err;
  return ok;
}

// A snapshot file's image, or "" + why it is not valid.
bool check_snapshot(const std::vector<std::uint8_t>& f, std::uint64_t seq, std::string& why) {
  if (f.size() < kSnapshotHeaderBytes) {
    why = "shorter than its header";
    return false;
  }
  if (std::memcmp(f.data(), kSnapshotMagic, 8) != 0 ||
      load_le<std::uint32_t>(f.data() + 8) != kVersion) {
    why = "bad magic or version";
    return false;
  }
  if (load_le<std::uint64_t>(f.data() + 16) != seq) {
    why = "seq in header differs from the name";
    return false;
  }
  if (load_le<std::uint64_t>(f.data() + 24) != f.size() - kSnapshotHeaderBytes) {
    why = "length differs from the file's";
    return false;
  }
  const std::uint32_t crc = load_le<std::uint32_t>(f.data() + 12);
  if (record_crc(seq, f.data() + kSnapshotHeaderBytes, f.size() - kSnapshotHeaderBytes) != crc) {
    why = "checksum";
    return false;
  }
  return true;
}

}  // namespace

// ---- recovery ---------------------------------------------------------------------------------

std::optional<Recovered> recover_journal(const std::string& dir, std::string& why) {
  Recovered out;
  DirEntries entries;
  int err = 0;
  if (!list_dir(dir, entries, why, err)) {
    if (err == ENOENT) {
      why.clear();
      return out;  // nothing written yet
    }
    return std::nullopt;
  }
  const auto path = [&](const std::string& name) { return dir + "/" + name; };

  // Snapshots, newest first; the first valid one is used, invalid newer ones are removed.
  std::vector<std::string> to_remove = entries.temporaries;
  for (const auto& [seq, name] : entries.snapshots) {
    std::vector<std::uint8_t> file;
    std::string problem;
    if (!read_file(path(name), file, problem)) {
      why = problem;
      return std::nullopt;
    }
    if (check_snapshot(file, seq, problem)) {
      out.snapshot_seq = seq;
      out.snapshot.assign(file.begin() + kSnapshotHeaderBytes, file.end());
      break;
    }
    if (!out.snapshots_rejected.empty()) {
      out.snapshots_rejected += "; ";
    }
    out.snapshots_rejected += name;
    out.snapshots_rejected += ": ";
    out.snapshots_rejected += problem;
    to_remove.push_back(name);
  }

  // The segment holding snapshot_seq + 1: the last one starting at or before it.
  const std::uint64_t want = out.snapshot_seq + 1;
  const auto& segs = entries.segments;
  std::size_t start = segs.size();
  for (std::size_t i = 0; i < segs.size(); ++i) {
    if (segs[i].first <= want) {
      start = i;
    }
  }
  if (!segs.empty() && start == segs.size()) {
    why = "journal " + dir + ": records " + std::to_string(want) + " to " +
          std::to_string(segs.front().first - 1) + " are missing (first segment " +
          segs.front().second + ")";
    return std::nullopt;
  }

  std::uint64_t expected = start < segs.size() ? segs[start].first : want;
  std::size_t cut_segment = segs.size();  // segments from here on are deleted
  std::size_t cut_offset = 0;             // ... except that this one is truncated here
  bool truncate = false;
  for (std::size_t i = start; i < segs.size() && cut_segment == segs.size(); ++i) {
    std::vector<std::uint8_t> f;
    if (!read_file(path(segs[i].second), f, why)) {
      return std::nullopt;
    }
    const auto cut_here = [&](std::size_t offset, const std::string& reason) {
      cut_segment = i;
      cut_offset = offset;
      truncate = offset >= kSegmentHeaderBytes;
      out.cut = segs[i].second + " at offset " + std::to_string(offset) + ": " + reason;
    };
    if (f.size() < kSegmentHeaderBytes || std::memcmp(f.data(), kSegmentMagic, 8) != 0 ||
        load_le<std::uint32_t>(f.data() + 8) != kVersion ||
        load_le<std::uint64_t>(f.data() + 16) != segs[i].first) {
      cut_here(0, "torn or bad segment header");
      break;
    }
    if (segs[i].first != expected) {
      cut_here(0, "gap: segment starts at seq " + std::to_string(segs[i].first) + ", expected " +
                      std::to_string(expected));
      break;
    }
    std::size_t off = kSegmentHeaderBytes;
    while (off < f.size()) {
      if (f.size() - off < kHdr) {
        cut_here(off, "torn: short record header");
        break;
      }
      const auto len = load_le<std::uint32_t>(f.data() + off);
      const auto crc = load_le<std::uint32_t>(f.data() + off + 4);
      const auto seq = load_le<std::uint64_t>(f.data() + off + 8);
      if (len > f.size() - off - kHdr) {
        cut_here(off, "torn: short payload");
        break;
      }
      if (record_crc(seq, f.data() + off + kHdr, len) != crc) {
        cut_here(off, "corrupt: checksum");
        break;
      }
      if (seq != expected) {
        cut_here(off, "gap: seq " + std::to_string(seq) + ", expected " + std::to_string(expected));
        break;
      }
      if (seq > out.snapshot_seq) {
        out.records.emplace_back(
            seq,
            std::vector<std::uint8_t>(f.begin() + static_cast<std::ptrdiff_t>(off + kHdr),
                                      f.begin() + static_cast<std::ptrdiff_t>(off + kHdr + len)));
      }
      ++expected;
      off += kHdr + len;
    }
  }
  out.next_seq = std::max(expected, want);

  // Changes, now that nothing can fail for reasons other than the file system itself.
  bool changed = false;
  if (cut_segment < segs.size()) {
    if (truncate) {
      const std::string p = path(segs[cut_segment].second);
      const int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(cut_offset)) != 0 || ::fsync(fd) != 0) {
        why = errno_text("truncate " + p, errno);
        if (fd >= 0) {
          ::close(fd);
        }
        return std::nullopt;
      }
      ::close(fd);
    }
    for (std::size_t i = cut_segment + (truncate ? 1 : 0); i < segs.size(); ++i) {
      to_remove.push_back(segs[i].second);
    }
  }
  for (const auto& name : to_remove) {
    if (::unlink(path(name).c_str()) != 0 && errno != ENOENT) {
      why = errno_text("remove " + path(name), errno);
      return std::nullopt;
    }
    changed = true;
  }
  if (changed || truncate) {
    fsync_dir(dir);
  }
  return out;
}

// ---- the writer thread ------------------------------------------------------------------------

struct Journal::Writer {
  Journal& j;
  JournalConfig config;
  std::size_t capacity = 0;
  int fd = -1;  // the open segment
  std::uint64_t segment_first = 0;
  std::atomic<std::uint64_t> open_segment{0};  // segment_first, for the snapshot thread's prune
  std::size_t segment_offset = 0;
  io_uring ring{};
  bool ring_ready = false;
  std::string error;  // set once, before failed_ turns true

  std::mutex mutex;  // guards pending and snapshot_error; taken rarely, never by append()
  std::optional<std::pair<std::uint64_t, std::vector<std::uint8_t>>> pending;
  std::optional<NodeImage> pending_image;  // with pending: encoded here, off the caller's thread
  std::atomic<bool> has_pending{false};  // release by snapshot(), acquire by the writer
  std::string snapshot_error;

  std::jthread thread;
  // Writes node images (maybe_snapshot, prune) beside the group commits: at a million agents an
  // image is hundreds of MB, and written in line it held every record's durability (and so
  // every reply gated on the journal) for seconds.
  std::jthread snapshot_thread;

  explicit Writer(Journal& journal) : j(journal) {}
  ~Writer() {
    if (ring_ready) {
      io_uring_queue_exit(&ring);
    }
    if (fd >= 0) {
      ::close(fd);
    }
  }

  std::string path(const std::string& name) const { return config.dir + "/" + name; }

  void fail(std::string why) {
    error = std::move(why);
    j.bump(JournalCounter::errors);
    j.failed_.store(true, std::memory_order_release);  // pairs with failed()'s acquire load
  }

  // Creates segment `first` (replacing an empty one of that name) with its header.
  bool start_segment(std::uint64_t first, std::string& why) {
    const std::string p = path(segment_name(first));
    const int nfd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (nfd < 0) {
      why = errno_text("create " + p, errno);
      return false;
    }
    std::uint8_t h[kSegmentHeaderBytes] = {};
    std::memcpy(h, kSegmentMagic, 8);
    store_le(h + 8, kVersion);
    store_le(h + 16, first);
    if (!write_all(nfd, h, sizeof(h), 0) || (config.sync && ::fdatasync(nfd) != 0) ||
        (config.sync && !fsync_dir(config.dir))) {
      why = errno_text("write header of " + p, errno);
      ::close(nfd);
      return false;
    }
    if (fd >= 0) {
      ::close(fd);
    }
    fd = nfd;
    segment_first = first;
    open_segment.store(first, std::memory_order_release);
    segment_offset = kSegmentHeaderBytes;
    return true;
  }

  void copy_out(std::uint64_t pos, std::uint8_t* dst, std::size_t n) const {
    const std::size_t idx = pos & j.mask_;
    const std::size_t first = std::min(n, capacity - idx);
    std::memcpy(dst, j.ring_.get() + idx, first);
    std::memcpy(dst + first, j.ring_.get(), n - first);
  }
  void copy_in(std::uint64_t pos, const std::uint8_t* src, std::size_t n) const {
    const std::size_t idx = pos & j.mask_;
    const std::size_t first = std::min(n, capacity - idx);
    std::memcpy(j.ring_.get() + idx, src, first);
    std::memcpy(j.ring_.get(), src + first, n - first);
  }

  // Waits for one completion; its result, or a negative errno.
  int reap(std::uint64_t& tag) {
    io_uring_cqe* cqe = nullptr;
    int rc = 0;
    do {
      rc = io_uring_wait_cqe(&ring, &cqe);
    } while (rc == -EINTR);
    if (rc < 0) {
      tag = 0;
      return rc;
    }
    tag = io_uring_cqe_get_data64(cqe);
    const int res = cqe->res;
    io_uring_cqe_seen(&ring, cqe);
    return res;
  }

  // One group commit: everything in the ring (up to the end of the segment). False if the ring
  // was empty or the writer failed.
  bool round() {
    const std::uint64_t head = j.head_.load(std::memory_order_acquire);  // pairs with append()
    const std::uint64_t tail = j.tail_.load(std::memory_order_relaxed);  // ours
    if (head == tail) {
      return false;
    }
    std::uint8_t hdr[kHdr];
    if (segment_offset >= config.segment_bytes) {
      copy_out(tail, hdr, kHdr);
      std::string why;
      if (!start_segment(load_le<std::uint64_t>(hdr + 8), why)) {
        fail(why);
        return false;
      }
    }
    // Fill in each record's checksum, in place: [tail, head) is ours until tail_ moves.
    std::uint64_t pos = tail;
    std::uint64_t last = 0;
    std::uint64_t count = 0;
    while (pos < head) {
      copy_out(pos, hdr, kHdr);
      const std::size_t len = load_le<std::uint32_t>(hdr);
      last = load_le<std::uint64_t>(hdr + 8);
      std::uint32_t crc =
          crc_extend(static_cast<std::uint32_t>(crc32_z(0, nullptr, 0)), hdr + 8, 8);
      const std::size_t idx = (pos + kHdr) & j.mask_;
      const std::size_t first = std::min(len, capacity - idx);
      crc = crc_extend(crc, j.ring_.get() + idx, first);
      crc = crc_extend(crc, j.ring_.get(), len - first);
      store_le(hdr + 4, crc);
      copy_in(pos + 4, hdr + 4, 4);
      pos += kHdr + len;
      ++count;
      if (segment_offset + (pos - tail) >= config.segment_bytes) {
        break;
      }
    }
    const std::size_t total = pos - tail;
    iovec iov[2];
    int iovcnt = 1;
    const std::size_t idx = tail & j.mask_;
    iov[0] = {j.ring_.get() + idx, std::min(total, capacity - idx)};
    if (iov[0].iov_len < total) {
      iov[1] = {j.ring_.get(), total - iov[0].iov_len};
      iovcnt = 2;
    }

    const auto started = std::chrono::steady_clock::now();
    std::size_t done = 0;
    while (done < total) {
      io_uring_sqe* w = io_uring_get_sqe(&ring);
      io_uring_prep_writev(w, fd, iov, static_cast<unsigned>(iovcnt), segment_offset + done);
      io_uring_sqe_set_data64(w, 1);
      if (config.sync) {
        w->flags |= IOSQE_IO_LINK;  // the fdatasync runs only after the whole write succeeded
        io_uring_sqe* s = io_uring_get_sqe(&ring);
        io_uring_prep_fsync(s, fd, IORING_FSYNC_DATASYNC);
        io_uring_sqe_set_data64(s, 2);
      }
      const int submitted = io_uring_submit(&ring);
      if (submitted < 0) {
        fail(errno_text("io_uring_submit", -submitted));
        return false;
      }
      int written = 0;
      int synced = 0;
      for (int k = 0; k < (config.sync ? 2 : 1); ++k) {
        std::uint64_t tag = 0;
        const int res = reap(tag);
        if (tag == 1) {
          written = res;
        } else if (tag == 2) {
          synced = res;
        } else {
          fail(errno_text("io_uring_wait_cqe", -res));
          return false;
        }
      }
      if (written < 0) {
        fail(errno_text("write " + segment_name(segment_first), -written));
        return false;
      }
      if (written == 0) {
        fail("write " + segment_name(segment_first) + ": no progress");
        return false;
      }
      done += static_cast<std::size_t>(written);
      // Skip what was written; a short write broke the link (the fdatasync was cancelled).
      std::size_t skip = static_cast<std::size_t>(written);
      while (skip > 0 && iovcnt > 0) {
        if (skip >= iov[0].iov_len) {
          skip -= iov[0].iov_len;
          iov[0] = iov[1];
          --iovcnt;
        } else {
          iov[0].iov_base = static_cast<std::uint8_t*>(iov[0].iov_base) + skip;
          iov[0].iov_len -= skip;
          skip = 0;
        }
      }
      if (done == total && config.sync && synced < 0) {
        fail(errno_text("fdatasync " + segment_name(segment_first), -synced));
        return false;
      }
    }
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    segment_offset += total;
    j.tail_.store(pos, std::memory_order_release);          // pairs with append()'s acquire load
    j.durable_seq_.store(last, std::memory_order_release);  // pairs with durable_seq()
    j.bump(JournalCounter::records, count);
    j.bump(JournalCounter::bytes, total);
    j.bump(JournalCounter::group_commits);
    j.bump(JournalCounter::sync_ns_total, static_cast<std::uint64_t>(ns));
    j.set(JournalCounter::sync_ns_last, static_cast<std::uint64_t>(ns));
    return true;
  }

  void snapshot_failed(std::string why) {
    j.bump(JournalCounter::errors);
    std::lock_guard lock(mutex);
    snapshot_error = std::move(why);
  }

  // Writes the pending snapshot once its records are durable, then prunes. Snapshot thread.
  // False if there was nothing to write yet.
  bool maybe_snapshot() {
    if (!has_pending.load(std::memory_order_acquire)) {
      return false;
    }
    std::pair<std::uint64_t, std::vector<std::uint8_t>> snap;
    std::optional<NodeImage> image_to_encode;
    {
      std::lock_guard lock(mutex);
      if (!pending || pending->first > j.durable_seq_.load(std::memory_order_acquire)) {
        return false;
      }
      snap = std::move(*pending);
      pending.reset();
      if (pending_image) {
        image_to_encode = std::move(*pending_image);
        pending_image.reset();
      }
      has_pending.store(false, std::memory_order_relaxed);
    }
    if (image_to_encode) {
      snap.second = encode_image(*image_to_encode);
      image_buffers().give(std::move(image_to_encode->engine));  // for the next capture
      image_to_encode.reset();
    }
    const auto& [seq, image] = snap;
    std::vector<std::uint8_t> h(kSnapshotHeaderBytes, 0);
    std::memcpy(h.data(), kSnapshotMagic, 8);
    store_le(h.data() + 8, kVersion);
    store_le(h.data() + 12, record_crc(seq, image.data(), image.size()));
    store_le(h.data() + 16, seq);
    store_le(h.data() + 24, static_cast<std::uint64_t>(image.size()));
    const std::string final_path = path(snapshot_name(seq));
    const std::string tmp = final_path + ".tmp";
    const int sfd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (sfd < 0) {
      snapshot_failed(errno_text("create " + tmp, errno));
      return true;
    }
    const bool ok = write_all(sfd, h.data(), h.size(), 0) &&
                    write_all(sfd, image.data(), image.size(), h.size()) && ::fsync(sfd) == 0;
    const int err = errno;
    ::close(sfd);
    if (!ok || ::rename(tmp.c_str(), final_path.c_str()) != 0 || !fsync_dir(config.dir)) {
      snapshot_failed(errno_text("write " + final_path, ok ? errno : err));
      ::unlink(tmp.c_str());
      return true;
    }
    j.bump(JournalCounter::snapshots);
    prune();
    // Published after pruning, so that a reader seeing it sees the directory in its final shape.
    j.last_snapshot_seq_.store(seq, std::memory_order_release);  // pairs with last_snapshot_seq()
    return true;
  }

  // Keeps the newest two snapshots; deletes older ones and the segments wholly covered by the
  // older of the two kept.
  void prune() {
    DirEntries entries;
    std::string why;
    int err = 0;
    if (!list_dir(config.dir, entries, why, err)) {
      snapshot_failed(why);
      return;
    }
    for (std::size_t i = 2; i < entries.snapshots.size(); ++i) {
      ::unlink(path(entries.snapshots[i].second).c_str());
    }
    if (entries.snapshots.size() < 2) {
      return;
    }
    const std::uint64_t covered = entries.snapshots[1].first;
    const auto& segs = entries.segments;
    std::uint64_t pruned = 0;
    for (std::size_t i = 0; i + 1 < segs.size(); ++i) {
      // Segment i holds seqs [first_i, first_{i+1} - 1]; the open segment is never deleted.
      if (segs[i + 1].first <= covered + 1 &&
          segs[i].first != open_segment.load(std::memory_order_acquire)) {
        if (::unlink(path(segs[i].second).c_str()) == 0) {
          ++pruned;
        }
      }
    }
    fsync_dir(config.dir);
    j.bump(JournalCounter::segments_pruned, pruned);
  }

  void run_snapshots(const std::stop_token& stop) {
    using namespace std::chrono_literals;
    name_this_thread("acd-journal-img");
    for (;;) {
      const bool stopping = stop.stop_requested();  // after the writer's last round (~Journal)
      if (!j.failed() && maybe_snapshot()) {
        continue;
      }
      if (stopping) {
        return;
      }
      std::this_thread::sleep_for(1ms);
    }
  }

  void run(const std::stop_token& stop) {
    using namespace std::chrono_literals;
    name_this_thread("acd-journal");
    int idle = 0;
    for (;;) {
      bool busy = false;
      if (!j.failed()) {
        busy = round();
      }
      if (busy) {
        idle = 0;
        continue;
      }
      if (stop.stop_requested()) {
        // The stop request happens after the last append: drain what it made visible.
        while (!j.failed() && round()) {
        }
        return;  // the snapshot thread, stopped after this one, writes a pending image
      }
      // The appender makes no syscall, so the writer polls: a short spin, then short sleeps.
      if (++idle < 64) {
        std::this_thread::yield();
      } else {
        std::this_thread::sleep_for(50us);
      }
    }
  }
};

// ---- Journal ----------------------------------------------------------------------------------

std::string_view journal_counter_name(JournalCounter c) {
  static constexpr std::string_view kNames[] = {
#define ACD_X(name, help) #name,
      ACD_JOURNAL_COUNTERS(ACD_X)
#undef ACD_X
  };
  return kNames[static_cast<std::size_t>(c)];
}

std::string_view journal_counter_help(JournalCounter c) {
  static constexpr std::string_view kHelp[] = {
#define ACD_X(name, help) help,
      ACD_JOURNAL_COUNTERS(ACD_X)
#undef ACD_X
  };
  return kHelp[static_cast<std::size_t>(c)];
}

std::unique_ptr<Journal> Journal::open(const JournalConfig& config, std::uint64_t next_seq,
                                       std::string& why) {
  if (next_seq == 0) {
    why = "journal: next_seq must be at least 1";
    return nullptr;
  }
  if (config.dir.empty()) {
    why = "journal: no directory given";
    return nullptr;
  }
  if (::mkdir(config.dir.c_str(), 0750) != 0 && errno != EEXIST) {
    why = errno_text("create journal dir " + config.dir, errno);
    return nullptr;
  }
  DirEntries entries;
  int err = 0;
  if (!list_dir(config.dir, entries, why, err)) {
    return nullptr;
  }
  for (const auto& [first, name] : entries.segments) {
    struct stat st {};
    const bool empty = ::stat((config.dir + "/" + name).c_str(), &st) == 0 &&
                       static_cast<std::size_t>(st.st_size) <= kSegmentHeaderBytes;
    if (first > next_seq || (first == next_seq && !empty)) {
      why = "journal " + config.dir + ": " + name + " holds records from seq " +
            std::to_string(first) + ", at or after next_seq " + std::to_string(next_seq) +
            " (recover the journal first)";
      return nullptr;
    }
  }

  std::unique_ptr<Journal> j(new Journal());
  j->writer_ = std::make_unique<Writer>(*j);
  Writer& w = *j->writer_;
  w.config = config;
  w.config.segment_bytes = std::max<std::size_t>(config.segment_bytes, kSegmentHeaderBytes + 1);
  w.capacity = std::bit_ceil(std::max<std::size_t>(config.ring_bytes, 4096));
  j->mask_ = w.capacity - 1;
  j->ring_ = std::make_unique_for_overwrite<std::uint8_t[]>(w.capacity);
  if (!w.start_segment(next_seq, why)) {
    return nullptr;
  }
  if (const int rc = io_uring_queue_init(8, &w.ring, 0); rc < 0) {
    why = errno_text("io_uring_queue_init", -rc);
    ::close(w.fd);
    w.fd = -1;
    ::unlink(w.path(segment_name(next_seq)).c_str());
    return nullptr;
  }
  w.ring_ready = true;
  j->next_seq_ = next_seq;
  j->durable_seq_.store(next_seq - 1, std::memory_order_relaxed);
  w.open_segment.store(w.segment_first, std::memory_order_relaxed);
  w.thread = std::jthread([&w](const std::stop_token& stop) { w.run(stop); });
  w.snapshot_thread = std::jthread([&w](const std::stop_token& stop) { w.run_snapshots(stop); });
  return j;
}

Journal::~Journal() {
  if (writer_ && writer_->thread.joinable()) {
    writer_->thread.request_stop();
    writer_->thread.join();  // every record appended is written (and synced) now
  }
  if (writer_ && writer_->snapshot_thread.joinable()) {
    writer_->snapshot_thread.request_stop();
    writer_->snapshot_thread.join();
  }
}

bool Journal::append(std::uint64_t seq, std::span<const std::uint8_t> payload) {
  const std::size_t need = kHdr + payload.size();
  if (seq != next_seq_ || payload.size() > UINT32_MAX || need > mask_ + 1) {
    bump(JournalCounter::rejected);
    return false;
  }
  const std::uint64_t head = head_.load(std::memory_order_relaxed);  // ours
  if (mask_ + 1 - (head - tail_cache_) < need) {
    tail_cache_ = tail_.load(std::memory_order_acquire);  // pairs with the writer's release
    if (mask_ + 1 - (head - tail_cache_) < need) {
      bump(JournalCounter::ring_full);
      return false;
    }
  }
  std::uint8_t hdr[kHdr];
  store_le(hdr, static_cast<std::uint32_t>(payload.size()));
  store_le(hdr + 4, std::uint32_t{0});  // the writer fills in the checksum
  store_le(hdr + 8, seq);
  writer_->copy_in(head, hdr, kHdr);
  writer_->copy_in(head + kHdr, payload.data(), payload.size());
  head_.store(head + need, std::memory_order_release);  // pairs with the writer's acquire load
  ++next_seq_;
  return true;
}

void Journal::snapshot(std::uint64_t seq, std::vector<std::uint8_t> image) {
  if (seq <= last_snapshot_seq()) {
    return;
  }
  std::lock_guard lock(writer_->mutex);
  if (writer_->pending && writer_->pending->first >= seq) {
    return;
  }
  writer_->pending.emplace(seq, std::move(image));
  writer_->pending_image.reset();
  writer_->has_pending.store(true, std::memory_order_release);  // pairs with maybe_snapshot()
}

void Journal::snapshot(NodeImage image) {
  const std::uint64_t seq = image.seq;
  if (seq <= last_snapshot_seq()) {
    return;
  }
  std::lock_guard lock(writer_->mutex);
  if (writer_->pending && writer_->pending->first >= seq) {
    return;
  }
  writer_->pending.emplace(seq, std::vector<std::uint8_t>{});
  writer_->pending_image.emplace(std::move(image));
  writer_->has_pending.store(true, std::memory_order_release);  // pairs with maybe_snapshot()
}

std::string Journal::error() const {
  return failed() ? writer_->error : std::string();
}

std::string Journal::snapshot_error() const {
  std::lock_guard lock(writer_->mutex);
  return writer_->snapshot_error;
}

// ---- the read-only follower ---------------------------------------------------------------

namespace {

// Reads exactly n bytes at offset; false if the file holds fewer (or on an error, errno set).
bool pread_exact(int fd, std::uint8_t* p, std::size_t n, std::size_t offset, bool& error) {
  error = false;
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r < 0) {
      error = true;
      return false;
    }
    if (r == 0) {
      return false;
    }
    p += r;
    n -= static_cast<std::size_t>(r);
    offset += static_cast<std::size_t>(r);
  }
  return true;
}

}  // namespace

JournalReader::JournalReader(std::string dir) : dir_(std::move(dir)) {}

JournalReader::~JournalReader() { close_segment(); }

void JournalReader::close_segment() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
  fd_ = -1;
  segment_.clear();
}

// The directory no longer holds the file the reader has open (pruned, or the directory replaced).
bool JournalReader::replaced() const {
  struct stat open_st {};
  struct stat named_st {};
  if (fd_ < 0 || fstat(fd_, &open_st) != 0) {
    return true;
  }
  if (::stat((dir_ + "/" + segment_).c_str(), &named_st) != 0) {
    return true;
  }
  return open_st.st_ino != named_st.st_ino || open_st.st_dev != named_st.st_dev;
}

bool JournalReader::next_segment_starts_at(std::uint64_t seq) {
  struct stat st {};
  return ::stat((dir_ + "/" + segment_name(seq)).c_str(), &st) == 0;
}

JournalReader::Next JournalReader::locate(std::uint64_t seq, std::string& why) {
  close_segment();
  DirEntries entries;
  int err = 0;
  if (!list_dir(dir_, entries, why, err)) {
    if (err == ENOENT) {
      why.clear();
      return Next::Wait;
    }
    return Next::Error;
  }
  if (entries.segments.empty()) {
    earliest_ = 0;
    return Next::Wait;
  }
  earliest_ = entries.segments.front().first;
  const auto* chosen = static_cast<const std::pair<std::uint64_t, std::string>*>(nullptr);
  for (const auto& s : entries.segments) {
    if (s.first <= seq) {
      chosen = &s;
    }
  }
  if (chosen == nullptr) {
    return Next::Gap;
  }
  const std::string path = dir_ + "/" + chosen->second;
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    if (errno == ENOENT) {
      return Next::Wait;  // pruned between the listing and the open: list again next time
    }
    why = errno_text("open " + path, errno);
    return Next::Error;
  }
  std::uint8_t h[kSegmentHeaderBytes];
  bool error = false;
  if (!pread_exact(fd_, h, sizeof(h), 0, error)) {
    close_segment();
    if (error) {
      why = errno_text("read " + path, errno);
      return Next::Error;
    }
    return Next::Wait;  // the writer has not written the header yet
  }
  if (std::memcmp(h, kSegmentMagic, 8) != 0 || load_le<std::uint32_t>(h + 8) != kVersion ||
      load_le<std::uint64_t>(h + 16) != chosen->first) {
    close_segment();
    why = path + ": not a journal segment of version 1 starting at its name's seq";
    return Next::Error;
  }
  segment_ = chosen->second;
  offset_ = kSegmentHeaderBytes;
  next_in_file_ = chosen->first;
  return Next::Record;  // positioned; the caller reads on
}

JournalReader::Next JournalReader::read(std::uint64_t seq, std::vector<std::uint8_t>& payload,
                                        std::string& why) {
  // Two rounds at most: the open segment, then (after it ended or vanished) a fresh listing.
  for (int round = 0; round < 3; ++round) {
    if (fd_ < 0 || next_in_file_ > seq) {
      const Next at = locate(seq, why);
      if (at != Next::Record) {
        return at;
      }
    }
    bool torn = false;
    while (next_in_file_ <= seq) {
      std::uint8_t h[kHdr];
      bool error = false;
      if (!pread_exact(fd_, h, kHdr, offset_, error)) {
        if (error) {
          why = errno_text("read " + dir_ + "/" + segment_, errno);
          return Next::Error;
        }
        torn = true;
        break;
      }
      const std::uint32_t len = load_le<std::uint32_t>(h);
      const std::uint32_t crc = load_le<std::uint32_t>(h + 4);
      const std::uint64_t rseq = load_le<std::uint64_t>(h + 8);
      if (rseq != next_in_file_ || len > (64u << 20)) {
        torn = true;  // a record still being written, or the end of a cut segment
        break;
      }
      if (rseq < seq) {
        offset_ += kHdr + len;  // skipping to the one asked for
        ++next_in_file_;
        continue;
      }
      payload.resize(len);
      if (!pread_exact(fd_, payload.data(), len, offset_ + kHdr, error)) {
        if (error) {
          why = errno_text("read " + dir_ + "/" + segment_, errno);
          return Next::Error;
        }
        torn = true;
        break;
      }
      if (record_crc(rseq, payload.data(), len) != crc) {
        torn = true;
        break;
      }
      offset_ += kHdr + len;
      ++next_in_file_;
      return Next::Record;
    }
    if (!torn) {
      continue;
    }
    // The open segment has nothing more yet. The writer may have moved on to the next segment,
    // the segment may have been pruned, or the directory replaced.
    if (next_segment_starts_at(next_in_file_) || replaced()) {
      close_segment();
      continue;
    }
    return Next::Wait;
  }
  return Next::Wait;
}

bool JournalReader::newest_snapshot(std::uint64_t& seq, std::vector<std::uint8_t>& image,
                                    std::string& why) {
  seq = 0;
  image.clear();
  DirEntries entries;
  int err = 0;
  if (!list_dir(dir_, entries, why, err)) {
    return false;
  }
  for (const auto& [s, name] : entries.snapshots) {
    std::vector<std::uint8_t> file;
    std::string ignored;
    if (!read_file(dir_ + "/" + name, file, ignored) || !check_snapshot(file, s, ignored)) {
      continue;
    }
    seq = s;
    image.assign(file.begin() + kSnapshotHeaderBytes, file.end());
    return true;
  }
  return false;
}

}  // namespace acd::dataplane
