#!/usr/bin/env node
// push_bench: the push service's throughput and the ring latency, against the local fake of
// Google's OAuth endpoint + FCM HTTP v1 (tests/integration/lib/pushfake.mjs: HTTPS, HTTP/2,
// its own CA), our server at its push defaults (push.max_in_flight 100) except where noted.
//
//  1. Throughput: a host with D devices, each with an FCM token and none live; M chat
//     messages over REST, each fanning out to the D devices. Pushes per second = D x M over
//     the time from the first send to the fake's last receipt; the fake also reports the
//     most requests it had open at once (what "100 in flight" gives) and the HTTP version.
//  2. Ring latency: a host with one live device (registered over WebSocket) and one device
//     with an FCM token; N calls in a row (a fixed audio offer, so no browser is needed), each
//     hung up after the push arrived. Per call: `call` sent -> the fake has the incoming_call
//     message (both clocks are this process's), p50/p99/max; the first call includes the OAuth
//     token fetch and the TLS handshake and is reported apart.
//
// Usage (as root, in a network namespace: tests/bench/run_push_bench.sh):
//   PARLEY_BIN=build/parley node tests/bench/push_bench.mjs [--devices 100] [--messages 50]
//        [--calls 200] [--in-flight 100] [--http1]   (--http1: the fake speaks HTTP/1.1 only)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const LIB = path.join(HERE, '..', 'integration', 'lib');
const { startServer, portsFor } = await import(path.join(LIB, 'server.mjs'));
const { api, callsServerOpts } = await import(path.join(LIB, 'calls.mjs'));
const { PushFake, makePki, metric, pushArgs, serviceAccount } = await import(path.join(LIB, 'pushfake.mjs'));
const { rawDevice } = await import(path.join(LIB, 'vcraw.mjs'));

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const DEVICES = Number(arg('devices', 100));
const MESSAGES = Number(arg('messages', 50));
const CALLS = Number(arg('calls', 200));
const IN_FLIGHT = Number(arg('in-flight', 100));
const INDEX = 46;

const FP = Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, '0').toUpperCase()).join(':');
const OFFER = ['v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0',
  'a=msid-semantic: WMS', 'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:bEnC', 'a=ice-pwd:benchbenchbenchbenchbenc', 'a=ice-options:trickle', `a=fingerprint:sha-256 ${FP}`,
  'a=setup:actpass', 'a=mid:0', 'a=sendrecv', 'a=rtcp-mux', 'a=rtpmap:111 opus/48000/2',
  'a=fmtp:111 minptime=10;useinbandfec=1', 'a=ssrc:22222222 cname:bench', ''].join('\r\n');

function pct(list, p) {
  const s = [...list].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

async function user(srv, role, name, devices) {
  const email = `${name.replace(/\W+/g, '-')}-${process.pid}@bench.example.test`;
  let r = await api(srv, 'POST', '/auth/register', { email, password: 'bench-Push-9', role, display_name: name });
  if (r.status !== 201) throw new Error(`register ${name}: ${r.status} ${JSON.stringify(r.json)}`);
  const id = r.json.user.id;
  const tokens = {};
  for (const d of devices) {
    r = await api(srv, 'POST', '/auth/login', { email, password: 'bench-Push-9', device_id: d, device_name: d });
    tokens[d] = r.json.access_token;
  }
  return { id, tokens, token: tokens[devices[0]] };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'push-bench-'));
const pki = makePki(dir);
const fakePort = portsFor(INDEX).http + 5;
const account = serviceAccount(dir, `https://127.0.0.1:${fakePort}/token`);
const HTTP1 = process.argv.includes('--http1');
const fake = await new PushFake({ pki, account }).start(fakePort, { http1: HTTP1 });
// Open requests at the fake, sampled on every arrival and completion.
let open = 0, maxOpen = 0;
fake.server.on('request', (req, res) => {
  open += 1;
  maxOpen = Math.max(maxOpen, open);
  res.on('close', () => { open -= 1; });
});

const srv = await startServer(callsServerOpts(INDEX, [
  ...pushArgs(fake, account, pki, [`--push.max_in_flight=${IN_FLIGHT}`, '--push.queue_size=100000']),
  '--chat.rate_per_s=100000', '--chat.burst=100000', '--calls.ring_timeout_s=30']));
const rows = [];
try {
  // ---- 1. throughput ----
  const devs = Array.from({ length: DEVICES }, (_, i) => `d${i}`);
  const caller = await user(srv, 'caller', 'Bench Caller', ['web']);
  await api(srv, 'POST', '/purchases', { package_id: 'plus' }, caller.token, { 'idempotency-key': `pb-${process.pid}` });
  const host = await user(srv, 'host', 'Bench Host', devs);
  for (const d of devs) await api(srv, 'PUT', '/me/push-token', { kind: 'fcm', token: `bench-${d}` }, host.tokens[d]);
  const conv = await api(srv, 'POST', '/conversations', { with: host.id }, caller.token);
  const room = conv.json.id;
  // Warm-up: the OAuth token and the TLS connection.
  await api(srv, 'POST', `/conversations/${room}/messages`, { client_id: crypto.randomUUID(), text: 'warm-up' }, caller.token);
  await fake.waitFor(() => fake.messages.length >= DEVICES, 30000, 'the warm-up pushes');
  await sleep(300);
  const base = fake.messages.length;
  maxOpen = 0;
  const t0 = performance.now();
  const sends = [];
  for (let i = 0; i < MESSAGES; i++) {
    sends.push(api(srv, 'POST', `/conversations/${room}/messages`, { client_id: crypto.randomUUID(), text: `bench ${i}` }, caller.token));
  }
  await Promise.all(sends);
  const want = base + DEVICES * MESSAGES;
  await fake.waitFor(() => fake.messages.length >= want, 120000, `${DEVICES * MESSAGES} pushes`);
  const t1 = Math.max(...fake.messages.slice(base).map((m) => m.at));
  const n = DEVICES * MESSAGES;
  const secs = (t1 - t0) / 1000;
  rows.push(`throughput: ${n} FCM pushes (${MESSAGES} messages x ${DEVICES} devices) in ${secs.toFixed(2)} s = ` +
    `${Math.round(n / secs)} pushes/s; at most ${maxOpen} requests open at the fake ` +
    `(push.max_in_flight ${IN_FLIGHT}); HTTP ${[...fake.httpVersions].join(', ')}; ` +
    `dropped ${await metric(srv, 'parley_push_dropped_total{kind="fcm"}')}`);

  // ---- 2. ring latency ----
  const caller2 = await user(srv, 'caller', 'Ring Caller', ['web']);
  await api(srv, 'POST', '/purchases', { package_id: 'plus' }, caller2.token, { 'idempotency-key': `pb2-${process.pid}` });
  const host2 = await user(srv, 'host', 'Ring Host', ['live', 'phone']);
  await api(srv, 'PUT', '/me/push-token', { kind: 'fcm', token: 'ring-phone' }, host2.tokens.phone);
  const live = await rawDevice(srv, { token: host2.tokens.live, label: 'live', username: String(host2.id) });
  const rc = await rawDevice(srv, { token: caller2.token, label: 'caller', username: String(caller2.id) });
  const lat = [];
  let first = null;
  for (let i = 0; i < CALLS; i++) {
    const before = fake.forToken('ring-phone', 'incoming_call').length;
    const t = performance.now();
    const sent = rc.handle.message({ request: 'call', username: String(host2.id) }, { type: 'offer', sdp: OFFER });
    await fake.waitFor(() => fake.forToken('ring-phone', 'incoming_call').length > before, 10000, `ring ${i}`);
    const ms = fake.forToken('ring-phone', 'incoming_call')[before].at - t;
    if (i === 0) first = ms; else lat.push(ms);
    const r = await sent;
    if (!r || !r.data || !r.data.result || r.data.result.event !== 'calling') throw new Error(`call ${i}: ${JSON.stringify(r && r.data)}`);
    await rc.handle.message({ request: 'hangup' });
    await fake.waitFor(() => fake.forToken('ring-phone', 'call_ended').length > before, 10000, `stop push ${i}`);
  }
  rows.push(`ring latency (call sent -> incoming_call at the fake), ${lat.length} calls: p50 ${pct(lat, 50).toFixed(1)} ms, ` +
    `p99 ${pct(lat, 99).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms; first call (OAuth token + TLS) ${first.toFixed(1)} ms`);
  await live.session.close();
  await rc.session.close();
  if (fake.errors.length) rows.push(`fake refused: ${fake.errors.slice(0, 5).join('; ')}`);
} finally {
  await srv.stop();
  await fake.close();
}
console.log(`push_bench (${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(1)}):`);
for (const r of rows) console.log(`  ${r}`);
