"""The network of tests/webban: the namespaces, the balancer, the web server (nginx or Apache 2.4)
and fail2ban with a web server ban action in the web namespace (see test_webban.py)."""
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys

from support.fail2ban import copy_fail2ban_with_filters
from support.paths import FILTERS, NGINX
from support.procs import sh, stop_process
from support.waiting import wait_for
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

    def _fail2ban(self, ns="web", log=None, firewall=True):
        """fail2ban-server in namespace `ns`, its auth jail reading `log` (the stack's rsyslog
        file by default) with this web server's action, and the iptables action (`firewall`)."""
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
        log = log or self.stack.rsyslog.out
        log.touch()
        # The README's override: the web server's action beside the firewall's. `tail`: the other
        # web server's run left its attacker's lines in the stack's log.
        (conf / "jail.d/banlog.local").write_text(
            f"[banlog-auth]\nenabled = true\nlogpath = {log} tail\nbackend = polling\n"
            f"action = {self.action}[denylist=\"{self.denylist}\", statedir=\"{self.statedir}\", "
            f"reload_cmd=\"{self.reload_cmd}\", reload_delay={RELOAD_DELAY}, reload_max_wait=60]\n"
            + ("         iptables-multiport[port=\"http,https\", blocktype=DROP]\n" if firewall else ""))
        sh("fail2ban-client", "-c", conf, "-t")
        # rsyslog stamps the lines in the stack's zone: fail2ban reads them in the same one.
        self._spawn("fail2ban", ns, ["fail2ban-server", "-f", "-x", "-c", str(conf)], env={"TZ": self.stack.tz})
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

    def reload_settled(self):
        """The last reload asked for is done and, with nginx, every worker of the configuration
        before it has exited. Until then an old worker may still take a new connection and answer
        it by the old deny list: one 403 seen does not yet mean the next request gets one."""
        if not self.reload_idle():
            return False
        if self.kind != "nginx":
            return True
        # worker_processes 1: each reload retires one worker, which the master logs at notice level.
        return self.web_log.read_text(errors="replace").count(" exited with code ") >= self.reloads_done()

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
