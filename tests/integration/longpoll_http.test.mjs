#!/usr/bin/env node
// HTTP long-poll semantics that janus.js and janus_client depend on (no WebRTC needed):
//  - GET /janus/<session> without maxev is held until an event exists and returns one
//    object; with maxev=N it returns a JSON array of the queued events, oldest first;
//  - detach answers success and queues {"janus":"detached","sender":handle};
//  - a plugin message without JSEP answers ack, and the plugin's event (same transaction,
//    plugindata) arrives on the long-poll;
//  - the long-poll counts as activity: keepalive answers ack.
import { sleep } from './lib/echotest.mjs';
import { assert, withServer } from './lib/server.mjs';

async function post(url, body) {
  const r = await fetch(url, { method: 'POST', body: JSON.stringify(body) });
  assert(r.ok, `POST ${url}: HTTP ${r.status}`);
  return r.json();
}

async function get(url) {
  const t = Date.now();
  const r = await fetch(url);
  assert(r.ok, `GET ${url}: HTTP ${r.status}`);
  return { json: await r.json(), ms: Date.now() - t };
}

await withServer({ index: 15 }, async (srv) => {
  const U = srv.httpUrl;
  const c = await post(U, { janus: 'create', transaction: 'c' });
  assert(c.janus === 'success' && c.data.id > 0, `create: ${JSON.stringify(c)}`);
  const S = `${U}/${c.data.id}`;
  const handles = [];
  for (let i = 0; i < 3; i++) {
    const a = await post(S, { janus: 'attach', plugin: 'janus.plugin.echotest', transaction: `a${i}` });
    assert(a.janus === 'success' && a.data.id > 0, `attach: ${JSON.stringify(a)}`);
    handles.push(a.data.id);
  }
  assert(new Set(handles).size === 3, `handle ids not distinct: ${handles}`);

  // 1. A held poll is answered by the next event, as one object.
  const pending = get(S);
  await sleep(400);
  const d0 = await post(`${S}/${handles[0]}`, { janus: 'detach', transaction: 'd0' });
  assert(d0.janus === 'success' && d0.transaction === 'd0', `detach: ${JSON.stringify(d0)}`);
  const p1 = await pending;
  assert(!Array.isArray(p1.json), `poll without maxev gave an array: ${JSON.stringify(p1.json)}`);
  assert(p1.json.janus === 'detached' && p1.json.sender === handles[0], `held poll: ${JSON.stringify(p1.json)}`);
  assert(p1.ms >= 350, `the poll returned after ${p1.ms} ms, before the event existed`);

  // 2. Queued events come back together, in order, with maxev.
  for (const i of [1, 2]) {
    const d = await post(`${S}/${handles[i]}`, { janus: 'detach', transaction: `d${i}` });
    assert(d.janus === 'success', `detach ${i}: ${JSON.stringify(d)}`);
  }
  const p2 = await get(`${S}?maxev=10`);
  assert(Array.isArray(p2.json), `maxev=10 did not give an array: ${JSON.stringify(p2.json)}`);
  const detached = p2.json.filter((e) => e.janus === 'detached').map((e) => e.sender);
  assert(JSON.stringify(detached) === JSON.stringify([handles[1], handles[2]]), `queued detached events: ${JSON.stringify(p2.json)}`);
  assert(p2.ms < 1000, `queued events took ${p2.ms} ms`);

  // 3. A plugin message without JSEP: ack now, the event on the poll.
  const a = await post(S, { janus: 'attach', plugin: 'janus.plugin.echotest', transaction: 'a9' });
  const h = a.data.id;
  const m = await post(`${S}/${h}`, { janus: 'message', body: { audio: true }, transaction: 'm1' });
  let ev = null;
  if (m.janus === 'ack') {
    const p3 = await get(`${S}?maxev=1`);
    const list = Array.isArray(p3.json) ? p3.json : [p3.json];
    ev = list.find((e) => e.transaction === 'm1');
  } else {
    ev = m; // a synchronous plugin answer is allowed by the protocol
  }
  assert(ev && ev.janus === 'event' && ev.sender === h && ev.plugindata && ev.plugindata.plugin === 'janus.plugin.echotest' &&
    ev.plugindata.data && ev.plugindata.data.result === 'ok', `echotest event: ack ${JSON.stringify(m)}, event ${JSON.stringify(ev)}`);

  const k = await post(S, { janus: 'keepalive', transaction: 'k' });
  assert(k.janus === 'ack' && k.transaction === 'k', `keepalive: ${JSON.stringify(k)}`);
  const ds = await post(S, { janus: 'destroy', transaction: 'x' });
  assert(ds.janus === 'success', `destroy: ${JSON.stringify(ds)}`);
  console.log(`held poll answered ${p1.ms} ms after it began (event at ~400 ms); maxev gave ${p2.json.length} queued events in ${p2.ms} ms; echotest message answered with ${m.janus}`);
});
