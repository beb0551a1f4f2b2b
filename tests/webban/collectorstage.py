"""The network of test_collector.py: one balancer, two web hosts, one collector.

Namespaces (all created here, nothing touches the host's network): `atk` and `inn` (clients) reach
only the balancer `bal`; the web hosts `web1` and `web2` sit on one private network with `bal` (a
bridge in `bal`, the collector's address on it). `bal` runs nginx, which balances round-robin over
the two hosts' php-fpm pools (FastCGI over their sockets) and answers 403 to what fail2ban banned
(the shipped nginx snippet and banlog-nginx action); the collector rsyslog (the shipped
banlog-collector.conf, imtcp on the private network only); and one fail2ban-server reading the
collector's file. Each web host has its own host name (a UTS namespace) and its own php-fpm with
the extension and Debian's WordPress (the stack's, one database). web1's extension sends
`tcp://` straight to the collector; web2's sends to a local rsyslog that forwards with the shipped
banlog-forward.conf. Their syslog lines cross the private network; the clients cannot reach the
web hosts.
"""
import datetime
import json
import os
import shutil
import sys

from support.fcgi import FpmPool
from support.paths import EXT, FILTERS, NGINX
from support.procs import sh
from support.rsyslog import Rsyslog
from support.waiting import wait_for
from support.wpconf import WEB_USER
from webstage import Topology

COLLECTOR_PORT = 514
HOSTS = ("web1", "web2")

# From the attacker's namespace: forged lines to the collector's port, at the balancer's front
# address and at its private one; prints what each attempt came to.
FORGE = r"""
import json, socket, sys
line = sys.argv[3].encode()
out = []
for dest in sys.argv[1:3]:
    try:
        with socket.create_connection((dest, int(sys.argv[4])), timeout=5) as s:
            for _ in range(6):
                s.sendall(b"%d " % len(line) + line)
        out.append("sent")
    except OSError as e:
        out.append(type(e).__name__)
print(json.dumps(out))
"""


class CollectorTopology(Topology):
    def __init__(self, stack, net):
        super().__init__(stack, "nginx", net)
        tag = f"c{os.getpid() % 100000}"
        self.ns = {r: f"wb{r}{tag}" for r in ("atk", "inn", "bal") + HOSTS}
        self.bridge = f"wbbr{tag}"
        self.collector_ip = f"{self.back_net}.1"
        self.host_ip = {h: f"{self.back_net}.{2 + i}" for i, h in enumerate(HOSTS)}
        self.dir = stack.workdir / "collector-topology"
        self.conf = self.dir / "fail2ban"
        self.denylist = self.dir / "banlog-deny.conf"
        self.statedir = self.dir / "banlog-state"
        self.reloads = self.dir / "reloads"
        self.remote_log = self.dir / "banlog-remote.log"
        self.pools, self.rsyslogs = {}, {}

    def start(self):
        try:
            self.dir.mkdir()
            self._netns()
            self._collector()
            self._web_hosts()
            self._balancer()
            self._fail2ban(ns="bal", log=self.remote_log, firewall=False)
        except BaseException:
            self.stop()
            raise
        return self

    def _in(self, where, hostname=None):
        """A command wrapper: run in namespace `where` and the stack's zone (the extension reads
        it from the master's environment, not from a pool's env[]), with its own host name when
        given."""
        def wrap(args):
            cmd = ["ip", "netns", "exec", self.ns[where]]
            if hostname:
                cmd += ["unshare", "--uts", "--", "sh", "-c", 'hostname "$0" && exec "$@"', hostname]
            return cmd + ["env", f"TZ={self.stack.tz}"] + list(map(str, args))
        return wrap

    def _netns(self):
        for ns in self.ns.values():
            sh("ip", "netns", "del", ns, check=False)  # left by a crashed run of the same pid
            self._ip("netns", "add", ns)
            self._ip("-n", ns, "link", "set", "lo", "up")
        bal = self.ns["bal"]
        for who, net in (("atk", self.atk_net), ("inn", self.inn_net)):
            ea, eb = f"{self.ns[who]}a", f"{self.ns[who]}b"
            self._ip("link", "add", ea, "type", "veth", "peer", "name", eb)
            self._ip("link", "set", ea, "netns", self.ns[who])
            self._ip("link", "set", eb, "netns", bal)
            self._ip("-n", self.ns[who], "addr", "add", f"{net}.2/24", "dev", ea)
            self._ip("-n", bal, "addr", "add", f"{net}.1/24", "dev", eb)
            self._ip("-n", self.ns[who], "link", "set", ea, "up")
            self._ip("-n", bal, "link", "set", eb, "up")
        # The attacker may send packets to every address of the balancer, the private one too.
        self._ip("-n", self.ns["atk"], "route", "add", "default", "via", f"{self.atk_net}.1")
        self._ip("-n", bal, "link", "add", self.bridge, "type", "bridge")
        self._ip("-n", bal, "addr", "add", f"{self.collector_ip}/24", "dev", self.bridge)
        self._ip("-n", bal, "link", "set", self.bridge, "up")
        for h in HOSTS:
            ea, eb = f"{self.ns[h]}a", f"{self.ns[h]}b"
            self._ip("link", "add", ea, "type", "veth", "peer", "name", eb)
            self._ip("link", "set", ea, "netns", self.ns[h])
            self._ip("link", "set", eb, "netns", bal)
            self._ip("-n", self.ns[h], "addr", "add", f"{self.host_ip[h]}/24", "dev", ea)
            self._ip("-n", bal, "link", "set", eb, "master", self.bridge)
            self._ip("-n", self.ns[h], "link", "set", ea, "up")
            self._ip("-n", bal, "link", "set", eb, "up")

    def _snippet(self, name, changes):
        """A shipped rsyslog snippet with its example values changed (each must be there)."""
        text = (FILTERS / "rsyslog" / name).read_text()
        for old, new in changes.items():
            assert old in text, (name, old)
            text = text.replace(old, new)
        return text

    def _collector(self):
        conf = self._snippet("banlog-collector.conf", {
            "$AllowedSender TCP, 10.0.0.0/24": f"$AllowedSender TCP, {self.back_net}.0/24",
            'address="10.0.0.1" port="514"': f'address="{self.collector_ip}" port="{COLLECTOR_PORT}"',
            "/var/log/banlog-remote.log": str(self.remote_log)})
        self.remote_log.touch()
        # (fail2ban and php-fpm run in the stack's zone: so does every rsyslog here)
        self.rsyslogs["collector"] = Rsyslog(self.dir / "rsyslog-collector", extra=conf, wrap=self._in("bal"))
        self.start_collector()

    def start_collector(self):
        self.rsyslogs["collector"].start()
        wait_for(lambda: sh("ip", "netns", "exec", self.ns["bal"], "ss", "-Hltn", "sport", "=",
                            f":{COLLECTOR_PORT}").stdout.strip(), 10, what="the collector's port")

    def stop_collector(self):
        self.rsyslogs["collector"].stop()

    def _web_hosts(self):
        forward = self._snippet("banlog-forward.conf", {'target="collector.example.net" port="514"':
                                                       f'target="{self.collector_ip}" port="{COLLECTOR_PORT}"'})
        r = Rsyslog(self.dir / "rsyslog-web2", extra=forward, wrap=self._in("web2", "web2"))
        self.rsyslogs["web2"] = r
        r.start()
        os.chmod(r.socket, 0o666)
        targets = {"web1": f"tcp://{self.collector_ip}:{COLLECTOR_PORT}", "web2": str(r.socket)}
        for h in HOSTS:
            spool = self.dir / f"spool-{h}"
            spool.mkdir(mode=0o700)
            shutil.chown(spool, WEB_USER, WEB_USER)
            pool = FpmPool(self.dir / f"fpm-{h}", EXT, workers=2, system_ini=True, env={"TZ": self.stack.tz},
                           ini={"banlog.syslog_target": targets[h], "banlog.spool_dir": spool},
                           wrap=self._in(h, h))
            self.pools[h] = pool
            pool.start()

    def _balancer(self):
        d = self.dir / "balancer"
        d.mkdir()
        self.web_log = d / "error.log"
        self.access_log = d / "banlog-access.log"
        snippet = self._shipped_snippet("nginx-banlog.conf", "/etc/nginx/banlog-deny.conf")
        self.denylist.touch()
        s = self.stack
        upstream = "".join(f"server unix:{p.sock};" for p in self.pools.values())
        conf = self._nginx_conf(d, f"""
    include {snippet};
    log_format banlog '$remote_addr $status "$request" $upstream_addr';
    upstream banlog_web {{ {upstream} }}
    server {{
        listen 80;
        access_log {self.access_log} banlog;
        if ($banlog_banned) {{ return 403; }}
        root {s.docroot};
        index index.php;
        location / {{ try_files $uri $uri/ /index.php?$args; }}
        location ~ \\.php$ {{
            try_files $uri =404;
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
            fastcgi_pass banlog_web;
        }}
    }}""")
        self.reload_cmd = self._reload_wrapper(f"{NGINX} -p {d} -c {conf} -s reload")
        self.reload_mark = "signal 1 (SIGHUP) received"
        self.action = "banlog-nginx"
        self._spawn("balancer", "bal", [NGINX, "-e", str(self.web_log), "-p", str(d), "-c", str(conf)])

        def up():
            p = self.procs["balancer"]
            assert p.poll() is None, "balancer exited: " + (self.dir / "balancer.out").read_text()
            return self.get(self.innocent) == [200]
        wait_for(up, 30, interval=0.3, what="WordPress behind the balancer")

    def stop(self):
        for p in self.pools.values():
            p.stop()
        for r in self.rsyslogs.values():
            r.stop()
        self.pools.clear()
        self.rsyslogs.clear()
        super().stop()  # fail2ban, the balancer, then the namespaces

    # ---- observing

    def remote_lines(self):
        return self.remote_log.read_text(errors="replace").splitlines() if self.remote_log.exists() else []

    def failures(self, addr):
        """(time, host name) of the collector's lines of a failed login from `addr`, in file order."""
        tail = f"Authentication failure for admin from {addr}"
        return [(datetime.datetime.fromisoformat(l.split()[0]), l.split()[1])
                for l in self.remote_lines() if l.endswith(tail)]

    def failures_by_host(self, addr):
        """The host names of the collector's lines of a failed login from `addr`, in file order."""
        return [h for _, h in self.failures(addr)]

    def forge(self, line):
        """Forged octet-counted lines from the attacker to the collector's port (at the balancer's
        front and private addresses); what each attempt came to."""
        p = sh("ip", "netns", "exec", self.ns["atk"], sys.executable, "-c", FORGE, f"{self.atk_net}.1",
               self.collector_ip, line, COLLECTOR_PORT, timeout=60)
        return json.loads(p.stdout)

    def upstreams(self):
        """The php-fpm socket of each request the balancer passed on, in order."""
        return [l.rsplit(" ", 1)[1] for l in self.access_log.read_text().splitlines()]
