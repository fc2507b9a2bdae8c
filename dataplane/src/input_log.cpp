#include "acd/dataplane/input_log.hpp"

#include <algorithm>

namespace acd::dataplane {

namespace {

constexpr std::uint32_t kImageMagic = 0x53444341;  // "ACDS"
// 2: the session carries roles and calls' agents; 3: the configuration after the engine's bytes.
constexpr std::uint32_t kImageVersion = 3;
constexpr std::uint32_t kImageVersionWithHistory = 4;

bool read_event(ByteReader& r, router::Event& e) {
  e.time = r.u64();
  e.call = r.u64();
  e.number = r.u64();
  e.device = r.u64();
  e.agent = r.u32();
  e.queue = r.u32();
  const std::uint8_t type = r.u8();
  const std::uint8_t media = r.u8();
  e.priority = r.u8();
  e.tier = r.u8();
  e.verification = r.u8();
  e.skill_count = r.u8();
  e.reason = r.u16();
  e.language = r.u16();
  if (type >= static_cast<std::uint8_t>(router::EventType::kCount) ||
      media >= static_cast<std::uint8_t>(router::kMediaCount) ||
      e.skill_count > e.skills.size()) {
    return false;
  }
  e.type = static_cast<router::EventType>(type);
  e.media = static_cast<router::Media>(media);
  e.skills = {};
  for (unsigned i = 0; i < e.skill_count; ++i) {
    e.skills[i].skill = r.u16();
    e.skills[i].min_level = r.u8();
  }
  return r.ok();
}

}  // namespace

std::size_t encode_record(const LogRecord& rec, std::span<std::uint8_t> out) {
  // By hand into the caller's buffer: the IO thread encodes every input and must not allocate.
  std::size_t at = 0;
  auto put = [&](std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) {
      out[at++] = static_cast<std::uint8_t>(v >> (8 * i));
    }
  };
  put(kLogRecordVersion, 1);
  put(static_cast<std::uint8_t>(rec.kind), 1);
  put(rec.client_id, 4);
  switch (rec.kind) {
    case RecordKind::Input: {
      const router::Event& e = rec.event;
      put(rec.request_seq, 8);
      put(static_cast<std::uint8_t>(rec.request_type), 1);
      put(e.time, 8);
      put(e.call, 8);
      put(e.number, 8);
      put(e.device, 8);
      put(e.agent, 4);
      put(e.queue, 4);
      put(static_cast<std::uint8_t>(e.type), 1);
      put(static_cast<std::uint8_t>(e.media), 1);
      put(e.priority, 1);
      put(e.tier, 1);
      put(e.verification, 1);
      const unsigned skills = std::min<unsigned>(e.skill_count, router::kMaxCallSkills);
      put(skills, 1);
      put(e.reason, 2);
      put(e.language, 2);
      for (unsigned i = 0; i < skills; ++i) {
        put(e.skills[i].skill, 2);
        put(e.skills[i].min_level, 1);
      }
      break;
    }
    case RecordKind::Register:
      put(rec.nonce, 8);
      put(rec.endpoint.address, 4);
      put(rec.endpoint.port, 2);
      put(static_cast<std::uint8_t>(rec.role), 1);
      break;
    case RecordKind::ConfigChange:
      put(rec.event.time, 8);
      if (!rec.config.empty()) {
        put(rec.config.size(), 4);
        std::copy(rec.config.begin(), rec.config.end(), out.begin() + static_cast<long>(at));
        at += rec.config.size();
        if (rec.config_total != 0) {
          put(rec.config_total, 4);  // the last piece of a chunked configuration
        }
      }
      break;
    case RecordKind::ConfigChunk:
      put(rec.config_total, 4);
      put(rec.config_offset, 4);
      put(rec.config.size(), 4);
      std::copy(rec.config.begin(), rec.config.end(), out.begin() + static_cast<long>(at));
      at += rec.config.size();
      break;
    case RecordKind::Operation:
      put(rec.request_seq, 8);
      put(static_cast<std::uint64_t>(rec.wall_ms), 8);
      put(rec.agent_number, 8);
      put(rec.operation.kind, 2);
      put(static_cast<std::uint8_t>(rec.operation.outcome), 1);
      put(rec.operation.ticket, 8);
      for (const std::uint8_t b : rec.operation.customer_hash) {
        put(b, 1);
      }
      break;
    case RecordKind::TokenRevoke:
      put(static_cast<std::uint64_t>(rec.wall_ms), 8);
      put(rec.agent_number, 8);
      break;
    case RecordKind::CredentialChange: {
      put(rec.request_seq, 8);
      put(static_cast<std::uint64_t>(rec.wall_ms), 8);
      put(rec.agent_number, 8);
      put(static_cast<std::uint8_t>(rec.credential), 1);
      const std::size_t n = std::min(rec.credential_hash.size(), kCredentialHashBytes - 1);
      put(n, 1);
      for (std::size_t i = 0; i < n; ++i) {
        put(static_cast<std::uint8_t>(rec.credential_hash[i]), 1);
      }
      for (const std::uint8_t b : rec.credential_replaces) {
        put(b, 1);
      }
      break;
    }
    case RecordKind::ExportPosition:
      put(rec.export_position.seq, 8);
      put(rec.export_position.index, 4);
      break;
  }
  return at;
}

bool decode_record(std::span<const std::uint8_t> bytes, LogRecord& rec) {
  ByteReader r(bytes);
  if (r.u8() != kLogRecordVersion) {
    return false;
  }
  const std::uint8_t kind = r.u8();
  rec = LogRecord{};
  rec.client_id = r.u32();
  switch (kind) {
    case static_cast<std::uint8_t>(RecordKind::Input): {
      rec.kind = RecordKind::Input;
      rec.request_seq = r.u64();
      rec.request_type = static_cast<wire::Type>(r.u8());
      if (!read_event(r, rec.event)) {
        return false;
      }
      break;
    }
    case static_cast<std::uint8_t>(RecordKind::Register):
      rec.kind = RecordKind::Register;
      rec.nonce = r.u64();
      rec.endpoint.address = r.u32();
      rec.endpoint.port = r.u16();
      {
        const std::uint8_t role = r.u8();
        if (role == 0 || role > wire::kMaxRole) {
          return false;
        }
        rec.role = static_cast<wire::Role>(role);
      }
      break;
    case static_cast<std::uint8_t>(RecordKind::ConfigChange):
      rec.kind = RecordKind::ConfigChange;
      rec.event.time = r.u64();
      if (r.ok() && !r.at_end()) {
        const std::uint32_t length = r.u32();
        if (length == 0 || length > kMaxConfigPayload) {
          return false;
        }
        rec.config = r.bytes(length);
        if (r.ok() && !r.at_end()) {
          rec.config_total = r.u32();
          if (rec.config_total <= length || rec.config_total > kMaxReloadBytes) {
            return false;
          }
        }
      }
      break;
    case static_cast<std::uint8_t>(RecordKind::ConfigChunk): {
      rec.kind = RecordKind::ConfigChunk;
      rec.config_total = r.u32();
      rec.config_offset = r.u32();
      const std::uint32_t length = r.u32();
      if (length == 0 || length > kMaxConfigPayload || rec.config_total > kMaxReloadBytes ||
          std::uint64_t{rec.config_offset} + length >= rec.config_total) {
        return false;  // the last piece is always the ConfigChange's
      }
      rec.config = r.bytes(length);
      break;
    }
    case static_cast<std::uint8_t>(RecordKind::Operation): {
      rec.kind = RecordKind::Operation;
      rec.request_seq = r.u64();
      rec.wall_ms = static_cast<std::int64_t>(r.u64());
      rec.agent_number = r.u64();
      rec.operation.kind = r.u16();
      const std::uint8_t outcome = r.u8();
      if (outcome == 0 || outcome > static_cast<std::uint8_t>(wire::OperationOutcome::Cancelled)) {
        return false;
      }
      rec.operation.outcome = static_cast<wire::OperationOutcome>(outcome);
      rec.operation.ticket = r.u64();
      const auto hash = r.bytes(sizeof(rec.operation.customer_hash));
      std::copy(hash.begin(), hash.end(), rec.operation.customer_hash);
      break;
    }
    case static_cast<std::uint8_t>(RecordKind::TokenRevoke):
      rec.kind = RecordKind::TokenRevoke;
      rec.wall_ms = static_cast<std::int64_t>(r.u64());
      rec.agent_number = r.u64();
      if (rec.agent_number == 0) {
        return false;
      }
      break;
    case static_cast<std::uint8_t>(RecordKind::CredentialChange): {
      rec.kind = RecordKind::CredentialChange;
      rec.request_seq = r.u64();
      rec.wall_ms = static_cast<std::int64_t>(r.u64());
      rec.agent_number = r.u64();
      const std::uint8_t what = r.u8();
      const std::uint8_t n = r.u8();
      const auto hash = r.bytes(n);
      if (rec.agent_number == 0 || n >= kCredentialHashBytes ||
          (what != static_cast<std::uint8_t>(CredentialChangeKind::Password) &&
           what != static_cast<std::uint8_t>(CredentialChangeKind::EnrolmentSpent))) {
        return false;
      }
      rec.credential = static_cast<CredentialChangeKind>(what);
      rec.credential_hash =
          std::string_view(reinterpret_cast<const char*>(hash.data()), hash.size());
      if (rec.credential_hash.rfind("$argon2id$", 0) != 0) {
        return false;  // nothing else is ever stored (applying checks the string strictly)
      }
      if (r.ok() && !r.at_end()) {  // absent from records written before it was carried
        const auto replaces = r.bytes(rec.credential_replaces.size());
        std::copy(replaces.begin(), replaces.end(), rec.credential_replaces.begin());
      }
      break;
    }
    case static_cast<std::uint8_t>(RecordKind::ExportPosition):
      rec.kind = RecordKind::ExportPosition;
      rec.export_position.seq = r.u64();
      rec.export_position.index = r.u32();
      if (rec.export_position.seq == 0) {
        return false;  // no record has seq 0: a position is logged only once something moved it
      }
      break;
    default:
      return false;
  }
  return r.ok() && r.at_end();
}

bool ConfigAssembler::chunk(std::uint64_t seq, const LogRecord& r) {
  if (r.config_offset == 0) {
    pieces_.clear();
    total_ = r.config_total;
  } else if (r.config_offset != pieces_.size() || r.config_total != total_ ||
             seq != last_seq_ + 1) {
    pieces_ = {};
    total_ = 0;
    return false;
  }
  if (pieces_.capacity() < total_) {
    pieces_.reserve(total_);
  }
  pieces_.insert(pieces_.end(), r.config.begin(), r.config.end());
  last_seq_ = seq;
  return true;
}

std::span<const std::uint8_t> ConfigAssembler::complete(std::uint64_t seq, const LogRecord& r) {
  if (r.config_total == 0) {
    pieces_ = {};
    total_ = 0;
    return r.config;
  }
  if (seq != last_seq_ + 1 || r.config_total != total_ ||
      pieces_.size() + r.config.size() != total_) {
    pieces_ = {};
    total_ = 0;
    return {};
  }
  pieces_.insert(pieces_.end(), r.config.begin(), r.config.end());
  total_ = 0;  // the next piece must begin a configuration
  return pieces_;
}

std::vector<std::uint8_t> encode_image(const NodeImage& image) {
  std::vector<std::uint8_t> out;
  out.reserve(48 + image.engine.size() + image.session.size() + image.config.size() +
              image.history.size());
  ByteWriter w(out);
  w.u32(kImageMagic);
  w.u32(image.history.empty() ? kImageVersion : kImageVersionWithHistory);
  w.u64(image.seq);
  w.u64(image.engine.size());
  w.bytes(image.engine);
  w.u64(image.session.size());
  w.bytes(image.session);
  w.u64(image.config.size());
  w.bytes(image.config);
  if (!image.history.empty()) {
    w.u64(image.history.size());
    w.bytes(image.history);
  }
  return out;
}

bool decode_image(std::span<const std::uint8_t> bytes, NodeImage& image) {
  ByteReader r(bytes);
  if (r.u32() != kImageMagic) {
    return false;
  }
  const std::uint32_t version = r.u32();
  if (version != kImageVersionWithHistory && version != kImageVersion && version != 2) {
    return false;
  }
  NodeImage out;
  out.seq = r.u64();
  const auto engine = r.bytes(r.u64());
  out.engine.assign(engine.begin(), engine.end());
  const auto session = r.bytes(r.u64());
  out.session.assign(session.begin(), session.end());
  if (version >= 3) {
    const auto config = r.bytes(r.u64());
    out.config.assign(config.begin(), config.end());
  }
  if (version >= kImageVersionWithHistory) {
    const auto history = r.bytes(r.u64());
    out.history.assign(history.begin(), history.end());
  }
  if (!r.ok() || !r.at_end()) {
    return false;
  }
  image = std::move(out);
  return true;
}

}  // namespace acd::dataplane
