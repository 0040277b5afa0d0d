/*
 * app.js -- the analysts' page (services/analytics/web/index.html), served by
 * analytics at GET / under "Content-Security-Policy: default-src 'self'":
 * no inline script, nothing from elsewhere, no framework.
 *
 * The analyst's bearer token is kept in sessionStorage only (this tab) and
 * sent only to this origin's API (POST /v1/query, GET /v1/codes). The form
 * becomes the query document of docs/analytics.md, shown as the analyst
 * edits; the answer is drawn as it says: a table of its cells, bins, periods
 * or top codes, and an SVG chart (bars for strata and top codes, a histogram
 * for a distribution, a line for a series). A count the answer withholds
 * (null, "suppressed": true) is marked "suppressed" in the table (class
 * suppressed) and in the chart. Every string from the API reaches the page as
 * text (textContent), never as markup.
 */
(function () {
  'use strict';

  var TOKEN_KEY = 'hourglass.analytics.token';
  var SVG_NS = 'http://www.w3.org/2000/svg';
  var COUNT_KEYS = ['patients', 'records', 'denominator', 'rate'];
  var NOT_KEYS = COUNT_KEYS.concat(['suppressed', 'per']);
  var LABELS = {
    sex: 'Sex', age_group: 'Age group', state: 'State', year: 'Year', month: 'Month',
    encounter_class: 'Encounter class', patients: 'Patients', records: 'Records',
    denominator: 'Denominator', rate: 'Rate', period: 'Period', code: 'Code', bin: 'Bin'
  };

  function $(id) { return document.getElementById(id); }

  /* An element with attributes ("text" sets textContent) and children. */
  function make(ns, tag, attrs, children) {
    var e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) { return; }
      if (k === 'text') { e.textContent = String(v); } else { e.setAttribute(k, String(v)); }
    });
    (children || []).forEach(function (c) {
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return e;
  }
  function el(tag, attrs, children) { return make(null, tag, attrs, children); }
  function svg(tag, attrs, children) { return make(SVG_NS, tag, attrs, children); }
  function clear(e) { while (e.firstChild) { e.removeChild(e.firstChild); } }

  /* ---- the token ------------------------------------------------------------ */

  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
  }

  function showTokenState() {
    $('token-state').textContent = token()
      ? 'A token is set for this tab.'
      : 'No token set: enter yours to ask questions.';
  }

  function useToken(ev) {
    ev.preventDefault();
    var t = $('token').value.trim();
    $('token').value = '';
    if (!t) {
      $('token-state').textContent = 'Enter a token first.';
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, t);
    showTokenState();
  }

  function forgetToken() {
    sessionStorage.removeItem(TOKEN_KEY);
    $('token').value = '';
    showTokenState();
  }

  /* ---- the API ---------------------------------------------------------------- */

  function ApiError(status, message) {
    this.status = status;
    this.message = message;
  }

  /* The parsed JSON of a 2xx answer; else throws ApiError with the API's words. */
  function api(method, path, body) {
    var t = token();
    if (!t) {
      return Promise.reject(new ApiError(0, 'No token: enter your bearer token under ' +
                                            '"1. Your token" first.'));
    }
    var init = { method: method, cache: 'no-store', credentials: 'omit',
                 referrerPolicy: 'no-referrer', headers: { Authorization: 'Bearer ' + t } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = body;
    }
    return fetch(path, init).then(function (resp) {
      return resp.text().then(function (text) {
        var data = null;
        try { data = JSON.parse(text); } catch (e) { data = null; }
        if (!resp.ok) {
          throw new ApiError(resp.status, data && typeof data.error === 'string'
            ? data.error : 'HTTP ' + resp.status + ' ' + resp.statusText);
        }
        if (!data || typeof data !== 'object') {
          throw new ApiError(resp.status, 'the answer is not JSON');
        }
        return data;
      });
    }, function (e) {
      throw new ApiError(0, 'Analytics cannot be reached (' + e.message +
                            '): is the service running?');
    });
  }

  function describe(e) {
    if (!(e instanceof ApiError)) {
      return 'Something went wrong on this page: ' + (e && e.message ? e.message : e);
    }
    switch (e.status) {
      case 0: return e.message;
      case 400: return 'Analytics refused the request (400): ' + e.message;
      case 401: return 'Your token was not accepted (401): ' + e.message;
      case 413: return 'The document is too large (413): ' + e.message;
      case 503: return 'Analytics cannot answer now (503): ' + e.message;
      case 504: return 'No answer in time (504): ' + e.message;
      default: return 'Analytics answered ' + e.status + ': ' + e.message;
    }
  }

  /* ---- numbers ----------------------------------------------------------------- */

  function fmt(v) {
    if (v === null) { return 'suppressed'; }
    if (v === undefined) { return '—'; }
    if (typeof v !== 'number') { return String(v); }
    if (Number.isInteger(v)) { return String(v); }
    return Math.abs(v) >= 1 ? String(+v.toFixed(2)) : String(+v.toPrecision(3));
  }

  /* ---- the cohort's criteria --------------------------------------------------- */

  var critSeq = 0;

  function part(id, label, input) {
    input.id = id;
    return el('span', { class: 'part' }, [el('label', { for: id, text: label }), input]);
  }

  /* Adds a criterion row to list ("all", "any", "none"), filled from init. */
  function addCriterion(list, init) {
    init = init || {};
    var n = ++critSeq;
    var id = function (s) { return 'crit' + n + '-' + s; };
    var match = el('select', { class: 'c-match', name: 'match' }, [
      el('option', { value: 'code', text: 'the code' }),
      el('option', { value: 'prefix', text: 'any code starting with' })]);
    match.value = init.prefix ? 'prefix' : 'code';
    var code = el('input', { class: 'c-code', type: 'text', spellcheck: 'false',
                             placeholder: 'http://hl7.org/fhir/sid/icd-10-cm|E11' });
    code.value = init.prefix || init.code || '';
    var from = el('input', { class: 'c-from', type: 'date' });
    var to = el('input', { class: 'c-to', type: 'date' });
    var gte = el('input', { class: 'c-gte', type: 'number', step: 'any' });
    var lt = el('input', { class: 'c-lt', type: 'number', step: 'any' });
    var min = el('input', { class: 'c-min', type: 'number', min: '1', step: '1' });
    var after = el('input', { class: 'c-after', type: 'number', min: '1', step: '1',
                              'aria-describedby': 'after-hint' });
    var minDays = el('input', { class: 'c-min-days', type: 'number', step: '1' });
    var maxDays = el('input', { class: 'c-max-days', type: 'number', step: '1' });
    var remove = el('button', { type: 'button', class: 'c-remove', text: 'Remove',
                                'aria-label': 'Remove this criterion from "' + list + '"' });
    var li = el('li', { class: 'crit', 'data-list': list }, [
      part(id('match'), 'Match', match), part(id('code'), 'Code', code),
      part(id('from'), 'dated from', from), part(id('to'), 'to', to),
      part(id('gte'), 'value ≥', gte), part(id('lt'), 'value <', lt),
      part(id('min'), 'at least (records)', min),
      part(id('after'), 'after "all" no.', after), part(id('min-days'), 'by days from', minDays),
      part(id('max-days'), 'to', maxDays), remove]);
    remove.addEventListener('click', function () {
      li.parentNode.removeChild(li);
      updateDoc();
    });
    document.querySelector('fieldset[data-list="' + list + '"] .crit-list').appendChild(li);
    updateDoc();
    return li;
  }

  /* ---- the document -------------------------------------------------------------- */

  /* The number typed in an <input type=number>, undefined when empty; a
   * problem when the browser holds something that is not a number. */
  function numberOf(input, what, problems) {
    if (input.validity && input.validity.badInput) {
      problems.push(what + ' is not a number');
      return undefined;
    }
    var s = input.value.trim();
    return s === '' ? undefined : Number(s);
  }

  function dateOf(input, what, problems) {
    if (input.validity && input.validity.badInput) {
      problems.push(what + ' is not a whole date');
      return undefined;
    }
    return input.value || undefined;
  }

  function criterionOf(li, where, problems) {
    var c = {};
    var code = li.querySelector('.c-code').value.trim();
    if (code === '') {
      problems.push(where + ': enter a code (SYSTEM|CODE) or remove the criterion');
    } else {
      c[li.querySelector('.c-match').value] = code;
    }
    var from = dateOf(li.querySelector('.c-from'), where + ' "from"', problems);
    var to = dateOf(li.querySelector('.c-to'), where + ' "to"', problems);
    if (from) { c.from = from; }
    if (to) { c.to = to; }
    var gte = numberOf(li.querySelector('.c-gte'), where + ' "value ≥"', problems);
    var lt = numberOf(li.querySelector('.c-lt'), where + ' "value <"', problems);
    if (gte !== undefined || lt !== undefined) {
      c.value = {};
      if (gte !== undefined) { c.value.gte = gte; }
      if (lt !== undefined) { c.value.lt = lt; }
    }
    var min = numberOf(li.querySelector('.c-min'), where + ' "at least"', problems);
    if (min !== undefined) { c.min_count = min; }
    /* "after" names a criterion of "all" by its number in the list (1, 2, ...);
     * the document counts from 0 */
    var after = numberOf(li.querySelector('.c-after'), where + ' "after"', problems);
    var minDays = numberOf(li.querySelector('.c-min-days'), where + ' "days from"', problems);
    var maxDays = numberOf(li.querySelector('.c-max-days'), where + ' "days to"', problems);
    if (after !== undefined) {
      c.after = { criterion: after - 1 };
      if (minDays !== undefined) { c.after.min_days = minDays; }
      if (maxDays !== undefined) { c.after.max_days = maxDays; }
    } else if (minDays !== undefined || maxDays !== undefined) {
      problems.push(where + ': days after which criterion? Fill "after "all" no."');
    }
    return c;
  }

  function checked(name) {
    return Array.prototype.map.call(
      document.querySelectorAll('input[name="' + name + '"]:checked'),
      function (i) { return i.value; });
  }

  function measureOf(problems) {
    var kind = $('m-kind').value;
    var m = { kind: kind };
    var code = $('m-code').value.trim();
    if (kind === 'records' && $('m-records-of').value) {
      m.of = $('m-records-of').value;
    }
    if (kind === 'distribution' || kind === 'series') {
      if (!code) {
        problems.push('measure: enter the code whose ' +
                      (kind === 'series' ? 'records make the series' : 'values to count'));
      }
      m.code = code;
    }
    if (kind === 'distribution') {
      var words = $('m-bins').value.split(/[\s,;]+/).filter(function (w) { return w !== ''; });
      m.bins = words.map(function (w) {
        var v = Number(w);
        if (!Number.isFinite(v)) { problems.push('bin edges: "' + w + '" is not a number'); }
        return Number.isFinite(v) ? v : w;
      });
      if (m.bins.length < 2) { problems.push('bin edges: give at least two, e.g. 4, 5.7, 6.5'); }
    }
    if (kind === 'series') {
      m.interval = $('m-interval').value;
      if ($('m-incidence').checked) { m.incidence = true; }
    }
    if (kind === 'prevalence') {
      var per = numberOf($('m-per'), 'measure "per"', problems);
      if (per !== undefined) { m.per = per; }
    }
    if (kind === 'top') {
      m.of = $('m-top-of').value;
      var n = numberOf($('m-top-n'), 'measure "how many"', problems);
      if (n !== undefined) { m.n = n; }
    }
    return m;
  }

  /* {doc, problems}: the query document the form says, and what keeps it from
   * being sent (in words). */
  function buildDocument() {
    var problems = [];
    var doc = {};
    var cohort = {};
    ['all', 'any', 'none'].forEach(function (list) {
      var items = [];
      document.querySelectorAll('li.crit[data-list="' + list + '"]').forEach(function (li, i) {
        items.push(criterionOf(li, 'cohort.' + list + '[' + i + ']', problems));
      });
      if (items.length) { cohort[list] = items; }
    });
    var sex = checked('sex');
    if (sex.length) { cohort.sex = sex; }
    var from = numberOf($('age-from'), 'age "from"', problems);
    var to = numberOf($('age-to'), 'age "to"', problems);
    if (from !== undefined || to !== undefined) {
      cohort.age = {};
      if (from !== undefined) { cohort.age.from = from; }
      if (to !== undefined) { cohort.age.to = to; }
    }
    if (Object.keys(cohort).length) { doc.cohort = cohort; }
    var by = checked('by');
    if (by.length) { doc.by = by; }
    doc.measure = measureOf(problems);
    return { doc: doc, problems: problems };
  }

  function updateDoc() {
    var kind = $('m-kind').value;
    document.querySelectorAll('.m-field').forEach(function (f) {
      f.hidden = f.getAttribute('data-kinds').split(' ').indexOf(kind) < 0;
    });
    $('doc').textContent = JSON.stringify(buildDocument().doc, null, 2);
    $('doc-copied').textContent = '';
  }

  function copyDoc() {
    var text = $('doc').textContent;
    var done = function () { $('doc-copied').textContent = 'Copied.'; };
    var failed = function () {
      var range = document.createRange();
      range.selectNodeContents($('doc'));
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      $('doc-copied').textContent = 'Selected: press Ctrl+C to copy.';
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, failed);
    } else {
      failed();
    }
  }

  /* ---- finding codes ------------------------------------------------------------------ */

  function countCell(v, extra) {
    var td = el('td', { class: 'num' + (v === null ? ' suppressed' : '') +
                        (extra ? ' ' + extra : ''), text: fmt(v) });
    return td;
  }

  function renderCodes(a) {
    var table = $('codes-table');
    var body = table.querySelector('tbody');
    clear(body);
    (a.codes || []).forEach(function (c) {
      var use = el('td', { class: 'use' });
      ['all', 'any', 'none'].forEach(function (list) {
        var b = el('button', { type: 'button', class: 'use-' + list, text: list,
                               'aria-label': 'Add ' + c.code + ' to "' + list + '"' });
        b.addEventListener('click', function () { addCriterion(list, { code: c.code }); });
        use.appendChild(b);
      });
      var m = el('button', { type: 'button', class: 'use-measure', text: 'measure',
                             'aria-label': 'Use ' + c.code + ' for the measure' });
      m.addEventListener('click', function () {
        $('m-code').value = c.code;
        if (['distribution', 'series'].indexOf($('m-kind').value) < 0) {
          $('m-kind').value = 'distribution';
        }
        updateDoc();
      });
      use.appendChild(m);
      body.appendChild(el('tr', { class: c.suppressed ? 'suppressed' : null }, [
        el('th', { scope: 'row', text: c.code }), countCell(c.patients),
        countCell(c.records), use]));
    });
    table.hidden = !(a.codes && a.codes.length);
    var n = (a.codes || []).length;
    $('codes-status').textContent = (n ? n + (n === 1 ? ' code' : ' codes') : 'No code') +
      ' under "' + a.prefix + '"' + (a.truncated ? ' (the first ' + n +
      ': narrow the prefix to see the others)' : '') + '. Audit id ' + a.audit_id + '.';
  }

  function findCodes(ev) {
    ev.preventDefault();
    var prefix = $('codes-prefix').value.trim();
    var status = $('codes-status');
    status.classList.remove('error');
    if (!prefix) {
      status.textContent = 'Enter a code or a prefix first, e.g. E11.';
      return;
    }
    status.textContent = 'Looking for codes under "' + prefix + '"…';
    api('GET', '/v1/codes?prefix=' + encodeURIComponent(prefix)).then(renderCodes, function (e) {
      $('codes-table').hidden = true;
      status.classList.add('error');
      status.textContent = describe(e);
    });
  }

  /* ---- the chart ----------------------------------------------------------------------- */

  var W = 760, H = 320, M = { l: 60, r: 16, t: 18, b: 84 };
  var PW = W - M.l - M.r, PH = H - M.t - M.b;

  /* The axis' top: 1, 2, 2.5 or 5 times a power of ten, at least v; at least 5
   * for counts (so that the five ticks are whole numbers). */
  function niceMax(v, counts) {
    if (counts && v <= 5) { return 5; }
    if (!(v > 0)) { return 1; }
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * p >= v) { return steps[i] * p; }
    }
    return 10 * p;
  }

  function frame(title, desc) {
    var s = svg('svg', { class: 'chart', id: 'chart-svg', viewBox: '0 0 ' + W + ' ' + H,
                         role: 'img', 'aria-labelledby': 'chart-title',
                         'aria-describedby': 'chart-desc' }, [
      svg('title', { id: 'chart-title', text: title }),
      svg('desc', { id: 'chart-desc', text: desc })]);
    return s;
  }

  function yAxis(s, max, label) {
    var grid = svg('g', { class: 'grid' });
    var axis = svg('g', { class: 'axis' });
    for (var i = 0; i <= 5; i++) {
      var v = max * i / 5, y = M.t + PH - PH * i / 5;
      grid.appendChild(svg('line', { x1: M.l, x2: M.l + PW, y1: y, y2: y }));
      axis.appendChild(svg('text', { x: M.l - 6, y: y + 4, 'text-anchor': 'end', text: fmt(v) }));
    }
    axis.appendChild(svg('line', { x1: M.l, x2: M.l, y1: M.t, y2: M.t + PH }));
    axis.appendChild(svg('line', { x1: M.l, x2: M.l + PW, y1: M.t + PH, y2: M.t + PH }));
    axis.appendChild(svg('text', { x: 14, y: M.t + PH / 2, 'text-anchor': 'middle',
                                   transform: 'rotate(-90 14 ' + (M.t + PH / 2) + ')',
                                   text: label }));
    s.appendChild(grid);
    s.appendChild(axis);
  }

  function xLabel(s, x, text, rotate) {
    var y = M.t + PH + 14;
    s.appendChild(svg('text', { class: 'x-label', x: x, y: y,
                                'text-anchor': rotate ? 'end' : 'middle',
                                transform: rotate ? 'rotate(-40 ' + x + ' ' + y + ')' : null,
                                text: text.length > 22 ? text.slice(0, 21) + '…' : text }));
  }

  function maxOf(items) {
    return items.reduce(function (m, it) {
      return typeof it.value === 'number' && it.value > m ? it.value : m;
    }, 0);
  }

  /* Bars, one g.bar per item ({label, value: number or null}); a null value is
   * a g.bar.suppressed dashed column marked "suppressed" (past 30 bars, a
   * dashed stub on the axis, named in its title). contiguous: a histogram,
   * edges the n + 1 numbers between the bins, each bar as wide as its bin. */
  function bars(items, o) {
    var s = frame(o.title, o.desc);
    var max = niceMax(maxOf(items), o.yLabel !== 'rate');
    yAxis(s, max, o.yLabel);
    var step = PW / Math.max(items.length, 1);
    var bw = o.contiguous ? Math.max(step - 1, 1) : Math.max(step * 0.72, 1);
    var rotate = !o.contiguous && (items.length > 8 ||
      items.some(function (it) { return it.label.length > 10; }));
    var every = Math.ceil(items.length / 40);
    var dense = items.length > 30; /* a suppressed bar: a dashed stub on the axis */
    var g = svg('g', { class: 'bars' });
    var lo = o.edges ? o.edges[0] : 0, span = o.edges ? o.edges[o.edges.length - 1] - lo : 0;
    var edgeX = function (i) {
      return span > 0 ? M.l + PW * (o.edges[i] - lo) / span : M.l + i * step;
    };
    items.forEach(function (it, i) {
      var x = M.l + i * step + (step - bw) / 2;
      if (o.contiguous) {
        x = edgeX(i);
        bw = Math.max(edgeX(i + 1) - x - 1, 1);
      }
      var supp = it.value === null || it.value === undefined;
      var bar = svg('g', { class: supp ? 'bar suppressed' : 'bar', 'data-label': it.label,
                           'data-value': supp ? 'suppressed' : it.value },
                    [svg('title', { text: it.label + ': ' + fmt(it.value) })]);
      if (supp && !dense) {
        bar.appendChild(svg('rect', { x: x, y: M.t, width: bw, height: PH }));
        var cx = x + bw / 2, cy = M.t + PH / 2;
        bar.appendChild(svg('text', { class: 'mark', x: cx, y: cy + 4, 'text-anchor': 'middle',
                                      transform: 'rotate(-90 ' + cx + ' ' + cy + ')',
                                      text: 'suppressed' }));
      } else if (supp) {
        bar.appendChild(svg('rect', { x: x, y: M.t + PH - 8, width: bw, height: 8 }));
      } else {
        var h = PH * it.value / max;
        bar.appendChild(svg('rect', { x: x, y: M.t + PH - h, width: bw, height: h }));
        if (items.length <= 24) {
          bar.appendChild(svg('text', { class: 'value', x: x + bw / 2, y: M.t + PH - h - 3,
                                        'text-anchor': 'middle', text: fmt(it.value) }));
        }
      }
      g.appendChild(bar);
      if (!o.contiguous && i % every === 0) { xLabel(s, x + bw / 2, it.label, rotate); }
    });
    s.appendChild(g);
    if (o.contiguous && o.edges) {
      var lastX = -Infinity;
      o.edges.forEach(function (e, i) {
        var x = edgeX(i);
        if (x - lastX >= 28 || i === o.edges.length - 1) {
          xLabel(s, x, fmt(e), false);
          lastX = x;
        }
      });
    }
    return s;
  }

  /* A line through the shown points, broken where a period is suppressed; one
   * circle.point per period, a suppressed one hollow on the axis. */
  function line(items, o) {
    var s = frame(o.title, o.desc);
    var max = niceMax(maxOf(items), true);
    yAxis(s, max, o.yLabel);
    var step = PW / Math.max(items.length, 1);
    var every = Math.ceil(items.length / 30);
    var rotate = items.length > 12;
    var run = [];
    var lines = svg('g', { class: 'lines' });
    var points = svg('g', { class: 'points' });
    var flush = function () {
      if (run.length > 1) {
        lines.appendChild(svg('polyline', { class: 'line', points: run.join(' ') }));
      }
      run = [];
    };
    items.forEach(function (it, i) {
      var x = M.l + (i + 0.5) * step;
      var supp = it.value === null || it.value === undefined;
      var y = supp ? M.t + PH : M.t + PH - PH * it.value / max;
      if (supp) { flush(); } else { run.push(x.toFixed(1) + ',' + y.toFixed(1)); }
      points.appendChild(svg('circle', {
        class: supp ? 'point suppressed' : 'point', cx: x, cy: y, r: supp ? 4 : 3.5,
        'data-label': it.label, 'data-value': supp ? 'suppressed' : it.value
      }, [svg('title', { text: it.label + ': ' + fmt(it.value) })]));
      if (i % every === 0) { xLabel(s, x, it.label, rotate); }
    });
    flush();
    s.appendChild(lines);
    s.appendChild(points);
    return s;
  }

  /* ---- the answer ---------------------------------------------------------------------- */

  function showError(text) {
    $('error').textContent = text;
    $('error').hidden = false;
  }

  function hideError() {
    $('error').hidden = true;
    $('error').textContent = '';
  }

  function summaryRow(dl, term, value, id) {
    var supp = value === null;
    dl.appendChild(el('dt', { text: term }));
    dl.appendChild(el('dd', { id: id, class: supp ? 'suppressed' : null, text: fmt(value) }));
  }

  function keyColumns(rows, by) {
    var keys = (by || []).slice();
    rows.forEach(function (r) {
      Object.keys(r).forEach(function (k) {
        if (NOT_KEYS.indexOf(k) < 0 && keys.indexOf(k) < 0 && typeof r[k] !== 'object' &&
            typeof r[k] !== 'boolean') {
          keys.push(k);
        }
      });
    });
    return keys;
  }

  function countColumns(rows) {
    return COUNT_KEYS.filter(function (k) {
      return rows.some(function (r) { return k in r; });
    });
  }

  /* The table: one row per entry; key columns (the first a row header), then
   * the counts, a null count as a "suppressed" mark. */
  function renderTable(caption, keys, label, counts, rows) {
    var t = $('result');
    $('result-caption').textContent = caption;
    var head = t.querySelector('thead'), body = t.querySelector('tbody');
    clear(head);
    clear(body);
    head.appendChild(el('tr', {}, keys.concat(counts).map(function (k) {
      return el('th', { scope: 'col', text: LABELS[k] || k });
    })));
    rows.forEach(function (r) {
      var tr = el('tr', { class: r.suppressed === true ? 'suppressed' : null });
      keys.forEach(function (k, i) {
        var v = label(r, k);
        tr.appendChild(el(i === 0 ? 'th' : 'td', { scope: i === 0 ? 'row' : null, text: v }));
      });
      counts.forEach(function (k) { tr.appendChild(countCell(r[k])); });
      body.appendChild(tr);
    });
    t.hidden = false;
  }

  function measureValueKey(kind) {
    return kind === 'records' ? 'records' : kind === 'prevalence' ? 'rate' : 'patients';
  }

  function renderAnswer(doc, a) {
    var kind = a.measure || (doc.measure && doc.measure.kind) || 'patients';
    $('answer').hidden = false;
    var dl = $('summary');
    clear(dl);
    summaryRow(dl, 'Audit id', a.audit_id, 'audit-id');
    dl.appendChild(el('dt', { text: 'Measure' }));
    dl.appendChild(el('dd', { id: 'answer-measure', text: kind }));
    if ('patients' in a) { summaryRow(dl, 'Patients (the cohort)', a.patients, 'total-patients'); }
    if ('records' in a) { summaryRow(dl, 'Records', a.records, 'total-records'); }
    if ('denominator' in a) { summaryRow(dl, 'Denominator', a.denominator, 'total-denominator'); }
    if ('rate' in a) {
      summaryRow(dl, 'Rate per ' + fmt(a.per !== undefined ? a.per : ''), a.rate, 'total-rate');
    }
    if (a.epsilon && typeof a.epsilon === 'object') {
      dl.appendChild(el('dt', { text: 'Privacy budget (ε)' }));
      dl.appendChild(el('dd', { id: 'epsilon', text: 'spent ' + fmt(a.epsilon.spent) +
                                ', left ' + fmt(a.epsilon.left) }));
    } else if (typeof a.epsilon === 'number') {
      summaryRow(dl, 'ε spent', a.epsilon, 'epsilon');
    }
    if (a.disclosure && typeof a.disclosure === 'object') {
      dl.appendChild(el('dt', { text: 'Released as' }));
      dl.appendChild(el('dd', { id: 'disclosure', text: Object.keys(a.disclosure).map(
        function (k) { return k + ' ' + fmt(a.disclosure[k]); }).join(', ') }));
    }
    if ('shards' in a) { summaryRow(dl, 'Shards', a.shards, 'shards'); }

    var notes = $('notes');
    clear(notes);
    Object.keys(a).forEach(function (k) {
      var m = /^(.*)_withheld$/.exec(k);
      if (m && a[k] === true) {
        notes.appendChild(el('li', { class: 'withheld', text: 'The ' + m[1] + ' are withheld ' +
          'whole: showing any of them would give a suppressed count away.' }));
      }
    });
    var dc = a.disclosure && typeof a.disclosure === 'object' ? a.disclosure : {};
    if (typeof dc.round_to === 'number' && dc.round_to > 1) {
      notes.appendChild(el('li', { class: 'rounded', text: 'Counts are rounded to the nearest ' +
        'multiple of ' + fmt(dc.round_to) + ' (never to 0: a 0 is no patient).' }));
    }
    if (typeof dc.complementary === 'number' && dc.complementary > 0) {
      notes.appendChild(el('li', { class: 'complementary', text: fmt(dc.complementary) +
        (dc.complementary === 1 ? ' number is' : ' numbers are') + ' suppressed so that no ' +
        'small count can be worked out from the totals (complementary suppression).' }));
    }
    if (dc.role === 'dp') {
      notes.appendChild(el('li', { class: 'dp', text: 'Counts carry random noise ' +
        '(differential privacy' + (typeof dc.epsilon === 'number' ? ', ε ' + fmt(dc.epsilon) +
        ' for this answer' : '') + '): asking again gives other numbers and spends more ' +
        'of your budget.' }));
    }
    var nsupp = JSON.stringify(a).split('"suppressed":true').length - 1;
    if (nsupp) {
      notes.appendChild(el('li', { text: nsupp + (nsupp === 1 ? ' number is' : ' numbers are') +
        ' suppressed (too few patients to show): marked "suppressed".' }));
    }

    var chart = $('chart');
    clear(chart);
    var figure = $('chart-figure');
    figure.hidden = false;
    var vk = measureValueKey(kind);
    if (Array.isArray(a.cells)) {
      var keys = keyColumns(a.cells, doc.by);
      var label = function (r) {
        return keys.map(function (k) { return r[k] === undefined ? '' : String(r[k]); })
          .join(' · ');
      };
      renderTable('Per stratum (' + keys.map(function (k) { return LABELS[k] || k; })
        .join(', ') + ')', keys, function (r, k) { return r[k] === undefined ? '' : String(r[k]); },
        countColumns(a.cells), a.cells);
      chart.appendChild(bars(a.cells.map(function (c) { return { label: label(c), value: c[vk] }; }),
        { title: (LABELS[vk] || vk) + ' per stratum',
          desc: 'A bar per stratum of ' + keys.join(', ') + '; a suppressed count is a ' +
                'dashed column marked suppressed.', yLabel: vk }));
      $('chart-caption').textContent = 'Bars: ' + vk + ' per stratum' + (a.cells.length > 30
        ? '; a suppressed stratum is a dashed stub on the axis.' : '.');
    } else if (Array.isArray(a.bins)) {
      var bl = function (b) { return '[' + fmt(b.from) + ', ' + fmt(b.to) + ')'; };
      renderTable('Per bin (values from, to)', ['bin'], function (b) { return bl(b); },
        countColumns(a.bins), a.bins);
      var edges = a.bins.map(function (b) { return b.from; });
      if (a.bins.length) { edges.push(a.bins[a.bins.length - 1].to); }
      chart.appendChild(bars(a.bins.map(function (b) { return { label: bl(b), value: b.patients }; }),
        { title: 'Patients per bin of ' + ((doc.measure && doc.measure.code) || 'the value'),
          desc: 'A histogram: a bar per bin [from, to); a suppressed bin is a dashed column ' +
                'marked suppressed.', yLabel: 'patients', contiguous: true, edges: edges }));
      $('chart-caption').textContent = 'Histogram: patients with a value in each bin.';
    } else if (Array.isArray(a.series)) {
      renderTable('Per period', ['period'], function (p) { return String(p.period); },
        countColumns(a.series), a.series);
      chart.appendChild(line(a.series.map(function (p) {
        return { label: String(p.period), value: p.patients };
      }), { title: 'Patients per period',
            desc: 'A line over the periods; a suppressed period breaks the line and is a ' +
                  'hollow point on the axis.', yLabel: 'patients' }));
      $('chart-caption').textContent = 'Line: patients per ' +
        ((doc.measure && doc.measure.interval) || 'period') + '.';
    } else if (Array.isArray(a.top)) {
      renderTable('Top codes', ['code'], function (t) { return String(t.code); },
        countColumns(a.top), a.top);
      chart.appendChild(bars(a.top.map(function (t) {
        return { label: String(t.code).split('|').pop(), value: t.patients };
      }), { title: 'Patients per code', desc: 'A bar per code, most frequent first.',
            yLabel: 'patients' }));
      $('chart-caption').textContent = 'Bars: patients per code.';
    } else {
      $('result').hidden = true;
      figure.hidden = true;
    }
    $('answer-json').textContent = JSON.stringify(a, null, 2);
  }

  var asked = 0;

  function runQuery(ev) {
    ev.preventDefault();
    updateDoc();
    var built = buildDocument();
    if (built.problems.length) {
      showError('The query is not complete: ' + built.problems.join('; ') + '.');
      $('status').textContent = 'Not sent.';
      return;
    }
    hideError();
    var mine = ++asked;
    var started = performance.now();
    $('run').disabled = true;
    $('status').textContent = 'Asking every shard…';
    api('POST', '/v1/query', JSON.stringify(built.doc)).then(function (a) {
      if (mine !== asked) { return; }
      renderAnswer(built.doc, a);
      $('status').textContent = 'Answered in ' + Math.round(performance.now() - started) +
        ' ms by ' + a.shards + (a.shards === 1 ? ' shard' : ' shards') + '; audit id ' +
        a.audit_id + '.';
    }, function (e) {
      if (mine !== asked) { return; }
      $('answer').hidden = true;
      showError(describe(e));
      $('status').textContent = 'No answer.';
    }).then(function () {
      if (mine === asked) { $('run').disabled = false; }
    });
  }

  /* ---- start ----------------------------------------------------------------------------- */

  document.addEventListener('DOMContentLoaded', function () {
    $('token-form').addEventListener('submit', useToken);
    $('token-forget').addEventListener('click', forgetToken);
    $('codes-form').addEventListener('submit', findCodes);
    $('query-form').addEventListener('submit', runQuery);
    $('query-form').addEventListener('input', updateDoc);
    $('query-form').addEventListener('change', updateDoc);
    $('doc-copy').addEventListener('click', copyDoc);
    document.querySelectorAll('.crit-add').forEach(function (b) {
      b.addEventListener('click', function () {
        addCriterion(b.getAttribute('data-list')).querySelector('.c-code').focus();
      });
    });
    showTokenState();
    updateDoc();
    document.body.setAttribute('data-ready', 'true');
  });
}());
