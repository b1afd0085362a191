// A small WebSocket client on a raw TCP socket (RFC 6455), for node-side tests that need to
// send both valid Janus messages and malformed frames.
//
// Contract: wsConnect(port) performs the opening handshake (subprotocol janus-protocol by
// default) and resolves with a client, or rejects if the server refuses. client.json(obj)
// sends a text frame; client.frame(opcode, payload, opts) sends any frame (opts.mask=false,
// opts.rsv, opts.fin, opts.lengthOverride to lie about the length); client.raw(buf) writes
// bytes as they are. client.next(ms) resolves with the next text message parsed as JSON
// (or {raw: text} when not JSON), or null on timeout / close. client.closed resolves with
// {code} when the server closes or the TCP connection ends. Pings are answered.

import crypto from 'node:crypto';
import net from 'node:net';

export function wsConnect(port, { host = '127.0.0.1', protocol = 'janus-protocol', path = '/' } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, host);
    const key = crypto.randomBytes(16).toString('base64');
    let buf = Buffer.alloc(0);
    let open = false;
    const queue = [];
    const waiters = [];
    let closeInfo = null;
    let closedResolve;
    const closed = new Promise((r) => { closedResolve = r; });
    let fragments = [];

    function deliver(m) {
      const w = waiters.shift();
      if (w) w(m); else queue.push(m);
    }
    function finish(code) {
      if (closeInfo) return;
      closeInfo = { code };
      closedResolve(closeInfo);
      while (waiters.length) waiters.shift()(null);
    }
    function parseFrames() {
      for (;;) {
        if (buf.length < 2) return;
        const fin = (buf[0] & 0x80) !== 0;
        const op = buf[0] & 0x0f;
        let len = buf[1] & 0x7f;
        let off = 2;
        if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
        else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
        if (buf[1] & 0x80) off += 4; // servers must not mask; tolerate it anyway
        if (buf.length < off + len) return;
        const payload = buf.subarray(off, off + len);
        buf = buf.subarray(off + len);
        if (op === 0x9) { client.frame(0xA, payload); continue; }
        if (op === 0x8) { finish(payload.length >= 2 ? payload.readUInt16BE(0) : 1005); sock.end(); return; }
        if (op === 0x1 || op === 0x2 || op === 0x0) {
          fragments.push(Buffer.from(payload));
          if (!fin) continue;
          const text = Buffer.concat(fragments).toString('utf8');
          fragments = [];
          try { deliver(JSON.parse(text)); } catch { deliver({ raw: text }); }
        }
      }
    }

    const client = {
      closed,
      isClosed: () => closeInfo !== null,
      raw(b) { if (!sock.destroyed) sock.write(b); },
      frame(opcode, payload, { mask = true, fin = true, rsv = 0, lengthOverride = null } = {}) {
        const p = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
        const len = lengthOverride ?? p.length;
        let hdr;
        if (len < 126) { hdr = Buffer.alloc(2); hdr[1] = len; }
        else if (len < 65536) { hdr = Buffer.alloc(4); hdr[1] = 126; hdr.writeUInt16BE(len, 2); }
        else { hdr = Buffer.alloc(10); hdr[1] = 127; hdr.writeBigUInt64BE(BigInt(len), 2); }
        hdr[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f);
        let body = p;
        if (mask) {
          hdr[1] |= 0x80;
          const m = crypto.randomBytes(4);
          body = Buffer.alloc(p.length);
          for (let i = 0; i < p.length; i++) body[i] = p[i] ^ m[i & 3];
          hdr = Buffer.concat([hdr, m]);
        }
        client.raw(Buffer.concat([hdr, body]));
      },
      send(text) { client.frame(0x1, Buffer.from(text, 'utf8')); },
      json(obj) { client.send(JSON.stringify(obj)); },
      next(ms = 5000) {
        if (queue.length) return Promise.resolve(queue.shift());
        if (closeInfo) return Promise.resolve(null);
        return new Promise((r) => {
          const w = (m) => { clearTimeout(t); r(m); };
          const t = setTimeout(() => { const i = waiters.indexOf(w); if (i >= 0) waiters.splice(i, 1); r(null); }, ms);
          waiters.push(w);
        });
      },
      // Sends obj with a transaction and returns the first message carrying it (acks skipped
      // when skipAck); other messages stay queued for next().
      async request(obj, { ms = 5000, skipAck = false } = {}) {
        const transaction = obj.transaction ?? crypto.randomBytes(6).toString('hex');
        client.json({ ...obj, transaction });
        const end = Date.now() + ms;
        const held = [];
        try {
          for (;;) {
            const m = await client.next(Math.max(1, end - Date.now()));
            if (m === null) return null;
            if (m.transaction === transaction && !(skipAck && m.janus === 'ack')) return m;
            held.push(m);
          }
        } finally { queue.unshift(...held); }
      },
      close() { if (!closeInfo) client.frame(0x8, Buffer.from([0x03, 0xe8])); sock.end(); finish(1000); },
    };

    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!open) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString();
        buf = buf.subarray(end + 4);
        const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
        if (!/^HTTP\/1\.1 101/.test(head) || !head.toLowerCase().includes(accept.toLowerCase())) {
          sock.destroy();
          reject(new Error(`websocket handshake refused: ${head.split('\r\n')[0]}`));
          return;
        }
        open = true;
        resolve(client);
      }
      parseFrames();
    });
    sock.on('error', (e) => { if (!open) reject(e); finish(1006); });
    sock.on('close', () => { if (!open) reject(new Error('connection closed during handshake')); finish(1006); });
    sock.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
      (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '') + '\r\n');
  });
}
