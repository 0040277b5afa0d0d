"""
test_quality_page.py -- the partner's quality page (`hourglass quality --html`)
as a data manager sees it: written from a live cluster fed with simulated
partners with planted errors (hourglass simulate --invalid) and a partner of
our own whose rejected input is full of planted PHI (a name in MSH-9, a
patient's name in an unlinked PID, an identifying file name), then loaded in
a real headless Chromium (tests/browser/browser.py). The rendered DOM is
checked against `quality --json`: the scores, every row of the completeness
table, one trend bar per day of the period, a fix-it sentence for each
planted error, and no planted value anywhere in the page. A screenshot of
each page is saved in the test's output directory (printed).
"""
import json
import os
import re
import sys

import pytest

import hg

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "browser"))
import browser  # noqa: E402

OUT_DIR = os.path.join(os.getcwd(), "quality-page")

# PHI planted in our own partner's rejected input: none of it may reach the page
CANARY_NAME = "Quortlezander"
CANARY_GIVEN = "Vexmorra"
CANARY_BIRTH = "19310722"
CANARY_MRN = "QZ88231977"
CANARY_FILE = "zandervexmorra_19310722_labs.hl7"
CANARY_MSH10 = "CTRLQZ4471"


def _canary_feed(path):
    """An HL7 v2 batch of one good ADT, an ADT with the patient's name in MSH-9
    (a messy partner's shifted fields) and an ORU whose PID-3 is empty."""
    msgs = [
        "MSH|^~\\&|LAB|CANARY|HG|HG|20240105101500||ADT^A01|OK0001|P|2.5\r"
        "PID|1||MRN5550001^^^CAN^MR||Okay^Anna||19800101|F\r",
        "MSH|^~\\&|LAB|CANARY|HG|HG|20240105101500||%s^%s|%s|P|2.5\r"
        "PID|1||%s^^^CAN^MR||%s^%s||%s|F\r"
        % (CANARY_NAME.upper(), CANARY_GIVEN.upper(), CANARY_MSH10, CANARY_MRN, CANARY_NAME,
           CANARY_GIVEN, CANARY_BIRTH),
        "MSH|^~\\&|LAB|CANARY|HG|HG|20240105101500||ORU^R01|%s2|P|2.5\r"
        "PID|1||||%s^%s||%s|F\r"
        "OBR|1||ORD1|24323-8^Comprehensive metabolic panel^LN|||202401051015\r"
        "OBX|1|NM|2345-7^Glucose^LN||99|mg/dL|70-99|N|||F|||202401051015\r"
        % (CANARY_MSH10, CANARY_NAME, CANARY_GIVEN, CANARY_BIRTH),
    ]
    with open(path, "w", newline="") as f:
        f.write("".join(msgs))


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    reason = browser.unavailable()
    if reason:
        pytest.skip("no browser test: " + reason)
    tmp = tmp_path_factory.mktemp("qpage")
    sim = tmp / "sim"
    truth = hg.simulate(sim, 60, 11, 14)
    c = hg.Cluster(tmp / "cluster")
    try:
        c.up("--min-cell", "0", "--heartbeat-ms", "200")
        hg.push_partners(c, sim, truth)
        feed = tmp / CANARY_FILE
        _canary_feed(str(feed))
        c.push([str(feed)], "hl7v2", "canary-clinic", wait=60)
        c.wait_drained()
        yield c, truth, tmp
    finally:
        c.teardown()


def _quality(c, partner, *extra):
    r = hg.run("quality", "--cluster", c.dir, "--partner", partner, "--json", *extra)
    assert r.rc == 0, r
    return r.json()


def _page(c, partner, path, *extra):
    r = hg.run("quality", "--cluster", c.dir, "--partner", partner, "--html", path, *extra)
    assert r.rc == 0, r
    return path


# What the DOM holds, read once per page in the browser.
DOM_FACTS = r"""(() => {
  const rows = sel => [...document.querySelectorAll(sel)].map(
      tr => [...tr.querySelectorAll('th,td')].map(td => td.textContent.trim()));
  return {
    lang: document.documentElement.lang,
    title: document.title,
    h1: document.querySelector('h1').textContent,
    period: document.querySelector('#period').textContent,
    scores: rows('#scores tbody tr'),
    fields: rows('#fields-table tbody tr'),
    fields_headers: [...document.querySelectorAll('#fields-table thead th')].map(
        th => th.getAttribute('scope')),
    days: [...document.querySelectorAll('#trend g.day')].map(g => ({
        day: g.dataset.day, records: +g.dataset.records, rejected: +g.dataset.rejected,
        title: g.querySelector('title').textContent,
        bars: g.querySelectorAll('rect').length})),
    trend_label: document.querySelector('#trend').getAttribute('aria-labelledby'),
    trend_title: document.querySelector('#trend > title').textContent,
    fixes: [...document.querySelectorAll('li.fix')].map(li => li.textContent),
    reasons: rows('#reasons-table tbody tr'),
    html: document.documentElement.outerHTML,
    text: document.body.innerText,
    scripts: document.scripts.length,
    external: [...document.querySelectorAll('[src],link[href]')].length,
  };
})()"""


SHOTS = []


def _render(b, path, shot):
    b.load("file://" + path)
    b.wait_for("#trend")
    facts = b.evaluate(DOM_FACTS)
    b.screenshot(shot)
    SHOTS.append(shot)
    return facts


@pytest.fixture(autouse=True)
def _print_shots(capsys):
    """Prints where the screenshots are, past pytest's capture (also on failure)."""
    yield
    with capsys.disabled():
        for shot in SHOTS:
            print("\nscreenshot: %s" % shot)
    SHOTS.clear()


def _check_against_json(facts, q, partner):
    assert facts["lang"] == "en" and partner in facts["title"] and partner in facts["h1"]
    assert facts["scripts"] == 0 and facts["external"] == 0   # self-contained
    assert q["period"]["since"] in facts["period"] and q["period"]["until"] in facts["period"]
    scores = {row[0]: row[1] for row in facts["scores"]}
    assert scores == {"Conformance": "%.1f%%" % q["conformance"],
                      "Completeness": "%.1f%%" % q["completeness"],
                      "Plausibility": "%.1f%%" % q["plausibility"]}, scores
    # the completeness table: one row per field of the JSON, same numbers
    want = [[f["kind"], f["field"], str(f["records"]), str(f["filled"]), "%.1f%%" % f["percent"],
             ""] for f in q["fields"]]
    assert facts["fields"] == want
    assert facts["fields_headers"] and set(facts["fields_headers"]) == {"col"}
    # the trend: one bar group per day of the JSON, with its numbers
    assert [d["day"] for d in facts["days"]] == [t["day"] for t in q["trend"]]
    for d, t in zip(facts["days"], q["trend"]):
        assert (d["records"], d["rejected"]) == (t["records"], t["rejected"]), (d, t)
        assert d["bars"] == 2 and d["day"] in d["title"]
    assert facts["trend_label"] and facts["trend_title"].startswith("Records per day")
    # every fix of the JSON is on the page, in the same order
    assert [re.sub(r"\s+", " ", x).strip() for x in facts["fixes"]] == [
        x["text"] for x in q["fixes"]]
    # reasons: counts as in the JSON
    assert [(row[0], row[1]) for row in facts["reasons"]] == [
        (str(x["count"]), x["reason"]) for x in q["top_reasons"]]


def _no_phi(facts, needles):
    """No needle in the page (its style sheet aside), where it is not part of a longer
    word or number: 'White' in white-space is no leak, 'Whitebury' would be no hit."""
    page = re.sub(r"<style>.*?</style>", "", facts["html"], flags=re.S)
    for n in needles:
        pat = r"(?<![0-9A-Za-z])" + re.escape(n) + r"(?![0-9A-Za-z])"
        assert not re.search(pat, page, re.I), "planted value %r on the page" % n


def test_simulated_partners_pages(fed):
    c, truth, tmp = fed
    phi = truth["phi"]
    needles = (phi["mrns"] + phi["ssns"] + phi["phones"] + phi["streets"] + phi["birth_dates"]
               + phi["fhir_ids"] + [n for n in phi["names"] if len(n) > 3])
    # the planted errors of `hourglass simulate --invalid`, in plain words
    planted = {
        "general-hospital": ["PID-3 (patient identifier list) is empty in",
                             "message type (MSH-9) we do not accept"],
        "city-lab": ["not a real calendar date", "not complete JSON",
                     "did not say which patient"],
        "clinic-fhir": ["not a real calendar date", "had no code in Condition.code"],
    }
    with browser.Browser() as b:
        for partner, sentences in planted.items():
            q = _quality(c, partner)
            assert q["rejected"] > 0 and q["trend"] and q["fields"], q
            assert len(q["trend"]) == 14 and q["period"]["all"] is True
            assert sum(t["records"] for t in q["trend"]) == q["records"]  # all arrived today
            path = _page(c, partner, str(tmp / (partner + ".html")))
            facts = _render(b, path, os.path.join(OUT_DIR, partner + ".png"))
            _check_against_json(facts, q, partner)
            for s in sentences:
                assert any(s in f for f in facts["fixes"]), (s, facts["fixes"])
            # samples are whole, not cut: each sample's redacted reason is on the page
            for x in q["top_reasons"]:
                assert x["samples"], x
                for s in x["samples"]:
                    assert s["reason"] in facts["text"] or s["reason"] in facts["html"]
            _no_phi(facts, needles + [f.split("/")[-1] for f in truth["partners"][partner]
                                      ["files"]])
        # a period of its own: --days 5 gives 5 bars, the last today
        q5 = _quality(c, "city-lab", "--days", "5")
        assert len(q5["trend"]) == 5 and q5["period"]["all"] is False
        everything = _quality(c, "city-lab")
        for k in ("messages", "records", "rejected", "conformance", "fields"):
            assert q5[k] == everything[k], k       # everything arrived today
        path = _page(c, "city-lab", str(tmp / "city-lab-5.html"), "--days", "5")
        facts = _render(b, path, os.path.join(OUT_DIR, "city-lab-5days.png"))
        _check_against_json(facts, q5, "city-lab")
        assert len(facts["days"]) == 5


def test_planted_phi_never_on_the_page(fed):
    c, _, tmp = fed
    q = _quality(c, "canary-clinic")
    assert (q["records"], q["rejected"]) == (1, 2), q   # the good ADT's demographics
    reasons = " ".join(x["reason"] for x in q["top_reasons"])
    assert "message type" in reasons and "PID-3" in reasons, q
    canaries = [CANARY_NAME, CANARY_GIVEN, CANARY_BIRTH, CANARY_MRN, CANARY_FILE,
                CANARY_FILE.split("_")[0], CANARY_MSH10]
    blob = json.dumps(q, ensure_ascii=False).lower()
    for n in canaries:
        assert n.lower() not in blob, "planted %r in quality --json" % n
    with browser.Browser() as b:
        path = _page(c, "canary-clinic", str(tmp / "canary-clinic.html"))
        facts = _render(b, path, os.path.join(OUT_DIR, "canary-clinic.png"))
        _check_against_json(facts, q, "canary-clinic")
        _no_phi(facts, canaries)
        # the shapes say what is wrong without the values: an empty PID-3, a date of 8 digits
        assert "PID|9||||\u2026^\u2026||99999999|\u2026" in facts["text"], facts["text"]
        assert any("PID-3 (patient identifier list) is empty in 1 message:" in f
                   for f in facts["fixes"]), facts["fixes"]
        assert any("message type (MSH-9)" in f for f in facts["fixes"]), facts["fixes"]
