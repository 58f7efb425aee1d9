"""docs/hipaa.md names, for each security feature, the tests that prove it.
Every named test must exist and pass, or the page claims what nothing shows.

"Passes" without running the suite twice: under ctest this test runs after
every other end-to-end test (tests/CMakeLists.txt makes it depend on them),
and each of those leaves its pytest results in
$PHIGUARD_TEST_OUTPUT/junit/<file>.xml. A named node id is judged from a
result recorded for this binary and this version of its test file; only the
named node ids with no such result (this test run alone, or a plugin's
tests) are run here, and only those. The named ctest unit programs are fast
and are simply run.
"""
import os
import re
import subprocess
import tempfile
import xml.etree.ElementTree as ET

import pytest

from phiguard_harness import BIN, PY, TOP

DOC = os.path.join(TOP, "docs", "hipaa.md")
NODE_ID = re.compile(r"^(?P<file>[\w./-]+\.py)::(?P<name>\w+)$")
CTEST_NAME = re.compile(r"^unit\.[\w.]+$")
# The feature groups of the seeds (../shared/seeds/), each a section of
# the page with at least one row.
SEED_SECTIONS = ["Access control", "Audit controls", "Integrity", "Person or entity authentication",
                 "Transmission security", "Monitoring", "Security headers"]
# What the operator's part must at least name.
OPERATOR_PART = ["training", "Business associate agreements", "backend's own database", "Physical safeguards",
                 "Risk analysis"]


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def feature_rows():
    """(section, feature, [test names]) for every row of every table whose
    last column is "Proved by"."""
    rows, section, header = [], None, None
    for line in open(DOC, encoding="utf-8"):
        if line.startswith("#"):
            section = line.lstrip("#").strip()
            header = None
        elif line.startswith("|"):
            row = cells(line)
            if header is None:
                header = row
            elif set("".join(row)) <= set("-: "):
                continue
            elif header[-1] == "Proved by":
                rows.append((section, row[0], re.findall(r"`([^`]+)`", row[-1])))
        else:
            header = None
    return rows


def named_tests():
    nodes, ctests = [], []
    for _, _, names in feature_rows():
        for n in names:
            (nodes if NODE_ID.match(n) else ctests).append(n)
    return sorted(set(nodes)), sorted(set(ctests))


def build_dir():
    # ctest gives every e2e test PHIGUARD_TEST_OUTPUT=<build>/test-output.
    out = os.environ.get("PHIGUARD_TEST_OUTPUT")
    return os.path.dirname(out) if out else os.path.dirname(BIN)


def test_every_seed_feature_has_rows_that_name_tests():
    rows = feature_rows()
    sections = {s for s, _, _ in rows}
    for wanted in SEED_SECTIONS:
        assert any(s.startswith(wanted) for s in sections), f"docs/hipaa.md has no rows under '{wanted}'"
    bad = []
    for section, feature, names in rows:
        if not names:
            bad.append(f"{section} / {feature}: names no test")
        for n in names:
            if not NODE_ID.match(n) and not CTEST_NAME.match(n):
                bad.append(f"{section} / {feature}: `{n}` is neither a pytest node id nor a unit.* ctest name")
            m = NODE_ID.match(n)
            if m and os.path.basename(m["file"]) == os.path.basename(__file__):
                bad.append(f"{section} / {feature}: names the map's own check")
    assert not bad, "\n".join(bad)
    # Lines joined, block-quote markers dropped: the wording, however wrapped.
    text = re.sub(r"\s*\n[>\s]*", " ", open(DOC, encoding="utf-8").read())
    assert "cannot be self-declared" in text and "No software can self-certify" in text
    missing = [w for w in OPERATOR_PART if w not in text]
    assert not missing, f"the operator's part does not name: {missing}"


def test_named_tests_exist():
    nodes, ctests = named_tests()
    files = sorted({NODE_ID.match(n)["file"] for n in nodes})
    absent = [f for f in files if not os.path.exists(os.path.join(TOP, f))]
    assert not absent, f"named test files that do not exist: {absent}"
    r = subprocess.run([PY, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "--rootdir", TOP]
                       + files, cwd=TOP, capture_output=True, text=True, timeout=300, env=pytest_env())
    collected = {re.sub(r"\[.*\]$", "", line.strip()) for line in r.stdout.splitlines() if "::" in line}
    missing = [n for n in nodes if n not in collected]
    assert not missing, f"named tests that pytest does not find: {missing}\n{r.stdout[-2000:]}{r.stderr[-2000:]}"
    listed = subprocess.run(["ctest", "-N"], cwd=build_dir(), capture_output=True, text=True, timeout=60).stdout
    known = set(re.findall(r"Test\s+#\d+: (\S+)", listed))
    missing = [n for n in ctests if n not in known]
    assert not missing, f"named ctest tests that do not exist in {build_dir()}: {missing}"


def test_named_unit_tests_pass():
    _, ctests = named_tests()
    pattern = "^(" + "|".join(re.escape(n) for n in ctests) + ")$"
    r = subprocess.run(["ctest", "--output-on-failure", "-R", pattern], cwd=build_dir(), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    ran = re.search(r"tests passed, (\d+) tests failed out of (\d+)", r.stdout)
    assert ran and int(ran.group(2)) == len(ctests), r.stdout[-3000:]


def pytest_env():
    env = dict(os.environ)
    env.setdefault("PHIGUARD_SOURCE_DIR", TOP)
    # What a plugin's end-to-end tests get from plugins/CMakeLists.txt.
    env.setdefault("PHIGUARD_PLUGIN_DIR", os.path.join(build_dir(), "plugins"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.join(TOP, "tests", "e2e"), env.get("PYTHONPATH")]))
    return env


RANK = {"passed": 0, "skipped": 1, "failed": 2}


def junit_outcomes(path):
    """{(class name, test name): "passed" | "skipped" | "failed"}, the
    parameters of a test folded into it: the worst of them (a teardown
    error is a case of its own, and counts)."""
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        key = (case.get("classname", ""), re.sub(r"\[.*\]$", "", case.get("name", "")))
        if case.find("failure") is not None or case.find("error") is not None:
            state = "failed"
        elif case.find("skipped") is not None:
            state = "skipped"
        else:
            state = "passed"
        if RANK[state] >= RANK.get(out.get(key), -1):
            out[key] = state
    return out


def outcome_of(outcomes, name, classname=None):
    states = [s for (c, n), s in outcomes.items() if n == name and classname in (None, c)]
    return max(states, key=RANK.get) if states else None


def recorded_outcomes(nodes):
    """Outcomes of this ctest run's e2e tests, for the named node ids whose
    result is newer than both the binary and the test file."""
    out_dir = os.environ.get("PHIGUARD_TEST_OUTPUT")
    found = {}
    if not out_dir or not BIN:
        return found
    for n in nodes:
        m = NODE_ID.match(n)
        if not m["file"].startswith("tests/e2e/"):
            continue  # only these are ordered before this test (tests/CMakeLists.txt); a plugin's run here
        src = os.path.join(TOP, m["file"])
        xml = os.path.join(out_dir, "junit", os.path.splitext(os.path.basename(src))[0] + ".xml")
        try:
            fresh = os.path.getmtime(xml) >= max(os.path.getmtime(src), os.path.getmtime(BIN))
        except OSError:
            continue
        if fresh:
            # One file per junit report: the test name is enough.
            state = outcome_of(junit_outcomes(xml), m["name"])
            if state:
                found[n] = state
    return found


def test_named_pytest_nodes_pass():
    nodes, _ = named_tests()
    outcomes = recorded_outcomes(nodes)
    rest = [n for n in nodes if n not in outcomes]
    log = ""
    if rest:
        with tempfile.TemporaryDirectory(prefix="pg-hipaa-") as d:
            xml = os.path.join(d, "junit.xml")
            r = subprocess.run([PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", TOP,
                                f"--junitxml={xml}"] + rest, cwd=TOP, capture_output=True, text=True,
                               timeout=3000, env=pytest_env())
            log = r.stdout[-6000:] + r.stderr[-2000:]
            ran = junit_outcomes(xml) if os.path.exists(xml) else {}
        for n in rest:
            m = NODE_ID.match(n)
            classname = os.path.splitext(m["file"])[0].replace("/", ".")
            outcomes[n] = outcome_of(ran, m["name"], classname) or "not run"
    bad = [f"{n}: {s}" for n, s in sorted(outcomes.items()) if s != "passed"]
    if bad:
        pytest.fail("tests named in docs/hipaa.md that did not pass (a skipped test proves nothing):\n  "
                    + "\n  ".join(bad) + ("\n" + log if log else ""))
