#include "acd/control/reload.hpp"

#include <algorithm>
#include <map>
#include <sstream>

namespace acd::control {

namespace {

using router::AgentConfig;
using router::OverflowAction;
using router::OverflowRule;
using router::QueueConfig;

std::string seconds(std::uint32_t ms) {
  std::ostringstream s;
  s << ms / 1000.0;
  return s.str();
}

std::string skill_name(const ApplianceConfig& c, router::SkillId s) {
  return s < c.skill_names.size() ? c.skill_names[s] : std::to_string(s);
}

// A queue's skills, by name, for comparing two files whose skill IDs may differ.
std::string skills_text(const ApplianceConfig& c, const QueueConfig& q) {
  std::string t;
  for (const auto& s : q.skills) {
    t += skill_name(c, s.skill) + ">=" + std::to_string(s.min_level) + " ";
  }
  return t;
}

std::string skills_text(const ApplianceConfig& c, const AgentConfig& a) {
  std::vector<std::string> parts;
  for (const auto& s : a.skills) {
    parts.push_back(skill_name(c, s.skill) + "=" + std::to_string(s.level));
  }
  std::sort(parts.begin(), parts.end());
  std::string t;
  for (const std::string& p : parts) {
    t += p + " ";
  }
  for (const auto cap : a.capacity) {
    t += '/';
    t += std::to_string(cap);
  }
  return t;
}

std::string target_text(const ApplianceConfig& c, OverflowAction action, std::uint32_t target) {
  switch (action) {
    case OverflowAction::ToQueue:
      return "queue:" +
             (target < c.domain.queues.size() ? c.domain.queues[target].name : std::string("?"));
    case OverflowAction::ToSite:
      return "site:" + (target < c.sites.size() ? c.sites[target] : std::string("?"));
    case OverflowAction::ToIvr:
      return "ivr:" + std::to_string(target);
    case OverflowAction::Announcement:
      return "announcement:" + std::to_string(target);
    default:
      return std::string(router::to_string(action));
  }
}

std::string rules_text(const ApplianceConfig& c, const QueueConfig& q) {
  std::string t;
  for (const OverflowRule& r : q.overflow) {
    t += std::to_string(static_cast<int>(r.when)) + ":" + std::to_string(r.threshold) + ":" +
         target_text(c, r.action, r.target) + " ";
  }
  return t;
}

// A queue's surge plan, by name, for comparing two files whose queue indices may differ.
std::string surge_text(const ApplianceConfig& c, const QueueConfig& q) {
  const auto levels = [](const router::SurgeLevels& l) {
    return std::to_string(l.offered_per_min) + "/" + std::to_string(l.queue_length) + "/" +
           std::to_string(l.oldest_wait_ms) + "/" + std::to_string(l.ewt_ms);
  };
  std::string t = levels(q.surge.enter) + " " + levels(q.surge.exit) + " " +
                  std::to_string(q.surge.min_dwell_ms) + " " +
                  std::to_string(q.surge.exit_hold_ms) + " ";
  for (const auto& a : q.surge.actions) {
    t += (a.borrow ? "borrow:" + target_text(c, OverflowAction::ToQueue, a.target) + ">=" +
                         std::to_string(a.min_level)
                   : target_text(c, a.action, a.target)) +
         "@" + std::to_string(a.min_ewt_ms) + " ";
  }
  return t;
}

std::string services_text(const ApplianceConfig& c, const QueueConfig& q) {
  std::string t;
  for (const std::uint32_t s : q.services) {
    t += (s < c.domain.services.size() ? c.domain.services[s].name : std::string("?")) + " ";
  }
  return t;
}

// Index of the active (not retired) queue with this name, or -1.
int active_queue(const ApplianceConfig& c, const std::string& name) {
  for (std::size_t q = 0; q < c.domain.queues.size(); ++q) {
    if (c.domain.queues[q].name == name && !c.domain.queues[q].retired) {
      return static_cast<int>(q);
    }
  }
  return -1;
}

std::map<router::AgentNumber, std::size_t> active_agents(const ApplianceConfig& c) {
  std::map<router::AgentNumber, std::size_t> by_number;
  for (std::size_t a = 0; a < c.domain.agents.size(); ++a) {
    if (!c.domain.agents[a].retired) {
      by_number[c.domain.agents[a].number] = a;
    }
  }
  return by_number;
}

// "N agents: 1001, 1002, 1003 …" for a summary line.
std::string some_ids(const std::vector<router::AgentNumber>& ids) {
  std::string t = std::to_string(ids.size()) + " (";
  for (std::size_t i = 0; i < ids.size() && i < 8; ++i) {
    t += (i > 0 ? ", " : "") + std::to_string(ids[i]);
  }
  return t + (ids.size() > 8 ? ", …)" : ")");
}

void diff_queue_parameters(const ApplianceConfig& running, const QueueConfig& x,
                           const ApplianceConfig& next, const QueueConfig& y, ConfigDiff& d) {
  const std::string name = "queue " + x.name + ": ";
  auto change = [&](bool differs, const std::string& what, const std::string& from,
                    const std::string& to) {
    if (differs) {
      d.changes.push_back(name + what + " " + from + " -> " + to);
    }
  };
  change(x.sl_threshold_ms != y.sl_threshold_ms, "sl_threshold_s", seconds(x.sl_threshold_ms),
         seconds(y.sl_threshold_ms));
  change(x.sl_target_permille != y.sl_target_permille, "sl_target",
         std::to_string(x.sl_target_permille / 1000.0),
         std::to_string(y.sl_target_permille / 1000.0));
  change(x.ring_timeout_ms != y.ring_timeout_ms, "ring_timeout_s", seconds(x.ring_timeout_ms),
         seconds(y.ring_timeout_ms));
  change(x.wrap_up_ms != y.wrap_up_ms, "wrap_up_s", seconds(x.wrap_up_ms), seconds(y.wrap_up_ms));
  const std::string wait_x =
      seconds(x.max_wait_ms) + " s " + target_text(running, x.max_wait_action, x.max_wait_target);
  const std::string wait_y =
      seconds(y.max_wait_ms) + " s " + target_text(next, y.max_wait_action, y.max_wait_target);
  change(wait_x != wait_y, "max_wait", wait_x, wait_y);
  change(x.min_verification != y.min_verification, "min_verification",
         std::to_string(x.min_verification), std::to_string(y.min_verification));
  change(x.tier_priority_boost != y.tier_priority_boost, "tier_priority_boost", "old", "new");
  change(x.expected_aht_ms != y.expected_aht_ms, "expected_aht_s", seconds(x.expected_aht_ms),
         seconds(y.expected_aht_ms));
  change(x.priority_aging_ms != y.priority_aging_ms, "priority_aging_s",
         seconds(x.priority_aging_ms), seconds(y.priority_aging_ms));
  change(rules_text(running, x) != rules_text(next, y), "overflow rules",
         std::to_string(x.overflow.size()) + " rules",
         std::to_string(y.overflow.size()) + " rules");
  change(surge_text(running, x) != surge_text(next, y), "surge plan",
         std::to_string(x.surge.actions.size()) + " steps",
         std::to_string(y.surge.actions.size()) + " steps");
  change(x.reserved != y.reserved, "reserved", x.reserved ? "true" : "false",
         y.reserved ? "true" : "false");
  change(services_text(running, x) != services_text(next, y), "services",
         "[" + services_text(running, x) + "]", "[" + services_text(next, y) + "]");
}

}  // namespace

ConfigDiff diff_configs(const ApplianceConfig& running, const ApplianceConfig& next) {
  ConfigDiff d;
  auto restart = [&](bool differs, const std::string& what) {
    if (differs) {
      d.needs_restart.push_back(what);
    }
  };
  const auto& dr = running.dataplane;
  const auto& dn = next.dataplane;
  restart(running.site != next.site || running.sites != next.sites, "site and sites");
  restart(running.domain.max_calls != next.domain.max_calls, "max_calls");
  restart(dr.listen != dn.listen || dr.cores != dn.cores || dr.backend != dn.backend ||
              dr.dpdk_args != dn.dpdk_args || dr.dpdk_port != dn.dpdk_port ||
              dr.reply_cache_per_client != dn.reply_cache_per_client ||
              dr.max_clients != dn.max_clients,
          "[dataplane]");
  const auto& gr = running.operator_groups;
  const auto& gn = next.operator_groups;
  restart(running.control_socket != next.control_socket ||
              running.credentials != next.credentials || gr.viewer_group != gn.viewer_group ||
              gr.operator_group != gn.operator_group || gr.admin_group != gn.admin_group ||
              gr.any_local_may_view != gn.any_local_may_view,
          "[control]");
  restart(!(running.security == next.security), "[security]");
  const auto same_client = [](const ClientEntry& x, const ClientEntry& y) {
    return x.name == y.name && x.role == y.role && x.public_key == y.public_key &&
           x.networks == y.networks;
  };
  restart(!std::equal(running.clients.begin(), running.clients.end(), next.clients.begin(),
                      next.clients.end(), same_client),
          "[[clients]]");
  restart(running.metrics_listen != next.metrics_listen, "[metrics]");
  restart(!(running.signin == next.signin), "[signin]");
  // The audit log is never turned off or moved by a reload: that change is itself a restart.
  restart(running.audit.dir != next.audit.dir ||
              running.audit.max_file_bytes != next.audit.max_file_bytes ||
              running.audit.keep_files != next.audit.keep_files,
          "[audit]");
  // Services reload in place: the engine carries each one's down state by name (a service
  // added is up, one removed is forgotten), and the log names them by their index in the
  // configuration in force when the record was written (a reload is itself a record).
  for (const router::ServiceConfig& y : next.domain.services) {
    const auto x = std::find_if(running.domain.services.begin(), running.domain.services.end(),
                                [&](const router::ServiceConfig& r) { return r.name == y.name; });
    const std::string diversion = target_text(next, y.action, y.target);
    if (x == running.domain.services.end()) {
      d.changes.push_back("service " + y.name + " added (diversion " + diversion + ")");
    } else if (target_text(running, x->action, x->target) != diversion) {
      d.changes.push_back("service " + y.name + " diversion " +
                          target_text(running, x->action, x->target) + " -> " + diversion);
    }
  }
  for (const router::ServiceConfig& x : running.domain.services) {
    if (std::none_of(next.domain.services.begin(), next.domain.services.end(),
                     [&](const router::ServiceConfig& y) { return y.name == x.name; })) {
      d.changes.push_back("service " + x.name + " removed");
    }
  }
  if (running.domain.surge_eval_ms != next.domain.surge_eval_ms) {
    d.changes.push_back("surge eval_interval_s " + seconds(running.domain.surge_eval_ms) + " -> " +
                        seconds(next.domain.surge_eval_ms));
  }
  if (running.domain.max_overflow_hops != next.domain.max_overflow_hops) {
    d.changes.push_back("max_overflow_hops " + std::to_string(running.domain.max_overflow_hops) +
                        " -> " + std::to_string(next.domain.max_overflow_hops));
  }

  // Skills, by name. A removed skill keeps its ID (unused) until a restart.
  std::size_t appended_skills = running.skill_names.size();
  for (std::size_t s = 0; s < next.skill_names.size(); ++s) {
    const auto& names = running.skill_names;
    const auto it = std::find(names.begin(), names.end(), next.skill_names[s]);
    const std::size_t index =
        it != names.end() ? static_cast<std::size_t>(it - names.begin()) : appended_skills++;
    if (it == names.end()) {
      d.structure.push_back("skill " + next.skill_names[s] + " added");
    }
    if (index != s) {
      d.notes.push_back("skill " + next.skill_names[s] + " keeps ID " + std::to_string(index) +
                        " until a restart (the file makes it " + std::to_string(s) + ")");
    }
  }
  auto used = [&](router::SkillId s) {
    for (const QueueConfig& q : running.domain.queues) {
      for (const auto& r : q.skills) {
        if (r.skill == s && !q.retired) {
          return true;
        }
      }
    }
    for (const AgentConfig& a : running.domain.agents) {
      for (const auto& l : a.skills) {
        if (l.skill == s && !a.retired) {
          return true;
        }
      }
    }
    return false;
  };
  for (std::size_t s = 0; s < running.skill_names.size(); ++s) {
    const auto& names = next.skill_names;
    if (std::find(names.begin(), names.end(), running.skill_names[s]) == names.end() &&
        used(static_cast<router::SkillId>(s))) {
      d.structure.push_back("skill " + running.skill_names[s] + " removed");
    }
  }

  // Queues, by name.
  std::size_t appended_queues = running.domain.queues.size();
  for (std::size_t j = 0; j < next.domain.queues.size(); ++j) {
    const QueueConfig& y = next.domain.queues[j];
    const int i = active_queue(running, y.name);
    std::size_t index = 0;
    if (i < 0) {
      std::size_t same_name = running.domain.queues.size();
      for (std::size_t q = 0; q < running.domain.queues.size(); ++q) {
        if (running.domain.queues[q].name == y.name) {
          same_name = q;  // retired earlier: it comes back at its old index
        }
      }
      index = same_name < running.domain.queues.size() ? same_name : appended_queues++;
      d.structure.push_back("queue " + y.name + " added (index " + std::to_string(index) + ")");
    } else {
      index = static_cast<std::size_t>(i);
      const QueueConfig& x = running.domain.queues[index];
      const std::string name = "queue " + x.name + ": ";
      if (x.media != y.media) {
        d.structure.push_back(name + "media " + std::string(router::to_string(x.media)) + " -> " +
                              std::string(router::to_string(y.media)));
      }
      if (x.policy != y.policy) {
        d.structure.push_back(name + "policy " + std::string(router::to_string(x.policy)) + " -> " +
                              std::string(router::to_string(y.policy)));
      }
      if (skills_text(running, x) != skills_text(next, y)) {
        d.structure.push_back(name + "skills " + skills_text(running, x) + "-> " +
                              skills_text(next, y));
      }
      diff_queue_parameters(running, x, next, y, d);
    }
    if (index != j) {
      d.notes.push_back("queue " + y.name + " keeps index " + std::to_string(index) +
                        " until a restart (the file makes it " + std::to_string(j) + ")");
    }
  }
  for (const QueueConfig& x : running.domain.queues) {
    if (!x.retired && active_queue(next, x.name) < 0) {
      d.structure.push_back("queue " + x.name + " removed (refused while calls are in it)");
    }
  }

  // Agents, by ID.
  const auto was = active_agents(running);
  const auto now = active_agents(next);
  std::vector<router::AgentNumber> added;
  std::vector<router::AgentNumber> removed;
  std::vector<router::AgentNumber> reskilled;
  std::vector<router::AgentNumber> reserved;
  for (const auto& [number, j] : now) {
    const auto it = was.find(number);
    if (it == was.end()) {
      added.push_back(number);
    } else if (skills_text(running, running.domain.agents[it->second]) !=
               skills_text(next, next.domain.agents[j])) {
      reskilled.push_back(number);
    } else if (running.domain.agents[it->second].reserved != next.domain.agents[j].reserved) {
      reserved.push_back(number);
    }
  }
  if (!reserved.empty()) {
    d.changes.push_back("agents reserved or no longer: " + some_ids(reserved));
  }
  for (const auto& [number, i] : was) {
    if (now.find(number) == now.end()) {
      removed.push_back(number);
    }
  }
  if (!added.empty()) {
    d.structure.push_back("agents added: " + some_ids(added));
  }
  if (!removed.empty()) {
    d.structure.push_back("agents removed: " + some_ids(removed) +
                          " (refused while any of them is signed in)");
  }
  if (!reskilled.empty()) {
    d.structure.push_back("agents with new skills or capacity: " + some_ids(reskilled));
  }
  return d;
}

ApplianceConfig merge_for_reload(const ApplianceConfig& running, const ApplianceConfig& next) {
  ApplianceConfig m = next;  // site, endpoints, limits: as the file says

  // Skills: running IDs first, new names appended.
  m.skill_names = running.skill_names;
  std::vector<router::SkillId> skill_map(next.skill_names.size());
  for (std::size_t s = 0; s < next.skill_names.size(); ++s) {
    const auto it = std::find(m.skill_names.begin(), m.skill_names.end(), next.skill_names[s]);
    skill_map[s] = static_cast<router::SkillId>(it - m.skill_names.begin());
    if (it == m.skill_names.end()) {
      m.skill_names.push_back(next.skill_names[s]);
    }
  }
  m.domain.skill_count = static_cast<std::uint32_t>(m.skill_names.size());

  // Queues: running indices first (dropped ones retired), new ones appended.
  const auto& nq = next.domain.queues;
  std::vector<router::QueueIndex> queue_map(nq.size(), router::kNone);
  std::vector<int> source;  // per merged queue: its index in `next`, or -1 (retired)
  m.domain.queues.clear();
  for (const QueueConfig& rq : running.domain.queues) {
    int j = -1;
    for (std::size_t k = 0; k < nq.size() && j < 0; ++k) {
      j = nq[k].name == rq.name && queue_map[k] == router::kNone ? static_cast<int>(k) : -1;
    }
    if (j >= 0) {
      queue_map[static_cast<std::size_t>(j)] =
          static_cast<router::QueueIndex>(m.domain.queues.size());
      m.domain.queues.push_back(nq[static_cast<std::size_t>(j)]);
    } else {
      m.domain.queues.push_back(rq);
      m.domain.queues.back().retired = true;
    }
    source.push_back(j);
  }
  for (std::size_t k = 0; k < nq.size(); ++k) {
    if (queue_map[k] == router::kNone) {
      queue_map[k] = static_cast<router::QueueIndex>(m.domain.queues.size());
      m.domain.queues.push_back(nq[k]);
      source.push_back(static_cast<int>(k));
    }
  }
  for (std::size_t q = 0; q < m.domain.queues.size(); ++q) {
    if (source[q] < 0) {
      continue;  // a retired queue keeps the running numbering it already has
    }
    QueueConfig& qc = m.domain.queues[q];
    qc.retired = false;
    for (auto& s : qc.skills) {
      s.skill = skill_map[s.skill];
    }
    for (OverflowRule& r : qc.overflow) {
      if (r.action == OverflowAction::ToQueue) {
        r.target = queue_map[r.target];
      }
    }
    if (qc.max_wait_action == OverflowAction::ToQueue) {
      qc.max_wait_target = queue_map[qc.max_wait_target];
    }
    for (router::SurgeAction& a : qc.surge.actions) {
      if (a.borrow || a.action == OverflowAction::ToQueue) {
        a.target = queue_map[a.target];
      }
    }
  }

  for (router::ServiceConfig& sc : m.domain.services) {
    if (sc.action == OverflowAction::ToQueue) {
      sc.target = queue_map[sc.target];
    }
  }

  // Agents: running indices first (dropped ones retired), new ones appended.
  const auto now = active_agents(next);
  std::map<router::AgentNumber, bool> placed;
  m.domain.agents.clear();
  auto from_next = [&](std::size_t j) {
    AgentConfig ac = next.domain.agents[j];
    ac.retired = false;
    for (auto& s : ac.skills) {
      s.skill = skill_map[s.skill];
    }
    return ac;
  };
  for (const AgentConfig& ra : running.domain.agents) {
    const auto it = now.find(ra.number);
    if (it != now.end()) {
      m.domain.agents.push_back(from_next(it->second));
      placed[ra.number] = true;
    } else {
      m.domain.agents.push_back(ra);
      m.domain.agents.back().retired = true;
    }
  }
  for (std::size_t j = 0; j < next.domain.agents.size(); ++j) {
    if (placed.find(next.domain.agents[j].number) == placed.end()) {
      m.domain.agents.push_back(from_next(j));
    }
  }
  return m;
}

}  // namespace acd::control
