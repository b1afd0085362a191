// Headless Chromium for the WebRTC tests, plus the tiny static server that gives it the
// test page, janus.js and the WebRTC adapter.
//
// Contract: openBrowser() launches /usr/bin/chromium through playwright-core with fake
// capture devices and loopback ICE allowed, starts a static HTTP server on 127.0.0.1
// (ephemeral port) serving lib/page/* plus /janus.es.js and /adapter.js from node_modules,
// and opens one page on it. The page has loaded adapter.js and exposes the ES modules
// /echo.js (janus.js driven echotest) and /mini.js (hand-written Janus WS client). The
// returned object owns the browser and the static server: call close() in a finally
// block; newPage() opens another client page on the same server. Browser console errors
// are kept in .console (printed by tests on failure).

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const MODULES = path.resolve(HERE, '..', 'node_modules');

const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns',
];

const FILES = {
  '/': [path.join(HERE, 'page', 'index.html'), 'text/html'],
  '/echo.js': [path.join(HERE, 'page', 'echo.js'), 'text/javascript'],
  '/mini.js': [path.join(HERE, 'page', 'mini.js'), 'text/javascript'],
  '/stats.js': [path.join(HERE, 'page', 'stats.js'), 'text/javascript'],
  '/janus.es.js': [path.join(MODULES, 'janus-gateway', 'npm', 'dist', 'janus.es.js'), 'text/javascript'],
  '/adapter.js': [path.join(MODULES, 'webrtc-adapter', 'out', 'adapter.js'), 'text/javascript'],
};

function staticServer() {
  const srv = http.createServer((req, res) => {
    const f = FILES[new URL(req.url, 'http://x').pathname];
    if (!f || !fs.existsSync(f[0])) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': f[1], 'cache-control': 'no-store' });
    res.end(fs.readFileSync(f[0]));
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv)));
}

export function browserAvailable() {
  if (!fs.existsSync('/usr/bin/chromium')) return 'no /usr/bin/chromium';
  if (!fs.existsSync(path.join(MODULES, 'playwright-core'))) return 'npm ci not run in tests/integration';
  return null;
}

export async function openBrowser() {
  const web = await staticServer();
  let browser;
  try {
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
  } catch (e) {
    web.close();
    throw e;
  }
  const consoleLines = [];
  const url = `http://127.0.0.1:${web.address().port}/`;
  // Each page is one independent client (own module state, own PeerConnection).
  async function newPage() {
    const p = await browser.newPage();
    p.on('console', (m) => {
      consoleLines.push(`[${m.type()}] ${m.text()}`);
      if (consoleLines.length > 200) consoleLines.shift();
    });
    p.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
    await p.goto(url);
    await p.waitForFunction(() => window.pageReady === true, null, { timeout: 10000 });
    return p;
  }
  const page = await newPage();
  return {
    browser, page, url, console: consoleLines, newPage,
    async close() {
      try { await browser.close(); } catch { /* already gone */ }
      await new Promise((r) => web.close(r));
    },
  };
}

// Calls fn every everyMs until it returns something truthy (returned), or throws after
// timeoutMs naming what was awaited: for page state that has no event to wait on.
export async function pollUntil(what, fn, timeoutMs = 15000, everyMs = 200) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
