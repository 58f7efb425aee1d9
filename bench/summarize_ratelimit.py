"""Markdown summary of bench/ratelimit.sh's TSV: medians over rounds per
variant (none, local, global), and each variant's requests/s and CPU per
request against none (medians of per-round ratios)."""
import statistics
import sys

rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
meta = open(sys.argv[2]).read().strip().splitlines()
by = {}
for r in rows:
    by.setdefault(r[2], []).append(r)
NAMES = {"none": "no rate limit", "local": "local limit (process table)", "global": "global limit (Redis script)"}


def med(v, col):
    return statistics.median(float(r[col]) for r in by[v])


print("| variant | req/s | p50 ms | p99 ms | phiguard CPU µs/req | refused or failed |")
print("|---|---:|---:|---:|---:|---:|")
for v in [x for x in ("none", "local", "global") if x in by]:
    refused = sum(int(r[8]) for r in by[v])
    print(f"| {NAMES[v]} | {med(v, 3):.0f} | {med(v, 4):.2f} | {med(v, 5):.2f} | {med(v, 10):.1f} | {refused} |")
print()
if "none" in by:
    for v in ("local", "global"):
        if v not in by:
            continue
        rps = statistics.median(float(a[3]) / float(n[3]) for a, n in zip(by[v], by["none"]))
        cpu = statistics.median(float(a[10]) - float(n[10]) for a, n in zip(by[v], by["none"]))
        print(f"- {v} / none requests/s (median of per-round ratios): **{rps:.2f}**; "
              f"CPU per request {cpu:+.1f} µs")
    print()
for m in meta:
    print(f"- {m}")
