#!/usr/bin/env node
// openapi_validate: every REST response the REST tests receive matches the OpenAPI document.
//
// 1. web/openapi.yaml (docs/openapi.yaml links to it) must be a valid OpenAPI 3.1 document
//    (official schema, @seriousme/openapi-schema-validator).
// 2. Runs the REST tests as children with PARLEY_API_TRACE set, on ports of their own:
//    platform_api.test.py (every endpoint, its errors, webhook, rate limits, crash/restart;
//    it also checks that GET /api/v1/openapi.yaml serves this file byte for byte) and
//    platform_presence.test.mjs (availability) and abuse_files.test.py (the refused purchase
//    without a provider, login throttling), and the chat tests that call REST:
//    chat_browser, chat_aiortc, chat_money, chat_bad_input (conversations, messages, reads,
//    blocks, wallets; on their own ports, indexes 16-19 and 38; each may skip without a
//    network namespace or a browser), and the push tests push_fcm and push_chat (push tokens,
//    GET /me/push-token after a dead token; indexes 46, 47, 39). Each records every response
//    it receives.
//    (The browser tests' REST calls: openapi_validate_browser.test.mjs.)
// 3. Checks every recorded /api/v1 response against the document (lib/openapi.mjs): listed
//    path + method + status, Content-Type, body schema (Ajv, JSON Schema 2020-12), error
//    code in the response's x-error-codes, documented headers; unlisted paths must answer
//    404 and unlisted methods 405; accepted request bodies must satisfy the requestBody.
// Fails on any mismatch (printed, grouped) or if a child test fails; prints how many
// responses were validated and which documented operations no test exercised.
// Exit 0 pass, 77 skip (parley only: Janus has no platform API), 1 fail.

import { runOpenapiValidation } from './lib/openapi_run.mjs';
import { target } from './lib/server.mjs';

if (target() !== 'parley') {
  console.log('SKIP: the platform REST API (/api/v1) exists only in parley');
  process.exit(77);
}

// Ports away from the children's defaults, so this test may run next to them.
process.exit(await runOpenapiValidation([
  { file: 'platform_api.test.py', cmd: ['/usr/bin/python3'],
    env: { PARLEY_API_PORT_BASE: '18400', PARLEY_API_RTP_BASE: '34000' } },
  { file: 'platform_presence.test.mjs', cmd: [process.execPath],
    env: { PARLEY_PORT_BASE: '18430', PARLEY_RTP_BASE: '34300' } },
  { file: 'abuse_files.test.py', cmd: ['/usr/bin/python3'], mayskip: true, env: {} },
  { file: 'chat_browser.test.mjs', cmd: [process.execPath], mayskip: true, env: {} },
  { file: 'chat_aiortc.test.mjs', cmd: [process.execPath], mayskip: true, env: {} },
  { file: 'chat_money.test.mjs', cmd: [process.execPath], mayskip: true, env: {} },
  { file: 'chat_bad_input.test.mjs', cmd: [process.execPath], mayskip: true, env: {} },
  { file: 'push_fcm.test.mjs', cmd: [process.execPath], mayskip: true, env: {} },
  { file: 'push_chat.test.mjs', cmd: [process.execPath], mayskip: true, env: {} },
]));
