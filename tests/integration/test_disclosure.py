"""
test_disclosure.py -- the known differencing tricks against a live cluster
(issue 14, docs/analytics.md "Disclosure control"): each trick is run on the
exact answers (the operator's `--min-cell 0`, which is how the truth is
known here) -- where it recovers the small count it aims at -- and on the
answers an analyst gets (threshold, complementary suppression, rounding to
10; role dp: noise and an epsilon budget), where it must not. The attacker
knows the rules: a suppressed count is 1..min_cell, a shown count n stands
for every true count that rounds to n. A trick "recovers" a count when what
it learns leaves one value possible (dp: one value in the 95 % interval).

Tricks: with/without a narrow date window, one more code in `none`, one
more year of age, strata vs the total, bins vs the total, a two-way table vs
its one-way margins, and averaging repeated dp answers until the budget
refuses. The results are printed with the test's output (ctest -V, LastTest.log).
"""
import calendar
import collections
import json
import math
import os

import pytest

import hg

PATIENTS = 400
SEED = 1414
SHARDS = 2
MIN_CELL = 10
ROUND_TO = 10
DP_EPSILON = 0.5
DP_BUDGET = 5
COND = "http://hl7.org/fhir/sid/icd-10-cm"
RESULTS = []
UP = ("--shards", str(SHARDS), "--min-cell", str(MIN_CELL), "--heartbeat-ms", "200",
      "--compression", "none")
BIG = 10 ** 9


@pytest.fixture(scope="module")
def run(tmp_path_factory, request):
    base = tmp_path_factory.mktemp("disclosure")
    sim = str(base / "sim")
    truth = hg.simulate(sim, PATIENTS, SEED, 0)
    c = hg.Cluster(base / "cluster")
    env = {"HOURGLASS_ROUND_TO": str(ROUND_TO), "HOURGLASS_DP_EPSILON": str(DP_EPSILON),
           "HOURGLASS_DP_BUDGET": str(DP_BUDGET)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # analytics reads HOURGLASS_<OPTION> (common/config.c)
    try:
        c.up(*UP)
        hg.push_partners(c, sim, truth)
        c.wait_drained(deadline_s=180)
        yield {"cluster": c, "truth": truth, "key": c.key(), "base": base, "n": 0}
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        c.teardown()
        # printed past pytest's capture, so ctest's log (LastTest.log, -V) has them
        capture = request.config.pluginmanager.getplugin("capturemanager")
        lines = ["", "=== differencing attacks (min_cell %d, round_to %d, dp epsilon %g of %g) ==="
                 % (MIN_CELL, ROUND_TO, DP_EPSILON, DP_BUDGET)] + RESULTS
        with capture.global_and_fixture_disabled():
            print("\n".join(lines), flush=True)


def ask(run, doc, *extra, ok=True):
    run["n"] += 1
    path = os.path.join(str(run["base"]), "q%d.json" % run["n"])
    with open(path, "w") as f:
        json.dump(doc, f)
    r = hg.run("query", "run", "--cluster", run["cluster"].dir, "--file", path, "--json",
               *extra, timeout=60)
    if ok:
        assert r.rc == 0, r
        return r.json()
    return r


def exact(run, doc):
    ans = ask(run, doc, "--min-cell", "0")
    assert ans["disclosure"] == {"role": "exact", "min_cell": 0}, ans
    return ans


# ---- what the attacker learns from a released number ---------------------------------

def rounds_to(n, base):
    """services/analytics/disclose.c hg_disclose_round: halves up, never to 0."""
    if base <= 1 or n == 0:
        return n
    r = n // base * base + (base if n % base >= (base + 1) // 2 else 0)
    return r or base


def known(value, ans):
    """The interval of true counts a released number stands for."""
    d = ans["disclosure"]
    m, base = d["min_cell"], d.get("round_to", 1)
    if value is None:
        return (1, m)
    if value == 0 or base <= 1:
        return (value, value)
    ns = [n for n in range(max(m + 1, value - base), value + base + 1) if rounds_to(n, base) == value]
    assert ns, (value, d)
    return (min(ns), max(ns))


def minus(a, b):
    return (a[0] - b[1], a[1] - b[0])


def candidates(iv):
    """The small counts an interval leaves possible."""
    return [k for k in range(max(1, iv[0]), min(MIN_CELL, iv[1]) + 1)]


def report(trick, truth, exact_iv, iv):
    """Records and checks one trick: on exact answers it pins the truth, on the
    released ones it leaves several values."""
    assert 1 <= truth <= MIN_CELL, (trick, truth)
    assert exact_iv == (truth, truth), (trick, exact_iv, truth)  # the trick works...
    cand = candidates(iv)
    shown = "[%d, %s]" % (max(iv[0], 0), iv[1] if iv[1] < BIG // 2 else "inf")
    RESULTS.append("%-40s truth %2d | threshold alone: %d | released: %s, %d candidates %s"
                   % (trick, truth, exact_iv[0], shown, len(cand),
                      "RECOVERED" if len(cand) == 1 else "not recovered"))
    assert truth in cand, (trick, truth, iv)  # ...the rule is what the attacker assumes...
    assert len(cand) >= 2, (trick, truth, iv)  # ...and it no longer recovers anything


def difference(run, trick, doc_a, doc_b):
    """Two cohorts, B inside A: |A| - |B| is the small group the trick aims at."""
    ea, eb = exact(run, doc_a), exact(run, doc_b)
    truth = ea["patients"] - eb["patients"]
    a, b = ask(run, doc_a), ask(run, doc_b)
    assert a["disclosure"]["role"] == "aggregate" and a["disclosure"]["round_to"] == ROUND_TO
    report(trick, truth, minus(known(ea["patients"], ea), known(eb["patients"], eb)),
           minus(known(a["patients"], a), known(b["patients"], b)))
    return truth


# ---- finding small groups in the data ---------------------------------------------------

def timelines(run):
    return hg.shifted_timelines(run["key"], run["truth"])


def big_condition(run):
    """The code most patients carry (dated), and the timelines."""
    tl = timelines(run)
    per = collections.Counter(c for ev in tl.values() for c in {c for d, c in ev if d})
    code, n = per.most_common(1)[0]
    assert n > 3 * MIN_CELL, per.most_common(3)
    return code, tl


def month_window(month):
    """{"from", "to"} of a whole month "YYYY-MM"."""
    last = calendar.monthrange(int(month[:4]), int(month[5:]))[1]
    return {"from": month + "-01", "to": "%s-%02d" % (month, last)}


def narrow_window_pair(run):
    """A cohort (the biggest condition) and the same without the few patients
    (1..min_cell/2) who had it in one month: the differencing pair."""
    code, tl = big_condition(run)
    months = collections.Counter()
    for ev in tl.values():
        for m in {d[:7] for d, c in ev if c == code and d}:
            months[m] += 1
    month = next(m for m, n in sorted(months.items()) if 1 <= n <= MIN_CELL // 2)
    a = {"cohort": {"all": [{"code": code}]}}
    b = {"cohort": {"all": [{"code": code}], "none": [{"code": code, **month_window(month)}]}}
    return a, b


def test_narrow_date_window(run):
    """A vs A without the patients who had the code in one month."""
    a, b = narrow_window_pair(run)
    difference(run, "with/without a narrow date window", a, b)


def test_one_more_code_in_none(run):
    _, tl = big_condition(run)
    has = [{c for _, c in ev} for ev in tl.values()]
    per = collections.Counter(c for s in has for c in s)
    code, y = next((x, y) for x, n in per.most_common() for y in sorted(per)
                   if y != x and 1 <= sum(1 for s in has if x in s and y in s) <= MIN_CELL)
    a = {"cohort": {"all": [{"code": code}]}}
    b = {"cohort": {"all": [{"code": code}], "none": [{"code": y}]}}
    difference(run, "one more code in none", a, b)


def test_one_more_year_of_age(run):
    code, _ = big_condition(run)
    found = 0
    for to in range(30, 90):
        a = {"cohort": {"all": [{"code": code}], "age": {"from": 0, "to": to + 1}}}
        b = {"cohort": {"all": [{"code": code}], "age": {"from": 0, "to": to}}}
        na, nb = exact(run, a)["patients"], exact(run, b)["patients"]
        if 1 <= na - nb <= MIN_CELL and nb > MIN_CELL:
            difference(run, "one more year of age (to %d)" % (to + 1), a, b)
            found += 1
            if found == 2:
                break
    assert found, "no age step with a small difference: the test proves nothing"


def threshold_only(ans):
    """What a threshold alone would release of an exact answer (no complements, no
    rounding): the baseline the tricks were invented against."""
    out = json.loads(json.dumps(ans))

    def walk(o):
        if isinstance(o, dict):
            if "patients" in o and o["patients"] is not None and 1 <= o["patients"] <= MIN_CELL:
                o["patients"], o["suppressed"] = None, True
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for x in o:
                walk(x)
    walk(out)
    out["disclosure"] = {"role": "aggregate", "min_cell": MIN_CELL, "round_to": 1}
    return out


def unknown(value, ans):
    """known(), but a suppressed number may be a complement (above min_cell): the
    attacker cannot tell which, so only >= 1 is sure."""
    return (1, BIG) if value is None else known(value, ans)


def line_attack(ans, values, total, target):
    """A line of numbers adding up to a total: the target's interval from the total
    and every other number of the line."""
    t = known(total, ans)
    others = [unknown(v, ans) for i, v in enumerate(values) if i != target]
    return (t[0] - sum(o[1] for o in others), t[1] - sum(o[0] for o in others))


def test_strata_vs_total(run):
    """The total minus every other stratum: one suppressed stratum alone is given away."""
    conds = [c for c, _ in collections.Counter(
        c for ev in timelines(run).values() for c in {c for _, c in ev}
        if c.startswith(COND + "|")).most_common(6)]
    docs = [{"cohort": {"all": [{"code": c}]}, "by": [by]} for c in conds
            for by in ("sex", "age_group", "state")]
    for doc in [{"by": ["age_group"]}, {"by": ["state"]}] + docs:
        e = exact(run, doc)
        small = [i for i, c in enumerate(e["cells"]) if 1 <= c["patients"] <= MIN_CELL]
        if len(small) != 1 or e["patients"] <= MIN_CELL:
            continue
        i = small[0]
        base = threshold_only(e)
        a = ask(run, doc)
        # suppressed; a complement only where the rounded total and strata would
        # still pin it (rounding alone often leaves enough doubt)
        assert a["cells"][i]["suppressed"], a
        report("strata vs total (%s)" % doc["by"][0], e["cells"][i]["patients"],
               line_attack(base, [c["patients"] for c in base["cells"]], base["patients"], i),
               line_attack(a, [c["patients"] for c in a["cells"]], a["patients"], i))
        return
    pytest.fail("no answer with exactly one small stratum: the test proves nothing")


def test_bins_vs_total(run):
    """A distribution where every patient's values fall in one bin, the top bin
    holding a few patients: the total minus the other bins."""
    truth = run["truth"]
    labs = collections.Counter(v[2] for v in truth["values"]).most_common(8)
    for lab, _ in labs:
        per_patient = {}
        for v in truth["values"]:
            if v[2] == lab:
                per_patient.setdefault((v[0], v[1]), []).append(v[4])
        lo = min(min(vs) for vs in per_patient.values())
        hi = max(max(vs) for vs in per_patient.values()) + 1
        for edge in sorted({x for vs in per_patient.values() for x in vs}):
            above = [vs for vs in per_patient.values() if max(vs) >= edge]
            if 1 <= len(above) <= MIN_CELL and all(min(vs) >= edge for vs in above) \
                    and len(per_patient) - len(above) > MIN_CELL:
                break
        else:
            continue
        doc = {"cohort": {"all": [{"code": lab}]},
               "measure": {"kind": "distribution", "code": lab, "bins": [lo, edge, hi]}}
        e = exact(run, doc)
        if sum(b["patients"] for b in e["bins"]) != e["patients"]:
            continue  # someone with the lab but no value in a bin
        a = ask(run, doc)
        assert a["bins"][1]["suppressed"], a
        base = threshold_only(e)
        report("bins vs total", e["bins"][1]["patients"],
               line_attack(base, [b["patients"] for b in base["bins"]], base["patients"], 1),
               line_attack(a, [b["patients"] for b in a["bins"]], a["patients"], 1))
        return
    pytest.fail("no lab with a small top bin: the test proves nothing")


def two_way_attack(t, rows, cols, dims):
    """Intervals of every cell of t (by dims[0] x dims[1]) from the one-way answers
    rows (by dims[0]) and cols (by dims[1]) and the total, propagated along every
    line until nothing changes."""
    r_, c_ = dims
    iv = {(c[r_], c[c_]): unknown(c["patients"], t) for c in t["cells"]}
    lines = [([k for k in iv if k[0] == r[r_]], unknown(r["patients"], rows))
             for r in rows["cells"]]
    lines += [([k for k in iv if k[1] == c[c_]], unknown(c["patients"], cols))
              for c in cols["cells"]]
    lines.append((list(iv), unknown(t["patients"], t)))
    for _ in range(50):
        changed = False
        for ks, m in lines:
            for k in ks:
                others = [iv[j] for j in ks if j != k]
                new = (max(iv[k][0], m[0] - sum(o[1] for o in others)),
                       min(iv[k][1], m[1] - sum(o[0] for o in others)))
                if new != iv[k]:
                    iv[k], changed = new, True
        if not changed:
            break
    return iv


def test_two_way_vs_margins(run):
    """A two-way table against the one-way answers of the same cohort."""
    code, _ = big_condition(run)
    for dims in (("sex", "age_group"), ("sex", "state"), ("age_group", "state")):
        for cohort in ({}, {"all": [{"code": code}]}):
            docs = [{"cohort": cohort, "by": list(dims)}, {"cohort": cohort, "by": [dims[0]]},
                    {"cohort": cohort, "by": [dims[1]]}]
            e2, er, ec = (exact(run, d) for d in docs)
            base = two_way_attack(threshold_only(e2), threshold_only(er), threshold_only(ec),
                                  dims)
            pinned = [c for c in e2["cells"] if 1 <= c["patients"] <= MIN_CELL
                      and base[(c[dims[0]], c[dims[1]])] == (c["patients"], c["patients"])]
            if not pinned:
                continue
            released = [ask(run, d) for d in docs]
            got = two_way_attack(*released, dims)
            for c in pinned:
                k = (c[dims[0]], c[dims[1]])
                # a table no suppression protects is withheld whole: nothing to attack
                assert k in got or released[0].get("cells_withheld"), (k, released[0])
                report("two-way %s/%s vs margins%s"
                       % (k + (" (withheld)" if k not in got else "",)),
                       c["patients"], base[k], got.get(k, (1, BIG)))
            return
    pytest.fail("no two-way cell the margins give away: the test proves nothing")


def test_dp_averaging_until_refused(run):
    """Role dp: the window trick asked again and again, averaged; the budget ends it."""
    a, b = narrow_window_pair(run)
    truth = exact(run, a)["patients"] - exact(run, b)["patients"]
    got = {"a": [], "b": []}
    spent = []
    refused = None
    for i in range(100):
        which = "a" if i % 2 == 0 else "b"
        r = ask(run, a if which == "a" else b, "--role", "dp", ok=False)
        if r.rc != 0:
            refused = r
            break
        ans = r.json()
        assert ans["disclosure"]["role"] == "dp" and "records" not in ans
        spent.append((ans["epsilon"]["spent"], ans["epsilon"]["left"]))
        got[which].append(ans["patients"])
    n = int(round(DP_BUDGET / DP_EPSILON))
    assert refused is not None and len(spent) == n, (len(spent), refused)
    assert "spent its privacy budget" in refused.err and "epsilon spent 5 of 5" in refused.err, \
        refused
    assert [s for s, _ in spent] == pytest.approx([DP_EPSILON * (k + 1) for k in range(n)])
    assert spent[-1][1] == pytest.approx(0)
    k = min(len(got["a"]), len(got["b"]))
    est = sum(got["a"][:k]) / k - sum(got["b"][:k]) / k
    alpha = math.exp(-DP_EPSILON)
    sd = math.sqrt(2 * alpha) / (1 - alpha) * math.sqrt(2 / k)
    iv = (math.ceil(est - 1.96 * sd), math.floor(est + 1.96 * sd))
    # what the attacker can claim at 95 %: every integer of the interval (its width is
    # fixed by epsilon, the budget and the noise: about 7 here, whatever the draws)
    cand = list(range(iv[0], iv[1] + 1))
    RESULTS.append("%-40s truth %2d | %d dp answers averaged: %.2f, 95%% interval %s, "
                   "%d candidates %s; then refused: %s"
                   % ("dp: averaging until refused", truth, 2 * k, est, list(iv), len(cand),
                      "RECOVERED" if len(cand) == 1 else "not recovered",
                      refused.err.strip()[:90]))
    assert len(cand) >= 5, (est, iv)
    stats = run["cluster"].stats()
    assert hg.counters(stats, "analytics", "dp_answers") == n, stats
    assert hg.counters(stats, "analytics", "dp_refused") == 1, stats
    # the budget is in analytics' store: a restart (SIGKILL, `cluster up` again) keeps it
    run["cluster"].kill9("analytics-0")
    run["cluster"].up(*UP)
    r = ask(run, a, "--role", "dp", ok=False)
    assert r.rc == 1 and "epsilon spent 5 of 5" in r.err, r
    # the aggregate role still answers
    assert ask(run, a)["disclosure"]["role"] == "aggregate"


def test_threshold_on_every_number(run):
    """Every kind: every count shown is 0 or rounded, and some are suppressed."""
    code, _ = big_condition(run)
    lab = collections.Counter(v[2] for v in run["truth"]["values"]).most_common(1)[0][0]
    docs = [{"by": ["sex", "age_group"], "measure": {"kind": "records"}},
            {"measure": {"kind": "series", "code": code, "interval": "month"}},
            {"measure": {"kind": "top", "of": "condition", "n": 50}},
            {"by": ["state"], "measure": {"kind": "prevalence", "per": 1000}},
            {"measure": {"kind": "distribution", "code": lab, "bins": [0, 50, 100, 1000]}}]
    seen_null = 0
    for doc in docs:
        ans = ask(run, doc)

        def walk(o):
            nonlocal seen_null
            if isinstance(o, dict):
                for k, v in o.items():
                    if k in ("patients", "records", "denominator"):
                        if v is None:
                            seen_null += 1
                        else:
                            # 0, or a multiple of round_to (10 stands for 11..14)
                            assert v == 0 or (v >= ROUND_TO and v % ROUND_TO == 0), (doc, k, v)
                    elif k != "disclosure":
                        walk(v)
            elif isinstance(o, list):
                for x in o:
                    walk(x)
        walk(ans)
    assert seen_null > 0


def test_exact_and_dp_refusals(run):
    """Only the operator may lower the threshold (here: without CurveZMQ every caller
    is; test_control_auth covers the key's role); dp refuses unbounded measures."""
    r = ask(run, {"measure": {"kind": "records"}}, "--role", "dp", ok=False)
    assert r.rc == 1 and "dp role" in r.err, r
    r = ask(run, {"by": ["year"]}, "--role", "dp", ok=False)
    assert r.rc == 1 and "by year" in r.err, r
    r = ask(run, {}, "--role", "nobody", ok=False)
    assert r.rc == 1 and "aggregate or dp" in r.err, r


def test_secure_cluster_budget_is_the_keys(tmp_path):
    """Under CurveZMQ the analyst is the caller's key (operator:operator here): its
    budget, its refusal; the exact answer is the operator key's to ask."""
    c = hg.Cluster(tmp_path / "secure")
    saved = os.environ.get("HOURGLASS_DP_BUDGET")
    os.environ["HOURGLASS_DP_BUDGET"] = "1"
    try:
        c.up("--secure", "--heartbeat-ms", "200", "--compression", "none")
        doc = tmp_path / "q.json"
        doc.write_text(json.dumps({"by": ["sex"]}))
        base = ("query", "run", "--cluster", c.dir, "--file", str(doc), "--json")
        for k in (1, 2):
            r = hg.run(*base, "--role", "dp", timeout=60)
            assert r.rc == 0, r
            assert r.json()["epsilon"]["spent"] == pytest.approx(DP_EPSILON * k), r
        r = hg.run(*base, "--role", "dp", timeout=60)
        assert r.rc == 1 and "analyst 'operator:operator' has spent its privacy budget" in r.err, r
        r = hg.run(*base, "--min-cell", "0", timeout=60)
        assert r.rc == 0 and r.json()["disclosure"]["role"] == "exact", r
    finally:
        if saved is None:
            os.environ.pop("HOURGLASS_DP_BUDGET", None)
        else:
            os.environ["HOURGLASS_DP_BUDGET"] = saved
        c.teardown()
