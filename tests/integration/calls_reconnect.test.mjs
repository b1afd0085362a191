#!/usr/bin/env node
// A running 1:1 call through janus.plugin.videocall survives its clients' transport changes.
// Two Chromium pages with the hand-written videocall client (lib/page/vcmini.js, WebSocket,
// auth token on every request): a caller calls a host with audio + video, the host accepts,
// webrtcup and decoded frames on both. Then, one after the other, each step watched by
// getStats() once a second (inbound audio and video packets must rise on both sides in
// every second) and every 50 ms (the longest break in the rises is printed):
//   a. the caller's WebSocket is closed, 1.5 s later a new one `claim`s the session; the
//      caller's PeerConnection is untouched, and a `set` {audio:false} sent afterwards on
//      the new socket is answered there and reaches the host as `media_state` (parley): the
//      plugin session survived (audio back on with {audio:true});
//   b. the same for the host;
//   c. the caller restarts ICE: `set` + an offer made with iceRestart. The plugin relays it
//      to the host as `update` + offer (the host's own transport unchanged), the host answers
//      with `set` + answer, the caller gets `set` (its reply) and then `update` + answer.
//      The caller's ufrags (its own and the server's) change; the host's ufrags and selected
//      candidate pair do not;
//   d. the same started by the host.
// Finally the caller hangs up and the host gets `hangup`. With parley the call is billed
// (--billing.minute_ms=5000, video rate 3): none of the steps made a second call or an
// extra charge: one call in GET /calls, minutes_charged = ceil(connected_ms / minute),
// charged = 3 x minutes, connected_ms about the wall time from webrtcup to the hangup, and
// every minute appears once in the caller's billing events.
// Against Janus 1.1.2 (PARLEY_TARGET=janus) there is no token and no media_state.
import { openBrowser, browserAvailable } from './lib/browser.mjs';
import { UUID_RE, api, callsServerOpts, isParley, listCalls, newUser, sleep, waitCall } from './lib/calls.mjs';
import { firstFrames, miniConsoleTail, openMiniClient, watchStep } from './lib/calls_media.mjs';
import { assert, skip, withServer } from './lib/server.mjs';

const INDEX = 31;
const DROP_GAP_MS = 1500;
const TAIL_S = 3;
// Every second must see packets of both kinds on both sides; what the 50 ms monitor sees
// as a break of a counter must stay under this (a second without any packet fails anyway).
const MAX_GAP_MS = 1000;
const MUTE_MS = 800;
const MINUTE_MS = 5000;
const VIDEO_RATE = 3;

function ms(x) { return `${Math.round(x)} ms`; }

function fmtStep(st) {
  return Object.entries(st.gaps).map(([who, g]) => `${who} audio ${ms(g.audio.maxGapMs)} video ${ms(g.video.maxGapMs)}` +
    ` (${st.rates[who].audioPps.toFixed(0)}/${st.rates[who].videoPps.toFixed(0)} pkt/s, ${st.rates[who].fps.toFixed(1)} fps)`).join('; ') +
    ` over ${st.seconds} s`;
}

function checkStep(name, st) {
  assert(st.stalls.length === 0, `${name}: media stalled: ${st.stalls.join(', ')} (longest breaks: ${fmtStep(st)})`);
  for (const [who, g] of Object.entries(st.gaps)) {
    for (const kind of ['audio', 'video']) {
      assert(g[kind].maxGapMs < MAX_GAP_MS, `${name}: ${who}'s inbound ${kind} broke for ${ms(g[kind].maxGapMs)} ` +
        `(at ${ms(g[kind].atMs)} into the step; the page's own sampling paused at most ${ms(g.maxSamplerStallMs)})`);
    }
  }
}

// One call, billed once per started minute at the video rate, nothing extra for the steps.
async function checkBilled(srv, caller, callId, wallMs, billingResults) {
  const row = await waitCall(srv, caller.token, callId, (c) => c.billing_settled === true, 8000);
  assert(row.billing_settled === true, `call ${callId} not settled: ${JSON.stringify(row)}`);
  const calls = await listCalls(srv, caller.token);
  assert(calls.length === 1, `the caller has ${calls.length} calls, want 1`);
  assert(row.minutes_charged === Math.ceil(row.connected_ms / MINUTE_MS) && row.charged === VIDEO_RATE * row.minutes_charged,
    `billing: ${row.minutes_charged} minutes, ${row.charged} charged for connected_ms ${row.connected_ms} (minute ${MINUTE_MS} ms, rate ${VIDEO_RATE})`);
  assert(Math.abs(row.connected_ms - wallMs) <= 1500, `connected_ms ${row.connected_ms}, the call was up for ${wallMs} ms`);
  const ticks = billingResults.filter((r) => r.call_id === callId);
  const minutes = [...new Set(ticks.map((t) => t.minutes_charged))];
  assert(minutes.length === row.minutes_charged && minutes.every((m, i) => m === i + 1) &&
    ticks.every((t) => t.charged === VIDEO_RATE * t.minutes_charged),
    `billing events: minutes ${JSON.stringify(minutes)}, want 1..${row.minutes_charged}, charged ${JSON.stringify([...new Set(ticks.map((t) => t.charged))])}`);
  console.log(`billing: one call, ${row.minutes_charged} minutes of ${MINUTE_MS} ms charged ${row.charged} (rate ${VIDEO_RATE}) for connected_ms ${row.connected_ms} ` +
    `(up ${wallMs} ms by the test's clock), ${ticks.length} billing events`);
}

// The same transport path: same ufrags, same local address, same remote port and address. A
// remote first learned from a connectivity check is peer-reflexive, shown without its address
// (":33131") under another stats id until the trickled candidate names it: that is the same
// pair, not a new one (seen on a slow ASan run).
function sameRemote(x, y) {
  if (x === y) return true;
  const [hx, px] = [x.slice(0, x.lastIndexOf(':')), x.slice(x.lastIndexOf(':') + 1)];
  const [hy, py] = [y.slice(0, y.lastIndexOf(':')), y.slice(y.lastIndexOf(':') + 1)];
  return px === py && (hx === '' || hy === '');
}

function samePair(a, b) {
  return a && b && a.local === b.local && typeof a.remote === 'string' && typeof b.remote === 'string' &&
    sameRemote(a.remote, b.remote) && a.localUfrag === b.localUfrag && a.remoteUfrag === b.remoteUfrag;
}

function fmtPair(p, types) {
  return `${p.local} <-> ${p.remote || '?'}${types ? ` (${types.local}/${types.remote})` : ''}`;
}

await withServer(callsServerOpts(INDEX, [`--billing.minute_ms=${MINUTE_MS}`]), async (srv) => {
  if (!process.env.PARLEY_NETNS) throw skip('not inside a network namespace (run via tests/integration/run.sh as root)');
  const why = browserAvailable();
  if (why) throw skip(why);
  const parleyOnly = [];
  const caller = await newUser(srv, 'caller', 'ReconnectCaller');
  const host = await newUser(srv, 'host', 'ReconnectHost');
  if (isParley()) {
    const r = await api(srv, 'PATCH', '/me', { audio_rate: 2, video_rate: VIDEO_RATE }, host.token);
    assert(r.status === 200, `PATCH /me rates: ${r.status} ${JSON.stringify(r.json)}`);
  }
  const br = await openBrowser();
  const clients = [];
  try {
    const cc = await openMiniClient(br, 'caller');
    const hc = await openMiniClient(br, 'host');
    clients.push(cc, hc);
    const party = { caller: { c: cc, user: caller, other: hc }, host: { c: hc, user: host, other: cc } };

    await Promise.all([cc.connect(srv.wsUrl, caller.token), hc.connect(srv.wsUrl, host.token)]);
    await hc.register(host.username);
    await cc.register(caller.username);
    const hMark = await hc.mark();
    const calling = await cc.call(host.username);
    assert(calling.result && calling.result.event === 'calling', `call answered ${JSON.stringify(calling)}`);
    const inc = await hc.waitEvent({ event: 'incomingcall', jsep: 'offer' }, hMark);
    const callId = inc.result.call_id;
    if (isParley()) assert(typeof callId === 'string' && UUID_RE.test(callId), `incomingcall call_id ${JSON.stringify(callId)}`);
    const acc = await hc.accept();
    assert(acc.result && acc.result.event === 'accepted', `accept answered ${JSON.stringify(acc)}`);
    await cc.waitEvent({ event: 'accepted', jsep: 'answer' }, 0);
    await Promise.all([cc.waitEvent({ janus: 'webrtcup' }, 0, 15000), hc.waitEvent({ janus: 'webrtcup' }, 0, 15000)]);
    const upAt = Date.now();
    await firstFrames(clients, 10000);
    const base = await watchStep(clients, async () => null, 2);
    checkStep('before any change', base);
    console.log(`call up${callId ? ` (call_id ${callId})` : ""}; before any change: ${fmtStep(base)}`);

    // a/b: drop one side's WebSocket, claim the session on a new one.
    for (const [step, who] of [['a', 'caller'], ['b', 'host']]) {
      const { c, user, other } = party[who];
      const name = `step ${step} (${who}'s WebSocket dropped)`;
      const s0 = await c.stats();
      const i0 = await c.info();
      const st = await watchStep(clients, () => c.reconnect(DROP_GAP_MS), TAIL_S);
      assert(st.result && st.result.janus === 'success', `${name}: claim answered ${JSON.stringify(st.result)}`);
      checkStep(name, st);
      const s1 = await c.stats();
      assert(samePair(s0.pair, s1.pair) && s0.ufrags.local === s1.ufrags.local && s0.ufrags.remote === s1.ufrags.remote,
        `${name}: the ${who}'s PeerConnection changed (pair ${JSON.stringify(s0.pair)} -> ${JSON.stringify(s1.pair)})`);

      // The plugin session is still there: set answers on the new socket, the peer hears it.
      // The mute lasts MUTE_MS: the peer's gap monitor must see it (a self-check of the breaks
      // printed above).
      await other.monitorStart(50);
      let om = await other.mark();
      const set0 = await c.set({ audio: false });
      assert(set0.result && set0.result.event === 'set', `${name}: set audio:false answered ${JSON.stringify(set0)}`);
      let msLine = '';
      if (isParley()) {
        const m0 = await other.waitEvent({ event: 'media_state' }, om, 5000);
        assert(m0.result.username === user.username && m0.result.audio === false && m0.result.video === true && m0.result.call_id === callId,
          `${name}: media_state after the claim: ${JSON.stringify(m0.result)}`);
        msLine = `, the ${who === 'caller' ? 'host' : 'caller'} got media_state audio:false`;
      } else parleyOnly.push(`media_state (step ${step})`);
      await sleep(MUTE_MS);
      om = await other.mark();
      const set1 = await c.set({ audio: true });
      assert(set1.result && set1.result.event === 'set', `${name}: set audio:true answered ${JSON.stringify(set1)}`);
      if (isParley()) {
        const m1 = await other.waitEvent({ event: 'media_state' }, om, 5000);
        assert(m1.result.audio === true, `${name}: media_state after unmute: ${JSON.stringify(m1.result)}`);
      }
      await sleep(500);
      const mute = await other.monitorStop();
      assert(mute.audio.maxGapMs >= MUTE_MS - 300 && mute.audio.maxGapMs <= MUTE_MS + 1500,
        `${name}: a ${MUTE_MS} ms mute was seen as a ${ms(mute.audio.maxGapMs)} break of the inbound audio`);
      assert(mute.video.maxGapMs < MAX_GAP_MS, `${name}: the video broke for ${ms(mute.video.maxGapMs)} while only the audio was muted`);
      const i1 = await c.info();
      assert(i1.gen === i0.gen + 1 && i1.live && i1.queued === 0, `${name}: socket state ${JSON.stringify({ gen: i1.gen, live: i1.live, queued: i1.queued })}`);
      const setReplies = i1.events.filter((e) => e.reply && e.result && e.result.event === 'set');
      assert(setReplies.length >= 2 && setReplies.slice(-2).every((e) => e.gen === i1.gen), `${name}: the set replies did not come on the new socket: ${JSON.stringify(setReplies)}`);
      assert(i1.errors.length === 0, `${name}: client errors ${JSON.stringify(i1.errors)}`);
      await sleep(500);
      console.log(`step ${step}: ${who}'s socket closed for ${DROP_GAP_MS} ms, claim ok; longest inbound breaks: ${fmtStep(st)}; ` +
        `PeerConnection unchanged, set audio:false/true answered on the new socket${msLine}, its ${MUTE_MS} ms mute seen as a ${ms(mute.audio.maxGapMs)} audio break`);
    }

    // c/d: ICE restart by one side.
    for (const [step, who] of [['c', 'caller'], ['d', 'host']]) {
      const { c, other } = party[who];
      const otherName = who === 'caller' ? 'host' : 'caller';
      const name = `step ${step} (ICE restart by the ${who})`;
      const o0 = await other.stats();
      const oi0 = await other.info();
      const om = await other.mark();
      const st = await watchStep(clients, () => c.iceRestart(), TAIL_S + 1);
      const r = st.result;
      checkStep(name, st);
      const upd = await other.waitEvent({ event: 'update', jsep: 'offer' }, om, 100);
      const oi1 = await other.info();
      assert(oi1.updatesAnswered === oi0.updatesAnswered + 1, `${name}: the ${otherName} answered ${oi1.updatesAnswered - oi0.updatesAnswered} update offers`);
      const s1 = await c.stats();
      const o1 = await other.stats();
      assert(r.before.local && s1.ufrags.local && s1.ufrags.local !== r.before.local, `${name}: the ${who}'s ufrag did not change (${r.before.local} -> ${s1.ufrags.local})`);
      assert(s1.ufrags.remote && s1.ufrags.remote !== r.before.remote, `${name}: the server's ufrag towards the ${who} did not change (${r.before.remote} -> ${s1.ufrags.remote})`);
      assert(s1.pair && s1.pair.state === 'succeeded', `${name}: the ${who}'s selected pair after the restart: ${JSON.stringify(s1.pair)}`);
      // The pair in use is of the new ICE generation (not the old one kept alive).
      assert(s1.pair.localUfrag === s1.ufrags.local && s1.pair.remoteUfrag === s1.ufrags.remote,
        `${name}: the ${who}'s selected pair has ufrags ${s1.pair.localUfrag}/${s1.pair.remoteUfrag}, the descriptions ${s1.ufrags.local}/${s1.ufrags.remote}`);
      assert(o1.ufrags.local === o0.ufrags.local && o1.ufrags.remote === o0.ufrags.remote,
        `${name}: the ${otherName}'s ufrags changed: ${JSON.stringify(o0.ufrags)} -> ${JSON.stringify(o1.ufrags)}`);
      assert(upd.jsep.ufrag === o0.ufrags.remote, `${name}: the update offer to the ${otherName} carries ufrag ${upd.jsep.ufrag}, its transport had ${o0.ufrags.remote}`);
      assert(samePair(o0.pair, o1.pair), `${name}: the ${otherName}'s selected pair changed: ${JSON.stringify(o0.pair)} -> ${JSON.stringify(o1.pair)}`);
      const ci = await c.info();
      assert(ci.errors.length === 0 && oi1.errors.length === 0, `${name}: client errors ${JSON.stringify(ci.errors)} ${JSON.stringify(oi1.errors)}`);
      const seen = r.seen.map((e) => `${e.reply ? 'reply ' : ''}${e.janus}${e.result ? ` ${e.result.event}` : ''}${e.error_code ? ` error ${e.error_code}` : ''}` +
        `${e.jsep ? ` + ${e.jsep.type}` : ''} at ${e.t} ms`).join(', ');
      const hangups = [...ci.events, ...oi1.events].filter((e) => e.janus === 'hangup' || (e.result && e.result.event === 'hangup'));
      assert(hangups.length === 0, `${name}: hangup seen: ${JSON.stringify(hangups)}`);
      console.log(`step ${step}: ICE restart by the ${who}: it saw ${seen} (answer applied after ${ms(r.answerMs)}, ${r.trickles} server trickles); ` +
        `its ufrag ${r.before.local} -> ${s1.ufrags.local}, server's ${r.before.remote} -> ${s1.ufrags.remote}, pair ${r.before.pair ? fmtPair(r.before.pair) : '?'} -> ${fmtPair(s1.pair, s1.pairTypes)}; ` +
        `the ${otherName} got update + offer (ufrag ${upd.jsep.ufrag}, unchanged), answered, its ufrags and pair ${fmtPair(o1.pair, o1.pairTypes)} unchanged; ` +
        `longest inbound breaks: ${fmtStep(st)}`);
    }

    // The call still ends normally.
    const hm = await hc.mark();
    const h = await cc.hangup();
    assert(h.result && h.result.event === 'hangup', `hangup answered ${JSON.stringify(h)}`);
    const hh = await hc.waitEvent({ event: 'hangup' }, hm, 5000);
    if (isParley()) assert(hh.result.call_id === callId, `host hangup ${JSON.stringify(hh.result)}`);
    console.log(`hangup: host got reason "${hh.result.reason}"`);
    if (isParley()) await checkBilled(srv, caller, callId, Date.now() - upAt, await cc.results('billing'));
    else parleyOnly.push('billing');
    await Promise.all([cc.destroy(), hc.destroy()]);
  } catch (e) {
    for (const c of clients) console.error(await c.dump());
    console.error(`browser console (last 60):\n${miniConsoleTail(60)}`);
    throw e;
  } finally {
    await br.close();
  }
  if (parleyOnly.length) console.log(`skipped against ${srv.target} (parley only): ${parleyOnly.join('; ')}`);
});
