// push.mjs: Web Push on this device: the service worker (/sw.js), the subscription the server
// pushes to, and what the app does when a notification is clicked.
//
// Contract
//   startPush()            after sign-in; never throws, never waits for the user: registers
//                          /sw.js when the browser and the server both do Web Push, and stores
//                          an existing subscription again for this sign-in
//   await pushStatus()     -> {state, detail}; state 'on' | 'off' | 'unsupported' | 'blocked' | 'failed'
//   await enablePush() / await disablePush()   -> the new status (errors become 'failed')
//   bindNotificationClicks()   once at start: the worker's messages and the #/call?incoming=
//                          route a notification opened; Accept / Decline are carried out when
//                          that call's ring reaches this app
//
// Why the subscription is stored again at every sign-in: the server keeps one push target per
// device session (login), and signing out removes it, while the browser's subscription
// outlives both. A subscription present in the browser means the user turned notifications
// on here and did not turn them off.

import { api } from './api.mjs';
import { onCalls } from './connection.mjs';
import { navigate } from './router.mjs';
import { $ } from './ui.mjs';

let vapidKey = null;          // Promise<string | null>: the server's key, null when it has none
let registration = null;      // Promise<ServiceWorkerRegistration | null>
let lastFailure = '';         // why the last enablePush() failed, until the next try
let pending = null;           // {call_id, action, until}: a click waiting for its call's ring

// Why this browser cannot do Web Push, or '' when it can.
function browserLacks() {
  if (!window.isSecureContext) return 'notifications need a secure page (https, or localhost)';
  if (!('serviceWorker' in navigator)) return 'this browser has no service workers';
  if (!('PushManager' in window)) return 'this browser has no Push API';
  if (!('Notification' in window)) return 'this browser has no notifications';
  return '';
}

function serverKey() {
  if (!vapidKey) {
    vapidKey = api('GET', '/push/vapid-public-key').then((r) => r.public_key, () => null);
    vapidKey.then((k) => { if (!k) vapidKey = null; });   // asked again next time
  }
  return vapidKey;
}

function worker() {
  if (!registration) {
    registration = navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch((e) => {
      registration = null;
      throw e;
    });
  }
  return registration;
}

// pushManager.subscribe takes the key as bytes; the server gives it in base64url.
function keyBytes(b64url) {
  const b64 = b64url.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

const store = (sub) => api('PUT', '/me/push-token', { kind: 'webpush', subscription: sub.toJSON() });

export async function startPush() {
  try {
    if (browserLacks() || !(await serverKey())) return;
    const reg = await worker();
    if (Notification.permission !== 'granted') return;
    const sub = await reg.pushManager.getSubscription();
    if (sub) await store(sub);
  } catch (e) {
    // The app works without push: note it for the profile screen and carry on.
    lastFailure = e.message || String(e);
  }
}

export async function pushStatus() {
  const lacks = browserLacks();
  if (lacks) return { state: 'unsupported', detail: lacks };
  if (!(await serverKey())) return { state: 'unsupported', detail: 'this server does not send Web Push' };
  if (Notification.permission === 'denied') {
    return { state: 'blocked', detail: 'notifications are blocked for this site in the browser’s settings' };
  }
  try {
    const reg = await worker();
    const sub = await reg.pushManager.getSubscription();
    if (sub && Notification.permission === 'granted') {
      // On only when the server holds this very subscription for this sign-in.
      const mine = await api('GET', '/me/push-token').catch(() => null);
      if (mine && mine.kind === 'webpush' && mine.subscription && mine.subscription.endpoint === sub.endpoint) {
        return { state: 'on', detail: '' };
      }
    }
  } catch (e) {
    return { state: 'failed', detail: e.message || String(e) };
  }
  return lastFailure ? { state: 'failed', detail: lastFailure } : { state: 'off', detail: '' };
}

export async function enablePush() {
  lastFailure = '';
  try {
    const key = await serverKey();
    if (!key) return pushStatus();
    const permission = await Notification.requestPermission();
    if (permission !== 'granted') {
      if (permission === 'default') lastFailure = 'permission was not given';
      return pushStatus();
    }
    const reg = await worker();
    await navigator.serviceWorker.ready;
    let sub = await reg.pushManager.getSubscription();
    const opts = { userVisibleOnly: true, applicationServerKey: keyBytes(key) };
    try {
      if (!sub) sub = await reg.pushManager.subscribe(opts);
    } catch (e) {
      // An old subscription made with another key (a server reinstalled) blocks a new one.
      if (e.name !== 'InvalidStateError' || !sub) throw e;
      await sub.unsubscribe();
      sub = await reg.pushManager.subscribe(opts);
    }
    await store(sub);
  } catch (e) {
    lastFailure = e.message || String(e);
  }
  return pushStatus();
}

export async function disablePush() {
  lastFailure = '';
  try {
    const reg = await worker();
    const sub = await reg.pushManager.getSubscription();
    if (sub) await sub.unsubscribe();
    await api('DELETE', '/me/push-token');
  } catch (e) {
    lastFailure = e.message || String(e);
  }
  return pushStatus();
}

// ---- notification clicks -----------------------------------------------------------------

// Accept or Decline from a notification, once the dialog rings for that call here. The ring
// comes over this app's own session (which registers as soon as it is online), so a click
// can arrive before it: the choice waits for the ring timeout at most.
function carryOut() {
  if (!pending) return;
  if (Date.now() > pending.until) { pending = null; return; }
  const dialog = $('incoming');
  if (!dialog || dialog.hidden || dialog.dataset.callId !== pending.call_id) return;
  const button = pending.action === 'accept' ? $('incoming-accept') : $('incoming-decline');
  pending = null;
  button.click();
}

function choose(callId, action) {
  if (!callId || (action !== 'accept' && action !== 'decline')) return;
  pending = { call_id: callId, action, until: Date.now() + 60000 };
  carryOut();
}

// The route a notification opened in a new window: #/call?incoming=<id>&action=accept
function fromRoute() {
  const [path, query] = location.hash.replace(/^#/, '').split('?');
  if (path !== '/call' || !query) return;
  const q = new URLSearchParams(query);
  choose(q.get('incoming'), q.get('action'));
}

export function bindNotificationClicks() {
  fromRoute();
  window.addEventListener('hashchange', fromRoute);
  // The dialog is shown by screens/incoming.mjs's listener, registered before this one.
  onCalls((cs) => cs.on('incoming', () => setTimeout(carryOut, 0)));
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.addEventListener('message', (e) => {
    const m = e.data;
    if (!m || m.type !== 'parley-notification') return;
    // The call's route carries the choice: the hashchange (fromRoute) takes it from there.
    if (m.route) navigate(m.route);
  });
}
