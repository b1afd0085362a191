#!/usr/bin/python3
"""platform_api: the REST API (/api/v1 and /admin) against the real server binary over real
HTTP with a real SQLite file.

Covers every endpoint's happy path and errors (auth missing / expired / forged, wrong role,
bad JSON, wrong types, oversize body, unknown ids, SQL metacharacters and non-ASCII text
kept intact), refresh rotation and reuse detection, independent devices and revocation,
idempotent purchases (10 concurrent identical requests -> one credit), the signed payment
webhook (5 deliveries -> one credit; bad signature / stale -> nothing moves), rate limiting
(429 + Retry-After), the call history (rows written as the calls plugin records them), and
a kill -9 during a burst of purchases followed by a restart (ledger invariants hold, every
acknowledged purchase is there).

Three servers, one after another, each with its own ports and data dir:
  main  (dev provider, known JWT secret so the test can forge tokens)
  hook  (webhook provider, low rate limit)
  crash (dev provider, killed with SIGKILL and restarted on the same data dir)
Exit 0 pass, 77 skip (the platform API is ours only: skipped for PARLEY_TARGET=janus), 1 fail.
"""

import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from server import target  # noqa: E402  (shared helper: which server is under test)

SECRET = "integration-test-jwt-secret-0123456789abcdef"
HOOK_SECRET = "whsec_integration_\u00e9t\u00e9"
PASSWORD = "correct horse 9"
NASTY = "Robert'); DROP TABLE users;-- \"\\ % _ \u00e9\u00e8 \u65e5\u672c\u8a9e \U0001F600"


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def ports(k):
    base = int(os.environ.get("PARLEY_API_PORT_BASE", "18100")) + k * 10
    rtp = int(os.environ.get("PARLEY_API_RTP_BASE", "31000")) + k * 100
    return {"http": base, "ws": base + 1, "admin": base + 2, "rtp": f"{rtp}-{rtp + 99}"}


class Server:
    """Our server on its own ports and data dir; restartable on the same data dir."""

    def __init__(self, name, k, extra):
        self.name, self.ports, self.extra = name, ports(k), list(extra)
        self.dir = tempfile.mkdtemp(prefix=f"it-api-{name}-")
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "server.log")
        self.proc = None
        self.base = f"http://127.0.0.1:{self.ports['http']}/api/v1"
        self.admin = f"http://127.0.0.1:{self.ports['admin']}/admin"

    def start(self):
        cmd = [os.environ["PARLEY_BIN"], f"--general.data_dir={self.data}",
               f"--http.port={self.ports['http']}", f"--ws.port={self.ports['ws']}",
               f"--admin.port={self.ports['admin']}", "--http.bind=127.0.0.1",
               "--ws.bind=127.0.0.1", f"--media.rtp_port_range={self.ports['rtp']}",
               "--auth.kdf_cost=10", f"--auth.jwt_secret={SECRET}", "--http.max_body=65536",
               *self.extra]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Fail(f"{self.name}: server exited with {self.proc.returncode}")
            with open(self.log_path, "rb") as f:
                if b"parley ready" in f.read().split(b"--- restart ---")[-1]:
                    return self
            time.sleep(0.05)
        raise Fail(f"{self.name}: server not ready in 20 s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def remove(self):
        """Called once the server's part passed: failed runs keep their logs and database."""
        shutil.rmtree(self.dir, ignore_errors=True)

    def sanitizer_clean(self):
        """A sanitizer build reports memory errors and leaks in the log: any is a failure."""
        with open(self.log_path, errors="replace") as f:
            bad = [l for l in f if "AddressSanitizer" in l or "LeakSanitizer" in l or
                   "runtime error:" in l]
        check(not bad, f"{self.name}: sanitizer report in the server log: {bad[:3]}")

    def kill9(self):
        self.proc.kill()
        self.proc.wait(5)
        with open(self.log_path, "ab") as f:
            f.write(b"\n--- restart ---\n")

    def tail(self, n=50):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError as e:
            return f"(no log: {e})"


class Resp:
    def __init__(self, status, body, headers):
        self.status, self.text, self.headers = status, body, headers
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def code(self):
        return (self.json or {}).get("error", {}).get("code")

    def __repr__(self):
        return f"<{self.status} {self.text[:300]}>"


TRACE_PATH = os.environ.get("PARLEY_API_TRACE")
TRACE_LOCK = threading.Lock()
TRACE_HEADERS = ("content-type", "cache-control", "retry-after", "idempotent-replayed")


def trace(method, url, data, resp):
    """With PARLEY_API_TRACE set, appends each response as one JSON line (method, url, status,
    headers, body, request body) for openapi_validate.test.mjs to check against the document."""
    if not TRACE_PATH:
        return
    line = json.dumps({
        "method": method, "url": url, "status": resp.status, "body": resp.text,
        "headers": {h: resp.headers.get(h) for h in TRACE_HEADERS if resp.headers.get(h)},
        "request": data.decode("utf-8", "replace") if data is not None else None,
        "source": "platform_api.test.py"})
    with TRACE_LOCK, open(TRACE_PATH, "a", encoding="utf-8") as f:
        f.write(line + "\n")


def call(url, method="GET", body=None, token=None, headers=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            resp = Resp(r.status, r.read().decode("utf-8"), r.headers)
    except urllib.error.HTTPError as e:
        resp = Resp(e.code, e.read().decode("utf-8", "replace"), e.headers)
    trace(method, url, data, resp)
    return resp


def expect(r, status, code=None, what=""):
    check(r.status == status, f"{what}: expected {status}, got {r}")
    if code:
        check(r.code() == code, f"{what}: expected error code {code}, got {r}")
    if status >= 400:
        check(isinstance(r.json, dict) and isinstance(r.json.get("error"), dict) and
              isinstance(r.json["error"].get("message"), str), f"{what}: error shape {r}")
    return r


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def forge(header, claims, key=SECRET):
    h = b64u(json.dumps(header).encode())
    p = b64u(json.dumps(claims).encode())
    sig = b64u(hmac.new(key.encode(), f"{h}.{p}".encode(), hashlib.sha256).digest())
    return f"{h}.{p}.{sig}"


def jwt_claims(tok):
    p = tok.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))


def register(s, email, role, name="User", password=PASSWORD):
    r = call(f"{s.base}/auth/register", "POST",
             {"email": email, "password": password, "role": role, "display_name": name})
    expect(r, 201, what=f"register {email}")
    return r.json["user"]


def login(s, email, device, name=None, password=PASSWORD):
    body = {"email": email, "password": password, "device_id": device}
    if name:
        body["device_name"] = name
    r = call(f"{s.base}/auth/login", "POST", body)
    expect(r, 200, what=f"login {email}/{device}")
    return r.json


# ---------------------------------------------------------------- main server

def t_register_and_validation(s):
    u = register(s, "Caller.One@Example.COM", "caller", NASTY)
    check(u["email"] == "caller.one@example.com", f"email normalised: {u}")
    check(u["display_name"] == NASTY, f"display name intact: {u['display_name']!r}")
    check(u["role"] == "caller" and isinstance(u["id"], int), f"user: {u}")
    reg = f"{s.base}/auth/register"
    good = {"email": "x@example.com", "password": PASSWORD, "role": "caller", "display_name": "X"}
    expect(call(reg, "POST", dict(good, email="CALLER.one@example.com")), 409, "email_taken",
           "duplicate email (case-insensitive)")
    expect(call(reg, "POST", dict(good, password="short1")), 422, "weak_password", "short pw")
    expect(call(reg, "POST", dict(good, password="onlyletters")), 422, "weak_password", "letters")
    expect(call(reg, "POST", dict(good, email="not-an-email")), 422, "invalid_email", "bad email")
    expect(call(reg, "POST", dict(good, email="a@b")), 422, "invalid_email", "no dot")
    expect(call(reg, "POST", dict(good, role="admin")), 422, "invalid_value", "bad role")
    expect(call(reg, "POST", dict(good, display_name="")), 422, "invalid_value", "empty name")
    expect(call(reg, "POST", {k: v for k, v in good.items() if k != "role"}), 422,
           "missing_field", "missing role")
    expect(call(reg, "POST", dict(good, password=12345678)), 400, "invalid_type", "pw number")
    expect(call(reg, "POST", dict(good, extra=1)), 422, "unknown_field", "unknown field")
    expect(call(reg, "POST", raw=b"{\"email\":"), 400, "invalid_json", "truncated JSON")
    expect(call(reg, "POST", raw=b"[1,2,3]"), 400, "invalid_json", "JSON array")
    expect(call(reg, "POST", raw=b""), 400, "invalid_json", "empty body")
    expect(call(reg, "POST", raw=b"\xff\xfe{}"), 400, "invalid_json", "not UTF-8")
    expect(call(reg, "POST", raw=b'{"email":"a@b.co","email":"c@d.co"}'), 400, "invalid_json",
           "duplicate keys")
    big = json.dumps(dict(good, display_name="a" * 70000)).encode()
    check(call(reg, "POST", raw=big).status == 413, "oversize body -> 413")
    nested = b"[" * 5000 + b"]" * 5000
    r = call(reg, "POST", raw=nested)
    check(r.status == 400, f"deeply nested JSON -> 400, got {r}")
    # nothing of the refused requests was stored
    expect(call(f"{s.base}/auth/login", "POST", {"email": "x@example.com", "password": PASSWORD,
                                                 "device_id": "d"}), 401, "invalid_credentials",
           "refused registrations stored nothing")


def t_login_and_tokens(s):
    reg_user = login(s, "caller.one@example.com", "phone-1", "Pixel \u00e9")
    tok = reg_user["access_token"]
    check(reg_user["token_type"] == "Bearer" and reg_user["expires_in"] == 900, f"{reg_user}")
    check(len(reg_user["refresh_token"]) == 43, "refresh token: 32 bytes base64url")
    c = jwt_claims(tok)
    check(c["sub"] == str(reg_user["user"]["id"]) and c["role"] == "caller" and
          c["did"] == "phone-1" and c["exp"] - c["iat"] == 900 and c.get("jti"), f"claims {c}")
    lg = f"{s.base}/auth/login"
    expect(call(lg, "POST", {"email": "caller.one@example.com", "password": "wrong pass 9",
                             "device_id": "d"}), 401, "invalid_credentials", "wrong password")
    expect(call(lg, "POST", {"email": "nobody@example.com", "password": PASSWORD,
                             "device_id": "d"}), 401, "invalid_credentials", "unknown email")
    expect(call(lg, "POST", {"email": "caller.one@example.com", "password": PASSWORD,
                             "device_id": "bad id/with slash"}), 422, "invalid_value", "device id")
    expect(call(lg, "POST", {"email": "caller.one@example.com", "password": PASSWORD}), 422,
           "missing_field", "no device id")
    me = f"{s.base}/me"
    r = expect(call(me, token=tok), 200, what="GET /me")
    check(r.json["user"]["display_name"] == NASTY, "me: name intact")
    check(r.json["user"]["email"] == "caller.one@example.com", "me: email")
    expect(call(me), 401, "auth_required", "no token")
    expect(call(me, headers={"Authorization": "Basic abc"}), 401, "auth_required", "basic auth")
    expect(call(me, token="garbage"), 401, "invalid_token", "garbage token")
    now = int(time.time())
    base = dict(c)
    expired = forge({"alg": "HS256", "typ": "JWT"}, dict(base, iat=now - 1000, exp=now - 10))
    expect(call(me, token=expired), 401, "token_expired", "expired token")
    none_tok = b64u(b'{"alg":"none","typ":"JWT"}') + "." + tok.split(".")[1] + "."
    expect(call(me, token=none_tok), 401, "invalid_token", "alg none")
    wrong_key = forge({"alg": "HS256"}, base, key="another secret entirely 0123456789")
    expect(call(me, token=wrong_key), 401, "invalid_token", "wrong key")
    h, p, sig = tok.split(".")
    other_sub = b64u(json.dumps(dict(base, sub="999")).encode())
    expect(call(me, token=f"{h}.{other_sub}.{sig}"), 401, "invalid_token", "tampered payload")
    # a correctly signed token whose family never existed (a revoked or invented session)
    expect(call(me, token=forge({"alg": "HS256"}, dict(base, fam="nope"))), 401, "token_revoked",
           "unknown family")
    return reg_user


def t_profiles_and_hosts(s):
    hosts = []
    specs = [("h1@example.com", 30, ["en", "fr"], ["tarot", "\u00e9toiles"]),
             ("h2@example.com", 10, ["en"], ["astro"]),
             ("h3@example.com", 20, ["de"], ["tarot"]),
             ("h4@example.com", 10, ["pt-BR"], ["astro", "tarot"])]
    for email, rate, langs, tags in specs:
        u = register(s, email, "host", f"Host {email[:2]}")
        check("audio_rate" in u and u["audio_rate"] == 0, f"host has a profile: {u}")
        tok = login(s, email, "web")["access_token"]
        r = call(f"{s.base}/me", "PATCH", {"audio_rate": rate, "video_rate": rate * 2,
                                           "message_rate": 1, "languages": langs, "tags": tags,
                                           "bio": NASTY + "\nline two",
                                           "avatar_url": "https://cdn.example.com/a.png?x=1&y='"},
                 token=tok)
        expect(r, 200, what="PATCH /me host")
        pu = r.json["user"]
        check(pu["audio_rate"] == rate and pu["video_rate"] == rate * 2 and
              pu["languages"] == langs and pu["tags"] == tags and
              pu["bio"] == NASTY + "\nline two", f"profile stored intact: {pu}")
        hosts.append((u["id"], tok, rate))
    h1_tok = hosts[0][1]
    me = f"{s.base}/me"
    expect(call(me, "PATCH", {"audio_rate": "5"}, token=h1_tok), 400, "invalid_type", "rate str")
    expect(call(me, "PATCH", {"audio_rate": 1.5}, token=h1_tok), 400, "invalid_type", "rate float")
    expect(call(me, "PATCH", {"audio_rate": -1}, token=h1_tok), 422, "invalid_value", "negative")
    expect(call(me, "PATCH", {"languages": "en"}, token=h1_tok), 400, "invalid_type", "langs str")
    expect(call(me, "PATCH", {"languages": ["english"]}, token=h1_tok), 422, "invalid_value",
           "bad language")
    expect(call(me, "PATCH", {"avatar_url": "javascript:alert(1)"}, token=h1_tok), 422,
           "invalid_value", "avatar url")
    expect(call(me, "PATCH", {"do_not_disturb": "yes"}, token=h1_tok), 400, "invalid_type", "dnd")
    expect(call(me, "PATCH", {"wallet": 100}, token=h1_tok), 422, "unknown_field", "unknown field")
    r = expect(call(me, "PATCH", {"do_not_disturb": True, "display_name": "H\u00f6st 1"},
                    token=h1_tok), 200, what="dnd")
    check(r.json["user"]["do_not_disturb"] is True and r.json["user"]["audio_rate"] == 30,
          f"partial patch keeps other fields: {r.json}")

    # discovery
    r = expect(call(f"{s.base}/hosts"), 200, what="GET /hosts")
    ids = [h["id"] for h in r.json["hosts"]]
    check(ids == sorted([h[0] for h in hosts], reverse=True), f"newest first: {ids}")
    card = r.json["hosts"][-1]
    for k in ("id", "display_name", "avatar_url", "audio_rate", "video_rate", "message_rate",
              "availability"):
        check(k in card, f"card has {k}: {card}")
    check(all(h["availability"] == "offline" for h in r.json["hosts"]), "nobody online")
    check("email" not in card, "cards do not leak emails")
    r = expect(call(f"{s.base}/hosts?sort=rate"), 200)
    rates = [(h["audio_rate"], h["id"]) for h in r.json["hosts"]]
    check(rates == sorted(rates), f"sort=rate ascending: {rates}")
    seen, cursor, pages = [], None, 0
    while True:
        q = "sort=rate&limit=1" + (f"&cursor={cursor}" if cursor else "")
        r = expect(call(f"{s.base}/hosts?{q}"), 200, what="paging")
        seen += [h["id"] for h in r.json["hosts"]]
        cursor = r.json["next_cursor"]
        pages += 1
        if not cursor:
            break
        check(pages < 10, "paging terminates")
    check(seen == [x[1] for x in rates], f"rate pages cover all once: {seen}")
    seen, cursor = [], None
    while True:
        r = expect(call(f"{s.base}/hosts?limit=3" + (f"&cursor={cursor}" if cursor else "")), 200)
        seen += [h["id"] for h in r.json["hosts"]]
        cursor = r.json["next_cursor"]
        if not cursor:
            break
    check(seen == ids, f"newest pages cover all once: {seen}")
    tag = urllib.parse.quote("\u00e9toiles")
    r = expect(call(f"{s.base}/hosts?tag={tag}"), 200)
    check([h["id"] for h in r.json["hosts"]] == [hosts[0][0]], f"non-ASCII tag filter {r}")
    r = expect(call(f"{s.base}/hosts?tag=tarot&language=en"), 200)
    check([h["id"] for h in r.json["hosts"]] == [hosts[0][0]], f"tag+language filter {r}")
    r = expect(call(f"{s.base}/hosts?tag=tarot"), 200)
    check(sorted(h["id"] for h in r.json["hosts"]) == sorted([hosts[0][0], hosts[2][0],
                                                              hosts[3][0]]), f"tag filter {r}")
    r = expect(call(f"{s.base}/hosts?" + urllib.parse.urlencode({"tag": "x' OR '1'='1"})), 200)
    check(r.json["hosts"] == [], "SQL in a filter matches nothing")
    r = expect(call(f"{s.base}/hosts?online=true"), 200)
    check(r.json["hosts"] == [], "online=true: nobody")
    r = expect(call(f"{s.base}/hosts?online=false"), 200)
    check(len(r.json["hosts"]) == 4, "online=false: all")
    expect(call(f"{s.base}/hosts?limit=0"), 400, "invalid_query", "limit 0")
    expect(call(f"{s.base}/hosts?limit=abc"), 400, "invalid_query", "limit abc")
    expect(call(f"{s.base}/hosts?sort=price"), 400, "invalid_query", "bad sort")
    expect(call(f"{s.base}/hosts?online=maybe"), 400, "invalid_query", "bad online")
    expect(call(f"{s.base}/hosts?cursor=%%%%"), 400, "invalid_cursor", "bad cursor")
    expect(call(f"{s.base}/hosts?sort=rate&cursor=" + b64u(b"n.5")), 400, "invalid_cursor",
           "cursor of another sort")
    r = expect(call(f"{s.base}/hosts/{hosts[0][0]}"), 200, what="GET /hosts/id")
    full = r.json["host"]
    check(full["bio"] == NASTY + "\nline two" and full["tags"] == specs[0][3] and
          full["display_name"] == "H\u00f6st 1" and full["do_not_disturb"] is True and
          full["availability"] == "offline" and "email" not in full, f"full profile {full}")
    expect(call(f"{s.base}/hosts/999999"), 404, "not_found", "unknown host")
    expect(call(f"{s.base}/hosts/abc"), 404, "not_found", "non-numeric host id")
    expect(call(f"{s.base}/hosts/1"), 404, "not_found", "a caller is not a host")
    expect(call(f"{s.base}/hosts/-1"), 404, "not_found", "negative id")
    return hosts


def t_roles(s, caller_tok, host_tok):
    expect(call(f"{s.base}/earnings", token=caller_tok), 403, "forbidden", "caller /earnings")
    r = expect(call(f"{s.base}/earnings", token=host_tok), 200, what="host /earnings")
    check(r.json["totals"]["earned"] == 0 and r.json["per_day"] == [], f"earnings {r.json}")
    expect(call(f"{s.base}/me", "PATCH", {"audio_rate": 5}, token=caller_tok), 403, "host_only",
           "caller cannot set rates")
    r = expect(call(f"{s.base}/me", "PATCH", {"display_name": "Caller \u2603"}, token=caller_tok),
               200, what="caller renames")
    check(r.json["user"]["display_name"] == "Caller \u2603", "caller name")
    expect(call(f"{s.base}/nope"), 404, "not_found", "unknown endpoint")
    expect(call(f"{s.base}/me", "DELETE", token=caller_tok), 405, "method_not_allowed", "405")
    expect(call(f"{s.base}/auth/login"), 405, "method_not_allowed", "GET login")


def t_devices(s):
    register(s, "multi@example.com", "caller", "Multi")
    a = login(s, "multi@example.com", "phone", "Phone")
    b = login(s, "multi@example.com", "laptop", "Laptop \u00fc")
    r = expect(call(f"{s.base}/auth/devices", token=a["access_token"]), 200, what="devices")
    devs = {d["device_id"]: d for d in r.json["devices"]}
    check(set(devs) == {"phone", "laptop"}, f"two devices: {devs}")
    check(devs["phone"]["current"] and not devs["laptop"]["current"], "current flag")
    check(devs["laptop"]["name"] == "Laptop \u00fc", "device name intact")
    ref = f"{s.base}/auth/refresh"
    # rotation: a -> a2; the old refresh token is dead
    a2 = expect(call(ref, "POST", {"refresh_token": a["refresh_token"]}), 200, what="refresh").json
    check(a2["refresh_token"] != a["refresh_token"] and a2["access_token"], "new pair")
    check(jwt_claims(a2["access_token"])["did"] == "phone", "same device")
    expect(call(f"{s.base}/me", token=a2["access_token"]), 200, what="new access works")
    expect(call(f"{s.base}/me", token=a["access_token"]), 200, what="old access still valid")
    # reuse of the old refresh token: the whole phone family dies
    expect(call(ref, "POST", {"refresh_token": a["refresh_token"]}), 401, "refresh_token_reused",
           "reuse detected")
    expect(call(ref, "POST", {"refresh_token": a2["refresh_token"]}), 401, "token_revoked",
           "the family's newest refresh token is dead too")
    expect(call(f"{s.base}/me", token=a2["access_token"]), 401, "token_revoked", "access dead")
    expect(call(f"{s.base}/me", token=a["access_token"]), 401, "token_revoked", "old access dead")
    # the laptop is independent
    expect(call(f"{s.base}/me", token=b["access_token"]), 200, what="laptop unaffected")
    b2 = expect(call(ref, "POST", {"refresh_token": b["refresh_token"]}), 200, what="laptop").json
    r = expect(call(f"{s.base}/auth/devices", token=b2["access_token"]), 200)
    check([d["device_id"] for d in r.json["devices"]] == ["laptop"], f"phone gone: {r.json}")
    expect(call(ref, "POST", {"refresh_token": "A" * 43}), 401, "invalid_refresh_token", "unknown")
    expect(call(ref, "POST", {"refresh_token": 5}), 400, "invalid_type", "refresh type")
    expect(call(ref, "POST", {}), 422, "missing_field", "refresh missing")
    # revoke a device from another one
    c = login(s, "multi@example.com", "tablet")
    expect(call(f"{s.base}/auth/devices/nope", "DELETE", token=c["access_token"]), 404,
           "not_found", "unknown device")
    r = expect(call(f"{s.base}/auth/devices/laptop", "DELETE", token=c["access_token"]), 200,
               what="revoke laptop")
    expect(call(f"{s.base}/me", token=b2["access_token"]), 401, "token_revoked", "laptop access")
    expect(call(ref, "POST", {"refresh_token": b2["refresh_token"]}), 401, "token_revoked",
           "laptop refresh")
    expect(call(f"{s.base}/me", token=c["access_token"]), 200, what="tablet still fine")
    # another user cannot revoke my devices
    other = login(s, "caller.one@example.com", "intruder")
    expect(call(f"{s.base}/auth/devices/tablet", "DELETE", token=other["access_token"]), 404,
           "not_found", "someone else's device")
    expect(call(f"{s.base}/me", token=c["access_token"]), 200, what="tablet survives intruder")
    # a second login on the same device replaces the earlier session
    c2 = login(s, "multi@example.com", "tablet")
    expect(call(f"{s.base}/me", token=c["access_token"]), 401, "token_revoked", "relogin")
    # logout
    expect(call(f"{s.base}/auth/logout", "POST", token=c2["access_token"]), 200, what="logout")
    expect(call(f"{s.base}/me", token=c2["access_token"]), 401, "token_revoked", "after logout")
    expect(call(ref, "POST", {"refresh_token": c2["refresh_token"]}), 401, "token_revoked",
           "refresh after logout")


def push_rows(s):
    db = sqlite3.connect(f"file:{s.data}/parley.db?mode=ro", uri=True)
    rows = db.execute("SELECT d.device_id, p.kind, p.value FROM push_tokens p "
                      "JOIN devices d ON d.family = p.family ORDER BY d.device_id").fetchall()
    db.close()
    return rows


def t_push(s):
    register(s, "push@example.com", "caller", "Push")
    a = login(s, "push@example.com", "android")
    b = login(s, "push@example.com", "browser")
    url = f"{s.base}/me/push-token"
    fcm = "fcm:" + "x" * 150 + "'; DROP TABLE push_tokens;--".replace(" ", "_")
    expect(call(url, "PUT", {"kind": "fcm", "token": fcm}, token=a["access_token"]), 200,
           what="fcm token")
    sub = {"endpoint": "https://push.example.net/send/abc", "keys": {"p256dh": "BNc", "auth": "tB"}}
    expect(call(url, "PUT", {"kind": "webpush", "subscription": sub}, token=b["access_token"]),
           200, what="webpush subscription")
    expect(call(url, "PUT", {"kind": "apns", "token": "t"}, token=a["access_token"]), 422,
           "invalid_value", "unknown kind")
    expect(call(url, "PUT", {"kind": "fcm", "token": 5}, token=a["access_token"]), 400,
           "invalid_type", "token type")
    expect(call(url, "PUT", {"kind": "fcm", "token": "has space"}, token=a["access_token"]), 422,
           "invalid_value", "token chars")
    expect(call(url, "PUT", {"kind": "webpush", "subscription": dict(sub, endpoint="http://x.y")},
                token=b["access_token"]), 422, "invalid_value", "plain http endpoint")
    expect(call(url, "PUT", {"kind": "webpush", "subscription": "x"}, token=b["access_token"]),
           400, "invalid_type", "subscription type")
    expect(call(url, "PUT", {"kind": "fcm", "token": "t"}), 401, "auth_required", "no auth")
    rows = push_rows(s)
    check(rows == [("android", "fcm", fcm), ("browser", "webpush", json.dumps(sub, separators=(",", ":")))],
          f"push rows {rows}")
    # replacing, deleting, and revocation removing the token
    expect(call(url, "PUT", {"kind": "fcm", "token": "second"}, token=a["access_token"]), 200)
    check(push_rows(s)[0] == ("android", "fcm", "second"), "replaced")
    expect(call(url, "DELETE", token=a["access_token"]), 200, what="delete push token")
    check([r[0] for r in push_rows(s)] == ["browser"], "android's token deleted")
    expect(call(f"{s.base}/auth/devices/browser", "DELETE", token=a["access_token"]), 200)
    check(push_rows(s) == [], "a revoked device keeps no push token")


def purchase(s, tok, key, pkg="starter"):
    return call(f"{s.base}/purchases", "POST", {"package_id": pkg}, token=tok,
                headers={"Idempotency-Key": key} if key is not None else None)


def wallet(s, tok):
    return expect(call(f"{s.base}/wallet", token=tok), 200, what="wallet").json


def all_transactions(s, tok, limit=7):
    out, cursor = [], None
    for _ in range(1000):
        r = expect(call(f"{s.base}/wallet/transactions?limit={limit}" +
                        (f"&cursor={cursor}" if cursor else ""), token=tok), 200, what="txns")
        out += r.json["transactions"]
        cursor = r.json["next_cursor"]
        if not cursor:
            return out
    raise Fail("transactions paging does not end")


def ledger_ok(s, what):
    r = expect(call(f"{s.admin}/ledger/check"), 200, what="ledger check")
    c = r.json
    check(c["ok"] is True and c["sum_of_balances"] == 0 and c["negative_wallets"] == 0 and
          c["mismatched_balances"] == 0 and c["holds_exceeding"] == 0,
          f"{what}: ledger invariants {c}")
    return c


def t_purchases(s, tok):
    r = expect(call(f"{s.base}/credit-packages"), 200, what="packages")
    pk = {p["id"]: p for p in r.json["packages"]}
    check(pk["starter"]["credits"] == 100, f"packages {pk}")
    check(wallet(s, tok) == {"available": 0, "held": 0}, "empty wallet")
    expect(purchase(s, tok, None), 400, "idempotency_key_required", "no key")
    expect(purchase(s, tok, "k-unknown", "gold"), 422, "unknown_package", "unknown package")
    expect(call(f"{s.base}/purchases", "POST", {"package_id": 7}, token=tok,
                headers={"Idempotency-Key": "k-type"}), 400, "invalid_type", "package type")
    expect(call(f"{s.base}/purchases", "POST", {"package_id": "starter"},
                headers={"Idempotency-Key": "k-noauth"}), 401, "auth_required", "no auth")
    key = "k1 '\";--"
    r1 = expect(purchase(s, tok, key), 201, what="purchase")
    p = r1.json["purchase"]
    check(p["status"] == "completed" and p["credits"] == 100 and p["provider"] == "dev", f"{p}")
    check(r1.json["wallet"]["available"] == 100, f"wallet in answer {r1.json}")
    r2 = expect(purchase(s, tok, key), 201, what="replay")
    check(r2.text == r1.text and r2.headers.get("Idempotent-Replayed") == "true",
          f"replay returns the stored response: {r2} {dict(r2.headers)}")
    expect(purchase(s, tok, key, "plus"), 409, "idempotency_conflict", "same key other body")
    check(wallet(s, tok)["available"] == 100, "one credit after replays")
    # 10 concurrent identical requests -> one purchase, one credit
    results = [None] * 10
    barrier = threading.Barrier(10)

    def worker(i):
        barrier.wait()
        results[i] = purchase(s, tok, "k-concurrent", "plus")

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(10)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    check(all(r.status == 201 for r in results), f"all 201: {results}")
    ids = {r.json["purchase"]["id"] for r in results}
    check(len(ids) == 1, f"one purchase id: {ids}")
    check(sum(1 for r in results if r.headers.get("Idempotent-Replayed") != "true") == 1,
          "exactly one original answer")
    check(wallet(s, tok)["available"] == 1300, f"one credit of 1200: {wallet(s, tok)}")
    txns = all_transactions(s, tok, limit=1)
    check(len(txns) == 2 and [t["amount"] for t in txns] == [1200, 100], f"two credits {txns}")
    check(all(t["delta"] == t["amount"] and t["operation"] == "purchase" for t in txns), f"{txns}")
    expect(call(f"{s.base}/wallet/transactions?cursor=abc", token=tok), 400, "invalid_cursor",
           "bad txn cursor")
    expect(call(f"{s.base}/wallet/transactions?limit=1000", token=tok), 400, "invalid_query",
           "txn limit")
    c = ledger_ok(s, "after purchases")
    check(c["external_balance"] == -1300, f"external mirrors purchases: {c}")
    r = expect(call(f"{s.admin}/revenue"), 200, what="revenue")
    check(r.json["platform_revenue"] == 0 and r.json["platform_fee_bps"] == 2000, f"{r.json}")
    comp = [x for x in r.json["purchases"] if x["status"] == "completed"]
    check(comp and comp[0]["count"] == 2 and comp[0]["credits"] == 1300 and
          comp[0]["price_cents"] == 99 + 999, f"revenue purchases {r.json}")
    expect(call(f"{s.admin}/nope"), 404, "not_found", "admin unknown")


def t_calls(s):
    """GET /calls and /calls/{id}: errors, the empty list, then calls as the calls plugin
    records them (platform_call_record), written straight into the database since no plugin
    runs here: paging newest first, each party's role, nobody else sees a call."""
    register(s, "calls-c@example.com", "caller", "Call Caller")
    register(s, "calls-h@example.com", "host", NASTY)
    register(s, "calls-x@example.com", "caller", "Call Other")
    c, h, x = (login(s, f"calls-{k}@example.com", "calls") for k in "chx")
    ctok, htok, xtok = c["access_token"], h["access_token"], x["access_token"]
    url = f"{s.base}/calls"
    r = expect(call(url, token=ctok), 200, what="no calls yet")
    check(r.json == {"calls": [], "next_cursor": None}, f"empty call list {r}")
    expect(call(url), 401, "auth_required", "calls without token")
    expect(call(f"{url}?limit=0", token=ctok), 400, "invalid_query", "calls limit 0")
    expect(call(f"{url}?limit=101", token=ctok), 400, "invalid_query", "calls limit 101")
    expect(call(f"{url}?cursor=abc", token=ctok), 400, "invalid_cursor", "calls cursor")
    expect(call(f"{url}?cursor=12", token=ctok), 400, "invalid_cursor", "numeric cursor")
    expect(call(url, "POST", {}, token=ctok), 405, "method_not_allowed", "POST /calls")
    for bad in ("not-a-uuid", "1", "0b8e2f6a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"):
        expect(call(f"{url}/{bad}", token=ctok), 404, "not_found", f"GET /calls/{bad}")

    ids = {"c": c["user"]["id"], "h": h["user"]["id"], "x": x["user"]["id"]}
    now = int(time.time() * 1000)
    first, second, other = ("%08x-1c3d-4e5f-8a9b-0c1d2e3f4a5b" % i for i in (1, 2, 3))
    db = sqlite3.connect(f"{s.data}/parley.db", timeout=10)
    db.execute("PRAGMA foreign_keys = ON")
    with db:
        # answered, upgraded to video at +1 s, ended by a hangup at +61 s
        db.execute("INSERT INTO calls(call_id, caller_id, host_id, kind, state, devices_rung, "
                   "created_at, accepted_at, ended_at, end_reason, duration_ms, "
                   "answer_session_id, answer_handle_id) VALUES (?, ?, ?, 'video', 'ended', 2, "
                   "?, ?, ?, 'hangup', 60000, 11, 12)",
                   (first, ids["c"], ids["h"], now - 90000, now - 89000, now - 29000))
        db.executemany("INSERT INTO call_kind_changes(call_id, kind, at) VALUES (?, ?, ?)",
                       [(first, "audio", now - 90000), (first, "video", now - 88000)])
        db.execute("INSERT INTO calls(call_id, caller_id, host_id, kind, state, created_at) "
                   "VALUES (?, ?, ?, 'audio', 'ringing', ?)", (second, ids["c"], ids["h"], now))
        db.execute("INSERT INTO call_kind_changes(call_id, kind, at) VALUES (?, 'audio', ?)",
                   (second, now))
        db.execute("INSERT INTO calls(call_id, caller_id, host_id, kind, state, created_at) "
                   "VALUES (?, ?, ?, 'audio', 'ringing', ?)", (other, ids["x"], ids["h"], now))
        db.execute("INSERT INTO call_kind_changes(call_id, kind, at) VALUES (?, 'audio', ?)",
                   (other, now))
    db.close()

    r1 = expect(call(f"{url}?limit=1", token=ctok), 200, what="calls page 1")
    check([c_["id"] for c_ in r1.json["calls"]] == [second] and r1.json["next_cursor"],
          f"newest first, one a page: {r1}")
    r2 = expect(call(f"{url}?limit=1&cursor={urllib.parse.quote(r1.json['next_cursor'])}",
                     token=ctok), 200, what="calls page 2")
    check([c_["id"] for c_ in r2.json["calls"]] == [first] and r2.json["next_cursor"] is None,
          f"second and last page: {r2}")
    got = r2.json["calls"][0]
    check(got["role"] == "caller" and got["state"] == "ended" and got["kind"] == "video" and
          got["end_reason"] == "hangup" and got["duration_ms"] == 60000 and
          [k["kind"] for k in got["kinds"]] == ["audio", "video"] and
          got["kinds"][0]["at"] == got["created_at"] and
          got["caller"] == {"id": ids["c"], "display_name": "Call Caller"} and
          got["host"] == {"id": ids["h"], "display_name": NASTY}, f"ended call {got}")
    ringing = r1.json["calls"][0]
    check(ringing["state"] == "ringing" and ringing["accepted_at"] is None and
          ringing["ended_at"] is None and ringing["end_reason"] is None and
          ringing["duration_ms"] == 0, f"ringing call {ringing}")
    r = expect(call(url, token=htok), 200, what="host's calls")
    check([c_["id"] for c_ in r.json["calls"]] == [other, second, first] and
          all(c_["role"] == "host" for c_ in r.json["calls"]), f"host sees all three {r}")
    r = expect(call(f"{url}/{first.upper()}", token=htok), 200, what="GET one call as host")
    check(r.json["call"]["id"] == first and r.json["call"]["role"] == "host", f"{r}")
    expect(call(f"{url}/{first}", token=xtok), 404, "not_found", "another user's call")
    r = expect(call(url, token=xtok), 200, what="third user's calls")
    check([c_["id"] for c_ in r.json["calls"]] == [other], f"only its own {r}")


JUNK = [b"", b"null", b"{}", b"[]", b"{\"a\":", b"\x00\x01\x02", b"\"str\"", b"1e400",
        b'{"email":99999999999999999999999,"password":1e400}', b'{"package_id":"\\u0000"}',
        b'{"audio_rate":9223372036854775807,"video_rate":-9223372036854775808}',
        b'{"languages":[[[]]],"tags":{"a":1},"bio":null,"do_not_disturb":0}',
        b'{"refresh_token":"' + b"A" * 5000 + b'"}', b"[" * 3000 + b"]" * 3000,
        b'{"display_name":"\\ud800","device_id":"\\u00e9"}',
        '{"email":"é@é.é","password":"ééééééééé",'
        '"role":"host","display_name":"​"}'.encode()]
ROUTES = [("PUT", "/me/push-token"), ("POST", "/auth/register"), ("POST", "/auth/login"), ("POST", "/auth/refresh"),
          ("GET", "/auth/devices"), ("DELETE", "/auth/devices/%00x"),
          ("GET", "/me"), ("PATCH", "/me"), ("GET", "/hosts?limit=99999999999999999999"),
          ("GET", "/hosts/99999999999999999999"), ("GET", "/credit-packages"),
          ("POST", "/purchases"), ("POST", "/payments/webhook"), ("GET", "/wallet"),
          ("GET", "/wallet/transactions?cursor=99999999999999999999"), ("GET", "/earnings"),
          ("GET", "/calls?limit=99999999999999999999&cursor=%ff%00"), ("GET", "/calls/%00x")]


def t_no_5xx(s, caller_tok, host_tok):
    """Bad input of every shape on every route: 4xx answers, never a 5xx."""
    n = 0
    for method, path in ROUTES:
        for tok in (None, caller_tok, host_tok):
            for body in JUNK:
                r = call(f"{s.base}{path}", method, raw=body if method != "GET" else None,
                         token=tok, headers={"Idempotency-Key": f"junk-{n}"})
                n += 1
                check(r.status < 500, f"{method} {path} with {body[:40]!r}: {r}")
                check(r.status < 300 or r.code(), f"{method} {path}: error shape {r}")
    ledger_ok(s, "after junk")


def t_meta(s, tok):
    """GET /openapi.yaml serves web/openapi.yaml byte for byte; GET /ice-servers needs a user
    and, with no STUN/TURN configured, lists nothing."""
    r = call(f"{s.base}/openapi.yaml")
    check(r.status == 200 and r.headers.get("Content-Type") == "application/yaml",
          f"openapi.yaml: {r.status} {r.headers.get('Content-Type')}")
    root = os.environ.get("PARLEY_ROOT") or os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "..", "..")
    with open(os.path.join(root, "web", "openapi.yaml"), encoding="utf-8") as f:
        check(r.text == f.read(), "the served OpenAPI document equals web/openapi.yaml "
              "(rebuild the server after editing it)")
    expect(call(f"{s.base}/openapi.yaml", "POST", {}), 405, "method_not_allowed", "POST doc")
    expect(call(f"{s.base}/ice-servers"), 401, "auth_required", "ice-servers without token")
    r = expect(call(f"{s.base}/ice-servers", token=tok), 200, what="ice-servers")
    check(r.json["ice_servers"] == [] and isinstance(r.json["ttl"], int), f"no ICE servers {r}")


def t_transport_edges(s):
    """Answers every operation can give besides its own: 401 without a token on each
    authenticated route, 413 for a body over http.max_body on each route that takes one."""
    for method, path in [("POST", "/auth/logout"), ("DELETE", "/auth/devices/x"),
                         ("DELETE", "/me/push-token"), ("GET", "/wallet"),
                         ("GET", "/wallet/transactions"), ("GET", "/earnings"),
                         ("GET", "/auth/devices"), ("PATCH", "/me"), ("PUT", "/me/push-token"),
                         ("GET", "/calls"), ("GET", "/calls/x")]:
        expect(call(f"{s.base}{path}", method), 401, "auth_required", f"{method} {path} no token")
    big = b'{"x":"' + b"a" * 70000 + b'"}'
    for method, path in [("POST", "/auth/register"), ("POST", "/auth/login"),
                         ("POST", "/auth/refresh"), ("POST", "/auth/logout"), ("PATCH", "/me"),
                         ("PUT", "/me/push-token"), ("POST", "/purchases"),
                         ("POST", "/payments/webhook")]:
        expect(call(f"{s.base}{path}", method, raw=big), 413, "payload_too_large",
               f"{method} {path} oversize")


def run_main():
    s = Server("main", 0, ["--auth.rate_limit_per_min=100000", "--billing.payment_provider=dev"]).start()
    try:
        t_register_and_validation(s)
        caller = t_login_and_tokens(s)
        hosts = t_profiles_and_hosts(s)
        t_roles(s, caller["access_token"], hosts[1][1])
        t_devices(s)
        t_push(s)
        t_meta(s, caller["access_token"])
        t_transport_edges(s)
        t_purchases(s, caller["access_token"])
        t_calls(s)
        t_no_5xx(s, caller["access_token"], hosts[1][1])
        # a purchase by a host works too (hosts have wallets), and the ledger stays balanced
        expect(purchase(s, hosts[1][1], "host-buys"), 201, what="host purchase")
        ledger_ok(s, "end of main")
        # tokens survive a clean restart (secret and live families are persistent); the
        # restart raises the KDF cost, so the next login re-hashes that user's password
        s.stop()
        with open(s.log_path, "ab") as f:
            f.write(b"\n--- restart ---\n")
        s.extra.append("--auth.kdf_cost=11")
        s.start()
        login(s, "h2@example.com", "rehash")
        db = sqlite3.connect(f"file:{s.data}/parley.db?mode=ro", uri=True)
        hashes = dict(db.execute("SELECT email, password_hash FROM users").fetchall())
        db.close()
        check(hashes["h2@example.com"].startswith("scrypt$11$8$1$"), "re-hashed at cost 11")
        check(hashes["h3@example.com"].startswith("scrypt$10$8$1$"), "others untouched")
        check(all(PASSWORD not in h for h in hashes.values()), "no plain passwords")
        login(s, "h2@example.com", "rehash-2")
        r = expect(call(f"{s.base}/me", token=caller["access_token"]), 200, what="after restart")
        check(r.json["user"]["display_name"] == "Caller \u2603", "data persisted")
        check(wallet(s, caller["access_token"])["available"] == 1300, "wallet persisted")
        s.stop()
        s.sanitizer_clean()
        s.remove()
    except BaseException:
        print(f"--- last 50 lines of the main server log ({s.log_path}) ---", file=sys.stderr)
        print(s.tail(), file=sys.stderr)
        raise
    finally:
        s.stop()


# ---------------------------------------------------------------- webhook server

def signed(body, ts=None, secret=HOOK_SECRET):
    ts = str(int(time.time()) if ts is None else ts)
    raw = json.dumps(body).encode()
    sig = hmac.new(secret.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return raw, {"X-Parley-Timestamp": ts, "X-Parley-Signature": sig}


def run_hook():
    s = Server("hook", 1, ["--billing.payment_provider=webhook",
                           f"--billing.webhook_secret={HOOK_SECRET}",
                           "--auth.rate_limit_per_min=5",
                           "--media.stun_uris=stun:127.0.0.1:3478",
                           "--media.turn_uris=turn:127.0.0.1:3478?transport=udp,turns:127.0.0.1",
                           "--media.turn_secret=turn-secret-0123", "--media.turn_ttl=600"]).start()
    try:
        register(s, "payer@example.com", "caller")
        tok = login(s, "payer@example.com", "d1")["access_token"]
        r = expect(call(f"{s.base}/ice-servers", token=tok), 200, what="ice-servers")
        stun, turn = r.json["ice_servers"]
        check(stun == {"urls": ["stun:127.0.0.1:3478"]} and r.json["ttl"] == 600, f"{r.json}")
        want = base64.b64encode(hmac.new(b"turn-secret-0123", turn["username"].encode(),
                                         hashlib.sha1).digest()).decode()
        check(turn["urls"] == ["turn:127.0.0.1:3478?transport=udp", "turns:127.0.0.1"] and
              turn["credential"] == want, f"TURN entry {turn}")
        r = expect(purchase(s, tok, "wk-1", "standard"), 201, what="pending purchase")
        p = r.json["purchase"]
        check(p["status"] == "pending" and p["provider"] == "webhook", f"pending: {p}")
        check(wallet(s, tok)["available"] == 0, "nothing credited yet")
        hook = f"{s.base}/payments/webhook"
        ev = {"id": "evt_1", "type": "payment.succeeded", "purchase_id": p["id"]}
        raw, hdr = signed(ev)
        bad = dict(hdr, **{"X-Parley-Signature": "0" * 64})
        expect(call(hook, "POST", raw=raw, headers=bad), 401, "invalid_signature", "bad sig")
        raw2, hdr2 = signed(ev, secret="not the secret")
        expect(call(hook, "POST", raw=raw2, headers=hdr2), 401, "invalid_signature", "other key")
        expect(call(hook, "POST", raw=raw), 401, "invalid_signature", "no headers")
        tampered = raw.replace(b"evt_1", b"evt_2")
        expect(call(hook, "POST", raw=tampered, headers=hdr), 401, "invalid_signature", "body")
        raw3, hdr3 = signed(ev, ts=int(time.time()) - 1000)
        expect(call(hook, "POST", raw=raw3, headers=hdr3), 400, "stale_webhook", "stale")
        raw4, hdr4 = signed(ev, ts=int(time.time()) + 1000)
        expect(call(hook, "POST", raw=raw4, headers=hdr4), 400, "stale_webhook", "future")
        check(wallet(s, tok)["available"] == 0, "refused webhooks moved nothing")
        ledger_ok(s, "after refused webhooks")
        outcomes = []
        for _ in range(5):
            raw, hdr = signed(ev)
            r = expect(call(hook, "POST", raw=raw, headers=hdr), 200, what="webhook")
            outcomes.append(r.json["outcome"])
            check(r.json["purchase"]["status"] == "completed", f"completed {r.json}")
        check(outcomes == ["applied"] + ["duplicate"] * 4, f"outcomes {outcomes}")
        # a different event for the same purchase cannot credit again
        raw, hdr = signed(dict(ev, id="evt_other"))
        r = expect(call(hook, "POST", raw=raw, headers=hdr), 200, what="second event")
        check(r.json["outcome"] == "ignored", f"{r.json}")
        check(wallet(s, tok)["available"] == 550, f"credited once: {wallet(s, tok)}")
        raw, hdr = signed({"id": "evt_x", "type": "payment.succeeded", "purchase_id": 9999})
        expect(call(hook, "POST", raw=raw, headers=hdr), 404, "not_found", "unknown purchase")
        raw, hdr = signed({"id": "evt_y", "type": "payment.refunded", "purchase_id": p["id"]})
        expect(call(hook, "POST", raw=raw, headers=hdr), 422, "invalid_value", "unknown type")
        raw, hdr = signed({"id": "evt_z", "type": "payment.succeeded", "purchase_id": "1"})
        expect(call(hook, "POST", raw=raw, headers=hdr), 400, "invalid_type", "id type")
        # a failed payment: the purchase ends failed, nothing moves
        r = expect(purchase(s, tok, "wk-2", "starter"), 201, what="second purchase")
        raw, hdr = signed({"id": "evt_f", "type": "payment.failed",
                           "purchase_id": r.json["purchase"]["id"]})
        r = expect(call(hook, "POST", raw=raw, headers=hdr), 200, what="failed payment")
        check(r.json["purchase"]["status"] == "failed", f"{r.json}")
        check(wallet(s, tok)["available"] == 550, "failed payment moved nothing")
        ledger_ok(s, "after webhooks")
        # rate limiting of logins: 5 per minute per IP (one used above)
        lg = f"{s.base}/auth/login"
        statuses = []
        for _ in range(6):
            r = call(lg, "POST", {"email": "payer@example.com", "password": "wrong pass 1",
                                  "device_id": "d2"})
            statuses.append(r.status)
            if r.status == 429:
                ra = r.headers.get("Retry-After")
                check(ra and ra.isdigit() and 1 <= int(ra) <= 60, f"Retry-After {ra}")
                check(r.code() == "rate_limited", f"{r}")
                break
        check(statuses == [401, 401, 401, 401, 429], f"limited after 5 attempts: {statuses}")
        r = call(lg, "POST", {"email": "payer@example.com", "password": PASSWORD, "device_id": "d"})
        check(r.status == 429, "even the right password waits")
        # registration and refresh have their own per-IP buckets (5 per minute here)
        statuses = [call(f"{s.base}/auth/register", "POST",
                         {"email": f"r{i}@example.com", "password": PASSWORD, "role": "caller",
                          "display_name": "R"}).status for i in range(5)]
        check(statuses == [201, 201, 201, 201, 429], f"register limited: {statuses}")
        statuses = [call(f"{s.base}/auth/refresh", "POST", {"refresh_token": "B" * 43}).status
                    for _ in range(6)]
        check(statuses == [401] * 5 + [429], f"refresh limited: {statuses}")
        s.stop()
        s.sanitizer_clean()
        s.remove()
    except BaseException:
        print(f"--- last 50 lines of the hook server log ({s.log_path}) ---", file=sys.stderr)
        print(s.tail(), file=sys.stderr)
        raise
    finally:
        s.stop()


# ---------------------------------------------------------------- crash server

def run_crash():
    s = Server("crash", 2, ["--auth.rate_limit_per_min=100000", "--billing.payment_provider=dev"]).start()
    try:
        register(s, "burst@example.com", "caller")
        tok = login(s, "burst@example.com", "d")["access_token"]
        acked = {}
        lock = threading.Lock()
        stop = threading.Event()

        def worker(w):
            n = 0
            while not stop.is_set():
                key = f"burst-{w}-{n}"
                n += 1
                try:
                    r = purchase(s, tok, key)
                except Exception:
                    return   # the server died under us
                if r.status == 201:
                    with lock:
                        acked[key] = r.json["purchase"]["id"]

        ts = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
        [t.start() for t in ts]
        time.sleep(1.5)
        s.kill9()
        stop.set()
        [t.join(30) for t in ts]
        check(len(acked) > 0, "some purchases were acknowledged before the kill")
        s.start()
        ledger_ok(s, "after kill -9")
        txns = all_transactions(s, tok, limit=100)
        refs = {t["ref"] for t in txns}
        missing = [k for k, pid in acked.items() if f"purchase:{pid}" not in refs]
        check(not missing, f"acknowledged purchases lost: {missing[:5]} of {len(acked)}")
        w = wallet(s, tok)
        check(w["available"] == 100 * len(txns) and len(txns) >= len(acked),
              f"wallet {w} == 100 x {len(txns)} credits (acked {len(acked)})")
        for key, pid in list(acked.items())[:20]:
            r = expect(purchase(s, tok, key), 201, what="replay after crash")
            check(r.json["purchase"]["id"] == pid and
                  r.headers.get("Idempotent-Replayed") == "true", f"replay {key}: {r}")
        check(wallet(s, tok)["available"] == w["available"], "replays credit nothing")
        ledger_ok(s, "after replays")
        s.stop()
        s.sanitizer_clean()
        s.remove()
        print(f"crash: {len(acked)} purchases acknowledged before kill -9, "
              f"{len(txns)} present after restart", flush=True)
    except BaseException:
        print(f"--- last 50 lines of the crash server log ({s.log_path}) ---", file=sys.stderr)
        print(s.tail(), file=sys.stderr)
        raise
    finally:
        s.stop()


def main():
    if target() != "parley":
        print("SKIP: the platform REST API exists only in parley", flush=True)
        sys.exit(77)
    if not os.environ.get("PARLEY_BIN"):
        print("PARLEY_BIN is not set", file=sys.stderr)
        sys.exit(1)
    t0 = time.monotonic()
    try:
        run_main()
        run_hook()
        run_crash()
    except Exception:
        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    print(f"ok ({time.monotonic() - t0:.1f}s)", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
