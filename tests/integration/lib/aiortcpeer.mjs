// Drives an aiortc videocall client (lib/vcaiortc.py run by /usr/bin/python3) from a node
// test through JSON lines on its stdin/stdout.
//
// Contract: aiortcAvailable() returns null when /usr/bin/python3 can import aiortc, else
// the reason. spawnAiortc(label) starts the child; peer.cmd(name, args, timeoutMs) sends
// {id, cmd: name, ...args} and resolves with the reply's result (rejects with its error, on
// timeout, or when the child exits). peer.stderrTail(n) gives its last log lines;
// peer.close() asks it to quit and kills it if it does not within 3 s. spawnAiortc(label,
// script) runs another driver of the same protocol from lib/ (chataiortc.py: the chat client).

import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const PYTHON = '/usr/bin/python3';

export function aiortcAvailable() {
  const r = spawnSync(PYTHON, ['-c', 'import aiortc, av, numpy'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON}: ${r.error.message}`;
  if (r.status !== 0) return `aiortc not importable by ${PYTHON}: ${(r.stderr || '').trim().split('\n').pop()}`;
  return null;
}

export function spawnAiortc(label = 'aiortc', script = 'vcaiortc.py') {
  const child = spawn(PYTHON, [path.join(HERE, script)], { stdio: ['pipe', 'pipe', 'pipe'], env: process.env });
  const pending = new Map();
  const errLines = [];
  let seq = 0;
  let exited = null;
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    let msg;
    try { msg = JSON.parse(line); } catch { errLines.push(`[stdout] ${line}`); return; }
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.result); else p.reject(new Error(`${label} ${p.name}: ${msg.error}`));
  });
  readline.createInterface({ input: child.stderr }).on('line', (line) => {
    errLines.push(line);
    if (errLines.length > 400) errLines.shift();
  });
  child.on('exit', (code, sig) => {
    exited = { code, sig };
    for (const p of pending.values()) p.reject(new Error(`${label}: the aiortc process exited (${code ?? sig}) during ${p.name}`));
    pending.clear();
  });
  process.on('exit', () => { if (!exited) child.kill('SIGKILL'); });
  return {
    label,
    cmd(name, args = {}, timeoutMs = 15000) {
      if (exited) return Promise.reject(new Error(`${label}: the aiortc process has exited (${JSON.stringify(exited)})`));
      seq += 1;
      const id = seq;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { pending.delete(id); reject(new Error(`${label}: no reply to ${name} in ${timeoutMs} ms`)); }, timeoutMs);
        pending.set(id, {
          name,
          resolve: (v) => { clearTimeout(timer); resolve(v); },
          reject: (e) => { clearTimeout(timer); reject(e); },
        });
        child.stdin.write(`${JSON.stringify({ id, cmd: name, ...args })}\n`);
      });
    },
    stderrTail(n = 40) { return errLines.slice(-n).join('\n'); },
    async close() {
      if (exited) return;
      try { await this.cmd('quit', {}, 3000); } catch { /* killed below */ }
      for (let i = 0; i < 30 && !exited; i++) await new Promise((r) => setTimeout(r, 100));
      if (!exited) child.kill('SIGKILL');
    },
  };
}
