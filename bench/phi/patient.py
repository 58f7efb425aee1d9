"""The benchmark's Patient: HL7's example Patient f001 (../shared/fhir),
about 2 KB, with exactly one value in each of the six PHI fields
bench/phi.sh's policy selects (the rest of the resource as it is). Writes
it to argv[2]."""
import json
import sys

src, out = sys.argv[1], sys.argv[2]
with open(src, encoding="utf-8-sig") as f:  # the HL7 files start with a BOM
    p = json.load(f)
name = p["name"][0]
p["name"] = [{"use": name.get("use", "official"), "family": name["family"], "given": name["given"][:1]}]
p["telecom"] = [t for t in p["telecom"] if t.get("value")][:1]
addr = p["address"][0]
addr["line"] = addr["line"][:1]
p["address"] = [addr]
p.pop("photo", None)
with open(out, "w") as f:
    json.dump(p, f)
