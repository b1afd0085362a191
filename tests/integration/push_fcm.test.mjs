#!/usr/bin/env node
// Push notifications over FCM HTTP v1 (issue 12), against a local fake of Google's OAuth
// token endpoint and of FCM (lib/pushfake.mjs: HTTPS with its own CA, trusted through
// --push.ca_file; the fake checks the RS256 assertion's signature against the service
// account's public key and its claims, and that every send carries a token it issued).
// Index 46 (the fake on HTTP port + 5), and 47 for the second server of part D.
//  A. A host with five devices: `live` is registered for calls over a node WebSocket client
//     (it also has an FCM token: it must get no push), `phone` only has an FCM token, `old`
//     has a token FCM answers UNREGISTERED, `r429` one answered 429 + Retry-After: 1 once,
//     `r503` one answered 503 twice. The caller calls: exactly one incoming_call message per
//     pushed device with the call's fields (data type/call_id/caller_name/kind, Android
//     priority high and ttl = the ring timeout, collapse key call-<id>, APNs priority 10 and
//     expiration, apns-collapse-id); none for `live`. `old`'s token is removed (its GET
//     /me/push-token answers 404, the others' still 200); r429 is retried after >= 1 s,
//     r503 twice with growing gaps. `live` accepts: `phone` gets call_ended
//     answered_elsewhere with the same collapse key.
//  B. A second call cancelled by the caller: call_ended `cancelled` to the pushed devices.
//  C. The counters on /metrics: sent, retried, tokens removed, failed for fcm; the VAPID
//     public key is served.
//  E. A host with no device registered for calls but a token: the call rings by push alone;
//     the woken device registers, gets incomingcall with the offer, accepts; the caller gets
//     accepted and the push gets call_ended answered_elsewhere. A host with neither is still
//     `unavailable` at once.
//  D. A server whose FCM never answers (every send hangs; --push.max_in_flight=2,
//     --push.queue_size=4, --push.request_timeout_ms=1500): 30 chat messages over REST to
//     a user with an FCM token and 5 calls in a row are answered as fast as ever (REST p99 and
//     time to incomingcall printed and bounded), the push queue stays at most 4 deep and
//     pushes beyond it are counted dropped.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { browserAvailable, openBrowser } from './lib/browser.mjs';
import { UUID_RE, api, callsServerOpts, isParley, newUser, prepareSdpPage, sleep } from './lib/calls.mjs';
import { PushFake, fcmError, makePki, metric, pushArgs, serviceAccount } from './lib/pushfake.mjs';
import { assert, portsFor, skip, startServer, withServer } from './lib/server.mjs';
import { brief, rawDevice, sdpAnswer, sdpOffer } from './lib/vcraw.mjs';

const RING_S = 8;

if (!isParley()) {
  console.log('SKIP: push notifications are parley\'s (Janus has none)');
  process.exit(77);
}

function result(e) { return e && e.data && e.data.result; }

function pct(list, p) {
  const s = [...list].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'it-push-fcm-'));
const pki = makePki(dir);
const fakePort = portsFor(46).http + 5;
const account = serviceAccount(dir, `https://127.0.0.1:${fakePort}/token`);
const fake = await new PushFake({ pki, account }).start(fakePort);

async function setToken(srv, token, fcmToken) {
  const r = await api(srv, 'PUT', '/me/push-token', { kind: 'fcm', token: fcmToken }, token);
  assert(r.status === 200, `PUT /me/push-token ${fcmToken}: ${r.status} ${JSON.stringify(r.json)}`);
}

function checkIncoming(m, { callId, callerName, kind }) {
  const msg = m.message;
  const d = msg.data || {};
  const want = { type: 'incoming_call', call_id: callId, caller_name: callerName, kind };
  for (const [k, v] of Object.entries(want)) assert(d[k] === v, `incoming_call data.${k} = ${JSON.stringify(d[k])}, want ${JSON.stringify(v)} (${JSON.stringify(msg)})`);
  assert(msg.android && msg.android.priority === 'high', `android.priority ${JSON.stringify(msg.android)}`);
  const ttl = Number(String(msg.android.ttl).replace(/s$/, ''));
  assert(ttl >= RING_S - 2 && ttl <= RING_S, `android.ttl ${msg.android.ttl}, want about the ring timeout ${RING_S}s`);
  assert(msg.android.collapse_key === `call-${callId}`, `android.collapse_key ${msg.android.collapse_key}`);
  const h = (msg.apns && msg.apns.headers) || {};
  assert(h['apns-priority'] === '10', `apns-priority ${JSON.stringify(h)}`);
  assert(h['apns-collapse-id'] === `call-${callId}`, `apns-collapse-id ${JSON.stringify(h)}`);
  const exp = Number(h['apns-expiration']);
  const now = Date.now() / 1000;
  assert(exp > now && exp <= now + RING_S + 2, `apns-expiration ${exp} vs now ${now.toFixed(0)}`);
}

function checkEnded(m, callId, reason) {
  const msg = m.message;
  const d = msg.data || {};
  assert(d.type === 'call_ended' && d.call_id === callId && d.reason === reason,
    `call_ended data ${JSON.stringify(d)}, want call ${callId} reason ${reason}`);
  assert(msg.android && msg.android.collapse_key === `call-${callId}` && msg.android.priority === 'high',
    `call_ended android ${JSON.stringify(msg.android)}`);
}

const SCRIPTS = {
  'tok-old': () => fcmError(404, 'UNREGISTERED', 'NOT_FOUND'),
  'tok-429': (m, n) => (n === 0 ? { ...fcmError(429, 'QUOTA_EXCEEDED', 'RESOURCE_EXHAUSTED'), headers: { 'retry-after': '1' } } : null),
  'tok-503': (m, n) => (n < 2 ? fcmError(503, 'UNAVAILABLE', 'UNAVAILABLE') : null),
};
for (const [k, fn] of Object.entries(SCRIPTS)) fake.script(k, fn);

const lines = [];
await withServer(callsServerOpts(46, [`--calls.ring_timeout_s=${RING_S}`, ...pushArgs(fake, account, pki)]), async (srv) => {
  const why = browserAvailable();
  if (why) throw skip(why);
  const br = await openBrowser();
  const raws = [];
  try {
    await prepareSdpPage(br.page);
    const caller = await newUser(srv, 'caller', 'Push Caller');
    const devices = ['live', 'phone', 'old', 'r429', 'r503'];
    const host = await newUser(srv, 'host', 'Push Host', devices);
    const tokenOf = { live: 'tok-live', phone: 'tok-phone', old: 'tok-old', r429: 'tok-429', r503: 'tok-503' };
    for (const d of devices) await setToken(srv, host.tokens[d], tokenOf[d]);
    const live = await rawDevice(srv, { token: host.tokens.live, label: 'host/live', username: host.username });
    const rc = await rawDevice(srv, { token: caller.token, label: 'caller', username: caller.username });
    raws.push(live, rc);

    // ---- A. the ring ----
    const lm = live.handle.mark();
    const t0 = Date.now() - fake.t0;
    const r = await rc.handle.message({ request: 'call', username: host.username }, await sdpOffer(br.page, { audio: true, video: false }));
    assert(result(r) && result(r).event === 'calling', `call: ${JSON.stringify(brief(r))}`);
    const callId = result(r).call_id;
    assert(UUID_RE.test(callId), `call_id ${callId}`);
    const inc = await live.handle.waitEvent({ event: 'incomingcall' }, lm, 5000);
    const pushed = ['tok-phone', 'tok-old', 'tok-429', 'tok-503'];
    await fake.waitFor(() => pushed.every((t) => fake.forToken(t, 'incoming_call').length >= 1), 5000, 'an incoming_call push to each pushed device');
    const phoneMsg = fake.forToken('tok-phone', 'incoming_call')[0];
    checkIncoming(phoneMsg, { callId, callerName: 'Push Caller', kind: 'audio' });
    lines.push(`call -> incoming_call push at the fake: ${phoneMsg.t - t0} ms (HTTP ${phoneMsg.httpVersion})`);
    assert(fake.tokenRequests.length >= 1 && fake.tokenRequests.every((x) => x.ok), `token requests ${JSON.stringify(fake.tokenRequests)}`);
    const c = fake.tokenRequests[0].claims;
    lines.push(`OAuth assertion verified: iss ${c.iss}, aud ${c.aud}, scope ok, exp - iat = ${c.exp - c.iat} s`);

    // UNREGISTERED removes that device's token, only that one.
    await fake.waitFor(() => fake.forToken('tok-old').length >= 1, 3000, 'the push to the unregistered token');
    let gone = null;
    for (let i = 0; i < 50; i++) {
      gone = await api(srv, 'GET', '/me/push-token', undefined, host.tokens.old);
      if (gone.status === 404) break;
      await sleep(100);
    }
    assert(gone.status === 404 && gone.json.error.code === 'not_found', `GET /me/push-token of the unregistered device: ${gone.status} ${JSON.stringify(gone.json)}`);
    const kept = await api(srv, 'GET', '/me/push-token', undefined, host.tokens.phone);
    assert(kept.status === 200 && kept.json.token === 'tok-phone' && kept.json.kind === 'fcm', `phone's token: ${kept.status} ${JSON.stringify(kept.json)}`);
    lines.push('UNREGISTERED: the token is gone (GET /me/push-token 404), the others stay');

    // 429 + Retry-After: 1, and 503 twice, are retried with backoff.
    await fake.waitFor(() => fake.forToken('tok-429').length >= 2 && fake.forToken('tok-503').length >= 3, 6000, 'the retries');
    const a429 = fake.forToken('tok-429').map((m) => m.t);
    const a503 = fake.forToken('tok-503').map((m) => m.t);
    assert(a429[1] - a429[0] >= 950, `429 with Retry-After: 1 retried after ${a429[1] - a429[0]} ms`);
    const g1 = a503[1] - a503[0], g2 = a503[2] - a503[1];
    assert(g1 >= 200 && g2 >= 450 && g2 >= g1 * 0.9, `503 retried after ${g1} ms then ${g2} ms: want backoff (>= 250, then >= 500, growing)`);
    lines.push(`429 + Retry-After 1 s: retried after ${a429[1] - a429[0]} ms; 503 x2: retried after ${g1} ms, then ${g2} ms`);
    await sleep(500);
    assert(fake.forToken('tok-live').length === 0, `the live device got pushes: ${JSON.stringify(fake.forToken('tok-live'))}`);
    assert(fake.forToken('tok-phone', 'incoming_call').length === 1, `phone got ${fake.forToken('tok-phone', 'incoming_call').length} incoming_call pushes`);
    assert(fake.forToken('tok-429', 'incoming_call').length === 2 && fake.forToken('tok-503', 'incoming_call').length === 3,
      'more attempts than the script needed');

    // answered elsewhere: the live device accepts.
    const ans = await sdpAnswer(br.page, inc.jsep.sdp);
    const acc = await live.handle.message({ request: 'accept', call_id: callId }, ans);
    assert(result(acc) && result(acc).event === 'accepted', `accept: ${JSON.stringify(brief(acc))}`);
    const tAcc = Date.now() - fake.t0;
    await fake.waitFor(() => fake.forToken('tok-phone', 'call_ended').length >= 1, 5000, 'the call_ended push to the phone');
    const endMsg = fake.forToken('tok-phone', 'call_ended')[0];
    checkEnded(endMsg, callId, 'answered_elsewhere');
    lines.push(`answered on the live device -> call_ended answered_elsewhere at the phone ${endMsg.t - tAcc} ms later`);
    const hm = rc.handle.mark();
    await rc.handle.message({ request: 'hangup' });
    await rc.handle.waitEvent({ event: 'hangup' }, hm, 5000).catch(() => null);
    await sleep(300);

    // ---- B. cancelled while ringing ----
    const lm2 = live.handle.mark();
    const r2 = await rc.handle.message({ request: 'call', username: host.username }, await sdpOffer(br.page, { audio: true, video: true }));
    assert(result(r2) && result(r2).event === 'calling', `second call: ${JSON.stringify(brief(r2))}`);
    const callId2 = result(r2).call_id;
    await live.handle.waitEvent({ event: 'incomingcall' }, lm2, 5000);
    await fake.waitFor(() => fake.messages.some((m) => m.token === 'tok-phone' && m.message.data.call_id === callId2), 5000, 'the second ring push');
    const ring2 = fake.messages.find((m) => m.token === 'tok-phone' && m.message.data.call_id === callId2);
    checkIncoming(ring2, { callId: callId2, callerName: 'Push Caller', kind: 'video' });
    assert(!fake.messages.some((m) => m.token === 'tok-old' && m.message.data.call_id === callId2), 'the removed token was pushed again');
    await rc.handle.message({ request: 'hangup' });
    await fake.waitFor(() => fake.messages.some((m) => m.token === 'tok-phone' && m.message.data.type === 'call_ended' && m.message.data.call_id === callId2), 5000, 'call_ended after cancel');
    checkEnded(fake.messages.find((m) => m.token === 'tok-phone' && m.message.data.type === 'call_ended' && m.message.data.call_id === callId2), callId2, 'cancelled');
    lines.push('cancelled while ringing -> call_ended cancelled');
    await sleep(500);

    // ---- C. counters ----
    const sent = await metric(srv, 'parley_push_sent_total{kind="fcm"}');
    const retried = await metric(srv, 'parley_push_retried_total{kind="fcm"}');
    const removed = await metric(srv, 'parley_push_tokens_removed_total{kind="fcm"}');
    const depth = await metric(srv, 'parley_push_queue_depth');
    assert(removed === 1, `tokens removed ${removed}, want 1`);
    assert(retried >= 3, `retried ${retried}, want >= 3 (one 429, two 503)`);
    assert(sent >= 7, `sent ${sent}, want >= 7`);
    assert(depth === 0, `queue depth ${depth} at rest`);
    const vk = await api(srv, 'GET', '/push/vapid-public-key');
    assert(vk.status === 200 && /^[A-Za-z0-9_-]{87}$/.test(vk.json.public_key), `GET /push/vapid-public-key: ${vk.status} ${JSON.stringify(vk.json)}`);
    lines.push(`/metrics fcm: sent ${sent}, retried ${retried}, tokens removed ${removed}, queue depth ${depth}; fake saw HTTP ${[...fake.httpVersions].join(', ')}`);
    assert(fake.errors.length === 0, `the fake refused: ${fake.errors.join('; ')}`);

    // ---- E. no device live in the app: the call rings by push alone ----
    const solo = await newUser(srv, 'host', 'Solo Host', ['phone']);
    await setToken(srv, solo.tokens.phone, 'tok-solo');
    const t3 = Date.now();
    const r3 = await rc.handle.message({ request: 'call', username: solo.username }, await sdpOffer(br.page, { audio: true, video: false }));
    assert(result(r3) && result(r3).event === 'calling', `call to a host with no live device: ${JSON.stringify(brief(r3))}`);
    const callId3 = result(r3).call_id;
    await fake.waitFor(() => fake.forToken('tok-solo', 'incoming_call').length >= 1, 5000, 'the push-only ring');
    checkIncoming(fake.forToken('tok-solo', 'incoming_call')[0], { callId: callId3, callerName: 'Push Caller', kind: 'audio' });
    // The app wakes up, connects and registers: it gets the call and answers it.
    const woke = await rawDevice(srv, { token: solo.tokens.phone, label: 'solo/phone', username: solo.username });
    raws.push(woke);
    const inc3 = await woke.handle.waitEvent({ event: 'incomingcall' }, 0, 5000);
    assert(result(inc3).call_id === callId3 && inc3.jsep && inc3.jsep.type === 'offer', `late incomingcall ${JSON.stringify(brief(inc3))}`);
    const cm3 = rc.handle.mark();
    const acc3 = await woke.handle.message({ request: 'accept', call_id: callId3 }, await sdpAnswer(br.page, inc3.jsep.sdp));
    assert(result(acc3) && result(acc3).event === 'accepted', `late accept: ${JSON.stringify(brief(acc3))}`);
    await rc.handle.waitEvent({ event: 'accepted' }, cm3, 5000);
    await fake.waitFor(() => fake.forToken('tok-solo', 'call_ended').length >= 1, 5000, 'the stop push after the woken device answered');
    checkEnded(fake.forToken('tok-solo', 'call_ended')[0], callId3, 'answered_elsewhere');
    lines.push(`a host with no live device: the call rang by push alone, the woken device registered, got the call and answered it ${Date.now() - t3} ms after \`call\``);
    const hm3 = rc.handle.mark();
    await rc.handle.message({ request: 'hangup' });
    await rc.handle.waitEvent({ event: 'hangup' }, hm3, 5000).catch(() => null);
    // Without a token such a host is still unavailable at once.
    const bare = await newUser(srv, 'host', 'Bare Host', ['phone']);
    const cm4 = rc.handle.mark();
    const r4 = await rc.handle.message({ request: 'call', username: bare.username }, await sdpOffer(br.page, { audio: true, video: false }));
    const h4 = result(r4) && result(r4).event === 'hangup' ? result(r4) : result(await rc.handle.waitEvent({ event: 'hangup' }, cm4, 3000));
    assert(h4.reason === 'unavailable', `a host with neither a live device nor a token: ${JSON.stringify(h4)}`);

    // ---- D. a provider that never answers stalls neither calls nor chat ----
    const hangDir = fs.mkdtempSync(path.join(os.tmpdir(), 'it-push-hang-'));
    const hangAccount = serviceAccount(hangDir, `${fake.url}/token`);
    fake.account = hangAccount;   // the fake checks assertions against the key in use
    const srv2 = await startServer(callsServerOpts(47, [`--calls.ring_timeout_s=${RING_S}`,
      ...pushArgs(fake, hangAccount, pki, ['--push.max_in_flight=2', '--push.queue_size=4', '--push.request_timeout_ms=1500', '--chat.rate_per_s=1000', '--chat.burst=1000'])]));
    try {
      fake.script('tok-hang', () => 'hang');
      fake.script('tok-hang2', () => 'hang');
      const c2 = await newUser(srv2, 'caller', 'Hang Caller');
      const h2 = await newUser(srv2, 'host', 'Hang Host', ['live', 'phone']);
      await setToken(srv2, h2.tokens.phone, 'tok-hang');
      await setToken(srv2, h2.tokens.live, 'tok-hang2');
      let cv = await api(srv2, 'POST', '/conversations', { with: h2.id }, c2.token);
      assert(cv.status === 201, `conversation: ${cv.status} ${JSON.stringify(cv.json)}`);
      const room = cv.json.id;
      const restMs = [];
      for (let i = 0; i < 30; i++) {
        const t = Date.now();
        const s = await api(srv2, 'POST', `/conversations/${room}/messages`, { client_id: crypto.randomUUID(), text: `hello ${i}` }, c2.token);
        restMs.push(Date.now() - t);
        assert(s.status === 201, `REST send ${i}: ${s.status} ${JSON.stringify(s.json)}`);
      }
      const live2 = await rawDevice(srv2, { token: h2.tokens.live, label: 'hang/live', username: h2.username });
      const rc2 = await rawDevice(srv2, { token: c2.token, label: 'hang/caller', username: c2.username });
      raws.push(live2, rc2);
      const ringMs = [];
      for (let i = 0; i < 5; i++) {
        const m = live2.handle.mark();
        const t = Date.now();
        const rr = await rc2.handle.message({ request: 'call', username: h2.username }, await sdpOffer(br.page, { audio: true, video: false }));
        assert(result(rr) && result(rr).event === 'calling', `hang call ${i}: ${JSON.stringify(brief(rr))}`);
        await live2.handle.waitEvent({ event: 'incomingcall' }, m, 3000);
        ringMs.push(Date.now() - t);
        const hm2 = rc2.handle.mark();
        await rc2.handle.message({ request: 'hangup' });
        await rc2.handle.waitEvent({ event: 'hangup' }, hm2, 3000).catch(() => null);
      }
      const depth2 = await metric(srv2, 'parley_push_queue_depth');
      const dropped = await metric(srv2, 'parley_push_dropped_total{kind="fcm"}');
      const inflight = await metric(srv2, 'parley_push_in_flight');
      assert(depth2 <= 4, `queue depth ${depth2} > push.queue_size 4`);
      assert(inflight <= 2, `in flight ${inflight} > push.max_in_flight 2`);
      assert(dropped >= 20, `dropped ${dropped}: want the pushes beyond the queue counted (>= 20 of 35)`);
      assert(pct(restMs, 99) < 1000, `REST sends p99 ${pct(restMs, 99)} ms with a hung push provider`);
      assert(Math.max(...ringMs) < 2000, `call -> incomingcall up to ${Math.max(...ringMs)} ms with a hung push provider`);
      lines.push(`FCM never answering (in flight 2, queue 4, timeout 1.5 s): 30 REST messages p50 ${pct(restMs, 50)} ms p99 ${pct(restMs, 99)} ms; ` +
        `5 calls rang in ${Math.min(...ringMs)}-${Math.max(...ringMs)} ms; queue depth ${depth2}, in flight ${inflight}, dropped ${dropped}`);
      for (const x of [live2, rc2]) await x.session.close();
      const how = await srv2.stop();
      assert(how.code === 0, `second server exit ${JSON.stringify(how)}`);
      const rep = srv2.sanitizerReports();
      assert(rep.length === 0, `sanitizer reports (second server):\n${rep.join('\n')}`);
    } catch (e) {
      console.error(`--- second server log ---\n${srv2.tail(40)}`);
      await srv2.stop();
      throw e;
    }
    for (const l of lines) console.log(l);
  } finally {
    for (const x of raws) await x.session.close().catch(() => {});
    await br.close();
    await fake.close();
  }
});
