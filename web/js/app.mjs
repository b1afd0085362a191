// app.mjs: the wiring of the browser app: sign-in state, navigation per role, the Janus
// connection, the incoming-call dialog, and the routes to the screens (screens/*.mjs).
//
// The app is a single page with hash routes (#/discover, #/chat/7, #/call, ...). Before
// sign-in only the sign-in panel shows; after it the route's screen (or the role's home).
// Hook for tests and the curious: window.parleyApp (user, route, connection status, the Janus
// session, the current call and callStats(): a getStats digest of its PeerConnection).

import { auth, api } from './api.mjs';
import { fetchServerInfo } from './janus-client.mjs';
import { settings, bindSettingsForm } from './settings.mjs';
import { connect, disconnect, onStatus, onCalls, calls, currentSession } from './connection.mjs';
import { Router, navigate, currentPath } from './router.mjs';
import { $, h, announce } from './ui.mjs';
import { bindAuthPanel, showAuthError } from './screens/auth.mjs';
import { bindDiagnostics, diagnosticsScreen, setAnonymous } from './screens/diagnostics.mjs';
import { discoverScreen } from './screens/discover.mjs';
import { hostScreen } from './screens/host.mjs';
import { walletScreen } from './screens/wallet.mjs';
import { profileScreen } from './screens/profile.mjs';
import { earningsScreen } from './screens/earnings.mjs';
import { chatsScreen, refreshUnread } from './screens/chats.mjs';
import { chatScreen } from './screens/chat.mjs';
import { callScreen } from './screens/call.mjs';
import { callsScreen, receiptScreen } from './screens/calls.mjs';
import { bindIncoming } from './screens/incoming.mjs';
import { startPush, bindNotificationClicks } from './push.mjs';

const NAV = {
  caller: [['/discover', 'Discover'], ['/chats', 'Chats'], ['/calls', 'Calls'], ['/wallet', 'Wallet'], ['/profile', 'Profile'], ['/diagnostics', 'Diagnostics']],
  host: [['/profile', 'Profile'], ['/chats', 'Chats'], ['/calls', 'Calls'], ['/earnings', 'Earnings'], ['/diagnostics', 'Diagnostics']],
};

const home = () => {
  const u = auth.user;
  if (!u) return '/diagnostics';
  return u.role === 'host' ? '/profile' : '/discover';
};

const router = new Router([
  ['/discover', discoverScreen], ['/host/:id', hostScreen], ['/wallet', walletScreen],
  ['/profile', profileScreen], ['/earnings', earningsScreen], ['/chats', chatsScreen],
  ['/chat/:id', chatScreen], ['/call', callScreen], ['/calls', callsScreen],
  ['/receipt/:id', receiptScreen], ['/diagnostics', diagnosticsScreen],
], { container: $('screen'), fallback: home, onRender: markNav });

let authRequired = true;
let anonymous = false;
let unreadTimer = null;
let signedInAs = null;

function markNav(pattern) {
  $('screen').hidden = pattern === '/diagnostics';
  for (const a of $('nav').querySelectorAll('a')) {
    if (a.getAttribute('href') === `#${pattern.replace(/\/:.*$/, '')}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function buildNav(role) {
  const items = anonymous ? [['/diagnostics', 'Diagnostics']] : NAV[role] || NAV.caller;
  $('nav').replaceChildren(h('ul', {}, items.map(([path, label]) => h('li', {},
    h('a', { href: `#${path}`, 'data-nav': path.slice(1) }, label,
      path === '/chats' ? h('span', { class: 'count', id: 'unread-count', hidden: true }) : null)))));
  $('nav').hidden = false;
}

// Also called when the profile changed (a new display name): then only the header changes.
function signedIn(user) {
  $('auth-panel').hidden = true;
  $('settings').hidden = true;
  $('logout').hidden = false;
  $('who').hidden = false;
  $('who').textContent = user ? `${user.display_name || user.email || 'user'}${user.role ? ` (${user.role})` : ''}` : 'no account';
  if (user && signedInAs === user.id) return;
  signedInAs = user ? user.id : null;
  buildNav(user && user.role);
  if (user) {
    connect(user);
    // Web Push is extra: not awaited, and the app works the same when it is unavailable.
    startPush();
    clearInterval(unreadTimer);
    unreadTimer = setInterval(refreshUnread, 15000);
    refreshUnread();
  }
  if (anonymous) history.replaceState(null, '', '#/diagnostics');
  router.start();
}

function signedOut(message) {
  signedInAs = null;
  router.stop();
  clearInterval(unreadTimer);
  disconnect();
  $('screen').hidden = true;
  $('screen').replaceChildren();
  $('echo-panel').hidden = true;
  $('settings').hidden = false;
  $('nav').hidden = true;
  $('conn').hidden = true;
  $('logout').hidden = true;
  $('who').hidden = true;
  $('auth-panel').hidden = false;
  $('auth-skip').hidden = authRequired;
  showAuthError(message || '');
}

const CONN_TEXT = { connecting: 'Connecting…', online: 'Online', reconnecting: 'Reconnecting…', offline: 'Offline' };

function bindConnectionStatus() {
  onStatus((state, detail) => {
    const el = $('conn');
    el.hidden = !auth.user;
    el.className = `conn ${state}`;
    el.textContent = CONN_TEXT[state] || state;
    el.title = detail || '';
  });
}

// A call starting (caller dialling, host accepting) opens the call screen; its end opens the
// receipt, except for a ringing device that did not take the call.
function bindCallNavigation() {
  onCalls((cs) => {
    cs.on('state', (c) => {
      // A caller's call is shown once the server took it ('calling' with its id): a refusal
      // before that (no credit, camera denied) stays on the host's page, where it is explained.
      if (((c.state === 'calling' && c.id) || c.state === 'connecting') && currentPath() !== '/call') navigate('/call');
    });
    cs.on('ended', (e) => {
      if (!auth.user || e.ringing || (e.local && e.reason === 'declined')) return;
      announce(`Call ended: ${e.reason}`);
      if (e.call_id) navigate(`/receipt/${e.call_id}?reason=${encodeURIComponent(e.reason || '')}`);
    });
  });
}

async function checkServer() {
  try {
    const info = await fetchServerInfo(settings.httpUrl);
    authRequired = info.auth_token !== false;
    const plugins = Object.keys(info.plugins || {});
    const missing = ['janus.plugin.videocall', 'janus.plugin.textroom', 'janus.plugin.echotest'].filter((p) => !plugins.includes(p));
    $('server-info').textContent = `${info.name || 'server'} ${info.version_string || ''}`
      + `${missing.length ? ` · missing plugins: ${missing.join(', ')}` : ' · calls, chat and echo test available'}`
      + `${authRequired ? '' : ' · sign-in optional'}`;
  } catch (e) {
    $('server-info').textContent = `The server is unreachable (${e.message}).`;
  }
}

async function init() {
  bindSettingsForm();
  bindAuthPanel();
  bindDiagnostics();
  bindIncoming();
  bindNotificationClicks();
  bindConnectionStatus();
  bindCallNavigation();
  $('skip-auth').addEventListener('click', () => { anonymous = true; setAnonymous(true); signedIn(null); });
  $('logout').addEventListener('click', async () => {
    anonymous = false;
    setAnonymous(false);
    if (auth.user) await auth.logout();
    else signedOut('');
  });
  auth.onChange((user) => {
    if (user) signedIn(user);
    else if (!anonymous) signedOut('');
  });
  auth.onEnded((reason) => showAuthError(reason));
  await checkServer();
  const user = await auth.restore();
  if (user) signedIn(user);
  else signedOut('');
  window.parleyDemo.ready = true;
  window.parleyApp = {
    get user() { return auth.user; },
    get route() { return currentPath(); },
    get connection() { return $('conn').textContent; },
    get session() { return currentSession(); },
    get call() {
      const c = calls() && calls().current;
      return c ? { id: c.id, role: c.role, state: c.state, kind: c.kind, billing: c.billing, lowBalance: c.lowBalance } : null;
    },
    callStats: () => (calls() ? calls().stats() : null),
    api,
    ready: true,
  };
}

init();
