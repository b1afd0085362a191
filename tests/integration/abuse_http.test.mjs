#!/usr/bin/env node
// abuse_http: one client address cannot starve the HTTP server, and the admin port is not
// reachable from web pages (issue 13, "HTTP connections per client address", "admin Host and
// Origin", "duplicate Content-Length", "repeated warnings"). One server, bounded in count and
// time (about 35 s, most of it the long-poll's 30 s), with --http.request_timeout_s=5 and the
// default http.max_connections_per_ip (256):
//  1. a long-poll from 127.0.0.2 is started first;
//  2. 127.0.0.1 opens FLOOD connections, each sending an unfinished `GET /janus/info` (the
//     request line and one header, never the blank line): 256 are held, the rest are closed
//     at once by the server;
//  3. meanwhile 127.0.0.2 is served normally: PROBES `GET /janus/info`, p99 under 1 s;
//  4. /metrics counts the refusals (parley_http_refusals_total{reason="per_ip"}) and the log
//     has at most about one refusal line a second, with "(N similar messages suppressed)";
//  5. the held connections are closed by the server after the 5 s timeout (counted as
//     reason="timeout"), and 127.0.0.1 is served again;
//  6. two differing Content-Length headers -> 400 JSON, the connection closed, the request
//     behind it not run; two equal ones are fine;
//  7. admin port: a foreign Host -> 421 (also for /metrics), allowed Hosts (localhost:port,
//     127.0.0.1:port, no port) -> 200; a cross-origin POST /admin/log_level (text/plain, the
//     kind a page can send without preflight) -> 403 and the level unchanged; a same-origin
//     one -> 200; counted as admin_host / admin_origin;
//  8. the long-poll, held for 30 s while the 5 s request timeout was cutting unfinished
//     requests, returns its keepalive.
// Runs without a network namespace too (127.0.0.2 is local on Linux). Exit 0 pass, 77 skip
// (parley only), 1 fail.

import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import { assert, target, withServer } from './lib/server.mjs';

const INDEX = 34;
const FLOOD = 2000;
const PER_IP = 256;          // the default http.max_connections_per_ip
const TIMEOUT_S = 5;         // --http.request_timeout_s
const PROBES = 100;
const ATTACKER = '127.0.0.1';
const CLIENT = '127.0.0.2';

if (target() !== 'parley') {
  console.log('SKIP: the HTTP abuse limits and admin checks exist only in parley');
  process.exit(77);
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// One HTTP request on its own connection from a chosen local address.
function request(port, { method = 'GET', path = '/', headers = {}, body, local = CLIENT, timeoutMs = 40000 } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, localAddress: local, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { text += d; });
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text, ms: Date.now() - t0 }));
      });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function json(r) {
  try { return JSON.parse(r.text); } catch { return null; }
}

// A raw exchange: sends bytes, collects everything until the server closes (or limitMs).
function raw(port, bytes, limitMs = 5000, local = CLIENT) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress: local });
    let data = '';
    let closed = false;
    const timer = setTimeout(() => { s.destroy(); resolve({ data, closed }); }, limitMs);
    s.on('connect', () => s.write(bytes));
    s.on('data', (d) => { data += d.toString('latin1'); });
    s.on('error', () => {});
    s.on('close', () => { closed = true; clearTimeout(timer); resolve({ data, closed }); });
  });
}

async function metricValue(srv, reason) {
  const r = await request(srv.ports.admin, { path: '/metrics', headers: { host: `127.0.0.1:${srv.ports.admin}` }, local: '127.0.0.1' });
  assert(r.status === 200, `/metrics: ${r.status}`);
  const m = new RegExp(`^parley_http_refusals_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(r.text);
  assert(m, `/metrics has no parley_http_refusals_total{reason="${reason}"}`);
  return Number(m[1]);
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

// Opens the flood: each socket sends an unfinished request and records when it closed.
function openFlood(port) {
  const socks = [];
  for (let i = 0; i < FLOOD; i++) {
    const st = { opened: Date.now(), closedAt: null, wrote: null };
    const s = net.connect({ host: '127.0.0.1', port, localAddress: ATTACKER });
    s.on('connect', () => {
      s.write('GET /janus/info HTTP/1.1\r\nHost: 127.0.0.1\r\n');   // no blank line: never finished
      st.wrote = Date.now();
    });
    s.on('error', () => {});
    s.on('close', () => { st.closedAt = Date.now(); });
    st.sock = s;
    socks.push(st);
  }
  return socks;
}

await withServer({ index: INDEX, extraArgs: [`--http.request_timeout_s=${TIMEOUT_S}`] }, async (srv) => {
  const P = srv.ports.http;
  const A = srv.ports.admin;
  const T0 = Date.now();

  // 1. a long-poll from the other address, before the flood
  const created = json(await request(P, { method: 'POST', path: '/janus', body: JSON.stringify({ janus: 'create', transaction: 'c' }) }));
  assert(created && created.janus === 'success', `create: ${JSON.stringify(created)}`);
  const longPoll = request(P, { path: `/janus/${created.data.id}`, timeoutMs: 45000 });

  // 2. the flood from 127.0.0.1
  const flood = openFlood(P);
  await sleep(2000);
  const refusedFast = flood.filter((f) => f.closedAt !== null).length;
  const held = flood.filter((f) => f.closedAt === null).length;
  console.log(`flood: ${FLOOD} unfinished GET /janus/info from ${ATTACKER}: ${held} held, ${refusedFast} closed by the server within 2 s`);
  assert(held >= PER_IP && held <= PER_IP + 4, `held ${held}, expected ${PER_IP} (+ at most threads - 1)`);
  assert(held + refusedFast === FLOOD, `${FLOOD - held - refusedFast} sockets in an unknown state`);

  // 3. the other address is served normally meanwhile
  const lat = [];
  for (let i = 0; i < PROBES; i += 4) {
    const batch = await Promise.all([0, 1, 2, 3].map(() => request(P, { path: '/janus/info', timeoutMs: 5000 })));
    for (const r of batch) {
      assert(r.status === 200 && json(r).janus === 'server_info', `probe: ${r.status} ${r.text.slice(0, 100)}`);
      lat.push(r.ms);
    }
  }
  lat.sort((a, b) => a - b);
  const p50 = percentile(lat, 50), p99 = percentile(lat, 99);
  console.log(`${CLIENT} during the flood: ${lat.length} GET /janus/info, p50 ${p50} ms, p99 ${p99} ms, max ${lat[lat.length - 1]} ms`);
  assert(p99 < 1000, `p99 ${p99} ms >= 1 s`);

  // 4. counted and logged, rate-limited: one more refusal, over a second after the burst,
  // writes the line that sums up the suppressed ones
  await sleep(1100);
  const late = await raw(P, 'GET /janus/info HTTP/1.1\r\n', 2000, ATTACKER);
  assert(late.closed && late.data === '', `a connection from ${ATTACKER} at its limit was not closed at once`);
  const perIp = await metricValue(srv, 'per_ip');
  console.log(`parley_http_refusals_total{reason="per_ip"} ${perIp}`);
  assert(perIp >= refusedFast, `per_ip ${perIp} < ${refusedFast} refused`);
  const floodS = (Date.now() - T0) / 1000;
  const log = fs.readFileSync(srv.logFile, 'utf8');
  const refusalLines = log.split('\n').filter((l) => l.includes(`refused a connection from ${ATTACKER}`));
  const suppressed = refusalLines.map((l) => /\((\d+) similar messages suppressed\)/.exec(l)).filter(Boolean)
    .reduce((n, m) => n + Number(m[1]), 0);
  console.log(`log: ${refusalLines.length} refusal lines (+${suppressed} suppressed, reported in them) for ${perIp} refusals in ${floodS.toFixed(1)} s`);
  assert(refusalLines.length >= 2 && refusalLines.length <= Math.ceil(floodS) + 2, `${refusalLines.length} refusal lines`);
  assert(refusalLines.length + suppressed === perIp, `lines ${refusalLines.length} + suppressed ${suppressed} != ${perIp} refusals`);

  // 5. the held connections are closed by the timeout
  const deadline = Date.now() + (TIMEOUT_S + 4) * 1000;
  while (Date.now() < deadline && flood.some((f) => f.closedAt === null)) await sleep(100);
  const stillOpen = flood.filter((f) => f.closedAt === null).length;
  const heldOnes = flood.filter((f) => f.closedAt !== null && f.wrote !== null && f.closedAt - f.wrote >= 2000);
  const lifetimes = heldOnes.map((f) => f.closedAt - f.wrote).sort((a, b) => a - b);
  console.log(`timeout: ${heldOnes.length} held connections closed ${lifetimes.length ? `${(lifetimes[0] / 1000).toFixed(1)}-${(lifetimes[lifetimes.length - 1] / 1000).toFixed(1)} s` : '-'} after their last byte; ${stillOpen} still open`);
  assert(stillOpen === 0, `${stillOpen} unfinished requests still open ${TIMEOUT_S + 4} s later`);
  assert(lifetimes.length >= PER_IP && lifetimes[0] >= (TIMEOUT_S - 1) * 1000 && lifetimes[lifetimes.length - 1] <= (TIMEOUT_S + 3) * 1000,
    `held connections closed after ${lifetimes[0]}..${lifetimes[lifetimes.length - 1]} ms, expected about ${TIMEOUT_S} s`);
  for (const f of flood) f.sock.destroy();
  await sleep(200);
  const timeouts = await metricValue(srv, 'timeout');
  console.log(`parley_http_refusals_total{reason="timeout"} ${timeouts}`);
  assert(timeouts >= heldOnes.length, `timeout ${timeouts} < ${heldOnes.length}`);
  const back = await request(P, { path: '/janus/info', local: ATTACKER, timeoutMs: 5000 });
  assert(back.status === 200, `${ATTACKER} after the flood: ${back.status}`);

  // 6. differing Content-Length headers
  const dupBefore = await metricValue(srv, 'duplicate_content_length');
  const body = JSON.stringify({ janus: 'create', transaction: 'dup' });
  const smuggled = `POST /janus HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n` +
    `Content-Length: ${body.length + 60}\r\n\r\n${body}GET /janus/info HTTP/1.1\r\nHost: x\r\n\r\n`;
  const dup = await raw(P, smuggled);
  const dupStatus = /^HTTP\/1\.1 (\d+)/.exec(dup.data);
  const dupBody = dup.data.slice(dup.data.indexOf('\r\n\r\n') + 4);
  console.log(`duplicate Content-Length: ${dupStatus && dupStatus[1]} ${dupBody.trim()}; connection closed: ${dup.closed}`);
  assert(dupStatus && dupStatus[1] === '400', `two Content-Length: ${dup.data.slice(0, 200)}`);
  assert(/"code":"bad_request"/.test(dupBody) && !/server_info|"janus"/.test(dup.data), `400 body: ${dupBody}`);
  assert(dup.closed && (dup.data.match(/HTTP\/1\.1 /g) || []).length === 1, 'the connection stays open or answered twice');
  assert(await metricValue(srv, 'duplicate_content_length') === dupBefore + 1, 'duplicate_content_length not counted');
  const same = await raw(P, `POST /janus HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${body.length}\r\n` +
    `Content-Length: ${body.length}\r\n\r\n${body}`);
  assert(/^HTTP\/1\.1 200/.test(same.data) && /"janus":"success"/.test(same.data), `equal Content-Length twice: ${same.data.slice(0, 200)}`);

  // 7. the admin port: Host and Origin
  const hostBefore = await metricValue(srv, 'admin_host');
  const originBefore = await metricValue(srv, 'admin_origin');
  const adm = (opts) => request(A, { local: '127.0.0.1', ...opts });
  const foreign = await adm({ path: '/admin/sessions', headers: { host: `attacker.example:${A}` } });
  assert(foreign.status === 421 && json(foreign) && json(foreign).error.code === 'misdirected_request',
    `foreign Host: ${foreign.status} ${foreign.text}`);
  const foreignMetrics = await adm({ path: '/metrics', headers: { host: 'rebind.attacker.example' } });
  assert(foreignMetrics.status === 421, `foreign Host on /metrics: ${foreignMetrics.status}`);
  for (const h of [`localhost:${A}`, `127.0.0.1:${A}`, 'localhost', `[::1]:${A}`]) {
    const ok = await adm({ path: '/admin/sessions', headers: { host: h } });
    assert(ok.status === 200 && Array.isArray(json(ok)), `Host ${h}: ${ok.status} ${ok.text.slice(0, 100)}`);
  }
  const level0 = json(await adm({ path: '/admin/log_level', headers: { host: `127.0.0.1:${A}` } })).level;
  const cross = await adm({ method: 'POST', path: '/admin/log_level', body: '{"level":"trace"}',
    headers: { host: `127.0.0.1:${A}`, origin: 'http://attacker.example', 'content-type': 'text/plain' } });
  assert(cross.status === 403 && json(cross) && json(cross).error.code === 'forbidden_origin', `cross-origin POST: ${cross.status} ${cross.text}`);
  const nullOrigin = await adm({ method: 'POST', path: '/admin/log_level', body: '{"level":"trace"}',
    headers: { host: `127.0.0.1:${A}`, origin: 'null', 'content-type': 'text/plain' } });
  assert(nullOrigin.status === 403, `Origin null: ${nullOrigin.status}`);
  const level1 = json(await adm({ path: '/admin/log_level', headers: { host: `127.0.0.1:${A}` } })).level;
  assert(level1 === level0, `the level changed from ${level0} to ${level1}`);
  const sameOrigin = await adm({ method: 'POST', path: '/admin/log_level', body: JSON.stringify({ level: level0 }),
    headers: { host: `localhost:${A}`, origin: `http://localhost:${A}` } });
  assert(sameOrigin.status === 200, `same-origin POST: ${sameOrigin.status} ${sameOrigin.text}`);
  const hostAfter = await metricValue(srv, 'admin_host');
  const originAfter = await metricValue(srv, 'admin_origin');
  console.log(`admin: foreign Host -> ${foreign.status}, allowed Hosts -> 200, cross-origin POST -> ${cross.status} ` +
    `(level stays ${level1}); admin_host +${hostAfter - hostBefore}, admin_origin +${originAfter - originBefore}`);
  assert(hostAfter - hostBefore === 2 && originAfter - originBefore === 2, 'admin refusals not counted');

  // 8. the long-poll was not cut by the request timeout
  const lp = await longPoll;
  console.log(`long-poll from ${CLIENT}: ${lp.status} ${lp.text.replace(/\s+/g, '')} after ${(lp.ms / 1000).toFixed(1)} s ` +
    `(request_timeout_s ${TIMEOUT_S})`);
  assert(lp.status === 200 && json(lp) && json(lp).janus === 'keepalive', `long-poll: ${lp.status} ${lp.text}`);
  assert(lp.ms >= 29000, `the long-poll returned after ${lp.ms} ms`);
  console.log(`total ${((Date.now() - T0) / 1000).toFixed(1)} s`);
});
