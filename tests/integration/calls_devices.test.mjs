#!/usr/bin/env node
// Ringing rules of the calls plugin (janus.plugin.videocall) with a host on two devices.
// Server started with --calls.ring_timeout_s=3.
//  1. janus.js in Chromium: the host logs in on two devices (two logins, two pages), both
//     register; the caller calls; both ring with the same call_id and each its own offer;
//     device A accepts, device B gets hangup `answered_elsewhere`; webrtcup on the caller
//     and on A and media both ways. A second caller calling the host now gets `busy`, and
//     no device rings for it.
//  2. Signalling only (node WebSocket clients, offers made by Chromium): a device hanging
//     up while ringing -> the caller gets `declined` (the other device stops ringing);
//     nobody answers -> `no_answer` 3-6 s after the call; the caller hangs up while
//     ringing -> every device gets `cancelled`; calling a host with no registered device
//     -> `unavailable`. Hangup events carry the call_id; GET /api/v1/calls/{id} records
//     the end reason.
// Against Janus 1.1.2 a username can be registered once, there is no ring timeout and the
// reasons are Janus's own: the one-device parts run there (busy = "User busy", an
// unregistered name = error 478) and the parley-only parts are skipped with a message.
import { openBrowser, browserAvailable } from './lib/browser.mjs';
import {
  UUID_RE, callsServerOpts, firstFrames, flowing, fmtFlow, isParley, newUser, openClient,
  prepareSdpPage, waitCall, withClients,
} from './lib/calls.mjs';
import { brief, rawDevice, sdpOffer } from './lib/vcraw.mjs';
import { assert, skip, withServer } from './lib/server.mjs';

const RING_S = 3;

function result(e) { return e && e.data && e.data.result; }

await withServer(callsServerOpts(25, [`--calls.ring_timeout_s=${RING_S}`]), async (srv) => {
  if (!process.env.PARLEY_NETNS) throw skip('not inside a network namespace (run via tests/integration/run.sh as root)');
  const why = browserAvailable();
  if (why) throw skip(why);
  const parley = isParley();
  const skipped = [];
  const caller = await newUser(srv, 'caller', 'Caller');
  const caller2 = await newUser(srv, 'caller', 'Second caller');
  const host = await newUser(srv, 'host', 'Host', ['phone', 'tablet']);
  const idleHost = await newUser(srv, 'host', 'Idle host');
  const br = await openBrowser();
  await prepareSdpPage(br.page);
  const clients = [];
  const raws = [];
  try {
    await withClients(clients, async () => {
      // ---- 1. two devices ring, A accepts, B stops ringing ----
      const cc = await openClient(br, 'caller');
      const hA = await openClient(br, 'host/phone');
      clients.push(cc, hA);
      let hB = null;
      if (parley) {
        hB = await openClient(br, 'host/tablet');
        clients.push(hB);
      } else skipped.push('a second device of the same user (Janus allows one handle per username)');
      const devs = [hA, hB].filter(Boolean);
      await Promise.all([cc.start(srv.wsUrl, caller.token), hA.start(srv.wsUrl, host.tokens.phone),
        hB && hB.start(srv.httpUrl, host.tokens.tablet)]);
      await cc.register(caller.username);
      for (const d of devs) await d.register(host.username);
      const marks = await Promise.all(devs.map((d) => d.mark()));
      const cMark = await cc.call(host.username);
      const calling = await cc.waitEvent({ replyOrError: true }, cMark);
      assert(calling.result && calling.result.event === 'calling', `call answered ${JSON.stringify(calling)}`);
      const incs = await Promise.all(devs.map((d, k) => d.waitEvent({ event: 'incomingcall' }, marks[k], 5000)));
      let callId = null;
      if (parley) {
        callId = calling.result.call_id;
        assert(UUID_RE.test(String(callId)), `calling call_id ${JSON.stringify(callId)}`);
        for (const inc of incs) {
          assert(inc.result.call_id === callId, `incomingcall call_id ${inc.result.call_id}, calling said ${callId}`);
          assert(inc.result.caller && Number(inc.result.caller.id) === caller.id, `incomingcall caller ${JSON.stringify(inc.result.caller)}`);
          assert(inc.jsep && inc.jsep.type === 'offer', 'incomingcall without an offer');
        }
        assert(incs[0].jsep.ufrag !== incs[1].jsep.ufrag, `both devices got the same offer (ufrag ${incs[0].jsep.ufrag}): each needs its own`);
      }
      const aMark = await hA.accept();
      const accA = await hA.waitEvent({ replyOrError: true }, aMark);
      assert(accA.result && accA.result.event === 'accepted', `accept on A answered ${JSON.stringify(accA)}`);
      await cc.waitEvent({ event: 'accepted' }, cMark, 5000);
      let elsewhere = null;
      if (hB) {
        elsewhere = await hB.waitEvent({ event: 'hangup' }, marks[1], 3000);
        assert(elsewhere.result.reason === 'answered_elsewhere', `device B hangup reason ${JSON.stringify(elsewhere.result)}`);
        assert(elsewhere.result.call_id === callId, `device B hangup call_id ${elsewhere.result.call_id}`);
        assert(!(await hB.hasPc()), 'device B still has a PeerConnection after answered_elsewhere');
      }
      const [upC, upA] = await Promise.all([cc.webrtcUp(), hA.webrtcUp()]);
      await firstFrames([cc, hA], 10000);
      const flow = await flowing([cc, hA], 2, { what: 'the accepted call' });
      console.log(`two devices rang (call ${callId || 'n/a'}); A accepted, B got ${elsewhere ? `"${elsewhere.result.reason}"` : '(n/a)'}; ` +
        `webrtcup caller ${upC.toFixed(0)} ms, A ${upA.toFixed(0)} ms (page clocks); ${fmtFlow(flow)}`);

      // Busy: a second caller calls the host while it is in this call.
      const rc2 = await rawDevice(srv, { token: caller2.token, label: 'caller2', username: caller2.username });
      raws.push(rc2);
      const busyMarks = await Promise.all(devs.map((d) => d.mark()));
      const m2 = rc2.handle.mark();
      const r2 = await rc2.handle.message({ request: 'call', username: host.username }, await sdpOffer(br.page));
      assert(r2 && r2.janus === 'event', `busy call answered ${JSON.stringify(brief(r2))}`);
      const busy = await rc2.handle.waitEvent({ event: 'hangup' }, m2, 5000);
      const busyReason = result(busy).reason;
      if (parley) assert(busyReason === 'busy', `second caller: hangup reason ${JSON.stringify(result(busy))}, want busy`);
      else assert(busyReason === 'User busy', `Janus busy reason ${busyReason}`);
      for (const [k, d] of devs.entries()) {
        const s = await d.state();
        const rang = s.events.filter((e) => e.i >= busyMarks[k] && e.result && e.result.event === 'incomingcall');
        assert(rang.length === 0, `${d.label} rang for the second caller while in a call`);
      }
      const still = await flowing([cc, hA], 2, { what: 'the call after the busy attempt' });
      console.log(`second caller got "${busyReason}"; the call went on: ${fmtFlow(still)}`);
      await rc2.session.close();

      // End the call.
      const hm = await hA.mark();
      const hs = await cc.hangup();
      await cc.waitEvent({ event: 'hangup' }, hs, 5000);
      await hA.waitEvent({ event: 'hangup' }, hm, 5000);
      await Promise.all(clients.map((c) => c.stop()));

      // ---- 2. signalling-only ringing cases ----
      const hostDevices = parley ? [['phone', 'A'], ['tablet', 'B']] : [['phone', 'A']];
      async function ring(label) {
        const rc = await rawDevice(srv, { token: caller.token, label: `${label}/caller`, username: caller.username });
        const ds = [];
        for (const [dev, tag] of hostDevices) ds.push(await rawDevice(srv, { token: host.tokens[dev], label: `${label}/host ${tag}`, username: host.username }));
        raws.push(rc, ...ds);
        const dm = ds.map((d) => d.handle.mark());
        const cm = rc.handle.mark();
        const t0 = Date.now();
        const r = await rc.handle.message({ request: 'call', username: host.username }, await sdpOffer(br.page));
        assert(r && r.janus === 'event' && result(r) && result(r).event === 'calling', `${label}: call answered ${JSON.stringify(brief(r))}`);
        const id = result(r).call_id;
        if (parley) assert(UUID_RE.test(String(id)), `${label}: calling call_id ${JSON.stringify(id)}`);
        for (const [k, d] of ds.entries()) {
          const inc = await d.handle.waitEvent({ event: 'incomingcall' }, dm[k], 5000);
          if (parley) assert(result(inc).call_id === id, `${label}: ${d.label} incomingcall call_id ${result(inc).call_id}, want ${id}`);
        }
        return { rc, ds, dm, cm, id, t0, ringMs: Date.now() - t0 };
      }
      async function done(ctx) {
        for (const x of [ctx.rc, ...ctx.ds]) await x.session.close();
      }
      async function endReason(id, want) {
        if (!parley) return;
        const row = await waitCall(srv, caller.token, id, (c) => c.end_reason === want);
        assert(row.end_reason === want, `GET /calls/${id}: end_reason ${JSON.stringify(row.end_reason)}, want ${want} (${JSON.stringify(row)})`);
      }
      const lines = [];

      // Decline: device A hangs up while ringing.
      {
        const ctx = await ring('decline');
        const [A, ...others] = ctx.ds;
        const am = A.handle.mark();
        await A.handle.message({ request: 'hangup' });
        const h = await ctx.rc.handle.waitEvent({ event: 'hangup' }, ctx.cm, 3000);
        const reason = result(h).reason;
        if (parley) {
          assert(reason === 'declined', `decline: the caller's hangup reason ${JSON.stringify(result(h))}, want declined`);
          assert(result(h).call_id === ctx.id, `decline: hangup call_id ${result(h).call_id}`);
        }
        const otherReasons = [];
        for (const o of others) {
          const oh = await o.handle.waitEvent({ event: 'hangup' }, ctx.dm[ctx.ds.indexOf(o)], 3000);
          otherReasons.push(result(oh).reason);
        }
        await A.handle.waitEvent({ event: 'hangup' }, am, 3000);
        await endReason(ctx.id, 'declined');
        lines.push(`decline: caller got "${reason}"${otherReasons.length ? `, the other device "${otherReasons.join('", "')}"` : ''}`);
        await done(ctx);
      }

      // Cancel: the caller hangs up while both ring.
      {
        const ctx = await ring('cancel');
        await ctx.rc.handle.message({ request: 'hangup' });
        const reasons = [];
        for (const [k, d] of ctx.ds.entries()) {
          const h = await d.handle.waitEvent({ event: 'hangup' }, ctx.dm[k], 3000);
          reasons.push(result(h).reason);
          if (parley) {
            assert(result(h).reason === 'cancelled', `cancel: ${d.label} hangup reason ${JSON.stringify(result(h))}, want cancelled`);
            assert(result(h).call_id === ctx.id, `cancel: ${d.label} hangup call_id ${result(h).call_id}`);
          }
        }
        await endReason(ctx.id, 'cancelled');
        lines.push(`cancel: the devices got "${reasons.join('", "')}"`);
        await done(ctx);
      }

      // No answer: nobody picks up within ring_timeout_s.
      if (parley) {
        const ctx = await ring('no answer');
        const h = await ctx.rc.handle.waitEvent({ event: 'hangup' }, ctx.cm, (RING_S + 4) * 1000);
        const after = (Date.now() - ctx.t0) / 1000;
        assert(result(h).reason === 'no_answer', `no answer: the caller's hangup ${JSON.stringify(result(h))}, want no_answer`);
        assert(after >= RING_S - 0.5 && after <= RING_S * 2, `no answer after ${after.toFixed(1)} s with ring_timeout_s=${RING_S}`);
        const reasons = [];
        for (const [k, d] of ctx.ds.entries()) reasons.push(result(await d.handle.waitEvent({ event: 'hangup' }, ctx.dm[k], 3000)).reason);
        await endReason(ctx.id, 'no_answer');
        lines.push(`no answer: the caller got "no_answer" ${after.toFixed(1)} s after calling (ring_timeout_s=${RING_S}), the devices "${reasons.join('", "')}"`);
        await done(ctx);
      } else skipped.push('no_answer (Janus has no ring timeout)');

      // Unavailable: a host with no registered device.
      {
        const rc = await rawDevice(srv, { token: caller.token, label: 'unavailable/caller', username: caller.username });
        raws.push(rc);
        const m = rc.handle.mark();
        const target = parley ? idleHost.username : `${idleHost.username}-not-registered`;
        const r = await rc.handle.message({ request: 'call', username: target }, await sdpOffer(br.page));
        assert(r && r.janus === 'event', `unavailable: call answered ${JSON.stringify(brief(r))}`);
        if (parley) {
          const h = await rc.handle.waitEvent({ event: 'hangup' }, m, 5000);
          assert(result(h).reason === 'unavailable', `unavailable: hangup ${JSON.stringify(result(h))}, want unavailable`);
          lines.push('unavailable: the caller got "unavailable"');
        } else {
          assert(r.data.error_code === 478, `Janus: calling an unregistered name answered ${JSON.stringify(r.data)}`);
          lines.push(`unregistered name: Janus error ${r.data.error_code} "${r.data.error}"`);
        }
        await rc.session.close();
      }
      console.log(lines.join('\n'));
    });
  } finally {
    for (const x of raws) await x.session.close();
    await br.close();
  }
  if (skipped.length) console.log(`skipped against ${srv.target} (parley only): ${skipped.join('; ')}`);
});
