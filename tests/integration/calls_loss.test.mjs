#!/usr/bin/env node
// A 1:1 video call through janus.plugin.videocall under packet loss. Two janus.js clients
// in Chromium (caller over WebSocket, host over HTTP long-poll, auth tokens on parley) are
// in an audio + video call; then iptables in the test's network namespace drops LOSS of the
// UDP packets going to the server's RTP ports and LOSS of those coming from them, so both
// legs lose packets in both directions (each media direction crosses two lossy hops). Over
// SECONDS s, sampled once a second on both sides: video keeps decoding (no run of 6 s or
// more without a new decoded frame, frame rate at least half of the rate measured before
// the loss), audio packets rise every second (>= 25/s on average). NACKs and PLIs have to
// work through the relay in both directions for that. Prints the NACK/PLI/loss counters of
// getStats (inbound: what each browser sent as a receiver; outbound: what it received as a
// sender) and frames/s before and during the loss. The rules are removed in a finally block.
// Needs root inside the namespace (iptables); skips otherwise.
import { execFileSync } from 'node:child_process';
import { browserAvailable } from './lib/browser.mjs';
import { callsServerOpts, firstFrames, isParley, sleep, withCallerAndHost } from './lib/calls.mjs';
import { feedback, fmtFeedback } from './lib/calls_media.mjs';
import { assert, skip, withServer } from './lib/server.mjs';

const INDEX = 32;
const LOSS = 0.03;
const SECONDS = 14;
const BASE_SECONDS = 4;
const MAX_FREEZE_S = 6;

function iptables(args) {
  return execFileSync('iptables', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

function lossRules(range) {
  const p = String(LOSS);
  return ['--dport', '--sport'].map((dir) => ['INPUT', '-p', 'udp', dir, range, '-m', 'statistic', '--mode', 'random', '--probability', p, '-j', 'DROP']);
}

// Packets dropped by our rules so far (the INPUT chain's DROP lines for the range).
function droppedCount(range) {
  return iptables(['-L', 'INPUT', '-v', '-n', '-x']).split('\n')
    .filter((l) => l.includes('DROP') && l.includes(range))
    .reduce((n, l) => n + Number(l.trim().split(/\s+/)[0] || 0), 0);
}

await withServer(callsServerOpts(INDEX), async (srv) => {
  if (!process.env.PARLEY_NETNS) throw skip('not inside a network namespace (run via tests/integration/run.sh as root)');
  const why = browserAvailable();
  if (why) throw skip(why);
  try { iptables(['-L', 'INPUT', '-n']); } catch (e) { throw skip(`iptables unusable here: ${e.message}`); }
  const range = `${srv.ports.rtpMin}:${srv.ports.rtpMax}`;
  const added = [];
  try {
    await withCallerAndHost(srv, async ({ cc, hc, host }) => {
      const clients = [cc, hc];
      const hMark = await hc.mark();
      const cMark = await cc.call(host.username);
      const calling = await cc.waitEvent({ replyOrError: true }, cMark);
      assert(calling.result && calling.result.event === 'calling', `call answered ${JSON.stringify(calling)}`);
      await hc.waitEvent({ event: 'incomingcall' }, hMark);
      const aMark = await hc.accept();
      const acc = await hc.waitEvent({ replyOrError: true }, aMark);
      assert(acc.result && acc.result.event === 'accepted', `accept answered ${JSON.stringify(acc)}`);
      await cc.waitEvent({ event: 'accepted' }, cMark);
      await Promise.all([cc.webrtcUp(), hc.webrtcUp()]);
      await firstFrames(clients, 10000);
      await sleep(2000); // the first keyframes and the bandwidth estimate settle

      const b0 = await Promise.all(clients.map((c) => c.stats()));
      await sleep(BASE_SECONDS * 1000);
      const b1 = await Promise.all(clients.map((c) => c.stats()));
      const baseFps = clients.map((c, k) => (b1[k].video.framesDecoded - b0[k].video.framesDecoded) / BASE_SECONDS);
      clients.forEach((c, k) => assert(baseFps[k] >= 5, `before the loss the ${c.label} decoded only ${baseFps[k]} frames/s`));
      const baseFb = clients.map((c, k) => feedback(b0[k], b1[k]));

      for (const rule of lossRules(range)) {
        iptables(['-A', ...rule]);
        added.push(rule);
      }
      const start = await Promise.all(clients.map((c) => c.stats()));
      let prev = start;
      const perSecond = clients.map(() => []);
      const freezeRun = clients.map(() => 0);
      const longestFreeze = clients.map(() => 0);
      const stalls = [];
      for (let i = 0; i < SECONDS; i++) {
        await sleep(1000);
        const cur = await Promise.all(clients.map((c) => c.stats()));
        clients.forEach((c, k) => {
          const frames = cur[k].video.framesDecoded - prev[k].video.framesDecoded;
          const audio = cur[k].audio.packetsReceived - prev[k].audio.packetsReceived;
          perSecond[k].push(frames);
          freezeRun[k] = frames > 0 ? 0 : freezeRun[k] + 1;
          longestFreeze[k] = Math.max(longestFreeze[k], freezeRun[k]);
          if (audio <= 0) stalls.push(`${c.label} audio in second ${i + 1}`);
        });
        prev = cur;
        clients.forEach((c, k) => assert(freezeRun[k] < MAX_FREEZE_S,
          `the ${c.label}'s video froze for ${freezeRun[k]} s under loss (frames per second: ${perSecond[k].join(' ')}); ` +
          fmtFeedback(feedback(start[k], cur[k]))));
      }
      const dropped = droppedCount(range);
      const lossFps = clients.map((c, k) => (prev[k].video.framesDecoded - start[k].video.framesDecoded) / SECONDS);
      const audioPps = clients.map((c, k) => (prev[k].audio.packetsReceived - start[k].audio.packetsReceived) / SECONDS);
      const fb = clients.map((c, k) => feedback(start[k], prev[k]));
      assert(dropped > 50, `iptables dropped only ${dropped} packets: the loss was not applied`);
      assert(stalls.length === 0, `audio stalled under loss: ${stalls.join(', ')}`);
      clients.forEach((c, k) => {
        assert(audioPps[k] >= 25, `the ${c.label} received ${audioPps[k].toFixed(1)} audio packets/s under loss`);
        assert(lossFps[k] >= baseFps[k] / 2, `the ${c.label}'s video: ${lossFps[k].toFixed(1)} frames/s under loss vs ${baseFps[k].toFixed(1)} before ` +
          `(per second: ${perSecond[k].join(' ')}); ${fmtFeedback(fb[k])}`);
      });
      console.log(`${LOSS * 100}% of the UDP to and from the RTP ports ${range} dropped (${dropped} packets in ${SECONDS} s)`);
      clients.forEach((c, k) => {
        const flat = perSecond[k].filter((n) => n === 0).length;
        console.log(`${c.label}: video ${baseFps[k].toFixed(1)} -> ${lossFps[k].toFixed(1)} frames/s (frames per second: ${perSecond[k].join(' ')}; ` +
          `${flat} s without a new frame, longest ${longestFreeze[k]} s), audio ${audioPps[k].toFixed(1)} pkt/s; ` +
          `under loss ${fmtFeedback(fb[k])}; before the loss ${baseFb[k].nacksSent} NACKs / ${baseFb[k].plisSent} PLIs sent, ` +
          `${baseFb[k].nacksReceived} NACKs / ${baseFb[k].plisReceived} PLIs received`);
      });
      // The relay must carry the feedback both ways: each sender heard NACKs for what was lost.
      clients.forEach((c, k) => assert(fb[k].nacksSent > 0 && fb[k].nacksReceived > 0,
        `the ${c.label}: no NACK traffic under loss (${fmtFeedback(fb[k])})`));
      if (!isParley()) console.log(`(against ${srv.target}: no tokens)`);
      // Hang up before leaving, as a client does (the call ends on both sides).
      const hm = await hc.mark();
      const hs = await cc.hangup();
      await cc.waitEvent({ event: 'hangup' }, hs, 5000);
      await hc.waitEvent({ event: 'hangup' }, hm, 5000);
      await Promise.all([cc.stop(), hc.stop()]);
    }, { callerName: 'LossCaller', hostName: 'LossHost' });
  } finally {
    for (const rule of added) {
      try { iptables(['-D', ...rule]); } catch (e) { console.error(`could not remove iptables rule ${rule.join(' ')}: ${e.message}`); }
    }
  }
});
