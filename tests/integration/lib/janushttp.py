"""The Janus HTTP API as the aiortc clients (vcaiortc.py, chataiortc.py) use it: POSTs with a
transaction and the token, and one long-poll loop handing every event to the client's
_on_janus. Blocking HTTP runs on daemon threads (on_thread), so a long-poll left hanging
never keeps the process alive.

A class using JanusHttpClient sets base (the /janus URL), token (or None), label, tx (0),
sid, stop (False) and errors ([]), and defines async _on_janus(ev).

serve_json_lines runs such a client as a child process driven by JSON lines (lib/aiortcpeer.mjs)."""

import asyncio
import inspect
import json
import os
import sys
import threading
import urllib.parse
import urllib.request


def on_thread(fn, *args):
    """Runs a blocking call on a daemon thread and returns a future for it (a long-poll left
    hanging must not keep the process alive the way the default executor would)."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    def settle(ok, value):
        if not fut.done():
            (fut.set_result if ok else fut.set_exception)(value)

    def work():
        try:
            value, ok = fn(*args), True
        except Exception as e:  # handed to the awaiting coroutine
            value, ok = e, False
        try:
            loop.call_soon_threadsafe(settle, ok, value)
        except RuntimeError:
            pass  # the loop has ended

    threading.Thread(target=work, daemon=True).start()
    return fut


class JanusHttpClient:
    def _http(self, method, path, body, timeout):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.load(r)

    async def post(self, path, body):
        self.tx += 1
        body = dict(body, transaction=f"{self.label.replace(' ', '-')}-{self.tx}")
        if self.token:
            body["token"] = self.token
        return await on_thread(self._http, "POST", path, body, 10)

    async def _long_poll(self):
        query = {"maxev": "10"}
        if self.token:
            query["token"] = self.token
        path = f"/{self.sid}?{urllib.parse.urlencode(query)}"
        while not self.stop:
            try:
                got = await on_thread(self._http, "GET", path, None, 70)
            except Exception as e:
                if not self.stop:
                    self.errors.append(f"long-poll: {e}")
                return
            for ev in got if isinstance(got, list) else [got]:
                try:
                    await self._on_janus(ev)
                except Exception as e:  # a client bug must show up, not kill the poller
                    self.errors.append(f"handling {ev.get('janus')}: {e!r}")


def quiet_loop_errors():
    """aiortc's SCTP/ICE tasks complain noisily once their transport is gone."""
    asyncio.get_running_loop().set_exception_handler(
        lambda loop, ctx: None if isinstance(ctx.get("exception"), ConnectionError)
        else loop.default_exception_handler(ctx))


async def _serve(make_peer, commands):
    quiet_loop_errors()
    loop = asyncio.get_running_loop()
    lines = asyncio.Queue()

    def reader():
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=reader, daemon=True).start()
    peer = None

    def reply(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    while True:
        line = await lines.get()
        if line is None:
            break
        if not line.strip():
            continue
        cmd = json.loads(line)
        ident, name = cmd.get("id"), cmd.get("cmd")
        try:
            if name == "start":
                peer = make_peer(cmd)
                res = await peer.start()
            elif name == "quit":
                if peer:
                    await peer.close()
                reply({"id": ident, "ok": True, "result": None})
                break
            elif name in commands:
                res = commands[name](peer, cmd)
                if inspect.isawaitable(res):
                    res = await res
            else:
                raise RuntimeError(f"unknown command {name}")
            reply({"id": ident, "ok": True, "result": res})
        except Exception as e:
            reply({"id": ident, "ok": False, "error": f"{type(e).__name__}: {e}"})


def serve_json_lines(make_peer, commands):
    """A client run as a child of lib/aiortcpeer.mjs: JSON lines on stdin, {"id": n, "cmd":
    "start" | "quit" | one of commands, ...}, each answered {"id": n, "ok": true, "result": ...}
    or {"id": n, "ok": false, "error": "..."} on stdout. make_peer(cmd) builds the peer at
    "start" (then its start() runs); commands[name](peer, cmd) returns the result or an
    awaitable of it. Never returns: daemon threads (a long-poll) may still hang."""
    if os.environ.get("IT_DEBUG"):
        import logging
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    asyncio.run(_serve(make_peer, commands))
    sys.stdout.flush()
    os._exit(0)
