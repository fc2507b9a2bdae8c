// The history records as JSON, the form they take on Kafka (docs/kafka.md "Schema"): one object
// per record, with the export schema version, the record's kind and its ID. The Kafka key of a
// record is its ID as text, "SEQ/INDEX", so that compaction keeps one copy per record and a
// consumer drops the duplicates an at-least-once delivery may bring.
//
// Pure functions; any thread. Allocate.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "acd/history/records.hpp"

namespace acd::history {

// Bumped when a field changes meaning or disappears; adding a field keeps the version.
inline constexpr int kExportSchemaVersion = 1;

// The four record kinds, each with its own topic (<prefix><topic>).
enum class RecordType : std::uint8_t {
  Call = 0,
  AgentState = 1,
  QueueInterval = 2,
  AgentInterval = 3
};
inline constexpr int kRecordTypeCount = 4;
std::string_view kind_name(RecordType k);     // "call", "agent_state", ... (the JSON "kind")
std::string_view topic_suffix(RecordType k);  // "calls", "agent_states", ...

std::string record_key(RecordId id);                             // "SEQ/INDEX"
std::optional<RecordId> parse_record_key(std::string_view key);  // nothing if malformed

std::string to_json(const CallDetail& r);
std::string to_json(const AgentStateRecord& r);
std::string to_json(const QueueInterval& r);
std::string to_json(const AgentInterval& r);

}  // namespace acd::history
