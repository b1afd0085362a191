// screens/chats.mjs: the user's conversations (GET /conversations), newest activity first,
// with unread counts; refreshUnread() keeps the count in the navigation up to date.

import { api } from '../api.mjs';
import { h, avatar, timeOf, $ } from '../ui.mjs';

export async function refreshUnread() {
  const badge = $('unread-count');
  if (!badge) return;
  try {
    const r = await api('GET', '/conversations');
    const n = r.conversations.reduce((a, c) => a + c.unread, 0);
    badge.hidden = n === 0;
    badge.textContent = String(n);
    badge.setAttribute('aria-label', `${n} unread`);
  } catch { /* keep the last count */ }
}

export const chatsScreen = {
  title: 'Chats',
  async render(el) {
    const section = h('section', { class: 'card', 'aria-labelledby': 'chats-title' }, h('h2', { id: 'chats-title' }, 'Chats'));
    el.append(section);
    const list = h('ul', { class: 'conv-list', id: 'conversations' });
    const draw = (convs) => {
      list.replaceChildren(...convs.map((c) => h('li', { 'data-conversation': c.id },
        h('a', { href: `#/chat/${c.id}`, class: 'conv' },
          avatar(c.peer, 'sm'),
          h('span', { class: 'conv-main' },
            h('strong', {}, c.peer.display_name),
            h('span', { class: 'muted small last' }, c.last_message ? c.last_message.text : 'No messages yet')),
          c.last_message ? h('span', { class: 'muted small' }, timeOf(c.last_message.date)) : null,
          c.unread ? h('span', { class: 'count', 'data-unread': c.unread, 'aria-label': `${c.unread} unread` }, String(c.unread)) : null))));
      if (!convs.length) list.replaceChildren(h('li', { class: 'muted' }, 'No conversations yet. Callers start one from a host’s profile.'));
    };
    const load = async () => {
      try { draw((await api('GET', '/conversations')).conversations); } catch (e) { list.replaceChildren(h('li', { class: 'error' }, e.message)); }
    };
    section.append(list);
    await load();
    refreshUnread();
    const timer = setInterval(load, 5000);
    return () => clearInterval(timer);
  },
};
