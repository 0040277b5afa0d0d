"""
test_fidelity.py -- what came in is what is counted (issue 12, points 5-9), on a
real cluster: an ORM^O01 whose OBX become records (a bad one quarantined, an NTE
counted as ignored), a FHIR bundle of R4 types we do not map (ignored per type,
not rejected), two DICOM studies of one patient at the same time (two records)
and a PatientSex that changes (flagged), a .vcf.gz (gzip and BGZF) and a BCF, a
VCF with a sample name twice (rejected whole); then `hourglass quarantine
replay` after a CSV mapping is corrected: the payload moves once, a second
replay moves nothing and duplicates nothing.
"""
import gzip
import json
import os
import struct
import zlib

import hg

SHARED = os.path.normpath(os.path.join(hg.HERE, "..", "..", "..", "shared", "data"))

ORM = ("MSH|^~\\&|ORD|HOSP|||20211020112600||ORM^O01^ORM_O01|FID-ORM-1|P|2.5.1\r"
       "PID|1||FID-P-1^^^H^MR||Doe^Jo||19900101|F\r"
       "PV1|1|O|||||||||||||||||FID-ENC-1\r"
       "ORC|NW|1101^PL|1201^FL||SC||||20211020112600\r"
       "OBR|1|||24725-4^CT Head^LN|||20211020120000\r"
       "OBX|1|NM|8339-4^Birth weight^LN||3250|g\r"
       "OBX|2|NM|11884-4^Gestational age^LN||thirty|wk\r"
       "NTE|1||urgent\r").encode()

BUNDLE = json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
    {"resource": {"resourceType": "Patient", "id": "fp1", "gender": "female",
                  "birthDate": "1980-01-01",
                  "identifier": [{"system": "urn:h", "value": "FID-P-2"}]}},
    {"resource": {"resourceType": "Observation", "id": "o1", "status": "final",
                  "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
                  "subject": {"reference": "Patient/fp1"},
                  "effectiveDateTime": "2021-03-01",
                  "valueQuantity": {"value": 5.5, "unit": "mmol/L"}}},
    {"resource": {"resourceType": "Condition", "id": "bad_id!",
                  "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
                  "subject": {"reference": "Patient/fp1"}, "onsetDateTime": "2020-05-01"}},
    {"resource": {"resourceType": "Specimen", "id": "s1"}},
    {"resource": {"resourceType": "Specimen", "id": "s2"}},
    {"resource": {"resourceType": "ServiceRequest", "id": "sr1"}},
    {"resource": {"resourceType": "RelatedPerson", "id": "rp1"}},
    {"resource": {"resourceType": "DocumentReference", "id": "d1", "status": "current",
                  "type": {"coding": [{"system": "http://loinc.org", "code": "34133-9"}]}}},
]}).encode()


def _dicom(study_uid, sex):
    return json.dumps({
        "00080020": {"vr": "DA", "Value": ["20210607"]},
        "00080030": {"vr": "TM", "Value": ["101500"]},
        "00080060": {"vr": "CS", "Value": ["CT"]},
        "00100020": {"vr": "LO", "Value": ["FID-DCM-1"]},
        "00100040": {"vr": "CS", "Value": [sex]},
        "0020000D": {"vr": "UI", "Value": [study_uid]},
    }).encode()


VCF = ("##fileformat=VCFv4.2\n"
       "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n"
       "##INFO=<ID=CSQ,Number=.,Type=String,Description=\"Consequence annotations from "
       "Ensembl VEP. Format: Allele|Consequence|SYMBOL|Gene\">\n"
       "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tFID-S1\tFID-S2\n"
       "1\t1000\t.\tA\tG\t50\tPASS\tCSQ=G|missense|FIDGENEA|ENSG1,G|intron|FIDGENEB|ENSG2"
       "\tGT\t0/1\t1/1\n").encode()

VCF_DUP = ("##fileformat=VCFv4.2\n"
           "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tNA1\tNA1\n"
           "1\t2000\t.\tC\tT\t50\tPASS\t.\tGT\t0/1\t1/1\n").encode()

CSV_MAP_WRONG = """\
kind = lab-observation
code_system = loinc
column.patient = PATIENT
column.code = LOINC_CODE
column.value = RESULT
column.unit = UNIT
column.effective = DATE
"""
CSV = ("PATIENT,LOINC,RESULT,UNIT,DATE\n"
       "FID-C-1,2345-7,5.4,mmol/L,2021-04-03\n"
       "FID-C-2,2345-7,6.1,mmol/L,2021-04-04\n"
       "FID-C-3,2345-7,7.0,mmol/L,2021-02-31\n").encode()


def _bgzf(data):
    """BGZF as bgzip writes it: gzip members with the BC extra field, then the
    empty EOF block."""
    def block(chunk):
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        body = comp.compress(chunk) + comp.flush()
        bsize = len(body) + 25  # header 18 + footer 8 - 1
        head = struct.pack("<BBBBIBBHBBHH", 31, 139, 8, 4, 0, 0, 255, 6, 66, 67, 2, bsize)
        return head + body + struct.pack("<II", zlib.crc32(chunk) & 0xFFFFFFFF, len(chunk))
    return block(data) + block(b"")


def _write(tmp_path, name, data):
    path = str(tmp_path / name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _push(c, tmp_path, name, data, fmt, partner):
    r = hg.run("push", "--cluster", c.dir, "--format", fmt, "--partner", partner,
               "--wait", 60, "--json", _write(tmp_path, name, data))
    assert r.rc in (0, 1), r
    return r.json()


def _quality(c, partner):
    r = hg.run("quality", "--cluster", c.dir, "--partner", partner, "--json")
    assert r.rc == 0, r
    return r.json()


def _count(c, code):
    got, _ = c.count(code)
    return got["patients"], got["records"]


def test_every_input_counted(make_cluster, tmp_path):
    c = make_cluster("fidelity")
    c.up("--min-cell", "0", "--heartbeat-ms", "200")

    # 5. ORM^O01: PID, OBR and the good OBX are records, the bad OBX is quarantined,
    # the NTE is an ignore counted under its name
    j = _push(c, tmp_path, "orm.hl7", ORM, "hl7v2", "fid-orders")
    assert (j["records"], j["rejected"]) == (3, 1), j
    q = _quality(c, "fid-orders")
    assert q["ignored"] == 1 and q["ignored_kinds"] == {"HL7 NTE in ORM^O01": 1}, q

    # 6. FHIR types we do not map: ignored per type, not rejected; a
    # DocumentReference without subject is no error; a bad id is flagged
    j = _push(c, tmp_path, "bundle.json", BUNDLE, "fhir", "fid-fhir")
    assert (j["records"], j["rejected"]) == (3, 0), j
    q = _quality(c, "fid-fhir")
    assert q["conformance"] == 100.0, q
    assert q["ignored_kinds"] == {"FHIR Specimen (unsupported)": 2,
                                  "FHIR ServiceRequest (unsupported)": 1,
                                  "FHIR RelatedPerson (unsupported)": 1,
                                  "FHIR DocumentReference without subject": 1}, q
    assert q["flags"].get("id.invalid") == 1, q

    # 7. two studies of one patient at the same time: two records; then the
    # patient's sex changes in a third file: flagged
    for i, (uid, sex) in enumerate([("1.2.3.100", "M"), ("1.2.3.200", "M"),
                                    ("1.2.3.300", "F")]):
        j = _push(c, tmp_path, "study%d.json" % i, _dicom(uid, sex), "dicom", "fid-imaging")
        assert (j["records"], j["rejected"]) == (1, 0), j
    q = _quality(c, "fid-imaging")
    assert q["flags"].get("patient.sex_changed") == 1, q

    # 8. .vcf.gz (plain gzip and BGZF), a BCF, and a VCF naming one sample twice
    j = _push(c, tmp_path, "run.vcf.gz", gzip.compress(VCF), "vcf", "fid-seq")
    assert (j["records"], j["rejected"]) == (2, 0), j
    j = _push(c, tmp_path, "run2.vcf.gz",
              _bgzf(VCF.replace(b"\t1000\t", b"\t1001\t")), "vcf", "fid-seq")
    assert (j["records"], j["rejected"]) == (2, 0), j
    j = _push(c, tmp_path, "dup.vcf", VCF_DUP, "vcf", "fid-seq")
    assert (j["records"], j["rejected"]) == (0, 1), j
    bcf = os.path.join(SHARED, "vcf_htslib_tests", "tabix", "vcf_file.bcf")
    if os.path.exists(bcf):
        with open(bcf, "rb") as f:
            j = _push(c, tmp_path, "file.bcf", f.read(), "vcf", "fid-bcf")
        assert (j["records"], j["rejected"]) == (34, 0), j
    else:
        print("skipping the BCF push: %s not present" % bcf)
    c.wait_drained()

    assert _count(c, "http://loinc.org|8339-4") == (1, 1)           # the order's OBX
    assert _count(c, "http://loinc.org|2345-7") == (1, 1)           # FHIR Observation
    assert _count(c, "http://dicom.nema.org/resources/ontology/DCM|CT") == (1, 3)
    assert _count(c, "http://www.genenames.org|FIDGENEA") == (2, 4)
    assert _count(c, "http://www.genenames.org|FIDGENEB") == (2, 4)
    assert _count(c, "https://hourglass.local/variant|1-2000-C-T") == (0, 0)
    quarantined = c.quarantine()
    reasons = [e["reason"] for e in quarantined["entries"]]
    assert len(reasons) == 2, reasons
    assert any("OBX-5" in r or "thirty" in r for r in reasons), reasons
    assert any("sample name 'NA1' appears more than once" in r for r in reasons), reasons


def test_replay_after_mapping_fix(make_cluster, tmp_path):
    c = make_cluster("replay")
    c.up("--min-cell", "0", "--heartbeat-ms", "200")
    mapping = os.path.join(c.dir, "mappings", "fid-csv.map")
    with open(mapping, "w") as f:
        f.write(CSV_MAP_WRONG)
    j = _push(c, tmp_path, "labs.csv", CSV, "csv", "fid-csv")
    assert (j["records"], j["rejected"]) == (0, 1), j
    c.wait_drained()
    assert _count(c, "http://loinc.org|2345-7") == (0, 0)

    # nothing matches the filter: nothing replayed
    r = hg.run("quarantine", "replay", "--cluster", c.dir, "--reason", "no such reason",
               "--json")
    assert r.rc == 0 and r.json()["messages"] == 0, r
    # the parsers did not change: the message stays
    r = hg.run("quarantine", "replay", "--cluster", c.dir, "--partner", "fid-csv", "--json")
    assert r.rc == 0 and (r.json()["messages"], r.json()["moved"]) == (1, 0), r

    with open(mapping, "w") as f:
        f.write(CSV_MAP_WRONG.replace("LOINC_CODE", "LOINC"))
    r = hg.run("quarantine", "replay", "--cluster", c.dir, "--partner", "fid-csv",
               "--since", "2020-01-01", "--json")
    assert r.rc == 0, r
    assert (r.json()["messages"], r.json()["moved"], r.json()["records"]) == (1, 1, 2), r
    moved = r.json()["replayed"][0]
    assert (moved["records_before"], moved["records_after"]) == (0, 2), moved
    assert (moved["rejects_before"], moved["rejects_after"]) == (1, 1), moved
    c.wait_drained()
    assert _count(c, "http://loinc.org|2345-7") == (2, 2)
    reasons = [e["reason"] for e in c.quarantine()["entries"]]
    assert len(reasons) == 1 and "row 4" in reasons[0], reasons   # only the bad row stays
    q = _quality(c, "fid-csv")
    assert (q["records"], q["rejected"]) == (2, 1), q

    # idempotent: a second replay moves nothing and duplicates nothing
    r = hg.run("quarantine", "replay", "--cluster", c.dir)
    assert r.rc == 0 and "0 moved to parsed" in r.out, r
    c.wait_drained()
    assert _count(c, "http://loinc.org|2345-7") == (2, 2)
    assert _quality(c, "fid-csv")["records"] == 2
