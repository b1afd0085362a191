#!/usr/bin/env node
// The browser echo test against a server that is already running (the container started by
// tests/container/run.sh): janus.js in headless Chromium, fake audio + video + data channel,
// over WebSocket and then over HTTP long-poll, with the checks of the integration suite
// (lib/echotest.mjs: webrtcup, audio and video packets rising every second for 5 s, frames
// decoded, 5 data-channel echoes).
//
// Env: CT_HTTP_PORT, CT_WS_PORT (the container's ports), CT_HOST (its address, default
// 127.0.0.1), CT_TRANSPORTS (default "ws,http"). Must run in the same network namespace as
// the container. Exit 0 pass, 77 skip (reason printed), 1 fail.
import { openBrowser, browserAvailable } from '../integration/lib/browser.mjs';
import { fmtResult, runEchotest } from '../integration/lib/echotest.mjs';

const httpPort = Number(process.env.CT_HTTP_PORT);
const wsPort = Number(process.env.CT_WS_PORT);
const host = process.env.CT_HOST || '127.0.0.1';
const transports = (process.env.CT_TRANSPORTS || 'ws,http').split(',');
if (!httpPort || !wsPort) {
  console.error('CT_HTTP_PORT and CT_WS_PORT must be set');
  process.exit(1);
}
const why = browserAvailable();
if (why) {
  console.log(`SKIP: ${why}`);
  process.exit(77);
}

// runEchotest only needs the two URLs of the server under test.
const srv = { httpUrl: `http://${host}:${httpPort}/janus`, wsUrl: `ws://${host}:${wsPort}` };
let br = null;
try {
  for (const transport of transports) {
    br = await openBrowser();
    const r = await runEchotest(srv, br, transport);
    console.log(`echotest over ${transport === 'ws' ? 'WebSocket' : 'HTTP long-poll'}: ${fmtResult(r)}`);
    await br.page.evaluate(() => window.echo.stop());
    await br.close();
    br = null;
  }
  process.exit(0);
} catch (e) {
  console.error(`FAILED: ${e && e.stack ? e.stack : e}`);
  if (br) {
    console.error(`browser console (last 40):\n${br.console.slice(-40).join('\n')}`);
    await br.close();
  }
  process.exit(1);
}
