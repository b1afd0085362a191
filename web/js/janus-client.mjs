// janus-client.mjs: a small client for the Janus API v1 (as spoken by parley and by Janus).
//
// Contract
//   const s = new JanusSession({ transport: 'ws' | 'http', wsUrl, httpUrl, getToken, ... });
//   await s.connect();                       // opens the transport, "create"s a session
//   const h = await s.attach('janus.plugin.echotest');
//   h.createPeerConnection();                // RTCPeerConnection, iceServers [] unless given
//   const ev = await h.offer(body, { stream, data: true });  // offer -> event with answer
//   await h.message({ audio: false });       // plain plugin request, resolves with its event
//   h.sendData('text');  await h.hangup();  await h.detach();  await s.destroy();
//   Plugins whose answers or offers come later as events (videocall, textroom) use the
//   parts: h.createOffer(), h.answer(offer, {stream, dataLabel}), h.setRemote(jsep), and
//   read events in h.onMessage (a synchronous plugin reply resolves message() with
//   msg.janus === 'success' and does not reach onMessage).
//
// Ownership: the session owns its transport, its timers and its handles; a handle owns its
// RTCPeerConnection and data channel. destroy() releases everything (local media tracks
// belong to the caller and are not stopped here).
//
// Errors: requests reject with a JanusError (numeric Janus code + reason) when the server
// answers {"janus":"error"}, or with a plain Error on transport trouble / timeout. Events the
// server pushes (webrtcup, media, slowlink, hangup, detached, timeout, trickle, plugin
// events) are delivered through the callbacks; nothing in here throws asynchronously.
//
// Threads: the browser main thread (a module, no shared state between sessions).
//
// Protocol facts this client relies on
//   - Every request carries a fresh "transaction"; the direct reply (success/error/ack) has
//     the same transaction. A "message" is acked first; the plugin's answer arrives later
//     as an "event" with the same transaction (or at once as a "success" with plugindata).
//   - Auth: every request carries "token" (the access JWT) when getToken gives one; the
//     HTTP long-poll carries it as ?token=. Error 403 means the token was refused: the
//     client asks onUnauthorized() for a fresh one and retries that request once.
//   - The server trickles its own candidates ({"janus":"trickle","candidate":{...}}, then
//     {"completed":true}), possibly before the event that carries the answer: they are
//     buffered until the remote description is set.
//   - Sessions die after session_timeout without traffic: a keepalive goes out every 25 s.
//   - If the WebSocket drops, the client opens a new one and sends "claim" with the session
//     id; the server then delivers the session's later events on the new socket.

const DEFAULT_TIMEOUT_MS = 15000;

export class JanusError extends Error {
  constructor(code, reason) {
    super(`Janus error ${code}: ${reason || 'no reason given'}`);
    this.name = 'JanusError';
    this.code = code;
    this.reason = reason || '';
  }
}

function newTransaction() {
  const b = new Uint8Array(9);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// ---------------------------------------------------------------------------------------
// Transports. Both expose: open(), send(msg) -> Promise<reply>, close(); and call
// session._onPush(msg) for every message that is not the direct reply of a request.

// WebSocket transport: requests and events share one socket (subprotocol janus-protocol).
class WsTransport {
  constructor(session, url) {
    this.session = session;
    this.url = url;
    this.ws = null;
    this.pending = new Map();   // transaction -> { resolve, reject, timer }
    this.closing = false;       // true once close() was asked for: no reconnect then
    this.waiters = [];          // sends made while reconnecting wait here
    this.connected = false;
  }

  // Opens a socket; resolves once it is open.
  _openSocket() {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new WebSocket(this.url, 'janus-protocol');
      } catch (e) {
        reject(e);
        return;
      }
      let opened = false;
      ws.onopen = () => { opened = true; this.ws = ws; resolve(); };
      ws.onerror = () => { if (!opened) reject(new Error(`WebSocket ${this.url} could not be opened`)); };
      ws.onmessage = (ev) => this._onMessage(ev.data);
      ws.onclose = (ev) => {
        if (!opened) { reject(new Error(`WebSocket ${this.url} closed (${ev.code})`)); return; }
        if (this.ws === ws) this._onDrop(ev);
      };
    });
  }

  async open() {
    await this._openSocket();
    this.connected = true;
  }

  _onMessage(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      this.session._log('error', `unparsable message from server: ${String(text).slice(0, 120)}`);
      return;
    }
    const p = msg.transaction ? this.pending.get(msg.transaction) : null;
    // Only the first reply settles a request; an "event" with the same transaction (the
    // plugin's asynchronous answer to a message) is a push.
    if (p && msg.janus !== 'event') {
      this.pending.delete(msg.transaction);
      clearTimeout(p.timer);
      p.resolve(msg);
      return;
    }
    this.session._onPush(msg);
  }

  // The socket went away without close(): requests in flight fail (the caller may retry);
  // later sends wait until the session has been claimed on a new socket.
  async _onDrop(ev) {
    this.ws = null;
    this.connected = false;
    for (const [, p] of this.pending) { clearTimeout(p.timer); p.reject(new Error('WebSocket closed')); }
    this.pending.clear();
    if (this.closing) return;
    this.session._setState('reconnecting', `WebSocket closed (code ${ev.code}); reconnecting`);
    let delay = 250;
    const deadline = Date.now() + this.session.reconnectWindowMs;
    while (!this.closing && Date.now() < deadline) {
      await sleep(delay);
      delay = Math.min(delay * 2, 4000);
      try {
        await this._openSocket();
      } catch {
        continue;
      }
      this.connected = true;
      try {
        // The claim goes out before anything queued: the server must rebind the session to
        // this socket first, or later events would not reach us.
        await this.session._claim();
      } catch (e) {
        this.session._setState('failed', `claim refused: ${e.message}`);
        this._releaseWaiters(e);
        return;
      }
      this._releaseWaiters(null);
      this.session._setState('connected', 'reconnected and claimed the session');
      return;
    }
    if (!this.closing) {
      const e = new Error('could not reconnect the WebSocket');
      this.session._setState('failed', e.message);
      this._releaseWaiters(e);
    }
  }

  _releaseWaiters(err) {
    const w = this.waiters.splice(0);
    for (const x of w) (err ? x.reject(err) : x.resolve());
  }

  async send(msg, { timeoutMs = DEFAULT_TIMEOUT_MS, bypassQueue = false } = {}) {
    if (!this.connected && !bypassQueue) {
      if (this.closing) throw new Error('transport closed');
      await new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
    }
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) throw new Error('WebSocket not open');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(msg.transaction);
        reject(new Error(`no reply to "${msg.janus}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(msg.transaction, { resolve, reject, timer });
      ws.send(JSON.stringify(msg));
    });
  }

  close() {
    this.closing = true;
    this._releaseWaiters(new Error('transport closed'));
    if (this.ws) { const ws = this.ws; this.ws = null; ws.close(1000); }
    for (const [, p] of this.pending) { clearTimeout(p.timer); p.reject(new Error('transport closed')); }
    this.pending.clear();
  }
}

// HTTP transport: requests are POSTs whose response is the direct reply; events come from a
// long-poll loop (GET /janus/<session>?maxev=10) that runs while the session lives.
class HttpTransport {
  constructor(session, baseUrl) {
    this.session = session;
    this.base = baseUrl.replace(/\/+$/, '');
    this.closing = false;
    this.pollAbort = null;
  }

  async open() { /* nothing to open: every request is its own connection */ }

  _urlFor(msg) {
    if (msg.janus === 'create' || msg.janus === 'info') return this.base;
    if (msg.handle_id) return `${this.base}/${msg.session_id}/${msg.handle_id}`;
    return `${this.base}/${msg.session_id}`;
  }

  async send(msg, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    if (this.closing) throw new Error('transport closed');
    // The path already names session and handle; Janus accepts them in the body too, but
    // keeping the body minimal mirrors what janus.js sends.
    const body = { ...msg };
    const url = this._urlFor(msg);
    delete body.session_id;
    delete body.handle_id;
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    try {
      const r = await fetch(url, {
        method: 'POST', body: JSON.stringify(body), signal: ctl.signal,
        headers: { 'content-type': 'application/json' },
      });
      const text = await r.text();
      try {
        return JSON.parse(text);
      } catch {
        throw new Error(`HTTP ${r.status} from ${url}: ${text.slice(0, 120)}`);
      }
    } catch (e) {
      if (e.name === 'AbortError') throw new Error(`no reply to "${msg.janus}" within ${timeoutMs} ms`);
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  // The long-poll loop: one GET at a time; the server answers with up to maxev events (an
  // array) or, after about 30 s of nothing, a {"janus":"keepalive"}. Network errors back
  // off and retry until the session is destroyed or declared gone.
  async startPolling(sessionId) {
    let failures = 0;
    while (!this.closing) {
      const token = await this.session._token();
      const q = new URLSearchParams({ maxev: '10', rid: String(Date.now()) });
      if (token) q.set('token', token);
      this.pollAbort = new AbortController();
      const timer = setTimeout(() => this.pollAbort.abort(), 65000);
      try {
        const r = await fetch(`${this.base}/${sessionId}?${q}`, { signal: this.pollAbort.signal, cache: 'no-store' });
        const data = await r.json();
        failures = 0;
        const list = Array.isArray(data) ? data : [data];
        for (const m of list) {
          if (m.janus === 'error') {
            const code = m.error && m.error.code;
            if (code === 403) {
              await this.session._unauthorized();
              continue;
            }
            this.session._onPush(m);
            if (code === 458) { this.session._gone('the server no longer knows this session'); return; }
            continue;
          }
          if (m.janus !== 'keepalive') this.session._onPush(m);
        }
      } catch (e) {
        if (this.closing) return;
        failures++;
        this.session._log('warn', `long-poll failed (${e.message}); retrying`);
        if (failures > 1) this.session._setState('reconnecting', 'long-poll failing; retrying');
        await sleep(Math.min(500 * 2 ** failures, 5000));
        if (failures * 5000 > this.session.reconnectWindowMs) {
          this.session._setState('failed', 'the server stopped answering long-polls');
          return;
        }
        continue;
      } finally {
        clearTimeout(timer);
      }
      if (this.session.state === 'reconnecting') this.session._setState('connected', 'long-poll answering again');
    }
  }

  close() {
    this.closing = true;
    if (this.pollAbort) this.pollAbort.abort();
  }
}

// ---------------------------------------------------------------------------------------

export class JanusSession {
  // opts: transport 'ws'|'http'; wsUrl; httpUrl (…/janus); getToken() -> string|null (may be
  // async); onUnauthorized() -> Promise (refresh the token); iceServers (default []);
  // keepaliveMs (25000); reconnectWindowMs (55000); onState(state, detail); onEvent(msg)
  // for session-level pushes; log(level, text).
  constructor(opts = {}) {
    this.opts = opts;
    this.kind = opts.transport === 'http' ? 'http' : 'ws';
    this.iceServers = opts.iceServers || [];
    this.keepaliveMs = opts.keepaliveMs || 25000;
    this.reconnectWindowMs = opts.reconnectWindowMs || 55000;
    this.id = null;
    this.state = 'new';
    this.handles = new Map();
    this.kaTimer = null;
    this.transport = this.kind === 'http'
      ? new HttpTransport(this, opts.httpUrl)
      : new WsTransport(this, opts.wsUrl);
  }

  _log(level, text) { if (this.opts.log) this.opts.log(level, text); }

  _setState(state, detail) {
    this.state = state;
    if (this.opts.onState) this.opts.onState(state, detail || '');
  }

  async _token() { return this.opts.getToken ? await this.opts.getToken() : null; }

  async _unauthorized() {
    if (!this.opts.onUnauthorized) throw new JanusError(403, 'unauthorized and no way to refresh the token');
    await this.opts.onUnauthorized();
  }

  // Sends one request; returns the direct reply (success or ack). A 403 triggers one token
  // refresh and one retry; any other error reply rejects with a JanusError.
  async request(msg, sendOpts = {}) {
    for (let attempt = 0; ; attempt++) {
      const full = { ...msg, transaction: msg.transaction || newTransaction() };
      if (this.id !== null && full.session_id === undefined && msg.janus !== 'create') full.session_id = this.id;
      const token = await this._token();
      if (token) full.token = token;
      const reply = await this.transport.send(full, sendOpts);
      if (reply.janus === 'error') {
        const code = reply.error ? reply.error.code : 0;
        if (code === 403 && attempt === 0 && this.opts.onUnauthorized) {
          await this._unauthorized();
          continue;
        }
        throw new JanusError(code, reply.error && reply.error.reason);
      }
      return { reply, transaction: full.transaction };
    }
  }

  async connect() {
    this._setState('connecting', this.kind === 'ws' ? this.opts.wsUrl : this.opts.httpUrl);
    await this.transport.open();
    const { reply } = await this.request({ janus: 'create' });
    this.id = reply.data.id;
    if (this.kind === 'http') this.transport.startPolling(this.id);
    this.kaTimer = setInterval(() => this._keepalive(), this.keepaliveMs);
    this._setState('connected', `session ${this.id}`);
    return this.id;
  }

  async _keepalive() {
    if (this.state !== 'connected') return;
    try {
      await this.request({ janus: 'keepalive' }, { timeoutMs: 10000 });
    } catch (e) {
      this._log('warn', `keepalive failed: ${e.message}`);
      if (e instanceof JanusError && e.code === 458) this._gone('session expired on the server');
    }
  }

  // Rebinds the session to a new WebSocket (called by the transport after a drop).
  async _claim() {
    const full = { janus: 'claim', session_id: this.id, transaction: newTransaction() };
    const token = await this._token();
    if (token) full.token = token;
    const reply = await this.transport.send(full, { bypassQueue: true });
    if (reply.janus !== 'success') {
      throw new JanusError(reply.error ? reply.error.code : 0, reply.error ? reply.error.reason : reply.janus);
    }
  }

  _gone(why) {
    this._stopTimers();
    for (const h of this.handles.values()) h._closePc();
    this._setState('gone', why);
  }

  _stopTimers() {
    if (this.kaTimer) { clearInterval(this.kaTimer); this.kaTimer = null; }
  }

  async attach(plugin, opaqueId) {
    const msg = { janus: 'attach', plugin };
    if (opaqueId) msg.opaque_id = opaqueId;
    const { reply } = await this.request(msg);
    const h = new PluginHandle(this, reply.data.id, plugin);
    this.handles.set(h.id, h);
    return h;
  }

  // Routes one pushed message: handle-level ones (sender = handle id) to that handle,
  // session-level ones (timeout, errors without a pending request) to onEvent.
  _onPush(msg) {
    if (msg.janus === 'timeout') {
      this._gone('session timed out on the server');
      if (this.opts.onEvent) this.opts.onEvent(msg);
      return;
    }
    const h = msg.sender !== undefined ? this.handles.get(msg.sender) : null;
    if (h) { h._onPush(msg); return; }
    if (this.opts.onEvent) this.opts.onEvent(msg);
  }

  async destroy() {
    this._stopTimers();
    for (const h of this.handles.values()) h._closePc();
    if (this.id !== null && this.state !== 'gone' && this.state !== 'failed') {
      try { await this.request({ janus: 'destroy' }, { timeoutMs: 5000 }); } catch { /* leaving anyway */ }
    }
    this.transport.close();
    this._setState('closed', 'session destroyed');
  }
}

// ---------------------------------------------------------------------------------------

export class PluginHandle {
  constructor(session, id, plugin) {
    this.session = session;
    this.id = id;
    this.plugin = plugin;
    this.pc = null;
    this.dc = null;
    this.remoteCandidates = [];   // trickled before the remote description was set
    this.waiting = new Map();     // transaction -> { resolve, reject, timer } for plugin events
    // Callbacks the application sets:
    this.onMessage = null;        // (data, jsep, msg) for plugin events
    this.onWebrtcState = null;    // (kind, msg): 'webrtcup' | 'media' | 'slowlink' | 'hangup' | 'detached'
    this.onRemoteTrack = null;    // (track, streams)
    this.onData = null;           // (text)
    this.onDataOpen = null;       // ()
    this.onIceState = null;       // (state)
  }

  _send(msg, opts) { return this.session.request({ ...msg, handle_id: this.id }, opts); }

  // Creates the RTCPeerConnection (once). Our candidates are trickled as they come, and the
  // end of gathering is signalled as {"completed":true}.
  createPeerConnection(config = {}) {
    if (this.pc) return this.pc;
    const pc = new RTCPeerConnection({ iceServers: this.session.iceServers, ...config });
    pc.onicecandidate = (e) => {
      const candidate = e.candidate
        ? { candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex }
        : { completed: true };
      // An empty candidate string is Chrome's per-generation end marker: not for the server.
      if (e.candidate && !e.candidate.candidate) return;
      this._send({ janus: 'trickle', candidate }).catch((err) =>
        this.session._log('warn', `trickle failed: ${err.message}`));
    };
    pc.ontrack = (e) => { if (this.onRemoteTrack) this.onRemoteTrack(e.track, e.streams); };
    pc.oniceconnectionstatechange = () => { if (this.onIceState) this.onIceState(pc.iceConnectionState); };
    pc.ondatachannel = (e) => this._wireDataChannel(e.channel);
    this.pc = pc;
    return pc;
  }

  _wireDataChannel(dc) {
    this.dc = dc;
    dc.onopen = () => { if (this.onDataOpen) this.onDataOpen(); };
    dc.onmessage = (e) => {
      const text = typeof e.data === 'string' ? e.data : new TextDecoder().decode(e.data);
      if (this.onData) this.onData(text);
    };
  }

  // Sends a plugin request and resolves with the plugin's answer: the "event" carrying the
  // same transaction (plugindata.data and jsep), or a synchronous "success" with plugindata.
  // The waiter is registered before sending: over HTTP the event (long-poll) can overtake
  // the ack (POST reply).
  async message(body, jsep = null, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    const transaction = newTransaction();
    const msg = { janus: 'message', body, transaction };
    if (jsep) msg.jsep = jsep;
    const eventPromise = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(transaction);
        reject(new Error(`no plugin event for ${JSON.stringify(body).slice(0, 60)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(transaction, { resolve, reject, timer });
    });
    eventPromise.catch(() => { /* observed by the caller below; avoids an unhandled warning */ });
    const cancel = () => {
      const w = this.waiting.get(transaction);
      if (w) { clearTimeout(w.timer); this.waiting.delete(transaction); }
    };
    let reply;
    try {
      ({ reply } = await this._send(msg));
    } catch (e) {
      cancel();
      throw e;
    }
    if (reply.janus === 'success') {
      cancel();
      const pd = reply.plugindata || {};
      return this._eventResult({ janus: 'success', plugindata: pd, jsep: reply.jsep });
    }
    return eventPromise;
  }

  _eventResult(msg) {
    const data = (msg.plugindata && msg.plugindata.data) || {};
    if (data.error_code) throw new JanusError(data.error_code, data.error);
    return { data, jsep: msg.jsep || null, msg };
  }

  // Creates an offer (adding the caller's tracks and, with data: true, a data channel),
  // sends it with body, applies the answer from the plugin's event and then any candidates
  // the server trickled early. iceRestart: true restarts ICE on an existing connection.
  async offer(body, { stream = null, data = false, iceRestart = false } = {}) {
    const pc = this.createPeerConnection();
    if (stream && pc.getSenders().length === 0) {
      for (const track of stream.getTracks()) pc.addTrack(track, stream);
    }
    if (data && !this.dc) this._wireDataChannel(pc.createDataChannel('echo', { ordered: true }));
    const offer = await pc.createOffer(iceRestart ? { iceRestart: true } : {});
    await pc.setLocalDescription(offer);
    const ev = await this.message(body, { type: offer.type, sdp: offer.sdp });
    if (!ev.jsep || ev.jsep.type !== 'answer') throw new Error('the plugin answered without an SDP answer');
    await pc.setRemoteDescription(ev.jsep);
    const early = this.remoteCandidates.splice(0);
    for (const c of early) await this._addRemoteCandidate(c);
    return ev;
  }

  // Sets a remote description (an answer to our offer, or an offer to answer) and then adds
  // the candidates the server trickled before it.
  async setRemote(jsep) {
    const pc = this.createPeerConnection();
    await pc.setRemoteDescription(jsep);
    const early = this.remoteCandidates.splice(0);
    for (const c of early) await this._addRemoteCandidate(c);
  }

  // Our new local offer (tracks already added by the caller), set as local description.
  async createOffer({ iceRestart = false } = {}) {
    const pc = this.createPeerConnection();
    const offer = await pc.createOffer(iceRestart ? { iceRestart: true } : {});
    await pc.setLocalDescription(offer);
    return { type: offer.type, sdp: offer.sdp };
  }

  // Answers an offer that came in a plugin event (a call ringing, a renegotiation, the chat
  // plugin's setup). Each track of `stream` goes on the offer's transceiver of its kind that
  // has no track yet (made sendrecv), else on a new one; dataLabel opens a data channel
  // before the answer, as textroom wants. Returns the answer, already set locally.
  async answer(offer, { stream = null, dataLabel = null } = {}) {
    const pc = this.createPeerConnection();
    await this.setRemote(offer);
    for (const track of stream ? stream.getTracks() : []) {
      if (pc.getSenders().some((s) => s.track === track)) continue;
      const free = pc.getTransceivers().find((t) => !t.stopped && t.receiver.track
        && t.receiver.track.kind === track.kind && !t.sender.track);
      if (free) {
        await free.sender.replaceTrack(track);
        if (free.sender.setStreams) free.sender.setStreams(stream);
        free.direction = 'sendrecv';
      } else {
        pc.addTrack(track, stream);
      }
    }
    if (dataLabel && !this.dc) this._wireDataChannel(pc.createDataChannel(dataLabel, { ordered: true }));
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    return { type: answer.type, sdp: answer.sdp };
  }

  async _addRemoteCandidate(c) {
    try {
      if (c.completed) await this.pc.addIceCandidate();
      else await this.pc.addIceCandidate(c);
    } catch (e) {
      // End-of-candidates can be refused after ICE completed; a bad candidate is not fatal.
      this.session._log('warn', `addIceCandidate(${c.completed ? 'end' : c.candidate}): ${e.message}`);
    }
  }

  _onRemoteTrickle(msg) {
    const list = msg.candidates || (msg.candidate ? [msg.candidate] : []);
    for (const c of list) {
      if (!this.pc || !this.pc.remoteDescription) this.remoteCandidates.push(c);
      else this._addRemoteCandidate(c);
    }
  }

  _onPush(msg) {
    switch (msg.janus) {
      case 'event': {
        const w = msg.transaction ? this.waiting.get(msg.transaction) : null;
        if (w) {
          this.waiting.delete(msg.transaction);
          clearTimeout(w.timer);
          try { w.resolve(this._eventResult(msg)); } catch (e) { w.reject(e); }
        }
        const pd = msg.plugindata || {};
        if (this.onMessage) this.onMessage(pd.data || {}, msg.jsep || null, msg);
        break;
      }
      case 'trickle':
        this._onRemoteTrickle(msg);
        break;
      case 'webrtcup': case 'media': case 'slowlink':
        if (this.onWebrtcState) this.onWebrtcState(msg.janus, msg);
        break;
      case 'hangup':
        this._closePc();
        if (this.onWebrtcState) this.onWebrtcState('hangup', msg);
        break;
      case 'detached':
        this._closePc();
        this.session.handles.delete(this.id);
        if (this.onWebrtcState) this.onWebrtcState('detached', msg);
        break;
      default:
        this.session._log('info', `unhandled ${msg.janus} for handle ${this.id}`);
    }
  }

  sendData(text) {
    if (!this.dc || this.dc.readyState !== 'open') throw new Error('the data channel is not open');
    this.dc.send(text);
  }

  _closePc() {
    for (const [, w] of this.waiting) { clearTimeout(w.timer); w.reject(new Error('peer connection closed')); }
    this.waiting.clear();
    if (this.dc) { try { this.dc.close(); } catch { /* already closed */ } this.dc = null; }
    if (this.pc) { this.pc.close(); this.pc = null; }
    this.remoteCandidates = [];
  }

  // Local only: for when the server already ended the media (a plugin's hangup event).
  closePeerConnection() { this._closePc(); }

  async hangup() {
    this._closePc();
    try { await this._send({ janus: 'hangup' }, { timeoutMs: 5000 }); } catch { /* already gone */ }
  }

  async detach() {
    this._closePc();
    try { await this._send({ janus: 'detach' }, { timeoutMs: 5000 }); } catch { /* already gone */ }
    this.session.handles.delete(this.id);
  }
}

// GET <httpUrl>/info: the server's description (version, "auth_token" required or not,
// plugins). Needs no session and no token.
export async function fetchServerInfo(httpUrl) {
  const r = await fetch(`${httpUrl.replace(/\/+$/, '')}/info`, { cache: 'no-store' });
  if (!r.ok) throw new Error(`GET /janus/info: HTTP ${r.status}`);
  return r.json();
}
