#!/usr/bin/env node
// openapi_validate_browser: the REST responses of the browser tests match the OpenAPI
// document (web/openapi.yaml), like openapi_validate does for the REST tests.
//
// Runs as children, with PARLEY_API_TRACE set: demo_page.test.mjs (the demo page's own calls
// from Chromium: register, login, refresh mid-call, on its own ports), turn_relay.test.mjs
// (login, GET /ice-servers with and without a token) and metrics.test.mjs (register, login,
// purchase) and calls_browser.test.mjs (register, login, GET /calls after a call), the last
// three on their usual ports (they use several port sets each). web_app is not a child: with
// it the whole run outgrows the per-test timeout on a loaded 2-core machine. Each may
// skip (no network namespace, no browser, no coturn); what it recorded before is still checked.
// Every recorded /api/v1 response is checked as in lib/openapi.mjs.
// Exit 0 pass, 77 skip (Janus target, or every child skipped), 1 fail.

import { runOpenapiValidation } from './lib/openapi_run.mjs';
import { target } from './lib/server.mjs';

if (target() !== 'parley') {
  console.log('SKIP: the platform REST API (/api/v1) exists only in parley');
  process.exit(77);
}

process.exit(await runOpenapiValidation([
  { file: 'demo_page.test.mjs', cmd: [process.execPath], mayskip: true,
    env: { PARLEY_PORT_BASE: '18440', PARLEY_RTP_BASE: '34400' } },
  { file: 'turn_relay.test.mjs', cmd: [process.execPath], mayskip: true, env: {} },
  { file: 'metrics.test.mjs', cmd: [process.execPath], mayskip: true, env: {} },
  { file: 'calls_browser.test.mjs', cmd: [process.execPath], mayskip: true, env: {} },
]));
