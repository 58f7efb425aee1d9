"""The free-text PHI detector through the real proxy (issue 9): FHIR R4
resources from ../shared/fhir with SSNs, phone numbers, e-mail addresses
and MRNs written into their notes, conclusions and narratives. The backend
receives no identifier in clear and every other byte of the text as sent;
a reader with the read permission gets each note back byte for byte;
another role gets masks; mask mode stores masks; an envelope moved to
another field, or planted by a client, never opens; the docs' example is
the configuration these tests run."""
import copy
import json
import os
import re
import subprocess

import pytest
import requests

from conftest import backend, certs, make_proxy, workdir  # noqa: F401 (tests/e2e's fixtures; this file lives outside it)
from phiguard_harness import BIN, TOP, free_port, make_keyring

PLUGIN = os.path.join(os.environ.get("PHIGUARD_PLUGIN_DIR", os.path.join(TOP, "build", "plugins")), "phi_detector.so")
DOC = os.path.join(TOP, "docs", "plugin-phi-detector.md")
FHIR = os.path.join(TOP, "..", "shared", "fhir")
if not os.path.isdir(FHIR):
    FHIR = "/work/shared/fhir"
TOKEN = re.compile(r"\[(ssn|mrn|phone|email):phi:v1:[A-Za-z0-9_-]+:r:[A-Za-z0-9_-]+\]")

# Notes on these routes carry no PHI fields of the core's: what happens to
# them is the plugin's alone.
POLICY = """version: 1
routes:
  - {name: fhir-read, methods: [GET], path: /fhir/**, permissions: [observation:read]}
  - {name: fhir-write, methods: [POST, PUT], path: /fhir/**, permissions: [observation:write]}
"""

CONFIG = {
    "fields": [
        {"selector": "$.note[*].text", "name": "Observation.note.text"},
        {"selector": "$.conclusion", "name": "DiagnosticReport.conclusion"},
        {"selector": "$.text.div", "name": "Resource.text.div"},
    ],
    "patterns": {
        "ssn": {"area_9xx": True, "mask": "last4"},  # Synthea's SSNs are 999-xx-xxxx
        "mrn": {"prefixes": ["MRN"], "min_digits": 6, "max_digits": 10},
        "phone": {"mask": "last4"},
        "email": {},
    },
    "action": "encrypt",
    "read_permission": "phi:read:identifiers",
}


def fhir(*parts):
    path = os.path.join(FHIR, *parts)
    if path.endswith(".ndjson"):
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    with open(path, encoding="utf-8-sig") as f:  # the HL7 files start with a BOM
        return json.load(f)


def identifiers():
    """A Synthea patient's SSN and phone, a Synthea practitioner's e-mail."""
    patient = fhir("synthea", "Patient.000.ndjson")[0]
    ssn = next(i["value"] for i in patient["identifier"] if i.get("system") == "http://hl7.org/fhir/sid/us-ssn")
    phone = next(t["value"] for t in patient["telecom"] if t["system"] == "phone")
    email = next(t["value"] for p in fhir("synthea", "Practitioner.000.ndjson") for t in p.get("telecom", [])
                 if t["system"] == "email")
    return {"ssn": ssn, "phone": phone, "email": email, "mrn": "0012345678"}


def observation(ids):
    obs = fhir("hl7", "Observation-For-Patient-f001.json")
    obs["note"] = [
        {"text": f"Pt called from {ids['phone']} about the result; SSN {ids['ssn']} confirmed. "
                 f"Copy to {ids['email']}."},
        {"text": "patient is afraid of needles \u2014 MRN: " + ids["mrn"] + " (r\u00e9f\u00e9r\u00e9)"},
        {"text": "Specimen is grossly lipemic; no identifiers here, 6.3 mmol/l on 2013-04-02."},
    ]
    div = obs["text"]["div"]
    obs["text"]["div"] = div.replace("</div>", f"<p>Callback: ({ids['phone'][:3]}) {ids['phone'][4:]}</p></div>")
    assert obs["text"]["div"] != div
    return obs


def report(ids):
    rep = next(e["resource"] for e in fhir("hl7", "SmartPatientA.json")["entry"]
               if e["resource"]["resourceType"] == "DiagnosticReport")
    rep = copy.deepcopy(rep)
    rep["conclusion"] = (rep.get("conclusion") or "No acute findings.") + \
        f" Results phoned to +1 {ids['phone'].replace('-', ' ')}; patient SSN {ids['ssn']}."
    return rep


def start(make_proxy, certs, ring, role, config=CONFIG, workdir=None, policy=None):
    if policy is None:
        policy = os.path.join(workdir, "policy.yaml")
        with open(policy, "w") as f:
            f.write(POLICY)
    cfg = {"tls": {"client_ca": f"{certs}/ca.pem", "client_auth": "optional"},
           "client_identities": [{"subject_cn": "clinic-client", "user": f"u-{role}", "roles": [role]}],
           "policy": {"file": policy}, "phi": {"keyring_file": ring},
           "plugins": [{"path": PLUGIN, "config": config}]}
    return make_proxy(cfg, name=f"detector-{role}-{len(os.listdir(workdir))}")


def call(p, method, path, body=None):
    return requests.request(method, p.url(path), data=None if body is None else json.dumps(body).encode(),
                            headers={"Content-Type": "application/fhir+json"}, verify=f"{p.certs}/ca.pem",
                            cert=(f"{p.certs}/client.pem", f"{p.certs}/client.key"), timeout=60)


def texts(doc):
    """The selected texts of a resource, in order."""
    out = [n["text"] for n in doc.get("note", [])]
    if "conclusion" in doc:
        out.append(doc["conclusion"])
    if "div" in doc.get("text", {}):
        out.append(doc["text"]["div"])
    return out


def shape(text, ids):
    """The text with each identifier replaced by its kind: what both the
    sent and the stored text must reduce to."""
    for kind, value in ids.items():
        text = text.replace(value, f"\u00ab{kind}\u00bb")
    text = text.replace(f"({ids['phone'][:3]}) {ids['phone'][4:]}", "\u00abphone\u00bb")
    return text.replace(f"+1 {ids['phone'].replace('-', ' ')}", "\u00abphone\u00bb")


def unsealed(text):
    return TOKEN.sub(lambda m: f"\u00ab{m.group(1)}\u00bb", text)


@pytest.fixture
def ring(workdir):
    return make_keyring(workdir)


@pytest.mark.parametrize("make_doc", [observation, report])
def test_backend_gets_no_identifier_readers_get_the_text_back(make_proxy, certs, ring, workdir, backend, make_doc):
    ids = identifiers()
    doc = make_doc(ids)
    writer = start(make_proxy, certs, ring, "nurse", workdir=workdir)
    r = call(writer, "POST", f"/fhir/{doc['resourceType']}", doc)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]

    stored = backend.get(f"/fhir/{doc['resourceType']}/{rid}")
    raw = json.dumps(stored, ensure_ascii=False)
    for value in ids.values():
        assert value not in raw
    assert ids["phone"][4:] not in raw
    # Each identifier became a token of its kind; every other byte of the
    # text is as sent, and the rest of the resource too.
    assert [unsealed(t) for t in texts(stored)] == [shape(t, ids) for t in texts(doc)]
    assert len(TOKEN.findall(raw)) >= 2
    rest = lambda d: {k: v for k, v in d.items() if k not in ("note", "conclusion", "text", "id")}  # noqa: E731
    assert rest(stored) == rest(doc)

    # A physician holds phi:read:identifiers: the resource as it was sent.
    physician = start(make_proxy, certs, ring, "physician", workdir=workdir)
    back = call(physician, "GET", f"/fhir/{doc['resourceType']}/{rid}")
    assert back.status_code == 200
    assert back.json() == dict(doc, id=rid)
    assert texts(back.json()) == texts(doc)  # byte for byte, not only equal in meaning

    # A nurse does not: masks, last four kept where configured.
    nurse_view = call(writer, "GET", f"/fhir/{doc['resourceType']}/{rid}").json()
    masked = {"ssn": "***-**-" + ids["ssn"][-4:], "phone": "***-***-" + ids["phone"][-4:], "email": "***",
              "mrn": "***"}
    assert texts(nurse_view) == [re.sub("\u00ab(\\w+)\u00bb", lambda m: masked[m.group(1)], shape(t, ids))
                                 for t in texts(doc)]

    # No log line of either proxy holds an identifier.
    for p in (writer, physician):
        for value in ids.values():
            assert value not in p.stderr()


def test_under_the_policys_own_sealing_of_the_note(make_proxy, certs, ring, workdir, backend):
    """conf/policy.yaml seals Observation notes whole (phi:read:clinical
    reads them, others get them removed): the plugin's tokens go inside
    that envelope, and come out only for who holds both permissions."""
    ids = identifiers()
    doc = observation(ids)
    example = os.path.join(TOP, "conf", "policy.yaml")
    writer = start(make_proxy, certs, ring, "nurse", workdir=workdir, policy=example)
    r = call(writer, "POST", "/fhir/Observation", doc)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    stored = backend.get(f"/fhir/Observation/{rid}")
    assert all(n["text"].startswith("phi:v1:") and "[" not in n["text"] for n in stored["note"])
    physician = start(make_proxy, certs, ring, "physician", workdir=workdir, policy=example)
    assert call(physician, "GET", f"/fhir/Observation/{rid}").json()["note"] == doc["note"]
    masked = call(writer, "GET", f"/fhir/Observation/{rid}").json()["note"][0]["text"]
    assert masked == (f"Pt called from ***-***-{ids['phone'][-4:]} about the result; "
                      f"SSN ***-**-{ids['ssn'][-4:]} confirmed. Copy to ***.")
    reader = start(make_proxy, certs, ring, "read_only", workdir=workdir, policy=example)
    # Removed by the policy (each note's text goes with its key).
    assert all("text" not in n for n in call(reader, "GET", f"/fhir/Observation/{rid}").json().get("note", []))


def test_mask_mode_stores_masks(make_proxy, certs, ring, workdir, backend):
    ids = identifiers()
    doc = observation(ids)
    config = dict(CONFIG, action="mask")
    writer = start(make_proxy, certs, ring, "nurse", config=config, workdir=workdir)
    r = call(writer, "POST", "/fhir/Observation", doc)
    assert r.status_code == 201, r.text
    stored = backend.get(f"/fhir/Observation/{r.json()['id']}")
    assert stored["note"][0]["text"] == (f"Pt called from ***-***-{ids['phone'][-4:]} about the result; "
                                         f"SSN ***-**-{ids['ssn'][-4:]} confirmed. Copy to ***.")
    assert "phi:v1:" not in json.dumps(stored)
    # What is stored is a mask: a reader gets the mask too.
    physician = start(make_proxy, certs, ring, "physician", config=config, workdir=workdir)
    assert call(physician, "GET", f"/fhir/Observation/{r.json()['id']}").json()["note"] == stored["note"]


def test_moved_envelope_does_not_open(make_proxy, certs, ring, workdir, backend):
    """An envelope copied by the app from a note into a conclusion (another
    field) is masked for a reader too, and the host counts the failure."""
    ids = identifiers()
    writer = start(make_proxy, certs, ring, "nurse", workdir=workdir)
    r = call(writer, "POST", "/fhir/Observation", observation(ids))
    assert r.status_code == 201, r.text
    stored = backend.get(f"/fhir/Observation/{r.json()['id']}")
    token = TOKEN.search(stored["note"][0]["text"]).group(0)
    relabelled = token.replace("[phone:", "[mrn:", 1)
    rep = report(ids)
    rep["conclusion"] = f"moved {token} relabelled {relabelled} stray {token[7:-1]} end"
    rep["id"] = "moved-1"
    requests.put(f"http://{backend.address}/fhir/DiagnosticReport/moved-1", data=json.dumps(rep), timeout=10)
    physician = start(make_proxy, certs, ring, "physician", workdir=workdir)
    got = call(physician, "GET", "/fhir/DiagnosticReport/moved-1").json()
    assert got["conclusion"] == "moved *** relabelled *** stray *** end"
    assert physician.wait_log("plugin_phi_open_failed", count=2)


def test_planted_envelope_is_refused(make_proxy, certs, ring, workdir, backend):
    """Ciphertext in a client's note could be another record's, planted to
    be opened on the way out: the request is refused, nothing forwarded."""
    ids = identifiers()
    writer = start(make_proxy, certs, ring, "nurse", workdir=workdir)
    r = call(writer, "POST", "/fhir/Observation", observation(ids))
    token = TOKEN.search(backend.get(f"/fhir/Observation/{r.json()['id']}")["note"][0]["text"]).group(0)
    backend.clear()
    doc = observation(ids)
    doc["note"][2]["text"] = f"copied {token}"
    r = call(writer, "POST", "/fhir/Observation", doc)
    assert r.status_code == 400 and r.json()["error"] == "plugin_rejected"
    assert not [x for x in backend.requests_seen() if x.get("method") == "POST"]
    assert any("holds a PHI envelope" in line.get("message", "") for line in writer.logs("plugin"))
    assert any(line.get("plugin") == "phi_detector" for line in writer.logs("plugin_body_rejected"))
    # The proxy goes on serving.
    assert call(writer, "POST", "/fhir/Observation", observation(ids)).status_code in (200, 201)  # f001 again


def test_dense_note_beyond_the_hooks_room_fails_closed(make_proxy, certs, ring, workdir, backend):
    """Tokens are ~80 bytes each, about seven times what they replace; a
    hook gets 16 * len + 256 bytes, but at most phi.max_value_bytes (64 KiB
    here) unless 2 * len + 256 is more. Eight identifiers in a short note
    fit; 16 KiB of nothing but identifiers (about 100 KiB sealed) do not,
    and that request is refused whole rather than an identifier passed
    (docs: Limits)."""
    ids = identifiers()
    writer = start(make_proxy, certs, ring, "nurse", workdir=workdir)
    backend.clear()
    short = " ".join([ids["ssn"], ids["phone"]] * 4)
    assert len(short) < 120
    r = call(writer, "POST", "/fhir/Observation", {"resourceType": "Observation", "note": [{"text": short}]})
    assert r.status_code in (200, 201), r.text
    stored = backend.get(f"/fhir/Observation/{r.json()['id']}")["note"][0]["text"]
    assert len(TOKEN.findall(stored)) == 8 and ids["ssn"] not in stored and ids["phone"] not in stored
    backend.clear()
    dense = " ".join([ids["ssn"], ids["phone"]] * (16384 // (len(ids["ssn"]) + len(ids["phone"]) + 2)))
    assert 16000 < len(dense) < 65536
    r = call(writer, "POST", "/fhir/Observation", {"resourceType": "Observation", "note": [{"text": dense}]})
    assert r.status_code == 500 and r.json()["error"] == "plugin_failed"
    assert not [x for x in backend.requests_seen() if x.get("method") == "POST"]
    assert any("longer than the host's output buffer" in line.get("message", "") for line in writer.logs("plugin"))
    assert ids["ssn"] not in writer.stderr()


def test_bad_config_stops_start_up(certs, ring, workdir):
    """A typo in the plugin's config stops phiguard, naming the plugin's
    path and the key."""
    policy = os.path.join(workdir, "policy.yaml")
    with open(policy, "w") as f:
        f.write(POLICY)
    cfg = os.path.join(workdir, "bad.yaml")
    with open(cfg, "w") as f:
        json.dump({"listen": f"127.0.0.1:{free_port()}", "tls": {"certificate": f"{certs}/server.pem", "key": f"{certs}/server.key"},
                   "upstream": {"address": "127.0.0.1:9"}, "policy": {"file": policy}, "phi": {"keyring_file": ring},
                   "plugins": [{"path": PLUGIN, "config": dict(CONFIG, patterns={"ssn": {}, "fax": {}})}]}, f)
    r = subprocess.run([BIN, "serve", "-c", cfg], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "phi_detector.so" in r.stderr and "fax" in r.stderr, r.stderr


def doc_block(first_line):
    (block,) = [b for b in re.findall(r"^```[a-z]*\n(.*?)^```", open(DOC).read(), re.S | re.M)
                if b.startswith(first_line)]
    return block


def test_the_docs_example_is_what_runs(make_proxy, certs, ring, workdir, backend):
    """The configuration in docs/plugin-phi-detector.md, loaded as written
    (only the plugin's path is this build's), does to the doc's note what
    the doc says."""
    import yaml  # Debian's python3-yaml, as test_inject.py uses

    block = doc_block("# phiguard.yaml")
    cfg = os.path.join(workdir, "doc.yaml")
    with open(cfg, "w") as f:
        f.write('listen: "127.0.0.1:8443"\ntls: {certificate: c.pem, key: k.pem}\nupstream: {address: "127.0.0.1:8080"}\n'
                + block.replace("/etc/phiguard/phi.keyring", ring)
                .replace("/usr/lib/phiguard/plugins/phi_detector.so", PLUGIN))
    r = subprocess.run([BIN, "config", "check", cfg], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    plugins = yaml.safe_load(block)["plugins"]
    assert plugins[0]["path"].endswith("/phi_detector.so")
    plugins[0]["path"] = PLUGIN
    config = plugins[0]["config"]
    note = doc_block("# a note as sent").splitlines()[1]
    shown = {line.split(": ", 1)[0][2:]: line.split(": ", 1)[1] for line in
             doc_block("# as it comes back").splitlines()[1:]}
    writer = start(make_proxy, certs, ring, "nurse", config=config, workdir=workdir)
    obs = {"resourceType": "Observation", "status": "final", "note": [{"text": note}]}
    r = call(writer, "POST", "/fhir/Observation", obs)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    stored = backend.get(f"/fhir/Observation/{rid}")["note"][0]["text"]
    documented = doc_block("# what the app stores").splitlines()[1]
    assert unsealed(stored) == re.sub(r"\[(\w+):phi:v1:k1:r:\.\.\.\]", "\u00ab\\1\u00bb", documented)
    physician = start(make_proxy, certs, ring, "physician", config=config, workdir=workdir)
    assert call(physician, "GET", f"/fhir/Observation/{rid}").json()["note"][0]["text"] == shown["physician"] == note
    assert call(writer, "GET", f"/fhir/Observation/{rid}").json()["note"][0]["text"] == shown["nurse"]
