// connection.mjs: the signed-in user's one Janus session, shared by calls and chat.
//
// Why a session from sign-in to sign-out: the server derives a host's availability from its
// live Janus sessions (online while one exists, busy in a call), and a host's device rings
// only while its videocall handle is registered. So the app connects as soon as a user is
// signed in, attaches janus.plugin.videocall and registers the user's id, and keeps that
// until sign-out. The chat channel (janus.plugin.textroom) is attached on first use.
//
// Contract: connect(user) -> Promise<void>; disconnect(); calls() -> CallService (after
// connect), onCalls(fn) for every new one; chat() -> Promise<ChatChannel>; onStatus(fn(state, detail)) -> unsubscribe, with state
// 'connecting' | 'online' | 'reconnecting' | 'offline'. Reconnects on its own when the
// session is lost (server restart, long network loss), with backoff.

import { JanusSession } from './janus-client.mjs';
import { api, currentToken, refreshTokens } from './api.mjs';
import { settings, iceServers } from './settings.mjs';
import { CallService } from './videocall.mjs';
import { ChatChannel } from './textroom.mjs';

let session = null;
let callService = null;
let chatPromise = null;
let user = null;
let retryTimer = null;
let generation = 0;          // bumps at each connect/disconnect: stale async work stops
const statusListeners = new Set();
const callsListeners = new Set();
let status = 'offline';

function setStatus(s, detail = '') {
  status = s;
  for (const fn of statusListeners) fn(s, detail);
}

export function onStatus(fn) { statusListeners.add(fn); fn(status, ''); return () => statusListeners.delete(fn); }
export function calls() { return callService; }
export function currentSession() { return session; }
// fn(CallService) for each new one (a reconnect makes a new one): screens subscribe here.
export function onCalls(fn) { callsListeners.add(fn); if (callService) fn(callService); }

async function servers() {
  const own = iceServers();
  if (own.length) return own;
  try {
    return (await api('GET', '/ice-servers')).ice_servers || [];
  } catch {
    return [];
  }
}

export async function connect(u) {
  user = u;
  const gen = ++generation;
  clearTimeout(retryTimer);
  setStatus('connecting');
  try {
    const s = new JanusSession({
      transport: settings.transport, wsUrl: settings.wsUrl, httpUrl: settings.httpUrl,
      iceServers: await servers(), getToken: currentToken, onUnauthorized: refreshTokens,
      onState: (state, detail) => {
        if (gen !== generation) return;
        if (state === 'reconnecting') setStatus('reconnecting', detail);
        else if (state === 'connected' && s.id !== null) setStatus('online');
        else if (state === 'failed' || state === 'gone') lost(gen, detail);
      },
    });
    session = s;
    await s.connect();
    if (gen !== generation) { s.destroy(); return; }
    callService = new CallService(s, u);
    await callService.start();
    if (gen !== generation) return;
    for (const fn of callsListeners) fn(callService);
    setStatus('online');
  } catch (e) {
    if (gen === generation) lost(gen, e.message);
  }
}

// The session is gone (timed out, server restarted, network down for too long): a call in
// progress ends here, and a new session is made after a pause.
function lost(gen, detail) {
  if (gen !== generation) return;
  setStatus('offline', detail);
  if (callService) callService.sessionLost(detail);
  const old = session;
  session = null;
  callService = null;
  chatPromise = null;
  if (old) old.destroy().catch(() => {});
  retryTimer = setTimeout(() => { if (gen === generation && user) connect(user); }, 3000);
}

export function chat() {
  if (!session || status !== 'online') return Promise.reject(new Error('Not connected to the server yet.'));
  if (!chatPromise) {
    const ch = new ChatChannel(session, user);
    chatPromise = ch.open().then(() => ch);
    chatPromise.catch(() => { chatPromise = null; });
  }
  return chatPromise;
}

export async function disconnect() {
  generation++;
  clearTimeout(retryTimer);
  const s = session;
  const cs = callService;
  session = null;
  callService = null;
  chatPromise = null;
  user = null;
  if (cs) await cs.stop();
  if (s) await s.destroy();
  setStatus('offline');
}
