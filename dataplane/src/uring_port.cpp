#include "acd/dataplane/uring_port.hpp"

#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

namespace acd::dataplane {

namespace {

constexpr unsigned kRingEntries = 1024;     // submission queue
constexpr unsigned kRecvBuffers = 4096;     // provided buffers (power of two)
constexpr unsigned kRecvBufferSize = 2048;  // header + address + payload of one datagram
constexpr unsigned kSendSlots = 1024;
constexpr unsigned kSendBufferSize = 1536;
constexpr std::uint64_t kRecvTag = 1ull << 62;
constexpr std::uint64_t kSendTag = 1ull << 61;
constexpr int kBufferGroup = 7;

std::uint64_t now_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// A latency histogram with four buckets an octave (quarter microseconds below 2 µs): good to
// about 20 %, no allocation.
struct Histogram {
  std::array<std::uint64_t, 160> counts{};
  std::uint64_t total = 0;
  std::uint64_t max_ns = 0;
  static unsigned bucket(std::uint64_t ns) {
    const std::uint64_t q = ns / 250;
    if (q < 8) {
      return static_cast<unsigned>(q);
    }
    const unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(q));
    const unsigned b = 8 + (msb - 3) * 4 + static_cast<unsigned>((q >> (msb - 2)) & 3);
    return b < 159 ? b : 159;
  }
  static std::uint64_t upper_ns(unsigned b) {  // the lowest value of the next bucket
    ++b;
    if (b < 8) {
      return b * 250u;
    }
    const unsigned msb = (b - 8) / 4 + 3;
    return ((4u + (b - 8) % 4) << (msb - 2)) * 250u;
  }
  void add(std::uint64_t ns) {
    ++counts[bucket(ns)];
    ++total;
    max_ns = ns > max_ns ? ns : max_ns;
  }
  double quantile_us(double q) const {
    if (total == 0) {
      return 0;
    }
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total - 1)) + 1;
    std::uint64_t seen = 0;
    for (unsigned b = 0; b < counts.size(); ++b) {
      seen += counts[b];
      if (seen >= rank) {
        return static_cast<double>(upper_ns(b)) / 1000.0;
      }
    }
    return static_cast<double>(max_ns) / 1000.0;
  }
};

// UringPort::trace_stages: what one second of receiving looked like (printed, then reset).
struct StageTrace {
  std::uint64_t window_start = 0;  // CLOCK_MONOTONIC
  std::uint64_t datagrams = 0;
  std::uint64_t inits = 0;          // handshake inits (ACDP/2 type 0x81) among them
  std::uint64_t untimed = 0;        // without a kernel timestamp
  std::uint64_t batches = 0;        // receive() calls that handed something out
  std::array<std::uint64_t, 6> batch_sizes{};  // 1, 2-3, 4-7, 8-15, 16-31, 32+
  std::uint64_t waits = 0;          // wait() calls
  std::uint64_t waits_timed_out = 0;
  Histogram kernel_to_reap;         // the kernel's receive timestamp -> its completion taken
  Histogram kernel_to_handout;      // ... -> handed to the caller by receive()
  Histogram cycle;                  // receive() handing out -> the next send() or receive()
  std::uint64_t cycle_open = 0;     // when the open cycle's receive() handed out (0: none)

  void close_cycle(std::uint64_t now) {
    if (cycle_open != 0) {
      cycle.add(now - cycle_open);
      cycle_open = 0;
    }
  }
  void maybe_print(std::uint64_t now) {
    if (window_start == 0) {
      window_start = now;
      return;
    }
    if (now - window_start < 1'000'000'000u) {
      return;
    }
    const double secs = static_cast<double>(now - window_start) / 1e9;
    std::fprintf(stderr,
                 "acdd: port stages: %.0f datagrams/s (%.0f inits/s, %llu untimed), %.0f batches/s "
                 "(sizes 1:%llu 2-3:%llu 4-7:%llu 8-15:%llu 16-31:%llu 32+:%llu), %.0f waits/s "
                 "(%.0f/s timed out); us p50/p90/p99/max: kernel->reap %.1f/%.1f/%.1f/%.1f, "
                 "kernel->handout %.1f/%.1f/%.1f/%.1f, cycle %.1f/%.1f/%.1f/%.1f\n",
                 static_cast<double>(datagrams) / secs, static_cast<double>(inits) / secs,
                 static_cast<unsigned long long>(untimed), static_cast<double>(batches) / secs,
                 static_cast<unsigned long long>(batch_sizes[0]),
                 static_cast<unsigned long long>(batch_sizes[1]),
                 static_cast<unsigned long long>(batch_sizes[2]),
                 static_cast<unsigned long long>(batch_sizes[3]),
                 static_cast<unsigned long long>(batch_sizes[4]),
                 static_cast<unsigned long long>(batch_sizes[5]),
                 static_cast<double>(waits) / secs, static_cast<double>(waits_timed_out) / secs,
                 kernel_to_reap.quantile_us(0.5), kernel_to_reap.quantile_us(0.9),
                 kernel_to_reap.quantile_us(0.99), static_cast<double>(kernel_to_reap.max_ns) / 1e3,
                 kernel_to_handout.quantile_us(0.5), kernel_to_handout.quantile_us(0.9),
                 kernel_to_handout.quantile_us(0.99),
                 static_cast<double>(kernel_to_handout.max_ns) / 1e3, cycle.quantile_us(0.5),
                 cycle.quantile_us(0.9), cycle.quantile_us(0.99),
                 static_cast<double>(cycle.max_ns) / 1e3);
    const std::uint64_t open = cycle_open;
    *this = StageTrace{};
    window_start = now;
    cycle_open = open;
  }
};

}  // namespace

struct UringPort::Impl {
  int fd = -1;
  io_uring ring{};
  bool ring_ready = false;
  io_uring_buf_ring* buffers = nullptr;
  std::size_t buffers_bytes = 0;
  std::vector<std::uint8_t> recv_memory;
  msghdr recv_msg{};
  bool recv_armed = false;
  std::vector<std::uint16_t> to_recycle;  // buffers lent out by the last receive()
  // Datagrams the kernel delivered that receive() has not handed out yet (completions are taken
  // in order, so a send's completion behind a burst of arrivals is reached only by taking the
  // arrivals too). At most one per provided buffer: sized once.
  struct Arrived {
    Endpoint from;
    const std::uint8_t* payload;
    unsigned length;
    std::uint16_t buffer;
    std::uint64_t kernel_ns;  // trace_stages: the kernel's receive time (CLOCK_REALTIME), 0 if none
  };
  std::vector<Arrived> arrived = std::vector<Arrived>(kRecvBuffers);
  std::size_t arrived_head = 0;
  std::size_t arrived_count = 0;
  // Send slots whose sendmsg the socket refused for want of room (EAGAIN, ENOBUFS): submitted
  // again, in order, at the next receive() or send(), before anything new.
  std::vector<std::uint32_t> retry;
  struct SendSlot {
    sockaddr_in to{};
    iovec iov{};
    msghdr msg{};
    std::uint8_t bytes[kSendBufferSize];
  };
  std::vector<SendSlot> send_slots = std::vector<SendSlot>(kSendSlots);
  std::vector<std::uint32_t> free_send;
  unsigned pending_sqes = 0;
  Endpoint local{};
  // trace_stages(): the kernel's receive timestamp of each datagram (SO_TIMESTAMPNS, in the
  // recvmsg's control data) and the per-second summary. Off: no control data, no clock reads.
  bool tracing = false;
  StageTrace trace;

  ~Impl() {
    if (ring_ready) {
      if (buffers != nullptr) {
        io_uring_unregister_buf_ring(&ring, kBufferGroup);
      }
      io_uring_queue_exit(&ring);
    }
    if (buffers != nullptr) {
      munmap(buffers, buffers_bytes);
    }
    if (fd >= 0) {
      close(fd);
    }
  }

  std::uint8_t* buffer(unsigned id) {
    return recv_memory.data() + static_cast<std::size_t>(id) * kRecvBufferSize;
  }

  void give_back(unsigned id, unsigned index) {
    io_uring_buf_ring_add(buffers, buffer(id), kRecvBufferSize, static_cast<unsigned short>(id),
                          io_uring_buf_ring_mask(kRecvBuffers), static_cast<int>(index));
  }

  io_uring_sqe* sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    if (s == nullptr) {
      io_uring_submit(&ring);
      pending_sqes = 0;
      s = io_uring_get_sqe(&ring);
    }
    return s;
  }

  // False if the submission queue has no entry even after a submit (the slot stays the caller's).
  bool submit_send(std::uint32_t slot) {
    io_uring_sqe* s = sqe();
    if (s == nullptr) {
      return false;
    }
    io_uring_prep_sendmsg(s, fd, &send_slots[slot].msg, 0);
    io_uring_sqe_set_data64(s, kSendTag | slot);
    ++pending_sqes;
    return true;
  }

  // Takes every completion waiting: sends free their slot (or wait for a retry), arrivals go to
  // `arrived`. Never blocks.
  void reap() {
    io_uring_cqe* cqe = nullptr;
    while (io_uring_peek_cqe(&ring, &cqe) == 0) {
      const std::uint64_t tag = io_uring_cqe_get_data64(cqe);
      if (tag & kSendTag) {
        const auto slot = static_cast<std::uint32_t>(tag & 0xFFFF'FFFFu);
        if ((cqe->res == -EAGAIN || cqe->res == -ENOBUFS) && retry.size() < kSendSlots) {
          retry.push_back(slot);  // the socket's buffer was full: the datagram waits its turn
        } else {
          free_send.push_back(slot);
        }
      } else if (tag == kRecvTag) {
        if ((cqe->flags & IORING_CQE_F_MORE) == 0) {
          recv_armed = false;  // ended (e.g. out of buffers): armed again next time
        }
        if (cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER) != 0) {
          const auto id = static_cast<std::uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
          io_uring_recvmsg_out* o = io_uring_recvmsg_validate(buffer(id), cqe->res, &recv_msg);
          if (o != nullptr && (o->flags & MSG_TRUNC) == 0 && o->namelen >= sizeof(sockaddr_in) &&
              arrived_count < arrived.size()) {
            const auto* from = static_cast<const sockaddr_in*>(io_uring_recvmsg_name(o));
            Arrived& a = arrived[(arrived_head + arrived_count++) % arrived.size()];
            a.from = Endpoint{from->sin_addr.s_addr, from->sin_port, 0};
            a.payload = static_cast<const std::uint8_t*>(io_uring_recvmsg_payload(o, &recv_msg));
            a.length = io_uring_recvmsg_payload_length(o, cqe->res, &recv_msg);
            a.buffer = id;
            a.kernel_ns = 0;
            if (tracing) {
              note_arrival(a, o);
            }
          } else {
            to_recycle.push_back(id);  // nothing to hand out: the buffer goes straight back
          }
        }
      }
      io_uring_cqe_seen(&ring, cqe);
    }
  }

  void note_arrival(Arrived& a, io_uring_recvmsg_out* o) {
    for (cmsghdr* c = io_uring_recvmsg_cmsg_firsthdr(o, &recv_msg); c != nullptr;
         c = io_uring_recvmsg_cmsg_nexthdr(o, &recv_msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
        timespec ts{};
        std::memcpy(&ts, CMSG_DATA(c), sizeof(ts));
        a.kernel_ns = static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
                      static_cast<std::uint64_t>(ts.tv_nsec);
      }
    }
    if (a.kernel_ns != 0) {
      const std::uint64_t now = now_ns(CLOCK_REALTIME);
      trace.kernel_to_reap.add(now > a.kernel_ns ? now - a.kernel_ns : 0);
    }
  }

  // Sends refused for want of room go again, oldest first.
  void resubmit() {
    std::size_t done = 0;
    while (done < retry.size() && submit_send(retry[done])) {
      ++done;
    }
    retry.erase(retry.begin(), retry.begin() + static_cast<std::ptrdiff_t>(done));
  }

  void arm_recv() {
    io_uring_sqe* s = sqe();
    if (s == nullptr) {
      return;
    }
    io_uring_prep_recvmsg_multishot(s, fd, &recv_msg, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = kBufferGroup;
    io_uring_sqe_set_data64(s, kRecvTag);
    ++pending_sqes;
    recv_armed = true;
  }
};

std::unique_ptr<UringPort> UringPort::create(const Endpoint& local, std::string& error) {
  auto impl = std::make_unique<Impl>();
  impl->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (impl->fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return nullptr;
  }
  const int size = 8 << 20;
  setsockopt(impl->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  setsockopt(impl->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = local.address;
  addr.sin_port = local.port;
  if (bind(impl->fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    error = "bind " + to_string(local) + ": " + std::strerror(errno);
    return nullptr;
  }
  socklen_t len = sizeof(addr);
  getsockname(impl->fd, reinterpret_cast<sockaddr*>(&addr), &len);
  impl->local = Endpoint{addr.sin_addr.s_addr, addr.sin_port, 0};

  // COOP_TASKRUN: an arrival while the polling thread runs does not interrupt it (no IPI, no
  // trip through the kernel per datagram); the kernel flags the ring (TASKRUN_FLAG) and the
  // thread's next peek enters the kernel once for every arrival since. Kernels without it: 0.
  int rc = io_uring_queue_init(kRingEntries, &impl->ring,
                               IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG);
  if (rc == -EINVAL) {
    rc = io_uring_queue_init(kRingEntries, &impl->ring, 0);
  }
  if (rc < 0) {
    error = std::string("io_uring_queue_init: ") + std::strerror(-rc);
    return nullptr;
  }
  impl->ring_ready = true;
  impl->buffers_bytes = kRecvBuffers * sizeof(io_uring_buf);
  void* mem = mmap(nullptr, impl->buffers_bytes, PROT_READ | PROT_WRITE,
                   MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    error = std::string("mmap: ") + std::strerror(errno);
    return nullptr;
  }
  impl->buffers = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(impl->buffers);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(impl->buffers);
  reg.ring_entries = kRecvBuffers;
  reg.bgid = kBufferGroup;
  if (rc = io_uring_register_buf_ring(&impl->ring, &reg, 0); rc < 0) {
    munmap(impl->buffers, impl->buffers_bytes);
    impl->buffers = nullptr;
    error = std::string("io_uring_register_buf_ring: ") + std::strerror(-rc);
    return nullptr;
  }
  impl->recv_memory.resize(static_cast<std::size_t>(kRecvBuffers) * kRecvBufferSize);
  for (unsigned i = 0; i < kRecvBuffers; ++i) {
    impl->give_back(i, i);
  }
  io_uring_buf_ring_advance(impl->buffers, kRecvBuffers);
  impl->recv_msg.msg_namelen = sizeof(sockaddr_in);
  impl->recv_msg.msg_controllen = 0;
  impl->free_send.reserve(kSendSlots);
  impl->retry.reserve(kSendSlots);
  impl->to_recycle.reserve(kRecvBuffers);
  for (unsigned i = 0; i < kSendSlots; ++i) {
    impl->free_send.push_back(kSendSlots - 1 - i);
  }
  impl->arm_recv();
  io_uring_submit(&impl->ring);
  impl->pending_sqes = 0;
  return std::unique_ptr<UringPort>(new UringPort(std::move(impl)));
}

UringPort::UringPort(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
UringPort::~UringPort() = default;

Endpoint UringPort::local() const {
  return impl_->local;
}

std::size_t UringPort::receive(std::span<Datagram> out) {
  Impl& p = *impl_;
  // The previous burst's buffers go back to the kernel now that their payloads are consumed.
  for (unsigned i = 0; i < p.to_recycle.size(); ++i) {
    p.give_back(p.to_recycle[i], i);
  }
  if (!p.to_recycle.empty()) {
    io_uring_buf_ring_advance(p.buffers, static_cast<int>(p.to_recycle.size()));
    p.to_recycle.clear();
  }
  if (!p.recv_armed) {
    p.arm_recv();
  }
  p.resubmit();
  if (p.pending_sqes > 0) {
    io_uring_submit(&p.ring);
    p.pending_sqes = 0;
  }
  p.reap();
  std::size_t n = 0;
  const std::uint64_t handout = p.tracing && p.arrived_count > 0 ? now_ns(CLOCK_REALTIME) : 0;
  while (n < out.size() && p.arrived_count > 0) {
    const Impl::Arrived& a = p.arrived[p.arrived_head];
    p.arrived_head = (p.arrived_head + 1) % p.arrived.size();
    --p.arrived_count;
    p.to_recycle.push_back(a.buffer);
    out[n++] = Datagram{a.from, std::span<const std::uint8_t>(a.payload, a.length)};
    if (p.tracing) {
      ++p.trace.datagrams;
      p.trace.inits += a.length > 5 && a.payload[5] == 0x81 ? 1 : 0;
      if (a.kernel_ns == 0) {
        ++p.trace.untimed;
      } else {
        p.trace.kernel_to_handout.add(handout > a.kernel_ns ? handout - a.kernel_ns : 0);
      }
    }
  }
  if (p.tracing) {
    const std::uint64_t now = now_ns(CLOCK_MONOTONIC);
    p.trace.close_cycle(now);
    if (n > 0) {
      ++p.trace.batches;
      ++p.trace.batch_sizes[std::min<std::size_t>(5, std::bit_width(n) - 1)];
      p.trace.cycle_open = now;
    }
    p.trace.maybe_print(now);
  }
  return n;
}

std::size_t UringPort::send(std::span<const Datagram> datagrams) {
  Impl& p = *impl_;
  if (p.tracing) {
    p.trace.close_cycle(now_ns(CLOCK_MONOTONIC));
  }
  p.resubmit();  // what the socket refused before leaves first
  std::size_t accepted = 0;
  for (const Datagram& d : datagrams) {
    if (d.payload.size() > kSendBufferSize) {
      break;
    }
    if (p.free_send.empty()) {
      // Every slot is in flight or its completion waits behind arrivals: submit what is queued
      // and take the completions (arrivals are kept for receive()).
      if (p.pending_sqes > 0) {
        io_uring_submit(&p.ring);
        p.pending_sqes = 0;
      }
      p.reap();
      p.resubmit();
      if (p.free_send.empty()) {
        break;
      }
    }
    const std::uint32_t slot = p.free_send.back();
    p.free_send.pop_back();
    Impl::SendSlot& ss = p.send_slots[slot];
    std::memcpy(ss.bytes, d.payload.data(), d.payload.size());
    ss.to = sockaddr_in{};
    ss.to.sin_family = AF_INET;
    ss.to.sin_addr.s_addr = d.peer.address;
    ss.to.sin_port = d.peer.port;
    ss.iov = iovec{ss.bytes, d.payload.size()};
    ss.msg = msghdr{};
    ss.msg.msg_name = &ss.to;
    ss.msg.msg_namelen = sizeof(ss.to);
    ss.msg.msg_iov = &ss.iov;
    ss.msg.msg_iovlen = 1;
    if (!p.submit_send(slot)) {
      p.retry.push_back(slot);  // copied: it leaves with the next submission
    }
    ++accepted;
  }
  if (p.pending_sqes > 0) {
    io_uring_submit(&p.ring);
    p.pending_sqes = 0;
  }
  return accepted;
}

int UringPort::socket_fd() const {
  return impl_->fd;
}

int UringPort::completion_fd() const {
  return impl_->ring.ring_fd;
}

void UringPort::wait(unsigned timeout_us) {
  io_uring_cqe* cqe = nullptr;
  __kernel_timespec ts{0, static_cast<long long>(timeout_us) * 1000};
  const int rc = io_uring_wait_cqe_timeout(&impl_->ring, &cqe, &ts);
  if (impl_->tracing) {
    ++impl_->trace.waits;
    impl_->trace.waits_timed_out += rc == -ETIME ? 1 : 0;
  }
}

bool UringPort::trace_stages(std::string& error) {
  Impl& p = *impl_;
  const int on = 1;
  if (setsockopt(p.fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) != 0) {
    error = std::string("SO_TIMESTAMPNS: ") + std::strerror(errno);
    return false;
  }
  // The multishot recvmsg takes its control length from recv_msg when armed: armed again below.
  p.recv_msg.msg_controllen = CMSG_SPACE(sizeof(timespec));
  io_uring_sqe* s = p.sqe();
  if (s == nullptr) {
    error = "no submission entry";
    return false;
  }
  io_uring_prep_cancel64(s, kRecvTag, 0);
  io_uring_sqe_set_data64(s, 0);
  io_uring_submit(&p.ring);
  p.pending_sqes = 0;
  p.tracing = true;
  return true;
}

}  // namespace acd::dataplane
