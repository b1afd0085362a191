#!/usr/bin/env node
// abuse_limits: one signed-in user can neither crash the server nor starve others of media
// ports (issue 13, "high"). Three servers, bounded in count and time:
//  1. auth on, defaults, media.rtp_port_range of 100 ports (the "narrow range"):
//     user A creates sessions until 472 "Too many sessions for this user (limit 16)" (a
//     destroyed session gives its slot back); attaches until 461 "Too many handles in this
//     session (limit 32)" (a detach gives it back); sends 120 offers (a Chromium offer) on
//     handles spread over 4 of its sessions: exactly 12 are taken, the other 108 answer 490
//     "Too many PeerConnections for this user (limit 12)"; a hangup gives one back. Then user
//     B's janus.js echotest in Chromium connects (webrtcup, audio+video flowing, data echo)
//     while A holds its 12, /metrics counts every refusal and shows live vs max PeerConnections.
//     With ICE-lite (the default) PeerConnections take no port or descriptor of their own, so
//     the server-wide cap is derived from the descriptors alone (above the 100 ports).
//  2. the same binary under `prlimit --nofile=512:512` (ulimit -n 512), auth off, full ICE
//     (`media.ice_lite=false`: a libnice agent with its sockets per PeerConnection):
//     the cap is derived from the 512 descriptors (logged); offers from sessions of 12 each
//     are accepted up to it, then refused with 490 (max_peers) instead of GLib aborting; a
//     hangup lets a new offer in; the server stays up and exits cleanly.
//  3. full ICE (cap derived from the port range, 100), then the running server's limit is
//     lowered to 512 with `prlimit --pid`: the descriptor reserve check refuses offers (490
//     fd_reserve) before the process runs out, and it survives.
// Exit 0 pass, 77 skip (parley only), 1 fail.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { browserAvailable, openBrowser } from './lib/browser.mjs';
import { checkMediaFlowing, sleep } from './lib/echotest.mjs';
import { assert, startServer, target, withServer } from './lib/server.mjs';
import { traceResponse } from './lib/apitrace.mjs';

const INDEX = 30;   // 31 and 32 for the second and third servers
const OFFERS = 120;
const OFFER_SDP = fs.readFileSync(path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'fuzz',
  'proto', 'corpus_sdp', 'chromium156_offer.sdp'), 'utf8');
const T0 = Date.now();

if (target() !== 'parley') {
  console.log('SKIP: the limits (and the platform API for users) exist only in parley');
  process.exit(77);
}

async function api(srv, method, p, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const url = `http://127.0.0.1:${srv.ports.http}/api/v1${p}`;
  const reqBody = body === undefined ? undefined : JSON.stringify(body);
  const r = await fetch(url, { method, headers, body: reqBody });
  const text = await r.text();
  traceResponse(method, url, reqBody, r, text);
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

async function signup(srv, email) {
  const pw = 'correct horse 9';
  let r = await api(srv, 'POST', '/auth/register', { email, password: pw, role: 'caller', display_name: email });
  assert(r.status === 201, `register ${email}: ${JSON.stringify(r)}`);
  r = await api(srv, 'POST', '/auth/login', { email, password: pw, device_id: 'web' });
  assert(r.status === 200, `login ${email}: ${JSON.stringify(r)}`);
  return r.json.access_token;
}

// A Janus client over HTTP for one token (undefined with auth off).
function janusClient(srv, token) {
  let n = 0;
  async function post(p, body) {
    const msg = { ...body, transaction: `t${++n}` };
    if (token) msg.token = token;
    const r = await fetch(srv.httpUrl + p, { method: 'POST', body: JSON.stringify(msg) });
    const j = await r.json();
    assert(j.transaction === msg.transaction || j.janus === 'error', `transaction not echoed: ${JSON.stringify(j)}`);
    return j;
  }
  return {
    post,
    async create() { return post('', { janus: 'create' }); },
    async attach(sid) { return post(`/${sid}`, { janus: 'attach', plugin: 'janus.plugin.echotest' }); },
    async offer(sid, hid) {
      return post(`/${sid}/${hid}`, { janus: 'message', body: { audio: true, video: true },
        jsep: { type: 'offer', sdp: OFFER_SDP } });
    },
    async hangup(sid, hid) { return post(`/${sid}/${hid}`, { janus: 'hangup' }); },
    async detach(sid, hid) { return post(`/${sid}/${hid}`, { janus: 'detach' }); },
    async destroy(sid) { return post(`/${sid}`, { janus: 'destroy' }); },
  };
}

function isError(j, code, reason) {
  return j && j.janus === 'error' && j.error && j.error.code === code && (!reason || reason.test(j.error.reason));
}

async function metrics(srv) {
  const text = await (await fetch(`http://127.0.0.1:${srv.ports.admin}/metrics`)).text();
  const get = (name) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.slice(name.length + 1));
  };
  return { text, get, refusals: (limit) => get(`parley_limit_refusals_total{limit="${limit}"}`) };
}

// Retries an offer on the same handle until it is taken (a closed leg gives its count back
// on its loop, a moment after the hangup's reply).
// Resolves with the time it took and the refusals met meanwhile.
async function offerUntilTaken(jc, sid, hid, ms = 10000) {
  const start = Date.now();
  let refusals = 0;
  for (;;) {
    const r = await jc.offer(sid, hid);
    if (r.janus === 'ack') return { ms: Date.now() - start, refusals };
    assert(isError(r, 490) && Date.now() - start < ms, `offer still refused ${ms} ms after a hangup: ${JSON.stringify(r)}`);
    refusals++;
    await sleep(50);
  }
}

// ---- 1: one user against the caps; another user's call still connects ----

async function sessionsAndHandles(srv, jc) {
  const sids = [];
  for (let i = 0; i < 16; i++) {
    const c = await jc.create();
    assert(c.janus === 'success', `create ${i + 1}: ${JSON.stringify(c)}`);
    sids.push(c.data.id);
  }
  const over = await jc.create();
  assert(isError(over, 472, /^Too many sessions for this user \(limit 16\)$/), `17th create: ${JSON.stringify(over)}`);
  assert((await jc.destroy(sids.pop())).janus === 'success', 'destroy');
  const again = await jc.create();
  assert(again.janus === 'success', `create after a destroy: ${JSON.stringify(again)}`);
  sids.push(again.data.id);
  assert(isError(await jc.create(), 472), 'create over the limit again');

  const hids = [];
  for (let i = 0; i < 32; i++) {
    const a = await jc.attach(sids[0]);
    assert(a.janus === 'success', `attach ${i + 1}: ${JSON.stringify(a)}`);
    hids.push(a.data.id);
  }
  const hover = await jc.attach(sids[0]);
  assert(isError(hover, 461, /^Too many handles in this session \(limit 32\)$/), `33rd attach: ${JSON.stringify(hover)}`);
  // Another session of the same user has its own 32.
  assert((await jc.attach(sids[1])).janus === 'success', 'attach in another session');
  const d = await jc.detach(sids[0], hids.pop());
  assert(d.janus === 'success', `detach: ${JSON.stringify(d)}`);
  const ha = await jc.attach(sids[0]);
  assert(ha.janus === 'success', `attach after a detach: ${JSON.stringify(ha)}`);
  hids.push(ha.data.id);
  console.log(`sessions: 16 per user then 472; handles: 32 per session then 461; both given back on destroy/detach`);
  return { sids, hids };
}

async function offersUntilRefused(jc, sids, firstHids) {
  // Handles over 4 sessions: the user's count spans its sessions.
  const handles = firstHids.map((hid) => [sids[0], hid]);
  for (let s = 1; handles.length < OFFERS; s++) {
    for (let i = s === 1 ? 1 : 0; i < 32 && handles.length < OFFERS; i++) {
      const a = await jc.attach(sids[s]);
      assert(a.janus === 'success', `attach for offers: ${JSON.stringify(a)}`);
      handles.push([sids[s], a.data.id]);
    }
  }
  const t = Date.now();
  const taken = [];
  const refused = [];
  for (const [sid, hid] of handles) {
    const r = await jc.offer(sid, hid);
    if (r.janus === 'ack') taken.push([sid, hid]);
    else refused.push([sid, hid, r]);
  }
  const ms = Date.now() - t;
  assert(taken.length === 12, `offers taken: ${taken.length} (want 12)`);
  const bad = refused.filter(([, , r]) => !isError(r, 490, /^Too many PeerConnections for this user \(limit 12\)$/));
  assert(bad.length === 0, `refusals that are not 490 peers_per_user: ${JSON.stringify(bad.slice(0, 3))}`);
  assert(new Set(refused.map(([sid]) => sid)).size >= 3, 'refusals span the user\'s sessions');
  console.log(`offers: ${OFFERS} from one user over 4 sessions in ${ms} ms: 12 taken, ${refused.length} refused with 490 "${refused[0][2].error.reason}"`);
  return { taken, refused };
}

async function secondUserCall(srv, tokenB) {
  if (!process.env.PARLEY_NETNS) {
    console.log('media part not run: no network namespace');
    return null;
  }
  const why = browserAvailable();
  if (why) {
    console.log(`media part not run: ${why}`);
    return null;
  }
  const br = await openBrowser();
  try {
    const started = await br.page.evaluate(([s, tok]) => window.echo.start({ server: s, token: tok }), [srv.wsUrl, tokenB]);
    await br.page.evaluate(() => window.echo.waitDataOpen());
    const flow = await checkMediaFlowing(br, 3, 'second user');
    const rtt = await br.page.evaluate(() => window.echo.echoData(`limits-${Date.now()}`));
    const st = await br.page.evaluate(() => window.echo.state());
    assert(st.events.errors.length === 0, `second user's errors: ${st.events.errors.join('; ')}`);
    const s = await br.page.evaluate(() => window.echo.stats());
    const cands = s.remoteCandidates.filter((c) => c.protocol === 'udp');
    assert(cands.length > 0, 'the second user got no server candidates');
    console.log(`second user: webrtcup in ${started.webrtcupMs.toFixed(0)} ms while the first holds 12, ` +
      `${flow.audioPps.toFixed(0)} audio / ${flow.videoPps.toFixed(0)} video pkt/s, data echo ${rtt.toFixed(1)} ms, ` +
      `${cands.length} server candidates`);
    return { br, close: () => br.close() };
  } catch (e) {
    console.error(`browser console (last 30):\n${br.console.slice(-30).join('\n')}`);
    await br.close();
    throw e;
  }
}

// ---- 2 and 3: descriptor pressure ----

// Starts a server, runs body, then checks it is alive, exits 0 on SIGTERM and logged no
// sanitizer report or GLib abort (withServer does the same for the main server).
async function withExtraServer(opts, body) {
  const srv = await startServer(opts);
  try {
    await body(srv);
    assert(!srv.exited(), `server died: ${JSON.stringify(srv.exited())}`);
    const info = await fetch(`${srv.httpUrl}/info`);
    assert(info.ok, 'server not answering at the end');
    const how = await srv.stop();
    assert(how.code === 0, `server did not exit cleanly: ${JSON.stringify(how)}`);
    const log = fs.readFileSync(srv.logFile, 'utf8');
    assert(!/GWakeup|Too many open files/.test(log), 'descriptor exhaustion reached GLib');
    assert(srv.sanitizerReports().length === 0, `sanitizer reports: ${srv.sanitizerReports().slice(0, 5).join('\n')}`);
    fs.rmSync(srv.dir, { recursive: true, force: true });
  } catch (e) {
    await srv.stop();
    console.error(`--- last 40 lines of ${srv.logFile} ---\n${srv.tail(40)}`);
    throw e;
  }
}

// Offers from fresh sessions of 12 handles each (auth off: 12 per session) until one is
// refused for another reason than peers_per_user, at most `max` offers.
async function fillServer(jc, max) {
  let taken = 0;
  let sid = null;
  let inSession = 0;
  const held = [];
  for (let i = 0; i < max; i++) {
    if (!sid || inSession === 12) {
      const c = await jc.create();
      assert(c.janus === 'success', `create: ${JSON.stringify(c)}`);
      sid = c.data.id;
      inSession = 0;
    }
    const a = await jc.attach(sid);
    assert(a.janus === 'success', `attach: ${JSON.stringify(a)}`);
    const r = await jc.offer(sid, a.data.id);
    if (r.janus === 'ack') {
      taken++;
      inSession++;
      held.push([sid, a.data.id]);
      continue;
    }
    assert(r.janus === 'error' && r.error.code === 490, `offer ${i + 1}: ${JSON.stringify(r)}`);
    return { taken, refusal: r.error.reason, held, sid, hid: a.data.id };
  }
  throw new Error(`${max} offers and no refusal`);
}

async function prlimitRun() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'it-limits-'));
  const wrapper = path.join(dir, 'parley-512');
  fs.writeFileSync(wrapper, `#!/bin/sh\nexec prlimit --nofile=512:512 -- '${process.env.PARLEY_BIN}' "$@"\n`, { mode: 0o755 });
  const saved = process.env.PARLEY_BIN;
  process.env.PARLEY_BIN = wrapper;
  try {
    await withExtraServer({ index: INDEX + 1, extraArgs: ['--media.ice_lite=false'] }, async (srv) => {
      process.env.PARLEY_BIN = saved;
      const line = fs.readFileSync(srv.logFile, 'utf8').split('\n').find((l) => /limits: max_peers \d+ \(derived\)/.test(l));
      assert(line, 'no "limits: max_peers N (derived)" line at start');
      const cap = Number(/max_peers (\d+)/.exec(line)[1]);
      assert(/limit 512,/.test(line) && cap > 20 && cap < 512 / 2, `derived cap under ulimit -n 512: ${line}`);
      const jc = janusClient(srv);
      const f = await fillServer(jc, 200);
      // The cap counted the descriptors open at start; the client's connections since then
      // come out of the reserve, so the reserve check may refuse a few offers earlier.
      const byCap = f.refusal === `Server at its PeerConnection limit (${cap}), try again later`;
      const byReserve = f.refusal === 'Server out of file descriptors for new PeerConnections, try again later';
      assert((byCap && f.taken === cap) || (byReserve && f.taken >= cap - 4), `taken ${f.taken} of derived ${cap}, refusal: ${f.refusal}`);
      const m = await metrics(srv);
      assert(m.refusals(byCap ? 'max_peers' : 'fd_reserve') >= 1 && m.get('parley_limit_peers_max') === cap,
        'metrics of the capped server');
      assert(m.get('process_max_fds') === 512, `process_max_fds ${m.get('process_max_fds')}`);
      const fds = m.get('process_open_fds');
      assert(fds <= 512 - 200, `open descriptors at the cap: ${fds}`);
      // A hangup gives a slot back.
      const [hsid, hhid] = f.held[0];
      assert((await jc.hangup(hsid, hhid)).janus === 'success', 'hangup');
      const { ms } = await offerUntilTaken(jc, f.sid, f.hid);
      console.log(`ulimit -n 512: derived max_peers ${cap} (${line.replace(/.*\(descriptors: /, '').replace(/\); per user.*/, '')}); ` +
        `${f.taken} offers taken, the next refused: "${f.refusal}"; ${fds} descriptors open at the cap; a hangup let a new offer in after ${ms} ms`);
    });
  } finally {
    process.env.PARLEY_BIN = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function loweredLimitRun() {
  await withExtraServer({ index: INDEX + 2, extraArgs: ['--media.ice_lite=false'] }, async (srv) => {
    const before = await metrics(srv);
    assert(before.get('parley_limit_peers_max') === 100, `derived from the 100 ports: ${before.get('parley_limit_peers_max')}`);
    execFileSync('prlimit', ['--pid', String(srv.child.pid), '--nofile=512:512']);
    const jc = janusClient(srv);
    const f = await fillServer(jc, 150);
    assert(f.refusal === 'Server out of file descriptors for new PeerConnections, try again later', `refusal: ${f.refusal}`);
    assert(f.taken > 20 && f.taken < 100, `taken before the reserve check refused: ${f.taken}`);
    const m = await metrics(srv);
    assert(m.refusals('fd_reserve') >= 1, 'fd_reserve refusals counted');
    const fds = m.get('process_open_fds');
    assert(fds <= 512 - 200, `open descriptors when refused: ${fds}`);
    // Still refused (no crash, no creeping), and the rest of the API works.
    const again = await jc.offer(f.sid, f.hid);
    assert(isError(again, 490), `offer after the refusal: ${JSON.stringify(again)}`);
    console.log(`limit lowered to 512 on the running server (max_peers 100): ${f.taken} offers taken, then 490 "${f.refusal}" ` +
      `(fd_reserve refusals ${m.refusals('fd_reserve')}), ${fds} descriptors open`);
  });
}

await withServer({ index: INDEX, extraArgs: ['--auth.required=true', '--auth.kdf_cost=10',
  '--auth.rate_limit_per_min=100000'] }, async (srv) => {
  const tokenA = await signup(srv, 'attacker@example.com');
  const tokenB = await signup(srv, 'victim@example.com');
  const ja = janusClient(srv, tokenA);
  const { sids, hids } = await sessionsAndHandles(srv, ja);
  const { taken, refused } = await offersUntilRefused(ja, sids, hids);
  // One hangup gives one PeerConnection back.
  assert((await ja.hangup(...taken[0])).janus === 'success', 'hangup');
  const back = await offerUntilTaken(ja, refused[0][0], refused[0][1]);
  assert(isError(await ja.offer(refused[1][0], refused[1][1]), 490), 'back at the limit');
  console.log(`a hangup gave one back: a refused handle's offer was taken ${back.ms} ms later, the next refused again`);

  const call = await secondUserCall(srv, tokenB);
  try {
    const m = await metrics(srv);
    const live = m.get('parley_limit_peers_live');
    assert(live === 12 + (call ? 1 : 0), `parley_limit_peers_live ${live}`);
    assert(m.get('parley_limit_peers_max') > 100, `parley_limit_peers_max ${m.get('parley_limit_peers_max')} (ICE-lite: not bounded by the 100 ports)`);
    assert(m.refusals('sessions_per_user') === 2 && m.refusals('handles_per_session') === 1, 'session/handle refusals counted');
    const want = refused.length + back.refusals + 1;
    assert(m.refusals('peers_per_user') === want, `peers_per_user refusals ${m.refusals('peers_per_user')} (want ${want})`);
    assert(m.refusals('max_peers') === 0 && m.refusals('fd_reserve') === 0, 'no server-wide refusals');
    console.log(`metrics: refusals sessions_per_user 2, handles_per_session 1, peers_per_user ${m.refusals('peers_per_user')}; ` +
      `peers live ${live} of max ${m.get('parley_limit_peers_max')}`);
  } finally {
    if (call) await call.close();
  }
  await prlimitRun();
  await loweredLimitRun();
  console.log(`total ${((Date.now() - T0) / 1000).toFixed(1)} s`);
});
