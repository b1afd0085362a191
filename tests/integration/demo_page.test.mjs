#!/usr/bin/env node
// The browser app's diagnostics screen (web/, route #/diagnostics) end to end, served by
// parley itself with auth on:
// sign up -> sign out -> duplicate sign-up and wrong password refused -> log in -> echo
// test over WebSocket (webrtcup, remote video frames decoded, audio flowing, data-channel
// echo) -> access-token refresh mid-call (access_ttl=30), a bitrate cap accepted with the
// new token -> WebSocket dropped and the session claimed on a new one (media and data go
// on; echo audio off/on) -> stop -> after a reload (tokens kept in sessionStorage) the echo
// test over HTTP long-poll, with echo video off/on (decoding must resume) -> stop.
//
// Needs parley's platform API (/api/v1/auth/...), so it skips against Janus.
import { fileURLToPath } from 'node:url';
import { openBrowser, browserAvailable, pollUntil } from './lib/browser.mjs';
import { assert, skip, target, withServer } from './lib/server.mjs';
import { tracePlaywrightResponse } from './lib/apitrace.mjs';

const ACCESS_TTL = 30;   // the smallest the server allows: the page must refresh mid-test

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

async function stats(page) {
  return page.evaluate(async () => {
    const d = window.parleyDemo && (await window.parleyDemo.stats());
    return d ? { frames: d.video.frames, vpackets: d.video.packets, apackets: d.audio.packets } : null;
  });
}

async function logHas(page, cls, text) {
  return page.evaluate(([c, t]) => Array.from(document.querySelectorAll(`#log li${c ? `.${c}` : ''}`))
    .some((li) => li.textContent.includes(t)), [cls, text]);
}

const waitFor = (what, fn, timeoutMs = 15000, everyMs = 200) => pollUntil(what, fn, timeoutMs, everyMs);

async function pageText(page, sel) { return page.evaluate((s) => document.querySelector(s).textContent, sel); }
async function visible(page, sel) { return page.evaluate((s) => !document.querySelector(s).hidden, sel); }

// Sends text over the page's data-channel box and waits for its echo in the log.
async function dataEcho(page, text) {
  await waitFor('the data channel to open', () => page.evaluate(() => !document.getElementById('data-send').disabled));
  await page.fill('#data-text', text);
  await page.click('#data-send');
  await waitFor(`the echo of "${text}"`, () => logHas(page, 'in', text), 10000);
}

// Media keeps arriving: video frames decoded and audio packets both rise over `ms`.
async function mediaFlows(page, ms, label) {
  const a = await stats(page);
  await sleep(ms);
  const b = await stats(page);
  assert(a && b, `${label}: no stats (no PeerConnection)`);
  assert(b.frames > a.frames, `${label}: video frames decoded did not rise (${a.frames} -> ${b.frames})`);
  assert(b.apackets > a.apackets, `${label}: audio packets did not rise (${a.apackets} -> ${b.apackets})`);
  return b;
}

// Changes a plugin setting through the page (click) and waits for the plugin's "ok".
async function setting(page, act, what) {
  const count = () => page.evaluate(() => Array.from(document.querySelectorAll('#log li.sys'))
    .filter((li) => li.textContent.includes('echotest: ok')).length);
  const before = await count();
  await act();
  await waitFor(`the plugin to accept ${what}`, async () => (await count()) > before, 10000);
}

async function startEcho(page, label) {
  await page.click('#start');
  await waitFor(`${label}: webrtcup`, () => logHas(page, 'sys', 'webrtcup'), 20000);
  await waitFor(`${label}: remote video frames`, async () => ((await stats(page)) || {}).frames > 0, 15000);
  const remoteSize = await page.evaluate(() => {
    const v = document.getElementById('remote-video');
    return { w: v.videoWidth, h: v.videoHeight };
  });
  assert(remoteSize.w > 0 && remoteSize.h > 0, `${label}: the remote <video> shows no picture (${JSON.stringify(remoteSize)})`);
}

// The whole walk through the page. base: the page's origin; ws: the WebSocket URL.
export async function runDemo(br, { base, ws, httpJanus, expectAuth = true, log = console.log }) {
  const { page } = br;
  const email = `demo-${Date.now()}@example.test`;
  const password = 'echo-Test-2024';
  await page.goto(`${base}/?ws=${encodeURIComponent(ws)}#/diagnostics`);
  await page.waitForFunction(() => window.parleyDemo && window.parleyDemo.ready === true, null, { timeout: 10000 });
  assert(await visible(page, '#auth-panel'), 'the sign-in panel is not shown to a new visitor');
  assert(!(await visible(page, '#echo-panel')), 'the echo panel is shown before sign-in');
  if (expectAuth) assert(!(await visible(page, '#auth-skip')), 'the page offers to skip sign-in on a server that requires it');

  // The server refuses Janus requests without a token (so the page's token is what works).
  if (expectAuth) {
    const raw = await (await fetch(httpJanus, { method: 'POST', body: JSON.stringify({ janus: 'create', transaction: 'no-token' }) })).json();
    assert(raw.janus === 'error' && raw.error && raw.error.code === 403, `create without a token was not refused: ${JSON.stringify(raw)}`);
  }

  // Sign up (the page logs the new account in), then sign out.
  await page.click('#tab-register');
  await page.fill('#reg-email', email);
  await page.fill('#reg-password', password);
  await page.fill('#reg-name', 'Demo Tester');
  await page.selectOption('#reg-role', 'caller');
  await page.click('#register-submit');
  await waitFor('the echo panel after sign-up', () => visible(page, '#echo-panel'), 15000);
  assert((await pageText(page, '#who')).includes('Demo Tester'), `the header does not show the user: ${await pageText(page, '#who')}`);
  log(`sign-up ok (${email})`);

  // Signing up twice with the same email is refused with a message.
  await page.click('#logout');
  await waitFor('the sign-in panel after sign-out', () => visible(page, '#auth-panel'));
  assert(await page.evaluate(() => sessionStorage.getItem('parley.tokens') === null), 'tokens left in sessionStorage after sign-out');
  await page.click('#tab-register');
  await page.fill('#reg-email', email);
  await page.fill('#reg-password', password);
  await page.fill('#reg-name', 'Demo Tester');
  await page.click('#register-submit');
  await waitFor('an error for a duplicate sign-up', async () => (await pageText(page, '#auth-error')).length > 0);
  assert(await visible(page, '#auth-panel'), 'a duplicate sign-up got past the sign-in panel');

  // A wrong password is refused; the right one logs in.
  await page.click('#tab-login');
  await page.fill('#login-email', email);
  await page.fill('#login-password', 'wrong-Password-1');
  await page.click('#login-submit');
  await waitFor('an error for a wrong password', async () => (await pageText(page, '#auth-error')).length > 0);
  assert(!(await visible(page, '#echo-panel')), 'a wrong password got past the sign-in panel');
  await page.fill('#login-password', password);
  await page.click('#login-submit');
  await waitFor('the echo panel after log-in', () => visible(page, '#echo-panel'), 15000);
  const firstToken = await page.evaluate(() => window.parleyDemo.tokens.access_token);
  assert(firstToken && firstToken.split('.').length === 3, 'no access JWT after log-in');
  log('log-in ok (after a refused wrong password and a refused duplicate sign-up)');

  // Echo test over WebSocket.
  await startEcho(page, 'ws');
  let s = await mediaFlows(page, 3000, 'ws');
  log(`ws echo: webrtcup, ${s.frames} video frames decoded, ${s.apackets} audio packets`);
  await dataEcho(page, 'hello over the data channel');
  log('ws data-channel echo ok');

  // The access token expires after ACCESS_TTL s: the page refreshes it while the call runs,
  // and the next Janus request (a bitrate cap) is accepted with the new token.
  await waitFor('the access token to be refreshed', async () =>
    (await page.evaluate(() => window.parleyDemo.tokens && window.parleyDemo.tokens.access_token)) !== firstToken,
  ACCESS_TTL * 1000, 500);
  await setting(page, () => page.selectOption('#bitrate', '512000'), 'a bitrate cap with the refreshed token');
  await mediaFlows(page, 2000, 'after token refresh');
  log('access token refreshed mid-call; the bitrate cap was accepted with it');

  // The WebSocket drops: the page reopens it, claims the session, and the call goes on.
  await page.evaluate(() => window.parleyDemo.session.transport.ws.close());
  await waitFor('the session to be claimed on a new WebSocket', () => logHas(page, 'sys', 'reconnected and claimed the session'), 15000);
  await mediaFlows(page, 2000, 'after WebSocket reconnect');
  await dataEcho(page, 'still here after the reconnect');
  log('WebSocket dropped, session claimed, media and data continue');

  // Echo audio off (a plugin request on the new socket): audio stops, video goes on.
  await setting(page, () => page.click('#echo-audio'), 'audio:false on the new WebSocket');
  await sleep(1000);
  const a1 = await stats(page);
  await sleep(2000);
  const a2 = await stats(page);
  assert(a2.apackets - a1.apackets <= 5, `audio kept coming back with echo audio off (${a1.apackets} -> ${a2.apackets})`);
  assert(a2.frames > a1.frames, 'video stopped while only audio echo was off');
  await setting(page, () => page.click('#echo-audio'), 'audio:true');
  await mediaFlows(page, 2000, 'audio echo back on');
  log(`echo audio off/on ok (audio packets +${a2.apackets - a1.apackets} in 2 s while off)`);

  await page.click('#stop');
  await waitFor('the page to stop', async () => (await pageText(page, '#status')) === 'stopped');
  assert((await stats(page)) === null, 'the PeerConnection is still there after Stop');

  // Over HTTP long-poll, after a reload: the tokens kept in sessionStorage sign the tab in.
  await page.goto(`${base}/?transport=http#/diagnostics`);
  await page.waitForFunction(() => window.parleyDemo && window.parleyDemo.ready === true, null, { timeout: 10000 });
  assert(await visible(page, '#echo-panel'), 'a reload lost the sign-in (sessionStorage)');
  await startEcho(page, 'http');
  s = await mediaFlows(page, 3000, 'http');
  await dataEcho(page, 'hello over long-poll');
  log(`http long-poll echo: webrtcup, ${s.frames} video frames decoded, data-channel echo ok`);
  // Echo video off: video stops coming back while audio continues; on again, decoding
  // resumes (the server must get a keyframe from the sender; the time taken is reported).
  // Janus 1.1.2 passes this in about 3 s: Chrome's receiver sends PLIs, they reach its own
  // sender (outbound-rtp pliCount rises) and a keyframe follows.
  await setting(page, () => page.click('#echo-video'), 'video:false');
  await sleep(1000);
  const off1 = await stats(page);
  await sleep(2000);
  const off2 = await stats(page);
  assert(off2.vpackets - off1.vpackets <= 5, `video kept coming back with echo video off (${off1.vpackets} -> ${off2.vpackets})`);
  assert(off2.apackets > off1.apackets, 'audio stopped while only video echo was off');
  await setting(page, () => page.click('#echo-video'), 'video:true');
  const t0 = Date.now();
  await waitFor('video frames decoded to rise again after echo video on', async () => (await stats(page)).frames > off2.frames, 15000);
  const resumeMs = Date.now() - t0;
  await mediaFlows(page, 2000, 'video echo back on');
  log(`echo video off/on ok (video packets +${off2.vpackets - off1.vpackets} in 2 s while off; decoding resumed ${resumeMs} ms after on)`);

  await page.click('#stop');
  await waitFor('the page to stop (http)', async () => (await pageText(page, '#status')) === 'stopped');

  const errors = br.console.filter((l) => l.startsWith('[pageerror]'));
  assert(errors.length === 0, `uncaught errors in the page:\n${errors.join('\n')}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (target() !== 'parley') {
    console.log('SKIP: the demo page needs parley\'s platform API (/api/v1)');
    process.exit(77);
  }
  await withServer({ index: 8, extraArgs: ['--auth.required=true', `--auth.access_ttl=${ACCESS_TTL}`] }, async (srv) => {
    if (!process.env.PARLEY_NETNS) throw skip('not inside a network namespace (run via tests/integration/run.sh as root)');
    const why = browserAvailable();
    if (why) throw skip(why);
    const br = await openBrowser();
    const traced = [];   // PARLEY_API_TRACE: the page's REST responses, for openapi_validate
    br.page.on('response', (r) => traced.push(tracePlaywrightResponse(r)));
    try {
      await runDemo(br, {
        base: `http://127.0.0.1:${srv.ports.http}`, ws: srv.wsUrl, httpJanus: srv.httpUrl,
      });
    } catch (e) {
      console.error(`browser console (last 60):\n${br.console.slice(-60).join('\n')}`);
      const logText = await br.page.evaluate(() => Array.from(document.querySelectorAll('#log li')).map((li) => li.textContent).join('\n')).catch(() => '(no page)');
      console.error(`page log:\n${logText}`);
      throw e;
    } finally {
      await Promise.allSettled(traced);
      await br.close();
    }
  });
}
