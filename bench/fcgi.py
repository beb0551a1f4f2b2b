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
import subprocess
import time

from common import CGI_FCGI
from support.fcgi import FpmPool as SupportPool
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


def FpmPool(d: pathlib.Path, ext: pathlib.Path | None, wrap=lambda args: args, ini=None):
    """php-fpm with one static worker listening on <dir>/php-fpm.sock (the tests' pool,
    tests/support/fcgi.py); `wrap` runs it in a namespace, `ini` sets php.ini values."""
    return SupportPool(d, ext, workers=1, wrap=wrap, ini=ini)
