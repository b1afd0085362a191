// Record REST exchanges for openapi_validate.test.mjs.
//
// Contract: traceResponse(method, url, requestBody, response, bodyText) appends one JSON line
// {method, url, status, headers, body, request, source} to the file named by the environment
// variable PARLEY_API_TRACE, and does nothing when it is unset. Synchronous append, so lines
// of concurrent calls never interleave within a process.

import fs from 'node:fs';
import path from 'node:path';

const HEADERS = ['content-type', 'cache-control', 'retry-after', 'idempotent-replayed'];

export function traceResponse(method, url, requestBody, response, bodyText) {
  const file = process.env.PARLEY_API_TRACE;
  if (!file) return;
  const headers = {};
  for (const h of HEADERS) {
    const v = response.headers.get(h);
    if (v !== null) headers[h] = v;
  }
  fs.appendFileSync(file, JSON.stringify({
    method, url: String(url), status: response.status, headers, body: bodyText,
    request: requestBody === undefined ? null : requestBody,
    source: path.basename(process.argv[1] || 'node'),
  }) + '\n');
}

// The same for a response seen by Playwright in a browser page (page.on('response')): only
// /api/v1 URLs; resolves once the line is written (await them before closing the browser).
export async function tracePlaywrightResponse(response) {
  if (!process.env.PARLEY_API_TRACE || !new URL(response.url()).pathname.startsWith('/api/v1')) return;
  let body;
  try { body = await response.text(); } catch { return; }   // page gone: nothing to check
  const req = response.request();
  const h = response.headers();
  traceResponse(req.method(), response.url(), req.postData() ?? undefined,
    { status: response.status(), headers: { get: (k) => (k in h ? h[k] : null) } }, body);
}
