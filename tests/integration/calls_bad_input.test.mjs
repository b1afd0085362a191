#!/usr/bin/env node
// Every refusal of the calls plugin (janus.plugin.videocall), from node WebSocket clients
// with the users' tokens; offers and answers where a real SDP is needed come from Chromium.
// Error codes are Janus 1.1.2's (src/plugins/janus_videocall.c): 470 no message, 471 invalid
// JSON, 472 invalid request, 473 register first, 474 invalid element, 475 missing element,
// 476 username taken, 477 already registered, 478 no such username, 479 use the echotest,
// 480 already in a call, 481 no call, 482 missing SDP, 483 invalid SDP; the core refuses an
// SDP it cannot parse with 465.
// Runs against Janus too: the cases Janus has (unknown/missing/wrong-typed request fields,
// call before register, register twice, call yourself, unknown name, no jsep, a garbage
// SDP, accept without a call, a second call while calling) must give Janus's codes; ours
// (someone else's id, calling a caller, offers without audio/video codecs, two devices
// accepting at once, the ring timeout) are skipped there with a message.
// Afterwards the server still answers /janus/info and an echotest negotiation, and
// lib/server.mjs fails the test on any sanitizer report in its log.
import { openBrowser, browserAvailable } from './lib/browser.mjs';
import { callsServerOpts, isParley, newUser, prepareSdpPage, sleep } from './lib/calls.mjs';
import { brief, openSession, rawDevice, sdpAnswer, sdpOffer } from './lib/vcraw.mjs';
import { assert, skip, withServer } from './lib/server.mjs';

const RING_S = 3;
const ERR = {
  INVALID_REQUEST: 472, REGISTER_FIRST: 473, INVALID_ELEMENT: 474, MISSING_ELEMENT: 475,
  USERNAME_TAKEN: 476, ALREADY_REGISTERED: 477, NO_SUCH_USERNAME: 478, USE_ECHO_TEST: 479,
  ALREADY_IN_CALL: 480, NO_CALL: 481, MISSING_SDP: 482, INVALID_SDP: 483,
};
const CORE_INVALID_SDP = 465;
// Our own refusals (plugins/calls/calls.c documents them): with authentication the username
// must be your user id (490), only callers call (491), the callee is not a host (492),
// the offer has no audio/video with a known codec (495).
const OURS = { NOT_YOUR_ID: 490, NOT_A_CALLER: 491, NOT_A_HOST: 492, NO_MEDIA: 495 };

function result(e) { return e && e.data && e.data.result; }

await withServer(callsServerOpts(26, [`--calls.ring_timeout_s=${RING_S}`]), async (srv) => {
  const why = browserAvailable();
  if (why) throw skip(why);
  const parley = isParley();
  const table = [];
  const skipped = [];
  const raws = [];
  const caller = await newUser(srv, 'caller', 'Caller');
  const otherCaller = await newUser(srv, 'caller', 'Other caller');
  const host = await newUser(srv, 'host', 'Host', ['phone', 'tablet']);
  const br = await openBrowser();
  await prepareSdpPage(br.page);
  const offer = (kinds) => sdpOffer(br.page, kinds);

  // Sends body (+ jsep) on handle h and asserts a plugin error with one of `codes`.
  async function refused(label, h, body, jsep, codes) {
    const core = h.core.length;
    const r = await h.message(body, jsep);
    // A refused offer may have made the server start a PeerConnection that it now closes
    // (Janus does, and refuses the next offer with 490 until that is done): wait for its
    // hangup notification, for a second at most.
    if (jsep) await waitCoreHangup(h, core, 1000);
    assert(r && r.janus === 'event' && r.data && r.data.error_code !== undefined,
      `${label}: expected a plugin error ${codes.join('/')}, got ${JSON.stringify(brief(r))}`);
    assert(codes.includes(r.data.error_code), `${label}: error ${r.data.error_code} "${r.data.error}", want ${codes.join(' or ')}`);
    assert(typeof r.data.error === 'string' && r.data.error.length > 0, `${label}: error without text`);
    table.push(`${label}: ${r.data.error_code} "${r.data.error}"`);
    return r;
  }
  async function waitCoreHangup(h, since, ms) {
    const end = Date.now() + ms;
    while (Date.now() < end && !h.core.slice(since).some((c) => c.janus === 'hangup')) await sleep(20);
  }
  // Asserts the host devices got no incomingcall since their marks (waits a moment first).
  async function noRing(label, devs, marks) {
    await sleep(300);
    devs.forEach((d, k) => {
      const rang = d.handle.events.slice(marks[k]).filter((e) => result(e) && result(e).event === 'incomingcall');
      assert(rang.length === 0, `${label}: ${d.label} rang`);
    });
  }

  try {
    // The host's devices: two on parley (same user, two logins), one on Janus.
    const d1 = await rawDevice(srv, { token: host.tokens.phone, label: 'host/phone', username: host.username });
    raws.push(d1);
    const devs = [d1];
    if (parley) {
      const d2 = await rawDevice(srv, { token: host.tokens.tablet, label: 'host/tablet', username: host.username });
      raws.push(d2);
      devs.push(d2);
    }
    const other = await rawDevice(srv, { token: otherCaller.token, label: 'other caller', username: otherCaller.username });
    raws.push(other);
    const cs = await openSession(srv, { token: caller.token, label: 'caller' });
    raws.push({ session: cs });
    const h = await cs.attach('janus.plugin.videocall', 'caller');

    // Malformed requests.
    await refused('unknown request', h, { request: 'dance' }, null, [ERR.INVALID_REQUEST]);
    await refused('no request', h, {}, null, [ERR.MISSING_ELEMENT]);
    await refused('request not a string', h, { request: 5 }, null, [ERR.INVALID_ELEMENT]);

    // Before registering.
    let marks = devs.map((d) => d.handle.mark());
    await refused('call before register', h, { request: 'call', username: host.username }, await offer(), [ERR.REGISTER_FIRST]);
    await noRing('call before register', devs, marks);
    await refused('accept with no incoming call', h, { request: 'accept' }, null, [ERR.NO_CALL]);
    await refused('register without username', h, { request: 'register' }, null, [ERR.MISSING_ELEMENT]);
    await refused('register a number', h, { request: 'register', username: 123 }, null, [ERR.INVALID_ELEMENT]);
    if (parley) {
      await refused("register the host's id", h, { request: 'register', username: host.username }, null, [OURS.NOT_YOUR_ID, ERR.INVALID_ELEMENT, ERR.USERNAME_TAKEN]);
      await refused("register another caller's id", h, { request: 'register', username: otherCaller.username }, null, [OURS.NOT_YOUR_ID, ERR.INVALID_ELEMENT, ERR.USERNAME_TAKEN]);
      await refused('register a name', h, { request: 'register', username: 'alice' }, null, [OURS.NOT_YOUR_ID, ERR.INVALID_ELEMENT, ERR.USERNAME_TAKEN]);
      // On a handle of its own, so that a wrong acceptance does not spoil the cases below.
      const h0 = await cs.attach('janus.plugin.videocall', 'caller (2nd handle)');
      await refused('register own id with a leading zero', h0, { request: 'register', username: `0${caller.username}` }, null, [OURS.NOT_YOUR_ID, ERR.INVALID_ELEMENT, ERR.USERNAME_TAKEN]);
      await h0.detach();
    } else skipped.push("registering someone else's id / a non-id name (free names in Janus)");

    // Registered, no call yet.
    let r = await h.message({ request: 'register', username: caller.username });
    assert(result(r) && result(r).event === 'registered', `register own id: ${JSON.stringify(brief(r))}`);
    await refused('register twice on one handle', h, { request: 'register', username: caller.username }, null, [ERR.ALREADY_REGISTERED]);
    // `set` with no call: Janus 1.1.2 accepts it (it only stores the settings); we may refuse it.
    r = await h.message({ request: 'set', audio: false });
    assert(r && r.janus === 'event' && ((result(r) && result(r).event === 'set') || r.data.error_code === ERR.NO_CALL),
      `set before a call: ${JSON.stringify(brief(r))}`);
    table.push(`set before a call: ${result(r) ? 'accepted (event "set")' : `${r.data.error_code} "${r.data.error}"`}`);
    r = await h.message({ request: 'set', audio: true });
    marks = devs.map((d) => d.handle.mark());
    await refused('call yourself', h, { request: 'call', username: caller.username }, await offer(), [ERR.USE_ECHO_TEST]);
    await refused('call a number', h, { request: 'call', username: Number(host.username) || 7 }, await offer(), [ERR.INVALID_ELEMENT]);
    await refused('call without username', h, { request: 'call' }, await offer(), [ERR.MISSING_ELEMENT]);
    await refused('call an unknown user', h, { request: 'call', username: parley ? '987654321' : 'nobody-here' }, await offer(),
      [ERR.NO_SUCH_USERNAME]);
    if (parley) await refused('call a caller', h, { request: 'call', username: otherCaller.username }, await offer(), [OURS.NOT_A_HOST, ERR.NO_SUCH_USERNAME, ERR.INVALID_ELEMENT]);
    else skipped.push('calling a caller (no roles in Janus)');
    await refused('call without jsep', h, { request: 'call', username: host.username }, null, [ERR.MISSING_SDP]);
    await noRing('refused calls', devs, marks);

    // Broken SDP: the core (465) or the plugin (483) refuses it; nobody rings.
    marks = devs.map((d) => d.handle.mark());
    let core = h.core.length;
    r = await h.message({ request: 'call', username: host.username }, { type: 'offer', sdp: 'v=0\r\nthis is not sdp\r\n' });
    await waitCoreHangup(h, core, 1000);
    assert(r && ((r.janus === 'error' && r.code === CORE_INVALID_SDP) || (r.data && r.data.error_code === ERR.INVALID_SDP)),
      `garbage SDP: ${JSON.stringify(brief(r))}`);
    table.push(`garbage SDP: ${r.janus === 'error' ? `core ${r.code} "${r.reason}"` : `${r.data.error_code} "${r.data.error}"`}`);
    if (parley) {
      // An offer with no audio or video at all (a data channel only).
      const dataOnly = await offer({ audio: false, video: false, data: true });
      core = h.core.length;
      r = await h.message({ request: 'call', username: host.username }, dataOnly);
      await waitCoreHangup(h, core, 1000);
      assert(r && ((r.janus === 'error') || (r.data && [OURS.NO_MEDIA, ERR.INVALID_SDP, ERR.MISSING_SDP, ERR.INVALID_ELEMENT].includes(r.data.error_code))),
        `data-channel-only offer: ${JSON.stringify(brief(r))}`);
      table.push(`offer without audio/video: ${r.janus === 'error' ? `core ${r.code}` : `${r.data.error_code} "${r.data.error}"`}`);
      // Audio and video m-lines whose codecs are all unknown.
      const av = await offer();
      const unknown = av.sdp.replace(/^a=rtpmap:(\d+) [^/\r\n]+\//gm, 'a=rtpmap:$1 X-PARLEY-NONE/');
      core = h.core.length;
      r = await h.message({ request: 'call', username: host.username }, { type: 'offer', sdp: unknown });
      await waitCoreHangup(h, core, 1000);
      assert(r && ((r.janus === 'error') || (r.data && [OURS.NO_MEDIA, ERR.INVALID_SDP, ERR.MISSING_SDP, ERR.INVALID_ELEMENT].includes(r.data.error_code))),
        `offer with only unknown codecs: ${JSON.stringify(brief(r))}`);
      table.push(`offer with only unknown codecs: ${r.janus === 'error' ? `core ${r.code}` : `${r.data.error_code} "${r.data.error}"`}`);
    } else skipped.push('offers without audio/video codecs (Janus videocall relays whatever is offered)');
    await noRing('broken SDP', devs, marks);

    // A real call rings; a second call on the same handle is refused; hanging up twice.
    marks = devs.map((d) => d.handle.mark());
    let m = h.mark();
    r = await h.message({ request: 'call', username: host.username }, await offer());
    assert(result(r) && result(r).event === 'calling', `call: ${JSON.stringify(brief(r))}`);
    for (const [k, d] of devs.entries()) await d.handle.waitEvent({ event: 'incomingcall' }, marks[k], 5000);
    // Without a jsep: a second offer on a handle whose PeerConnection is being set up is
    // refused by the Janus core itself (490) before the plugin sees it.
    await refused('call while calling', h, { request: 'call', username: host.username }, null, [ERR.ALREADY_IN_CALL]);
    r = await h.message({ request: 'hangup' });
    assert(r && r.janus === 'event' && result(r) && result(r).event === 'hangup', `hangup while ringing: ${JSON.stringify(brief(r))}`);
    for (const [k, d] of devs.entries()) await d.handle.waitEvent({ event: 'hangup' }, marks[k], 3000);
    r = await h.message({ request: 'hangup' });
    assert(r && r.janus === 'event' && ((result(r) && result(r).event === 'hangup') || r.data.error_code === ERR.NO_CALL),
      `second hangup: ${JSON.stringify(brief(r))}`);
    table.push(`second hangup: ${result(r) ? `event hangup "${result(r).reason}"` : `${r.data.error_code} "${r.data.error}"`}`);
    await sleep(500);
    devs.forEach((d, k) => {
      const hs = d.handle.events.slice(marks[k]).filter((e) => result(e) && result(e).event === 'hangup').map((e) => result(e).reason);
      // Janus 1.1.2 ends the ringing call already on the refused second call (it closes the
      // caller's PeerConnection) and then reports the hangup again: not a rule of ours.
      if (parley) assert(hs.length === 1, `${d.label} got ${hs.length} hangup events for one cancelled call: ${JSON.stringify(hs)}`);
      else table.push(`(Janus: ${d.label} got hangup events ${JSON.stringify(hs)} for that call)`);
    });
    await refused('accept after the caller hung up', d1.handle, { request: 'accept' }, null, [ERR.NO_CALL]);

    if (parley) {
      // Two devices accept at the same moment: exactly one wins.
      marks = devs.map((d) => d.handle.mark());
      m = h.mark();
      r = await h.message({ request: 'call', username: host.username }, await offer());
      assert(result(r) && result(r).event === 'calling', `call (double accept): ${JSON.stringify(brief(r))}`);
      const incs = [];
      for (const [k, d] of devs.entries()) incs.push(await d.handle.waitEvent({ event: 'incomingcall' }, marks[k], 5000));
      const answers = await Promise.all(incs.map((inc) => sdpAnswer(br.page, inc.jsep.sdp)));
      const replies = await Promise.all(devs.map((d, k) => d.handle.message({ request: 'accept' }, answers[k])));
      const won = replies.filter((x) => result(x) && result(x).event === 'accepted');
      assert(won.length === 1, `double accept: ${won.length} devices won: ${JSON.stringify(replies.map(brief))}`);
      const loserIdx = replies.findIndex((x) => !(result(x) && result(x).event === 'accepted'));
      const loser = devs[loserIdx];
      const lr = replies[loserIdx];
      let how;
      if (lr && lr.data && lr.data.error_code !== undefined) how = `error ${lr.data.error_code} "${lr.data.error}"`;
      else {
        const e = await loser.handle.waitEvent({ event: 'hangup' }, marks[loserIdx], 3000);
        assert(result(e).reason === 'answered_elsewhere', `double accept: the loser got ${JSON.stringify(result(e))}`);
        how = 'hangup "answered_elsewhere"';
      }
      await sleep(500);
      const accepted = h.events.slice(m).filter((e) => result(e) && result(e).event === 'accepted');
      assert(accepted.length === 1, `double accept: the caller got ${accepted.length} accepted events`);
      table.push(`two devices accepting at once: one won, the other got ${how}`);
      const winner = devs[1 - loserIdx];
      const wm = winner.handle.mark();
      await h.message({ request: 'hangup' });
      await winner.handle.waitEvent({ event: 'hangup' }, wm, 3000);

      // A device never answers the server's offer (its accept has no jsep): the ring
      // timeout ends the call for everyone, and the host can be called again afterwards.
      marks = devs.map((d) => d.handle.mark());
      m = h.mark();
      const t0 = Date.now();
      r = await h.message({ request: 'call', username: host.username }, await offer());
      assert(result(r) && result(r).event === 'calling', `call (no answer): ${JSON.stringify(brief(r))}`);
      for (const [k, d] of devs.entries()) await d.handle.waitEvent({ event: 'incomingcall' }, marks[k], 5000);
      await refused('accept without jsep', d1.handle, { request: 'accept' }, null, [ERR.MISSING_SDP]);
      const end = await h.waitEvent({ event: 'hangup' }, m, (RING_S + 4) * 1000);
      const after = (Date.now() - t0) / 1000;
      assert(result(end).reason === 'no_answer', `unanswered offer: the caller got ${JSON.stringify(result(end))}`);
      assert(after <= RING_S * 2, `unanswered offer ended after ${after.toFixed(1)} s (ring_timeout_s=${RING_S})`);
      for (const [k, d] of devs.entries()) await d.handle.waitEvent({ event: 'hangup' }, marks[k], 3000);
      table.push(`device never answering: the ring timeout ended the call after ${after.toFixed(1)} s ("no_answer")`);
      marks = devs.map((d) => d.handle.mark());
      r = await h.message({ request: 'call', username: host.username }, await offer());
      assert(result(r) && result(r).event === 'calling', `call after the ring timeout: ${JSON.stringify(brief(r))}`);
      for (const [k, d] of devs.entries()) await d.handle.waitEvent({ event: 'incomingcall' }, marks[k], 5000);
      await h.message({ request: 'hangup' });
      for (const [k, d] of devs.entries()) await d.handle.waitEvent({ event: 'hangup' }, marks[k], 3000);
    } else skipped.push('two devices accepting at once, the ring timeout');

    // The server is still fine: /janus/info and an echotest negotiation on a fresh session.
    const info = await (await fetch(`${srv.httpUrl}/info`)).json();
    assert(info.janus === 'server_info', `/janus/info: ${JSON.stringify(info).slice(0, 200)}`);
    const es = await openSession(srv, { token: caller.token, label: 'echotest' });
    raws.push({ session: es });
    const eh = await es.attach('janus.plugin.echotest', 'echotest');
    r = await eh.message({ audio: true, video: true }, await offer());
    assert(r && r.janus === 'event' && r.jsep && r.jsep.type === 'answer', `echotest after all that: ${JSON.stringify(brief(r))}`);
    // run.sh shows 20 lines of a passing test's output: three results a line.
    for (let i = 0; i < table.length; i += 3) console.log(table.slice(i, i + 3).join('; '));
    console.log(`afterwards: /janus/info ok (${info.name || info.version_string || 'server_info'}), echotest answered an offer`);
    if (parley) {
      // Leave an accepted call without hanging up: the finally below destroys every session
      // mid-call and the server is stopped right after. Its references between the legs
      // must all be released by then (an ASan server reports a leak otherwise).
      const dm = d1.handle.mark();
      r = await h.message({ request: 'call', username: host.username }, await offer());
      assert(result(r) && result(r).event === 'calling', `call (left open): ${JSON.stringify(brief(r))}`);
      const inc = await d1.handle.waitEvent({ event: 'incomingcall' }, dm, 5000);
      r = await d1.handle.message({ request: 'accept' }, await sdpAnswer(br.page, inc.jsep.sdp));
      assert(result(r) && result(r).event === 'accepted', `accept (left open): ${JSON.stringify(brief(r))}`);
    }
  } finally {
    for (const x of raws) await x.session.close();
    await br.close();
  }
  if (skipped.length) console.log(`skipped against ${srv.target} (parley only): ${skipped.join('; ')}`);
});
