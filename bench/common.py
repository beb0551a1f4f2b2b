"""What the benchmark's parts share: paths (from tests/support), sizes, the ways compared, a private
rsyslog on the namespace's /dev/log (tests/support's listens on <dir>/log.sock)."""
from __future__ import annotations

import math
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))

# Paths and process handling shared with the tests (tests/support).
from support.paths import EXT, PHP, PHP_FPM, ROOT  # noqa: E402
from support.paths import PLUGIN_SRC as PLUGIN  # noqa: E402,F401
from support.procs import stop_process  # noqa: E402,F401

BENCH = ROOT / "bench"
WRITER_BIN = pathlib.Path(os.environ.get("BANLOG_BENCH_WRITER", ROOT / "target/release/banlog-bench-writer"))
CGI_FCGI = shutil.which("cgi-fcgi") or "/usr/bin/cgi-fcgi"

SIZES = {
    "full": dict(calls=1_000_000, chunk=1000, single=1_000_000, writer_lines=1_000_000, writer_runs=5,
                 contend_per_proc=25_000, mem_events=1_000_000, mem_per_req=10_000, mem_idle_reqs=50,
                 wp_requests=300, wp_warmup=20, idle_calls=3000, idle_rounds=6, idle_gap_us=1000,
                 fpm_requests=2000, fpm_gap_s=0.002, fpm_cgi_requests=300),
    "smoke": dict(calls=2_000, chunk=100, single=300, writer_lines=20_000, writer_runs=1,
                  contend_per_proc=100, mem_events=2_000, mem_per_req=1_000, mem_idle_reqs=3,
                  wp_requests=2, wp_warmup=1, idle_calls=20, idle_rounds=2, idle_gap_us=1000,
                  fpm_requests=4, fpm_gap_s=0.001, fpm_cgi_requests=2),
}

SPAM_RE = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d comment id=(\d+) from host=(\S+) marked as spam$")
SYSLOG_MARK = b" wordpress(bench.example)["

# The ways to log an event, and what each is compared with.
HOOKS = {"banlog_spam": ["fpc_lock", "fallback_spam"],
         "banlog_auth": ["syslog_openclose", "syslog_once", "fallback_auth", "fallback_auth_socket"]}
WAYS = ["banlog_spam", "banlog_auth", "syslog_openclose", "syslog_once", "fpc_lock",
        "fallback_spam", "fallback_auth", "fallback_auth_socket"]
# The pure-PHP ways that send to the syslog daemon themselves: measured paced (the request path:
# the daemon keeps up) and in bursts (1000 in a row: rsyslog's intake is the bound).
SYSLOG_WAYS = ["syslog_openclose", "syslog_once", "fallback_auth", "fallback_auth_socket"]
# One event until written with idle gaps (as between requests): each hook against its anchor.
IDLE = {"banlog_spam": "fpc_lock", "banlog_auth": "syslog_openclose"}
# Each banlog way of a php-fpm request against its anchor (bench/fpm.py): two sites' settings, one site's.
FPM_ANCHORS = dict(IDLE, site_spam="fpc_lock", site_auth="syslog_openclose")
LABELS = {
    "banlog_spam": "banlog_spam() (extension, file)",
    "banlog_auth": "banlog_auth() (extension, syslog)",
    "syslog_openclose": "openlog+syslog+closelog (WP fail2ban)",
    "syslog_once": "syslog() after one openlog()",
    "fpc_lock": "file_put_contents APPEND+LOCK_EX (Spam Log)",
    "fallback_spam": "plugin fallback, spam (file)",
    "fallback_auth": "plugin fallback, auth (/dev/log)",
    "fallback_auth_socket": "plugin fallback, auth (socket path)",
    "site_spam": "banlog_spam() (extension, one site: file)",
    "site_auth": "banlog_auth() (extension, one site: syslog)",
}

NS_SCRIPT = r"""
set -e
d="$1"; shift
for n in null zero full random urandom tty shm pts; do mount --bind "/dev/$n" "$d/$n"; done
mount --rbind "$d" /dev
exec "$@"
"""


def log(*a):
    print(*a, file=sys.stderr, flush=True)


class Rsyslog:
    """A private rsyslogd on <dir>/dev/log, every message into one file, no rate limit."""

    def __init__(self, workdir: pathlib.Path, socket_path: pathlib.Path):
        self.dir = workdir / "rsyslog"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket = socket_path
        self.out = self.dir / "messages.log"
        self.conf = self.dir / "rsyslog.conf"
        self.conf.write_text(
            f'global(workDirectory="{self.dir}")\n'
            'module(load="imuxsock" SysSock.Use="off")\n'
            f'input(type="imuxsock" Socket="{self.socket}" CreatePath="on" UseSpecialParser="off" '
            'RateLimit.Interval="0")\n'
            f'*.* action(type="omfile" file="{self.out}" template="RSYSLOG_TraditionalFileFormat")\n')
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["rsyslogd", "-n", "-f", str(self.conf), "-i", str(self.dir / "pid")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.socket.exists():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"rsyslogd exited: {self.proc.stderr.read().decode()}")
            time.sleep(0.05)
        raise RuntimeError("rsyslogd did not create its socket")

    def stop(self):
        if self.proc:
            stop_process(self.proc, timeout=15)
        self.proc = None

    def size(self):
        return self.out.stat().st_size if self.out.exists() else 0

    def read_from(self, offset):
        if not self.out.exists():
            return b""
        with open(self.out, "rb") as f:
            f.seek(offset)
            return f.read()

    def wait_lines(self, offset, count, mark, timeout=120):
        """Waits until `count` lines with `mark` arrived after `offset`; returns (found, other)."""
        deadline = time.time() + timeout
        last = -1
        while True:
            data = self.read_from(offset)
            lines = data.split(b"\n")[:-1] if data else []
            found = sum(1 for l in lines if mark in l)
            if found >= count or time.time() > deadline:
                return found, len(lines) - found
            if found == last:
                time.sleep(0.2)
            last = found


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, math.ceil(p / 100 * len(sorted_vals)) - 1))
    return sorted_vals[k]

