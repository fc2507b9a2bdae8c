// The epoch fence's etcd client: the v3 JSON gateway over libcurl with one deadline per call, the
// record's encoding, and the compare-and-swap transaction.
#include "acd/control/etcd_epoch.hpp"

#include <curl/curl.h>
#include <sodium.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

namespace acd::control {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr std::size_t kMaxAnswerBytes =
    std::size_t{64} * 1024;  // a range of one key is a few hundred bytes

std::string to_base64(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

std::optional<std::string> from_base64(std::string_view text) {
  std::string out(text.size() / 4 * 3 + 3, '\0');
  std::size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &length, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    return std::nullopt;
  }
  out.resize(length);
  return out;
}

bool valid_holder(std::string_view holder) {
  return !holder.empty() && holder.size() <= EtcdEpoch::kMaxHolderLength &&
         std::all_of(holder.begin(), holder.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
         });
}

std::string encode_record(const EpochRecord& record) {
  return json{{"epoch", record.epoch}, {"holder", record.holder}}.dump();
}

// A stored value as a record, or why it is not one. Strict: exactly {"epoch":E>=1,"holder":NAME}.
std::optional<EpochRecord> decode_record(std::string_view raw, std::string& why) {
  const json value = json::parse(raw, nullptr, false);
  if (value.is_discarded() || !value.is_object()) {
    why = "is not JSON";
    return std::nullopt;
  }
  const auto epoch = value.find("epoch");
  const auto holder = value.find("holder");
  if (value.size() != 2 || epoch == value.end() || holder == value.end()) {
    why = "does not have exactly the fields epoch and holder";
    return std::nullopt;
  }
  if (!epoch->is_number_unsigned() || epoch->get<std::uint64_t>() == 0) {
    why = "has an epoch that is not a whole number from 1 to 2^64-1";
    return std::nullopt;
  }
  if (!holder->is_string() || !valid_holder(holder->get_ref<const std::string&>())) {
    why = "has a holder that is not a node name (1 to 64 of A-Z a-z 0-9 . _ -)";
    return std::nullopt;
  }
  return EpochRecord{epoch->get<std::uint64_t>(), holder->get<std::string>()};
}

// Printable and short: what an operator would see at the key.
std::string printable(std::string_view raw) {
  std::string out = "'";
  for (const char c : raw.substr(0, 40)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return out + (raw.size() > 40 ? "...'" : "'");
}

std::string describe(const EpochRecord& record) {
  return record.epoch == 0 ? std::string("0 (no swap yet)")
                           : std::to_string(record.epoch) + " (held by " + record.holder + ")";
}

std::size_t append_answer(char* data, std::size_t size, std::size_t count, void* target) {
  auto& out = *static_cast<std::string*>(target);
  const std::size_t n = size * count;
  if (out.size() + n > kMaxAnswerBytes) {
    return 0;  // makes curl fail the transfer: no fence answer is this large
  }
  out.append(data, n);
  return n;
}

}  // namespace

std::string_view to_string(CasOutcome outcome) {
  switch (outcome) {
    case CasOutcome::Won:
      return "won";
    case CasOutcome::Lost:
      return "lost";
    case CasOutcome::Unreachable:
      return "unreachable";
    case CasOutcome::Invalid:
      return "invalid";
  }
  return "unreachable";
}

// One curl handle, kept between calls so a live connection is reused (one round trip per call).
struct EtcdEpoch::Transport {
  CURL* curl = nullptr;
  curl_slist* headers = nullptr;
  char error[CURL_ERROR_SIZE] = {};
  std::string answer;

  Transport() {
    static const bool ready =
        curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK && sodium_init() >= 0;
    if (!ready) {
      return;
    }
    curl = curl_easy_init();
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");  // never wait for "100 Continue"
    if (curl == nullptr || headers == nullptr) {
      return;
    }
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM
    curl_easy_setopt(curl, CURLOPT_PROXY, "");     // never through an http_proxy of the env
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_answer);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
  }
  ~Transport() {
    if (curl != nullptr) {
      curl_easy_cleanup(curl);
    }
    curl_slist_free_all(headers);
  }
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;
};

struct EtcdEpoch::Answer {
  json body;
};

EtcdEpoch::EtcdEpoch(std::vector<std::string> endpoints, std::string key,
                     std::chrono::milliseconds deadline)
    : key_(std::move(key)), deadline_(deadline), transport_(std::make_unique<Transport>()) {
  for (auto& endpoint : endpoints) {
    const std::string problem = endpoint_problem(endpoint);
    if (problem.empty()) {
      endpoints_.push_back(std::move(endpoint));
    } else {
      unusable_ += (unusable_.empty() ? "" : "; ") + problem;
    }
  }
}

EtcdEpoch::~EtcdEpoch() = default;
EtcdEpoch::EtcdEpoch(EtcdEpoch&&) noexcept = default;
EtcdEpoch& EtcdEpoch::operator=(EtcdEpoch&&) noexcept = default;

std::string EtcdEpoch::endpoint_problem(std::string_view endpoint) {
  const std::string bad = "etcd endpoint '" + std::string(endpoint) + "' ";
  const std::size_t colon = endpoint.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return bad + "is not HOST:PORT";
  }
  const std::string_view host = endpoint.substr(0, colon);
  const std::string_view port = endpoint.substr(colon + 1);
  unsigned number = 0;
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (port.empty() || error != std::errc() || end != port.data() + port.size() || number == 0 ||
      number > 65535) {
    return bad + "has no port from 1 to 65535";
  }
  const bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';
  const std::string_view name = bracketed ? host.substr(1, host.size() - 2) : host;
  const bool ok = std::all_of(name.begin(), name.end(), [bracketed](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
           (bracketed ? c == ':'
                      : (c == '.' || c == '-' || (c >= 'g' && c <= 'z') || (c >= 'G' && c <= 'Z')));
  });
  if (!ok) {
    return bad + "has a host that is neither a name, an IPv4 address nor an [IPv6] address";
  }
  return {};
}

std::optional<EtcdEpoch::Answer> EtcdEpoch::post(std::string_view path, const std::string& body,
                                                 Clock::time_point until, std::string& why) {
  why.clear();
  const auto note = [&why](const std::string& text) { why += (why.empty() ? "" : "; ") + text; };
  if (!unusable_.empty()) {
    note(unusable_);
  }
  if (transport_ == nullptr || transport_->curl == nullptr) {
    note("libcurl could not be initialised (out of memory?)");
    return std::nullopt;
  }
  if (endpoints_.empty()) {
    note("no usable etcd endpoint is configured");
    return std::nullopt;
  }
  CURL* curl = transport_->curl;
  for (const std::string& endpoint : endpoints_) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) {
      note("etcd at " + endpoint + ": not tried, the " + std::to_string(deadline_.count()) +
           " ms deadline had passed");
      continue;
    }
    const std::string url = "http://" + endpoint + std::string(path);
    transport_->answer.clear();
    transport_->error[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(left.count()));
    const CURLcode code = curl_easy_perform(curl);
    if (code == CURLE_OPERATION_TIMEDOUT) {
      note("etcd at " + endpoint + ": no answer within the " + std::to_string(deadline_.count()) +
           " ms deadline");
      continue;
    }
    if (code != CURLE_OK) {
      note("etcd at " + endpoint + ": " +
           (transport_->error[0] != '\0' ? transport_->error : curl_easy_strerror(code)));
      continue;
    }
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    json answer = json::parse(transport_->answer, nullptr, false);
    if (status != 200) {
      std::string message = "etcd at " + endpoint + ": HTTP status " + std::to_string(status);
      if (!answer.is_discarded() && answer.is_object() && answer.contains("error") &&
          answer["error"].is_string()) {
        message += ": " + answer["error"].get<std::string>();
      }
      note(message);
      continue;
    }
    if (answer.is_discarded() || !answer.is_object()) {
      note("etcd at " + endpoint +
           ": the answer is not a JSON object (is this etcd's v3 gateway?)");
      continue;
    }
    why.clear();
    return Answer{std::move(answer)};
  }
  return std::nullopt;
}

namespace {
// What a range answer (or a transaction's response_range) says is at the key: well_formed is false
// when the answer itself is malformed; a malformed stored value is well formed with no record.
struct Found {
  bool well_formed = false;
  std::optional<EpochRecord> record;
  std::string raw;
};

Found found_in_range(const json& range, const std::string& key, std::string& why) {
  Found found;
  if (!range.is_object()) {
    why = "etcd's answer has no range result";
    return found;
  }
  const auto kvs = range.find("kvs");
  if (kvs == range.end() || (kvs->is_array() && kvs->empty())) {
    found.well_formed = true;
    found.record = EpochRecord{};  // no key: no swap has happened
    return found;
  }
  if (!kvs->is_array() || !kvs->front().is_object()) {
    why = "etcd's answer has a malformed kvs list";
    return found;
  }
  const json& kv = kvs->front();
  std::optional<std::string> raw = std::string();
  if (const auto value = kv.find("value"); value != kv.end()) {
    raw = value->is_string() ? from_base64(value->get_ref<const std::string&>()) : std::nullopt;
  }
  if (!raw) {
    why = "etcd's answer has a value that is not base64";
    return found;
  }
  found.well_formed = true;
  found.raw = std::move(*raw);
  std::string problem;
  found.record = decode_record(found.raw, problem);
  if (!found.record) {
    why = "the value at " + key + " (" + printable(found.raw) + ") " + problem +
          ": it is not an epoch record; nobody can win the fence until an operator repairs it";
  }
  return found;
}
}  // namespace

std::optional<EpochRecord> EtcdEpoch::read(std::string& why) {
  return read_until(Clock::now() + deadline_, why).record;
}

EtcdEpoch::Reading EtcdEpoch::read_until(Clock::time_point until, std::string& why) {
  const std::string body = json{{"key", to_base64(key_)}}.dump();
  const auto answer = post("/v3/kv/range", body, until, why);
  if (!answer) {
    return {};  // what this client saw stays its best guess: the swap compares it anyway
  }
  seen_.reset();
  Found found = found_in_range(answer->body, key_, why);
  if (found.record) {
    seen_ = found.record;
    seen_raw_ = std::move(found.raw);
  }
  return {found.well_formed, found.record};
}

CasResult EtcdEpoch::advance(std::uint64_t expected, const std::string& holder) {
  if (!valid_holder(holder)) {
    return {
        CasOutcome::Invalid,
        {},
        "the holder " + printable(holder) + " is not a node name (1 to 64 of A-Z a-z 0-9 . _ -)"};
  }
  if (expected == std::numeric_limits<std::uint64_t>::max()) {
    return {CasOutcome::Invalid, {}, "the epoch cannot move past 2^64-1"};
  }
  if (unanswered_ && seen_ && *seen_ == *unanswered_ &&
      *unanswered_ == EpochRecord{expected, holder}) {
    // Our own swap to `expected`, applied while its answer was lost, and read back since.
    EpochRecord ours = std::move(*unanswered_);
    unanswered_.reset();
    return {CasOutcome::Won, std::move(ours), {}};
  }
  const Clock::time_point until = Clock::now() + deadline_;
  CasResult result;
  if (!seen_ || seen_->epoch != expected) {
    const Reading now = read_until(until, result.why);
    if (!now.record) {
      // Nobody answered (or answered nonsense): nothing is known. Or the key holds something that
      // is not a record: that is an answer, and a fence nobody can read is a fence nobody wins.
      result.outcome = now.answered ? CasOutcome::Lost : CasOutcome::Unreachable;
      return result;
    }
    if (*now.record == EpochRecord{expected + 1, holder}) {
      unanswered_.reset();
      return {CasOutcome::Won, *now.record, {}};  // our own earlier try, whose answer was lost
    }
    if (now.record->epoch != expected) {
      return {CasOutcome::Lost, *now.record,
              "the epoch is " + describe(*now.record) + ", not " + std::to_string(expected)};
    }
  }
  const std::string key = to_base64(key_);
  const EpochRecord next{expected + 1, holder};
  const std::string next_raw = encode_record(next);
  json compare =
      expected == 0
          ? json{{"key", key}, {"target", "CREATE"}, {"result", "EQUAL"}, {"create_revision", "0"}}
          : json{{"key", key},
                 {"target", "VALUE"},
                 {"result", "EQUAL"},
                 {"value", to_base64(seen_raw_)}};
  const json txn = {
      {"compare", json::array({std::move(compare)})},
      {"success", json::array({{{"request_put", {{"key", key}, {"value", to_base64(next_raw)}}}}})},
      {"failure", json::array({{{"request_range", {{"key", key}}}}})},
  };
  const auto answer = post("/v3/kv/txn", txn.dump(), until, result.why);
  if (!answer) {
    unanswered_ = next;  // etcd may have applied it
    result.outcome = CasOutcome::Unreachable;
    return result;
  }
  unanswered_.reset();
  const json& body = answer->body;
  if (const auto succeeded = body.find("succeeded");
      succeeded != body.end() && succeeded->is_boolean() && succeeded->get<bool>()) {
    seen_ = next;
    seen_raw_ = next_raw;
    return {CasOutcome::Won, next, {}};
  }
  // The comparison failed: the failure branch read the key in the same transaction.
  const json* range = nullptr;
  if (const auto responses = body.find("responses");
      responses != body.end() && responses->is_array() && !responses->empty() &&
      responses->front().is_object() && responses->front().contains("response_range")) {
    range = &responses->front()["response_range"];
  }
  seen_.reset();
  if (range == nullptr) {
    return {CasOutcome::Unreachable,
            {},
            "etcd's transaction answer has neither success nor the key's current value"};
  }
  Found found = found_in_range(*range, key_, result.why);
  if (!found.well_formed) {
    return {CasOutcome::Unreachable, {}, result.why};
  }
  if (!found.record) {
    return {CasOutcome::Lost, {}, result.why};
  }
  seen_ = found.record;
  seen_raw_ = std::move(found.raw);
  if (*found.record == EpochRecord{expected + 1, holder}) {
    // Our own earlier try took effect but its answer never came back (it timed out): the epoch is
    // ours. Reporting it lost would fence the only node that holds it.
    return {CasOutcome::Won, *found.record, {}};
  }
  return {CasOutcome::Lost, *found.record,
          "the epoch is " + describe(*found.record) + ", not " + std::to_string(expected)};
}

}  // namespace acd::control
