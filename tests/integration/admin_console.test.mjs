#!/usr/bin/env node
// The operator console on the admin port (issue 11): GET /admin/ serves web/admin/ under the
// admin port's Host and Origin rules, and the page in Chromium shows the live server.
//  - the page and its files load with the console's Content-Security-Policy and no console
//    error, failed request or error status; POST /admin/ is 405; "..", encoded or not, never
//    reaches a file outside web/admin; a foreign Host gets 421 on /admin/ and its files;
//  - revenue (the purchases of the test's callers) and ledger health "ok" with its counts;
//  - a real call (two janus.js clients, lib/calls.mjs) shows in the live calls table while it
//    is up (state, caller, host) and leaves it after the hangup; the sessions table and the
//    charts follow;
//  - a cross-origin POST /admin/log_level (refused, 403, logged as a warning) shows in the
//    recent errors table, and GET /admin/log/recent returns it as {ts, level, module, msg};
//  - axe-core: no serious or critical violation, light and dark, desktop and phone size;
//    no horizontal scrolling of the page at phone width.
// Index 48 (HTTP 18480, admin 18482, RTP 34800-34899).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { browserAvailable, pollUntil } from './lib/browser.mjs';
import { callsServerOpts, sleep, withCallerAndHost } from './lib/calls.mjs';
import { assert, skip, target, withServer } from './lib/server.mjs';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const AXE_SOURCE = fs.readFileSync(path.join(HERE, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
const AV = [{ type: 'audio', capture: true, recv: true }, { type: 'video', capture: true, recv: true }];
const SIZES = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } };

// One raw request to the admin port (node's http keeps the path and the Host as given).
function raw(port, method, p, headers = {}, body = undefined) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function checkRoutes(port) {
  const page = await raw(port, 'GET', '/admin/');
  assert(page.status === 200 && /text\/html/.test(page.headers['content-type']), `GET /admin/: ${page.status} ${page.headers['content-type']}`);
  assert(/script-src 'self'/.test(page.headers['content-security-policy'] || ''), `CSP ${page.headers['content-security-policy']}`);
  assert(page.text.includes('/admin/console/console.mjs'), 'the page loads console.mjs');
  const mod = await raw(port, 'GET', '/admin/console/console.mjs');
  assert(mod.status === 200 && /javascript/.test(mod.headers['content-type']), `console.mjs: ${mod.status} ${mod.headers['content-type']}`);
  const bare = await raw(port, 'GET', '/admin');
  assert(bare.status === 308 && bare.headers.location === '/admin/', `GET /admin: ${bare.status} ${bare.headers.location}`);
  const post = await raw(port, 'POST', '/admin/', { 'content-type': 'application/json' }, '{}');
  assert(post.status === 405, `POST /admin/: ${post.status}`);
  for (const p of ['/admin/console/../../README.md', '/admin/console/%2e%2e/%2e%2e/README.md',
    '/admin/console/..%2f..%2fREADME.md', '/admin/console//etc/passwd', '/admin/console/nothing.mjs']) {
    const r = await raw(port, 'GET', p);
    assert(r.status === 403 || r.status === 404, `GET ${p}: ${r.status} (must not serve a file outside web/admin)`);
  }
  for (const p of ['/admin/', '/admin/console/console.mjs', '/admin/log/recent']) {
    const r = await raw(port, 'GET', p, { host: 'attacker.example' });
    assert(r.status === 421, `GET ${p} with Host attacker.example: ${r.status}, want 421`);
  }
  const cross = await raw(port, 'POST', '/admin/log_level', { origin: 'http://attacker.example', 'content-type': 'text/plain' },
    '{"level":"debug"}');
  assert(cross.status === 403, `cross-origin POST /admin/log_level: ${cross.status}, want 403`);
  const recent = JSON.parse((await raw(port, 'GET', '/admin/log/recent')).text);
  const warn = recent.find((e) => e.level === 'warn' && e.module === 'admin' && /cross-origin POST \/admin\/log_level/.test(e.msg));
  assert(warn && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(warn.ts) && Object.keys(warn).join() === 'ts,level,module,msg',
    `the refused POST in /admin/log/recent: ${JSON.stringify(recent.slice(-3))}`);
  assert(recent.every((e) => e.level === 'warn' || e.level === 'error'), 'only warnings and errors in /admin/log/recent');
  const one = JSON.parse((await raw(port, 'GET', '/admin/log/recent?limit=1')).text);
  assert(one.length === 1 && one[0].msg === recent[recent.length - 1].msg, `?limit=1 gives the newest: ${JSON.stringify(one)}`);
  const postRecent = await raw(port, 'POST', '/admin/log/recent', { 'content-type': 'application/json' }, '{}');
  assert(postRecent.status === 405, `POST /admin/log/recent: ${postRecent.status}`);
}

// Opens the console in its own browser context and records every sign of trouble.
async function openConsole(br, url) {
  const ctx = await br.browser.newContext({ viewport: SIZES.desktop });
  const page = await ctx.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`[${m.type()}] ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`[pageerror] ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`[requestfailed] ${r.url()} ${r.failure() && r.failure().errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`[${r.status()}] ${r.url()}`); });
  await page.goto(url);
  return { ctx, page, problems };
}

const text = (page, sel) => page.evaluate((s) => document.querySelector(s)?.textContent ?? '', sel);
const callRow = (page, id) => page.evaluate((k) => {
  const tr = [...document.querySelectorAll('#calls tbody tr')].find((r) => r.dataset.key === k);
  return tr ? [...tr.cells].map((c) => c.textContent) : null;
}, id);

async function axe(page, label, report) {
  for (const [size, scheme] of [['desktop', 'light'], ['desktop', 'dark'], ['phone', 'light'], ['phone', 'dark']]) {
    await page.setViewportSize(SIZES[size]);
    await page.emulateMedia({ colorScheme: scheme });
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    // Injected through the DevTools protocol: the page's CSP forbids inline scripts.
    if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE_SOURCE);
    const res = await page.evaluate(async () => {
      const r = await window.axe.run(document, { resultTypes: ['violations'] });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
    });
    const bad = res.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    report.push(`${label} ${size}/${scheme}: ${res.length} violations${res.length ? ` (${res.map((v) => `${v.id}:${v.impact}`).join(', ')})` : ''}`);
    assert(bad.length === 0, `axe on the console (${label}, ${size}, ${scheme}):\n${JSON.stringify(bad, null, 1)}`);
    if (size === 'phone') {
      const over = await page.evaluate(() => {
        const w = window.innerWidth;
        const wide = [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > w + 1
          && !e.closest('.scroll')).slice(0, 3).map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`);
        return { by: document.documentElement.scrollWidth - w, wide };
      });
      assert(over.by <= 0, `the console scrolls sideways by ${over.by} px at phone width: ${over.wide.join(', ')}`);
    }
  }
  await page.setViewportSize(SIZES.desktop);
  await page.emulateMedia({ colorScheme: 'light' });
}

await withServer(callsServerOpts(48), async (srv) => {
  if (target() !== 'parley') throw skip('the operator console is parley\'s');
  if (!process.env.PARLEY_NETNS) throw skip('not inside a network namespace (run via tests/integration/run.sh as root)');
  const why = browserAvailable();
  if (why) throw skip(why);
  const port = srv.ports.admin;
  await checkRoutes(port);
  const report = [];

  await withCallerAndHost(srv, async ({ br, cc, hc, caller, host }) => {
    const con = await openConsole(br, `http://127.0.0.1:${port}/admin/`);
    const { page } = con;
    try {
      // Revenue, purchases and ledger health from the first poll.
      await pollUntil('ledger ok on the console', async () => (await text(page, '#ledger-state')) === 'ok', 10000);
      assert((await text(page, '#fig-ledger')) === 'ok', 'the ledger figure says ok');
      const counts = await text(page, '#ledger-counts');
      assert(/Accounts/.test(counts) && /Transfers/.test(counts), `ledger counts shown: ${counts}`);
      assert(/^\d+$/.test(await text(page, '#fig-revenue')), `revenue figure ${await text(page, '#fig-revenue')}`);
      const purchases = await page.evaluate(() => [...document.querySelectorAll('#purchases tbody tr')].map((r) => r.textContent));
      assert(purchases.some((r) => /completed|paid|succeeded/i.test(r)), `purchases table: ${JSON.stringify(purchases)}`);
      // The refused cross-origin POST made in checkRoutes is among the recent errors.
      await pollUntil('the refused POST in recent errors', async () => /refused a cross-origin POST \/admin\/log_level/.test(await text(page, '#errors tbody')), 10000);
      // The two signed-in clients' sessions.
      await pollUntil('two sessions on the console', async () => Number(await text(page, '#fig-sessions')) >= 2, 10000);

      // A real call: it shows while up, with its parties, and goes after the hangup.
      const hMark = await hc.mark();
      const cMark = await cc.call(host.username, AV);
      const inc = await hc.waitEvent({ event: 'incomingcall' }, hMark);
      const callId = inc.result.call_id;
      const ringing = await pollUntil('the ringing call on the console', () => callRow(page, callId), 10000);
      report.push(`ringing row: ${ringing.join(' | ')}`);
      await hc.accept(AV);
      await cc.waitEvent({ event: 'accepted' }, cMark);
      await Promise.all([cc.webrtcUp(), hc.webrtcUp()]);
      const row = await pollUntil('the call active on the console', async () => {
        const r = await callRow(page, callId);
        return r && /active/.test(r[3]) ? r : null;
      }, 10000);
      assert(row[1] === caller.username && row[2] === host.username, `call row parties ${JSON.stringify(row)}, want ${caller.username} -> ${host.username}`);
      assert(Number(await text(page, '#fig-calls')) >= 1, 'live calls figure');
      // Packets/s comes from two scrapes' difference: media is flowing, so it must rise.
      await pollUntil('RTP packets/s above 0', async () => Number(await text(page, '#fig-pps')) > 0, 10000);
      report.push(`active row: ${row.join(' | ')}; packets/s ${await text(page, '#fig-pps')}`);
      await axe(page, 'in a call', report);
      // Kept when PARLEY_ARTIFACT_DIR is set (srv.dir goes when the test passes).
      const shots = process.env.PARLEY_ARTIFACT_DIR || srv.dir;
      fs.mkdirSync(shots, { recursive: true });
      await page.screenshot({ path: path.join(shots, 'admin_console-desktop.png'), fullPage: true });
      await page.setViewportSize(SIZES.phone);
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.screenshot({ path: path.join(shots, 'admin_console-phone-dark.png'), fullPage: true });
      await page.setViewportSize(SIZES.desktop);
      await page.emulateMedia({ colorScheme: 'light' });
      const polylines = await page.evaluate(() => document.querySelectorAll('svg.chart polyline').length);
      assert(polylines >= 4, `chart lines drawn: ${polylines}`);

      const s = await cc.hangup();
      await cc.waitEvent({ event: 'hangup' }, s, 5000);
      await pollUntil('the call gone from the console', async () => (await callRow(page, callId)) === null, 10000);
      assert(!(await page.isHidden('#calls-empty')), '"No live calls" shown after the hangup');
      await sleep(500);
      assert(con.problems.length === 0, `console page problems:\n${con.problems.join('\n')}`);
    } finally {
      await con.ctx.close();
    }
  });
  for (const l of report) console.log(l);
});
