// screens/devices.mjs: the user's signed-in devices (GET /auth/devices) with "sign out" for
// each other one (DELETE /auth/devices/{id}): its tokens stop working at once. Part of the
// profile screen.

import { api } from '../api.mjs';
import { h, when } from '../ui.mjs';

export function devicesCard() {
  const list = h('ul', { class: 'devices', id: 'devices' });
  const error = h('p', { class: 'error', role: 'alert' });
  const load = async () => {
    try {
      const { devices } = await api('GET', '/auth/devices');
      list.replaceChildren(...devices.map((d) => h('li', { 'data-device': d.device_id },
        h('span', {}, h('strong', {}, d.name || d.device_id), d.current ? ' (this device)' : '',
          h('br'), h('span', { class: 'muted small' }, `signed in ${when(d.created_at)}`)),
        d.current ? null : h('button', {
          type: 'button', class: 'secondary small', 'aria-label': `Sign out ${d.name || d.device_id}`,
          onclick: async (e) => {
            e.currentTarget.disabled = true;
            try { await api('DELETE', `/auth/devices/${encodeURIComponent(d.device_id)}`); } catch (err) { error.textContent = err.message; }
            load();
          },
        }, 'Sign out'))));
    } catch (e) { error.textContent = e.message; }
  };
  load();
  return h('section', { class: 'card', 'aria-labelledby': 'devices-title' },
    h('h2', { id: 'devices-title' }, 'Your devices'), list, error);
}
