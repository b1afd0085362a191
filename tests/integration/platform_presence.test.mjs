#!/usr/bin/env node
// platform_presence: availability in GET /api/v1/hosts follows the host's Janus sessions.
//
// With --auth.required=true: a Janus "create" over the WebSocket needs the user's access JWT
// (no token / a forged one / a revoked device's token -> Janus error 403); a host with a live
// session shows "online" in /hosts and /hosts/{id} and in ?online=true; with two sessions it
// stays online until both end; after "destroy" it is "offline" within 2 s; a session whose
// WebSocket went away and that timed out (session_timeout=3) is offline within timeout + 2 s.
// Exit 0 pass, 77 skip (parley only: Janus has no platform API), 1 fail.

import { assert, target, withServer } from './lib/server.mjs';
import { wsConnect } from './lib/wsraw.mjs';
import { traceResponse } from './lib/apitrace.mjs';

const TIMEOUT = 3;

async function api(srv, method, path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const url = `http://127.0.0.1:${srv.ports.http}/api/v1${path}`;
  const reqBody = body === undefined ? undefined : JSON.stringify(body);
  const r = await fetch(url, { method, headers, body: reqBody });
  const text = await r.text();
  traceResponse(method, url, reqBody, r, text);
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

async function availability(srv, hostId) {
  const r = await api(srv, 'GET', `/hosts/${hostId}`);
  assert(r.status === 200, `GET /hosts/${hostId}: ${JSON.stringify(r)}`);
  return r.json.host.availability;
}

async function waitFor(srv, hostId, want, ms) {
  const end = Date.now() + ms;
  let got;
  for (;;) {
    got = await availability(srv, hostId);
    if (got === want) return Date.now();
    if (Date.now() > end) throw new Error(`host ${hostId} is ${got}, expected ${want} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function createSession(ws, token) {
  const msg = { janus: 'create' };
  if (token !== undefined) msg.token = token;
  return ws.request(msg);
}

if (target() !== 'parley') {
  console.log('SKIP: the platform API (presence in /hosts) exists only in parley');
  process.exit(77);
}

await withServer({ index: 13, sessionTimeout: TIMEOUT, extraArgs: ['--auth.required=true',
  '--auth.kdf_cost=10', '--auth.rate_limit_per_min=100000'] }, async (srv) => {
  const pw = 'correct horse 9';
  let r = await api(srv, 'POST', '/auth/register', { email: 'host@example.com', password: pw,
    role: 'host', display_name: 'Host' });
  assert(r.status === 201, `register: ${JSON.stringify(r)}`);
  const hostId = r.json.user.id;
  r = await api(srv, 'POST', '/auth/login', { email: 'host@example.com', password: pw, device_id: 'web' });
  assert(r.status === 200, 'login');
  const token = r.json.access_token;
  r = await api(srv, 'POST', '/auth/login', { email: 'host@example.com', password: pw, device_id: 'phone' });
  const phoneToken = r.json.access_token;
  assert(await availability(srv, hostId) === 'offline', 'offline before any session');

  const ws = await wsConnect(srv.ports.ws);
  // refused without a valid token
  let m = await createSession(ws);
  assert(m && m.janus === 'error' && m.error.code === 403, `no token: ${JSON.stringify(m)}`);
  m = await createSession(ws, token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA'));
  assert(m && m.janus === 'error' && m.error.code === 403, `forged token: ${JSON.stringify(m)}`);
  assert(await availability(srv, hostId) === 'offline', 'refused sessions do not count');

  // one session: online; in the online filter
  m = await createSession(ws, token);
  assert(m && m.janus === 'success', `create: ${JSON.stringify(m)}`);
  const s1 = m.data.id;
  await waitFor(srv, hostId, 'online', 2000);
  r = await api(srv, 'GET', '/hosts?online=true');
  assert(r.json.hosts.length === 1 && r.json.hosts[0].id === hostId &&
    r.json.hosts[0].availability === 'online', `online filter: ${JSON.stringify(r.json)}`);

  // a second session (another device): still online after the first ends
  const ws2 = await wsConnect(srv.ports.ws);
  m = await createSession(ws2, phoneToken);
  assert(m && m.janus === 'success', 'second session');
  const s2 = m.data.id;
  m = await ws.request({ janus: 'destroy', session_id: s1, token });
  assert(m && m.janus === 'success', `destroy: ${JSON.stringify(m)}`);
  await new Promise((res) => setTimeout(res, 300));
  assert(await availability(srv, hostId) === 'online', 'online while the phone session lives');
  m = await ws2.request({ janus: 'destroy', session_id: s2, token: phoneToken });
  assert(m && m.janus === 'success', 'destroy 2');
  const t0 = Date.now();
  const t1 = await waitFor(srv, hostId, 'offline', 2000);
  console.log(`offline ${t1 - t0} ms after destroy`);
  r = await api(srv, 'GET', '/hosts?online=true');
  assert(r.json.hosts.length === 0, 'online filter empty again');

  // a revoked device's token cannot open a session
  r = await api(srv, 'DELETE', '/auth/devices/phone', undefined, token);
  assert(r.status === 200, 'revoke phone');
  m = await createSession(ws, phoneToken);
  assert(m && m.janus === 'error' && m.error.code === 403, `revoked token: ${JSON.stringify(m)}`);

  // the transport goes away without destroy: offline once the session times out
  const ws3 = await wsConnect(srv.ports.ws);
  m = await createSession(ws3, token);
  assert(m && m.janus === 'success', 'third session');
  await waitFor(srv, hostId, 'online', 2000);
  ws3.close();
  const gone = Date.now();
  const t3 = await waitFor(srv, hostId, 'offline', (TIMEOUT + 2) * 1000 + 1000);
  console.log(`offline ${t3 - gone} ms after the WebSocket closed (session_timeout ${TIMEOUT} s)`);
  ws.close();
  ws2.close();
});
