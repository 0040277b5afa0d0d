#!/usr/bin/env bash
# The main job: installs what is missing, builds, starts a local cluster of
# all five services, pushes simulated partner feeds (HL7 v2 from a hospital,
# FHIR NDJSON from a lab, FHIR Bundles from a clinic, with a few deliberately
# invalid items) and prints what the analytics service now knows (counts,
# query documents through the CLI and the analysts' HTTP API, the audit trail).
#
#   deploy/demo.sh [--patients N] [--keep]     (--keep leaves the cluster running)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
patients=300
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --patients) patients="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        *) echo "usage: deploy/demo.sh [--patients N] [--keep]" >&2; exit 2 ;;
    esac
done
"$root/deploy/build.sh"
hg="$root/build/bin/hourglass"
cluster="$root/.cluster"
feeds="$root/.cluster-feeds"

if [ -f "$cluster/cluster.json" ]; then
    "$hg" cluster down --dir "$cluster" >/dev/null 2>&1 || true
fi
rm -rf "$cluster" "$feeds"
"$hg" simulate --out "$feeds" --patients "$patients" --seed 7 --invalid 4
"$hg" cluster up --dir "$cluster"
trap '[ "$keep" = 1 ] || "$hg" cluster down --dir "$cluster"' EXIT

echo
echo "== pushing partner feeds (invalid items are expected to be rejected)"
"$hg" push --cluster "$cluster" --partner general-hospital --format hl7v2 "$feeds"/general-hospital/hl7v2/* || true
"$hg" push --cluster "$cluster" --partner city-lab --format fhir "$feeds"/city-lab/fhir/* || true
"$hg" push --cluster "$cluster" --partner clinic-fhir --format fhir "$feeds"/clinic-fhir/fhir/* || true

echo
echo "== waiting for the pipeline to drain"
for _ in $(seq 1 120); do
    if "$hg" stats --cluster "$cluster" --json | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)["services"]
sys.exit(0 if all(v.get("outbox_depth", 0) == 0 for v in s.values()) else 1)'; then
        break
    fi
    sleep 0.5
done
"$hg" stats --cluster "$cluster"

echo
echo "== what analytics knows (counts of 1..10 patients are suppressed)"
for code in 'http://loinc.org|4548-4' 'http://loinc.org|2345-7' 'http://snomed.info/sct|44054006' \
            'http://snomed.info/sct|38341003' 'http://hl7.org/fhir/sid/icd-10-cm|E11.9' \
            'http://terminology.hl7.org/CodeSystem/v3-ActCode|EMER'; do
    "$hg" query count --cluster "$cluster" --code "$code"
done
"$hg" query count --cluster "$cluster" --code 'http://loinc.org|4548-4' --from 2018-01-01 --to 2020-12-31 --json
# cohorts: patients with both an HbA1c and a glucose result; and also with a
# diabetes diagnosis (few enough patients to be suppressed)
"$hg" query count --cluster "$cluster" --code 'http://loinc.org|4548-4' \
    --code 'http://loinc.org|2345-7'
"$hg" query count --cluster "$cluster" --code 'http://loinc.org|4548-4' \
    --code 'http://loinc.org|2345-7' --code 'http://snomed.info/sct|44054006'

echo
echo "== the analytics engine: one query document (docs/analytics.md), HbA1c >= 6.5 % by sex, and a distribution"
cat > "$feeds/hba1c-by-sex.json" <<'EOF'
{"cohort": {"all": [{"code": "http://loinc.org|4548-4", "value": {"gte": 6.5}}]},
 "by": ["sex"]}
EOF
"$hg" query run --cluster "$cluster" --file "$feeds/hba1c-by-sex.json"
cat > "$feeds/hba1c-distribution.json" <<'EOF'
{"measure": {"kind": "distribution", "code": "http://loinc.org|4548-4", "bins": [4, 5, 6, 7, 8, 10, 14]}}
EOF
"$hg" query run --cluster "$cluster" --file "$feeds/hba1c-distribution.json"

echo
echo "== the same through the analysts' HTTP API (a bearer token per analyst, every answer audited)"
token="$("$hg" cluster add-analyst demo-analyst --dir "$cluster" --json |
    /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')"
api="$(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["analytics_http"])' \
    "$cluster/cluster.json")"
HG_TOKEN="$token" /usr/bin/python3 - "$api" "$feeds/hba1c-by-sex.json" <<'EOF'
import json, os, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/v1/query", data=open(sys.argv[2], "rb").read(),
                             headers={"Authorization": "Bearer " + os.environ["HG_TOKEN"],
                                      "Content-Type": "application/json"})
ans = json.load(urllib.request.urlopen(req, timeout=30))
print("POST %s/v1/query: %s patients, %d cells, audit id %s"
      % (sys.argv[1], ans.get("patients"), len(ans.get("cells", [])), ans.get("audit_id")))
EOF
"$hg" audit list --cluster "$cluster" | tail -3
echo "(the analysts' page: $api/ with that token; hourglass audit verify checks the trail)"

echo
echo "== quarantine (what was rejected, and why)"
"$hg" quarantine list --cluster "$cluster"

echo
echo "== data quality per partner (conformance, completeness, plausibility, top reasons)"
for p in general-hospital city-lab clinic-fhir; do
    "$hg" quality --cluster "$cluster" --partner "$p"
done
"$hg" quality --cluster "$cluster" --partner city-lab --html "$feeds/city-lab-quality.html" >/dev/null
echo "(an HTML report for city-lab's data manager: $feeds/city-lab-quality.html)"
if [ "$keep" = 1 ]; then
    echo
    echo "cluster left running in $cluster; stop it with: $hg cluster down --dir $cluster"
fi
