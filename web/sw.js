// sw.js: the browser app's service worker. It shows parley's Web Push notifications and opens
// the app when one is clicked. Served at /sw.js (not under js/) so that its scope is the whole
// app: a worker only controls pages at or below its own path.
//
// What the server sends (src/push/message.c, docs/push.md), one JSON object per push:
//   {type: "incoming_call", call_id, caller_name, caller_avatar, kind}   kind audio | video
//   {type: "call_ended", call_id, reason}   answered_elsewhere | cancelled | declined | no_answer | ...
//   {type: "chat_message", room, msg_id, sender_name, body?}   no body with push.private_bodies
//
// A push never carries tokens and this worker holds none: it cannot answer or refuse a call by
// itself (that takes the app's Janus session). Accept / Decline open (or focus) the app on the
// call screen with the choice, and the app carries it out when the ring reaches it
// (js/push.mjs). The subscription is made by the app (pushManager.subscribe), not here.

const callTag = (id) => `call-${id}`;
const chatTag = (room) => `chat-${room}`;
const CALL_ENDED_TEXT = {
  answered_elsewhere: 'Answered on another of your devices',
  cancelled: 'Missed call',
  no_answer: 'Missed call',
  declined: 'Call declined',
};

// A new version takes over at once: the worker has no cache whose versions could clash.
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

function payload(event) {
  if (!event.data) return null;
  try { return event.data.json(); } catch { return null; }
}

async function incomingCall(p) {
  const who = p.caller_name || 'Someone';
  await self.registration.showNotification(`${who} is calling you`, {
    body: p.kind === 'video' ? 'Video call' : 'Audio call',
    // One notification per call: the stop push finds it by this tag, a repeat replaces it.
    tag: callTag(p.call_id),
    renotify: true,
    // A ring must stay until it is answered or stops, not fade after a few seconds.
    requireInteraction: true,
    icon: p.caller_avatar || undefined,
    actions: [{ action: 'accept', title: 'Accept' }, { action: 'decline', title: 'Decline' }],
    data: { type: 'incoming_call', call_id: p.call_id, caller_name: who, kind: p.kind },
  });
}

// The ring stopped: its notification goes. A caller who gave up (or no answer) leaves a
// "missed call" note, which is also what Chrome wants (userVisibleOnly: a push should show
// something); answered elsewhere or declined needs no trace.
async function callEnded(p) {
  const open = await self.registration.getNotifications({ tag: callTag(p.call_id) });
  for (const n of open) n.close();
  if (p.reason !== 'cancelled' && p.reason !== 'no_answer') return;
  const who = open.length && open[0].data ? open[0].data.caller_name : '';
  await self.registration.showNotification(CALL_ENDED_TEXT[p.reason], {
    body: who ? `From ${who}` : '',
    tag: `missed-${p.call_id}`,
    data: { type: 'call_ended', call_id: p.call_id, reason: p.reason },
  });
}

async function chatMessage(p) {
  await self.registration.showNotification(p.sender_name || 'New message', {
    // No body when the server keeps message texts out of pushes (push.private_bodies).
    body: typeof p.body === 'string' && p.body ? p.body : 'New message',
    // One notification per conversation, the newest message in it.
    tag: chatTag(p.room),
    renotify: true,
    data: { type: 'chat_message', room: p.room, msg_id: p.msg_id },
  });
}

self.addEventListener('push', (event) => {
  const p = payload(event);
  let work;
  if (p && p.type === 'incoming_call' && p.call_id) work = incomingCall(p);
  else if (p && p.type === 'call_ended' && p.call_id) work = callEnded(p);
  else if (p && p.type === 'chat_message' && p.room) work = chatMessage(p);
  // Something this version does not know: still visible, never silent.
  else work = self.registration.showNotification('parley', { body: 'You have a new notification', tag: 'parley' });
  event.waitUntil(work);
});

// Where a click leads, as an app route (js/app.mjs) and a message for an open window.
function target(data, action) {
  if (data.type === 'incoming_call') {
    const choice = action === 'accept' || action === 'decline' ? action : 'open';
    return {
      route: `/call?incoming=${encodeURIComponent(data.call_id)}&action=${choice}`,
      msg: { type: 'parley-notification', kind: 'incoming_call', call_id: data.call_id, action: choice },
    };
  }
  if (data.type === 'chat_message') {
    return { route: `/chat/${encodeURIComponent(data.room)}`, msg: { type: 'parley-notification', kind: 'chat_message', room: data.room } };
  }
  if (data.type === 'call_ended') return { route: '/calls', msg: { type: 'parley-notification', kind: 'call_ended' } };
  return { route: '', msg: { type: 'parley-notification', kind: 'other' } };
}

async function openApp({ route, msg }) {
  const wins = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const win = wins.find((c) => c.focused) || wins[0];
  if (win) {
    // An open app keeps its sign-in (tokens live in that tab): tell it, then bring it forward.
    win.postMessage({ ...msg, route });
    try { await win.focus(); } catch { /* not allowed outside the click: the message still arrived */ }
    return;
  }
  // No window: a new one on the route; it reads the route's query once signed in.
  await self.clients.openWindow(`${new URL(self.registration.scope).pathname}#${route}`);
}

self.addEventListener('notificationclick', (event) => {
  const n = event.notification;
  n.close();
  event.waitUntil(openApp(target(n.data || {}, event.action)));
});
