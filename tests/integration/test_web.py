"""
test_web.py -- the analysts' page analytics serves at GET / (issue 14 "The
web page", docs/analytics.md "The web page"), on a live cluster of two
shards fed by the simulator, in a real headless Chromium
(tests/browser/browser.py).

The page is served with its assets under a strict Content-Security-Policy
(default-src 'self', no inline script or style); an analyst enters a token
(kept in sessionStorage only), finds codes, builds a cohort through the form
(criteria with prefixes, value ranges and date windows, sex, age), picks
strata and a measure and runs it. Each answer's rendered DOM -- the table's
rows, the number of SVG bars or points, the suppressed marks, the audit id --
is checked against the API's answer to the same document (the page's raw
document, asked of POST /v1/query directly), and the audit trail holds the
page's question under the analyst's name. Errors (no token, a wrong token, a
document the API refuses) are shown in words. Screenshots are saved in the
test's output directory (printed).
"""
import json
import os
import re
import sys
import time
import urllib.request

import pytest

import hg

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "browser"))
import browser  # noqa: E402

PATIENTS = 150
SEED = 1415
SHARDS = 2
MIN_CELL = 4
COND = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WEB = os.path.join(ROOT, "services", "analytics", "web")
OUT_DIR = os.path.join(os.getcwd(), "web-page")
SHOTS = []


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    reason = browser.unavailable()
    if reason:
        pytest.skip("no browser test: " + reason)
    base = tmp_path_factory.mktemp("web")
    sim = str(base / "sim")
    truth = hg.simulate(sim, PATIENTS, SEED, 0)
    c = hg.Cluster(base / "cluster")
    try:
        c.up("--shards", str(SHARDS), "--min-cell", str(MIN_CELL), "--heartbeat-ms", "200",
             "--compression", "none")
        hg.push_partners(c, sim, truth)
        c.wait_drained(deadline_s=180)
        r = hg.run("cluster", "add-analyst", "alice", "--dir", c.dir, "--json")
        assert r.rc == 0, r
        with browser.Browser(width=1280, height=1000) as b:
            yield {"cluster": c, "truth": truth, "token": r.json()["token"], "browser": b,
                   "url": c.cluster_json()["analytics_http"]}
    finally:
        c.teardown()


@pytest.fixture(autouse=True)
def _print_shots(capsys):
    """Prints where the screenshots are, past pytest's capture (also on failure)."""
    yield
    with capsys.disabled():
        for shot in SHOTS:
            print("\nscreenshot: %s" % shot)
    SHOTS.clear()


def http(run, method, path, body=None, token=None):
    """(status, headers, bytes) of one request to analytics' HTTP port."""
    return hg.http_request(run["url"] + path, method, body, token)


def ask(run, doc):
    """The API's answer to doc, asked directly."""
    status, _, body = http(run, "POST", "/v1/query", doc, token=run["token"])
    assert status == 200, body
    return json.loads(body)


def fmt(v):
    """A number as the page writes it (app.js fmt)."""
    if v is None:
        return "suppressed"
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, int):
        return str(v)
    return ("%.2f" % v).rstrip("0").rstrip(".") if abs(v) >= 1 else "%.3g" % v


# ---- driving the page ------------------------------------------------------------

def js(b, expr):
    return b.evaluate(expr)


def q(selector):
    return "document.querySelector(%s)" % json.dumps(selector)


def type_into(b, selector, text):
    """Focuses the field, empties it and types text (real key input events)."""
    js(b, "(e => { e.focus(); e.value = ''; })(%s)" % q(selector))
    b.call("Input.insertText", {"text": text})


def set_value(b, selector, value):
    """For selects and date fields: sets the value as a picker would, with its events."""
    js(b, "(e => { e.focus(); e.value = %s; e.dispatchEvent(new Event('input', {bubbles: true}));"
          " e.dispatchEvent(new Event('change', {bubbles: true})); })(%s)"
       % (json.dumps(value), q(selector)))


def click(b, selector):
    js(b, "%s.click()" % q(selector))


def wait_until(b, expr, timeout=60, what=None):
    deadline = time.monotonic() + timeout
    while not js(b, expr):
        if time.monotonic() > deadline:
            raise AssertionError("page: no %s within %d s; status %r, error %r" % (
                what or expr, timeout, js(b, "document.getElementById('status').textContent"),
                js(b, "document.getElementById('error').textContent")))
        time.sleep(0.05)


def load(run):
    """Loads the page, with a watch on every Content-Security-Policy violation."""
    b = run["browser"]
    if not run.get("csp_watch"):
        b.call("Page.addScriptToEvaluateOnNewDocument", {"source": CSP_WATCH})
        run["csp_watch"] = True
    b.load(run["url"] + "/")
    wait_until(b, "document.body.dataset.ready === 'true'", what="page script")
    return b


CSP_WATCH = """window.__csp = [];
document.addEventListener('securitypolicyviolation',
    e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"""


def enter_token(b, token):
    type_into(b, "#token", token)
    click(b, "#token-use")


def run_query(b):
    """Clicks Run and waits for the answer or an error; the page's document."""
    before = js(b, "(e => e ? e.textContent : '')(document.getElementById('audit-id'))")
    js(b, "document.getElementById('error').hidden = true")
    click(b, "#run")
    wait_until(b, "!document.getElementById('run').disabled && "
                  "(!document.getElementById('error').hidden || "
                  "(document.getElementById('audit-id') && "
                  "document.getElementById('audit-id').textContent !== %s))" % json.dumps(before),
               what="answer")
    return json.loads(js(b, "document.getElementById('doc').textContent"))


def add_criterion(b, lst, match, code, frm=None, to=None, gte=None, lt=None):
    click(b, "button.crit-add[data-list=%s]" % lst)
    row = "li.crit[data-list=%s]:last-child " % lst
    set_value(b, row + ".c-match", match)
    type_into(b, row + ".c-code", code)
    if frm:
        set_value(b, row + ".c-from", frm)
    if to:
        set_value(b, row + ".c-to", to)
    if gte is not None:
        type_into(b, row + ".c-gte", str(gte))
    if lt is not None:
        type_into(b, row + ".c-lt", str(lt))


DOM = r"""(() => {
  const rows = sel => [...document.querySelectorAll(sel)].map(
      tr => [...tr.querySelectorAll('th,td')].map(td => td.textContent.trim()));
  const text = id => (e => e ? e.textContent : null)(document.getElementById(id));
  return {
    head: [...document.querySelectorAll('#result thead th')].map(th => th.textContent),
    head_scope: [...document.querySelectorAll('#result thead th')].map(
        th => th.getAttribute('scope')),
    row_headers: [...document.querySelectorAll('#result tbody tr > th')].map(
        th => th.getAttribute('scope')),
    rows: rows('#result tbody tr'),
    tr_suppressed: document.querySelectorAll('#result tbody tr.suppressed').length,
    td_suppressed: [...document.querySelectorAll('#result td.suppressed')].map(
        td => td.textContent),
    bars: document.querySelectorAll('#chart svg g.bar').length,
    bars_suppressed: document.querySelectorAll('#chart svg g.bar.suppressed').length,
    bar_values: [...document.querySelectorAll('#chart svg g.bar')].map(g => g.dataset.value),
    bar_heights: [...document.querySelectorAll('#chart svg g.bar:not(.suppressed) rect')].map(
        r => +r.getAttribute('height')),
    points: document.querySelectorAll('#chart svg circle.point').length,
    points_suppressed: document.querySelectorAll('#chart svg circle.point.suppressed').length,
    point_values: [...document.querySelectorAll('#chart svg circle.point')].map(
        c => c.dataset.value),
    lines: [...document.querySelectorAll('#chart svg polyline.line')].map(
        p => p.getAttribute('points').trim().split(/\s+/).length),
    svg_title: text('chart-title'),
    svg_labelled: (e => e && e.getAttribute('aria-labelledby'))(document.querySelector('#chart svg')),
    audit_id: text('audit-id'),
    patients: text('total-patients'),
    status: text('status'),
    error: document.getElementById('error').hidden ? null : text('error'),
    answer: JSON.parse(text('answer-json') || 'null'),
    notes: text('notes'),
  };
})()"""


def dom(b):
    return js(b, DOM)


def shot(b, name):
    assert js(b, "window.__csp") == []          # nothing the policy had to refuse
    path = b.screenshot(os.path.join(OUT_DIR, name + ".png"))
    SHOTS.append(path)
    return path


def without_id(a):
    return {k: v for k, v in a.items() if k != "audit_id"}


def check_table(d, entries, keys, key_text):
    """The table: a row per entry, key text then each count column of the answer."""
    counts = [k for k in ("patients", "records", "denominator", "rate")
              if any(k in e for e in entries)]
    assert len(d["head"]) == len(keys) + len(counts) and set(d["head_scope"]) == {"col"}
    assert d["row_headers"] == ["row"] * len(entries)
    want = [key_text(e) + [fmt(e[k]) if k in e else "\u2014" for k in counts] for e in entries]
    assert d["rows"] == want
    assert d["tr_suppressed"] == sum(1 for e in entries if e.get("suppressed") is True)
    nulls = sum(1 for e in entries for k in counts if k in e and e[k] is None)
    assert d["td_suppressed"] == ["suppressed"] * nulls


def check_answer(run, d, doc):
    """The page's answer is the API's for the same document, and is in the audit trail."""
    direct = ask(run, doc)
    page = d["answer"]
    assert without_id(page) == without_id(direct), (page, direct)
    assert d["audit_id"] == str(page["audit_id"])
    assert direct["audit_id"] == page["audit_id"] + 1       # nothing else asked between
    assert d["status"].startswith("Answered") and ("audit id %d" % page["audit_id"]) in d["status"]
    r = hg.run("audit", "list", "--cluster", run["cluster"].dir, "--json")
    assert r.rc == 0, r
    entry = {e["id"]: e for e in r.json()["entries"]}[page["audit_id"]]
    assert (entry["analyst"], entry["via"]) == ("alice", "http")
    assert entry["request"] == doc and entry["answer"] == page
    return direct


# ---- the tests ---------------------------------------------------------------------

def test_page_is_served_self_contained(run):
    want = {"/": ("text/html", "index.html"), "/app.js": ("text/javascript", "app.js"),
            "/app.css": ("text/css", "app.css")}
    for path, (ctype, name) in want.items():
        status, h, body = http(run, "GET", path)        # no token: the page holds no data
        assert status == 200, (path, body)
        assert h["Content-Type"] == ctype + "; charset=utf-8"
        csp = h["Content-Security-Policy"]
        assert csp and "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, csp
        assert "unsafe" not in csp
        assert h["X-Content-Type-Options"] == "nosniff" and h["Cache-Control"] == "no-store"
        with open(os.path.join(WEB, name), "rb") as f:
            assert body == f.read(), path                 # the file, embedded at build time
    html = http(run, "GET", "/")[2].decode()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts == ['<script src="/app.js" defer>'], scripts   # no inline script
    assert html.count("<script") == html.count('defer></script>') == 1
    assert not re.search(r"\son\w+=", html) and " style=" not in html
    assert not re.search(r"(src|href)=\"(?!/)", html)              # nothing from elsewhere
    js_text = http(run, "GET", "/app.js")[2].decode()
    assert "innerHTML" not in js_text and "eval(" not in js_text
    status, h, body = http(run, "POST", "/", {})
    assert status == 405 and h["Allow"] == "GET", body
    status, _, body = http(run, "GET", "/index.html")
    assert status == 404 and "GET /" in json.loads(body)["error"]


def test_token_and_errors_in_words(run):
    b = load(run)
    js(b, "sessionStorage.clear()")
    b = load(run)
    assert "No token set" in js(b, "document.getElementById('token-state').textContent")
    doc = run_query(b)
    assert doc == {"measure": {"kind": "patients"}}
    d = dom(b)
    assert d["error"] and "No token" in d["error"], d
    # a wrong token: the API's 401, in words
    enter_token(b, "0" * 64)
    run_query(b)
    d = dom(b)
    assert "(401)" in d["error"] and "missing or unknown bearer token" in d["error"], d
    # the right one: in this tab's sessionStorage, nowhere else
    click(b, "#token-forget")
    assert js(b, "sessionStorage.length") == 0
    enter_token(b, run["token"])
    assert js(b, "sessionStorage.getItem('hourglass.analytics.token')") == run["token"]
    assert js(b, "localStorage.length") == 0 and js(b, "document.cookie") == ""
    assert js(b, "document.getElementById('token').value") == ""
    assert run["token"] not in js(b, "document.documentElement.outerHTML")
    assert "A token is set" in js(b, "document.getElementById('token-state').textContent")
    # a document the API refuses: its message, naming the field
    set_value(b, "#m-kind", "distribution")
    type_into(b, "#m-code", LOINC + "|4548-4")
    type_into(b, "#m-bins", "8, 4")
    doc = run_query(b)
    assert doc == {"measure": {"kind": "distribution", "code": LOINC + "|4548-4",
                               "bins": [8, 4]}}
    status, _, body = http(run, "POST", "/v1/query", doc, token=run["token"])
    assert status == 400
    d = dom(b)
    assert d["error"] == "Analytics refused the request (400): " + json.loads(body)["error"], d
    assert "bins" in d["error"]
    # what the page itself can tell: a criterion without a code is not sent
    set_value(b, "#m-kind", "patients")
    click(b, "button.crit-add[data-list=all]")
    run_query(b)
    d = dom(b)
    assert d["error"].startswith("The query is not complete: cohort.all[0]: enter a code"), d
    assert d["status"] == "Not sent."
    shot(b, "error")


def test_codes_and_stratified_patients(run):
    b = load(run)
    enter_token(b, run["token"])
    # finding codes: the table is the API's /v1/codes answer, suppressed counts marked
    type_into(b, "#codes-prefix", COND + "|")
    click(b, "#codes-find")
    wait_until(b, "/Audit id/.test(document.getElementById('codes-status').textContent)",
               what="codes")
    got = js(b, r"""[...document.querySelectorAll('#codes-table tbody tr')].map(tr =>
        [tr.className, ...[...tr.querySelectorAll('th,td')].slice(0, 3).map(
            td => td.textContent)])""")
    status, _, body = http(run, "GET", "/v1/codes?prefix=" + urllib.request.quote(COND + "|"),
                           token=run["token"])
    codes = json.loads(body)["codes"]
    assert status == 200 and codes
    assert got == [["suppressed" if c["suppressed"] else "", c["code"], fmt(c["patients"]),
                    fmt(c["records"])] for c in codes]
    assert any(c["suppressed"] for c in codes) and not all(c["suppressed"] for c in codes)
    # a cohort of a prefix (every SNOMED code) and, from the codes table, none of the
    # rarest condition shown; by sex and age group
    rare = min((c for c in codes if not c["suppressed"]), key=lambda c: (c["patients"], c["code"]))
    js(b, "document.querySelectorAll('#codes-table tbody tr')[%d]"
          ".querySelector('button.use-none').click()" % codes.index(rare))
    add_criterion(b, "all", "prefix", SNOMED + "|")
    click(b, "#by input[value=sex]")
    click(b, "#by input[value=age_group]")
    doc = run_query(b)
    assert doc == {"cohort": {"all": [{"prefix": SNOMED + "|"}],
                              "none": [{"code": rare["code"]}]},
                   "by": ["sex", "age_group"], "measure": {"kind": "patients"}}
    d = dom(b)
    assert d["error"] is None, d
    a = check_answer(run, d, doc)
    cells = a["cells"]
    assert any(c["suppressed"] for c in cells) and not all(c["suppressed"] for c in cells), \
        "small cells and shown ones both needed for the test to mean something"
    check_table(d, cells, ["sex", "age_group"], lambda c: [c["sex"], c["age_group"]])
    # the chart: one bar per cell, a suppressed one marked, heights in the counts' order
    assert d["bars"] == len(cells)
    assert d["bars_suppressed"] == sum(1 for c in cells if c["suppressed"])
    assert d["bar_values"] == [fmt(c["patients"]) if c["patients"] is not None else "suppressed"
                               for c in cells]
    shown_n = [c["patients"] for c in cells if c["patients"] is not None]
    order = sorted(range(len(shown_n)), key=lambda i: shown_n[i])
    assert [d["bar_heights"][i] for i in order] == sorted(d["bar_heights"])
    assert d["svg_title"] == "Patients per stratum" and d["svg_labelled"]
    assert d["patients"] == fmt(a["patients"])
    assert "suppressed" in d["notes"]
    shot(b, "patients-by-sex-age")


def test_distribution_histogram(run):
    b = load(run)
    enter_token(b, run["token"])
    # the measure's code from the codes table
    type_into(b, "#codes-prefix", LOINC + "|4548")
    click(b, "#codes-find")
    wait_until(b, "document.querySelector('#codes-table tbody button.use-measure') !== null",
               what="codes")
    click(b, "#codes-table tbody button.use-measure")
    assert js(b, "document.getElementById('m-kind').value") == "distribution"
    type_into(b, "#m-bins", "4, 5, 5.7, 6.5, 7, 8, 9, 10, 12")
    add_criterion(b, "all", "code", LOINC + "|4548-4", frm="1990-01-01", to="2035-12-31",
                  gte=4, lt=14)
    click(b, "#sex input[value=female]")
    click(b, "#sex input[value=male]")
    type_into(b, "#age-from", "18")
    type_into(b, "#age-to", "90")
    doc = run_query(b)
    assert doc == {"cohort": {"all": [{"code": LOINC + "|4548-4", "from": "1990-01-01",
                                       "to": "2035-12-31", "value": {"gte": 4, "lt": 14}}],
                              "sex": ["female", "male"], "age": {"from": 18, "to": 90}},
                   "measure": {"kind": "distribution", "code": LOINC + "|4548-4",
                               "bins": [4, 5, 5.7, 6.5, 7, 8, 9, 10, 12]}}
    # every field of the form, criteria rows too, has a label a screen reader reads
    assert js(b, """[...document.querySelectorAll('input, select')].filter(
        e => !e.labels.length && !e.getAttribute('aria-label')).map(e => e.id || e.name)""") == []
    d = dom(b)
    assert d["error"] is None, d
    a = check_answer(run, d, doc)
    bins = a["bins"]
    assert len(bins) == 8
    assert any(x["patients"] is None for x in bins) and any(x["patients"] for x in bins), bins
    check_table(d, bins, ["bin"], lambda x: ["[%s, %s)" % (fmt(x["from"]), fmt(x["to"]))])
    assert d["bars"] == len(bins)
    assert d["bars_suppressed"] == sum(1 for x in bins if x["patients"] is None)
    assert d["svg_title"].startswith("Patients per bin")
    shot(b, "distribution")


def test_series_line(run):
    b = load(run)
    enter_token(b, run["token"])
    code = LOINC + "|2345-7"    # glucose: a few patients a year
    set_value(b, "#m-kind", "series")
    type_into(b, "#m-code", code)
    set_value(b, "#m-interval", "year")
    add_criterion(b, "all", "code", code)
    doc = run_query(b)
    assert doc == {"cohort": {"all": [{"code": code}]},
                   "measure": {"kind": "series", "code": code, "interval": "year"}}
    d = dom(b)
    assert d["error"] is None, d
    a = check_answer(run, d, doc)
    series = a["series"]
    assert len(series) >= 3 and any(p["suppressed"] for p in series), series
    check_table(d, series, ["period"], lambda p: [p["period"]])
    # one point per period, the suppressed ones hollow; the line breaks at each
    assert d["points"] == len(series)
    assert d["points_suppressed"] == sum(1 for p in series if p["patients"] is None)
    assert d["point_values"] == [fmt(p["patients"]) if p["patients"] is not None
                                 else "suppressed" for p in series]
    runs, n = [], 0
    for p in series + [{"patients": None}]:
        if p["patients"] is None:
            if n > 1:
                runs.append(n)
            n = 0
        else:
            n += 1
    assert d["lines"] == runs
    shot(b, "series")


def test_top_codes_bars(run):
    b = load(run)
    enter_token(b, run["token"])
    set_value(b, "#m-kind", "top")
    set_value(b, "#m-top-of", "condition")
    type_into(b, "#m-top-n", "6")
    # patients with a glucose, then a SNOMED condition within ten years of one
    add_criterion(b, "all", "code", LOINC + "|2345-7")
    add_criterion(b, "any", "prefix", SNOMED + "|")
    row = "li.crit[data-list=any]:last-child "
    type_into(b, row + ".c-after", "1")
    type_into(b, row + ".c-min-days", "0")
    type_into(b, row + ".c-max-days", "3650")
    doc = run_query(b)
    assert doc == {"cohort": {"all": [{"code": LOINC + "|2345-7"}],
                              "any": [{"prefix": SNOMED + "|",
                                       "after": {"criterion": 0, "min_days": 0,
                                                 "max_days": 3650}}]},
                   "measure": {"kind": "top", "of": "condition", "n": 6}}
    d = dom(b)
    assert d["error"] is None, d
    a = check_answer(run, d, doc)
    top = a["top"]
    assert 0 < len(top) <= 6
    check_table(d, top, ["code"], lambda t: [t["code"]])
    assert d["bars"] == len(top)
    assert d["bars_suppressed"] == sum(1 for t in top if t["patients"] is None)
    assert d["bar_values"] == [fmt(t["patients"]) if t["patients"] is not None
                               else "suppressed" for t in top]
    shot(b, "top")


def test_prevalence_by_sex(run):
    b = load(run)
    enter_token(b, run["token"])
    set_value(b, "#m-kind", "prevalence")
    type_into(b, "#m-per", "1000")
    add_criterion(b, "all", "prefix", COND + "|E")
    click(b, "#by input[value=sex]")
    doc = run_query(b)
    assert doc == {"cohort": {"all": [{"prefix": COND + "|E"}]}, "by": ["sex"],
                   "measure": {"kind": "prevalence", "per": 1000}}
    d = dom(b)
    assert d["error"] is None, d
    a = check_answer(run, d, doc)
    cells = a["cells"]
    assert cells and all("rate" in c and "denominator" in c for c in cells), cells
    check_table(d, cells, ["sex"], lambda c: [c["sex"]])   # rates as the page writes them
    assert d["head"] == ["Sex", "Patients", "Denominator", "Rate"]
    assert d["bars"] == len(cells)
    assert [v if v == "suppressed" else float(v) for v in d["bar_values"]] == [
        c["rate"] if c["rate"] is not None else "suppressed" for c in cells]
    assert js(b, "document.getElementById('total-rate').textContent") == fmt(a["rate"])
    shot(b, "prevalence")


def test_dp_analyst_sees_epsilon(run):
    """A dp analyst's answer is noisy, so it is checked against the answer the audit
    trail recorded for it: the numbers, and epsilon spent and left."""
    r = hg.run("cluster", "add-analyst", "dana", "--role", "dp", "--dir", run["cluster"].dir,
               "--json")
    assert r.rc == 0, r
    b = load(run)
    click(b, "#token-forget")
    enter_token(b, r.json()["token"])
    add_criterion(b, "all", "prefix", SNOMED + "|")
    click(b, "#by input[value=sex]")
    doc = run_query(b)
    d = dom(b)
    assert d["error"] is None, d
    page = d["answer"]
    entries = hg.run("audit", "list", "--cluster", run["cluster"].dir, "--analyst", "dana",
                     "--json").json()["entries"]
    assert [(e["id"], e["role"], e["request"], e["answer"]) for e in entries] == [
        (page["audit_id"], "dp", doc, page)]
    assert page["disclosure"]["role"] == "dp" and set(page["epsilon"]) == {"spent", "left"}
    check_table(d, page["cells"], ["sex"], lambda c: [c["sex"]])
    assert d["bars"] == len(page["cells"])
    assert js(b, "document.getElementById('epsilon').textContent") == "spent %s, left %s" % (
        fmt(page["epsilon"]["spent"]), fmt(page["epsilon"]["left"]))
    assert "differential privacy" in d["notes"]
    shot(b, "dp")
