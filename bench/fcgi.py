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
import subprocess
import time

from common import CGI_FCGI, PHP_FPM, stop_process
from support.fcgi import fcgi_request, params  # noqa: F401  (params: for the runner)

class FcgiClient:
    def __init__(self, sock: pathlib.Path):
        self.sock = str(sock)

    def request(self, variables: dict, timeout=30.0) -> tuple[bytes, int]:
        """Sends one request; returns (stdout, ns from connect to the end-request record)."""
        return fcgi_request(self.sock, variables, timeout)


def cgi_fcgi(sock: pathlib.Path, params: dict, timeout=600) -> tuple[bytes, int]:
    """One request through cgi-fcgi; returns (stdout, ns around the process)."""
    env = dict(os.environ, **{k: str(v) for k, v in params.items()})
    t0 = time.perf_counter_ns()
    p = subprocess.run([CGI_FCGI, "-bind", "-connect", str(sock)], env=env, capture_output=True, timeout=timeout)
    return p.stdout, time.perf_counter_ns() - t0


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
