"""A network namespace in front of the WordPress stack whose loopback carries any peer address."""
import json
import os
import subprocess
import sys

from . import wpconf
from .paths import NGINX
from .procs import stop_process
from .waiting import wait_for


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
        d = self.dir
        d.mkdir()
        s = self.stack
        socks = {"extension": s.fpm_ext_sock, "fallback": s.fpm_fallback_sock}
        servers = []
        for (mode, dual), port in self.PORTS.items():
            listens = [f"[::]:{port} ipv6only=off"] if dual else [f"0.0.0.0:{port}", f"[::]:{port} ipv6only=on"]
            servers.append(wpconf.nginx_server(listens, socks[mode], s.docroot))
        conf = wpconf.write_nginx_conf(d, servers)
        out = open(d / "nginx.out", "ab")
        self.nginx = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, NGINX, "-e", str(d / "error.log"), "-p", str(d), "-c", str(conf)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        probe = [{"source": "127.0.0.1", "dest": "127.0.0.1", "port": p, "body": "",
                  "head": f"GET /wp-login.php HTTP/1.1\r\nHost: {s.host_header}\r\nConnection: close\r\n\r\n"}
                 for p in self.PORTS.values()]
        def up():
            assert self.nginx.poll() is None, (d / "nginx.out").read_text()
            return self.run(probe) == [200] * len(probe)
        try:
            wait_for(up, 30, interval=0.2)
        except TimeoutError:
            raise AssertionError("nginx in the peer namespace does not answer") from None

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
