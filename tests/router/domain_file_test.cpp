// The routing domain's reader, shared by acd.toml and scenario files: every problem of a file is
// collected at once with its line, a mistake is one message, and each program accepts its own
// tables and refuses or ignores the other's.
#include <gtest/gtest.h>

#include <algorithm>

#include "acd/domain/domain_file.hpp"
#include "acd/router/event.hpp"

namespace acd::domain {
namespace {

struct Read {
  DomainConfig domain;
  std::vector<std::string> problems;
};

Read read(const std::string& text, Program program = Program::Acdd) {
  Read r;
  const std::optional<toml::table> root = parse_toml(text, "centre.toml", r.problems);
  if (root) {
    TomlChecker check("centre.toml", r.problems);
    r.domain = read_domain(*root, check, program);
  }
  return r;
}

bool has(const std::vector<std::string>& problems, int line, const std::string& text) {
  const std::string prefix = "centre.toml:" + std::to_string(line) + ": ";
  for (const auto& p : problems) {
    if (p.rfind(prefix, 0) == 0 && p.find(text) != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::string dump(const std::vector<std::string>& problems) {
  std::string all;
  for (const auto& p : problems) {
    all += p + "\n";
  }
  return all;
}

const char* kCentre = R"(site = "sh"
sites = ["bj"]
skills = ["cards", "loans"]
[[queue]]
name = "cards"
skills = { cards = 1 }
wrap_up_s = 30
[[queue]]
name = "loans"
skills = { loans = 2 }
[[agent]]
id = 7
skills = { cards = 5 }
[[agent_group]]
first_id = 100
count = 3
skills = { loans = 4 }
chat_capacity = 2
)";

// A sound centre becomes the engine's configuration: names resolved, seconds in milliseconds,
// groups expanded, max_calls at its default.
TEST(DomainFile, ReadsTheCentre) {
  const Read r = read(kCentre);
  ASSERT_TRUE(r.problems.empty()) << dump(r.problems);
  EXPECT_EQ(r.domain.site, "sh");
  EXPECT_EQ(r.domain.sites, std::vector<std::string>{"bj"});
  EXPECT_EQ(r.domain.skill_names, (std::vector<std::string>{"cards", "loans"}));
  const router::EngineConfig& e = r.domain.engine;
  EXPECT_EQ(e.skill_count, 2u);
  EXPECT_EQ(e.max_calls, kDefaultMaxCalls);
  ASSERT_EQ(e.queues.size(), 2u);
  EXPECT_EQ(e.queues[0].wrap_up_ms, 30'000u);
  EXPECT_EQ(e.queues[1].skills[0].skill, 1);
  EXPECT_EQ(e.queues[1].skills[0].min_level, 2);
  ASSERT_EQ(e.agents.size(), 4u);
  EXPECT_EQ(e.agents[3].number, 102u);
  EXPECT_EQ(e.agents[3].capacity[static_cast<int>(router::Media::Chat)], 2);
  EXPECT_TRUE(router::validate_config(e).empty());
}

// Mistakes in every table of one file are all reported, each once, at its own line.
TEST(DomainFile, EveryProblemWithItsLine) {
  const Read r = read(std::string(kCentre) +
                      "[[queue]]\n"                               // 19
                      "name = \"x\"\n"                            // 20
                      "skills = { cards = 1 }\n"                  // 21
                      "policy = \"fastest\"\n"                    // 22
                      "ring_timeout_s = 7200\n"                   // 23
                      "  [[queue.overflow]]\n"                    // 24
                      "  when = \"wait\"\n"                       // 25
                      "  threshold = 30\n"                        // 26
                      "  action = \"queue\"\n"                    // 27
                      "  target = \"nowhere\"\n"                  // 28
                      "[[agent]]\n"                               // 29
                      "id = 8\n"                                  // 30
                      "skills = { mortgages = 3 }\n"              // 31
                      "[[agent_group]]\n"                         // 32
                      "first_id = 101\n"                          // 33
                      "count = 10\n"                              // 34
                      "bogus = 1\n");                             // 35
  EXPECT_TRUE(has(r.problems, 22, "'policy' = \"fastest\" is not one of: longest_idle"))
      << dump(r.problems);
  EXPECT_TRUE(has(r.problems, 23, "'ring_timeout_s' = 7200 is out of range; use 0.001 to 3600"))
      << dump(r.problems);
  EXPECT_TRUE(has(r.problems, 24, "overflow target queue 'nowhere' is not defined"))
      << dump(r.problems);
  EXPECT_TRUE(has(r.problems, 31, "skill 'mortgages' is not defined; add it to 'skills'"))
      << dump(r.problems);
  EXPECT_TRUE(has(r.problems, 32, "2 of its agent IDs (101 to 102) are defined already"))
      << dump(r.problems);
  EXPECT_TRUE(has(r.problems, 35, "unknown key 'bogus' in [[agent_group]]")) << dump(r.problems);
  EXPECT_EQ(r.problems.size(), 6u) << dump(r.problems);
}

// The old scenario spelling [[agents]] is one message naming the new tables, without a follow-on
// "no agents".
TEST(DomainFile, OldAgentsSpellingNamesTheNewOne) {
  const Read r = read(
      "skills = [\"a\"]\n[[queue]]\nname = \"q\"\nskills = { a = 1 }\n[[agents]]\ncount = 2\n",
      Program::Simulator);
  ASSERT_EQ(r.problems.size(), 1u) << dump(r.problems);
  EXPECT_TRUE(has(r.problems, 5, "'[[agents]]' is the old scenario spelling; write "
                                 "[[agent_group]] with first_id and count"))
      << dump(r.problems);
}

// acdd refuses acd-sim's tables with a reason; acd-sim accepts them and ignores acdd's own.
TEST(DomainFile, EachProgramItsOwnTables) {
  const std::string text = std::string(kCentre) +
                           "[dataplane]\n"                 // 19
                           "listen = \"anything\"\n"       // 20
                           "[simulation]\n"                // 21
                           "seed = 3\n"                    // 22
                           "[[stream]]\n"                  // 23
                           "queue = \"cards\"\n";          // 24
  Read r = read(text, Program::Acdd);
  EXPECT_TRUE(has(r.problems, 21, "'simulation' is an acd-sim table")) << dump(r.problems);
  EXPECT_TRUE(has(r.problems, 23, "'stream' is an acd-sim table (simulated calls); acdd does not "
                                  "read it: remove it, or keep the simulation in a scenario file"))
      << dump(r.problems);
  EXPECT_EQ(r.problems.size(), 2u) << dump(r.problems);
  r = read(text, Program::Simulator);
  EXPECT_TRUE(r.problems.empty()) << dump(r.problems);
  r = read("colour = 1\n" + std::string(kCentre), Program::Simulator);
  ASSERT_EQ(r.problems.size(), 1u) << dump(r.problems);
  EXPECT_TRUE(has(r.problems, 1,
                  "unknown key 'colour' in the top level; known keys: site, sites, max_calls, "
                  "max_overflow_hops, skills, queue, agent, agent_group, simulation, stream"))
      << dump(r.problems);
}

// Missing parts are said once each, without a line; a syntax error is the only message.
TEST(DomainFile, MissingPartsAndSyntax) {
  Read r = read("site = \"sh\"\n");
  EXPECT_EQ(r.problems.size(), 3u) << dump(r.problems);  // skills, queue, agents
  EXPECT_NE(r.problems[0].find("centre.toml: 'skills' is missing"), std::string::npos)
      << dump(r.problems);
  r = read("skills = [\"a\"\n[[queue]]");
  ASSERT_EQ(r.problems.size(), 1u) << dump(r.problems);
  EXPECT_NE(r.problems[0].find("fix the TOML syntax"), std::string::npos) << r.problems[0];
}

}  // namespace
}  // namespace acd::domain

namespace acd::domain {
namespace {

const char* kSurgeCentre = R"(skills = ["cards", "loans", "fraud"]
[surge]
eval_interval_s = 2
[[services]]
name = "core"
action = "announcement"
target = "7100"
[[queue]]
name = "cards"
skills = { cards = 3 }
services = ["core"]
[queue.surge]
enter = { queue_length = 20, ewt_s = 120 }
exit = { queue_length = 5 }
min_dwell_s = 300
[[queue.surge.actions]]
action = "borrow"
from = "loans"
min_level = 2
[[queue.surge.actions]]
action = "callback"
min_ewt_s = 180
[[queue.surge.actions]]
action = "queue"
target = "loans"
[[queue]]
name = "loans"
skills = { loans = 1 }
[[queue]]
name = "fraud"
skills = { fraud = 1 }
reserved = true
[[agent]]
id = 7
skills = { cards = 5 }
reserved = true
[[agent_group]]
first_id = 100
count = 3
skills = { loans = 4 }
)";

// [surge], [[services]], a queue's services, reserved flag and [queue.surge] are read into the
// engine's configuration; an exit level left out is half the enter level.
TEST(DomainFileSurge, PlanServicesAndReservedAreRead) {
  const Read r = read(kSurgeCentre);
  ASSERT_TRUE(r.problems.empty()) << dump(r.problems);
  const auto& e = r.domain.engine;
  EXPECT_EQ(e.surge_eval_ms, 2000u);
  ASSERT_EQ(e.services.size(), 1u);
  EXPECT_EQ(r.domain.service_names[0], "core");
  EXPECT_EQ(e.services[0].action, router::OverflowAction::Announcement);
  EXPECT_EQ(e.services[0].target, 7100u);
  const auto& cards = e.queues[0];
  EXPECT_EQ(cards.services, std::vector<std::uint32_t>{0});
  EXPECT_EQ(cards.surge.enter.queue_length, 20u);
  EXPECT_EQ(cards.surge.exit.queue_length, 5u);
  EXPECT_EQ(cards.surge.exit.ewt_ms, 60'000u);  // half of enter
  EXPECT_EQ(cards.surge.min_dwell_ms, 300'000u);
  ASSERT_EQ(cards.surge.actions.size(), 3u);
  EXPECT_TRUE(cards.surge.actions[0].borrow);
  EXPECT_EQ(cards.surge.actions[0].target, 1u);
  EXPECT_EQ(cards.surge.actions[0].min_level, 2);
  EXPECT_EQ(cards.surge.actions[1].action, router::OverflowAction::CallbackKeepPlace);
  EXPECT_EQ(cards.surge.actions[1].min_ewt_ms, 180'000u);
  EXPECT_EQ(cards.surge.actions[2].action, router::OverflowAction::ToQueue);
  EXPECT_EQ(cards.surge.actions[2].target, 1u);
  EXPECT_TRUE(e.queues[2].reserved);
  EXPECT_TRUE(e.agents[0].reserved);
  EXPECT_FALSE(e.agents[1].reserved);
}

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return at == std::string::npos ? text : text.replace(at, from.size(), to);
}

// Each mistake is one message at its line: exit at or above enter, exit without enter, an unknown
// service or lender, a step into itself, into or from a reserved queue, a loop through surge steps.
TEST(DomainFileSurge, MistakesNameTheirLine) {
  Read r = read(replace(kSurgeCentre, "exit = { queue_length = 5 }", "exit = { queue_length = 25 }"));
  EXPECT_TRUE(has(r.problems, 14, "exit.queue_length must be below enter.queue_length (25 >= 20)"))
      << dump(r.problems);
  r = read(replace(kSurgeCentre, "exit = { queue_length = 5 }", "exit = { oldest_wait_s = 5 }"));
  EXPECT_TRUE(has(r.problems, 14, "exit.oldest_wait_s has no enter.oldest_wait_s")) << dump(r.problems);
  r = read(replace(kSurgeCentre, "services = [\"core\"]", "services = [\"ledger\"]"));
  EXPECT_TRUE(has(r.problems, 11, "service 'ledger' is not defined")) << dump(r.problems);
  r = read(replace(kSurgeCentre, "from = \"loans\"", "from = \"mortgages\""));
  EXPECT_TRUE(has(r.problems, 18, "borrows from queue 'mortgages' is not defined")) << dump(r.problems);
  r = read(replace(kSurgeCentre, "from = \"loans\"", "from = \"cards\""));
  EXPECT_TRUE(has(r.problems, 18, "borrows from itself")) << dump(r.problems);
  r = read(replace(kSurgeCentre, "from = \"loans\"", "from = \"fraud\""));
  EXPECT_TRUE(has(r.problems, 18, "reserved capacity; surge never borrows its agents"))
      << dump(r.problems);
  r = read(replace(kSurgeCentre, "target = \"loans\"", "target = \"cards\""));
  EXPECT_TRUE(has(r.problems, 25, "overflows into itself")) << dump(r.problems);
  r = read(replace(kSurgeCentre, "target = \"loans\"", "target = \"fraud\""));
  EXPECT_TRUE(has(r.problems, 25, "surge never overflows into it")) << dump(r.problems);
  r = read(replace(kSurgeCentre, "name = \"loans\"\nskills = { loans = 1 }",
                   "name = \"loans\"\nskills = { loans = 1 }\n[[queue.overflow]]\nwhen = "
                   "\"wait\"\nthreshold = 30\naction = \"queue\"\ntarget = \"cards\""));
  EXPECT_TRUE(has(r.problems, 8, "overflow chain loops: cards -> loans -> cards")) << dump(r.problems);
  r = read(replace(kSurgeCentre, "action = \"announcement\"", "action = \"dance\""));
  EXPECT_TRUE(has(r.problems, 6, "is not one of")) << dump(r.problems);
  r = read(replace(kSurgeCentre, "min_dwell_s = 300", "min_dwell_s = 300\nlevel = 3"));
  EXPECT_TRUE(has(r.problems, 16, "unknown key")) << dump(r.problems);
}

// The exit hold and dwell: [surge] gives every plan's default, [queue.surge] its own; values out
// of range, of the wrong type, or unknown keys are errors at their line, and nothing is read.
TEST(DomainFileSurge, ExitHoldAndDwellDefaults) {
  Read r = read(kSurgeCentre);
  ASSERT_TRUE(r.problems.empty()) << dump(r.problems);
  EXPECT_EQ(r.domain.engine.queues[0].surge.exit_hold_ms, 0u);  // none given: leave at once
  r = read(replace(kSurgeCentre, "eval_interval_s = 2",
                   "eval_interval_s = 2\nexit_hold_s = 4.5\nmin_dwell_s = 30"));
  ASSERT_TRUE(r.problems.empty()) << dump(r.problems);
  EXPECT_EQ(r.domain.engine.queues[0].surge.exit_hold_ms, 4'500u);
  EXPECT_EQ(r.domain.engine.queues[0].surge.min_dwell_ms, 300'000u);  // the queue's own wins
  r = read(replace(replace(kSurgeCentre, "eval_interval_s = 2",
                           "eval_interval_s = 2\nexit_hold_s = 4.5\nmin_dwell_s = 30"),
                   "min_dwell_s = 300", "exit_hold_s = 10"));
  ASSERT_TRUE(r.problems.empty()) << dump(r.problems);
  EXPECT_EQ(r.domain.engine.queues[0].surge.exit_hold_ms, 10'000u);
  EXPECT_EQ(r.domain.engine.queues[0].surge.min_dwell_ms, 30'000u);  // the [surge] default
  const std::string surge = "eval_interval_s = 2", dwell = "min_dwell_s = 300";
  const struct {
    std::string from, to;
    int line;
    const char* says;
  } mistakes[] = {
      {surge, surge + "\nexit_hold_s = -1", 4, "'exit_hold_s' = -1 is out of range; use 0 to 86400"},
      {dwell, dwell + "\nexit_hold_s = \"long\"", 16, "'exit_hold_s' must be a number"},
      {dwell, dwell + "\nexit_hold_s = 90000", 16, "is out of range"},
      {surge, surge + "\nexit_hold = 3", 4, "unknown key"},
      {surge, surge + "\nmin_dwell_s = -3", 4, "'min_dwell_s' = -3 is out of range"}};
  for (const auto& m : mistakes) {
    r = read(replace(kSurgeCentre, m.from, m.to));
    EXPECT_TRUE(has(r.problems, m.line, m.says)) << m.to << ": " << dump(r.problems);
  }
}

// The line (1-based) of the first occurrence of `what` in `text`.
int line_of(const std::string& text, const std::string& what) {
  const auto at = text.find(what);
  EXPECT_NE(at, std::string::npos) << what;
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
}

// A service's diversion into a queue is checked like an overflow target, at its target's line: a
// queue of another media than a queue depending on the service, a queue that needs the service
// itself, and a loop between services.
TEST(DomainFileSurge, ServiceDiversionMistakesNameTheirLine) {
  const std::string to_queue = "action = \"queue\"\ntarget = \"loans\"";
  std::string text =
      replace(kSurgeCentre, "action = \"announcement\"\ntarget = \"7100\"", to_queue);
  Read r = read(text);
  EXPECT_TRUE(r.problems.empty()) << dump(r.problems);

  text = replace(replace(kSurgeCentre, "action = \"announcement\"\ntarget = \"7100\"",
                         "action = \"queue\"\ntarget = \"fraud\""),
                 "name = \"fraud\"", "name = \"fraud\"\nmedia = \"chat\"");
  r = read(text);
  EXPECT_TRUE(has(r.problems, line_of(text, "target = \"fraud\""),
                  "service 'core': diversion queue 'fraud' serves chat, but queue 'cards', which "
                  "depends on the service, serves voice"))
      << dump(r.problems);

  text = replace(kSurgeCentre, "action = \"announcement\"\ntarget = \"7100\"",
                 "action = \"queue\"\ntarget = \"cards\"");
  r = read(text);
  EXPECT_TRUE(has(r.problems, line_of(text, "target = \"cards\""),
                  "diversion queue 'cards' depends on this service"))
      << dump(r.problems);

  // core diverts to loans, which needs ledger; ledger diverts to cards, which needs core.
  text = replace(replace(kSurgeCentre, "action = \"announcement\"\ntarget = \"7100\"",
                         to_queue + "\n[[services]]\nname = \"ledger\"\naction = \"queue\"\n"
                                    "target = \"cards\""),
                 "name = \"loans\"\nskills = { loans = 1 }",
                 "name = \"loans\"\nskills = { loans = 1 }\nservices = [\"ledger\"]");
  r = read(text);
  EXPECT_TRUE(has(r.problems, line_of(text, "target = \"cards\""),
                  "service diversions loop: core -> ledger -> core"))
      << dump(r.problems);
  EXPECT_EQ(r.problems.size(), 1u) << dump(r.problems);
}

// Sites: numbers as given or derived from the name, "sites" as the least-EWT target, the hop
// limit and summary age; two sites with one number and a target beside "sites" are refused.
TEST(DomainFileSites, NumbersAndTheSitesAction) {
  const std::string text = R"(max_site_hops = 3
skills = ["cards"]
[site]
name = "sh"
number = 1
summary_max_age_s = 1.5
[[sites]]
name = "bj"
number = 2
[[sites]]
name = "gz"
[[queue]]
name = "cards"
skills = { cards = 1 }
[[queue.overflow]]
when = "queue_length"
threshold = 0
action = "sites"
[[agent]]
id = 7
skills = { cards = 5 }
)";
  Read r = read(text);
  ASSERT_TRUE(r.problems.empty()) << dump(r.problems);
  const router::EngineConfig& e = r.domain.engine;
  EXPECT_EQ(e.site_number, 1);
  ASSERT_EQ(e.site_numbers.size(), 2u);
  EXPECT_EQ(e.site_numbers[0], 2);
  EXPECT_EQ(e.site_numbers[1], router::queue_key("gz") % 64);
  EXPECT_EQ(e.max_site_hops, 3);
  EXPECT_EQ(e.site_summary_max_age_ms, 1500u);
  ASSERT_EQ(e.queues[0].overflow.size(), 1u);
  EXPECT_EQ(e.queues[0].overflow[0].action, router::OverflowAction::ToSite);
  EXPECT_EQ(e.queues[0].overflow[0].target, router::kAnySite);

  std::string twice = text;
  twice.replace(twice.find("number = 2"), 10, "number = 1");
  const std::string sites_action = "action = \"sites\"";
  twice.replace(twice.find(sites_action), sites_action.size(), sites_action + "\ntarget = \"bj\"");
  r = read(twice);
  EXPECT_TRUE(has(r.problems, 9, "site 'bj' has site number 1, as another site has")) << dump(r.problems);
  EXPECT_TRUE(has(r.problems, 19, "action = \"sites\" picks the accepting site")) << dump(r.problems);
}

// A DR site's engine follows the active site's log: it numbers itself as the active site does
// (the active site's number for itself, its own where the active site lists it), so both engines
// start with one state hash.
TEST(DomainFileSites, ADrSiteTakesTheActiveSitesNumbering) {
  const std::string active = R"(skills = ["cards"]
[site]
name = "bj"
number = 1
[[sites]]
name = "bj-dr"
role = "dr"
number = 2
[[queue]]
name = "cards"
skills = { cards = 1 }
[[agent]]
id = 7
skills = { cards = 5 }
)";
  const std::string dr = R"(skills = ["cards"]
[site]
name = "bj-dr"
role = "dr"
number = 2
[[sites]]
name = "bj"
role = "active"
number = 1
[[queue]]
name = "cards"
skills = { cards = 1 }
[[agent]]
id = 7
skills = { cards = 5 }
)";
  const Read a = read(active);
  const Read d = read(dr);
  ASSERT_TRUE(a.problems.empty()) << dump(a.problems);
  ASSERT_TRUE(d.problems.empty()) << dump(d.problems);
  EXPECT_EQ(d.domain.engine.site_number, 1);
  ASSERT_EQ(d.domain.engine.site_numbers.size(), 1u);
  EXPECT_EQ(d.domain.engine.site_numbers[0], 2);
  EXPECT_EQ(a.domain.engine.site_number, d.domain.engine.site_number);
  EXPECT_EQ(a.domain.engine.site_numbers, d.domain.engine.site_numbers);
}

// Call selection: the site's [call_selection] is every queue's default, a queue's own keys
// override it; expand steps and agent preferences are read; each mistake is one message at its
// line.
TEST(DomainFile, CallSelectionKeys) {
  const std::string text = R"(skills = ["cards", "loans"]
[call_selection]
rule = "greatest_need"
predicted_wait = true
reserve_after_s = 40
[[queue]]
name = "cards"
skills = { cards = 1 }
[[queue]]
name = "loans"
skills = { loans = 1 }
call_selection = "queue_ratio"
share = 3
wait_weight = 2.5
expand = [{ after_s = 0, min_level = 8 }, { after_s = 20, min_level = 5 }]
[[agent_group]]
first_id = 1000
count = 2
skills = { cards = 5, loans = 8 }
preference = ["loans", "cards"]
[[agent]]
id = 7
skills = { cards = 5 }
preference = "proficiency"
)";
  const Read r = read(text);
  ASSERT_TRUE(r.problems.empty()) << dump(r.problems);
  const auto& q = r.domain.engine.queues;
  EXPECT_EQ(q[0].call_selection, router::CallSelection::GreatestNeed);
  EXPECT_TRUE(q[0].predicted_wait);
  EXPECT_EQ(q[0].reserve_after_ms, 40'000u);
  EXPECT_EQ(q[1].call_selection, router::CallSelection::QueueRatio);
  EXPECT_EQ(q[1].share, 3);
  EXPECT_EQ(q[1].wait_weight, 2'500u);
  ASSERT_EQ(q[1].expand.size(), 2u);
  EXPECT_EQ(q[1].expand[1].after_ms, 20'000u);
  EXPECT_EQ(q[1].expand[1].min_level, 5);
  const auto& agents = r.domain.engine.agents;
  ASSERT_EQ(agents.size(), 3u);  // [[agent]] first, then the group
  EXPECT_EQ(agents[0].preference, router::AgentPreference::Proficiency);
  EXPECT_EQ(agents[2].preference, router::AgentPreference::Order);
  EXPECT_EQ(agents[2].preference_order, (std::vector<router::SkillId>{1, 0}));

  const std::string bad = R"(skills = ["cards"]
[call_selection]
rule = "fastest"
[[queue]]
name = "cards"
skills = { cards = 1 }
share = 0
expand = [{ after_s = 20, min_level = 5 }, { after_s = 10, min_level = 3 }]
[[agent]]
id = 7
skills = { cards = 5 }
preference = ["cars"]
)";
  const Read b = read(bad);
  EXPECT_TRUE(has(b.problems, 3, "is not one of: aged_priority")) << dump(b.problems);
  EXPECT_TRUE(has(b.problems, 7, "'share' = 0 is out of range")) << dump(b.problems);
  EXPECT_TRUE(has(b.problems, 8, "after_s must be later")) << dump(b.problems);
  EXPECT_TRUE(has(b.problems, 12, "preferred skill 'cars'")) << dump(b.problems);
}

}  // namespace
}  // namespace acd::domain
