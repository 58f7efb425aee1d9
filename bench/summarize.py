"""Medians over rounds of a bench/run.sh results file, as a Markdown table
with the phiguard/nginx ratios and the targets of issue 2."""
import csv
import statistics
import sys
from collections import defaultdict

path, rounds, duration, conns = sys.argv[1:5]
rows = defaultdict(list)
with open(path) as f:
    for r in csv.DictReader(f, delimiter="\t"):
        rows[(r["scenario"], r["contender"])].append(r)


def med(key, scenario, who):
    vals = [float(r[key]) for r in rows.get((scenario, who), [])]
    vals = [v for v in vals if v == v]
    return statistics.median(vals) if vals else float("nan")


targets = {"keepalive": ("requests/s ratio", 1.0), "handshake": ("handshakes/s ratio", 0.9),
           "handshake_capped": ("handshakes/s ratio", 0.9)}
print(f"Medians of {rounds} rounds, {duration} s each, {conns} connections, wrk -t1; "
      f"wrk and backend on CPU 0, proxy alone on CPU 1, one worker.\n")
print("| scenario | contender | requests/s | p50 ms | p99 ms | proxy CPU µs/request | errors |")
print("|---|---|---:|---:|---:|---:|---:|")
scenarios = []
for (s, _) in rows:
    if s not in scenarios:
        scenarios.append(s)
for s in scenarios:
    for who in ("backend", "nginx", "phiguard"):
        if (s, who) not in rows:
            continue
        errs = sum(int(r["errors"]) for r in rows[(s, who)])
        cpu = med("cpu_us_per_req", s, who)
        print(f"| {s} | {who} | {med('rps', s, who):.0f} | {med('p50_ms', s, who):.3f} | "
              f"{med('p99_ms', s, who):.3f} | {'' if cpu != cpu else f'{cpu:.1f}'} | {errs} |")
print("\n| scenario | phiguard/nginx requests/s | phiguard/nginx CPU per request | target |")
print("|---|---:|---:|---|")
for s in scenarios:
    if (s, "nginx") not in rows or (s, "phiguard") not in rows:
        continue
    rps_ratio = med("rps", s, "phiguard") / med("rps", s, "nginx")
    cpu_ratio = med("cpu_us_per_req", s, "phiguard") / med("cpu_us_per_req", s, "nginx")
    name, goal = targets.get(s, ("", None))
    verdict = "" if goal is None else f"{name} >= {goal}: {'met' if rps_ratio >= goal else 'NOT met'}"
    print(f"| {s} | {rps_ratio:.2f} | {cpu_ratio:.2f} | {verdict} |")
