// The history feed as one more reader of the sequenced log: a follower engine applies each input
// (as the standby does) and the deriver turns the input and the decisions it caused into records.
// Runs on a control thread, never on the routing core: the routing core is not asked for anything.
//
// Threading: one thread owns a Feed. Allocates.
#pragma once

#include <cstdint>
#include <vector>

#include "acd/history/deriver.hpp"
#include "acd/router/engine.hpp"

namespace acd::history {

class Feed {
 public:
  // Precondition: router::validate_config(engine) is empty (the configuration the log ran under).
  Feed(const router::EngineConfig& engine, const DeriverConfig& config)
      : engine_(engine), deriver_(engine, config) {}

  // Applies input `seq` of the log; appends what it closed to `out`. Returns false, changing
  // nothing, if seq is not greater than the last one applied (a replayed input).
  bool apply(std::uint64_t seq, const router::Event& input, Records& out) {
    if (seq <= last_seq_) {
      return false;
    }
    last_seq_ = seq;
    decisions_.clear();
    engine_.apply(input, [this](const router::Decision& d) { decisions_.push_back(d); });
    return deriver_.apply(seq, input, decisions_, out);
  }

  std::uint64_t last_seq() const { return last_seq_; }
  const router::Engine& engine() const { return engine_; }
  Deriver& deriver() { return deriver_; }

 private:
  router::Engine engine_;
  Deriver deriver_;
  std::vector<router::Decision> decisions_;
  std::uint64_t last_seq_ = 0;
};

}  // namespace acd::history
