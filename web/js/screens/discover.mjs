// screens/discover.mjs: host cards (GET /hosts) with filters and sort, "more" by cursor.
// Availability is live by polling: the server has no presence stream yet, so every 5 s the
// shown page is fetched again and the badges change in place (the list is rebuilt only when
// the set of hosts changed, so keyboard focus is not lost).

import { api } from '../api.mjs';
import { h, availabilityBadge, avatar, announce } from '../ui.mjs';

const POLL_MS = 5000;

export function rates(host) {
  return h('dl', { class: 'rates' },
    h('div', {}, h('dt', {}, 'Audio'), h('dd', {}, `${host.audio_rate}/min`)),
    h('div', {}, h('dt', {}, 'Video'), h('dd', {}, `${host.video_rate}/min`)),
    h('div', {}, h('dt', {}, 'Message'), h('dd', {}, `${host.message_rate}`)));
}

export function chips(list, label) {
  if (!list || !list.length) return null;
  return h('ul', { class: 'chips', 'aria-label': label }, list.map((x) => h('li', {}, x)));
}

function card(host) {
  return h('li', { class: 'host-card card', 'data-host-id': host.id },
    avatar(host),
    h('div', { class: 'host-main' },
      h('h3', {}, h('a', { href: `#/host/${host.id}` }, host.display_name)),
      availabilityBadge(host.availability, host.do_not_disturb),
      rates(host),
      chips(host.languages, 'Languages'),
      chips(host.tags, 'Tags')));
}

export const discoverScreen = {
  title: 'Discover hosts',
  render(el) {
    const online = h('input', { type: 'checkbox', id: 'f-online' });
    const sort = h('select', { id: 'f-sort' }, h('option', { value: 'newest' }, 'Newest'), h('option', { value: 'rate' }, 'Lowest rate'));
    const tag = h('input', { type: 'text', id: 'f-tag', maxLength: 32, autocomplete: 'off' });
    const lang = h('input', { type: 'text', id: 'f-lang', maxLength: 16, autocomplete: 'off' });
    const list = h('ul', { class: 'host-list', 'aria-live': 'off' });
    const status = h('p', { class: 'muted', role: 'status' });
    const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'More hosts');
    let shown = [];
    let cursor = null;
    let stopped = false;

    const query = (limit, after) => {
      const q = new URLSearchParams({ sort: sort.value, limit: String(limit) });
      if (online.checked) q.set('online', 'true');
      if (tag.value.trim()) q.set('tag', tag.value.trim());
      if (lang.value.trim()) q.set('language', lang.value.trim());
      if (after) q.set('cursor', after);
      return `/hosts?${q}`;
    };

    const draw = () => {
      list.replaceChildren(...shown.map(card));
      status.textContent = shown.length ? '' : 'No host matches. Try other filters.';
      more.hidden = !cursor;
    };

    const load = async (append) => {
      try {
        const r = await api('GET', query(20, append ? cursor : null), undefined, { auth: false });
        shown = append ? shown.concat(r.hosts) : r.hosts;
        cursor = r.next_cursor;
        draw();
      } catch (e) {
        status.textContent = e.message;
      }
    };

    const poll = async () => {
      if (stopped) return;
      try {
        const r = await api('GET', query(Math.min(100, Math.max(20, shown.length))), undefined, { auth: false });
        const same = r.hosts.length === shown.length && r.hosts.every((x, i) => x.id === shown[i].id);
        if (!same) { shown = r.hosts; cursor = r.next_cursor; draw(); return; }
        r.hosts.forEach((x, i) => {
          if (x.availability === shown[i].availability && x.do_not_disturb === shown[i].do_not_disturb) return;
          shown[i] = x;
          const c = list.querySelector(`[data-host-id="${x.id}"] .badge`);
          if (c) { c.replaceWith(availabilityBadge(x.availability, x.do_not_disturb)); announce(`${x.display_name} is now ${x.availability}`); }
        });
      } catch { /* the next poll tries again */ }
    };

    const form = h('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); load(false); } },
      h('label', { class: 'inline' }, online, ' Online now'),
      h('label', {}, 'Sort', sort),
      h('label', {}, 'Tag', tag),
      h('label', {}, 'Language', lang),
      h('button', { type: 'submit' }, 'Apply'));
    for (const x of [online, sort]) x.addEventListener('change', () => load(false));
    more.addEventListener('click', () => load(true));
    el.append(h('section', { class: 'card', 'aria-labelledby': 'discover-title' },
      h('h2', { id: 'discover-title' }, 'Discover hosts'), form), status, list, more);
    load(false);
    const timer = setInterval(poll, POLL_MS);
    return () => { stopped = true; clearInterval(timer); };
  },
};
