// parley operator console (served by the admin port at /admin/): read-only views of the live
// server, polled from the same origin every POLL_MS.
//
// Sources: /admin/sessions (Janus sessions), /admin/plugins/janus.plugin.videocall (the calls
// plugin's live calls), /metrics (gauges and the RTP packet counters, packets/s from the
// difference of two scrapes), /admin/revenue, /admin/ledger/check (every ledger table is
// scanned, so it is asked every LEDGER_MS only), /admin/log/recent (warnings and errors).
// History lives in this page only (HISTORY_POINTS samples); a reload starts it again.
//
// Everything the server returns is put in the page with textContent, never as markup: log
// messages and names come from clients.

const POLL_MS = 3000;
const LEDGER_MS = 30000;
const HISTORY_POINTS = 120;
const CALLS_PLUGIN = 'janus.plugin.videocall';
const RTP_PACKETS = 'parley_rtp_packets_total';

const history = [];            // {t, sessions, calls, pps, revenue}
let lastPackets = null;        // {t, total}: the previous scrape's RTP packet count
let lastLedgerAt = 0;
let busy = false;

const $ = (id) => document.getElementById(id);

// Prometheus text format 0.0.4 -> Map(metric name -> sum of its samples over all labels).
export function parseMetrics(text) {
  const sums = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const v = Number(m[3]);
    if (Number.isFinite(v)) sums.set(m[1], (sums.get(m[1]) || 0) + v);
  }
  return sums;
}

async function fetchText(path) {
  const r = await fetch(path, { cache: 'no-store', headers: { accept: 'application/json, text/plain' } });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.text();
}

async function fetchJson(path) { return JSON.parse(await fetchText(path)); }

function cell(tag, text, className) {
  const c = document.createElement(tag);
  c.textContent = text === undefined || text === null ? '' : String(text);
  if (className) c.className = className;
  return c;
}

// Replaces a table's body with rows (arrays of strings or {text, cls, header}) and shows the
// "nothing here" paragraph when there are none.
function fillTable(tableId, rows, emptyId, key) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren(...rows.map((cells, i) => {
    const tr = document.createElement('tr');
    if (key) tr.dataset.key = key[i];
    for (const c of cells) {
      const v = typeof c === 'object' && c !== null ? c : { text: c };
      const td = cell(v.header ? 'th' : 'td', v.text, v.cls);
      if (v.header) td.scope = 'row';
      tr.append(td);
    }
    return tr;
  }));
  $(tableId).hidden = rows.length === 0;
  if (emptyId) $(emptyId).hidden = rows.length !== 0;
}

const clock = (sec) => (sec > 0 ? new Date(sec * 1000).toISOString().slice(11, 19) : '–');

function duration(fromSec) {
  if (!(fromSec > 0)) return '–';
  const s = Math.max(0, Math.round(Date.now() / 1000 - fromSec));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function renderCalls(calls) {
  fillTable('calls', calls.map((c) => [
    { text: c.call_id, header: true, cls: 'mono' }, c.caller, c.host, c.state, c.kind,
    clock(c.started), duration(c.answered),
  ]), 'calls-empty', calls.map((c) => c.call_id));
}

function renderSessions(list) {
  fillTable('sessions', list.map((s) => [
    { text: s.id, header: true, cls: 'mono' }, s.user_id || '–', s.transport,
    (s.handles || []).map((h) => h.plugin).join(', ') || '–',
  ]), 'sessions-empty');
}

function renderRevenue(rev) {
  $('fig-revenue').textContent = String(rev.platform_revenue);
  fillTable('purchases', (rev.purchases || []).map((p) => [
    { text: p.currency, header: true }, p.status, p.count, p.credits, p.price_cents,
  ]));
  $('fee').textContent = `Platform fee: ${(rev.platform_fee_bps / 100).toFixed(2)} %`;
}

const LEDGER_COUNTS = [
  ['accounts', 'Accounts'], ['transfers_count', 'Transfers'], ['ops_count', 'Operations'],
  ['sum_of_balances', 'Sum of balances'], ['negative_wallets', 'Negative wallets'],
  ['holds_exceeding', 'Holds exceeding balance'], ['mismatched_balances', 'Mismatched balances'],
  ['external_balance', 'External balance'],
];

function renderLedger(c) {
  const state = c.ok ? 'ok' : 'broken';
  for (const id of ['ledger-state', 'fig-ledger']) {
    $(id).textContent = state;
    $(id).className = `badge ${c.ok ? 'good' : 'bad'}`;
  }
  $('ledger-when').textContent = `checked ${new Date().toISOString().slice(11, 19)} UTC`;
  $('ledger-counts').replaceChildren(...LEDGER_COUNTS.map(([k, label]) => {
    const d = document.createElement('div');
    d.append(cell('dt', label), cell('dd', c[k]));
    return d;
  }));
}

function renderErrors(list) {
  const newest = list.slice().reverse();
  fillTable('errors', newest.map((e) => [
    { text: e.ts.replace('T', ' ').replace('Z', ''), header: true, cls: 'mono' },
    { text: e.level, cls: `level-${e.level}` }, e.module, { text: e.msg, cls: 'msg' },
  ]), 'errors-empty');
}

// ---- charts: small SVG line charts over the page's history ----

const SVG_NS = 'http://www.w3.org/2000/svg';
const W = 300;
const H = 120;
const PAD = { l: 34, r: 6, t: 8, b: 16 };

function svg(tag, attrs, text) {
  const n = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  if (text !== undefined) n.textContent = text;
  return n;
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v);
}

// series: [{key, label, cls}]; draws each as a polyline scaled to the history's largest value.
function drawChart(id, series) {
  const node = $(id);
  const pts = history.slice(-HISTORY_POINTS);
  const max = niceMax(Math.max(0, ...pts.flatMap((p) => series.map((s) => p[s.key] ?? 0))));
  const x = (i) => PAD.l + (pts.length < 2 ? 0 : (i * (W - PAD.l - PAD.r)) / (pts.length - 1));
  const y = (v) => H - PAD.b - (v / max) * (H - PAD.t - PAD.b);
  const parts = [
    svg('line', { x1: PAD.l, y1: y(0), x2: W - PAD.r, y2: y(0), class: 'axis' }),
    svg('line', { x1: PAD.l, y1: y(max), x2: W - PAD.r, y2: y(max), class: 'grid' }),
    svg('text', { x: PAD.l - 4, y: y(max) + 4, class: 'tick', 'text-anchor': 'end' }, max),
    svg('text', { x: PAD.l - 4, y: y(0), class: 'tick', 'text-anchor': 'end' }, 0),
  ];
  if (pts.length) {
    const span = Math.round((pts[pts.length - 1].t - pts[0].t) / 1000);
    parts.push(svg('text', { x: W - PAD.r, y: H - 3, class: 'tick', 'text-anchor': 'end' }, `last ${span} s`));
  }
  series.forEach((s, k) => {
    const d = pts.map((p, i) => `${x(i).toFixed(1)},${y(p[s.key] ?? 0).toFixed(1)}`).join(' ');
    if (pts.length) parts.push(svg('polyline', { points: d, class: `line ${s.cls}` }));
    parts.push(svg('text', { x: PAD.l + 4 + k * 90, y: PAD.t + 6, class: `legend ${s.cls}` }, s.label));
  });
  node.replaceChildren(...parts);
  // The accessible name says what the picture shows: the latest values.
  const last = pts[pts.length - 1] || {};
  const cap = node.parentElement.querySelector('figcaption');
  cap.dataset.base ||= cap.textContent;
  cap.textContent = `${cap.dataset.base}: now ${series.map((s) => `${s.label} ${last[s.key] ?? '–'}`).join(', ')}`;
}

function drawCharts() {
  drawChart('chart-activity', [{ key: 'sessions', label: 'sessions', cls: 's1' }, { key: 'calls', label: 'calls', cls: 's2' }]);
  drawChart('chart-pps', [{ key: 'pps', label: 'packets/s', cls: 's1' }]);
  drawChart('chart-revenue', [{ key: 'revenue', label: 'credits', cls: 's3' }]);
}

// ---- polling ----

function packetsPerSecond(metrics, now) {
  const total = metrics.get(RTP_PACKETS) || 0;
  const prev = lastPackets;
  lastPackets = { t: now, total };
  if (!prev || now <= prev.t || total < prev.total) return 0;   // first sample, or a restart
  return Math.round(((total - prev.total) * 1000) / (now - prev.t));
}

async function refreshLedger(now) {
  if (now - lastLedgerAt < LEDGER_MS) return;
  lastLedgerAt = now;
  renderLedger(await fetchJson('/admin/ledger/check'));
}

async function tick() {
  if (busy) return;   // a slow server: never stack polls
  busy = true;
  const now = Date.now();
  try {
    const [sessions, plugin, metricsText, revenue, recent] = await Promise.all([
      fetchJson('/admin/sessions'), fetchJson(`/admin/plugins/${CALLS_PLUGIN}`), fetchText('/metrics'),
      fetchJson('/admin/revenue'), fetchJson('/admin/log/recent'),
    ]);
    const metrics = parseMetrics(metricsText);
    const calls = plugin.calls || [];
    const sample = { t: now, sessions: sessions.length, calls: calls.length, pps: packetsPerSecond(metrics, now),
      revenue: revenue.platform_revenue };
    history.push(sample);
    if (history.length > HISTORY_POINTS) history.shift();
    $('fig-sessions').textContent = String(sample.sessions);
    $('fig-calls').textContent = String(sample.calls);
    $('fig-peers').textContent = String(metrics.get('parley_peers') ?? '–');
    $('fig-pps').textContent = String(sample.pps);
    renderCalls(calls);
    renderSessions(sessions);
    renderRevenue(revenue);
    renderErrors(recent);
    drawCharts();
    await refreshLedger(now);
    setStatus(`Updated ${new Date(now).toISOString().slice(11, 19)} UTC.`, false);
  } catch (e) {
    setStatus(`Cannot reach the server: ${e.message}`, true);
  } finally {
    busy = false;
  }
}

// The status line is a polite live region: only a change of state is announced (an update
// every few seconds would drown a screen reader).
let lastStatusError = null;
function setStatus(text, isError) {
  const s = $('status');
  s.classList.toggle('bad-text', isError);
  if (isError !== lastStatusError) {
    s.setAttribute('aria-live', 'polite');
    lastStatusError = isError;
  } else {
    s.setAttribute('aria-live', 'off');
  }
  s.textContent = text;
}

function start() {
  $('poll-seconds').textContent = String(POLL_MS / 1000);
  tick();
  setInterval(tick, POLL_MS);
}

if (typeof document !== 'undefined') start();
