#!/usr/bin/env node
// Chat between an aiortc client (lib/chataiortc.py, a child /usr/bin/python3 process driven
// by JSON lines through lib/aiortcpeer.mjs; Janus HTTP API, long-poll) as the Caller and a
// Chromium Host (lib/page/chat.js over WebSocket) through janus.plugin.textroom (parley's
// chat plugin). Index 17. aiortc answers the server's offer with its own data channel
// (JanusDataChannel) and its candidates in the answer SDP, trickling none.
//  - both set up and join; aiortc sees the host's join event.
//  - aiortc -> host x2: `sent` replies (msg_id, seq 1, 2, date, charged = the host's rate 2),
//    the host's page gets both; the host sends `delivered` for each and `read` up to 2:
//    aiortc gets both delivered receipts and the read receipt.
//  - host -> aiortc x2 (seq 3, 4, charged 0): aiortc gets them, sends `delivered` and `read`
//    up to 4: the host's page gets the receipts.
//  - history states read; the caller's wallet moved by 2 x 2, the host earned 2 x its part,
//    /admin/ledger/check ok.
// Prints the setup times and the delivery latencies both ways.
import { openBrowser } from './lib/browser.mjs';
import { aiortcAvailable, spawnAiortc } from './lib/aiortcpeer.mjs';
import {
  ChatClient, STARTER, checkDelivery, checkSent, chatServerOpts, history, moneyOk, openChatPage, pair, skipUnlessChat,
  split, uuid, wallet, withChatClients,
} from './lib/chat.mjs';
import { assert, skip, withServer } from './lib/server.mjs';

const RATE = 2;

await withServer(chatServerOpts(17), async (srv) => {
  skipUnlessChat();
  const why = aiortcAvailable();
  if (why) throw skip(why);
  const { caller, host, room } = await pair(srv, { rate: RATE, names: ['aiortc Caller', 'Chromium Host'] });
  const feeBps = (await (await fetch(`http://127.0.0.1:${srv.ports.admin}/admin/revenue`)).json()).platform_fee_bps;
  const br = await openBrowser();
  const aio = spawnAiortc('aiortc chat', 'chataiortc.py');
  try {
    await withChatClients(async () => {
      try {
        const hp = await openChatPage(br, 'host');
        const h = await ChatClient.open(hp, 'host', srv, host.token);
        const st = await aio.cmd('start', { server: srv.httpUrl, token: caller.token, label: 'aiortc caller' }, 30000);
        assert(st.setup && st.setup.textroom === 'event' && st.setup.result === 'ok', `aiortc setup event ${JSON.stringify(st.setup)}`);
        let am = await aio.cmd('mark');
        const jr = await aio.cmd('request', { obj: { textroom: 'join', room, username: caller.username } });
        assert(jr.json && jr.json.textroom === 'success' && jr.json.last_seq === 0, `aiortc join: ${JSON.stringify(jr.json || jr.raw)}`);
        await h.join(room, host);
        const jev = await aio.cmd('wait_msg', { match: { textroom: 'join', username: host.username }, since: am, timeout: 5 });
        assert(Number(jev.json.room) === room, `join event at aiortc ${JSON.stringify(jev.json)}`);

        // aiortc -> host.
        const lat = { up: [], down: [] };
        const sent = [];
        let hm = await h.mark();
        for (let k = 1; k <= 2; k++) {
          const text = `from aiortc ${k} ✓`;
          const clientId = uuid();
          const r = await aio.cmd('request', { obj: { textroom: 'message', room, text, client_id: clientId, ack: true } });
          const j = checkSent(`aiortc message ${k}`, r, { seq: k, charged: RATE, clientId });
          sent.push({ ...j, text, sentAt: r.sentAt });
        }
        for (const s of sent) {
          const rec = await h.waitMsg({ textroom: 'message', msg_id: s.msg_id }, hm, 5000);
          checkDelivery(`host gets aiortc message ${s.seq}`, rec, s, { room, from: caller.id, text: s.text });
          lat.up.push(rec.t - s.sentAt);
        }
        am = await aio.cmd('mark');
        for (const s of sent) {
          const d = await h.request({ textroom: 'delivered', room, msg_id: s.msg_id });
          assert(d.json.textroom === 'success', `host delivered ${s.seq}: ${JSON.stringify(d.json)}`);
        }
        const rd = await h.request({ textroom: 'read', room, up_to_seq: 2 });
        assert(rd.json.textroom === 'success', `host read: ${JSON.stringify(rd.json)}`);
        for (const s of sent) {
          const rc = await aio.cmd('wait_msg', { match: { textroom: 'receipt', msg_id: s.msg_id, state: 'delivered' }, since: am, timeout: 5 });
          assert(rc.json.seq === s.seq, `aiortc delivered receipt ${JSON.stringify(rc.json)}`);
        }
        const rr = await aio.cmd('wait_msg', { match: { textroom: 'receipt', state: 'read' }, since: am, timeout: 5 });
        assert(rr.json.up_to_seq === 2, `aiortc read receipt ${JSON.stringify(rr.json)}, want up_to_seq 2`);

        // host -> aiortc.
        am = await aio.cmd('mark');
        const back = [];
        for (let k = 3; k <= 4; k++) {
          const { reply, clientId, text } = await h.say(room, `from Chromium ${k}`);
          back.push({ ...checkSent(`host message ${k}`, reply, { seq: k, charged: 0, clientId }), text, sentAt: reply.sentAt });
        }
        hm = await h.mark();
        for (const s of back) {
          const rec = await aio.cmd('wait_msg', { match: { textroom: 'message', msg_id: s.msg_id }, since: am, timeout: 5 });
          checkDelivery(`aiortc gets host message ${s.seq}`, rec, s, { room, from: host.id, text: s.text });
          lat.down.push(rec.t - s.sentAt);
          const d = await aio.cmd('request', { obj: { textroom: 'delivered', room, msg_id: s.msg_id } });
          assert(d.json.textroom === 'success', `aiortc delivered ${s.seq}: ${JSON.stringify(d.json)}`);
        }
        const ar = await aio.cmd('request', { obj: { textroom: 'read', room, up_to_seq: 4 } });
        assert(ar.json.textroom === 'success', `aiortc read: ${JSON.stringify(ar.json)}`);
        for (const s of back) await h.waitMsg({ textroom: 'receipt', msg_id: s.msg_id, state: 'delivered' }, hm, 5000);
        const hr = await h.waitMsg({ textroom: 'receipt', state: 'read' }, hm, 5000);
        assert(hr.json.up_to_seq === 4, `host read receipt ${JSON.stringify(hr.json)}, want up_to_seq 4`);

        const hist = await history(srv, caller, room);
        assert(hist.length === 4 && hist.every((m, k) => m.seq === k + 1 && m.state === 'read'),
          `history ${JSON.stringify(hist.map((m) => [m.seq, m.state]))}, want 1..4 all read`);
        const w = await wallet(srv, caller);
        assert(w.available === STARTER - 2 * RATE && w.held === 0, `caller wallet ${JSON.stringify(w)}, want ${STARTER - 2 * RATE}`);
        const hw = await wallet(srv, host);
        assert(hw.earnings === 2 * split(RATE, feeBps).host, `host wallet ${JSON.stringify(hw)}, want earnings ${2 * split(RATE, feeBps).host}`);
        await moneyOk(srv, 'the aiortc chat');
        const info = await aio.cmd('info');
        const fmt = (a) => a.map((x) => x.toFixed(0)).join('/');
        console.log(`setup -> channel open: aiortc (HTTP, candidates in the answer) ${st.ms.toFixed(0)} ms, Chromium ${h.setup.ms.toFixed(0)} ms; ` +
          `aiortc ice ${info.ice}`);
        console.log(`aiortc -> Chromium: 2 messages (seq 1, 2, charged ${RATE} each) in ${fmt(lat.up)} ms, delivered + read receipts back; ` +
          `Chromium -> aiortc: 2 messages (seq 3, 4, free) in ${fmt(lat.down)} ms, receipts back; wallet ${w.available}, host earned ${hw.earnings}`);
        await h.close();
      } catch (e) {
        console.error(`--- aiortc chat log (last 40 lines):\n${aio.stderrTail(40)}`);
        try { console.error(`aiortc info: ${JSON.stringify(await aio.cmd('info', {}, 3000))}`); } catch { /* gone */ }
        throw e;
      }
    });
  } finally {
    await aio.close();
    await br.close();
  }
});
