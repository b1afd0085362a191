// screens/wallet.mjs: balance and held credits (GET /wallet), credit packages
// (GET /credit-packages) bought with POST /purchases, and the transaction history
// (GET /wallet/transactions, cursor paged). buyPanel() is also the in-call top-up.
//
// Idempotency: one key per purchase intent, kept until that intent succeeds, so a retry
// after a timeout can never buy twice.

import { api, uuid } from '../api.mjs';
import { h, credits, when, announce } from '../ui.mjs';

const KIND_TEXT = {
  purchase: 'Credits bought', hold: 'Held for a call', release: 'Hold released', earning: 'Earned',
  fee: 'Call or message charge', topup: 'Top-up', payout: 'Payout',
};

function price(p) {
  return new Intl.NumberFormat(undefined, { style: 'currency', currency: p.currency || 'USD' }).format(p.price_cents / 100);
}

// The packages are the server's configuration: fetched once per page load, so the in-call
// top-up shows its buttons at once (the low-balance warning leaves seconds, not minutes).
let packages = null;
export function creditPackages() {
  if (!packages) {
    packages = api('GET', '/credit-packages', undefined, { auth: false }).then((r) => r.packages);
    packages.catch(() => { packages = null; });
  }
  return packages;
}

// Buttons for every package; onBought(wallet) after a completed purchase.
export function buyPanel(onBought, { idPrefix = 'buy' } = {}) {
  const error = h('p', { class: 'error', role: 'alert' });
  const list = h('div', { class: 'packages' }, h('p', { class: 'muted' }, 'Loading packages…'));
  const intents = new Map();      // package id -> Idempotency-Key of the unfinished intent
  creditPackages().then((all) => {
    list.replaceChildren(...all.map((p) => h('button', {
      type: 'button', class: 'package', id: `${idPrefix}-${p.id}`, 'data-package': p.id,
      onclick: async (e) => {
        const b = e.currentTarget;
        error.textContent = '';
        b.disabled = true;
        if (!intents.has(p.id)) intents.set(p.id, uuid());
        try {
          const res = await api('POST', '/purchases', { package_id: p.id }, { headers: { 'Idempotency-Key': intents.get(p.id) } });
          intents.delete(p.id);
          if (res.purchase.status !== 'completed') {
            error.textContent = 'The payment is pending: the credits appear once the provider confirms it.';
          } else {
            announce(`${credits(p.credits)} added`);
          }
          onBought(res.wallet);
        } catch (err) {
          error.textContent = err.code === 'payment_provider_not_configured'
            ? 'This server does not sell credits (no payment provider is configured).' : err.message;
        } finally {
          b.disabled = false;
        }
      },
    }, h('strong', {}, credits(p.credits)), h('span', {}, price(p)))));
  }).catch((e) => { list.replaceChildren(); error.textContent = e.message; });
  return h('div', { class: 'buy' }, list, error);
}

function balanceView(w) {
  return h('dl', { class: 'balance', id: 'wallet-balance' },
    h('div', {}, h('dt', {}, 'Available'), h('dd', { id: 'wallet-available', 'data-value': w.available }, credits(w.available))),
    h('div', {}, h('dt', {}, 'Held for calls'), h('dd', { id: 'wallet-held', 'data-value': w.held }, credits(w.held))),
    w.earnings !== undefined ? h('div', {}, h('dt', {}, 'Earnings'), h('dd', { id: 'wallet-earnings' }, credits(w.earnings))) : null);
}

function txRow(t) {
  const sign = t.delta > 0 ? '+' : t.delta < 0 ? '−' : '';
  return h('tr', {},
    h('td', {}, when(t.created_at)),
    h('td', {}, KIND_TEXT[t.kind] || t.kind, h('span', { class: 'muted small' }, ` ${t.ref}`)),
    h('td', { class: `num ${t.delta > 0 ? 'plus' : t.delta < 0 ? 'minus' : ''}` }, `${sign}${Math.abs(t.delta || t.amount)}`));
}

export const walletScreen = {
  title: 'Wallet',
  async render(el) {
    const balance = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
    const rows = h('tbody', {});
    const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Older transactions');
    const status = h('p', { class: 'muted', role: 'status' });
    let cursor = null;

    const loadTx = async (append) => {
      try {
        const q = new URLSearchParams({ limit: '20' });
        if (append && cursor) q.set('cursor', cursor);
        const r = await api('GET', `/wallet/transactions?${q}`);
        if (!append) rows.replaceChildren();
        rows.append(...r.transactions.map(txRow));
        cursor = r.next_cursor;
        more.hidden = !cursor;
        status.textContent = rows.children.length ? '' : 'No transactions yet.';
      } catch (e) { status.textContent = e.message; }
    };
    const loadWallet = async () => {
      try { balance.replaceChildren(balanceView(await api('GET', '/wallet'))); } catch (e) { balance.replaceChildren(h('p', { class: 'error' }, e.message)); }
    };
    more.addEventListener('click', () => loadTx(true));

    el.append(
      h('section', { class: 'card', 'aria-labelledby': 'wallet-title' }, h('h2', { id: 'wallet-title' }, 'Wallet'), balance),
      h('section', { class: 'card', 'aria-labelledby': 'buy-title' }, h('h3', { id: 'buy-title' }, 'Buy credits'),
        buyPanel((w) => { balance.replaceChildren(balanceView(w)); loadTx(false); })),
      h('section', { class: 'card', 'aria-labelledby': 'tx-title' }, h('h3', { id: 'tx-title' }, 'Transactions'),
        h('div', { class: 'table-wrap' }, h('table', { id: 'transactions' },
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'When'), h('th', { scope: 'col' }, 'What'), h('th', { scope: 'col', class: 'num' }, 'Credits'))),
          rows)), status, more));
    await Promise.all([loadWallet(), loadTx(false)]);
    return undefined;
  },
};
