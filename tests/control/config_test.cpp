// acd.toml: the embedded default is valid and describes the demo centre; each kind of mistake is
// reported with the file, the line and what to do, and all of them are reported at once.
#include <gtest/gtest.h>

#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../router/engine_config_text.hpp"
#include "acd/control/config.hpp"
#include "acd/dataplane/sign_in_verifier.hpp"
#include "acd/control/history_feed.hpp"
#include "scenario_file.hpp"

namespace acd::control {
namespace {

// The embedded default parses cleanly into the demo centre.
TEST(Config, EmbeddedDefaultIsValid) {
  const ConfigResult r = parse_config(embedded_default_config(), "<embedded default>");
  ASSERT_TRUE(r.ok()) << r.errors.front();
  EXPECT_EQ(r.config.domain.queues.size(), 5u);
  EXPECT_EQ(r.config.domain.queues[0].name, "general");
  EXPECT_EQ(r.config.domain.agents.size(), 200u);
  EXPECT_EQ(r.config.domain.agents[0].number, 1000u);
  EXPECT_EQ(r.config.dataplane.listen, "127.0.0.1:7070");
  EXPECT_EQ(r.config.domain.queues[1].max_wait_ms, 300'000u);
  EXPECT_EQ(r.config.domain.queues[1].overflow[0].target, 0u);  // to "general"
  EXPECT_EQ(r.config.domain.queues[2].min_verification, 2);
  EXPECT_EQ(r.config.domain.queues[4].media, router::Media::Chat);
  EXPECT_EQ(r.config.domain.agents[199].capacity[1], 3);
}

// acdd reads control/default/acd.toml into exactly the centre it always did: every field of the
// engine's configuration, the skill names and the sites, fingerprinted when this test was written.
TEST(Config, EmbeddedDefaultIsTheSameCentreAsBefore) {
  const ConfigResult r = parse_config(embedded_default_config(), "<embedded default>");
  ASSERT_TRUE(r.ok()) << r.errors.front();
  std::string text = router::testing::config_text(r.config.domain);
  text += "site " + r.config.site + " sites";
  for (const std::string& site : r.config.sites) {
    text += " " + site;
  }
  text += " skills";
  for (const std::string& skill : r.config.skill_names) {
    text += " " + skill;
  }
  EXPECT_EQ(router::testing::fingerprint(text), 0x08c51cf37cf02229ull) << text;
}

// acd-sim reads an acd.toml into the very centre acdd runs (control/default/acd.toml), and a
// scenario file (router/sim/examples/bank.toml) is the acd.toml of its centre plus acd-sim's tables.
TEST(Config, ScenarioAndAcdTomlDescribeOneCentre) {
  const ConfigResult acdd = parse_config(embedded_default_config(), "acd.toml");
  ASSERT_TRUE(acdd.ok()) << acdd.errors.front();
  sim_tool::ScenarioFile sim;
  auto problems = sim_tool::read_scenario(embedded_default_config(), "acd.toml", sim);
  ASSERT_TRUE(problems.empty()) << problems.front();
  EXPECT_EQ(router::testing::config_text(sim.scenario.engine),
            router::testing::config_text(acdd.config.domain));
  EXPECT_EQ(sim.skill_names, acdd.config.skill_names);
  EXPECT_TRUE(sim.scenario.streams.empty());  // acd-sim offers default streams then

  std::ifstream in(std::string(ACD_SOURCE_DIR) + "/router/sim/examples/bank.toml");
  std::stringstream text;
  text << in.rdbuf();
  const std::string scenario = text.str();
  ASSERT_NE(scenario.find("\n[simulation]"), std::string::npos);
  const std::string centre = scenario.substr(0, scenario.find("\n[simulation]")) +
                             "\n[dataplane]\nlisten = \"127.0.0.1:7070\"\n";
  const ConfigResult bank = parse_config(centre, "bank-acd.toml");
  ASSERT_TRUE(bank.ok()) << bank.errors.front();
  sim = {};
  problems = sim_tool::read_scenario(scenario, "bank.toml", sim);
  ASSERT_TRUE(problems.empty()) << problems.front();
  EXPECT_FALSE(sim.scenario.streams.empty());
  EXPECT_EQ(router::testing::config_text(sim.scenario.engine),
            router::testing::config_text(bank.config.domain));
  // acdd refuses the scenario itself: its [simulation] and [[stream]] are acd-sim's.
  const ConfigResult refused = parse_config(scenario, "bank.toml");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.errors.front().find("is an acd-sim table"), std::string::npos)
      << refused.errors.front();
}

const char* kBase = R"(site = "sh"
sites = ["bj"]
skills = ["cards", "loans"]
[[queue]]
name = "cards"
skills = { cards = 1 }
[[queue]]
name = "loans"
skills = { loans = 2 }
[[agent]]
id = 7
skills = { cards = 5 }
)";

std::vector<std::string> errors_of(const std::string& extra) {
  return parse_config(std::string(kBase) + extra, "acd.toml").errors;
}

bool has(const std::vector<std::string>& errors, const std::string& line, const std::string& text) {
  for (const auto& e : errors) {
    if (e.rfind("acd.toml:" + line + ":", 0) == 0 && e.find(text) != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::string dump(const std::vector<std::string>& errors) {
  std::string all;
  for (const auto& e : errors) {
    all += e + "\n";
  }
  return all;
}

// Each mistake: unknown key, wrong type, out of range, undefined skill / queue / site, duplicate.
TEST(Config, EachMistakeNamedWithItsLine) {
  auto e = errors_of("[[agent]]\nid = 8\nskils = { cards = 1 }\n");
  EXPECT_TRUE(has(e, "15", "unknown key 'skils'")) << dump(e);
  e = errors_of("[[agent]]\nid = \"nine\"\n");
  EXPECT_TRUE(has(e, "14", "'id' must be a number")) << dump(e);
  e = errors_of("[[agent]]\nid = 9\nskills = { cards = 11 }\n");
  EXPECT_TRUE(has(e, "15", "proficiency of 'cards' must be 1..10")) << dump(e);
  e = errors_of("[[agent]]\nid = 9\nskills = { mortgages = 3 }\n");
  EXPECT_TRUE(has(e, "15", "skill 'mortgages' is not defined")) << dump(e);
  e = errors_of("[[agent]]\nid = 7\n");
  EXPECT_TRUE(has(e, "13", "agent ID 7 is used twice")) << dump(e);
  e = errors_of("[[queue]]\nname = \"x\"\nskills = { cards = 1 }\nsl_target = 1.5\n");
  EXPECT_TRUE(has(e, "16", "'sl_target' = 1.5 is out of range")) << dump(e);
  e = errors_of("[[queue]]\nname = \"x\"\nskills = { cards = 1 }\npolicy = \"fastest\"\n");
  EXPECT_TRUE(has(e, "16", "is not one of: longest_idle")) << dump(e);
  e = errors_of(
      "[[queue]]\nname = \"x\"\nskills = { cards = 1 }\n[[queue.overflow]]\nwhen = "
      "\"wait\"\nthreshold = 30\n"
      "action = \"queue\"\ntarget = \"nowhere\"\n");
  EXPECT_TRUE(has(e, "16", "overflow target queue 'nowhere' is not defined")) << dump(e);
  e = errors_of(
      "[[queue]]\nname = \"x\"\nskills = { cards = 1 }\nmax_wait_s = 60\nmax_wait_action = "
      "\"site\"\n"
      "max_wait_target = \"gz\"\n");
  EXPECT_TRUE(has(e, "16", "site 'gz' is not in 'sites'")) << dump(e);
}

// [history]: its keys read, its mistakes named with their line, and no history without a journal;
// its [history.kafka] sub-table read by the exporter's parser, its mistakes named with their line.
TEST(Config, HistoryTable) {
  ConfigResult r = parse_config(std::string(kBase) +
                                    "[journal]\ndir = \"/var/lib/acd/journal\"\n"
                                    "[history]\nenabled = true\nretention_days = 30\n"
                                    "interval_minutes = 30\nshort_abandon_ms = 3000\n"
                                    "[history.kafka]\nbrokers = [\"k1:9092\"]\n"
                                    "topic_prefix = \"bank.acd.\"\n",
                                "acd.toml");
  ASSERT_TRUE(r.ok()) << dump(r.errors);
  EXPECT_TRUE(r.config.history.enabled);
  EXPECT_EQ(r.config.history.path, "/var/lib/acd/history.db");
  EXPECT_EQ(r.config.history.retention_days, 30u);
  EXPECT_EQ(r.config.history.interval_minutes, 30u);
  EXPECT_EQ(r.config.history.short_abandon_ms, 3000u);
  EXPECT_TRUE(r.config.history.kafka.enabled);
  EXPECT_EQ(r.config.history.kafka.brokers, std::vector<std::string>{"k1:9092"});
  EXPECT_EQ(r.config.history.kafka.topic_prefix, "bank.acd.");
  EXPECT_EQ(history_options(r.config).kafka.topic_prefix, "bank.acd.");
  auto e = errors_of("[journal]\ndir = \"/j\"\n[history]\n[history.kafka]\nbrokers = [\"k1\"]\n");
  EXPECT_TRUE(has(e, "17", "a broker is \"host:port\"")) << dump(e);
  e = errors_of("[history]\nenabled = true\n");
  EXPECT_TRUE(has(e, "14", "set [journal] dir too")) << dump(e);
  e = errors_of("[journal]\ndir = \"/j\"\n[history]\ninterval_minutes = 7\n");
  EXPECT_TRUE(has(e, "16", "does not divide a day")) << dump(e);
  EXPECT_EQ(history_options(r.config).deriver.interval_us, 30ull * 60 * 1'000'000);
  // Intervals in seconds, for short runs: divide a day, and exclude interval_minutes.
  const ConfigResult secs = parse_config(
      std::string(kBase) + "[journal]\ndir = \"/j\"\n[history]\ninterval_seconds = 2\n",
      "acd.toml");
  ASSERT_TRUE(secs.ok()) << dump(secs.errors);
  EXPECT_EQ(history_options(secs.config).deriver.interval_us, 2'000'000u);
  e = errors_of("[journal]\ndir = \"/j\"\n[history]\ninterval_seconds = 7\n");
  EXPECT_TRUE(has(e, "16", "does not divide a day (86400 seconds)")) << dump(e);
  e = errors_of("[journal]\ndir = \"/j\"\n[history]\ninterval_minutes = 5\n"
                "interval_seconds = 60\n");
  EXPECT_TRUE(has(e, "17", "exclude each other")) << dump(e);
  e = errors_of("[journal]\ndir = \"/j\"\n[history]\npath = \"history.db\"\nintervals = 5\n");
  EXPECT_TRUE(has(e, "16", "absolute file name")) << dump(e);
  EXPECT_TRUE(has(e, "17", "unknown key 'intervals'")) << dump(e);
}

// A site pointing at itself, and an overflow chain that loops, are refused.
TEST(Config, SelfSiteAndOverflowLoops) {
  auto e = errors_of(
      "[[queue]]\nname = \"x\"\nskills = { cards = 1 }\nmax_wait_s = 60\nmax_wait_action = "
      "\"site\"\n"
      "max_wait_target = \"sh\"\n");
  EXPECT_TRUE(has(e, "16", "which is this site")) << dump(e);
  const std::string looping = R"(site = "sh"
skills = ["a"]
[[queue]]
name = "A"
skills = { a = 1 }
  [[queue.overflow]]
  when = "queue_length"
  threshold = 5
  action = "queue"
  target = "B"
[[queue]]
name = "B"
skills = { a = 1 }
  [[queue.overflow]]
  when = "wait"
  threshold = 30
  action = "queue"
  target = "A"
[[agent]]
id = 1
skills = { a = 1 }
)";
  e = parse_config(looping, "acd.toml").errors;
  ASSERT_EQ(e.size(), 1u) << dump(e);
  EXPECT_NE(e[0].find("overflow chain loops: A -> B -> A"), std::string::npos) << e[0];
  EXPECT_EQ(e[0].rfind("acd.toml:3:", 0), 0u) << e[0];
}

// Syntax errors, missing sections, and every problem reported in one go.
TEST(Config, SyntaxAndMissingPartsAndAllAtOnce) {
  auto e = parse_config("skills = [\"a\"\n[[queue]]", "acd.toml").errors;
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].find("fix the TOML syntax"), std::string::npos) << e[0];
  e = parse_config("skills = [\"a\"]\n", "acd.toml").errors;
  EXPECT_EQ(e.size(), 2u) << dump(e);  // no queue, no agents
  e = errors_of("bogus = 1\n[dataplane]\nbackend = \"smoke\"\ncores = [0, 1, 2]\n");
  EXPECT_TRUE(has(e, "13", "unknown key 'bogus'")) << dump(e);
  EXPECT_TRUE(has(e, "15", "backend must be")) << dump(e);
  EXPECT_TRUE(has(e, "16", "cores must be")) << dump(e);
  EXPECT_FALSE(load_config("/nonexistent/acd.toml").ok());
}

// Not a configuration: a device, a directory, a missing file. Each is refused by name.
TEST(Config, OnlyRegularFilesAreRead) {
  for (const char* path : {"/dev/zero", "/tmp", "/nonexistent/acd.toml"}) {
    const ConfigResult r = load_config(path);
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_NE(r.errors.front().find(path), std::string::npos) << r.errors.front();
  }
}

}  // namespace
// Every start-up address is checked by the parser, with its line: a file that passes starts.
TEST(Config, StartupAddressesAndPathsAreChecked) {
  const auto e = errors_of(
      "[dataplane]\nlisten = \"127.0.0.1:70700\"\n"
      "[metrics]\nlisten = \"localhost:abc\"\n"
      "[control]\nsocket = \"run/acd.sock\"\n");
  EXPECT_TRUE(has(e, "14", "dataplane.listen = \"127.0.0.1:70700\"")) << dump(e);
  EXPECT_TRUE(has(e, "16", "metrics.listen = \"localhost:abc\"")) << dump(e);
  EXPECT_TRUE(has(e, "18", "absolute path")) << dump(e);
  EXPECT_EQ(e.size(), 3u) << dump(e);
}

// The machine-dependent checks name the file and key: a CPU acdd may not use, two equal cores, a
// missing credential file (refused unless the embedded demo runs without one).
TEST(Config, StartupChecksNameFileAndKey) {
  ConfigResult r = parse_config(
      std::string(kBase) +
          "[dataplane]\ncores = [4095]\n[control]\ncredentials = \"/nonexistent/creds\"\n",
      "acd.toml");
  ASSERT_TRUE(r.ok()) << dump(r.errors);
  auto e = check_startup(r.config, false);
  ASSERT_EQ(e.size(), 2u) << dump(e);
  EXPECT_TRUE(has(e, "14", "dataplane.cores: CPU 4095")) << dump(e);
  EXPECT_TRUE(has(e, "16", "control.credentials: /nonexistent/creds")) << dump(e);
  EXPECT_EQ(check_startup(r.config, true).size(), 1u) << "the demo may run without the file";
  r.config.dataplane.cores = {0, 0};
  e = check_startup(r.config, true);
  ASSERT_EQ(e.size(), 1u) << dump(e);
  EXPECT_NE(e[0].find("must differ"), std::string::npos) << e[0];
}

// [control]'s operator roles: defaults when absent; each key checked with its line (a name that
// is no group name, one group for two roles, viewers neither word); the whole set read.
TEST(Config, OperatorGroupsAreChecked) {
  ConfigResult r = parse_config(kBase, "acd.toml");
  ASSERT_TRUE(r.ok()) << dump(r.errors);
  EXPECT_EQ(r.config.operator_groups.viewer_group, "acd-viewer");
  EXPECT_EQ(r.config.operator_groups.operator_group, "acd");
  EXPECT_EQ(r.config.operator_groups.admin_group, "acd-admin");
  EXPECT_FALSE(r.config.operator_groups.any_local_may_view) << "only the groups may read";
  r = parse_config(std::string(kBase) +
                       "[control]\nviewer_group = \"wallboard\"\noperator_group = "
                       "\"supervisors\"\nadmin_group = \"wheel\"\nviewers = \"any-local\"\n",
                   "acd.toml");
  ASSERT_TRUE(r.ok()) << dump(r.errors);
  EXPECT_EQ(r.config.operator_groups.viewer_group, "wallboard");
  EXPECT_EQ(r.config.operator_groups.operator_group, "supervisors");
  EXPECT_EQ(r.config.operator_groups.admin_group, "wheel");
  EXPECT_TRUE(r.config.operator_groups.any_local_may_view);
  const auto e = errors_of(
      "[control]\nviewer_group = \"Bad Name\"\noperator_group = \"acd-admin\"\n"
      "viewers = \"everyone\"\nadmin_group = 7\n");
  EXPECT_TRUE(has(e, "14", "control.viewer_group = \"Bad Name\" is not a group name")) << dump(e);
  EXPECT_TRUE(has(e, "15", "control.operator_group and control.admin_group are both \"acd-admin\""))
      << dump(e);
  EXPECT_TRUE(has(e, "16", "control.viewers = \"everyone\" is not one of: group")) << dump(e);
  EXPECT_TRUE(has(e, "17", "'admin_group' must be a string")) << dump(e);
  EXPECT_EQ(e.size(), 4u) << dump(e);
}

// A group the file names that this machine lacks is a start-up problem with file, line and key;
// the default groups may be absent (only root holds their roles then).
TEST(Config, UnknownOperatorGroupsRefusedAtStartup) {
  ConfigResult r = parse_config(std::string(kBase) +
                                    "[control]\nviewer_group = \"root\"\n"
                                    "admin_group = \"no-such-group-acd\"\n",
                                "acd.toml");
  ASSERT_TRUE(r.ok()) << dump(r.errors);
  const auto e = check_operator_groups(r.config);
  ASSERT_EQ(e.size(), 1u) << dump(e);
  EXPECT_TRUE(has(e, "15", "control.admin_group = \"no-such-group-acd\": no such group on this "
                           "machine; create it (groupadd no-such-group-acd)"))
      << dump(e);
  const auto startup = check_startup(r.config, true);
  EXPECT_TRUE(has(startup, "15", "no such group")) << dump(startup);
  r.config.origin.erase("control.admin_group");  // as if the name were the default
  EXPECT_TRUE(check_operator_groups(r.config).empty());
}

// Overlapping agent groups are one message with the range, not one line per agent ID.
TEST(Config, OverlappingGroupsSaidOnce) {
  const auto e = errors_of(
      "[[agent_group]]\nfirst_id = 100\ncount = 50\n"
      "[[agent_group]]\nfirst_id = 120\ncount = 50\n");
  ASSERT_EQ(e.size(), 1u) << dump(e);
  EXPECT_TRUE(has(e, "16", "30 of its agent IDs (120 to 149) are defined already")) << dump(e);
}

// A bad value is one problem: no follow-on "needs" error, and ranges in plain numbers.
TEST(Config, OneProblemPerMistakePlainNumbers) {
  auto e = errors_of("[[agent_group]]\nfirst_id = 100\ncount = -3\n");
  ASSERT_EQ(e.size(), 1u) << dump(e);
  EXPECT_TRUE(has(e, "15", "'count' = -3 is out of range; use 1 to 2000000")) << dump(e);
  e = parse_config("max_calls = 99999999\n" + std::string(kBase), "acd.toml").errors;
  ASSERT_EQ(e.size(), 1u) << dump(e);
  EXPECT_TRUE(has(e, "1", "use 1 to 16777216")) << dump(e);
}

}  // namespace acd::control

namespace acd::control {
namespace {

// [audit]: read when valid; a relative directory, a value out of range and an unknown key are
// each refused with their line; without the table there is no audit log.
TEST(Config, AuditTable) {
  EXPECT_FALSE(parse_config(std::string(kBase), "acd.toml").config.audit.enabled());
  const ConfigResult ok =
      parse_config(std::string(kBase) +
                       "[audit]\ndir = \"/var/lib/acd/audit\"\nmax_file_bytes = 65536\n"
                       "keep_files = 3\n",
                   "acd.toml");
  ASSERT_TRUE(ok.ok()) << dump(ok.errors);
  EXPECT_EQ(ok.config.audit.dir, "/var/lib/acd/audit");
  EXPECT_EQ(ok.config.audit.max_file_bytes, 65536u);
  EXPECT_EQ(ok.config.audit.keep_files, 3u);
  const auto e = errors_of(
      "[audit]\ndir = \"audit\"\nmax_file_bytes = 10\nkeep_files = 0\n"
      "keep = 2\n");
  EXPECT_TRUE(has(e, "14", "audit.dir is an absolute directory")) << dump(e);
  EXPECT_TRUE(has(e, "15", "'max_file_bytes' = 10 is out of range")) << dump(e);
  EXPECT_TRUE(has(e, "16", "'keep_files' = 0 is out of range")) << dump(e);
  EXPECT_TRUE(has(e, "17", "unknown key 'keep'")) << dump(e);
  EXPECT_EQ(e.size(), 4u) << dump(e);
}

// The verifier threads acdd starts from [signin] (verifier_pool) run off the dataplane's cores: the
// pool's CPUs leave out [dataplane] cores, and a worker thread's own affinity, read inside a check,
// holds none of them (every CPU this process may use but those, when there are any).
namespace {
class AffinityProbe final : public dataplane::CredentialVerifier {
 public:
  bool verify(router::AgentNumber, std::string_view) override {
    cpu_set_t mine;
    CPU_ZERO(&mine);
    if (sched_getaffinity(0, sizeof(mine), &mine) == 0) {
      for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (CPU_ISSET(static_cast<unsigned>(cpu), &mine)) {
          seen.push_back(cpu);
        }
      }
    }
    checked = true;
    return true;
  }
  std::vector<int> seen;  // written by the one worker, read after its result was collected
  std::atomic<bool> checked{false};
};
}  // namespace

TEST(Config, VerifierThreadsLeaveTheDataplaneCoresAlone) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  ASSERT_EQ(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(static_cast<unsigned>(cpu), &allowed)) {
      cpus.push_back(cpu);
    }
  }
  ASSERT_FALSE(cpus.empty());
  // The dataplane on this process's first CPU (the IO thread), and on its second when it has three
  // or more (the routing thread): what is left is the verifiers'.
  std::string cores = "[dataplane]\ncores = [" + std::to_string(cpus[0]);
  std::vector<int> dataplane{cpus[0]};
  if (cpus.size() >= 3) {
    cores += ", " + std::to_string(cpus[1]);
    dataplane.push_back(cpus[1]);
  }
  cores += "]\n[signin]\nthreads = 1\n";
  const ConfigResult r = parse_config(std::string(kBase) + cores, "acd.toml");
  ASSERT_TRUE(r.ok()) << dump(r.errors);
  const dataplane::VerifierPoolConfig pool = verifier_pool(r.config);
  std::vector<int> expected;
  for (const int cpu : cpus) {
    if (std::find(dataplane.begin(), dataplane.end(), cpu) == dataplane.end()) {
      expected.push_back(cpu);
    }
  }
  EXPECT_EQ(pool.cpus, expected);
  AffinityProbe probe;
  {
    dataplane::AsyncVerifier verifier(probe, pool);
    dataplane::SignInJob job;
    job.number = 7;
    ASSERT_TRUE(verifier.submit(job));
    std::size_t collected = 0;
    for (int i = 0; i < 5000 && collected == 0; ++i) {
      collected = verifier.collect([](const dataplane::SignInResult&) {});
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_EQ(collected, 1u);
  }
  ASSERT_TRUE(probe.checked.load());
  if (expected.empty()) {
    EXPECT_EQ(probe.seen, cpus);  // one CPU only: the workers share it, unpinned (and niced)
    EXPECT_EQ(pool.nice, 10);
  } else {
    EXPECT_EQ(probe.seen, expected);
    for (const int cpu : dataplane) {
      EXPECT_EQ(std::count(probe.seen.begin(), probe.seen.end(), cpu), 0) << "CPU " << cpu;
    }
  }
}

// [signin]: a level or explicit limits (not both), each in range, named with its line; the
// default thread count leaves the dataplane's CPUs alone and is never 0.
TEST(Config, SignInSettings) {
  ConfigResult r =
      parse_config(std::string(kBase) + "[signin]\nthreads = 3\nqueue = 200\ncost = \"owasp\"\n",
                   "acd.toml");
  ASSERT_TRUE(r.ok()) << dump(r.errors);
  EXPECT_EQ(r.config.signin.threads, 3u);
  EXPECT_EQ(r.config.signin.queue, 200u);
  EXPECT_EQ(r.config.signin.opslimit, 2u);
  EXPECT_EQ(r.config.signin.memlimit_kib, 19u * 1024);
  EXPECT_EQ(signin_threads(r.config), 3u);
  EXPECT_EQ(verifier_pool(r.config).queue, 200u);
  // Niced only when the workers must share the dataplane's CPUs (none left free).
  const dataplane::VerifierPoolConfig pool = verifier_pool(r.config);
  EXPECT_EQ(pool.nice, pool.cpus.empty() ? 10 : 0);
  r = parse_config(std::string(kBase) + "[signin]\nopslimit = 1\nmemlimit_kib = 4096\n", "acd.toml");
  ASSERT_TRUE(r.ok()) << dump(r.errors);
  EXPECT_EQ(r.config.signin.memlimit_kib, 4096u);
  EXPECT_GE(signin_threads(r.config), 1u);

  auto e = errors_of("[signin]\ncost = \"paranoid\"\n");
  EXPECT_TRUE(has(e, "14", "is not a cost level")) << dump(e);
  e = errors_of("[signin]\ncost = \"owasp\"\nopslimit = 3\n");
  EXPECT_TRUE(has(e, "14", "not both")) << dump(e);
  e = errors_of("[signin]\nopslimit = 0\n");
  EXPECT_TRUE(has(e, "14", "opslimit = 0 is out of range")) << dump(e);
  e = errors_of("[signin]\nmemlimit_kib = 4\n");
  EXPECT_TRUE(has(e, "14", "memlimit_kib = 4 is out of range")) << dump(e);
  e = errors_of("[signin]\nqueue = 0\n");
  EXPECT_TRUE(has(e, "14", "'queue' = 0 is out of range")) << dump(e);
  e = errors_of("[signin]\nthreds = 2\n");
  EXPECT_TRUE(has(e, "14", "unknown key 'threds'")) << dump(e);

  // sched: the sign-in threads' scheduling policy, normal unless asked for.
  EXPECT_EQ(verifier_pool(r.config).sched, dataplane::ThreadClass::Normal);
  r = parse_config(std::string(kBase) + "[signin]\nsched = \"idle\"\n", "acd.toml");
  ASSERT_TRUE(r.ok()) << dump(r.errors);
  EXPECT_EQ(r.config.signin.sched, dataplane::ThreadClass::Idle);
  EXPECT_EQ(verifier_pool(r.config).sched, dataplane::ThreadClass::Idle);
  r = parse_config(std::string(kBase) + "[signin]\nsched = \"batch\"\n", "acd.toml");
  ASSERT_TRUE(r.ok()) << dump(r.errors);
  EXPECT_EQ(verifier_pool(r.config).sched, dataplane::ThreadClass::Batch);
  e = errors_of("[signin]\nsched = \"fifo\"\n");
  EXPECT_TRUE(has(e, "14", "not a scheduling policy: normal, batch or idle")) << dump(e);
}

// [dataplane] io_priority and [signin] burst are read within their ranges. A priority the OS
// refuses stops acdd at start-up, naming the key's line and what to grant (a child with neither
// CAP_SYS_NICE nor RLIMIT_RTPRIO); one within the process's RLIMIT_RTPRIO is granted.
TEST(Config, IoPriorityAndSignInBurst) {
  ConfigResult r = parse_config(
      std::string(kBase) + "[dataplane]\nio_priority = 10\n[signin]\nburst = 4\n", "acd.toml");
  ASSERT_TRUE(r.ok()) << dump(r.errors);
  EXPECT_EQ(r.config.dataplane.io_priority, 10u);
  EXPECT_EQ(r.config.signin.burst, 4u);
  EXPECT_EQ(ConfigResult{}.config.dataplane.io_priority, 0u) << "off unless asked for";
  auto e = errors_of("[dataplane]\nio_priority = 100\n");
  EXPECT_TRUE(has(e, "14", "io_priority' = 100 is out of range")) << dump(e);
  e = errors_of("[signin]\nburst = -1\n");
  EXPECT_EQ(e.size(), 1u) << dump(e);

  const ApplianceConfig cfg = r.config;
  auto run_as_nobody = [&](rlim_t rtprio) {
    const rlimit limit{rtprio, rtprio};
    if (setrlimit(RLIMIT_RTPRIO, &limit) != 0 || (geteuid() == 0 && setuid(65534) != 0)) {
      std::fprintf(stderr, "cannot drop privileges\n");
      std::exit(2);
    }
    const std::vector<std::string> problems = check_startup(cfg, true);
    for (const std::string& p : problems) {
      std::fprintf(stderr, "%s\n", p.c_str());
    }
    std::exit(static_cast<int>(problems.size()));
  };
  EXPECT_EXIT(run_as_nobody(0), ::testing::ExitedWithCode(1),
              "acd.toml:14: dataplane.io_priority = 10: the OS refused the IO thread SCHED_FIFO "
              "priority 10 \\(Operation not permitted\\): acdd needs CAP_SYS_NICE, or an "
              "RLIMIT_RTPRIO of at least 10 \\(systemd: .*LimitRTPRIO=10");
  // Raising the hard limit needs CAP_SYS_RESOURCE, which a container may lack: then the grant
  // is not tested here.
  const pid_t probe = fork();
  if (probe == 0) {
    const rlimit limit{20, 20};
    _exit(setrlimit(RLIMIT_RTPRIO, &limit) == 0 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(probe, &status, 0), probe);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    EXPECT_EXIT(run_as_nobody(20), ::testing::ExitedWithCode(0), "")
        << "RLIMIT_RTPRIO 20 allows priority 10";
  } else {
    std::fprintf(stderr, "RLIMIT_RTPRIO cannot be raised here: the grant is not tested\n");
  }
}

}  // namespace
}  // namespace acd::control
