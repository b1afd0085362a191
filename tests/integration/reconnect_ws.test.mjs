#!/usr/bin/env node
// Mid-call WebSocket drop and claim, then an ICE restart, with a hand-written Janus client
// (lib/page/mini.js) so the test controls the socket: media must keep flowing on the same
// RTCPeerConnection throughout, keepalives must keep being acked on the new socket, the
// session's later events must arrive on the new socket, and the restart must change the
// ICE credentials and the selected candidate pair.
import { openBrowser, browserAvailable } from './lib/browser.mjs';
import { sleep } from './lib/echotest.mjs';
import { assert, skip, withServer } from './lib/server.mjs';

async function flowing(page, seconds, label) {
  const a = await page.evaluate(() => window.mini.stats());
  await sleep(seconds * 1000);
  const b = await page.evaluate(() => window.mini.stats());
  const da = b.audio.packetsReceived - a.audio.packetsReceived;
  const dv = b.video.packetsReceived - a.video.packetsReceived;
  assert(da >= seconds * 25, `${label}: audio packets over ${seconds}s = ${da}`);
  assert(dv >= seconds * 10, `${label}: video packets over ${seconds}s = ${dv}`);
  return { da, dv, stats: b };
}

await withServer({ index: 4 }, async (srv) => {
  if (!process.env.PARLEY_NETNS) throw skip('not inside a network namespace (run via tests/integration/run.sh as root)');
  const why = browserAvailable();
  if (why) throw skip(why);
  const br = await openBrowser();
  const page = br.page;
  try {
    const ids = await page.evaluate((u) => window.mini.connect(u), srv.wsUrl);
    assert(ids.sessionId > 0 && ids.handleId > 0, `ids ${JSON.stringify(ids)}`);
    const c = await page.evaluate(() => window.mini.call());
    assert(c.plugindata && c.plugindata.plugin === 'janus.plugin.echotest', `plugindata ${JSON.stringify(c)}`);
    const up = await page.evaluate(() => window.mini.waitEvent((m) => m.janus === 'webrtcup', 15000));
    assert(up, 'no webrtcup event');
    console.log(`webrtcup after ${up.t.toFixed(0)} ms`);
    await page.evaluate(() => window.mini.startKeepalives(1000));
    await flowing(page, 2, 'before the drop');

    // 1. Drop the socket for 1.5 s, reconnect, claim.
    const kaBefore = (await page.evaluate(() => window.mini.info())).keepalives;
    const claimed = await page.evaluate(() => window.mini.reconnect(1500));
    assert(claimed.janus === 'success', `claim answered ${JSON.stringify(claimed)}`);
    assert(claimed.session_id === undefined || claimed.session_id === ids.sessionId, `claim session ${JSON.stringify(claimed)}`);
    const after = await flowing(page, 3, 'after the reconnect');
    const inf = await page.evaluate(() => window.mini.info());
    assert(inf.gen === 2, `socket generation ${inf.gen}`);
    assert(inf.keepalives.acked >= kaBefore.acked + 2, `keepalives acked before ${kaBefore.acked}, after ${inf.keepalives.acked}`);
    assert(inf.keepalives.errors === 0, `keepalive errors ${inf.keepalives.errors}`);
    console.log(`after claim: audio ${after.da / 3} pkt/s, video ${after.dv / 3} pkt/s, keepalives acked ${inf.keepalives.acked}`);

    // 2. ICE restart over the new socket: the answer and trickles arrive there.
    const countBefore = inf.eventCount;
    const r = await page.evaluate(() => window.mini.iceRestart());
    assert(r.plugindata && r.plugindata.plugin === 'janus.plugin.echotest', `restart plugindata ${JSON.stringify(r)}`);
    const flow2 = await flowing(page, 4, 'after the ICE restart');
    const s2 = flow2.stats;
    assert(r.before.local && r.before.remote, `ufrags before ${JSON.stringify(r.before)}`);
    assert(s2.ufrags.local !== r.before.local, `local ufrag unchanged (${s2.ufrags.local})`);
    assert(s2.ufrags.remote !== r.before.remote, `server ufrag unchanged (${s2.ufrags.remote})`);
    assert(r.before.pair && s2.pair, `selected pairs ${JSON.stringify(r.before.pair)} / ${JSON.stringify(s2.pair)}`);
    assert(s2.pair.id !== r.before.pair.id, `selected candidate pair unchanged (${s2.pair.id})`);
    const inf2 = await page.evaluate(() => window.mini.info());
    const fresh = inf2.events.slice(-(inf2.eventCount - countBefore) || inf2.events.length);
    const newTrickles = fresh.filter((e) => e.msg && e.msg.janus === 'trickle');
    assert(fresh.every((e) => e.gen === undefined || e.gen === 2), 'an event after the claim arrived on the old socket');
    assert(!inf2.events.some((e) => e.msg && e.msg.janus === 'hangup'), `hangup seen: ${JSON.stringify(inf2.events.filter((e) => e.msg && e.msg.janus === 'hangup'))}`);
    assert(!inf2.events.some((e) => e.error), `client errors: ${JSON.stringify(inf2.events.filter((e) => e.error))}`);
    console.log(`ICE restart: ufrag ${r.before.remote} -> ${s2.ufrags.remote}, pair ${r.before.pair.remote} -> ${s2.pair.remote}, ` +
      `${newTrickles.length} server trickles seen, audio ${flow2.da / 4} pkt/s, video ${flow2.dv / 4} pkt/s`);
    await page.evaluate(() => window.mini.destroy());
  } catch (e) {
    console.error(`browser console (last 40):\n${br.console.slice(-40).join('\n')}`);
    try { console.error(JSON.stringify(await page.evaluate(() => window.mini.info()), null, 1).slice(-6000)); } catch { /* page gone */ }
    throw e;
  } finally {
    await br.close();
  }
});
