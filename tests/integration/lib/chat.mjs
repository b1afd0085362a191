// Shared pieces of the chat tests (chat_*.test.mjs): accounts and conversations over the
// REST API, the textroom client in Chromium pages (lib/page/chat.js), a node-side Janus
// client for the Janus API only, and the checks of the chat replies.
//
// Contract:
// - chatServerOpts(index, extraArgs) = lib/calls.mjs callsServerOpts (auth on, tokens on every
//   Janus request). skipUnlessChat() throws lib/server.mjs skip() unless parley runs in a
//   network namespace with Chromium at hand.
// - account(srv, role, label, {devices, credits}) registers a user and logs in each device:
//   {id, username (String(id)), name, role, tokens {device: jwt}, token}; a caller buys the
//   'starter' package (dev provider, STARTER credits) unless credits is false. buy(srv, user)
//   buys one more. setMessageRate(srv, host, rate) is PATCH /me {message_rate}.
//   pair(srv, {rate, names, hostDevices, credits}) gives {caller, host, room, conv}: both
//   accounts, the rate, POST /api/v1/conversations by the caller (201).
// - conversation(srv, user, withId) -> {status, json}; history(srv, user, room, query)
//   GET .../messages (asserts 200, returns the messages); restSend(srv, user, room, body)
//   POST .../messages -> {status, json}; every REST response goes through lib/apitrace.mjs
//   (calls.mjs api()).
// - openChatPage(br, label) opens a page (its own browser context) with /chat.js loaded;
//   ChatClient.open(page, label, srv, token, opts) runs a textroom client in it (setup, ack,
//   data channel open); its methods: join(room, user, extra) (asserts success), say(room,
//   text, extra) (a message with a fresh client_id, resolves with {reply, clientId, text}),
//   request(obj), send(obj) (no transaction added), sendBytes([..]), janus(body, jsep),
//   mark(), msgs(since), waitMsg(match, since, ms), waitCount(match, n, since, ms), quiet(match,
//   since, ms) (asserts none arrives), info(), close(), drop(). Replies are records {i, t,
//   label, json | raw}.
// - rawTextroom(srv, token, label) is a node-side session with a textroom handle (lib/vcraw.mjs):
//   {session, handle}; handle.message(body, jsep) -> {janus, data, jsep} or {janus:'error', code}.
// - checkSent(what, reply, want) asserts a `message` success reply (transaction, msg_id UUID,
//   seq, ISO date with ms near now, state sent, charged, client_id, replayed false unless
//   want.replayed); checkDelivery(what, rec, sent, want) asserts a recipient's `message` event
//   against the sender's reply. uuid() a fresh client_id. moneyOk(srv, what) = ledger check.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { browserAvailable } from './browser.mjs';
import { api, callsServerOpts, isParley, sleep, UUID_RE } from './calls.mjs';
import { ledgerOk, wallet, split } from './billing.mjs';
import { openSession } from './vcraw.mjs';
import { assert, skip } from './server.mjs';

export { api, sleep, UUID_RE, ledgerOk, wallet, split };

const HERE = path.dirname(new URL(import.meta.url).pathname);
export const STARTER = 100;
export const PLUGIN = 'janus.plugin.textroom';
export const DATE_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

export function chatServerOpts(index, extraArgs = []) { return callsServerOpts(index, extraArgs); }

export function skipUnlessChat() {
  if (!isParley()) throw skip('the chat plugin, conversations and wallets are parley only');
  if (!process.env.PARLEY_NETNS) throw skip('not inside a network namespace (run via tests/integration/run.sh as root)');
  const why = browserAvailable();
  if (why) throw skip(why);
}

export function uuid() { return crypto.randomUUID(); }

// ---- accounts, money, conversations (REST) ----

let seq = 0;

export async function buy(srv, user) {
  seq += 1;
  const r = await api(srv, 'POST', '/purchases', { package_id: 'starter' }, user.token,
    { 'idempotency-key': `chat-${process.pid}-${seq}-${user.id}` });
  assert(r.status === 201, `purchase for ${user.name}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}

export async function account(srv, role, label, { devices = ['web'], credits = true } = {}) {
  seq += 1;
  const tag = `${label.replace(/[^A-Za-z0-9]+/g, '-')}-${process.pid}-${seq}`;
  const email = `${tag}@chat.example.test`;
  const password = 'chat-Test-9';
  let r = await api(srv, 'POST', '/auth/register', { email, password, role, display_name: label });
  assert(r.status === 201, `register ${label}: ${r.status} ${JSON.stringify(r.json)}`);
  const id = r.json.user.id;
  const tokens = {};
  for (const d of devices) {
    r = await api(srv, 'POST', '/auth/login', { email, password, device_id: d, device_name: `${label} ${d}` });
    assert(r.status === 200 && r.json.access_token, `login ${label}/${d}: ${r.status} ${JSON.stringify(r.json)}`);
    tokens[d] = r.json.access_token;
  }
  const user = { id, username: String(id), name: label, role, tokens, token: tokens[devices[0]] };
  if (role === 'caller' && credits) await buy(srv, user);
  return user;
}

export async function setMessageRate(srv, host, rate) {
  const r = await api(srv, 'PATCH', '/me', { message_rate: rate }, host.token);
  assert(r.status === 200 && r.json.user && r.json.user.message_rate === rate,
    `PATCH /me message_rate ${rate}: ${r.status} ${JSON.stringify(r.json)}`);
}

export function conversation(srv, user, withId) {
  return api(srv, 'POST', '/conversations', { with: withId }, user.token);
}

export async function pair(srv, { rate, names = ['Caller', 'Host'], hostDevices = ['web'], callerDevices = ['web'], credits = true }) {
  const caller = await account(srv, 'caller', names[0], { devices: callerDevices, credits });
  const host = await account(srv, 'host', names[1], { devices: hostDevices });
  await setMessageRate(srv, host, rate);
  const r = await conversation(srv, caller, host.id);
  assert(r.status === 201, `POST /conversations {with: ${host.id}} by the caller: ${r.status} ${JSON.stringify(r.json)}`);
  assert(Number.isInteger(r.json.id) && r.json.id > 0, `conversation id ${JSON.stringify(r.json)}`);
  assert(r.json.caller_id === caller.id && r.json.host_id === host.id,
    `conversation ${JSON.stringify(r.json)}: want caller_id ${caller.id}, host_id ${host.id}`);
  return { caller, host, room: r.json.id, conv: r.json };
}

export async function history(srv, user, room, query = '') {
  const r = await api(srv, 'GET', `/conversations/${room}/messages${query}`, undefined, user.token);
  assert(r.status === 200 && Array.isArray(r.json.messages),
    `GET /conversations/${room}/messages${query} as ${user.name}: ${r.status} ${JSON.stringify(r.json).slice(0, 400)}`);
  return r.json.messages;
}

export function restSend(srv, user, room, body) {
  return api(srv, 'POST', `/conversations/${room}/messages`, body, user.token);
}

export async function moneyOk(srv, what) { return ledgerOk(srv, what); }

// ---- the page client ----

export async function openChatPage(br, label) {
  const page = await br.newPage();
  page.on('console', (m) => {
    consoleLines.push(`[${label}] [${m.type()}] ${m.text()}`);
    if (consoleLines.length > 300) consoleLines.shift();
  });
  page.on('pageerror', (e) => consoleLines.push(`[${label}] [pageerror] ${e.message}`));
  await page.route((url) => url.pathname === '/chat.js', (route) => route.fulfill({
    status: 200, headers: { 'content-type': 'text/javascript', 'cache-control': 'no-store' },
    body: fs.readFileSync(path.join(HERE, 'page', 'chat.js')),
  }));
  await page.evaluate(async () => { window.chat = await import('/chat.js'); });
  return page;
}

const consoleLines = [];
export function chatConsole(n = 40) { return consoleLines.slice(-n).join('\n'); }

export const openClients = [];

export class ChatClient {
  constructor(page, label, id, setup) { this.page = page; this.label = label; this.id = id; this.setup = setup; }

  static async open(page, label, srv, token, opts = {}) {
    const r = await page.evaluate((o) => window.chat.open(o), { url: srv.wsUrl, token, ...opts });
    const c = new ChatClient(page, label, r.id, r);
    openClients.push(c);
    return c;
  }

  ev(fn, arg) { return this.page.evaluate(fn, arg); }

  request(obj, ms = 10000, label) {
    return this.ev(([i, o, m, l]) => window.chat.request(i, o, m, l), [this.id, obj, ms, label]);
  }

  burst(list, ms = 10000) { return this.ev(([i, l, m]) => window.chat.burst(i, l, m), [this.id, list, ms]); }

  send(obj, label) { return this.ev(([i, o, l]) => window.chat.send(i, o, l), [this.id, obj, label]); }

  sendBytes(bytes, label) { return this.ev(([i, b, l]) => window.chat.sendBytes(i, b, l), [this.id, bytes, label]); }

  janus(body, jsep, ms) { return this.ev(([i, b, j, m]) => window.chat.janus(i, b, j, m), [this.id, body, jsep || null, ms || 10000]); }

  mark() { return this.ev((i) => window.chat.mark(i), this.id); }

  restart() { return this.ev((i) => window.chat.restart(i), this.id); }

  msgs(since = 0) { return this.ev(([i, s]) => window.chat.msgs(i, s), [this.id, since]); }

  waitMsg(match, since = 0, ms = 10000) {
    return this.ev(([i, m, s, t]) => window.chat.waitMsg(i, m, s, t), [this.id, match, since, ms]);
  }

  waitCount(match, n, since = 0, ms = 10000) {
    return this.ev(([i, m, k, s, t]) => window.chat.waitCount(i, m, k, s, t), [this.id, match, n, since, ms]);
  }

  // Asserts that nothing like match arrives from since within ms.
  async quiet(match, since, ms, what) {
    await sleep(ms);
    const got = (await this.msgs(since)).filter((r) => r.json && Object.entries(match).every(([k, v]) => r.json[k] === v));
    assert(got.length === 0, `${this.label}: ${what}: ${JSON.stringify(got).slice(0, 600)}`);
  }

  info() { return this.ev((i) => window.chat.info(i), this.id); }

  async close() { try { await this.ev((i) => window.chat.close(i), this.id); } catch { /* page gone */ } }

  async drop() { try { await this.ev((i) => window.chat.drop(i), this.id); } catch { /* page gone */ } }

  // join, asserted to succeed; returns the success record.
  async join(room, user, extra = {}) {
    const r = await this.request({ textroom: 'join', room, username: user.username, ...extra });
    assert(r.json && r.json.textroom === 'success',
      `${this.label}: join room ${room} as ${user.username}: ${JSON.stringify(r.json || r.raw)}`);
    return r;
  }

  async say(room, text, extra = {}) {
    const clientId = extra.client_id || uuid();
    const reply = await this.request({ textroom: 'message', room, text, ack: true, ...extra, client_id: clientId });
    return { reply, clientId, text };
  }

  async dump() {
    try { return `--- ${this.label}: ${JSON.stringify(await this.info()).slice(0, 1500)}\nlast messages: ${JSON.stringify(await this.msgs((await this.mark()) - 8)).slice(0, 1500)}`; } catch (e) { return `--- ${this.label}: (no state: ${e.message})`; }
  }
}

// On failure: every open client's state and the pages' console.
export async function withChatClients(body) {
  try {
    return await body();
  } catch (e) {
    for (const c of openClients) console.error(await c.dump());
    console.error(`--- browser console (last 40 lines) ---\n${chatConsole(40)}`);
    throw e;
  }
}

// ---- node side: the Janus API only ----

export async function rawTextroom(srv, token, label = 'raw textroom') {
  const session = await openSession(srv, { token, label });
  const handle = await session.attach(PLUGIN, label);
  return { session, handle };
}

// ---- checks ----

export function nearNow(date, what, slackMs = 10000) {
  assert(typeof date === 'string' && DATE_RE.test(date), `${what}: date ${JSON.stringify(date)} is not ISO 8601 UTC with ms`);
  const d = Date.parse(date);
  assert(Math.abs(d - Date.now()) < slackMs, `${what}: date ${date} is ${d - Date.now()} ms from now`);
}

// A `message` request's reply: success with the given seq, charge, client_id.
export function checkSent(what, rec, want) {
  const j = rec.json;
  assert(j && j.textroom === 'success', `${what}: reply ${JSON.stringify(rec.json || rec.raw)}`);
  assert(typeof j.msg_id === 'string' && UUID_RE.test(j.msg_id), `${what}: msg_id ${JSON.stringify(j.msg_id)} in ${JSON.stringify(j)}`);
  if (want.seq !== undefined) assert(j.seq === want.seq, `${what}: seq ${j.seq}, want ${want.seq} (${JSON.stringify(j)})`);
  assert(Number.isInteger(j.seq) && j.seq > 0, `${what}: seq ${JSON.stringify(j.seq)}`);
  assert(j.state === 'sent', `${what}: state ${JSON.stringify(j.state)}, want "sent"`);
  assert(j.charged === want.charged, `${what}: charged ${JSON.stringify(j.charged)}, want ${want.charged} (${JSON.stringify(j)})`);
  if (want.clientId !== undefined) assert(j.client_id === want.clientId, `${what}: client_id ${j.client_id}, want ${want.clientId}`);
  assert(j.replayed === (want.replayed === true), `${what}: replayed ${JSON.stringify(j.replayed)}, want ${want.replayed === true}`);
  if (!want.replayed) nearNow(j.date, what);
  return j;
}

// A recipient device's `message` event for the message whose reply was `sent`.
export function checkDelivery(what, rec, sent, { room, from, text }) {
  const j = rec.json;
  assert(j.textroom === 'message', `${what}: ${JSON.stringify(j)}`);
  assert(Number(j.room) === room, `${what}: room ${JSON.stringify(j.room)}, want ${room}`);
  assert(String(j.from) === String(from), `${what}: from ${JSON.stringify(j.from)}, want ${from}`);
  assert(j.text === text, `${what}: text ${JSON.stringify(j.text).slice(0, 80)}, want ${JSON.stringify(text).slice(0, 80)}`);
  assert(j.msg_id === sent.msg_id && j.seq === sent.seq && j.client_id === sent.client_id,
    `${what}: ${JSON.stringify(j)} does not match the sender's reply ${JSON.stringify(sent)}`);
  assert(j.date === sent.date, `${what}: date ${j.date}, the sender's reply said ${sent.date}`);
}

// A textroom error reply with the code.
export function checkError(what, rec, code) {
  const j = rec && rec.json;
  assert(j && j.textroom === 'error' && j.error_code === code,
    `${what}: want error ${code}, got ${JSON.stringify(rec && (rec.json || rec.raw))}`);
  assert(typeof j.error === 'string' && j.error.length > 0, `${what}: error ${code} without a text: ${JSON.stringify(j)}`);
  return j;
}

export function restError(r) {
  return r.json && r.json.error ? r.json.error : {};
}
