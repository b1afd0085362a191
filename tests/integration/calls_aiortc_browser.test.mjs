#!/usr/bin/env node
// A call between an aiortc caller (lib/vcaiortc.py, a child /usr/bin/python3 process this
// test drives through JSON lines; Janus HTTP API) and a janus.js host in Chromium
// (WebSocket) through janus.plugin.videocall. The caller sends a 440 Hz tone and a 320x240
// gradient, the host Chromium's fake devices. After accept and webrtcup on both: over 5 s
// the host's inbound audio packets, video packets and decoded frames rise every second,
// and the caller receives at least 150 audio frames (with the fake device's beeps in them)
// and 25 decoded video frames. Then the host hangs up and the caller gets `hangup`.
// Against Janus 1.1.2 (which passes the caller's SDP through and asks for no keyframe)
// the caller leaves aiortc's clashing audio-level extension out of its offer and sends its
// own PLI; against parley neither is done and the server must cope.
import { openBrowser, browserAvailable } from './lib/browser.mjs';
import { aiortcAvailable, spawnAiortc } from './lib/aiortcpeer.mjs';
import { callsServerOpts, flowing, fmtFlow, isParley, newUser, openClient, sleep, withClients } from './lib/calls.mjs';
import { assert, skip, withServer } from './lib/server.mjs';

const MEDIA_S = 5;

await withServer(callsServerOpts(28), async (srv) => {
  if (!process.env.PARLEY_NETNS) throw skip('not inside a network namespace (run via tests/integration/run.sh as root)');
  const why = browserAvailable() || aiortcAvailable();
  if (why) throw skip(why);
  const parley = isParley();
  const caller = await newUser(srv, 'caller', 'Caller');
  const host = await newUser(srv, 'host', 'Host');
  const br = await openBrowser();
  const aio = spawnAiortc('aiortc caller');
  const clients = [];
  try {
    const hc = await openClient(br, 'host');
    clients.push(hc);
    await withClients(clients, async () => {
      try {
        await hc.start(srv.wsUrl, host.token);
        await hc.register(host.username);
        await aio.cmd('start', { server: srv.httpUrl, token: caller.token ?? null, label: 'caller', tone_hz: 440, size: [320, 240], strip_audio_level: !parley });
        await aio.cmd('register', { username: caller.username });
        const hMark = await hc.mark();
        const t0 = Date.now();
        const cMark = await aio.cmd('call', { username: host.username });
        const calling = await aio.cmd('wait_event', { since: cMark });
        assert(calling.result && calling.result.event === 'calling', `call answered ${JSON.stringify(calling)}`);
        const inc = await hc.waitEvent({ event: 'incomingcall' }, hMark);
        assert(inc.jsep && inc.jsep.kinds.includes('audio') && inc.jsep.kinds.includes('video'), `incomingcall ${JSON.stringify(inc)}`);
        if (parley) assert(inc.result.call_id && calling.result.call_id === inc.result.call_id, `call_id: calling ${JSON.stringify(calling.result)}, incomingcall ${JSON.stringify(inc.result)}`);
        const aMark = await hc.accept();
        const acc = await hc.waitEvent({ replyOrError: true }, aMark);
        assert(acc.result && acc.result.event === 'accepted', `accept answered ${JSON.stringify(acc)}`);
        const accC = await aio.cmd('wait_event', { event: 'accepted', since: cMark });
        assert(accC.jsep_type === 'answer', `the caller's accepted has no answer: ${JSON.stringify(accC)}`);
        await hc.webrtcUp();
        let st;
        const upEnd = Date.now() + 15000;
        for (;;) {
          st = await aio.cmd('stats');
          if (st.webrtcup !== null) break;
          assert(Date.now() < upEnd, `no webrtcup for the aiortc caller: ${JSON.stringify(st)} ${JSON.stringify(await aio.cmd('events'))}`);
          await sleep(100);
        }
        const upMs = Date.now() - t0;
        if (!parley) {
          await sleep(1000);
          st = await aio.cmd('stats');
          if (st.video_frames === 0) {
            const n = await aio.cmd('request_keyframe');
            console.log(`(Janus: the aiortc caller had no picture after 1 s and sent ${n} PLI itself)`);
          }
        }
        const frameEnd = Date.now() + 10000;
        for (;;) {
          st = await aio.cmd('stats');
          const hs = await hc.stats();
          if (st.video_frames > 0 && hs.video.framesDecoded > 0) break;
          assert(Date.now() < frameEnd, `no decoded video 10 s after webrtcup: aiortc ${st.video_frames} frames, host ${hs.video.framesDecoded} frames`);
          await sleep(200);
        }
        const firstMs = Date.now() - t0;
        const a0 = await aio.cmd('stats');
        const flow = await flowing([hc], MEDIA_S, { what: 'host' });
        const a1 = await aio.cmd('stats');
        const da = a1.audio_frames - a0.audio_frames;
        const dv = a1.video_frames - a0.video_frames;
        assert(da >= 30 * MEDIA_S, `the aiortc caller got ${da} audio frames in ${MEDIA_S} s`);
        assert(dv >= 5 * MEDIA_S, `the aiortc caller decoded ${dv} video frames in ${MEDIA_S} s`);
        assert(a1.rms_max > 300, `the audio the aiortc caller receives is silent (max RMS over 2 s ${a1.rms_max.toFixed(0)})`);
        assert(a1.sizes.length >= 1 && a1.sizes.every(([w, h]) => w >= 160 && h >= 120), `received video sizes ${JSON.stringify(a1.sizes)}`);
        console.log(`aiortc caller <-> janus.js host: webrtcup ${upMs} ms, video decoded on both sides at ${firstMs} ms after the call`);
        console.log(`aiortc caller receives ${(da / MEDIA_S).toFixed(0)} audio frames/s (max RMS ${a1.rms_max.toFixed(0)}, median ${a1.rms_median.toFixed(0)}), ` +
          `${(dv / MEDIA_S).toFixed(0)} video frames/s ${JSON.stringify(a1.sizes)}; ${fmtFlow(flow)}`);

        // The host hangs up.
        const since = await aio.cmd('mark');
        const hm = await hc.hangup();
        await hc.waitEvent({ event: 'hangup' }, hm, 5000);
        const hh = await aio.cmd('wait_event', { event: 'hangup', since, timeout: 5 });
        assert(hh.result && hh.result.event === 'hangup', `caller hangup ${JSON.stringify(hh)} (events from #${since})`);
        console.log(`hangup by the host: the aiortc caller got reason "${hh.result.reason}"`);
        if (!parley) console.log(`skipped against ${srv.target} (parley only): tokens, call_id, the server's keyframe request, an unaltered aiortc offer`);
        await hc.stop();
      } catch (e) {
        console.error(`--- aiortc caller log (last 40 lines):\n${aio.stderrTail(40)}`);
        try { console.error(`aiortc caller events: ${JSON.stringify(await aio.cmd('events', {}, 3000))}`); } catch { /* gone */ }
        throw e;
      }
    });
  } finally {
    await aio.close();
    await br.close();
  }
});
