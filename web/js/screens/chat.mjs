// screens/chat.mjs: one conversation. History over REST (GET .../messages, paged backwards
// with "Earlier messages"), live messages and receipts over the chat channel (textroom):
// join with since_seq = the newest seq shown, `delivered` for each message received, `read`
// while the conversation is on screen. Own messages show ticks: sending, sent (stored by the
// server), delivered (a device of the other party has it), read.
//
// Sending is exactly-once: a message keeps its client_id through retries (channel or REST).

import { api, auth, uuid } from '../api.mjs';
import { chat } from '../connection.mjs';
import { h, timeOf, credits, announce } from '../ui.mjs';
import { refreshUnread } from './chats.mjs';

const TICK = {
  sending: ['…', 'sending'], sent: ['✓', 'sent'], delivered: ['✓✓', 'delivered'], read: ['✓✓ Seen', 'read'], failed: ['!', 'not sent'],
};
const RANK = { sending: 0, failed: 0, sent: 1, delivered: 2, read: 3 };

export const chatScreen = {
  title: 'Chat',
  async render(el, { id }) {
    const room = Number(id);
    const me = auth.user;
    const section = h('section', { class: 'card chat', 'aria-labelledby': 'chat-title' });
    const title = h('h2', { id: 'chat-title' }, 'Chat');
    const list = h('ol', { class: 'messages', id: 'messages', 'aria-live': 'polite', 'aria-relevant': 'additions' });
    const earlier = h('button', { type: 'button', class: 'secondary small', hidden: true }, 'Earlier messages');
    const status = h('p', { class: 'muted small', role: 'status' });
    const error = h('p', { class: 'error', role: 'alert' });
    const input = h('textarea', { id: 'chat-text', rows: 2, maxLength: 4096, required: true, 'aria-label': 'Message', placeholder: 'Write a message' });
    const send = h('button', { type: 'submit', id: 'chat-send' }, 'Send');
    const form = h('form', { class: 'composer' }, input, send);
    section.append(h('div', { class: 'chat-head' }, h('a', { href: '#/chats', class: 'back' }, '← Chats'), title), status, earlier, list, error, form);
    el.append(section);

    const byId = new Map();        // msg_id (or client_id while sending) -> {m, li}
    let before = null;
    let channel = null;
    let off = null;
    let gone = false;
    let lastSeq = 0;
    let peerRead = 0;

    const setTick = (entry, state) => {
      if (entry.m.from !== me.id) return;
      if (RANK[state] < RANK[entry.m.state] && state !== 'failed') return;
      entry.m.state = state;
      const t = entry.li.querySelector('.ticks');
      t.dataset.state = state;
      t.firstChild.textContent = TICK[state][0];
      t.lastChild.textContent = TICK[state][1];
    };

    const bubble = (m) => {
      const mine = m.from === me.id;
      const li = h('li', { class: `msg ${mine ? 'mine' : 'theirs'}`, 'data-seq': m.seq || '', 'data-msg-id': m.msg_id || '' },
        h('p', { class: 'text' }, m.text),
        h('span', { class: 'meta' }, h('time', { datetime: m.date || '' }, timeOf(m.date || new Date().toISOString())),
          mine ? h('span', { class: 'ticks', 'data-state': m.state }, h('span', { 'aria-hidden': 'true' }, TICK[m.state][0]),
            h('span', { class: 'sr-only' }, TICK[m.state][1])) : null));
      return li;
    };

    const place = (m, { prepend = false } = {}) => {
      const key = m.msg_id || m.client_id;
      if (byId.has(key)) return byId.get(key);
      const entry = { m: { ...m, state: m.state || 'sent' }, li: null };
      if (entry.m.from === me.id && entry.m.seq && entry.m.seq <= peerRead) entry.m.state = 'read';
      entry.li = bubble(entry.m);
      byId.set(key, entry);
      if (prepend) list.prepend(entry.li);
      else list.append(entry.li);
      if (m.seq) lastSeq = Math.max(lastSeq, m.seq);
      return entry;
    };

    const markRead = () => {
      if (!channel || document.hidden || gone) return;
      const theirs = [...byId.values()].filter((e) => e.m.from !== me.id && e.m.seq);
      const top = Math.max(0, ...theirs.map((e) => e.m.seq));
      if (top > 0) channel.read(room, top).then(refreshUnread).catch(() => {});
    };

    const onEvent = (ev) => {
      if (ev.room !== room) return;
      if (ev.textroom === 'message') {
        const known = byId.get(ev.msg_id) || byId.get(ev.client_id);
        if (known) return;
        const from = Number(ev.from);
        place({ msg_id: ev.msg_id, seq: ev.seq, from, date: ev.date, text: ev.text, client_id: ev.client_id, state: 'sent' });
        list.lastChild.scrollIntoView({ block: 'end' });
        if (from !== me.id) {
          channel.delivered(room, ev.msg_id).catch(() => {});
          markRead();
        }
      } else if (ev.textroom === 'receipt') {
        if (ev.state === 'delivered' && byId.has(ev.msg_id)) setTick(byId.get(ev.msg_id), 'delivered');
        if (ev.state === 'read') {
          peerRead = Math.max(peerRead, ev.up_to_seq);
          for (const e of byId.values()) if (e.m.from === me.id && e.m.seq && e.m.seq <= ev.up_to_seq) setTick(e, 'read');
        }
      }
    };

    const loadEarlier = async () => {
      const q = new URLSearchParams({ limit: '30' });
      if (before) q.set('before_seq', String(before));
      const r = await api('GET', `/conversations/${room}/messages?${q}`);
      for (const m of [...r.messages].reverse()) place(m, { prepend: true });
      before = r.next_before_seq;
      earlier.hidden = !before;
    };
    earlier.addEventListener('click', () => loadEarlier().catch((e) => { error.textContent = e.message; }));

    // Sends a message (first try or retry, same client_id): the channel when it is up, REST
    // otherwise. Passing trouble (busy, timeout, network, rate limit) is retried by itself a
    // few times; a refusal (no credit, blocked) is explained and left to the user.
    const deliver = async (entry, attempt = 0) => {
      const m = entry.m;
      try {
        const r = channel ? await channel.send(room, m.text, m.client_id)
          : await api('POST', `/conversations/${room}/messages`, { client_id: m.client_id, text: m.text });
        byId.delete(m.client_id);
        Object.assign(m, { msg_id: r.msg_id, seq: r.seq, date: r.date });
        byId.set(r.msg_id, entry);
        entry.li.dataset.seq = r.seq;
        entry.li.dataset.msgId = r.msg_id;
        lastSeq = Math.max(lastSeq, r.seq);
        setTick(entry, r.state || 'sent');
        if (r.charged) announce(`Sent, ${credits(r.charged)}`);
      } catch (e) {
        if (gone) return;
        const channelClosed = Boolean(channel) && /data channel is not open/.test(e.message);
        if (channelClosed) channel = null;
        const passing = channelClosed || e.code === 503 || e.code === 429 || e.code === 'timeout'
          || e.status === 0 || e.status === 429 || e.status >= 500;
        if (passing && attempt < 4) {
          const wait = e.body && e.body.retry_after_ms ? e.body.retry_after_ms : 1000 * 2 ** attempt;
          setTimeout(() => { if (!gone) deliver(entry, attempt + 1); }, wait);
          return;
        }
        setTick(entry, 'failed');
        const topUp = (e.code === 402 || e.code === 'insufficient_balance') && me.role === 'caller'
          ? h('a', { href: '#/wallet' }, 'Buy credits') : null;
        error.replaceChildren(e.message, ' ', topUp || '', ' ', h('button', { type: 'button', class: 'secondary small', onclick: () => { error.textContent = ''; setTick(entry, 'sending'); deliver(entry); } }, 'Retry'));
      }
    };

    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      error.textContent = '';
      input.value = '';
      const entry = place({ client_id: uuid(), from: me.id, text, state: 'sending', date: new Date().toISOString() });
      entry.li.scrollIntoView({ block: 'end' });
      deliver(entry);
    });
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
    });

    try {
      const conv = (await api('GET', '/conversations')).conversations.find((c) => c.id === room);
      if (!conv) throw new Error('This conversation does not exist, or is not yours.');
      title.textContent = conv.peer.display_name;
      document.title = `${conv.peer.display_name} · parley`;
      if (me.role === 'caller' && conv.peer.role === 'host') {
        api('GET', `/hosts/${conv.peer.id}`, undefined, { auth: false })
          .then((r) => { status.textContent = r.host.message_rate ? `Each message costs ${credits(r.host.message_rate)}.` : 'Messages are free.'; })
          .catch(() => {});
      }
      await loadEarlier();
      list.lastChild && list.lastChild.scrollIntoView({ block: 'end' });
    } catch (e) {
      error.textContent = e.message;
      form.hidden = true;
      return undefined;
    }

    const onVisible = () => { if (!document.hidden) markRead(); };
    document.addEventListener('visibilitychange', onVisible);
    try {
      channel = await chat();
      if (gone) return undefined;
      off = channel.on(onEvent);
      const j = await channel.join(room, lastSeq);
      peerRead = j.peer_read_seq || 0;
      for (const e of byId.values()) {
        if (e.m.from !== me.id || !e.m.seq) continue;
        if (e.m.seq <= peerRead) setTick(e, 'read');
        else if (e.m.seq <= (j.peer_delivered_seq || 0)) setTick(e, 'delivered');
      }
      list.dataset.joined = 'true';
      markRead();
    } catch (e) {
      channel = null;
      status.textContent = `Live chat unavailable (${e.message}): messages are sent over the REST API.`;
    }
    return () => {
      gone = true;
      document.removeEventListener('visibilitychange', onVisible);
      if (off) off();
      if (channel) channel.leave(room);
    };
  },
};
