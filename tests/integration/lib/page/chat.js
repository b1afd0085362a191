// A hand-written Janus textroom client (janus.plugin.textroom, the chat plugin) over
// WebSocket, run inside the test page; lib/chat.mjs drives it through page.evaluate().
//
// Contract: open({url, token, noTrickle, label, plugin}) -> {id, sessionId, handleId, setup,
// ack, ms}: creates a session (the access token on every request), attaches the plugin,
// sends {"request":"setup"}, takes the offer from the event, answers it with a new
// RTCPeerConnection that opens a data channel labelled `label` (JanusDataChannel) before
// createAnswer, sends {"request":"ack"} + the answer, and resolves once the channel is open.
// The server's trickle candidates are applied once the offer is set (buffered before). Our
// candidates are trickled (then {completed:true}); with noTrickle none at all is sent and
// the answer carries none, as Flutter's janus_client does for textroom. A page can hold
// several clients (ids). Every message arriving on any data channel of the client is kept
// in its list as {i, t (Date.now()), label, json | raw, binary}; request() adds a
// transaction and resolves with the reply carrying it. Janus events (trickle, webrtcup,
// hangup...) are kept in `core`. Nothing here asserts: the test reads the lists.

const clients = new Map();
let nextId = 1;
let txSeq = 0;

function tx(prefix = 't') { txSeq += 1; return `${prefix}${txSeq}-${Math.random().toString(36).slice(2, 8)}`; }

function subset(obj, match) {
  if (!obj || typeof obj !== 'object') return false;
  for (const [k, v] of Object.entries(match)) {
    if (v !== null && typeof v === 'object') {
      if (!subset(obj[k], v)) return false;
    } else if (obj[k] !== v) return false;
  }
  return true;
}

class Client {
  constructor(o) {
    this.id = nextId++;
    this.o = { label: 'JanusDataChannel', plugin: 'janus.plugin.textroom', noTrickle: false, ...o };
    this.ws = null;
    this.sessionId = null;
    this.handleId = null;
    this.pc = null;
    this.dcs = new Map();          // label -> RTCDataChannel
    this.pending = new Map();      // Janus transaction -> {wantEvent, resolve}
    this.chPending = new Map();    // channel transaction -> resolve
    this.msgs = [];
    this.core = [];
    this.errors = [];
    this.remoteReady = false;
    this.trickleBuf = [];
    this.tricklesSent = 0;
    this.candidatesSeen = 0;
    this.kaTimer = null;
    this.closed = false;
  }

  onJanus(ev) {
    let m;
    try { m = JSON.parse(ev.data); } catch { this.errors.push(`bad Janus message ${String(ev.data).slice(0, 200)}`); return; }
    const p = m.transaction && this.pending.get(m.transaction);
    if (p && !(m.janus === 'ack' && p.wantEvent)) {
      this.pending.delete(m.transaction);
      p.resolve(m);
      return;
    }
    if (m.janus === 'ack') return;
    this.core.push({ t: Date.now(), ...m });
    if (this.core.length > 500) this.core.shift();
    if (m.janus === 'trickle') {
      const c = m.candidate;
      if (!c) return;
      if (this.remoteReady) this.addCandidate(c); else this.trickleBuf.push(c);
    }
  }

  async addCandidate(c) {
    if (c.completed) return;
    try { await this.pc.addIceCandidate(c); } catch (e) { this.errors.push(`addIceCandidate: ${e.message}`); }
  }

  janusRequest(msg, { wantEvent = false, ms = 10000 } = {}) {
    const transaction = tx('j');
    const full = { ...msg, transaction };
    if (this.o.token) full.token = this.o.token;
    if (this.sessionId !== null && full.session_id === undefined && msg.janus !== 'create') full.session_id = this.sessionId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(transaction);
        reject(new Error(`no reply to Janus ${msg.janus} ${JSON.stringify(msg.body || {})} in ${ms} ms`));
      }, ms);
      this.pending.set(transaction, { wantEvent, resolve: (m) => { clearTimeout(timer); resolve(m); } });
      this.ws.send(JSON.stringify(full));
    });
  }

  // A plugin message over the Janus API: resolves with the first reply that is not an ack.
  message(body, jsep, ms = 10000) {
    const msg = { janus: 'message', handle_id: this.handleId, body };
    if (jsep) msg.jsep = jsep;
    return this.janusRequest(msg, { wantEvent: true, ms });
  }

  trickle(candidate) {
    this.tricklesSent += 1;
    this.janusRequest({ janus: 'trickle', handle_id: this.handleId, candidate }, { ms: 5000 })
      .catch((e) => this.errors.push(`trickle: ${e.message}`));
  }

  wire(dc) {
    dc.binaryType = 'arraybuffer';
    this.dcs.set(dc.label, dc);
    dc.onmessage = (ev) => {
      const rec = { i: this.msgs.length, t: Date.now(), label: dc.label };
      if (typeof ev.data === 'string') {
        try { rec.json = JSON.parse(ev.data); } catch { rec.raw = ev.data.slice(0, 2000); }
      } else {
        rec.binary = true;
        const text = new TextDecoder().decode(ev.data);
        try { rec.json = JSON.parse(text); } catch { rec.raw = text.slice(0, 2000); }
      }
      this.msgs.push(rec);
      const tr = rec.json && rec.json.transaction;
      if (tr && this.chPending.has(tr)) {
        const r = this.chPending.get(tr);
        this.chPending.delete(tr);
        r(rec);
      }
    };
    dc.onerror = (e) => this.errors.push(`data channel ${dc.label}: ${e.error ? e.error.message : 'error'}`);
  }

  async start() {
    const t0 = performance.now();
    await new Promise((resolve, reject) => {
      const ws = new WebSocket(this.o.url, 'janus-protocol');
      ws.onopen = () => { this.ws = ws; resolve(); };
      ws.onerror = () => reject(new Error(`websocket ${this.o.url} failed`));
      ws.onmessage = (ev) => this.onJanus(ev);
      ws.onclose = () => { if (!this.closed) this.core.push({ t: Date.now(), janus: 'socket_closed' }); };
    });
    const created = await this.janusRequest({ janus: 'create' });
    if (created.janus !== 'success') throw new Error(`create: ${JSON.stringify(created)}`);
    this.sessionId = created.data.id;
    this.kaTimer = setInterval(() => {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.janusRequest({ janus: 'keepalive' }, { ms: 10000 }).catch(() => {});
    }, 15000);
    const attached = await this.janusRequest({ janus: 'attach', plugin: this.o.plugin });
    if (attached.janus !== 'success') throw new Error(`attach ${this.o.plugin}: ${JSON.stringify(attached)}`);
    this.handleId = attached.data.id;
    const setup = await this.message({ request: 'setup' });
    const sd = setup.plugindata && setup.plugindata.data;
    if (setup.janus !== 'event' || !setup.jsep || setup.jsep.type !== 'offer') {
      throw new Error(`setup answered ${JSON.stringify(setup).slice(0, 600)}`);
    }
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    pc.onicecandidate = (e) => {
      if (this.o.noTrickle) return;
      if (e.candidate) {
        this.candidatesSeen += 1;
        this.trickle({ candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex });
      } else this.trickle({ completed: true });
    };
    pc.ondatachannel = (e) => this.wire(e.channel);
    await pc.setRemoteDescription(setup.jsep);
    this.remoteReady = true;
    for (const c of this.trickleBuf.splice(0)) await this.addCandidate(c);
    const dc = pc.createDataChannel(this.o.label, { ordered: true });
    this.wire(dc);
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    // The answer as createAnswer made it: no candidates in it (they are trickled, or never
    // sent at all with noTrickle).
    const ack = await this.message({ request: 'ack' }, { type: 'answer', sdp: answer.sdp });
    const ad = ack.plugindata && ack.plugindata.data;
    if (ack.janus !== 'event' || !ad || ad.result !== 'ok') throw new Error(`ack answered ${JSON.stringify(ack).slice(0, 600)}`);
    await new Promise((resolve, reject) => {
      if (dc.readyState === 'open') { resolve(); return; }
      const timer = setTimeout(() => reject(new Error(`data channel not open in 15 s (ice ${pc.iceConnectionState}, ` +
        `connection ${pc.connectionState}, trickles sent ${this.tricklesSent}, errors ${this.errors.join('; ')})`)), 15000);
      dc.addEventListener('open', () => { clearTimeout(timer); resolve(); });
    });
    return {
      id: this.id, sessionId: this.sessionId, handleId: this.handleId, setup: sd, ack: ad,
      offerHasApplication: /\r?\nm=application /.test(setup.jsep.sdp), ms: performance.now() - t0,
    };
  }

  // {"request":"restart"}: the server's new offer restarts ICE; answered with ack. Resolves
  // with the ICE ufrags before and after, both sides, once ICE is connected again.
  async restart() {
    const ufrags = () => {
      const l = /a=ice-ufrag:(\S+)/.exec(this.pc.localDescription.sdp);
      const r = /a=ice-ufrag:(\S+)/.exec(this.pc.remoteDescription.sdp);
      return { local: l && l[1], remote: r && r[1] };
    };
    const before = ufrags();
    const ev = await this.message({ request: 'restart' });
    if (ev.janus !== 'event' || !ev.jsep || ev.jsep.type !== 'offer') throw new Error(`restart answered ${JSON.stringify(ev).slice(0, 400)}`);
    await this.pc.setRemoteDescription(ev.jsep);
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    const ack = await this.message({ request: 'ack' }, { type: 'answer', sdp: answer.sdp });
    if (ack.janus !== 'event') throw new Error(`ack after restart answered ${JSON.stringify(ack).slice(0, 400)}`);
    const t0 = performance.now();
    while (!['connected', 'completed'].includes(this.pc.iceConnectionState) && performance.now() - t0 < 10000) {
      await new Promise((r) => setTimeout(r, 50));
    }
    return { before, after: ufrags(), ice: this.pc.iceConnectionState };
  }

  send(obj, label = this.o.label) {
    const i = this.msgs.length;
    this.dcs.get(label).send(typeof obj === 'string' ? obj : JSON.stringify(obj));
    return i;
  }

  sendBytes(bytes, label = this.o.label) {
    const i = this.msgs.length;
    this.dcs.get(label).send(new Uint8Array(bytes).buffer);
    return i;
  }

  // Sends obj with a transaction (its own if it has one) and resolves with the reply record.
  request(obj, ms = 10000, label = this.o.label) {
    const full = { transaction: tx('c'), ...obj };
    const t0 = Date.now();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.chPending.delete(full.transaction);
        reject(new Error(`no reply on the data channel to ${JSON.stringify(full).slice(0, 300)} in ${ms} ms; ` +
          `last messages ${JSON.stringify(this.msgs.slice(-5)).slice(0, 900)}`));
      }, ms);
      this.chPending.set(full.transaction, (rec) => { clearTimeout(timer); resolve({ ...rec, sentAt: t0 }); });
      this.dcs.get(label).send(JSON.stringify(full));
    });
  }

  async waitMsg(match, since, ms) {
    const end = Date.now() + ms;
    for (;;) {
      const r = this.msgs.find((x) => x.i >= since && x.json && subset(x.json, match));
      if (r) return r;
      if (Date.now() > end) {
        throw new Error(`no message like ${JSON.stringify(match)} since #${since} in ${ms} ms; ` +
          `messages since: ${JSON.stringify(this.msgs.slice(since).slice(-8)).slice(0, 1500)}`);
      }
      await new Promise((r2) => setTimeout(r2, 10));
    }
  }

  async waitCount(match, n, since, ms) {
    const end = Date.now() + ms;
    for (;;) {
      const got = this.msgs.filter((x) => x.i >= since && x.json && subset(x.json, match));
      if (got.length >= n) return got;
      if (Date.now() > end) {
        throw new Error(`${got.length} messages like ${JSON.stringify(match)} since #${since} in ${ms} ms, want ${n}; ` +
          `last: ${JSON.stringify(this.msgs.slice(-6)).slice(0, 1200)}`);
      }
      await new Promise((r2) => setTimeout(r2, 10));
    }
  }

  async info() {
    let pair = null;
    try {
      const st = await this.pc.getStats();
      let sel = null;
      st.forEach((r) => { if (r.type === 'transport' && r.selectedCandidatePairId) sel = st.get(r.selectedCandidatePairId); });
      if (!sel) st.forEach((r) => { if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') sel = r; });
      if (sel) {
        const l = st.get(sel.localCandidateId);
        const r = st.get(sel.remoteCandidateId);
        pair = { local: l && `${l.candidateType} ${l.address}:${l.port}`, remote: r && `${r.candidateType} ${r.address}:${r.port}` };
      }
    } catch { /* no pc */ }
    return {
      id: this.id, sessionId: this.sessionId, handleId: this.handleId, tricklesSent: this.tricklesSent,
      candidatesSeen: this.candidatesSeen, ice: this.pc && this.pc.iceConnectionState,
      channels: [...this.dcs.values()].map((d) => `${d.label}:${d.readyState}`), msgCount: this.msgs.length,
      errors: this.errors.slice(), pair, core: this.core.slice(-10),
    };
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.kaTimer);
    try { if (this.ws && this.ws.readyState === WebSocket.OPEN) await this.janusRequest({ janus: 'destroy' }, { ms: 3000 }); } catch { /* gone */ }
    try { if (this.pc) this.pc.close(); } catch { /* gone */ }
    try { if (this.ws) this.ws.close(); } catch { /* gone */ }
  }

  // Gone without a word (the server is dead, or a device vanishes).
  drop() {
    this.closed = true;
    clearInterval(this.kaTimer);
    try { if (this.pc) this.pc.close(); } catch { /* gone */ }
    try { if (this.ws) this.ws.close(); } catch { /* gone */ }
  }
}

function get(id) {
  const c = clients.get(id);
  if (!c) throw new Error(`no chat client ${id}`);
  return c;
}

export async function open(o) {
  const c = new Client(o);
  clients.set(c.id, c);
  try {
    return await c.start();
  } catch (e) {
    const i = await c.info();
    c.drop();
    throw new Error(`${e.message} (client ${JSON.stringify(i).slice(0, 800)})`);
  }
}

export const send = (id, obj, label) => get(id).send(obj, label);
export const sendBytes = (id, bytes, label) => get(id).sendBytes(bytes, label);
export const request = (id, obj, ms, label) => get(id).request(obj, ms, label);
export const janus = async (id, body, jsep, ms) => get(id).message(body, jsep, ms);
export const mark = (id) => get(id).msgs.length;
export const msgs = (id, since = 0) => get(id).msgs.filter((x) => x.i >= since);
export const waitMsg = (id, match, since = 0, ms = 10000) => get(id).waitMsg(match, since, ms);
export const waitCount = (id, match, n, since = 0, ms = 10000) => get(id).waitCount(match, n, since, ms);
export const info = (id) => get(id).info();
export const restart = (id) => get(id).restart();
export const close = (id) => get(id).close();
export const drop = (id) => get(id).drop();

// Sends several requests back to back (no wait between them) and resolves with the replies
// in the order sent.
export function burst(id, list, ms = 10000) {
  const c = get(id);
  return Promise.all(list.map((o) => c.request(o, ms)));
}
