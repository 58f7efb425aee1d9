"""Reads wrk --latency output on stdin; prints one TSV result line:
contender scenario rps p50_ms p99_ms requests errors cpu_us_per_req."""
import re
import sys

name, scenario, ticks, hz = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
text = sys.stdin.read()


def ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def latency(pct):
    m = re.search(r"^\s*%s%%\s+([\d.]+)(us|ms|s)\s*$" % pct, text, re.M)
    return ms(*m.groups()) if m else float("nan")


rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
requests = int(re.search(r"(\d+) requests in", text).group(1))
errors = 0
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
if m:
    errors += sum(int(x) for x in m.groups())
m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if m:
    errors += int(m.group(1))
cpu = ticks * 1e6 / hz / requests if requests and name != "backend" else float("nan")
print(f"{name}\t{scenario}\t{rps:.0f}\t{latency(50):.3f}\t{latency(99):.3f}\t{requests}\t{errors}\t{cpu:.1f}")
