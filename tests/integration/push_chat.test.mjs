#!/usr/bin/env node
// Chat message pushes (issue 12) against the local fake FCM (lib/pushfake.mjs); index 39, the
// fake on HTTP port + 5. A caller and a host with two devices (phone, tablet), each device and
// the caller with its own FCM token:
//  0. Before the host stores any token, two messages push nothing (the server then knows the
//     host has none and skips the push path); the tokens stored after must end that.
//  1. The host offline: a message over REST gives one push per host device (two), none to
//     the sender; each is a notification titled with the sender's display name, the text as
//     body, data {type chat_message, room, msg_id}, collapse key chat-<room>.
//  2. The host's phone joins the conversation (Chromium, lib/page/chat.js) and the caller
//     sends over its data channel: the phone gets the message live and exactly one push goes
//     out, to the tablet. The same over REST: one push, to the tablet.
//  3. The host blocks the caller: the refused message (REST 403) pushes nothing; unblocked,
//     the next one pushes again.
import { openBrowser } from './lib/browser.mjs';
import {
  ChatClient, api, chatServerOpts, openChatPage, pair, restSend, skipUnlessChat, sleep, uuid, withChatClients,
} from './lib/chat.mjs';
import { PushFake, makePki, pushArgs, serviceAccount } from './lib/pushfake.mjs';
import { assert, portsFor, withServer } from './lib/server.mjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'it-push-chat-'));
const pki = makePki(dir);
const fakePort = portsFor(39).http + 5;
const account = serviceAccount(dir, `https://127.0.0.1:${fakePort}/token`);
const fake = await new PushFake({ pki, account }).start(fakePort);

function chatPushes(msgId) {
  return fake.messages.filter((m) => m.message && m.message.data && m.message.data.msg_id === msgId);
}

async function settle(msgId, n, what) {
  await fake.waitFor(() => chatPushes(msgId).length >= n, 5000, what);
  await sleep(700);   // and nothing more
  const got = chatPushes(msgId);
  assert(got.length === n, `${what}: ${got.length} pushes (${got.map((m) => m.token).join(', ')}), want ${n}`);
  return got;
}

function checkPush(m, { room, msgId, sender, text }) {
  const msg = m.message;
  assert(msg.notification && msg.notification.title === sender && msg.notification.body === text,
    `notification ${JSON.stringify(msg.notification)}, want title ${sender} body ${text}`);
  const d = msg.data || {};
  assert(d.type === 'chat_message' && d.room === String(room) && d.msg_id === msgId, `data ${JSON.stringify(d)}`);
  assert(msg.android && msg.android.collapse_key === `chat-${room}`, `android ${JSON.stringify(msg.android)}`);
}

const lines = [];
await withServer(chatServerOpts(39, pushArgs(fake, account, pki)), async (srv) => {
  skipUnlessChat();
  const { caller, host, room } = await pair(srv, { rate: 1, names: ['Push Chat Caller', 'Push Chat Host'], hostDevices: ['phone', 'tablet'] });
  // 0. before the host has any token: nothing to push, and the server notes that the host has
  // none (so later messages skip the push path); the tokens stored next must void that note
  let r0 = await restSend(srv, caller, room, { client_id: uuid(), text: 'before any token' });
  assert(r0.status === 201, `REST send 0: ${r0.status} ${JSON.stringify(r0.json)}`);
  await settle(r0.json.msg_id, 0, 'a message to a host without tokens');
  r0 = await restSend(srv, caller, room, { client_id: uuid(), text: 'still no token' });
  assert(r0.status === 201, `REST send 0b: ${r0.status}`);
  await settle(r0.json.msg_id, 0, 'a second message to a host without tokens');
  lines.push('host without tokens: nothing pushed');
  const tokens = { phone: 'chat-tok-phone', tablet: 'chat-tok-tablet' };
  for (const [d, t] of Object.entries(tokens)) {
    const r = await api(srv, 'PUT', '/me/push-token', { kind: 'fcm', token: t }, host.tokens[d]);
    assert(r.status === 200, `PUT push-token ${d}: ${r.status} ${JSON.stringify(r.json)}`);
  }
  let r = await api(srv, 'PUT', '/me/push-token', { kind: 'fcm', token: 'chat-tok-caller' }, caller.token);
  assert(r.status === 200, `PUT push-token caller: ${r.status}`);
  const br = await openBrowser();
  try {
    await withChatClients(async () => {
      // 1. offline: one push per device
      let text = 'are you there? ✓';
      r = await restSend(srv, caller, room, { client_id: uuid(), text });
      assert(r.status === 201, `REST send: ${r.status} ${JSON.stringify(r.json)}`);
      let msgId = r.json.msg_id;
      let got = await settle(msgId, 2, 'a message to an offline host');
      assert(got.map((m) => m.token).sort().join() === 'chat-tok-phone,chat-tok-tablet', `pushed to ${got.map((m) => m.token)}`);
      for (const m of got) checkPush(m, { room, msgId, sender: 'Push Chat Caller', text });
      lines.push('host offline: one push per device (2), none to the sender');

      // 2. the phone joins; channel and REST messages push to the tablet only
      const cp = await openChatPage(br, 'caller');
      const hp = await openChatPage(br, 'host phone');
      const c = await ChatClient.open(cp, 'caller', srv, caller.token);
      const h = await ChatClient.open(hp, 'host phone', srv, host.tokens.phone);
      await c.join(room, caller);
      await h.join(room, host);
      const hm = await h.mark();
      text = 'over the channel';
      const { reply } = await c.say(room, text);
      assert(reply.json && reply.json.textroom === 'success' && reply.json.msg_id, `channel send: ${JSON.stringify(reply.json || reply.raw)}`);
      msgId = reply.json.msg_id;
      await h.waitMsg({ textroom: 'message', msg_id: msgId }, hm, 5000);
      got = await settle(msgId, 1, 'a channel message while the phone is joined');
      assert(got[0].token === 'chat-tok-tablet', `pushed to ${got[0].token}, want the tablet`);
      checkPush(got[0], { room, msgId, sender: 'Push Chat Caller', text });
      text = 'over REST';
      r = await restSend(srv, caller, room, { client_id: uuid(), text });
      assert(r.status === 201, `REST send 2: ${r.status}`);
      msgId = r.json.msg_id;
      await h.waitMsg({ textroom: 'message', msg_id: msgId }, hm, 5000);
      got = await settle(msgId, 1, 'a REST message while the phone is joined');
      assert(got[0].token === 'chat-tok-tablet', `pushed to ${got[0].token}, want the tablet`);
      lines.push('phone joined: a channel message and a REST message each push once, to the tablet');

      // the host answers from its phone: the caller is joined, so nobody is pushed
      const { reply: back } = await h.say(room, 'hi back');
      assert(back.json && back.json.msg_id, `host send: ${JSON.stringify(back.json)}`);
      await settle(back.json.msg_id, 0, 'a message to a joined caller');

      // 3. blocks suppress
      let b = await api(srv, 'POST', '/blocks', { user_id: caller.id }, host.tokens.phone);
      assert(b.status === 201, `POST /blocks: ${b.status} ${JSON.stringify(b.json)}`);
      const before = fake.messages.length;
      r = await restSend(srv, caller, room, { client_id: uuid(), text: 'blocked one' });
      assert(r.status === 403, `blocked REST send: ${r.status} ${JSON.stringify(r.json)}`);
      await sleep(700);
      assert(fake.messages.length === before, `a blocked message pushed: ${JSON.stringify(fake.messages.slice(before))}`);
      b = await api(srv, 'DELETE', `/blocks/${caller.id}`, undefined, host.tokens.phone);
      assert(b.status === 204, `DELETE /blocks: ${b.status}`);
      r = await restSend(srv, caller, room, { client_id: uuid(), text: 'unblocked' });
      assert(r.status === 201, `unblocked send: ${r.status}`);
      await settle(r.json.msg_id, 1, 'after unblocking');
      lines.push('blocked: the refused message pushed nothing; unblocked: pushed again');
      assert(fake.errors.length === 0, `the fake refused: ${fake.errors.join('; ')}`);
      await c.close();
      await h.close();
    });
    for (const l of lines) console.log(l);
  } finally {
    await br.close();
    await fake.close();
  }
});
