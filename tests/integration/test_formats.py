"""
test_formats.py -- CSV (with the partner's mapping file), VCF and DICOM JSON
pushed through a real cluster: records counted exactly by code, a CSV row
without its partner's mapping quarantined with an actionable reason, and the
DICOM patient's name and id absent from every store behind the de-identifier.
"""
import json
import os

import hg

CSV_MAP = """\
kind = lab-observation
delimiter = ;
encoding = latin1
date_format = %d.%m.%Y
code_system = loinc
decimal = ,
column.patient = PATIENT_ID
column.code = LOINC
column.display = TEST
column.value = RESULT
column.unit = UNIT
column.effective = DATE
"""

# Latin-1 bytes (é), ';' delimiter, decimal comma, a quoted field with the delimiter
CSV = ("PATIENT_ID;LOINC;TEST;RESULT;UNIT;DATE\r\n"
       "P-1001;2345-7;Glucose;\"5,4\";mmol/L;03.04.2021\r\n"
       "P-1002;2345-7;Glucose;6,1;mmol/L;04.04.2021\r\n"
       "P-1001;4548-4;\"HbA1c; capillary\";7,2;%;05.04.2021\r\n"
       "P-1003;2345-7;Glucose (caf\xe9);bad;mmol/L;31.02.2021\r\n").encode("latin-1")

VCF = """##fileformat=VCFv4.2
##fileDate=20210412
##INFO=<ID=GENE,Number=1,Type=String,Description="Gene">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3
chr17\t43044295\trs80357906\tA\tG\t50\tPASS\tGENE=BRCA1\tGT\t0/1\t0/0\t1/1
chr7\t117559590\t.\tATCT\tA\t60\tPASS\tGENE=CFTR\tGT\t0/0\t0/1\t./.
""".encode()

DICOM_JSON = json.dumps({
    "00080020": {"vr": "DA", "Value": ["20210607"]},
    "00080030": {"vr": "TM", "Value": ["101500"]},
    "00080050": {"vr": "SH", "Value": ["ACC-778899"]},
    "00080060": {"vr": "CS", "Value": ["MR"]},
    "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Quixote^Alonso"}]},
    "00100020": {"vr": "LO", "Value": ["DCM-PAT-424242"]},
    "00100030": {"vr": "DA", "Value": ["19610203"]},
    "00100040": {"vr": "CS", "Value": ["M"]},
    "00180015": {"vr": "CS", "Value": ["BRAIN"]},
    "0020000D": {"vr": "UI", "Value": ["1.2.826.0.1.3680043.8.498.1"]},
}).encode()


def _write(tmp_path, name, data):
    path = str(tmp_path / name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def test_csv_vcf_dicom_end_to_end(make_cluster, tmp_path):
    c = make_cluster("formats")
    c.up("--min-cell", "0", "--heartbeat-ms", "200", "--compression", "none")
    with open(os.path.join(c.dir, "mappings", "lab-csv.map"), "w") as f:
        f.write(CSV_MAP)
    csv_path = _write(tmp_path, "results.csv", CSV)

    # without a mapping for the partner: one actionable quarantine entry
    r = hg.run("push", "--cluster", c.dir, "--format", "csv", "--partner", "unmapped-lab",
               "--wait", 60, csv_path)
    assert r.rc == 1 and "no CSV mapping for partner 'unmapped-lab'" in r.out, r

    # with the mapping: 3 good rows, 1 bad row (value and date) quarantined
    r = hg.run("push", "--cluster", c.dir, "--format", "csv", "--partner", "lab-csv",
               "--wait", 60, "--json", csv_path)
    assert r.rc == 1, r
    assert (r.json()["records"], r.json()["rejected"]) == (3, 1), r
    assert "row 5" in r.err, r

    r = hg.run("push", "--cluster", c.dir, "--format", "vcf", "--partner", "seq-lab",
               "--wait", 60, "--json", _write(tmp_path, "run.vcf", VCF))
    # carried ALT alleles: S1 and S3 at rs80357906, S2 at the CFTR deletion
    assert r.rc == 0 and r.json()["records"] == 3, r

    r = hg.run("push", "--cluster", c.dir, "--format", "dicom", "--partner", "imaging",
               "--wait", 60, "--json", _write(tmp_path, "study.json", DICOM_JSON))
    assert r.rc == 0 and r.json()["records"] == 1, r
    c.wait_drained()

    def count(code):
        got, _ = c.count(code)
        return got["patients"], got["records"]

    assert count("http://loinc.org|2345-7") == (2, 2)
    assert count("http://loinc.org|4548-4") == (1, 1)
    assert count("https://hourglass.local/variant|17-43044295-A-G") == (2, 2)
    assert count("http://www.ncbi.nlm.nih.gov/projects/SNP|rs80357906") == (2, 2)
    assert count("http://www.genenames.org|CFTR") == (1, 1)
    assert count("http://dicom.nema.org/resources/ontology/DCM|MR") == (1, 1)

    q = c.quarantine()
    reasons = " | ".join(e["reason"] for e in q["entries"])
    assert q["count"] == 2, q
    assert "no CSV mapping" in reasons and "row 5" in reasons, reasons

    # the DICOM patient's identifiers never pass the de-identifier
    c.down()
    needles = [b"Quixote", b"Alonso", b"DCM-PAT-424242", b"ACC-778899", b"19610203",
               b"1961-02-03", b"P-1001", b"P-1002"]
    behind = [os.path.join(c.dir, "data", d) for d in os.listdir(os.path.join(c.dir, "data"))
              if d.split("-")[0] in ("deid", "indexer", "analytics")]
    found = hg.scan_files(behind, needles)
    assert not found, "identifying values behind the de-identifier: %s" % found
    before = [os.path.join(c.dir, "data", "cleanser-0")]
    assert hg.scan_files(before, [b"Quixote"]), "control: the scan must see the raw store"


def test_partner_quota_slows_a_partner_down(make_cluster, tmp_path):
    """--partner-rate 2: a partner pushing 8 batches at once gets BUSY (with a retry
    delay) beyond its burst; push retries, and everything is still accepted once."""
    c = make_cluster("quota")
    c.up("--partner-rate", "2", "--heartbeat-ms", "200")
    files = []
    for i in range(8):
        files.append(_write(tmp_path, "v%d.vcf" % i, VCF.replace(b"43044295", b"4304429%d" % i)))
    r = hg.run("push", "--cluster", c.dir, "--format", "vcf", "--partner", "seq-lab",
               "--wait", 60, "--json", *files, timeout=120)
    assert r.rc == 0 and r.json()["accepted"] == 8, r
    stats = c.stats()
    assert hg.counters(stats, "collector", "over_quota") >= 1, stats
    assert hg.counters(stats, "collector", "received") == 8, stats
