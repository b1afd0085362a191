#!/usr/bin/env node
// turn_relay: a call relayed through Debian's coturn with the TURN credentials the server
// minted, and refused with expired ones.
//
// coturn (`turnserver`) runs in this test's network namespace on 127.0.0.2 with
// use-auth-secret + static-auth-secret (the coturn "REST API" shared-secret scheme) and
// loopback peers allowed. parley runs with auth on, --media.turn_uris pointing at it and the
// same secret. Over REST: register + login; GET /api/v1/ice-servers answers 401 without a
// token and, with it, a TURN entry whose username is "<expiry>:<user id>" (expiry = now +
// turn_ttl) and whose credential is base64(HMAC-SHA1(secret, username)) (recomputed here
// with node's crypto). Then a janus.js echotest in Chromium with iceServers = that entry,
// iceTransportPolicy 'relay' (no host candidates, so only a relayed path can connect) and the
// access token as the Janus token: webrtcup, audio and video keep arriving, frames decode,
// every local candidate and the selected pair's local candidate are of type relay, and
// coturn's log shows the allocation (success) for the minted username and permissions for
// the server's address. Then the same with a credential minted here with an expiry in the
// past: Chromium gathers no relay candidate (icecandidateerror 401), the echotest gets no
// webrtcup within 10 s, and coturn's log shows the 401 for that username.
// Exit 0 pass, 77 skip (not parley, no namespace, no coturn or no browser), 1 fail.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { browserAvailable, openBrowser } from './lib/browser.mjs';
import { checkMediaFlowing, pageStats, sleep } from './lib/echotest.mjs';
import { assert, portsFor, skip, target, withServer } from './lib/server.mjs';
import { traceResponse } from './lib/apitrace.mjs';

const INDEX = 18;
const TURN_BIN = '/usr/bin/turnserver';
const TURN_IP = '127.0.0.2';
const TTL = 600;
const FAIL_WITHIN_MS = 10000;
const RELAY_MIN = 41000;   // coturn's relay ports
const RELAY_MAX = 41099;

function hmacB64(secret, username) {
  return crypto.createHmac('sha1', secret).update(username).digest('base64');
}

async function api(srv, method, p, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const url = `http://127.0.0.1:${srv.ports.http}/api/v1${p}`;
  const reqBody = body === undefined ? undefined : JSON.stringify(body);
  const r = await fetch(url, { method, headers, body: reqBody });
  const text = await r.text();
  traceResponse(method, url, reqBody, r, text);   // PARLEY_API_TRACE (openapi_validate)
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

// One STUN Binding request (RFC 5389); resolves true when coturn answers it.
function stunPing(port) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const req = Buffer.alloc(20);
    req.writeUInt16BE(0x0001, 0);
    req.writeUInt32BE(0x2112a442, 4);
    crypto.randomBytes(12).copy(req, 8);
    const done = (ok) => { clearTimeout(timer); s.close(); resolve(ok); };
    const timer = setTimeout(() => done(false), 300);
    s.on('message', (m) => done(m.length >= 20 && m.readUInt16BE(0) === 0x0101 && m.subarray(8, 20).equals(req.subarray(8, 20))));
    s.on('error', () => done(false));
    s.send(req, port, TURN_IP);
  });
}

// Starts coturn with a private config in dir; resolves once it answers STUN.
async function startCoturn(dir, port, secret) {
  const conf = path.join(dir, 'turnserver.conf');
  const logFile = path.join(dir, 'turn.log');
  fs.writeFileSync(conf, [
    `listening-ip=${TURN_IP}`, `relay-ip=${TURN_IP}`, `listening-port=${port}`,
    `min-port=${RELAY_MIN}`, `max-port=${RELAY_MAX}`,
    'use-auth-secret', `static-auth-secret=${secret}`, 'realm=parley.test',
    'fingerprint', 'no-tls', 'no-dtls', 'no-tcp-relay', 'no-cli', 'no-multicast-peers',
    // coturn refuses 127.x peers by default; the server's candidates here are all loopback.
    'allow-loopback-peers',
    `log-file=${logFile}`, 'simple-log', 'no-stdout-log', 'verbose',
    `pidfile=${path.join(dir, 'turn.pid')}`,
    '',
  ].join('\n'));
  const child = spawn(TURN_BIN, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-2000); });
  let exited = null;
  child.on('exit', (code, sig) => { exited = { code, sig }; });
  process.on('exit', () => { if (!exited) child.kill('SIGKILL'); });
  const turn = {
    logFile,
    log: () => { try { return fs.readFileSync(logFile, 'utf8'); } catch { return ''; } },
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      for (let i = 0; i < 30 && !exited; i++) await sleep(100);
      if (!exited) child.kill('SIGKILL');
    },
  };
  for (let i = 0; i < 50; i++) {
    if (exited) throw new Error(`turnserver exited ${JSON.stringify(exited)}: ${stderr}\n${turn.log().slice(-2000)}`);
    if (await stunPing(port)) return turn;
    await sleep(100);
  }
  await turn.stop();
  throw new Error(`turnserver did not answer STUN on ${TURN_IP}:${port}:\n${turn.log().slice(-2000)}`);
}

// Gathers with only the given ICE servers and relay policy; returns candidates and errors.
function gatherProbe(page, iceServers, ms) {
  return page.evaluate(async ({ iceServers, ms }) => {
    const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: 'relay' });
    const cands = [];
    const errors = [];
    pc.onicecandidate = (e) => { if (e.candidate && e.candidate.candidate) cands.push(e.candidate.candidate); };
    pc.onicecandidateerror = (e) => errors.push({ code: e.errorCode, text: e.errorText, url: e.url });
    pc.createDataChannel('probe');
    const t0 = performance.now();
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      const check = () => { if (pc.iceGatheringState === 'complete') { clearTimeout(timer); resolve(); } };
      pc.onicegatheringstatechange = check;
      check();
    });
    const out = { cands, errors, state: pc.iceGatheringState, ms: performance.now() - t0 };
    pc.close();
    return out;
  }, { iceServers, ms });
}

function candType(line) { return (line.match(/ typ (\S+)/) || [])[1]; }

// Type of the selected pair's local candidate, found among the local candidates by address.
function selectedLocalType(st) {
  if (!st.pair) return null;
  const c = st.localCandidates.find((x) => `${x.address}:${x.port}` === st.pair.local);
  return c ? c.type : `unknown (${st.pair.local})`;
}

if (target() !== 'parley') {
  console.log('SKIP: GET /api/v1/ice-servers exists only in parley');
  process.exit(77);
}
if (process.env.PARLEY_NETNS !== '1') {
  console.log('SKIP: needs the private network namespace (run through tests/integration/run.sh as root)');
  process.exit(77);
}
if (!fs.existsSync(TURN_BIN)) {
  console.log(`SKIP: ${TURN_BIN} missing (apt-get install coturn)`);
  process.exit(77);
}
const noBrowser = browserAvailable();
if (noBrowser) {
  console.log(`SKIP: ${noBrowser}`);
  process.exit(77);
}

const turnPort = portsFor(INDEX).http + 5;
const secret = crypto.randomBytes(24).toString('base64url');
const turnUri = `turn:${TURN_IP}:${turnPort}?transport=udp`;
const stunUri = `stun:${TURN_IP}:${turnPort}`;

await withServer({ index: INDEX, extraArgs: ['--auth.required=true', '--auth.kdf_cost=10',
  '--auth.rate_limit_per_min=100000', `--media.turn_uris=${turnUri}`, `--media.stun_uris=${stunUri}`,
  `--media.turn_secret=${secret}`, `--media.turn_ttl=${TTL}`] }, async (srv) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'it-coturn-'));
  let turn = null;
  let br = null;
  let passed = false;
  try {
    turn = await startCoturn(dir, turnPort, secret);

    // --- REST: the endpoint needs a user; the credential is the coturn scheme ---
    let r = await api(srv, 'GET', '/ice-servers');
    assert(r.status === 401 && r.json.error.code === 'auth_required', `no token: ${JSON.stringify(r)}`);
    r = await api(srv, 'GET', '/ice-servers', undefined, 'not.a.jwt');
    assert(r.status === 401 && r.json.error.code === 'invalid_token', `bad token: ${JSON.stringify(r)}`);
    const pw = 'correct horse 9';
    r = await api(srv, 'POST', '/auth/register', { email: 'turn@example.com', password: pw,
      role: 'caller', display_name: 'Turn' });
    assert(r.status === 201, `register: ${JSON.stringify(r)}`);
    const uid = r.json.user.id;
    r = await api(srv, 'POST', '/auth/login', { email: 'turn@example.com', password: pw, device_id: 'web' });
    assert(r.status === 200, `login: ${JSON.stringify(r)}`);
    const token = r.json.access_token;
    const asked = Math.floor(Date.now() / 1000);
    r = await api(srv, 'GET', '/ice-servers', undefined, token);
    assert(r.status === 200, `ice-servers: ${JSON.stringify(r)}`);
    const ice = r.json;
    assert(ice.ttl === TTL, `ttl ${ice.ttl}`);
    assert(ice.ice_servers.length === 2, `two entries: ${JSON.stringify(ice)}`);
    assert(JSON.stringify(ice.ice_servers[0]) === JSON.stringify({ urls: [stunUri] }), `stun entry ${JSON.stringify(ice.ice_servers[0])}`);
    const turnEntry = ice.ice_servers[1];
    assert(JSON.stringify(turnEntry.urls) === JSON.stringify([turnUri]), `turn urls ${JSON.stringify(turnEntry.urls)}`);
    const m = /^(\d+):(\d+)$/.exec(turnEntry.username);
    assert(m && Number(m[2]) === uid, `username ${turnEntry.username} (user ${uid})`);
    const expiry = Number(m[1]);
    assert(Math.abs(expiry - (asked + TTL)) <= 2, `expiry ${expiry}, expected about ${asked + TTL}`);
    assert(turnEntry.credential === hmacB64(secret, turnEntry.username), 'credential is base64(HMAC-SHA1(secret, username))');
    console.log(`minted ${turnEntry.username} (expires in ${expiry - asked} s)`);

    br = await openBrowser();

    // --- relayed call with the minted credential ---
    const probe = await gatherProbe(br.page, [turnEntry], 5000);
    assert(probe.cands.length > 0 && probe.cands.every((c) => candType(c) === 'relay'),
      `valid credential: relay candidates expected: ${JSON.stringify(probe)}`);
    const started = await br.page.evaluate((o) => window.echo.start(o), {
      server: srv.wsUrl, iceServers: [turnEntry], iceTransportPolicy: 'relay', token, timeoutMs: 15000,
    });
    await br.page.evaluate(() => window.echo.waitDataOpen());
    const flow = await checkMediaFlowing(br, 5, 'relayed');
    assert(flow.last.video.framesDecoded > 0, `video framesDecoded = ${flow.last.video.framesDecoded}`);
    const st = await pageStats(br);
    const localTypes = [...new Set(st.localCandidates.map((c) => c.type))];
    assert(localTypes.length === 1 && localTypes[0] === 'relay', `local candidate types ${JSON.stringify(st.localCandidates)}`);
    const selType = selectedLocalType(st);
    assert(selType === 'relay', `selected pair local candidate type ${selType} (${JSON.stringify(st.pair)})`);
    // the relayed address is one of coturn's relay ports on 127.0.0.2
    const relayPort = Number(st.pair.local.split(':')[1]);
    assert(st.pair.local.startsWith(`${TURN_IP}:`) && relayPort >= RELAY_MIN && relayPort <= RELAY_MAX,
      `selected local (relayed) address ${st.pair.local}, want ${TURN_IP}:${RELAY_MIN}-${RELAY_MAX}`);
    const echoText = `relayed-${Date.now()}`;
    const rtt = await br.page.evaluate((t) => window.echo.echoData(t), echoText);
    await br.page.evaluate(() => window.echo.stop());
    console.log(`relayed echotest: webrtcup ${started.webrtcupMs.toFixed(0)} ms, audio ${flow.audioPps.toFixed(0)} pkt/s, ` +
      `video ${flow.videoPps.toFixed(0)} pkt/s ${flow.videoKbps.toFixed(0)} kbit/s, frames ${flow.last.video.framesDecoded}, ` +
      `pair ${st.pair.local} (relay) -> ${st.pair.remote}, data echo ${rtt.toFixed(1)} ms`);
    let log = turn.log();
    const user = turnEntry.username.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    assert(new RegExp(`user <${user}>: incoming packet ALLOCATE processed, success`).test(log),
      `coturn log has no successful ALLOCATE for ${turnEntry.username}:\n${log.slice(-3000)}`);
    assert(new RegExp(`user <${user}>: incoming packet CREATE_PERMISSION processed, success`).test(log),
      `coturn log has no CREATE_PERMISSION for ${turnEntry.username}`);

    // --- the same with an expired credential: refused ---
    const expiredUser = `${Math.floor(Date.now() / 1000) - 60}:${uid}`;
    const expired = { urls: [turnUri], username: expiredUser, credential: hmacB64(secret, expiredUser) };
    const probe2 = await gatherProbe(br.page, [expired], 5000);
    assert(probe2.cands.filter((c) => candType(c) === 'relay').length === 0, `expired: relay candidate gathered: ${JSON.stringify(probe2)}`);
    assert(probe2.errors.some((e) => e.code === 401), `expired: no 401 icecandidateerror: ${JSON.stringify(probe2.errors)}`);
    const page2 = await br.newPage();
    const t0 = Date.now();
    let failure = null;
    try {
      await page2.evaluate((o) => window.echo.start(o), {
        server: srv.wsUrl, iceServers: [expired], iceTransportPolicy: 'relay', token, timeoutMs: FAIL_WITHIN_MS,
      });
    } catch (e) { failure = e; }
    const failedAfter = Date.now() - t0;
    assert(failure && /timeout waiting for webrtcup/.test(failure.message), `expired credential: the call must not come up: ${failure ? failure.message : 'webrtcup arrived'}`);
    const st2 = await page2.evaluate(() => window.echo.stats());
    assert(!st2.localCandidates.some((c) => c.type === 'relay'), `expired: relay candidates ${JSON.stringify(st2.localCandidates)}`);
    assert(st2.pair === null || st2.pair.state !== 'succeeded', `expired: a pair succeeded ${JSON.stringify(st2.pair)}`);
    assert(st2.audio.packetsReceived === 0 && st2.video.packetsReceived === 0, 'expired: no media');
    assert(!['connected', 'completed'].includes(st2.iceState), `expired: ICE ${st2.iceState}`);
    await page2.evaluate(() => window.echo.stop());
    log = turn.log();
    const euser = expiredUser.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    // coturn names the method "message" when it refuses before the allocation exists.
    assert(new RegExp(`user <${euser}>: incoming packet (ALLOCATE|message) processed, error 401`).test(log),
      `coturn log has no 401 for ${expiredUser}:\n${log.slice(-3000)}`);
    assert(!new RegExp(`user <${euser}>: incoming packet ALLOCATE processed, success`).test(log), 'expired user got an allocation');
    console.log(`expired credential ${expiredUser}: icecandidateerror ${probe2.errors.map((e) => e.code).join('/')}, ` +
      `no relay candidate, no webrtcup in ${failedAfter} ms (ICE ${st2.iceState}), coturn answered 401`);
    passed = true;
  } catch (e) {
    if (turn) console.error(`--- last lines of the coturn log (${turn.logFile}) ---\n${turn.log().split('\n').slice(-40).join('\n')}`);
    if (br) console.error(`--- browser console ---\n${br.console.slice(-40).join('\n')}`);
    throw e;
  } finally {
    if (br) await br.close();
    if (turn) await turn.stop();
    if (passed) fs.rmSync(dir, { recursive: true, force: true });
  }
});
