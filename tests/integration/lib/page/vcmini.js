// A hand-written Janus videocall client over WebSocket, run inside a test page, for the calls
// tests that must control the socket (drop it mid-call, claim the session on a new one) and
// the offers (ICE restart), which janus.js does not let a test do. One client per page.
//
// Every Janus request carries the auth token (when one is given) and a fresh transaction;
// responses are matched by transaction (the `ack` of a plugin message is skipped, the
// plugin's reply with the same transaction is the response). Everything else is kept in
// `events` with arrival time and the socket generation it came on. While the socket is down
// (between drop() and the claim) requests wait in a queue and go out after the claim.
// What a videocall client must do is done here: `accepted` + answer and `update` + answer
// are applied, an `update` + offer is answered with `set` + answer (keeping our own tracks),
// server trickles are buffered while the answer to our own offer is outstanding. All work on
// the RTCPeerConnection is serialised on one promise chain. monitorStart()/monitorStop()
// sample getStats() every periodMs and report the longest break in the rises of the inbound
// audio and video packet counters.

import { digest, gapMonitor, ufrags } from '/stats.js';

const st = {
  url: null, token: null, ws: null, gen: 0, live: false, queue: [], sessionId: null, handleId: null,
  pc: null, media: null, pending: new Map(), events: [], remoteReady: false, trickleBuf: [],
  incoming: null, chain: Promise.resolve(), errors: [], t0: performance.now(), closedSockets: [],
  kaTimer: null, keepalives: { sent: 0, acked: 0, errors: 0 }, updatesAnswered: 0, answersApplied: 0,
  localTrickles: 0, monitor: null,
};

function now() { return performance.now() - st.t0; }

function txid() { return Math.random().toString(36).slice(2, 14); }

function fail(what, e) { st.errors.push(`${now().toFixed(0)}ms ${what}: ${e && e.message ? e.message : e}`); }

// Runs fn after everything queued before it (PeerConnection work must not interleave).
function serial(what, fn) {
  const p = st.chain.then(fn);
  st.chain = p.catch((e) => fail(what, e));
  return p;
}

function pluginResult(msg) {
  const d = msg.plugindata && msg.plugindata.data;
  return d || null;
}

function onMessage(gen, ev) {
  let msg;
  try { msg = JSON.parse(ev.data); } catch { st.events.push({ t: now(), gen, bad: String(ev.data).slice(0, 200) }); return; }
  const p = msg.transaction && st.pending.get(msg.transaction);
  if (p && !(msg.janus === 'ack' && p.wantEvent)) {
    st.pending.delete(msg.transaction);
    st.events.push({ t: now(), gen, msg, reply: true });
    p.resolve(msg);
    // A reply may carry a JSEP too (an answer in the reply to `set` + offer): apply it.
    if (msg.janus === 'event' && msg.jsep) onPluginEvent(msg);
    return;
  }
  st.events.push({ t: now(), gen, msg });
  if (msg.janus === 'trickle') onRemoteTrickle(msg.candidate);
  else if (msg.janus === 'event') onPluginEvent(msg);
}

function onPluginEvent(msg) {
  const d = pluginResult(msg);
  const what = d && d.result && d.result.event;
  const jsep = msg.jsep;
  if (what === 'incomingcall' && jsep) {
    st.incoming = jsep;
    st.trickleBuf = []; // what follows belongs to this offer
  }
  if (jsep && jsep.type === 'answer' && (what === 'accepted' || what === 'update' || what === 'set')) {
    serial('apply answer', () => applyAnswer(jsep));
  } else if (jsep && jsep.type === 'offer' && what === 'update') {
    serial('answer update', () => answerUpdate(jsep));
  }
}

async function applyAnswer(jsep) {
  await st.pc.setRemoteDescription({ type: 'answer', sdp: jsep.sdp });
  st.answersApplied++;
  st.remoteReady = true;
  await flushTrickles();
}

async function answerUpdate(jsep) {
  await st.pc.setRemoteDescription({ type: 'offer', sdp: jsep.sdp });
  st.remoteReady = true;
  await flushTrickles();
  const answer = await st.pc.createAnswer();
  await st.pc.setLocalDescription(answer);
  const r = await message({ request: 'set' }, { type: 'answer', sdp: answer.sdp });
  const d = pluginResult(r);
  if (!d || !d.result || d.result.event !== 'set') throw new Error(`set + answer answered ${JSON.stringify(r).slice(0, 300)}`);
  st.updatesAnswered++;
}

function onRemoteTrickle(c) {
  if (!c) return;
  if (!st.remoteReady || !st.pc) { st.trickleBuf.push(c); return; }
  serial('addIceCandidate', () => applyCandidate(c));
}

async function flushTrickles() {
  const buf = st.trickleBuf.splice(0);
  for (const c of buf) await applyCandidate(c);
}

async function applyCandidate(c) {
  if (c.completed) return; // end-of-candidates: nothing to do for a full-ICE peer
  try {
    await st.pc.addIceCandidate(c);
  } catch (e) {
    fail('addIceCandidate', e);
  }
}

function openSocket() {
  return new Promise((resolve, reject) => {
    const gen = ++st.gen;
    const ws = new WebSocket(st.url, 'janus-protocol');
    ws.onopen = () => { st.ws = ws; resolve(ws); };
    ws.onerror = () => reject(new Error(`websocket ${st.url} failed`));
    ws.onmessage = (ev) => onMessage(gen, ev);
    ws.onclose = (ev) => st.closedSockets.push({ gen, code: ev.code, t: now() });
  });
}

function transmit(full, raw) {
  if (raw || st.live) st.ws.send(JSON.stringify(full));
  else st.queue.push(full);
}

// Sends msg (transaction, token and session added) and resolves with its response;
// wantEvent waits past the ack. raw: send now even before the claim (create, claim).
export function request(msg, { wantEvent = false, timeoutMs = 10000, raw = false } = {}) {
  const transaction = txid();
  const full = { ...msg, transaction };
  if (st.token) full.token = st.token;
  if (st.sessionId && full.session_id === undefined && msg.janus !== 'create') full.session_id = st.sessionId;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      st.pending.delete(transaction);
      reject(new Error(`no response to ${msg.janus}${msg.body ? ` ${msg.body.request}` : ''} in ${timeoutMs} ms`));
    }, timeoutMs);
    st.pending.set(transaction, { wantEvent, resolve: (m) => { clearTimeout(timer); resolve(m); } });
    transmit(full, raw);
  });
}

// A plugin message; resolves with the plugin's reply (the event with our transaction) or a
// Janus error.
export function message(body, jsep, timeoutMs = 10000) {
  const msg = { janus: 'message', handle_id: st.handleId, body };
  if (jsep) msg.jsep = jsep;
  return request(msg, { wantEvent: true, timeoutMs });
}

function sendTrickle(candidate) {
  st.localTrickles++;
  const body = candidate ? { candidate: { candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex } }
    : { candidate: { completed: true } };
  request({ janus: 'trickle', handle_id: st.handleId, ...body })
    .then((m) => { if (m.janus !== 'ack') fail('trickle', JSON.stringify(m).slice(0, 200)); })
    .catch((e) => fail('trickle', e));
}

export async function connect(url, token) {
  st.url = url;
  st.token = token || null;
  await openSocket();
  st.live = true;
  const created = await request({ janus: 'create' });
  if (created.janus !== 'success') throw new Error(`create: ${JSON.stringify(created)}`);
  st.sessionId = created.data.id;
  const attached = await request({ janus: 'attach', plugin: 'janus.plugin.videocall' });
  if (attached.janus !== 'success') throw new Error(`attach: ${JSON.stringify(attached)}`);
  st.handleId = attached.data.id;
  st.kaTimer = setInterval(() => {
    if (!st.live) return;
    st.keepalives.sent++;
    request({ janus: 'keepalive' }, { timeoutMs: 10000 })
      .then((m) => { if (m.janus === 'ack') st.keepalives.acked++; else st.keepalives.errors++; })
      .catch(() => st.keepalives.errors++);
  }, 5000);
  return { sessionId: st.sessionId, handleId: st.handleId };
}

function brief(msg) {
  if (!msg) return null;
  const d = pluginResult(msg);
  const out = { janus: msg.janus };
  if (d) {
    if (d.result) out.result = d.result;
    if (d.error_code !== undefined) { out.error_code = d.error_code; out.error = d.error; }
  }
  if (msg.error) out.janusError = msg.error;
  if (msg.jsep) {
    out.jsep = { type: msg.jsep.type, ufrag: (msg.jsep.sdp.match(/a=ice-ufrag:(\S+)/) || [])[1] || null };
  }
  if (msg.janus === 'hangup' || msg.janus === 'media') out.detail = { reason: msg.reason, type: msg.type, receiving: msg.receiving };
  return out;
}

// A new PeerConnection. The server's trickles for it may already be buffered (they follow
// an incomingcall's offer at once): call() clears the buffer, accept() keeps it.
async function newPc() {
  if (st.pc) st.pc.close();
  st.remoteReady = false;
  st.pc = new RTCPeerConnection({ iceServers: [] });
  st.pc.onicecandidate = (e) => sendTrickle(e.candidate);
  st.media = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  for (const tr of st.media.getTracks()) st.pc.addTrack(tr, st.media);
}

export function register(username) {
  return message({ request: 'register', username }).then(brief);
}

// Offers audio + video and sends `call`; resolves with the reply (`calling` or an error).
export function call(username) {
  return serial('call', async () => {
    st.trickleBuf = [];
    await newPc();
    const offer = await st.pc.createOffer();
    await st.pc.setLocalDescription(offer);
    return brief(await message({ request: 'call', username }, { type: 'offer', sdp: offer.sdp }));
  });
}

// Answers the incoming call's offer with audio + video and sends `accept`.
export function accept() {
  return serial('accept', async () => {
    if (!st.incoming) throw new Error('no incoming call to accept');
    await newPc();
    await st.pc.setRemoteDescription({ type: 'offer', sdp: st.incoming.sdp });
    st.remoteReady = true;
    await flushTrickles();
    const answer = await st.pc.createAnswer();
    await st.pc.setLocalDescription(answer);
    return brief(await message({ request: 'accept' }, { type: 'answer', sdp: answer.sdp }));
  });
}

// `set` without a JSEP (audio/video switches, bitrate); resolves with the reply.
export async function set(body) {
  return brief(await message({ request: 'set', ...body }));
}

// `set` with an ICE-restart offer. Resolves once the answer (an `update` event, or the
// reply itself if it carried one) is applied, with what was seen on the way.
export async function iceRestart(timeoutMs = 10000) {
  const before = { ...ufrags(st.pc), pair: (await digest(st.pc)).pair };
  const t0 = now();
  const applied0 = st.answersApplied;
  const since = st.events.length;
  const reply = await serial('ice restart offer', async () => {
    st.remoteReady = false;
    const offer = await st.pc.createOffer({ iceRestart: true });
    await st.pc.setLocalDescription(offer);
    return message({ request: 'set' }, { type: 'offer', sdp: offer.sdp });
  });
  const tReply = now();
  const d = pluginResult(reply);
  if (!d || !d.result || d.result.event !== 'set') throw new Error(`set + restart offer answered ${JSON.stringify(reply).slice(0, 400)}`);
  const end = performance.now() + timeoutMs;
  while (st.answersApplied === applied0) {
    if (st.errors.length) throw new Error(`client errors: ${st.errors.join('; ')}`);
    if (performance.now() > end) throw new Error(`no answer to the ICE-restart offer in ${timeoutMs} ms; events since: ${JSON.stringify(st.events.slice(since).map((e) => brief(e.msg)))}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  await st.chain;
  const tAnswer = now();
  const seen = st.events.slice(since).filter((e) => e.msg && e.msg.janus !== 'trickle' && e.msg.janus !== 'ack')
    .map((e) => ({ t: Math.round(e.t - t0), reply: !!e.reply, ...brief(e.msg) }));
  const trickles = st.events.slice(since).filter((e) => e.msg && e.msg.janus === 'trickle').length;
  return { before, reply: brief(reply), replyMs: tReply - t0, answerMs: tAnswer - t0, seen, trickles };
}

// Drops the WebSocket (client side), waits gapMs, opens a new one and claims the session;
// queued requests go out after the claim. Resolves with the claim's response.
export async function reconnect(gapMs) {
  const old = st.ws;
  st.live = false;
  st.ws = null;
  await new Promise((resolve) => { old.addEventListener('close', resolve); old.close(); });
  await new Promise((r) => setTimeout(r, gapMs));
  await openSocket();
  const claimed = await request({ janus: 'claim' }, { raw: true });
  if (claimed.janus === 'success') {
    st.live = true;
    for (const full of st.queue.splice(0)) st.ws.send(JSON.stringify(full));
  }
  return claimed;
}

export function mark() { return st.events.length; }

// match: {janus, event, jsep (type), reply (bool)}; resolves with the brief of the first
// event at index >= since that matches, or null after timeoutMs.
export async function waitEvent(match, since = 0, timeoutMs = 10000) {
  const end = performance.now() + timeoutMs;
  const ok = (e) => {
    if (!e.msg) return false;
    if (match.janus !== undefined && e.msg.janus !== match.janus) return false;
    if (match.event !== undefined) {
      const d = pluginResult(e.msg);
      if (!d || !d.result || d.result.event !== match.event) return false;
    }
    if (match.jsep !== undefined && (!e.msg.jsep || e.msg.jsep.type !== match.jsep)) return false;
    if (match.reply !== undefined && !!e.reply !== match.reply) return false;
    return true;
  };
  for (;;) {
    const i = st.events.findIndex((e, k) => k >= since && ok(e));
    if (i >= 0) return { i, t: st.events[i].t, gen: st.events[i].gen, ...brief(st.events[i].msg) };
    if (performance.now() > end) return null;
    await new Promise((r) => setTimeout(r, 20));
  }
}

// The selected pair's candidate types (digest() has the addresses; a peer-reflexive remote
// candidate's address is hidden by Chromium, its port is not).
async function pairTypes(pc) {
  const report = await pc.getStats();
  let pair = null;
  report.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId);
  });
  if (!pair) return null;
  const l = report.get(pair.localCandidateId) || {};
  const r = report.get(pair.remoteCandidateId) || {};
  return { local: l.candidateType || null, remote: r.candidateType || null, remotePort: r.port || null };
}

export async function stats() {
  const d = await digest(st.pc);
  return { ...d, ufrags: ufrags(st.pc), signaling: st.pc.signalingState, pairTypes: await pairTypes(st.pc) };
}

export function info() {
  return {
    sessionId: st.sessionId, handleId: st.handleId, gen: st.gen, live: st.live, queued: st.queue.length,
    keepalives: { ...st.keepalives }, updatesAnswered: st.updatesAnswered, answersApplied: st.answersApplied,
    localTrickles: st.localTrickles, errors: st.errors.slice(), closedSockets: st.closedSockets,
    eventCount: st.events.length,
    events: st.events.slice(-30).map((e) => ({ t: Math.round(e.t), gen: e.gen, reply: !!e.reply, ...(e.msg ? brief(e.msg) : { bad: e.bad }) })),
  };
}

// The results of every plugin event named `name` received so far (the ticker's billing events).
export function results(name) {
  return st.events.map((e) => e.msg && pluginResult(e.msg)).filter((d) => d && d.result && d.result.event === name).map((d) => d.result);
}

// The longest breaks in the inbound audio and video packet counters (stats.js gapMonitor).
export function monitorStart(periodMs = 50) {
  st.monitor = gapMonitor(st.pc, ['audio', 'video'], periodMs, now);
}

export async function monitorStop() {
  const r = await st.monitor.stop();
  const out = { samples: r.samples, errors: r.errors, maxSamplerStallMs: r.maxSamplerStallMs, spanMs: r.spanMs };
  for (const k of ['audio', 'video']) {
    out[k] = { maxGapMs: r[k].maxGapMs, atMs: r[k].maxGapAtMs === null ? null : r[k].maxGapAtMs - r.firstT };
  }
  return out;
}

export function hangup() {
  return message({ request: 'hangup' }).then(brief);
}

export async function destroy() {
  if (st.kaTimer) clearInterval(st.kaTimer);
  try { await request({ janus: 'destroy' }, { timeoutMs: 3000 }); } catch { /* the test already decided */ }
  if (st.pc) st.pc.close();
  if (st.media) for (const tr of st.media.getTracks()) tr.stop();
  if (st.ws) st.ws.close();
}
