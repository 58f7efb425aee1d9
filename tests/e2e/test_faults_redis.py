"""Fault injection: Redis stopped (or hung) and started again while clients
keep sending. Strict-mode audit lets requests through on the spool's fsync
while Redis is away; sessions fail closed (503 auth_unavailable) once the
worker cannot check them; global rate limits fall back to local ones. After
Redis is back every record reaches it exactly once (spool replay), the
chains verify, and the log says what happened."""
import time

import pytest

from audit_env import audit_config, verify
from auth_env import Client, auth_config, bearer
from fault_env import durable_redis, Load, assert_chains_whole, request_records, wait_for
from phiguard_harness import deep_merge

OPEN_ROUTE = "  - {name: open, methods: [GET], path: /status/201, public: true}\n"
OPEN_LIMIT = """rate_limits:
  - {name: open-global, key: [route], scope: global, rate: 100000/s, burst: 100000, route: open}
"""



@pytest.mark.parametrize("fault", ["stop", "freeze"])
def test_redis_away_under_load_loses_no_record(make_proxy, workdir, fault):
    redis = durable_redis()
    try:
        cfg = deep_merge(auth_config(workdir, redis.address), audit_config(workdir, redis.address))
        cfg["redis"]["command_timeout"] = "300ms"
        with open(cfg["policy"]["file"]) as f:
            text = f.read()
        routes, _, rest = text.partition("sessions:")
        with open(cfg["policy"]["file"], "w") as f:
            f.write(routes + OPEN_ROUTE + "sessions:" + rest + OPEN_LIMIT)
        p = make_proxy(cfg)
        token = Client(p).login("n.joy").json()["token"]
        users = Load(p, "/echo", threads=3, seconds=120, headers=bearer(token)).start()
        public = Load(p, "/status/201", threads=3, seconds=120).start()
        try:
            users.wait_answers(20, 200)
            public.wait_answers(20, 201)
            if fault == "stop":
                redis.stop()
            else:
                redis.freeze()
            # While Redis is away: sessions cannot be checked (503), public
            # requests go on (the global limit decided locally), and strict
            # audit is released by the spool's fsync.
            users.wait_answers(10, 503)
            public.wait_answers(100, 201)
            p.wait_log("ratelimit_fallback")
            if fault == "stop":
                redis.start()  # the same address, its data back from the AOF
            else:
                redis.thaw()
            users.wait_answers(20, 200, timeout=30)
            public.wait_answers(20, 201)
            p.wait_log("ratelimit_fallback_ended", timeout=20)  # global decisions are Redis's again
        finally:
            answered = users.stop() + public.stop()
        assert not users.failures and not public.failures, (users.failures + public.failures)[:3]
        assert {c for c, _, _ in users.answers} == {200, 503}
        assert {e for c, _, e in users.answers if c == 503} == {"auth_unavailable"}
        assert {c for c, _, _ in public.answers} == {201}
        # Every answered request has exactly one record, with its status;
        # no record is missing or stored twice.
        rc = redis.client()
        ids = {rid for _, rid, _ in answered}
        assert len(ids) == len(answered)
        wait_for(lambda: ids <= set(request_records(rc)), timeout=30, what="every record in Redis")
        recs = request_records(rc)
        for status, rid, _ in answered:
            assert len(recs[rid]) == 1 and recs[rid][0]["http"]["status"] == status, recs[rid]
        ours = {rid for rid, r in recs.items() if r[0]["http"]["path"] in ("/echo", "/status/201")}
        assert ours == ids  # no record of a request nobody sent
        assert_chains_whole(rc)
        time.sleep(0.7)  # a checkpoint counting the last records
        v = verify(p, workdir)
        assert v.returncode == 0, v.stdout + v.stderr
        assert [x for x in p.logs() if x.get("msg", "").startswith("redis_") and x["level"] in ("warn", "error")]
    finally:
        redis.cleanup()
