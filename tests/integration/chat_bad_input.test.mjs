#!/usr/bin/env node
// Bad input to the chat (parley's chat plugin, janus.plugin.textroom; clients in Chromium
// pages running lib/page/chat.js, node-side Janus sessions, REST). Index 19 (default chat
// limits), and for the flood a second server on index 38 with --chat.rate_per_s=2
// --chat.burst=5. Every refusal is a clear error and stores nothing:
//  - Janus API: `setup` twice -> 416; `{"textroom":"setup"}` instead of `request` accepted
//    (offer); `list` answered.
//  - join: another pair's room -> 419, username not your id (the peer's, a made-up one) ->
//    419, an unknown room -> 417, joining twice -> 421.
//  - message: no client_id -> 413, a client_id that is no UUID -> 414, empty text -> 414,
//    4097 bytes -> 414 (4096 bytes of 2-byte characters accepted), a NUL in the text -> 414,
//    a room not joined -> 422 / 419.
//  - invalid UTF-8: bytes sent as a binary data-channel message (0xFF, an overlong 0xC0 0xAF,
//    an encoded surrogate 0xED 0xA0 0x80 inside the text) -> an error 412/414 or ignored, never
//    stored; a JSON.stringify'd lone surrogate (the escape \ud800 reaches the server) ->
//    refused (412/414); a raw string with a lone surrogate -> Chromium sends U+FFFD (valid
//    UTF-8), stored and delivered as U+FFFD.
//  - malformed JSON on the channel: not JSON, a JSON array, no `textroom` -> 412 / 412 / 413;
//    an unknown request -> 415; `leave` without a transaction -> success.
//  - flood: 20 messages back to back with burst 5 at 2/s: 5 (or 6) stored, the rest 429 with
//    retry_after_ms in (0, 1000]; REST shares the bucket (429 rate_limited + Retry-After);
//    after retry_after_ms a message goes through. Only the accepted ones are charged.
//  - blocks: the host blocks the caller (POST /blocks 201, again 200, GET lists it); the
//    caller's message -> 419 over the channel and 403 `blocked` over REST, nothing stored;
//    the caller's videocall to the (registered) host ends `unavailable` exactly as a call to
//    a host with no device does, and the host does not ring; DELETE /blocks -> 204, again
//    404; then the message goes through and the call rings.
//  - REST: someone else's conversation 403 not_member (messages GET/POST, read), unknown id
//    404, empty text 400 invalid_text, bad client_id 400 invalid_client_id, client_date an
//    hour off 400 clock_skew, no credit 402 (needed, balance), conversation with yourself /
//    another caller 422 invalid_peer, with an unknown user 404.
// Afterwards a fresh pair sets up, joins and messages; /janus/info answers; the ledger check
// is ok. Prints each refusal.
import fs from 'node:fs';
import { openBrowser } from './lib/browser.mjs';
import { prepareSdpPage } from './lib/calls.mjs';
import {
  ChatClient, account, api, checkDelivery, checkError, checkSent, chatServerOpts, conversation, history, moneyOk,
  openChatPage, pair, rawTextroom, restError, restSend, skipUnlessChat, sleep, uuid, wallet, withChatClients,
} from './lib/chat.mjs';
import { brief, rawDevice, sdpOffer } from './lib/vcraw.mjs';
import { assert, startServer, withServer } from './lib/server.mjs';

const RATE_PER_S = 2;
const BURST = 5;
const DEVICE_PER_S = 20;   // the flood server's per-device request bucket
const DEVICE_BURST = 40;
const lines = [];
const say = (s) => lines.push(s);

// A reply or, for requests the server cannot read a transaction from, the first error after
// the mark.
async function errorAfter(c, since, ms = 3000) {
  return c.waitMsg({ textroom: 'error' }, since, ms);
}

await withServer(chatServerOpts(19), async (srv) => {
  skipUnlessChat();
  const P1 = await pair(srv, { rate: 2, names: ['Bad Caller 1', 'Bad Host 1'] });
  const P2 = await pair(srv, { rate: 2, names: ['Bad Caller 2', 'Bad Host 2'] });
  const br = await openBrowser();
  const raws = [];
  try {
    await withChatClients(async () => {
      // ---- Janus API (node side) ----
      {
        const { session, handle } = await rawTextroom(srv, P1.caller.token, 'raw textroom');
        raws.push(session);
        let r = await handle.message({ request: 'setup' });
        assert(r && r.janus === 'event' && r.jsep && r.jsep.type === 'offer' && r.data.result === 'ok', `setup: ${JSON.stringify(brief(r))}`);
        r = await handle.message({ request: 'setup' });
        assert(r && r.data && r.data.error_code === 416, `setup twice: ${JSON.stringify(brief(r))}, want error 416`);
        const h2 = await session.attach('janus.plugin.textroom', 'raw textroom 2');
        r = await h2.message({ textroom: 'setup' });
        assert(r && r.janus === 'event' && r.jsep && r.jsep.type === 'offer', `{"textroom":"setup"}: ${JSON.stringify(brief(r))}`);
        r = await h2.message({ request: 'list' });
        assert(r && r.data && r.data.textroom === 'success' && Array.isArray(r.data.list), `list over the Janus API: ${JSON.stringify(brief(r))}`);
        say(`Janus API: setup twice -> ${416}; "textroom":"setup" -> offer; list -> ${r.data.list.length} rooms`);
        await session.close();
      }

      const page = await openChatPage(br, 'bad input');
      const c1 = await ChatClient.open(page, 'caller 1', srv, P1.caller.token);
      const hpage = await openChatPage(br, 'host 1');
      const h1 = await ChatClient.open(hpage, 'host 1', srv, P1.host.token);
      const room = P1.room;

      // ---- join ----
      let r = await c1.request({ textroom: 'join', room: P2.room, username: P1.caller.username });
      checkError("join another pair's room", r, 419);
      r = await c1.request({ textroom: 'join', room, username: P1.host.username });
      checkError('join as the peer', r, 419);
      r = await c1.request({ textroom: 'join', room, username: 'somebody' });
      checkError('join with a made-up username', r, 419);
      r = await c1.request({ textroom: 'join', room: 987654321, username: P1.caller.username });
      checkError('join an unknown room', r, 417);
      await c1.join(room, P1.caller);
      await h1.join(room, P1.host);
      r = await c1.request({ textroom: 'join', room, username: P1.caller.username });
      checkError('join twice', r, 421);
      say("join: another pair's room 419, the peer's username 419, a made-up one 419, unknown room 417, twice 421");

      // ---- message fields ----
      let hm = await h1.mark();
      r = await c1.request({ textroom: 'message', room, text: 'no client id' });
      checkError('message without client_id', r, 413);
      r = await c1.request({ textroom: 'message', room, text: 'bad client id', client_id: 'not-a-uuid' });
      checkError('client_id not a UUID', r, 414);
      r = await c1.request({ textroom: 'message', room, text: '', client_id: uuid() });
      checkError('empty text', r, 414);
      r = await c1.request({ textroom: 'message', room, text: 'x'.repeat(4097), client_id: uuid() });
      checkError('4097 bytes', r, 414);
      r = await c1.request({ textroom: 'message', room, text: 'é'.repeat(2049), client_id: uuid() });
      checkError('4098 bytes of 2-byte characters', r, 414);
      r = await c1.request({ textroom: 'message', room, text: 'a\u0000b', client_id: uuid() });
      checkError('a NUL in the text', r, 414);
      r = await c1.request({ textroom: 'message', room: P2.room, text: 'not my room', client_id: uuid() });
      const notIn = r.json && r.json.error_code;
      assert(r.json && r.json.textroom === 'error' && (notIn === 422 || notIn === 419), `message to a room not joined: ${JSON.stringify(r.json)}, want 422 or 419`);
      const big = await c1.say(room, 'é'.repeat(2048));
      const bj = checkSent('4096 bytes of 2-byte characters', big.reply, { seq: 1, charged: 2, clientId: big.clientId });
      const bd = await h1.waitMsg({ textroom: 'message', msg_id: bj.msg_id }, hm, 5000);
      checkDelivery('the 4096-byte message', bd, bj, { room, from: P1.caller.id, text: 'é'.repeat(2048) });
      say(`message: no client_id 413, bad client_id 414, empty 414, 4097 bytes 414, 4098 bytes (2-byte chars) 414, NUL 414, ` +
        `room not joined ${notIn}; 4096 bytes accepted`);

      // ---- invalid UTF-8 ----
      const enc = (s) => [...Buffer.from(s, 'utf8')];
      const wrap = (bytes, tr) => [...enc(`{"textroom":"message","transaction":"${tr}","room":${room},"client_id":"${uuid()}","text":"a`),
        ...bytes, ...enc('b"}')];
      const utfOut = [];
      for (const [name, bytes] of [['0xFF', [0xff]], ['overlong 0xC0 0xAF', [0xc0, 0xaf]], ['surrogate 0xED 0xA0 0x80', [0xed, 0xa0, 0x80]]]) {
        const tr = `utf-${uuid().slice(0, 8)}`;
        const m = await c1.mark();
        await c1.sendBytes(wrap(bytes, tr));
        let got = null;
        try { got = await errorAfter(c1, m, 2000); } catch { /* ignored */ }
        const ok = (await c1.msgs(m)).filter((x) => x.json && x.json.textroom === 'success');
        assert(ok.length === 0, `invalid UTF-8 (${name}) as binary was accepted: ${JSON.stringify(ok)}`);
        if (got) {
          assert(got.json.error_code === 412 || got.json.error_code === 414, `invalid UTF-8 (${name}) as binary: ${JSON.stringify(got.json)}, want 412 or 414`);
          utfOut.push(`${name} ${got.json.error_code}`);
        } else utfOut.push(`${name} ignored`);
      }
      {
        const m = await c1.mark();
        await c1.send(JSON.stringify({ textroom: 'message', transaction: 'lone-escaped', room, client_id: uuid(), text: 'a\ud800b' }));
        const got = await errorAfter(c1, m, 3000);
        assert(got.json.error_code === 412 || got.json.error_code === 414, `a lone surrogate escaped as \\ud800: ${JSON.stringify(got.json)}, want 412 or 414`);
        utfOut.push(`escaped \\ud800 ${got.json.error_code}`);
      }
      hm = await h1.mark();
      {
        const cid = uuid();
        const raw = `{"textroom":"message","transaction":"lone-raw","room":${room},"client_id":"${cid}","text":"a\ud800b"}`;
        const m = await c1.mark();
        await c1.send(raw);
        const got = await c1.waitMsg({ transaction: 'lone-raw' }, m, 3000);
        const j = checkSent('a raw lone surrogate (sent as U+FFFD by Chromium)', got, { seq: 2, charged: 2, clientId: cid });
        const d = await h1.waitMsg({ textroom: 'message', msg_id: j.msg_id }, hm, 5000);
        assert(d.json.text === 'a\ufffdb', `the raw lone surrogate reached the host as ${JSON.stringify(d.json.text)}, want "a\\ufffdb"`);
        utfOut.push('raw lone surrogate -> U+FFFD stored (seq 2)');
      }
      const histU = await history(srv, P1.caller, room);
      assert(histU.length === 2, `history after the UTF-8 tests: ${histU.length} messages, want 2`);
      say(`invalid UTF-8: ${utfOut.join(', ')}`);

      // ---- malformed JSON ----
      {
        let m = await c1.mark();
        await c1.send('{"textroom":"message", this is not json');
        let e = await errorAfter(c1, m);
        assert(e.json.error_code === 412, `not JSON: ${JSON.stringify(e.json)}, want 412`);
        m = await c1.mark();
        await c1.send('[1,2,3]');
        e = await errorAfter(c1, m);
        assert(e.json.error_code === 412, `a JSON array: ${JSON.stringify(e.json)}, want 412`);
        r = await c1.request({ room, text: 'no textroom' });
        checkError('no textroom element', r, 413);
        r = await c1.request({ textroom: 'dance', room });
        checkError('an unknown request', r, 415);
        m = await c1.mark();
        await c1.send({ textroom: 'leave', room });
        const lv = await c1.waitMsg({ textroom: 'success' }, m, 3000);
        assert(lv.json.transaction === undefined || lv.json.transaction === null, `leave without transaction: ${JSON.stringify(lv.json)}`);
        await c1.join(room, P1.caller);
        say('malformed: not JSON 412, array 412, no textroom 413, unknown request 415; leave without a transaction -> success');
      }

      // ---- flood (a second server with the low limits) ----
      const fsrv = await startServer(chatServerOpts(38, [`--chat.rate_per_s=${RATE_PER_S}`, `--chat.burst=${BURST}`,
        `--chat.device_requests_per_s=${DEVICE_PER_S}`, `--chat.device_burst=${DEVICE_BURST}`]));
      try {
        const P3 = await pair(fsrv, { rate: 1, names: ['Flood Caller', 'Flood Host'] });
        const fpage = await openChatPage(br, 'flood');
        const f = await ChatClient.open(fpage, 'flood caller', fsrv, P3.caller.token);
        await f.join(P3.room, P3.caller);
        const t0 = Date.now();
        const list = Array.from({ length: 20 }, (_, k) => ({ textroom: 'message', room: P3.room, text: `flood ${k}`, client_id: uuid(), ack: true }));
        const replies = await f.burst(list);
        const spanS = (Date.now() - t0) / 1000;
        const ok = replies.filter((x) => x.json.textroom === 'success');
        const limited = replies.filter((x) => x.json.textroom === 'error');
        const maxOk = BURST + Math.ceil(spanS * RATE_PER_S) + 1;
        assert(ok.length >= BURST && ok.length <= maxOk, `flood: ${ok.length} accepted in ${spanS.toFixed(2)} s, want ${BURST}..${maxOk}`);
        for (const x of limited) {
          assert(x.json.error_code === 429 && Number.isInteger(x.json.retry_after_ms) && x.json.retry_after_ms > 0 &&
            x.json.retry_after_ms <= 1000 / RATE_PER_S + 100, `flood refusal ${JSON.stringify(x.json)}, want 429 with retry_after_ms in (0, ${1000 / RATE_PER_S}]`);
        }
        assert(ok.length + limited.length === 20, 'flood: replies neither success nor error');
        const okSeqs = ok.map((x) => x.json.seq).sort((a, b) => a - b).join();
        assert(okSeqs === Array.from({ length: ok.length }, (_, k) => k + 1).join(), `flood: accepted seqs ${okSeqs}`);
        const rr = await restSend(fsrv, P3.caller, P3.room, { client_id: uuid(), text: 'REST in the same bucket' });
        assert(rr.status === 429 && restError(rr).code === 'rate_limited', `REST right after the flood: ${rr.status} ${JSON.stringify(rr.json)}, want 429 rate_limited`);
        const wait = Math.max(...limited.map((x) => x.json.retry_after_ms), 1000 / RATE_PER_S);
        await sleep(wait + 100);
        const after = await f.say(P3.room, 'after waiting');
        checkSent('after retry_after_ms', after.reply, { seq: ok.length + 1, charged: 1, clientId: after.clientId });
        const fh = await history(fsrv, P3.caller, P3.room);
        assert(fh.length === ok.length + 1, `flood: history ${fh.length}, want ${ok.length + 1}`);
        const w = await wallet(fsrv, P3.caller);
        assert(w.available === 100 - (ok.length + 1), `flood: wallet ${JSON.stringify(w)}, want ${100 - ok.length - 1}`);
        say(`flood: 20 back to back in ${spanS.toFixed(2)} s -> ${ok.length} stored, ${limited.length} x 429 (retry_after_ms ` +
          `${Math.min(...limited.map((x) => x.json.retry_after_ms))}..${Math.max(...limited.map((x) => x.json.retry_after_ms))}); REST 429 too; ` +
          `after ${wait} ms one more accepted; charged ${ok.length + 1}`);
        // Any request takes a token of the device's own bucket: 60 cheap `list`s at once.
        const lists = await f.burst(Array.from({ length: 60 }, () => ({ textroom: 'list' })));
        const listOk = lists.filter((x) => x.json.textroom === 'success');
        const listLimited = lists.filter((x) => x.json.textroom === 'error');
        assert(listOk.length >= 1 && listOk.length < DEVICE_BURST && listLimited.length === 60 - listOk.length,
          `device bucket: ${listOk.length} lists answered, ${listLimited.length} refused, want fewer than ${DEVICE_BURST} answered`);
        for (const x of listLimited) {
          assert(x.json.error_code === 429 && x.json.reason === 'rate_limited' && x.json.retry_after_ms > 0 &&
            x.json.retry_after_ms <= 1000 / DEVICE_PER_S + 10, `device bucket refusal ${JSON.stringify(x.json)}`);
        }
        await sleep(300);
        const l2 = await f.request({ textroom: 'list' });
        assert(l2.json.textroom === 'success', `list after the device bucket refilled: ${JSON.stringify(l2.json)}`);
        say(`device bucket (${DEVICE_PER_S}/s, burst ${DEVICE_BURST}): 60 lists at once -> ${listOk.length} answered, ` +
          `${listLimited.length} x 429 rate_limited; one more after 300 ms`);
        await f.close();
        await moneyOk(fsrv, 'the flood');
        const how = await fsrv.stop();
        assert(how.code === 0, `the flood server did not exit cleanly on SIGTERM: ${JSON.stringify(how)}`);
        const rep = fsrv.sanitizerReports();
        assert(rep.length === 0, `sanitizer reports in the flood server's log:\n${rep.slice(0, 10).join('\n')}`);
        fs.rmSync(fsrv.dir, { recursive: true, force: true });
      } catch (e) {
        await fsrv.stop();
        console.error(`--- last 40 lines of the flood server's log (${fsrv.logFile}) ---\n${fsrv.tail(40)}`);
        throw e;
      }

      // ---- blocks ----
      {
        await prepareSdpPage(br.page);
        const host = P1.host;
        const caller = P1.caller;
        const hostDev = await rawDevice(srv, { token: host.token, label: 'blocking host', username: host.username });
        const callDev = await rawDevice(srv, { token: caller.token, label: 'blocked caller', username: caller.username });
        raws.push(hostDev.session, callDev.session);
        let b = await api(srv, 'POST', '/blocks', { user_id: caller.id }, host.token);
        assert(b.status === 201, `POST /blocks: ${b.status} ${JSON.stringify(b.json)}`);
        b = await api(srv, 'POST', '/blocks', { user_id: caller.id }, host.token);
        assert(b.status === 200, `POST /blocks again: ${b.status} ${JSON.stringify(b.json)}`);
        b = await api(srv, 'GET', '/blocks', undefined, host.token);
        assert(b.status === 200 && b.json.blocks.length === 1 && b.json.blocks[0].user_id === caller.id && b.json.blocks[0].display_name === caller.name,
          `GET /blocks: ${b.status} ${JSON.stringify(b.json)}`);
        hm = await h1.mark();
        const before = (await history(srv, caller, room)).length;
        r = (await c1.say(room, 'blocked?')).reply;
        checkError('a blocked caller messaging', r, 419);
        const rb = await restSend(srv, caller, room, { client_id: uuid(), text: 'blocked over REST' });
        assert(rb.status === 403 && restError(rb).code === 'blocked', `REST send when blocked: ${rb.status} ${JSON.stringify(rb.json)}`);
        assert((await history(srv, caller, room)).length === before, 'a blocked message was stored');
        // The call: refused like a host with no device (P2's host has none).
        const hmk = hostDev.handle.mark();
        const cm = callDev.handle.mark();
        const rc = await callDev.handle.message({ request: 'call', username: host.username }, await sdpOffer(br.page));
        assert(rc && rc.janus === 'event', `blocked call: ${JSON.stringify(brief(rc))}`);
        const hb = await callDev.handle.waitEvent({ event: 'hangup' }, cm, 5000);
        const um = callDev.handle.mark();
        const ru = await callDev.handle.message({ request: 'call', username: P2.host.username }, await sdpOffer(br.page));
        assert(ru && ru.janus === 'event', `call to a host with no device: ${JSON.stringify(brief(ru))}`);
        const hu = await callDev.handle.waitEvent({ event: 'hangup' }, um, 5000);
        assert(hb.data.result.reason === 'unavailable' && hu.data.result.reason === 'unavailable',
          `blocked call ended ${JSON.stringify(hb.data)}, unavailable host ${JSON.stringify(hu.data)}: want both "unavailable"`);
        const keys = (d) => Object.keys(d.result).sort().join();
        assert(keys(hb.data) === keys(hu.data) && hb.data.error_code === undefined,
          `the blocked call's hangup ${JSON.stringify(hb.data)} is distinguishable from an unavailable host's ${JSON.stringify(hu.data)}`);
        await sleep(500);
        const rang = hostDev.handle.events.filter((e) => e.i >= hmk && e.data && e.data.result && e.data.result.event === 'incomingcall');
        assert(rang.length === 0, `the blocking host rang: ${JSON.stringify(rang.map(brief))}`);
        await h1.quiet({ textroom: 'message' }, hm, 300, 'the host got a blocked message');

        b = await api(srv, 'DELETE', `/blocks/${caller.id}`, undefined, host.token);
        assert(b.status === 204, `DELETE /blocks: ${b.status} ${JSON.stringify(b.json)}`);
        b = await api(srv, 'DELETE', `/blocks/${caller.id}`, undefined, host.token);
        assert(b.status === 404, `DELETE /blocks again: ${b.status} ${JSON.stringify(b.json)}`);
        const un = await c1.say(room, 'unblocked');
        checkSent('after the unblock', un.reply, { seq: before + 1, charged: 2, clientId: un.clientId });
        const hm2 = hostDev.handle.mark();
        const cm2 = callDev.handle.mark();
        await callDev.handle.message({ request: 'call', username: host.username }, await sdpOffer(br.page));
        await hostDev.handle.waitEvent({ event: 'incomingcall' }, hm2, 5000);
        await callDev.handle.message({ request: 'hangup' });
        await callDev.handle.waitEvent({ event: 'hangup' }, cm2, 5000);
        say(`blocks: POST 201/200, GET lists it; blocked message 419 (REST 403 blocked), nothing stored; blocked call -> hangup ` +
          `"${hb.data.result.reason}" with the same fields as a host with no device, no ring; DELETE 204/404; then message and ring`);
      }

      // ---- REST errors ----
      {
        const me = P1.caller;
        const code = (x) => `${x.status} ${restError(x).code}`;
        const out = [];
        const want = async (what, p, status, errCode) => {
          const x = await p;
          assert(x.status === status && restError(x).code === errCode, `${what}: ${x.status} ${JSON.stringify(x.json)}, want ${status} ${errCode}`);
          out.push(`${what} ${code(x)}`);
          return x;
        };
        await want("GET someone else's messages", api(srv, 'GET', `/conversations/${P2.room}/messages`, undefined, me.token), 403, 'not_member');
        await want("POST to someone else's conversation", restSend(srv, me, P2.room, { client_id: uuid(), text: 'x' }), 403, 'not_member');
        await want("read someone else's conversation", api(srv, 'POST', `/conversations/${P2.room}/read`, { up_to_seq: 1 }, me.token), 403, 'not_member');
        await want('unknown conversation', api(srv, 'GET', '/conversations/987654321/messages', undefined, me.token), 404, 'not_found');
        await want('empty text', restSend(srv, me, room, { client_id: uuid(), text: '' }), 400, 'invalid_text');
        await want('4097 bytes', restSend(srv, me, room, { client_id: uuid(), text: 'y'.repeat(4097) }), 400, 'invalid_text');
        await want('bad client_id', restSend(srv, me, room, { client_id: 'nope', text: 'x' }), 400, 'invalid_client_id');
        await want('client_date an hour off', restSend(srv, me, room, { client_id: uuid(), text: 'x', client_date: Date.now() - 3600000 }), 400, 'clock_skew');
        const other = await account(srv, 'caller', 'Other Caller');
        await want('conversation with yourself', conversation(srv, me, me.id), 422, 'invalid_peer');
        await want('conversation with another caller', conversation(srv, me, other.id), 422, 'invalid_peer');
        await want('conversation with an unknown user', conversation(srv, me, 987654321), 404, 'not_found');
        const poor = await pair(srv, { rate: 3, names: ['Poor Caller', 'Rich Host'], credits: false });
        const x = await want('no credit', restSend(srv, poor.caller, poor.room, { client_id: uuid(), text: 'x' }), 402, 'insufficient_balance');
        const e = restError(x);
        assert((e.needed ?? x.json.needed) === 3 && (e.balance ?? x.json.balance) === 0, `402 without needed/balance: ${JSON.stringify(x.json)}`);
        const skew = await restSend(srv, me, room, { client_id: uuid(), text: 'within the skew', client_date: Date.now() - 60000 });
        assert(skew.status === 201 && skew.json.client_date !== undefined, `client_date a minute off: ${skew.status} ${JSON.stringify(skew.json)}`);
        say(`REST: ${out.join(', ')}; client_date 1 min off accepted (201)`);
      }

      // ---- still serving ----
      {
        const P4 = await pair(srv, { rate: 1, names: ['Fresh Caller', 'Fresh Host'] });
        const fp = await openChatPage(br, 'fresh');
        const fc = await ChatClient.open(fp, 'fresh caller', srv, P4.caller.token);
        const fh = await ChatClient.open(fp, 'fresh host', srv, P4.host.token);
        await fc.join(P4.room, P4.caller);
        await fh.join(P4.room, P4.host);
        const m = await fh.mark();
        const s = await fc.say(P4.room, 'still here');
        const j = checkSent('a fresh pair', s.reply, { seq: 1, charged: 1, clientId: s.clientId });
        const d = await fh.waitMsg({ textroom: 'message', msg_id: j.msg_id }, m, 5000);
        checkDelivery('a fresh pair', d, j, { room: P4.room, from: P4.caller.id, text: 'still here' });
        const info = await (await fetch(`http://127.0.0.1:${srv.ports.http}/janus/info`)).json();
        assert(info.janus === 'server_info', `/janus/info ${JSON.stringify(info).slice(0, 200)}`);
        await moneyOk(srv, 'the bad input');
        say('afterwards: a fresh pair sets up, joins and messages; /janus/info answers; ledger check ok');
        for (const x of [fc, fh, c1, h1]) await x.close();
      }
      console.log(lines.join('\n'));
    });
  } catch (e) {
    console.error(lines.join('\n'));
    throw e;
  } finally {
    for (const s of raws) { try { await s.close(); } catch { /* gone */ } }
    await br.close();
  }
});
