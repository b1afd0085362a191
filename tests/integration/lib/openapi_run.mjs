// Run REST-calling integration tests as children with PARLEY_API_TRACE set and check every
// response they record against the OpenAPI document (lib/openapi.mjs does the checking).
//
// Contract: runOpenapiValidation(children) -> exit status (0 pass, 1 fail, 77 when every
// child skipped). children: [{file, cmd: [interpreter], env: {...}, mayskip}]; a child that
// fails fails the run, one that exits 77 is skipped only when mayskip. Prints the document
// check, each child's outcome, how many responses were validated (per test), which
// documented responses no child exercised, a self-check (altered real responses must be
// rejected) and every distinct mismatch. Used by openapi_validate*.test.mjs.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadContract } from './openapi.mjs';
import { repoRoot } from './server.mjs';

const HERE = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const DOC = path.join(repoRoot(), 'web', 'openapi.yaml');

export async function runOpenapiValidation(children) {
  // run.sh kills a test after PARLEY_TEST_TIMEOUT s: children get what is left of it, so a
  // slow child is reported here (with its output) rather than the whole test being killed.
  const deadline = Date.now() + (Number(process.env.PARLEY_TEST_TIMEOUT || 180) - 15) * 1000;
  const contract = await loadContract(DOC);
  if (contract.documentErrors.length) {
    console.error(`${DOC} is not a valid OpenAPI 3.1 document:`);
    console.error(JSON.stringify(contract.documentErrors, null, 1).slice(0, 4000));
    return 1;
  }
  console.log(`document: ${path.relative(repoRoot(), DOC)} valid OpenAPI ${contract.doc.openapi}, ` +
    `${contract.operations.length} operations`);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'it-openapi-'));
  const trace = path.join(dir, 'trace.jsonl');
  fs.writeFileSync(trace, '');
  let failed = false;
  let ran = 0;
  const skipped = [];
  for (const c of children) {
    const t0 = Date.now();
    // timeout(1) signals the child's whole process group: its server and browser go too.
    const budget = Math.max(5, Math.floor((deadline - Date.now()) / 1000));
    const r = spawnSync('timeout', ['--kill-after=5', String(budget), ...c.cmd,
      path.join(HERE, c.file)], {
      env: { ...process.env, ...c.env, PARLEY_API_TRACE: trace }, encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    if (r.status === 124 || r.status === 137) r.signal = `on the timeout (${budget} s left of PARLEY_TEST_TIMEOUT)`;
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    if (r.status === 77 && c.mayskip) {
      const why = (r.stdout.match(/^SKIP:? *(.*)$/m) || [])[1] || 'no reason given';
      console.log(`child ${c.file}: skipped (${why}); what it recorded before is still checked`);
      skipped.push(`${c.file}: ${why}`);
    } else if (r.status !== 0) {
      failed = true;
      console.error(`child ${c.file} exited ${r.signal || r.status} after ${secs} s:`);
      console.error(`${r.stdout}\n${r.stderr}`.split('\n').slice(-60).join('\n'));
    } else {
      ran++;
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
  if (missing.length) console.log(`operations these tests did not exercise: ${missing.length}`);
  const documented = contract.operations.flatMap(({ op, statuses }) => statuses.map((st) => `${op} ${st}`));
  const unexercised = documented.filter((k) => !seen.has(k));
  console.log(`documented responses exercised: ${documented.length - unexercised.length} of ` +
    `${documented.length}` + (() => {
      const rest = unexercised.filter((k) => !/ 50[03]$/.test(k));
      return rest.length > 12 ? '' : ` (not: ${rest.join(', ') || 'none'}, and the 500/503 answers)`;
    })());

  if (byProblem.size) {
    failed = true;
    console.error(`${byProblem.size} distinct mismatches:`);
    for (const [p, { count, rec }] of [...byProblem.entries()].slice(0, 60)) {
      console.error(`- ${p}  (x${count}; from ${rec.source}; body ${String(rec.body).slice(0, 200)})`);
    }
  }
  // The checker must be able to fail: real responses, altered, must be rejected.
  const inApi = records.filter((r) => contract.check(r) !== null);
  const okJson = inApi.find((r) => r.status >= 200 && r.status < 300 && /^\{/.test(r.body) &&
    (r.headers['content-type'] || '').startsWith('application/json'));
  const anError = inApi.find((r) => r.status === 401 && /"error"/.test(r.body));
  const mutants = [
    okJson && { ...okJson, body: JSON.stringify({ ...JSON.parse(okJson.body), undocumented: 1 }) },
    okJson && { ...okJson, status: 299 },
    anError && { ...anError, body: anError.body.replace(/"code":"[a-z_]+"/, '"code":"no_such_code"') },
    okJson && { ...okJson, headers: { ...okJson.headers, 'content-type': 'text/html' } },
  ].filter(Boolean);
  const accepted = mutants.filter((m) => contract.check(m).problems.length === 0);
  if ((validated > 0 && mutants.length === 0) || accepted.length) {
    failed = true;
    console.error(`self-check: ${accepted.length} of ${mutants.length} altered responses were accepted`);
  } else {
    console.log(`self-check: ${mutants.length} altered responses rejected`);
  }
  if (!failed && ran === 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    console.log(`SKIP: every child test skipped (${skipped.join('; ')})`);
    return 77;
  }
  if (validated === 0) {
    failed = true;
    console.error('no response was recorded: is PARLEY_API_TRACE honoured by the REST tests?');
  }
  if (failed) {
    console.error(`(trace kept in ${trace})`);
    return 1;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  console.log('ok');
  return 0;
}
