"""A real rsyslogd on a private unix socket, writing every message to one file; and the reading of
octet-counted syslog frames (RFC 6587), as the extension sends them over TCP."""
import os
import pathlib
import re
import subprocess

from .procs import stop_process
from .waiting import wait_for


class Rsyslog:
    """`rate_limit=False` turns imuxsock's rate limit off (200 messages per 5 s from one pid by
    default), for the tests that send thousands a second and count every line. `extra`: more
    configuration after the default action (a shipped snippet, another input); `wrap` turns the
    command into another (one run inside a network namespace), `env` adds to its environment."""

    def __init__(self, workdir: pathlib.Path, template="RSYSLOG_TraditionalFileFormat", template_def="",
                 rate_limit=True, extra="", wrap=lambda args: args, env=None):
        self.dir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.socket = workdir / "log.sock"
        self.out = workdir / "messages.log"
        self.pidfile = workdir / "rsyslogd.pid"
        self.conf = workdir / "rsyslog.conf"
        limit = "" if rate_limit else ' RateLimit.Interval="0"'
        self.conf.write_text(
            f'global(workDirectory="{workdir}")\n'
            f'module(load="imuxsock" SysSock.Use="off")\n'
            f'input(type="imuxsock" Socket="{self.socket}" CreatePath="on" UseSpecialParser="off"{limit})\n'
            f'{template_def}\n'
            f'*.* action(type="omfile" file="{self.out}" template="{template}")\n'
            f'{extra}\n'
        )
        self.wrap, self.env = wrap, dict(env or {})
        self.proc = None

    def start(self):
        # (a restart: the socket of the last run must not count as this one's)
        self.socket.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            self.wrap(["rsyslogd", "-n", "-f", str(self.conf), "-i", str(self.pidfile)]),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ, **self.env),
        )

        def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"rsyslogd exited: {self.proc.stderr.read().decode()}")
            return self.socket.exists()
        try:
            wait_for(up, 10, what="rsyslogd's socket")
        except TimeoutError:
            raise AssertionError("rsyslogd did not create its socket") from None
        return self

    def stop(self):
        if self.proc:
            stop_process(self.proc)
        self.proc = None

    def lines(self):
        return self.out.read_text(errors="replace").splitlines() if self.out.exists() else []

    def wait_for(self, count, timeout=10, pred=lambda l: True):
        """The lines matching `pred` once there are `count` of them, or all there are after `timeout`."""
        def got():
            lines = [l for l in self.lines() if pred(l)]
            return (lines,) if len(lines) >= count else None  # a tuple: true even when count is 0
        try:
            return wait_for(got, timeout)[0]
        except TimeoutError:
            return [l for l in self.lines() if pred(l)]


_COUNT = re.compile(rb"([1-9][0-9]{0,5}) ")


def octet_frames(data: bytes):
    """Splits a TCP syslog stream into its octet-counted frames (`LEN SP MSG`): returns (the whole
    frames, the bytes of an unfinished one). Anything that is not such a frame fails the test."""
    frames, at = [], 0
    while at < len(data):
        m = _COUNT.match(data, at)
        if not m:
            assert re.fullmatch(rb"[0-9]{0,6}", data[at:at + 7]), f"not an octet count at byte {at}: {data[at:at + 80]!r}"
            break
        end = m.end() + int(m.group(1))
        if end > len(data):
            break
        frames.append(data[m.end():end])
        at = end
    return frames, data[at:]
