// textroom.mjs: chat over janus.plugin.textroom (parley's chat plugin), docs/chat.md.
//
// Contract: new ChatChannel(session, user); await open() (attach, setup -> the server's
// offer, our answer with a data channel -> ack, channel open); request(obj) -> Promise of
// the success reply (rejects with an Error carrying .code, and .body for 402/429);
// join(room, sinceSeq), send(room, text, clientId), delivered(room, msgId), read(room,
// upToSeq), leave(room); on(fn) -> unsubscribe, fn(event) for every pushed event
// ({textroom:'message'|'receipt'|'read'|'join'|'leave', room, ...}).
//
// Exactly-once sending is the caller's part: keep a message's client_id and resend with the
// same one until a reply comes (the server answers a replay with the original result).

const PLUGIN = 'janus.plugin.textroom';
const REQUEST_TIMEOUT_MS = 15000;

let txSeq = 0;

export class ChatChannel {
  constructor(session, user) {
    this.session = session;
    this.user = user;
    this.handle = null;
    this.pending = new Map();
    this.listeners = new Set();
    this.opened = null;
  }

  async open() {
    const h = await this.session.attach(PLUGIN);
    this.handle = h;
    this.opened = new Promise((resolve) => { h.onDataOpen = resolve; });
    h.onData = (text) => this._onData(text);
    const setup = await h.message({ request: 'setup' });
    if (!setup.jsep || setup.jsep.type !== 'offer') throw new Error('The chat server sent no offer.');
    const answer = await h.answer(setup.jsep, { dataLabel: 'JanusDataChannel' });
    await h.message({ request: 'ack' }, answer);
    await Promise.race([
      this.opened,
      new Promise((_, reject) => setTimeout(() => reject(new Error('The chat channel did not open.')), REQUEST_TIMEOUT_MS)),
    ]);
  }

  on(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }

  _onData(text) {
    let m;
    try { m = JSON.parse(text); } catch { return; }
    const p = m.transaction ? this.pending.get(m.transaction) : null;
    if (p && (m.textroom === 'success' || m.textroom === 'error')) {
      this.pending.delete(m.transaction);
      clearTimeout(p.timer);
      if (m.textroom === 'success') p.resolve(m);
      else p.reject(Object.assign(new Error(chatError(m)), { code: m.error_code, body: m }));
      return;
    }
    for (const fn of this.listeners) fn(m);
  }

  request(obj) {
    txSeq += 1;
    const transaction = `c${txSeq}-${Math.random().toString(36).slice(2, 8)}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(transaction);
        reject(Object.assign(new Error('The chat server did not answer in time.'), { code: 'timeout' }));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(transaction, { resolve, reject, timer });
      try {
        this.handle.sendData(JSON.stringify({ ...obj, transaction }));
      } catch (e) {
        clearTimeout(timer);
        this.pending.delete(transaction);
        reject(e);
      }
    });
  }

  join(room, sinceSeq) {
    const r = { textroom: 'join', room, username: String(this.user.id) };
    if (sinceSeq !== undefined && sinceSeq !== null) r.since_seq = sinceSeq;
    return this.request(r);
  }

  send(room, text, clientId) { return this.request({ textroom: 'message', room, text, client_id: clientId }); }
  delivered(room, msgId) { return this.request({ textroom: 'delivered', room, msg_id: msgId }); }
  read(room, upToSeq) { return this.request({ textroom: 'read', room, up_to_seq: upToSeq }); }
  leave(room) { return this.request({ textroom: 'leave', room }).catch(() => {}); }
}

function chatError(m) {
  switch (m.error_code) {
    case 402: return `Not enough credits to send this message (it costs ${m.needed ?? 'more than'} credits; you have ${m.balance ?? 0}).`;
    case 429: return 'You are sending too fast. Wait a moment.';
    case 419: return 'You cannot message this person.';
    case 503: return 'The chat is busy. Your message will be retried.';
    default: return m.error || `Chat error ${m.error_code}`;
  }
}
