// Check recorded HTTP exchanges against the OpenAPI document (web/openapi.yaml).
//
// Contract: loadContract(path) parses the YAML document, validates it against the official
// OpenAPI 3.1 schema (@seriousme/openapi-schema-validator) and compiles its JSON Schemas with
// Ajv (draft 2020-12, the dialect of OpenAPI 3.1; ajv-formats for date-time/date/email).
// contract.check(record) takes one recorded exchange {method, url, status, headers, body,
// request} and returns a list of problems (empty = it matches). What "matches" means:
//   - the URL's path (under the document's /api/v1) matches a path template and the method is
//     an operation there: the status must be listed in its responses, the Content-Type must
//     be the listed media type, a JSON body must validate against its schema, an error body's
//     code must be in the response's x-error-codes, listed headers must validate (required
//     ones must be present);
//   - a path that matches a template with an unlisted method must answer 405 as
//     components.responses.MethodNotAllowed; an unlisted path 404 as NotFound;
//   - for a 2xx answer, the request body that produced it must validate against the
//     operation's requestBody schema (so the document is not stricter than the server).
// Records outside /api/v1 (e.g. the admin port) are not this document's: check() returns null.
// Everything is synchronous after loadContract; nothing here touches the network.

import fs from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import YAML from 'yaml';

const DOC_ID = 'openapi.yaml';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

function pointer(parts) {
  return '#/' + parts.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
}

function templateRegex(template) {
  const src = template.split(/(\{[^}]+\})/).map((part) => (part.startsWith('{')
    ? '([^/]+)' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${src}$`);
}

export async function loadContract(file) {
  const text = fs.readFileSync(file, 'utf8');
  const doc = YAML.parse(text);
  const meta = new Validator();
  const res = await meta.validate(structuredClone(doc));
  const documentErrors = res.valid ? [] : res.errors;

  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  ajv.addFormat('int64', { type: 'number', validate: (n) => Number.isInteger(n) });
  ajv.addSchema(doc, DOC_ID);
  const compiled = new Map();
  const schemaAt = (parts) => {
    const ref = DOC_ID + pointer(parts);
    if (!compiled.has(ref)) compiled.set(ref, ajv.compile({ $ref: ref }));
    return compiled.get(ref);
  };

  const prefix = new URL(doc.servers.find((s) => s.url.startsWith('/')).url, 'http://x').pathname;
  const paths = Object.keys(doc.paths).map((t) => ({ template: t, re: templateRegex(t) }));

  // Follows a local $ref (Response objects); returns [object, its JSON-pointer parts].
  const deref = (obj, parts) => {
    while (obj && obj.$ref) {
      parts = obj.$ref.replace(/^#\//, '').split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
      obj = parts.reduce((o, k) => o[k], doc);
    }
    return [obj, parts];
  };

  const errText = (v) => ajv.errorsText(v.errors, { separator: '; ', dataVar: 'body' });

  function checkResponse(rec, respObj, parts, where) {
    const problems = [];
    const [resp, rparts] = deref(respObj, parts);
    const ctype = (rec.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
    const media = resp.content ? Object.keys(resp.content) : [];
    if (!media.length) {
      if (rec.body) problems.push(`${where}: a body where none is documented`);
    } else if (!media.includes(ctype)) {
      problems.push(`${where}: Content-Type ${ctype || '(none)'}, documented ${media.join(', ')}`);
    } else if (resp.content[ctype].schema) {
      let body = rec.body;
      if (ctype === 'application/json') {
        try { body = JSON.parse(rec.body); } catch { problems.push(`${where}: body is not JSON`); body = undefined; }
      }
      if (body !== undefined) {
        const v = schemaAt([...rparts, 'content', ctype, 'schema']);
        if (!v(body)) problems.push(`${where}: ${errText(v)}`);
        const codes = resp['x-error-codes'];
        const code = body && body.error && body.error.code;
        if (codes && !codes.includes(code)) {
          problems.push(`${where}: error code ${JSON.stringify(code)} not in x-error-codes [${codes.join(', ')}]`);
        }
      }
    }
    for (const [name, hObj] of Object.entries(resp.headers || {})) {
      const [h, hparts] = deref(hObj, [...rparts, 'headers', name]);
      const value = rec.headers[name.toLowerCase()];
      if (value === undefined) {
        if (h.required) problems.push(`${where}: required header ${name} missing`);
        continue;
      }
      const v = schemaAt([...hparts, 'schema']);
      const typed = h.schema && h.schema.type === 'integer' && /^-?\d+$/.test(value) ? Number(value) : value;
      if (!v(typed)) problems.push(`${where}: header ${name}: ${value}: ${errText(v)}`);
    }
    return problems;
  }

  function check(rec) {
    const url = new URL(rec.url);
    let path;
    try { path = decodeURIComponent(url.pathname); } catch { path = url.pathname; }
    path = path.split('\0')[0];   // the server's C strings end at a NUL
    if (path !== prefix && !path.startsWith(prefix + '/')) return null;
    path = path.slice(prefix.length);
    const method = rec.method.toLowerCase();
    const where = `${rec.method} ${url.pathname}${url.search} -> ${rec.status}`;
    const hit = paths.find((p) => p.re.test(path));
    if (!hit) {
      const r = rec.status === 404 ? checkResponse(rec, doc.components.responses.NotFound,
        ['components', 'responses', 'NotFound'], where) : [];
      return { op: `(unlisted path) 404`, problems: rec.status === 404 ? r : [`${where}: unlisted path must answer 404`] };
    }
    const item = doc.paths[hit.template];
    if (!METHODS.includes(method) || !item[method]) {
      const r = rec.status === 405 ? checkResponse(rec, doc.components.responses.MethodNotAllowed,
        ['components', 'responses', 'MethodNotAllowed'], where) : [];
      return { op: `(unlisted method) 405`, problems: rec.status === 405 ? r : [`${where}: unlisted method must answer 405`] };
    }
    const op = item[method];
    const opName = `${rec.method} ${hit.template}`;
    const status = String(rec.status);
    const respObj = op.responses[status] || op.responses[`${status[0]}XX`] || op.responses.default;
    if (!respObj) {
      return { op: `${opName} ${status}`, problems: [`${where}: status ${status} is not documented for ${opName}`] };
    }
    const problems = checkResponse(rec, respObj, ['paths', hit.template, method, 'responses', status], where);
    if (rec.status < 300 && op.requestBody && rec.request != null) {
      const ct = Object.keys(op.requestBody.content)[0];
      let reqBody;
      try { reqBody = JSON.parse(rec.request); } catch { reqBody = undefined; }
      if (reqBody === undefined) {
        problems.push(`${where}: accepted a request body that is not JSON`);
      } else {
        const v = schemaAt(['paths', hit.template, method, 'requestBody', 'content', ct, 'schema']);
        if (!v(reqBody)) problems.push(`${where}: the accepted request body fails the documented requestBody: ${errText(v).replace(/\bbody\b/g, 'request')}`);
      }
    }
    return { op: `${opName} ${status}`, problems };
  }

  const operations = [];
  for (const [t, item] of Object.entries(doc.paths)) {
    for (const m of METHODS) {
      if (item[m]) operations.push({ op: `${m.toUpperCase()} ${t}`, statuses: Object.keys(item[m].responses) });
    }
  }
  return { doc, text, documentErrors, check, operations, prefix };
}
