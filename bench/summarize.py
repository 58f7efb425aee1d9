"""Medians over the rounds of a bench/run.sh results file (TSV), as Markdown:
one table of figures, one of phiguard/nginx ratios beside the targets of
issue 2.

Usage: summarize.py RESULTS.tsv META.txt CLK_TCK
(META: lines printed as the table's preamble: command, machine, pinning.)

Two ratios are given. The ratio of the medians is the headline (and what
the verdict reads). The median of the per-round ratios pairs each phiguard
run with the nginx run of the same round, seconds apart, so that a slow
stretch of the shared machine hits both sides of a pair: when the two
disagree, the machine was noisy and the run is worth repeating."""
import csv
import statistics
import sys
from collections import defaultdict

results_path, meta_path, hz = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = defaultdict(list)
scenarios = []
with open(results_path) as f:
    for r in csv.DictReader(f, delimiter="\t"):
        rows[(r["scenario"], r["contender"])].append(r)
        if r["scenario"] not in scenarios:
            scenarios.append(r["scenario"])
with open(meta_path) as f:
    meta = [line.rstrip("\n") for line in f if line.strip()]

# What requests/s means in each scenario, and the issue's target for the
# phiguard/nginx ratio of it.
UNIT = {"keepalive": "requests/s", "handshake": "handshakes/s", "handshake_capped": "handshakes/s",
        "body64k": "requests/s"}
TARGET = {"keepalive": 1.0, "handshake": 0.9, "handshake_capped": 0.9}
NAN = float("nan")


def values(key, scenario, who):
    return [float(r[key]) for r in rows.get((scenario, who), []) if r[key] != ""]


def med(key, scenario, who):
    v = values(key, scenario, who)
    return statistics.median(v) if v else NAN


def spread(key, scenario, who):
    """(max - min) / median over rounds, in percent: how noisy the figure was."""
    v = values(key, scenario, who)
    m = statistics.median(v) if v else 0
    return (max(v) - min(v)) / m * 100 if len(v) > 1 and m else NAN


def busy(scenario, who):
    """Median share of its core the proxy used during a run, in percent: near
    100 the proxy was the bottleneck, well below it the load core was."""
    v = [float(r["cpu_ticks"]) / hz / float(r["seconds"]) * 100
         for r in rows.get((scenario, who), []) if r["cpu_ticks"] != "" and float(r["seconds"]) > 0]
    return statistics.median(v) if v else NAN


def paired_ratio(key, scenario):
    """Median over rounds of phiguard's figure / nginx's in the same round."""
    by_round = defaultdict(dict)
    for who in ("nginx", "phiguard"):
        for r in rows.get((scenario, who), []):
            if r[key] != "":
                by_round[r["round"]][who] = float(r[key])
    v = [p["phiguard"] / p["nginx"] for p in by_round.values() if len(p) == 2 and p["nginx"]]
    return statistics.median(v) if v else NAN


def fmt(x, spec, suffix=""):
    return "" if x != x else format(x, spec) + suffix


rounds = max((int(r["round"]) for rs in rows.values() for r in rs), default=0)
print(f"Medians over {rounds} round{'s' if rounds != 1 else ''} (contenders alternating within each round). "
      + "; ".join(meta[:1]) + "\n")
for line in meta[1:]:
    print(f"- {line}")
print()
print("| scenario | contender | req/s (handshakes/s) | spread | p50 ms | p99 ms | proxy CPU µs/req "
      "| proxy core busy | errors |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for s in scenarios:
    for who in ("backend", "nginx", "phiguard"):
        if (s, who) not in rows:
            continue
        errs = sum(int(r["errors"]) for r in rows[(s, who)])
        print(f"| {s} | {who} | {fmt(med('rps', s, who), '.0f')} | {fmt(spread('rps', s, who), '.0f', '%')} "
              f"| {fmt(med('p50_ms', s, who), '.3f')} | {fmt(med('p99_ms', s, who), '.3f')} "
              f"| {fmt(med('cpu_us_per_req', s, who), '.1f')} | {fmt(busy(s, who), '.0f', '%')} | {errs} |")

ratio_rows = [s for s in scenarios if (s, "nginx") in rows and (s, "phiguard") in rows]
if ratio_rows:
    print("\nphiguard/nginx (req/s: higher is better; CPU per request and p99: lower is better). "
          "\"paired\": median of the per-round ratios.\n")
    print("| scenario | req/s | req/s paired | CPU/req | CPU/req paired | p99 | target | verdict |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for s in ratio_rows:
        rps = med("rps", s, "phiguard") / med("rps", s, "nginx")
        cpu = med("cpu_us_per_req", s, "phiguard") / med("cpu_us_per_req", s, "nginx")
        p99 = med("p99_ms", s, "phiguard") / med("p99_ms", s, "nginx")
        goal = TARGET.get(s)
        target = f"{UNIT[s]} ≥ {goal}" if goal is not None else ""
        verdict = "" if goal is None else ("met" if rps >= goal else "**not met**")
        print(f"| {s} | {rps:.3f} | {fmt(paired_ratio('rps', s), '.3f')} | {cpu:.3f} "
              f"| {fmt(paired_ratio('cpu_us_per_req', s), '.3f')} | {p99:.2f} | {target} | {verdict} |")

bad = [(s, w) for (s, w), rs in rows.items() if any(int(r["errors"]) for r in rs)]
if bad:
    print("\nWarning: errors (socket errors or non-2xx answers) in: "
          + ", ".join(f"{w}/{s}" for s, w in bad) + "; those figures are suspect.")
