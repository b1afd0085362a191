#!/usr/bin/env node
// openapi_validate: every REST response the REST tests receive matches the OpenAPI document.
//
// 1. web/openapi.yaml (docs/openapi.yaml links to it) must be a valid OpenAPI 3.1 document
//    (official schema, @seriousme/openapi-schema-validator).
// 2. Runs the REST tests as children with PARLEY_API_TRACE set, on ports of their own:
//    platform_api.test.py (every endpoint, its errors, webhook, rate limits, crash/restart;
//    it also checks that GET /api/v1/openapi.yaml serves this file byte for byte),
//    platform_presence.test.mjs (availability) and demo_page.test.mjs (the demo page's own
//    calls from Chromium: register, login, refresh mid-call; it may skip without a network
//    namespace or a browser). Each records every response it receives.
// 3. Checks every recorded /api/v1 response against the document (lib/openapi.mjs): listed
//    path + method + status, Content-Type, body schema (Ajv, JSON Schema 2020-12), error
//    code in the response's x-error-codes, documented headers; unlisted paths must answer
//    404 and unlisted methods 405; accepted request bodies must satisfy the requestBody.
// Fails on any mismatch (printed, grouped) or if a child test fails; prints how many
// responses were validated and which documented operations no test exercised.
// Exit 0 pass, 77 skip (parley only: Janus has no platform API), 1 fail.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadContract } from './lib/openapi.mjs';
import { repoRoot, target } from './lib/server.mjs';

if (target() !== 'parley') {
  console.log('SKIP: the platform REST API (/api/v1) exists only in parley');
  process.exit(77);
}

const HERE = path.dirname(new URL(import.meta.url).pathname);
const DOC = path.join(repoRoot(), 'web', 'openapi.yaml');

// Ports away from the children's defaults, so this test may run next to them.
const CHILDREN = [
  { file: 'platform_api.test.py', cmd: ['/usr/bin/python3'],
    env: { PARLEY_API_PORT_BASE: '18400', PARLEY_API_RTP_BASE: '34000' } },
  { file: 'platform_presence.test.mjs', cmd: [process.execPath],
    env: { PARLEY_PORT_BASE: '18430', PARLEY_RTP_BASE: '34300' } },
  // The demo page's own REST calls from Chromium (skips without a namespace or browser).
  { file: 'demo_page.test.mjs', cmd: [process.execPath], mayskip: true,
    env: { PARLEY_PORT_BASE: '18440', PARLEY_RTP_BASE: '34400' } },
];

const contract = await loadContract(DOC);
if (contract.documentErrors.length) {
  console.error(`${DOC} is not a valid OpenAPI 3.1 document:`);
  console.error(JSON.stringify(contract.documentErrors, null, 1).slice(0, 4000));
  process.exit(1);
}
console.log(`document: ${path.relative(repoRoot(), DOC)} valid OpenAPI ${contract.doc.openapi}, ` +
  `${contract.operations.length} operations`);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'it-openapi-'));
const trace = path.join(dir, 'trace.jsonl');
fs.writeFileSync(trace, '');
let failed = false;
for (const c of CHILDREN) {
  const t0 = Date.now();
  const r = spawnSync(c.cmd[0], [...c.cmd.slice(1), path.join(HERE, c.file)], {
    env: { ...process.env, ...c.env, PARLEY_API_TRACE: trace }, encoding: 'utf8',
    maxBuffer: 64 << 20, timeout: 170_000,
  });
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  if (r.status === 77 && c.mayskip) {
    const why = (r.stdout.match(/^SKIP:? *(.*)$/m) || [])[1] || 'no reason given';
    console.log(`child ${c.file}: skipped (${why}); its responses are not checked`);
  } else if (r.status !== 0) {
    failed = true;
    console.error(`child ${c.file} exited ${r.status ?? r.signal} after ${secs} s:`);
    console.error(`${r.stdout}\n${r.stderr}`.split('\n').slice(-60).join('\n'));
  } else {
    console.log(`child ${c.file}: passed (${secs} s)`);
  }
}

const records = fs.readFileSync(trace, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const byProblem = new Map();
const seen = new Map();
let validated = 0;
let outside = 0;
for (const rec of records) {
  const res = contract.check(rec);
  if (res === null) { outside++; continue; }
  validated++;
  seen.set(res.op, (seen.get(res.op) || 0) + 1);
  for (const p of res.problems) {
    const key = p.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, '<time>');
    if (!byProblem.has(key)) byProblem.set(key, { count: 0, rec });
    byProblem.get(key).count++;
  }
}

const missing = [];
for (const { op } of contract.operations) {
  const hits = [...seen.keys()].filter((k) => k.startsWith(op + ' '));
  if (!hits.length) missing.push(op);
}
const statuses = [...seen.keys()].filter((k) => !k.startsWith('(')).length;
console.log(`responses: ${records.length} recorded, ${validated} validated against the document ` +
  `(${seen.size} operation/status pairs, ${statuses} of them documented responses), ` +
  `${outside} outside /api/v1 (admin port) not checked`);
const perSource = {};
for (const rec of records) perSource[rec.source] = (perSource[rec.source] || 0) + 1;
console.log(`recorded per test: ${Object.entries(perSource).map(([k, v]) => `${k} ${v}`).join(', ')}`);
if (missing.length) console.log(`operations no test exercised: ${missing.join(', ')}`);
const documented = contract.operations.flatMap(({ op, statuses }) => statuses.map((st) => `${op} ${st}`));
const unexercised = documented.filter((k) => !seen.has(k));
console.log(`documented responses exercised: ${documented.length - unexercised.length} of ` +
  `${documented.length} (not: ${unexercised.filter((k) => !/ 50[03]$/.test(k)).join(', ') || 'none'}, ` +
  `and the 500/503 answers)`);

if (byProblem.size) {
  failed = true;
  console.error(`${byProblem.size} distinct mismatches:`);
  for (const [p, { count, rec }] of [...byProblem.entries()].slice(0, 60)) {
    console.error(`- ${p}  (x${count}; from ${rec.source}; body ${String(rec.body).slice(0, 200)})`);
  }
}
// The checker must be able to fail: real responses, altered, must be rejected.
const inApi = records.filter((r) => contract.check(r) !== null);
const okJson = inApi.find((r) => r.status === 200 && /^\{/.test(r.body) &&
  (r.headers['content-type'] || '').startsWith('application/json'));
const anError = inApi.find((r) => r.status === 401 && /"error"/.test(r.body));
const mutants = [
  okJson && { ...okJson, body: JSON.stringify({ ...JSON.parse(okJson.body), undocumented: 1 }) },
  okJson && { ...okJson, status: 299 },
  anError && { ...anError, body: anError.body.replace(/"code":"[a-z_]+"/, '"code":"no_such_code"') },
  okJson && { ...okJson, headers: { ...okJson.headers, 'content-type': 'text/html' } },
].filter(Boolean);
const accepted = mutants.filter((m) => contract.check(m).problems.length === 0);
if (mutants.length < 4 || accepted.length) {
  failed = true;
  console.error(`self-check: ${accepted.length} of ${mutants.length} altered responses were accepted`);
} else {
  console.log(`self-check: ${mutants.length} altered responses rejected`);
}
if (validated === 0) {
  failed = true;
  console.error('no response was recorded: is PARLEY_API_TRACE honoured by the REST tests?');
}
if (failed) {
  console.error(`(trace kept in ${trace})`);
  process.exit(1);
}
fs.rmSync(dir, { recursive: true, force: true });
console.log('ok');
