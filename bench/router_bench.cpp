// Routing-engine micro-benchmarks: decisions per second and nanoseconds per decision, swept over
// agents, skills and skills per agent, with memory per agent reported beside the time.
//
//   build/bench/router_bench --benchmark_counters_tabular=true
//
// Set-up (building the domain, signing agents in) is outside the timing; the work that restores
// the state between batches (answering and releasing calls) is paused out of the timing.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <random>
#include <vector>

#include "../tests/router/random_stream.hpp"
#include "acd/router/engine.hpp"

namespace acd::router {
namespace {

constexpr int kBatch = 256;

struct Domain {
  EngineConfig config;
  std::unique_ptr<Engine> engine;
  std::vector<std::vector<QueueIndex>> agent_queues;  // the queues each agent serves
  Micros now = 1'000'000;
};

auto ignore = [](const Decision&) {};

// `agents` agents with `per_agent` distinct random skills out of `skills`; one queue per skill.
// `spare_skills` more skills exist that no agent has; agents come in groups of `group` with the
// same skills and levels (as an acd.toml [[agent_group]] configures them).
std::unique_ptr<Domain> make_domain(std::uint32_t agents, std::uint32_t skills,
                                    std::uint32_t per_agent, Policy policy, std::uint32_t max_calls,
                                    std::uint32_t spare_skills = 0, std::uint32_t group = 1,
                                    void (*tune)(EngineConfig&) = nullptr) {
  auto d = std::make_unique<Domain>();
  std::mt19937_64 gen(agents * 31 + skills * 7 + per_agent);
  d->config.skill_count = skills + spare_skills;
  d->config.max_calls = max_calls;
  for (std::uint32_t s = 0; s < skills; ++s) {
    QueueConfig q;
    q.skills = {SkillRequirement{static_cast<SkillId>(s), 1, 0}};
    q.policy = policy;
    q.ring_timeout_ms = 3'600'000;
    d->config.queues.push_back(std::move(q));
  }
  d->agent_queues.resize(agents);
  for (std::uint32_t a = 0; a < agents; ++a) {
    AgentConfig ac;
    ac.number = 100'000 + a;
    if (a % group != 0) {
      ac.skills = d->config.agents[a - a % group].skills;
      d->agent_queues[a] = d->agent_queues[a - a % group];
    }
    while (ac.skills.size() < std::min(per_agent, skills)) {
      const auto s = static_cast<SkillId>(gen() % skills);
      if (std::none_of(ac.skills.begin(), ac.skills.end(),
                       [&](const SkillLevel& l) { return l.skill == s; })) {
        ac.skills.push_back(SkillLevel{s, static_cast<std::uint8_t>(1 + gen() % 10), 0});
        d->agent_queues[a].push_back(s);
      }
    }
    d->config.agents.push_back(std::move(ac));
  }
  if (tune != nullptr) {
    tune(d->config);
  }
  d->engine = std::make_unique<Engine>(d->config);
  return d;
}

void apply(Domain& d, EventType type, AgentIndex agent, CallId call = 0, QueueIndex queue = kNone) {
  Event e;
  e.time = ++d.now;
  e.type = type;
  e.agent = agent;
  e.call = call;
  e.queue = queue;
  d.engine->apply(e, ignore);
}

void sign_in_all(Domain& d, bool ready) {
  for (AgentIndex a = 0; a < d.config.agents.size(); ++a) {
    apply(d, EventType::AgentSignIn, a);
    if (ready) {
      apply(d, EventType::AgentReady, a);
    }
  }
}

void report(benchmark::State& state, const Domain& d, std::int64_t decisions) {
  state.SetItemsProcessed(decisions);
  state.counters["bytes_per_agent"] =
      static_cast<double>(d.engine->memory_bytes()) /
      static_cast<double>(std::max<std::size_t>(d.config.agents.size(), 1));
  // Seconds of timed work per decision: shown with its unit ("105.9ns"), stored in seconds.
  state.counters["time_per_decision"] = benchmark::Counter(
      static_cast<double>(decisions), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// The timed loop of the route benchmarks: batches of kBatch route requests, each for a random
// queue of the agent `pick` draws (with `gen`), applied event by event or as one burst; between
// batches, out of the timing, every call is answered and released (and with `abandon` abandoned,
// for those that queued), so each batch starts from the same agents ready. Reports
// `queued_share`, the calls that found no agent.
template <typename Pick>
void route_batches(benchmark::State& state, Domain& d, std::mt19937_64& gen, bool burst,
                   bool abandon, Pick pick) {
  std::vector<Event> batch(kBatch);
  std::int64_t decisions = 0;
  std::uint64_t queued = 0;
  CallId next_call = 1;
  auto count_queued = [&](const Decision& dec) { queued += dec.type == DecisionType::Queued; };
  for (auto _ : state) {
    state.PauseTiming();
    for (Event& e : batch) {
      const auto& qs = d.agent_queues[pick()];
      e = Event{};
      e.type = EventType::RouteRequest;
      e.call = next_call++;
      e.queue = qs[gen() % qs.size()];
      e.time = ++d.now;
    }
    state.ResumeTiming();
    if (burst) {
      d.engine->apply_burst(batch, count_queued);
    } else {
      for (const Event& e : batch) {
        d.engine->apply(e, count_queued);
      }
    }
    state.PauseTiming();
    for (const Event& e : batch) {
      apply(d, EventType::CallAnswered, kNone, e.call);
      apply(d, EventType::CallReleased, kNone, e.call);
      if (abandon) {
        apply(d, EventType::CallAbandoned, kNone, e.call);
      }
    }
    decisions += kBatch;
    state.ResumeTiming();
  }
  report(state, d, decisions);
  state.counters["queued_share"] =
      static_cast<double>(queued) / static_cast<double>(std::max<std::int64_t>(decisions, 1));
}

// A route request when agents are free: the engine picks the best ready agent of the queue. The
// batch goes event by event through apply(), or as one burst through apply_burst().
void route_with_free_agents(benchmark::State& state, bool burst) {
  const auto agents = static_cast<std::uint32_t>(state.range(0));
  const auto skills = static_cast<std::uint32_t>(state.range(1));
  const auto per_agent = static_cast<std::uint32_t>(state.range(2));
  const auto policy = static_cast<Policy>(state.range(3));
  auto d = make_domain(agents, skills, per_agent, policy, 4 * kBatch);
  sign_in_all(*d, true);
  std::mt19937_64 gen(7);
  // Calls for queues of random agents: a free agent exists unless this batch took them all.
  route_batches(state, *d, gen, burst, false,
                [&] { return static_cast<AgentIndex>(gen() % agents); });
}

void BM_RouteWithFreeAgents(benchmark::State& state) { route_with_free_agents(state, false); }
void BM_RouteWithFreeAgentsBurst(benchmark::State& state) { route_with_free_agents(state, true); }

// A route request when few agents are free: only every `ready_every`-th agent is ready, so each
// queue holds a handful of ready agents and no policy finds plenty of cover. The worst case of
// `least_needed`, which then weighs its 8 longest-idle candidates' other queues for every call
// instead of taking the first. Each call is for a queue of a random ready agent; a call that finds
// its queue emptied by the batch queues (`queued_share`).
void BM_RouteWithFewFreeAgents(benchmark::State& state) {
  const auto agents = static_cast<std::uint32_t>(state.range(0));
  const auto skills = static_cast<std::uint32_t>(state.range(1));
  const auto per_agent = static_cast<std::uint32_t>(state.range(2));
  const auto policy = static_cast<Policy>(state.range(3));
  const auto ready_every = static_cast<std::uint32_t>(state.range(4));
  auto d = make_domain(agents, skills, per_agent, policy, 4 * kBatch);
  std::vector<AgentIndex> ready;
  for (AgentIndex a = 0; a < agents; ++a) {
    apply(*d, EventType::AgentSignIn, a);
    if (a % ready_every == 0) {
      apply(*d, EventType::AgentReady, a);
      ready.push_back(a);
    }
  }
  std::mt19937_64 gen(11);
  route_batches(state, *d, gen, false, true, [&] { return ready[gen() % ready.size()]; });
  state.counters["ready_per_queue"] = static_cast<double>(ready.size() * per_agent) / skills;
}

// A route request when no agent is free (all signed in, none ready): the call queues, after the
// engine has judged whether any agent of the queue could serve its extra skills. Needs: 0 none,
// 1 one skill a member has, 2 two skills one member has, 3 two skills of two random members (often
// no single member has both), 4 a skill no agent has (unservable), 5 like 3 but drawn from 64
// recurring requests. With every agent's skills different (group 1) and needs 2 or 3, nearly every
// request is a new combination: the worst case, a scan of the queue's members.
void BM_RouteQueuedWithSkills(benchmark::State& state) {
  const auto agents = static_cast<std::uint32_t>(state.range(0));
  const auto skills = static_cast<std::uint32_t>(state.range(1));
  const auto per_agent = static_cast<std::uint32_t>(state.range(2));
  const auto needs = state.range(3);
  const auto group = static_cast<std::uint32_t>(state.range(4));
  auto d = make_domain(agents, skills, per_agent, Policy::LongestIdle, 4 * kBatch, 1, group);
  sign_in_all(*d, false);
  std::mt19937_64 gen(17);
  std::vector<Event> batch(kBatch);
  std::int64_t decisions = 0;
  std::uint64_t unknown = 0;
  CallId next_call = 1;
  auto skill_of = [&](AgentIndex a) {
    const auto& have = d->config.agents[a].skills;
    return have[gen() % have.size()];
  };
  auto request = [&](std::int64_t kind) {
    const auto a = static_cast<AgentIndex>(gen() % agents);
    Event e;
    e.type = EventType::RouteRequest;
    e.queue = d->agent_queues[a][gen() % d->agent_queues[a].size()];
    auto need = [&](SkillLevel s) { e.skills[e.skill_count++] = {s.skill, s.level, 0}; };
    if (kind == 1) {
      need(skill_of(a));
    } else if (kind == 2) {
      need(skill_of(a));
      need(skill_of(a));
    } else if (kind == 3) {
      need(skill_of(a));
      need(skill_of(static_cast<AgentIndex>(gen() % agents)));
    } else if (kind == 4) {
      need(SkillLevel{static_cast<SkillId>(skills), 1, 0});
    }
    return e;
  };
  std::vector<Event> recurring(64);
  for (Event& e : recurring) {
    e = request(3);
  }
  for (auto _ : state) {
    state.PauseTiming();
    for (Event& e : batch) {
      e = needs == 5 ? recurring[gen() % recurring.size()] : request(needs);
      e.call = next_call++;
      e.time = ++d->now;
    }
    state.ResumeTiming();
    for (const Event& e : batch) {
      d->engine->apply(e, [&](const Decision& dec) { unknown += dec.ewt_ms == kUnknownEwt; });
    }
    state.PauseTiming();
    for (const Event& e : batch) {  // back to empty queues
      apply(*d, EventType::CallAbandoned, kNone, e.call);
    }
    decisions += kBatch;
    state.ResumeTiming();
  }
  report(state, *d, decisions);
  state.counters["unknown_ewt_share"] =
      static_cast<double>(unknown) / static_cast<double>(std::max<std::int64_t>(decisions, 1));
}

// An agent becoming ready while calls wait: it takes the best waiting call across its queues.
void agent_ready_with_backlog(benchmark::State& state, std::uint32_t agents, std::uint32_t skills,
                              std::uint32_t per_agent, Policy policy,
                              void (*tune)(EngineConfig&)) {
  const std::uint32_t backlog = std::min<std::uint32_t>(8 * skills, 200'000);
  auto d = make_domain(agents, skills, per_agent, policy, backlog + 2 * kBatch, 0, 1, tune);
  sign_in_all(*d, false);
  std::mt19937_64 gen(11);
  CallId next_call = 1;
  for (std::uint32_t i = 0; i < backlog; ++i) {
    apply(*d, EventType::RouteRequest, kNone, next_call++, static_cast<QueueIndex>(gen() % skills));
  }
  std::vector<AgentIndex> chosen(kBatch);
  std::vector<CallId> taken;
  std::int64_t decisions = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (AgentIndex& a : chosen) {
      a = static_cast<AgentIndex>(gen() % agents);
    }
    taken.clear();
    Event e;
    e.type = EventType::AgentReady;
    state.ResumeTiming();
    for (AgentIndex a : chosen) {
      e.agent = a;
      e.time = ++d->now;
      d->engine->apply(e, [&](const Decision& dec) {
        if (dec.type == DecisionType::Offer) {
          taken.push_back(dec.call);
        }
      });
    }
    state.PauseTiming();
    // Restore: each taken call is answered and released, its agent goes not ready again, and a
    // new call refills the backlog.
    for (CallId call : taken) {
      apply(*d, EventType::CallAnswered, kNone, call);
    }
    for (AgentIndex a : chosen) {
      Event nr;
      nr.type = EventType::AgentNotReady;
      nr.agent = a;
      nr.reason = 5;
      nr.time = ++d->now;
      d->engine->apply(nr, ignore);
    }
    for (CallId call : taken) {
      apply(*d, EventType::CallReleased, kNone, call);
      apply(*d, EventType::RouteRequest, kNone, next_call++,
            static_cast<QueueIndex>(gen() % skills));
    }
    decisions += kBatch;
    state.ResumeTiming();
  }
  report(state, *d, decisions);
}

void BM_AgentReadyWithBacklog(benchmark::State& state) {
  agent_ready_with_backlog(state, static_cast<std::uint32_t>(state.range(0)),
                           static_cast<std::uint32_t>(state.range(1)),
                           static_cast<std::uint32_t>(state.range(2)),
                           static_cast<Policy>(state.range(3)), nullptr);
}

// Call selection when an agent frees up, per rule, beside the default rule (selection 0): the
// same backlog and agents as BM_AgentReadyWithBacklog (longest idle). Selection 4 is greatest
// need with the predicted wait, agents preferring by proficiency, reserve thresholds and
// three-step expanding requirements on every queue.
template <int kSelection>
void tune_selection(EngineConfig& c) {
  for (std::size_t q = 0; q < c.queues.size(); ++q) {
    QueueConfig& qc = c.queues[q];
    qc.call_selection =
        static_cast<CallSelection>(kSelection == 4 ? 1 : kSelection);
    qc.share = static_cast<std::uint16_t>(1 + q % 4);
    qc.idle_weight = 500;
    if (kSelection == 4) {
      qc.predicted_wait = true;
      qc.reserve_after_ms = 20'000;
      qc.expand = {{0, 8}, {20'000, 5}, {60'000, 1}};
    }
  }
  if (kSelection == 4) {
    for (AgentConfig& a : c.agents) {
      a.preference = AgentPreference::Proficiency;
    }
  }
}

void BM_CallSelection(benchmark::State& state) {
  static void (*const kTunes[])(EngineConfig&) = {tune_selection<0>, tune_selection<1>,
                                                  tune_selection<2>, tune_selection<3>,
                                                  tune_selection<4>};
  agent_ready_with_backlog(state, static_cast<std::uint32_t>(state.range(0)),
                           static_cast<std::uint32_t>(state.range(1)),
                           static_cast<std::uint32_t>(state.range(2)), Policy::LongestIdle,
                           kTunes[state.range(3)]);
}

// A transfer to another group with a free agent: one release, one new decision.
void BM_TransferToQueue(benchmark::State& state) {
  const auto agents = static_cast<std::uint32_t>(state.range(0));
  const auto skills = static_cast<std::uint32_t>(state.range(1));
  const auto per_agent = static_cast<std::uint32_t>(state.range(2));
  auto d = make_domain(agents, skills, per_agent, Policy::LongestIdle, 4 * kBatch);
  sign_in_all(*d, true);
  std::mt19937_64 gen(13);
  CallId next_call = 1;
  std::vector<Event> transfers(kBatch);
  std::int64_t decisions = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (Event& t : transfers) {
      const auto a = static_cast<AgentIndex>(gen() % agents);
      const CallId call = next_call++;
      apply(*d, EventType::RouteRequest, kNone, call,
            d->agent_queues[a][gen() % d->agent_queues[a].size()]);
      apply(*d, EventType::CallAnswered, kNone, call);
      const auto b = static_cast<AgentIndex>(gen() % agents);
      t = Event{};
      t.type = EventType::TransferToQueue;
      t.call = call;
      t.queue = d->agent_queues[b][gen() % d->agent_queues[b].size()];
    }
    state.ResumeTiming();
    for (Event& t : transfers) {
      t.time = ++d->now;
      d->engine->apply(t, ignore);
    }
    state.PauseTiming();
    for (const Event& t : transfers) {
      apply(*d, EventType::CallAnswered, kNone, t.call);
      apply(*d, EventType::CallReleased, kNone, t.call);
    }
    decisions += kBatch;
    state.ResumeTiming();
  }
  report(state, *d, decisions);
}

// A burst of mixed traffic (arrivals, answers, holds, transfers, releases, abandons, agent state
// changes, timers, some invalid events), recorded once from a model engine and replayed into a
// fresh one: events per second, and each event's latency percentiles. burst 0: event by event
// through apply(); burst n: in bursts of n through apply_burst() (latency still per event).
void BM_MixedBurst(benchmark::State& state) {
  const auto agents = static_cast<std::uint32_t>(state.range(0));
  const auto skills = static_cast<std::uint32_t>(state.range(1));
  const auto burst = static_cast<std::size_t>(state.range(2));
  EngineConfig config =
      testing::random_domain(99, agents, skills, std::min<std::uint32_t>(skills, 64));
  config.max_calls = 4096;
  constexpr int kEvents = 200'000;
  std::vector<Event> stream;
  stream.reserve(kEvents);
  {
    Engine model(config);
    testing::StreamGenerator gen(99, config);
    for (int i = 0; i < kEvents; ++i) {
      Event e = gen.next(model);
      if (e.type == EventType::NewDay) {
        e.type = EventType::Tick;  // a once-a-day O(agents) reset is not burst traffic
      }
      stream.push_back(e);
      model.apply(e, ignore);
      if (i % 1000 == 0) {
        gen.forget_gone(model);
      }
    }
  }
  std::vector<std::uint32_t> latency_ns;
  latency_ns.reserve(kEvents);
  std::int64_t events = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto engine = std::make_unique<Engine>(config);
    latency_ns.clear();
    state.ResumeTiming();
    if (burst == 0) {
      for (const Event& e : stream) {
        engine->apply(e, ignore);
      }
    } else {
      const std::span<const Event> all(stream);
      for (std::size_t at = 0; at < all.size(); at += burst) {
        engine->apply_burst(all.subspan(at, std::min(burst, all.size() - at)), ignore);
      }
    }
    state.PauseTiming();
    // A second, separately timed pass per event for the latency distribution.
    engine = std::make_unique<Engine>(config);
    for (const Event& e : stream) {
      const auto t0 = std::chrono::steady_clock::now();
      engine->apply(e, ignore);
      const auto t1 = std::chrono::steady_clock::now();
      latency_ns.push_back(static_cast<std::uint32_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
    }
    events += kEvents;
    state.ResumeTiming();
  }
  std::sort(latency_ns.begin(), latency_ns.end());
  auto pct = [&](double p) {
    return static_cast<double>(
        latency_ns[static_cast<std::size_t>(p * static_cast<double>(latency_ns.size() - 1))]);
  };
  state.SetItemsProcessed(events);
  state.counters["p50_ns"] = pct(0.50);
  state.counters["p99_ns"] = pct(0.99);
  state.counters["p999_ns"] = pct(0.999);
}

// Goal point: 10k agents, 100 skills; then sweeps over agents, skills and skills per agent.
void sweep(benchmark::internal::Benchmark* b) {
  b->ArgNames({"agents", "skills", "per_agent", "policy"});
  b->Args({10'000, 100, 5, 0});
  b->Args({10'000, 100, 5, 1});
  b->Args({10'000, 100, 5, 5});  // least needed
  b->Args({10'000, 100, 5, 3});   // fewest calls: a treap
  b->Args({10'000, 100, 20, 3});
  for (std::int64_t agents : {1'000, 10'000, 100'000, 1'000'000}) {
    b->Args({agents, 100, 5, 0});
  }
  for (std::int64_t skills : {10, 1'000, 10'000}) {
    b->Args({100'000, skills, 5, 0});
  }
  for (std::int64_t per_agent : {1, 20}) {
    b->Args({10'000, 100, per_agent, 0});
  }
  b->Args({1'000, 10'000, 5, 0});
  b->Args({1'000'000, 10'000, 5, 0});
  b->Args({1'000'000, 10'000, 5, 1});
  b->Unit(benchmark::kMicrosecond);
}

// The full state hash a hot-standby pair compares every `hash_every` records, on the routing core
// of both nodes: its cost is a pause of the routing core. Default centre shape: max_calls 65,536.
void BM_StateHash(benchmark::State& state) {
  auto d = make_domain(static_cast<std::uint32_t>(state.range(0)), 100, 5, Policy::LongestIdle,
                       static_cast<std::uint32_t>(state.range(1)));
  const std::size_t bytes = d->engine->snapshot().size();  // what the hash reads, near enough
  for (auto _ : state) {
    benchmark::DoNotOptimize(d->engine->state_hash());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
  state.counters["MB"] = static_cast<double>(bytes) / 1e6;
}

BENCHMARK(BM_RouteWithFreeAgents)->Apply(sweep);
BENCHMARK(BM_RouteWithFreeAgentsBurst)->Apply(sweep);
BENCHMARK(BM_AgentReadyWithBacklog)->Apply(sweep);
BENCHMARK(BM_RouteWithFewFreeAgents)
    ->ArgNames({"agents", "skills", "per_agent", "policy", "ready_every"})
    ->ArgsProduct({{10'000}, {1'000}, {5}, {0, 5}, {10}})
    ->ArgsProduct({{10'000}, {100}, {20}, {0, 5}, {40}});
BENCHMARK(BM_CallSelection)
    ->ArgNames({"agents", "skills", "per_agent", "selection"})
    ->ArgsProduct({{10'000}, {100}, {5}, {0, 1, 2, 3, 4}});
BENCHMARK(BM_RouteQueuedWithSkills)
    ->ArgNames({"agents", "skills", "per_agent", "needs", "group"})
    ->ArgsProduct({{10'000}, {100}, {5}, {0, 1, 2, 3, 4, 5}, {1}})
    ->Args({10'000, 100, 5, 3, 50})
    ->Args({100'000, 100, 5, 3, 1})
    ->Args({100'000, 100, 5, 3, 50})
    ->Args({100'000, 10'000, 5, 3, 1})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TransferToQueue)
    ->ArgNames({"agents", "skills", "per_agent"})
    ->Args({10'000, 100, 5})
    ->Args({1'000'000, 10'000, 5})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_StateHash)
    ->ArgNames({"agents", "max_calls"})
    ->Args({1'000, 65'536})
    ->Args({100'000, 65'536})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MixedBurst)
    ->ArgNames({"agents", "skills", "burst"})
    ->Args({10'000, 100, 0})
    ->Args({10'000, 100, 32})
    ->Args({1'000, 10, 0})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

}  // namespace
}  // namespace acd::router

BENCHMARK_MAIN();
