// screens/auth.mjs: the static sign-in panel of index.html (log in / sign up with a role).
// A new account is logged in at once with the same credentials. Errors a user can hit get
// a sentence of their own; the rest show the server's message.

import { auth } from '../api.mjs';
import { $ } from '../ui.mjs';

function showError(text) { $('auth-error').textContent = text || ''; }

function selectTab(which) {
  const login = which === 'login';
  $('tab-login').setAttribute('aria-selected', String(login));
  $('tab-register').setAttribute('aria-selected', String(!login));
  $('tab-login').tabIndex = login ? 0 : -1;
  $('tab-register').tabIndex = login ? -1 : 0;
  $('login-form').hidden = !login;
  $('register-form').hidden = login;
  showError('');
}

function explain(e, during) {
  if (e.code === 'network') return e.message;
  if (during === 'login' && e.status === 401) return 'Wrong email or password.';
  if (during === 'register' && e.status === 409) return 'An account with this email already exists: log in instead.';
  return e.message;
}

async function submit(button, during, fn) {
  showError('');
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    await fn();
  } catch (e) {
    showError(explain(e, during));
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

export function bindAuthPanel() {
  $('tab-login').addEventListener('click', () => selectTab('login'));
  $('tab-register').addEventListener('click', () => selectTab('register'));
  // Arrow keys move between the two tabs (the WAI-ARIA tabs pattern).
  for (const id of ['tab-login', 'tab-register']) {
    $(id).addEventListener('keydown', (e) => {
      if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
      const next = id === 'tab-login' ? 'register' : 'login';
      selectTab(next);
      $(`tab-${next}`).focus();
    });
  }
  selectTab('login');
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    submit($('login-submit'), 'login', async () => {
      await auth.login($('login-email').value.trim(), $('login-password').value);
      $('login-password').value = '';
    });
  });
  $('register-form').addEventListener('submit', (e) => {
    e.preventDefault();
    submit($('register-submit'), 'register', async () => {
      const email = $('reg-email').value.trim();
      const password = $('reg-password').value;
      await auth.register({ email, password, role: $('reg-role').value, display_name: $('reg-name').value.trim() });
      await auth.login(email, password);
      $('reg-password').value = '';
    });
  });
}

export function showAuthError(text) { showError(text); }
