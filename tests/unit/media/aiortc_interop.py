#!/usr/bin/python3
"""Interop check of our media peer against aiortc (a WebRTC stack we did not write).

aiortc offers (DTLS actpass, audio + a data channel, BUNDLE); peer_echo answers as the server
does (setup active), echoes RTP/RTCP and data channel messages. Checks: DTLS-SRTP up, the
data channel opened by aiortc is announced and echoes text, our echoed audio reaches aiortc,
our peer received RTP and RTCP. aioice skips 127.0.0.1, so run it in a namespace with another
address (../shared/tools/inns.sh), e.g.:
    inns.sh /usr/bin/python3 tests/unit/media/aiortc_interop.py build-media/tests/unit/media/peer_echo
Exit 0 on success, 1 on failure, 77 (skip) when aiortc is missing.
"""
import asyncio
import re
import sys

try:
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import AudioStreamTrack
except ImportError:
    sys.exit(77)


def parse_offer(sdp):
    ufrag = re.search(r"a=ice-ufrag:(\S+)", sdp).group(1)
    pwd = re.search(r"a=ice-pwd:(\S+)", sdp).group(1)
    fp = re.search(r"a=fingerprint:(sha-256 \S+)", sdp).group(1)
    cands = sorted(set(re.findall(r"a=(candidate:[^\r\n]+)", sdp)))
    mids = re.findall(r"a=mid:(\S+)", sdp)
    opus = re.search(r"a=rtpmap:(\d+) opus/48000/2", sdp).group(1)
    return ufrag, pwd, fp, cands, mids, opus


def build_answer(ans, mids, opus):
    common = [f"a=ice-ufrag:{ans['ufrag']}", f"a=ice-pwd:{ans['pwd']}",
              f"a=fingerprint:{ans['fingerprint']}", f"a=setup:{ans['setup']}"]
    cands = [f"a={c}" for c in ans["candidates"]] + ["a=end-of-candidates"]
    lines = ["v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0",
             f"a=group:BUNDLE {mids[0]} {mids[1]}",
             f"m=audio 9 UDP/TLS/RTP/SAVPF {opus}", "c=IN IP4 0.0.0.0", f"a=mid:{mids[0]}",
             "a=sendrecv", "a=rtcp-mux", f"a=rtpmap:{opus} opus/48000/2"] + common + cands
    lines += ["m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0",
              f"a=mid:{mids[1]}", "a=sctp-port:5000", "a=max-message-size:262144"] + common
    return "\r\n".join(lines) + "\r\n"


async def main(echo_bin):
    pc = RTCPeerConnection()
    channel = pc.createDataChannel("chat")
    pc.addTrack(AudioStreamTrack())
    got_echo = asyncio.get_event_loop().create_future()
    got_audio = asyncio.get_event_loop().create_future()

    @channel.on("message")
    def on_message(msg):
        if not got_echo.done():
            got_echo.set_result(msg)

    @channel.on("open")
    def on_open():
        channel.send("hello parley")

    @pc.on("track")
    def on_track(track):
        async def pull():
            await track.recv()
            if not got_audio.done():
                got_audio.set_result(True)
        asyncio.ensure_future(pull())

    await pc.setLocalDescription(await pc.createOffer())
    ufrag, pwd, fp, cands, mids, opus = parse_offer(pc.localDescription.sdp)
    proc = await asyncio.create_subprocess_exec(echo_bin, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE)
    feed = [f"ufrag {ufrag}", f"pwd {pwd}", f"fingerprint {fp}", "setup actpass", "sctp 5000"]
    proc.stdin.write(("\n".join(feed + cands + ["done"]) + "\n").encode())
    await proc.stdin.drain()

    ans = {"candidates": []}
    events = []
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode().strip()
        if line.startswith("candidate:"):
            ans["candidates"].append(line)
        elif line == "gathered":
            break
        elif line.split(" ", 1)[0] in ("ufrag", "pwd", "fingerprint", "setup"):
            key, val = line.split(" ", 1)
            ans[key] = val
        else:
            events.append(line)
    await pc.setRemoteDescription(RTCSessionDescription(build_answer(ans, mids, opus), "answer"))

    async def read_events():
        while True:
            line = (await proc.stdout.readline()).decode().strip()
            if not line:
                return
            events.append(line)
    reader = asyncio.ensure_future(read_events())
    ok = True
    try:
        echo = await asyncio.wait_for(got_echo, 15)
        print("data channel echo:", echo)
        ok &= echo == "echo:hello parley"
        await asyncio.wait_for(got_audio, 15)
        print("echoed audio received by aiortc")
        await asyncio.sleep(6)   # aiortc sends its first RTCP after a few seconds
    except asyncio.TimeoutError:
        print("timeout; events:", events)
        ok = False
    proc.stdin.close()
    await proc.wait()
    await reader
    await pc.close()
    print("peer events:", events)
    ok &= any(e.startswith("state 3") for e in events)
    ok &= any(e.startswith("open ") and e.endswith(" chat") for e in events)
    stats = [e for e in events if e.startswith("stats ")]
    ok &= bool(stats) and int(stats[-1].split()[1]) > 0 and int(stats[-1].split()[2]) > 0
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
