// api.mjs: the platform REST client (/api/v1) and the signed-in user's tokens.
//
// Contract
//   await auth.restore();                    // tokens of this tab (sessionStorage), refreshed if stale
//   await auth.register({email, password, role, display_name}); await auth.login(email, password);
//   const me = await api('GET', '/me');      // bearer token added, refreshed when needed
//   await auth.logout();
//   auth.onChange(fn)                        // fn(user | null) after sign-in, refresh of the user, sign-out
//
// Tokens: {access_token, refresh_token, expires_at (ms), lifetime_ms, user} in sessionStorage
// (this tab only: two tabs are two devices, as the server sees them). The access token is
// refreshed ahead of expiry (refreshLead), on demand when nearly expired, and once when the
// server answers 401 token_expired (REST) or 403 (Janus, via janus-client's onUnauthorized).
// One refresh at a time: refresh tokens rotate and a reused one revokes this device.
//
// Errors: api() rejects with ApiError {status, code, message}; status 0 / code "network"
// when the server cannot be reached. `message` is written for the user.

const BASE = '/api/v1';
const TOKENS_KEY = 'parley.tokens';
const DEVICE_KEY = 'parley.device_id';

export class ApiError extends Error {
  constructor(status, code, message, body = null) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || `http_${status}`;
    this.body = body;
  }
}

export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = Array.from(b, (v) => v.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export function deviceId() {
  let id = localStorage.getItem(DEVICE_KEY);
  if (!id) {
    id = `web-${uuid().replace(/-/g, '').slice(0, 16)}`;
    localStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

function deviceName() {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? 'Firefox' : /Edg\//.test(ua) ? 'Edge'
    : /Chrom(e|ium)\//.test(ua) ? 'Chromium' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  return `${browser} (parley web)`;
}

// One HTTP exchange, no token logic. The messages are the ones a user sees.
async function exchange(method, path, body, headers) {
  const h = { accept: 'application/json', ...headers };
  if (body !== undefined) h['content-type'] = 'application/json';
  let r;
  try {
    r = await fetch(BASE + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection and try again.');
  }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: reported below */ }
  if (!r.ok) {
    const err = data && data.error ? data.error : {};
    const retry = r.headers.get('retry-after');
    const extra = r.status === 429 && retry ? ` Try again in ${retry} s.` : '';
    const msg = r.status >= 500 && !err.message ? 'The server had a problem. Try again in a moment.'
      : (err.message || `HTTP ${r.status}`);
    throw new ApiError(r.status, err.code, msg + extra, data);
  }
  return data;
}

// ---------------------------------------------------------------------------------------

let tokens = null;
let refreshing = null;
let refreshTimer = null;
const listeners = new Set();
const endListeners = new Set();

function emit() { for (const fn of listeners) fn(tokens ? tokens.user : null); }

function save(t) {
  tokens = t;
  if (t) sessionStorage.setItem(TOKENS_KEY, JSON.stringify(t));
  else sessionStorage.removeItem(TOKENS_KEY);
  schedule();
}

function fromPair(pair, user) {
  const ttl = Number(pair.expires_in) > 0 ? Number(pair.expires_in) : 900;
  return {
    access_token: pair.access_token, refresh_token: pair.refresh_token,
    expires_at: Date.now() + ttl * 1000, lifetime_ms: ttl * 1000, user: pair.user || user || null,
  };
}

// A minute before expiry, or a fifth of the lifetime when more, never more than half of it
// (a 30 s test lifetime would otherwise refresh in a loop).
function refreshLead(t) {
  const life = t.lifetime_ms || 900000;
  return Math.min(Math.max(60000, 0.2 * life), 0.5 * life);
}

function schedule() {
  if (refreshTimer) { clearTimeout(refreshTimer); refreshTimer = null; }
  if (!tokens) return;
  const wait = Math.max(1000, tokens.expires_at - refreshLead(tokens) - Date.now());
  refreshTimer = setTimeout(() => refreshTokens().catch(() => { /* handled inside */ }), wait);
}

// The reason goes out after the sign-out itself, so the log-in screen shows it.
function signOutLocally(reason) {
  save(null);
  emit();
  for (const fn of endListeners) fn(reason);
}

export function refreshTokens() {
  if (refreshing) return refreshing;
  if (!tokens) return Promise.reject(new ApiError(401, 'not_signed_in', 'Not signed in.'));
  const used = tokens.refresh_token;
  refreshing = (async () => {
    try {
      const pair = await exchange('POST', '/auth/refresh', { refresh_token: used });
      save(fromPair(pair, tokens && tokens.user));
    } catch (e) {
      if (e.status === 401 || e.status === 403) {
        signOutLocally(`Your sign-in has ended (${e.message}). Please log in again.`);
      } else {
        if (refreshTimer) clearTimeout(refreshTimer);
        refreshTimer = setTimeout(() => refreshTokens().catch(() => {}), 15000);
      }
      throw e;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

// The access token for the next request, refreshed first when (nearly) expired.
export async function currentToken() {
  if (!tokens) return null;
  if (tokens.expires_at - Date.now() < Math.min(15000, refreshLead(tokens) / 2)) await refreshTokens();
  return tokens ? tokens.access_token : null;
}

// A REST call with the bearer token. A 401 token_expired refreshes once and retries.
export async function api(method, path, body, { headers = {}, auth: withAuth = true } = {}) {
  for (let attempt = 0; ; attempt++) {
    const h = { ...headers };
    if (withAuth) {
      const t = await currentToken();
      if (t) h.authorization = `Bearer ${t}`;
    }
    try {
      return await exchange(method, path, body, h);
    } catch (e) {
      if (withAuth && attempt === 0 && e.status === 401 && e.code === 'token_expired' && tokens) {
        await refreshTokens();
        continue;
      }
      throw e;
    }
  }
}

export const auth = {
  get user() { return tokens ? tokens.user : null; },
  get tokens() { return tokens ? { ...tokens } : null; },
  onChange(fn) { listeners.add(fn); },
  // fn(reason) when the server ended the sign-in (refresh refused): show the log-in screen.
  onEnded(fn) { endListeners.add(fn); },

  async restore() {
    try { tokens = JSON.parse(sessionStorage.getItem(TOKENS_KEY) || 'null'); } catch { tokens = null; }
    if (!tokens) return null;
    if (tokens.expires_at - Date.now() < refreshLead(tokens) / 2) {
      try { await refreshTokens(); } catch { /* signed out inside when fatal */ }
    } else {
      schedule();
    }
    return tokens ? tokens.user : null;
  },

  async login(email, password) {
    const pair = await exchange('POST', '/auth/login', { email, password, device_id: deviceId(), device_name: deviceName() });
    save(fromPair(pair));
    emit();
    return tokens.user;
  },

  register(fields) { return exchange('POST', '/auth/register', fields); },

  // The profile changed (PATCH /me): keep the stored user in step.
  setUser(user) {
    if (!tokens) return;
    save({ ...tokens, user: { ...tokens.user, ...user } });
    emit();
  },

  async logout() {
    const t = tokens;
    if (t) {
      try { await exchange('POST', '/auth/logout', { refresh_token: t.refresh_token }, { authorization: `Bearer ${t.access_token}` }); } catch { /* gone anyway */ }
    }
    save(null);
    emit();
  },
};
