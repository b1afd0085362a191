// Node side of lib/page/vcmini.js (the hand-written videocall client over WebSocket) and
// media checks for the calls tests that disturb a running call (calls_reconnect, calls_loss).
//
// Contract:
// - openMiniClient(br, label) opens a new page (its own browser context) on the test page of
//   lib/browser.mjs, serves and imports /vcmini.js as window.vc and returns a MiniClient
//   whose methods run the page's functions. Console lines of all these pages, labelled, are
//   in miniConsoleTail().
// - watchStep(clients, fn, tailSeconds) runs fn() while sampling every client's inbound
//   counters once a second and its 50 ms gap monitor, then keeps sampling tailSeconds more:
//   resolves with {result, seconds, stalls, gaps, rates}; stalls lists each second in which
//   a client's audio or video packet counter did not rise.
// - feedback(a, b) is the NACK/PLI/loss difference between two getStats digests.

import fs from 'node:fs';
import path from 'node:path';
import { assert } from './server.mjs';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const VCMINI = path.join(HERE, 'page', 'vcmini.js');

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

const consoleLines = [];

export function miniConsoleTail(n = 60) { return consoleLines.slice(-n).join('\n'); }

export class MiniClient {
  constructor(page, label) { this.page = page; this.label = label; }

  ev(fn, arg) { return this.page.evaluate(fn, arg); }

  connect(url, token) { return this.ev(([u, t]) => window.vc.connect(u, t), [url, token ?? null]); }

  async register(username) {
    const r = await this.ev((u) => window.vc.register(u), username);
    assert(r.result && r.result.event === 'registered', `${this.label}: register ${username}: ${JSON.stringify(r)}`);
    return r;
  }

  call(username) { return this.ev((u) => window.vc.call(u), username); }

  accept() { return this.ev(() => window.vc.accept()); }
  results(name) { return this.ev((n) => window.vc.results(n), name); }

  set(body) { return this.ev((b) => window.vc.set(b), body); }

  iceRestart() { return this.ev(() => window.vc.iceRestart()); }

  reconnect(gapMs) { return this.ev((g) => window.vc.reconnect(g), gapMs); }

  mark() { return this.ev(() => window.vc.mark()); }

  // Resolves with the matching event; fails the test when none comes in ms.
  async waitEvent(match, since = 0, ms = 10000) {
    const e = await this.ev(([m, s, t]) => window.vc.waitEvent(m, s, t), [match, since, ms]);
    if (!e) {
      const inf = await this.info();
      assert(false, `${this.label}: no ${JSON.stringify(match)} since #${since} in ${ms} ms; last events ${JSON.stringify(inf.events.slice(-10))}`);
    }
    return e;
  }

  stats() { return this.ev(() => window.vc.stats()); }

  info() { return this.ev(() => window.vc.info()); }

  monitorStart(periodMs = 50) { return this.ev((p) => window.vc.monitorStart(p), periodMs); }

  monitorStop() { return this.ev(() => window.vc.monitorStop()); }

  hangup() { return this.ev(() => window.vc.hangup()); }

  async destroy() { try { await this.ev(() => window.vc.destroy()); } catch { /* page gone */ } }

  // Printed on failure: the client's last events, errors and socket history.
  async dump() {
    try {
      const i = await this.info();
      return `--- ${this.label}: session ${i.sessionId} handle ${i.handleId}, socket gen ${i.gen} live ${i.live} queued ${i.queued}, ` +
        `keepalives ${JSON.stringify(i.keepalives)}, updates answered ${i.updatesAnswered}, answers applied ${i.answersApplied}\n` +
        `errors: ${JSON.stringify(i.errors)}\nclosed sockets: ${JSON.stringify(i.closedSockets)}\n` +
        `events:\n${i.events.map((e) => JSON.stringify(e)).join('\n')}`;
    } catch (e) { return `--- ${this.label}: (no state: ${e.message})`; }
  }
}

export async function openMiniClient(br, label) {
  const page = await br.newPage();
  page.on('console', (m) => {
    consoleLines.push(`[${label}] [${m.type()}] ${m.text()}`);
    if (consoleLines.length > 400) consoleLines.shift();
  });
  page.on('pageerror', (e) => consoleLines.push(`[${label}] [pageerror] ${e.message}`));
  await page.route((url) => url.pathname === '/vcmini.js', (route) => route.fulfill({
    status: 200, headers: { 'content-type': 'text/javascript', 'cache-control': 'no-store' }, body: fs.readFileSync(VCMINI),
  }));
  await page.evaluate(async () => { window.vc = await import('/vcmini.js'); });
  return new MiniClient(page, label);
}

// Waits for the first decoded video frame on every client.
export async function firstFrames(clients, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const s = await Promise.all(clients.map((c) => c.stats()));
    const missing = clients.filter((c, k) => !(s[k].video.framesDecoded > 0));
    if (missing.length === 0) return s;
    assert(Date.now() < end, `no video frame decoded in ${ms} ms by ${missing.map((c) => c.label).join(', ')}`);
    await sleep(200);
  }
}

// See the contract above. The once-a-second samples are taken from node, so they keep going
// while fn() waits on a page.
export async function watchStep(clients, fn, tailSeconds) {
  await Promise.all(clients.map((c) => c.monitorStart(50)));
  const samples = [await Promise.all(clients.map((c) => c.stats()))];
  let done = false;
  let result;
  let error = null;
  const t0 = Date.now();
  const action = (async () => {
    try { result = await fn(); } catch (e) { error = e; }
    done = true;
  })();
  let doneAt = null;
  for (;;) {
    await sleep(1000);
    samples.push(await Promise.all(clients.map((c) => c.stats())));
    if (error) break;
    if (done && doneAt === null) doneAt = samples.length;
    if (doneAt !== null && samples.length - doneAt >= tailSeconds) break;
    if (Date.now() - t0 > 30000) break;
  }
  await action;
  const gaps = await Promise.all(clients.map((c) => c.monitorStop()));
  if (error) throw error;
  assert(done, 'the step did not finish in 30 s');
  const stalls = [];
  for (let i = 1; i < samples.length; i++) {
    clients.forEach((c, k) => {
      const a = samples[i - 1][k];
      const b = samples[i][k];
      if (b.audio.packetsReceived <= a.audio.packetsReceived) stalls.push(`${c.label} audio in second ${i}`);
      if (b.video.packetsReceived <= a.video.packetsReceived) stalls.push(`${c.label} video in second ${i}`);
    });
  }
  const seconds = samples.length - 1;
  const rates = {};
  clients.forEach((c, k) => {
    const a = samples[0][k];
    const b = samples[seconds][k];
    rates[c.label] = {
      audioPps: (b.audio.packetsReceived - a.audio.packetsReceived) / seconds,
      videoPps: (b.video.packetsReceived - a.video.packetsReceived) / seconds,
      fps: (b.video.framesDecoded - a.video.framesDecoded) / seconds,
    };
  });
  return { result, seconds, stalls, gaps: Object.fromEntries(clients.map((c, k) => [c.label, gaps[k]])), rates, last: samples[seconds] };
}

// What changed in the loss-related counters of a getStats digest (lib/page/stats.js).
export function feedback(a, b) {
  return {
    lost: b.video.packetsLost - a.video.packetsLost,
    nacksSent: b.video.nackCount - a.video.nackCount,
    plisSent: b.video.pliCount - a.video.pliCount,
    freezes: b.video.freezeCount - a.video.freezeCount,
    nacksReceived: b.outVideoFeedback.nackCount - a.outVideoFeedback.nackCount,
    plisReceived: b.outVideoFeedback.pliCount - a.outVideoFeedback.pliCount,
    retransmitted: b.outVideoFeedback.retransmittedPackets - a.outVideoFeedback.retransmittedPackets,
  };
}

export function fmtFeedback(f) {
  return `as receiver: ${f.lost} video packets lost, ${f.nacksSent} NACKs and ${f.plisSent} PLIs sent, ${f.freezes} freezes; ` +
    `as sender: ${f.nacksReceived} NACKs and ${f.plisReceived} PLIs received, ${f.retransmitted} packets retransmitted`;
}
