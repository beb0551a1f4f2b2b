"""Helpers for the fault, rotation, load and hostile-input tests.

A module of its own name: several folders under tests/ have a `conftest.py`, and which one
`import conftest` finds depends on the order pytest loaded them.
"""
import contextlib
import importlib.util
import json
import os
import pathlib
import shutil
import signal
import struct
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXT = pathlib.Path(os.environ.get("BANLOG_EXT", ROOT / "target/release/libbanlog.so"))
PHP = shutil.which(os.environ.get("PHP", "php8.2")) or shutil.which("php")
FILTERS = ROOT / "filters"
LONG = os.environ.get("BANLOG_LONG", "") not in ("", "0")
# The WordPress stack (harness.py) and its helpers (wphelp.py), for the tests over HTTP.
WP_TESTS = ROOT / "tests" / "wp"
if str(WP_TESTS) not in sys.path:
    sys.path.insert(0, str(WP_TESTS))


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# The Rsyslog class of tests/conftest.py and the fail2ban helpers of tests/filters, by path.
_root_conftest = _load("banlog_tests_root_conftest", ROOT / "tests/conftest.py")
_f2bhelp = _load("banlog_tests_f2bhelp", ROOT / "tests/filters/f2bhelp.py")
copy_fail2ban = _f2bhelp.copy_fail2ban


class Rsyslog(_root_conftest.Rsyslog):
    """The shared private rsyslogd, with imuxsock's rate limit off: these tests send thousands of
    messages a second from one pid, which the default limit (200 per 5 s) would thin out."""

    def __init__(self, workdir, template="RSYSLOG_TraditionalFileFormat", template_def=""):
        super().__init__(workdir, template, template_def)
        text = self.conf.read_text().replace(
            'UseSpecialParser="off")', 'UseSpecialParser="off" RateLimit.Interval="0")')
        assert "RateLimit.Interval" in text
        self.conf.write_text(text)


def php_cmd(code, ini=None, args=()):
    """argv for `php -r CODE` with the extension loaded and every error shown on stderr."""
    cmd = [PHP, "-n", "-d", "display_errors=stderr", "-d", "error_reporting=-1",
           "-d", "log_errors=0", "-d", f"extension={EXT}"]
    for k, v in (ini or {}).items():
        cmd += ["-d", f"{k}={v}"]
    return cmd + ["-r", code, "--", *map(str, args)]


def run_php(code, ini=None, args=(), timeout=300, user=None, env=None):
    """Runs PHP; returns the CompletedProcess (bytes). `user` runs it through runuser."""
    cmd = php_cmd(code, ini, args)
    if user:
        cmd = ["runuser", "-u", user, "--"] + cmd
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(cmd, capture_output=True, timeout=timeout, env=full_env)


def popen_php(code, ini=None, args=(), user=None, **kw):
    cmd = php_cmd(code, ini, args)
    if user:
        cmd = ["runuser", "-u", user, "--"] + cmd
    return subprocess.Popen(cmd, **kw)


def php_str(s):
    """A PHP single-quoted string literal for a path or a plain value."""
    s = str(s)
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pack_records(records):
    """Length-prefixed binary records (each a tuple of bytes fields) for PHP's `read_records()`."""
    out = bytearray()
    for rec in records:
        out += struct.pack("<I", len(rec))
        for field in rec:
            out += struct.pack("<I", len(field)) + field
    return bytes(out)


# PHP side of pack_records: yields arrays of strings.
PHP_READ_RECORDS = r'''
function read_records($path) {
    $d = file_get_contents($path); $p = 0; $n = strlen($d);
    while ($p < $n) {
        $k = unpack("V", $d, $p)[1]; $p += 4; $rec = [];
        for ($j = 0; $j < $k; $j++) { $l = unpack("V", $d, $p)[1]; $p += 4; $rec[] = substr($d, $p, $l); $p += $l; }
        yield $rec;
    }
}
'''


def fail2ban_regex(conf, log, filt, tz=None):
    """The real fail2ban-regex, once: the matched lines as (address, line), in file order."""
    env = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8", PYTHONIOENCODING="utf-8")
    if tz:
        env["TZ"] = tz
    out = subprocess.run(["fail2ban-regex", "-c", str(conf), "-o", "<ip>\t<msg>", str(log), filt],
                         capture_output=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    res = []
    for line in out.stdout.decode("utf-8").splitlines():
        ip, _, msg = line.partition("\t")
        res.append((ip, msg))
    return res


def wait_for(pred, timeout, step=0.01):
    """Polls pred() until true; returns the seconds it took, or None on timeout."""
    start = time.monotonic()
    while True:
        if pred():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            return None
        time.sleep(step)


def read_lines(paths):
    """All lines of several files, as bytes, without their newline; and the files' raw tails."""
    lines, tails = [], []
    for p in paths:
        data = pathlib.Path(p).read_bytes()
        parts = data.split(b"\n")
        tails.append(parts[-1])
        lines += parts[:-1]
    return lines, tails


@contextlib.contextmanager
def tmpfs(path, size):
    """A tmpfs of `size` mounted at `path`, unmounted afterwards whatever happens."""
    path = pathlib.Path(path)
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        for _ in range(50):
            if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            subprocess.run(["umount", "-l", str(path)], check=False)


def stop_process(proc, timeout=10):
    """Ends a process this test started (by its own handle), politely first."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def parse_json_tail(stdout):
    """The last line of a PHP program's output, as JSON."""
    return json.loads(stdout.decode().strip().splitlines()[-1])


# Sends raw HTTP/1.1 requests (exact header lines, duplicates included) from chosen source
# addresses; reads a JSON list of {source, dest, port, head, body} on stdin, prints the statuses.
_RAW_CLIENT = r"""
import json, socket, sys
out = []
for rq in json.load(sys.stdin):
    fam = socket.AF_INET6 if ":" in rq["dest"] else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(60)
    try:
        s.bind((rq["source"], 0))
        s.connect((rq["dest"], rq["port"]))
        s.sendall(rq["head"].encode("latin-1") + rq["body"].encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        out.append(int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else "no response")
    except OSError as e:
        out.append(type(e).__name__)
    finally:
        s.close()
print(json.dumps(out))
"""


class PeerNet:
    """A network namespace whose loopback carries whatever peer addresses a test names (IPv4 and
    IPv6), with an nginx inside that serves the stack's site through the stack's php-fpm sockets.
    Clients in the namespace connect from those addresses, so REMOTE_ADDR is any peer a case needs:
    a trusted proxy, an untrusted one, an IPv6 peer. Ports: 80 extension, 81 fallback, each on
    0.0.0.0 and [::]; 82 and 83 the same on one dual-stack socket ([::] with ipv6only=off), where
    an IPv4 peer arrives as an IPv4-mapped IPv6 address. Nothing touches the host's network."""

    PORTS = {("extension", False): 80, ("fallback", False): 81, ("extension", True): 82, ("fallback", True): 83}

    def __init__(self, stack, addrs):
        self.stack = stack
        self.addrs = list(addrs)
        self.ns = f"blpeers{os.getpid() % 100000}"
        self.dir = stack.workdir / f"peernet-{self.ns}"
        self.nginx = None

    def _ip(self, *args):
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)

    def start(self):
        # a namespace of the same name left by a crashed run of the same pid would make `add` fail
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True, timeout=30)
        self._ip("netns", "add", self.ns)
        try:
            self._ip("-n", self.ns, "link", "set", "lo", "up")
            for a in self.addrs:
                if ":" in a:
                    self._ip("-n", self.ns, "-6", "addr", "add", f"{a}/128", "dev", "lo", "nodad")
                else:
                    self._ip("-n", self.ns, "addr", "add", f"{a}/32", "dev", "lo")
            self._start_nginx()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_nginx(self):
        import harness
        d = self.dir
        d.mkdir()
        s = self.stack
        socks = {"extension": s.fpm_ext_sock, "fallback": s.fpm_fallback_sock}
        servers = []
        for (mode, dual), port in self.PORTS.items():
            listens = [f"[::]:{port} ipv6only=off"] if dual else [f"0.0.0.0:{port}", f"[::]:{port} ipv6only=on"]
            servers.append(s.nginx_server(listens, socks[mode]))
        conf = s.write_nginx_conf(d, servers)
        out = open(d / "nginx.out", "ab")
        self.nginx = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, harness.NGINX, "-e", str(d / "error.log"), "-p", str(d), "-c", str(conf)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        probe = [{"source": "127.0.0.1", "dest": "127.0.0.1", "port": p, "body": "",
                  "head": f"GET /wp-login.php HTTP/1.1\r\nHost: {s.host_header}\r\nConnection: close\r\n\r\n"}
                 for p in self.PORTS.values()]
        deadline = time.monotonic() + 30
        while self.run(probe) != [200] * len(probe):
            assert self.nginx.poll() is None, (d / "nginx.out").read_text()
            assert time.monotonic() < deadline, "nginx in the peer namespace does not answer"
            time.sleep(0.2)

    def run(self, requests):
        """Sends the requests (dicts for _RAW_CLIENT) one after another; returns their statuses."""
        p = subprocess.run(["ip", "netns", "exec", self.ns, sys.executable, "-c", _RAW_CLIENT],
                           input=json.dumps(requests), capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    def stop(self):
        if self.nginx is not None:
            stop_process(self.nginx)
            self.nginx = None
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True, timeout=30)
