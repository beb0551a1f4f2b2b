"""Bans at the web server, behind a load balancer: where a firewall ban on the web host cannot work.

Four network namespaces this test creates: `atk` (the attacker, plus the addresses of a burst of
bans, IPv4 and IPv6), `inn` (an innocent client), `bal` (an nginx load balancer that terminates
the clients' connections and proxies to the web host with X-Forwarded-For) and `web` (the web
host: nginx, or Apache 2.4 with mpm_event and mod_proxy_fcgi, serving the real WordPress stack
through its php-fpm; nginx real_ip / mod_remoteip trusting only the balancer; a real
fail2ban-server with banlog's auth jail and the shipped banlog-nginx / banlog-apache action, and
the iptables action beside it). The web host's only peer is the balancer: the clients cannot
reach it, and it sees every connection come from the balancer's address. The subnets exist only
between these namespaces; nothing touches the host's own network or firewall.

The web server reloads through a wrapper that counts its calls, and the web server's own log
counts the reloads it performed, so that a burst of bans is seen to cost one reload.
"""
import ast
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from support.fail2ban import copy_fail2ban_with_filters
from support.paths import EXT, FILTERS, NGINX
from support.procs import sh, stop_process
from support.waiting import wait_for
from support.wordpress import Stack
from support.wpconf import WEB_USER, write_nginx_conf

APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
APACHE_MODULES = "/usr/lib/apache2/modules"
RELOAD_DELAY = 2
BURST = 20

# Sends HTTP requests from chosen source addresses; reads a JSON list of {source, dest, method,
# path, body, headers} on stdin, prints the statuses (or the connection error's name).
CLIENT = r"""
import http.client, json, sys
out = []
for rq in json.load(sys.stdin):
    c = http.client.HTTPConnection(rq["dest"], 80, timeout=10, source_address=(rq["source"], 0))
    try:
        c.request(rq["method"], rq["path"], body=rq.get("body"), headers=rq["headers"])
        r = c.getresponse(); r.read(); out.append(r.status)
    except OSError as e:
        out.append(type(e).__name__)
    finally:
        c.close()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def stack():
    assert os.geteuid() == 0, "this test creates network namespaces and firewall rules: run it as root"
    for tool in ("ip", "iptables", "flock", "fail2ban-server", "fail2ban-client", APACHE):
        assert shutil.which(tool), f"{tool} is missing (make deps installs iproute2, iptables, fail2ban, apache2)"
    assert EXT.is_file(), f"{EXT} is missing: run 'make build' first"
    s = Stack(log=lambda *a: None)
    s.start()
    s.configure_logging()
    yield s
    s.stop()


class Topology:
    """The namespaces, the balancer, the web server of `kind` and fail2ban in the web namespace."""

    def __init__(self, stack, kind, net):
        self.stack, self.kind = stack, kind
        tag = f"{kind[0]}{os.getpid() % 100000}"
        self.ns = {r: f"wb{r}{tag}" for r in ("atk", "inn", "bal", "web")}
        # atk <-> bal, inn <-> bal, bal <-> web: three /24s (and two /64s) of their own.
        self.atk_net, self.inn_net, self.back_net = f"10.79.{net}", f"10.81.{net}", f"10.80.{net}"
        self.atk6_net, self.inn6_net = f"fd79:0:{net}:", f"fd81:0:{net}:"
        self.attacker, self.innocent = f"{self.atk_net}.2", f"{self.inn_net}.2"
        self.innocent6 = f"{self.inn6_net}:2"
        self.burst = [f"{self.atk_net}.{10 + i}" for i in range(BURST // 2)] + \
                     [f"{self.atk6_net}:{10 + i:x}" for i in range(BURST - BURST // 2)]
        self.balancer_back, self.web_ip = f"{self.back_net}.1", f"{self.back_net}.2"
        self.dir = stack.workdir / f"webban-{kind}"
        self.conf = self.dir / "fail2ban"
        self.denylist = self.dir / "banlog-deny.conf"
        self.statedir = self.dir / "banlog-state"
        self.reloads = self.dir / "reloads"
        self.procs = {}

    # ---- setup

    def start(self):
        try:
            self.dir.mkdir()
            self._netns()
            self._balancer()
            (self._web_nginx if self.kind == "nginx" else self._web_apache)()
            self._fail2ban()
        except BaseException:
            self.stop()
            raise
        return self

    def _ip(self, *args):
        sh("ip", *args)

    def _netns(self):
        for ns in self.ns.values():
            sh("ip", "netns", "del", ns, check=False)  # left by a crashed run of the same pid
            self._ip("netns", "add", ns)
            self._ip("-n", ns, "link", "set", "lo", "up")
        links = [("atk", "bal", self.atk_net, self.atk6_net), ("inn", "bal", self.inn_net, self.inn6_net),
                 ("web", "bal", self.back_net, None)]
        for a, b, v4, v6 in links:
            ea, eb = f"{self.ns[a]}a", f"{self.ns[a]}b"
            self._ip("link", "add", ea, "type", "veth", "peer", "name", eb)
            self._ip("link", "set", ea, "netns", self.ns[a])
            self._ip("link", "set", eb, "netns", self.ns[b])
            own = [f"{v4}.2"] + (self.burst[:BURST // 2] if a == "atk" else [])
            for addr in own:
                self._ip("-n", self.ns[a], "addr", "add", f"{addr}/24", "dev", ea)
            self._ip("-n", self.ns[b], "addr", "add", f"{v4}.1/24", "dev", eb)
            if v6:
                own6 = [f"{v6}:2"] + (self.burst[BURST // 2:] if a == "atk" else [])
                for addr in own6:
                    self._ip("-n", self.ns[a], "-6", "addr", "add", f"{addr}/64", "dev", ea, "nodad")
                self._ip("-n", self.ns[b], "-6", "addr", "add", f"{v6}:1/64", "dev", eb, "nodad")
            self._ip("-n", self.ns[a], "link", "set", ea, "up")
            self._ip("-n", self.ns[b], "link", "set", eb, "up")

    def _spawn(self, name, ns, args, env=None):
        out = open(self.dir / f"{name}.out", "ab")
        self.procs[name] = subprocess.Popen(["ip", "netns", "exec", self.ns[ns], *args], stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True,
                                            env=dict(os.environ, **(env or {})))
        out.close()

    def _nginx_conf(self, d, http):
        """nginx.conf in `d` with `http` inside the http block; notice level, so that its error log
        shows every reload ("reconfiguring")."""
        conf = write_nginx_conf(d, [http])
        conf.write_text(conf.read_text().replace(f"error_log {d / 'error.log'} warn;",
                                                 f"error_log {d / 'error.log'} notice;"))
        return conf

    def _balancer(self):
        d = self.dir / "balancer"
        d.mkdir()
        conf = self._nginx_conf(d, f"""
    server {{
        listen 80;
        listen [::]:80;
        location / {{
            proxy_pass http://{self.web_ip}:80;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}""")
        self._spawn("balancer", "bal", [NGINX, "-e", str(d / "error.log"), "-p", str(d), "-c", str(conf)])

    def _reload_wrapper(self, command):
        w = self.dir / "reload.sh"
        w.write_text(f"#!/bin/sh\n# counts the reloads fail2ban's action asks for\necho \"$$\" >>{self.reloads}\n"
                     f"exec {command}\n")
        w.chmod(0o755)
        return w

    def _shipped_snippet(self, name, default_path):
        text = (FILTERS / "webserver" / name).read_text()
        assert default_path in text, name
        snippet = self.dir / name
        snippet.write_text(text.replace(default_path, str(self.denylist)))
        return snippet

    def _web_nginx(self):
        d = self.dir / "web"
        d.mkdir()
        self.web_log = d / "error.log"
        self.access_log = d / "banlog-access.log"
        snippet = self._shipped_snippet("nginx-banlog.conf", "/etc/nginx/banlog-deny.conf")
        self.denylist.touch()  # as the snippet says: the list must exist before nginx starts
        s = self.stack
        conf = self._nginx_conf(d, f"""
    include {snippet};
    log_format banlog '$realip_remote_addr $remote_addr $status "$request"';
    server {{
        listen {self.web_ip}:80;
        server_name _;
        set_real_ip_from {self.balancer_back};
        real_ip_header X-Forwarded-For;
        real_ip_recursive on;
        access_log {self.access_log} banlog;
        if ($banlog_banned) {{ return 403; }}
        root {s.docroot};
        index index.php;
        location / {{ try_files $uri $uri/ /index.php?$args; }}
        location ~ \\.php$ {{
            try_files $uri =404;
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
            fastcgi_pass unix:{s.fpm_ext_sock};
        }}
    }}""")
        self.reload_cmd = self._reload_wrapper(f"{NGINX} -p {d} -c {conf} -s reload")
        self.reload_mark = "signal 1 (SIGHUP) received"
        self.action = "banlog-nginx"
        self._spawn("web", "web", [NGINX, "-e", str(d / "error.log"), "-p", str(d), "-c", str(conf)])
        self._wait_up()

    def _web_apache(self):
        d = self.dir / "web"
        d.mkdir()
        self.web_log = d / "error.log"
        self.access_log = d / "access.log"
        snippet = self._shipped_snippet("apache-banlog.conf", "/etc/apache2/banlog-deny.conf")
        s = self.stack
        mods = ["mpm_event", "authz_core", "authz_host", "proxy", "proxy_fcgi", "remoteip", "dir", "mime"]
        loads = "".join(f"LoadModule {m}_module {APACHE_MODULES}/mod_{m}.so\n" for m in mods)
        conf = d / "apache2.conf"
        conf.write_text(f"""{loads}
ServerRoot {d}
ServerName web.test
DefaultRuntimeDir {d}
PidFile {d}/apache2.pid
Mutex file:{d} default
Listen {self.web_ip}:80
User {WEB_USER}
Group {WEB_USER}
ErrorLog {self.web_log}
LogLevel notice
TypesConfig /etc/mime.types
RemoteIPHeader X-Forwarded-For
RemoteIPInternalProxy {self.balancer_back}
LogFormat "%{{c}}a %a %>s \\"%r\\"" banlog
CustomLog {self.access_log} banlog
DocumentRoot {s.docroot}
DirectoryIndex index.php
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory {s.docroot}>
    Require all granted
</Directory>
<FilesMatch "\\.php$">
    SetHandler "proxy:unix:{s.fpm_ext_sock}|fcgi://localhost"
</FilesMatch>
Include {snippet}
""")
        self.reload_cmd = self._reload_wrapper(f"{APACHE} -f {conf} -k graceful")
        self.reload_mark = "SIGUSR1 received.  Doing graceful restart"
        self.action = "banlog-apache"
        self._spawn("web", "web", [APACHE, "-f", str(conf), "-DFOREGROUND"])
        self._wait_up()

    def _wait_up(self):
        def up():
            for name in ("balancer", "web"):
                p = self.procs[name]
                assert p.poll() is None, f"{name} exited: " + (self.dir / f"{name}.out").read_text()
            return self.get(self.innocent) == [200]
        wait_for(up, 30, interval=0.3, what=f"{self.kind} behind the balancer")

    def _fail2ban(self):
        conf = copy_fail2ban_with_filters(self.conf, jails=True)
        for f in (FILTERS / "action.d").glob("*.conf"):
            shutil.copy(f, conf / "action.d" / f.name)
        run = self.dir / "run"
        run.mkdir()
        self.fail2ban_log = run / "fail2ban.log"
        (conf / "fail2ban.local").write_text(
            f"[Definition]\nsocket = {run}/f2b.sock\npidfile = {run}/f2b.pid\ndbfile = :memory:\n"
            f"logtarget = {self.fail2ban_log}\nloglevel = INFO\n")
        (conf / "jail.local").write_text("[DEFAULT]\nbackend = polling\n[sshd]\nenabled = false\n")
        log = self.stack.rsyslog.out
        log.touch()
        # The README's override: the web server's action beside the firewall's. `tail`: the other
        # web server's run left its attacker's lines in the stack's log.
        (conf / "jail.d/banlog.local").write_text(
            f"[banlog-auth]\nenabled = true\nlogpath = {log} tail\nbackend = polling\n"
            f"action = {self.action}[denylist=\"{self.denylist}\", statedir=\"{self.statedir}\", "
            f"reload_cmd=\"{self.reload_cmd}\", reload_delay={RELOAD_DELAY}, reload_max_wait=60]\n"
            f"         iptables-multiport[port=\"http,https\", blocktype=DROP]\n")
        sh("fail2ban-client", "-c", conf, "-t")
        # rsyslog stamps the lines in the stack's zone: fail2ban reads them in the same one.
        self._spawn("fail2ban", "web", ["fail2ban-server", "-f", "-x", "-c", str(conf)], env={"TZ": self.stack.tz})
        wait_for(lambda: sh("fail2ban-client", "-c", conf, "ping", check=False).returncode == 0,
                 30, interval=0.3, what="fail2ban-server")
        # actionstart writes the (empty) list and asks for one reload
        wait_for(lambda: self.reload_count() == 1 and self.reload_idle(), 30, interval=0.2,
                 what="the action's first reload")

    def stop(self):
        conf_ok = (self.conf / "fail2ban.local").exists()
        if conf_ok:
            sh("fail2ban-client", "-c", self.conf, "stop", check=False)
            if "fail2ban" in self.procs:
                stop_process(self.procs.pop("fail2ban"), 15, sig=None)
            # actionstop scheduled a reload: let it run before the web server goes
            try:
                wait_for(self.reload_idle, RELOAD_DELAY + 20, interval=0.2)
            except TimeoutError:
                pass
        for name in ("fail2ban", "web", "balancer"):
            p = self.procs.pop(name, None)
            if p is not None:
                stop_process(p, 15)
        for ns in self.ns.values():
            sh("ip", "netns", "del", ns, check=False)

    # ---- observing

    def reload_count(self):
        return len(self.reloads.read_text().split()) if self.reloads.exists() else 0

    def reloads_done(self):
        """Reloads the web server itself logged."""
        return self.web_log.read_text(errors="replace").count(self.reload_mark) if self.web_log.exists() else 0

    def reload_idle(self):
        """No delayed reload waiting, and the last one asked for has been carried out."""
        lock = self.statedir / "reload.lock"
        if lock.exists():
            with open(lock) as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return False
        return self.reloads_done() == self.reload_count()

    def banned(self):
        out = sh("fail2ban-client", "-c", self.conf, "status", "banlog-auth").stdout
        return out.split("Banned IP list:", 1)[1].split()

    def requests(self, ns, reqs):
        for r in reqs:
            r.setdefault("dest", self.atk_net + ".1" if ns == "atk" else self.inn_net + ".1")
            r.setdefault("method", "GET")
            r.setdefault("path", "/wp-login.php")
            r["headers"] = dict({"Host": self.stack.host_header, "User-Agent": "banlog-webban-test"},
                                **r.get("headers", {}))
        p = subprocess.run(["ip", "netns", "exec", self.ns[ns], sys.executable, "-c", CLIENT],
                           input=json.dumps(reqs), capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    def get(self, source, path="/wp-login.php", n=1):
        ns = "atk" if source == self.attacker or source in self.burst else "inn"
        dest = None
        if ":" in source:
            dest = (self.atk6_net if ns == "atk" else self.inn6_net) + ":1"
        return self.requests(ns, [dict({"source": source, "path": path}, **({"dest": dest} if dest else {}))
                                  for _ in range(n)])

    def failed_logins(self, n):
        """Wrong passwords for admin on wp-login.php, from the attacker, each with a forged
        X-Forwarded-For naming the innocent (which the balancer appends to, and the web server
        does not believe)."""
        body = "log=admin&pwd=wrong{}&testcookie=1"
        return self.requests("atk", [{"source": self.attacker, "method": "POST", "path": "/wp-login.php",
                                      "body": body.format(i),
                                      "headers": {"Content-Type": "application/x-www-form-urlencoded",
                                                  "Cookie": "wordpress_test_cookie=WP%20Cookie%20check",
                                                  "X-Forwarded-For": self.innocent}} for i in range(n)])

    def firewall_hits(self, addr):
        """Packets the iptables action's DROP rule for `addr` has matched (None: no such rule)."""
        out = sh("ip", "netns", "exec", self.ns["web"], "iptables", "-n", "-v", "-x", "-L", "f2b-banlog-auth").stdout
        for line in out.splitlines():
            f = line.split()
            if len(f) >= 8 and f[2] == "DROP" and f[7] == addr:
                return int(f[0])
        return None

    def access(self):
        """(peer, client, status) of each request the web server logged."""
        rows = []
        for line in self.access_log.read_text().splitlines():
            m = re.match(r'^(\S+) (\S+) (\d+) ', line)
            assert m, line
            rows.append((m.group(1), m.group(2), int(m.group(3))))
        return rows


def auth_failures(t):
    """The attacker's failed logins banlog logged (through the stack's rsyslog)."""
    return sum(l.endswith(f"Authentication failure for admin from {t.attacker}")
               for l in t.stack.rsyslog.out.read_text().splitlines())


def listed_addresses(t):
    """The addresses in the deny list, read back in the web server's own syntax."""
    entry = r"^(\S+) 1;$" if t.kind == "nginx" else r"^Require not ip (\S+)$"
    lines = t.denylist.read_text().splitlines()
    assert lines[0].startswith("# Written by fail2ban"), lines
    out = [re.match(entry, l) for l in lines[1:]]
    assert all(out), lines
    return [m.group(1) for m in out]


@pytest.fixture(params=["nginx", "apache"])
def topo(request, stack):
    net = (os.getpid() + (0 if request.param == "nginx" else 1)) % 250
    t = Topology(stack, request.param, net)
    t.start()
    yield t
    t.stop()


def test_ban_at_the_web_server_behind_a_balancer(topo):
    t = topo
    # The web host is reachable only through the balancer.
    assert t.requests("atk", [{"source": t.attacker, "dest": t.web_ip}]) != [200]
    assert t.get(t.attacker) == [200] and t.get(t.innocent) == [200] and t.get(t.innocent6) == [200]

    # Four wrong passwords: below maxretry (5), no ban.
    assert t.failed_logins(4) == [200] * 4
    wait_for(lambda: auth_failures(t) == 4, 15, what="four auth lines")
    time.sleep(2)  # two polling rounds
    assert t.banned() == []
    assert t.get(t.attacker) == [200]

    # The fifth bans; the web server answers 403 to the attacker, through the balancer.
    assert t.failed_logins(1) == [200]
    wait_for(lambda: t.attacker in t.banned(), 30, interval=0.3, what="the ban")
    wait_for(lambda: t.get(t.attacker) == [403], RELOAD_DELAY + 20, interval=0.3, what="403 for the attacker")
    assert t.get(t.attacker, "/", 3) == [403] * 3
    # Before PHP runs: more wrong passwords get 403 and write no auth line.
    assert t.failed_logins(2) == [403, 403]
    time.sleep(1)
    assert auth_failures(t) == 5
    assert t.get(t.innocent) == [200] and t.get(t.innocent, "/wp-login.php?action=lostpassword") == [200] and t.get(t.innocent6) == [200]
    assert t.banned() == [t.attacker]  # the forged X-Forwarded-For named nobody
    assert listed_addresses(t) == [t.attacker]

    # What a firewall ban on the web host does here: the iptables action banned the same address,
    # and its rule has matched nothing, because every connection the web host gets is the
    # balancer's; the web server saw the attacker only as the address the balancer passed on.
    assert t.firewall_hits(t.attacker) == 0, sh("ip", "netns", "exec", t.ns["web"], "iptables-save").stdout
    rows = t.access()
    assert {peer for peer, _, _ in rows} == {t.balancer_back}, rows
    assert sum(1 for _, client, status in rows if client == t.attacker and status == 403) >= 4, rows
    assert not any(client in (t.innocent, t.innocent6) and status != 200 for _, client, status in rows), rows

    # Unban: the attacker gets through again.
    before = t.reload_count()
    sh("fail2ban-client", "-c", t.conf, "set", "banlog-auth", "unbanip", t.attacker)
    wait_for(lambda: t.get(t.attacker) == [200], RELOAD_DELAY + 20, interval=0.3, what="the attacker let in again")
    assert listed_addresses(t) == []
    wait_for(t.reload_idle, RELOAD_DELAY + 20, interval=0.2, what="the unban's reload")
    assert t.reload_count() == before + 1

    # A burst of bans (half IPv4, half IPv6) costs one reload, and so does lifting them all.
    for action in ("banip", "unbanip"):
        before, done = t.reload_count(), t.reloads_done()
        start = time.monotonic()
        sh("fail2ban-client", "-c", t.conf, "set", "banlog-auth", action, *t.burst)
        wait_for(lambda: t.reload_count() > before and t.reload_idle(), RELOAD_DELAY + 20, interval=0.2,
                 what=f"the reload after {action}")
        took = time.monotonic() - start
        time.sleep(RELOAD_DELAY + 1)  # a second reload would have been asked for by now
        assert (t.reload_count() - before, t.reloads_done() - done) == (1, 1), (action, took)
        listed = listed_addresses(t)
        if action == "banip":
            assert sorted(listed) == sorted(t.burst), t.denylist.read_text()
            assert sorted(t.banned()) == sorted(t.burst)
            assert t.get(t.burst[0]) == [403] and t.get(t.burst[-1]) == [403]
            assert t.get(t.attacker) == [200] and t.get(t.innocent6) == [200]
        else:
            assert t.banned() == []
            assert listed == []
            assert t.get(t.burst[0]) == [200] and t.get(t.burst[-1]) == [200]
    assert (t.statedir / "reload.log").read_text().strip().endswith("exit status 0")


@pytest.mark.parametrize("action", ["banlog-nginx", "banlog-apache"])
def test_the_action_writes_nothing_but_an_address(tmp_path, action):
    """fail2ban hands the action a validated address; should anything else ever reach it (a
    changed fail2ban, a hand-run command), the action refuses it and leaves the lists alone."""
    conf = copy_fail2ban_with_filters(tmp_path / "fail2ban", jails=True)
    for f in (FILTERS / "action.d").glob("*.conf"):
        shutil.copy(f, conf / "action.d" / f.name)
    log, deny, state = tmp_path / "auth.log", tmp_path / "deny.conf", tmp_path / "state"
    log.touch()
    (conf / "jail.local").write_text("[sshd]\nenabled = false\n")
    (conf / "jail.d/banlog.local").write_text(
        f"[banlog-auth]\nenabled = true\nlogpath = {log}\nbackend = polling\n"
        f"action = {action}[denylist=\"{deny}\", statedir=\"{state}\", reload_cmd=true, reload_delay=0]\n")
    dump = sh("fail2ban-client", "-c", conf, "-d").stdout
    line = next(l for l in dump.splitlines() if l.startswith("['multi-set', 'banlog-auth', 'action'"))
    cmd = dict(ast.literal_eval(line)[4])
    # The action as fail2ban runs it: /bin/sh, the tags filled in.
    run = lambda what, ip: subprocess.run(["/bin/sh", "-c", cmd[what].replace("<ip>", ip)],  # noqa: E731
                                          capture_output=True, text=True, timeout=30)
    assert run("actionstart", "").returncode == 0
    for ip in ("192.0.2.7", "2001:db8::7", "198.51.100.0/24"):
        assert run("actionban", ip).returncode == 0
    good = deny.read_text()
    assert all(a in good for a in ("192.0.2.7", "2001:db8::7", "198.51.100.0/24"))
    for hostile in ("", "192.0.2.8 1;\ninclude /etc/passwd", "192.0.2.8; return 200", "all granted",
                    "$(id)", "192.0.2.8\n", "::1 }"):
        p = run("actionban", hostile)
        assert p.returncode != 0 and "not an address" in p.stderr, (hostile, p)
        assert run("actionunban", hostile).returncode != 0
        assert deny.read_text() == good
    assert run("actionunban", "192.0.2.7").returncode == 0
    assert "192.0.2.7" not in deny.read_text() and "2001:db8::7" in deny.read_text()
    # Stop empties this jail's list (another jail's list, in the same folder, stays).
    (state / "banlog-auth-hard.list").write_text("203.0.113.5\n")
    assert run("actionstop", "").returncode == 0
    left = deny.read_text()
    assert "2001:db8::7" not in left and "203.0.113.5" in left
    wait_for(lambda: (state / "reload.log").exists(), 10, what="the reload")
