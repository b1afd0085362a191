// app.mjs: the demo page's logic: account (sign up, log in, token refresh, sign out) and the
// echo test (camera + microphone to janus.plugin.echotest and back, data-channel echo).
//
// Tokens: kept in sessionStorage (this tab only) as {access_token, refresh_token,
// expires_at (ms), lifetime_ms, user}. The access token is refreshed ahead of expiry (at
// 80% of its lifetime, at least a minute before: see refreshLead), and on demand when a
// request finds it nearly expired or the server refuses it (Janus error 403). Only one refresh runs at a time: refresh
// tokens rotate, and presenting an already-used one would revoke this device's sessions.
//
// Debug hook for tests and the curious: window.parleyDemo exposes the live Janus session,
// the echotest handle and a getStats() digest.

import { JanusSession, fetchServerInfo } from './janus-client.mjs';

const $ = (id) => document.getElementById(id);
const API = '/api/v1';
const TOKENS_KEY = 'parley.tokens';
const SETTINGS_KEY = 'parley.settings';
const DEVICE_KEY = 'parley.device_id';
const KEEPALIVE_MS = 25000;

// ---------------------------------------------------------------------------------------
// Settings: defaults from the page's origin, then saved values, then URL parameters.

function defaultSettings() {
  const wsScheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return {
    transport: 'ws',
    wsUrl: `${wsScheme}://${location.hostname || 'localhost'}:8188`,
    httpUrl: `${location.origin}/janus`,
    iceServers: '[]',
  };
}

function loadSettings() {
  const s = defaultSettings();
  try { Object.assign(s, JSON.parse(localStorage.getItem(SETTINGS_KEY) || '{}')); } catch { /* defaults */ }
  const q = new URLSearchParams(location.search);
  if (q.get('transport')) s.transport = q.get('transport') === 'http' ? 'http' : 'ws';
  if (q.get('ws')) s.wsUrl = q.get('ws');
  if (q.get('janus')) s.httpUrl = q.get('janus');
  if (q.get('ice')) s.iceServers = q.get('ice');
  return s;
}

const settings = loadSettings();

function bindSettings() {
  $('transport').value = settings.transport;
  $('ws-url').value = settings.wsUrl;
  $('http-url').value = settings.httpUrl;
  $('ice-servers').value = settings.iceServers;
  const save = () => {
    settings.transport = $('transport').value;
    settings.wsUrl = $('ws-url').value.trim();
    settings.httpUrl = $('http-url').value.trim();
    settings.iceServers = $('ice-servers').value.trim() || '[]';
    localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings));
  };
  for (const id of ['transport', 'ws-url', 'http-url', 'ice-servers']) $(id).addEventListener('change', save);
}

function iceServers() {
  const v = JSON.parse(settings.iceServers || '[]');
  if (!Array.isArray(v)) throw new Error('ICE servers must be a JSON array');
  return v;
}

// ---------------------------------------------------------------------------------------
// Platform REST API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || `http_${status}`;
  }
}

async function api(method, path, body, bearer) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  let r;
  try {
    r = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, 'network', `cannot reach the server (${e.message})`);
  }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!r.ok) {
    const err = data && data.error ? data.error : {};
    const retry = r.headers.get('retry-after');
    const extra = r.status === 429 && retry ? ` (retry in ${retry} s)` : '';
    throw new ApiError(r.status, err.code, (err.message || text.slice(0, 120) || `HTTP ${r.status}`) + extra);
  }
  return data;
}

function deviceId() {
  let id = localStorage.getItem(DEVICE_KEY);
  if (!id) {
    const b = new Uint8Array(8);
    crypto.getRandomValues(b);
    id = `web-${Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')}`;
    localStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

function deviceName() {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? 'Firefox' : /Edg\//.test(ua) ? 'Edge'
    : /Chrom(e|ium)\//.test(ua) ? 'Chromium' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  return `${browser} (parley web demo)`;
}

// ---------------------------------------------------------------------------------------
// Tokens

let tokens = null;          // {access_token, refresh_token, expires_at, user}
let refreshing = null;      // the in-flight refresh, shared by everyone who needs it
let refreshTimer = null;
let authRequired = true;
let anonymous = false;      // signed-in skipped on a server without auth

function saveTokens(t) {
  tokens = t;
  if (t) sessionStorage.setItem(TOKENS_KEY, JSON.stringify(t));
  else sessionStorage.removeItem(TOKENS_KEY);
  scheduleRefresh();
}

function fromPair(pair, user) {
  const ttl = Number(pair.expires_in) > 0 ? Number(pair.expires_in) : 900;
  return {
    access_token: pair.access_token, refresh_token: pair.refresh_token,
    expires_at: Date.now() + ttl * 1000, lifetime_ms: ttl * 1000,
    user: pair.user || user || null,
  };
}

// How long before expiry to refresh: a minute, or a fifth of the lifetime when that is
// more, but never more than half of it (short test lifetimes would refresh in a loop).
function refreshLead(t) {
  const life = t.lifetime_ms || 900000;
  return Math.min(Math.max(60000, 0.2 * life), 0.5 * life);
}

function scheduleRefresh() {
  if (refreshTimer) { clearTimeout(refreshTimer); refreshTimer = null; }
  if (!tokens) return;
  const wait = Math.max(1000, tokens.expires_at - refreshLead(tokens) - Date.now());
  refreshTimer = setTimeout(() => refreshTokens().catch(() => { /* reported inside */ }), wait);
}

function refreshTokens() {
  if (refreshing) return refreshing;
  if (!tokens || !tokens.refresh_token) return Promise.reject(new Error('not signed in'));
  const used = tokens.refresh_token;
  refreshing = (async () => {
    try {
      const pair = await api('POST', '/auth/refresh', { refresh_token: used });
      saveTokens(fromPair(pair, tokens && tokens.user));
      logLine('sys', 'access token refreshed');
    } catch (e) {
      if (e.status === 401 || e.status === 403) {
        signedOut(`Your sign-in has ended (${e.message}). Please log in again.`);
      } else {
        logLine('err', `token refresh failed: ${e.message}; retrying soon`);
        if (refreshTimer) clearTimeout(refreshTimer);
        refreshTimer = setTimeout(() => refreshTokens().catch(() => {}), 15000);
      }
      throw e;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

// The token for the next Janus request: refreshed first when it is (nearly) expired.
async function currentToken() {
  if (!tokens) return null;
  if (tokens.expires_at - Date.now() < Math.min(15000, refreshLead(tokens) / 2)) await refreshTokens();
  return tokens ? tokens.access_token : null;
}

// ---------------------------------------------------------------------------------------
// Auth UI

function showAuthError(text) { $('auth-error').textContent = text || ''; }

function selectTab(which) {
  const login = which === 'login';
  $('tab-login').setAttribute('aria-selected', String(login));
  $('tab-register').setAttribute('aria-selected', String(!login));
  $('login-form').hidden = !login;
  $('register-form').hidden = login;
  showAuthError('');
}

async function doLogin(email, password) {
  const pair = await api('POST', '/auth/login', { email, password, device_id: deviceId(), device_name: deviceName() });
  saveTokens(fromPair(pair));
  signedIn();
}

function busy(button, on) { button.disabled = on; button.classList.toggle('busy', on); }

function bindAuth() {
  $('tab-login').addEventListener('click', () => selectTab('login'));
  $('tab-register').addEventListener('click', () => selectTab('register'));
  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    showAuthError('');
    busy($('login-submit'), true);
    try {
      await doLogin($('login-email').value.trim(), $('login-password').value);
      $('login-password').value = '';
    } catch (err) {
      showAuthError(err.status === 401 ? 'Wrong email or password.' : err.message);
    } finally {
      busy($('login-submit'), false);
    }
  });
  $('register-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    showAuthError('');
    busy($('register-submit'), true);
    const email = $('reg-email').value.trim();
    const password = $('reg-password').value;
    try {
      await api('POST', '/auth/register', {
        email, password, role: $('reg-role').value, display_name: $('reg-name').value.trim(),
      });
      // A new account signs in at once, with the same credentials.
      await doLogin(email, password);
      $('reg-password').value = '';
    } catch (err) {
      showAuthError(err.status === 409 ? 'An account with this email already exists: log in instead.' : err.message);
    } finally {
      busy($('register-submit'), false);
    }
  });
  $('skip-auth').addEventListener('click', () => { anonymous = true; signedIn(); });
  $('logout').addEventListener('click', async () => {
    await stopEcho();
    const t = tokens;
    if (t) { try { await api('POST', '/auth/logout', { refresh_token: t.refresh_token }, t.access_token); } catch { /* gone anyway */ } }
    anonymous = false;
    signedOut('');
  });
}

function signedIn() {
  $('auth-panel').hidden = true;
  $('echo-panel').hidden = false;
  $('logout').hidden = false;
  const u = tokens && tokens.user;
  $('who').hidden = false;
  $('who').textContent = u ? `${u.display_name || u.email || 'user'}${u.role ? ` (${u.role})` : ''}` : 'no account';
}

function signedOut(message) {
  saveTokens(null);
  stopEcho();
  $('echo-panel').hidden = true;
  $('logout').hidden = true;
  $('who').hidden = true;
  $('auth-panel').hidden = false;
  $('auth-skip').hidden = authRequired;
  showAuthError(message);
}

// ---------------------------------------------------------------------------------------
// Status line and log

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

// ---------------------------------------------------------------------------------------
// Echo test

const echo = { session: null, handle: null, stream: null, statsTimer: null, last: null, up: false };

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
      iceServers: iceServers(), keepaliveMs: KEEPALIVE_MS,
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

async function stopEcho(keepStatus = false) {
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

// Sends a plugin setting change while running (audio/video echo on/off, bitrate cap).
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

function bindEcho() {
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
}

// ---------------------------------------------------------------------------------------

async function checkServer() {
  try {
    const info = await fetchServerInfo(settings.httpUrl);
    authRequired = info.auth_token !== false;
    const plugins = Object.keys(info.plugins || {});
    $('server-info').textContent = `${info.name || 'server'} ${info.version_string || ''} · `
      + `${plugins.includes('janus.plugin.echotest') ? 'echotest available' : 'no echotest plugin!'}`
      + `${authRequired ? '' : ' · sign-in optional'}`;
  } catch (e) {
    $('server-info').textContent = `server info unavailable (${e.message})`;
  }
}

async function init() {
  bindSettings();
  bindAuth();
  bindEcho();
  await checkServer();
  try { tokens = JSON.parse(sessionStorage.getItem(TOKENS_KEY) || 'null'); } catch { tokens = null; }
  if (tokens) {
    if (tokens.expires_at - Date.now() < refreshLead(tokens) / 2) {
      try { await refreshTokens(); } catch { /* signedOut() already ran when it was fatal */ }
    } else {
      scheduleRefresh();
    }
  }
  if (tokens) signedIn();
  else signedOut('');
  window.parleyDemo = {
    get session() { return echo.session; },
    get handle() { return echo.handle; },
    get tokens() { return tokens ? { ...tokens } : null; },
    refreshTokens,
    stats: () => (echo.handle && echo.handle.pc ? digest(echo.handle.pc) : null),
    ready: true,
  };
}

init();
