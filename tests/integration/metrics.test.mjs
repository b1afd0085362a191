#!/usr/bin/env node
// metrics: the admin port's /metrics, /admin/log_level and the JSON log format, observed from
// outside as an operator's tools would.
//
// Server A (index 21): every scrape must follow the text exposition format 0.0.4 strictly
// (checked line by line here: HELP and TYPE once per family before its samples, valid names,
// quoted and escaped labels, numeric values, no duplicate series, counters >= 0) and parse
// with parse-prometheus-text-format; the families the issue names must be there. Then:
// GET/POST /admin/log_level (debug is applied, GET shows it, a bad level or body gets 422),
// a purchase over the REST API moves the ledger transfer/operation and store counters, a
// janus.js echotest in Chromium over the HTTP transport moves the RTP packet and byte
// counters of both kinds in both directions, RTCP and data channel counters and the PLI we
// send; while the call is up the sessions/handles/peers gauges are >= 1 and after destroy they
// are back to 0; HTTP 200/201/404/422 counters moved; every counter only went up; debug lines
// appeared in the log once the level was debug; the ledger check result is cached (same
// timestamp within 30 s, a newer one after).
// Server B (index 22) with --general.log_json=true at debug level runs an echotest too; every
// line it writes to stderr must be one JSON object with exactly ts/level/module/msg.
// Exit 0 pass, 77 skip (not parley, no namespace or no browser), 1 fail.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

import { browserAvailable, openBrowser } from './lib/browser.mjs';
import { runEchotest, sleep } from './lib/echotest.mjs';
import { assert, skip, startServer, target, withServer } from './lib/server.mjs';
import { traceResponse } from './lib/apitrace.mjs';

const INDEX = 21;
const JSON_INDEX = 22;
const LEDGER_CHECK_INTERVAL_S = 30;
const LOSS = '0.05';        // of the server's packets to the browser, for a few seconds: NACKs
const LOSS_MS = 4000;

const REQUIRED = {
  parley_build_info: 'gauge',
  parley_sessions: 'gauge',
  parley_handles: 'gauge',
  parley_peers: 'gauge',
  parley_rtp_packets_total: 'counter',
  parley_rtp_bytes_total: 'counter',
  parley_rtcp_packets_total: 'counter',
  parley_data_messages_total: 'counter',
  parley_rtcp_nacks_total: 'counter',
  parley_rtcp_plis_total: 'counter',
  parley_rtcp_firs_total: 'counter',
  parley_peers_failed_total: 'counter',
  parley_dtls_failures_total: 'counter',
  parley_ice_lite_datagrams_total: 'counter',
  parley_ice_lite_reads_total: 'counter',
  parley_ice_lite_checks_total: 'counter',
  parley_ice_lite_refused_total: 'counter',
  parley_http_requests_total: 'counter',
  parley_ledger_transfers_total: 'counter',
  parley_ledger_operations_total: 'counter',
  parley_ledger_check_ok: 'gauge',
  parley_store_groups_total: 'counter',
  parley_store_units_total: 'counter',
  parley_store_checkpoints_total: 'counter',
  parley_store_writer_checkpoints_total: 'counter',
  process_resident_memory_bytes: 'gauge',
  process_open_fds: 'gauge',
  process_cpu_seconds_total: 'counter',
};

// ---- the text format, strictly ----

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const SAMPLE_RE = new RegExp(`^(${NAME})(\\{(?:${LABEL}(?:,${LABEL})*,?)?\\})? ` +
  '(-?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][-+]?[0-9]+)?|NaN|\\+Inf|-Inf)(?: -?[0-9]+)?$');
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

// Throws on the first deviation from the 0.0.4 text format; returns the number of samples.
function checkExposition(text) {
  assert(text.endsWith('\n'), 'exposition does not end with a newline');
  const help = new Map();
  const type = new Map();
  const seen = new Set();
  const done = new Set();   // families whose samples ended (a family's samples are contiguous)
  let current = null;
  let samples = 0;
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, i) => {
    const where = `line ${i + 1} "${line}"`;
    let m;
    if ((m = /^# HELP (\S+) (.*)$/.exec(line))) {
      assert(new RegExp(`^${NAME}$`).test(m[1]), `bad metric name in HELP: ${where}`);
      assert(!help.has(m[1]), `second HELP for ${m[1]}: ${where}`);
      help.set(m[1], m[2]);
    } else if ((m = /^# TYPE (\S+) (\S+)$/.exec(line))) {
      assert(!type.has(m[1]), `second TYPE for ${m[1]}: ${where}`);
      assert(TYPES.has(m[2]), `unknown type: ${where}`);
      type.set(m[1], m[2]);
    } else if (line.startsWith('#')) {
      // another comment: allowed
    } else {
      m = SAMPLE_RE.exec(line);
      assert(m, `not a valid sample line: ${where}`);
      const name = m[1];
      assert(type.has(name), `sample before (or without) its TYPE: ${where}`);
      assert(help.has(name), `sample without HELP: ${where}`);
      if (current !== name) {
        assert(!done.has(name), `samples of ${name} are not contiguous: ${where}`);
        if (current) done.add(current);
        current = name;
      }
      const key = `${name}${m[2] || ''}`;
      assert(!seen.has(key), `duplicate series: ${where}`);
      seen.add(key);
      if (type.get(name) === 'counter') assert(Number(m[3]) >= 0, `negative counter: ${where}`);
      samples++;
    }
  });
  return samples;
}

function labelsKey(labels) {
  return Object.keys(labels || {}).sort().map((k) => `${k}=${labels[k]}`).join(',');
}

// name -> { type, series: Map(labelsKey -> number) } from the npm parser's output.
function toFamilies(parsed) {
  const fams = new Map();
  for (const f of parsed) {
    const series = new Map();
    for (const s of f.metrics) series.set(labelsKey(s.labels), Number(s.value));
    fams.set(f.name, { type: f.type.toLowerCase(), help: f.help, series });
  }
  return fams;
}

async function scrape(srv) {
  const r = await fetch(`http://127.0.0.1:${srv.ports.admin}/metrics`);
  assert(r.status === 200, `/metrics answered ${r.status}`);
  const ctype = r.headers.get('content-type') || '';
  assert(ctype.startsWith('text/plain; version=0.0.4'), `/metrics content-type ${ctype}`);
  const text = await r.text();
  const samples = checkExposition(text);
  const fams = toFamilies(parsePrometheusTextFormat(text));
  for (const [name, t] of Object.entries(REQUIRED)) {
    assert(fams.has(name), `/metrics lacks ${name}`);
    assert(fams.get(name).type === t, `${name} has type ${fams.get(name).type}, want ${t}`);
  }
  return { text, fams, samples, at: Date.now() };
}

function val(sc, name, labels = {}) {
  const f = sc.fams.get(name);
  assert(f, `no family ${name}`);
  const v = f.series.get(labelsKey(labels));
  assert(v !== undefined, `no series ${name}{${labelsKey(labels)}}`);
  return v;
}

function delta(a, b, name, labels = {}) { return val(b, name, labels) - val(a, name, labels); }

// Every counter series of a must still exist in b with a value >= a's.
function checkMonotonic(a, b, what) {
  for (const [name, f] of a.fams) {
    if (f.type !== 'counter') continue;
    for (const [k, v] of f.series) {
      const nv = b.fams.get(name)?.series.get(k);
      assert(nv !== undefined, `${what}: ${name}{${k}} disappeared`);
      assert(nv >= v, `${what}: counter ${name}{${k}} went down ${v} -> ${nv}`);
    }
  }
}

// ---- small clients ----

async function adminLogLevel(srv, body) {
  const url = `http://127.0.0.1:${srv.ports.admin}/admin/log_level`;
  const r = body === undefined ? await fetch(url)
    : await fetch(url, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: r.status, json: await r.json().catch(() => null) };
}

async function api(srv, method, path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (method === 'POST' && path === '/purchases') headers['idempotency-key'] = `metrics-${Date.now()}`;
  const url = `http://127.0.0.1:${srv.ports.http}/api/v1${path}`;
  const reqBody = body ? JSON.stringify(body) : undefined;
  const r = await fetch(url, { method, headers, body: reqBody });
  const text = await r.text();
  traceResponse(method, url, reqBody, r, text);   // PARLEY_API_TRACE (openapi_validate)
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json };
}

async function buyCredits(srv) {
  const email = `metrics-${Date.now()}@example.com`;
  const password = 'correct horse 9 metrics';
  const reg = await api(srv, 'POST', '/auth/register', { email, password, role: 'caller', display_name: 'M' });
  assert(reg.status === 201, `register: ${reg.status} ${JSON.stringify(reg.json)}`);
  const login = await api(srv, 'POST', '/auth/login', { email, password, device_id: 'metrics-test' });
  assert(login.status === 200, `login: ${login.status} ${JSON.stringify(login.json)}`);
  const buy = await api(srv, 'POST', '/purchases', { package_id: 'starter' }, login.json.access_token);
  assert(buy.status === 201 && buy.json?.purchase?.status === 'completed',
    `purchase: ${buy.status} ${JSON.stringify(buy.json)}`);
}

async function waitGauges(srv, zero, ms) {
  const end = Date.now() + ms;
  let sc;
  for (;;) {
    sc = await scrape(srv);
    const g = ['parley_sessions', 'parley_handles', 'parley_peers'].map((n) => val(sc, n));
    if (zero ? g.every((x) => x === 0) : g.every((x) => x >= 1)) return sc;
    if (Date.now() > end) {
      throw new Error(`gauges sessions/handles/peers = ${g.join('/')}, want ${zero ? 'all 0' : 'all >= 1'}`);
    }
    await sleep(200);
  }
}

function logText(srv) { return fs.readFileSync(srv.logFile, 'utf8'); }

// Random loss both ways at the server's RTP ports. The browser NACKs what it missed: a packet
// the server sent and lost on the way is resent from the relay's buffer (NACK counted in, not
// relayed); one the server never received is asked of the browser as sender (NACK counted out).
// Rules are removed by spec.
function lossRule(op, range) {
  for (const port of ['--sport', '--dport']) {
    execFileSync('iptables', [op, 'INPUT', '-p', 'udp', port, range, '-m', 'statistic', '--mode', 'random',
      '--probability', LOSS, '-j', 'DROP'], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
}

// ---- server B: JSON logs ----

async function jsonLogServer(withMedia) {
  const srv = await startServer({
    index: JSON_INDEX,
    extraArgs: ['--general.log_json=true', '--general.log_level=debug', '--auth.kdf_cost=10'],
  });
  let br = null;
  try {
    await fetch(`http://127.0.0.1:${srv.ports.http}/janus/info`);
    await fetch(`http://127.0.0.1:${srv.ports.http}/janus`, { method: 'POST', body: '{"janus":"create"' });
    await fetch(`http://127.0.0.1:${srv.ports.http}/no/such/path`);
    await adminLogLevel(srv, { level: 'nope' });
    await adminLogLevel(srv, { level: 'trace' });
    if (withMedia) {
      br = await openBrowser();
      await runEchotest(srv, br, 'ws');
      await br.page.evaluate(() => window.echo.stop());
    }
  } finally {
    if (br) await br.close();
  }
  const how = await srv.stop();
  assert(how.code === 0, `JSON-log server did not exit cleanly: ${JSON.stringify(how)}`);
  const lines = logText(srv).split('\n').filter((l) => l !== '');
  const levels = new Set(['notice', 'error', 'warn', 'info', 'debug', 'trace']);
  const count = {};
  for (const [i, line] of lines.entries()) {
    let o;
    try { o = JSON.parse(line); } catch (e) {
      throw new Error(`JSON log line ${i + 1} does not parse (${e.message}): ${line}`);
    }
    const keys = Object.keys(o).sort().join(',');
    assert(keys === 'level,module,msg,ts', `JSON log line ${i + 1} has keys ${keys}: ${line}`);
    assert(Object.values(o).every((v) => typeof v === 'string'), `non-string member: ${line}`);
    assert(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(o.ts), `bad ts: ${line}`);
    assert(levels.has(o.level), `bad level: ${line}`);
    count[o.level] = (count[o.level] || 0) + 1;
  }
  assert(lines.some((l) => JSON.parse(l).msg.includes('parley ready')), 'no "parley ready" line in the JSON log');
  assert((count.debug || 0) > 0, `no debug line at level debug: ${JSON.stringify(count)}`);
  fs.rmSync(srv.dir, { recursive: true, force: true });
  return { lines: lines.length, count };
}

// ---- the test ----

if (target() !== 'parley') {
  console.log('SKIP: /metrics and the admin API are parley\'s');
  process.exit(77);
}

await withServer({ index: INDEX, extraArgs: ['--auth.kdf_cost=10'] }, async (srv) => {
  const s0 = await scrape(srv);
  for (const g of ['parley_sessions', 'parley_handles', 'parley_peers']) {
    assert(val(s0, g) === 0, `${g} = ${val(s0, g)} on an idle server`);
  }
  const build = [...s0.fams.get('parley_build_info').series.keys()][0];
  assert(/version=\d+\.\d+\.\d+/.test(build), `build info labels: ${build}`);
  assert(val(s0, 'parley_ledger_check_ok') === 1, 'ledger check not ok on a fresh database');
  const checkedAt0 = val(s0, 'parley_ledger_check_timestamp_seconds');
  assert(val(s0, 'process_resident_memory_bytes') > 1e6, 'resident memory below 1 MB?');
  assert(val(s0, 'process_open_fds') > 3, 'open fds');

  // Log level at run time.
  let r = await adminLogLevel(srv);
  assert(r.status === 200 && r.json.level === 'info', `GET log_level: ${JSON.stringify(r)}`);
  r = await adminLogLevel(srv, { level: 'debug' });
  assert(r.status === 200 && r.json.level === 'debug', `POST debug: ${JSON.stringify(r)}`);
  r = await adminLogLevel(srv);
  assert(r.status === 200 && r.json.level === 'debug', `GET after POST debug: ${JSON.stringify(r)}`);
  for (const bad of [{ level: 'loud' }, { level: 3 }, {}, 'not json', '']) {
    r = await adminLogLevel(srv, bad);
    assert(r.status === 422 && r.json?.error?.code === 'invalid_level', `POST ${JSON.stringify(bad)}: ${JSON.stringify(r)}`);
  }
  r = await adminLogLevel(srv);
  assert(r.json.level === 'debug', `a refused POST changed the level: ${JSON.stringify(r)}`);
  const logLenBeforeMedia = logText(srv).length;

  // HTTP statuses on the public port: 200, 404.
  for (let i = 0; i < 3; i++) await fetch(`http://127.0.0.1:${srv.ports.http}/janus/info`);
  await fetch(`http://127.0.0.1:${srv.ports.http}/no/such/path`);

  // Money: a purchase records ledger transfers.
  await buyCredits(srv);
  const s1 = await scrape(srv);
  checkMonotonic(s0, s1, 'after purchase');
  assert(delta(s0, s1, 'parley_ledger_transfers_total') >= 1, 'ledger transfers did not move after a purchase');
  assert(delta(s0, s1, 'parley_ledger_operations_total') >= 1, 'ledger operations did not move after a purchase');
  assert(delta(s0, s1, 'parley_store_units_total') >= 3, 'store units did not move (register, login, purchase)');
  assert(delta(s0, s1, 'parley_store_groups_total') >= 1, 'store groups did not move');
  assert(val(s1, 'parley_ledger_check_timestamp_seconds') === checkedAt0, 'ledger check ran again within 30 s');
  const http = (sc, server, code) => val(sc, 'parley_http_requests_total', { server, code: String(code) });
  assert(http(s1, 'http', 200) - http(s0, 'http', 200) >= 4, 'http 200 counter did not move (info x3, login)');
  assert(http(s1, 'http', 201) - http(s0, 'http', 201) >= 2, 'http 201 counter did not move (register, purchase)');
  assert(http(s1, 'http', 404) - http(s0, 'http', 404) >= 1, 'http 404 counter did not move');
  assert(http(s1, 'admin', 422) - http(s0, 'admin', 422) === 5, 'admin 422 counter != the 5 refused POSTs');
  assert(http(s1, 'admin', 200) - http(s0, 'admin', 200) >= 5, 'admin 200 counter (log_level GETs/POST, scrape)');

  // Media: an echotest over the HTTP transport.
  if (!process.env.PARLEY_NETNS) throw skip('the media part needs a network namespace (run via tests/integration/run.sh as root); the rest passed');
  const why = browserAvailable();
  if (why) throw skip(`${why}; the non-media part passed`);
  try { execFileSync('iptables', ['-L', 'INPUT', '-n'], { stdio: 'ignore' }); } catch (e) {
    throw skip(`iptables unusable here (${e.message}); the non-media part passed`);
  }
  const range = `${srv.ports.rtpMin}:${srv.ports.rtpMax}`;
  const br = await openBrowser();
  let s2, s3, echo;
  try {
    echo = await runEchotest(srv, br, 'http');
    s2 = await waitGauges(srv, false, 3000);
    lossRule('-A', range);
    try { await sleep(LOSS_MS); } finally { lossRule('-D', range); }
    await br.page.evaluate(() => window.echo.stop());
    s3 = await waitGauges(srv, true, 5000);
  } catch (e) {
    console.error(`browser console (last 40):\n${br.console.slice(-40).join('\n')}`);
    throw e;
  } finally {
    await br.close();
  }
  checkMonotonic(s1, s2, 'during the call');
  checkMonotonic(s2, s3, 'after the call');
  const moved = {};
  for (const direction of ['in', 'out']) {
    for (const kind of ['audio', 'video']) {
      const dp = delta(s1, s2, 'parley_rtp_packets_total', { direction, kind });
      const db = delta(s1, s2, 'parley_rtp_bytes_total', { direction, kind });
      moved[`${direction}_${kind}`] = dp;
      assert(dp >= 100, `rtp packets ${direction} ${kind} moved by ${dp} during a 5 s echotest`);
      assert(db >= dp * 12, `rtp bytes ${direction} ${kind} moved by ${db} for ${dp} packets`);
    }
    assert(delta(s1, s2, 'parley_rtcp_packets_total', { direction }) >= 1, `rtcp ${direction} did not move`);
    assert(delta(s1, s3, 'parley_data_messages_total', { direction }) >= 5, `data messages ${direction} < 5 echoes`);
  }
  const fb = {};
  for (const t of ['nacks', 'plis', 'firs']) {
    for (const direction of ['in', 'out']) fb[`${t}_${direction}`] = delta(s1, s3, `parley_rtcp_${t}_total`, { direction });
  }
  assert(fb.nacks_in >= 1 && fb.nacks_out >= 1, `NACKs under ${LOSS} loss not counted both ways: ${JSON.stringify(fb)}`);
  assert(delta(s1, s3, 'parley_sessions_created_total') >= 1, 'sessions created');
  assert(delta(s1, s3, 'parley_peers_created_total') >= 1, 'peers created');
  assert(delta(s1, s3, 'parley_peers_closed_total') >= 1, 'peers closed');
  assert(delta(s1, s3, 'parley_webrtcup_total') >= 1, 'webrtcup');
  assert(delta(s1, s3, 'parley_peers_failed_total') === 0, 'a peer failed during a clean echotest');
  assert(http(s3, 'http', 200) - http(s1, 'http', 200) >= 10, 'http 200 did not move during an HTTP-transport echotest');
  const later = logText(srv).slice(logLenBeforeMedia);
  assert(/ debug \[/.test(later), 'no debug line in the log after POST /admin/log_level debug');

  r = await adminLogLevel(srv, { level: 'warning' });
  assert(r.status === 200 && r.json.level === 'warn', `POST warning: ${JSON.stringify(r)}`);

  // The cached ledger check is recomputed once the interval passed.
  const wait = s0.at + (LEDGER_CHECK_INTERVAL_S + 1) * 1000 - Date.now();
  if (wait > 0) await sleep(wait);
  const s4 = await scrape(srv);
  checkMonotonic(s3, s4, 'at the end');
  assert(val(s4, 'parley_ledger_check_timestamp_seconds') > checkedAt0, 'ledger check not recomputed after 30 s');
  assert(val(s4, 'parley_ledger_check_ok') === 1, 'ledger check not ok after a purchase and a call');

  const j = await jsonLogServer(true);
  console.log(`/metrics: ${s4.fams.size} families, ${s4.samples} samples; echotest over HTTP: ` +
    `rtp packets in a/v ${moved.in_audio}/${moved.in_video}, out a/v ${moved.out_audio}/${moved.out_video}, ` +
    `video ${echo.videoKbps.toFixed(0)} kbit/s; ` +
    `RTCP feedback with ${LOSS} loss for ${LOSS_MS / 1000} s ${JSON.stringify(fb)}`);
  console.log(`JSON log server: ${j.lines} lines, all JSON with ts/level/module/msg (${JSON.stringify(j.count)})`);
});
