#!/usr/bin/env node
// The Janus event sequences that client libraries (janus.js, janus_client) rely on, over
// WebSocket with a hand-written client (lib/page/mini.js) and a real call:
//  - message with a JSEP: ack, then an `event` with plugindata + answer (same transaction);
//  - after ICE: `webrtcup`, then a `media` event per kind with receiving: true;
//  - hangup: `success`, then {"janus":"hangup","sender":handle,"reason":...};
//  - the same handle negotiates again afterwards (new RTCPeerConnection) and media flows;
//  - detach: `success`, then `detached`; the handle is gone (459);
//  - destroy: `success`; the session is gone (458).
import { openBrowser, browserAvailable } from './lib/browser.mjs';
import { sleep } from './lib/echotest.mjs';
import { assert, skip, withServer } from './lib/server.mjs';

async function mediaRising(page, label) {
  const a = await page.evaluate(() => window.mini.stats());
  await sleep(2000);
  const b = await page.evaluate(() => window.mini.stats());
  assert(b.audio.packetsReceived - a.audio.packetsReceived >= 50, `${label}: audio ${a.audio.packetsReceived} -> ${b.audio.packetsReceived}`);
  assert(b.video.packetsReceived - a.video.packetsReceived >= 20, `${label}: video ${a.video.packetsReceived} -> ${b.video.packetsReceived}`);
}

await withServer({ index: 9 }, async (srv) => {
  if (!process.env.PARLEY_NETNS) throw skip('not inside a network namespace (run via tests/integration/run.sh as root)');
  const why = browserAvailable();
  if (why) throw skip(why);
  const br = await openBrowser();
  const page = br.page;
  const ev = (pred, ms = 8000, since = 0) => page.evaluate(([p, m, s]) => window.mini.waitEvent(new Function('m', `return ${p}`), m, s), [pred, ms, since]);
  const count = async () => (await page.evaluate(() => window.mini.info())).eventCount;
  try {
    const ids = await page.evaluate((u) => window.mini.connect(u), srv.wsUrl);
    const h = ids.handleId;
    const c = await page.evaluate(() => window.mini.call());
    assert(c.plugindata.data && c.plugindata.data.result === 'ok', `first answer plugindata ${JSON.stringify(c.plugindata)}`);
    const up = await ev(`m.janus === 'webrtcup' && m.sender === ${h}`, 15000);
    assert(up, 'no webrtcup with the handle as sender');
    for (const kind of ['audio', 'video']) {
      const m = await ev(`m.janus === 'media' && m.type === '${kind}' && m.receiving === true && m.sender === ${h}`, 8000);
      assert(m, `no media event for ${kind}`);
    }
    await mediaRising(page, 'first call');

    const mark = await count();
    const hu = await page.evaluate((hid) => window.mini.request({ janus: 'hangup', handle_id: hid }), h);
    assert(hu.janus === 'success', `hangup answered ${JSON.stringify(hu)}`);
    const hev = await ev(`m.janus === 'hangup' && m.sender === ${h}`, 8000, mark);
    assert(hev && typeof hev.msg.reason === 'string', `no hangup event: ${JSON.stringify(hev)}`);
    console.log(`hangup event reason "${hev.msg.reason}"`);

    const mark2 = await count();
    const c2 = await page.evaluate(() => window.mini.call());
    assert(c2.plugindata.data && c2.plugindata.data.result === 'ok', `second answer ${JSON.stringify(c2.plugindata)}`);
    const up2 = await ev(`m.janus === 'webrtcup' && m.sender === ${h}`, 15000, mark2);
    assert(up2, 'no webrtcup for the second negotiation on the same handle');
    await mediaRising(page, 'second call on the same handle');

    const mark3 = await count();
    const de = await page.evaluate((hid) => window.mini.request({ janus: 'detach', handle_id: hid }), h);
    assert(de.janus === 'success', `detach answered ${JSON.stringify(de)}`);
    const dev = await ev(`m.janus === 'detached' && m.sender === ${h}`, 8000, mark3);
    assert(dev, 'no detached event');
    const gone = await page.evaluate((hid) => window.mini.request({ janus: 'message', handle_id: hid, body: {} }), h);
    assert(gone.janus === 'error' && gone.error.code === 459, `message to a detached handle: ${JSON.stringify(gone)}`);

    const ds = await page.evaluate(() => window.mini.request({ janus: 'destroy' }));
    assert(ds.janus === 'success', `destroy answered ${JSON.stringify(ds)}`);
    const after = await page.evaluate(() => window.mini.request({ janus: 'keepalive' }));
    assert(after.janus === 'error' && after.error.code === 458, `keepalive after destroy: ${JSON.stringify(after)}`);
    console.log('sequence ok: event+answer, webrtcup, media x2, hangup, renegotiation, detached, 459, 458');
  } catch (e) {
    console.error(`browser console (last 30):\n${br.console.slice(-30).join('\n')}`);
    try { console.error(JSON.stringify(await page.evaluate(() => window.mini.info()), null, 1).slice(-5000)); } catch { /* page gone */ }
    throw e;
  } finally {
    await br.close();
  }
});
