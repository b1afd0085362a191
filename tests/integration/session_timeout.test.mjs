#!/usr/bin/env node
// Session expiry with session_timeout=5: a WebSocket session without keepalives receives
// {"janus":"timeout"} between 5 and 5+5 s after its last request and is then gone (458 on
// WebSocket and on HTTP); an HTTP session left alone is gone too; a session that sends a
// keepalive every 2 s over the same period survives with its handle.
import { sleep } from './lib/echotest.mjs';
import { assert, withServer } from './lib/server.mjs';
import { wsConnect } from './lib/wsraw.mjs';

const TIMEOUT = 5;

async function post(url, body) {
  const r = await fetch(url, { method: 'POST', body: JSON.stringify(body) });
  return r.json();
}

await withServer({ index: 6, sessionTimeout: TIMEOUT }, async (srv) => {
  const idle = await wsConnect(srv.ports.ws);
  const live = await wsConnect(srv.ports.ws);
  const a = await idle.request({ janus: 'create' });
  assert(a && a.janus === 'success', `create: ${JSON.stringify(a)}`);
  const idleSid = a.data.id;
  const t0 = Date.now();
  const b = await live.request({ janus: 'create' });
  const liveSid = b.data.id;
  const h = await live.request({ janus: 'attach', session_id: liveSid, plugin: 'janus.plugin.echotest' });
  assert(h && h.janus === 'success', `attach: ${JSON.stringify(h)}`);
  const hc = await post(srv.httpUrl, { janus: 'create', transaction: 'h1' });
  assert(hc.janus === 'success', `http create: ${JSON.stringify(hc)}`);
  const httpSid = hc.data.id;

  // Keep `live` alive while waiting for `idle` to expire.
  let acks = 0;
  let kaErr = null;
  let kaStop = false;
  const kaLoop = (async () => {
    while (!kaStop) {
      await sleep(2000);
      if (kaStop) break;
      const r = await live.request({ janus: 'keepalive', session_id: liveSid }, { ms: 1500 });
      if (r && r.janus === 'ack') acks++; else kaErr = JSON.stringify(r);
    }
  })();
  try {
    const ev = await idle.next((TIMEOUT + 7) * 1000);
    const after = (Date.now() - t0) / 1000;
    assert(ev && ev.janus === 'timeout', `want a timeout event, got ${JSON.stringify(ev)} after ${after}s`);
    assert(ev.session_id === idleSid, `timeout for session ${ev.session_id}, want ${idleSid}`);
    assert(after >= TIMEOUT - 0.5 && after <= TIMEOUT + 5, `timeout came after ${after.toFixed(1)}s (session_timeout ${TIMEOUT})`);
    console.log(`timeout event after ${after.toFixed(1)} s`);

    const gone = await idle.request({ janus: 'keepalive', session_id: idleSid }, { ms: 3000 });
    if (gone === null) {
      assert(idle.isClosed(), 'no answer for the expired session on a still-open socket');
    } else {
      assert(gone.janus === 'error' && gone.error.code === 458, `expired session over WS: ${JSON.stringify(gone)}`);
    }
    const gh = await post(`${srv.httpUrl}/${idleSid}`, { janus: 'keepalive', transaction: 'g1' });
    assert(gh.janus === 'error' && gh.error.code === 458, `expired session over HTTP: ${JSON.stringify(gh)}`);

    await sleep(Math.max(0, (TIMEOUT + 5) * 1000 - (Date.now() - t0)));
    const hh = await post(`${srv.httpUrl}/${httpSid}`, { janus: 'keepalive', transaction: 'g2' });
    assert(hh.janus === 'error' && hh.error.code === 458, `idle HTTP session not expired: ${JSON.stringify(hh)}`);
    kaStop = true;
    await kaLoop;
    assert(kaErr === null, `keepalive failed: ${kaErr}`);
    assert(acks >= 3, `only ${acks} keepalives acked`);
    const still = await live.request({ janus: 'keepalive', session_id: liveSid });
    assert(still && still.janus === 'ack', `kept-alive session expired: ${JSON.stringify(still)}`);
    const msg = await live.request({ janus: 'message', session_id: liveSid, handle_id: h.data.id, body: { audio: true } }, { skipAck: true });
    assert(msg && msg.janus === 'event' && msg.plugindata && msg.plugindata.plugin === 'janus.plugin.echotest',
      `handle of the kept-alive session: ${JSON.stringify(msg)}`);
    let stray = await live.next(300);
    while (stray && stray.janus === 'ack') stray = await live.next(300);
    assert(!stray || stray.janus !== 'timeout', 'the kept-alive session got a timeout event');
    console.log(`kept-alive session survived ${((Date.now() - t0) / 1000).toFixed(1)} s with ${acks} keepalives`);
  } finally {
    kaStop = true;
    idle.close();
    live.close();
  }
});
