#pragma once
// Node image buffers kept for the next capture.
//
// The routing core copies the engine into a node image (router::Engine::snapshot_into). A fresh
// buffer of tens or hundreds of MB costs a page fault per 4 KiB on its first touch, all on the
// routing core: on a virtual machine the default centre's 12 MB capture took 50-60 ms idle and
// over 200 ms loaded, long enough for a standby to think its primary dead. So the image's last
// reader (the journal's image thread once it has encoded it, or the shipper once it has encoded
// it for a standby) gives the engine bytes back, and the next capture takes them with their pages
// already touched. One buffer is kept, the largest given; acdd also gives one of the engine's
// image size at start-up, touched on a thread of its own.
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

namespace acd::dataplane {

class ImageBuffers {
 public:
  // The kept buffer (its size that of the image it held), or an empty one when none is kept or
  // another thread is giving one back right now (the routing core never waits here).
  std::vector<std::uint8_t> take() {
    std::unique_lock lock(mutex_, std::try_to_lock);
    if (!lock.owns_lock()) {
      return {};
    }
    return std::exchange(kept_, {});
  }
  // Keeps `bytes` if larger than the one kept; the other is freed here, on the giver's thread.
  void give(std::vector<std::uint8_t>&& bytes) {
    std::vector<std::uint8_t> dropped;
    {
      std::lock_guard lock(mutex_);
      if (bytes.capacity() > kept_.capacity()) {
        dropped = std::exchange(kept_, std::move(bytes));
      } else {
        dropped = std::move(bytes);
      }
    }
  }
  std::size_t kept_bytes() {
    std::lock_guard lock(mutex_);
    return kept_.capacity();
  }

 private:
  std::mutex mutex_;
  std::vector<std::uint8_t> kept_;
};

// The process's.
inline ImageBuffers& image_buffers() {
  static ImageBuffers buffers;
  return buffers;
}

}  // namespace acd::dataplane
