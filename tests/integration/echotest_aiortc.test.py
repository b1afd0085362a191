#!/usr/bin/python3
"""aiortc (Debian's python3-aiortc 1.4) speaking the Janus HTTP API directly to the echotest.

create, attach, message with a JSEP offer (audio + video + data channel), long-poll
GET /janus/<session>?maxev=10 for the answer and the server's trickle candidates (buffered
until the answer is applied), trickle {completed} from us. The peer sends a 440 Hz tone and
a moving 320x240 gradient; the test requires, within 5 s of media: at least 150 audio frames
back with real signal (RMS well above silence), at least 25 decoded video frames of the sent
size whose picture is the gradient (mean and spread of luma), a `webrtcup` and a `media`
event per kind, and data channel messages echoed.
Must run with /usr/bin/python3 inside a network namespace (aioice skips 127.0.0.1, so it
gathers on veth0 = 127.0.0.2).
"""

import asyncio
import fractions
import json
import math
import os
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from server import Skip, run_test  # noqa: E402

try:
    import av
    import numpy
    from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.sdp import candidate_from_sdp
except ImportError as e:  # reported as a skip by main()
    IMPORT_ERROR = str(e)
else:
    IMPORT_ERROR = None

W, H, FPS = 320, 240, 30
MEDIA_SECONDS = 5


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


if IMPORT_ERROR is None:
    class ToneTrack(MediaStreamTrack):
        """A 440 Hz sine, 20 ms mono s16 frames at 48 kHz, paced in real time."""
        kind = "audio"

        def __init__(self):
            super().__init__()
            self.pts = 0
            self.start = None

        async def recv(self):
            if self.start is None:
                self.start = time.monotonic()
            wait = self.start + self.pts / 48000 - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            n = numpy.arange(self.pts, self.pts + 960)
            samples = (numpy.sin(2 * math.pi * 440 * n / 48000) * 8000).astype(numpy.int16)
            frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = 48000
            frame.pts = self.pts
            frame.time_base = fractions.Fraction(1, 48000)
            self.pts += 960
            return frame

    class GradientTrack(MediaStreamTrack):
        """A horizontal luma gradient that scrolls one step per frame, 30 fps."""
        kind = "video"

        def __init__(self):
            super().__init__()
            self.n = 0
            self.start = None
            x = numpy.arange(W, dtype=numpy.int32)
            self.ramp = numpy.tile(x, (H, 1))

        async def recv(self):
            if self.start is None:
                self.start = time.monotonic()
            wait = self.start + self.n / FPS - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            y = ((self.ramp * 255 // (W - 1) + self.n * 4) % 256).astype(numpy.uint8)
            yuv = numpy.full((H * 3 // 2, W), 128, dtype=numpy.uint8)
            yuv[:H] = y
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts = self.n * (90000 // FPS)
            frame.time_base = fractions.Fraction(1, 90000)
            self.n += 1
            return frame


def in_thread(fn, *args):
    """Runs a blocking call on a daemon thread (a long-poll left hanging must not hold the
    process at exit, as asyncio's default executor would)."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    def settle(ok, value):
        if not fut.done():
            (fut.set_result if ok else fut.set_exception)(value)

    def run():
        try:
            res, ok = fn(*args), True
        except Exception as e:
            res, ok = e, False
        try:
            loop.call_soon_threadsafe(settle, ok, res)
        except RuntimeError:
            pass  # the loop is gone: nobody waits for this any more

    threading.Thread(target=run, daemon=True).start()
    return fut


def extmap_conflicts(sdp):
    """Extension ids that name different URIs in different bundled m-lines of one SDP."""
    seen, conflicts, in_media, rejected = {}, [], False, False
    for line in sdp.splitlines():
        if line.startswith("m="):
            in_media = True
            rejected = line.split()[1] == "0"
        elif in_media and not rejected and line.startswith("a=extmap:"):
            ident, uri = line[len("a=extmap:"):].split()[:2]
            ident = ident.split("/")[0]
            if seen.setdefault(ident, uri) != uri:
                conflicts.append(f"id {ident}: {seen[ident]} vs {uri}")
    return conflicts


class JanusHttp:
    """Blocking Janus HTTP calls run on worker threads so the event loop keeps running."""

    def __init__(self, base):
        self.base = base
        self.tx = 0

    def _call(self, method, path, body, timeout):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.load(r)

    async def post(self, path, body):
        self.tx += 1
        body = dict(body, transaction=f"py{self.tx}")
        return await in_thread(self._call, "POST", path, body, 10)

    async def poll(self, session):
        return await in_thread(self._call, "GET", f"/{session}?maxev=10", None, 70)


async def scenario(srv):
    # aiortc's SCTP retransmission tasks die noisily once its transport is gone; the
    # failure that matters is reported by the checks below.
    asyncio.get_running_loop().set_exception_handler(
        lambda loop, ctx: None if isinstance(ctx.get("exception"), ConnectionError)
        else loop.default_exception_handler(ctx))
    api = JanusHttp(srv.http_url)
    r = await api.post("", {"janus": "create"})
    check(r.get("janus") == "success", f"create: {r}")
    sid = r["data"]["id"]
    r = await api.post(f"/{sid}", {"janus": "attach", "plugin": "janus.plugin.echotest"})
    check(r.get("janus") == "success", f"attach: {r}")
    hid = r["data"]["id"]

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    state = {"completed": False, "remote_set": False, "buffer": [], "events": [], "answer": None,
             "webrtcup": None, "media": [], "hangup": None, "errors": []}
    t0 = time.monotonic()
    counts = {"audio": 0, "video": 0, "audio_rms": [], "video_luma": [], "video_sizes": set()}
    received = []
    dc_open = asyncio.Event()

    pc.addTrack(ToneTrack())
    pc.addTrack(GradientTrack())
    dc = pc.createDataChannel("JanusDataChannel")
    dc.on("open", dc_open.set)
    dc.on("message", lambda m: received.append(m))

    async def consume(track):
        while True:
            try:
                frame = await track.recv()
            except Exception:
                return
            counts[track.kind] += 1
            if track.kind == "audio":
                a = frame.to_ndarray().astype(numpy.float64)
                counts["audio_rms"].append(float(numpy.sqrt(numpy.mean(a * a))))
            else:
                counts["video_sizes"].add((frame.width, frame.height))
                luma = frame.to_ndarray(format="gray").astype(numpy.float64)
                counts["video_luma"].append((float(luma.mean()), float(luma.std())))

    tasks = []
    pc.on("track", lambda t: tasks.append(asyncio.ensure_future(consume(t))))

    async def add_remote(c):
        if c.get("completed"):
            # Not passed on: aioice fails at once when end-of-candidates reaches it before
            # its connect() has paired the trickled candidates (a race inside aiortc 1.4).
            state["completed"] = True
            return
        cand = candidate_from_sdp(c["candidate"].split(":", 1)[1])
        cand.sdpMid = c.get("sdpMid")
        cand.sdpMLineIndex = c.get("sdpMLineIndex")
        await pc.addIceCandidate(cand)

    async def on_event(ev):
        kind = ev.get("janus")
        state["events"].append(kind)
        if kind == "event" and ev.get("jsep"):
            state["answer"] = ev
        elif kind == "trickle":
            c = ev.get("candidate") or {}
            if os.environ.get("IT_DEBUG"):
                print("trickle", c, "remote_set", state["remote_set"], flush=True)
            if state["remote_set"]:
                await add_remote(c)
            else:
                state["buffer"].append(c)
        elif kind == "webrtcup" and state["webrtcup"] is None:
            state["webrtcup"] = time.monotonic() - t0
        elif kind == "media":
            state["media"].append((ev.get("type"), ev.get("receiving")))
        elif kind == "hangup":
            state["hangup"] = ev.get("reason")
        elif kind == "error":
            state["errors"].append(ev)

    stop = asyncio.Event()

    async def long_poll():
        while not stop.is_set():
            try:
                evs = await api.poll(sid)
            except Exception as e:  # a failed poll is a failure of the server
                if not stop.is_set():
                    state["errors"].append(f"long-poll: {e}")
                return
            for ev in evs if isinstance(evs, list) else [evs]:
                await on_event(ev)

    poller = asyncio.ensure_future(long_poll())
    try:
        offer = await pc.createOffer()
        await pc.setLocalDescription(offer)
        ld = pc.localDescription
        r = await api.post(f"/{sid}/{hid}", {"janus": "message", "body": {"audio": True, "video": True},
                                              "jsep": {"type": ld.type, "sdp": ld.sdp}})
        check(r.get("janus") == "ack", f"message with offer: {r}")
        r = await api.post(f"/{sid}/{hid}", {"janus": "trickle", "candidate": {"completed": True}})
        check(r.get("janus") == "ack", f"trickle completed: {r}")

        deadline = time.monotonic() + 15
        while state["answer"] is None:
            check(not state["errors"], f"errors: {state['errors']}")
            check(time.monotonic() < deadline, f"no answer; events {state['events']}")
            await asyncio.sleep(0.02)
        ans = state["answer"]
        conflicts = extmap_conflicts(ans["jsep"]["sdp"])
        check(not conflicts, "answer maps one RTP header extension id to different URIs inside the BUNDLE "
              f"(RFC 8843 section 9.2; aiortc's receive loop dies on it): {conflicts}")
        if os.environ.get("IT_DEBUG"):
            print("answer SDP:\n" + ans["jsep"]["sdp"], flush=True)
        check(ans["plugindata"]["plugin"] == "janus.plugin.echotest", f"plugindata {ans['plugindata']}")
        check(ans["jsep"]["type"] == "answer", f"jsep {ans['jsep']['type']}")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=ans["jsep"]["sdp"], type="answer"))
        state["remote_set"] = True
        for c in state["buffer"]:
            await add_remote(c)

        deadline = time.monotonic() + 20
        while state["webrtcup"] is None:
            check(not state["errors"] and state["hangup"] is None, f"errors {state['errors']} hangup {state['hangup']}")
            check(time.monotonic() < deadline, f"no webrtcup; events {state['events']}, ice {pc.iceConnectionState}")
            await asyncio.sleep(0.05)
        try:
            await asyncio.wait_for(dc_open.wait(), 10)
        except asyncio.TimeoutError:
            raise AssertionError(f"data channel not open 10 s after webrtcup; ice {pc.iceConnectionState}, "
                                 f"connection {pc.connectionState}, events {state['events']}") from None

        a0, v0 = counts["audio"], counts["video"]
        await asyncio.sleep(MEDIA_SECONDS)
        da, dv = counts["audio"] - a0, counts["video"] - v0

        rtts = []
        for i in range(5):
            text = f"aiortc-echo-{i}-{time.time()}"
            n = len(received)
            ts = time.monotonic()
            dc.send(text)
            while not any(isinstance(m, str) and text in m for m in received[n:]):
                check(time.monotonic() - ts < 5, f"data message {i} not echoed; got {received[n:]}")
                await asyncio.sleep(0.005)
            rtts.append((time.monotonic() - ts) * 1000)

        check(da >= 30 * MEDIA_SECONDS, f"audio frames back in {MEDIA_SECONDS}s: {da}")
        check(dv >= 5 * MEDIA_SECONDS, f"video frames back in {MEDIA_SECONDS}s: {dv}")
        loud = sorted(counts["audio_rms"][-100:])
        check(loud and loud[len(loud) // 2] > 1000, f"echoed audio is silent (median RMS {loud[len(loud) // 2] if loud else None})")
        check(counts["video_sizes"] == {(W, H)}, f"video sizes {counts['video_sizes']}")
        last = counts["video_luma"][-10:]
        check(all(90 < m < 165 and s > 40 for m, s in last), f"echoed picture is not the gradient: {last}")
        kinds = {t for t, on in state["media"] if on}
        check({"audio", "video"} <= kinds, f"media events {state['media']}")
        check(state["hangup"] is None and not state["errors"], f"hangup {state['hangup']} errors {state['errors']}")
        print(f"aiortc echotest: webrtcup {state['webrtcup'] * 1000:.0f} ms, audio {da / MEDIA_SECONDS:.0f} frames/s "
              f"(median RMS {loud[len(loud) // 2]:.0f}), video {dv / MEDIA_SECONDS:.0f} frames/s {W}x{H}, "
              f"data echo rtt {'/'.join(f'{x:.1f}' for x in rtts)} ms", flush=True)
        r = await api.post(f"/{sid}", {"janus": "destroy"})
        check(r.get("janus") == "success", f"destroy: {r}")
    finally:
        stop.set()
        await pc.close()
        for t in tasks:
            t.cancel()
        poller.cancel()


def body(srv):
    if IMPORT_ERROR:
        raise Skip(f"aiortc not importable: {IMPORT_ERROR} (needs /usr/bin/python3 with python3-aiortc)")
    if not os.environ.get("PARLEY_NETNS"):
        raise Skip("not inside a network namespace (aioice needs 127.0.0.2 on veth0; run via run.sh as root)")
    asyncio.run(asyncio.wait_for(scenario(srv), 90))


if __name__ == "__main__":
    if os.environ.get("IT_DEBUG"):
        import logging
        logging.basicConfig(level=logging.DEBUG, format="%(relativeCreated)d %(name)s %(message)s")
    run_test(3, body)
