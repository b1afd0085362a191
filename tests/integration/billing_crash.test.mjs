#!/usr/bin/env node
// Crash recovery of metered calls: the server is killed with SIGKILL in the middle of calls
// and restarted on the same data directory and ports (lib/server.mjs startServer `dir`).
// Calls whose meter ran (both legs' media had been up) wait billing.recovery_grace_s for
// their parties: each party's new client (a new page, new Janus session, the same access
// JWT) registers and sends {"request":"resume","call_id","resume_token"} with a fresh offer;
// the server answers it in `resumed` (active false), and once both are back both get
// `resumed` active true, media is relayed again and the meter goes on from the minutes the
// ledger has. --billing.minute_ms=3000 (ticker every 500 ms); a fresh caller (100 credits)
// and host (rates by PATCH /me) per scenario.
//  A. Both resume (grace 10 s): an audio+video call at video rate 7 (Chromium caller over
//     WebSocket, host over HTTP) is killed at a random moment of its minute 2 or later; after
//     the restart the caller resumes first (its PeerConnection comes up alone), then the
//     host: `resumed` active true on both with the same call_id, webrtcup, frames decoded
//     and audio/video rising every second both ways; every ticker event before and after
//     the kill has charged = minutes_charged x 7 (no minute charged twice, none free) and
//     minutes_charged = ceil(elapsed / minute); across the kill the minutes go on from the
//     count before it, elapsed_ms goes on from what was persisted (back by one ticker at
//     most, the downtime not counted). One more minute starts, the caller hangs up:
//     GET /calls/{id} totals (end_reason hangup, charged = minutes x 7, host 5 / fee 2 per
//     minute, connected_ms inside the last minute), wallet held 0, earnings, ledger check.
//  B. Refusals on the same restarted server before A's parties resume: 504 "No call to
//     resume (<id>)" for an unknown call id, 505 "Wrong resume token" for a made-up token,
//     for the host's token sent by the caller and the caller's by the host, 482 for the
//     right token without SDP, 473 from a session that did not register. The first three
//     come from the pages that resume afterwards, without SDP (the token is checked first;
//     a refused offer would already set up the handle's PeerConnection in the core, as in
//     Janus), the others with real Chromium offers from other sessions of the same users.
//  C. One side resumes (grace 6 s): killed mid-call (rate 11), only the caller comes back:
//     its PeerConnection comes up, no ticker runs; at the end of the grace it gets hangup
//     peer_gone; the row ends peer_gone and is settled with what was charged before the
//     kill (the last ticker's figure, or one more minute when its boundary was committed
//     in the instant before the kill), nothing held, host earnings = the row, ledger ok.
//  D0. Deterministic kill points (grace 6 s): one call ringing, one accepted whose media
//     never came up (a node-side host whose answer's PeerConnection is closed): at the
//     restart, before the grace ends, their holds are released, their rows end with
//     server_restart, and `resume` (wrong token) answers 504 for both: they are not
//     recovering calls.
//  D1-D4. Random kills (grace 3 s, nobody resumes): a fresh pair calls (the host accepts
//     after 800 ms) and the server is killed at a uniformly random point 0-7 s after `call`
//     (ringing, accepting, connecting or metered); after the grace: every call row of the
//     caller ended (server_restart) and settled, charged = minutes_charged x rate, no minute
//     charged after the kill (minutes_charged <= billable time at the kill / minute + 1),
//     caller held 0 and available = 100 - charged, host earnings = the row, ledger check
//     ok; a resume probe answers 505 while a metered call is recovering, 504 for a call that
//     was only ringing.
// At the end /admin/revenue = the sum of the fees of the rows; the last server stops on
// SIGTERM with exit code 0 and no server log (killed ones included) has sanitizer reports.
// Each scenario has its own users and restart: a failed one is reported and the next runs.
// Prints the kill points, restart and resume times, minutes and charges. Parley only;
// about 80 s.
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { openBrowser } from './lib/browser.mjs';
import { firstFrames, flowing, fmtFlow, getCall, listCalls, newUser, sleep, waitCall, withClients } from './lib/calls.mjs';
import {
  AV, CHARGE_LAG_MS, MINUTE_MS, STARTER, TICKER_MS, billingServerOpts, billings, checkRevenue, checkRow, checkTicker,
  checkWallets, clients, closePage, closePages, freshRevenue, hangupBy, heldZero, isBilling, isEvent, ledgerOk,
  newPair, openPage, pairCall, setRates, skipUnlessBilling, split, waitFor, waitMinute, wallet,
} from './lib/billing.mjs';
import { rawDevice, sdpOffer } from './lib/vcraw.mjs';
import { assert, startServer, target } from './lib/server.mjs';

const INDEX = 37;
const KILL_SLACK_MS = 200;       // page clock read after the kill vs the server's own clock
const GRACE_RESUME_S = 10;       // A/B
const GRACE_ALONE_S = 6;         // C
const GRACE_STATES_S = 6;        // D0
const GRACE_KILL_S = 3;          // D1-D4
const KILL_LOOPS = 4;
const KILL_SPAN_MS = 7000;
const RING_MS = 800;
const RELEASE_MS = 2000;         // a hold with no live meter is released this soon after the restart

const raws = new Set();          // node-side sessions of D0 (dropped when it fails)

function serverOpts(graceS) {
  return billingServerOpts(INDEX, [`--billing.recovery_grace_s=${graceS}`]);
}

function rnd(lo, hi) { return lo + Math.random() * (hi - lo); }

// ---- the server: killed and restarted on its directory; the last one stops cleanly ----

async function crash(ctx, pages) {
  const srv = ctx.srv;
  assert(!srv.exited(), `the server died before the kill: ${JSON.stringify(srv.exited())}`);
  srv.child.kill('SIGKILL');
  for (let i = 0; i < 250 && !srv.exited(); i++) await sleep(20);
  assert(srv.exited() && srv.exited().sig === 'SIGKILL', `kill -9: the server ended ${JSON.stringify(srv.exited())}`);
  // Read after the process is gone: upper bounds of the moment of the kill on each page clock.
  return Promise.all(pages.map((c) => c.clock()));
}

async function restart(ctx, graceS) {
  const t0 = Date.now();
  const srv = await startServer({ ...serverOpts(graceS), dir: ctx.dir });
  ctx.srv = srv;
  ctx.servers.push(srv);
  return { readyAt: Date.now(), startMs: Date.now() - t0 };
}

// ---- pages ----

// Pages of a dead server: their events are kept, the pages closed (no stop(): nobody answers).
async function dropPages(list) {
  const events = [];
  for (const c of list) {
    let evs = [];
    try { evs = (await c.state()).events; } catch { /* gone */ }
    events.push(evs);
    await closePage(c);
  }
  return events;
}

const isResumed = (active) => (e) => !!(e.result && e.result.event === 'resumed' && e.result.active === active);

// Sends a plugin request from a page and returns its reply (or error).
async function ask(c, sent) {
  const since = await sent;
  return c.waitEvent({ replyOrError: true }, since, 10000);
}

// ---- the cost ticker ----

// Checks one party's ticker events of one call on one server run (lib/billing.mjs
// checkTicker, a segment: the first event may be in the middle of the call). The call is
// video all along at o.rate: every event has charged = minutes_charged x rate (no minute
// charged twice, none free), minutes_charged = ceil(elapsed / minute), elapsed never goes
// back, each minute appears at its start; the caller's balance + charged stays at o.base,
// its affordable_ms matches; the host's earned is its part of every minute and it sees no
// balance.
function checkSegment(label, evs, o) {
  return checkTicker(label, evs, { ...o, rates: { video: o.rate }, segment: true });
}

// The billable time at the kill, at most: the last ticker's elapsed plus the time from its
// arrival to the kill (both on the party's page clock).
function elapsedAtKill(seg, killT) { return seg.last.elapsed_ms + (killT - seg.last.t); }

// Across the kill: the minutes go on from the count before it (one more when a boundary's
// charge was committed before the kill was seen), the billable time from what was persisted
// (back by one ticker at most, the progress is saved with each), the downtime not counted.
function checkAcross(label, pre, post, killT) {
  const a = pre.last;
  const b = post.first;
  const where = `${label}: first ticker after the resume ${JSON.stringify(b)}, last before the kill ${JSON.stringify(a)}`;
  assert(b.minutes_charged === a.minutes_charged || b.minutes_charged === a.minutes_charged + 1,
    `${where}: minutes_charged must go on from ${a.minutes_charged}`);
  assert(b.elapsed_ms >= a.elapsed_ms - TICKER_MS - 50, `${where}: elapsed_ms went back more than one ticker`);
  const atKill = elapsedAtKill(pre, killT);
  assert(b.elapsed_ms <= atKill + CHARGE_LAG_MS,
    `${where}: elapsed_ms ${b.elapsed_ms} > ${atKill.toFixed(0)} at the kill: the downtime was billed`);
  return { back: a.elapsed_ms - b.elapsed_ms, atKill };
}

// ---- a call between two Chromium pages ----

// A fresh caller and host (rates) in a call between two Chromium pages (lib/billing.mjs
// pairCall) that reached its first billing event; each party got its own resume token
// (the caller's in `calling` and `accepted`, the host's in `incomingcall`).
async function resumableCall(ctx, { name, rates, names, labels }) {
  const p = await pairCall(ctx, { name, rates, names, labels, tracks: AV });
  const { callerToken, hostToken, accepted } = p.k;
  for (const [who, tok] of [['caller (calling)', callerToken], ['host (incomingcall)', hostToken]]) {
    assert(typeof tok === 'string' && tok.length >= 16, `${name}: the ${who} resume_token ${JSON.stringify(tok)}`);
  }
  assert(accepted.result.resume_token === callerToken,
    `${name}: accepted resume_token ${JSON.stringify(accepted.result.resume_token)}, calling said ${callerToken}`);
  assert(callerToken !== hostToken, `${name}: both parties got the resume token ${callerToken}`);
  return p;
}

// After a call ended: the row's totals, the wallets, the host's earnings, the ledger.
async function settledRow(ctx, { name, caller, host, callId, reason, rate }) {
  const { srv } = ctx;
  const row = await waitCall(srv, caller.token, callId, (c) => c.state === 'ended' && c.billing_settled === true, 8000);
  assert(row.state === 'ended' && row.billing_settled === true, `${name}: GET /calls/${callId} not ended and settled: ${JSON.stringify(row)}`);
  const part = split(rate, ctx.feeBps);
  const m = row.minutes_charged;
  // A call never accepted has no meter: no rates, nothing charged.
  const want = { end_reason: reason, video_rate: row.video_rate === null && m === 0 ? null : rate, charged: m * rate,
    host_earned: m * part.host, platform_fee: m * part.fee };
  checkRow(name, callId, row, want);
  await checkWallets(ctx, { name, caller, host, available: STARTER - row.charged, earned: row.host_earned, fee: row.platform_fee });
  return row;
}

// ---- A + B ----

// B: refusals after the restart, before the parties resume. From the pages that resume
// afterwards (same session and handle) without a JSEP: the token is checked before the SDP;
// a refused offer would still set up the handle's PeerConnection in the core, as in Janus,
// so a client that got one tears its PeerConnection down (Janus `hangup`) before the next.
// With real offers (Chromium SDP) from other sessions of the same users.
async function refusals(ctx, { cc, hc, caller, host, callId, callerToken, hostToken }) {
  const out = [];
  const check = (what, r, code, text) => {
    assert(r && r.error_code === code && (!text || text.test(String(r.error))),
      `B: ${what}: ${JSON.stringify(r)}, want error ${code}${text ? ` ${text}` : ''}`);
    out.push(`${code} ${what}`);
  };
  const unknown = randomUUID();
  const madeUp = `${callerToken.slice(0, -4)}${callerToken.endsWith('0000') ? '1111' : '0000'}`;
  check('unknown call id', await ask(hc, hc.resume(unknown, hostToken, { offer: 'none' })), 504,
    new RegExp(`^No call to resume \\(${unknown}\\)$`));
  check('made-up token', await ask(cc, cc.resume(callId, madeUp, { offer: 'none' })), 505, /^Wrong resume token$/);
  check('right token, no SDP', await ask(cc, cc.resume(callId, callerToken, { offer: 'none' })), 482, /^Missing SDP$/);
  const offer = await sdpOffer(cc.page);
  const asks = [
    ["the host's token sent by the caller (offer)", caller, caller.username, hostToken, 505, /^Wrong resume token$/],
    ["the caller's token sent by the host (offer)", host, host.username, callerToken, 505, /^Wrong resume token$/],
    ['right token before register (offer)', caller, null, callerToken, 473, /^Register a username first$/],
  ];
  for (const [what, user, username, token, code, text] of asks) {
    const raw = await rawDevice(ctx.srv, { token: user.token, label: `B ${what}`, username });
    try {
      const r = await raw.handle.message({ request: 'resume', call_id: callId, resume_token: token }, offer);
      check(what, r && r.data, code, text);
    } finally {
      await raw.session.close();
    }
  }
  return out;
}

async function bothResume(ctx) {
  const name = 'A (both resume)';
  const rates = { audio: 3, video: 7 };
  const { caller, host, cc, hc, k } = await resumableCall(ctx, { name, rates, names: ['Resume caller', 'Resume host'],
    labels: ['A caller', 'A host'] });
  const m2 = await waitMinute(cc, k.callId, 2, k.cMark, 2 * MINUTE_MS + 5000);
  const delay = rnd(0, MINUTE_MS);
  await sleep(delay);
  const [killC, killH] = await crash(ctx, [cc, hc]);
  const [oldC, oldH] = await dropPages([cc, hc]);
  const preC = checkSegment(`${name} caller before the kill`, billings(oldC, k.callId), { who: 'caller', rate: rates.video, base: STARTER });
  const preH = checkSegment(`${name} host before the kill`, billings(oldH, k.callId), { who: 'host', rate: rates.video, feeBps: ctx.feeBps });
  const killElapsed = elapsedAtKill(preC, killC);

  const rs = await restart(ctx, GRACE_RESUME_S);
  const cc2 = await openPage(ctx, 'A caller (new)', ctx.srv.wsUrl, caller.token, caller.username);
  const hc2 = await openPage(ctx, 'A host (new)', ctx.srv.httpUrl, host.token, host.username);
  const refused = await refusals(ctx, { cc: cc2, hc: hc2, caller, host, ...k });
  console.log(`B (refusals on the restarted server, before A's resume): ${refused.join(', ')}`);

  // The caller first: the server answers its offer, its PeerConnection comes up alone.
  const tC = Date.now();
  const r1 = await ask(cc2, cc2.resume(k.callId, k.callerToken));
  assert(r1.result && r1.result.event === 'resumed' && r1.result.active === false && r1.result.call_id === k.callId &&
    r1.result.username === host.username && r1.jsep && r1.jsep.type === 'answer',
  `${name}: the caller's resume answered ${JSON.stringify(r1)}, want resumed active false (username ${host.username}) with an answer`);
  await cc2.webrtcUp(10000);
  const aloneUpMs = Date.now() - tC;
  const tH = Date.now();
  const r2 = await ask(hc2, hc2.resume(k.callId, k.hostToken));
  if (!(r2.result && r2.result.event === 'resumed' && r2.result.active === false && r2.result.call_id === k.callId &&
    r2.result.username === caller.username && r2.jsep && r2.jsep.type === 'answer')) {
    await sleep(500);
    const st = await hc2.state();
    assert(false, `${name}: the host (second to resume) got ${JSON.stringify(r2)} first, want resumed active false ` +
      `(username ${caller.username}) with an answer; its events ${JSON.stringify(st.events)}, its PeerConnection's downs ` +
      `${JSON.stringify(st.webrtcDowns)} (a core hangup), webrtcup ${st.webrtcUp}`);
  }
  const [a1, a2] = await Promise.all([waitFor(cc2, isResumed(true), r1.i + 1, 5000, 'resumed active'),
    waitFor(hc2, isResumed(true), r2.i, 5000, 'resumed active')]);
  const bothMs = Date.now() - rs.readyAt;
  const activeMs = Date.now() - tH;
  const alone = billings((await cc2.state()).events.filter((e) => e.i < a1.i), k.callId);
  assert(alone.length === 0, `${name}: the ticker ran while the caller was back alone: ${JSON.stringify(alone)}`);
  for (const [who, e, other] of [['caller', a1, host], ['host', a2, caller]]) {
    assert(e.result.call_id === k.callId && e.result.username === other.username && !e.jsep,
      `${name}: the ${who}'s resumed active ${JSON.stringify(e)}, want call_id ${k.callId}, username ${other.username}, no jsep`);
  }
  await hc2.webrtcUp(10000);
  await firstFrames([cc2, hc2]);
  const flow = await flowing([cc2, hc2], 4, { what: `${name} after the resume:` });

  // One more minute starts after the media check, then the caller hangs up.
  const s0 = await cc2.mark();
  const cur = await waitFor(cc2, isBilling(k.callId), s0, 2000, 'a billing event after the media check');
  const next = await waitMinute(cc2, k.callId, cur.result.minutes_charged + 1, s0, MINUTE_MS + 2000);
  await sleep(MINUTE_MS / 3);
  await hangupBy(cc2, [hc2], name);
  await sleep(TICKER_MS + 300);
  const newC = (await cc2.state()).events;
  const newH = (await hc2.state()).events;
  const postC = checkSegment(`${name} caller after the resume`, billings(newC, k.callId), { who: 'caller', rate: rates.video, base: STARTER });
  const postH = checkSegment(`${name} host after the resume`, billings(newH, k.callId), { who: 'host', rate: rates.video, feeBps: ctx.feeBps });
  const acrossC = checkAcross(`${name} caller`, preC, postC, killC);
  checkAcross(`${name} host`, preH, postH, killH);
  assert(postC.last.minutes_charged === postH.last.minutes_charged,
    `${name}: the caller's ticker ends at minute ${postC.last.minutes_charged}, the host's at ${postH.last.minutes_charged}`);
  const row = await settledRow(ctx, { name, caller, host, callId: k.callId, reason: 'hangup', rate: rates.video });
  const m = postC.last.minutes_charged;
  assert(row.minutes_charged === m, `${name}: GET /calls/${k.callId} minutes_charged ${row.minutes_charged}, the ticker showed ${m}`);
  assert(row.connected_ms >= (m - 1) * MINUTE_MS && row.connected_ms <= m * MINUTE_MS,
    `${name}: connected_ms ${row.connected_ms}, want inside minute ${m} (${(m - 1) * MINUTE_MS}..${m * MINUTE_MS})`);
  console.log(`${name}: call ${k.callId.slice(0, 8)} killed ${delay.toFixed(0)} ms after minute ${m2.result.minutes_charged} showed ` +
    `(billable ~${killElapsed.toFixed(0)} ms, last ticker minute ${preC.last.minutes_charged}); restart ${rs.startMs} ms; ` +
    `both resumed active ${(bothMs / 1000).toFixed(1)} s after ready (caller alone up in ${aloneUpMs} ms, host resume -> active ${activeMs} ms)`);
  console.log(`  ticker after the resume: minute ${postC.first.minutes_charged} at elapsed ${postC.first.elapsed_ms} ms ` +
    `(${acrossC.back >= 0 ? `back ${acrossC.back}` : `on ${-acrossC.back}`} ms), minute ${next.result.minutes_charged} charged, hung up: ` +
    `${row.minutes_charged} x ${rates.video} = ${row.charged} (host ${row.host_earned}, fee ${row.platform_fee}), connected_ms ${row.connected_ms}; ` +
    `caller ticker ${preC.count}+${postC.count} events, host ${preH.count}+${postH.count}`);
  console.log(`  media after the resume: ${fmtFlow(flow)}`);
  await closePages([cc2, hc2]);
}

// ---- C ----

async function oneResumes(ctx) {
  const name = 'C (only the caller resumes)';
  const rates = { audio: 4, video: 11 };
  const { caller, host, cc, hc, k } = await resumableCall(ctx, { name, rates, names: ['Lonely caller', 'Gone host'],
    labels: ['C caller', 'C host'] });
  await waitMinute(cc, k.callId, 2, k.cMark, 2 * MINUTE_MS + 5000);
  const delay = rnd(0, MINUTE_MS);
  await sleep(delay);
  const [killC] = await crash(ctx, [cc, hc]);
  const [oldC] = await dropPages([cc, hc]);
  const pre = checkSegment(`${name} caller before the kill`, billings(oldC, k.callId), { who: 'caller', rate: rates.video, base: STARTER });
  const killElapsed = elapsedAtKill(pre, killC);

  const rs = await restart(ctx, GRACE_ALONE_S);
  const cc2 = await openPage(ctx, 'C caller (new)', ctx.srv.wsUrl, caller.token, caller.username);
  const r = await ask(cc2, cc2.resume(k.callId, k.callerToken));
  assert(r.result && r.result.event === 'resumed' && r.result.active === false && r.result.call_id === k.callId &&
    r.jsep && r.jsep.type === 'answer', `${name}: resume answered ${JSON.stringify(r)}, want resumed active false with an answer`);
  await cc2.webrtcUp(10000);
  const hang = await cc2.waitEvent({ event: 'hangup' }, r.i, GRACE_ALONE_S * 1000 + 5000);
  const hangAfter = Date.now() - rs.readyAt;
  assert(hang.result.reason === 'peer_gone' && hang.result.call_id === k.callId,
    `${name}: hangup ${JSON.stringify(hang.result)}, want reason peer_gone for ${k.callId}`);
  assert(hangAfter >= GRACE_ALONE_S * 1000 - 1000 && hangAfter <= GRACE_ALONE_S * 1000 + 3000,
    `${name}: hangup peer_gone ${hangAfter} ms after the restart, want about the grace (${GRACE_ALONE_S} s)`);
  const evs = (await cc2.state()).events;
  const between = evs.filter((e) => e.i > r.i && e.i < hang.i && !isResumed(false)(e));
  assert(between.length === 0, `${name}: events between resumed and hangup: ${JSON.stringify(between)}`);
  assert(billings(evs, k.callId).length === 0, `${name}: a ticker ran with one party: ${JSON.stringify(billings(evs, k.callId))}`);
  const row = await settledRow(ctx, { name, caller, host, callId: k.callId, reason: 'peer_gone', rate: rates.video });
  const last = pre.last;
  const boundary = last.minutes_charged * MINUTE_MS;
  assert(row.charged === last.charged || (row.charged === last.charged + rates.video && killElapsed >= boundary - KILL_SLACK_MS),
    `${name}: charged ${row.charged}; the last ticker before the kill showed ${last.charged} (minute ${last.minutes_charged}, ` +
    `billable at the kill <= ${killElapsed.toFixed(0)} ms, next boundary ${boundary})`);
  assert(row.connected_ms >= last.elapsed_ms - TICKER_MS - 50 && row.connected_ms <= killElapsed + KILL_SLACK_MS,
    `${name}: connected_ms ${row.connected_ms}, want what was persisted before the kill (${last.elapsed_ms - TICKER_MS}..${killElapsed.toFixed(0)})`);
  console.log(`${name}: killed ${delay.toFixed(0)} ms into minute ${last.minutes_charged} (billable ~${killElapsed.toFixed(0)} ms, ` +
    `last ticker ${last.charged}); the caller resumed, hangup peer_gone ${(hangAfter / 1000).toFixed(1)} s after the restart; ` +
    `row peer_gone, ${row.minutes_charged} x ${rates.video} = ${row.charged}, connected_ms ${row.connected_ms}, held 0`);
  await closePages([cc2]);
}

// ---- D0: deterministic kill points that are no recovering calls ----

// A node-side session of a dead server: no keepalives, no destroy (nobody answers).
function dropRaw(s) {
  raws.delete(s);
  clearInterval(s.kaTimer);
  s.closed = true;
  try { s.ws.close(); } catch { /* gone */ }
}

// A resume probe with a made-up token from a new session of the caller: 505 = the call is
// recovering (the token is checked), 504 = it is not.
async function probe(ctx, user, callId) {
  const raw = await rawDevice(ctx.srv, { token: user.token, label: 'probe', username: user.username });
  try {
    const r = await raw.handle.message({ request: 'resume', call_id: callId, resume_token: '0'.repeat(32) });
    return (r && r.data && r.data.error_code) || JSON.stringify(r);
  } finally {
    await raw.session.close();
  }
}

async function rowNow(ctx, user, callId, ms) {
  return waitCall(ctx.srv, user.token, callId, (c) => c.state === 'ended', ms);
}

async function statesScenario(ctx) {
  const name = 'D0 (ringing / accepted never connected)';
  const { srv } = ctx;
  const rates = { audio: 2, video: 5 };
  const pairs = [];
  for (const tag of ['ringing', 'accepted']) {
    const caller = await newUser(srv, 'caller', `D0 ${tag} caller`);
    const host = await newUser(srv, 'host', `D0 ${tag} host`);
    await setRates(srv, host, rates);
    const cc = await openPage(ctx, `D0 ${tag} caller`, srv.wsUrl, caller.token, caller.username);
    const hd = await rawDevice(srv, { token: host.token, label: `D0 ${tag} host`, username: host.username });
    raws.add(hd.session);
    pairs.push({ tag, caller, host, cc, hd });
  }
  for (const p of pairs) {
    const hMark = p.hd.handle.mark();
    const calling = await ask(p.cc, p.cc.call(p.host.username, AV));
    assert(calling.result && calling.result.event === 'calling', `${name}: ${p.tag}: call answered ${JSON.stringify(calling)}`);
    p.callId = calling.result.call_id;
    const inc = await p.hd.handle.waitEvent({ event: 'incomingcall' }, hMark, 5000);
    assert(inc.jsep && inc.jsep.type === 'offer', `${name}: ${p.tag}: incomingcall without an offer`);
    if (p.tag === 'accepted') {
      // A real answer whose PeerConnection is closed at once: the host's leg never connects.
      const a = await p.cc.page.evaluate(async (sdp) => {
        const x = await window.sdpgen.answer(sdp);
        window.sdpgen.close(x.id);
        return x.sdp;
      }, inc.jsep.sdp);
      const r = await p.hd.handle.message({ request: 'accept' }, { type: 'answer', sdp: a });
      const ev = r && r.data && r.data.result && r.data.result.event;
      assert(ev === 'accepted', `${name}: accept answered ${JSON.stringify(r)}`);
      await waitFor(p.cc, isEvent('accepted'), 0, 5000, 'accepted');
    }
  }
  const held = await wallet(srv, pairs[1].caller);
  assert(held.held === rates.video, `${name}: accepted call's wallet ${JSON.stringify(held)}, want ${rates.video} held`);
  await sleep(1500);
  const ups = pairs[1].hd.handle.core.filter((m) => m.janus === 'webrtcup');
  assert(ups.length === 0, `${name}: the node-side host's leg came up: ${JSON.stringify(ups)}`);
  await crash(ctx, pairs.map((p) => p.cc));
  await dropPages(pairs.map((p) => p.cc));
  for (const p of pairs) dropRaw(p.hd.session);

  const rs = await restart(ctx, GRACE_STATES_S);
  const out = [];
  const bad = [];
  for (const p of pairs) {
    const w = await heldZero(ctx.srv, p.caller, RELEASE_MS);
    const releasedMs = Date.now() - rs.readyAt;
    const row = await rowNow(ctx, p.caller, p.callId, 500);
    const code = await probe(ctx, p.caller, p.callId);
    const at = Date.now() - rs.readyAt;
    assert(at < GRACE_STATES_S * 1000, `${name}: the checks took past the grace (${at} ms)`);
    const facts = `wallet ${JSON.stringify(w)} ${releasedMs} ms after the restart; GET /calls/${p.callId} state ${row.state}, ` +
      `end_reason ${row.end_reason}, charged ${row.charged}, billing_settled ${row.billing_settled} at ${at} ms; resume (made-up token) -> ${code}`;
    if (!(w.held === 0 && w.available === STARTER && row.state === 'ended' && row.end_reason === 'server_restart' &&
      row.charged === 0 && code === 504)) {
      bad.push(`${p.tag} call: ${facts}`);
    }
    out.push(`${p.tag}: held 0 and row server_restart ${releasedMs} ms after ready, resume -> ${code}`);
  }
  if (bad.length) {   // what the server does with them by the end of the grace
    await sleep(Math.max(0, GRACE_STATES_S * 1000 + 1500 - (Date.now() - rs.readyAt)));
    for (const p of pairs) {
      const w = await wallet(ctx.srv, p.caller);
      const row = await getCall(ctx.srv, p.caller.token, p.callId);
      bad.push(`after the grace, ${p.tag} call: wallet ${JSON.stringify(w)}; row state ${row.state}, end_reason ${row.end_reason}, ` +
        `billing_settled ${row.billing_settled}, charged ${row.charged}`);
    }
  }
  assert(bad.length === 0, `${name}: want for each call, before the grace (${GRACE_STATES_S} s) ends: the hold released at the restart ` +
    `(0 held, ${STARTER} available), the row ended server_restart with 0 charged, resume -> 504 (not a recovering call); got:\n  ${bad.join('\n  ')}`);
  await ledgerOk(ctx.srv, name);
  console.log(`${name}: ${out.join('; ')}`);
}

// ---- D1-D4: random kill points, nobody resumes ----

async function randomKill(ctx, n) {
  const name = `D${n}`;
  const rates = { audio: 2, video: 5 };
  const labels = [`${name} caller`, `${name} host`];
  const { caller, host, cc, hc } = await newPair(ctx, { rates, names: labels, labels });
  const killAt = rnd(0, KILL_SPAN_MS);
  const prog = { callId: null, acceptSent: false, error: null };
  const t0 = Date.now();
  const flow = (async () => {
    const hMark = await hc.mark();
    const calling = await ask(cc, cc.call(host.username, AV));
    assert(calling.result && calling.result.event === 'calling', `${name}: call answered ${JSON.stringify(calling)}`);
    prog.callId = calling.result.call_id;
    await hc.waitEvent({ event: 'incomingcall' }, hMark, 10000);
    await sleep(RING_MS);
    prog.acceptSent = true;
    await ask(hc, hc.accept(AV));
    await Promise.all([cc.webrtcUp(15000), hc.webrtcUp(15000)]);
  })().catch((e) => { prog.error = e; });
  await sleep(killAt - (Date.now() - t0));
  if (prog.error) throw prog.error;   // failed before the kill: a real failure
  const [killC] = await crash(ctx, [cc]);
  const acceptSent = prog.acceptSent;   // the flow goes on a moment after the kill
  const killWall = Date.now() - t0;
  const stC = await cc.state();
  const stH = await hc.state();
  const [evsC] = await dropPages([cc, hc]);
  await flow;
  const accepted = evsC.some(isEvent('accepted'));
  const ticks = prog.callId ? billings(evsC, prog.callId) : [];
  const phase = ticks.length ? 'metered' : (stC.webrtcUp !== null || stH.webrtcUp !== null) ? 'connecting'
    : accepted ? 'accepted' : acceptSent ? 'accepting' : 'ringing';
  let seg = null;
  if (ticks.length) seg = checkSegment(`${name} caller before the kill`, ticks, { who: 'caller', rate: rates.video, base: STARTER });
  // Billable time at the kill, at most.
  const atKill = seg ? elapsedAtKill(seg, killC) : stC.webrtcUp !== null ? killC - stC.webrtcUp : 0;

  const rs = await restart(ctx, GRACE_KILL_S);
  const calls = await listCalls(ctx.srv, caller.token);
  assert(calls.length <= 1 && (calls.length === 1 || !prog.callId),
    `${name}: GET /calls lists ${JSON.stringify(calls)} (call ${prog.callId})`);
  const callId = calls.length ? calls[0].id : null;
  let code = null;
  let early = null;
  if (callId) {
    if (phase === 'ringing') {
      const w = await heldZero(ctx.srv, caller, RELEASE_MS);
      early = Date.now() - rs.readyAt;
      assert(w.held === 0, `${name}: ringing call: ${JSON.stringify(w)} ${early} ms after the restart, want its hold released at the restart`);
    }
    if (Date.now() - rs.readyAt < GRACE_KILL_S * 1000 - 1000) code = await probe(ctx, caller, callId);
    if (code !== null) {
      if (phase === 'ringing') assert(code === 504, `${name}: resume of a call killed while ringing answered ${code}, want 504`);
      if (phase === 'metered') assert(code === 505, `${name}: resume probe of a metered call in its grace answered ${code}, want 505 (a recovering call)`);
    }
  }
  await sleep(Math.max(0, GRACE_KILL_S * 1000 + 300 - (Date.now() - rs.readyAt)));
  let row = null;
  if (callId) {
    row = await settledRow(ctx, { name, caller, host, callId, reason: 'server_restart', rate: rates.video });
    // No minute after the kill: at most the one running then (none for a call never answered).
    const bound = phase === 'ringing' ? 0 : Math.floor((atKill + KILL_SLACK_MS) / MINUTE_MS) + 1;
    assert(row.minutes_charged <= bound,
      `${name} (${phase}): minutes_charged ${row.minutes_charged}, billable time at the kill <= ${atKill.toFixed(0)} ms: at most ${bound}`);
    if (seg) {
      assert(row.minutes_charged >= seg.last.minutes_charged,
        `${name}: minutes_charged ${row.minutes_charged} < ${seg.last.minutes_charged} shown before the kill`);
    }
  } else {
    const w = await heldZero(ctx.srv, caller, 1000);
    assert(w.held === 0 && w.available === STARTER, `${name}: no call recorded, wallet ${JSON.stringify(w)}`);
    await ledgerOk(ctx.srv, name);
  }
  const shown = seg ? `last ticker minute ${seg.last.minutes_charged} at ${seg.last.elapsed_ms} ms` : 'no ticker';
  console.log(`${name}: kill at ${killWall} ms after call (${phase}; ${shown}, billable <= ${Math.max(0, atKill).toFixed(0)} ms); ` +
    `restart ${rs.startMs} ms${early !== null ? `, hold released ${early} ms after ready` : ''}${code !== null ? `, resume probe ${code}` : ''}; ` +
    (row ? `row ${row.end_reason}, ${row.minutes_charged} x ${rates.video} = ${row.charged}, connected_ms ${row.connected_ms}` : 'no call row'));
}

// ---- the run ----

// Each scenario has its own users and restart: one that fails is reported (with the clients'
// state and the log tail of the server it failed on) and the next one still runs; a dead
// server is restarted on the same directory first.
async function scenario(ctx, name, fn) {
  const t = Date.now();
  try {
    await withClients(clients, () => fn(ctx));
  } catch (e) {
    const s = (e && e.srv) || ctx.srv;
    if (e && e.srv && !ctx.servers.includes(e.srv)) ctx.servers.push(e.srv);
    console.error(`FAILED ${name} after ${((Date.now() - t) / 1000).toFixed(1)} s: ${e && e.stack ? e.stack : e}`);
    if (s) {
      console.error(`--- last 50 lines of the ${s.target} log (${s.logFile}) ---`);
      console.error(s.tail(50));
    }
    ctx.failures.push(`${name}: ${String(e && e.message).split('\n').slice(0, 3).join(' | ').slice(0, 700)}`);
    await dropPages([...clients]);
    for (const r of raws) dropRaw(r);
    raws.clear();
    if (ctx.srv.exited()) await restart(ctx, GRACE_RESUME_S);
  }
}

const ctx = { srv: null, dir: null, servers: [], br: null, fees: 0, feeBps: 0, failures: [] };
const t0 = Date.now();
try {
  skipUnlessBilling();
  ctx.srv = await startServer(serverOpts(GRACE_RESUME_S));
  ctx.dir = ctx.srv.dir;
  ctx.servers.push(ctx.srv);
  ctx.feeBps = (await freshRevenue(ctx.srv)).platform_fee_bps;
  ctx.br = await openBrowser();
  try {
    await scenario(ctx, 'A+B', bothResume);
    await scenario(ctx, 'C', oneResumes);
    await scenario(ctx, 'D0', statesScenario);
    for (let n = 1; n <= KILL_LOOPS; n++) await scenario(ctx, `D${n}`, (c) => randomKill(c, n));
  } finally {
    await ctx.br.close();
  }
  const c = await ledgerOk(ctx.srv, 'all scenarios');
  if (ctx.failures.length === 0) {
    const rev = await checkRevenue(ctx.srv, ctx.fees, 'the rows');
    console.log(`${ctx.servers.length} servers on one data directory: platform revenue ${rev.platform_revenue} = the fees of the rows; ledger check ok ` +
      `(${c.ops_count} operations, ${c.transfers_count} transfers)`);
  }
  const srv = ctx.srv;
  assert(!srv.exited(), `the server died during the test: ${JSON.stringify(srv.exited())}`);
  const how = await srv.stop();
  assert(how.code === 0, `the server did not exit cleanly on SIGTERM: ${JSON.stringify(how)}`);
  const reports = ctx.servers.flatMap((x) => x.sanitizerReports().map((l) => `${x.logFile}: ${l}`));
  assert(reports.length === 0, `sanitizer reports in the server logs:\n${reports.slice(0, 10).join('\n')}`);
  if (ctx.failures.length) {
    console.error(`FAILED scenarios (${ctx.failures.length}; server logs kept in ${ctx.dir}):\n  ${ctx.failures.join('\n  ')}`);
    process.exit(1);
  }
  fs.rmSync(ctx.dir, { recursive: true, force: true }); // kept only when the test failed
  console.log(`ok (${((Date.now() - t0) / 1000).toFixed(1)}s against ${target()})`);
  process.exit(0);
} catch (e) {
  if (e && e.skip) {
    console.log(`SKIP: ${e.message}`);
    if (ctx.srv) await ctx.srv.stop();
    process.exit(77);
  }
  console.error(`FAILED: ${e && e.stack ? e.stack : e}`);
  const s = (e && e.srv) || ctx.srv;
  if (s) {
    await s.stop();
    console.error(`--- last 50 lines of the ${s.target} log (${s.logFile}) ---`);
    console.error(s.tail(50));
  }
  if (ctx.failures.length) console.error(`earlier failed scenarios:\n  ${ctx.failures.join('\n  ')}`);
  process.exit(1);
}
