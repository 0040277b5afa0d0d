"""
test_canary.py -- the PHI canary test (issue 11): distinctive identifying
strings, listed with where each is planted in tests/integration/canaries.json,
are planted in every place a partner can put them, in all five formats:

  - over ZeroMQ push (`hourglass push`), the only transport that carries every
    format: FHIR (a Synthea-named file, default batch id from the file name),
    HL7 v2 (ORU, ADT, VXU), CSV (with an explicit --batch-id), VCF, DICOM JSON
    and a DICOM Part 10 file;
  - over MLLP, which carries HL7 v2 only: the same HL7 message, its own MSH-10;
  - over FHIR HTTP, which carries FHIR only: the same Bundle, an X-Batch-Id.

The de-identifier is stopped while the feed is cleansed: its input, in the
cleanser's outbox, is scanned first (what reaches it; at least one canary of
each format must); then it is restarted. After the pipeline drained, the raw
bytes of every file of the stores behind the de-identifier (deid, indexer,
analytics; RocksDB with --compression none, read after `cluster down`), every
log file, every /metrics and /health page of every service (each instance's
URL from cluster.json) and every analytics answer (query
count, a cohort, stats) hold none of the canaries, in any case and glued to
anything. Free text (notes, comments, text results: an MDM^T02, NTE, OBX
ST/TX, DocumentReference and DiagnosticReport text, note[] annotations)
passes the de-identifier scrubbed: its canaries are gone while what the
text says is in the index. The twin: every canary is found in the
collector's or the cleanser's store, so none passes because it was never
delivered.
"""
import base64
import glob
import json
import os
import time
import urllib.request

import hg

HERE = os.path.dirname(os.path.abspath(__file__))
PARTNER = "canary-lab"
TOKEN = "tok-canary-0123456789abcdef"
GLUCOSE = "http://loinc.org|2345-7"
HBA1C = "http://loinc.org|4548-4"


def load_canaries():
    with open(os.path.join(HERE, "canaries.json")) as f:
        return json.load(f)["canaries"]


class Planter:
    """The canaries by id; remembers which ones a feed used."""

    def __init__(self, canaries):
        self.by_id = {c["id"]: c for c in canaries}
        self.used = set()

    def __getitem__(self, cid):
        self.used.add(cid)
        return self.by_id[cid]["value"]

    def unplanted(self):
        return sorted(set(self.by_id) - self.used)


# ---- the feeds --------------------------------------------------------------

def hl7_message(P, msh10_id):
    _ = P["hl7.pid7.birth.iso"]  # what the cleanser writes of PID-7
    segs = [
        "MSH|^~\\&|LIS|%s|HOURGLASS|HG|20210304101500||ORU^R01|%s|P|2.5"
        % (P["hl7.msh4"], P[msh10_id]),
        "PID|1||%s^^^CL^MR~%s^^^SSA^SS||%s^%s||%s|F|||12 %s Lane^^%s^%s^%s||%s^PRN^PH^%s"
        % (P["hl7.pid3.mrn"], P["hl7.pid3.ssn"], P["hl7.pid5.family"], P["hl7.pid5.given"],
           P["hl7.pid7.birth"], P["hl7.pid11.street"], P["hl7.pid11.city"],
           P["hl7.pid11.state"], P["hl7.pid11.zip"], P["hl7.pid13.phone"],
           P["hl7.pid13.email"]),
        "NK1|1|%s^Ann|SPO|3 %s Road^^Boston^MA^02110|%s"
        % (P["hl7.nk1.name"], P["hl7.nk1.addr"], P["hl7.nk1.phone"]),
        "GT1|1||%s^Mirelle||77 %s Road^^Salem^MA^01970|%s"
        % (P["hl7.gt1.name"], P["hl7.gt1.addr"], P["hl7.gt1.phone"]),
        "PV1|1|O|CLINIC||||1234^%s^Ona|||||||||||%s|||||||||||||||||||||||||20210304"
        % (P["hl7.pv1.doctor"], P["hl7.pv1.visit"]),
        "ORC|RE|%s|||CM||||20210304|||5678^%s^Bo" % (P["hl7.obr.placer"], P["hl7.orc.provider"]),
        "OBR|1|%s||24323-8^Panel drawn by %s^LN|||20210304" % (P["hl7.obr.placer"],
                                                             P["hl7.obr.display"]),
        "OBX|1|NM|2345-7^Glucose per Dr %s^LN||105|mg/dL per Dr %s|70-99 per Dr %s|N|||F|||"
        "20210304101500|%s^Lab|9012^%s^Cy||%s"
        % (P["hl7.obx.display"], P["hl7.obx.unit"], P["hl7.obx.range"], P["hl7.obx15"],
           P["hl7.obx.responsible"], P["hl7.obx18"]),
        "NTE|1||Called Mrs %s at home" % P["hl7.nte"],
        "OBX|2|ST|8251-1^Service comment^LN||Patient %s called back||||||F" % P["hl7.obx.st"],
        "OBX|3|TX|8251-1^Service comment^LN||seen at 12 %s Street||||||F" % P["hl7.obx.tx"],
        "OBX|4|CWE|5778-6^Color of urine^LN||%s^%s^L||||||F"
        % (P["hl7.obx.cwe.code"], P["hl7.obx.cwe.display"]),
        "OBX|5|NM|%s^Local panel^%s||5.5|mmol/L|||||F"
        % (P["hl7.obx3.local"], P["hl7.obx3.localsys"]),
        "OBX|6|NM|%s^Glucose^LN||6.2|mmol/L|||||F" % P["hl7.obx3.lnname"],
        "OBX|7|NM|2823-3^Potassium^LN||4.1|mmol/L|3.5-5.1|%s|||F" % P["hl7.obx8"],
        "SPM|1|%s^LAB||BLD" % P["hl7.spm"],
        "ZPI|1|%s|MRN3322110" % P["hl7.z"],
    ]
    return ("\r".join(segs) + "\r").encode()


def hl7_more(P):
    """An ADT^A01 with a diagnosis and a VXU^V04 with an immunization, same patient."""
    head = "MSH|^~\\&|LIS|LAB|HOURGLASS|HG|20210304101500||%s|%s|P|2.5"
    pid = "PID|1||%s^^^CL^MR||%s^%s||%s|F" % (P["hl7.pid3.mrn"], P["hl7.pid5.family"],
                                            P["hl7.pid5.given"], P["hl7.pid7.birth"])
    pv1 = "PV1|1|I|WARD" + "|" * 40 + "|20210304"
    adt = [head % ("ADT^A01", P["hl7.adt.msh10"]), "EVN|A01|20210304", pid, pv1,
           "DG1|1||%s^Diabetes per Dr %s^99LOC^E11.9^Type 2 diabetes^I10|%s said diabetes|"
           "20210304" % (P["hl7.dg1.local"], P["hl7.dg1.display"], P["hl7.dg1.display"]),
           "DG1|2||%s^Diabetes^I10||20210304" % P["hl7.dg1.i10name"]]
    rxa = ["RXA", "0", "1", "20210304", "20210304",
           "208^Vaccine by Nurse %s^CVX" % P["hl7.rxa.display"], "0.3", "mL", "", "",
           "4567^%s^Al" % P["hl7.rxa.provider"], "", "", "", "", P["hl7.rxa.lot"]]
    vxu = [head % ("VXU^V04", P["hl7.vxu.msh10"]), pid, "ORC|RE||IMM-1", "|".join(rxa)]
    note = ["Discharge summary.", "Seen %s for f/u." % P["hl7.mdm.date"],
            "Discussed the plan with her son %s at the bedside." % P["hl7.mdm.relative"],
            "The %s family agrees; call back at %s." % (P["hl7.pid5.family"].lower(),
                                                        P["hl7.mdm.phone"]),
            "Specimen %s sent." % P["hl7.mdm.specimen"],
            "Electronically signed by Ilse %s, MD" % P["hl7.mdm.clinician"]]
    mdm = [head % ("MDM^T02", "MDM-1"), pid, "TXA|1|DS|TX|202103041015"]
    mdm += ["OBX|%d|TX|18842-5^Discharge summary^LN||%s||||||F" % (i + 1, t)
            for i, t in enumerate(note)]
    return "".join("\r".join(m) + "\r" for m in (adt, vxu, mdm)).encode()


def fhir_more(P, subject):
    """An Encounter, a MedicationRequest and an Immunization of the patient."""
    enc = {"resourceType": "Encounter", "id": "enc-1", "status": "finished",
           "identifier": [{"system": "urn:oid:1.2.3.4", "value": P["fhir.enc.id"]}],
           "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                     "code": "AMB"},
           "type": [{"coding": [{"system": "http://clinic.example/enc-types",
                                 "code": P["fhir.enc.localtype"]}]}],
           "subject": subject, "period": {"start": "2021-03-01T09:00:00Z",
                                          "end": "2021-03-01T11:00:00Z"},
           "reasonCode": [{"text": "came with %s" % P["fhir.enc.reason"]}],
           "location": [{"location": {"display": "%s ward" % P["fhir.enc.location"]}}],
           "serviceProvider": {"display": "%s clinic" % P["fhir.enc.location"]}}
    med = {"resourceType": "MedicationRequest", "id": "med-1", "status": "active",
           "intent": "order", "subject": subject, "authoredOn": "2021-03-01",
           "medicationCodeableConcept": {
               "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                           "code": "860975"}],
               "text": "metformin from %s" % P["fhir.med.text"]},
           "dosageInstruction": [{"text": "ask %s" % P["fhir.med.text"]}]}
    imm = {"resourceType": "Immunization", "id": "imm-1", "status": "completed",
           "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "208"}]},
           "patient": subject, "occurrenceDateTime": "2021-03-01",
           "lotNumber": P["fhir.imm.lot"],
           "performer": [{"actor": {"display": "Nurse %s" % P["fhir.imm.performer"]}}]}
    text = ("Progress note. MRN: %s. Mrs %s seen with her neighbour %s today."
            % (P["fhir.patient.mrn"], P["fhir.patient.family"], P["fhir.docref.text"]))
    doc = {"resourceType": "DocumentReference", "id": "doc-1", "status": "current",
           "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3"}]},
           "subject": subject, "date": "2021-03-01T12:00:00Z",
           "content": [{"attachment": {"contentType": "text/plain",
                                       "data": base64.b64encode(text.encode()).decode()}}]}
    form = "Findings discussed with his wife %s by phone." % P["fhir.report.form"]
    rep = {"resourceType": "DiagnosticReport", "id": "rep-1", "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": "24627-2"}]},
           "subject": subject, "effectiveDateTime": "2021-03-01T13:00:00Z",
           "conclusion": "No acute disease. Reviewed with Dr. %s." % P["fhir.report.conclusion"],
           "presentedForm": [{"contentType": "text/plain",
                              "data": base64.b64encode(form.encode()).decode()}]}
    proc = {"resourceType": "Procedure", "id": "proc-1", "status": "completed",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "80146002"}]},
            "subject": subject, "performedDateTime": "2021-03-01T14:00:00Z",
            "note": [{"text": "Assisted by %s; uneventful." % P["fhir.proc.note"]}]}
    return [enc, med, imm, doc, rep, proc]


def fhir_bundle(P):
    pid = P["fhir.patient.id"]
    local = {"system": "http://%s/codes" % P["fhir.obs.localsys"],
             "code": P["fhir.obs.localcode"], "display": "Local glucose"}
    patient = {
        "resourceType": "Patient", "id": pid,
        "text": {"status": "generated",
                 "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Patient %s</div>"
                        % P["fhir.patient.div"]},
        "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName",
                       "valueString": P["fhir.patient.ext"]}],
        "identifier": [{"type": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
            "system": "urn:oid:2.16.840.1.113883.19.5", "value": P["fhir.patient.mrn"]}],
        "name": [{"family": P["fhir.patient.family"], "given": [P["fhir.patient.given"]]}],
        "telecom": [{"system": "phone", "value": P["fhir.patient.phone"]},
                    {"system": "email", "value": P["fhir.patient.email"]}],
        "gender": "female", "birthDate": P["fhir.patient.birth"],
        "address": [{"line": ["99 %s Ave" % P["fhir.patient.street"]],
                     "city": P["fhir.patient.city"], "state": P["fhir.patient.state"],
                     "postalCode": P["fhir.patient.postal"],
                     "country": P["fhir.patient.country"]}]}
    practitioner = {"resourceType": "Practitioner", "id": "prac-1",
                    "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi",
                                    "value": P["fhir.practitioner.id"]}],
                    "name": [{"family": P["fhir.practitioner.name"], "given": ["Ivo"]}]}
    org = {"resourceType": "Organization", "id": "org-1", "name": "%s Hospital" % P["fhir.org.name"],
           "identifier": [{"system": "urn:oid:2.16.840.1.113883.4.4",
                           "value": P["fhir.org.id"]}]}
    subject = {"reference": "Patient/%s" % pid}
    obs = {
        "resourceType": "Observation", "id": P["fhir.obs.id"], "status": "final",
        "text": {"status": "generated",
                 "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Seen %s</div>"
                        % P["fhir.obs.div"]},
        "extension": [{"url": "http://example.org/fhir/drawn-by",
                       "valueString": P["fhir.obs.ext"]}],
        "meta": {"source": "#%s" % P["fhir.obs.meta"],
                 "tag": [{"system": "http://clinic.example/tags", "code": "t1",
                          "display": P["fhir.obs.meta"]}]},
        "identifier": [{"system": "urn:oid:1.2.3.5", "value": P["fhir.obs.identifier"]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7",
                             "display": "Glucose for %s" % P["fhir.obs.display"]}, local,
                            {"system": "http://loinc.org", "code": P["fhir.obs.loincname"]}],
                 "text": "Glucose %s" % P["fhir.obs.codetext"]},
        "subject": subject, "effectiveDateTime": "2021-03-01T10:00:00Z",
        "performer": [{"reference": "Practitioner/prac-1",
                       "display": "Dr %s" % P["fhir.obs.performer"]},
                      {"reference": "Organization/org-1"}],
        "valueQuantity": {"value": 101, "unit": "mg/dL (Dr %s)" % P["fhir.obs.unit"]},
        "referenceRange": [{"text": "normal for %s" % P["fhir.obs.range"]}],
        "note": [{"text": "Told %s" % P["fhir.obs.note"]}],
        "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": "8251-1",
                                            "display": "by %s" % P["fhir.obs.component"]}]},
                       "valueString": "asked %s" % P["fhir.obs.component"]}]}
    obs_k = {"resourceType": "Observation", "id": "obs-4", "status": P["fhir.obs.status"],
             "code": {"coding": [{"system": "http://loinc.org", "code": "2823-3"}]},
             "subject": subject, "effectiveDateTime": "2021-03-02T10:00:00Z",
             "valueQuantity": {"value": 4.2, "unit": "mmol/L",
                               "system": "http://unitsofmeasure.org",
                               "code": P["fhir.obs.unitcode"]},
             "interpretation": [{"coding": [{
                 "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                 "code": P["fhir.obs.interp"]}], "text": P["fhir.obs.interp"]}]}
    obs_str = {"resourceType": "Observation", "id": "obs-2", "status": "final",
               "code": {"coding": [{"system": "http://loinc.org", "code": "8251-1"}]},
               "subject": subject, "effectiveDateTime": "2021-03-01T10:00:00Z",
               "valueString": "Spoke with %s" % P["fhir.obs.valuestring"]}
    obs_coded = {"resourceType": "Observation", "id": "obs-3", "status": "final",
                 "code": {"coding": [{"system": "http://loinc.org", "code": "5778-6"}]},
                 "subject": subject, "effectiveDateTime": "2021-03-01T10:00:00Z",
                 "valueCodeableConcept": {
                     "coding": [{"system": "http://snomed.info/sct", "code": "371244009",
                                 "display": "Yellow per %s" % P["fhir.obs.codedvalue"]}],
                     "text": "yellow, said %s" % P["fhir.obs.codedvalue"]}}
    cond = {"resourceType": "Condition", "id": "cond-1",
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": "active"}]},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"},
                                {"system": "http://hl7.org/fhir/sid/icd-10-cm",
                                 "code": P["fhir.cond.icdname"]}],
                     "text": "Diabetes, told %s" % P["fhir.cond.note"]},
            "subject": subject, "onsetDateTime": "2020-06-01",
            "note": [{"text": "%s family history" % P["fhir.cond.note"]}]}
    entries = [patient, practitioner, org, obs, obs_k, obs_str, obs_coded, cond] + fhir_more(
        P, subject)
    return json.dumps({"resourceType": "Bundle", "type": "collection",
                       "entry": [{"resource": r} for r in entries]}).encode()


CSV_MAP = """\
kind = lab-observation
delimiter = ,
code_system = loinc
column.patient = PATIENT
column.code = LOINC
column.display = TEST
column.value = RESULT
column.unit = UNIT
column.effective = DATE
column.encounter = VISIT
column.reference_range = RANGE
column.interpretation = FLAG
column.status = STATE
column.code_system = SYSTEM
"""


def csv_extract(P):
    head = "PATIENT,FAMILY,PHONE,SSN,DOB,SYSTEM,LOINC,TEST,RESULT,UNIT,DATE,NOTE,VISIT,RANGE,FLAG,STATE"
    who = "%s,%s,%s,%s,%s" % (P["csv.patient"], P["csv.family"], P["csv.phone"], P["csv.ssn"],
                              P["csv.birth"])
    rows = [
        "%s,loinc,2345-7,Glucose for %s,5.4,mmol/L (%s),2021-04-03,%s called,%s,normal for %s,%s,%s"
        % (who, P["csv.display"], P["csv.unit"], P["csv.note"], P["csv.encounter"],
           P["csv.range"], P["csv.interp"], P["csv.status"]),
        "%s,loinc,4548-4,HbA1c,6.1,%%,2021-04-05,,,4.0-6.0,H,final" % who,
        "%s,http://%s/codes,%s,Local test,7.5,mmol/L,2021-04-06,,,,,final"
        % (who, P["csv.localsys"], P["csv.localcode"]),
    ]
    return ("\r\n".join([head] + rows) + "\r\n").encode()


def vcf_file(P):
    return ("##fileformat=VCFv4.2\n"
            "##fileDate=20210412\n"
            "##individual=%s\n"
            "##INFO=<ID=GENE,Number=1,Type=String,Description=\"Gene\">\n"
            "##INFO=<ID=NOTE,Number=1,Type=String,Description=\"Note\">\n"
            "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n"
            "##FORMAT=<ID=NT,Number=1,Type=String,Description=\"Note\">\n"
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t%s\t%s\n"
            "chr17\t43044295\trs80357906\tA\tG\t50\tPASS\tGENE=BRCA1;NOTE=%s\tGT\t0/1\t1/1\n"
            "chr7\t117559590\t%s\tATCT\tA\t60\tPASS\tGENE=CFTR\tGT:NT\t0/1:%s\t0/0:x\n"
            "chr13\t32315474\trs80359550\tG\tT\t40\t%s\tGENE=BRCA2\tGT\t0/1\t0/0\n"
            % (P["vcf.meta"], P["vcf.sample"], P["vcf.sample2"], P["vcf.info"], P["vcf.id"],
               P["vcf.format"], P["vcf.filter"])).encode()


def dicom_json(P):
    _ = P["dicom.birth.iso"]  # what the cleanser writes of PatientBirthDate

    def lo(v):
        return {"vr": "LO", "Value": [v]}
    return json.dumps({
        "00080020": {"vr": "DA", "Value": ["20210607"]},
        "00080030": {"vr": "TM", "Value": ["101500"]},
        "00080050": {"vr": "SH", "Value": [P["dicom.accession"]]},
        "00080060": {"vr": "CS", "Value": ["MR"]},
        "00080080": lo("%s Infirmary" % P["dicom.institution"]),
        "00080090": {"vr": "PN", "Value": [{"Alphabetic": "%s^Lem" % P["dicom.referring"]}]},
        "00081030": lo("MRI for %s" % P["dicom.studydesc"]),
        "00091010": lo(P["dicom.private"]),
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "%s^Ormsby" % P["dicom.name"]}]},
        "00100020": lo(P["dicom.id"]),
        "00100030": {"vr": "DA", "Value": [P["dicom.birth"]]},
        "00100040": {"vr": "CS", "Value": ["M"]},
        "00101040": lo("14 %s Row" % P["dicom.address"]),
        "00104000": {"vr": "LT", "Value": ["Brought by %s" % P["dicom.comments"]]},
        "00180015": {"vr": "CS", "Value": ["BRAIN"]},
        "0020000D": {"vr": "UI", "Value": [P["dicom.studyuid"]]},
        "00200010": {"vr": "SH", "Value": [P["dicom.studyid"]]},
        "00081050": {"vr": "PN", "Value": [{"Alphabetic": "%s^Kit" % P["dicom.performing"]}]},
        "00081070": {"vr": "PN", "Value": [{"Alphabetic": "%s^Ray" % P["dicom.operator"]}]},
        "00101000": lo(P["dicom.otherid"]),
        "0008103E": lo("series for %s" % P["dicom.series"]),
        "00081110": {"vr": "SQ", "Value": [{
            "00081150": {"vr": "UI", "Value": ["1.2.840.10008.3.1.2.3.1"]},
            "00324000": {"vr": "LT", "Value": ["seen by %s" % P["dicom.seq"]]}}]},
        "00090010": lo("%s private" % P["dicom.privcreator"]),
        "00091011": {"vr": "UT", "Value": ["%s notes" % P["dicom.privcreator"]]},
    }).encode()


def _dicom_elem(group, elem, vr, value):
    """One explicit VR little endian element; undefined length when value is None (SQ)."""
    import struct
    if value is not None and len(value) % 2:
        value += b"\0" if vr == b"UI" else b" "
    head = struct.pack("<HH", group, elem) + vr
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT", b"UC", b"UR"):
        n = 0xFFFFFFFF if value is None else len(value)
        return head + b"\0\0" + struct.pack("<I", n) + (value or b"")
    return head + struct.pack("<H", len(value)) + value


def dicom_part10(P):
    """A DICOM Part 10 file, explicit VR little endian, header only."""
    import struct
    e = _dicom_elem
    meta = (e(0x0002, 0x0001, b"OB", b"\0\1")
            + e(0x0002, 0x0002, b"UI", b"1.2.840.10008.5.1.4.1.1.4")
            + e(0x0002, 0x0003, b"UI", b"1.2.826.0.1.3680043.8.498.99")
            + e(0x0002, 0x0010, b"UI", b"1.2.840.10008.1.2.1"))
    meta = e(0x0002, 0x0000, b"UL", struct.pack("<I", len(meta))) + meta
    item = e(0x0032, 0x4000, b"LT", ("seen by %s" % P["dicom10.seq"]).encode())
    seq = (e(0x0008, 0x1110, b"SQ", None) + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
           + item + struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))
    priv = P["dicom10.private"].encode()
    ds = (e(0x0008, 0x0020, b"DA", b"20210608") + e(0x0008, 0x0060, b"CS", b"CT")
          + seq + e(0x0008, 0x1030, b"LO", ("CT for %s" % P["dicom10.studydesc"]).encode())
          + e(0x0009, 0x0010, b"LO", priv + b" private") + e(0x0009, 0x1010, b"LO", priv)
          + e(0x0009, 0x1011, b"UT", priv + b" notes")
          + e(0x0010, 0x0010, b"PN", ("%s^Ada" % P["dicom10.name"]).encode())
          + e(0x0010, 0x0020, b"LO", P["dicom10.id"].encode())
          + e(0x0010, 0x0030, b"DA", P["dicom10.birth"].encode())
          + e(0x0010, 0x0040, b"CS", b"F")
          + e(0x0020, 0x000D, b"UI", b"1.2.826.0.1.3680043.8.498.55"))
    return b"\0" * 128 + b"DICM" + meta + ds


def hl7_bad(P):
    """A message the cleanser quarantines: OBX-2 NM, OBX-5 a name."""
    return ("MSH|^~\\&|LIS|LAB|HOURGLASS|HG|20210304101500||ORU^R01|%s|P|2.5\r"
            "PID|1||MRN8812345^^^CL^MR||Doe^Jane||19700101|F\r"
            "OBX|1|NM|2345-7^Glucose^LN||%s|mg/dL|||||F|||20210304101500\r"
            % (P["hl7.bad.msh10"], P["hl7.bad.obx5"])).encode()


def fhir_bad(P):
    """A Patient the de-identifier quarantines: born after today."""
    return json.dumps({"resourceType": "Patient", "id": P["fhir.bad.id"], "gender": "male",
                       "birthDate": P["fhir.bad.birth"]}).encode()


# ---- transports -------------------------------------------------------------

def http_post(c, body, batch_id):
    req = urllib.request.Request("http://%s/fhir" % c.cluster_json()["http"], data=body,
                                 method="POST",
                                 headers={"Content-Type": "application/fhir+json",
                                          "Authorization": "Bearer " + TOKEN,
                                          "X-Batch-Id": batch_id})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.status


def _dirs(c, *patterns):
    out = []
    for p in patterns:
        out += sorted(d for d in glob.glob(os.path.join(c.dir, "data", p)) if os.path.isdir(d))
    return out


def _wait_cleansed(c, messages, deadline_s=120):
    """Until the cleanser took every message and its outbox (the de-identifier's
    input, committed) has stopped growing for 3 polls."""
    deadline = time.monotonic() + deadline_s
    last, stable = None, 0
    while time.monotonic() < deadline:
        s = c.stats(allow_down=True)
        depth = hg.counters(s, "cleanser", "outbox_depth")
        if hg.counters(s, "cleanser", "received") >= messages and depth > 0 and depth == last:
            stable += 1
            if stable >= 3:
                return
        else:
            stable = 0
        last = depth
        time.sleep(0.2)
    raise AssertionError("the cleanser did not take %d messages: %s" % (messages, s))


def _push(c, fmt, paths, *extra):
    r = hg.run("push", "--cluster", c.dir, "--format", fmt, "--partner", PARTNER, "--wait",
               120, "--json", *extra, *paths, timeout=240)
    assert r.rc == 0 and r.json()["accepted"] == len(paths), r
    return r.json()


def _feed(tmp_path, P):
    feed = tmp_path / "feed"
    feed.mkdir()
    files = {
        "fhir": "%s_%s_%s.json" % (P["file.given"], P["file.family"], P["file.uuid"]),
        "hl7v2": "%s_results.hl7" % P["file.hl7"],
        "csv": "extract.csv", "vcf": "run.vcf", "dicom": "study.json", "dicom10": "ct.dcm",
        "hl7-bad": "bad.hl7", "fhir-bad": "unborn.json",
    }
    data = {"fhir": fhir_bundle(P), "hl7v2": hl7_message(P, "hl7.msh10.zmq") + hl7_more(P),
            "csv": csv_extract(P), "vcf": vcf_file(P), "dicom": dicom_json(P),
            "dicom10": dicom_part10(P), "hl7-bad": hl7_bad(P), "fhir-bad": fhir_bad(P)}
    paths = {}
    for fmt, name in files.items():
        (feed / name).write_bytes(data[fmt])
        paths[fmt] = str(feed / name)
    return paths


def test_no_canary_passes_the_deidentifier(make_cluster, tmp_path):
    canaries = load_canaries()
    P = Planter(canaries)
    paths = _feed(tmp_path, P)
    mllp_msg = hl7_message(P, "hl7.msh10.mllp")
    http_body = fhir_bundle(P)
    http_batch = P["batch.http"]
    csv_batch = P["batch.explicit"]
    assert not P.unplanted(), "canaries.json entries no feed plants: %s" % P.unplanted()
    assert {c["format"] for c in canaries} == {"fhir", "hl7v2", "csv", "vcf", "dicom"}
    assert {t for c in canaries for t in c["transports"]} == {"zmq", "mllp", "http"}

    tokens = tmp_path / "http.tokens"
    tokens.write_text("%s %s\n" % (TOKEN, PARTNER))
    c = make_cluster("canary")
    up = ["--cleansers", "1", "--deids", "1", "--shards", "2", "--min-cell", "0",
          "--heartbeat-ms", "200", "--compression", "none", "--http-tokens", str(tokens)]
    c.up(*up)
    # the de-identifier down while the feed is cleansed: its input stays in the
    # cleanser's outbox, to be scanned before it is delivered
    c.kill9("deid-0")
    with open(os.path.join(c.dir, "mappings", PARTNER + ".map"), "w") as f:
        f.write(CSV_MAP)

    # ZeroMQ push: all five formats
    got = {}
    for fmt in ("fhir", "hl7v2", "vcf", "dicom"):
        got[fmt] = _push(c, fmt, [paths[fmt]])
    got["csv"] = _push(c, "csv", [paths["csv"]], "--batch-id", csv_batch)
    # what the cleanser and the de-identifier quarantine, quoting the canary in their reasons
    r = hg.run("push", "--cluster", c.dir, "--format", "hl7v2", "--partner", PARTNER, "--wait",
               120, "--json", paths["hl7-bad"], timeout=240)
    assert r.json()["accepted"] == 1 and r.json()["rejected"] == 1, r
    got["fhir-bad"] = _push(c, "fhir", [paths["fhir-bad"]])
    got["dicom10"] = _push(c, "dicom", [paths["dicom10"]])
    # MLLP: HL7 v2 only; FHIR over HTTP: FHIR only
    ack = hg.mllp_send(c.cluster_json()["mllp"], mllp_msg)
    assert b"MSA|AA|" in ack, ack
    assert http_post(c, http_body, http_batch) == 202
    _wait_cleansed(c, 10)
    at_deid = hg.scan_files(_dirs(c, "cleanser-*"), {c_["value"].encode() for c_ in canaries},
                            bounded=False, ignore_case=True)
    c.up(*up)
    stats = c.wait_drained(deadline_s=120)
    for fmt, res in got.items():
        assert res["records"] > 0, (fmt, res)
    assert hg.counters(stats, "collector", "received") == 10, stats
    quarantine = c.quarantine()["entries"]
    assert hg.counters(stats, "deid", "rejected") == 1, (stats, quarantine)
    assert sorted(e["service"] for e in quarantine) == ["cleanser", "deid"], quarantine
    assert "'[withheld]'" in [e for e in quarantine if e["service"] == "deid"][0]["reason"]
    indexed = hg.indexed_total(stats)
    assert indexed > 0, stats

    # analytics answers, stats, /metrics and /health: saved, then scanned
    answers = tmp_path / "answers"
    answers.mkdir()
    outs = []
    for code in (GLUCOSE, HBA1C, "http://loinc.org|8251-1", "http://loinc.org|5778-6",
                 "http://dicom.nema.org/resources/ontology/DCM|MR",
                 "http://www.ncbi.nlm.nih.gov/projects/SNP|rs80357906"):
        res, out = c.count(code)
        outs.append(out)
    res, out = c.count([GLUCOSE, HBA1C])
    outs.append(out)
    glucose, _ = c.count(GLUCOSE)
    assert glucose["patients"] >= 3, glucose    # HL7 (one patient by both transports), FHIR, CSV
    # a local code is pseudonymised, not dropped: still one countable concept
    local = hg.pseudonym(c.key(), "code", PARTNER, "%s|%s" % (
        P.by_id["hl7.obx3.localsys"]["value"], P.by_id["hl7.obx3.local"]["value"]))
    res, out = c.count("https://hourglass.local/local-code|" + local)
    outs.append(out)
    assert res["patients"] == 1, res
    r = hg.run("stats", "--cluster", c.dir, "--json", timeout=60)
    assert r.rc == 0, r
    outs.append(r.out)
    (answers / "answers.json").write_text("\n".join(outs))
    pages = hg.metrics_pages(c)
    assert len(pages) == len(c.pids_from_file()), (sorted(pages), c.pids_from_file())
    for name, (metrics, health) in pages.items():
        assert b"hourglass_" in metrics, (name, metrics[:300])
        (answers / (name + ".metrics")).write_bytes(metrics)
        (answers / (name + ".health")).write_bytes(health)

    r = c.down()
    assert r.rc == 0, r
    needles = {c_["value"].encode(): c_["id"] for c_ in canaries}
    behind = _dirs(c, "deid-*", "indexer-*", "analytics-*")
    assert len(behind) == 4, behind
    leaks = {}
    for what, roots in (("store", behind), ("log", [os.path.join(c.dir, "logs")]),
                        ("answer", [str(answers)])):
        for n, files in hg.scan_files(roots, needles, bounded=False, ignore_case=True).items():
            leaks[needles[n]] = (what, sorted(os.path.relpath(p, c.dir if what != "answer"
                                                               else str(answers))
                                              for p in files))
    # the twin: each canary reached the collector's journal or the cleanser's store
    seen = hg.scan_files(_dirs(c, "collector-*", "cleanser-*"), needles, bounded=False,
                         ignore_case=True)
    missing = sorted(needles[n] for n in needles if n not in seen)
    print("canaries: %d, formats: 5, transports: 3, hits behind the de-identifier: %d"
          % (len(canaries), len(leaks)))
    assert not missing, "canaries never delivered (the scan would prove nothing): %s" % missing
    # the twin of the scan behind the boundary: what the de-identifier was given
    reached = sorted(c_["id"] for c_ in canaries if c_["value"].encode() in at_deid)
    print("reached the de-identifier: %d: %s" % (len(reached), reached))
    print("stopped at the cleanser: %s" % sorted(set(needles.values()) - set(reached)))
    ids = ("file.", "batch.", "hl7.msh10", "hl7.bad.msh10", "hl7.adt.msh10", "hl7.vxu.msh10")
    for fmt in ("fhir", "hl7v2", "csv", "vcf", "dicom"):
        content = [c_["id"] for c_ in canaries if c_["format"] == fmt
                   and c_["id"] in reached and not c_["id"].startswith(ids)]
        assert content, "no %s canary reached the de-identifier's input" % fmt
    # free text passed scrubbed, not removed: what the notes say is in the index
    kept = [b"Discussed the plan with her son [NAME] at the bedside.",
            b"seen with her neighbour [NAME] today.", b"Reviewed with Dr. [NAME].",
            b"Findings discussed with his wife [NAME] by phone.",
            b"Assisted by [NAME]; uneventful.", b"Called Mrs [NAME] at home",
            b"seen at [LOCATION]"]
    found = hg.scan_files(_dirs(c, "indexer-*"), set(kept), bounded=False)
    assert set(found) == set(kept), sorted(set(kept) - set(found))
    assert not leaks, "canaries behind the de-identifier:\n%s" % "\n".join(
        "  %s: %s %s" % (k, v[0], v[1]) for k, v in sorted(leaks.items()))
