"""A php-fpm master with a static pool of several workers on a Unix socket, and a FastCGI client
that speaks the protocol itself (one connection per request, as nginx does)."""
import os
import pathlib
import signal
import socket
import struct
import subprocess
import time

from .paths import PHP_FPM
from .procs import stop_process

_BEGIN, _END, _PARAMS, _STDIN, _STDOUT = 1, 3, 4, 5, 6


def _record(kind, content):
    return struct.pack(">BBHHBx", 1, kind, 1, len(content), 0) + content


def _pair(name, value):
    def length(n):
        return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
    return length(len(name)) + length(len(value)) + name + value


def params(script, query=""):
    """The CGI variables of a GET of `script` with `query`."""
    return dict(SCRIPT_FILENAME=str(script), REQUEST_METHOD="GET", QUERY_STRING=query,
                SERVER_PROTOCOL="HTTP/1.1", GATEWAY_INTERFACE="CGI/1.1")


def fcgi_request(sock, variables, timeout=30.0):
    """One FastCGI request on its own connection, as nginx makes it. Returns (the script's output
    with its headers, nanoseconds from connect to the end-request record)."""
    body = b"".join(_pair(k.encode(), str(v).encode()) for k, v in variables.items())
    msg = (_record(_BEGIN, struct.pack(">HB5x", 1, 0)) + _record(_PARAMS, body) + _record(_PARAMS, b"")
           + _record(_STDIN, b""))
    out, buf = [], b""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        t0 = time.perf_counter_ns()
        s.connect(str(sock))
        s.sendall(msg)
        while True:
            while len(buf) >= 8:
                _, kind, _, clen, plen = struct.unpack(">BBHHB", buf[:7])
                if len(buf) < 8 + clen + plen:
                    break
                content, buf = buf[8:8 + clen], buf[8 + clen + plen:]
                if kind == _STDOUT:
                    out.append(content)
                elif kind == _END:
                    return b"".join(out), time.perf_counter_ns() - t0
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError("php-fpm closed the connection before the end of the request")
            buf += chunk


def fcgi_get(sock, script, query="", timeout=30.0):
    """Runs `script` with `query` in the pool; returns its output (headers stripped)."""
    raw, _ = fcgi_request(sock, params(script, query), timeout)
    return raw.split(b"\r\n\r\n", 1)[-1]


class FpmPool:
    """php-fpm (`pm = static`, `workers` children) with the extension (None: without), its socket in
    `d`; `wrap` turns the command into another (e.g. one run inside a network namespace).
    `system_ini`: with the system's php.ini and conf.d (the extensions WordPress needs, mysqli
    among them); else none (`-n`)."""

    def __init__(self, d, ext, workers=4, ini=None, env=None, wrap=lambda args: args, system_ini=False):
        self.dir = pathlib.Path(d)
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o777)
        self.sock = self.dir / "php-fpm.sock"
        self.ext, self.workers, self.ini, self.env = ext, workers, dict(ini or {}), dict(env or {})
        self.wrap, self.system_ini = wrap, system_ini
        self.proc = None

    def start(self):
        conf = self.dir / "php-fpm.conf"
        ini = "".join(f"php_admin_value[{k}] = {v}\n" for k, v in self.ini.items())
        ini += "".join(f"env[{k}] = {v}\n" for k, v in self.env.items())
        conf.write_text(f"""[global]
pid = {self.dir / 'php-fpm.pid'}
error_log = {self.dir / 'php-fpm.log'}
daemonize = no
[www]
user = www-data
group = www-data
listen = {self.sock}
listen.mode = 0666
pm = static
pm.max_children = {self.workers}
pm.max_requests = 0
catch_workers_output = yes
{ini}""")
        args = [PHP_FPM, "--nodaemonize", "--fpm-config", str(conf)]
        if not self.system_ini:
            args[1:1] = ["-n"]
        if self.ext:
            args[1:1] = ["-d", f"extension={self.ext}"]
        self.proc = subprocess.Popen(self.wrap(args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.time() + 30
        while not self.sock.exists():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"php-fpm in {self.dir} did not start: {self.proc.stderr.read()[-2000:]}")
            time.sleep(0.05)
        return self

    def stop(self):
        if self.proc:
            stop_process(self.proc, timeout=20, sig=signal.SIGQUIT)

    def log(self):
        p = self.dir / "php-fpm.log"
        return p.read_text(errors="replace") if p.exists() else ""
