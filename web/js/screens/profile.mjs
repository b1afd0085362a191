// screens/profile.mjs: the signed-in user's profile (GET/PATCH /me) and devices. Hosts edit their
// public card (bio, picture, languages, tags, rates) and their availability: do-not-disturb
// refuses calls while staying signed in; "online" itself follows this app's connection
// (the server counts live Janus sessions), so it is shown, not set. Notifications on this
// device (Web Push) are switched here too.

import { api, auth } from '../api.mjs';
import { h, availabilityBadge, announce } from '../ui.mjs';
import { devicesCard } from './devices.mjs';
import { notificationsCard } from './notifications.mjs';

const list = (text) => text.split(',').map((x) => x.trim()).filter(Boolean);

function field(label, input, hint) {
  return h('label', {}, label, input, hint ? h('small', { class: 'muted' }, hint) : null);
}

function availabilityCard(me) {
  const badge = h('span', { id: 'my-availability' }, availabilityBadge(me.availability, me.do_not_disturb));
  const toggle = h('input', { type: 'checkbox', id: 'dnd', role: 'switch', checked: !me.do_not_disturb });
  const error = h('p', { class: 'error', role: 'alert' });
  const refresh = async () => {
    try {
      const u = (await api('GET', '/me')).user;
      badge.replaceChildren(availabilityBadge(u.availability, u.do_not_disturb));
    } catch { /* shown at the next change */ }
  };
  toggle.addEventListener('change', async () => {
    error.textContent = '';
    toggle.disabled = true;
    try {
      const u = (await api('PATCH', '/me', { do_not_disturb: !toggle.checked })).user;
      auth.setUser(u);
      announce(toggle.checked ? 'You are taking calls' : 'Do not disturb: calls are refused');
      await refresh();
    } catch (e) {
      toggle.checked = !toggle.checked;
      error.textContent = e.message;
    } finally {
      toggle.disabled = false;
    }
  });
  return { refresh, node: h('section', { class: 'card', 'aria-labelledby': 'avail-title' },
    h('h2', { id: 'avail-title' }, 'Availability'),
    h('p', {}, 'Callers see you as ', badge),
    h('label', { class: 'inline switch' }, toggle, ' Take calls on this account (off = do not disturb)'),
    h('p', { class: 'muted small' }, 'You are online while this app is open and connected, on any of your devices.'),
    error) };
}

export const profileScreen = {
  title: 'Profile',
  async render(el) {
    let me;
    try {
      me = (await api('GET', '/me')).user;
    } catch (e) {
      el.append(h('section', { class: 'card' }, h('h2', {}, 'Profile'), h('p', { class: 'error' }, e.message)));
      return undefined;
    }
    const isHost = me.role === 'host';
    const inputs = {
      display_name: h('input', { type: 'text', id: 'p-name', value: me.display_name, required: true, maxLength: 64, autocomplete: 'nickname' }),
    };
    if (isHost) {
      Object.assign(inputs, {
        bio: h('textarea', { id: 'p-bio', maxLength: 1000, rows: 4, value: me.bio || '' }),
        avatar_url: h('input', { type: 'url', id: 'p-avatar', value: me.avatar_url || '', maxLength: 512, placeholder: 'https://…' }),
        languages: h('input', { type: 'text', id: 'p-languages', value: (me.languages || []).join(', '), placeholder: 'en, fr' }),
        tags: h('input', { type: 'text', id: 'p-tags', value: (me.tags || []).join(', ') }),
        audio_rate: h('input', { type: 'number', id: 'p-audio-rate', min: 0, step: 1, value: me.audio_rate, required: true, inputMode: 'numeric' }),
        video_rate: h('input', { type: 'number', id: 'p-video-rate', min: 0, step: 1, value: me.video_rate, required: true, inputMode: 'numeric' }),
        message_rate: h('input', { type: 'number', id: 'p-message-rate', min: 0, step: 1, value: me.message_rate, required: true, inputMode: 'numeric' }),
      });
    }
    const error = h('p', { class: 'error', role: 'alert' });
    const saved = h('p', { class: 'ok', role: 'status' });
    const save = h('button', { type: 'submit', id: 'profile-save' }, 'Save');
    const form = h('form', { id: 'profile-form', class: 'grid-form' },
      field('Display name', inputs.display_name),
      isHost ? [
        field('About you', inputs.bio, 'Up to 1000 characters.'),
        field('Picture URL', inputs.avatar_url),
        field('Languages', inputs.languages, 'Comma-separated codes, e.g. en, pt-BR.'),
        field('Tags', inputs.tags, 'Comma-separated.'),
        h('fieldset', { class: 'rates-edit' }, h('legend', {}, 'Rates (credits)'),
          field('Audio, per minute', inputs.audio_rate),
          field('Video, per minute', inputs.video_rate),
          field('Per message received', inputs.message_rate)),
      ] : null,
      h('div', { class: 'actions' }, save), error, saved);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      error.textContent = '';
      saved.textContent = '';
      const patch = { display_name: inputs.display_name.value.trim() };
      if (isHost) {
        patch.bio = inputs.bio.value;
        if (inputs.avatar_url.value.trim()) patch.avatar_url = inputs.avatar_url.value.trim();
        patch.languages = list(inputs.languages.value);
        patch.tags = list(inputs.tags.value);
        for (const k of ['audio_rate', 'video_rate', 'message_rate']) patch[k] = Number(inputs[k].value);
      }
      save.disabled = true;
      try {
        const u = (await api('PATCH', '/me', patch)).user;
        auth.setUser(u);
        saved.textContent = 'Saved.';
      } catch (err) {
        error.textContent = err.code === 'invalid_value' ? `Not saved: ${err.message}` : err.message;
      } finally {
        save.disabled = false;
      }
    });
    el.append(h('section', { class: 'card', 'aria-labelledby': 'profile-title' },
      h('h2', { id: 'profile-title' }, isHost ? 'Your host profile' : 'Your profile'),
      h('p', { class: 'muted' }, `${me.email} · ${me.role}`), form), notificationsCard(), devicesCard());
    if (!isHost) return undefined;
    const avail = availabilityCard(me);
    el.prepend(avail.node);
    // The badge follows this app's connection and calls, which the server reports: polled.
    const timer = setInterval(avail.refresh, 5000);
    return () => clearInterval(timer);
  },
};
