#include "acd/dataplane/uring_port.hpp"

#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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
          } else {
            to_recycle.push_back(id);  // nothing to hand out: the buffer goes straight back
          }
        }
      }
      io_uring_cqe_seen(&ring, cqe);
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

  if (const int rc = io_uring_queue_init(kRingEntries, &impl->ring, 0); rc < 0) {
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
  if (const int rc = io_uring_register_buf_ring(&impl->ring, &reg, 0); rc < 0) {
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
  while (n < out.size() && p.arrived_count > 0) {
    const Impl::Arrived& a = p.arrived[p.arrived_head];
    p.arrived_head = (p.arrived_head + 1) % p.arrived.size();
    --p.arrived_count;
    p.to_recycle.push_back(a.buffer);
    out[n++] = Datagram{a.from, std::span<const std::uint8_t>(a.payload, a.length)};
  }
  return n;
}

std::size_t UringPort::send(std::span<const Datagram> datagrams) {
  Impl& p = *impl_;
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

int UringPort::completion_fd() const {
  return impl_->ring.ring_fd;
}

void UringPort::wait(unsigned timeout_us) {
  io_uring_cqe* cqe = nullptr;
  __kernel_timespec ts{0, static_cast<long long>(timeout_us) * 1000};
  io_uring_wait_cqe_timeout(&impl_->ring, &cqe, &ts);
}

}  // namespace acd::dataplane
