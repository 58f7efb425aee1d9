"""Open-loop request generator for bench/auth.sh: sends RATE requests per
second for SECONDS (each from a pool thread with its own keep-alive TLS
connection, so a slow answer does not delay the next send), then prints one
JSON line: sent, status counts, median and p99 latency in ms.

  login_load.py URL RATE SECONDS CAFILE login USERNAME PASSWORD
  login_load.py URL RATE SECONDS CAFILE get PATH      (the baseline: same client work, no Argon2)
"""
import concurrent.futures
import json
import sys
import threading
import time

import requests

url, rate, seconds, cafile, mode = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
local = threading.local()


def session():
    if not hasattr(local, "s"):
        local.s = requests.Session()
    return local.s


def one():
    t = time.monotonic()
    try:
        if mode == "login":
            r = session().post(url + "/auth/login", json={"username": sys.argv[6], "password": sys.argv[7]},
                               verify=cafile, timeout=30)
        else:
            r = session().get(url + sys.argv[6], verify=cafile, timeout=30)
        code = r.status_code
    except requests.RequestException:
        code = 0
    return code, (time.monotonic() - t) * 1000


results = []
with concurrent.futures.ThreadPoolExecutor(max_workers=64) as pool:
    start = time.monotonic()
    futures, n = [], 0
    while True:
        due = start + n / rate
        if due - start >= seconds:
            break
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        futures.append(pool.submit(one))
        n += 1
    results = [f.result() for f in futures]

codes = {}
for c, _ in results:
    codes[str(c)] = codes.get(str(c), 0) + 1
lat = sorted(ms for c, ms in results if c == 200)
pick = (lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 1)) if lat else (lambda q: None)
print(json.dumps({"sent": len(results), "codes": codes, "p50_ms": pick(0.5), "p99_ms": pick(0.99)}))
