"""Markdown summary of bench/phi.sh's TSV: medians over rounds and the
ratio issue 6 sets a target for (phi / plain >= 0.70)."""
import statistics
import sys

rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])][1:]
meta = open(sys.argv[2]).read().strip().splitlines()
by = {}
for r in rows:
    by.setdefault(r[2], []).append(r)


def med(variant, col):
    return statistics.median(float(r[col]) for r in by[variant])


labels = {"plain": "Patient in clear, route without PHI fields (passed through)",
          "phi": "Patient with 6 sealed fields, opened for the requester"}
print("| variant | req/s | p50 ms | p99 ms | phiguard CPU µs/req |")
print("|---|---:|---:|---:|---:|")
for v in ("plain", "phi"):
    if v in by:
        print(f"| {labels[v]} | {med(v, 3):.0f} | {med(v, 4):.2f} | {med(v, 5):.2f} | {med(v, 10):.1f} |")
print()
if "plain" in by and "phi" in by:
    ratio = statistics.median(float(p[3]) / float(c[3]) for p, c in zip(by["phi"], by["plain"]))
    cpu = statistics.median(float(p[10]) - float(c[10]) for p, c in zip(by["phi"], by["plain"]))
    print(f"- phi / plain requests/s (median of per-round ratios): **{ratio:.2f}** (target >= 0.70: "
          f"{'met' if ratio >= 0.70 else 'NOT met'}); the six fields cost {cpu:.1f} µs of phiguard CPU per request")
print()
for m in meta:
    print(f"- {m}")
