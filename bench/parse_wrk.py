"""Reads `wrk --latency` output on stdin and prints one TSV line:
round contender scenario rps p50_ms p99_ms requests seconds errors cpu_ticks
cpu_us_per_req (the proxy's CPU time over the run divided by the requests
wrk completed; empty for the backend, which is not a proxy)."""
import re
import sys

round_no, name, scenario = sys.argv[1], sys.argv[2], sys.argv[3]
ticks, hz = int(sys.argv[4]), int(sys.argv[5])
text = sys.stdin.read()

UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def field(pattern, what):
    m = re.search(pattern, text, re.M)
    if not m:
        sys.exit(f"parse_wrk: no {what} in wrk's output")
    return m


def latency_ms(pct):
    m = field(r"^\s*%s%%\s+([\d.]+)(us|ms|s|m)\s*$" % pct, f"{pct}% latency (was --latency given?)")
    return float(m.group(1)) * UNIT_MS[m.group(2)]


rps = float(field(r"Requests/sec:\s+([\d.]+)", "Requests/sec").group(1))
m = field(r"(\d+) requests in ([\d.]+)(us|ms|s|m),", "request count")
requests, seconds = int(m.group(1)), float(m.group(2)) * UNIT_MS[m.group(3)] / 1000
errors = 0
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
if m:
    errors += sum(int(x) for x in m.groups())
m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if m:
    errors += int(m.group(1))
cpu = f"{ticks * 1e6 / hz / requests:.1f}" if requests and name != "backend" else ""
print(f"{round_no}\t{name}\t{scenario}\t{rps:.0f}\t{latency_ms(50):.3f}\t{latency_ms(99):.3f}"
      f"\t{requests}\t{seconds:.2f}\t{errors}\t{ticks if name != 'backend' else ''}\t{cpu}")
