// The chat benchmark's clients, inside one Chromium page (tests/bench/chat_bench.mjs drives
// them with page.evaluate). Each client: its own Janus session over WebSocket with its own
// token, janus.plugin.textroom, setup -> the server's offer -> our answer with a data channel
// -> ack. Then run() paces messages from every caller to its host (evenly spread in time,
// each pair its own phase), hosts confirm each message with `delivered`, and the page keeps,
// per message, when it was sent, when the `sent` reply came, when the host got it and when
// the caller got the delivered receipt. Nothing here asserts: the driver reads the figures.

const clients = [];
let txSeq = 0;
const now = () => performance.now();

class Client {
  constructor(url, token) {
    this.url = url;
    this.token = token;
    this.pending = new Map();   // Janus transaction -> resolve
    this.ch = new Map();        // channel transaction -> resolve
    this.onMessage = null;
    this.onReceipt = null;
    this.events = [];
  }

  janus(body, wantEvent = false) {
    const transaction = `j${++txSeq}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`janus ${body.janus} timed out`)), 15000);
      this.pending.set(transaction, { wantEvent, resolve: (m) => { clearTimeout(timer); resolve(m); } });
      const msg = { ...body, transaction, token: this.token };
      if (this.session) msg.session_id = this.session;
      if (this.handle && body.janus !== 'create' && body.janus !== 'attach') msg.handle_id = this.handle;
      this.ws.send(JSON.stringify(msg));
    });
  }

  onJanus(m) {
    const p = m.transaction && this.pending.get(m.transaction);
    if (p && !(m.janus === 'ack' && p.wantEvent)) {
      this.pending.delete(m.transaction);
      p.resolve(m);
      return;
    }
    if (m.janus === 'trickle' && this.pc) {
      const c = m.candidate;
      if (c && !c.completed) this.pc.addIceCandidate(c).catch(() => {});
    }
    this.events.push(m.janus);
  }

  onData(text) {
    const m = JSON.parse(text);
    if ((m.textroom === 'success' || m.textroom === 'error') && m.transaction) {
      const r = this.ch.get(m.transaction);
      if (r) {
        this.ch.delete(m.transaction);
        r(m);
      }
      return;
    }
    if (m.textroom === 'message' && this.onMessage) this.onMessage(m);
    else if (m.textroom === 'receipt' && this.onReceipt) this.onReceipt(m);
  }

  request(obj) {
    const transaction = `c${++txSeq}`;
    return new Promise((resolve) => {
      this.ch.set(transaction, resolve);
      this.dc.send(JSON.stringify({ ...obj, transaction }));
    });
  }

  async start(plugin) {
    this.ws = new WebSocket(this.url, 'janus-protocol');
    await new Promise((resolve, reject) => { this.ws.onopen = resolve; this.ws.onerror = () => reject(new Error('ws')); });
    this.ws.onmessage = (ev) => this.onJanus(JSON.parse(ev.data));
    let r = await this.janus({ janus: 'create' });
    this.session = r.data.id;
    this.keepalive = setInterval(() => this.janus({ janus: 'keepalive' }).catch(() => {}), 20000);
    r = await this.janus({ janus: 'attach', plugin });
    this.handle = r.data.id;
    r = await this.janus({ janus: 'message', body: { request: 'setup' } }, true);
    if (!r.jsep) throw new Error(`setup: ${JSON.stringify(r).slice(0, 300)}`);
    this.pc = new RTCPeerConnection();
    this.dc = this.pc.createDataChannel('JanusDataChannel');
    const open = new Promise((resolve) => { this.dc.onopen = resolve; });
    this.dc.onmessage = (ev) => this.onData(ev.data);
    this.pc.onicecandidate = (ev) => {
      const candidate = ev.candidate ? ev.candidate.toJSON() : { completed: true };
      this.janus({ janus: 'trickle', candidate }).catch(() => {});
    };
    await this.pc.setRemoteDescription(r.jsep);
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    await this.janus({ janus: 'message', body: { request: 'ack' }, jsep: { type: 'answer', sdp: answer.sdp } }, true);
    await open;
  }
}

export async function open(url, token, plugin = 'janus.plugin.textroom') {
  const c = new Client(url, token);
  await c.start(plugin);
  clients.push(c);
  return clients.length - 1;
}

// Janus's own textroom needs the room created first (ours has the platform's conversations).
export function createRoom(id, room) {
  return clients[id].janus({ janus: 'message', body: { request: 'create', room, permanent: false } });
}

export async function join(id, room, username) {
  return clients[id].request({ textroom: 'join', room, username, display: username });
}

function pct(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function summary(list) {
  const s = list.slice().sort((a, b) => a - b);
  return { n: s.length, p50: pct(s, 50), p99: pct(s, 99), max: s.length ? s[s.length - 1] : null };
}

// pairs: [{caller: id, host: id, room}]; rate: messages per second in all; seconds: how long
// to send; receipts: hosts confirm with `delivered` (ours) or not (Janus's textroom).
export async function run({ pairs, rate, seconds, receipts, ourProtocol }) {
  const recs = new Map();      // key -> {t0, tSent, tHost, tReceipt}
  const errors = {};
  for (const p of pairs) {
    const host = clients[p.host];
    const caller = clients[p.caller];
    host.onMessage = (m) => {
      const r = recs.get(m.client_id || m.text);
      if (r && r.tHost === undefined) r.tHost = now();
      if (receipts) host.dc.send(JSON.stringify({ textroom: 'delivered', room: p.room, msg_id: m.msg_id }));
    };
    caller.onReceipt = (m) => {
      const r = recs.get(m.msg_id);
      if (r && r.tReceipt === undefined && m.state === 'delivered') r.tReceipt = now();
    };
  }
  const interval = 1000 / (rate / pairs.length);   // ms between two messages of one pair
  const start = now() + 50;
  const next = pairs.map((_, i) => start + (i * interval) / pairs.length);
  const end = start + seconds * 1000;
  let sent = 0;
  await new Promise((resolve) => {
    const tick = () => {
      const t = now();
      for (let i = 0; i < pairs.length; i++) {
        while (next[i] <= t && next[i] < end) {
          next[i] += interval;
          const p = pairs[i];
          const key = crypto.randomUUID();
          const r = { t0: now() };
          recs.set(key, r);
          sent++;
          const body = { textroom: 'message', room: p.room, text: `bench ${sent} ${key}` };
          if (ourProtocol) body.client_id = key;
          else body.text = key;
          clients[p.caller].request(body).then((m) => {
            r.tSent = now();
            if (m.textroom === 'error') errors[m.error_code] = (errors[m.error_code] || 0) + 1;
            else if (m.msg_id) recs.set(m.msg_id, r);
          });
        }
      }
      if (t >= end) resolve();
      else setTimeout(tick, 2);
    };
    tick();
  });
  // Let what is in flight arrive.
  const drainUntil = now() + 5000;
  while (now() < drainUntil) {
    let missing = 0;
    for (const r of new Set(recs.values())) if (r.tSent === undefined || r.tHost === undefined || (receipts && r.tReceipt === undefined)) missing++;
    if (!missing) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  const all = [...new Set(recs.values())];
  const got = (f) => all.filter((r) => r[f] !== undefined);
  const lastHost = Math.max(...got('tHost').map((r) => r.tHost), start);
  return {
    sent,
    replies: got('tSent').length,
    atHost: got('tHost').length,
    receipts: got('tReceipt').length,
    errors,
    seconds: (lastHost - start) / 1000,
    sentMs: summary(got('tSent').map((r) => r.tSent - r.t0)),
    hostMs: summary(got('tHost').map((r) => r.tHost - r.t0)),
    receiptMs: summary(got('tReceipt').map((r) => r.tReceipt - r.t0)),
  };
}

export async function closeAll() {
  for (const c of clients) {
    clearInterval(c.keepalive);
    try { c.pc.close(); } catch { /* gone */ }
    try { c.ws.close(); } catch { /* gone */ }
  }
  clients.length = 0;
}
