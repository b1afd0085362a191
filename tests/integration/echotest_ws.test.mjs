#!/usr/bin/env node
// janus.js in headless Chromium over WebSocket: echotest with fake audio + video + data
// channel; webrtcup, both media kinds flowing for 5 s, frames decoded, data echoed.
import { openBrowser, browserAvailable } from './lib/browser.mjs';
import { fmtResult, runEchotest } from './lib/echotest.mjs';
import { skip, withServer } from './lib/server.mjs';

await withServer({ index: 1 }, async (srv) => {
  if (!process.env.PARLEY_NETNS) throw skip('not inside a network namespace (run via tests/integration/run.sh as root)');
  const why = browserAvailable();
  if (why) throw skip(why);
  const br = await openBrowser();
  try {
    const r = await runEchotest(srv, br, 'ws');
    console.log(`echotest over WebSocket: ${fmtResult(r)}`);
    await br.page.evaluate(() => window.echo.stop());
  } catch (e) {
    console.error(`browser console (last 40):\n${br.console.slice(-40).join('\n')}`);
    throw e;
  } finally {
    await br.close();
  }
});
