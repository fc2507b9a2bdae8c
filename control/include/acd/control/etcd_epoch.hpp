// The HA fence: the pair's epoch, kept in etcd, moved forward by compare-and-swap only.
//
// When the pair splits, whoever continues must first move the epoch from E to E+1: the standby
// promotes only if it wins, a primary that lost its standby continues alone only if it wins, the
// loser stops. No lease is involved; one swap decides. The epoch lives at one etcd key as a small
// JSON value, {"epoch":E,"holder":"NODE"}; the key is absent before the first swap (epoch 0).
//
// The client speaks etcd's v3 JSON gateway (HTTP/1.1 POST /v3/kv/range and /v3/kv/txn, keys and
// values base64) through libcurl, and every call has one hard deadline (connect included) shared by
// all endpoints: they are tried in order, each with what is left of the budget, and when none has
// answered in time the call returns Unreachable. A call never blocks longer than the deadline
// plus scheduling noise, and never throws.
//
// Thread-safety: one EtcdEpoch per thread (it keeps a connection and the last record it saw); two
// threads or two nodes use two clients, and etcd decides between them.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace acd::control {

// The epoch now, and the node that moved it there. Epoch 0 (holder "") means no swap ever happened.
struct EpochRecord {
  std::uint64_t epoch = 0;
  std::string holder;
  friend bool operator==(const EpochRecord&, const EpochRecord&) = default;
};

enum class CasOutcome : std::uint8_t {
  Won,   // the epoch moved from `expected` to `expected + 1` and names us
  Lost,  // it did not: another epoch is current (`current`), or the key holds no valid record
  Unreachable,  // no endpoint answered in time (or each answered nonsense); nothing is known
  Invalid,      // the request itself is wrong (holder, expected); nothing was sent
};

std::string_view to_string(CasOutcome outcome);

struct CasResult {
  CasOutcome outcome = CasOutcome::Unreachable;
  EpochRecord current;  // Won: the new record; Lost: the record etcd holds (epoch 0 if unreadable)
  std::string why;      // empty when Won; otherwise a sentence an operator can act on
};

class EtcdEpoch {
 public:
  static constexpr std::chrono::milliseconds kDefaultDeadline{20};
  static constexpr std::size_t kMaxHolderLength = 64;

  // endpoints: "HOST:PORT" of the etcd members, tried in this order ("127.0.0.1:2379"); key: the
  // fence's key ("/acd/pair-a/epoch"); deadline: the whole budget of one call. An endpoint that is
  // not HOST:PORT is never contacted and every call's `why` names it (check configurations with
  // endpoint_problem() first).
  EtcdEpoch(std::vector<std::string> endpoints, std::string key,
            std::chrono::milliseconds deadline = kDefaultDeadline);
  ~EtcdEpoch();
  EtcdEpoch(EtcdEpoch&&) noexcept;
  EtcdEpoch& operator=(EtcdEpoch&&) noexcept;
  EtcdEpoch(const EtcdEpoch&) = delete;
  EtcdEpoch& operator=(const EtcdEpoch&) = delete;

  // The epoch now (epoch 0, holder "" if the key does not exist). nullopt, with `why` set, when no
  // endpoint answered in time or the key holds something that is not an epoch record.
  std::optional<EpochRecord> read(std::string& why);

  // Moves the epoch from `expected` to `expected + 1` with `holder`, atomically: one etcd
  // transaction that compares the key's value with the record of epoch `expected` (or the key's
  // absence when expected == 0), writes the new record if it matches and reads the key if not.
  // The record of `expected` is the one this client last saw (read() or advance()); if it saw
  // another epoch, a read comes first, within the same deadline. So a caller that keeps reading
  // the epoch pays one round trip on the failover path.
  //   Won: it is ours (current = the new record). Lost: someone else holds a different epoch
  //   (current says which), or the key holds no valid record (why says what is there).
  //   A Lost whose current record is {expected + 1, holder} means an earlier call of ours won and
  //   its answer was lost on the way back.
  //   Unreachable: no endpoint answered in time (a swap that reached etcd may still have been
  //   applied: the next advance says so, as above). Invalid: holder is not 1..64 of [A-Za-z0-9._-],
  //   or expected is the largest epoch.
  // A caller that reads after an unanswered swap and sees that very record ({E, holder}, which
  // this client asked for) and then asks to move past it (expected E, the same holder) wins E:
  // the record is its own, and taking E + 1 on top would skip an epoch nobody else ever held.
  CasResult advance(std::uint64_t expected, const std::string& holder);

  // Why `endpoint` is not usable ("HOST:PORT", port 1..65535, host without '/', '@' or spaces);
  // empty when it is.
  static std::string endpoint_problem(std::string_view endpoint);

  const std::string& key() const { return key_; }
  std::chrono::milliseconds deadline() const { return deadline_; }

 private:
  struct Transport;
  struct Answer;
  // POSTs `body` to PATH on each endpoint in turn until one answers 200 with a JSON object, all
  // within the deadline that ends at `until`.
  std::optional<Answer> post(std::string_view path, const std::string& body,
                             std::chrono::steady_clock::time_point until, std::string& why);
  struct Reading {
    bool answered = false;  // an endpoint answered well-formed (the stored value may not be)
    std::optional<EpochRecord> record;
  };
  Reading read_until(std::chrono::steady_clock::time_point until, std::string& why);

  std::vector<std::string> endpoints_;  // the usable ones, in order
  std::string unusable_;                // the others, for `why`
  std::string key_;
  std::chrono::milliseconds deadline_;
  std::unique_ptr<Transport> transport_;
  std::optional<EpochRecord> seen_;  // the last valid record etcd showed us...
  std::string seen_raw_;             // ...and its value, byte for byte (what the swap compares)
  // The record of this client's last swap that went unanswered (it may have been applied);
  // cleared by the next answered swap.
  std::optional<EpochRecord> unanswered_;
};

}  // namespace acd::control
