#!/usr/bin/python3
"""An aiortc (Debian's python3-aiortc 1.4) client of the chat plugin (janus.plugin.textroom)
over the Janus HTTP API, for chat_aiortc.test.mjs.

Contract: ChatPeer(http_url, token, label).start() creates a session (the token on every
request, also on the long-poll GET), attaches janus.plugin.textroom, long-polls on a daemon
thread, sends {"request":"setup"}, takes the server's offer from the event, sets it, opens a
data channel labelled JanusDataChannel, answers (aiortc puts its candidates in the answer
SDP and trickles none; end-of-candidates is sent), sends {"request":"ack"} with the answer
and returns once the channel is open. The server's trickled candidates are applied once the
offer is set. Every message arriving on a data channel is kept in .msgs as {i, t (Unix ms),
label, json | raw}; request(obj) adds a transaction and waits for the reply carrying it.

Run as a program it is driven by JSON lines on stdin, {"id": n, "cmd": "start" | "request" |
"send" | "mark" | "msgs" | "wait_msg" | "info" | "quit", ...}, answering {"id": n, "ok":
true, "result": ...} or {"id": n, "ok": false, "error": "..."} on stdout (logs on stderr), like
lib/vcaiortc.py (spawned by lib/aiortcpeer.mjs spawnAiortc(label, 'chataiortc.py')).
Must run inside the test network namespace (aioice skips 127.0.0.1 and needs veth0).
"""

import asyncio
import json
import time

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from janushttp import JanusHttpClient, on_thread, serve_json_lines


def subset(obj, match):
    if not isinstance(obj, dict):
        return False
    for k, v in match.items():
        if isinstance(v, dict):
            if not subset(obj.get(k), v):
                return False
        elif k not in obj or obj[k] != v or type(obj[k]) is bool and type(v) is not bool:
            return False
    return True


class ChatPeer(JanusHttpClient):
    def __init__(self, http_url, token=None, label="aiortc chat"):
        self.base = http_url
        self.token = token
        self.label = label
        self.tx = 0
        self.sid = None
        self.hid = None
        self.pc = None
        self.dc = None
        self.msgs = []
        self.core = []
        self.errors = []
        self.pending = {}
        self.remote_set = False
        self.buffered = []
        self.stop = False
        self.poller = None
        self.janus_waiters = {}

    async def _on_janus(self, ev):
        kind = ev.get("janus")
        tr = ev.get("transaction")
        if kind == "event" and tr in self.janus_waiters:
            fut = self.janus_waiters.pop(tr)
            if not fut.done():
                fut.set_result(ev)
            return
        if kind == "trickle":
            cand = ev.get("candidate") or {}
            if self.remote_set:
                await self._add_candidate(cand)
            else:
                self.buffered.append(cand)
            return
        if kind != "keepalive":
            self.core.append({"t": time.time() * 1000, "janus": kind, "reason": ev.get("reason")})

    async def _add_candidate(self, c):
        if c.get("completed"):
            return  # not handed to aioice (see lib/vcaiortc.py)
        cand = candidate_from_sdp(c["candidate"].split(":", 1)[1])
        cand.sdpMid = c.get("sdpMid")
        cand.sdpMLineIndex = c.get("sdpMLineIndex")
        await self.pc.addIceCandidate(cand)

    async def message(self, body, jsep=None, timeout=10.0):
        """A plugin message; resolves with its event (synchronous replies as they are)."""
        self.tx += 1
        tr = f"{self.label.replace(' ', '-')}-m{self.tx}"
        msg = {"janus": "message", "body": body, "transaction": tr}
        if jsep:
            msg["jsep"] = jsep
        if self.token:
            msg["token"] = self.token
        fut = asyncio.get_running_loop().create_future()
        self.janus_waiters[tr] = fut
        r = await on_thread(self._http, "POST", f"/{self.sid}/{self.hid}", msg, 10)
        if r.get("janus") != "ack":
            self.janus_waiters.pop(tr, None)
            return r
        return await asyncio.wait_for(fut, timeout)

    def _wire(self, ch):
        @ch.on("message")
        def on_message(data):
            rec = {"i": len(self.msgs), "t": time.time() * 1000, "label": ch.label}
            if isinstance(data, bytes):
                rec["binary"] = True
                data = data.decode("utf-8", errors="replace")
            try:
                rec["json"] = json.loads(data)
            except ValueError:
                rec["raw"] = data[:2000]
            self.msgs.append(rec)
            tr = rec.get("json", {}).get("transaction") if isinstance(rec.get("json"), dict) else None
            fut = self.pending.pop(tr, None) if tr else None
            if fut and not fut.done():
                fut.set_result(rec)

    async def start(self):
        t0 = time.monotonic()
        r = await self.post("", {"janus": "create"})
        if r.get("janus") != "success":
            raise RuntimeError(f"create: {r}")
        self.sid = r["data"]["id"]
        r = await self.post(f"/{self.sid}", {"janus": "attach", "plugin": "janus.plugin.textroom"})
        if r.get("janus") != "success":
            raise RuntimeError(f"attach janus.plugin.textroom: {r}")
        self.hid = r["data"]["id"]
        self.poller = asyncio.ensure_future(self._long_poll())
        setup = await self.message({"request": "setup"})
        jsep = setup.get("jsep")
        data = (setup.get("plugindata") or {}).get("data")
        if setup.get("janus") != "event" or not jsep or jsep.get("type") != "offer":
            raise RuntimeError(f"setup answered {json.dumps(setup)[:600]}")
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc = pc
        pc.on("datachannel", self._wire)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type="offer"))
        self.remote_set = True
        for c in self.buffered:
            await self._add_candidate(c)
        self.buffered = []
        opened = asyncio.get_running_loop().create_future()
        dc = pc.createDataChannel("JanusDataChannel", ordered=True)
        self.dc = dc
        self._wire(dc)
        dc.on("open", lambda: opened.done() or opened.set_result(True))
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        ack = await self.message({"request": "ack"}, {"type": "answer", "sdp": pc.localDescription.sdp})
        ad = (ack.get("plugindata") or {}).get("data") or {}
        if ack.get("janus") != "event" or ad.get("result") != "ok":
            raise RuntimeError(f"ack answered {json.dumps(ack)[:600]}")
        await self.post(f"/{self.sid}/{self.hid}", {"janus": "trickle", "candidate": {"completed": True}})
        if dc.readyState != "open":
            try:
                await asyncio.wait_for(opened, 15)
            except asyncio.TimeoutError:
                raise RuntimeError(f"data channel not open in 15 s (ice {pc.iceConnectionState}, "
                                   f"connection {pc.connectionState}, errors {self.errors})")
        return {"session": self.sid, "handle": self.hid, "setup": data, "ack": ad,
                "ms": (time.monotonic() - t0) * 1000}

    def send(self, obj):
        i = len(self.msgs)
        self.dc.send(obj if isinstance(obj, str) else json.dumps(obj))
        return i

    async def request(self, obj, timeout=10.0):
        self.tx += 1
        full = dict({"transaction": f"aio-c{self.tx}"}, **obj)
        fut = asyncio.get_running_loop().create_future()
        self.pending[full["transaction"]] = fut
        sent_at = time.time() * 1000
        self.dc.send(json.dumps(full))
        try:
            rec = await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            self.pending.pop(full["transaction"], None)
            raise RuntimeError(f"no reply to {json.dumps(full)[:300]} in {timeout} s; last {self.msgs[-5:]}")
        return dict(rec, sentAt=sent_at)

    async def wait_msg(self, match, since=0, timeout=10.0):
        end = time.monotonic() + timeout
        while True:
            for r in self.msgs[since:]:
                if "json" in r and subset(r["json"], match):
                    return r
            if self.errors:
                raise RuntimeError(f"{self.label}: client errors {self.errors}")
            if time.monotonic() > end:
                raise RuntimeError(f"no message like {json.dumps(match)} since #{since} in {timeout} s; "
                                   f"last {json.dumps(self.msgs[since:][-6:])[:1200]}")
            await asyncio.sleep(0.01)

    def info(self):
        return {"session": self.sid, "handle": self.hid, "ice": self.pc and self.pc.iceConnectionState,
                "dc": self.dc and self.dc.readyState, "msgs": len(self.msgs), "core": self.core[-10:],
                "errors": list(self.errors)}

    async def close(self):
        self.stop = True
        if self.sid is not None:
            try:
                await self.post(f"/{self.sid}", {"janus": "destroy"})
            except Exception:
                pass
        if self.pc:
            await self.pc.close()
        if self.poller:
            self.poller.cancel()


COMMANDS = {
    "request": lambda peer, cmd: peer.request(cmd["obj"], cmd.get("timeout", 10)),
    "send": lambda peer, cmd: peer.send(cmd["obj"]),
    "mark": lambda peer, cmd: len(peer.msgs),
    "msgs": lambda peer, cmd: peer.msgs[cmd.get("since", 0):],
    "wait_msg": lambda peer, cmd: peer.wait_msg(cmd["match"], cmd.get("since", 0), cmd.get("timeout", 10)),
    "info": lambda peer, cmd: peer.info(),
}


if __name__ == "__main__":
    serve_json_lines(lambda cmd: ChatPeer(cmd["server"], cmd.get("token"), cmd.get("label", "aiortc chat")), COMMANDS)
