// A minimal hand-written Janus API client over WebSocket, run inside the test page, for the
// tests that must control the socket (drop it mid-call, claim the session on a new one).
//
// One call per page (module state). Every request gets a fresh transaction; responses are
// matched by transaction (an `ack` is skipped when a later response is expected), all other
// messages are kept in `events` with arrival time and the socket generation they came on.
// Trickle from the server is buffered until the remote description is applied (Janus can
// trickle before the answer arrives), then applied with addIceCandidate.

import { digest, ufrags } from '/stats.js';

const st = {
  url: null, ws: null, gen: 0, sessionId: null, handleId: null, pc: null,
  pending: new Map(), events: [], remoteReady: false, trickleBuf: [],
  keepalives: { sent: 0, acked: 0, errors: 0 }, kaTimer: null, t0: performance.now(),
  closedSockets: [],
};

function now() { return performance.now() - st.t0; }

function txid() { return Math.random().toString(36).slice(2, 14); }

function onMessage(gen, ev) {
  let msg;
  try { msg = JSON.parse(ev.data); } catch { st.events.push({ t: now(), gen, bad: String(ev.data).slice(0, 200) }); return; }
  const p = msg.transaction && st.pending.get(msg.transaction);
  if (p && !(msg.janus === 'ack' && p.wantEvent)) {
    st.pending.delete(msg.transaction);
    p.resolve(msg);
    return;
  }
  st.events.push({ t: now(), gen, msg });
  if (msg.janus === 'trickle') onRemoteTrickle(msg.candidate);
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

// Sends msg (transaction added) and resolves with its response; wantEvent waits past the ack.
export function request(msg, { wantEvent = false, timeoutMs = 10000 } = {}) {
  const transaction = txid();
  const full = { ...msg, transaction };
  if (st.sessionId && full.session_id === undefined && msg.janus !== 'create') full.session_id = st.sessionId;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { st.pending.delete(transaction); reject(new Error(`no response to ${msg.janus} in ${timeoutMs} ms`)); }, timeoutMs);
    st.pending.set(transaction, { wantEvent, resolve: (m) => { clearTimeout(timer); resolve(m); } });
    st.ws.send(JSON.stringify(full));
  });
}

async function onRemoteTrickle(c) {
  if (!c) return;
  if (!st.remoteReady) { st.trickleBuf.push(c); return; }
  await applyCandidate(c);
}

async function applyCandidate(c) {
  try {
    // End-of-candidates needs no action from a full-ICE browser peer.
    if (!c.completed) await st.pc.addIceCandidate(c);
  } catch (e) {
    st.events.push({ t: now(), error: `addIceCandidate: ${e.message}` });
  }
}

function sendTrickle(candidate) {
  const body = candidate ? { candidate: { candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex } }
    : { candidate: { completed: true } };
  request({ janus: 'trickle', handle_id: st.handleId, ...body }).catch((e) => st.events.push({ t: now(), error: e.message }));
}

export async function connect(url) {
  st.url = url;
  await openSocket();
  const created = await request({ janus: 'create' });
  if (created.janus !== 'success') throw new Error(`create: ${JSON.stringify(created)}`);
  st.sessionId = created.data.id;
  const attached = await request({ janus: 'attach', plugin: 'janus.plugin.echotest' });
  if (attached.janus !== 'success') throw new Error(`attach: ${JSON.stringify(attached)}`);
  st.handleId = attached.data.id;
  return { sessionId: st.sessionId, handleId: st.handleId };
}

// Sends an offer (the first call, or an ICE restart) and applies the answer.
async function negotiate(offerOptions) {
  st.remoteReady = false;
  const offer = await st.pc.createOffer(offerOptions);
  await st.pc.setLocalDescription(offer);
  const resp = await request({ janus: 'message', handle_id: st.handleId, body: { audio: true, video: true },
    jsep: { type: offer.type, sdp: offer.sdp } }, { wantEvent: true });
  if (resp.janus !== 'event' || !resp.jsep || resp.jsep.type !== 'answer') throw new Error(`no answer: ${JSON.stringify(resp).slice(0, 400)}`);
  await st.pc.setRemoteDescription(resp.jsep);
  st.remoteReady = true;
  const buf = st.trickleBuf.splice(0);
  for (const c of buf) await applyCandidate(c);
  return resp;
}

export async function call() {
  if (st.pc) st.pc.close();
  st.trickleBuf = [];
  st.pc = new RTCPeerConnection({ iceServers: [] });
  st.pc.onicecandidate = (e) => sendTrickle(e.candidate);
  const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  for (const tr of media.getTracks()) st.pc.addTrack(tr, media);
  const resp = await negotiate({});
  return { plugindata: resp.plugindata };
}

export async function waitEvent(pred, timeoutMs = 10000, since = 0) {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const e = st.events.find((x, i) => i >= since && x.msg && pred(x.msg));
    if (e) return e;
    if (performance.now() > end) return null;
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function startKeepalives(periodMs) {
  st.kaTimer = setInterval(() => {
    if (!st.ws || st.ws.readyState !== WebSocket.OPEN) return;
    st.keepalives.sent++;
    request({ janus: 'keepalive' }, { timeoutMs: periodMs * 2 })
      .then((m) => { if (m.janus === 'ack') st.keepalives.acked++; else st.keepalives.errors++; })
      .catch(() => st.keepalives.errors++);
  }, periodMs);
}

// Drops the WebSocket (client side), waits gapMs, opens a new one and claims the session.
export async function reconnect(gapMs) {
  const old = st.ws;
  st.ws = null;
  await new Promise((resolve) => { old.addEventListener('close', resolve); old.close(); });
  await new Promise((r) => setTimeout(r, gapMs));
  await openSocket();
  const claimed = await request({ janus: 'claim', session_id: st.sessionId });
  return claimed;
}

export async function iceRestart() {
  const before = { ...ufrags(st.pc), pair: (await digest(st.pc)).pair };
  const resp = await negotiate({ iceRestart: true });
  return { before, plugindata: resp.plugindata };
}

export function handleId() { return st.handleId; }

export async function stats() { return { ...(await digest(st.pc)), ufrags: ufrags(st.pc) }; }

export function info() {
  return { sessionId: st.sessionId, handleId: st.handleId, gen: st.gen, keepalives: { ...st.keepalives },
    events: st.events.slice(-60), eventCount: st.events.length, closedSockets: st.closedSockets };
}

export async function destroy() {
  if (st.kaTimer) clearInterval(st.kaTimer);
  try { await request({ janus: 'destroy' }, { timeoutMs: 3000 }); } catch { /* the test already decided */ }
  if (st.pc) st.pc.close();
  if (st.ws) st.ws.close();
}
