// screens/diagnostics.mjs: the echo test (janus.plugin.echotest), on the static #echo-panel
// of index.html: camera + microphone to the server and back, echo audio/video toggles, a
// bitrate cap, a data channel echoed into the log, live inbound stats. The connectivity
// check every client runs first; tests/integration/demo_page.test.mjs drives it through
// window.parleyDemo (session, handle, tokens, stats()).

import { JanusSession } from '../janus-client.mjs';
import { auth, currentToken, refreshTokens } from '../api.mjs';
import { settings, iceServers } from '../settings.mjs';
import { $ } from '../ui.mjs';

const echo = { session: null, handle: null, stream: null, statsTimer: null, last: null, up: false };
let anonymous = false;

export function setAnonymous(on) { anonymous = on; }

function setStatus(text, kind = '') {
  const el = $('status');
  el.textContent = text;
  el.className = `status ${kind}`;
}

function logLine(kind, text) {
  const li = document.createElement('li');
  li.className = kind;
  const t = new Date().toISOString().slice(11, 19);
  li.textContent = `${t} ${kind === 'out' ? '→' : kind === 'in' ? '←' : '·'} ${text}`;
  const log = $('log');
  log.appendChild(li);
  while (log.children.length > 200) log.firstChild.remove();
  log.scrollTop = log.scrollHeight;
}

function controlsRunning(on) {
  $('start').disabled = on;
  $('stop').disabled = !on;
  $('data-text').disabled = true;
  $('data-send').disabled = true;
}

function pluginBody() {
  return { audio: $('echo-audio').checked, video: $('echo-video').checked, bitrate: Number($('bitrate').value) };
}

async function startEcho() {
  controlsRunning(true);
  echo.up = false;
  try {
    setStatus('asking for camera and microphone…');
    echo.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    $('local-video').srcObject = echo.stream;
    const session = new JanusSession({
      transport: settings.transport, wsUrl: settings.wsUrl, httpUrl: settings.httpUrl,
      iceServers: iceServers(),
      getToken: anonymous ? null : currentToken,
      onUnauthorized: anonymous ? null : refreshTokens,
      onState: (state, detail) => {
        if (state === 'reconnecting') setStatus(`connection lost: ${detail}`, 'warn');
        else if (state === 'connected' && echo.up) setStatus(`media flowing (${detail})`, 'ok');
        else if (state === 'failed' || state === 'gone') { setStatus(`session ended: ${detail}`, 'error'); stopEcho(); }
        logLine('sys', `session ${state}${detail ? `: ${detail}` : ''}`);
      },
      onEvent: (msg) => logLine('sys', `server: ${msg.janus}`),
      log: (level, text) => logLine(level === 'error' ? 'err' : 'sys', text),
    });
    echo.session = session;
    setStatus(`connecting (${settings.transport === 'http' ? 'HTTP long-poll' : 'WebSocket'})…`);
    await session.connect();
    const handle = await session.attach('janus.plugin.echotest');
    echo.handle = handle;
    wireHandle(handle);
    setStatus('negotiating…');
    const ev = await handle.offer(pluginBody(), { stream: echo.stream, data: true });
    if (ev.data.result !== 'ok') throw new Error(`echotest answered ${JSON.stringify(ev.data)}`);
    if (!echo.up) setStatus('answer applied; waiting for ICE and DTLS…');
    echo.statsTimer = setInterval(updateStats, 1000);
  } catch (e) {
    setStatus(`error: ${e.message}`, 'error');
    logLine('err', e.message);
    await stopEcho(true);
  }
}

function wireHandle(h) {
  h.onRemoteTrack = (track, streams) => {
    const v = $('remote-video');
    if (!v.srcObject) v.srcObject = streams && streams[0] ? streams[0] : new MediaStream();
    if (!v.srcObject.getTracks().includes(track)) v.srcObject.addTrack(track);
  };
  h.onWebrtcState = (kind, msg) => {
    if (kind === 'webrtcup') {
      echo.up = true;
      setStatus('webrtcup: the PeerConnection is up', 'ok');
      logLine('sys', 'webrtcup');
    } else if (kind === 'media') {
      const what = msg.mid !== undefined ? `${msg.type} (mid ${msg.mid})` : msg.type;
      logLine('sys', `media: server ${msg.receiving ? 'receiving' : 'stopped receiving'} ${what}`);
      if (echo.up) setStatus(`media: ${what} ${msg.receiving ? 'flowing' : 'stopped'}`, msg.receiving ? 'ok' : 'warn');
    } else if (kind === 'slowlink') {
      logLine('sys', `slowlink: ${msg.uplink ? 'uplink' : 'downlink'} ${msg.media || ''} lost ${msg.lost ?? '?'}`);
    } else if (kind === 'hangup') {
      setStatus(`hung up: ${msg.reason || 'by the server'}`, 'warn');
      logLine('sys', `hangup: ${msg.reason || ''}`);
      stopEcho();
    } else if (kind === 'detached') {
      logLine('sys', 'detached');
    }
  };
  h.onMessage = (data) => {
    if (data.error) logLine('err', `echotest: ${data.error} (${data.error_code})`);
  };
  h.onIceState = (state) => {
    logLine('sys', `ICE ${state}`);
    if (state === 'failed') setStatus('ICE failed: no path to the server’s media ports', 'error');
  };
  h.onDataOpen = () => {
    $('data-text').disabled = false;
    $('data-send').disabled = false;
    logLine('sys', 'data channel open');
  };
  h.onData = (text) => logLine('in', `echo: ${text}`);
}

export async function stopEcho(keepStatus = false) {
  if (echo.statsTimer) { clearInterval(echo.statsTimer); echo.statsTimer = null; }
  const { session, handle, stream } = echo;
  echo.session = null; echo.handle = null; echo.stream = null; echo.last = null; echo.up = false;
  if (stream) for (const t of stream.getTracks()) t.stop();
  $('local-video').srcObject = null;
  $('remote-video').srcObject = null;
  controlsRunning(false);
  if (handle) await handle.hangup();
  if (handle) await handle.detach();
  if (session) await session.destroy();
  if (session && !keepStatus) setStatus('stopped');
}

// A plugin setting change while running (audio/video echo on/off, bitrate cap).
async function sendSetting(body) {
  if (!echo.handle) return;
  logLine('out', `echotest ${JSON.stringify(body)}`);
  try {
    const ev = await echo.handle.message(body);
    logLine('sys', `echotest: ${ev.data.result || JSON.stringify(ev.data)}`);
  } catch (e) {
    logLine('err', `echotest ${JSON.stringify(body)}: ${e.message}`);
  }
}

async function digest(pc) {
  const d = { video: { frames: 0, packets: 0, bytes: 0, w: 0, h: 0, fps: 0 }, audio: { packets: 0, bytes: 0 } };
  const report = await pc.getStats();
  report.forEach((s) => {
    if (s.type !== 'inbound-rtp') return;
    const k = s.kind === 'video' ? d.video : s.kind === 'audio' ? d.audio : null;
    if (!k) return;
    k.packets += s.packetsReceived || 0;
    k.bytes += s.bytesReceived || 0;
    if (s.kind === 'video') {
      k.frames += s.framesDecoded || 0;
      k.w = s.frameWidth || k.w;
      k.h = s.frameHeight || k.h;
      k.fps = s.framesPerSecond || k.fps;
    }
  });
  d.at = performance.now();
  return d;
}

async function updateStats() {
  const pc = echo.handle && echo.handle.pc;
  if (!pc) return;
  const d = await digest(pc);
  const prev = echo.last;
  echo.last = d;
  const kbps = (now, before) => (prev ? Math.round(((now - before) * 8) / (d.at - prev.at)) : 0);
  const v = d.video;
  const el = $('stats');
  el.textContent = `video in: ${v.frames} frames decoded, ${v.w}x${v.h} @ ${Math.round(v.fps)} fps, `
    + `${kbps(v.bytes, prev ? prev.video.bytes : 0)} kbit/s · audio in: ${d.audio.packets} packets, `
    + `${kbps(d.audio.bytes, prev ? prev.audio.bytes : 0)} kbit/s`;
  el.dataset.framesDecoded = String(v.frames);
  el.dataset.audioPackets = String(d.audio.packets);
}

export function bindDiagnostics() {
  $('start').addEventListener('click', () => startEcho());
  $('stop').addEventListener('click', () => stopEcho());
  $('echo-audio').addEventListener('change', (e) => sendSetting({ audio: e.target.checked }));
  $('echo-video').addEventListener('change', (e) => sendSetting({ video: e.target.checked }));
  $('bitrate').addEventListener('change', (e) => sendSetting({ bitrate: Number(e.target.value) }));
  $('data-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('data-text').value;
    if (!text || !echo.handle) return;
    try {
      echo.handle.sendData(text);
      logLine('out', text);
      $('data-text').value = '';
    } catch (err) {
      logLine('err', err.message);
    }
  });
  window.parleyDemo = {
    get session() { return echo.session; },
    get handle() { return echo.handle; },
    get tokens() { return auth.tokens; },
    refreshTokens,
    stats: () => (echo.handle && echo.handle.pc ? digest(echo.handle.pc) : null),
    ready: false,
  };
}

// The screen: the static panel and the connection settings shown while the route is on it.
export const diagnosticsScreen = {
  title: 'Diagnostics',
  render() {
    $('echo-panel').hidden = false;
    $('settings').hidden = false;
    return () => {
      $('echo-panel').hidden = true;
      $('settings').hidden = true;
      stopEcho();
    };
  },
};
