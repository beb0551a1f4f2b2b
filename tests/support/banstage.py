"""fail2ban in front of the WordPress stack: a real fail2ban-server bans attackers at the firewall.

Two network namespaces this module creates: `srv` holds a second nginx (serving the same site on
10.78.x.1:80 through the same php-fpm) and fail2ban-server with an iptables DROP action; `atk`
holds the attackers (10.78.x.2, 10.78.x.3, 10.78.x.4). Nothing touches the host's own network or firewall.
The jails are banlog's own (filters/filter.d, filters/jail.d), pointed at the stack's spam log and
at the private rsyslog's file.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import wpconf
from .fail2ban import copy_fail2ban_with_filters
from .paths import NGINX
from .procs import sh, stop_process
from .waiting import wait_for
from .wpconf import WEB_USER


ATTACK_SCRIPT = r"""
import http.client, json, os, sys, urllib.parse, xmlrpc.client
server, host, source, what, n = sys.argv[1:6]
n = int(n)
out = []
def req(method, path, body=None, headers=None):
    c = http.client.HTTPConnection(server, 80, timeout=5, source_address=(source, 0))
    h = {"Host": host, "User-Agent": "banlog-demo-attacker"}
    h.update(headers or {})
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse(); r.read(); return r.status
    except OSError as e:
        return "dropped (" + type(e).__name__ + ")"
    finally:
        c.close()
form = {"Content-Type": "application/x-www-form-urlencoded"}
for i in range(n):
    if what == "spam":
        body = urllib.parse.urlencode({"comment_post_ID": "1", "author": f"Cheap Pills {i}",
            "email": f"bot{i}@example.net", "comment": f"Buy cheap pills now #{os.urandom(4).hex()} FILTER-SPAM", "comment_parent": "0"})
        out.append(req("POST", "/wp-comments-post.php", body, form))
    elif what == "login":
        body = urllib.parse.urlencode({"log": "admin", "pwd": f"password{i}", "testcookie": "1"})
        out.append(req("POST", "/wp-login.php", body, dict(form, Cookie="wordpress_test_cookie=WP%20Cookie%20check")))
    elif what == "pingback":
        # A bogus ping: a target post that does not exist (WordPress answers fault 33).
        ping = xmlrpc.client.dumps((f"http://bogus-{i}.example.net/", f"http://{host}/?p=999999"), "pingback.ping")
        out.append(req("POST", "/xmlrpc.php", ping, {"Content-Type": "text/xml"}))
    elif what == "multicall":
        calls = [{"methodName": "wp.getUsersBlogs", "params": ["admin", f"guess{k}"]} for k in range(5)]
        out.append(req("POST", "/xmlrpc.php", xmlrpc.client.dumps((calls,), "system.multicall"), {"Content-Type": "text/xml"}))
    else:
        out.append(req("GET", "/"))
print(json.dumps(out))
"""


class BanStage:
    SUBNET = 78

    def __init__(self, stack, log=print):
        self.stack = stack
        self.log = log
        tag = f"{os.getpid() % 100000}"
        self.srv, self.atk = f"bwsrv{tag}", f"bwatk{tag}"
        self.vs, self.va = f"bwvs{tag}", f"bwva{tag}"
        net = f"10.{self.SUBNET}.{os.getpid() % 250}"
        self.server_ip = f"{net}.1"
        self.spam_bot = f"{net}.2"
        self.guesser = f"{net}.3"
        self.pinger = f"{net}.4"  # bogus pingbacks
        # A folder of its own: a stack (one per test session) can host several stages, one after another.
        self.dir = Path(tempfile.mkdtemp(prefix="fail2ban-stage-", dir=stack.workdir))
        os.chmod(self.dir, 0o755)  # as the plain folder it replaces: the web server's user may need to look in
        self.conf = self.dir / "fail2ban"
        self.procs = {}

    # ---- lifecycle

    def start(self):
        assert os.geteuid() == 0, "fail2ban and network namespaces need root"
        for tool in ("ip", "iptables", "fail2ban-server", "fail2ban-client"):
            assert shutil.which(tool), f"{tool} is missing"
        try:
            self._netns()
            self._nginx()
            self._fail2ban()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        if self.conf.exists():
            sh("fail2ban-client", "-c", self.conf, "stop", check=False)
        for p in self.procs.values():
            stop_process(p, 15)
        self.procs.clear()
        sh("ip", "netns", "del", self.srv, check=False)
        sh("ip", "netns", "del", self.atk, check=False)
        sh("ip", "link", "del", self.vs, check=False)

    def _netns(self):
        sh("ip", "netns", "add", self.srv)
        sh("ip", "netns", "add", self.atk)
        sh("ip", "link", "add", self.vs, "type", "veth", "peer", "name", self.va)
        sh("ip", "link", "set", self.vs, "netns", self.srv)
        sh("ip", "link", "set", self.va, "netns", self.atk)
        sh("ip", "-n", self.srv, "addr", "add", f"{self.server_ip}/24", "dev", self.vs)
        for ip in (self.spam_bot, self.guesser, self.pinger):
            sh("ip", "-n", self.atk, "addr", "add", f"{ip}/24", "dev", self.va)
        for ns, dev in ((self.srv, self.vs), (self.atk, self.va)):
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    def _nginx(self):
        d = self.dir / "nginx"
        d.mkdir()
        s = self.stack
        conf = wpconf.write_nginx_conf(d, [wpconf.nginx_server([f"{self.server_ip}:80"], s.fpm_ext_sock, s.docroot)])
        out = open(self.dir / "nginx.out", "ab")
        self.procs["nginx"] = subprocess.Popen(
            ["ip", "netns", "exec", self.srv, NGINX, "-e", str(d / "error.log"), "-p", str(d), "-c", str(conf)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        wait_for(lambda: self.reachable(self.spam_bot), 20, interval=0.3, what="nginx in the server namespace")

    def _fail2ban(self):
        copy_fail2ban_with_filters(self.conf, jails=True)
        run = self.dir / "run"
        run.mkdir()
        self.fail2ban_log = run / "fail2ban.log"
        (self.conf / "fail2ban.local").write_text(
            f"[Definition]\nsocket = {run}/f2b.sock\npidfile = {run}/f2b.pid\ndbfile = :memory:\n"
            f"logtarget = {self.fail2ban_log}\nloglevel = INFO\n")
        # Only banlog's jails; DROP so that a ban shows as a connection that never answers.
        (self.conf / "jail.local").write_text(
            "[DEFAULT]\nbanaction = iptables-multiport\nbackend = polling\n[sshd]\nenabled = false\n")
        (self.conf / "action.d/iptables.local").write_text("[Init]\nblocktype = DROP\n")
        s = self.stack
        s.spam_log.touch()
        shutil.chown(s.spam_log, WEB_USER, WEB_USER)
        s.rsyslog.out.touch()
        (self.conf / "jail.d/banlog.local").write_text(
            f"[banlog-spam]\nenabled = true\nlogpath = {s.spam_log}\nbackend = polling\n\n"
            f"[banlog-auth]\nenabled = true\nlogpath = {s.rsyslog.out}\nbackend = polling\n\n"
            f"[banlog-auth-hard]\nenabled = true\nlogpath = {s.rsyslog.out}\nbackend = polling\n\n"
            f"[banlog-pingback]\nenabled = true\nlogpath = {s.rsyslog.out}\nbackend = polling\n")
        sh("fail2ban-client", "-c", self.conf, "-t")
        out = open(self.dir / "fail2ban.out", "ab")
        # The server reads both logs in the stack's zone (php-fpm and rsyslog run in it too).
        self.procs["fail2ban"] = subprocess.Popen(
            ["ip", "netns", "exec", self.srv, "fail2ban-server", "-f", "-x", "-c", str(self.conf)],
            stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, TZ=s.tz), start_new_session=True)
        out.close()
        wait_for(lambda: sh("fail2ban-client", "-c", self.conf, "ping", check=False).returncode == 0,
                 30, interval=0.3, what="fail2ban-server")

    # ---- actions

    def attack(self, source, what, n):
        """Runs `n` attack requests from `source` inside the attacker namespace; returns their results."""
        p = sh("ip", "netns", "exec", self.atk, sys.executable, "-c", ATTACK_SCRIPT, self.server_ip,
               self.stack.host_header, source, what, n, timeout=300)
        return json.loads(p.stdout)

    def reachable(self, source, timeout=2.0):
        code = ("import socket,sys\ntry:\n socket.create_connection((sys.argv[1], 80), timeout=float(sys.argv[3]),"
                " source_address=(sys.argv[2], 0)).close(); print('open')\nexcept OSError: print('closed')")
        out = sh("ip", "netns", "exec", self.atk, sys.executable, "-c", code, self.server_ip, source, timeout,
                 check=False).stdout.strip()
        return out == "open"

    def banned(self, jail):
        out = sh("fail2ban-client", "-c", self.conf, "status", jail).stdout
        line = next(l for l in out.splitlines() if "Banned IP list:" in l)
        return line.split("Banned IP list:", 1)[1].split()

    def firewall(self):
        return sh("ip", "netns", "exec", self.srv, "iptables", "-S").stdout
