#!/usr/bin/env python3
"""Screens routing policies for router/sim/examples/bank.toml against the dedicated split.

Every centre keeps bank.toml's agents and who may serve what; only the routing settings change:
the call-selection rule, the cards queue's reserve threshold, the loans queue's expanding
requirement (floor 3, then 2 after X s, so the generalists' loans 2 may help), the loan
specialists' preference, and (family "B3") the bilingual agents' cards level lowered from 6 to 3
with the cards floor expanding from 4 to 3, which makes them reserve agents for cards alone.
All centres run the same days (common random numbers) through acd-sim --compare.

  python3 bench/bank_policy_search.py build/router/acd-sim [days] > screen.json

Prints one JSON object: centre name -> service level (answered within 20 s / offered) per queue
and overall, means over the days. docs/routing-quality.md quotes a 40-day screen.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "router", "sim", "examples")

RULES = {"ap": (None, ""), "qr": ("queue_ratio", ""), "gn": ("greatest_need", ""),
         "gnp": ("greatest_need", "predicted_wait = true\n"), "ww": ("weighted_wait", "")}


def centre(rule, rule_extra="", cards_reserve=0, loans_expand=None, spec_pref=True,
           bilingual_cards=6, cards_expand=None):
    s = 'site = "bank-sh"\nskills = ["cards", "loans", "english", "chat"]\n\n'
    if rule:
        s += f'[call_selection]\nrule = "{rule}"\n{rule_extra}\n'
    s += '[[queue]]\nname = "cards"\n'
    if cards_reserve:
        s += f"reserve_after_s = {cards_reserve}\n"
    if cards_expand is None:
        s += "skills = { cards = 1 }\n"
    else:
        s += ("skills = { cards = 3 }\nexpand = [{ after_s = 0, min_level = 4 }, "
              f"{{ after_s = {cards_expand}, min_level = 3 }}]\n")
    s += 'policy = "longest_idle"\nwrap_up_s = 15\nmax_wait_s = 300\nmax_wait_action = "callback"\n\n'
    s += '[[queue]]\nname = "loans"\n'
    if loans_expand is None:
        s += "skills = { loans = 3 }\n"
    elif loans_expand == 0:
        s += "skills = { loans = 2 }\n"
    else:
        s += ("skills = { loans = 2 }\nexpand = [{ after_s = 0, min_level = 3 }, "
              f"{{ after_s = {loans_expand}, min_level = 2 }}]\n")
    s += 'policy = "most_skilled"\nsl_threshold_s = 30\nwrap_up_s = 15\n\n'
    s += '[[queue]]\nname = "english"\nskills = { english = 1 }\npolicy = "round_robin"\nwrap_up_s = 15\n\n'
    s += ('[[queue]]\nname = "chat"\nmedia = "chat"\nskills = { chat = 1 }\npolicy = "fewest_calls"\n'
          "wrap_up_s = 15\n\n")
    pref = 'preference = "proficiency"\n'
    s += f"[[agent_group]]\nfirst_id = 1000\ncount = 30\nskills = {{ cards = 5, loans = 2 }}\n{pref}\n"
    s += ("[[agent_group]]\nfirst_id = 1030\ncount = 12\nskills = { loans = 8, cards = 4 }\n"
          + (pref if spec_pref else "") + "\n")
    s += (f"[[agent_group]]\nfirst_id = 1042\ncount = 6\nskills = {{ cards = {bilingual_cards}, "
          f"english = 7 }}\n{pref}\n")
    s += "[[agent_group]]\nfirst_id = 1048\ncount = 8\nskills = { chat = 5 }\nchat_capacity = 3\n"
    return s


def centres():
    out = []
    for rn, (rule, extra) in RULES.items():
        for cr in [0, 10, 20, 30, 45, 60, 90, 120]:  # specialists prefer loans
            for x in [None, 0, 10, 20, 30, 45, 60, 90]:
                out.append((f"{rn}_c{cr}_x{x}", centre(rule, extra, cr, x)))
        for cr in [30, 60, 90, 120, 180, 240]:  # specialists without a preference
            for x in [None, 0, 10, 20, 30, 45, 60]:
                out.append((f"S0_{rn}_c{cr}_x{x}", centre(rule, extra, cr, x, spec_pref=False)))
        for sp in [True, False]:  # bilinguals as cards' only reserve agents
            for ce in [10, 20, 30, 45, 60, 90, 120, 240]:
                for x in [None, 0, 10, 20, 30, 45, 60, 90, 120, 180]:
                    out.append((f"B3_{rn}_{'P' if sp else 'N'}_ce{ce}_x{x}",
                                centre(rule, extra, 0, x, sp, 3, ce)))
    return out


def main():
    sim = sys.argv[1]
    days = sys.argv[2] if len(sys.argv) > 2 else "40"
    result = {}
    todo = centres()
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(0, len(todo), 25):
            args = [sim, "--config", os.path.join(EXAMPLES, "bank_dedicated.toml"), "--duration",
                    "28800", "--warmup", "1800", "--days", days, "--compare", "--json"]
            for name, text in todo[i:i + 25]:
                path = os.path.join(tmp, name + ".toml")
                with open(path, "w") as f:
                    f.write(text)
                args += ["--variant", f"{name}={path}"]
            run = json.loads(subprocess.run(args, capture_output=True, text=True,
                                            check=True).stdout)
            for c in run["centres"]:
                name = "dedicated" if c["name"] == "scenario" else c["name"]
                result[name] = {"all": c["total"]["sl_offered"]["mean"],
                                **{q["name"]: q["sl_offered"]["mean"] for q in c["queues"]}}
    json.dump(result, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
