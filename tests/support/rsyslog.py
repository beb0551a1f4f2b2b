"""A real rsyslogd on a private unix socket, writing every message to one file."""
import pathlib
import subprocess

from .procs import stop_process
from .waiting import wait_for


class Rsyslog:
    """`rate_limit=False` turns imuxsock's rate limit off (200 messages per 5 s from one pid by
    default), for the tests that send thousands a second and count every line."""

    def __init__(self, workdir: pathlib.Path, template="RSYSLOG_TraditionalFileFormat", template_def="",
                 rate_limit=True):
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
        )
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["rsyslogd", "-n", "-f", str(self.conf), "-i", str(self.pidfile)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
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
