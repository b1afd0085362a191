// A node-side Janus client over WebSocket (lib/wsraw.mjs) for the signalling-only calls
// tests: sessions, handles and plugin messages by hand, with the user's token on every
// request. No media: the SDP it sends comes from Chromium (lib/page/sdpgen.js via
// sdpOffer()/sdpAnswer()), so the server sees real browser SDP.
//
// Contract: openSession(srv, {token, label}) creates a session on a new socket and keeps it
// alive (keepalive every 15 s) until close(). session.attach(plugin) gives a handle;
// handle.message(body, jsep) sends a plugin message and resolves with its reply, skipping
// the ack: {janus: 'event', data, jsep} (data = plugindata.data) or {janus: 'error', code,
// reason} for a refusal by the core. Every plugin event for a handle (replies included) is
// also kept in handle.events as {i, t, data, jsep, tx}; handle.waitEvent(match, since, ms)
// waits for one (match as in lib/page/call.js: {event, reason} or {error: true | code});
// core notifications (webrtcup, media, hangup, detached, trickle) are in handle.core.

import { wsConnect } from './wsraw.mjs';

let txSeq = 0;

function matches(e, m) {
  const d = e.data || {};
  if (m.any) return true;
  if (m.event !== undefined) {
    if (!d.result) return false;
    const names = Array.isArray(m.event) ? m.event : [m.event];
    if (!names.includes(d.result.event)) return false;
    return m.reason === undefined || d.result.reason === m.reason;
  }
  if (m.error !== undefined) {
    if (d.error_code === undefined) return false;
    return m.error === true || d.error_code === m.error;
  }
  return false;
}

export function brief(e) {
  if (!e) return e;
  const out = { ...e };
  if (out.jsep) out.jsep = { type: out.jsep.type, sdpLength: (out.jsep.sdp || '').length };
  return out;
}

class RawHandle {
  constructor(session, id, label) {
    this.session = session;
    this.id = id;
    this.label = label;
    this.events = [];
    this.core = [];
  }

  mark() { return this.events.length; }

  // Sends a plugin message; resolves with the reply (ack skipped) or null on timeout.
  async message(body, jsep, ms = 10000) {
    const msg = { janus: 'message', handle_id: this.id, body };
    if (jsep) msg.jsep = jsep;
    const r = await this.session.request(msg, { wantEvent: true, ms });
    if (!r) return null;
    if (r.janus === 'error') return { janus: 'error', code: r.error && r.error.code, reason: r.error && r.error.reason };
    return { janus: r.janus, data: r.plugindata ? r.plugindata.data : null, jsep: r.jsep || null };
  }

  async waitEvent(match, since = 0, ms = 10000) {
    const end = Date.now() + ms;
    for (;;) {
      const e = this.events.find((x) => x.i >= since && matches(x, match));
      if (e) return e;
      if (Date.now() > end) {
        throw new Error(`${this.label}: timeout (${ms} ms) waiting for ${JSON.stringify(match)} since #${since}; ` +
          `events: ${JSON.stringify(this.events.slice(-6).map(brief)).slice(0, 1200)}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async detach() {
    return this.session.request({ janus: 'detach', handle_id: this.id }, { ms: 5000 });
  }
}

class RawSession {
  constructor(ws, token, label) {
    this.ws = ws;
    this.token = token;
    this.label = label;
    this.id = null;
    this.pending = new Map();
    this.handles = new Map();
    this.orphans = [];
    this.closed = false;
    this.t0 = Date.now();
  }

  pump() {
    (async () => {
      while (!this.closed) {
        const m = await this.ws.next(1000);
        if (m === null) {
          if (this.ws.isClosed()) break;
          continue;
        }
        this.dispatch(m);
      }
    })();
  }

  dispatch(m) {
    const p = m.transaction && this.pending.get(m.transaction);
    const h = m.sender !== undefined ? this.handles.get(m.sender) : null;
    if (m.janus === 'event' && m.plugindata && h) {
      h.events.push({ i: h.events.length, t: Date.now() - this.t0, data: m.plugindata.data, jsep: m.jsep || null, tx: m.transaction || null });
    } else if (h && m.janus !== 'ack' && m.janus !== 'success' && m.janus !== 'error') {
      h.core.push({ t: Date.now() - this.t0, ...m });
    } else if (!p) {
      this.orphans.push(m);
      if (this.orphans.length > 100) this.orphans.shift();
    }
    if (p && !(m.janus === 'ack' && p.wantEvent)) {
      this.pending.delete(m.transaction);
      p.resolve(m);
    }
  }

  request(msg, { wantEvent = false, ms = 10000 } = {}) {
    txSeq += 1;
    const transaction = `vc${process.pid}-${txSeq}`;
    const full = { ...msg, transaction };
    if (this.token !== undefined) full.token = this.token;
    if (this.id !== null && full.session_id === undefined) full.session_id = this.id;
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.pending.delete(transaction); resolve(null); }, ms);
      this.pending.set(transaction, { wantEvent, resolve: (m) => { clearTimeout(timer); resolve(m); } });
      this.ws.json(full);
    });
  }

  async attach(plugin = 'janus.plugin.videocall', label = this.label) {
    const r = await this.request({ janus: 'attach', plugin });
    if (!r || r.janus !== 'success') throw new Error(`${label}: attach ${plugin}: ${JSON.stringify(r)}`);
    const h = new RawHandle(this, r.data.id, label);
    this.handles.set(h.id, h);
    return h;
  }

  async close() {
    if (this.closed) return;
    clearInterval(this.kaTimer);
    try { await this.request({ janus: 'destroy' }, { ms: 3000 }); } catch { /* already gone */ }
    this.closed = true;
    this.ws.close();
  }
}

export async function openSession(srv, { token, label = 'raw' } = {}) {
  const ws = await wsConnect(srv.ports.ws);
  const s = new RawSession(ws, token, label);
  s.pump();
  const r = await s.request({ janus: 'create' });
  if (!r || r.janus !== 'success') {
    ws.close();
    throw new Error(`${label}: create: ${JSON.stringify(r)}`);
  }
  s.id = r.data.id;
  s.kaTimer = setInterval(() => { s.request({ janus: 'keepalive' }, { ms: 5000 }); }, 15000);
  return s;
}

// A session with one videocall handle; registered as `username` unless it is null.
export async function rawDevice(srv, { token, label, username }) {
  const s = await openSession(srv, { token, label });
  const h = await s.attach('janus.plugin.videocall', label);
  if (username !== null && username !== undefined) {
    const r = await h.message({ request: 'register', username });
    const ev = r && r.data && r.data.result && r.data.result.event;
    if (ev !== 'registered') {
      await s.close();
      throw new Error(`${label}: register ${username}: ${JSON.stringify(r)}`);
    }
  }
  return { session: s, handle: h, label };
}

// Real SDP from Chromium (a page with lib/page/sdpgen.js loaded, see lib/calls.mjs).
export async function sdpOffer(page, kinds = { audio: true, video: true }) {
  const o = await page.evaluate((k) => window.sdpgen.offer(k), kinds);
  return { type: 'offer', sdp: o.sdp };
}

export async function sdpAnswer(page, offerSdp) {
  const a = await page.evaluate((s) => window.sdpgen.answer(s), offerSdp);
  return { type: 'answer', sdp: a.sdp };
}
