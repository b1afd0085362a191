#!/usr/bin/env node
// Echotest under packet loss: once the janus.js call runs, iptables in the test's network
// namespace drops LOSS of the UDP packets going to the server's RTP ports and LOSS of those
// coming from them. Video must keep decoding through it (feedback - NACK retransmissions,
// PLI/keyframes - has to work in both directions): over 14 s no three 2 s windows in a row
// without a decoded frame, no less than half the frame rate measured before the loss, and
// audio keeps flowing. Our server runs with media.slowlink_threshold=1, so the loss must also
// be reported as janus.js slowLink callbacks both ways (uplink: our receive gaps; downlink: the
// browser's NACKs). Needs root inside the namespace (iptables); skips otherwise.
import { execFileSync } from 'node:child_process';
import { openBrowser, browserAvailable } from './lib/browser.mjs';
import { pageStats, sleep } from './lib/echotest.mjs';
import { assert, skip, target, withServer } from './lib/server.mjs';

const LOSS = 0.03;
const WINDOWS = 7;

function iptables(args) {
  execFileSync('iptables', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function addLoss(range) {
  const p = String(LOSS);
  iptables(['-A', 'INPUT', '-p', 'udp', '--dport', range, '-m', 'statistic', '--mode', 'random', '--probability', p, '-j', 'DROP']);
  iptables(['-A', 'INPUT', '-p', 'udp', '--sport', range, '-m', 'statistic', '--mode', 'random', '--probability', p, '-j', 'DROP']);
}

function droppedCount() {
  const out = execFileSync('iptables', ['-L', 'INPUT', '-v', '-n', '-x']).toString();
  return out.split('\n').filter((l) => l.includes('DROP')).reduce((n, l) => n + Number(l.trim().split(/\s+/)[0] || 0), 0);
}

await withServer({ index: 7, extraArgs: ['--media.slowlink_threshold=1'] }, async (srv) => {
  if (!process.env.PARLEY_NETNS) throw skip('not inside a network namespace (run via tests/integration/run.sh as root)');
  const why = browserAvailable();
  if (why) throw skip(why);
  try { iptables(['-L', 'INPUT', '-n']); } catch (e) { throw skip(`iptables unusable here: ${e.message}`); }
  const br = await openBrowser();
  try {
    await br.page.evaluate((s) => window.echo.start({ server: s }), srv.wsUrl);
    await sleep(2000); // let the first keyframe and the bandwidth estimate settle
    const b0 = await pageStats(br);
    await sleep(4000);
    const b1 = await pageStats(br);
    const baseFps = (b1.video.framesDecoded - b0.video.framesDecoded) / 4;
    assert(baseFps >= 5, `baseline: only ${baseFps} frames/s decoded before any loss`);

    addLoss(`${srv.ports.rtpMin}:${srv.ports.rtpMax}`);
    const seen = [];
    let prev = await pageStats(br);
    const start = prev;
    const feedback = () => {
      const v = prev.video;
      const o = prev.outVideoFeedback;
      const so = start.outVideoFeedback;
      return `browser as receiver: lost ${v.packetsLost - start.video.packetsLost}, NACKs sent ${v.nackCount - start.video.nackCount}, ` +
        `PLIs sent ${v.pliCount - start.video.pliCount}, freezes ${v.freezeCount - start.video.freezeCount}; ` +
        `browser as sender: NACKs received ${o.nackCount - so.nackCount}, PLIs received ${o.pliCount - so.pliCount}, ` +
        `packets retransmitted ${o.retransmittedPackets - so.retransmittedPackets}`;
    };
    let frozen = 0;
    for (let i = 0; i < WINDOWS; i++) {
      await sleep(2000);
      const cur = await pageStats(br);
      const fps = (cur.video.framesDecoded - prev.video.framesDecoded) / 2;
      const aps = (cur.audio.packetsReceived - prev.audio.packetsReceived) / 2;
      seen.push(`${fps.toFixed(1)}fps/${aps.toFixed(0)}aps`);
      prev = cur;
      // A frozen window can be a lost keyframe waiting for its PLI round (Janus 1.1.2 itself
      // has those); three in a row is a freeze of 6 s or more.
      frozen = fps > 0 ? 0 : frozen + 1;
      assert(frozen < 3, `video frozen for 6 s (windows ${i - 1}-${i + 1}: ${seen.join(' ')}); ${feedback()}`);
      assert(aps >= 25, `audio dropped to ${aps} packets/s in loss window ${i + 1}`);
    }
    const lossFps = (prev.video.framesDecoded - start.video.framesDecoded) / (2 * WINDOWS);
    const dropped = droppedCount();
    assert(dropped > 50, `iptables dropped only ${dropped} packets: the loss was not applied`);
    assert(lossFps >= baseFps / 2, `video ${lossFps.toFixed(1)} fps under ${LOSS * 100}% loss vs ${baseFps.toFixed(1)} before (${seen.join(' ')}); ${feedback()}`);
    const { events } = await br.page.evaluate(() => window.echo.state());
    const up = events.slowlinks.filter((e) => e.uplink).length, down = events.slowlinks.length - up;
    if (target() === 'parley') assert(up >= 1 && down >= 1, `slowlink events: ${up} uplink, ${down} downlink (want both)`);
    console.log(`slowlink events: ${up} uplink, ${down} downlink`);
    console.log(`${LOSS * 100}% loss each way (${dropped} packets dropped): video ${baseFps.toFixed(1)} -> ${lossFps.toFixed(1)} frames/s, ` +
      `windows ${seen.join(' ')}; ${feedback()}`);
    await br.page.evaluate(() => window.echo.stop());
  } catch (e) {
    console.error(`browser console (last 30):\n${br.console.slice(-30).join('\n')}`);
    throw e;
  } finally {
    try { iptables(['-F', 'INPUT']); } catch { /* the namespace goes away with the run */ }
    await br.close();
  }
});
