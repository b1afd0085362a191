// Local fakes of the push providers for the push tests: never a real Google or browser-vendor
// host. One HTTPS server (HTTP/2 with HTTP/1.1 fallback, certificate from a CA this module
// generates with the openssl CLI, trusted by parley through --push.ca_file) plays:
//   - the OAuth 2.0 token endpoint (POST /token): checks the RS256 JWT-bearer assertion
//     against the service account's public key and its claims (iss, scope, aud, iat, exp),
//     then hands out an access token;
//   - FCM HTTP v1 (POST /v1/projects/<project>/messages:send): checks the Bearer token is one
//     it issued, records the message, answers as the test scripted for that device token
//     (200 by default; a status with FCM's error body and headers; or 'hang': never answers);
//   - a Web Push service (POST /wp/<id>): records headers and the encrypted body, answers 201
//     or as scripted.
//
// Contract: makePki(dir) -> {caFile, key, cert}; serviceAccount(dir, tokenUri) -> {file,
// json, publicKey}; new PushFake({pki, account}).start(port); fake.url; fake.messages (FCM:
// {t, at, token, message, auth}; t ms since the fake started, at performance.now() of this
// process), fake.webpush ({t, at, id, headers, body}), fake.tokenRequests
// ({t, claims, ok, why}), fake.errors (what it refused: every check failure is recorded there
// and the test asserts it stays empty); fake.script(token, fn) where fn(msg, n) returns a
// response {status, headers, body} or 'hang' for the n-th (0-based) request to that token or
// Web Push id (default 200/201); fake.waitFor(pred, ms, what); fake.close().

import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

export const PROJECT = 'parley-push-test';
export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

function b64urlDecode(s) { return Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64'); }

// A CA and a certificate for 127.0.0.1 signed by it.
export function makePki(dir) {
  const run = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key',
    '-out', 'ca.pem', '-days', '2', '-subj', '/CN=parley push test CA');
  run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr',
    '-subj', '/CN=127.0.0.1');
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem',
    '-days', '2', '-extfile', 'ext.cnf');
  return { caFile: path.join(dir, 'ca.pem'), key: fs.readFileSync(path.join(dir, 'srv.key')),
    cert: fs.readFileSync(path.join(dir, 'srv.pem')) };
}

// A Google-style service account with a fresh RSA key.
export function serviceAccount(dir, tokenUri) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const json = {
    type: 'service_account', project_id: PROJECT, private_key_id: 'test-key-1',
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    client_email: `parley-push@${PROJECT}.iam.gserviceaccount.com`, client_id: '1234567890',
    auth_uri: 'https://accounts.google.com/o/oauth2/auth', token_uri: tokenUri,
  };
  const file = path.join(dir, 'service-account.json');
  fs.writeFileSync(file, JSON.stringify(json, null, 2), { mode: 0o600 });
  return { file, json, publicKey };
}

function readBody(req) {
  return new Promise((resolve) => {
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => resolve(Buffer.concat(parts)));
  });
}

export class PushFake {
  constructor({ pki, account }) {
    this.pki = pki;
    this.account = account;
    this.messages = [];
    this.webpush = [];
    this.tokenRequests = [];
    this.errors = [];
    this.scripts = new Map();
    this.counts = new Map();
    this.issued = new Set();
    this.hung = [];
    this.t0 = Date.now();
    this.httpVersions = new Set();
  }

  script(key, fn) { this.scripts.set(key, fn); }

  // http1: an HTTP/1.1-only server (no h2 in ALPN), for comparison runs of the benchmark.
  start(port, { http1 = false } = {}) {
    const handler = (req, res) => this.handle(req, res).catch((e) => {
      this.errors.push(`handler: ${e.stack}`);
      try { res.writeHead(500); res.end(); } catch { /* gone */ }
    });
    const tls = { key: this.pki.key, cert: this.pki.cert };
    this.server = http1 ? https.createServer(tls, handler)
      : http2.createSecureServer({ ...tls, allowHTTP1: true }, handler);
    this.url = `https://127.0.0.1:${port}`;
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve(this));
    });
  }

  async handle(req, res) {
    const body = await readBody(req);
    this.httpVersions.add(req.httpVersion);
    const t = Date.now() - this.t0;
    if (req.method === 'POST' && req.url === '/token') return this.token(req, res, body, t);
    const m = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(req.url);
    if (req.method === 'POST' && m) return this.fcm(req, res, body, t, m[1]);
    const w = /^\/wp\/([A-Za-z0-9_-]+)$/.exec(req.url);
    if (req.method === 'POST' && w) return this.wp(req, res, body, t, w[1]);
    this.errors.push(`unexpected ${req.method} ${req.url}`);
    res.writeHead(404);
    res.end();
    return undefined;
  }

  // RFC 7523 assertion: RS256 over the account's key, claims as FCM wants them.
  checkAssertion(assertion) {
    const parts = (assertion || '').split('.');
    if (parts.length !== 3) return { why: 'assertion is not a JWS compact serialisation' };
    let header, claims;
    try {
      header = JSON.parse(b64urlDecode(parts[0]).toString());
      claims = JSON.parse(b64urlDecode(parts[1]).toString());
    } catch { return { why: 'assertion header or claims not JSON' }; }
    if (header.alg !== 'RS256') return { why: `alg ${header.alg}` };
    const ok = crypto.verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), this.account.publicKey,
      b64urlDecode(parts[2]));
    if (!ok) return { why: 'bad signature', claims };
    const now = Math.floor(Date.now() / 1000);
    const a = this.account.json;
    if (claims.iss !== a.client_email) return { why: `iss ${claims.iss}`, claims };
    if (claims.scope !== FCM_SCOPE) return { why: `scope ${claims.scope}`, claims };
    if (claims.aud !== a.token_uri) return { why: `aud ${claims.aud}`, claims };
    if (!(Math.abs(claims.iat - now) <= 60)) return { why: `iat ${claims.iat} vs now ${now}`, claims };
    if (claims.exp !== claims.iat + 3600) return { why: `exp ${claims.exp} (iat ${claims.iat})`, claims };
    return { ok: true, claims };
  }

  token(req, res, body, t) {
    const form = new URLSearchParams(body.toString());
    const type = req.headers['content-type'] || '';
    let v = { why: 'grant_type' };
    if (form.get('grant_type') === 'urn:ietf:params:oauth:grant-type:jwt-bearer') v = this.checkAssertion(form.get('assertion'));
    if (!type.startsWith('application/x-www-form-urlencoded')) v = { why: `content-type ${type}` };
    this.tokenRequests.push({ t, claims: v.claims, ok: !!v.ok, why: v.why });
    if (!v.ok) {
      this.errors.push(`token request refused: ${v.why}`);
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'invalid_grant', error_description: v.why }));
      return;
    }
    const at = `ya29.fake-${crypto.randomBytes(12).toString('hex')}`;
    this.issued.add(at);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ access_token: at, expires_in: 3599, token_type: 'Bearer' }));
  }

  answer(res, key, record) {
    const n = this.counts.get(key) || 0;
    this.counts.set(key, n + 1);
    const fn = this.scripts.get(key);
    const r = fn ? fn(record, n) : null;
    if (r === 'hang') {
      this.hung.push(res);
      return;
    }
    const status = r ? r.status : record.kind === 'webpush' ? 201 : 200;
    res.writeHead(status, { 'content-type': 'application/json', ...((r && r.headers) || {}) });
    if (r && r.body !== undefined) res.end(typeof r.body === 'string' ? r.body : JSON.stringify(r.body));
    else res.end(record.kind === 'webpush' ? '' : JSON.stringify({ name: `projects/${PROJECT}/messages/${n}` }));
  }

  fcm(req, res, body, t, project) {
    // A stream the HTTP/2 layer refused (RST_STREAM REFUSED_STREAM when the client opens more
    // streams than the server's limit) never reached the application: the client sends it
    // again, so it is not a message.
    if (req.aborted) return;
    const auth = req.headers.authorization || '';
    const bearer = auth.startsWith('Bearer ') ? auth.slice(7) : null;
    if (!bearer || !this.issued.has(bearer)) this.errors.push(`FCM send with Authorization "${auth.slice(0, 40)}"`);
    if (project !== PROJECT) this.errors.push(`FCM send for project ${project}`);
    let msg = null;
    try { msg = JSON.parse(body.toString()).message; } catch { this.errors.push(`FCM body not JSON (${body.length} bytes): ${body.toString().slice(0, 80)}`); }
    const token = msg && msg.token;
    const record = { kind: 'fcm', t, at: performance.now(), token, message: msg, auth: bearer, httpVersion: req.httpVersion };
    this.messages.push(record);
    this.answer(res, token, record);
  }

  wp(req, res, body, t, id) {
    if (req.aborted) return;
    const record = { kind: 'webpush', t, at: performance.now(), id, headers: { ...req.headers }, body, httpVersion: req.httpVersion };
    this.webpush.push(record);
    this.answer(res, id, record);
  }

  async waitFor(pred, ms, what) {
    const end = Date.now() + ms;
    for (;;) {
      const v = pred();
      if (v) return v;
      if (Date.now() > end) throw new Error(`push fake: timeout (${ms} ms) waiting for ${what}`);
      await sleep(20);
    }
  }

  forToken(token, type) {
    return this.messages.filter((m) => m.token === token && (!type || (m.message && m.message.data && m.message.data.type === type)));
  }

  close() {
    for (const r of this.hung) { try { r.stream ? r.stream.close() : r.destroy(); } catch { /* gone */ } }
    return new Promise((resolve) => { this.server.close(() => resolve()); setTimeout(resolve, 1000); });
  }
}

// FCM v1 error bodies, as Google sends them.
export function fcmError(status, code, rpcStatus) {
  return {
    status,
    body: { error: { code: status, message: code, status: rpcStatus,
      details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: code }] } },
  };
}

// Server flags that point parley's push service at the fake.
export function pushArgs(fake, account, pki, extra = []) {
  return [`--push.fcm_service_account=${account.file}`, `--push.fcm_endpoint=${fake.url}`,
    `--push.fcm_token_endpoint=${fake.url}/token`, `--push.ca_file=${pki.caFile}`, ...extra];
}

// The Prometheus sample `name{labels}` from the admin port's /metrics (0 when absent).
export async function metric(srv, sample) {
  const text = await (await fetch(`http://127.0.0.1:${srv.ports.admin}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.split(' ')[1]) : 0;
}
