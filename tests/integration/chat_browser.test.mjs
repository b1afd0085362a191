#!/usr/bin/env node
// Chat between two users in Chromium over data channels (janus.plugin.textroom, parley's chat
// plugin), each page its own browser context running lib/page/chat.js: a Caller (one
// device, noTrickle: it sends no candidate at all, as Flutter's janus_client does for
// textroom, so the server must learn its address from the connectivity checks) and a Host
// (message_rate 3) on two devices (two pages, same user, trickling).
//  - POST /conversations creates the pair's room (201), again 200 with the same id, also
//    when the host asks; setup gives an offer with one m=application; the channel opens.
//  - join: success with last_seq 0; the caller sees the host join once (not per device).
//  - caller -> host x3: `sent` replies with msg_id, seq 1..3 gap-free, date, charged 3; both
//    host devices get each message (same msg_id/seq/date/client_id/text); host -> caller x2
//    (seq 4, 5, charged 0): the caller and the host's other device get them.
//  - receipts: the host sends `delivered` for each message, the caller gets one `delivered`
//    receipt per message (a second `delivered` from the other device adds none); the host
//    reads up to 3: the caller gets the `read` receipt and the host's second device the read
//    position; the caller reads up to 5: both host devices get the receipt.
//  - REST: GET .../messages shows 5 messages, ascending, states `read`; GET /conversations
//    has last_message seq 5 and unread 0; the wallet moved by exactly 3 x 3, the host earned
//    3 x its part of 3, /admin/revenue = the fees, /admin/ledger/check ok.
// Then the server restarts ICE on the caller's PeerConnection (textroom `restart`) and a message
// still goes through.
// Prints setup times, the selected ICE pair of the noTrickle client, message latencies.
import { openBrowser } from './lib/browser.mjs';
import {
  ChatClient, STARTER, account, api, checkDelivery, checkSent, chatServerOpts, conversation, history, moneyOk,
  openChatPage, restSend, setMessageRate, skipUnlessChat, sleep, split, uuid, wallet, withChatClients,
} from './lib/chat.mjs';
import { assert, withServer } from './lib/server.mjs';

const RATE = 3;

await withServer(chatServerOpts(16), async (srv) => {
  skipUnlessChat();
  const caller = await account(srv, 'caller', 'Chat Caller');
  const host = await account(srv, 'host', 'Chat Host', { devices: ['phone', 'tablet'] });
  await setMessageRate(srv, host, RATE);
  const feeBps = (await (await fetch(`http://127.0.0.1:${srv.ports.admin}/admin/revenue`)).json()).platform_fee_bps;
  assert(Number.isInteger(feeBps), `/admin/revenue platform_fee_bps ${feeBps}`);

  // The conversation: created once per pair.
  let r = await conversation(srv, caller, host.id);
  assert(r.status === 201, `POST /conversations by the caller: ${r.status} ${JSON.stringify(r.json)}`);
  const conv = r.json;
  const room = conv.id;
  assert(Number.isInteger(room) && room > 0 && conv.caller_id === caller.id && conv.host_id === host.id,
    `conversation ${JSON.stringify(conv)}`);
  assert(conv.peer && conv.peer.id === host.id && conv.peer.role === 'host' && conv.peer.display_name === host.name,
    `conversation peer ${JSON.stringify(conv.peer)}, want the host`);
  assert(conv.last_seq === 0 && conv.unread === 0, `new conversation ${JSON.stringify(conv)}`);
  r = await conversation(srv, caller, host.id);
  assert(r.status === 200 && r.json.id === room, `POST /conversations again: ${r.status} ${JSON.stringify(r.json)}, want 200 id ${room}`);
  r = await conversation(srv, { ...host, token: host.tokens.phone }, caller.id);
  assert(r.status === 200 && r.json.id === room && r.json.peer.id === caller.id,
    `POST /conversations by the host: ${r.status} ${JSON.stringify(r.json)}, want 200 id ${room} with the caller as peer`);

  const br = await openBrowser();
  try {
    await withChatClients(async () => {
      const cp = await openChatPage(br, 'caller');
      const hp1 = await openChatPage(br, 'host phone');
      const hp2 = await openChatPage(br, 'host tablet');
      const c = await ChatClient.open(cp, 'caller', srv, caller.token, { noTrickle: true });
      const h1 = await ChatClient.open(hp1, 'host phone', srv, host.tokens.phone);
      const h2 = await ChatClient.open(hp2, 'host tablet', srv, host.tokens.tablet);
      for (const x of [c, h1, h2]) {
        assert(x.setup.setup && x.setup.setup.textroom === 'event' && x.setup.setup.result === 'ok',
          `${x.label}: setup event ${JSON.stringify(x.setup.setup)}`);
        assert(x.setup.offerHasApplication, `${x.label}: the offer has no m=application`);
      }
      const ci = await c.info();
      assert(ci.tricklesSent === 0, `the noTrickle caller sent ${ci.tricklesSent} trickles`);
      console.log(`setup -> channel open: caller (noTrickle) ${c.setup.ms.toFixed(0)} ms, host phone ${h1.setup.ms.toFixed(0)} ms, ` +
        `host tablet ${h2.setup.ms.toFixed(0)} ms; caller's selected pair ${JSON.stringify(ci.pair)}, 0 candidates sent`);

      // Join: the caller first, then the host's two devices.
      let cm = await c.mark();
      const jc = await c.join(room, caller);
      assert(jc.json.last_seq === 0 && jc.json.read_seq === 0 && jc.json.peer_read_seq === 0,
        `caller join ${JSON.stringify(jc.json)}`);
      assert(Array.isArray(jc.json.participants), `caller join without participants ${JSON.stringify(jc.json)}`);
      const j1 = await h1.join(room, host);
      assert(j1.json.participants.some((p) => p.username === caller.username),
        `host join: participants ${JSON.stringify(j1.json.participants)} lack the caller ${caller.username}`);
      const jev = await c.waitMsg({ textroom: 'join', username: host.username }, cm, 5000);
      assert(Number(jev.json.room) === room, `join event ${JSON.stringify(jev.json)}`);
      await h2.join(room, host);

      // Caller -> host, three messages.
      const sent = [];
      const hm1 = await h1.mark();
      const hm2 = await h2.mark();
      for (let k = 1; k <= 3; k++) {
        const text = `hello host ${k} — ünïcødé ✓`;
        const { reply, clientId } = await c.say(room, text);
        const j = checkSent(`caller message ${k}`, reply, { seq: k, charged: RATE, clientId });
        sent.push({ ...j, text, from: caller.id, t: reply.t, sentAt: reply.sentAt });
      }
      const lat = [];
      for (const [dev, m0] of [[h1, hm1], [h2, hm2]]) {
        for (const s of sent) {
          const rec = await dev.waitMsg({ textroom: 'message', msg_id: s.msg_id }, m0, 5000);
          checkDelivery(`${dev.label} gets caller message ${s.seq}`, rec, s, { room, from: caller.id, text: s.text });
          lat.push(rec.t - s.sentAt);
        }
        const all = (await dev.msgs(m0)).filter((x) => x.json && x.json.textroom === 'message');
        assert(all.length === 3 && all.map((x) => x.json.seq).join() === '1,2,3',
          `${dev.label}: messages ${JSON.stringify(all.map((x) => x.json.seq))}, want 1,2,3 once each`);
      }
      const cOwn = (await c.msgs(cm)).filter((x) => x.json && x.json.textroom === 'message');
      assert(cOwn.length === 0, `the caller (no other device) got its own messages back: ${JSON.stringify(cOwn)}`);

      // Host -> caller, two messages from the phone.
      cm = await c.mark();
      const h2m = await h2.mark();
      for (let k = 4; k <= 5; k++) {
        const text = `hello caller ${k}`;
        const { reply, clientId } = await h1.say(room, text);
        const j = checkSent(`host message ${k}`, reply, { seq: k, charged: 0, clientId });
        sent.push({ ...j, text, from: host.id, sentAt: reply.sentAt });
      }
      for (const s of sent.slice(3)) {
        const rec = await c.waitMsg({ textroom: 'message', msg_id: s.msg_id }, cm, 5000);
        checkDelivery(`caller gets host message ${s.seq}`, rec, s, { room, from: host.id, text: s.text });
        lat.push(rec.t - s.sentAt);
        const other = await h2.waitMsg({ textroom: 'message', msg_id: s.msg_id }, h2m, 5000);
        checkDelivery(`host tablet (the sender's other device) gets host message ${s.seq}`, other, s, { room, from: host.id, text: s.text });
      }

      // Receipts: delivered for each caller message from the phone; the tablet repeats one.
      cm = await c.mark();
      for (const s of sent.slice(0, 3)) {
        const d = await h1.request({ textroom: 'delivered', room, msg_id: s.msg_id });
        assert(d.json.textroom === 'success', `delivered ${s.seq}: ${JSON.stringify(d.json)}`);
      }
      const dAgain = await h2.request({ textroom: 'delivered', room, msg_id: sent[0].msg_id });
      assert(dAgain.json.textroom === 'success', `a second delivered: ${JSON.stringify(dAgain.json)}`);
      for (const s of sent.slice(0, 3)) {
        const rc = await c.waitMsg({ textroom: 'receipt', msg_id: s.msg_id, state: 'delivered' }, cm, 5000);
        assert(Number(rc.json.room) === room && rc.json.seq === s.seq, `delivered receipt ${JSON.stringify(rc.json)}, want seq ${s.seq}`);
      }
      // Read up to 3 by the phone: the caller's receipt, the tablet's read position.
      const t2 = await h2.mark();
      const h1r = await h1.mark();
      const rd = await h1.request({ textroom: 'read', room, up_to_seq: 3 });
      assert(rd.json.textroom === 'success', `read up to 3: ${JSON.stringify(rd.json)}`);
      const rr = await c.waitMsg({ textroom: 'receipt', state: 'read' }, cm, 5000);
      assert(rr.json.up_to_seq === 3 && Number(rr.json.room) === room, `read receipt ${JSON.stringify(rr.json)}, want up_to_seq 3`);
      const sync = await h2.waitMsg({ textroom: 'read' }, t2, 5000);
      assert(sync.json.up_to_seq === 3 && Number(sync.json.room) === room, `the reader's second device got ${JSON.stringify(sync.json)}, want up_to_seq 3`);
      const dr = (await c.msgs(cm)).filter((x) => x.json && x.json.textroom === 'receipt' && x.json.state === 'delivered');
      assert(dr.length === 3, `the caller got ${dr.length} delivered receipts for 3 messages (one per message): ${JSON.stringify(dr.map((x) => x.json))}`);
      const selfRead = (await h1.msgs(h1r)).filter((x) => x.json && (x.json.textroom === 'read' || x.json.textroom === 'receipt'));
      assert(selfRead.length === 0, `the reading device got its own read back: ${JSON.stringify(selfRead)}`);

      // The caller marks the host's messages delivered and read: both host devices see it.
      const p1 = await h1.mark();
      const p2 = await h2.mark();
      for (const s of sent.slice(3)) {
        const d = await c.request({ textroom: 'delivered', room, msg_id: s.msg_id });
        assert(d.json.textroom === 'success', `caller delivered ${s.seq}: ${JSON.stringify(d.json)}`);
      }
      const cr = await c.request({ textroom: 'read', room, up_to_seq: 5 });
      assert(cr.json.textroom === 'success', `caller read up to 5: ${JSON.stringify(cr.json)}`);
      for (const [dev, m0] of [[h1, p1], [h2, p2]]) {
        for (const s of sent.slice(3)) await dev.waitMsg({ textroom: 'receipt', msg_id: s.msg_id, state: 'delivered' }, m0, 5000);
        const x = await dev.waitMsg({ textroom: 'receipt', state: 'read' }, m0, 5000);
        assert(x.json.up_to_seq === 5, `${dev.label}: read receipt ${JSON.stringify(x.json)}, want up_to_seq 5`);
      }
      // One delivered receipt per message after all (the tablet's repeat added none).
      await sleep(300);
      const drAll = (await c.msgs(cm)).filter((x) => x.json && x.json.textroom === 'receipt' && x.json.state === 'delivered');
      assert(drAll.length === 3, `delivered receipts at the caller: ${drAll.length}, want 3`);
      const hostJoins = (await c.msgs(0)).filter((x) => x.json && x.json.textroom === 'join' && x.json.username === host.username);
      assert(hostJoins.length === 1, `the caller saw ${hostJoins.length} join events for the host's 2 devices, want 1`);

      // REST views.
      const hist = await history(srv, caller, room);
      assert(hist.length === 5 && hist.map((m) => m.seq).join() === '1,2,3,4,5', `history ${JSON.stringify(hist).slice(0, 600)}`);
      for (const m of hist) {
        const s = sent[m.seq - 1];
        assert(m.msg_id === s.msg_id && m.text === s.text && m.date === s.date && m.client_id === s.client_id &&
          String(m.from) === String(s.from) && m.charged === (m.seq <= 3 ? RATE : 0),
        `history message ${JSON.stringify(m)}, sent as ${JSON.stringify(s)}`);
        assert(m.state === 'read', `history message ${m.seq} state ${m.state}, want read`);
      }
      const hist2 = await history(srv, { ...host, token: host.tokens.tablet }, room, '?limit=2');
      assert(hist2.length === 2 && hist2[0].seq === 4 && hist2[1].seq === 5, `host history limit 2: ${JSON.stringify(hist2.map((m) => m.seq))}`);
      const lc = await api(srv, 'GET', '/conversations', undefined, caller.token);
      assert(lc.status === 200 && Array.isArray(lc.json.conversations), `GET /conversations: ${lc.status} ${JSON.stringify(lc.json)}`);
      const mine = lc.json.conversations.find((x) => x.id === room);
      assert(mine && mine.last_seq === 5 && mine.unread === 0 && mine.read_seq === 5 && mine.last_message && mine.last_message.seq === 5,
        `GET /conversations (caller): ${JSON.stringify(lc.json).slice(0, 600)}`);

      // Money: 3 messages at RATE.
      const w = await wallet(srv, caller);
      assert(w.available === STARTER - 3 * RATE && w.held === 0, `caller wallet ${JSON.stringify(w)}, want ${STARTER - 3 * RATE} available, 0 held`);
      const hw = await wallet(srv, { ...host, token: host.tokens.phone });
      const part = split(RATE, feeBps);
      assert(hw.earnings === 3 * part.host, `host wallet ${JSON.stringify(hw)}, want earnings ${3 * part.host} (3 x ${part.host})`);
      const rev = await (await fetch(`http://127.0.0.1:${srv.ports.admin}/admin/revenue`)).json();
      assert(rev.platform_revenue === 3 * part.fee, `/admin/revenue ${JSON.stringify(rev)}, want ${3 * part.fee}`);
      await moneyOk(srv, 'the chat');
      lat.sort((a, b) => a - b);
      console.log(`5 messages (3 caller->host billed ${RATE} each, 2 host->caller free), seq 1..5; delivery latency ` +
        `min ${lat[0]} ms, median ${lat[lat.length >> 1]} ms, max ${lat[lat.length - 1]} ms (${lat.length} deliveries)`);
      console.log(`receipts: 3 delivered + 1 read at the caller, read position synced to the host's tablet; ` +
        `caller wallet ${STARTER} -> ${w.available}, host earnings ${hw.earnings}, fees ${rev.platform_revenue}; ledger check ok`);
      // An ICE restart made by the server (textroom's `restart`) on the caller, who trickles
      // nothing: new credentials on both sides, and the channel still carries messages.
      const rs = await c.restart();
      assert(rs.before.local !== rs.after.local && rs.before.remote !== rs.after.remote &&
        ['connected', 'completed'].includes(rs.ice), `restart: ${JSON.stringify(rs)}`);
      const rm = await h1.mark();
      const after = await c.request({ textroom: 'message', room, text: 'after the restart', client_id: uuid() });
      assert(after.json.textroom === 'success' && after.json.seq === 6, `message after the restart: ${JSON.stringify(after.json)}`);
      await h1.waitMsg({ textroom: 'message', seq: 6 }, rm, 5000);

      // A message sent over REST reaches the live devices at once (the platform's listener ->
      // the plugin's notify), and a read over REST reaches the writer's devices as a receipt.
      const cm2 = await c.mark();
      const cm2Time = Date.now();
      const viaRest = await restSend(srv, { ...host, token: host.tokens.phone }, room, { client_id: uuid(), text: 'over REST' });
      assert(viaRest.status === 201 && viaRest.json.seq === 7, `REST send: ${viaRest.status} ${JSON.stringify(viaRest.json)}`);
      const live = await c.waitMsg({ textroom: 'message', seq: 7, text: 'over REST' }, cm2, 3000);
      const h1m = await h1.mark();
      const restRead = await api(srv, 'POST', `/conversations/${room}/read`, { up_to_seq: 7 }, caller.token);
      assert(restRead.status === 200 && restRead.json.read_seq === 7, `REST read: ${restRead.status} ${JSON.stringify(restRead.json)}`);
      await h1.waitMsg({ textroom: 'receipt', state: 'read', up_to_seq: 7 }, h1m, 3000);
      console.log(`REST send reached the caller's channel in ${live.t - cm2Time} ms; REST read reached the host as a receipt`);
      console.log(`ICE restart by the server: ufrags ${rs.before.local} -> ${rs.after.local} (caller), ` +
        `${rs.before.remote} -> ${rs.after.remote} (server); message 6 delivered after it`);
      for (const x of [c, h1, h2]) await x.close();
    });
  } finally {
    await br.close();
  }
});
