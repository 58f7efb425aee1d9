"""Markdown summary of bench/audit.sh's TSV: medians over rounds, the
strict/off ratio, records/s into Redis and fsync batch sizes."""
import json
import statistics
import sys

rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
meta = open(sys.argv[2]).read().strip().splitlines()
duration = float(sys.argv[3])
by = {}
for r in rows:
    by.setdefault(r[2], []).append(r)


def med(v, col):
    return statistics.median(float(r[col]) for r in by[v])


def audit_delta(v, key):
    vals = []
    for r in by[v]:
        a = json.loads(r[11])
        b, c = a["before"]["chains"], a["after"]["chains"]
        if b and c:
            vals.append(c[0][key] - b[0][key])
    return vals


print("| variant | req/s | p50 ms | p99 ms | phiguard CPU µs/req | records acked by Redis /s | fsyncs /s | records per fsync (mean) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for v in [x for x in ("off", "strict", "async") if x in by]:
    acked = audit_delta(v, "acked")
    syncs = audit_delta(v, "syncs")
    synced = audit_delta(v, "synced_records")
    rec = f"{statistics.median(acked) / duration:.0f}" if acked else ""
    fs = f"{statistics.median(syncs) / duration:.0f}" if syncs else ""
    batch = f"{statistics.median(s / max(1, n) for s, n in zip(synced, syncs)):.1f}" if syncs else ""
    print(f"| {v} | {med(v, 3):.0f} | {med(v, 4):.2f} | {med(v, 5):.2f} | {med(v, 10):.1f} | {rec} | {fs} | {batch} |")
print()
for v in ("strict", "async"):
    if v in by and "off" in by:
        ratio = statistics.median(float(a[3]) / float(o[3]) for a, o in zip(by[v], by["off"]))
        note = f" (target >= 0.85: {'met' if ratio >= 0.85 else 'NOT met'})" if v == "strict" else ""
        print(f"- {v} / off requests/s (median of per-round ratios): **{ratio:.2f}**{note}")
print()
for m in meta:
    print(f"- {m}")
