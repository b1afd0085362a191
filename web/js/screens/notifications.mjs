// screens/notifications.mjs: "Notifications on this device", part of the profile screen: one
// toggle button (aria-pressed) for Web Push here, and a status line that says plainly why it
// is off when it cannot be on (no support, blocked in the browser, the push service failed).

import { pushStatus, enablePush, disablePush } from '../push.mjs';
import { h, announce } from '../ui.mjs';

const TEXT = {
  checking: 'Checking…',
  on: 'On: calls and messages reach this browser while the app is closed.',
  off: 'Off.',
  unsupported: 'Not available',
  blocked: 'Blocked',
  failed: 'Could not turn on',
};

export function notificationsCard() {
  const button = h('button', { type: 'button', id: 'push-toggle', class: 'secondary', 'aria-pressed': 'false', disabled: true, 'aria-describedby': 'push-state' },
    'Notifications on this device');
  const status = h('p', { id: 'push-state', role: 'status', 'data-state': 'checking' }, TEXT.checking);
  const show = ({ state, detail }) => {
    status.dataset.state = state;
    status.className = state === 'failed' || state === 'blocked' ? 'error' : state === 'on' ? 'ok' : '';
    status.textContent = detail ? `${TEXT[state]}: ${detail}.` : TEXT[state];
    button.setAttribute('aria-pressed', String(state === 'on'));
    // Nothing this button can change while unsupported or blocked: the text says what can.
    button.disabled = state === 'unsupported' || state === 'blocked';
  };
  button.addEventListener('click', async () => {
    const turnOff = button.getAttribute('aria-pressed') === 'true';
    button.disabled = true;
    show({ state: 'checking', detail: '' });
    const s = turnOff ? await disablePush() : await enablePush();
    show(s);
    announce(`Notifications on this device: ${TEXT[s.state]}`);
  });
  pushStatus().then(show, (e) => show({ state: 'failed', detail: e.message }));
  return h('section', { class: 'card', 'aria-labelledby': 'push-title' },
    h('h2', { id: 'push-title' }, 'Notifications'),
    h('p', { class: 'muted small' }, 'Incoming calls and new messages, shown by this browser when the app is not open.'),
    h('div', { class: 'actions' }, button), status);
}
