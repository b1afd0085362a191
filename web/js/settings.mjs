// settings.mjs: where the Janus API is (transport, WebSocket URL, HTTP URL, ICE servers).
// Defaults come from the page's origin, then what was saved in this browser (the
// "Connection settings" form), then URL parameters (?transport=http&ws=…&janus=…&ice=…),
// which tests and self-hosters behind a proxy use.

import { $ } from './ui.mjs';

const KEY = 'parley.settings';

function defaults() {
  const wsScheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return {
    transport: 'ws',
    wsUrl: `${wsScheme}://${location.hostname || 'localhost'}:8188`,
    httpUrl: `${location.origin}/janus`,
    iceServers: '[]',
  };
}

function load() {
  const s = defaults();
  try { Object.assign(s, JSON.parse(localStorage.getItem(KEY) || '{}')); } catch { /* defaults */ }
  const q = new URLSearchParams(location.search);
  if (q.get('transport')) s.transport = q.get('transport') === 'http' ? 'http' : 'ws';
  if (q.get('ws')) s.wsUrl = q.get('ws');
  if (q.get('janus')) s.httpUrl = q.get('janus');
  if (q.get('ice')) s.iceServers = q.get('ice');
  return s;
}

export const settings = load();

export function iceServers() {
  const v = JSON.parse(settings.iceServers || '[]');
  if (!Array.isArray(v)) throw new Error('ICE servers must be a JSON array');
  return v;
}

export function bindSettingsForm() {
  $('transport').value = settings.transport;
  $('ws-url').value = settings.wsUrl;
  $('http-url').value = settings.httpUrl;
  $('ice-servers').value = settings.iceServers;
  const save = () => {
    settings.transport = $('transport').value;
    settings.wsUrl = $('ws-url').value.trim();
    settings.httpUrl = $('http-url').value.trim();
    settings.iceServers = $('ice-servers').value.trim() || '[]';
    localStorage.setItem(KEY, JSON.stringify(settings));
  };
  for (const id of ['transport', 'ws-url', 'http-url', 'ice-servers']) $(id).addEventListener('change', save);
}
