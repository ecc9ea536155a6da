"""The live dashboard served at ``/``: one HTML page, inline CSS and JavaScript, plain SVG charts.

No build step, no CDN, no third-party code. The page polls the API's JSON endpoints (same
origin) every two seconds: ``/segments``, ``/api/overview``, ``/api/flows?minutes=N`` and
``/api/churn/recent?limit=20``. Every dimension present in ``/segments`` is drawn. All text is
inserted with ``textContent``/``setAttribute`` (never ``innerHTML``), so customer ids and
segment names (UTF-8, e.g. Chinese) cannot inject markup. If a poll fails an "offline" notice
shows and the last data stays on screen.

Hooks for tests and scrapers: ``body[data-updated]`` and ``meta[name=segstream-updated]`` hold
the ISO time of the last fully successful poll; header values are in ``#stream-clock``,
``#events-per-s``, ``#lag-total``, ``#dlq-total`` and ``#customers-total``; bar-chart counts are
``text[data-dimension][data-segment]``; flow-matrix cells are ``td[data-flow-dimension][data-from]
[data-to]`` (``data-from=""`` for customers new to the dimension); churn rows are
``#churn-table tr[data-customer]``; worker rows are ``#workers-table tr[data-worker]``;
dead-letter rows are ``#dlq-table tr[data-reason]``;
``window.segstream`` holds the last documents received (``seg``, ``ov``, ``flows``, ``churn``).
When the API has a token, the churn call answers 401: ``body.needs-token`` is set and
``#token-form`` (``#token-input``) asks for the token once; it is kept in ``sessionStorage``
for the tab and sent as ``Authorization: Bearer``, never in a URL or the page.
"""

from __future__ import annotations

from typing import Final

DASHBOARD_HTML: Final[str] = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="segstream-updated" content="">
<link rel="icon" href="data:,">
<title>segstream · live segments</title>
<style>
:root{--bg:#f5f6f8;--card:#fff;--ink:#1f2933;--muted:#6b7785;--line:#e2e6eb;--accent:#3d6fb6;--bad:#b83227;--ok:#2e7d4f}
*{box-sizing:border-box} [hidden]{display:none!important}
body{margin:0;color:var(--ink);background:var(--bg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
 "Noto Sans","Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif}
header{background:var(--card);border-bottom:1px solid var(--line);padding:12px 24px;display:flex;flex-wrap:wrap;
 gap:10px 32px;align-items:flex-end}
h1{font-size:18px;margin:0 8px 2px 0;font-weight:650} h1 small{font-weight:400;color:var(--muted);font-size:13px}
.kpi{display:flex;flex-direction:column;min-width:84px}
.kpi .label{font-size:11px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}
.kpi .value{font-size:20px;font-weight:600;font-variant-numeric:tabular-nums;white-space:nowrap}
.kpi .value.small{font-size:15px;padding-top:4px}
.status{margin-left:auto;font-size:12px;color:var(--muted);text-align:right}
.dot{display:inline-block;width:8px;height:8px;border-radius:50%;background:#aab3bd;margin-right:6px}
body.is-live .dot{background:var(--ok)} body.is-offline .dot{background:var(--bad)}
#offline{background:#fdecea;color:#7a1f16;border-bottom:1px solid #f3c4be;padding:8px 24px;font-weight:500}
main{padding:8px 24px 40px;max-width:1680px;margin:0 auto} body.is-offline main{opacity:.65}
.section-head{display:flex;flex-wrap:wrap;gap:4px 16px;align-items:baseline;margin:22px 0 8px}
h2{font-size:15px;margin:0;font-weight:600}
.grid{display:grid;grid-template-columns:minmax(0,1fr);gap:16px}
@media (min-width:1000px){.grid{grid-template-columns:repeat(2,minmax(0,1fr))}}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 16px;min-width:0}
.card h3{font-size:13px;margin:0 0 8px;font-weight:600;display:flex;flex-wrap:wrap;gap:4px 10px;align-items:baseline}
.muted{color:var(--muted);font-weight:400;font-size:12px}
svg.bars{width:100%;height:auto;display:block;max-width:760px}
svg.bars text{font-size:12px;fill:var(--ink)} svg.bars text.count{fill:var(--muted);font-variant-numeric:tabular-nums}
.bar{fill:var(--accent)} g:hover .bar{fill:#2c568f}
.scroll{overflow-x:auto}
details.names{margin-top:6px;font-size:12px}
details.names dl{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;margin:4px 0}
details.names dt{color:var(--muted)} details.names dd{margin:0}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:4px 8px;text-align:left;border-bottom:1px solid var(--line);white-space:nowrap}
th{font-size:11px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.03em}
.num{text-align:right} td.wrap{white-space:normal;min-width:180px}
table.matrix{width:auto} table.matrix td{text-align:center;border:1px solid var(--line);min-width:46px}
table.matrix th{text-transform:none;letter-spacing:0;border:1px solid var(--line);max-width:150px;overflow:hidden;
 text-overflow:ellipsis;text-align:center} table.matrix th.row{text-align:right}
table.matrix td.zero{color:#c5ccd4} table.matrix td.hot{color:#fff}
table.matrix td.diag{background:repeating-linear-gradient(45deg,#fafbfc 0 4px,#eef1f4 4px 8px)}
.badge{display:inline-block;padding:0 8px;border-radius:10px;font-size:12px}
.badge.high{background:#fdecea;color:var(--bad)} .badge.normal{background:#e7f3eb;color:var(--ok)}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
select{font:inherit;padding:1px 4px}
#eps-sparkline{vertical-align:-6px;margin-left:6px} .spark{fill:none;stroke:var(--accent);stroke-width:1.5}
.spark-area{fill:rgba(61,111,182,.12)}
.kpi .value.warn{color:var(--bad);font-size:16px}
</style></head>
<body>
<header>
 <h1>segstream <small>live segments</small></h1>
 <div class="kpi"><span class="label">Stream clock</span><time class="value small" id="stream-clock">–</time></div>
 <div class="kpi"><span class="label">Events/s</span><span class="value"><span id="events-per-s">–</span><svg
  id="eps-sparkline" width="120" height="28" viewBox="0 0 120 28" role="img"></svg></span></div>
 <div class="kpi"><span class="label">Consumer lag</span><span class="value" id="lag-total">–</span></div>
 <div class="kpi"><span class="label">Dead letters</span><span class="value" id="dlq-total">–</span></div>
 <div class="kpi"><span class="label">Customers</span><span class="value" id="customers-total">–</span></div>
 <div class="status"><div><span class="dot"></span><span id="status-text">connecting…</span></div>
  <div id="model-versions"></div></div>
</header>
<div id="offline" role="alert" hidden></div>
<main>
 <div class="section-head"><h2>Segments</h2><span class="muted">customers per segment, every dimension</span></div>
 <div class="grid" id="segments"><p class="muted">Loading…</p></div>
 <div class="section-head"><h2>Segment changes</h2>
  <label class="muted">last <select id="flow-minutes" aria-label="minutes of wall time"><option value="5">5</option>
   <option value="15" selected>15</option><option value="60">60</option></select> minutes</label>
  <span class="muted">rows: from · columns: to · “(entered)”: new in the dimension</span></div>
 <div class="grid" id="flows"><p class="muted">Loading…</p></div>
 <div class="section-head"><h2>Latest churn-risk events</h2><span class="muted">newest first</span>
  <form id="token-form" hidden><label class="muted">API token <input id="token-input" type="password"
   autocomplete="off" spellcheck="false"></label> <button type="submit">Use</button>
   <span id="token-msg" class="muted" role="status"></span></form></div>
 <div class="card scroll"><table id="churn-table"><thead><tr><th>Time</th><th>Customer</th><th class="num">Score</th>
  <th>Level</th><th>Top drivers</th><th>Value tier</th><th>Action</th></tr></thead>
  <tbody id="churn-body"></tbody></table>
 </div>
 <div class="grid" style="margin-top:16px">
  <div class="card"><h3>Dead letters <span class="muted">per reason</span></h3><table id="dlq-table"><thead><tr>
   <th>Reason</th><th class="num">Count</th></tr></thead><tbody id="dlq-body"></tbody></table></div>
  <div class="card"><h3>Pipeline <span class="muted">consumer lag per topic and partition; totals</span></h3>
   <table id="lag-table"><thead><tr><th>Topic</th><th>Partition: lag</th><th class="num">Total</th></tr></thead>
   <tbody id="lag-body"></tbody></table>
   <table id="workers-table" style="margin-top:12px"><thead><tr><th>Worker</th><th>Status</th>
   <th class="num">Partitions</th></tr></thead><tbody id="workers-body"></tbody></table>
   <table id="stats-table" style="margin-top:12px"><thead><tr><th>Counter</th><th class="num">Value</th></tr></thead>
   <tbody id="stats-body"></tbody></table></div>
  <div class="card"><h3>Model quality <span class="muted">the workers' scores graded against the next
   horizon: churned = no purchase or use in it</span></h3>
   <table id="grades-table"><thead><tr><th>Value model</th><th class="num">Graded</th><th class="num">AUC</th>
   <th class="num">Top-decile lift</th><th>Calibrated</th><th class="num">Value realised/predicted</th></tr></thead>
   <tbody id="grades-body"></tbody></table></div>
  <div class="card"><h3>Stability <span class="muted">volatility: (adds + drops) / size per hour, last hour;
   flip-backs: A &rarr; B &rarr; A within 24 event-hours</span></h3>
   <table id="stability-table"><thead><tr><th>Dimension</th><th class="num">Volatility/h</th><th class="num">Moves</th>
   <th class="num">Flip-backs</th><th class="num">Rate</th></tr></thead>
   <tbody id="stability-body"></tbody></table></div>
 </div>
</main>
<script>
'use strict';
const POLL_MS = 2000, SPARK_POINTS = 60, SVGNS = 'http://www.w3.org/2000/svg';
const DIM_ORDER = ['rfm', 'lifecycle', 'cluster', 'value', 'churn_risk'];  // order only: every dimension is drawn
const state = {seg: null, ov: null, flows: null, churn: null, models: null, eps: [], updated: null};
window.segstream = state;  // the last data received, for debugging and tests
const $ = id => document.getElementById(id);

// DOM building: text goes through textContent / text nodes, attributes through setAttribute.
function build(node, attrs, kids) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'text') node.textContent = String(v); else node.setAttribute(k, String(v));
  }
  for (const kid of kids.flat()) {
    if (kid !== null && kid !== undefined && kid !== false) node.append(kid instanceof Node ? kid : String(kid));
  }
  return node;
}
const h = (tag, attrs, ...kids) => build(document.createElement(tag), attrs, kids);
const s = (tag, attrs, ...kids) => build(document.createElementNS(SVGNS, tag), attrs, kids);

const num = v => (v === null || v === undefined || v === '' || !Number.isFinite(Number(v)) ? null : Number(v));
const fmtInt = v => (num(v) === null ? '–' : String(Math.round(num(v))));
const fmtFix = (v, d) => (num(v) === null ? '–' : num(v).toFixed(d));
const fmtTs = v => (typeof v === 'string' && v
  ? v.replace('T', ' ').replace(/\.\d+/, '').replace(/(Z|[+-]00:00)$/, ' UTC')
  : v === null || v === undefined ? '–' : String(v));
const label = dim => dim.replace(/_/g, ' ');
function clip(text, units) {  // CJK glyphs are about twice as wide as Latin ones
  let used = 0, out = '';
  for (const ch of String(text)) {
    used += ch.codePointAt(0) >= 0x2e80 ? 2 : 1;
    if (used > units) return out + '…';
    out += ch;
  }
  return out;
}
const ENTERED = '(entered)';  // the flow row of customers new in a dimension: not the segment "New"
const plural = (n, word) => `${fmtInt(n)} ${word}${num(n) === 1 ? '' : 's'}`;
function fullNames(dim, pairs) {  // names clipped on the card, whole: a list that opens
  if (!pairs.length) return null;
  return h('details', {class: 'names', 'data-full-names': dim}, h('summary', {class: 'muted', text: 'full names'}),
    h('dl', {}, ...pairs.flatMap(([code, name]) => [h('dt', {class: 'mono', text: code}), h('dd', {text: name})])));
}
function showId(id) {  // an id with a blank or invisible character is shown quoted, those characters escaped
  const chars = [...String(id)], last = chars.length - 1;  // a space inside ("Ann Lee") is plain to see
  const visible = (ch, i) => /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u.test(ch) || (ch === ' ' && i > 0 && i < last);
  if (chars.length && chars.every(visible)) return chars.join('');
  return '"' + chars.map((ch, i) => (visible(ch, i) ? ch : `\\u{${ch.codePointAt(0).toString(16)}}`)).join('') + '"';
}
function orderDims(dims) {
  const rank = d => (DIM_ORDER.includes(d) ? DIM_ORDER.indexOf(d) : DIM_ORDER.length);
  return [...dims].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}
function segName(dim, code) {
  const names = state.seg && state.seg.names && state.seg.names[dim];
  const moved = state.flows && state.flows.names && state.flows.names[dim];
  return (names && names[code]) || (moved && moved[code]) || code;
}
function segOrder(dim) {  // largest segment first
  const c = (state.seg && state.seg.segments && state.seg.segments[dim]) || {};
  return Object.keys(c).sort((a, b) => (num(c[b]) || 0) - (num(c[a]) || 0) || a.localeCompare(b));
}
const emptyRow = (cols, text) => h('tr', {}, h('td', {colspan: cols, class: 'muted', text}));

function renderHeader() {
  const o = state.ov, d = state.seg;
  const clock = (o && o.stream_clock) || (d && d.stream_clock) || null;
  const el = $('stream-clock');
  el.textContent = fmtTs(clock);
  if (clock) { el.setAttribute('datetime', clock); el.title = clock; }
  if (o) {
    const eps = num(o.events_per_s);
    $('events-per-s').textContent = eps === null ? '–' : eps.toFixed(eps < 10 ? 2 : 1);
    // rebalancing, standby or stalled is said where the lag would be: never a reassuring zero
    const proc = o.processing || {status: 'ready', reason: ''}, lagEl = $('lag-total');
    lagEl.textContent = proc.status === 'ready' ? fmtInt(o.lag_total) : proc.status;
    lagEl.title = proc.status === 'ready' ? '' : proc.reason;
    lagEl.classList.toggle('warn', proc.status !== 'ready');
    $('dlq-total').textContent = fmtInt(o.dead_letters_total);
  }
  if (d && d.stats) $('customers-total').textContent = fmtInt(d.stats.customers);
  const mv = (o && o.model_versions) || (d && d.model_versions) || {};
  $('model-versions').textContent = 'models: ' + Object.keys(mv).sort()
    .map(k => `${k} ${num(mv[k]) === null ? '–' : 'v' + mv[k]}`).join(' · ');
  renderSparkline();
}

function renderSparkline() {
  const v = state.eps, W = 120, H = 28, svg = $('eps-sparkline');
  if (v.length < 2) { svg.replaceChildren(); return; }
  const max = Math.max(...v, 1e-9);
  const pts = v.map((y, i) => [W - (v.length - 1 - i) * W / (SPARK_POINTS - 1), H - 2 - (H - 4) * y / max]);
  const line = pts.map(p => p[0].toFixed(1) + ',' + p[1].toFixed(1)).join(' ');
  svg.replaceChildren(
    s('title', {text: `events/s, last ${v.length} polls: min ${fmtFix(Math.min(...v), 1)}, max ${fmtFix(max, 1)}`}),
    s('polygon', {class: 'spark-area', points: `${pts[0][0].toFixed(1)},${H} ${line} ${W},${H}`}),
    s('polyline', {class: 'spark', points: line}));
}

function renderSegments() {
  const d = state.seg;
  if (!d) return;
  const segs = d.segments || {}, versions = d.model_versions || {};
  const W = 600, ROW = 24, LABEL = 210, COUNT = 70, BAR = W - LABEL - COUNT;
  const cards = orderDims(Object.keys(segs)).map(dim => {
    const counts = segs[dim] || {}, codes = segOrder(dim);
    const total = codes.reduce((t, c) => t + (num(counts[c]) || 0), 0);
    const max = Math.max(1, ...codes.map(c => num(counts[c]) || 0));
    const svg = s('svg', {class: 'bars', viewBox: `0 0 ${W} ${Math.max(1, codes.length) * ROW + 4}`,
      role: 'img', 'aria-label': `customers per ${label(dim)} segment`});
    codes.forEach((code, i) => {
      const n = num(counts[code]) || 0, y = i * ROW + 2, name = segName(dim, code);
      const w = n > 0 ? Math.max(2, BAR * n / max) : 0;
      svg.append(s('g', {},
        s('title', {text: `${name} (${code}): ${fmtInt(counts[code])}`}),
        s('text', {x: LABEL - 8, y: y + 15, 'text-anchor': 'end', text: clip(name, 30)}),
        s('rect', {class: 'bar', x: LABEL, y: y + 3, width: w.toFixed(1), height: ROW - 8, rx: 2}),
        s('text', {class: 'count', x: (LABEL + w + 6).toFixed(1), y: y + 15, 'data-dimension': dim,
          'data-segment': code, text: fmtInt(counts[code])})));
    });
    if (!codes.length) svg.append(s('text', {class: 'count', x: 0, y: 16, text: 'no segments yet'}));
    const v = num(versions[dim]);
    const info = `${plural(total, 'customer')} · ${plural(codes.length, 'segment')}`
      + (v === null ? '' : ` · model v${v}`);
    return h('div', {class: 'card', 'data-dimension-card': dim},
      h('h3', {}, label(dim), h('span', {class: 'muted', text: info})), svg,
      fullNames(dim, codes.map(c => [c, segName(dim, c)]).filter(([, n]) => clip(n, 30) !== n)));
  });
  $('segments').replaceChildren(...(cards.length ? cards : [h('p', {class: 'muted', text: 'No segments yet.'})]));
}

function flowCard(dim, list) {
  const key = v => (v === null || v === undefined ? '' : String(v));
  const cells = new Map();
  let max = 0, total = 0;
  for (const r of list) {
    const k = JSON.stringify([key(r.from), key(r.to)]), n = num(r.count) || 0;
    cells.set(k, (cells.get(k) || 0) + n);
    max = Math.max(max, cells.get(k));
    total += n;
  }
  const order = segOrder(dim), rank = c => (order.includes(c) ? order.indexOf(c) : order.length);
  const codes = [...new Set(list.flatMap(r => [key(r.from), key(r.to)]).filter(c => c !== ''))]
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const rows = list.some(r => key(r.from) === '') ? ['', ...codes] : codes;
  const title = c => (c === '' ? 'new in this dimension' : `${segName(dim, c)} (${c})`);
  const head = h('tr', {}, h('th', {class: 'row', text: 'from \u2193 to \u2192'}),
    ...codes.map(c => h('th', {title: title(c), text: clip(segName(dim, c), 18)})));
  const body = rows.map(from => h('tr', {},
    h('th', {class: 'row', title: title(from), text: from === '' ? ENTERED : clip(segName(dim, from), 22)}),
    ...codes.map(to => {
      const n = cells.get(JSON.stringify([from, to])) || 0, a = n ? 0.12 + 0.78 * n / max : 0;
      const td = h('td', {class: n ? (a > 0.55 ? 'hot' : null) : from === to ? 'zero diag' : 'zero',
        'data-flow-dimension': dim, 'data-from': from, 'data-to': to,
        title: `${title(from)} \u2192 ${title(to)}: ${n}`, text: String(n)});
      if (n) td.style.background = `rgba(61,111,182,${a.toFixed(3)})`;
      return td;
    })));
  return h('div', {class: 'card', 'data-flow-card': dim},
    h('h3', {}, label(dim), h('span', {class: 'muted', text: plural(total, 'move')})),
    h('div', {class: 'scroll'}, h('table', {class: 'matrix'}, h('thead', {}, head), h('tbody', {}, ...body))),
    fullNames(dim, codes.map(c => [c, segName(dim, c)]).filter(([, n]) => clip(n, 18) !== n)));
}

function renderFlows() {
  const f = state.flows;
  if (!f) return;
  const flows = f.flows || {}, dims = orderDims(Object.keys(flows).filter(d => (flows[d] || []).length));
  $('flows').replaceChildren(...(dims.length ? dims.map(d => flowCard(d, flows[d]))
    : [h('p', {class: 'muted', text: `No customer changed segment in the last ${fmtInt(f.minutes)} minutes.`})]));
}

function renderChurn() {
  const c = state.churn;
  if (!c) return;
  const events = c.events || [];
  const rows = events.map(e => {
    const drivers = (e.drivers || []).slice().sort((a, b) => (num(b.weight) || 0) - (num(a.weight) || 0)).slice(0, 3)
      .map(d => `${d.name} ${fmtFix((num(d.weight) || 0) * 100, 0)}%`).join(', ');
    const tier = e.value_tier === null || e.value_tier === undefined ? '–' : segName('value', e.value_tier);
    const level = e.level === 'high' ? 'high' : 'normal';
    return h('tr', {'data-customer': String(e.customer_id), 'data-event': e.event_id},
      h('td', {title: e.ts, text: fmtTs(e.ts)}),
      h('td', {class: 'mono', title: String(e.customer_id), text: showId(e.customer_id)}),
      h('td', {class: 'num score', text: fmtFix(e.score, 2)}),
      h('td', {}, h('span', {class: 'badge ' + level, text: String(e.level)})),
      h('td', {class: 'wrap', text: drivers || '–'}),
      h('td', {title: e.value_tier, text: tier}),
      h('td', {class: 'wrap', title: e.reason || e.action, text: e.action_name || e.action || '–'}));
  });
  $('churn-body').replaceChildren(...(rows.length ? rows : [emptyRow(7, 'No churn-risk events yet.')]));
}

function renderPipeline() {
  const o = state.ov, d = state.seg;
  if (o) {
    const dead = o.dead_letters || {};
    const reasons = Object.keys(dead).sort((a, b) => (num(dead[b]) || 0) - (num(dead[a]) || 0) || a.localeCompare(b));
    $('dlq-body').replaceChildren(...(reasons.length ? reasons.map(r => h('tr', {'data-reason': r},
      h('td', {class: 'mono', text: r}), h('td', {class: 'num', text: fmtInt(dead[r])})))
      : [emptyRow(2, 'No dead letters.')]));
    const lag = o.lag || {};
    $('lag-body').replaceChildren(...(Object.keys(lag).length ? Object.keys(lag).sort().map(topic => {
      const parts = lag[topic] || {}, ps = Object.keys(parts).sort((a, b) => Number(a) - Number(b));
      return h('tr', {'data-topic': topic}, h('td', {class: 'mono', text: topic}),
        h('td', {class: 'mono wrap', text: ps.map(p => `${p}: ${fmtInt(parts[p])}`).join('  ')}),
        h('td', {class: 'num', text: String(ps.reduce((t, p) => t + (num(parts[p]) || 0), 0))}));
    }) : [emptyRow(3, 'No lag reported yet.')]));
    // every worker as it last reported itself (each writes its status into Redis every second)
    const live = (o.workers || []).map(w => h('tr', {'data-worker': w.worker},
      h('td', {class: 'mono', text: w.worker + (w.leader ? ' (leader)' : '')}),
      h('td', {class: w.status === 'ready' ? null : 'warn', text: w.status, title: w.reason || ''}),
      h('td', {class: 'num', text: fmtInt(w.partitions)})));
    const gone = (o.workers_gone || []).map(name => h('tr', {'data-worker': name},
      h('td', {class: 'mono', text: name}), h('td', {class: 'warn', text: 'gone', title: 'no status for 10 s'}),
      h('td', {class: 'num', text: '–'})));
    $('workers-body').replaceChildren(...(live.length + gone.length ? [...live, ...gone]
      : [emptyRow(3, 'No worker has reported.')]));
  }
  if (o) {
    const st = o.stability || {}, dims = Object.keys(st).sort();
    $('stability-body').replaceChildren(...(dims.length ? dims.map(dim => {
      const v = st[dim] || {};
      return h('tr', {'data-dimension': dim}, h('td', {class: 'mono', text: dim}),
        h('td', {class: 'num', text: (num(v.volatility_per_hour) || 0).toFixed(4)}),
        h('td', {class: 'num', text: fmtInt(v.moves)}), h('td', {class: 'num', text: fmtInt(v.flip_backs)}),
        h('td', {class: 'num', text: `${((num(v.flip_back_rate) || 0) * 100).toFixed(1)}%`}));
    }) : [emptyRow(5, 'No segment moves yet.')]));
  }
  if (d && d.stats) {
    const keys = Object.keys(d.stats).filter(k => !k.startsWith('dlq:')).sort();
    $('stats-body').replaceChildren(...keys.map(k => h('tr', {'data-stat': k},
      h('td', {class: 'mono', text: k}), h('td', {class: 'num', text: fmtInt(d.stats[k])}))));
  }
}

function renderGrades() {
  const g = state.models && state.models.grades;
  if (!g) return;
  const fmt = (v, d) => (num(v) === null ? '–' : num(v).toFixed(d));
  const rows = (g.versions || []).slice().sort((a, b) => b.version - a.version).map(v => {
    const c = v.churn || {}, val = v.value || {};
    const cal = c.calibrated === true ? 'yes' : c.calibrated === false ? 'no (a ranking)' : '–';
    return h('tr', {'data-version': String(v.version)}, h('td', {class: 'mono', text: `v${v.version}`}),
      h('td', {class: 'num', text: fmtInt(c.n)}), h('td', {class: 'num', text: fmt(c.auc, 3)}),
      h('td', {class: 'num', text: fmt(c.lift_top_decile, 2)}), h('td', {text: cal}),
      h('td', {class: 'num', text: fmt(val.ratio, 2)}));
  });
  $('grades-body').replaceChildren(...(rows.length ? rows
    : [emptyRow(6, `No score graded yet: ${fmtInt(g.pending)} waiting for their ${g.horizon_days}-day horizon.`)]));
}

function setStatus(failed) {
  const offline = failed.length > 0;
  if (!offline) {
    state.updated = new Date().toISOString();
    document.body.dataset.updated = state.updated;
    document.querySelector('meta[name="segstream-updated"]').setAttribute('content', state.updated);
  }
  const since = state.updated ? new Date(state.updated).toLocaleTimeString() : null;
  document.body.classList.toggle('is-offline', offline);
  document.body.classList.toggle('is-live', !offline);
  $('offline').hidden = !offline;
  if (offline) {
    $('offline').textContent = `Offline: ${failed.join('; ')}. ` + (since ? `Showing the data of ${since}; ` : '')
      + `retrying every ${POLL_MS / 1000} s.`;
  }
  $('status-text').textContent = offline ? 'offline' : `live · updated ${since}`;
}

// customer data needs the API's token (when it has one): asked for once, kept for this tab only
const TOKEN_KEY = 'segstream.apiToken';
let apiToken = sessionStorage.getItem(TOKEN_KEY) || '';
class NeedsToken extends Error {}

async function getJSON(path) {
  const ctl = new AbortController(), timer = setTimeout(() => ctl.abort(), 5000);
  try {
    const headers = {Accept: 'application/json'};
    if (apiToken) headers.Authorization = `Bearer ${apiToken}`;
    const r = await fetch(path, {cache: 'no-store', signal: ctl.signal, headers});
    if (r.status === 401) throw new NeedsToken(`${path} needs the API token`);
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    return await r.json();
  } finally {
    clearTimeout(timer);
  }
}

async function poll() {
  const started = Date.now(), minutes = $('flow-minutes').value;
  try {
    const paths = ['/segments', '/api/overview', `/api/flows?minutes=${encodeURIComponent(minutes)}`,
      '/api/churn/recent?limit=20', '/models'];
    const got = await Promise.allSettled(paths.map(getJSON));
    const why = r => (r.reason && r.reason.message) || String(r.reason);
    const needs = got.some(r => r.status === 'rejected' && r.reason instanceof NeedsToken);
    if (needs && apiToken) {  // refused: ask again
      sessionStorage.removeItem(TOKEN_KEY); apiToken = ''; $('token-msg').textContent = 'token refused';
    }
    document.body.classList.toggle('needs-token', needs);
    $('token-form').hidden = !needs;
    if (needs) {
      state.churn = null;
      $('churn-body').replaceChildren(emptyRow(7, 'Churn-risk events need the API token.'));
    }
    const failed = got.every(r => r.status === 'rejected') ? [`cannot reach the API (${why(got[0])})`]
      : got.flatMap((r, i) => (r.status === 'rejected' && !(r.reason instanceof NeedsToken)
        ? [`${paths[i]} (${why(r)})`] : []));
    const [seg, ov, flows, churn, models] = got.map(r => (r.status === 'fulfilled' ? r.value : null));
    if (models) state.models = models;
    if (seg) state.seg = seg;
    if (ov) {
      state.ov = ov;
      if (num(ov.events_per_s) !== null) state.eps = [...state.eps, num(ov.events_per_s)].slice(-SPARK_POINTS);
    }
    if (flows && minutes === $('flow-minutes').value) state.flows = flows;
    if (churn) state.churn = churn;
    try {
      renderHeader(); renderSegments(); renderFlows(); renderChurn(); renderPipeline(); renderGrades();
    } catch (err) {
      console.error(err);
      failed.push(`rendering failed (${err.message})`);
    }
    setStatus(failed);
  } finally {
    schedule(Math.max(200, POLL_MS - (Date.now() - started)));
  }
}

let pollTimer;
function schedule(ms) { clearTimeout(pollTimer); pollTimer = setTimeout(poll, ms); }

$('token-form').addEventListener('submit', ev => {
  ev.preventDefault();
  const t = $('token-input').value.trim();
  $('token-input').value = '';
  if (!/^[\x21-\x7e]+$/.test(t)) { $('token-msg').textContent = 'a token is visible ASCII, no spaces'; return; }
  apiToken = t; sessionStorage.setItem(TOKEN_KEY, t); $('token-msg').textContent = '';
  schedule(0);
});

$('flow-minutes').addEventListener('change', async () => {
  const minutes = $('flow-minutes').value;
  try {
    const flows = await getJSON(`/api/flows?minutes=${encodeURIComponent(minutes)}`);
    if (minutes === $('flow-minutes').value) { state.flows = flows; renderFlows(); }
  } catch (err) {
    console.warn('flows', err);  // the next poll retries and shows the offline notice if it fails too
  }
});
poll();
</script>
</body></html>
"""
