#pragma once
// An array of N zero-initialised T in anonymous memory that the kernel maps page by page on first
// write. Construction costs a system call, not N * sizeof(T) bytes of stores: a large ring built at
// a latency-sensitive moment (a node becoming primary, its standby's link waiting on it) takes
// its page faults spread over its first uses instead of all at once.
#include <sys/mman.h>
#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace acd::control {

template <typename T>
class ZeroPages {
  // Zero bytes must be a valid T whose lifetime begins without a constructor call.
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);

 public:
  explicit ZeroPages(std::size_t n) : n_(n) {
    void* p = mmap(nullptr, bytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      throw std::bad_alloc();
    }
    data_ = static_cast<T*>(p);
  }
  ~ZeroPages() {
    if (data_ != nullptr) {
      munmap(data_, bytes());
    }
  }
  ZeroPages(const ZeroPages&) = delete;
  ZeroPages& operator=(const ZeroPages&) = delete;
  ZeroPages(ZeroPages&& o) noexcept : data_(std::exchange(o.data_, nullptr)), n_(o.n_) {}
  ZeroPages& operator=(ZeroPages&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(n_, o.n_);
    return *this;
  }

  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  std::size_t size() const { return n_; }

 private:
  std::size_t bytes() const { return n_ * sizeof(T); }
  T* data_ = nullptr;
  std::size_t n_ = 0;
};

}  // namespace acd::control
