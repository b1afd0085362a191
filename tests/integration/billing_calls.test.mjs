#!/usr/bin/env node
// Per-minute billing of janus.plugin.videocall calls (the billing plugin) with real peers:
// janus.js in Chromium on both sides, an aiortc caller (lib/aiortcpeer.mjs) in scenario 3.
// The server runs with --billing.minute_ms=3000: a billed "minute" is 3 s, the low-balance
// warning comes 1500 ms before a minute the caller cannot pay, the cost ticker every 500 ms.
// Every scenario has its own caller (100 credits, the starter package bought by newUser) and
// its own host, whose rates are set with PATCH /api/v1/me. Each started minute is charged
// at its start at the rate of the call's kind then, and split per minute: the host gets
// floor(amount * (10000 - fee_bps) / 10000), the platform the rest (fee_bps from
// /admin/revenue, 2000 by default).
//  1. audio+video, video rate 13 (a split that rounds): hold of 13 while ringing; hung up
//     by the caller half-way through minute 4 -> 4 x 13 charged, host 4 x 10, fee 4 x 3.
//  2. audio-only offer at audio 7 / video 13, upgraded to video (`set` + offer) during
//     minute 2 -> minutes 7, 7, 13.
//  3. aiortc caller, rate 40: 100 credits pay 2 minutes; low_balance about 1500 ms before
//     minute 3, with the 1500 Hz warning tone in the audio the caller receives right after it
//     (its share of each frame's energy), then hangup `insufficient_balance` for both at ~6 s;
//     80 charged, wallet 20.
//  4. the same with a Chromium caller that buys another package after low_balance: the
//     next ticker events show the new balance, the call goes on into minute 3 (balance 80);
//     hung up there -> 120 charged, wallet 80.
//  5. host rates above the caller's 100 credits (video 150): `call` refused with error 502
//     reason insufficient_balance, needed 150, balance 100 (read from the raw WebSocket
//     message); neither of the host's two devices rings, nothing held. The same caller's
//     audio-only call (audio rate 30) rings both and holds 30; cancelled -> nothing held.
//  6. a caller on two devices calls two hosts at once: one call rings, the other gets 480
//     "Already in a call"; only the first minute of the ringing call is held.
// For every connected call, each cost ticker event of both parties is checked: elapsed_ms
// never goes back, minutes_charged = ceil(elapsed / minute) (a minute's own event may show
// it at elapsed (k-1) x minute, one shown just after a boundary may still be in flight),
// each minute appears once at its start with charged rising by the rate of its kind, the
// caller's balance + charged stays at what the wallet had (+100 per top-up), its
// affordable_ms matches balance / rate, the host's earned is the sum of its parts of the
// minutes and it sees no balance; consecutive events at most 500 + 500 ms apart. After each
// call: GET /calls/{id} totals (connected_ms, minutes_charged, charged, host_earned,
// platform_fee, end_reason), GET /wallet (held back to 0), GET /earnings (per call, per
// day), /admin/ledger/check ok; at the end /admin/revenue = the sum of the fees.
// Parley only. About 70 s.
import { aiortcAvailable, spawnAiortc } from './lib/aiortcpeer.mjs';
import { openBrowser } from './lib/browser.mjs';
import { api, loadNote, newUser, openClient, sleep, waitCall, withClients } from './lib/calls.mjs';
import {
  AV, GAP_SLACK_MS, MINUTE_MS, STARTER, TICKER_MS, aioParty, billingServerOpts, billings, checkRevenue, checkRow,
  checkTicker, checkWallets, clients, closePages, connect, freshRevenue, hangupBy, heldZero, isBilling, isEvent, ledgerOk,
  openPage, pageParty, pairCall, setRates, skipUnlessBilling, split, sum, waitFor, waitMinute, wallet,
} from './lib/billing.mjs';
import { assert, withServer } from './lib/server.mjs';

const LEAD_MS = (30000 * MINUTE_MS) / 60000;     // low-balance warning lead: 1500
const TIMING_SLACK_MS = 700;     // low_balance lead and end of a call that ran out of credits
const NO_RING_MS = 2000;

const AUDIO_ONLY = [{ type: 'audio', capture: true, recv: true }];
const ADD_VIDEO = [{ type: 'video', capture: true, recv: true, add: true }];

let buys = 0;
async function buy(srv, user) {
  buys += 1;
  const r = await api(srv, 'POST', '/purchases', { package_id: 'starter' }, user.token,
    { 'idempotency-key': `billing-topup-${process.pid}-${buys}` });
  assert(r.status === 201, `top-up purchase: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}

// The start of billable time on a party's clock: the earliest (arrival - elapsed_ms).
function meterStart(evs) { return Math.min(...evs.map((e) => e.t - e.elapsed_ms)); }

// ---- calls ----

// After a connected call: nothing billed after the hangup, the call row's totals, the
// wallet (hold released), the host's earnings, the ledger.
async function settled(ctx, { name, caller, host, callId, amounts, reason, connected, parties, available }) {
  const { srv, feeBps } = ctx;
  const charged = sum(amounts);
  const hostPart = sum(amounts, (a) => split(a, feeBps).host);
  const fee = charged - hostPart;
  await sleep(TICKER_MS + 300);
  for (const p of parties) {
    const evs = await p.all(0);
    const hi = evs.findIndex(isEvent('hangup'));
    const late = billings(evs.slice(hi + 1), callId).filter((e) => e.charged > charged || e.minutes_charged > amounts.length);
    assert(late.length === 0, `${name}: ${p.label} billed after the hangup: ${JSON.stringify(late)}`);
  }
  const row = await waitCall(srv, caller.token, callId, (c) => c.state === 'ended' && Number.isInteger(c.charged) &&
    Number.isInteger(c.minutes_charged) && Number.isInteger(c.host_earned), 8000);
  checkRow(name, callId, row, { minutes_charged: amounts.length, charged, host_earned: hostPart, platform_fee: fee, end_reason: reason });
  assert(Number.isInteger(row.connected_ms) && row.connected_ms >= connected[0] && row.connected_ms <= connected[1],
    `${name}: connected_ms ${row.connected_ms}, want ${connected[0]}..${connected[1]}`);
  const hostView = await waitCall(srv, host.token, callId, (c) => c.state === 'ended');
  assert(hostView.host_earned === hostPart && hostView.charged === charged,
    `${name}: the host's GET /calls/${callId}: ${JSON.stringify(hostView)}`);
  const r = await api(srv, 'GET', '/earnings', undefined, host.token);
  assert(r.status === 200, `${name}: GET /earnings ${r.status} ${JSON.stringify(r.json)}`);
  const e = r.json;
  assert(e.totals && e.totals.earned === hostPart && e.totals.balance === hostPart && e.totals.charges === amounts.length,
    `${name}: GET /earnings totals ${JSON.stringify(e.totals)}, want earned ${hostPart} in ${amounts.length} charges`);
  const pc = (e.per_call || []).find((x) => String(x.ref).includes(callId));
  assert(pc && pc.amount === hostPart && pc.charges === amounts.length, `${name}: GET /earnings per_call ${JSON.stringify(e.per_call)}`);
  assert(sum(e.per_day || [], (x) => x.amount) === hostPart, `${name}: GET /earnings per_day ${JSON.stringify(e.per_day)}`);
  await checkWallets(ctx, { name, caller, host, available, earned: hostPart, fee });
  return { row, charged, hostPart, fee };
}

async function tickers(ctx, name, cp, hc, callId, rates, { base = STARTER, topups = 0 } = {}) {
  const cEvs = billings(await cp.all(0), callId);
  const hEvs = billings(await pageParty(hc).all(0), callId);
  const c = checkTicker(`${name} ${cp.label}`, cEvs, { who: 'caller', rates, base, topups });
  const h = checkTicker(`${name} host`, hEvs, { who: 'host', rates, feeBps: ctx.feeBps });
  assert(JSON.stringify(c.amounts) === JSON.stringify(h.amounts),
    `${name}: the caller's ticker shows minutes ${JSON.stringify(c.amounts)}, the host's ${JSON.stringify(h.amounts)}`);
  return { c, h, cEvs, hEvs };
}

function fmtTick(t) {
  return `ticker caller ${t.c.count} events (max gap ${t.c.gapMax.toFixed(0)} ms), host ${t.h.count} (max gap ${t.h.gapMax.toFixed(0)} ms)` +
    `${t.c.inFlight + t.h.inFlight ? `, ${t.c.inFlight + t.h.inFlight} just past a boundary before its minute was charged` : ''}`;
}

// A caller and a host (rates) in a call (tracks) that reached its first billing event, as
// parties; the first minute is held while it rings.
async function meteredCall(ctx, { name, rates, names, labels, tracks, firstMinute }) {
  const p = await pairCall(ctx, { name, rates, names, labels, tracks, firstMinute });
  return { ...p, cp: pageParty(p.cc), hp: pageParty(p.hc) };
}

// ---- scenarios ----

async function minutesScenario(ctx) {
  const name = '1 (4 minutes of video)';
  const rates = { audio: 5, video: 13 };
  const { caller, host, cc, hc, cp, hp, k } = await meteredCall(ctx, { name, rates, names: ['Minutes caller', 'Minutes host'],
    labels: ['caller1', 'host1'], tracks: AV, firstMinute: rates.video });
  const m4 = await waitMinute(cp, k.callId, 4, k.cMark, 4 * MINUTE_MS + 5000);
  await sleep(MINUTE_MS / 2);
  const h = await hangupBy(cp, [hp], name);
  assert(h.theirs[0].result.call_id === k.callId, `${name}: host hangup ${JSON.stringify(h.theirs[0].result)}`);
  const t = await tickers(ctx, name, cp, hc, k.callId, rates);
  assert(JSON.stringify(t.c.amounts) === JSON.stringify([13, 13, 13, 13]), `${name}: minutes charged ${JSON.stringify(t.c.amounts)}, want 4 x 13`);
  const hangAt = h.mine.t - meterStart(t.cEvs);
  const s = await settled(ctx, { name, caller, host, callId: k.callId, amounts: t.c.amounts, reason: 'hangup',
    connected: [3 * MINUTE_MS, 4 * MINUTE_MS], parties: [cp, hp], available: STARTER - 52 });
  console.log(`${name}: charged ${s.charged} = 4 x 13 (host ${s.hostPart}, fee ${s.fee}), connected ${s.row.connected_ms} ms ` +
    `(hangup ${hangAt.toFixed(0)} ms after the meter started, minute 4 shown at ${m4.result.elapsed_ms} ms); ` +
    `first billing ${k.firstAfterUpMs.toFixed(0)} ms after webrtcup`);
  console.log(`  ${fmtTick(t)}`);
  await closePages([cc, hc]);
}

async function upgradeScenario(ctx) {
  const name = '2 (audio upgraded to video in minute 2)';
  const rates = { audio: 7, video: 13 };
  const { caller, host, cc, hc, cp, hp, k } = await meteredCall(ctx, { name, rates, names: ['Upgrade caller', 'Upgrade host'],
    labels: ['caller2', 'host2'], tracks: AUDIO_ONLY, firstMinute: rates.audio });
  const m2 = await waitMinute(cp, k.callId, 2, k.cMark, 2 * MINUTE_MS + 5000);
  assert(m2.result.kind === 'audio', `${name}: minute 2 event ${JSON.stringify(m2.result)}`);
  const oMark = await hc.mark();
  const uMark = await cc.renegotiate(ADD_VIDEO);
  const setR = await cc.waitEvent({ replyOrError: true }, uMark);
  assert(setR.result && setR.result.event === 'set', `${name}: set + offer answered ${JSON.stringify(setR)}`);
  const upd = await hc.waitEvent({ event: 'update' }, oMark);
  assert(upd.jsep && upd.jsep.type === 'offer' && upd.jsep.kinds.includes('video'), `${name}: update to the host ${JSON.stringify(upd)}`);
  const back = await cc.waitEvent({ event: 'update' }, uMark);
  assert(back.jsep && back.jsep.type === 'answer' && back.jsep.kinds.includes('video'), `${name}: update back ${JSON.stringify(back)}`);
  const v = await waitFor(cp, isBilling(k.callId, (r) => r.kind === 'video'), uMark, MINUTE_MS + 2000, 'a billing event of kind video');
  assert(v.result.minutes_charged === 2,
    `${name}: the first video ticker event shows minute ${v.result.minutes_charged} (upgrade ${(back.t - m2.t).toFixed(0)} ms after minute 2 began): the upgrade must land in minute 2`);
  const m3 = await waitMinute(cp, k.callId, 3, uMark, 2 * MINUTE_MS + 3000);
  await sleep(MINUTE_MS / 3);
  await hangupBy(cp, [hp], name);
  const t = await tickers(ctx, name, cp, hc, k.callId, rates);
  assert(JSON.stringify(t.c.amounts) === JSON.stringify([7, 7, 13]) && JSON.stringify(t.c.kinds) === '["audio","audio","video"]',
    `${name}: minutes ${JSON.stringify(t.c.amounts)} of kinds ${JSON.stringify(t.c.kinds)}, want 7, 7 (audio), 13 (video)`);
  const s = await settled(ctx, { name, caller, host, callId: k.callId, amounts: t.c.amounts, reason: 'hangup',
    connected: [2 * MINUTE_MS, 3 * MINUTE_MS], parties: [cp, hp], available: STARTER - 27 });
  assert(s.row.kind === 'video', `${name}: call row kind ${s.row.kind}, want video`);
  console.log(`${name}: minutes ${t.c.amounts.join(' + ')} = ${s.charged} (host ${s.hostPart}, fee ${s.fee}); upgrade done ${(back.t - m2.t).toFixed(0)} ms into minute 2, ` +
    `first video tick at elapsed ${v.result.elapsed_ms} ms, minute 3 at ${m3.result.elapsed_ms} ms; ${fmtTick(t)}`);
  await closePages([cc, hc]);
}

// Scenario 3 (aiortc caller when available, no top-up) and 4 (Chromium caller, top-up).
async function lowBalanceScenario(ctx, { topUp }) {
  const name = topUp ? '4 (top-up after low_balance)' : `3 (low balance, ${ctx.aiortc ? 'aiortc' : 'Chromium'} caller)`;
  const { srv } = ctx;
  const rates = { audio: 40, video: 40 };
  const caller = await newUser(srv, 'caller', topUp ? 'Top-up caller' : 'Low caller');
  const host = await newUser(srv, 'host', topUp ? 'Top-up host' : 'Low host');
  await setRates(srv, host, rates);
  const hc = await openPage(ctx, `host${topUp ? 4 : 3}`, srv.wsUrl, host.token, host.username);
  const hp = pageParty(hc);
  let cp;
  let aio = null;
  const pages = [hc];
  if (!topUp && ctx.aiortc) {
    aio = spawnAiortc('aiortc caller');
    ctx.aio = aio;
    await aio.cmd('start', { server: srv.httpUrl, token: caller.token, label: 'caller', tone_hz: 440, size: [320, 240], strip_audio_level: false });
    await aio.cmd('register', { username: caller.username });
    cp = aioParty(aio, 'aiortc caller');
  } else {
    const cc = await openPage(ctx, `caller${topUp ? 4 : 3}`, srv.httpUrl, caller.token, caller.username);
    pages.push(cc);
    cp = pageParty(cc);
  }
  const k = await connect(ctx, { cp, hc, caller, host, tracks: AV, firstMinute: rates.video, name });
  const low = await waitFor(cp, isEvent('low_balance'), k.cMark, 2 * MINUTE_MS + 3000, 'low_balance');
  assert(low.result.call_id === k.callId, `${name}: low_balance ${JSON.stringify(low.result)}`);
  // needed: what the next minute costs, or what is missing for it (balance 20 of 40).
  assert(low.result.needed === 40 || low.result.needed === 20, `${name}: low_balance needed ${low.result.needed}, want 40 (the minute) or 20 (missing)`);
  assert(Math.abs(low.result.ends_in_ms - LEAD_MS) <= TIMING_SLACK_MS, `${name}: low_balance ends_in_ms ${low.result.ends_in_ms}, want about ${LEAD_MS}`);
  let end;
  let topUpMs = null;
  let shownMs = null;
  if (topUp) {
    const t0 = Date.now();
    await buy(srv, caller);
    topUpMs = Date.now() - t0;
    const pMark = await cp.mark();
    const shown = await waitFor(cp, isBilling(k.callId, (r) => r.balance + r.charged === 2 * STARTER), pMark,
      2 * TICKER_MS + GAP_SLACK_MS, 'a ticker event with the top-up in its balance');
    shownMs = shown.t - low.t;
    const m3 = await waitMinute(cp, k.callId, 3, low.i + 1, LEAD_MS + 3000, 'minute 3 after the top-up');
    assert(m3.result.balance === 200 - 120, `${name}: balance after minute 3 ${m3.result.balance}, want 80 (100 + 100 - 3 x 40)`);
    await sleep(MINUTE_MS / 6);
    end = await hangupBy(cp, [hp], name);
  } else {
    end = { mine: await waitFor(cp, isEvent('hangup'), low.i + 1, LEAD_MS + 3000, 'hangup insufficient_balance') };
    end.theirs = [await waitFor(hp, isEvent('hangup'), k.hMark, 5000, 'hangup insufficient_balance')];
    for (const [who, e] of [['caller', end.mine], ['host', end.theirs[0]]]) {
      assert(e.result.reason === 'insufficient_balance' && e.result.call_id === k.callId,
        `${name}: the ${who}'s hangup ${JSON.stringify(e.result)}, want reason insufficient_balance`);
    }
  }
  let toneNote = '';
  if (aio) {
    // The warning tone (1500 Hz) mixed by the server into the host's audio the caller hears.
    const series = await aio.cmd('tone_power', { hz: 1500 });
    const lowS = low.t / 1000;
    const during = series.filter(([t]) => t >= lowS && t <= lowS + 1.5).map(([, p]) => p);
    const before = series.filter(([t]) => t >= lowS - 3 && t < lowS - 0.2).map(([, p]) => p);
    const maxDuring = Math.max(0, ...during);
    const maxBefore = Math.max(0, ...before);
    assert(during.length >= 20 && maxDuring > 0.2 && maxDuring > 5 * maxBefore,
      `${name}: no low-balance tone in the caller's audio: 1500 Hz share max ${maxDuring.toFixed(3)} over ${during.length} frames after low_balance, ${maxBefore.toFixed(3)} over ${before.length} before`);
    const loud = during.filter((p) => p > 0.2).length;
    toneNote = `tone: 1500 Hz is up to ${(100 * maxDuring).toFixed(0)} % of the caller's received audio energy in ${loud} of ${during.length} frames after low_balance (at most ${(100 * maxBefore).toFixed(1)} % before)`;
  }
  const lows = (await cp.all(k.cMark)).filter(isEvent('low_balance'));
  assert(lows.length === 1, `${name}: ${lows.length} low_balance events: ${JSON.stringify(lows.map((e) => e.result))}`);
  const t = await tickers(ctx, name, cp, hc, k.callId, rates, { topups: topUp ? 1 : 0 });
  const want = topUp ? [40, 40, 40] : [40, 40];
  assert(JSON.stringify(t.c.amounts) === JSON.stringify(want), `${name}: minutes ${JSON.stringify(t.c.amounts)}, want ${JSON.stringify(want)}`);
  const start = meterStart(t.cEvs);
  const lowAt = low.t - start;
  const endAt = end.mine.t - start;
  if (!topUp) {
    const lead = end.mine.t - low.t;
    assert(Math.abs(lowAt - (2 * MINUTE_MS - LEAD_MS)) <= TIMING_SLACK_MS,
      `${name}: low_balance ${lowAt.toFixed(0)} ms after the meter started, want about ${2 * MINUTE_MS - LEAD_MS} ${loadNote()}`);
    assert(Math.abs(lead - LEAD_MS) <= TIMING_SLACK_MS, `${name}: low_balance came ${lead.toFixed(0)} ms before the hangup, want about ${LEAD_MS} ${loadNote()}`);
    assert(Math.abs(endAt - 2 * MINUTE_MS) <= TIMING_SLACK_MS, `${name}: hangup ${endAt.toFixed(0)} ms after the meter started, want about ${2 * MINUTE_MS} ${loadNote()}`);
  }
  const s = await settled(ctx, { name, caller, host, callId: k.callId, amounts: t.c.amounts,
    reason: topUp ? 'hangup' : 'insufficient_balance',
    connected: topUp ? [2 * MINUTE_MS, 3 * MINUTE_MS] : [2 * MINUTE_MS - TIMING_SLACK_MS, 2 * MINUTE_MS + TIMING_SLACK_MS],
    parties: [cp, hp], available: topUp ? 2 * STARTER - 120 : STARTER - 80 });
  if (topUp) {
    console.log(`${name}: low_balance at ${lowAt.toFixed(0)} ms (ends_in_ms ${low.result.ends_in_ms}, needed ${low.result.needed}), ` +
      `purchase took ${topUpMs} ms, ticker showed it ${shownMs.toFixed(0)} ms after low_balance, minute 3 charged, hung up at ${endAt.toFixed(0)} ms; charged ${s.charged}, wallet ${STARTER * 2 - s.charged}; ${fmtTick(t)}`);
  } else {
    console.log(`${name}: low_balance at ${lowAt.toFixed(0)} ms (want ${2 * MINUTE_MS - LEAD_MS}; ends_in_ms ${low.result.ends_in_ms}, needed ${low.result.needed}), ` +
      `measured lead ${(end.mine.t - low.t).toFixed(0)} ms (want ${LEAD_MS}), hangup insufficient_balance at ${endAt.toFixed(0)} ms ` +
      `(want ${2 * MINUTE_MS}, connected_ms ${s.row.connected_ms}); charged ${s.charged}, wallet ${STARTER - s.charged}`);
    console.log(`  ${fmtTick(t)}`);
    if (toneNote) console.log(`  ${toneNote}`);
  }
  if (aio) {
    await aio.close();
    ctx.aio = null;
  }
  await closePages(pages);
}

// Records every JSON message the page's WebSocket receives (window.rawIn): call.js keeps
// only result / error_code / error of plugin events, the refusal's other fields are read here.
async function tapWebSocket(c) {
  await c.page.evaluate(() => {
    window.rawIn = [];
    const Orig = window.WebSocket;
    window.WebSocket = class extends Orig {
      constructor(...args) {
        super(...args);
        this.addEventListener('message', (ev) => { try { window.rawIn.push(JSON.parse(ev.data)); } catch { /* not JSON */ } });
      }
    };
  });
}

async function noRing(devs, marks, what) {
  await sleep(NO_RING_MS);
  for (let k = 0; k < devs.length; k++) {
    const evs = (await devs[k].state()).events.filter((e) => e.i >= marks[k] && e.result && e.result.event === 'incomingcall');
    assert(evs.length === 0, `${what}: ${devs[k].label} rang: ${JSON.stringify(evs)}`);
  }
}

// After a call cancelled while ringing: its row ended, the caller's hold released (nothing
// charged), the ledger ok. Returns the row.
async function cancelled(ctx, name, caller, callId) {
  const { srv } = ctx;
  const row = await waitCall(srv, caller.token, callId, (c) => c.state === 'ended' && Number.isInteger(c.charged));
  const w = await heldZero(srv, caller, 3000);
  assert(w.held === 0 && w.available === STARTER, `${name}: wallet after the cancelled call ${JSON.stringify(w)}`);
  await ledgerOk(srv, name);
  return row;
}

async function refusedScenario(ctx) {
  const name = '5 (pre-authorisation refused)';
  const { srv } = ctx;
  const rates = { audio: 30, video: 150 };
  const caller = await newUser(srv, 'caller', 'Poor caller');
  const host = await newUser(srv, 'host', 'Dear host', ['a', 'b']);
  await setRates(srv, host, rates);
  const cc = await openClient(ctx.br, 'caller5');
  clients.push(cc);
  await tapWebSocket(cc);
  await cc.start(srv.wsUrl, caller.token);
  await cc.register(caller.username);
  const ha = await openPage(ctx, 'host5/a', srv.wsUrl, host.tokens.a, host.username);
  const hb = await openPage(ctx, 'host5/b', srv.httpUrl, host.tokens.b, host.username);
  const devs = [ha, hb];
  let marks = await Promise.all(devs.map((d) => d.mark()));
  let s = await cc.call(host.username, AV);
  const r = await cc.waitEvent({ replyOrError: true }, s);
  assert(r.error_code === 502, `${name}: call with video at ${rates.video} and ${STARTER} credits answered ${JSON.stringify(r)}, want error 502`);
  const raw = (await cc.page.evaluate(() => window.rawIn)).map((m) => m.plugindata && m.plugindata.data)
    .find((d) => d && d.error_code === 502);
  assert(raw, `${name}: no error 502 among the WebSocket messages`);
  assert(raw.videocall === 'event' && typeof raw.error === 'string' && raw.reason === 'insufficient_balance' &&
    raw.needed === rates.video && raw.balance === STARTER,
    `${name}: refusal ${JSON.stringify(raw)}, want reason insufficient_balance, needed ${rates.video}, balance ${STARTER}`);
  await noRing(devs, marks, name);
  let w = await wallet(srv, caller);
  assert(w.held === 0 && w.available === STARTER, `${name}: wallet after the refusal ${JSON.stringify(w)}`);
  // The local PeerConnection of the refused offer goes (the server's reply to this hangup does not matter).
  await cc.hangup();
  await sleep(300);
  // Audio only at 30: affordable.
  marks = await Promise.all(devs.map((d) => d.mark()));
  s = await cc.call(host.username, AUDIO_ONLY);
  const calling = await cc.waitEvent({ event: 'calling' }, s);
  const callId = calling.result.call_id;
  const incs = await Promise.all(devs.map((d, k) => d.waitEvent({ event: 'incomingcall' }, marks[k], 5000)));
  for (const inc of incs) assert(inc.result.call_id === callId, `${name}: incomingcall ${JSON.stringify(inc.result)}`);
  w = await wallet(srv, caller);
  assert(w.held === rates.audio && w.available === STARTER - rates.audio, `${name}: wallet while the audio call rings ${JSON.stringify(w)}, want ${rates.audio} held`);
  await hangupBy(cc, devs, name);
  const row = await cancelled(ctx, name, caller, callId);
  assert(row.state === 'ended' && row.charged === 0 && row.minutes_charged === 0, `${name}: cancelled call row ${JSON.stringify(row)}`);
  console.log(`${name}: error 502 "${raw.error}" needed ${raw.needed} balance ${raw.balance}, no device rang in ${NO_RING_MS} ms, ` +
    `nothing held; the audio-only call rang both devices with ${rates.audio} held, cancelled: end_reason ${row.end_reason}, 0 held`);
  await closePages([cc, ...devs]);
}

async function twoDevicesScenario(ctx) {
  const name = '6 (one caller, two devices, two hosts)';
  const { srv } = ctx;
  const caller = await newUser(srv, 'caller', 'Two-device caller', ['a', 'b']);
  const hosts = [await newUser(srv, 'host', 'First host'), await newUser(srv, 'host', 'Second host')];
  const rates = [{ audio: 3, video: 11 }, { audio: 3, video: 17 }];
  await setRates(srv, hosts[0], rates[0]);
  await setRates(srv, hosts[1], rates[1]);
  const cs = [await openPage(ctx, 'caller6/a', srv.wsUrl, caller.tokens.a, caller.username),
    await openPage(ctx, 'caller6/b', srv.httpUrl, caller.tokens.b, caller.username)];
  const hs = [await openPage(ctx, 'host6-1', srv.wsUrl, hosts[0].token, hosts[0].username),
    await openPage(ctx, 'host6-2', srv.httpUrl, hosts[1].token, hosts[1].username)];
  const hMarks = await Promise.all(hs.map((h) => h.mark()));
  const cMarks = await Promise.all([cs[0].call(hosts[0].username, AV), cs[1].call(hosts[1].username, AV)]);
  const replies = await Promise.all(cs.map((c, k) => c.waitEvent({ replyOrError: true }, cMarks[k])));
  const win = replies.findIndex((r) => r.result && r.result.event === 'calling');
  const lose = 1 - win;
  assert(win >= 0 && replies[lose].error_code === 480 && /already in a call/i.test(String(replies[lose].error)),
    `${name}: replies ${JSON.stringify(replies)}, want one calling and one error 480 "Already in a call"`);
  const callId = replies[win].result.call_id;
  const inc = await hs[win].waitEvent({ event: 'incomingcall' }, hMarks[win], 5000);
  assert(inc.result.call_id === callId, `${name}: incomingcall ${JSON.stringify(inc.result)}`);
  await noRing([hs[lose]], [hMarks[lose]], name);
  const w = await wallet(srv, caller);
  assert(w.held === rates[win].video && w.available === STARTER - rates[win].video,
    `${name}: wallet while one call rings ${JSON.stringify(w)}, want only its first minute (${rates[win].video}) held`);
  const held = w.held;
  await hangupBy(cs[win], [hs[win]], name);
  await cancelled(ctx, name, caller, callId);
  console.log(`${name}: device ${win ? 'b' : 'a'} rang host ${win + 1} (${held} held), device ${lose ? 'b' : 'a'} got 480 "${replies[lose].error}"; cancelled, 0 held`);
  await closePages([...cs, ...hs]);
}

await withServer(billingServerOpts(36), async (srv) => {
  skipUnlessBilling();
  const aioWhy = aiortcAvailable();
  const rev0 = await freshRevenue(srv);
  assert(rev0.platform_fee_bps === 2000, `/admin/revenue at start ${JSON.stringify(rev0)}`);
  const br = await openBrowser();
  const ctx = { srv, br, feeBps: rev0.platform_fee_bps, fees: 0, aiortc: !aioWhy, aio: null };
  if (aioWhy) console.log(`(no aiortc: ${aioWhy}; scenario 3 uses a Chromium caller)`);
  try {
    await withClients(clients, async () => {
      try {
        await minutesScenario(ctx);
        await upgradeScenario(ctx);
        await lowBalanceScenario(ctx, { topUp: false });
        await lowBalanceScenario(ctx, { topUp: true });
        await refusedScenario(ctx);
        await twoDevicesScenario(ctx);
      } catch (e) {
        if (ctx.aio) {
          console.error(`--- aiortc caller log (last 30 lines):\n${ctx.aio.stderrTail(30)}`);
          try { console.error(`aiortc caller events: ${JSON.stringify(await ctx.aio.cmd('events', {}, 3000))}`); } catch { /* gone */ }
        }
        throw e;
      }
    });
  } finally {
    if (ctx.aio) await ctx.aio.close();
    await br.close();
  }
  const rev = await checkRevenue(srv, ctx.fees, 'the calls');
  const c = await ledgerOk(srv, 'all calls');
  console.log(`platform revenue ${rev.platform_revenue} = the fees of the 4 metered calls; ledger check ok (${c.ops_count} operations, ${c.transfers_count} transfers)`);
});
