"""Markdown summary of bench/auth.sh's TSV: medians over rounds, and the
two ratios issue 4 sets targets for."""
import json
import statistics
import sys

rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
meta = open(sys.argv[2]).read().strip().splitlines()
by = {}
for r in rows:
    by.setdefault(r[2], []).append(r)


def med(variant, col, cast=float):
    vals = [cast(r[col]) for r in by.get(variant, []) if r[col] != ""]
    return statistics.median(vals) if vals else float("nan")


def side(variant, key):
    vals = []
    for r in by.get(variant, []):
        if len(r) > 11 and r[11]:
            s = json.loads(r[11])
            vals.append(s[key] if key != "ok" else s["codes"].get("200", 0) / max(1, s["sent"]))
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else float("nan")


print("| variant | req/s | p50 ms | p99 ms | phiguard CPU µs/req | side client (ok share, p50 / p99 ms) |")
print("|---|---:|---:|---:|---:|---|")
for v, label in [x for x in (("public", "route made public"), ("session", "same route, Bearer session"),
                 ("no_logins", "session route + 20 cheap requests/s"), ("logins", "session route + 20 logins/s")) if x[0] in by]:
    extra = ""
    if v in ("no_logins", "logins"):
        extra = f"{side(v, 'ok'):.0%}, {side(v, 'p50_ms'):.0f} / {side(v, 'p99_ms'):.0f}"
    print(f"| {label} | {med(v, 3):.0f} | {med(v, 4):.2f} | {med(v, 5):.2f} | {med(v, 10):.1f} | {extra} |")
print()
if "session" in by and "public" in by:
    rps_ratio = statistics.median(float(s[3]) / float(p[3]) for s, p in zip(by["session"], by["public"]))
    cpu_ratio = statistics.median(float(p[10]) / float(s[10]) for s, p in zip(by["session"], by["public"]))
    print(f"- session / public requests/s (median of per-round ratios): **{rps_ratio:.2f}** (target >= 0.90: "
          f"{'met' if rps_ratio >= 0.90 else 'NOT met'}); by CPU per request: {cpu_ratio:.2f}")
if "logins" in by and "no_logins" in by:
    p99_ratio = statistics.median(float(l[5]) / float(n[5]) for l, n in zip(by["logins"], by["no_logins"]))
    print(f"- p99 with logins / without (median of per-round ratios): **{p99_ratio:.2f}** (target <= 2.0: "
          f"{'met' if p99_ratio <= 2.0 else 'NOT met'})")
print()
for m in meta:
    print(f"- {m}")
