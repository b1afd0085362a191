// Shared pieces of the billing tests (billing_calls, billing_crash): the money side of calls
// over the REST and admin APIs, the parties of a call behind one interface, the cost ticker.
//
// Contract:
// - The tests run parley with --billing.minute_ms=MINUTE_MS (billingServerOpts(index,
//   extraArgs) adds it to callsServerOpts); TICKER_MS is the cost ticker period that gives,
//   GAP_SLACK_MS the delivery jitter allowed on top of it, CHARGE_LAG_MS how soon after its
//   start a minute's charge is shown. STARTER is what newUser's 'starter' package credits.
//   skipUnlessBilling() throws lib/server.mjs skip() unless parley runs in a network
//   namespace with Chromium at hand.
// - setRates(srv, host, {audio, video}) sets a host's rates (PATCH /me); wallet(srv, user)
//   reads GET /wallet, heldZero(srv, user, ms) polls it until nothing is held (the last
//   reading after ms); ledgerOk(srv, what) asserts /admin/ledger/check; freshRevenue(srv)
//   asserts nothing earned yet, checkRevenue(srv, fees, of) that /admin/revenue is the sum
//   of the fees; split(amount, feeBps) is the per-minute split {host, fee}.
// - checkRow(name, callId, row, want) asserts fields of a call row; checkWallets(ctx, ...)
//   the caller's released hold, the host's earnings and the ledger after a call, and adds
//   its fee to ctx.fees. ctx is the test's {srv, br, feeBps, fees, ...}.
// - Parties: pageParty(CallClient) and aioParty(lib/aiortcpeer.mjs peer, label) give {label,
//   mark(), next(since, ms), all(since), call(username, tracks), hangup(), up(ms)}; events
//   are {i, t (ms on the party's clock), result | error_code, ...}. waitFor, waitMinute,
//   hangupBy and connect take a party or a CallClient (party() wraps it).
// - Pages: openPage(ctx, label, server, token, username) opens, starts and registers a
//   CallClient and keeps it in `clients` (for withClients) until closePages(list) stops
//   and closes it or closePage(c) closes it without a word to the server. newPair(ctx, ...)
//   signs up a caller and a host with rates and opens their pages; pairCall also connects
//   them (connect: calling, incomingcall, accept, webrtcup both, a first billing event).
// - isEvent(name), isBilling(callId, f) are event predicates; billings(events, callId) the
//   call's billing events flattened ({i, t, ...result}); checkTicker(label, evs, o) asserts
//   one party's cost ticker of one call (details at the function).

import { CallClient, api, callsServerOpts, isParley, loadNote, newUser, openClient, sleep, UUID_RE } from './calls.mjs';
import { browserAvailable } from './browser.mjs';
import { traceResponse } from './apitrace.mjs';
import { assert, skip } from './server.mjs';

export const MINUTE_MS = 3000;
export const TICKER_MS = (10000 * MINUTE_MS) / 60000;   // cost ticker period: 500
export const GAP_SLACK_MS = 500;        // delivery jitter allowed on top of the ticker period
export const CHARGE_LAG_MS = 400;       // a minute's charge is committed (and shown) this soon after its start
const AFFORD_SLACK_MS = 250;
export const STARTER = 100;             // credits of the 'starter' package

export const AV = [{ type: 'audio', capture: true, recv: true }, { type: 'video', capture: true, recv: true }];

export const clients = [];              // open Chromium clients (dumped when a scenario fails)

export function billingServerOpts(index, extraArgs = []) {
  return callsServerOpts(index, [`--billing.minute_ms=${MINUTE_MS}`, ...extraArgs]);
}

export function skipUnlessBilling() {
  if (!isParley()) throw skip('billing is parley only (Janus 1.1.2 has no wallet)');
  if (!process.env.PARLEY_NETNS) throw skip('not inside a network namespace (run via tests/integration/run.sh as root)');
  const why = browserAvailable();
  if (why) throw skip(why);
}

// ---- money ----

export function split(amount, feeBps) {
  const host = Math.floor((amount * (10000 - feeBps)) / 10000);
  return { host, fee: amount - host };
}

export function sum(list, f = (x) => x) { return list.reduce((s, x) => s + f(x), 0); }

async function adminGet(srv, p) {
  const url = `http://127.0.0.1:${srv.ports.admin}${p}`;
  const r = await fetch(url);
  const text = await r.text();
  traceResponse('GET', url, undefined, r, text);
  assert(r.status === 200, `GET ${p}: ${r.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

export async function ledgerOk(srv, what) {
  const c = await adminGet(srv, '/admin/ledger/check');
  assert(c.ok === true, `/admin/ledger/check after ${what}: ${JSON.stringify(c)}`);
  return c;
}

// /admin/revenue of a new server: nothing earned yet (its platform_fee_bps is the split's).
export async function freshRevenue(srv) {
  const rev = await adminGet(srv, '/admin/revenue');
  assert(rev.platform_revenue === 0, `/admin/revenue at start ${JSON.stringify(rev)}`);
  return rev;
}

export async function checkRevenue(srv, fees, of) {
  const rev = await adminGet(srv, '/admin/revenue');
  assert(rev.platform_revenue === fees, `/admin/revenue ${JSON.stringify(rev)}, want platform_revenue ${fees} (the fees of ${of})`);
  return rev;
}

export async function wallet(srv, user) {
  const r = await api(srv, 'GET', '/wallet', undefined, user.token);
  assert(r.status === 200, `GET /wallet: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}

// The user's wallet once nothing is held (polled up to ms); the last reading otherwise.
export async function heldZero(srv, user, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const w = await wallet(srv, user);
    if (w.held === 0 || Date.now() > end) return w;
    await sleep(100);
  }
}

export async function setRates(srv, host, rates) {
  const r = await api(srv, 'PATCH', '/me', { audio_rate: rates.audio, video_rate: rates.video }, host.token);
  assert(r.status === 200 && r.json.user && r.json.user.audio_rate === rates.audio && r.json.user.video_rate === rates.video,
    `PATCH /me rates ${JSON.stringify(rates)}: ${r.status} ${JSON.stringify(r.json)}`);
}

export function checkRow(name, callId, row, want) {
  for (const [k, v] of Object.entries(want)) {
    assert(row[k] === v, `${name}: GET /calls/${callId}: ${k} ${JSON.stringify(row[k])}, want ${JSON.stringify(v)} (${JSON.stringify(row)})`);
  }
}

// After a call's money is settled: the caller's hold released with `available` left, the
// host's wallet showing `earned`, the ledger consistent; the call's fee goes to ctx.fees.
export async function checkWallets(ctx, { name, caller, host, available, earned, fee }) {
  const { srv } = ctx;
  const w = await heldZero(srv, caller, 3000);
  assert(w.held === 0 && w.available === available, `${name}: caller's wallet after the call ${JSON.stringify(w)}, want ${available} available, 0 held`);
  const hw = await wallet(srv, host);
  assert(hw.earnings === earned, `${name}: host's GET /wallet ${JSON.stringify(hw)}, want earnings ${earned}`);
  await ledgerOk(srv, name);
  ctx.fees += fee;
}

// ---- the two kinds of parties behind one interface (events {i, t ms, result, error_code}) ----

export function pageParty(c) {
  return {
    label: c.label,
    client: c,
    mark: () => c.mark(),
    next: (since, ms) => c.waitEvent({ any: true }, since, ms),
    async all(since = 0) { return (await c.state()).events.filter((e) => e.i >= since); },
    call: (username, tracks) => c.call(username, tracks || AV),
    hangup: () => c.hangup(),
    up: (ms) => c.webrtcUp(ms),
  };
}

export function aioParty(aio, label) {
  const ms = (e) => ({ ...e, t: e.t * 1000 });
  return {
    label,
    aio,
    mark: () => aio.cmd('mark'),
    async next(since, timeoutMs) {
      return ms(await aio.cmd('wait_event', { since, timeout: timeoutMs / 1000 }, timeoutMs + 5000));
    },
    async all(since = 0) {
      const out = [];
      for (let i = since; ;) {
        let e;
        try {
          e = await aio.cmd('wait_event', { since: i, timeout: 0.05 }, 5000);
        } catch (err) {
          if (/timeout/.test(err.message)) break;
          throw err;
        }
        out.push(ms(e));
        i = e.i + 1;
      }
      return out;
    },
    call: (username) => aio.cmd('call', { username }),
    hangup: () => aio.cmd('hangup'),
    async up(timeoutMs = 15000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const st = await aio.cmd('stats');
        if (st.webrtcup !== null) return st.webrtcup * 1000;
        assert(Date.now() < end, `${label}: no webrtcup in ${timeoutMs} ms: ${JSON.stringify(st)}`);
        await sleep(100);
      }
    },
  };
}

export function party(x) { return x instanceof CallClient ? pageParty(x) : x; }

export const isEvent = (name) => (e) => !!(e.result && e.result.event === name);
export const isBilling = (callId, f = () => true) => (e) => !!(e.result && e.result.event === 'billing' &&
  e.result.call_id === callId && f(e.result));

export function billings(events, callId) {
  return events.filter(isBilling(callId)).map((e) => ({ i: e.i, t: e.t, ...e.result }));
}

// Waits for the first event from `since` on that satisfies pred; a hangup that does not
// fails at once (the call ended under us).
export async function waitFor(x, pred, since, ms, what) {
  const p = party(x);
  const end = Date.now() + ms;
  let i = since;
  for (;;) {
    const left = end - Date.now();
    assert(left > 0, `${p.label}: no ${what} in ${ms} ms`);
    let e;
    try {
      e = await p.next(i, left);
    } catch (err) {
      if (/timeout/.test(err.message)) throw new Error(`assertion failed: ${p.label}: no ${what} in ${ms} ms (${err.message.slice(0, 900)})`);
      throw err;
    }
    if (pred(e)) return e;
    if (isEvent('hangup')(e)) throw new Error(`assertion failed: ${p.label}: hangup ${JSON.stringify(e.result)} while waiting for ${what}`);
    i = e.i + 1;
  }
}

// The first ticker event of the call from `since` on that shows minute n (or a later one).
export function waitMinute(x, callId, n, since, ms, what = `minute ${n}`) {
  return waitFor(x, isBilling(callId, (r) => r.minutes_charged >= n), since, ms, what);
}

// p hangs up; waits for the hangup event on p and on each of the others.
export async function hangupBy(p, others, name) {
  const marks = await Promise.all(others.map((o) => o.mark()));
  const since = await p.mark();
  await p.hangup();
  const mine = await waitFor(p, isEvent('hangup'), since, 5000, `${name}: hangup after hanging up`);
  const theirs = await Promise.all(others.map((o, k) => waitFor(o, isEvent('hangup'), marks[k], 5000, `${name}: hangup`)));
  return { mine, theirs };
}

// ---- the cost ticker ----

// Checks one party's cost ticker events of one call (in arrival order): elapsed_ms never
// goes back, minutes_charged = ceil(elapsed / minute) (a minute's own event may show it at
// elapsed (k-1) x minute, one shown just after a boundary may still be in flight), each
// minute appears once, at its start, with charged rising by the rate of its kind and
// standing still in between; the caller's balance + charged stays at what the wallet had
// (+ STARTER per top-up) and its affordable_ms matches balance / rate; the host's earned is
// the sum of its parts of the minutes and it sees no balance; consecutive events at most
// TICKER_MS + GAP_SLACK_MS apart.
// o: {who: 'caller' | 'host', rates {audio, video} (a kind left out must not be billed),
// feeBps (host), base (caller: available + held before the call), topups (credit packages
// bought during the call, 0 if left out), segment (the events of one server run: at least
// one, the first may be in the middle of the call, after a resume; it must show charged =
// minutes_charged x its rate, the minutes before it count at that rate)}; without segment
// there are at least two events, from the call's start.
// Returns the per-minute amounts, their kinds, the longest gap between events, how many
// events showed a minute in flight, the first and last event and the count.
export function checkTicker(label, evs, o) {
  const topups = o.topups || 0;
  if (o.segment) assert(evs.length >= 1, `${label}: no billing events`);
  else assert(evs.length >= 2, `${label}: only ${evs.length} billing events: ${JSON.stringify(evs)}`);
  const amounts = [];
  const kinds = [];
  let prev = null;
  let gapMax = 0;
  let inFlight = 0;
  let base = null;
  let steps = 0;
  for (const e of evs) {
    const where = `${label}: billing event ${JSON.stringify(e)}`;
    for (const f of ['kind', 'rate', 'elapsed_ms', 'minutes_charged', 'charged']) {
      assert(Number.isInteger(e[f]) || (f === 'kind' && typeof e[f] === 'string'), `${where}: no ${f}`);
    }
    assert(e.kind === 'audio' || e.kind === 'video', `${where}: kind`);
    assert(e.rate === o.rates[e.kind], `${where}: rate ${e.rate}, the host's ${e.kind} rate is ${o.rates[e.kind]}`);
    assert(e.elapsed_ms >= 0, `${where}: negative elapsed`);
    const ceil = Math.ceil(e.elapsed_ms / MINUTE_MS);
    const atBoundary = e.elapsed_ms % MINUTE_MS === 0 ? e.elapsed_ms / MINUTE_MS + 1 : null;
    if (e.minutes_charged !== ceil && e.minutes_charged !== atBoundary) {
      const flying = e.minutes_charged === ceil - 1 && e.elapsed_ms - (ceil - 1) * MINUTE_MS <= CHARGE_LAG_MS;
      assert(flying, `${where}: minutes_charged ${e.minutes_charged} at elapsed ${e.elapsed_ms} ms, want ceil(elapsed / ${MINUTE_MS}) = ${ceil}`);
      inFlight += 1;
    }
    if (prev) {
      assert(e.elapsed_ms >= prev.elapsed_ms, `${where}: elapsed_ms went back from ${prev.elapsed_ms}`);
      gapMax = Math.max(gapMax, e.t - prev.t);
    }
    if (!prev && o.segment) {
      assert(e.charged === e.minutes_charged * e.rate,
        `${where}: charged ${e.charged} for ${e.minutes_charged} minutes at ${e.rate} (a minute charged twice or free)`);
      for (let m = 0; m < e.minutes_charged; m++) {
        amounts.push(e.rate);
        kinds.push(e.kind);
      }
    } else {
      const prevMinutes = prev ? prev.minutes_charged : 0;
      const prevCharged = prev ? prev.charged : 0;
      if (e.minutes_charged !== prevMinutes) {
        assert(e.minutes_charged === prevMinutes + 1,
          `${where}: minutes_charged went from ${prevMinutes} to ${e.minutes_charged} (every charged minute has its own ticker event)`);
        const amount = e.charged - prevCharged;
        assert(amount === o.rates[e.kind], `${where}: minute ${e.minutes_charged} cost ${amount}, want the ${e.kind} rate ${o.rates[e.kind]}`);
        const start = (e.minutes_charged - 1) * MINUTE_MS;
        assert(e.elapsed_ms >= start && e.elapsed_ms <= start + CHARGE_LAG_MS,
          `${where}: minute ${e.minutes_charged} first shown at elapsed ${e.elapsed_ms} ms; it starts at ${start} ms`);
        amounts.push(amount);
        kinds.push(e.kind);
      } else {
        assert(e.charged === prevCharged, `${where}: charged moved from ${prevCharged} without a new minute`);
      }
    }
    if (o.who === 'caller') {
      assert(Number.isInteger(e.balance) && e.balance >= 0, `${where}: balance`);
      const b = e.balance + e.charged;
      if (base === null) {
        assert(b === o.base, `${where}: balance + charged = ${b}, want what the wallet had before the call (${o.base})`);
      } else if (b !== base) {
        assert(b === base + STARTER && steps < topups,
          `${where}: balance + charged moved from ${base} to ${b} (${topups} top-ups of ${STARTER} expected in all)`);
        steps += 1;
      }
      base = b;
      assert(Number.isInteger(e.affordable_ms), `${where}: no affordable_ms`);
      const want = Math.max(0, e.minutes_charged * MINUTE_MS + Math.floor(e.balance / e.rate) * MINUTE_MS - e.elapsed_ms);
      assert(Math.abs(e.affordable_ms - want) <= AFFORD_SLACK_MS,
        `${where}: affordable_ms ${e.affordable_ms}, want ${want} (minutes paid + balance / rate, minus elapsed)`);
    } else {
      assert(e.balance === undefined && e.affordable_ms === undefined, `${where}: the host is shown the caller's balance`);
      const earned = sum(amounts, (a) => split(a, o.feeBps).host);
      assert(e.earned === earned, `${where}: earned ${e.earned}, want ${earned} (the host's parts of ${JSON.stringify(amounts)} at ${o.feeBps} bps)`);
    }
    prev = e;
  }
  if (o.who === 'caller') assert(steps === topups, `${label}: the ticker showed ${steps} top-ups, want ${topups}`);
  assert(gapMax <= TICKER_MS + GAP_SLACK_MS,
    `${label}: ${gapMax.toFixed(0)} ms between two billing events (ticker every ${TICKER_MS} ms) ${loadNote()}`);
  return { amounts, kinds, gapMax, inFlight, first: evs[0], last: prev, count: evs.length };
}

// ---- pages and calls ----

export async function openPage(ctx, label, server, token, username) {
  const c = await openClient(ctx.br, label);
  clients.push(c);
  await c.start(server, token);
  await c.register(username);
  return c;
}

// Closes the page and forgets it (no stop(): for a dead server, or one stopped already).
export async function closePage(c) {
  try { await c.page.close(); } catch { /* gone */ }
  const k = clients.indexOf(c);
  if (k >= 0) clients.splice(k, 1);
}

export async function closePages(list) {
  for (const c of list) {
    await c.stop();
    await closePage(c);
  }
}

// A new caller (names[0], STARTER credits) and host (names[1], `rates`), each registered
// from its own page (labels): the caller over WebSocket, the host over HTTP long-poll.
export async function newPair(ctx, { rates, names, labels }) {
  const { srv } = ctx;
  const caller = await newUser(srv, 'caller', names[0]);
  const host = await newUser(srv, 'host', names[1]);
  await setRates(srv, host, rates);
  const cc = await openPage(ctx, labels[0], srv.wsUrl, caller.token, caller.username);
  const hc = await openPage(ctx, labels[1], srv.httpUrl, host.token, host.username);
  return { caller, host, cc, hc };
}

// Caller party cp calls host (Chromium page hc) with tracks (AV by default); with firstMinute
// set, the caller's wallet while it rings holds that much (the first minute); the host
// accepts, both reach webrtcup and the first billing event arrives. Returns {callId, cMark,
// hMark (the parties' marks before the call), upC (the caller's webrtcup), firstAfterUpMs,
// callerToken, hostToken (the resume_token of `calling` and `incomingcall`), accepted (the
// caller's `accepted` event)}.
export async function connect(ctx, { cp: x, hc, caller, host, tracks, firstMinute, name }) {
  const { srv } = ctx;
  const cp = party(x);
  const hMark = await hc.mark();
  const cMark = await cp.mark();
  await cp.call(host.username, tracks);
  const calling = await cp.next(cMark, 10000);
  assert(calling.result && calling.result.event === 'calling', `${name}: call answered ${JSON.stringify(calling)}`);
  const callId = calling.result.call_id;
  assert(UUID_RE.test(String(callId)), `${name}: calling call_id ${JSON.stringify(callId)}`);
  const inc = await hc.waitEvent({ event: 'incomingcall' }, hMark);
  assert(inc.result.call_id === callId, `${name}: incomingcall call_id ${inc.result.call_id}, want ${callId}`);
  if (firstMinute !== undefined) {
    const w = await wallet(srv, caller);
    assert(w.held === firstMinute && w.available === STARTER - firstMinute,
      `${name}: wallet while ringing ${JSON.stringify(w)}, want ${firstMinute} held (the first minute) and ${STARTER - firstMinute} available`);
  }
  const aMark = await hc.accept(AV);
  const acc = await hc.waitEvent({ replyOrError: true }, aMark);
  assert(acc.result && acc.result.event === 'accepted', `${name}: accept answered ${JSON.stringify(acc)}`);
  const accepted = await waitFor(cp, isEvent('accepted'), cMark, 10000, 'accepted');
  const [upC] = await Promise.all([cp.up(15000), hc.webrtcUp(15000)]);
  const first = await waitFor(cp, isBilling(callId), cMark, 5000, `${name}: a billing event after webrtcup`);
  return { callId, cMark, hMark, upC, firstAfterUpMs: first.t - upC,
    callerToken: calling.result.resume_token, hostToken: inc.result.resume_token, accepted };
}

// newPair, then connect (o: newPair's and connect's options); returns {caller, host, cc, hc, k}.
export async function pairCall(ctx, o) {
  const p = await newPair(ctx, o);
  const k = await connect(ctx, { cp: p.cc, hc: p.hc, caller: p.caller, host: p.host, tracks: o.tracks, firstMinute: o.firstMinute, name: o.name });
  return { ...p, k };
}
