#!/usr/bin/python3
"""An aiortc (Debian's python3-aiortc 1.4) client of the videocall plugin over the Janus
HTTP API, for the calls tests.

Contract: VideoCallPeer(http_url, token, label, tone_hz, size) is one user device: start()
creates a session (token on every request, also on the long-poll GET), attaches
janus.plugin.videocall and long-polls GET /janus/<session>?maxev=10 on a daemon thread.
register(), call(username), accept() (answers the last incomingcall), hangup() send the
plugin requests; every plugin event is kept in .events ({i, t, result | error_code, error,
jsep_type}) and wait_event(name, since, timeout) waits for one. The server's trickle
candidates are applied once the remote description is set (buffered before). The peer
sends a sine tone of tone_hz and a scrolling luma gradient of `size`; stats() reports what
it received: audio frames, RMS (median and max of the last 100 frames), the dominant audio
frequency, video frames decoded, their sizes and the mean/spread of their luma. An answer
in `accepted` is applied; an offer in `update` is answered with `set`.

Run as a program (python3 vcaiortc.py) it is driven by JSON lines on stdin, one command
each, {"id": n, "cmd": "start"|"register"|"call"|"accept"|"wait_event"|"stats"|"hangup"|
"events"|"mark"|"request_keyframe"|"quit", ...arguments}, and answers {"id": n, "ok": true, "result": ...} or
{"id": n, "ok": false, "error": "..."} on stdout (logs go to stderr).
Must run inside the test network namespace (aioice skips 127.0.0.1 and needs veth0).
"""

import asyncio
import fractions
import math
import time

import av
import numpy
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from janushttp import JanusHttpClient, on_thread, quiet_loop_errors, serve_json_lines  # noqa: F401 (quiet_loop_errors: for the tests)

SAMPLE_RATE = 48000
FPS = 30


class ToneTrack(MediaStreamTrack):
    """A sine of `hz`, 20 ms mono s16 frames at 48 kHz, paced in real time."""
    kind = "audio"

    def __init__(self, hz):
        super().__init__()
        self.hz = hz
        self.sent = 0
        self.t0 = None

    async def recv(self):
        if self.t0 is None:
            self.t0 = time.monotonic()
        delay = self.t0 + self.sent / SAMPLE_RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        idx = numpy.arange(self.sent, self.sent + 960)
        pcm = (8000 * numpy.sin(2 * math.pi * self.hz * idx / SAMPLE_RATE)).astype(numpy.int16)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        frame.pts = self.sent
        self.sent += 960
        return frame


class GradientTrack(MediaStreamTrack):
    """A horizontal luma ramp of the given size that moves 3 steps per frame, 30 fps."""
    kind = "video"

    def __init__(self, size):
        super().__init__()
        self.w, self.h = size
        self.count = 0
        self.t0 = None
        self.ramp = numpy.tile(numpy.arange(self.w, dtype=numpy.int32) * 255 // (self.w - 1), (self.h, 1))

    async def recv(self):
        if self.t0 is None:
            self.t0 = time.monotonic()
        delay = self.t0 + self.count / FPS - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        planes = numpy.full((self.h * 3 // 2, self.w), 128, dtype=numpy.uint8)
        planes[:self.h] = ((self.ramp + self.count * 3) % 256).astype(numpy.uint8)
        frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        frame.time_base = fractions.Fraction(1, 90000)
        frame.pts = self.count * (90000 // FPS)
        self.count += 1
        return frame


class VideoCallPeer(JanusHttpClient):
    def __init__(self, http_url, token=None, label="peer", tone_hz=440, size=(320, 240), strip_audio_level=False):
        self.base = http_url
        # aiortc 1.4 offers ssrc-audio-level and abs-send-time under the same id in its audio
        # and video m-lines and then misparses one as the other on receipt; a server that
        # passes an aiortc offer through unchanged (Janus's videocall) hands that to the
        # other aiortc. True drops the audio-level line from the SDP we send.
        self.strip_audio_level = strip_audio_level
        self.token = token
        self.label = label
        self.tone_hz = tone_hz
        self.size = size
        self.tx = 0
        self.sid = None
        self.hid = None
        self.pc = None
        self.t0 = time.monotonic()
        self.events = []
        self.core = []
        self.errors = []
        self.incoming = None
        self.remote_set = False
        self.pending_candidates = []
        self.webrtcup = None
        self.stop = False
        self.tasks = []
        self.poller = None
        self.rx = self._fresh_rx()

    @staticmethod
    def _fresh_rx():
        return {"audio": 0, "video": 0, "rms": [], "pcm": numpy.zeros(0, dtype=numpy.float64),
                "sizes": set(), "luma": [], "frames": []}

    # ---- Janus events ----
    async def _on_janus(self, ev):
        kind = ev.get("janus")
        now = time.monotonic() - self.t0
        if kind == "event" and ev.get("plugindata"):
            data = ev["plugindata"].get("data") or {}
            jsep = ev.get("jsep")
            rec = {"i": len(self.events), "t": now, "result": data.get("result"),
                   "error_code": data.get("error_code"), "error": data.get("error"),
                   "jsep_type": jsep.get("type") if jsep else None}
            self.events.append(rec)
            result = data.get("result") or {}
            what = result.get("event")
            if what == "incomingcall" and jsep:
                self.incoming = jsep
            elif jsep and jsep.get("type") == "answer" and what in ("accepted", "update"):
                await self.pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type="answer"))
                await self._remote_ready()
            elif jsep and jsep.get("type") == "offer" and what == "update":
                await self._answer_update(jsep)
            elif what == "hangup":
                self.incoming = None
        elif kind == "trickle":
            cand = ev.get("candidate") or {}
            if self.remote_set:
                await self._add_candidate(cand)
            else:
                self.pending_candidates.append(cand)
        else:
            self.core.append({"t": now, "janus": kind, "reason": ev.get("reason"), "type": ev.get("type")})
            if kind == "webrtcup" and self.webrtcup is None:
                self.webrtcup = now

    async def _add_candidate(self, c):
        if c.get("completed"):
            # Not handed to aioice: end-of-candidates before its connect() has paired the
            # trickled ones makes aiortc 1.4 fail at once.
            return
        cand = candidate_from_sdp(c["candidate"].split(":", 1)[1])
        cand.sdpMid = c.get("sdpMid")
        cand.sdpMLineIndex = c.get("sdpMLineIndex")
        await self.pc.addIceCandidate(cand)

    async def _remote_ready(self):
        self.remote_set = True
        buffered, self.pending_candidates = self.pending_candidates, []
        for c in buffered:
            await self._add_candidate(c)

    # ---- media ----
    def _new_pc(self):
        self.remote_set = False
        self.pending_candidates = []
        self.rx = self._fresh_rx()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.on("track", lambda track: self.tasks.append(asyncio.ensure_future(self._consume(track))))
        self.pc = pc
        return pc

    async def _consume(self, track):
        while True:
            try:
                frame = await track.recv()
            except Exception:
                return
            rx = self.rx
            if track.kind == "audio":
                rx["audio"] += 1
                a = frame.to_ndarray().astype(numpy.float64)
                channels = len(frame.layout.channels)
                mono = a[0] if frame.format.is_planar or channels == 1 else a[0][::channels]
                rx["rms"].append(float(numpy.sqrt(numpy.mean(mono * mono))))
                del rx["rms"][:-200]
                rx["pcm"] = numpy.concatenate([rx["pcm"], mono])[-SAMPLE_RATE // 2:]
                rx["frames"].append((time.monotonic() - self.t0, mono))
                del rx["frames"][:-400]
            else:
                rx["video"] += 1
                rx["sizes"].add((frame.width, frame.height))
                y = frame.to_ndarray(format="gray").astype(numpy.float64)
                rx["luma"].append((float(y.mean()), float(y.std())))
                del rx["luma"][:-30]

    async def _send_jsep(self, body):
        ld = self.pc.localDescription
        sdp = ld.sdp
        if self.strip_audio_level:
            sdp = "".join(line for line in sdp.splitlines(keepends=True) if "ssrc-audio-level" not in line)
        r = await self.post(f"/{self.sid}/{self.hid}", {"janus": "message", "body": body,
                                                       "jsep": {"type": ld.type, "sdp": sdp}})
        # aiortc puts all its candidates in the SDP: end of candidates right away.
        await self.post(f"/{self.sid}/{self.hid}", {"janus": "trickle", "candidate": {"completed": True}})
        return r

    async def _answer_update(self, jsep):
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type="offer"))
        await self._remote_ready()
        answer = await self.pc.createAnswer()
        await self.pc.setLocalDescription(answer)
        await self._send_jsep({"request": "set"})

    # ---- API ----
    async def start(self):
        r = await self.post("", {"janus": "create"})
        if r.get("janus") != "success":
            raise RuntimeError(f"{self.label}: create: {r}")
        self.sid = r["data"]["id"]
        r = await self.post(f"/{self.sid}", {"janus": "attach", "plugin": "janus.plugin.videocall"})
        if r.get("janus") != "success":
            raise RuntimeError(f"{self.label}: attach: {r}")
        self.hid = r["data"]["id"]
        self.poller = asyncio.ensure_future(self._long_poll())
        return {"session": self.sid, "handle": self.hid}

    async def message(self, body):
        r = await self.post(f"/{self.sid}/{self.hid}", {"janus": "message", "body": body})
        if r.get("janus") not in ("ack", "event"):
            raise RuntimeError(f"{self.label}: {body.get('request')}: {r}")
        return len(self.events)

    async def wait_event(self, name=None, since=0, timeout=10.0, error=False):
        end = time.monotonic() + timeout
        while True:
            for e in self.events[since:]:
                if error and e["error_code"] is not None:
                    return e
                if e["result"] and (name is None or e["result"].get("event") == name):
                    return e
                if name is None and e["error_code"] is not None:
                    return e
            if self.errors:
                raise RuntimeError(f"{self.label}: client errors {self.errors}")
            if time.monotonic() > end:
                raise RuntimeError(f"{self.label}: timeout ({timeout} s) waiting for {name or 'a reply'} since #{since}; "
                                   f"events {self.events[-6:]}")
            await asyncio.sleep(0.02)

    async def register(self, username):
        since = len(self.events)
        await self.message({"request": "register", "username": username})
        e = await self.wait_event(None, since)
        if not e["result"] or e["result"].get("event") != "registered":
            raise RuntimeError(f"{self.label}: register {username}: {e}")
        return e

    def _add_tracks(self, pc):
        pc.addTrack(ToneTrack(self.tone_hz))
        pc.addTrack(GradientTrack(self.size))

    async def call(self, username):
        pc = self._new_pc()
        self._add_tracks(pc)
        offer = await pc.createOffer()
        await pc.setLocalDescription(offer)
        since = len(self.events)
        r = await self._send_jsep({"request": "call", "username": username})
        if r.get("janus") not in ("ack", "event"):
            raise RuntimeError(f"{self.label}: call: {r}")
        return since

    async def accept(self):
        if not self.incoming:
            raise RuntimeError(f"{self.label}: no incoming call")
        pc = self._new_pc()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=self.incoming["sdp"], type="offer"))
        await self._remote_ready()
        self._add_tracks(pc)
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        since = len(self.events)
        r = await self._send_jsep({"request": "accept"})
        if r.get("janus") not in ("ack", "event"):
            raise RuntimeError(f"{self.label}: accept: {r}")
        return since

    async def request_keyframe(self):
        """Sends a PLI for every video SSRC received so far (aiortc never does it by itself).
        Only for servers known not to ask for keyframes themselves; returns how many."""
        sent = 0
        for tr in self.pc.getTransceivers() if self.pc else []:
            if tr.kind != "video":
                continue
            for ssrc in list(getattr(tr.receiver, "_RTCRtpReceiver__remote_streams", {}).keys()):
                await tr.receiver._send_rtcp_pli(ssrc)
                sent += 1
        return sent

    async def hangup(self):
        since = await self.message({"request": "hangup"})
        return since

    def tone_power(self, hz):
        """[t, share] per received audio frame of the last 8 s: t on the events' clock, share
        the fraction of the frame's energy at hz (Goertzel, 0..1)."""
        out = []
        for t, pcm in self.rx["frames"]:
            n = len(pcm)
            if n == 0:
                continue
            w = 2.0 * math.pi * hz / SAMPLE_RATE
            ref = numpy.exp(-1j * w * numpy.arange(n))
            at = abs(numpy.dot(pcm, ref)) ** 2 * 2.0 / n
            total = float(numpy.dot(pcm, pcm))
            out.append([round(t, 3), float(at / total) if total > 0 else 0.0])
        return out

    def stats(self):
        rx = self.rx
        rms = rx["rms"][-100:]
        freq = None
        pcm = rx["pcm"]
        if len(pcm) >= 4800:
            win = pcm[-9600:] * numpy.hanning(len(pcm[-9600:]))
            spec = numpy.abs(numpy.fft.rfft(win))
            spec[:4] = 0  # DC
            freq = float(numpy.argmax(spec) * SAMPLE_RATE / len(win))
        luma = rx["luma"][-10:]
        return {
            "audio_frames": rx["audio"], "video_frames": rx["video"],
            "rms_median": float(numpy.median(rms)) if rms else 0.0, "rms_max": max(rms) if rms else 0.0,
            "freq": freq, "sizes": sorted(list(s) for s in rx["sizes"]),
            "luma": luma, "webrtcup": self.webrtcup,
            "ice": self.pc.iceConnectionState if self.pc else None,
            "errors": list(self.errors),
        }

    def summary(self):
        return {"events": self.events[-10:], "core": self.core[-10:], "errors": self.errors}

    async def close(self):
        self.stop = True
        if self.sid is not None:
            try:
                await self.post(f"/{self.sid}", {"janus": "destroy"})
            except Exception:
                pass
        if self.pc:
            await self.pc.close()
        for t in self.tasks:
            t.cancel()
        if self.poller:
            self.poller.cancel()


COMMANDS = {
    "register": lambda peer, cmd: peer.register(cmd["username"]),
    "call": lambda peer, cmd: peer.call(cmd["username"]),
    "accept": lambda peer, cmd: peer.accept(),
    "hangup": lambda peer, cmd: peer.hangup(),
    "wait_event": lambda peer, cmd: peer.wait_event(cmd.get("event"), cmd.get("since", 0), cmd.get("timeout", 10)),
    "request_keyframe": lambda peer, cmd: peer.request_keyframe(),
    "stats": lambda peer, cmd: peer.stats(),
    "tone_power": lambda peer, cmd: peer.tone_power(float(cmd.get("hz", 1500))),
    "mark": lambda peer, cmd: len(peer.events),
    "events": lambda peer, cmd: peer.summary(),
}


def _make_peer(cmd):
    return VideoCallPeer(cmd["server"], cmd.get("token"), cmd.get("label", "aiortc"), cmd.get("tone_hz", 440),
                         tuple(cmd.get("size", (320, 240))), bool(cmd.get("strip_audio_level", False)))


if __name__ == "__main__":
    serve_json_lines(_make_peer, COMMANDS)
