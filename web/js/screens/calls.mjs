// screens/calls.mjs: call history (GET /calls, cursor paged) and one call's receipt
// (GET /calls/{id}), the end screen after a call. The receipt's money is final once
// billing_settled is true, a moment after the end: until then it is fetched again.

import { api, auth } from '../api.mjs';
import { h, credits, clock, when } from '../ui.mjs';

const REASON_TEXT = {
  hangup: 'Hung up', 'Explicit hangup': 'You hung up', 'We did the hangup': 'The other side hung up',
  declined: 'Declined', no_answer: 'Not answered', cancelled: 'Cancelled', busy: 'The host was busy',
  unavailable: 'The host is not available', answered_elsewhere: 'Answered on another device',
  peer_gone: 'The other side lost the connection', insufficient_balance: 'Ended: out of credits',
  disconnected: 'Connection to the server lost', failed: 'The call could not be set up', shutdown: 'The server shut down',
};

const reasonText = (r) => REASON_TEXT[r] || (r ? r.replace(/_/g, ' ') : '');

function money(c) {
  return c.role === 'host' ? `+${credits(c.host_earned)}` : credits(c.charged);
}

export const callsScreen = {
  title: 'Calls',
  async render(el) {
    const rows = h('tbody', {});
    const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Older calls');
    const status = h('p', { class: 'muted', role: 'status' });
    let cursor = null;
    const load = async (append) => {
      try {
        const q = new URLSearchParams({ limit: '20' });
        if (append && cursor) q.set('cursor', cursor);
        const r = await api('GET', `/calls?${q}`);
        rows.append(...r.calls.map((c) => {
          const other = c.role === 'host' ? c.caller : c.host;
          return h('tr', { 'data-call-id': c.id },
            h('td', {}, h('a', { href: `#/receipt/${c.id}` }, when(c.created_at))),
            h('td', {}, other.display_name),
            h('td', {}, c.kind),
            h('td', {}, c.state === 'ended' ? reasonText(c.end_reason) : c.state),
            h('td', { class: 'num' }, clock(c.duration_ms)),
            h('td', { class: 'num' }, money(c)));
        }));
        cursor = r.next_cursor;
        more.hidden = !cursor;
        status.textContent = rows.children.length ? '' : 'No calls yet.';
      } catch (e) { status.textContent = e.message; }
    };
    more.addEventListener('click', () => load(true));
    el.append(h('section', { class: 'card', 'aria-labelledby': 'calls-title' }, h('h2', { id: 'calls-title' }, 'Calls'),
      h('div', { class: 'table-wrap' }, h('table', { id: 'call-history' },
        h('thead', {}, h('tr', {}, ['When', 'With', 'Kind', 'Outcome', 'Length', auth.user && auth.user.role === 'host' ? 'Earned' : 'Cost']
          .map((t, i) => h('th', { scope: 'col', class: i >= 4 ? 'num' : null }, t)))),
        rows)), status, more));
    await load(false);
    return undefined;
  },
};

function item(label, value, id) {
  return h('div', {}, h('dt', {}, label), h('dd', { id }, value));
}

export const receiptScreen = {
  title: 'Call receipt',
  async render(el, { id }) {
    const reason = new URLSearchParams(location.hash.split('?')[1] || '').get('reason');
    const section = h('section', { class: 'card receipt', 'aria-labelledby': 'receipt-title' },
      h('h2', { id: 'receipt-title' }, 'Call ended'),
      reason ? h('p', { id: 'receipt-reason' }, reasonText(reason)) : null);
    const body = h('div', {}, h('p', { class: 'muted', role: 'status' }, 'Loading the receipt…'));
    section.append(body, h('p', { class: 'actions' }, h('a', { href: '#/calls', class: 'button secondary' }, 'All calls'),
      h('a', { href: '#/', class: 'button' }, 'Done')));
    el.append(section);
    let stopped = false;
    let timer = null;
    const draw = (c) => {
      const other = c.role === 'host' ? c.caller : c.host;
      // The server's outcome replaces what this device saw (same event, the record's words).
      const local = section.querySelector('#receipt-reason');
      if (local) local.remove();
      section.dataset.settled = String(c.billing_settled);
      body.replaceChildren(h('dl', { class: 'receipt-list' },
        item('With', other.display_name),
        item('Kind', c.kinds.map((k) => k.kind).join(' → ')),
        item('Outcome', c.state === 'ended' ? reasonText(c.end_reason) : c.state, 'receipt-outcome'),
        item('Length', clock(c.duration_ms)),
        item('Billed time', clock(c.connected_ms), 'receipt-connected'),
        item('Minutes charged', String(c.minutes_charged), 'receipt-minutes'),
        c.role === 'host' ? item('You earned', credits(c.host_earned), 'receipt-earned')
          : item('You paid', credits(c.charged), 'receipt-charged'),
        item('Rates', c.audio_rate === null ? '—' : `audio ${c.audio_rate}/min, video ${c.video_rate}/min`)),
      ...(c.billing_settled ? [] : [h('p', { class: 'muted small', role: 'status' }, 'Finalising…')]));
      body.querySelector('#receipt-minutes').dataset.value = c.minutes_charged;
      const money = body.querySelector('#receipt-charged, #receipt-earned');
      money.dataset.value = c.role === 'host' ? c.host_earned : c.charged;
    };
    const load = async (attempt) => {
      try {
        const c = (await api('GET', `/calls/${encodeURIComponent(id)}`)).call;
        if (stopped) return;
        draw(c);
        if ((!c.billing_settled || c.state !== 'ended') && attempt < 30) timer = setTimeout(() => load(attempt + 1), 1000);
      } catch (e) {
        body.replaceChildren(h('p', { class: 'error' }, e.message));
      }
    };
    await load(0);
    return () => { stopped = true; clearTimeout(timer); };
  },
};
