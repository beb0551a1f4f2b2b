"""One collector, many web hosts: an attacker spread round-robin over two web hosts is banned at the
balancer after maxretry attempts in total, not per host, and a collector stopped for a few seconds
loses nothing. See collectorstage.py for the network: two web hosts (each its own namespace, host
name and php-fpm with the extension, serving the stack's WordPress), one sending tcp:// straight to
the collector, the other through its local rsyslog with the shipped forwarding snippet; the
balancer runs nginx, the collector rsyslog (the shipped snippet) and one fail2ban-server with the
banlog-nginx action."""
import datetime
import os
import shutil
import time

import pytest

from support.paths import EXT
from support.waiting import wait_for
from support.wordpress import Stack
from collectorstage import HOSTS, CollectorTopology
from webstage import RELOAD_DELAY, listed_addresses

MAXRETRY = 5  # filters/jail.d/banlog.conf, banlog-auth


@pytest.fixture(scope="module")
def topo():
    assert os.geteuid() == 0, "this test creates network namespaces: run it as root"
    for tool in ("ip", "unshare", "ss", "rsyslogd", "fail2ban-server", "fail2ban-client"):
        assert shutil.which(tool), f"{tool} is missing (make deps installs iproute2, util-linux, rsyslog, fail2ban)"
    assert EXT.is_file(), f"{EXT} is missing: run 'make build' first"
    s = Stack(log=lambda *a: None)
    s.start()
    t = None
    try:
        # The plugin logs failures to syslog with facility auth; the destination is each web
        # host's own (its php-fpm's banlog.syslog_target): no syslog_target option.
        s.banlog_options(syslog=1, syslog_facility="auth", auth_log="", trusted_proxies="", log_success=0)
        s.php_eval("$o = get_option('banlog_options'); unset($o['syslog_target']);"
                   "update_option('banlog_options', $o);")
        t = CollectorTopology(s, (os.getpid() + 2) % 250).start()
        yield t
    finally:
        if t is not None:
            t.stop()
        s.stop()


def test_an_attacker_spread_over_two_hosts_is_banned_after_maxretry_in_total(topo):
    t = topo
    assert t.get(t.innocent, n=2) == [200, 200]

    # Forged lines from the attacker to the collector's port, naming the innocent: refused at the
    # front address (not listened on), dropped at the private one (AllowedSender).
    forged = f"<37>Nov 30 12:00:00 web1 wordpress[1]: Authentication failure for admin from {t.innocent}"
    assert t.forge(forged)[0] == "ConnectionRefusedError"

    # Three failures with the collector up: round-robin puts them on both hosts.
    assert t.failed_logins(3) == [200] * 3
    wait_for(lambda: len(t.failures_by_host(t.attacker)) == 3, 20, what="three lines at the collector")
    assert set(t.failures_by_host(t.attacker)) == set(HOSTS), t.remote_lines()

    # The collector stops for a few seconds; two more failures meanwhile, one on each host (web1's
    # extension keeps its line in its sink, web2's rsyslog in its queue).
    t.stop_collector()
    down = time.monotonic()
    before = t.upstreams()
    assert t.failed_logins(MAXRETRY - 3) == [200] * (MAXRETRY - 3)
    assert len(set(t.upstreams()[len(before):])) == 2, t.upstreams()
    time.sleep(max(0.0, 4 - (time.monotonic() - down)))
    assert len(t.failures_by_host(t.attacker)) == 3
    assert t.banned() == [] and t.get(t.attacker) == [200]

    # Back: both lines arrive; five in total, at most three on one host: the ban, at the balancer.
    t.start_collector()
    wait_for(lambda: len(t.failures_by_host(t.attacker)) >= MAXRETRY, 30, what="the lines kept while down")
    hosts = t.failures_by_host(t.attacker)
    assert max(hosts.count(h) for h in HOSTS) < MAXRETRY, hosts
    assert set(hosts[3:]) == set(HOSTS), hosts
    wait_for(lambda: t.attacker in t.banned(), 30, interval=0.3, what="the ban")
    wait_for(lambda: t.get(t.attacker) == [403], RELOAD_DELAY + 20, interval=0.3, what="403 for the attacker")
    wait_for(t.reload_settled, 20, interval=0.2, what="the old configuration's workers gone")
    assert t.failed_logins(2) == [403, 403]
    assert t.get(t.innocent, n=2) == [200, 200]
    assert listed_addresses(t) == [t.attacker]

    # Nothing twice, nothing lost, nothing forged: five lines of the attacker, none of the innocent.
    time.sleep(2)
    assert len(t.failures_by_host(t.attacker)) == MAXRETRY, t.remote_lines()
    # Each line bears the moment of its attempt, whichever way it came (the extension's zone-less
    # RFC 3164 time read in the collector's zone, the forwarder's RFC 3339 time): what fail2ban's
    # findtime counts with.
    now = datetime.datetime.now(datetime.timezone.utc)
    assert all(abs((now - when).total_seconds()) < 120 for when, _ in t.failures(t.attacker)), t.remote_lines()
    assert t.failures_by_host(t.innocent) == [], t.remote_lines()
    assert t.banned() == [t.attacker]
