#!/usr/bin/python3
"""push_webpush: Web Push (RFC 8030 / 8291 / 8292) from the server to a local fake push service
(HTTPS with a CA generated here, trusted through --push.ca_file). Index 47, the fake on HTTP
port + 5.

The host's browser device subscribes with a P-256 key pair and an auth secret made here (as a
browser would after pushManager.subscribe with the key from GET /push/vapid-public-key); a
second device's subscription answers 410. Then:
  1. A chat message over REST from the caller: the fake gets one POST per subscription. The
     test checks the headers (Content-Encoding aes128gcm, TTL, Urgency normal, Topic), the
     VAPID Authorization (k = the served public key; the JWT is ES256, verified with that key,
     aud = the endpoint's origin, exp within 24 h, sub mailto:/https:), and decrypts the body
     with its own RFC 8291 implementation (Python `cryptography`: ECDH, HKDF, AES-128-GCM),
     never the server's code: {type chat_message, room, msg_id, sender_name, body}.
  2. The 410 removed that subscription (its GET /me/push-token answers 404; the other stays).
  3. A call (HTTP Janus API, a hand-written audio offer) to the host, whose live device is
     registered: the subscription gets incoming_call with Urgency high and Topic = the call id
     without dashes; the caller cancels: call_ended cancelled under the same Topic.
  4. /metrics: webpush sent, tokens removed.
"""

import base64
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from server import Skip, ports_for, run_test, target  # noqa: E402

INDEX = 47
RING_S = 8


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


# ---- the fake push service ------------------------------------------------------------------

class Fake:
    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        self.gone = set()

    def record(self, path, headers, body):
        with self.lock:
            self.requests.append({"t": time.monotonic(), "path": path, "headers": headers, "body": body})
        return 410 if path.rsplit("/", 1)[-1] in self.gone else 201

    def wait(self, pred, secs, what):
        end = time.monotonic() + secs
        while time.monotonic() < end:
            with self.lock:
                got = [r for r in self.requests if pred(r)]
            if got:
                return got
            time.sleep(0.02)
        raise Fail(f"fake push service: nothing for {what} within {secs} s")


def start_fake(port, d):
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
            "-out", "ca.pem", "-days", "2", "-subj", "/CN=parley web push test CA")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "srv.key",
            "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
            "srv.pem", "-days", "2", "-extfile", "ext.cnf")
    fake = Fake()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            status = fake.record(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, "srv.pem"), os.path.join(d, "srv.key"))
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return fake, httpd, os.path.join(d, "ca.pem")


# ---- RFC 8291 / 8188, the user agent's side, written here --------------------------------------

def hkdf(salt, ikm, info, length):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def decrypt(body, ua_private, auth):
    salt, rs, idlen = body[:16], int.from_bytes(body[16:20], "big"), body[20]
    check(idlen == 65 and rs >= 18, f"aes128gcm header: rs {rs}, idlen {idlen}")
    as_public = body[21:21 + idlen]
    record = body[21 + idlen:]
    check(len(record) <= rs, f"one record of at most rs={rs} bytes, got {len(record)}")
    shared = ua_private.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), as_public))
    ua_public = ua_private.public_key().public_bytes(serialization.Encoding.X962,
                                                     serialization.PublicFormat.UncompressedPoint)
    ikm = hkdf(auth, shared, b"WebPush: info\x00" + ua_public + as_public, 32)
    cek = hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    padded = AESGCM(cek).decrypt(nonce, record, None)
    plain = padded.rstrip(b"\x00")
    check(plain.endswith(b"\x02"), "the last record's padding delimiter is not 0x02")
    return plain[:-1]


def check_vapid(authz, public_b64, origin):
    check(authz.startswith("vapid "), f"Authorization {authz[:40]}")
    parts = dict(p.strip().split("=", 1) for p in authz[6:].split(","))
    check(parts.get("k") == public_b64, f"k {parts.get('k')} is not the served public key")
    h, c, s = parts["t"].split(".")
    header, claims = json.loads(unb64u(h)), json.loads(unb64u(c))
    check(header.get("alg") == "ES256" and header.get("typ") == "JWT", f"JWT header {header}")
    sig = unb64u(s)
    check(len(sig) == 64, f"ES256 signature of {len(sig)} bytes")
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64u(public_b64))
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        key.verify(der, f"{h}.{c}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Fail("the VAPID JWT signature does not verify with the served public key")
    now = time.time()
    check(claims.get("aud") == origin, f"aud {claims.get('aud')}, want {origin}")
    check(now < claims.get("exp", 0) <= now + 86400 + 5, f"exp {claims.get('exp')} not within 24 h of {now:.0f}")
    check(str(claims.get("sub", "")).startswith(("mailto:", "https:")), f"sub {claims.get('sub')}")
    return claims


# ---- REST and the Janus HTTP API -------------------------------------------------------------

def api(srv, method, path, body=None, token=None, headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{srv.ports['http']}/api/v1{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("content-type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def account(srv, role, name, devices):
    email = f"{uuid.uuid4().hex[:10]}@push.example.test"
    st, j = api(srv, "POST", "/auth/register", {"email": email, "password": "push-Test-9", "role": role,
                                                  "display_name": name})
    check(st == 201, f"register {name}: {st} {j}")
    tokens = {}
    for d in devices:
        st, j2 = api(srv, "POST", "/auth/login", {"email": email, "password": "push-Test-9", "device_id": d,
                                                   "device_name": d})
        check(st == 200, f"login {name}/{d}: {st} {j2}")
        tokens[d] = j2["access_token"]
    return {"id": j["user"]["id"], "tokens": tokens}


def janus(srv, path, body, token):
    body = dict(body, transaction=uuid.uuid4().hex, token=token)
    req = urllib.request.Request(f"http://127.0.0.1:{srv.ports['http']}/janus{path}", data=json.dumps(body).encode(),
                                 method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


class JanusDevice:
    def __init__(self, srv, token, username):
        self.srv, self.token = srv, token
        self.sid = janus(srv, "", {"janus": "create"}, token)["data"]["id"]
        self.hid = janus(srv, f"/{self.sid}", {"janus": "attach", "plugin": "janus.plugin.videocall"}, token)["data"]["id"]
        self.message({"request": "register", "username": username})
        self.wait_event("registered")

    def message(self, body, jsep=None):
        m = {"janus": "message", "body": body}
        if jsep:
            m["jsep"] = jsep
        return janus(self.srv, f"/{self.sid}/{self.hid}", m, self.token)

    def wait_event(self, name, secs=5):
        end = time.monotonic() + secs
        while time.monotonic() < end:
            url = f"http://127.0.0.1:{self.srv.ports['http']}/janus/{self.sid}?maxev=10&token={self.token}"
            with urllib.request.urlopen(url, timeout=secs + 35) as r:
                evs = json.loads(r.read())
            for e in evs if isinstance(evs, list) else [evs]:
                res = (((e.get("plugindata") or {}).get("data") or {}).get("result") or {})
                if res.get("event") == name:
                    return res
        raise Fail(f"no {name} event within {secs} s")


FINGERPRINT = ":".join(f"{b:02X}" for b in bytes(range(32)))
OFFER = "\r\n".join([
    "v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0",
    "a=msid-semantic: WMS", "m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0",
    "a=ice-ufrag:pUsH", "a=ice-pwd:pushpushpushpushpushpush", "a=ice-options:trickle",
    f"a=fingerprint:sha-256 {FINGERPRINT}", "a=setup:actpass", "a=mid:0", "a=sendrecv", "a=rtcp-mux",
    "a=rtpmap:111 opus/48000/2", "a=fmtp:111 minptime=10;useinbandfec=1", "a=ssrc:11111111 cname:push", ""])


def metric(srv, sample):
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.ports['admin']}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(sample + " "):
                return float(line.split(" ")[1])
    return 0.0


def main():
    if target() != "parley":
        print("SKIP: Web Push is parley's (Janus has none)")
        sys.exit(77)
    d = tempfile.mkdtemp(prefix="it-push-wp-")
    port = ports_for(INDEX)["http"] + 5
    fake, httpd, ca = start_fake(port, d)
    origin = f"https://127.0.0.1:{port}"
    lines = []

    def body(srv):
        st, j = api(srv, "GET", "/push/vapid-public-key")
        check(st == 200 and len(j["public_key"]) == 87, f"GET /push/vapid-public-key: {st} {j}")
        vapid_pub = j["public_key"]
        check(unb64u(vapid_pub)[0] == 4 and len(unb64u(vapid_pub)) == 65, "the key is not an uncompressed P-256 point")
        caller = account(srv, "caller", "Web Push Caller", ["web"])
        host = account(srv, "host", "Web Push Host", ["live", "browser", "stale"])
        st, j = api(srv, "POST", "/purchases", {"package_id": "starter"}, caller["tokens"]["web"],
                    {"Idempotency-Key": uuid.uuid4().hex})
        check(st == 201, f"purchase: {st} {j}")
        ua_private = ec.generate_private_key(ec.SECP256R1())
        ua_public = ua_private.public_key().public_bytes(serialization.Encoding.X962,
                                                         serialization.PublicFormat.UncompressedPoint)
        auth = os.urandom(16)
        sub = {"endpoint": f"{origin}/wp/browser1", "keys": {"p256dh": b64u(ua_public), "auth": b64u(auth)}}
        st, j = api(srv, "PUT", "/me/push-token", {"kind": "webpush", "subscription": sub}, host["tokens"]["browser"])
        check(st == 200, f"PUT webpush subscription: {st} {j}")
        other = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        fake.gone.add("stale1")
        stale = {"endpoint": f"{origin}/wp/stale1", "keys": {"p256dh": b64u(other), "auth": b64u(os.urandom(16))}}
        st, j = api(srv, "PUT", "/me/push-token", {"kind": "webpush", "subscription": stale}, host["tokens"]["stale"])
        check(st == 200, f"PUT stale subscription: {st} {j}")

        # 1. a chat message
        st, conv = api(srv, "POST", "/conversations", {"with": host["id"]}, caller["tokens"]["web"])
        check(st == 201, f"conversation: {st} {conv}")
        room = conv["id"]
        text = "héllo from the web ✓"
        st, m = api(srv, "POST", f"/conversations/{room}/messages", {"client_id": str(uuid.uuid4()), "text": text},
                    caller["tokens"]["web"])
        check(st == 201, f"REST send: {st} {m}")
        got = fake.wait(lambda r: r["path"] == "/wp/browser1", 5, "the chat message push")
        check(len(got) == 1, f"{len(got)} pushes for one message")
        r = got[0]
        h = r["headers"]
        check(h.get("content-encoding") == "aes128gcm", f"Content-Encoding {h.get('content-encoding')}")
        ttl = int(h.get("ttl", "-1"))
        check(0 < ttl <= 86400, f"TTL {h.get('ttl')}")
        check(h.get("urgency") == "normal", f"Urgency {h.get('urgency')}")
        check(h.get("topic") == f"chat{room}", f"Topic {h.get('topic')}")
        claims = check_vapid(h.get("authorization", ""), vapid_pub, origin)
        payload = json.loads(decrypt(r["body"], ua_private, auth))
        want = {"type": "chat_message", "room": str(room), "msg_id": m["msg_id"], "sender_name": "Web Push Caller",
                "body": text}
        check(payload == want, f"decrypted payload {payload}, want {want}")
        lines.append(f"chat message: decrypted {payload['type']} with RFC 8291 (cryptography), VAPID ES256 verified, "
                     f"aud {claims['aud']}, exp in {claims['exp'] - time.time():.0f} s, TTL {ttl}, Urgency normal, "
                     f"Topic {h.get('topic')}, body {len(r['body'])} bytes")

        # 2. 410 removed the stale subscription
        fake.wait(lambda r: r["path"] == "/wp/stale1", 5, "the push to the stale subscription")
        st = None
        for _ in range(50):
            st, j = api(srv, "GET", "/me/push-token", None, host["tokens"]["stale"])
            if st == 404:
                break
            time.sleep(0.1)
        check(st == 404, f"GET /me/push-token after 410: {st} {j}")
        st, j = api(srv, "GET", "/me/push-token", None, host["tokens"]["browser"])
        check(st == 200 and j["kind"] == "webpush" and j["subscription"]["endpoint"] == sub["endpoint"],
              f"the live subscription: {st} {j}")
        lines.append("410 Gone: the subscription was removed (GET /me/push-token 404), the other kept")

        # 3. a call: Urgency high, Topic = the call id; cancel -> call_ended
        live = JanusDevice(srv, host["tokens"]["live"], str(host["id"]))
        cd = JanusDevice(srv, caller["tokens"]["web"], str(caller["id"]))
        n0 = len(fake.requests)
        cd.message({"request": "call", "username": str(host["id"])}, {"type": "offer", "sdp": OFFER})
        calling = cd.wait_event("calling")
        call_id = calling["call_id"]
        live.wait_event("incomingcall")
        got = fake.wait(lambda r: r["path"] == "/wp/browser1" and r["t"] and fake.requests.index(r) >= n0, 5, "the ring")
        r = got[0]
        p = json.loads(decrypt(r["body"], ua_private, auth))
        check(p.get("type") == "incoming_call" and p.get("call_id") == call_id and p.get("caller_name") == "Web Push Caller"
              and p.get("kind") == "audio", f"incoming_call payload {p}")
        check(r["headers"].get("urgency") == "high", f"ring Urgency {r['headers'].get('urgency')}")
        check(r["headers"].get("topic") == call_id.replace("-", ""), f"ring Topic {r['headers'].get('topic')}")
        check(0 < int(r["headers"].get("ttl", "0")) <= RING_S, f"ring TTL {r['headers'].get('ttl')}")
        n1 = len(fake.requests)
        cd.message({"request": "hangup"})
        got = fake.wait(lambda r: r["path"] == "/wp/browser1" and fake.requests.index(r) >= n1, 5, "the stop push")
        p = json.loads(decrypt(got[0]["body"], ua_private, auth))
        check(p == {"type": "call_ended", "call_id": call_id, "reason": "cancelled"}, f"call_ended payload {p}")
        check(got[0]["headers"].get("topic") == call_id.replace("-", ""), "the stop push has another Topic")
        lines.append(f"call: incoming_call (Urgency high, TTL {r['headers'].get('ttl')}, Topic = call id), "
                     "cancel -> call_ended under the same Topic")

        # 4. counters
        time.sleep(0.3)
        sent = metric(srv, 'parley_push_sent_total{kind="webpush"}')
        removed = metric(srv, 'parley_push_tokens_removed_total{kind="webpush"}')
        check(sent >= 3 and removed == 1, f"/metrics webpush sent {sent}, removed {removed}")
        lines.append(f"/metrics webpush: sent {sent:.0f}, tokens removed {removed:.0f}")
        for line in lines:
            print(line, flush=True)

    try:
        run_test(INDEX, body, extra_args=["--auth.required=true", "--auth.kdf_cost=10",
                                          "--auth.rate_limit_per_min=100000", f"--calls.ring_timeout_s={RING_S}",
                                          f"--push.ca_file={ca}"])
    finally:
        httpd.shutdown()


if __name__ == "__main__":
    main()
