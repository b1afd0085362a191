// Start and stop the server under test for one integration test.
//
// Contract: startServer() launches either our server (PARLEY_TARGET=parley, the default,
// binary from PARLEY_BIN) or Debian's Janus 1.1.2 (PARLEY_TARGET=janus) with private ports,
// a private temp directory (data dir / generated Janus configs) and the server's output in a
// log file there. It resolves once the server is ready ("parley ready" on stderr; for Janus,
// GET /janus/info answers and the WebSocket port accepts) and rejects after a timeout. The
// returned object owns the process: call stop() in a finally block; stop() is idempotent
// and kills the whole process. tail(n) returns the last n log lines (print them on failure).
//
// Ports: every test passes its own small index (or PARLEY_PORT_BASE is set by run.sh), so
// tests that run at the same time never share ports: HTTP base, WS base+1, admin base+2,
// RTP range 30000+idx*100 .. +99.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const JANUS_LIB = '/usr/lib/x86_64-linux-gnu/janus';

export function target() {
  return (process.env.PARLEY_TARGET || 'parley').toLowerCase();
}

export function repoRoot() {
  if (process.env.PARLEY_ROOT) return process.env.PARLEY_ROOT;
  return path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..');
}

export function portsFor(index) {
  const base = process.env.PARLEY_PORT_BASE ? Number(process.env.PARLEY_PORT_BASE)
    : 18000 + index * 10;
  const rtpBase = process.env.PARLEY_RTP_BASE ? Number(process.env.PARLEY_RTP_BASE)
    : 30000 + index * 100;
  return { http: base, ws: base + 1, admin: base + 2, rtpMin: rtpBase, rtpMax: rtpBase + 99 };
}

function portFree(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

function janusConfigs(dir, ports, opts) {
  const plugins = path.join(dir, 'plugins');
  const transports = path.join(dir, 'transports');
  fs.mkdirSync(plugins);
  fs.mkdirSync(transports);
  // Private folders hold only what the tests use, so Janus loads nothing else.
  fs.symlinkSync(`${JANUS_LIB}/plugins/libjanus_echotest.so`, `${plugins}/libjanus_echotest.so`);
  // The reference for the calls tests (our calls plugin answers as janus.plugin.videocall).
  fs.symlinkSync(`${JANUS_LIB}/plugins/libjanus_videocall.so`, `${plugins}/libjanus_videocall.so`);
  // The reference row of the chat benchmark (our chat plugin answers as janus.plugin.textroom).
  fs.symlinkSync(`${JANUS_LIB}/plugins/libjanus_textroom.so`, `${plugins}/libjanus_textroom.so`);
  for (const t of ['libjanus_http.so', 'libjanus_websockets.so']) {
    fs.symlinkSync(`${JANUS_LIB}/transports/${t}`, `${transports}/${t}`);
  }
  fs.writeFileSync(path.join(dir, 'janus.jcfg'), `general: {
  configs_folder = "${dir}"
  plugins_folder = "${plugins}"
  transports_folder = "${transports}"
  events_folder = "${dir}/none"
  loggers_folder = "${dir}/none"
  debug_level = 4
  session_timeout = ${opts.sessionTimeout}
  # Keep a session whose transport dropped, so it can be claimed (our server's behaviour).
  reclaim_session_timeout = ${opts.sessionTimeout}
  protected_folders = [ "/bin", "/etc", "/usr" ]
}
certificates: { }
media: {
  ipv6 = false
  rtp_port_range = "${ports.rtpMin}-${ports.rtpMax}"
}
nat: {
  nice_debug = false
  full_trickle = true
  ice_ignore_list = "vmnet"
}
plugins: { }
transports: { }
loggers: { }
events: { }
`);
  fs.writeFileSync(path.join(dir, 'janus.transport.http.jcfg'), `general: {
  json = "indented"
  base_path = "/janus"
  http = true
  port = ${ports.http}
  https = false
}
admin: { admin_http = false }
cors: { }
`);
  fs.writeFileSync(path.join(dir, 'janus.transport.websockets.jcfg'), `general: {
  json = "indented"
  ws = true
  ws_port = ${ports.ws}
  wss = false
}
admin: { admin_ws = false }
cors: { }
`);
  fs.writeFileSync(path.join(dir, 'janus.plugin.echotest.jcfg'), 'general: { }\n');
  fs.writeFileSync(path.join(dir, 'janus.plugin.videocall.jcfg'), 'general: { }\n');
  fs.writeFileSync(path.join(dir, 'janus.plugin.textroom.jcfg'), 'general: { json = "compact" }\n');
}

async function httpReady(ports) {
  try {
    const r = await fetch(`http://127.0.0.1:${ports.http}/janus/info`);
    if (!r.ok) return false;
    const j = await r.json();
    return j.janus === 'server_info';
  } catch { return false; }
}

function tcpAccepts(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

// Starts the target. opts: index (port slot), sessionTimeout (s), extraArgs (parley only),
// readyTimeoutMs, paymentProvider (parley only: 'dev' by default, so that tests can buy
// credits; null passes no --billing.payment_provider, i.e. the server's default, none),
// dir (parley only: the `dir` of an earlier server whose data directory the new one uses,
// e.g. a restart after kill -9; its log goes to the next free server-N.log there, so tail()
// and sanitizerReports() read this run's output only).
export async function startServer(opts = {}) {
  const o = { index: 0, sessionTimeout: 60, extraArgs: [], readyTimeoutMs: 20000,
    paymentProvider: 'dev', dir: null, ...opts };
  const t = target();
  const ports = portsFor(o.index);
  for (const p of [ports.http, ports.ws, ports.admin]) {
    if (!(await portFree(p))) throw new Error(`port ${p} is already in use`);
  }
  if (o.dir && (t !== 'parley' || !fs.existsSync(path.join(o.dir, 'data')))) {
    throw new Error(`dir ${o.dir}: only a parley server's directory with its data/ can be reused`);
  }
  const dir = o.dir || fs.mkdtempSync(path.join(os.tmpdir(), `it-${t}-`));
  let logFile = path.join(dir, 'server.log');
  for (let n = 2; fs.existsSync(logFile); n++) logFile = path.join(dir, `server-${n}.log`);
  const log = fs.openSync(logFile, 'a');
  let cmd, args;
  if (t === 'janus') {
    janusConfigs(dir, ports, o);
    cmd = '/usr/bin/janus';
    args = ['-C', path.join(dir, 'janus.jcfg'), '-F', dir, '-o'];
  } else if (t === 'parley') {
    cmd = process.env.PARLEY_BIN;
    if (!cmd) throw new Error('PARLEY_BIN is not set');
    if (!o.dir) fs.mkdirSync(path.join(dir, 'data'));
    args = [
      `--general.data_dir=${path.join(dir, 'data')}`,
      `--general.web_root=${path.join(repoRoot(), 'web')}`,
      `--general.session_timeout=${o.sessionTimeout}`,
      `--http.port=${ports.http}`, `--ws.port=${ports.ws}`, `--admin.port=${ports.admin}`,
      `--http.bind=127.0.0.1`, `--ws.bind=127.0.0.1`,
      '--auth.required=false',
      `--media.rtp_port_range=${ports.rtpMin}-${ports.rtpMax}`,
      ...(o.paymentProvider ? [`--billing.payment_provider=${o.paymentProvider}`] : []),
      ...o.extraArgs,
    ];
  } else {
    throw new Error(`unknown PARLEY_TARGET ${t}`);
  }
  const child = spawn(cmd, args, { cwd: dir, stdio: ['ignore', log, 'pipe'] });
  let stderrBuf = '';
  let readyLine = false;
  child.stderr.on('data', (d) => {
    fs.writeSync(log, d);
    stderrBuf = (stderrBuf + d.toString()).slice(-4096);
    if (stderrBuf.includes('parley ready')) readyLine = true;
  });
  let exited = null;
  child.on('exit', (code, sig) => { exited = { code, sig }; });
  // Never leave a server behind, whatever way this test process ends.
  process.on('exit', () => { if (!exited) child.kill('SIGKILL'); });
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(s, () => { if (!exited) child.kill('SIGKILL'); process.exit(1); });
  }

  const srv = {
    target: t, ports, dir, logFile, child,
    httpUrl: `http://127.0.0.1:${ports.http}/janus`,
    wsUrl: `ws://127.0.0.1:${ports.ws}`,
    exited: () => exited,
    tail(n = 50) {
      try {
        const lines = fs.readFileSync(logFile, 'utf8').split('\n');
        return lines.slice(-n - 1).join('\n');
      } catch (e) { return `(no log: ${e.message})`; }
    },
    // Ends the server (SIGTERM, SIGKILL after 5 s) and resolves with how it exited.
    async stop() {
      if (exited) return exited;
      child.kill('SIGTERM');
      for (let i = 0; i < 50 && !exited; i++) await sleep(100);
      if (!exited) child.kill('SIGKILL');
      for (let i = 0; i < 20 && !exited; i++) await sleep(100);
      return exited || { code: null, sig: 'unknown' };
    },
    // Sanitizer or crash reports in the log (an ASan/UBSan build makes them visible).
    sanitizerReports() {
      let text = '';
      try { text = fs.readFileSync(logFile, 'utf8'); } catch { return []; }
      return text.split('\n').filter((l) => /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: UndefinedBehaviorSanitizer/.test(l));
    },
  };

  const deadline = Date.now() + o.readyTimeoutMs;
  for (;;) {
    if (exited) throw Object.assign(new Error(`server exited early (${JSON.stringify(exited)})`), { srv });
    const ok = t === 'parley' ? readyLine
      : (await httpReady(ports)) && (await tcpAccepts(ports.ws));
    if (ok) break;
    if (Date.now() > deadline) {
      await srv.stop();
      throw Object.assign(new Error('server not ready in time'), { srv });
    }
    await sleep(100);
  }
  return srv;
}

// Runs body(srv) against a fresh server; on failure prints the server log tail and exits 1.
// Exits 77 (skip) when body throws an error with .skip set.
export async function withServer(opts, body) {
  let srv = null;
  const t0 = Date.now();
  try {
    srv = await startServer(opts);
    await body(srv);
    assert(!srv.exited(), `the server died during the test: ${JSON.stringify(srv.exited())}`);
    const how = await srv.stop();
    assert(how.code === 0, `the server did not exit cleanly on SIGTERM: ${JSON.stringify(how)}`);
    const reports = srv.sanitizerReports();
    assert(reports.length === 0, `sanitizer reports in the server log:\n${reports.slice(0, 10).join('\n')}`);
    fs.rmSync(srv.dir, { recursive: true, force: true }); // kept only when the test failed
    console.log(`ok (${((Date.now() - t0) / 1000).toFixed(1)}s against ${target()})`);
    process.exit(0);
  } catch (e) {
    if (e && e.skip) {
      console.log(`SKIP: ${e.message}`);
      if (srv) await srv.stop();
      process.exit(77);
    }
    console.error(`FAILED: ${e && e.stack ? e.stack : e}`);
    const s = srv || (e && e.srv);
    if (s) {
      await s.stop();
      console.error(`--- last 50 lines of the ${s.target} log (${s.logFile}) ---`);
      console.error(s.tail(50));
    }
    process.exit(1);
  }
}

export function skip(reason) {
  return Object.assign(new Error(reason), { skip: true });
}

export function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}
