"""The whole chain with real parts: the extension writes the lines, a real fail2ban-server (with the
jails `banlog install` wrote and an iptables action) bans, and the attacker's next connection is
dropped. Server and attacker live in two network namespaces this test creates (10.77.0.0/24 exists
only between them), so nothing touches the host's own network. Needs root (it is, here and in CI)."""
import os
import shutil
import subprocess
import sys
import time

import pytest

from support.fail2ban import copy_fail2ban
from support.procs import sh, stop_process
from support.sidecar import sidecar
from support.waiting import seconds_until

SERVER_IP, ATTACKER_IP = "10.77.0.1", "10.77.0.2"


@pytest.fixture
def netns():
    assert os.geteuid() == 0, "this test creates network namespaces and firewall rules: run it as root"
    for tool in ("ip", "iptables", "fail2ban-server", "fail2ban-client"):
        assert shutil.which(tool), f"{tool} is missing (make deps installs iproute2, iptables, fail2ban)"
    tag = f"{os.getpid() % 100000}"
    srv, atk = f"blsrv{tag}", f"blatk{tag}"
    vs, va = f"blvs{tag}", f"blva{tag}"
    try:
        sh("ip", "netns", "add", srv)
        sh("ip", "netns", "add", atk)
        sh("ip", "link", "add", vs, "type", "veth", "peer", "name", va)
        sh("ip", "link", "set", vs, "netns", srv)
        sh("ip", "link", "set", va, "netns", atk)
        for ns, dev, ip in ((srv, vs, SERVER_IP), (atk, va, ATTACKER_IP)):
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        yield srv, atk
    finally:
        # Deleting a namespace removes its veth end, its addresses and its firewall rules.
        sh("ip", "netns", "del", srv, check=False)
        sh("ip", "netns", "del", atk, check=False)
        sh("ip", "link", "del", vs, check=False)


def can_connect(atk, timeout=2.0):
    code = (f"import socket\ntry:\n socket.create_connection(('{SERVER_IP}', 80), timeout={timeout}).close(); print('open')\n"
            f"except socket.timeout: print('timeout')\nexcept OSError as e: print('error', e)")
    out = sh("ip", "netns", "exec", atk, sys.executable, "-c", code).stdout.strip()
    assert out in ("open", "timeout"), f"unexpected connection result: {out}"
    return out == "open"


def banned(conf, jail):
    out = sh("fail2ban-client", "-c", conf, "status", jail).stdout
    line = next(l for l in out.splitlines() if "Banned IP list:" in l)
    return line.split("Banned IP list:", 1)[1].split()


def test_extension_lines_get_the_attacker_dropped(netns, tmp_path, php, ext_path):
    srv, atk = netns
    conf = copy_fail2ban(tmp_path / "fail2ban")
    run = tmp_path / "run"
    run.mkdir()
    spam_log, auth_log = tmp_path / "spam.log", tmp_path / "wp-auth.log"
    spam_log.touch()
    auth_log.touch()

    # Only banlog's jails (this host has no /var/log/auth.log for Debian's sshd jail); DROP, not
    # REJECT, so that a ban shows as a connection that never answers.
    (conf / "jail.local").write_text(
        "[DEFAULT]\nbanaction = iptables-multiport\nbackend = polling\n[sshd]\nenabled = false\n")
    (conf / "action.d/iptables.local").write_text("[Init]\nblocktype = DROP\n")
    # The jails as an admin gets them; banlog install validates them with fail2ban-client -t.
    sidecar("install", "--fail2ban-dir", conf, "--spam-log", spam_log, "--auth-log", auth_log,
            "--enable", "banlog-spam,banlog-auth,banlog-auth-hard")
    (conf / "fail2ban.local").write_text(
        f"[Definition]\nsocket = {run}/f2b.sock\npidfile = {run}/f2b.pid\ndbfile = :memory:\n"
        f"logtarget = {run}/fail2ban.log\nloglevel = INFO\n")
    sh("fail2ban-client", "-c", conf, "-t")

    web = subprocess.Popen(["ip", "netns", "exec", srv, sys.executable, "-m", "http.server", "80", "--bind", SERVER_IP],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    f2b = subprocess.Popen(["ip", "netns", "exec", srv, "fail2ban-server", "-f", "-x", "-c", str(conf)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert seconds_until(lambda: sh("fail2ban-client", "-c", conf, "ping", check=False).returncode == 0,
                             30, 0.2) is not None, \
            (run / "fail2ban.log").read_text() if (run / "fail2ban.log").exists() else "fail2ban-server did not start"
        jails = sh("fail2ban-client", "-c", conf, "status").stdout
        for j in ("banlog-spam", "banlog-auth", "banlog-auth-hard"):
            assert j in jails, jails
        assert seconds_until(lambda: can_connect(atk), 10, 0.2) is not None, \
            "the attacker cannot reach the server before any ban"

        def emit(calls):
            php(f"banlog_configure(['spam_log' => '{spam_log}', 'auth_log' => '{auth_log}', 'syslog' => false,"
                f" 'ident_host' => 'example.com']);\n{calls}\nif (!banlog_flush(5000)) {{ exit(3); }}",
                ini={"banlog.syslog": "0"})

        # Four spam comments: below maxretry 5, no ban.
        emit("".join(f"banlog_spam({100 + i}, '{ATTACKER_IP}');" for i in range(4)))
        assert len(spam_log.read_text().splitlines()) == 4
        time.sleep(3)  # several polling rounds
        assert banned(conf, "banlog-spam") == []
        assert can_connect(atk)

        # The fifth bans, and the firewall drops the attacker's next connection.
        emit(f"banlog_spam(104, '{ATTACKER_IP}');")
        assert seconds_until(lambda: ATTACKER_IP in banned(conf, "banlog-spam"), 30, 0.2) is not None, \
            (run / "fail2ban.log").read_text()
        # fail2ban lists the ban before its action has added the rule: wait for the rule too.
        rule = f"-A f2b-banlog-spam -s {ATTACKER_IP}/32 -j DROP"
        firewall = lambda: sh("ip", "netns", "exec", srv, "iptables", "-S").stdout  # noqa: E731
        assert seconds_until(lambda: rule in firewall(), 30, 0.2) is not None, firewall()
        assert not can_connect(atk)

        sh("fail2ban-client", "-c", conf, "set", "banlog-spam", "unbanip", ATTACKER_IP)
        assert seconds_until(lambda: can_connect(atk), 10, 0.2) is not None

        # Five failed logins (soft jail, maxretry 5), with a hostile name that names another address.
        emit("".join(f"banlog_auth('failure', \"admin from 10.77.0.1\\r\\nx\", '{ATTACKER_IP}');" for _ in range(5)))
        assert len(auth_log.read_text().splitlines()) == 5
        assert seconds_until(lambda: ATTACKER_IP in banned(conf, "banlog-auth"), 30, 0.2) is not None, \
            (run / "fail2ban.log").read_text()
        assert banned(conf, "banlog-auth-hard") == []
        assert SERVER_IP not in banned(conf, "banlog-auth")
        # The ban action inserts the firewall rule just after the ban is recorded: wait for it.
        rule = f"-A f2b-banlog-auth -s {ATTACKER_IP}/32 -j DROP"
        assert seconds_until(lambda: rule in firewall(), 30, 0.2) is not None, firewall()
        assert not can_connect(atk)
    finally:
        sh("fail2ban-client", "-c", conf, "stop", check=False)
        stop_process(web, 15)
        stop_process(f2b, 15, sig=None)  # `fail2ban-client stop` asked it already
