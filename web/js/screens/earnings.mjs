// screens/earnings.mjs: a host's earnings (GET /earnings): totals, per UTC day, per call or
// message (grouped by the charge's ref: "call:<id>" links to that call's receipt).

import { api } from '../api.mjs';
import { h, credits, when } from '../ui.mjs';

function table(id, caption, head, rows) {
  return h('div', { class: 'table-wrap' }, h('table', { id },
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, head.map(([t, cls]) => h('th', { scope: 'col', class: cls }, t)))),
    h('tbody', {}, rows)));
}

function refCell(ref) {
  const m = /^call:([0-9a-f-]{36})$/.exec(ref);
  if (m) return h('a', { href: `#/receipt/${m[1]}` }, `Call ${m[1].slice(0, 8)}`);
  if (/^conv:|^msg:/.test(ref)) return 'Messages';
  return ref;
}

export const earningsScreen = {
  title: 'Earnings',
  async render(el) {
    const section = h('section', { class: 'card', 'aria-labelledby': 'earn-title' }, h('h2', { id: 'earn-title' }, 'Earnings'));
    el.append(section);
    let e;
    try {
      e = await api('GET', '/earnings');
    } catch (err) {
      section.append(h('p', { class: 'error' }, err.message));
      return undefined;
    }
    section.append(...[
      h('dl', { class: 'balance' },
        h('div', {}, h('dt', {}, 'Earned in total'), h('dd', { id: 'earned-total', 'data-value': e.totals.earned }, credits(e.totals.earned))),
        h('div', {}, h('dt', {}, 'Not paid out yet'), h('dd', {}, credits(e.totals.balance))),
        h('div', {}, h('dt', {}, 'Charges'), h('dd', {}, String(e.totals.charges)))),
      e.per_call.length ? table('earn-per-call', 'By call or message', [['What'], ['Charges', 'num'], ['Credits', 'num'], ['Last']],
        e.per_call.map((r) => h('tr', { 'data-ref': r.ref }, h('td', {}, refCell(r.ref)), h('td', { class: 'num' }, String(r.charges)),
          h('td', { class: 'num' }, String(r.amount)), h('td', {}, when(r.last_at)))))
        : h('p', { class: 'muted' }, 'Nothing earned yet: calls and messages from callers appear here.'),
      e.per_day.length ? table('earn-per-day', 'By day (UTC)', [['Day'], ['Charges', 'num'], ['Credits', 'num']],
        e.per_day.map((r) => h('tr', {}, h('td', {}, r.day), h('td', { class: 'num' }, String(r.charges)), h('td', { class: 'num' }, String(r.amount)))))
        : null].filter(Boolean));
    return undefined;
  },
};
