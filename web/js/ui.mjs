// ui.mjs: small DOM and formatting helpers shared by the screens.
//
// h(tag, attrs, ...children) builds an element: attrs are properties or attributes
// ("on*" functions become listeners, "class", "for", aria-* and data-* are attributes);
// children are nodes, strings (as text, never HTML) or arrays of them; null/false skipped.
// Building with text nodes only is what keeps server data (names, bios, messages) from
// ever being parsed as markup.

export const $ = (id) => document.getElementById(id);

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class' || k === 'for' || k === 'role' || k.startsWith('aria-') || k.startsWith('data-')) el.setAttribute(k, v === true ? '' : String(v));
    else if (k in el) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function credits(n) {
  const v = Number(n) || 0;
  return `${v.toLocaleString('en')} credit${v === 1 ? '' : 's'}`;
}

// 75000 -> "1:15"; an hour or more -> "1:02:03".
export function clock(ms) {
  const s = Math.max(0, Math.floor((Number(ms) || 0) / 1000));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function timeOf(iso) {
  return iso ? new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' }) : '';
}

const AVAILABILITY = { online: 'Online', busy: 'In a call', offline: 'Offline', dnd: 'Not taking calls' };

// An online host in do-not-disturb cannot be called: shown as such, not as online.
export function availabilityBadge(a, dnd = false) {
  const v = AVAILABILITY[a] ? a : 'offline';
  const shown = dnd && v === 'online' ? 'dnd' : v;
  return h('span', { class: `badge ${shown}`, 'data-availability': v }, AVAILABILITY[shown]);
}

// The polite live region in the page: what changed, said once to screen readers.
export function announce(text) {
  const el = $('announcer');
  if (!el) return;
  el.textContent = '';
  requestAnimationFrame(() => { el.textContent = text; });
}

// Runs an async action from a button: disabled meanwhile, errors shown in `errorEl`.
export async function busy(button, errorEl, fn) {
  if (errorEl) errorEl.textContent = '';
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await fn();
  } catch (e) {
    if (errorEl) errorEl.textContent = e.message;
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

export function initials(name) {
  return String(name || '?').split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0].toUpperCase()).join('') || '?';
}

// A host's picture, or its initials on a coloured disc when it has none (or it fails).
export function avatar(user, size = 'md') {
  const wrap = h('span', { class: `avatar ${size}`, 'aria-hidden': 'true' }, initials(user.display_name));
  if (user.avatar_url) {
    const img = h('img', { src: user.avatar_url, alt: '', loading: 'lazy', referrerPolicy: 'no-referrer' });
    img.addEventListener('error', () => img.remove());
    wrap.append(img);
  }
  return wrap;
}
