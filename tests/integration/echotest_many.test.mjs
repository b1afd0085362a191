#!/usr/bin/env node
// Several echotests at once: 4 janus.js clients in separate pages (2 over WebSocket, 2 over
// HTTP long-poll) against one server. Every one must reach webrtcup, receive its own audio
// and video (packets rising every second for 5 s, frames decoded) and get its own data
// channel messages back - not another client's.
import { openBrowser, browserAvailable } from './lib/browser.mjs';
import { sleep } from './lib/echotest.mjs';
import { assert, skip, withServer } from './lib/server.mjs';

const CLIENTS = [['ws', 0], ['http', 1], ['ws', 2], ['http', 3]];

await withServer({ index: 14 }, async (srv) => {
  if (!process.env.PARLEY_NETNS) throw skip('not inside a network namespace (run via tests/integration/run.sh as root)');
  const why = browserAvailable();
  if (why) throw skip(why);
  const br = await openBrowser();
  try {
    const pages = [br.page];
    for (let i = 1; i < CLIENTS.length; i++) pages.push(await br.newPage());
    const started = await Promise.all(CLIENTS.map(([t], i) =>
      pages[i].evaluate((s) => window.echo.start({ server: s, timeoutMs: 30000 }), t === 'ws' ? srv.wsUrl : srv.httpUrl)));
    const sessions = new Set(started.map((s) => s.sessionId));
    assert(sessions.size === CLIENTS.length, `session ids not distinct: ${[...sessions]}`);
    await Promise.all(pages.map((p) => p.evaluate(() => window.echo.waitDataOpen(15000))));
    let prev = await Promise.all(pages.map((p) => p.evaluate(() => window.echo.stats())));
    const first = prev;
    for (let sec = 0; sec < 5; sec++) {
      await sleep(1000);
      const cur = await Promise.all(pages.map((p) => p.evaluate(() => window.echo.stats())));
      cur.forEach((c, i) => {
        assert(c.audio.packetsReceived > prev[i].audio.packetsReceived, `client ${i} (${CLIENTS[i][0]}): audio stalled in second ${sec + 1}`);
        assert(c.video.packetsReceived > prev[i].video.packetsReceived, `client ${i} (${CLIENTS[i][0]}): video stalled in second ${sec + 1}`);
      });
      prev = cur;
    }
    prev.forEach((c, i) => assert(c.video.framesDecoded > 0, `client ${i}: no frames decoded`));
    // Each client's data comes back to that client only.
    await Promise.all(pages.map((p, i) => p.evaluate((t) => window.echo.echoData(t), `client-${i}-${Date.now()}`)));
    const received = await Promise.all(pages.map((p) => p.evaluate(() => window.echo.state().received)));
    received.forEach((msgs, i) => {
      const foreign = msgs.filter((m) => /client-\d+-/.test(m) && !m.includes(`client-${i}-`));
      assert(foreign.length === 0, `client ${i} received another client's data: ${foreign}`);
    });
    const rates = prev.map((c, i) => `${CLIENTS[i][0]} a${((c.audio.packetsReceived - first[i].audio.packetsReceived) / 5).toFixed(0)}/v${((c.video.packetsReceived - first[i].video.packetsReceived) / 5).toFixed(0)}`);
    console.log(`${CLIENTS.length} simultaneous echotests, webrtcup ${started.map((s) => s.webrtcupMs.toFixed(0)).join('/')} ms, pkt/s ${rates.join(', ')}`);
    await Promise.all(pages.map((p) => p.evaluate(() => window.echo.stop())));
  } catch (e) {
    console.error(`browser console (last 40):\n${br.console.slice(-40).join('\n')}`);
    throw e;
  } finally {
    await br.close();
  }
});
