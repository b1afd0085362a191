#!/usr/bin/env node
// A 1:1 call between two janus.js clients in Chromium (each page its own browser context
// with fake devices) through janus.plugin.videocall: a caller (WebSocket) calls a host
// (HTTP long-poll) with audio + video; incomingcall (with call_id and caller.id on parley),
// accept, webrtcup on both, then for 5 s audio packets, video packets and decoded frames
// rise every second on both sides. The caller mutes its audio with `set`: the host gets
// media_state (parley) and the host's inbound audio stops while its video goes on; unmuted,
// the audio comes back. The caller hangs up: both get `hangup`; GET /api/v1/calls shows
// the call ended (parley).
// Against Janus 1.1.2 (PARLEY_TARGET=janus) the usernames are free strings and there is no
// token; the parley-only checks are skipped with a message.
import { browserAvailable } from './lib/browser.mjs';
import {
  UUID_RE, callsServerOpts, fmtFlow, firstFrames, flowing, getCall, isParley, listCalls, sleep, waitCall,
  withCallerAndHost,
} from './lib/calls.mjs';
import { assert, skip, withServer } from './lib/server.mjs';

// Audio + video + a data channel (janus.js tracks).
const AVD = [{ type: 'audio', capture: true, recv: true }, { type: 'video', capture: true, recv: true }, { type: 'data' }];

// What a finished call looks like in GET /api/v1/calls (parley).
const ENDED_STATE = 'ended';

await withServer(callsServerOpts(23), async (srv) => {
  if (!process.env.PARLEY_NETNS) throw skip('not inside a network namespace (run via tests/integration/run.sh as root)');
  const why = browserAvailable();
  if (why) throw skip(why);
  const parleyOnly = [];
  await withCallerAndHost(srv, async ({ cc, hc, caller, host }) => {

    // Call with audio + video.
    const hMark = await hc.mark();
    const t0 = Date.now();
    const cMark = await cc.call(host.username, AVD);
    const calling = await cc.waitEvent({ replyOrError: true }, cMark);
    assert(calling.result && calling.result.event === 'calling', `call answered ${JSON.stringify(calling)}`);
    const inc = await hc.waitEvent({ event: 'incomingcall' }, hMark);
    assert(inc.jsep && inc.jsep.type === 'offer', `incomingcall without an offer: ${JSON.stringify(inc)}`);
    assert(inc.jsep.kinds.includes('audio') && inc.jsep.kinds.includes('video'), `incoming offer kinds ${inc.jsep.kinds}`);
    assert(inc.result.username === caller.username, `incomingcall username ${inc.result.username}, want ${caller.username}`);
    let callId = null;
    if (isParley()) {
      callId = inc.result.call_id;
      assert(typeof callId === 'string' && UUID_RE.test(callId), `incomingcall call_id ${JSON.stringify(callId)}`);
      assert(calling.result.call_id === callId, `calling call_id ${calling.result.call_id} != incomingcall's ${callId}`);
      assert(inc.result.caller && Number(inc.result.caller.id) === caller.id,
        `incomingcall caller ${JSON.stringify(inc.result.caller)}, want id ${caller.id}`);
      assert(inc.result.caller.display_name === caller.name, `caller display_name ${JSON.stringify(inc.result.caller)}`);
    } else parleyOnly.push('call_id / caller in incomingcall and calling');
    const ringMs = Date.now() - t0;

    // Accept.
    const aMark = await hc.accept(AVD);
    const accH = await hc.waitEvent({ replyOrError: true }, aMark);
    assert(accH.result && accH.result.event === 'accepted', `accept answered ${JSON.stringify(accH)}`);
    const accC = await cc.waitEvent({ event: 'accepted' }, cMark);
    assert(accC.jsep && accC.jsep.type === 'answer', `the caller's accepted has no answer: ${JSON.stringify(accC)}`);
    assert(accC.jsep.kinds.includes('audio') && accC.jsep.kinds.includes('video'), `answer kinds ${accC.jsep.kinds}`);
    if (isParley()) {
      assert(accC.result.call_id === callId && accH.result.call_id === callId,
        `accepted call_id: caller ${accC.result.call_id}, host ${accH.result.call_id}, want ${callId}`);
    }
    const [upC, upH] = await Promise.all([cc.webrtcUp(), hc.webrtcUp()]);
    const acceptedMs = Date.now() - t0;
    await firstFrames([cc, hc], 10000);
    const flow = await flowing([cc, hc], 5, { what: 'call' });
    console.log(`call: ringing after ${ringMs} ms, accepted + webrtcup after ${acceptedMs} ms (page clocks: caller up ${upC.toFixed(0)} ms, host up ${upH.toFixed(0)} ms)`);
    console.log(`media both ways over 5 s: ${fmtFlow(flow)}`);
    // The relayed RTCP reports must make sense on each leg: each browser computes a round
    // trip time for what it sends (its SR answered by the other side's RR through us).
    const [rc, rh] = [await cc.stats(), await hc.stats()];
    const rtts = `caller audio ${rc.rtt.audio} s, video ${rc.rtt.video} s; host audio ${rh.rtt.audio} s, video ${rh.rtt.video} s`;
    for (const v of [rc.rtt.audio, rc.rtt.video, rh.rtt.audio, rh.rtt.video]) {
      assert(typeof v === 'number' && v >= 0 && v < 1, `round trip times from RTCP: ${rtts}`);
    }
    console.log(`round trip times from RTCP: ${rtts}`);
    // In-call text: the data channels are relayed between the legs.
    await cc.sendData('hello host');
    await hc.waitData('hello host');
    await hc.sendData('hello caller');
    await cc.waitData('hello caller');
    console.log('data channel: a message each way relayed between the legs');

    // The caller mutes its audio: the host stops receiving it, video goes on.
    let m = await hc.mark();
    let s = await cc.send({ request: 'set', audio: false });
    let r = await cc.waitEvent({ replyOrError: true }, s);
    assert(r.result && r.result.event === 'set', `set audio:false answered ${JSON.stringify(r)}`);
    if (isParley()) {
      const ms = await hc.waitEvent({ event: 'media_state' }, m, 5000);
      assert(ms.result.username === caller.username && ms.result.audio === false && ms.result.video === true,
        `media_state after mute: ${JSON.stringify(ms.result)}`);
    } else parleyOnly.push('media_state events');
    await sleep(1500);
    const mA = await hc.stats();
    const cA = await cc.stats();
    await sleep(2500);
    const mB = await hc.stats();
    const cB = await cc.stats();
    const mutedAudio = mB.audio.packetsReceived - mA.audio.packetsReceived;
    assert(mutedAudio <= 2, `host still receives the muted caller's audio: ${mutedAudio} packets in 2.5 s`);
    const mutedVideo = mB.video.packetsReceived - mA.video.packetsReceived;
    const mutedFrames = mB.video.framesDecoded - mA.video.framesDecoded;
    assert(mutedVideo >= 25 && mutedFrames >= 1, `host video stopped while only audio was muted: ${mutedVideo} packets, ${mutedFrames} frames in 2.5 s`);
    const hostAudioAtCaller = cB.audio.packetsReceived - cA.audio.packetsReceived;
    assert(hostAudioAtCaller >= 60, `the caller stopped receiving the host's audio (${hostAudioAtCaller} packets in 2.5 s) though only the caller muted`);

    m = await hc.mark();
    s = await cc.send({ request: 'set', audio: true });
    r = await cc.waitEvent({ replyOrError: true }, s);
    assert(r.result && r.result.event === 'set', `set audio:true answered ${JSON.stringify(r)}`);
    if (isParley()) {
      const ms = await hc.waitEvent({ event: 'media_state' }, m, 5000);
      assert(ms.result.username === caller.username && ms.result.audio === true && ms.result.video === true,
        `media_state after unmute: ${JSON.stringify(ms.result)}`);
    }
    await sleep(1000);
    const back = await flowing([hc], 2, { video: true, what: 'after unmute' });
    console.log(`caller muted: host received ${mutedAudio} audio packets in 2.5 s (caller still got ${hostAudioAtCaller} from the host); ` +
      `unmuted: ${back.host.audioPps.toFixed(0)} pkt/s again`);

    // The caller caps what it sends (REMB from the server): the host's inbound video follows.
    s = await cc.send({ request: 'set', bitrate: 150000 });
    r = await cc.waitEvent({ replyOrError: true }, s);
    assert(r.result && r.result.event === 'set', `set bitrate answered ${JSON.stringify(r)}`);
    await sleep(4000);
    const capped = await flowing([hc], 3, { what: 'with a 150 kbit/s cap' });
    assert(capped.host.kbps <= 230, `the caller's 150 kbit/s cap does not hold: the host receives ${capped.host.kbps.toFixed(0)} kbit/s of video`);
    s = await cc.send({ request: 'set', bitrate: 0 });
    await cc.waitEvent({ replyOrError: true }, s);
    console.log(`bitrate cap 150 kbit/s: the host receives ${capped.host.kbps.toFixed(0)} kbit/s of video (${capped.host.fps.toFixed(1)} frames/s)`);

    if (isParley()) {
      // The operator's view of the plugin (admin port): the live call is listed.
      const view = await (await fetch(`http://127.0.0.1:${srv.ports.admin}/admin/plugins/calls`)).json();
      const live = view.calls.find((x) => x.call_id === callId);
      assert(live && live.state === 'active', `/admin/plugins/calls does not list the call as active: ${JSON.stringify(view).slice(0, 300)}`);
    }

    // The caller hangs up.
    m = await hc.mark();
    s = await cc.hangup();
    r = await cc.waitEvent({ event: 'hangup' }, s, 5000);
    const hh = await hc.waitEvent({ event: 'hangup' }, m, 5000);
    assert(typeof hh.result.reason === 'string' && hh.result.reason.length > 0, `host hangup without a reason: ${JSON.stringify(hh.result)}`);
    console.log(`hangup: caller got reason "${r.result.reason}", host got reason "${hh.result.reason}"`);
    if (isParley()) {
      assert(hh.result.call_id === callId, `host hangup call_id ${hh.result.call_id}, want ${callId}`);
      const row = await waitCall(srv, caller.token, callId, (c) => c.state === ENDED_STATE);
      assert(row.state === ENDED_STATE, `GET /calls/${callId} after hangup: ${JSON.stringify(row)}`);
      assert(typeof row.end_reason === 'string' && row.end_reason.length > 0, `call without end_reason: ${JSON.stringify(row)}`);
      assert(row.kind === 'video', `call kind ${JSON.stringify(row.kind)}, want video (offered audio + video)`);
      const list = await listCalls(srv, caller.token);
      const mine = list.find((c) => String(c.id) === callId);
      assert(mine && mine.state === ENDED_STATE, `GET /calls as the caller: ${JSON.stringify(list).slice(0, 500)}`);
      const hostList = await listCalls(srv, host.token);
      assert(hostList.some((c) => String(c.id) === callId), `the call is missing from the host's GET /calls: ${JSON.stringify(hostList).slice(0, 500)}`);
      const other = await getCall(srv, host.token, callId);
      assert(other.state === ENDED_STATE, `GET /calls/${callId} as the host: ${JSON.stringify(other)}`);
      console.log(`GET /api/v1/calls: state ${row.state}, end_reason ${row.end_reason}, kind ${row.kind}`);
    } else parleyOnly.push('call_id in hangup, GET /api/v1/calls');
    await Promise.all([cc.stop(), hc.stop()]);
  });
  if (parleyOnly.length) console.log(`skipped against ${srv.target} (parley only): ${parleyOnly.join('; ')}`);
});
