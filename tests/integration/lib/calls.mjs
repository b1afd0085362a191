// Shared pieces of the calls tests (calls_*.test.mjs): accounts over the REST API, browser
// clients of the videocall plugin, media checks.
//
// Contract:
// - callsServerOpts(index, extraArgs) gives withServer() options: against parley auth is on
//   (every Janus request carries the user's access JWT as `token`), against Janus 1.1.2
//   nothing changes (there extraArgs are ignored, as lib/server.mjs does).
// - newUser(srv, role, label, devices) registers an account and logs in each device:
//   {id, username, name, tokens: {device: jwt}, token (the first device's)}. Against Janus
//   there is no platform API: username is a made-up unique string and tokens are undefined.
//   Callers buy the 'starter' credit package (calls are pre-authorised against the wallet).
// - api(srv, method, path, body, token) one REST call ({status, json}), traced for
//   openapi_validate when PARLEY_API_TRACE is set; listCalls/getCall/waitCall read
//   /api/v1/calls.
// - openClient(br, label) opens a new page (its own browser context) on the test page and
//   loads lib/page/call.js (window.call, janus.js videocall client) and lib/page/sdpgen.js
//   (window.sdpgen, real offers/answers for node-side clients); returns a CallClient whose
//   methods run the page's functions. prepareSdpPage(page) loads the same into an open
//   page. Console lines of all clients, labelled, are in consoleTail(); withClients(clients,
//   body) prints them and the clients' state when body throws.
// - flowing(clients, seconds, opts) samples each client's inbound RTP once a second and
//   asserts the wanted kinds keep rising (details at the function); firstFrames(clients)
//   waits for the first decoded video frame on each.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openBrowser } from './browser.mjs';
import { assert, target } from './server.mjs';
import { traceResponse } from './apitrace.mjs';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const PAGE_MODULES = {
  '/call.js': path.join(HERE, 'page', 'call.js'),
  '/sdpgen.js': path.join(HERE, 'page', 'sdpgen.js'),
};

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// "(load average 1.2 on 2 CPUs)": media timing failures on a busy machine say so.
export function loadNote() {
  return `(load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} CPUs)`;
}

export const isParley = () => target() === 'parley';

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function callsServerOpts(index, extraArgs = []) {
  return {
    index,
    extraArgs: ['--auth.required=true', '--auth.kdf_cost=10', '--auth.rate_limit_per_min=100000', ...extraArgs],
  };
}

export async function api(srv, method, p, body, token, headers = {}) {
  const h = { 'content-type': 'application/json', ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const url = `http://127.0.0.1:${srv.ports.http}/api/v1${p}`;
  const reqBody = body === undefined ? undefined : JSON.stringify(body);
  const r = await fetch(url, { method, headers: h, body: reqBody });
  const text = await r.text();
  traceResponse(method, url, reqBody, r, text);
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = { unparsed: text.slice(0, 200) }; }
  return { status: r.status, json };
}

let userSeq = 0;

export async function newUser(srv, role, label, devices = ['web']) {
  userSeq += 1;
  const tag = `${label.replace(/[^A-Za-z0-9]+/g, '-')}-${process.pid}-${userSeq}`;
  if (!isParley()) {
    const tokens = Object.fromEntries(devices.map((d) => [d, undefined]));
    return { id: null, username: tag, name: label, role, tokens, token: undefined };
  }
  const email = `${tag}@calls.example.test`;
  const password = 'calls-Test-9';
  let r = await api(srv, 'POST', '/auth/register', { email, password, role, display_name: label });
  assert(r.status === 201, `register ${label}: ${r.status} ${JSON.stringify(r.json)}`);
  const id = r.json.user.id;
  const tokens = {};
  for (const d of devices) {
    r = await api(srv, 'POST', '/auth/login', { email, password, device_id: d, device_name: `${label} ${d}` });
    assert(r.status === 200 && r.json.access_token, `login ${label}/${d}: ${r.status} ${JSON.stringify(r.json)}`);
    tokens[d] = r.json.access_token;
  }
  const token = tokens[devices[0]];
  if (role === 'caller') {
    r = await api(srv, 'POST', '/purchases', { package_id: 'starter' }, token, { 'idempotency-key': `calls-${tag}` });
    assert(r.status === 201, `purchase for ${label}: ${r.status} ${JSON.stringify(r.json)}`);
  }
  return { id, username: String(id), name: label, role, tokens, token, email, password };
}

// The calls of a user as GET /api/v1/calls lists them (the array, whatever it is wrapped in).
export async function listCalls(srv, token) {
  const r = await api(srv, 'GET', '/calls', undefined, token);
  assert(r.status === 200, `GET /calls: ${r.status} ${JSON.stringify(r.json)}`);
  const arr = Array.isArray(r.json) ? r.json : (r.json.calls || r.json.items || r.json.data);
  assert(Array.isArray(arr), `GET /calls: no array of calls in ${JSON.stringify(r.json).slice(0, 300)}`);
  return arr;
}

export async function getCall(srv, token, id) {
  const r = await api(srv, 'GET', `/calls/${encodeURIComponent(id)}`, undefined, token);
  assert(r.status === 200, `GET /calls/${id}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.call || r.json;
}

// Polls GET /calls/{id} until pred(call) holds (the row is written when the call ends,
// possibly a moment after the hangup events).
export async function waitCall(srv, token, id, pred, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const c = await getCall(srv, token, id);
    if (pred(c)) return c;
    if (Date.now() > end) return c;
    await sleep(200);
  }
}

const consoleLines = [];

export function consoleTail(n = 60) { return consoleLines.slice(-n).join('\n'); }

async function loadModules(page) {
  await page.route((url) => Object.hasOwn(PAGE_MODULES, url.pathname), (route) => {
    const f = PAGE_MODULES[new URL(route.request().url()).pathname];
    route.fulfill({ status: 200, headers: { 'content-type': 'text/javascript', 'cache-control': 'no-store' }, body: fs.readFileSync(f) });
  });
  await page.evaluate(async () => {
    window.call = await import('/call.js');
    window.sdpgen = await import('/sdpgen.js');
  });
}

// Loads call.js and sdpgen.js into an already open page (e.g. br.page).
export async function prepareSdpPage(page) {
  await loadModules(page);
  return page;
}

export class CallClient {
  constructor(page, label) { this.page = page; this.label = label; }

  ev(fn, arg) { return this.page.evaluate(fn, arg); }

  start(server, token, opts = {}) {
    return this.ev(([s, t, o]) => window.call.start({ server: s, token: t, ...o }), [server, token ?? null, opts]);
  }

  // Registers and asserts the `registered` event (returns it).
  async register(username) {
    const e = await this.ev((u) => window.call.register(u), username);
    assert(e.result && e.result.event === 'registered', `${this.label}: register ${username}: ${JSON.stringify(e)}`);
    return e;
  }

  registerRaw(username) { return this.ev((u) => window.call.register(u), username); }

  call(username, tracks, body = {}) {
    return this.ev(([u, t, b]) => window.call.call(u, t || window.call.AV, b), [username, tracks || null, body]);
  }

  accept(tracks) { return this.ev((t) => window.call.accept(t || window.call.AV), tracks || null); }

  // `resume` after a server restart (lib/page/call.js resume(): offer 'handle' | 'none').
  resume(callId, token, { tracks, offer = 'handle' } = {}) {
    return this.ev(([c, k, t, o]) => window.call.resume(c, k, t || window.call.AV, { offer: o }), [callId, token, tracks || null, offer]);
  }

  // The page clock the events' `t` are on.
  clock() { return this.ev(() => window.call.clock()); }

  renegotiate(tracks, body = {}) { return this.ev(([t, b]) => window.call.renegotiate(t, b), [tracks, body]); }

  answerUpdate(tracks) { return this.ev((t) => window.call.answerUpdate(t || undefined), tracks || null); }

  send(message) { return this.ev((m) => window.call.send(m), message); }

  mark() { return this.ev(() => window.call.mark()); }

  waitEvent(match, since = 0, ms = 10000) {
    return this.ev(([m, s, t]) => window.call.waitEvent(m, s, t), [match, since, ms]);
  }

  hangup() { return this.ev(() => window.call.hangup()); }

  sendData(text) { return this.ev((t) => window.call.sendData(t), text); }

  waitData(text) { return this.ev((t) => window.call.waitData(t), text); }

  stats() { return this.ev(() => window.call.stats()); }

  hasPc() { return this.ev(() => window.call.hasPc()); }

  directions() { return this.ev(() => window.call.directions()); }

  state() { return this.ev(() => window.call.state()); }

  monitorStart(kind, periodMs) { return this.ev(([k, p]) => window.call.monitorStart(k, p), [kind, periodMs]); }

  monitorStop() { return this.ev(() => window.call.monitorStop()); }

  // Resolves with the time (page clock) of webrtcup, waiting up to ms.
  async webrtcUp(ms = 15000) {
    const end = Date.now() + ms;
    for (;;) {
      const s = await this.state();
      if (s.webrtcUp !== null) return s.webrtcUp;
      assert(s.errors.length === 0, `${this.label}: client errors ${s.errors.join('; ')}`);
      assert(Date.now() < end, `${this.label}: no webrtcup in ${ms} ms; log:\n${s.log.slice(-20).join('\n')}`);
      await sleep(100);
    }
  }

  async stop() { try { await this.ev(() => window.call.stop()); } catch { /* page gone */ } }

  // Printed on failure: the client's last events and log.
  async dump() {
    try {
      const s = await this.state();
      return `--- ${this.label}: webrtcUp ${s.webrtcUp}, downs ${JSON.stringify(s.webrtcDowns)}, errors ${JSON.stringify(s.errors)}\n` +
        `events: ${JSON.stringify(s.events.slice(-12))}\nlog:\n${s.log.slice(-25).join('\n')}`;
    } catch (e) { return `--- ${this.label}: (no state: ${e.message})`; }
  }
}

export async function openClient(br, label) {
  const page = await br.newPage();
  page.on('console', (m) => {
    consoleLines.push(`[${label}] [${m.type()}] ${m.text()}`);
    if (consoleLines.length > 400) consoleLines.shift();
  });
  page.on('pageerror', (e) => consoleLines.push(`[${label}] [pageerror] ${e.message}`));
  await loadModules(page);
  return new CallClient(page, label);
}

// Samples every client once a second for `seconds` s and asserts that the inbound counters
// of the wanted kinds rise in every second: audio packets and video packets; decoded frames
// may miss a second or two (a loaded 2-core machine starves the decoder now and then) but
// not three in a row, and average at least 3 frames/s. Failures quote the load average.
// Returns per-client rates {label: {audioPps, videoPps, fps, kbps}}.
export async function flowing(clients, seconds, { audio = true, video = true, what = '' } = {}) {
  const first = await Promise.all(clients.map((c) => c.stats()));
  let prev = first;
  const stalls = [];
  const frozen = clients.map(() => 0);
  for (let i = 0; i < seconds; i++) {
    await sleep(1000);
    const cur = await Promise.all(clients.map((c) => c.stats()));
    clients.forEach((c, k) => {
      const a = prev[k];
      const b = cur[k];
      if (audio && b.audio.packetsReceived <= a.audio.packetsReceived) stalls.push(`${c.label} audio in second ${i + 1}`);
      if (video && b.video.packetsReceived <= a.video.packetsReceived) stalls.push(`${c.label} video packets in second ${i + 1}`);
      frozen[k] = b.video.framesDecoded > a.video.framesDecoded ? 0 : frozen[k] + 1;
      if (video && frozen[k] === 3) stalls.push(`${c.label} video frames in seconds ${i - 1}-${i + 1}`);
    });
    prev = cur;
  }
  assert(stalls.length === 0, `${what} media stalled: ${stalls.join(', ')} ${loadNote()}`);
  const out = {};
  clients.forEach((c, k) => {
    const a = first[k];
    const b = prev[k];
    const r = {
      audioPps: (b.audio.packetsReceived - a.audio.packetsReceived) / seconds,
      videoPps: (b.video.packetsReceived - a.video.packetsReceived) / seconds,
      fps: (b.video.framesDecoded - a.video.framesDecoded) / seconds,
      kbps: ((b.video.bytesReceived - a.video.bytesReceived) * 8) / 1000 / seconds,
      totals: { audio: b.audio.packetsReceived, video: b.video.packetsReceived, frames: b.video.framesDecoded },
    };
    // Chromium sends 50 audio packets/s (20 ms Opus); its fake camera well over 10 video packets/s.
    if (audio) assert(r.audioPps >= 25, `${what} ${c.label}: audio ${r.audioPps} packets/s ${loadNote()}`);
    if (video) assert(r.videoPps >= 10 && r.fps >= 3, `${what} ${c.label}: video ${r.videoPps} packets/s, ${r.fps} frames/s ${loadNote()}`);
    out[c.label] = r;
  });
  return out;
}

// Waits until every client has decoded at least one video frame (the first keyframe).
export async function firstFrames(clients, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const s = await Promise.all(clients.map((c) => c.stats()));
    const missing = clients.filter((c, k) => !(s[k].video.framesDecoded > 0));
    if (missing.length === 0) return;
    assert(Date.now() < end, `no video frame decoded in ${ms} ms by ${missing.map((c) => c.label).join(', ')}`);
    await sleep(200);
  }
}

export function fmtFlow(flow) {
  return Object.entries(flow).map(([k, r]) => `${k} receives audio ${r.audioPps.toFixed(0)} pkt/s, video ${r.videoPps.toFixed(0)} pkt/s ` +
    `${r.kbps.toFixed(0)} kbit/s ${r.fps.toFixed(1)} frames/s`).join('; ');
}

// Runs body; on failure prints the clients' state and the browser console tail, then rethrows.
export async function withClients(clientsRef, body) {
  try {
    await body();
  } catch (e) {
    for (const c of clientsRef) console.error(await c.dump());
    console.error(`browser console (last 60):\n${consoleTail(60)}`);
    throw e;
  }
}

// A Caller and a Host, each signed up over REST and registered from its own page (the caller
// over WebSocket, the host over HTTP long-poll), for body({ br, cc, hc, caller, host }).
// Failures print both clients' state; the browser is closed afterwards either way.
export async function withCallerAndHost(srv, body, { callerName = 'Caller', hostName = 'Host' } = {}) {
  const caller = await newUser(srv, 'caller', callerName);
  const host = await newUser(srv, 'host', hostName);
  const br = await openBrowser();
  try {
    const cc = await openClient(br, 'caller');
    const hc = await openClient(br, 'host');
    await withClients([cc, hc], async () => {
      await Promise.all([cc.start(srv.wsUrl, caller.token), hc.start(srv.httpUrl, host.token)]);
      await hc.register(host.username);
      await cc.register(caller.username);
      await body({ br, cc, hc, caller, host });
    });
  } finally {
    await br.close();
  }
}
