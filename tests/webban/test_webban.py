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
import os
import shutil
import subprocess
import time

import pytest

from support.fail2ban import copy_fail2ban_with_filters
from support.paths import EXT, FILTERS
from support.procs import sh
from support.waiting import wait_for
from support.wordpress import Stack
from webstage import APACHE, RELOAD_DELAY, Topology, auth_failures, listed_addresses


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
    wait_for(t.reload_settled, 20, interval=0.2, what="the old configuration's workers gone")
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
