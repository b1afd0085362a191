#!/usr/bin/python3
"""abuse_files: issue 13's private files, payment provider and account-lock rows, against the
real binary (index 35: HTTP 18350, RTP 33500-33599).

1. Default server (no --billing.payment_provider), started under umask 022 with a data
   directory that already exists with mode 0755: parley.db, -wal and -shm are 0600 while it
   runs, the directory keeps its 0755, and the user nobody can list the directory but cannot
   read the database. /janus/info says payment_provider "none"; POST /api/v1/purchases answers
   503 payment_provider_not_configured and the wallet stays empty.
   The JWT key comes from --auth.jwt_secret_file (a 0600 file with a trailing newline): the
   access tokens are signed with the file's content minus the newline.
   Account lock: the owner signs in from 127.0.0.1; 25 wrong passwords from 25 other addresses
   (127.0.1.1-25, all on lo inside the namespace) get 401 until the account's budget for
   unknown addresses (auth.login_account_per_hour, 20) is spent, then 429; a 26th address gets
   429 with Retry-After; the owner's right password from 127.0.0.1 still gets 200, even after
   two typos of its own.
2. A server with --billing.payment_provider=dev (what the test helpers pass): the WARN line is
   in its log and /janus/info shows payment_provider "dev" with a "warnings" array; a purchase
   completes.
3. --check-config with a secret given as a flag warns about /proc/<pid>/cmdline.
Exit 0 pass, 77 skip (PARLEY_TARGET=janus), 1 fail.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from server import start_server, target  # noqa: E402

INDEX = 35
PASSWORD = "correct horse 9"
JWT_SECRET = "abuse-files-jwt-secret-from-a-file-0123456789"
TRACE_PATH = os.environ.get("PARLEY_API_TRACE")


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def call(srv, method, path, body=None, token=None, headers=None, source="127.0.0.1"):
    """One HTTP request from the given local address; (status, json or None, headers)."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.ports["http"], timeout=10,
                                      source_address=(source, 0))
    h = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        h["Authorization"] = f"Bearer {token}"
    h.update(headers or {})
    data = json.dumps(body).encode() if body is not None else None
    try:
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        text = r.read().decode("utf-8", "replace")
        hdrs = {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()
    try:
        js = json.loads(text) if text else None
    except ValueError:
        js = None
    if TRACE_PATH and path.startswith("/api/v1"):
        with open(TRACE_PATH, "a", encoding="utf-8") as f:
            f.write(json.dumps({
                "method": method, "url": f"http://127.0.0.1:{srv.ports['http']}{path}",
                "status": r.status, "body": text,
                "headers": {k: hdrs[k] for k in ("content-type", "cache-control", "retry-after")
                            if k in hdrs},
                "request": data.decode() if data is not None else None,
                "source": "abuse_files.test.py"}) + "\n")
    return r.status, js, hdrs


def code(js):
    return ((js or {}).get("error") or {}).get("code")


def register(srv, email, role="caller"):
    st, js, _ = call(srv, "POST", "/api/v1/auth/register",
                     {"email": email, "password": PASSWORD, "role": role, "display_name": "U"})
    check(st == 201, f"register {email}: {st} {js}")
    return js["user"]


def login(srv, email, password=PASSWORD, source="127.0.0.1", device="d"):
    return call(srv, "POST", "/api/v1/auth/login",
                {"email": email, "password": password, "device_id": device}, source=source)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def as_nobody(*cmd):
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=10)


def janus_info(srv):
    st, js, _ = call(srv, "GET", "/janus/info")
    check(st == 200 and js and js.get("janus") == "server_info", f"/janus/info: {st} {js}")
    return js


def finish(srv):
    """Stops srv and checks it exited cleanly without sanitizer reports."""
    check(srv.proc.poll() is None, f"the server died during the test ({srv.proc.returncode})")
    status = srv.stop()
    check(status == 0, f"the server did not exit cleanly on SIGTERM (status {status})")
    reports = srv.sanitizer_reports()
    check(not reports, "sanitizer reports:\n" + "\n".join(reports[:10]))


def files_and_purchases(srv, data):
    db = os.path.join(data, "parley.db")
    for suffix in ("", "-wal", "-shm"):
        p = db + suffix
        check(os.path.exists(p), f"{p} exists while the server runs")
        check(mode(p) == 0o600, f"{p} has mode {oct(mode(p))}, want 0o600")
    check(mode(data) == 0o755, f"the pre-existing data dir keeps 0755: {oct(mode(data))}")
    # Another local user: may list the directory (0755, every parent opened up for this
    # check) but cannot read the database with its password hashes and JWT key.
    r = as_nobody("ls", data)
    check(r.returncode == 0, f"nobody can list {data}: {r.stderr!r}")
    for suffix in ("", "-wal", "-shm"):
        r = as_nobody("cat", db + suffix)
        check(r.returncode != 0 and b"Permission denied" in r.stderr,
              f"nobody must not read {db + suffix}: rc {r.returncode} {r.stderr!r}")
    print(f"files: parley.db, -wal, -shm 0600 in a 0755 data dir under umask 022; "
          f"nobody: Permission denied", flush=True)

    info = janus_info(srv)
    check(info.get("payment_provider") == "none" and "warnings" not in info,
          f"/janus/info of a default server: {info.get('payment_provider')} {info.get('warnings')}")
    register(srv, "buyer@example.com")
    st, js, _ = login(srv, "buyer@example.com")
    check(st == 200, f"login: {st} {js}")
    tok = js["access_token"]
    # the access token is signed with the secret from the file, without its newline
    h, p, sig = tok.split(".")
    want = base64.urlsafe_b64encode(hmac.new(JWT_SECRET.encode(), f"{h}.{p}".encode(),
                                             hashlib.sha256).digest()).rstrip(b"=").decode()
    check(sig == want, "the JWT is signed with auth.jwt_secret_file's content")
    st, js, hdrs = call(srv, "POST", "/api/v1/purchases", {"package_id": "starter"}, token=tok,
                        headers={"Idempotency-Key": "k-1"})
    check(st == 503 and code(js) == "payment_provider_not_configured",
          f"a default server refuses purchases: {st} {js}")
    check(hdrs.get("content-type", "").startswith("application/json"), f"JSON error: {hdrs}")
    st, js, _ = call(srv, "GET", "/api/v1/wallet", token=tok)
    check(st == 200 and js["available"] == 0, f"nothing credited: {st} {js}")
    print("purchases: 503 payment_provider_not_configured on a default server, wallet 0",
          flush=True)


def account_lock(srv):
    owner = "owner@example.com"
    register(srv, owner)
    st, js, _ = login(srv, owner)
    check(st == 200, f"the owner signs in from 127.0.0.1: {st} {js}")
    statuses, t0 = [], time.monotonic()
    for i in range(1, 26):
        st, js, hdrs = login(srv, owner, "wrong pass 1", source=f"127.0.1.{i}", device=f"a{i}")
        check(st in (401, 429), f"attempt {i}: {st} {js}")
        if st == 401:
            check(code(js) == "invalid_credentials", f"attempt {i}: {js}")
        statuses.append(st)
    check(statuses == [401] * 20 + [429] * 5,
          f"20 wrong passwords are checked, then the account refuses unknown addresses: {statuses}")
    st, js, hdrs = login(srv, owner, "wrong pass 1", source="127.0.1.26", device="a26")
    ra = hdrs.get("retry-after", "")
    check(st == 429 and code(js) == "rate_limited" and ra.isdigit() and int(ra) >= 1,
          f"the attacker's 26th try: {st} {js} Retry-After {ra!r}")
    st, js, _ = login(srv, owner)
    check(st == 200, f"the owner is not locked out: {st} {js}")
    for _ in range(2):
        st, js, _ = login(srv, owner, "typo pass 1")
        check(st == 401, f"the owner's typo is checked, not refused: {st} {js}")
    st, js, _ = login(srv, owner)
    check(st == 200, f"the owner after two typos: {st} {js}")
    print(f"login: 25 wrong passwords from 25 addresses -> {statuses.count(401)} x 401, "
          f"{statuses.count(429)} x 429 ({time.monotonic() - t0:.1f}s); 26th address 429 "
          f"Retry-After {ra}; the owner from 127.0.0.1 -> 200", flush=True)


def dev_provider():
    srv = start_server(INDEX, extra_args=["--auth.kdf_cost=10"])
    try:
        with open(srv.log_path, errors="replace") as f:
            log = f.read()
        check("payment provider dev: purchases complete without payment; never in production"
              in log and "warn" in log.lower(), "the dev provider's WARN line at start")
        info = janus_info(srv)
        check(info.get("payment_provider") == "dev" and
              any("never in production" in w for w in info.get("warnings", [])),
              f"/janus/info shows the dev provider: {info.get('payment_provider')} "
              f"{info.get('warnings')}")
        register(srv, "dev@example.com")
        st, js, _ = login(srv, "dev@example.com")
        check(st == 200, f"login: {st}")
        st, js, _ = call(srv, "POST", "/api/v1/purchases", {"package_id": "starter"},
                         token=js["access_token"], headers={"Idempotency-Key": "k-dev"})
        check(st == 201 and js["purchase"]["status"] == "completed", f"dev purchase: {st} {js}")
        finish(srv)
        print("dev: WARN at start, /janus/info payment_provider dev + warnings, purchase 201",
              flush=True)
        shutil.rmtree(srv.dir, ignore_errors=True)
    except BaseException:
        print(f"--- last 50 lines of the dev server log ({srv.log_path}) ---", file=sys.stderr)
        print(srv.tail(50), file=sys.stderr)
        srv.stop()
        raise


def check_config_warning():
    r = subprocess.run([os.environ["PARLEY_BIN"], "--check-config",
                        "--auth.jwt_secret=on-the-command-line-0123456789abcdef"],
                       capture_output=True, text=True, timeout=20)
    check(r.returncode == 0, f"--check-config: {r.returncode} {r.stderr}")
    check("auth.jwt_secret is given on the command line" in r.stderr and "/proc" in r.stderr,
          f"--check-config warns about a secret flag: {r.stderr!r}")
    check("on-the-command-line" not in r.stdout, "the dump masks the secret")
    print("check-config: warns about a secret passed as a flag", flush=True)


def main():
    if target() != "parley":
        print("SKIP: private files, payment provider and login guard are parley's", flush=True)
        sys.exit(77)
    if not os.environ.get("PARLEY_BIN"):
        print("PARLEY_BIN is not set", file=sys.stderr)
        sys.exit(1)
    t0 = time.monotonic()
    os.umask(0o022)
    secrets = tempfile.mkdtemp(prefix="it-abuse-files-secret-")
    jwt_file = os.path.join(secrets, "jwt")
    fd = os.open(jwt_file, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, (JWT_SECRET + "\n").encode())
    os.close(fd)
    srv = None
    try:
        srv = start_server(INDEX, payment_provider=None,
                           extra_args=["--auth.kdf_cost=10", f"--auth.jwt_secret_file={jwt_file}"])
        data = os.path.join(srv.dir, "data")
        # start_server made the data dir (0755 under umask 022) before the server ran; open
        # the temp dir above it (mkdtemp: 0700) so that only the files' modes protect the
        # database from other users.
        os.chmod(srv.dir, 0o755)
        with open(srv.log_path, errors="replace") as f:
            check("readable by every user" not in f.read(), "a 0600 secret file draws no warning")
        files_and_purchases(srv, data)
        account_lock(srv)
        finish(srv)
        shutil.rmtree(srv.dir, ignore_errors=True)
        srv = None
        dev_provider()
        check_config_warning()
    except Exception:
        traceback.print_exc()
        if srv:
            srv.stop()
            print(f"--- last 50 lines of the server log ({srv.log_path}) ---", file=sys.stderr)
            print(srv.tail(50), file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    finally:
        shutil.rmtree(secrets, ignore_errors=True)
    print(f"ok ({time.monotonic() - t0:.1f}s)", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
