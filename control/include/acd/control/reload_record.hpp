// A configuration reload as the sequenced log carries it: what the primary's routing core
// installed (the merged routing domain, its skill names, and whether the engine was swapped), so
// that a standby and a journal replay install exactly the same configuration at the same place in
// the sequence, through the same routing-core commands (Reconfigure or SwapEngine).
//
// Encoding (little-endian, ConfigTag::log_payload): u32 magic "ACDR", u8 version, u8 kind (1: in
// place, 2: engine swap), the skill names, then the domain field by field (queues with their rules
// and skills, agents with their skills and capacities). The node-local rest of the configuration
// (addresses, [ha], [journal], security) is never carried: each node keeps its own.
//
// Threads: encode/decode are pure. ReloadFollower: prepare/finish on the replaying thread (the
// standby's follow loop, start-up's journal replay), latest() on any thread.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "acd/control/config.hpp"
#include "acd/control/result.hpp"
#include "acd/dataplane/control_channel.hpp"

namespace acd::control {

enum class ReloadKind : std::uint8_t { InPlace = 1, EngineSwap = 2 };

// The payload for a reload that installs `merged` (merge_for_reload's result).
std::vector<std::uint8_t> encode_reload(const ApplianceConfig& merged, ReloadKind kind);

struct DecodedReload {
  ReloadKind kind = ReloadKind::InPlace;
  std::vector<std::string> skill_names;
  router::EngineConfig domain;
};
// Reads a payload; a Failure (Refused) names what is wrong: truncated, trailing bytes, unknown
// version or kind, a value out of range, or a domain validate_config refuses.
Result<DecodedReload> decode_reload(std::span<const std::uint8_t> payload);

// The follower's side (dataplane::ConfigReplayer): turns each reload record into the command the
// primary ran, on top of this node's own configuration, and keeps every configuration it
// installed alive (snapshots and the control plane point at them).
class ReloadFollower final : public dataplane::ConfigReplayer {
 public:
  // `start`: the configuration this node started with; it outlives the follower.
  explicit ReloadFollower(const ApplianceConfig& start) : start_(start) {}

  bool prepare(std::span<const std::uint8_t> payload, bool fresh_engine,
               dataplane::Command& command, const dataplane::ConfigTag*& tag,
               std::string& why) override;
  void finish(bool applied) override;

  // Any thread: the configuration the last reload applied here installed (null: none), and how
  // many were applied (the control thread adopts a new one when this grows).
  ApplianceConfig* latest() const;
  std::uint64_t applied() const;

 private:
  const ApplianceConfig& start_;
  // Replaying thread only.
  ApplianceConfig* running_ = nullptr;
  std::list<ApplianceConfig> configs_;  // every configuration prepared and kept; stable addresses
  bool preparing_ = false;
  std::unique_ptr<dataplane::EngineSwap> swap_;  // a prepared swap (then the engine it replaced)

  mutable std::mutex mutex_;  // guards latest_ and applied_
  ApplianceConfig* latest_ = nullptr;
  std::uint64_t applied_ = 0;
};

}  // namespace acd::control
