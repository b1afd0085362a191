"""Start and stop the server under test for one Python integration test.

Contract (the Python twin of lib/server.mjs, same ports and layout): start_server() launches
our server (PARLEY_TARGET=parley, the default, binary from PARLEY_BIN) or Debian's Janus
1.1.2 (PARLEY_TARGET=janus) with private ports, a private temp directory (data dir or
generated Janus configs) and its output in a log file there; it returns once the server is
ready ("parley ready" on stderr; for Janus, GET /janus/info answers) and raises otherwise.
The returned Server owns the process: call stop() (idempotent) in a finally block; tail(n)
gives the last n log lines. run_test(index, body) wraps a test: exit 0 pass, 77 skip
(raise Skip), 1 fail with the server log tail printed. Callable from the main thread only.
"""

import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

JANUS_LIB = "/usr/lib/x86_64-linux-gnu/janus"


class Skip(Exception):
    """Raised by a test body to skip with a reason."""


def target():
    return os.environ.get("PARLEY_TARGET", "parley").lower()


def repo_root():
    if os.environ.get("PARLEY_ROOT"):
        return os.environ["PARLEY_ROOT"]
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def ports_for(index):
    base = int(os.environ.get("PARLEY_PORT_BASE", 18000 + index * 10))
    rtp = int(os.environ.get("PARLEY_RTP_BASE", 30000 + index * 100))
    return {"http": base, "ws": base + 1, "admin": base + 2, "rtp_min": rtp, "rtp_max": rtp + 99}


def _port_free(port):
    # SO_REUSEADDR as node's check and the servers' listeners: connections of an earlier test
    # on this port lingering in TIME_WAIT must not make it look taken.
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _janus_configs(d, ports, session_timeout):
    plugins, transports = os.path.join(d, "plugins"), os.path.join(d, "transports")
    os.mkdir(plugins)
    os.mkdir(transports)
    os.symlink(f"{JANUS_LIB}/plugins/libjanus_echotest.so", f"{plugins}/libjanus_echotest.so")
    # The reference for the calls tests (our calls plugin answers as janus.plugin.videocall).
    os.symlink(f"{JANUS_LIB}/plugins/libjanus_videocall.so", f"{plugins}/libjanus_videocall.so")
    for t in ("libjanus_http.so", "libjanus_websockets.so"):
        os.symlink(f"{JANUS_LIB}/transports/{t}", f"{transports}/{t}")
    with open(os.path.join(d, "janus.jcfg"), "w") as f:
        f.write(f"""general: {{
  configs_folder = "{d}"
  plugins_folder = "{plugins}"
  transports_folder = "{transports}"
  events_folder = "{d}/none"
  loggers_folder = "{d}/none"
  debug_level = 4
  session_timeout = {session_timeout}
  reclaim_session_timeout = {session_timeout}
  protected_folders = [ "/bin", "/etc", "/usr" ]
}}
certificates: {{ }}
media: {{
  ipv6 = false
  rtp_port_range = "{ports['rtp_min']}-{ports['rtp_max']}"
}}
nat: {{
  nice_debug = false
  full_trickle = true
  ice_ignore_list = "vmnet"
}}
plugins: {{ }}
transports: {{ }}
loggers: {{ }}
events: {{ }}
""")
    with open(os.path.join(d, "janus.transport.http.jcfg"), "w") as f:
        f.write(f'general: {{\n  base_path = "/janus"\n  http = true\n  port = {ports["http"]}\n  https = false\n}}\n'
                'admin: { admin_http = false }\ncors: { }\n')
    with open(os.path.join(d, "janus.transport.websockets.jcfg"), "w") as f:
        f.write(f'general: {{\n  ws = true\n  ws_port = {ports["ws"]}\n  wss = false\n}}\n'
                'admin: { admin_ws = false }\ncors: { }\n')
    with open(os.path.join(d, "janus.plugin.echotest.jcfg"), "w") as f:
        f.write("general: { }\n")
    with open(os.path.join(d, "janus.plugin.videocall.jcfg"), "w") as f:
        f.write("general: { }\n")


class Server:
    def __init__(self, tgt, ports, d, log_path, proc):
        self.target, self.ports, self.dir, self.log_path, self.proc = tgt, ports, d, log_path, proc
        self.http_url = f"http://127.0.0.1:{ports['http']}/janus"
        self.ws_url = f"ws://127.0.0.1:{ports['ws']}"

    def tail(self, n=50):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError as e:
            return f"(no log: {e})"

    def stop(self):
        """Ends the server (SIGTERM, SIGKILL after 5 s); returns its exit status."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(2)
        return self.proc.returncode

    def sanitizer_reports(self):
        """Sanitizer or crash reports in the log (visible with an ASan/UBSan build)."""
        try:
            with open(self.log_path, errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            return []
        return [line for line in lines if re.search(
            r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: UndefinedBehaviorSanitizer", line)]


def _http_ready(ports):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['http']}/janus/info", timeout=1) as r:
            return json.load(r).get("janus") == "server_info"
    except Exception:
        return False


def start_server(index, session_timeout=60, extra_args=(), ready_timeout=20.0, payment_provider="dev"):
    """payment_provider (parley only): "dev" by default, so that tests can buy credits; None
    passes no --billing.payment_provider (the server's default, none)."""
    tgt = target()
    ports = ports_for(index)
    for p in (ports["http"], ports["ws"], ports["admin"]):
        if not _port_free(p):
            raise RuntimeError(f"port {p} is already in use")
    d = tempfile.mkdtemp(prefix=f"it-{tgt}-")
    log_path = os.path.join(d, "server.log")
    log = open(log_path, "ab")
    if tgt == "janus":
        _janus_configs(d, ports, session_timeout)
        cmd = ["/usr/bin/janus", "-C", os.path.join(d, "janus.jcfg"), "-F", d, "-o"]
    elif tgt == "parley":
        binary = os.environ.get("PARLEY_BIN")
        if not binary:
            raise RuntimeError("PARLEY_BIN is not set")
        os.mkdir(os.path.join(d, "data"))
        cmd = [binary, f"--general.data_dir={d}/data", f"--general.web_root={repo_root()}/web",
               f"--general.session_timeout={session_timeout}",
               f"--http.port={ports['http']}", f"--ws.port={ports['ws']}", f"--admin.port={ports['admin']}",
               "--http.bind=127.0.0.1", "--ws.bind=127.0.0.1", "--auth.required=false",
               f"--media.rtp_port_range={ports['rtp_min']}-{ports['rtp_max']}",
               *([f"--billing.payment_provider={payment_provider}"] if payment_provider else []),
               *extra_args]
    else:
        raise RuntimeError(f"unknown PARLEY_TARGET {tgt}")
    proc = subprocess.Popen(cmd, cwd=d, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.PIPE)
    atexit.register(lambda: proc.poll() is None and proc.kill())
    srv = Server(tgt, ports, d, log_path, proc)
    ready = threading.Event()

    def pump():
        # Copy stderr into the log and watch for the ready line.
        window = b""
        for chunk in iter(lambda: proc.stderr.read1(4096), b""):
            log.write(chunk)
            log.flush()
            window = (window + chunk)[-4096:]
            if b"parley ready" in window:
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + ready_timeout
    while True:
        if proc.poll() is not None:
            err = RuntimeError(f"server exited early with {proc.returncode}")
            err.srv = srv
            raise err
        if (ready.is_set() if tgt == "parley" else _http_ready(ports)):
            return srv
        if time.monotonic() > deadline:
            srv.stop()
            err = RuntimeError("server not ready in time")
            err.srv = srv
            raise err
        time.sleep(0.1)


def run_test(index, body, **kw):
    """Runs body(srv) against a fresh server and exits with the test's status."""
    srv = None
    t0 = time.monotonic()
    try:
        srv = start_server(index, **kw)
        body(srv)
        if srv.proc.poll() is not None:
            raise RuntimeError(f"the server died during the test (status {srv.proc.returncode})")
        status = srv.stop()
        if status != 0:
            raise RuntimeError(f"the server did not exit cleanly on SIGTERM (status {status})")
        reports = srv.sanitizer_reports()
        if reports:
            raise RuntimeError("sanitizer reports in the server log:\n" + "\n".join(reports[:10]))
        shutil.rmtree(srv.dir, ignore_errors=True)  # kept only when the test failed
        print(f"ok ({time.monotonic() - t0:.1f}s against {target()})", flush=True)
        sys.exit(0)
    except Skip as e:
        print(f"SKIP: {e}", flush=True)
        if srv:
            srv.stop()
        sys.exit(77)
    except Exception as e:  # the test failed: report everything we know
        traceback.print_exc()
        s = srv or getattr(e, "srv", None)
        if s:
            s.stop()
            print(f"--- last 50 lines of the {s.target} log ({s.log_path}) ---", file=sys.stderr)
            print(s.tail(50), file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
