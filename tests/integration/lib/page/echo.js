// janus.js driven echotest, run inside the test page.
//
// start({server}) connects with janus.js (WebSocket when server starts with ws://, HTTP
// long-poll otherwise), attaches janus.plugin.echotest, offers fake audio + video + a data
// channel, applies the answer, and resolves when webrtcup arrived (or rejects on any
// error / after a timeout). The state lives in this module (one echotest per page).
// Everything observed is recorded in `log` with a timestamp relative to start().

import Janus from '/janus.es.js';
import { digest, ufrags } from '/stats.js';

let janus = null;
let handle = null;
let t0 = 0;
const received = [];
export const log = [];
const events = { webrtcup: null, dataopen: null, result: null, errors: [], hangups: [], media: [], slowlinks: [] };

function note(what) { log.push(`${(performance.now() - t0).toFixed(0)}ms ${what}`); }

function initJanus() {
  return new Promise((resolve) => {
    Janus.init({ debug: false, dependencies: Janus.useDefaultDependencies({ adapter: window.adapter }), callback: resolve });
  });
}

function connect(server, opts) {
  return new Promise((resolve, reject) => {
    janus = new Janus({
      server, iceServers: opts.iceServers || [], iceTransportPolicy: opts.iceTransportPolicy,
      token: opts.token,
      success: () => resolve(),
      error: (e) => { events.errors.push(`session: ${e}`); reject(new Error(`janus session error: ${e}`)); },
      destroyed: () => note('destroyed'),
    });
  });
}

function attach() {
  return new Promise((resolve, reject) => {
    janus.attach({
      plugin: 'janus.plugin.echotest',
      success: (h) => { handle = h; resolve(h); },
      error: (e) => reject(new Error(`attach error: ${e}`)),
      webrtcState: (on, reason) => {
        note(`webrtcState ${on} ${reason || ''}`);
        if (on && events.webrtcup === null) events.webrtcup = performance.now() - t0;
        if (!on) events.hangups.push(reason || 'down');
      },
      iceState: (s) => note(`iceState ${s}`),
      slowLink: (uplink, lost, mid) => { events.slowlinks.push({ uplink, lost, mid }); note(`slowLink ${uplink} ${lost} ${mid}`); },
      mediaState: (medium, on, mid) => { events.media.push({ medium, on, mid }); note(`media ${medium} ${on} ${mid}`); },
      onmessage: (msg, jsep) => {
        note(`message ${JSON.stringify(msg)}${jsep ? ` jsep=${jsep.type}` : ''}`);
        if (msg.result) events.result = msg.result;
        if (msg.error) events.errors.push(`plugin: ${msg.error_code} ${msg.error}`);
        if (jsep) {
          handle.handleRemoteJsep({ jsep, error: (e) => events.errors.push(`handleRemoteJsep: ${e}`) });
        }
      },
      ondataopen: (label) => { note(`dataopen ${label}`); if (events.dataopen === null) events.dataopen = performance.now() - t0; },
      ondata: (data) => { note(`data ${data}`); received.push(data); },
      onremotetrack: (track, mid, on) => note(`remotetrack ${track.kind} ${mid} ${on}`),
      oncleanup: () => note('cleanup'),
    });
  });
}

function offer() {
  return new Promise((resolve, reject) => {
    handle.createOffer({
      tracks: [
        { type: 'audio', capture: true, recv: true },
        { type: 'video', capture: true, recv: true },
        { type: 'data' },
      ],
      success: (jsep) => {
        handle.send({ message: { audio: true, video: true }, jsep });
        resolve();
      },
      error: (e) => reject(new Error(`createOffer: ${JSON.stringify(e)}`)),
    });
  });
}

async function waitFor(pred, ms, what) {
  const end = performance.now() + ms;
  while (!pred()) {
    if (events.errors.length) throw new Error(`${what}: ${events.errors.join('; ')}`);
    if (performance.now() > end) throw new Error(`timeout waiting for ${what}; log:\n${log.join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// Optional: iceServers (default none), iceTransportPolicy ('relay' = TURN only), token (the
// Janus API token, i.e. the access JWT when the server requires auth).
export async function start({ server, timeoutMs = 20000, iceServers, iceTransportPolicy, token }) {
  t0 = performance.now();
  await initJanus();
  await connect(server, { iceServers, iceTransportPolicy, token });
  note('session created');
  await attach();
  note(`attached ${handle.getId()}`);
  await offer();
  await waitFor(() => events.webrtcup !== null, timeoutMs, 'webrtcup');
  return { webrtcupMs: events.webrtcup, sessionId: janus.getSessionId(), handleId: handle.getId() };
}

export async function waitDataOpen(timeoutMs = 10000) {
  await waitFor(() => events.dataopen !== null, timeoutMs, 'data channel open');
  return events.dataopen;
}

// Sends text on the data channel and resolves with the round-trip time once it came back
// (Janus's echotest answers "Janus EchoTest here! You wrote: <text>": any reply that
// contains the text counts).
export async function echoData(text, timeoutMs = 5000) {
  const before = received.length;
  const t = performance.now();
  handle.data({ text, error: (e) => events.errors.push(`data: ${e}`) });
  await waitFor(() => received.slice(before).some((m) => typeof m === "string" && m.includes(text)), timeoutMs, `echo of "${text}"`);
  return performance.now() - t;
}

export async function stats() {
  const pc = handle && handle.webrtcStuff && handle.webrtcStuff.pc;
  if (!pc) throw new Error(`the PeerConnection is gone (hangups: ${events.hangups.join(', ') || 'none'}); log:\n${log.slice(-15).join('\n')}`);
  return digest(pc);
}

export function remoteSdp() { return handle.webrtcStuff.pc.currentRemoteDescription.sdp; }

export function iceUfrags() { return ufrags(handle.webrtcStuff.pc); }

export function state() {
  return { events, log, received };
}

export function stop() {
  return new Promise((resolve) => {
    if (!janus) { resolve(); return; }
    janus.destroy({ success: resolve, error: resolve });
    setTimeout(resolve, 3000);
  });
}
