#!/usr/bin/env node
// Chat money and durability (parley's chat plugin, janus.plugin.textroom, clients in Chromium
// pages running lib/page/chat.js; REST for history, wallets, the ledger). Index 18; the
// server runs with --chat.rate_per_s=200 --chat.burst=200 (part C sends 50 at once), is
// killed with SIGKILL in part D and restarted on its data directory. A fresh pair each part:
//  A. Idempotency (rate 5): one client_id sent three times back to back over the channel
//     (the third with another text): three replies with the same msg_id/seq/date, charged 5,
//     only the first not `replayed`; the host gets one message with the first text. One
//     client_id sent over REST and over the channel at the same moment: one message (same
//     msg_id/seq in both replies, one of them replayed, REST 201 or 200 to match), one
//     delivery; a REST resend of the first client_id: 200 replayed. History 2 messages,
//     wallet -2 x 5, the host earned 2 x its part.
//  B. A caller without credit (rate 4): refused over the channel (402 insufficient_balance,
//     needed 4, balance 0) and over REST (402, needed, balance); nothing stored (history
//     empty for both, last_seq 0, no delivery), wallet unchanged; after a dev top-up the same
//     client_id is sent and is a new message (seq 1, charged 4, not replayed).
//  C. Recipient offline (rate 1): 50 messages sent pipelined, seq 1..50; the host joins:
//     success with last_seq 50, then the 50 as `message` events in seq order, no gap, each as
//     its reply said; a live message after the backlog arrives after it; a second host
//     device joining with since_seq 45 gets 46..51 only. Wallet -51.
//  E. Credit for 3 of a burst (rate 30): 8 messages pipelined (stored together, in
//     send_many units), the second a resend of the first: seq 1..3 sent and charged, the
//     resend replayed, the last 4 refused (402, balance 10), the host gets exactly seq 1..3,
//     history 3, wallet 100 - 3 x 30, the ledger check passes.
//  D. kill -9 (rate 4): the host offline, the caller's `sent` reply, SIGKILL at once; after
//     the restart the message is in the history (msg_id, seq, text, charged), the host's
//     join delivers it, the caller's resend of its client_id is `replayed`, the wallet shows
//     exactly one charge; part A's history survived.
// /admin/ledger/check after each part, /admin/revenue = the fees at the end, the last server
// exits 0 on SIGTERM, no sanitizer report in any log. Prints the figures of each part.
import fs from 'node:fs';
import { openBrowser } from './lib/browser.mjs';
import {
  ChatClient, STARTER, api, buy, checkDelivery, checkError, checkSent, chatServerOpts, history, moneyOk,
  openChatPage, openClients, pair, restError, restSend, skipUnlessChat, sleep, split, uuid, wallet, withChatClients,
} from './lib/chat.mjs';
import { assert, startServer, target } from './lib/server.mjs';

const INDEX = 18;
const OPTS = chatServerOpts(INDEX, ['--chat.rate_per_s=200', '--chat.burst=200']);

async function adminJson(srv, p) {
  const r = await fetch(`http://127.0.0.1:${srv.ports.admin}${p}`);
  assert(r.status === 200, `GET ${p}: ${r.status}`);
  return r.json();
}

async function clientFor(ctx, label, user, token = user.token, opts = {}) {
  const page = await openChatPage(ctx.br, label);
  ctx.pages.push(page);
  return ChatClient.open(page, label, ctx.srv, token, opts);
}

function messagesOf(list) { return list.filter((x) => x.json && x.json.textroom === 'message'); }

async function checkWallets(ctx, name, { caller, host, available, rate, count }) {
  const w = await wallet(ctx.srv, caller);
  assert(w.available === available && w.held === 0, `${name}: caller wallet ${JSON.stringify(w)}, want ${available} available, 0 held`);
  const part = split(rate, ctx.feeBps);
  const hw = await wallet(ctx.srv, host);
  assert(hw.earnings === count * part.host, `${name}: host wallet ${JSON.stringify(hw)}, want earnings ${count * part.host} (${count} x ${part.host})`);
  ctx.fees += count * part.fee;
  await moneyOk(ctx.srv, name);
  return { w, hw };
}

// ---- A ----
async function partA(ctx) {
  const RATE = 5;
  const { caller, host, room } = await pair(ctx.srv, { rate: RATE, names: ['A Caller', 'A Host'] });
  ctx.roomA = { caller, room };
  const c = await clientFor(ctx, 'A caller', caller);
  const h = await clientFor(ctx, 'A host', host);
  await c.join(room, caller);
  await h.join(room, host);
  let hm = await h.mark();
  const id1 = uuid();
  const texts = ['first wins', 'first wins', 'a different text, same client_id'];
  const replies = await c.burst(texts.map((text) => ({ textroom: 'message', room, text, client_id: id1, ack: true })));
  const first = checkSent('A: the first of three', replies[0], { seq: 1, charged: RATE, clientId: id1 });
  for (const k of [1, 2]) {
    const j = checkSent(`A: resend ${k}`, replies[k], { seq: 1, charged: RATE, clientId: id1, replayed: true });
    assert(j.msg_id === first.msg_id && j.date === first.date, `A: resend ${k} ${JSON.stringify(j)} differs from the original ${JSON.stringify(first)}`);
  }
  await sleep(500);
  const got1 = messagesOf(await h.msgs(hm));
  assert(got1.length === 1, `A: the host got ${got1.length} messages for one client_id sent 3 times: ${JSON.stringify(got1.map((x) => x.json))}`);
  checkDelivery('A: the host', got1[0], first, { room, from: caller.id, text: 'first wins' });

  // REST and the channel at the same moment.
  hm = await h.mark();
  const id2 = uuid();
  const [rest, ch] = await Promise.all([
    restSend(ctx.srv, caller, room, { client_id: id2, text: 'both ways at once' }),
    c.request({ textroom: 'message', room, text: 'both ways at once', client_id: id2, ack: true }),
  ]);
  const cj = checkSent('A: channel half of REST+channel', ch, { seq: 2, charged: RATE, clientId: id2, replayed: ch.json.replayed === true });
  assert(rest.status === (cj.replayed ? 201 : 200), `A: REST half ${rest.status} ${JSON.stringify(rest.json)} while the channel's reply had replayed ${cj.replayed}`);
  assert(rest.json.msg_id === cj.msg_id && rest.json.seq === 2 && rest.json.charged === RATE && rest.json.replayed === !cj.replayed &&
    rest.json.state === 'sent' && rest.json.client_id === id2 && rest.json.date === cj.date,
  `A: REST reply ${JSON.stringify(rest.json)} vs channel reply ${JSON.stringify(cj)}`);
  await sleep(500);
  const got2 = messagesOf(await h.msgs(hm));
  assert(got2.length === 1 && got2[0].json.msg_id === cj.msg_id, `A: deliveries of the REST+channel message: ${JSON.stringify(got2.map((x) => x.json))}`);
  const again = await restSend(ctx.srv, caller, room, { client_id: id1, text: 'once more over REST' });
  assert(again.status === 200 && again.json.replayed === true && again.json.msg_id === first.msg_id && again.json.seq === 1 &&
    again.json.charged === RATE && again.json.text === 'first wins',
  `A: REST resend of the first client_id: ${again.status} ${JSON.stringify(again.json)}`);

  const hist = await history(ctx.srv, caller, room);
  assert(hist.length === 2 && hist[0].msg_id === first.msg_id && hist[1].msg_id === cj.msg_id && hist[0].text === 'first wins',
    `A: history ${JSON.stringify(hist)}`);
  const { w } = await checkWallets(ctx, 'A', { caller, host, available: STARTER - 2 * RATE, rate: RATE, count: 2 });
  console.log(`A: one client_id x3 over the channel -> 1 message (2 replays), REST + channel at once -> 1 message ` +
    `(REST ${rest.status}, channel replayed ${cj.replayed}), REST resend 200 replayed; 2 charges of ${RATE}, wallet ${w.available}`);
  for (const x of [c, h]) await x.close();
}

// ---- B ----
async function partB(ctx) {
  const RATE = 4;
  const { caller, host, room } = await pair(ctx.srv, { rate: RATE, names: ['B Caller', 'B Host'], credits: false });
  let w = await wallet(ctx.srv, caller);
  assert(w.available === 0 && w.held === 0, `B: a caller without a purchase has ${JSON.stringify(w)}`);
  const c = await clientFor(ctx, 'B caller', caller);
  const h = await clientFor(ctx, 'B host', host);
  await c.join(room, caller);
  await h.join(room, host);
  const hm = await h.mark();
  const cid = uuid();
  const { reply } = await c.say(room, 'no money', { client_id: cid });
  const e = checkError('B: a message without credit', reply, 402);
  assert(e.reason === 'insufficient_balance' && e.needed === RATE && e.balance === 0,
    `B: refusal ${JSON.stringify(e)}, want reason insufficient_balance, needed ${RATE}, balance 0`);
  const rr = await restSend(ctx.srv, caller, room, { client_id: uuid(), text: 'no money over REST' });
  const re = restError(rr);
  const needed = re.needed ?? rr.json.needed;
  const balance = re.balance ?? rr.json.balance;
  assert(rr.status === 402 && re.code === 'insufficient_balance' && needed === RATE && balance === 0,
    `B: REST without credit: ${rr.status} ${JSON.stringify(rr.json)}, want 402 insufficient_balance with needed ${RATE}, balance 0`);
  await sleep(300);
  const got = messagesOf(await h.msgs(hm));
  assert(got.length === 0, `B: the host got refused messages: ${JSON.stringify(got)}`);
  for (const u of [caller, host]) {
    const hist = await history(ctx.srv, u, room);
    assert(hist.length === 0, `B: history as ${u.name} after the refusals: ${JSON.stringify(hist)}`);
  }
  const lc = await api(ctx.srv, 'GET', '/conversations', undefined, host.token);
  const cv = lc.status === 200 && lc.json.conversations.find((x) => x.id === room);
  assert(cv && cv.last_seq === 0 && cv.unread === 0 && cv.last_message === null, `B: GET /conversations (host) ${JSON.stringify(lc.json).slice(0, 400)}`);
  w = await wallet(ctx.srv, caller);
  assert(w.available === 0 && w.held === 0, `B: wallet after the refusals ${JSON.stringify(w)}`);
  await moneyOk(ctx.srv, 'B refusals');

  await buy(ctx.srv, caller);
  const ok = await c.say(room, 'now with money', { client_id: cid });
  const j = checkSent('B: after the top-up, the refused client_id again', ok.reply, { seq: 1, charged: RATE, clientId: cid });
  const d = await h.waitMsg({ textroom: 'message', msg_id: j.msg_id }, hm, 5000);
  checkDelivery('B: the host', d, j, { room, from: caller.id, text: 'now with money' });
  const after = await checkWallets(ctx, 'B', { caller, host, available: STARTER - RATE, rate: RATE, count: 1 });
  console.log(`B: no credit -> channel ${e.error_code} ${e.reason} (needed ${e.needed}, balance ${e.balance}), REST ${rr.status}; ` +
    `nothing stored, wallet 0; after a top-up of ${STARTER} the same client_id is message seq 1, wallet ${after.w.available}`);
  for (const x of [c, h]) await x.close();
}

// ---- C ----
async function partC(ctx) {
  const RATE = 1;
  const N = 50;
  const { caller, host, room } = await pair(ctx.srv, { rate: RATE, names: ['C Caller', 'C Host'], hostDevices: ['phone', 'tablet'] });
  const c = await clientFor(ctx, 'C caller', caller);
  await c.join(room, caller);
  const list = [];
  for (let k = 1; k <= N; k++) list.push({ textroom: 'message', room, text: `offline ${k}`, client_id: uuid(), ack: true });
  const t0 = Date.now();
  const replies = await c.burst(list, 20000);
  const sendMs = Date.now() - t0;
  const sent = replies.map((r, k) => ({ ...checkSent(`C: message ${k + 1}`, r, { charged: RATE, clientId: list[k].client_id }), text: list[k].text }));
  const seqs = sent.map((s) => s.seq).sort((a, b) => a - b);
  assert(seqs.join() === Array.from({ length: N }, (_, k) => k + 1).join(), `C: seqs ${seqs.join()}, want 1..${N}`);
  const bySeq = new Map(sent.map((s) => [s.seq, s]));

  const h = await clientFor(ctx, 'C host phone', host, host.tokens.phone);
  const hm = await h.mark();
  const tj = Date.now();
  const jr = await h.join(room, host);
  assert(jr.json.last_seq === N, `C: host join ${JSON.stringify(jr.json)}, want last_seq ${N}`);
  const backlog = await h.waitCount({ textroom: 'message' }, N, hm, 10000);
  const joinMs = Date.now() - tj;
  assert(backlog.length === N, `C: backlog ${backlog.length}`);
  assert(backlog[0].i > jr.i, `C: the backlog came before the join's success`);
  backlog.forEach((rec, k) => {
    assert(rec.json.seq === k + 1, `C: backlog message ${k + 1} has seq ${rec.json.seq} (order ${backlog.map((x) => x.json.seq).join()})`);
    checkDelivery(`C: backlog seq ${k + 1}`, rec, bySeq.get(k + 1), { room, from: caller.id, text: bySeq.get(k + 1).text });
  });
  const live = await c.say(room, 'live after the backlog');
  const lj = checkSent('C: live message', live.reply, { seq: N + 1, charged: RATE, clientId: live.clientId });
  const lr = await h.waitMsg({ textroom: 'message', msg_id: lj.msg_id }, hm, 5000);
  assert(lr.i > backlog[N - 1].i, 'C: the live message overtook the backlog');
  const after = messagesOf(await h.msgs(hm));
  assert(after.length === N + 1, `C: the host got ${after.length} messages, want ${N + 1} (duplicates?)`);

  // A second device with since_seq.
  const h2 = await ChatClient.open(h.page, 'C host tablet', ctx.srv, host.tokens.tablet);
  const m2 = await h2.mark();
  await h2.join(room, host, { since_seq: 45 });
  await h2.waitCount({ textroom: 'message' }, N + 1 - 45, m2, 5000);
  await sleep(300);
  const all2 = messagesOf(await h2.msgs(m2));
  assert(all2.map((x) => x.json.seq).join() === [46, 47, 48, 49, 50, 51].join(),
    `C: a device joining with since_seq 45 got seqs ${all2.map((x) => x.json.seq).join()}, want 46..51`);
  const { w } = await checkWallets(ctx, 'C', { caller, host, available: STARTER - (N + 1) * RATE, rate: RATE, count: N + 1 });
  console.log(`C: ${N} messages to an offline host sent pipelined in ${sendMs} ms (seq 1..${N}); on join the ${N} arrived in order, ` +
    `no gap, in ${joinMs} ms, then the live one (seq ${N + 1}); since_seq 45 -> 46..51; wallet ${w.available}`);
  for (const x of [c, h, h2]) await x.close();
}

// ---- E ----
// The credit runs out inside a burst: the messages reach the server's dispatch thread
// together, so they go to the store in send_many units (each message in its own savepoint).
async function partE(ctx) {
  const RATE = 30;
  const { caller, host, room } = await pair(ctx.srv, { rate: RATE, names: ['E Caller', 'E Host'] });
  const c = await clientFor(ctx, 'E caller', caller);
  const h = await clientFor(ctx, 'E host', host);
  await c.join(room, caller);
  await h.join(room, host);
  const hm = await h.mark();
  const ids = Array.from({ length: 8 }, () => uuid());
  ids[1] = ids[0];   // a resend of the first inside the same burst
  const list = ids.map((client_id, k) => ({ textroom: 'message', room, text: `burst ${k + 1}`, client_id, ack: true }));
  const replies = await c.burst(list);
  const first = checkSent('E: message 1', replies[0], { seq: 1, charged: RATE, clientId: ids[0] });
  const again = checkSent('E: message 1 resent in the burst', replies[1], { seq: 1, charged: RATE, clientId: ids[0], replayed: true });
  assert(again.msg_id === first.msg_id, `E: the resend has msg_id ${again.msg_id}, want ${first.msg_id}`);
  const paid = [first, checkSent('E: message 3', replies[2], { seq: 2, charged: RATE, clientId: ids[2] }),
    checkSent('E: message 4', replies[3], { seq: 3, charged: RATE, clientId: ids[3] })];
  for (let k = 4; k < 8; k++) {
    const e = checkError(`E: message ${k + 1} (no credit left)`, replies[k], 402);
    assert(e.reason === 'insufficient_balance' && e.needed === RATE && e.balance === STARTER - 3 * RATE,
      `E: refusal ${JSON.stringify(e)}, want insufficient_balance, needed ${RATE}, balance ${STARTER - 3 * RATE}`);
  }
  const got = await h.waitCount({ textroom: 'message' }, 3, hm, 5000);
  await sleep(300);
  const all = messagesOf(await h.msgs(hm));
  assert(all.length === 3 && all.map((x) => x.json.seq).join() === '1,2,3',
    `E: the host got seqs ${all.map((x) => x.json.seq).join()}, want 1,2,3 (refused ones never delivered)`);
  got.forEach((rec, k) => checkDelivery(`E: delivery ${k + 1}`, rec, paid[k], { room, from: caller.id, text: list[[0, 2, 3][k]].text }));
  const hist = await history(ctx.srv, caller, room);
  assert(hist.length === 3, `E: history has ${hist.length} messages, want 3 (nothing stored for the refused)`);
  const { w } = await checkWallets(ctx, 'E', { caller, host, available: STARTER - 3 * RATE, rate: RATE, count: 3 });
  console.log(`E: a burst of 8 (one a resend) with credit for 3: seq 1..3 charged ${RATE} each, the resend replayed, ` +
    `4 refused (402, balance ${STARTER - 3 * RATE}) and never stored or delivered; wallet ${w.available}; ledger check ok`);
  for (const x of [c, h]) await x.close();
}

// ---- D ----
async function partD(ctx) {
  const RATE = 4;
  const { caller, host, room } = await pair(ctx.srv, { rate: RATE, names: ['D Caller', 'D Host'] });
  const c = await clientFor(ctx, 'D caller', caller);
  await c.join(room, caller);
  const warm = await c.say(room, 'before the crash');
  const wj = checkSent('D: a first message', warm.reply, { seq: 1, charged: RATE, clientId: warm.clientId });
  const { reply, clientId, text } = await c.say(room, 'sent, then kill -9');
  const srv = ctx.srv;
  srv.child.kill('SIGKILL');
  const j = checkSent('D: the message before the kill', reply, { seq: 2, charged: RATE, clientId });
  for (let i = 0; i < 250 && !srv.exited(); i++) await sleep(20);
  assert(srv.exited() && srv.exited().sig === 'SIGKILL', `D: kill -9: the server ended ${JSON.stringify(srv.exited())}`);
  for (const x of openClients) await x.drop();
  const t0 = Date.now();
  ctx.srv = await startServer({ ...OPTS, dir: ctx.dir });
  ctx.servers.push(ctx.srv);
  const restartMs = Date.now() - t0;

  const hist = await history(ctx.srv, caller, room);
  assert(hist.length === 2, `D: history after the restart ${JSON.stringify(hist)}`);
  const m = hist[1];
  assert(m.msg_id === j.msg_id && m.seq === 2 && m.text === text && m.charged === RATE && m.client_id === clientId && m.date === j.date,
    `D: the message after the restart ${JSON.stringify(m)}, the reply before the kill ${JSON.stringify(j)}`);
  assert(hist[0].msg_id === wj.msg_id, `D: the first message ${JSON.stringify(hist[0])}`);
  const histA = await history(ctx.srv, ctx.roomA.caller, ctx.roomA.room);
  assert(histA.length === 2, `D: part A's history after the restart: ${histA.length} messages`);
  const mid = await checkWallets(ctx, 'D after the restart', { caller, host, available: STARTER - 2 * RATE, rate: RATE, count: 2 });

  const h = await clientFor(ctx, 'D host', host);
  const hm = await h.mark();
  await h.join(room, host);
  const got = await h.waitCount({ textroom: 'message' }, 2, hm, 10000);
  checkDelivery('D: the host joining after the restart', got[1], j, { room, from: caller.id, text });
  const c2 = await clientFor(ctx, 'D caller again', caller);
  await c2.join(room, caller);
  const again = await c2.say(room, 'sent, then kill -9', { client_id: clientId });
  const aj = checkSent('D: the resend after the restart', again.reply, { seq: 2, charged: RATE, clientId, replayed: true });
  assert(aj.msg_id === j.msg_id, `D: the resend got msg_id ${aj.msg_id}, want ${j.msg_id}`);
  await sleep(300);
  const extra = messagesOf(await h.msgs(hm)).filter((x) => x.json.msg_id === j.msg_id);
  assert(extra.length === 1, `D: the host got the message ${extra.length} times`);
  const w = await wallet(ctx.srv, caller);
  assert(w.available === mid.w.available && w.held === 0, `D: wallet after the resend ${JSON.stringify(w)}, want ${mid.w.available}`);
  await moneyOk(ctx.srv, 'D resend');
  console.log(`D: SIGKILL right after the reply (seq 2, msg ${j.msg_id.slice(0, 8)}); restart ${restartMs} ms; the message in the history ` +
    `and delivered on the host's join; the resend replayed; wallet ${w.available} = ${STARTER} - 2 x ${RATE} (one charge each)`);
  for (const x of [h, c2]) await x.close();
}

const ctx = { srv: null, dir: null, servers: [], br: null, pages: [], fees: 0, feeBps: 0 };
const t0 = Date.now();
try {
  skipUnlessChat();
  ctx.srv = await startServer(OPTS);
  ctx.dir = ctx.srv.dir;
  ctx.servers.push(ctx.srv);
  const rev0 = await adminJson(ctx.srv, '/admin/revenue');
  assert(rev0.platform_revenue === 0, `/admin/revenue at start ${JSON.stringify(rev0)}`);
  ctx.feeBps = rev0.platform_fee_bps;
  ctx.br = await openBrowser();
  try {
    await withChatClients(async () => {
      await partA(ctx);
      await partB(ctx);
      await partC(ctx);
      await partE(ctx);
      await partD(ctx);
    });
  } finally {
    await ctx.br.close();
  }
  const rev = await adminJson(ctx.srv, '/admin/revenue');
  assert(rev.platform_revenue === ctx.fees, `/admin/revenue ${JSON.stringify(rev)}, want ${ctx.fees} (the fees of every charged message)`);
  await moneyOk(ctx.srv, 'all parts');
  console.log(`platform revenue ${rev.platform_revenue} = the fees of the charged messages; ledger check ok`);
  const srv = ctx.srv;
  assert(!srv.exited(), `the server died during the test: ${JSON.stringify(srv.exited())}`);
  const how = await srv.stop();
  assert(how.code === 0, `the server did not exit cleanly on SIGTERM: ${JSON.stringify(how)}`);
  const reports = ctx.servers.flatMap((x) => x.sanitizerReports().map((l) => `${x.logFile}: ${l}`));
  assert(reports.length === 0, `sanitizer reports in the server logs:\n${reports.slice(0, 10).join('\n')}`);
  fs.rmSync(ctx.dir, { recursive: true, force: true });
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
  process.exit(1);
}
