"""Helpers shared by banlog's integration tests: the built extension, a PHP runner, a private rsyslog.

A module of its own name, because several folders under tests/ have a `conftest.py` and
`import conftest` would find whichever pytest loaded last. Everything here uses the real
components from Debian packages; `make test` installs them first.
"""
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXT = pathlib.Path(os.environ.get("BANLOG_EXT", ROOT / "target/release/libbanlog.so"))
SIDECAR = pathlib.Path(os.environ.get("BANLOG_SIDECAR", ROOT / "target/release/banlog"))
PHP = shutil.which(os.environ.get("PHP", "php8.2")) or shutil.which("php")



def run_php(code, ini=None, ext=EXT, timeout=120, env=None, check=True):
    """Runs `php -r CODE` with the extension loaded; returns CompletedProcess (text)."""
    args = [PHP, "-n", "-d", "display_errors=stderr", "-d", "error_reporting=-1"]
    if ext is not None:
        args += ["-d", f"extension={ext}"]
    for k, v in (ini or {}).items():
        args += ["-d", f"{k}={v}"]
    args += ["-r", code]
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f"php failed ({proc.returncode}):\nstdout:{proc.stdout}\nstderr:{proc.stderr}")
    return proc



class Rsyslog:
    """A real rsyslogd on a private unix socket, writing every message to one file."""

    def __init__(self, workdir: pathlib.Path, template="RSYSLOG_TraditionalFileFormat", template_def=""):
        self.dir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.socket = workdir / "log.sock"
        self.out = workdir / "messages.log"
        self.pidfile = workdir / "rsyslogd.pid"
        self.conf = workdir / "rsyslog.conf"
        self.conf.write_text(
            f'global(workDirectory="{workdir}")\n'
            f'module(load="imuxsock" SysSock.Use="off")\n'
            f'input(type="imuxsock" Socket="{self.socket}" CreatePath="on" UseSpecialParser="off")\n'
            f'{template_def}\n'
            f'*.* action(type="omfile" file="{self.out}" template="{template}")\n'
        )
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["rsyslogd", "-n", "-f", str(self.conf), "-i", str(self.pidfile)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.socket.exists():
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"rsyslogd exited: {self.proc.stderr.read().decode()}")
            time.sleep(0.05)
        raise AssertionError("rsyslogd did not create its socket")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def lines(self):
        return self.out.read_text(errors="replace").splitlines() if self.out.exists() else []

    def wait_for(self, count, timeout=10, pred=lambda l: True):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = [l for l in self.lines() if pred(l)]
            if len(got) >= count:
                return got
            time.sleep(0.05)
        return [l for l in self.lines() if pred(l)]

