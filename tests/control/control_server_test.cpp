// Pieces of the control server that need no running acdd.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <vector>

#include "acd/control/control_server.hpp"
#include "acd/control/ha_node.hpp"
#include "acd/control/operator_role.hpp"
#include "acd/control/reload.hpp"
#include "acd/control/reload_record.hpp"
#include "acd/dataplane/input_log.hpp"
#include "acd/control/watchdog.hpp"

namespace acd::control {
namespace {

// A POSIX TZ string needs no time-zone database: "CST-8" is China Standard Time, UTC+8.
class DayBoundaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "CST-8", 1);
    tzset();
  }
  void TearDown() override {
    unsetenv("TZ");
    tzset();
  }
};

// 2026-11-27 15:59:59 UTC is 23:59:59 in Beijing.
constexpr std::time_t kBeforeMidnight = 1'795'795'199;

TEST_F(DayBoundaryTest, CrossesAtLocalMidnightOnce) {
  DayBoundary day(kBeforeMidnight - 3600);
  EXPECT_FALSE(day.crossed(kBeforeMidnight));
  EXPECT_TRUE(day.crossed(kBeforeMidnight + 1));  // 00:00:00 local
  EXPECT_FALSE(day.crossed(kBeforeMidnight + 2));
  EXPECT_FALSE(day.crossed(kBeforeMidnight + 86'400));  // 23:59:59 the next day
  EXPECT_TRUE(day.crossed(kBeforeMidnight + 86'401));
}

TEST_F(DayBoundaryTest, UtcMidnightIsNotLocalMidnight) {
  // 2026-11-27 00:00:00 UTC is 08:00 in Beijing: the same local day as 07:59.
  DayBoundary day(kBeforeMidnight - 16 * 3600);
  EXPECT_FALSE(day.crossed(kBeforeMidnight - 16 * 3600 + 1));
}

TEST_F(DayBoundaryTest, ClockSetBackStartsADayToo) {
  DayBoundary day(kBeforeMidnight + 10);
  EXPECT_TRUE(day.crossed(kBeforeMidnight - 10));
  EXPECT_FALSE(day.crossed(kBeforeMidnight - 5));
}

// The watchdog is fed at most once per interval, and only if the routing core's input counter has
// moved since the last feed: a stuck core is not fed.
TEST(Watchdog, FedOnlyWhileTheCoreMakesProgress) {
  std::atomic<std::uint64_t> inputs{0};
  int fed = 0;
  Watchdog dog(inputs, std::chrono::milliseconds(100), [&] { ++fed; });
  const auto t0 = Watchdog::Clock::time_point{} + std::chrono::hours(1);
  using std::chrono::milliseconds;
  dog.poll(t0);
  EXPECT_EQ(fed, 1) << "the first look feeds";
  inputs = 5;
  dog.poll(t0 + milliseconds(50));
  EXPECT_EQ(fed, 1) << "not before the interval";
  dog.poll(t0 + milliseconds(100));
  EXPECT_EQ(fed, 2);
  for (int i = 2; i < 10; ++i) {  // stuck: the counter stays at 5
    dog.poll(t0 + milliseconds(100 * i));
  }
  EXPECT_EQ(fed, 2) << "a stuck routing core must not be fed";
  inputs = 6;
  dog.poll(t0 + milliseconds(1000));
  EXPECT_EQ(fed, 3) << "progress again: fed again";
  Watchdog off(inputs, std::chrono::microseconds(0), [&] { ++fed; });
  off.poll(t0);
  EXPECT_EQ(fed, 3) << "no WATCHDOG_USEC: never fed";
}

TEST(RateMeter, RatesOverTheWindow) {
  RateMeter meter(5.0);
  EXPECT_EQ(meter.per_second()[0], 0.0);
  meter.sample(10.0, {100, 0, 7});
  EXPECT_EQ(meter.per_second()[0], 0.0) << "one sample is no rate";
  meter.sample(11.0, {300, 50, 7});
  EXPECT_DOUBLE_EQ(meter.per_second()[0], 200.0);
  EXPECT_DOUBLE_EQ(meter.per_second()[1], 50.0);
  EXPECT_DOUBLE_EQ(meter.per_second()[2], 0.0);
  for (int t = 12; t <= 30; ++t) {
    meter.sample(t, {static_cast<std::uint64_t>(1000 * t), 0, 0});  // 1,000/s from t = 11 on
  }
  EXPECT_DOUBLE_EQ(meter.per_second()[0], 1000.0) << "old samples leave the window";
  meter.sample(31, {5, 0, 0});  // a counter reset (restart) reads as 0, not as a huge number
  EXPECT_EQ(meter.per_second()[0], 0.0);
}

ApplianceConfig parsed(const std::string& text) {
  ConfigResult r = parse_config(text, "<test>");
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
  return r.config;
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return at == std::string::npos ? text : text.replace(at, from.size(), to);
}

bool has_line(const std::vector<std::string>& lines, const std::string& part) {
  for (const std::string& l : lines) {
    if (l.find(part) != std::string::npos) {
      return true;
    }
  }
  return false;
}

// What the log carries for a reload: the merged domain and skill names, decoded to exactly the
// same engine configuration (the same state hash of a fresh engine); the follower installs it on
// top of its own node's settings and builds the command the primary ran; a damaged payload is
// refused with a reason and prepares nothing.
TEST(Reload, RecordCarriesTheMergedDomain) {
  const std::string base = embedded_default_config();
  const ApplianceConfig running = parsed(base);
  std::string text = replaced(base, "first_id = 1180\ncount = 20", "first_id = 1180\ncount = 10");
  text = replaced(text, R"(skills = ["general", "cards", "loans", "english", "chat"])",
                  R"(skills = ["general", "cards", "loans", "english", "chat", "savings"])");
  const ApplianceConfig merged = merge_for_reload(running, parsed(text));
  const std::vector<std::uint8_t> payload = encode_reload(merged, ReloadKind::EngineSwap);
  EXPECT_LT(payload.size(), dataplane::kMaxConfigPayload);

  const Result<DecodedReload> decoded = decode_reload(payload);
  ASSERT_TRUE(decoded.ok()) << decoded.failure().message;
  EXPECT_EQ(decoded.value().kind, ReloadKind::EngineSwap);
  EXPECT_EQ(decoded.value().skill_names, merged.skill_names);
  EXPECT_EQ(router::Engine(decoded.value().domain).state_hash(),
            router::Engine(merged.domain).state_hash());
  ApplianceConfig again = running;
  again.domain = decoded.value().domain;
  again.skill_names = decoded.value().skill_names;
  EXPECT_EQ(encode_reload(again, ReloadKind::EngineSwap), payload);

  ApplianceConfig own = running;
  own.ha.node = "acd-b";  // this node's own settings stay its own
  ReloadFollower follower(own);
  dataplane::Command command;
  const dataplane::ConfigTag* tag = nullptr;
  std::string why;
  ASSERT_TRUE(follower.prepare(payload, false, command, tag, why)) << why;
  ASSERT_TRUE(std::holds_alternative<dataplane::SwapEngine>(command));
  const dataplane::EngineSwap& swap = *std::get<dataplane::SwapEngine>(command).swap;
  EXPECT_EQ(swap.agent_numbers.size(), 200u);
  EXPECT_EQ(swap.agent_numbers[195], 0u);  // retired
  EXPECT_EQ(follower.latest(), nullptr);
  follower.finish(true);
  ASSERT_NE(follower.latest(), nullptr);
  EXPECT_EQ(follower.latest(), tag);
  EXPECT_EQ(follower.applied(), 1u);
  EXPECT_EQ(follower.latest()->ha.node, "acd-b");
  EXPECT_EQ(follower.latest()->domain.agents.size(), 200u);
  EXPECT_TRUE(follower.latest()->domain.agents[195].retired);
  EXPECT_EQ(follower.latest()->log_payload, payload);

  // In place: a Reconfigure of the new domain; refused by the engine: forgotten.
  const std::vector<std::uint8_t> in_place = encode_reload(merged, ReloadKind::InPlace);
  ASSERT_TRUE(follower.prepare(in_place, false, command, tag, why)) << why;
  EXPECT_TRUE(std::holds_alternative<dataplane::Reconfigure>(command));
  follower.finish(false);
  EXPECT_EQ(follower.applied(), 1u);

  // Every cut, a trailing byte, another magic, an invalid domain: refused, with a reason.
  for (std::size_t cut = 0; cut < payload.size(); cut += 1 + cut / 64) {
    EXPECT_FALSE(decode_reload(std::span(payload.data(), cut)).ok()) << cut;
  }
  std::vector<std::uint8_t> longer = payload;
  longer.push_back(0);
  EXPECT_FALSE(decode_reload(longer).ok());
  std::vector<std::uint8_t> other = payload;
  other[0] ^= 1;
  EXPECT_FALSE(decode_reload(other).ok());
  ApplianceConfig broken = merged;
  broken.domain.queues[0].skills[0].skill = 99;  // no such skill
  const Result<DecodedReload> invalid = decode_reload(encode_reload(broken, ReloadKind::InPlace));
  ASSERT_FALSE(invalid.ok());
  EXPECT_NE(invalid.failure().message.find("invalid configuration"), std::string::npos);
  EXPECT_FALSE(follower.prepare(longer, false, command, tag, why));
  EXPECT_FALSE(why.empty());
  EXPECT_EQ(follower.applied(), 1u);
}

// A file that inserts a queue first, reorders the skills and drops the chat team: the merged
// configuration keeps every running index (the new queue and skill appended, the dropped agents
// retired in place), renumbers references, and is valid; the diff says so, with notes.
TEST(Reload, MergeKeepsRunningIndices) {
  const std::string base = embedded_default_config();
  const ApplianceConfig running = parsed(base);
  std::string text =
      replaced(base, R"(skills = ["general", "cards", "loans", "english", "chat"])",
               R"(skills = ["savings", "chat", "english", "loans", "cards", "general"])");
  text = replaced(text, "[[queue]]\nname = \"general\"",
                  "[[queue]]\nname = \"savings\"\nskills = { savings = 1 }\n\n[[queue]]\nname = "
                  "\"general\"");
  text = replaced(text, "first_id = 1180\ncount = 20", "first_id = 1180\ncount = 10");
  const ApplianceConfig next = parsed(text);
  const ApplianceConfig merged = merge_for_reload(running, next);

  ASSERT_EQ(merged.skill_names.size(), 6u);
  for (std::size_t s = 0; s < running.skill_names.size(); ++s) {
    EXPECT_EQ(merged.skill_names[s], running.skill_names[s]);
  }
  EXPECT_EQ(merged.skill_names[5], "savings");
  ASSERT_EQ(merged.domain.queues.size(), 6u);
  for (std::size_t q = 0; q < running.domain.queues.size(); ++q) {
    EXPECT_EQ(merged.domain.queues[q].name, running.domain.queues[q].name);
    EXPECT_FALSE(merged.domain.queues[q].retired);
  }
  EXPECT_EQ(merged.domain.queues[5].name, "savings");
  EXPECT_EQ(merged.domain.queues[5].skills.front().skill, 5u);
  // cards overflows to general: index 0 in the running engine, 1 in the file.
  EXPECT_EQ(merged.domain.queues[1].overflow.front().target, 0u);
  EXPECT_EQ(merged.domain.queues[1].skills.front().skill, 1u);  // cards keeps skill ID 1
  ASSERT_EQ(merged.domain.agents.size(), 200u);
  for (std::size_t a = 0; a < 200; ++a) {
    EXPECT_EQ(merged.domain.agents[a].number, running.domain.agents[a].number);
    EXPECT_EQ(merged.domain.agents[a].retired, a >= 190) << a;
  }
  EXPECT_TRUE(router::validate_config(merged.domain).empty());

  const ConfigDiff d = diff_configs(running, next);
  EXPECT_TRUE(d.needs_restart.empty());
  EXPECT_TRUE(has_line(d.structure, "skill savings added"));
  EXPECT_TRUE(has_line(d.structure, "queue savings added (index 5)"));
  EXPECT_TRUE(has_line(d.structure, "agents removed: 10 (1190, 1191"));
  EXPECT_TRUE(
      has_line(d.notes, "queue general keeps index 0 until a restart (the file makes it 1)"));
  EXPECT_TRUE(has_line(d.notes, "skill general keeps ID 0 until a restart (the file makes it 5)"));
  EXPECT_TRUE(d.changes.empty()) << d.changes.front();

  // Against the merged configuration the same file is no change at all; re-adding the agents
  // brings them back at their old indices.
  EXPECT_TRUE(diff_configs(merged, next).empty());
  const ApplianceConfig back = merge_for_reload(merged, running);
  EXPECT_FALSE(back.domain.agents[195].retired);
  EXPECT_EQ(back.domain.agents[195].number, 1195u);
  EXPECT_TRUE(back.domain.queues[5].retired);  // savings is gone again
  EXPECT_TRUE(router::validate_config(back.domain).empty());
}

// Any local user may send requests: fields of the wrong type or shape are refused as usage errors
// (or "not found"), never an exception that would end the daemon.
TEST(Execute, MalformedRequestsAreRefusedNotFatal) {
  ApplianceConfig cfg = parsed(embedded_default_config());
  router::Engine engine(cfg.domain);
  SnapshotBoard board(&cfg);
  while (!board.ready()) {  // a sweep takes a few rounds (65,536 call slots)
    board.maybe_publish(engine, nullptr);
  }
  ControlContext ctx;
  ctx.config = &cfg;
  ctx.board = &board;
  const char* requests[] = {
      R"({"cmd": 7})",
      R"([1, 2])",
      R"("status")",
      R"({"cmd": "agents", "action": 5})",
      R"({"cmd": "agents", "action": "show", "id": "x"})",
      R"({"cmd": "agents", "action": "ready", "id": -3})",
      R"({"cmd": "queues", "action": "show", "id": {"a": 1}})",
      R"({"cmd": "calls", "action": "show", "id": "x"})",
      R"({"cmd": "stats", "what": []})",
      R"({"cmd": "route", "action": "test", "queue": "general", "skills": [1]})",
      R"({"cmd": "route", "action": "test", "queue": "general", "skills": [{"skill": 3}]})",
      R"({"cmd": "route", "action": "test", "queue": "general", "skills": {"a": 1}})",
      R"({"cmd": "route", "action": "test", "queue": "general", "language": 7})",
      R"({"cmd": "route", "action": "test", "queue": "general", "priority": -1})",
      R"({"cmd": "route", "action": "test", "queue": "general", "call": "abc"})",
      R"({"cmd": "config", "action": "diff", "file": 42})",
      R"({"cmd": "config", "action": "reload", "dry_run": "yes"})",
  };
  const std::uint64_t hash = engine.state_hash();
  for (const char* text : requests) {
    nlohmann::json answer;
    ASSERT_NO_THROW(answer = execute(ctx, nlohmann::json::parse(text), OperatorRole::Admin)) << text;
    EXPECT_FALSE(answer.value("ok", true)) << text;
    const std::string code = answer.value("code", std::string());
    EXPECT_TRUE(code == "refused" || code == "usage") << text << " -> " << answer.dump();
  }
  EXPECT_EQ(engine.state_hash(), hash);
  EXPECT_EQ(ctx.config, &cfg) << "nothing was reloaded";
}

// `ha status` and `ha switchover`: only an admin may switch over, only a primary with a
// synchronous standby can, and a node without HA state refuses both; a malformed request is a
// usage error. A refused switchover leaves nothing behind for the IO thread to act on.
TEST(Execute, HaCommandsCheckRightsAndRole) {
  ApplianceConfig cfg = parsed(embedded_default_config());
  ControlContext ctx;
  ctx.config = &cfg;
  const nlohmann::json status{{"cmd", "ha"}, {"action", "status"}};
  const nlohmann::json switchover{{"cmd", "ha"}, {"action", "switchover"}};
  EXPECT_EQ(execute(ctx, status, OperatorRole::Admin).value("code", ""), "refused") << "no HA state";

  HaStatus ha;
  ha.role.store(HaRole::Standby);
  ha.epoch.store(7);
  ctx.ha = &ha;
  const nlohmann::json shown = execute(ctx, status, OperatorRole::Viewer);  // a viewer may read it
  ASSERT_TRUE(shown.value("ok", false)) << shown.dump();
  EXPECT_EQ(shown["result"]["role"], "standby");
  EXPECT_EQ(shown["result"]["epoch"], 7);

  EXPECT_EQ(execute(ctx, switchover, OperatorRole::Admin).value("code", ""), "refused") << "a standby";
  ha.role.store(HaRole::Primary);
  EXPECT_EQ(execute(ctx, switchover, OperatorRole::Operator).value("code", ""),
            "permission_denied");
  EXPECT_FALSE(ha.switchover_requested.load());
  EXPECT_EQ(execute(ctx, {{"cmd", "ha"}, {"action", 5}}, OperatorRole::Admin).value("code", ""), "usage");
  EXPECT_EQ(execute(ctx, {{"cmd", "ha"}, {"action", "promote"}}, OperatorRole::Admin).value("code", ""), "usage");
  EXPECT_FALSE(ha.switchover_requested.load());

  EXPECT_TRUE(execute(ctx, switchover, OperatorRole::Admin).value("ok", false));
  EXPECT_TRUE(ha.switchover_requested.load());
}

// Every rule of the role table, asked by each role: refused with permission_denied exactly when the
// caller's role is below the one the command needs (viewer: reads; operator: agent changes, route
// test, the client list; admin: reload, naming a file, switchover), and then nothing runs. A
// granted request may still fail for its own reasons (no routing core here: try_again), never for
// permission.
TEST(Execute, EachRoleIsGrantedExactlyItsCommands) {
  ApplianceConfig cfg = parsed(embedded_default_config());
  router::Engine engine(cfg.domain);
  SnapshotBoard board(&cfg);
  while (!board.ready()) {
    board.maybe_publish(engine, nullptr);
  }
  HaStatus ha;
  ha.role.store(HaRole::Primary);
  ControlContext ctx;
  ctx.config = &cfg;
  ctx.board = &board;
  ctx.ha = &ha;
  using nlohmann::json;
  using enum OperatorRole;
  const std::pair<json, OperatorRole> requests[] = {
      {{{"cmd", "status"}}, Viewer},
      {{{"cmd", "agents"}}, Viewer},
      {{{"cmd", "agents"}, {"action", "show"}, {"id", 1001u}}, Viewer},
      {{{"cmd", "queues"}, {"action", "show"}, {"id", "cards"}}, Viewer},
      {{{"cmd", "calls"}}, Viewer},
      {{{"cmd", "stats"}, {"what", "agents"}}, Viewer},
      {{{"cmd", "config"}, {"action", "diff"}}, Viewer},
      {{{"cmd", "config"}, {"action", "validate"}}, Viewer},
      {{{"cmd", "ha"}, {"action", "status"}}, Viewer},
      {{{"cmd", "ha"}}, Viewer},
      {{{"cmd", "agents"}, {"action", "ready"}, {"id", 1001u}}, Operator},
      {{{"cmd", "agents"}, {"action", "logout"}, {"id", 1001u}}, Operator},
      {{{"cmd", "agents"}, {"action", "unlock"}, {"id", 1001u}}, Operator},
      {{{"cmd", "route"}, {"action", "test"}, {"queue", "general"}}, Operator},
      {{{"cmd", "client"}, {"action", "list"}}, Operator},
      {{{"cmd", "config"}, {"action", "reload"}}, Admin},
      {{{"cmd", "config"}, {"action", "reload"}, {"dry_run", true}}, Admin},
      {{{"cmd", "config"}, {"action", "diff"}, {"file", "/nonexistent/acd.toml"}}, Admin},
      {{{"cmd", "config"}, {"action", "validate"}, {"file", "/nonexistent/acd.toml"}}, Admin},
      {{{"cmd", "ha"}, {"action", "switchover"}}, Admin},
      {{{"cmd", "agents"}, {"action", "revoke-tokens"}, {"id", 1001u}}, Operator},
      {{{"cmd", "surge"}}, Viewer},
      {{{"cmd", "surge"}, {"action", "status"}}, Viewer},
      {{{"cmd", "surge"}, {"action", "enter"}, {"queue", "cards"}}, Operator},
      {{{"cmd", "surge"}, {"action", "exit"}, {"queue", "cards"}}, Operator},
      {{{"cmd", "surge"}, {"action", "auto"}, {"queue", "cards"}}, Operator},
      {{{"cmd", "service"}}, Viewer},
      {{{"cmd", "service"}, {"action", "status"}}, Viewer},
      {{{"cmd", "service"}, {"action", "down"}, {"name", "core-banking"}}, Operator},
      {{{"cmd", "service"}, {"action", "up"}, {"name", "core-banking"}}, Operator},
      {{{"cmd", "dr"}}, Viewer},
      {{{"cmd", "dr"}, {"action", "status"}}, Viewer},
      {{{"cmd", "dr"}, {"action", "history"}}, Viewer},
      {{{"cmd", "dr"}, {"action", "failover"}}, Admin},
      {{{"cmd", "dr"}, {"action", "switchover"}}, Admin},
      {{{"cmd", "dr"}, {"action", "switchback"}}, Admin},
      {{{"cmd", "dr"}, {"action", "drill"}}, Admin},
      {{{"cmd", "audit"}, {"action", "show"}}, Admin},
      {{{"cmd", "audit"}}, Admin},
      {{{"cmd", "site"}}, Viewer},
      {{{"cmd", "site"}, {"action", "status"}}, Viewer},
  };
  // Every rule of acdd's table is asked here, so a command added without a line above fails.
  for (const CommandPermission& rule : command_permissions()) {
    const bool asked = std::any_of(std::begin(requests), std::end(requests), [&](const auto& r) {
      const json& request = r.first;
      const std::string action = request.value("action", std::string("list"));
      return request["cmd"] == rule.cmd && (rule.action == "*" || action == rule.action);
    });
    EXPECT_TRUE(asked) << rule.cmd << " " << rule.action << " is not asked by any role here";
  }
  for (const OperatorRole caller : {None, Viewer, Operator, Admin}) {
    for (const auto& [request, needs] : requests) {
      ha.switchover_requested.store(false);
      const json answer = execute(ctx, request, caller);
      const bool denied = answer.value("code", std::string()) == "permission_denied";
      EXPECT_EQ(denied, caller < needs) << role_name(caller) << " " << request.dump() << " -> "
                                        << answer.dump();
      if (denied) {
        const std::string error = answer.value("error", std::string());
        EXPECT_NE(error.find("needs the " + std::string(role_name(needs)) + " role"),
                  std::string::npos)
            << error;
        EXPECT_FALSE(ha.switchover_requested.load()) << request.dump();
      }
    }
  }
  EXPECT_EQ(ctx.config, &cfg) << "nothing was reloaded";
}

// A refusal names the command, the role it needs, who holds that role (the configured groups) and
// the caller's role; a caller with none is told so.
TEST(Execute, RefusalsNameTheRoleNeededAndTheCallers) {
  ApplianceConfig cfg = parsed(embedded_default_config());
  ControlContext ctx;
  ctx.config = &cfg;
  const nlohmann::json reload{{"cmd", "config"}, {"action", "reload"}};
  nlohmann::json answer = execute(ctx, reload, OperatorRole::Viewer);
  EXPECT_EQ(answer.value("error", std::string()),
            "permission denied: 'config reload' needs the admin role (the acd-admin group, or "
            "root); you are viewer");
  cfg.operator_groups.operator_group = "callcentre";
  answer = execute(ctx, {{"cmd", "agents"}, {"action", "ready"}, {"id", 1001u}}, OperatorRole::None);
  EXPECT_EQ(answer.value("error", std::string()),
            "permission denied: 'agents ready' needs the operator role (the callcentre or "
            "acd-admin group, or root); you have no role");
  answer = execute(ctx, {{"cmd", "status"}}, OperatorRole::None);
  EXPECT_NE(answer.value("error", std::string())
                .find("needs the viewer role (the acd-viewer, callcentre or acd-admin group"),
            std::string::npos)
      << answer.dump();
  answer = execute(ctx, {{"cmd", "config"}, {"action", "diff"}, {"file", "/etc/shadow"}},
                   OperatorRole::Operator);
  EXPECT_NE(answer.value("error", std::string()).find("'config diff FILE' needs the admin role"),
            std::string::npos)
      << answer.dump();
  // An action no role is decided for is a usage error, whatever the caller.
  answer = execute(ctx, {{"cmd", "config"}, {"action", "erase"}}, OperatorRole::Admin);
  EXPECT_EQ(answer.value("code", std::string()), "usage");
  EXPECT_EQ(answer.value("error", std::string()), "config takes validate, diff or reload");
  answer = execute(ctx, {{"cmd", "client"}, {"action", "remove"}}, OperatorRole::Admin);
  EXPECT_EQ(answer.value("error", std::string()), "client takes list");
}

// Roles from groups: root is admin whatever its groups; otherwise the highest role whose group
// the caller is in; a caller in none is a viewer only when any local user may view.
TEST(OperatorRoles, FromGroups) {
  RoleGids gids;
  gids.viewer = 901;
  gids.operator_ = 902;
  gids.admin = 903;
  using enum OperatorRole;
  const std::vector<gid_t> none{100, 5};
  EXPECT_EQ(role_of(0, {}, gids), Admin);
  EXPECT_EQ(role_of(1000, none, gids), None);
  EXPECT_EQ(role_of(1000, std::vector<gid_t>{100, 901}, gids), Viewer);
  EXPECT_EQ(role_of(1000, std::vector<gid_t>{902, 100}, gids), Operator);
  EXPECT_EQ(role_of(1000, std::vector<gid_t>{901, 903, 902}, gids), Admin);
  gids.any_local_may_view = true;
  EXPECT_EQ(role_of(1000, none, gids), Viewer);
  EXPECT_EQ(role_of(1000, std::vector<gid_t>{902}, gids), Operator);
  gids.admin.reset();  // the admin group does not exist: only root is admin
  EXPECT_EQ(role_of(1000, std::vector<gid_t>{903}, gids), Viewer);
  EXPECT_EQ(role_of(0, {}, gids), Admin);
}

// Group names resolve through the system's group database; a name it lacks holds nobody; a
// user's groups include its primary group.
TEST(OperatorRoles, ResolvesGroupsOfTheSystem) {
  OperatorGroups groups;
  groups.viewer_group = "root";  // gid 0 exists everywhere
  groups.operator_group = "no-such-group-acd";
  const RoleGids gids = resolve_groups(groups);
  ASSERT_TRUE(gids.viewer.has_value());
  EXPECT_EQ(*gids.viewer, 0u);
  EXPECT_FALSE(gids.operator_.has_value());
  const std::vector<gid_t> mine = groups_of(0, 0);
  EXPECT_NE(std::find(mine.begin(), mine.end(), 0u), mine.end());
  EXPECT_EQ(groups_of(4'000'000'000u, 77), std::vector<gid_t>{77}) << "a uid without a name";
}

// The board copies a bounded slice per round and publishes only complete copies, each tagged with
// the configuration it was taken under; a new tag restarts the sweep at once.
TEST(SnapshotBoard, PublishesCompleteCopiesSliceBySlice) {
  ApplianceConfig cfg = parsed(embedded_default_config());
  cfg.domain.max_calls = 20'000;  // five rounds of call slots
  router::Engine engine(cfg.domain);
  SnapshotBoard board(&cfg, 0);
  int rounds = 0;
  while (!board.ready()) {
    board.maybe_publish(engine, nullptr);
    ++rounds;
  }
  EXPECT_EQ(rounds, 5);
  Snapshot s = board.read();
  EXPECT_EQ(s.config, &cfg);
  EXPECT_EQ(s.agents.size(), 200u);
  EXPECT_EQ(s.agents[199].number, 1199u);
  EXPECT_EQ(s.queues.size(), 5u);
  const std::uint64_t first = board.published_ns();
  ApplianceConfig next = cfg;
  board.maybe_publish(engine, &next);  // a reload: a new sweep under the new tag
  EXPECT_EQ(board.published_config(), &cfg) << "published only when complete";
  for (int i = 0; i < 4; ++i) {
    board.maybe_publish(engine, &next);
  }
  EXPECT_EQ(board.published_config(), &next);
  EXPECT_GT(board.published_ns(), first);
}

TEST(Reload, RestartOnlyDifferences) {
  const std::string base = embedded_default_config();
  const ApplianceConfig running = parsed(base);
  const ConfigDiff d = diff_configs(
      running, parsed(replaced(replaced(base, "max_calls = 65536", "max_calls = 100"),
                               "listen = \"127.0.0.1:7070\"", "listen = \"127.0.0.1:7071\"")));
  EXPECT_TRUE(has_line(d.needs_restart, "max_calls"));
  EXPECT_TRUE(has_line(d.needs_restart, "[dataplane]"));
  EXPECT_TRUE(d.structure.empty());
}

// Who may operate acdd and who may connect are read at start only: a reload that changes the
// role groups, viewers, [security] or the clients is refused, naming the table.
TEST(Reload, RolesSecurityAndClientsNeedARestart) {
  const std::string base = embedded_default_config();
  const ApplianceConfig running = parsed(base);
  const std::string viewers =
      replaced(base, "credentials = \"/var/lib/acd/credentials\"\n",
               "credentials = \"/var/lib/acd/credentials\"\nviewers = \"any-local\"\n");
  EXPECT_TRUE(has_line(diff_configs(running, parsed(viewers)).needs_restart, "[control]"));
  const std::string admins =
      replaced(base, "credentials = \"/var/lib/acd/credentials\"\n",
               "credentials = \"/var/lib/acd/credentials\"\nadmin_group = \"wheel\"\n");
  EXPECT_TRUE(has_line(diff_configs(running, parsed(admins)).needs_restart, "[control]"));
  const std::string client = base +
                             "\n[[clients]]\nname = \"sbc-1\"\nrole = \"switch\"\npublic_key = "
                             "\"o0+IDFKpldcHHmmqhHtWxKbKmUwAqPScYblYaJH61Rg=\"\n";
  ConfigDiff d = diff_configs(running, parsed(client));
  EXPECT_TRUE(has_line(d.needs_restart, "[[clients]]"));
  EXPECT_FALSE(has_line(d.needs_restart, "[control]"));
  d = diff_configs(parsed(client), parsed(replaced(client, "role = \"switch\"\npublic_key",
                                                         "role = \"site\"\npublic_key")));
  EXPECT_TRUE(has_line(d.needs_restart, "[[clients]]")) << "a client's role changed";
  d = diff_configs(running, parsed(base + "\n[security]\nmode = \"off\"\nkey_file = \"/k\"\n"));
  EXPECT_TRUE(has_line(d.needs_restart, "[security]"));
  EXPECT_TRUE(diff_configs(running, parsed(base)).needs_restart.empty());
}

}  // namespace
}  // namespace acd::control
