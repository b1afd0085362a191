#!/usr/bin/env node
// chat_bench: billed chat messages per second end to end over data channels, and their
// latency, on our server, with Debian's Janus 1.1.2 textroom (in memory: no storage, no
// billing, no receipts) as a reference row in the same run.
//
// Load: P caller/host pairs (each its own conversation, each user its own Janus session with
// its own token), a total of R messages per second from the callers, evenly paced (each pair
// its own phase), for S seconds. The clients are either our C client (--client c, the
// default: chat_bench_client, our own WebRTC peer per client over the Janus HTTP API, a few
// tens of us of CPU per message) or one headless Chromium page (--client chromium:
// chat_bench_page.js over WebSocket, ~300 us of CPU per message, which at 5k msg/s takes
// most of a 2-core machine away from the server). Each host
// confirms every message with `delivered`. Per message: send -> `sent` reply (stored, fsynced,
// charged), send -> the host has it, send -> the caller has the delivered receipt. The server's
// CPU (utime + stime from /proc) over the run, minus what it burns idle with the same clients
// connected, gives the CPU per message.
// Our server runs at its defaults except: auth on (as deployed), chat.rate_per_s / chat.burst
// raised (one caller sends R/P per second: the per-user allowance is not what is measured),
// ws.max_connections_per_ip raised (every client comes from 127.0.0.1)
// and a large credit package so that callers do not run dry.
// After our rows: the ledger check, one charge per message (wallet delta = rate x messages).
//
// Usage (as root, inside a network namespace: run via tests/bench/run_chat_bench.sh):
//   PARLEY_BIN=build/parley node tests/bench/chat_bench.mjs [--pairs 50] [--rates 1000,2500,5000]
//        [--seconds 10] [--targets parley,janus] [--client c|chromium] [--client-loops 2]
//   env CHAT_BENCH_CLIENT  the C client (default: <PARLEY_BIN's dir>/tests/bench/chat_bench_client)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const LIB = path.join(HERE, '..', 'integration', 'lib');
const { startServer } = await import(path.join(LIB, 'server.mjs'));
const { api, callsServerOpts } = await import(path.join(LIB, 'calls.mjs'));

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const PAIRS = Number(arg('pairs', 50));
const RATES = arg('rates', '1000,2500,5000').split(',').map(Number);
const SECONDS = Number(arg('seconds', 10));
const TARGETS = arg('targets', 'parley,janus').split(',');
const CLIENT = arg('client', 'c');
const CLIENT_LOOPS = Number(arg('client-loops', 2));
// Extra options for our server, space-separated (e.g. "--chat.batch_window_ms=5"): variants.
const SERVER_ARGS = arg('server-args', '').split(' ').filter(Boolean);
if (CLIENT !== 'c' && CLIENT !== 'chromium') {
  console.error(`chat_bench: --client c|chromium, not ${CLIENT}`);
  process.exit(2);
}
// Chromium's driver only when it is the client (the C client needs no npm packages).
const { openBrowser, browserAvailable } = CLIENT === 'chromium'
  ? await import(path.join(LIB, 'browser.mjs')) : {};
const MESSAGE_RATE = 2;
const INDEX = 45;

function cpuTicks(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]); // utime + stime (fields 14, 15)
}

async function parleyUsers(srv) {
  const users = [];
  for (let i = 0; i < PAIRS; i++) {
    const mk = async (role, n) => {
      const email = `bench-${role}-${process.pid}-${n}@chat.example.test`;
      let r = await api(srv, 'POST', '/auth/register', { email, password: 'bench-Pass-9', role, display_name: `${role} ${n}` });
      if (r.status !== 201) throw new Error(`register: ${r.status} ${JSON.stringify(r.json)}`);
      const id = r.json.user.id;
      r = await api(srv, 'POST', '/auth/login', { email, password: 'bench-Pass-9', device_id: 'bench' });
      return { id, token: r.json.access_token };
    };
    const caller = await mk('caller', i);
    const host = await mk('host', i);
    let r = await api(srv, 'POST', '/purchases', { package_id: 'bench' }, caller.token, { 'idempotency-key': `bench-${process.pid}-${i}` });
    if (r.status !== 201) throw new Error(`purchase: ${r.status} ${JSON.stringify(r.json)}`);
    r = await api(srv, 'PATCH', '/me', { message_rate: MESSAGE_RATE }, host.token);
    if (r.status !== 200) throw new Error(`PATCH /me: ${r.status}`);
    r = await api(srv, 'POST', '/conversations', { with: host.id }, caller.token);
    if (r.status !== 201) throw new Error(`conversation: ${r.status} ${JSON.stringify(r.json)}`);
    users.push({ caller, host, room: r.json.id });
  }
  return users;
}

async function walletTotal(srv, users) {
  let sum = 0;
  for (const u of users) {
    const r = await api(srv, 'GET', '/wallet', undefined, u.caller.token);
    sum += r.json.available + (r.json.held || 0);
  }
  return sum;
}

async function openClients(page, srv, users, ours) {
  const pairs = [];
  for (let i = 0; i < users.length; i += 10) {
    const batch = users.slice(i, i + 10).map(async (u, k) => {
      const n = i + k;
      const caller = await page.evaluate(([url, t]) => window.bench.open(url, t), [srv.wsUrl, ours ? u.caller.token : '']);
      const host = await page.evaluate(([url, t]) => window.bench.open(url, t), [srv.wsUrl, ours ? u.host.token : '']);
      const room = ours ? u.room : 5000 + n;
      if (!ours) await page.evaluate(([id, r]) => window.bench.createRoom(id, r), [caller, room]);
      const names = ours ? [String(u.caller.id), String(u.host.id)] : [`c${n}`, `h${n}`];
      for (const [id, name] of [[caller, names[0]], [host, names[1]]]) {
        const j = await page.evaluate(([c, r, un]) => window.bench.join(c, r, un), [id, room, name]);
        if (j.textroom !== 'success') throw new Error(`join: ${JSON.stringify(j)}`);
      }
      return { caller, host, room };
    });
    pairs.push(...(await Promise.all(batch)));
  }
  return pairs;
}

function ms(x) { return x === null ? '-' : x.toFixed(1); }

function printRow(t, rate, r, row) {
  const err = Object.keys(r.errors).length ? ` errors ${JSON.stringify(r.errors)}` : '';
  const client = row.clientUsPerMsg ? `; client CPU ${row.clientUsPerMsg.toFixed(0)} us/message` : '';
  console.log(`  ${t.padEnd(6)} ${String(rate).padStart(5)}/s: sent ${r.sent}, replies ${r.replies}, at host ${r.atHost}, ` +
    `receipts ${r.receipts}; delivered ${(r.atHost / r.seconds).toFixed(0)}/s; ` +
    `sent p50/p99 ${ms(r.sentMs.p50)}/${ms(r.sentMs.p99)} ms, at host ${ms(r.hostMs.p50)}/${ms(r.hostMs.p99)} ms, ` +
    `receipt ${ms(r.receiptMs.p50)}/${ms(r.receiptMs.p99)} ms; server CPU ${row.cpuS.toFixed(1)} s = ` +
    `${row.perMsgUs ? row.perMsgUs.toFixed(0) : '-'} us/message${client}${err}`);
  if (r.serverThreadsS && r.atHost) {
    // Threads of one kind (Janus's "hloop <handle id>", one per handle) summed; the 8 busiest.
    const kinds = {};
    for (const [n, s] of Object.entries(r.serverThreadsS)) {
      const k = n.replace(/\s\d{4,}$/, ' *');
      kinds[k] = (kinds[k] || 0) + s;
    }
    const by = Object.entries(kinds).filter(([, s]) => s * 1e6 / r.atHost >= 0.5)
      .sort((a, b) => b[1] - a[1]).slice(0, 8).map(([n, s]) => `${n} ${(s * 1e6 / r.atHost).toFixed(0)}`);
    console.log(`  ${t.padEnd(6)} ${String(rate).padStart(5)}/s: server CPU by thread (us/message): ${by.join(', ')}`);
  }
  if (r.hostP99BySecond) console.log(`  ${t.padEnd(6)} ${String(rate).padStart(5)}/s: at host p99 by second sent (ms): ` +
    r.hostP99BySecond.map(ms).join(' '));
}

// The Chromium page's clients: open, idle reading, rows, close.
async function rowsChromium(t, br, srv, users, ours) {
  const rows = [];
  const page = await br.newPage();
  await page.route((url) => url.pathname === '/chat_bench_page.js', (route) => route.fulfill({
    status: 200, headers: { 'content-type': 'text/javascript' },
    body: fs.readFileSync(path.join(HERE, 'chat_bench_page.js')),
  }));
  await page.evaluate(async () => { window.bench = await import('/chat_bench_page.js'); });
  const t0 = Date.now();
  const pairs = await openClients(page, srv, users, ours);
  console.log(`  ${t}: ${PAIRS} pairs up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  // What the server burns with every client connected and nobody writing (keepalives, SCTP
  // and ICE timers): subtracted from each row's CPU for the per-message figure.
  const i0 = cpuTicks(srv.child.pid);
  await new Promise((r) => setTimeout(r, 3000));
  const idlePerS = (cpuTicks(srv.child.pid) - i0) / 100 / 3;
  console.log(`  ${t}: idle with ${2 * PAIRS} clients: ${(idlePerS * 100).toFixed(1)} % of a core`);
  for (const rate of RATES) {
    const c0 = cpuTicks(srv.child.pid);
    const w0 = Date.now();
    const r = await page.evaluate((o) => window.bench.run(o), { pairs, rate, seconds: SECONDS, receipts: ours, ourProtocol: ours });
    const cpuS = (cpuTicks(srv.child.pid) - c0) / 100 - idlePerS * ((Date.now() - w0) / 1000);
    const row = { t, rate, ...r, cpuS, perMsgUs: r.atHost ? (cpuS * 1e6) / r.atHost : null, clientUsPerMsg: null };
    rows.push(row);
    printRow(t, rate, r, row);
  }
  await page.evaluate(() => window.bench.closeAll());
  await page.close();
  return rows;
}

function cClientPath() {
  if (process.env.CHAT_BENCH_CLIENT) return process.env.CHAT_BENCH_CLIENT;
  return path.join(path.dirname(path.resolve(process.env.PARLEY_BIN || 'build/parley')), 'tests', 'bench', 'chat_bench_client');
}

// The C client (chat_bench_client): it sets the pairs up, reads the server's CPU idle and
// over each row itself (--pid), and prints one JSON line per event; the idle subtraction
// stays here, as for Chromium.
async function rowsC(t, srv, users, ours) {
  const bin = cClientPath();
  if (!fs.existsSync(bin)) throw new Error(`no C client at ${bin} (build it, or set CHAT_BENCH_CLIENT)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-bench-'));
  const file = path.join(dir, 'pairs.json');
  const pairs = users.map((u, n) => (ours
    ? { caller: u.caller, host: u.host, room: u.room }
    : { caller: { id: `c${n}` }, host: { id: `h${n}` }, room: 5000 + n }));
  fs.writeFileSync(file, JSON.stringify(pairs));
  // One address per client peer, where the server's candidates are: ours offers 127.0.0.1
  // (and ::1), Janus's libnice skips loopback and offers veth0's 127.0.0.2 (netns.sh); a
  // pair across the two addresses never connected.
  const args = ['--url', srv.httpUrl, '--pairs-file', file, '--rates', RATES.join(','),
    '--seconds', String(SECONDS), '--pid', String(srv.child.pid), '--bind-ip', ours ? '127.0.0.1' : '127.0.0.2',
    '--client-loops', String(CLIENT_LOOPS), ...(ours ? [] : ['--janus'])];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr.on('data', (d) => process.stderr.write(`  ${t} client: ${d}`));
  const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
  const rows = [];
  let idlePerS = 0;
  let ready = PAIRS;
  for await (const line of readline.createInterface({ input: child.stdout })) {
    let e;
    try { e = JSON.parse(line); } catch { console.log(`  ${t} client: ${line}`); continue; }
    if (e.event === 'up') {
      ready = e.ready;
      console.log(`  ${t}: ${e.ready}/${e.pairs} pairs up in ${e.setupS.toFixed(1)} s (C client)`);
      if (e.ready < e.pairs) process.exitCode = 1;
    } else if (e.event === 'idle') {
      idlePerS = e.serverCpuS / e.seconds;
      console.log(`  ${t}: idle with ${2 * ready} clients: ${(idlePerS * 100).toFixed(1)} % of a core ` +
        `(client ${(100 * e.clientCpuS / e.seconds).toFixed(1)} %)`);
    } else if (e.event === 'row') {
      const cpuS = e.serverCpuS - idlePerS * e.wallS;
      const row = { t, ...e, cpuS, perMsgUs: e.atHost ? (cpuS * 1e6) / e.atHost : null,
        clientUsPerMsg: e.sent ? (e.clientCpuS * 1e6) / e.sent : null };
      rows.push(row);
      printRow(t, e.rate, e, row);
      if (e.lateSends || e.sendErrors || e.clientsFailed) {
        console.log(`  ${t} client: ${e.lateSends} sends late by > 2 ms (max ${e.maxLateMs.toFixed(1)} ms), ` +
          `${e.sendErrors} send errors, ${e.clientsFailed} clients failed`);
      }
    }
  }
  const how = await exited;
  fs.rmSync(dir, { recursive: true, force: true });
  if (how.code !== 0) {
    console.log(`  ${t}: chat_bench_client exited with ${JSON.stringify(how)}`);
    process.exitCode = 1;
  }
  return rows;
}

async function runTarget(t, br) {
  process.env.PARLEY_TARGET = t;
  const ours = t === 'parley';
  const extra = ours ? callsServerOpts(INDEX, [
    '--chat.rate_per_s=100000', '--chat.burst=100000', '--chat.device_requests_per_s=100000',
    '--chat.device_burst=100000', '--ws.max_connections_per_ip=4096',
    // 100 PeerConnections on the 100 ports of the test range: Chromium's own ephemeral UDP
    // ports land in it about one run in three, and the PeerConnection left without a port
    // never comes up (the run waits for ever). This namespace is ours alone: take 1000.
    '--media.rtp_port_range=45000-45999',
    '--billing.credit_packages=[{"id":"bench","credits":100000000,"price_cents":100,"currency":"USD"}]',
    ...SERVER_ARGS,
  ]).extraArgs : [];
  const srv = await startServer({ index: INDEX, extraArgs: extra, readyTimeoutMs: 30000 });
  let rows = [];
  try {
    const users = ours ? await parleyUsers(srv) : Array.from({ length: PAIRS }, () => ({}));
    const before = ours ? await walletTotal(srv, users) : 0;
    rows = CLIENT === 'c' ? await rowsC(t, srv, users, ours) : await rowsChromium(t, br, srv, users, ours);
    const replied = rows.reduce((k, r) => k + r.replies, 0);
    if (ours) {
      // What was still in flight commits: an overloaded row can leave seconds of backlog, and
      // wallets read before the last commits would not match the messages counted after.
      const storedNow = async () => {
        let n = 0;
        for (const u of users) {
          const r = await api(srv, 'GET', '/conversations', undefined, u.caller.token);
          n += r.json.conversations.reduce((k, c) => k + c.last_seq, 0);
        }
        return n;
      };
      let stored = -1;
      for (let k = 0; k < 30; k++) {
        await new Promise((r) => setTimeout(r, 2000));
        const n = await storedNow();
        if (n === stored) break;
        stored = n;
      }
      const after = await walletTotal(srv, users);
      const check = await fetch(`http://127.0.0.1:${srv.ports.admin}/admin/ledger/check`).then((x) => x.json());
      const okMoney = before - after === stored * MESSAGE_RATE;
      console.log(`  parley money: callers paid ${before - after} for ${stored} stored messages at ${MESSAGE_RATE} ` +
        `(${okMoney ? 'one charge each' : 'MISMATCH'}; ${replied} sent replies seen), ledger check ${JSON.stringify(check.ok ?? check)}`);
      if (!okMoney || check.ok === false) process.exitCode = 1;
    }
  } finally {
    await srv.stop();
  }
  return rows;
}

if (CLIENT === 'chromium' && browserAvailable()) {
  console.log(`chat_bench: ${browserAvailable()}`);
  process.exit(77);
}
const br = CLIENT === 'chromium' ? await openBrowser() : null;
const all = [];
try {
  console.log(`chat_bench: ${PAIRS} pairs, rates ${RATES.join(', ')} msg/s, ${SECONDS} s each, targets ${TARGETS.join(', ')}, ` +
    `client ${CLIENT === 'c' ? `C (${CLIENT_LOOPS} loops)` : 'Chromium'}; load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  for (const t of TARGETS) all.push(...(await runTarget(t, br)));
} finally {
  if (br) await br.close();
}
console.log('\n| server | offered msg/s | delivered msg/s | sent p50 / p99 ms | at host p50 / p99 ms | receipt p50 / p99 ms | server CPU us/msg | client CPU us/msg |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of all) {
  const name = r.t === 'parley' ? 'parley (stored, billed, receipts)' : 'Janus 1.1.2 textroom (memory only)';
  console.log(`| ${name} | ${r.rate} | ${(r.atHost / r.seconds).toFixed(0)} | ${ms(r.sentMs.p50)} / ${ms(r.sentMs.p99)} | ` +
    `${ms(r.hostMs.p50)} / ${ms(r.hostMs.p99)} | ${ms(r.receiptMs.p50)} / ${ms(r.receiptMs.p99)} | ${r.perMsgUs ? r.perMsgUs.toFixed(0) : '-'} | ` +
    `${r.clientUsPerMsg ? r.clientUsPerMsg.toFixed(0) : '-'} |`);
}
for (const rate of RATES) {
  const a = all.find((r) => r.t === 'parley' && r.rate === rate);
  const b = all.find((r) => r.t === 'janus' && r.rate === rate);
  if (a && b && a.perMsgUs && b.perMsgUs) console.log(`ratio parley/janus CPU per message at ${rate}/s: ${(a.perMsgUs / b.perMsgUs).toFixed(2)}`);
}
