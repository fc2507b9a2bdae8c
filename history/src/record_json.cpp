// The history records as JSON for Kafka (docs/kafka.md "Schema"), and their keys.
#include "acd/history/record_json.hpp"

#include <charconv>
#include <nlohmann/json.hpp>

namespace acd::history {

namespace {

using Json = nlohmann::ordered_json;  // fields in the documented order

// A queue or agent index; router::kNone (absent) is null.
Json index(std::uint32_t v) {
  return v == router::kNone ? Json(nullptr) : Json(v);
}

Json head(RecordType type, RecordId id) {
  Json j;
  j["schema"] = kExportSchemaVersion;
  j["kind"] = kind_name(type);
  j["seq"] = id.seq;
  j["index"] = id.index;
  return j;
}

}  // namespace

std::string_view kind_name(RecordType k) {
  static constexpr std::string_view kNames[] = {"call", "agent_state", "queue_interval",
                                                "agent_interval"};
  return kNames[static_cast<int>(k)];
}

std::string_view topic_suffix(RecordType k) {
  static constexpr std::string_view kNames[] = {"calls", "agent_states", "queue_intervals",
                                                "agent_intervals"};
  return kNames[static_cast<int>(k)];
}

std::string record_key(RecordId id) {
  return std::to_string(id.seq) + "/" + std::to_string(id.index);
}

std::optional<RecordId> parse_record_key(std::string_view key) {
  RecordId id;
  const char* p = key.data();
  const char* end = p + key.size();
  auto r = std::from_chars(p, end, id.seq);
  if (r.ec != std::errc() || r.ptr == end || *r.ptr != '/') {
    return std::nullopt;
  }
  r = std::from_chars(r.ptr + 1, end, id.index);
  if (r.ec != std::errc() || r.ptr != end) {
    return std::nullopt;
  }
  return id;
}

std::string to_json(const CallDetail& r) {
  Json j = head(RecordType::Call, r.id);
  j["call"] = r.call;
  j["outbound"] = r.outbound;
  j["verification"] = r.verification;
  j["priority"] = r.priority;
  j["tier"] = r.tier;
  j["outcome"] = to_string(r.outcome);
  j["status"] = router::to_string(r.status);
  const bool out = r.outcome == CallOutcome::OverflowedOut;
  j["overflow_action"] = out ? Json(router::to_string(r.overflow_action)) : Json(nullptr);
  j["overflow_target"] = out ? Json(r.overflow_target) : Json(nullptr);
  j["arrived"] = r.arrived;
  j["answered"] = r.answered == 0 ? Json(nullptr) : Json(r.answered);
  j["ended"] = r.ended;
  j["first_queue"] = index(r.first_queue);
  j["last_queue"] = index(r.last_queue);
  j["first_agent"] = index(r.first_agent);
  j["last_agent"] = index(r.last_agent);
  j["offers"] = r.offers;
  j["ring_no_answers"] = r.ring_no_answers;
  j["overflows"] = r.overflows;
  j["transfers"] = r.transfers;
  j["holds"] = r.holds;
  j["wait_us"] = r.wait_us;
  j["talk_us"] = r.talk_us;
  j["hold_us"] = r.hold_us;
  j["wrap_us"] = r.wrap_us;
  j["wrap"] = to_string(r.wrap);
  const bool recorded = r.wrap == WrapStatus::Recorded;
  j["disposition"] = recorded ? Json(r.disposition) : Json(nullptr);
  j["note"] = recorded ? Json(r.note) : Json(nullptr);
  Json path = Json::array();
  for (const PathStep& s : r.path) {
    Json step;
    step["step"] = to_string(s.kind);
    step["time"] = s.time;
    step["queue"] = index(s.queue);
    step["agent"] = index(s.agent);
    step["target"] = index(s.target);
    path.push_back(std::move(step));
  }
  j["path"] = std::move(path);
  return j.dump();
}

std::string to_json(const AgentStateRecord& r) {
  Json j = head(RecordType::AgentState, r.id);
  j["agent"] = r.agent;
  j["state"] = router::to_string(r.state);
  j["reason"] = r.state == router::AgentState::NotReady ? Json(r.reason) : Json(nullptr);
  j["start"] = r.start;
  j["end"] = r.end;
  return j.dump();
}

std::string to_json(const QueueInterval& r) {
  Json j = head(RecordType::QueueInterval, r.id);
  j["start"] = r.start;
  j["queue"] = r.queue;
  j["offered"] = r.offered;
  j["answered"] = r.answered;
  j["answered_in_sl"] = r.answered_in_sl;
  j["abandoned"] = r.abandoned;
  j["short_abandoned"] = r.short_abandoned;
  j["overflowed_out"] = r.overflowed_out;
  j["handled"] = r.handled;
  j["wait_answered_us"] = r.wait_answered_us;
  j["max_wait_us"] = r.max_wait_us;
  j["talk_us"] = r.talk_us;
  j["hold_us"] = r.hold_us;
  j["wrap_us"] = r.wrap_us;
  return j.dump();
}

std::string to_json(const AgentInterval& r) {
  Json j = head(RecordType::AgentInterval, r.id);
  j["start"] = r.start;
  j["agent"] = r.agent;
  j["handled"] = r.handled;
  j["no_answer"] = r.no_answer;
  j["transfers_out"] = r.transfers_out;
  j["talk_us"] = r.talk_us;
  j["hold_us"] = r.hold_us;
  j["wrap_us"] = r.wrap_us;
  Json states = Json::object();
  for (std::size_t s = 0; s < r.state_us.size(); ++s) {
    states[std::string(router::to_string(static_cast<router::AgentState>(s)))] = r.state_us[s];
  }
  j["state_us"] = std::move(states);
  j["not_ready_us"] = r.not_ready_us;
  return j.dump();
}

}  // namespace acd::history
