// Replies a test fixture's send() got back at once and kept for a later wait_for_reply(): a
// verifier thread may answer a sign-in within the very poll that delivered it.
#pragma once

#include <utility>
#include <vector>

#include "acd/dataplane/port.hpp"

namespace acd::dataplane {

template <typename Reply>
class KeptReplies {
 public:
  void keep(const Endpoint& to, std::vector<Reply> replies) {
    for (Reply& r : replies) {
      kept_.emplace_back(to, std::move(r));
    }
  }
  // The replies kept for `to`, in arrival order; they are kept no longer.
  std::vector<Reply> take(const Endpoint& to) {
    std::vector<Reply> out;
    std::vector<std::pair<Endpoint, Reply>> rest;
    for (auto& [at, r] : kept_) {
      if (at == to) {
        out.push_back(std::move(r));
      } else {
        rest.emplace_back(at, std::move(r));
      }
    }
    kept_ = std::move(rest);
    return out;
  }

 private:
  std::vector<std::pair<Endpoint, Reply>> kept_;
};

}  // namespace acd::dataplane
