// The janus.js echotest scenario shared by the echotest_* tests and bad_input's live call.
//
// Contract: runEchotest(srv, br, transport) drives lib/page/echo.js in an open browser
// (lib/browser.mjs) against a started server (lib/server.mjs) over 'ws' or 'http', and
// throws on the first failed check. checkMediaFlowing() samples getStats() over a window
// and asserts that audio and video packets both keep arriving. Both return what they
// measured so tests can print it.

import { assert } from './server.mjs';

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

export async function pageStats(br) {
  return br.page.evaluate(() => window.echo.stats());
}

// Asserts inbound audio and video packet counters rise across `seconds` (sampled each second,
// so a stall in the middle of the window is caught, not only a dead end).
export async function checkMediaFlowing(br, seconds, label = '') {
  const first = await pageStats(br);
  let prev = first;
  const stalls = [];
  for (let i = 0; i < seconds; i++) {
    await sleep(1000);
    const cur = await pageStats(br);
    if (cur.audio.packetsReceived <= prev.audio.packetsReceived) stalls.push(`audio stalled in second ${i + 1}`);
    if (cur.video.packetsReceived <= prev.video.packetsReceived) stalls.push(`video stalled in second ${i + 1}`);
    prev = cur;
  }
  const last = prev;
  const da = last.audio.packetsReceived - first.audio.packetsReceived;
  const dv = last.video.packetsReceived - first.video.packetsReceived;
  // Chromium sends 50 audio packets/s (20 ms Opus); fake video is well above 10 packets/s.
  assert(da >= seconds * 25, `${label} audio packets received over ${seconds}s: ${da} (want >= ${seconds * 25})`);
  assert(dv >= seconds * 10, `${label} video packets received over ${seconds}s: ${dv} (want >= ${seconds * 10})`);
  assert(stalls.length === 0, `${label} media stalled: ${stalls.join(', ')}`);
  const videoKbps = ((last.video.bytesReceived - first.video.bytesReceived) * 8) / 1000 / seconds;
  return { audioPps: da / seconds, videoPps: dv / seconds, videoKbps, last };
}

export async function runEchotest(srv, br, transport) {
  const server = transport === 'ws' ? srv.wsUrl : srv.httpUrl;
  const started = await br.page.evaluate((s) => window.echo.start({ server: s }), server);
  assert(started.sessionId > 0 && started.handleId > 0, `bad ids ${JSON.stringify(started)}`);
  const dataOpenMs = await br.page.evaluate(() => window.echo.waitDataOpen());
  const flow = await checkMediaFlowing(br, 5, transport);
  assert(flow.last.video.framesDecoded > 0, `video framesDecoded = ${flow.last.video.framesDecoded}`);
  const st = await br.page.evaluate(() => window.echo.state());
  if (process.env.IT_DEBUG) console.log(`page log:\n${st.log.join('\n')}`);
  assert(st.events.result === 'ok', `echotest result event: ${st.events.result}`);
  assert(st.events.errors.length === 0, `errors: ${st.events.errors.join('; ')}`);
  const rtts = [];
  for (let i = 0; i < 5; i++) {
    const text = `parley-echo-${transport}-${i}-${Date.now()}`;
    rtts.push(await br.page.evaluate((t) => window.echo.echoData(t), text));
  }
  return { ...started, dataOpenMs, ...flow, dataRttMs: rtts };
}

export function fmtResult(r) {
  return `webrtcup ${r.webrtcupMs.toFixed(0)} ms, data channel open ${r.dataOpenMs.toFixed(0)} ms, ` +
    `audio ${r.audioPps.toFixed(0)} pkt/s, video ${r.videoPps.toFixed(0)} pkt/s ${r.videoKbps.toFixed(0)} kbit/s, ` +
    `frames decoded ${r.last.video.framesDecoded}, data echo rtt ${r.dataRttMs.map((x) => x.toFixed(1)).join('/')} ms`;
}
