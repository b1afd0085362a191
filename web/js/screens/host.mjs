// screens/host.mjs: a host's public profile (GET /hosts/{id}) with live availability and,
// for callers, the ways to reach them: audio call, video call, message.

import { api, auth } from '../api.mjs';
import { calls } from '../connection.mjs';
import { navigate } from '../router.mjs';
import { h, availabilityBadge, avatar, busy } from '../ui.mjs';
import { rates, chips } from './discover.mjs';

const POLL_MS = 5000;

export async function openConversation(peerId) {
  const r = await api('POST', '/conversations', { with: Number(peerId) });
  navigate(`/chat/${r.id}`);
}

export const hostScreen = {
  title: 'Host',
  async render(el, { id }) {
    let host;
    try {
      host = (await api('GET', `/hosts/${encodeURIComponent(id)}`, undefined, { auth: false })).host;
    } catch (e) {
      el.append(h('section', { class: 'card' }, h('h2', {}, 'Host not found'), h('p', { class: 'error' }, e.message)));
      return undefined;
    }
    document.title = `${host.display_name} · parley`;
    const badge = h('span', {}, availabilityBadge(host.availability, host.do_not_disturb));
    const error = h('p', { class: 'error', role: 'alert' });
    const isCaller = auth.user && auth.user.role === 'caller';
    const startCall = (kind) => async (e) => {
      const cs = calls();
      if (!cs) { error.textContent = 'Not connected to the server yet. Wait a moment.'; return; }
      await busy(e.currentTarget, error, () => cs.call(host, kind));
    };
    const actions = isCaller ? h('div', { class: 'actions' },
      h('button', { type: 'button', id: 'call-audio', onclick: startCall('audio') }, 'Audio call'),
      h('button', { type: 'button', id: 'call-video', onclick: startCall('video') }, 'Video call'),
      h('button', { type: 'button', id: 'message-host', class: 'secondary',
        onclick: (e) => busy(e.currentTarget, error, () => openConversation(host.id)) }, 'Message')) : null;
    el.append(h('section', { class: 'card profile', 'aria-labelledby': 'host-title', 'data-host-id': host.id },
      h('div', { class: 'profile-head' }, avatar(host, 'lg'),
        h('div', {}, h('h2', { id: 'host-title' }, host.display_name), badge)),
      host.bio ? h('p', { class: 'bio' }, host.bio) : null,
      rates(host),
      h('p', { class: 'muted small' }, 'Rates in credits: per started minute of a call, per message you send.'),
      chips(host.languages, 'Languages'), chips(host.tags, 'Tags'),
      actions, error));
    const timer = setInterval(async () => {
      try {
        const fresh = (await api('GET', `/hosts/${host.id}`, undefined, { auth: false })).host;
        if (fresh.availability !== host.availability || fresh.do_not_disturb !== host.do_not_disturb) { host = fresh; badge.replaceChildren(availabilityBadge(host.availability, host.do_not_disturb)); }
      } catch { /* next time */ }
    }, POLL_MS);
    return () => clearInterval(timer);
  },
};
