#!/usr/bin/env node
// Bad input on every door while a good call runs:
//  - HTTP and WebSocket Janus requests that are malformed in each way Janus 1.1.2 names
//    (454 not JSON / too deep, 455 not an object (also a jsep), 456 missing element, 457
//    unhandled at this path, 453 unknown verb on a session, 458/459/460 unknown s/h/plugin,
//    464 bad JSEP type, 465 invalid SDP, 467 wrong element type): the exact code, with the
//    request's transaction echoed;
//  - an oversize body (parley: HTTP 413 or a Janus error; Janus 1.1.2 has no limit);
//  - WebSocket garbage: binary and invalid UTF-8 frames, protocol violations, a frame that
//    claims 2^40 bytes, random bytes;
//  - a bounded flood of garbage UDP, fake STUN (wrong and right ufrag, no valid integrity),
//    fake RTP/RTCP and DTLS-looking records at the server's media ports and its whole RTP
//    range,
// while a janus.js echotest in Chromium keeps receiving audio and video and echoing data.
// Without a network namespace only the signalling part runs (said on stdout).

import crypto from 'node:crypto';
import dgram from 'node:dgram';
import { openBrowser, browserAvailable } from './lib/browser.mjs';
import { checkMediaFlowing, sleep } from './lib/echotest.mjs';
import { assert, target, withServer } from './lib/server.mjs';
import { wsConnect } from './lib/wsraw.mjs';

async function post(srv, path, body, init = {}) {
  const r = await fetch(srv.httpUrl + path, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), ...init });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* checked by the caller */ }
  return { status: r.status, json, text };
}

// Mismatches are collected so one run lists all of them; flush() fails the test if any.
const mismatches = [];

function expectError(where, resp, code, transaction) {
  const j = resp.json;
  if (!(j && j.janus === 'error' && j.error && j.error.code === code)) {
    mismatches.push(`${where}: want error ${code}, got ${resp.status === "ws" ? "" : `HTTP ${resp.status} `}${String(resp.text).slice(0, 160)}`);
  } else if (typeof j.error.reason !== 'string' || j.error.reason.length === 0) {
    mismatches.push(`${where}: error without reason`);
  } else if (transaction !== undefined && j.transaction !== transaction) {
    mismatches.push(`${where}: transaction ${j.transaction} != ${transaction}`);
  }
}

function flush(what) {
  assert(mismatches.length === 0, `${what}:\n  ${mismatches.join('\n  ')}`);
}

async function httpCases(srv) {
  const c = await post(srv, '', { janus: 'create', transaction: 'c1' });
  assert(c.json && c.json.janus === 'success', `create: ${c.text}`);
  const sid = c.json.data.id;
  const a = await post(srv, `/${sid}`, { janus: 'attach', plugin: 'janus.plugin.echotest', transaction: 'a1' });
  assert(a.json && a.json.janus === 'success', `attach: ${a.text}`);
  const hid = a.json.data.id;
  const S = `/${sid}`;
  const H = `/${sid}/${hid}`;
  const deep = (o, c, n) => o.repeat(n) + c.repeat(n);
  const cases = [
    ['not JSON', '', 'this is not json', 454],
    ['JSON string', '', '"just a string"', 454],
    ['JSON array', '', '[1,2,3]', 455],
    ['no transaction', '', { janus: 'create' }, 456],
    ['no janus', '', { transaction: 't1' }, 456], // Janus omits the transaction here
    ['unknown verb at root', '', { janus: 'bogus', transaction: 't2' }, 457, 't2'],
    ['janus is a number', '', { janus: 42, transaction: 't3' }, 467], // no transaction from Janus
    ['non-numeric session', '/abc', { janus: 'keepalive', transaction: 't4' }, 457, 't4'],
    ['non-numeric handle', `${S}/abc`, { janus: 'message', body: {}, transaction: 't5' }, 457, 't5'],
    ['unknown session', '/123', { janus: 'keepalive', transaction: 't6' }, 458, 't6'],
    ['unknown verb on session', S, { janus: 'bogus', transaction: 't7' }, 453, 't7'],
    ['unknown handle', `${S}/999`, { janus: 'message', body: {}, transaction: 't8' }, 459, 't8'],
    ['unknown plugin', S, { janus: 'attach', plugin: 'janus.plugin.nope', transaction: 't9' }, 460, 't9'],
    ['attach without plugin', S, { janus: 'attach', transaction: 't10' }, 456, 't10'],
    ['plugin is a number', S, { janus: 'attach', plugin: 5, transaction: 't11' }, 467, 't11'],
    ['message without body', H, { janus: 'message', transaction: 't12' }, 456, 't12'],
    ['body is a string', H, { janus: 'message', body: 'str', transaction: 't13' }, 467, 't13'],
    ['bad jsep type', H, { janus: 'message', body: {}, jsep: { type: 'bogus', sdp: 'v=0' }, transaction: 't14' }, 464, 't14'],
    ['invalid SDP', H, { janus: 'message', body: {}, jsep: { type: 'offer', sdp: 'garbage' }, transaction: 't15' }, 465, 't15'],
    ['jsep is a string', H, { janus: 'message', body: {}, jsep: 'str', transaction: 't19' }, 455, 't19'],
    ['jsep without sdp', H, { janus: 'message', body: {}, jsep: { type: 'offer' }, transaction: 't16' }, 456, 't16'],
    ['sdp is a number', H, { janus: 'message', body: {}, jsep: { type: 'offer', sdp: 5 }, transaction: 't17' }, 467, 't17'],
    ['trickle without candidate', H, { janus: 'trickle', transaction: 't18' }, 456, 't18'],
    ['transaction is a number', '', { janus: 'create', transaction: 42 }, 467],
    ['deeply nested array', '', deep('[', ']', 5000), 454],
    ['deeply nested object', '', deep('{"a":', '}', 5000).replace(/:}/, ':1}'), 454],
  ];
  for (const [name, path, body, code, tx] of cases) {
    expectError(`HTTP ${name}`, await post(srv, path, body), code, tx);
  }
  // Long-poll on sessions that do not exist: Janus answers HTTP 404 without a body; a
  // Janus error (457 bad id, 458 no session) is as clear to clients.
  for (const [p, code] of [['/abc?maxev=1', 457], ['/123?maxev=1', 458]]) {
    const r = await fetch(srv.httpUrl + p);
    const text = await r.text();
    let j = null;
    try { j = JSON.parse(text); } catch { /* 404 has no JSON */ }
    assert(r.status === 404 || (j && j.janus === 'error' && j.error.code === code), `GET ${p}: HTTP ${r.status} ${text.slice(0, 200)}`);
  }
  // Oversize body: our server limits bodies (http.max_body, 1 MiB); Janus 1.1.2 does not.
  const big = JSON.stringify({ janus: 'create', transaction: 'big', pad: 'x'.repeat(3_000_000) });
  const o = await post(srv, '', big).catch((e) => ({ status: 0, text: `connection error ${e.message}`, json: null }));
  if (target() === 'janus') {
    console.log(`oversize body: Janus answered ${o.json && o.json.janus} (no limit there; not checked)`);
  } else {
    assert(o.status === 413 || o.status === 0 || (o.json && o.json.janus === 'error'), `oversize body accepted: HTTP ${o.status} ${o.text.slice(0, 200)}`);
  }
  // The session still works after all that.
  const k = await post(srv, S, { janus: 'keepalive', transaction: 'k1' });
  assert(k.json && k.json.janus === 'ack' && k.json.transaction === 'k1', `keepalive after bad input: ${k.text}`);
  const d = await post(srv, S, { janus: 'destroy', transaction: 'd1' });
  assert(d.json && d.json.janus === 'success', `destroy: ${d.text}`);
  return cases.length + 3;
}

async function wsCases(srv) {
  const c = await wsConnect(srv.ports.ws);
  const wrap = (m) => ({ json: m, text: JSON.stringify(m), status: 'ws' });
  const cr = await c.request({ janus: 'create' });
  assert(cr && cr.janus === 'success', `ws create: ${JSON.stringify(cr)}`);
  const sid = cr.data.id;
  const at = await c.request({ janus: 'attach', session_id: sid, plugin: 'janus.plugin.echotest' });
  assert(at && at.janus === 'success', `ws attach: ${JSON.stringify(at)}`);
  const hid = at.data.id;
  // Errors Janus sends without the transaction: read as the next message.
  const texts = [['not JSON', 'this is not json', 454], ['nested', '['.repeat(5000) + ']'.repeat(5000), 454],
    ['janus is a number', '{"janus":7,"transaction":"n1"}', 467]];
  for (const [name, t, code] of texts) {
    c.send(t);
    expectError(`WS ${name}`, wrap(await c.next(3000)), code);
  }
  const cases = [
    ['unknown verb at root', { janus: 'bogus' }, 457],
    ['keepalive without session', { janus: 'keepalive' }, 457],
    ['non-numeric session', { janus: 'attach', session_id: 'abc', plugin: 'janus.plugin.echotest' }, 457],
    ['unknown session', { janus: 'keepalive', session_id: 1 }, 458],
    ['unknown handle', { janus: 'message', session_id: sid, handle_id: 9, body: {} }, 459],
    ['unknown plugin', { janus: 'attach', session_id: sid, plugin: 'janus.plugin.nope' }, 460],
    ['bad jsep type', { janus: 'message', session_id: sid, handle_id: hid, body: {}, jsep: { type: 'bogus', sdp: 'v=0' } }, 464],
    ['invalid SDP', { janus: 'message', session_id: sid, handle_id: hid, body: {}, jsep: { type: 'offer', sdp: 'garbage' } }, 465],
    ['body is a string', { janus: 'message', session_id: sid, handle_id: hid, body: 'str' }, 467],
  ];
  for (const [name, msg, code] of cases) {
    const tx = crypto.randomBytes(4).toString('hex');
    expectError(`WS ${name}`, wrap(await c.request({ ...msg, transaction: tx }, { ms: 3000 })), code, tx);
  }
  const k = await c.request({ janus: 'keepalive', session_id: sid });
  assert(k && k.janus === 'ack', `ws keepalive after bad input: ${JSON.stringify(k)}`);
  c.close();
  return texts.length + cases.length;
}

// Each garbage case gets its own connection; afterwards a fresh connection must be served.
async function wsGarbage(srv) {
  const cases = {
    'binary garbage': [(c) => c.frame(0x2, crypto.randomBytes(300)), 'error-or-close'],
    'invalid UTF-8 text': [(c) => c.frame(0x1, Buffer.from([0xff, 0xfe, 0x7b, 0x22, 0xc3, 0x28])), 'error-or-close'],
    'control bytes text': [(c) => c.send('\u0000\u0001 garbage }{'), 'error'],
    'reserved opcode': [(c) => c.frame(0x3, Buffer.from('hello')), 'no-success'],
    'RSV bits set': [(c) => c.frame(0x1, Buffer.from('{"janus":"info","transaction":"r"}'), { rsv: 7 }), 'no-success'],
    'length 2^40': [(c) => c.frame(0x1, Buffer.from('abc'), { lengthOverride: 2 ** 40 }), 'no-success'],
    'unfinished fragment': [(c) => c.frame(0x1, Buffer.from('{"janus":'), { fin: false }), 'no-success'],
    'oversize ping': [(c) => c.frame(0x9, crypto.randomBytes(200)), 'no-success'],
    'random bytes': [(c) => c.raw(crypto.randomBytes(4000)), 'no-success'],
  };
  for (const [name, [send, want]] of Object.entries(cases)) {
    const c = await wsConnect(srv.ports.ws);
    send(c);
    const m = await c.next(1500);
    if (want === 'error') {
      assert(m && m.janus === 'error' && m.error.code === 454, `WS ${name}: ${JSON.stringify(m)}`);
      const again = await c.request({ janus: 'info' }, { ms: 3000 });
      assert(again && again.janus === 'server_info', `WS ${name}: connection unusable afterwards`);
    } else if (want === 'error-or-close') {
      assert((m && m.janus === 'error' && m.error.code === 454) || (m === null && c.isClosed()), `WS ${name}: ${JSON.stringify(m)}`);
    } else {
      assert(!m || m.janus !== 'server_info', `WS ${name}: garbage was treated as a request: ${JSON.stringify(m)}`);
    }
    c.close();
    const d = await wsConnect(srv.ports.ws);
    const r = await d.request({ janus: 'info' }, { ms: 3000 });
    assert(r && r.janus === 'server_info', `server stopped answering WebSocket after "${name}"`);
    d.close();
  }
  if (target() !== 'janus') {
    const c = await wsConnect(srv.ports.ws);
    c.json({ janus: 'create', transaction: 'big', pad: 'x'.repeat(3_000_000) });
    const m = await c.next(5000);
    assert(!m || m.janus !== 'success', 'oversize WebSocket message was accepted');
    c.close();
  }
  return Object.keys(cases).length;
}

function stunPacket(username) {
  const attrs = [];
  if (username) {
    const u = Buffer.from(username);
    const pad = (4 - (u.length % 4)) % 4;
    const h = Buffer.alloc(4); h.writeUInt16BE(0x0006, 0); h.writeUInt16BE(u.length, 2);
    attrs.push(h, u, Buffer.alloc(pad));
    // A MESSAGE-INTEGRITY of the right size but a wrong value.
    const mi = Buffer.alloc(4); mi.writeUInt16BE(0x0008, 0); mi.writeUInt16BE(20, 2);
    attrs.push(mi, crypto.randomBytes(20));
  }
  const body = Buffer.concat(attrs);
  const hdr = Buffer.alloc(20);
  hdr.writeUInt16BE(0x0001, 0); hdr.writeUInt16BE(body.length, 2); hdr.writeUInt32BE(0x2112A442, 4);
  crypto.randomBytes(12).copy(hdr, 8);
  return Buffer.concat([hdr, body]);
}

function fakeRtp(pt) {
  const p = crypto.randomBytes(200);
  p[0] = 0x80; p[1] = pt & 0x7f;
  return p;
}

function garbagePackets(ufrags) {
  const rtcp = crypto.randomBytes(60); rtcp[0] = 0x81; rtcp[1] = 200;
  const dtls = crypto.randomBytes(120); dtls[0] = 22; dtls[1] = 0xfe; dtls[2] = 0xfd;
  const dtlsApp = crypto.randomBytes(120); dtlsApp[0] = 23; dtlsApp[1] = 0xfe; dtlsApp[2] = 0xfd;
  return [
    crypto.randomBytes(1), crypto.randomBytes(37), crypto.randomBytes(1400),
    stunPacket(null), stunPacket('nobody:nothing'),
    stunPacket(`${ufrags.remote}:${ufrags.local}`), // the real ufrags, forged integrity
    fakeRtp(111), fakeRtp(96), rtcp, dtls, dtlsApp, Buffer.alloc(0),
  ];
}

// Sends bounded bursts for `ms`: to each server candidate port every 5 ms, and a sweep of the
// whole RTP range. Returns the number of packets sent.
async function udpFlood(targets, range, ufrags, ms) {
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const pkts = garbagePackets(ufrags);
  let sent = 0;
  const send = (buf, port, addr) => { sock.send(buf, port, addr); sent++; };
  const end = Date.now() + ms;
  let sweep = range.min;
  while (Date.now() < end) {
    for (const t of targets) for (const p of pkts) send(p, t.port, t.address);
    for (let i = 0; i < 10; i++) {
      send(pkts[(sweep + i) % pkts.length], sweep, '127.0.0.1');
      send(pkts[(sweep + i + 1) % pkts.length], sweep, '127.0.0.2');
      sweep = sweep >= range.max ? range.min : sweep + 1;
    }
    await sleep(5);
  }
  await new Promise((r) => sock.close(r));
  return sent;
}

await withServer({ index: 5 }, async (srv) => {
  const media = process.env.PARLEY_NETNS && !browserAvailable();
  let br = null;
  try {
    let targets = [];
    let ufrags = null;
    if (media) {
      br = await openBrowser();
      await br.page.evaluate((s) => window.echo.start({ server: s }), srv.wsUrl);
      await br.page.evaluate(() => window.echo.waitDataOpen());
      const s = await br.page.evaluate(() => window.echo.stats());
      ufrags = await br.page.evaluate(() => window.echo.iceUfrags());
      targets = s.remoteCandidates.filter((c) => c.protocol === 'udp' && /^\d+\.\d+\.\d+\.\d+$/.test(c.address));
      assert(targets.length > 0, `no server UDP candidates in stats: ${JSON.stringify(s.remoteCandidates)}`);
      assert(ufrags.local && ufrags.remote, `ufrags ${JSON.stringify(ufrags)}`);
    } else {
      console.log(`media part not run: ${process.env.PARLEY_NETNS ? browserAvailable() : 'no network namespace'}`);
    }
    const flood = media ? udpFlood(targets, { min: srv.ports.rtpMin, max: srv.ports.rtpMax }, ufrags, 6000) : null;
    const flowing = media ? checkMediaFlowing(br, 5, 'during the flood') : null;
    // Their failures are reported below; keep them from ending the process meanwhile.
    flood?.catch(() => {});
    flowing?.catch(() => {});
    const nHttp = await httpCases(srv);
    const nWs = await wsCases(srv);
    const nGarbage = await wsGarbage(srv);
    console.log(`signalling: ${nHttp} HTTP checks, ${nWs} WebSocket checks, ${nGarbage} WebSocket garbage cases passed`);
    if (media) {
      const [sent, flow] = await Promise.all([flood, flowing]);
      const after = await checkMediaFlowing(br, 2, 'after the flood');
      const rtt = await br.page.evaluate(() => window.echo.echoData(`after-flood-${Date.now()}`));
      const st = await br.page.evaluate(() => window.echo.state());
      assert(st.events.hangups.length === 0, `call went down: ${st.events.hangups.join(', ')}`);
      console.log(`UDP flood: ${sent} packets at ${targets.map((t) => `${t.address}:${t.port}`).join(', ')} and ports ` +
        `${srv.ports.rtpMin}-${srv.ports.rtpMax}; echotest kept ${flow.audioPps.toFixed(0)} audio / ${flow.videoPps.toFixed(0)} video pkt/s ` +
        `during it, ${after.audioPps.toFixed(0)} / ${after.videoPps.toFixed(0)} after; data echo rtt ${rtt.toFixed(1)} ms`);
    }
    flush('error replies that differ from Janus 1.1.2');
    const info = await fetch(`${srv.httpUrl}/info`);
    assert(info.ok, 'server gone at the end');
    assert(!srv.exited(), 'server exited');
  } catch (e) {
    if (br) console.error(`browser console (last 30):\n${br.console.slice(-30).join('\n')}`);
    throw e;
  } finally {
    if (br) await br.close();
  }
});
