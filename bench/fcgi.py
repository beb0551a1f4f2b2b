"""Driving a php-fpm worker over FastCGI: a php-fpm pool of one worker, and two clients.

`cgi-fcgi` (libfcgi-bin) is the stock client; it is a process per request, whose start-up costs
about a millisecond and varies by more than the few microseconds a log event costs. `FcgiClient`
speaks the protocol itself from this process (as nginx does: a connection per request, one
request on it), so the time around a request is the worker's time plus a connect and a few
system calls.
"""
from __future__ import annotations

import os
import pathlib
import signal
import socket
import struct
import subprocess
import time

from common import CGI_FCGI, PHP_FPM, stop_process

FCGI_BEGIN_REQUEST, FCGI_END_REQUEST, FCGI_PARAMS, FCGI_STDIN, FCGI_STDOUT = 1, 3, 4, 5, 6


def _record(kind, content, request_id=1):
    return struct.pack(">BBHHBx", 1, kind, request_id, len(content), 0) + content


def _pair(name: bytes, value: bytes) -> bytes:
    def length(n):
        return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
    return length(len(name)) + length(len(value)) + name + value


class FcgiClient:
    def __init__(self, sock: pathlib.Path):
        self.sock = str(sock)

    def request(self, params: dict, timeout=30.0) -> tuple[bytes, int]:
        """Sends one request; returns (stdout, ns from connect to the end-request record)."""
        body = b"".join(_pair(k.encode(), str(v).encode()) for k, v in params.items())
        msg = (_record(FCGI_BEGIN_REQUEST, struct.pack(">HB5x", 1, 0)) + _record(FCGI_PARAMS, body)
               + _record(FCGI_PARAMS, b"") + _record(FCGI_STDIN, b""))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        out, buf = [], b""
        t0 = time.perf_counter_ns()
        try:
            s.connect(self.sock)
            s.sendall(msg)
            while True:
                while len(buf) >= 8:
                    _, kind, _, clen, plen = struct.unpack(">BBHHB", buf[:7])
                    if len(buf) < 8 + clen + plen:
                        break
                    content, buf = buf[8:8 + clen], buf[8 + clen + plen:]
                    if kind == FCGI_STDOUT:
                        out.append(content)
                    elif kind == FCGI_END_REQUEST:
                        return b"".join(out), time.perf_counter_ns() - t0
                chunk = s.recv(65536)
                if not chunk:
                    raise RuntimeError("php-fpm closed the connection before the end of the request")
                buf += chunk
        finally:
            s.close()


def cgi_fcgi(sock: pathlib.Path, params: dict, timeout=600) -> tuple[bytes, int]:
    """One request through cgi-fcgi; returns (stdout, ns around the process)."""
    env = dict(os.environ, **{k: str(v) for k, v in params.items()})
    t0 = time.perf_counter_ns()
    p = subprocess.run([CGI_FCGI, "-bind", "-connect", str(sock)], env=env, capture_output=True, timeout=timeout)
    return p.stdout, time.perf_counter_ns() - t0


def params(script: pathlib.Path, query: str) -> dict:
    return dict(SCRIPT_FILENAME=str(script), REQUEST_METHOD="GET", QUERY_STRING=query,
                SERVER_PROTOCOL="HTTP/1.1", GATEWAY_INTERFACE="CGI/1.1")


class FpmPool:
    """php-fpm with one static worker listening on <dir>/php-fpm.sock; `wrap` runs it in a namespace."""

    def __init__(self, d: pathlib.Path, ext: pathlib.Path | None, wrap=lambda args: args):
        self.dir = d
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o777)
        self.sock = d / "php-fpm.sock"
        self.ext = ext
        self.wrap = wrap
        self.proc = None

    def start(self):
        conf = self.dir / "php-fpm.conf"
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
pm.max_children = 1
pm.max_requests = 0
""")
        args = [PHP_FPM, "-n", "--nodaemonize", "--fpm-config", str(conf)]
        if self.ext:
            args[1:1] = ["-d", f"extension={self.ext}"]
        self.proc = subprocess.Popen(self.wrap(args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        deadline = time.time() + 30
        while not self.sock.exists():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"php-fpm in {self.dir} did not start: {self.proc.stderr.read()[-2000:]}")
            time.sleep(0.05)
        return self

    def stop(self):
        if self.proc:
            stop_process(self.proc, timeout=20, sig=signal.SIGQUIT)  # the master ends its worker gracefully
