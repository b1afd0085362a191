// A janus.js client of the videocall plugin (our calls plugin answers as
// janus.plugin.videocall), run inside a test page. One client per page (module state); the
// calls tests open one page per user device (lib/calls.mjs loads this module into it).
//
// start({server, token}) connects (WebSocket for ws://, HTTP long-poll otherwise) and
// attaches the plugin. Every plugin message is kept in `events` ({i, t, result | error_code
// + error, jsep}) and the tests wait on them with waitEvent(match, since). What a videocall
// client always does is done here too: the answer in `accepted` and in an `update` carrying
// an answer is applied; an `update` carrying an offer is answered with `set` + answer when
// autoAnswerUpdates is on (the default), adding a capture track for each kind the offer
// has and we do not send yet; a `hangup` event releases the local PeerConnection, as the
// janus.js demo does. call()/accept()/renegotiate() take janus.js `tracks` arrays.
// resume() continues a call a server crash interrupted from this (new) client: `resume`
// with the party's resume_token and a fresh offer; the answer the server sends in the
// `resumed` event is applied like the one in `accepted`.
// monitorStart()/monitorStop() poll getStats() every periodMs and report the longest gap
// between two rises of an inbound packet counter.

import Janus from '/janus.es.js';
import { digest, gapMonitor } from '/stats.js';

const st = {
  janus: null, handle: null, t0: performance.now(), events: [], log: [], errors: [],
  webrtcUp: null, webrtcDowns: [], media: [], remoteTracks: [], incoming: null,
  pendingUpdate: null, autoAnswerUpdates: true, monitor: null, dataOpen: null, dataIn: [],
};

function now() { return performance.now() - st.t0; }
function note(what) {
  st.log.push(`${now().toFixed(0)}ms ${what}`);
  if (st.log.length > 300) st.log.shift();
}

function initJanus() {
  return new Promise((resolve) => {
    Janus.init({ debug: false, dependencies: Janus.useDefaultDependencies({ adapter: window.adapter }), callback: resolve });
  });
}

function pushEvent(e) {
  const ev = { i: st.events.length, t: now(), ...e };
  st.events.push(ev);
  return ev;
}

// The kinds (audio/video) of the m-lines of an SDP that are not rejected (port 0).
function sdpKinds(sdp) {
  return sdp.split(/\r?\n/).filter((l) => l.startsWith('m=') && !/^m=\S+ 0 /.test(l))
    .map((l) => l.slice(2).split(' ')[0]).filter((k) => k === 'audio' || k === 'video');
}

// Capture tracks to add for an incoming offer: one per offered kind that we do not send yet.
function tracksForOffer(jsep) {
  const pc = st.handle && st.handle.webrtcStuff && st.handle.webrtcStuff.pc;
  const sending = new Set();
  if (pc) {
    for (const tr of pc.getTransceivers()) {
      if (tr.sender && tr.sender.track) sending.add(tr.sender.track.kind);
    }
  }
  return [...new Set(sdpKinds(jsep.sdp))].filter((k) => !sending.has(k))
    .map((k) => ({ type: k, capture: true, recv: true }));
}

function answerOffer(jsep, tracks) {
  return new Promise((resolve, reject) => {
    st.handle.createAnswer({
      jsep, tracks,
      success: (answer) => resolve(answer),
      error: (e) => reject(new Error(`createAnswer: ${e && e.message ? e.message : JSON.stringify(e)}`)),
    });
  });
}

async function onUpdateOffer(jsep) {
  try {
    const answer = await answerOffer(jsep, tracksForOffer(jsep));
    st.handle.send({ message: { request: 'set' }, jsep: answer, error: (e) => st.errors.push(`set+answer: ${e}`) });
    note('answered an update offer');
  } catch (e) {
    st.errors.push(e.message);
  }
}

function onMessage(msg, jsep) {
  const result = msg.result || null;
  const ev = pushEvent({
    result, error_code: msg.error_code, error: msg.error,
    jsep: jsep ? { type: jsep.type, sdp: jsep.sdp } : null,
  });
  note(`message ${JSON.stringify(msg)}${jsep ? ` jsep=${jsep.type}` : ''}`);
  const what = result && result.event;
  if (what === 'incomingcall' && jsep) st.incoming = { jsep, result };
  if (jsep && jsep.type === 'answer' && (what === 'accepted' || what === 'update' || what === 'resumed')) {
    st.handle.handleRemoteJsep({ jsep, error: (e) => st.errors.push(`handleRemoteJsep: ${e}`) });
  } else if (jsep && jsep.type === 'offer' && what === 'update') {
    if (st.autoAnswerUpdates) onUpdateOffer(jsep);
    else st.pendingUpdate = jsep;
  }
  if (what === 'hangup') {
    st.incoming = null;
    // Local cleanup only (the server already ended the call), as janus.js's demo does.
    st.handle.hangup(false);
  }
  return ev;
}

function connect(server, token) {
  return new Promise((resolve, reject) => {
    st.janus = new Janus({
      server, token, iceServers: [],
      success: () => resolve(),
      error: (e) => { st.errors.push(`session: ${e}`); reject(new Error(`janus session error: ${e}`)); },
      destroyed: () => note('destroyed'),
    });
  });
}

function attach(plugin) {
  return new Promise((resolve, reject) => {
    st.janus.attach({
      plugin,
      success: (h) => { st.handle = h; resolve(h); },
      error: (e) => reject(new Error(`attach error: ${e}`)),
      webrtcState: (on, reason) => {
        note(`webrtcState ${on} ${reason || ''}`);
        if (on && st.webrtcUp === null) st.webrtcUp = now();
        if (!on) st.webrtcDowns.push({ t: now(), reason: reason || 'down' });
      },
      iceState: (s) => note(`iceState ${s}`),
      mediaState: (medium, on, mid) => { st.media.push({ t: now(), medium, on, mid }); note(`media ${medium} ${on} ${mid}`); },
      slowLink: (uplink, lost, mid) => note(`slowLink uplink=${uplink} lost=${lost} mid=${mid}`),
      onmessage: onMessage,
      onremotetrack: (track, mid, on) => { st.remoteTracks.push({ t: now(), kind: track.kind, mid, on }); note(`remotetrack ${track.kind} ${mid} ${on}`); },
      ondataopen: (label) => { if (st.dataOpen === null) st.dataOpen = now(); note(`dataopen ${label}`); },
      ondata: (data) => { st.dataIn.push(String(data)); note(`data ${String(data).slice(0, 40)}`); },
      oncleanup: () => note('cleanup'),
      ondetached: () => note('detached'),
    });
  });
}

export async function start({ server, token, plugin = 'janus.plugin.videocall', autoAnswerUpdates = true }) {
  st.t0 = performance.now();
  st.autoAnswerUpdates = autoAnswerUpdates;
  await initJanus();
  await connect(server, token);
  await attach(plugin);
  note(`attached ${st.handle.getId()}`);
  return { sessionId: st.janus.getSessionId(), handleId: st.handle.getId() };
}

// Sends a plugin request (optionally with a JSEP) and returns the index the reply will
// have at the earliest, for waitEvent(..., since). Janus-level errors (for instance 465
// for an SDP the core refuses) come back through the error callback: kept as events with
// `janusError`.
export function send(message, jsep) {
  const since = st.events.length;
  st.handle.send({
    message, jsep,
    error: (e) => { pushEvent({ janusError: String(e) }); note(`send error ${e}`); },
  });
  return since;
}

// match: {event: name | [names]} for a result event, {error: true | code} for an error,
// {janusError: true} for a refusal by the core, {any: true} for the next reply of any kind.
function matches(e, m) {
  if (m.any) return true;
  if (m.event !== undefined) {
    if (!e.result) return false;
    const names = Array.isArray(m.event) ? m.event : [m.event];
    if (!names.includes(e.result.event)) return false;
    if (m.reason !== undefined && e.result.reason !== m.reason) return false;
    return true;
  }
  if (m.error !== undefined) {
    if (e.error_code === undefined || e.error_code === null) return false;
    return m.error === true || e.error_code === m.error;
  }
  if (m.janusError) return e.janusError !== undefined;
  if (m.replyOrError) return e.result || e.error_code !== undefined || e.janusError !== undefined;
  return false;
}

function brief(e) {
  const { jsep, ...rest } = e;
  if (!jsep) return rest;
  const ufrag = (jsep.sdp.match(/a=ice-ufrag:(\S+)/) || [])[1] || null;
  return { ...rest, jsep: { type: jsep.type, kinds: sdpKinds(jsep.sdp), ufrag } };
}

export async function waitEvent(match, since = 0, timeoutMs = 10000) {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const e = st.events.find((x) => x.i >= since && matches(x, match));
    if (e) return brief(e);
    if (st.errors.length) throw new Error(`client errors: ${st.errors.join('; ')}`);
    if (performance.now() > end) {
      throw new Error(`timeout (${timeoutMs} ms) waiting for ${JSON.stringify(match)} since #${since}; events: ` +
        JSON.stringify(st.events.slice(-8).map(brief)).slice(0, 1500));
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function mark() { return st.events.length; }

function makeOffer(tracks, extra = {}) {
  return new Promise((resolve, reject) => {
    st.handle.createOffer({
      tracks, ...extra,
      success: (jsep) => resolve(jsep),
      error: (e) => reject(new Error(`createOffer: ${e && e.message ? e.message : JSON.stringify(e)}`)),
    });
  });
}

export const AV = [{ type: 'audio', capture: true, recv: true }, { type: 'video', capture: true, recv: true }];
// Audio + video + a data channel (in-call text, relayed between the legs as Janus's videocall does).
export const AVD = [...AV, { type: 'data' }];

// Sends text on the data channel once it is open (waits up to timeoutMs for it).
export async function sendData(text, timeoutMs = 10000) {
  const end = performance.now() + timeoutMs;
  while (st.dataOpen === null) {
    if (performance.now() > end) throw new Error('data channel not open');
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((resolve, reject) => st.handle.data({ text, success: resolve, error: (e) => reject(new Error(`data: ${e}`)) }));
}

// Waits until text was received on the data channel.
export async function waitData(text, timeoutMs = 10000) {
  const end = performance.now() + timeoutMs;
  while (!st.dataIn.includes(text)) {
    if (performance.now() > end) throw new Error(`data "${text}" not received (got ${JSON.stringify(st.dataIn.slice(-5))})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function register(username) {
  const since = send({ request: 'register', username });
  return waitEvent({ replyOrError: true }, since);
}

// Offers with `tracks` (audio + video by default) and sends `call`; returns the index to
// wait from. `body` adds fields to the request.
export async function call(username, tracks = AV, body = {}) {
  const jsep = await makeOffer(tracks);
  return send({ request: 'call', username, ...body }, jsep);
}

// Answers the last incoming call's offer with `tracks` and sends `accept`.
export async function accept(tracks = AV) {
  if (!st.incoming) throw new Error('no incoming call to accept');
  const answer = await answerOffer(st.incoming.jsep, tracks);
  return send({ request: 'accept' }, answer);
}

// Sends `resume` for call_id with the party's resume token and returns the index to wait
// from. offer: 'handle' (default) offers `tracks` from this client's handle, so the
// `resumed` answer brings its PeerConnection up; 'none' sends no JSEP. (The core applies
// an offer before the plugin sees the request, as Janus does: a refused resume's offer
// still sets up the handle's PeerConnection with that offer's DTLS fingerprint.)
export async function resume(callId, token, tracks = AV, { offer = 'handle' } = {}) {
  const body = { request: 'resume', call_id: callId, resume_token: token };
  if (offer === 'none') return send(body);
  const jsep = await makeOffer(tracks);
  return send(body, jsep);
}

// The page clock of events' `t` (ms since start()).
export function clock() { return now(); }

// `set` with a new offer made after applying `tracks` (janus.js tracks API: add/replace/remove).
export async function renegotiate(tracks, body = {}) {
  const jsep = await makeOffer(tracks);
  return send({ request: 'set', ...body }, jsep);
}

// Answers a held update offer (autoAnswerUpdates false) with `tracks`.
export async function answerUpdate(tracks) {
  if (!st.pendingUpdate) throw new Error('no update offer pending');
  const jsep = st.pendingUpdate;
  st.pendingUpdate = null;
  const answer = await answerOffer(jsep, tracks || tracksForOffer(jsep));
  return send({ request: 'set' }, answer);
}

// Sends `hangup` and releases the local PeerConnection.
export function hangup() {
  const since = send({ request: 'hangup' });
  st.incoming = null;
  st.handle.hangup(false);
  return since;
}

export function hasPc() { return !!(st.handle && st.handle.webrtcStuff && st.handle.webrtcStuff.pc); }

export async function stats() {
  const pc = st.handle && st.handle.webrtcStuff && st.handle.webrtcStuff.pc;
  if (!pc) throw new Error(`no PeerConnection (webrtc downs: ${JSON.stringify(st.webrtcDowns)}); log:\n${st.log.slice(-15).join('\n')}`);
  return digest(pc);
}

// The kinds this client sends and receives, from its transceivers' current directions.
export function directions() {
  const pc = st.handle && st.handle.webrtcStuff && st.handle.webrtcStuff.pc;
  if (!pc) return null;
  return pc.getTransceivers().map((t) => ({ mid: t.mid, kind: t.receiver.track.kind, direction: t.direction, current: t.currentDirection }));
}

export function localSdp() {
  const pc = st.handle.webrtcStuff.pc;
  return pc.currentLocalDescription ? pc.currentLocalDescription.sdp : null;
}

export function remoteSdp() {
  const pc = st.handle.webrtcStuff.pc;
  return pc.currentRemoteDescription ? pc.currentRemoteDescription.sdp : null;
}

// The longest gap in the inbound packet counter of `kind` (stats.js gapMonitor).
export function monitorStart(kind = 'audio', periodMs = 50) {
  st.monitor = { kind, mon: gapMonitor(st.handle.webrtcStuff.pc, [kind], periodMs, now) };
}

export async function monitorStop() {
  const { kind, mon } = st.monitor;
  const r = await mon.stop();
  const g = r[kind];
  return {
    kind, samples: r.samples, maxGapMs: g.maxGapMs, maxGapAtMs: g.maxGapAtMs, maxRawGapMs: g.maxRawGapMs,
    maxSamplerStallMs: r.maxSamplerStallMs, spanMs: r.spanMs, errors: r.errors,
  };
}

export function state() {
  return {
    webrtcUp: st.webrtcUp, webrtcDowns: st.webrtcDowns, media: st.media, remoteTracks: st.remoteTracks,
    errors: st.errors, events: st.events.map(brief), log: st.log.slice(-60),
  };
}

export function stop() {
  return new Promise((resolve) => {
    if (!st.janus) { resolve(); return; }
    st.janus.destroy({ success: resolve, error: resolve });
    setTimeout(resolve, 3000);
  });
}
