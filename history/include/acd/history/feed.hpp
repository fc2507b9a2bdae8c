// The history feed as one more reader of the sequenced log: a follower engine applies each input
// (as the standby does) and the deriver turns the input and the decisions it caused into records.
// Runs on a control thread, never on the routing core: the routing core is not asked for anything.
//
// Threading: one thread owns a Feed. Allocates.
#pragma once

#include <cstdint>
#include <span>
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

  // A reload at input `seq` of the log (a ConfigChange record, at `time`), as the routing core
  // applies one: time first (due timers fire), then `next` installed in place
  // (Engine::reconfigure) or, when `swap`, by a new engine taking over (Engine::take_over, whose
  // decisions are real: free agents take waiting calls). The deriver sees the decisions and the
  // new queue parameters. A reload the engine refuses changes no configuration, as on the node
  // that logged it. Returns false, changing nothing, if seq is not greater than the last one;
  // `refused` says whether the engine refused the reload.
  bool apply_reload(std::uint64_t seq, Micros time, const router::EngineConfig& next, bool swap,
                    Records& out, bool& refused) {
    if (seq <= last_seq_) {
      return false;
    }
    last_seq_ = seq;
    decisions_.clear();
    router::Event tick;
    tick.time = time;
    auto sink = [this](const router::Decision& d) { decisions_.push_back(d); };
    engine_.apply(tick, sink);
    if (swap) {
      router::Engine fresh(next);
      refused = !fresh.take_over(engine_, sink).ok();
      if (!refused) {
        engine_ = std::move(fresh);
      }
    } else {
      refused = !engine_.reconfigure(next);
    }
    if (!refused) {
      (void)deriver_.reconfigure(next);
    }
    return deriver_.apply(seq, tick, decisions_, out);
  }

  // Checkpoint: the follower engine's snapshot and the deriver's state, both after input
  // last_seq(). restore() takes the two from a Feed built from the same configuration; false,
  // changing nothing, if either does not fit.
  std::vector<std::uint8_t> engine_image() const { return engine_.snapshot(); }
  std::vector<std::uint8_t> deriver_image() const { return deriver_.save(); }
  [[nodiscard]] bool restore(std::uint64_t seq, std::span<const std::uint8_t> engine_image,
                             std::span<const std::uint8_t> deriver_image) {
    Deriver deriver = deriver_;
    if (!deriver.restore(deriver_image) || deriver.last_seq() > seq) {
      return false;
    }
    if (!engine_.restore(engine_image)) {
      return false;
    }
    deriver_ = std::move(deriver);
    last_seq_ = seq;
    return true;
  }

  // After a gap in the log: the engine from an image taken at `seq` (a journal snapshot), the
  // deriver left as built (empty). For a Feed just built from the image's configuration; false,
  // changing nothing, if the image does not fit.
  [[nodiscard]] bool restore_engine(std::uint64_t seq, std::span<const std::uint8_t> image) {
    if (!engine_.restore(image)) {
      return false;
    }
    last_seq_ = seq;
    return true;
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
