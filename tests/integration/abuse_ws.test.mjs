#!/usr/bin/env node
// abuse_ws: one WebSocket client cannot stall the others, and upgraded connections cannot
// hold the server's memory (issue 13, the WebSocket rows). One server (index 33) started with
// short timeouts (--ws.handshake_timeout_s=3 --ws.idle_timeout_s=5) and
// --ws.max_buffered_total=24 MiB; the other limits at their defaults (64 connections per
// address, 200 messages/s per connection, burst 400). Bounded in count and time (about 40 s):
//  a. a flooder on 127.0.0.2 (a worker thread, its own event loop) writes {"janus":"ping"}
//     frames as fast as the socket takes them for up to 9 s (until it gets a close frame), then a
//     second one WebSocket ping frames; meanwhile a good client on 127.0.0.1 sends a keepalive on its session or a ping
//     every 50 ms: every answer within 1 s (p50/p99/max printed), its session alive at the
//     end; each flooder is closed with 1008 (parley_ws_refusals_total{reason="flood"}) and
//     was throttled (parley_ws_throttled_total).
//  b. connections from 127.0.0.2 until refused: exactly 64 upgrade, the 65th gets 429 with a
//     JSON body (reason="per_ip"); a new one from 127.0.0.1 still upgrades and answers.
//  c. 40 connections from 127.0.0.2 each leave a 700 KiB non-final text frame unfinished (20
//     of them after one complete message), 10 a 1 MiB frame half-sent: the total cap drops
//     the largest (1008, reason="buffered_total"), the timeouts drop the rest (1001,
//     handshake_timeout and idle_timeout); the server's VmRSS goes back near where it started
//     and parley_ws_buffered_bytes to ~0.
// At the end a fresh session over a new socket answers create/attach, the good client's
// session still answers, and (with a namespace and Chromium) a janus.js echotest over
// WebSocket connects.
// ABUSE_WS_BASELINE=1 runs part (a) only, without the new flags and without asserting (for
// measuring a server without these limits). Exit 0 pass, 77 skip, 1 fail.

import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import { browserAvailable, openBrowser } from './lib/browser.mjs';
import { checkMediaFlowing, sleep } from './lib/echotest.mjs';
import { assert, target, withServer } from './lib/server.mjs';
import { wsConnect } from './lib/wsraw.mjs';

const INDEX = 33;
const BASELINE = !!process.env.ABUSE_WS_BASELINE;
const FLOOD_MS = 9000;

if (target() !== 'parley') {
  console.log('SKIP: the WebSocket limits exist only in parley');
  process.exit(77);
}

const extraArgs = BASELINE ? [] : ['--ws.handshake_timeout_s=3', '--ws.idle_timeout_s=5',
  `--ws.max_buffered_total=${24 * 1024 * 1024}`];

function masked(opcode, payload, { fin = true, len = null } = {}) {
  const p = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const n = len ?? p.length;
  let hdr;
  if (n < 126) { hdr = Buffer.alloc(2); hdr[1] = n; }
  else if (n < 65536) { hdr = Buffer.alloc(4); hdr[1] = 126; hdr.writeUInt16BE(n, 2); }
  else { hdr = Buffer.alloc(10); hdr[1] = 127; hdr.writeBigUInt64BE(BigInt(n), 2); }
  hdr[0] = (fin ? 0x80 : 0) | opcode;
  hdr[1] |= 0x80;
  const m = crypto.randomBytes(4);
  const body = Buffer.alloc(p.length);
  for (let i = 0; i < p.length; i++) body[i] = p[i] ^ m[i & 3];
  return Buffer.concat([hdr, m, body]);
}

// A raw upgrade from a chosen local address. Resolves {status, body, sock, closed} where
// closed resolves with the close code the server sent (1006 when none).
function rawUpgrade(port, localAddress) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1', localAddress });
    const key = crypto.randomBytes(16).toString('base64');
    let buf = Buffer.alloc(0);
    let head = null;
    let closeCode = null;
    let closedResolve;
    const closed = new Promise((r) => { closedResolve = r; });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!head) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = buf.subarray(0, end).toString();
        buf = buf.subarray(end + 4);
        const status = Number(head.split(' ')[1]);
        if (status !== 101) {
          setTimeout(() => resolve({ status, head, body: buf.toString(), sock, closed }), 100);
          return;
        }
        resolve({ status, head, body: '', sock, closed });
      }
      // Server frames: look only for a close frame (opcode 8) to learn its code.
      while (buf.length >= 2) {
        let len = buf[1] & 0x7f, off = 2;
        if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
        else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
        if (buf.length < off + len) return;
        if ((buf[0] & 0x0f) === 8 && closeCode === null) closeCode = len >= 2 ? buf.readUInt16BE(off) : 1005;
        buf = buf.subarray(off + len);
      }
    });
    sock.on('error', (e) => { if (!head) reject(e); });
    sock.on('close', () => { closedResolve(closeCode ?? 1006); if (!head) reject(new Error('closed during handshake')); });
    sock.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: janus-protocol\r\n\r\n`);
  });
}

// The flooder, in a worker thread so its writes cannot delay the good client's timers.
const FLOODER = `
const { parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');
const crypto = require('node:crypto');
const { port, kind, ms } = workerData;
function frame(op, p) {
  const m = crypto.randomBytes(4);
  const h = Buffer.from([0x80 | op, 0x80 | p.length]);
  const b = Buffer.alloc(p.length);
  for (let i = 0; i < p.length; i++) b[i] = p[i] ^ m[i & 3];
  return Buffer.concat([h, m, b]);
}
const one = kind === 'janus' ? frame(1, Buffer.from('{"janus":"ping","transaction":"flood"}')) : frame(9, Buffer.from('flood'));
const burst = Buffer.concat(Array(4096).fill(one));
const sock = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' });
let sent = 0, code = null, upgraded = false, t0 = 0, buf = Buffer.alloc(0), closedAt = null;
const key = crypto.randomBytes(16).toString('base64');
sock.write('GET / HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Key: ' + key +
  '\\r\\nSec-WebSocket-Version: 13\\r\\nSec-WebSocket-Protocol: janus-protocol\\r\\n\\r\\n');
function pump() {
  while (!sock.destroyed && code === null && Date.now() - t0 < ms) {
    sent += burst.length;
    if (!sock.write(burst)) { sock.once('drain', pump); return; }
  }
  if (!sock.destroyed) finish();
}
function finish() {
  const dt = ((closedAt ?? Date.now()) - t0) / 1000;
  parentPort.postMessage({ sent, code, seconds: dt });
  sock.destroy();
}
sock.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  if (!upgraded) {
    const end = buf.indexOf('\\r\\n\\r\\n');
    if (end < 0) return;
    upgraded = true; buf = buf.subarray(end + 4); t0 = Date.now(); setImmediate(pump);
  }
  while (buf.length >= 2) {
    let len = buf[1] & 0x7f, off = 2;
    if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
    if (buf.length < off + len) return;
    if ((buf[0] & 0x0f) === 8 && code === null) { code = len >= 2 ? buf.readUInt16BE(off) : 1005; closedAt = Date.now(); }
    buf = buf.subarray(off + len);
  }
});
sock.on('error', () => {});
sock.on('close', () => { if (closedAt === null) closedAt = Date.now(); finish(); });
`;

function flood(port, kind) {
  return new Promise((resolve) => {
    const w = new Worker(FLOODER, { eval: true, workerData: { port, kind, ms: FLOOD_MS } });
    let done = false;
    w.on('message', (m) => { if (!done) { done = true; resolve(m); w.terminate(); } });
    w.on('error', (e) => { if (!done) { done = true; resolve({ error: String(e) }); } });
  });
}

async function metrics(srv) {
  const r = await fetch(`http://127.0.0.1:${srv.ports.admin}/metrics`);
  const text = await r.text();
  const m = {};
  for (const line of text.split('\n')) {
    const x = /^(parley_ws_[a-z_]+(?:\{[^}]*\})?) (\d+(?:\.\d+)?)$/.exec(line);
    if (x) m[x[1]] = Number(x[2]);
  }
  return m;
}

function vmRssKb(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(s)[1]);
}

// AddressSanitizer keeps freed memory in its quarantine (and its own shadow memory), so a
// sanitized server's RSS says nothing about what the server gave back.
function sanitized(pid) {
  return /libasan|libtsan/.test(fs.readFileSync(`/proc/${pid}/maps`, 'utf8'));
}

function pct(sorted, p) { return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]; }

// The good client: a request every 50 ms while `running()`, alternating keepalive and ping.
async function probe(good, sid, running) {
  const lat = [];
  let failures = 0;
  let i = 0;
  while (running()) {
    const t = performance.now();
    const req = i++ % 2 ? { janus: 'keepalive', session_id: sid } : { janus: 'ping' };
    const r = await good.request(req, { ms: 3000 });
    const dt = performance.now() - t;
    if (!r || (r.janus !== 'ack' && r.janus !== 'pong')) failures++;
    lat.push(dt);
    await sleep(Math.max(0, 50 - dt));
  }
  lat.sort((a, b) => a - b);
  return { n: lat.length, failures, p50: pct(lat, 0.5), p99: pct(lat, 0.99), max: lat[lat.length - 1] };
}

async function partFlood(srv, good, sid) {
  const out = {};
  for (const kind of ['janus', 'wsping']) {
    let running = true;
    const probing = probe(good, sid, () => running);
    const f = await flood(srv.ports.ws, kind);
    running = false;
    const p = await probing;
    out[kind] = { f, p };
    console.log(`flood of ${kind === 'janus' ? '{"janus":"ping"} text frames' : 'WebSocket ping frames'}: ` +
      `flooder wrote ${(f.sent / 1e6).toFixed(1)} MB in ${f.seconds?.toFixed(1)} s, closed with ${f.code}; ` +
      `other client: ${p.n} requests, ${p.failures} unanswered, latency p50 ${p.p50.toFixed(1)} ms, ` +
      `p99 ${p.p99.toFixed(1)} ms, max ${p.max.toFixed(1)} ms`);
  }
  return out;
}

await withServer({ index: INDEX, sessionTimeout: 30, extraArgs }, async (srv) => {
  const T0 = Date.now();
  const good = await wsConnect(srv.ports.ws);
  const c = await good.request({ janus: 'create' });
  assert(c && c.janus === 'success', `create: ${JSON.stringify(c)}`);
  const sid = c.data.id;

  // ---- a. flood ----
  const m0 = await metrics(srv);
  const fl = await partFlood(srv, good, sid);
  const ka = await good.request({ janus: 'keepalive', session_id: sid });
  if (BASELINE) {
    console.log(`baseline: session after the floods: ${JSON.stringify(ka)}`);
    return;
  }
  for (const [kind, { f, p }] of Object.entries(fl)) {
    assert(!f.error, `${kind} flooder: ${f.error}`);
    assert(p.failures === 0, `${kind}: ${p.failures} of the other client's requests unanswered`);
    assert(p.max < 1000, `${kind}: the other client waited ${p.max.toFixed(0)} ms (want < 1000)`);
    assert(f.code === 1008, `${kind}: the flooder was closed with ${f.code} (want 1008)`);
  }
  assert(ka && ka.janus === 'ack', `the other client's session after the floods: ${JSON.stringify(ka)}`);
  // From here on the good client keeps its socket and session alive (idle_timeout_s is 5).
  let keeping = true;
  const keeper = (async () => {
    while (keeping) {
      await sleep(1500);
      if (keeping) await good.request({ janus: 'keepalive', session_id: sid }, { ms: 1000 });
    }
  })();
  const m1 = await metrics(srv);
  const floods = (m1['parley_ws_refusals_total{reason="flood"}'] ?? 0) - (m0['parley_ws_refusals_total{reason="flood"}'] ?? 0);
  assert(floods === 2, `parley_ws_refusals_total{reason="flood"} rose by ${floods} (want 2)`);
  assert(m1.parley_ws_throttled_total > (m0.parley_ws_throttled_total ?? 0), 'parley_ws_throttled_total did not rise');
  console.log(`flood: ${floods} closed with 1008, throttled ${m1.parley_ws_throttled_total} times, ` +
    `longest Janus request on the ws thread ${(m1.parley_ws_request_max_seconds * 1000).toFixed(2)} ms (${((Date.now() - T0) / 1000).toFixed(1)} s)`);

  // ---- b. connections per address ----
  await sleep(300);
  const held = [];
  let refused = null;
  for (let i = 0; i < 80 && !refused; i++) {
    const u = await rawUpgrade(srv.ports.ws, '127.0.0.2');
    if (u.status === 101) {
      u.sock.write(masked(1, JSON.stringify({ janus: 'ping', transaction: `b${i}` })));
      held.push(u);
    } else {
      refused = u;
    }
  }
  assert(held.length === 64, `${held.length} connections from 127.0.0.2 upgraded (want 64)`);
  assert(refused && refused.status === 429, `the 65th: ${refused && refused.head}`);
  const body = JSON.parse(refused.body);
  assert(body.error && body.error.code === 'too_many_connections', `429 body: ${refused.body}`);
  const other = await wsConnect(srv.ports.ws);
  const op = await other.request({ janus: 'ping' });
  assert(op && op.janus === 'pong', `a connection from 127.0.0.1 while 127.0.0.2 is full: ${JSON.stringify(op)}`);
  other.close();
  for (const u of held) u.sock.destroy();
  const m2 = await metrics(srv);
  assert(m2['parley_ws_refusals_total{reason="per_ip"}'] >= 1, 'per_ip refusal not counted');
  console.log(`per address: 64 upgraded from 127.0.0.2, the 65th got 429 ${refused.body}; 127.0.0.1 still served ` +
    `(${((Date.now() - T0) / 1000).toFixed(1)} s)`);

  // ---- c. idle and half-sent messages ----
  await sleep(500);
  const rss0 = vmRssKb(srv.child.pid);
  const conns = [];
  const big = Buffer.alloc(700 * 1024, 0x61);
  for (let i = 0; i < 40; i++) {
    const u = await rawUpgrade(srv.ports.ws, '127.0.0.2');
    assert(u.status === 101, `half-sent connection ${i}: ${u.head}`);
    if (i % 2) u.sock.write(masked(1, JSON.stringify({ janus: 'ping', transaction: `c${i}` })));
    u.sock.write(masked(1, big, { fin: false }));
    conns.push(u);
  }
  for (let i = 0; i < 10; i++) {
    const u = await rawUpgrade(srv.ports.ws, '127.0.0.2');
    const whole = masked(1, Buffer.alloc(1024 * 1024, 0x62));
    u.sock.write(whole.subarray(0, 300 * 1024));
    conns.push(u);
  }
  await sleep(700);
  const rssPeak = vmRssKb(srv.child.pid);
  const mPeak = await metrics(srv);
  const t1 = Date.now();
  const codes = await Promise.race([Promise.all(conns.map((u) => u.closed)), sleep(12000).then(() => null)]);
  assert(codes, 'not every idle or half-sent connection was dropped within 12 s');
  const dropSec = (Date.now() - t1) / 1000;
  await sleep(500);
  const rss1 = vmRssKb(srv.child.pid);
  const m3 = await metrics(srv);
  const count = (r) => (m3[`parley_ws_refusals_total{reason="${r}"}`] ?? 0) - (m2[`parley_ws_refusals_total{reason="${r}"}`] ?? 0);
  const tally = {};
  for (const code of codes) tally[code] = (tally[code] ?? 0) + 1;
  console.log(`half-sent: 50 connections (40 x 700 KiB unfinished, 10 x 1 MiB frame half-sent), buffered ` +
    `${(mPeak.parley_ws_buffered_bytes / 1048576).toFixed(1)} MiB at the peak; close codes ${JSON.stringify(tally)} ` +
    `(buffered_total ${count('buffered_total')}, handshake_timeout ${count('handshake_timeout')}, ` +
    `idle_timeout ${count('idle_timeout')}) all within ${dropSec.toFixed(1)} s; VmRSS ${(rss0 / 1024).toFixed(1)} -> ` +
    `${(rssPeak / 1024).toFixed(1)} -> ${(rss1 / 1024).toFixed(1)} MiB; buffered now ${m3.parley_ws_buffered_bytes} bytes`);
  assert(count('buffered_total') >= 1, 'the total cap dropped nothing');
  assert(count('handshake_timeout') >= 1 && count('idle_timeout') >= 1, 'the timeouts dropped nothing');
  assert((tally[1008] ?? 0) >= 1 && (tally[1001] ?? 0) >= 1, `close codes ${JSON.stringify(tally)}`);
  assert(mPeak.parley_ws_buffered_bytes > 16 * 1048576, `buffered at the peak ${mPeak.parley_ws_buffered_bytes}`);
  assert(m3.parley_ws_buffered_bytes < 1048576, `still buffered: ${m3.parley_ws_buffered_bytes}`);
  if (sanitized(srv.child.pid)) console.log('(sanitized server: its VmRSS is not checked)');
  else assert(rss1 - rss0 < 8 * 1024, `VmRSS ${rss0} kB before, ${rss1} kB after (want within 8 MiB)`);
  for (const u of conns) u.sock.destroy();

  // ---- the server still serves ----
  const fresh = await wsConnect(srv.ports.ws);
  const fc = await fresh.request({ janus: 'create' });
  assert(fc && fc.janus === 'success', `fresh create: ${JSON.stringify(fc)}`);
  const fa = await fresh.request({ janus: 'attach', session_id: fc.data.id, plugin: 'janus.plugin.echotest' });
  assert(fa && fa.janus === 'success', `fresh attach: ${JSON.stringify(fa)}`);
  const gk = await good.request({ janus: 'keepalive', session_id: sid });
  assert(gk && gk.janus === 'ack', `the first client's session at the end: ${JSON.stringify(gk)}`);
  fresh.close();
  const why = !process.env.PARLEY_NETNS ? 'no network namespace' : browserAvailable();
  if (why) {
    console.log(`echotest not run (${why}); a fresh session answered create/attach`);
  } else {
    const br = await openBrowser();
    try {
      const started = await br.page.evaluate((s) => window.echo.start({ server: s }), srv.wsUrl);
      await br.page.evaluate(() => window.echo.waitDataOpen());
      const flow = await checkMediaFlowing(br, 2, 'after the abuse');
      console.log(`echotest after the abuse: webrtcup in ${started.webrtcupMs.toFixed(0)} ms, ` +
        `${flow.audioPps.toFixed(0)} audio / ${flow.videoPps.toFixed(0)} video pkt/s`);
    } finally {
      await br.close();
    }
  }
  keeping = false;
  await keeper;
  good.close();
  console.log(`total ${((Date.now() - T0) / 1000).toFixed(1)} s`);
});
