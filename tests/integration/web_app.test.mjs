#!/usr/bin/env node
// web_app: the browser app in web/ as its users meet it, in three Chromium contexts served by
// parley itself (auth on, --billing.minute_ms=3000 so a billed "minute" is 3 s): a caller, and
// a host on two devices (A and B).
//   1. Both sign up through the UI (the role chosen there); host B logs in on a second device,
//      after the errors for an unreachable server and a wrong password; its profile lists
//      the account's two devices.
//   2. The host sets its profile and rates (PATCH /me through the form, checked over REST),
//      sees itself online, switches do-not-disturb on and off.
//   3. The caller sees the host's card online in discovery (filters: online now, tag),
//      opens its profile, is told that an empty wallet cannot pay a call (nothing rings),
//      buys the starter package in the wallet (balance shown, transaction listed).
//   4. Chat: the caller messages the host; the host's chat list shows it unread; the host
//      opens it and answers; each side's message ends with the "read" tick.
//   5. An audio call: both host devices ring, A accepts, B stops ringing; the caller upgrades
//      to video; both sides' inbound audio and video rise and frames are decoded
//      (window.parleyApp.callStats()); the caller's WebSocket drops, the app shows
//      "Reconnecting…", claims its session and the call goes on; the cost ticker advances
//      two minutes.
//   6. The caller hangs up: the receipt (minutes, charged) equals GET /calls/{id}, the
//      wallet's transactions for the call and the wallet balance; the host's receipt shows
//      its earnings and its earnings screen lists the call; the ledger check passes.
//   7. A second call at a rate the wallet pays for two minutes only: the low-balance prompt
//      appears in the call, the caller tops up there, the call is charged a third minute.
// The caller signs up with the keyboard only (tab order checked). Every screen is captured
// at 1280x800 and 390x844, the phone size also in the dark scheme (PNG files in the artifact
// directory: $PARLEY_ARTIFACT_DIR, else a new /tmp/parley-web_app.* printed at the end), and
// each capture is checked with axe-core: no serious or critical violation.
// Exit 0 pass, 77 skip (Janus target, no namespace, no Chromium), 1 fail.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openBrowser, browserAvailable, pollUntil } from './lib/browser.mjs';
import { assert, skip, target, withServer } from './lib/server.mjs';
import { api, sleep } from './lib/calls.mjs';
import { ledgerOk } from './lib/billing.mjs';
import { tracePlaywrightResponse } from './lib/apitrace.mjs';

const MINUTE_MS = 3000;
const HERE = path.dirname(new URL(import.meta.url).pathname);
const AXE_SOURCE = fs.readFileSync(path.join(HERE, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
const SIZES = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } };
// Each screen: desktop and phone in the light scheme, phone in the dark one (its contrast).
const SHOTS = [['desktop', 'light'], ['phone', 'light'], ['phone', 'dark']];
const T = 30000;              // generous: two cores shared with other test runs
const PASSWORD = 'web-App-2024';

const artifacts = process.env.PARLEY_ARTIFACT_DIR || fs.mkdtempSync(path.join(os.tmpdir(), 'parley-web_app.'));
fs.mkdirSync(artifacts, { recursive: true });
const axeReport = [];
const clients = [];

const waitFor = (what, fn, timeoutMs = T, everyMs = 200) => pollUntil(what, fn, timeoutMs, everyMs);

async function newClient(br, label, base, ws, traced) {
  const ctx = await br.browser.newContext({ viewport: SIZES.desktop, permissions: ['camera', 'microphone'] });
  const page = await ctx.newPage();
  const c = { label, ctx, page, console: [] };
  page.on('console', (m) => { c.console.push(`[${m.type()}] ${m.text()}`); if (c.console.length > 150) c.console.shift(); });
  page.on('pageerror', (e) => c.console.push(`[pageerror] ${e.message}`));
  page.on('response', (r) => traced.push(tracePlaywrightResponse(r)));
  await page.goto(`${base}/?ws=${encodeURIComponent(ws)}`);
  await page.waitForFunction(() => window.parleyApp && window.parleyApp.ready === true, null, { timeout: T });
  clients.push(c);
  return c;
}

const visible = (c, sel, ms = T) => c.page.waitForSelector(sel, { state: 'visible', timeout: ms });

// Screenshots at both sizes and an axe-core run at each, then back to the desktop size.
async function screen(c, name) {
  const { page } = c;
  await page.evaluate(() => document.fonts && document.fonts.ready);
  for (const [size, scheme] of SHOTS) {
    await page.setViewportSize(SIZES[size]);
    await page.emulateMedia({ colorScheme: scheme });
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const shot = `${name}-${size}${scheme === 'dark' ? '-dark' : ''}`;
    await page.screenshot({ path: path.join(artifacts, `${shot}.png`), fullPage: true });
    if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.addScriptTag({ content: AXE_SOURCE });
    const res = await page.evaluate(async () => {
      const r = await window.axe.run(document, { resultTypes: ['violations'] });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
    });
    const bad = res.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    axeReport.push({ screen: shot, violations: res.length, serious: bad, minor: res.filter((v) => !bad.includes(v)).map((v) => `${v.id} (${v.impact})`) });
    assert(bad.length === 0, `axe: serious/critical violations on ${shot}:\n${JSON.stringify(bad, null, 1)}`);
  }
  await page.setViewportSize(SIZES.desktop);
  await page.emulateMedia({ colorScheme: 'light' });
}

async function go(c, route) {
  await c.page.evaluate((r) => { location.hash = r; }, route);
  await c.page.waitForFunction((r) => window.parleyApp.route === r, route, { timeout: T });
}

async function signUp(c, { email, name, role }) {
  await c.page.click('#tab-register');
  await c.page.fill('#reg-email', email);
  await c.page.fill('#reg-password', PASSWORD);
  await c.page.fill('#reg-name', name);
  await c.page.selectOption('#reg-role', role);
  await c.page.click('#register-submit');
  await c.page.waitForFunction(() => window.parleyApp.user !== null, null, { timeout: T });
}

// The caller signs up with the keyboard only: arrow keys between the tabs, Tab through the
// form in order, Enter on the button (the role stays the first choice, caller).
async function signUpByKeyboard(c, { email, name }) {
  const kb = c.page.keyboard;
  await c.page.focus('#tab-login');
  await kb.press('ArrowRight');
  const focused = () => c.page.evaluate(() => document.activeElement && document.activeElement.id);
  assert(await focused() === 'tab-register', `ArrowRight on the tabs focused ${await focused()}`);
  for (const [id, text] of [['reg-email', email], ['reg-password', PASSWORD], ['reg-name', name]]) {
    await kb.press('Tab');
    assert(await focused() === id, `Tab order: expected #${id}, got #${await focused()}`);
    await kb.type(text);
  }
  await kb.press('Tab');
  assert(await focused() === 'reg-role', `Tab order: expected #reg-role, got #${await focused()}`);
  await kb.press('Tab');
  assert(await focused() === 'register-submit', `Tab order: expected #register-submit, got #${await focused()}`);
  await kb.press('Enter');
  await c.page.waitForFunction(() => window.parleyApp.user !== null, null, { timeout: T });
}

async function logIn(c, email) {
  await c.page.fill('#login-email', email);
  await c.page.fill('#login-password', PASSWORD);
  await c.page.click('#login-submit');
  await c.page.waitForFunction(() => window.parleyApp.user !== null, null, { timeout: T });
}

const token = (c) => c.page.evaluate(() => window.parleyDemo.tokens.access_token);
const online = (c) => c.page.waitForFunction(() => window.parleyApp.connection === 'Online', null, { timeout: T });
const callStats = (c) => c.page.evaluate(() => window.parleyApp.callStats());
const callInfo = (c) => c.page.evaluate(() => window.parleyApp.call);

// Inbound audio packets, video packets and decoded frames all rise over `ms` on each client.
async function bothWays(list, ms) {
  const a = await Promise.all(list.map(callStats));
  await sleep(ms);
  const b = await Promise.all(list.map(callStats));
  return list.map((c, i) => ({
    label: c.label,
    audio: b[i].audio.packets - a[i].audio.packets,
    video: b[i].video.packets - a[i].video.packets,
    frames: b[i].video.frames - a[i].video.frames,
    size: `${b[i].video.w}x${b[i].video.h}`,
  }));
}

async function scenario(srv, br, traced) {
  const base = `http://127.0.0.1:${srv.ports.http}`;
  const tag = `${process.pid}-${Date.now()}`;
  const hostEmail = `host-${tag}@web.example.test`;
  const callerEmail = `caller-${tag}@web.example.test`;

  // 1. Sign-up: the host (device A) and the caller through the UI; the host's device B logs in.
  const hostA = await newClient(br, 'host-A', base, srv.wsUrl, traced);
  await visible(hostA, '#auth-panel');
  await screen(hostA, 'sign-in');
  await hostA.page.click('#tab-register');
  await screen(hostA, 'sign-up');
  await signUp(hostA, { email: hostEmail, name: 'Hana Host', role: 'host' });
  await visible(hostA, '#profile-form');
  const hostId = await hostA.page.evaluate(() => window.parleyApp.user.id);
  await online(hostA);
  console.log(`host signed up (id ${hostId}) and online`);

  // 2. Profile and rates, through the form; availability and do-not-disturb.
  await hostA.page.fill('#p-bio', 'Guitar lessons and a friendly chat.');
  await hostA.page.fill('#p-languages', 'en, fr');
  await hostA.page.fill('#p-tags', 'music, advice');
  await hostA.page.fill('#p-audio-rate', '2');
  await hostA.page.fill('#p-video-rate', '5');
  await hostA.page.fill('#p-message-rate', '1');
  await hostA.page.click('#profile-save');
  await hostA.page.waitForSelector('p.ok:has-text("Saved.")', { timeout: T });
  let r = await api(srv, 'GET', `/hosts/${hostId}`);
  assert(r.status === 200 && r.json.host.audio_rate === 2 && r.json.host.video_rate === 5 && r.json.host.message_rate === 1,
    `rates after saving the form: ${JSON.stringify(r.json)}`);
  assert(JSON.stringify(r.json.host.languages) === '["en","fr"]' && r.json.host.tags.includes('music'), `languages/tags: ${JSON.stringify(r.json.host)}`);
  await visible(hostA, '#my-availability [data-availability="online"]');
  await hostA.page.click('#dnd');
  await waitFor('do-not-disturb on over REST', async () => (await api(srv, 'GET', `/hosts/${hostId}`)).json.host.do_not_disturb === true);
  await hostA.page.click('#dnd');
  await waitFor('do-not-disturb off over REST', async () => (await api(srv, 'GET', `/hosts/${hostId}`)).json.host.do_not_disturb === false);
  await screen(hostA, 'host-profile-editor');
  console.log('host profile, rates (2/5/1), languages, tags saved; do-not-disturb on/off');

  // Host B: the errors a user meets at log-in (server unreachable, wrong password), then in.
  const hostB = await newClient(br, 'host-B', base, srv.wsUrl, traced);
  await hostB.page.route('**/api/v1/auth/login', (route) => route.abort('connectionrefused'));
  await hostB.page.fill('#login-email', hostEmail);
  await hostB.page.fill('#login-password', PASSWORD);
  await hostB.page.click('#login-submit');
  await hostB.page.waitForSelector('#auth-error:has-text("Cannot reach the server")', { timeout: T });
  await hostB.page.unroute('**/api/v1/auth/login');
  await hostB.page.fill('#login-password', 'not-the-Password-1');
  await hostB.page.click('#login-submit');
  await hostB.page.waitForSelector('#auth-error:has-text("Wrong email or password")', { timeout: T });
  await screen(hostB, 'sign-in-error');
  await logIn(hostB, hostEmail);
  await visible(hostB, '#profile-form');
  await online(hostB);
  await hostB.page.waitForFunction(() => document.querySelectorAll('#devices li').length === 2, null, { timeout: T });
  assert((await hostB.page.textContent('#devices')).includes('(this device)'), 'the devices list does not mark this device');

  const caller = await newClient(br, 'caller', base, srv.wsUrl, traced);
  await signUpByKeyboard(caller, { email: callerEmail, name: 'Cal Caller' });
  await caller.page.waitForFunction(() => window.parleyApp.route === '/discover', null, { timeout: T });
  await online(caller);
  const callerToken = await token(caller);

  // 3. Discovery shows the host online; its profile; the wallet and a purchase.
  await visible(caller, `[data-host-id="${hostId}"] .badge[data-availability="online"]`);
  await screen(caller, 'discover');
  // Filters: online now + the host's tag keep its card; an unknown tag leaves none.
  await caller.page.check('#f-online');
  await caller.page.fill('#f-tag', 'music');
  await caller.page.press('#f-tag', 'Enter');
  await visible(caller, `[data-host-id="${hostId}"]`);
  await caller.page.fill('#f-tag', 'no-such-tag');
  await caller.page.press('#f-tag', 'Enter');
  await caller.page.waitForSelector('p[role="status"]:has-text("No host matches")', { timeout: T });
  assert(await caller.page.$(`[data-host-id="${hostId}"]`) === null, 'a card is shown for a tag the host does not have');
  await caller.page.fill('#f-tag', '');
  await caller.page.press('#f-tag', 'Enter');
  await visible(caller, `[data-host-id="${hostId}"]`);
  await caller.page.click(`[data-host-id="${hostId}"] h3 a`);
  await visible(caller, '#host-title');
  await visible(caller, '.profile .badge[data-availability="online"]');
  await screen(caller, 'host-profile');
  await caller.page.click('#call-audio');
  await caller.page.waitForSelector('.profile .error:has-text("balance does not cover")', { timeout: T });
  assert(await hostA.page.evaluate(() => document.getElementById('incoming').hidden), 'a call the wallet cannot pay rang the host');
  await go(caller, '/wallet');
  await visible(caller, '#wallet-available[data-value="0"]');
  await visible(caller, '#buy-starter');
  await caller.page.click('#buy-starter');
  await visible(caller, '#wallet-available[data-value="100"]');
  await visible(caller, '#transactions tbody tr');
  await screen(caller, 'wallet');
  console.log('caller saw the host online, bought the starter package (100 credits)');

  // 4. Chat with ticks on both sides.
  await go(caller, `/host/${hostId}`);
  await caller.page.click('#message-host');
  await caller.page.waitForFunction(() => /^\/chat\/\d+$/.test(window.parleyApp.route), null, { timeout: T });
  const room = Number((await caller.page.evaluate(() => window.parleyApp.route)).split('/')[2]);
  await visible(caller, '#messages[data-joined="true"]');
  await caller.page.fill('#chat-text', 'Hello! Are you free for a call?');
  await caller.page.click('#chat-send');
  await visible(caller, '.msg.mine .ticks:is([data-state="sent"], [data-state="delivered"], [data-state="read"])');
  await go(hostA, '/chats');
  await visible(hostA, `[data-conversation="${room}"] .count[data-unread="1"]`);
  await screen(hostA, 'chats');
  await hostA.page.click(`[data-conversation="${room}"] a`);
  await visible(hostA, '.msg.theirs:has-text("Are you free")');
  await visible(hostA, '#messages[data-joined="true"]');
  await hostA.page.fill('#chat-text', 'Yes, call me now.');
  await hostA.page.press('#chat-text', 'Enter');
  await visible(caller, '.msg.theirs:has-text("call me now")');
  await visible(caller, '.msg.mine .ticks[data-state="read"]');
  await visible(hostA, '.msg.mine .ticks[data-state="read"]');
  await screen(caller, 'chat-caller');
  await screen(hostA, 'chat-host');
  const w1 = (await api(srv, 'GET', '/wallet', undefined, callerToken)).json;
  assert(w1.available === 99 && w1.held === 0, `wallet after one message at rate 1: ${JSON.stringify(w1)}`);
  console.log(`chat: room ${room}, both messages read (ticks on both sides), caller charged 1`);

  // 5. An audio call: both host devices ring, A answers, B stops; upgrade to video.
  await go(hostA, '/profile');
  await go(caller, `/host/${hostId}`);
  await caller.page.click('#call-audio');
  await caller.page.waitForFunction(() => window.parleyApp.route === '/call', null, { timeout: T });
  await Promise.all([visible(hostA, '#incoming'), visible(hostB, '#incoming')]);
  const ringingId = await hostB.page.evaluate(() => document.getElementById('incoming').dataset.callId);
  await screen(hostB, 'incoming-call');
  await hostA.page.click('#incoming-accept');
  await hostB.page.waitForSelector('#incoming', { state: 'hidden', timeout: T });
  assert(await hostB.page.evaluate(() => window.parleyApp.call === null), 'host B took part in the call it did not answer');
  await caller.page.waitForSelector('.call[data-state="active"]', { timeout: T });
  await hostA.page.waitForSelector('.call[data-state="active"]', { timeout: T });
  const callId = (await callInfo(caller)).id;
  assert(callId && callId === ringingId, `call ids: caller ${callId}, ringing on B ${ringingId}`);
  const audio = await bothWays([caller, hostA], 2000);
  for (const x of audio) assert(x.audio >= 20 && x.video === 0, `audio call: ${JSON.stringify(x)}`);
  const first = await waitFor('a first billing event', async () => { const ci = await callInfo(caller); return ci.billing ? ci : null; });
  await screen(caller, 'call-audio-caller');
  console.log(`audio call ${callId}: B stopped ringing, audio both ways ${JSON.stringify(audio)}`);

  await caller.page.click('#call-upgrade');
  await waitFor('decoded video on both sides', async () => {
    const s = await Promise.all([callStats(caller), callStats(hostA)]);
    return s.every((x) => x && x.video.frames > 10);
  });
  const av = await bothWays([caller, hostA], 3000);
  for (const x of av) assert(x.audio >= 50 && x.video >= 30 && x.frames >= 10, `after the upgrade: ${JSON.stringify(x)} (load ${os.loadavg()[0].toFixed(1)})`);
  console.log(`upgraded to video: ${JSON.stringify(av)}`);

  // The caller's signalling WebSocket drops: the app shows "Reconnecting…", claims its session
  // on a new socket and is online again; the call's media never stopped.
  await caller.page.evaluate(() => {
    const conn = document.getElementById('conn');
    window.sawReconnecting = false;
    new MutationObserver(() => { if (/Reconnecting/.test(conn.textContent)) window.sawReconnecting = true; })
      .observe(conn, { childList: true, characterData: true, subtree: true });
    window.parleyApp.session.transport.ws.close();
  });
  await caller.page.waitForFunction(() => window.sawReconnecting && window.parleyApp.connection === 'Online', null, { timeout: T });
  const again = await bothWays([caller, hostA], 2000);
  for (const x of again) assert(x.audio >= 30 && x.video >= 20, `after the WebSocket reconnect: ${JSON.stringify(x)}`);
  assert((await callInfo(caller)).state === 'active', 'the call did not survive the WebSocket reconnect');
  console.log('caller WebSocket dropped: "Reconnecting…" shown, session claimed, media went on');

  const wantMinute = Math.max(3, first.billing.minutes_charged + 2);
  await waitFor(`the cost ticker to reach minute ${wantMinute}`, async () => {
    const ci = await callInfo(caller);
    return ci && ci.billing && ci.billing.minutes_charged >= wantMinute;
  }, 4 * MINUTE_MS + T);
  const tick = await callInfo(caller);
  const shown = Number(await caller.page.getAttribute('#call-cost', 'data-value'));
  assert(tick.billing.charged > first.billing.charged && tick.billing.elapsed_ms > first.billing.elapsed_ms && shown === tick.billing.charged,
    `ticker: first ${JSON.stringify(first.billing)}, now ${JSON.stringify(tick.billing)}, shown ${shown}`);
  assert(tick.billing.kind === 'video', `the ticker's kind after the upgrade: ${tick.billing.kind}`);
  await screen(caller, 'call-video-caller');
  await screen(hostA, 'call-video-host');
  console.log(`ticker: minute ${tick.billing.minutes_charged}, charged ${tick.billing.charged}, elapsed ${tick.billing.elapsed_ms} ms`);

  // 6. Hang up; receipts against REST and the ledger; history and earnings.
  await caller.page.click('#call-hangup');
  await caller.page.waitForFunction((id) => window.parleyApp.route.startsWith(`/receipt/${id}`), callId, { timeout: T });
  await visible(caller, '.receipt[data-settled="true"]');
  await hostA.page.waitForFunction((id) => window.parleyApp.route.startsWith(`/receipt/${id}`), callId, { timeout: T });
  await visible(hostA, '.receipt[data-settled="true"]');
  const row = (await api(srv, 'GET', `/calls/${callId}`, undefined, callerToken)).json.call;
  const charged = Number(await caller.page.getAttribute('#receipt-charged', 'data-value'));
  const minutes = Number(await caller.page.getAttribute('#receipt-minutes', 'data-value'));
  const earned = Number(await hostA.page.getAttribute('#receipt-earned', 'data-value'));
  assert(row.billing_settled && row.state === 'ended', `call row: ${JSON.stringify(row)}`);
  assert(charged === row.charged && minutes === row.minutes_charged && earned === row.host_earned,
    `receipts (caller ${charged} for ${minutes} min, host ${earned}) vs GET /calls/{id} ${JSON.stringify(row)}`);
  assert(minutes >= 3 && row.kinds.map((k) => k.kind).join() === 'audio,video', `minutes ${minutes}, kinds ${JSON.stringify(row.kinds)}`);
  const tx = (await api(srv, 'GET', '/wallet/transactions?limit=100', undefined, callerToken)).json.transactions;
  const callDelta = tx.filter((t) => t.ref === `call:${callId}`).reduce((a, t) => a + t.delta, 0);
  assert(callDelta === -charged, `the wallet's transactions for call:${callId} sum to ${callDelta}, the receipt says ${charged}`);
  const w2 = (await api(srv, 'GET', '/wallet', undefined, callerToken)).json;
  assert(w2.available === 99 - charged && w2.held === 0, `wallet after the call: ${JSON.stringify(w2)}, charged ${charged}`);
  await ledgerOk(srv, 'the call');
  await screen(caller, 'receipt-caller');
  await screen(hostA, 'receipt-host');

  await go(hostA, '/earnings');
  await visible(hostA, `#earn-per-call tr[data-ref="call:${callId}"]`);
  const perCall = await hostA.page.textContent(`#earn-per-call tr[data-ref="call:${callId}"]`);
  assert(perCall.includes(String(earned)), `earnings row for the call: ${perCall}, earned ${earned}`);
  await screen(hostA, 'earnings');
  await go(caller, '/calls');
  await visible(caller, `#call-history tr[data-call-id="${callId}"]`);
  await screen(caller, 'call-history');
  await go(caller, '/diagnostics');
  await visible(caller, '#echo-panel');
  await screen(caller, 'diagnostics');
  console.log(`receipt: ${minutes} minutes, charged ${charged}, host earned ${earned} = GET /calls/{id} = the wallet's call transactions; ledger ok`);

  // 7. A call the wallet cannot carry past minute 2: the low-balance prompt, a top-up from
  //    the call screen, and the call goes on into minute 3.
  const before = (await api(srv, 'GET', '/wallet', undefined, callerToken)).json.available;
  const rate = Math.floor(before / 2.5);
  assert(2 * rate <= before && 3 * rate > before, `wallet ${before} does not suit a low-balance rate (${rate})`);
  r = await api(srv, 'PATCH', '/me', { audio_rate: rate }, await token(hostA));
  assert(r.status === 200, `PATCH /me audio_rate: ${JSON.stringify(r)}`);
  await go(caller, `/host/${hostId}`);
  await caller.page.click('#call-audio');
  await visible(hostA, '#incoming');
  await hostA.page.click('#incoming-accept');
  await caller.page.waitForSelector('.call[data-state="active"]', { timeout: T });
  await visible(caller, '#low-balance #topup-starter', 3 * MINUTE_MS + T);
  const lowAt = await callInfo(caller);
  await caller.page.click('#topup-starter');
  await caller.page.waitForSelector('#low-balance', { state: 'hidden', timeout: T });
  await waitFor('minute 3 charged after the top-up', async () => {
    const ci = await callInfo(caller);
    assert(ci, 'the call ended before minute 3 despite the top-up');
    return ci.billing && ci.billing.minutes_charged >= 3;
  }, 3 * MINUTE_MS + T);
  await screen(caller, 'call-after-topup');
  const call2 = (await callInfo(caller)).id;
  await caller.page.click('#call-hangup');
  await visible(caller, '.receipt[data-settled="true"]');
  const row2 = (await api(srv, 'GET', `/calls/${call2}`, undefined, callerToken)).json.call;
  const w3 = (await api(srv, 'GET', '/wallet', undefined, callerToken)).json;
  assert(row2.minutes_charged >= 3 && row2.charged === row2.minutes_charged * rate && w3.available === before + 100 - row2.charged && w3.held === 0,
    `after the topped-up call: row ${JSON.stringify(row2)}, wallet ${JSON.stringify(w3)}, before ${before}, rate ${rate}`);
  await ledgerOk(srv, 'the topped-up call');
  console.log(`low balance at minute ${lowAt.billing && lowAt.billing.minutes_charged} (needed ${lowAt.lowBalance && lowAt.lowBalance.needed}), topped up in the call: ${row2.minutes_charged} minutes x ${rate} = ${row2.charged}`);

  for (const c of clients) {
    const errors = c.console.filter((l) => l.startsWith('[pageerror]'));
    assert(errors.length === 0, `uncaught errors in ${c.label}'s page:\n${errors.join('\n')}`);
  }
}

if (target() !== 'parley') {
  console.log('SKIP: the web app needs parley\'s platform API, calls billing and chat');
  process.exit(77);
}

await withServer({ index: 20, extraArgs: ['--auth.required=true', '--auth.kdf_cost=10', '--auth.rate_limit_per_min=100000',
  `--billing.minute_ms=${MINUTE_MS}`] }, async (srv) => {
  if (!process.env.PARLEY_NETNS) throw skip('not inside a network namespace (run via tests/integration/run.sh as root)');
  const why = browserAvailable();
  if (why) throw skip(why);
  const br = await openBrowser();
  const traced = [];
  const t0 = Date.now();
  try {
    await scenario(srv, br, traced);
    const total = axeReport.reduce((a, x) => a + x.violations, 0);
    const minor = [...new Set(axeReport.flatMap((x) => x.minor))];
    console.log(`axe-core: ${axeReport.length} screen checks, no serious/critical violation (${total} minor/moderate in all: ${minor.join(', ') || 'none'})`);
    console.log(`screenshots: ${fs.readdirSync(artifacts).filter((f) => f.endsWith('.png')).length} in ${artifacts} (${((Date.now() - t0) / 1000).toFixed(1)} s scenario)`);
  } catch (e) {
    for (const c of clients) {
      console.error(`--- ${c.label}: route ${await c.page.evaluate(() => window.parleyApp && window.parleyApp.route).catch(() => '?')}, console (last 40) ---`);
      console.error(c.console.slice(-40).join('\n'));
      await c.page.screenshot({ path: path.join(artifacts, `failure-${c.label}.png`) }).catch(() => {});
    }
    console.error(`artifacts in ${artifacts}`);
    throw e;
  } finally {
    await Promise.allSettled(traced);
    await br.close();
  }
});
