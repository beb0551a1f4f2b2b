"""The whole CrowdSec path with real parts: the extension writes auth lines, a CrowdSec agent (Debian's
crowdsec 1.4.6, offline) counts them with banlog's parser and scenarios and decides a ban on its
local API, and Debian's crowdsec-firewall-bouncer, asking that API, drops the attacker's next
connection (nftables) while an innocent client still connects. Server and clients live in network
namespaces this test creates: nothing touches the host's own network. The addresses are
documentation ones (CrowdSec's whitelist drops private addresses before any scenario)."""
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from support.crowdsec import SHIPPED, CrowdSec
from support.procs import sh, stop_process
from support.waiting import seconds_until

BOUNCER = shutil.which("crowdsec-firewall-bouncer") or "/usr/bin/crowdsec-firewall-bouncer"
SERVER, ATTACKER, INNOCENT = "198.51.100.1", "198.51.100.66", "198.51.100.77"


@pytest.fixture
def netns():
    assert os.geteuid() == 0, "this test creates network namespaces and firewall rules: run it as root"
    assert os.path.isfile(BOUNCER), "crowdsec-firewall-bouncer is missing (scripts/deps.sh test)"
    tag = f"{os.getpid() % 100000}"
    srv, cli = f"cssrv{tag}", f"cscli{tag}"
    vs, vc = f"csvs{tag}", f"csvc{tag}"
    try:
        sh("ip", "netns", "add", srv)
        sh("ip", "netns", "add", cli)
        sh("ip", "link", "add", vs, "type", "veth", "peer", "name", vc)
        sh("ip", "link", "set", vs, "netns", srv)
        sh("ip", "link", "set", vc, "netns", cli)
        sh("ip", "-n", srv, "addr", "add", f"{SERVER}/24", "dev", vs)
        for ip in (ATTACKER, INNOCENT):  # both clients in one namespace, told apart by source address
            sh("ip", "-n", cli, "addr", "add", f"{ip}/24", "dev", vc)
        for ns, dev in ((srv, vs), (cli, vc)):
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        yield srv, cli
    finally:
        # Deleting a namespace removes its veth end, its addresses and its nftables tables.
        sh("ip", "netns", "del", srv, check=False)
        sh("ip", "netns", "del", cli, check=False)
        sh("ip", "link", "del", vs, check=False)


def can_connect(cli, src, timeout=2.0):
    code = (f"import socket\ns = socket.socket()\ns.settimeout({timeout})\ns.bind(('{src}', 0))\n"
            f"try:\n s.connect(('{SERVER}', 80)); print('open')\nexcept socket.timeout: print('timeout')\n"
            f"except OSError as e: print('error', e)")
    out = sh("ip", "netns", "exec", cli, sys.executable, "-c", code).stdout.strip()
    assert out in ("open", "timeout"), f"unexpected connection result: {out}"
    return out == "open"


def test_bouncer_drops_the_attacker_that_the_agent_banned(netns, tmp_path, php, ext_path):
    srv, cli = netns
    spam_log, auth_log = tmp_path / "spam.log", tmp_path / "wp-auth.log"
    spam_log.touch()
    auth_log.touch()
    # The shipped acquisition, with banlog's own auth file (banlog.auth_log) in the second block.
    snippet = (SHIPPED / "acquis.d/banlog.yaml").read_text()
    snippet = snippet.replace("/var/www/html/wp-content/spam.log", str(spam_log)).replace("/var/log/auth.log", str(auth_log))
    cs = CrowdSec(tmp_path / "crowdsec", acquis=list(yaml.safe_load_all(snippet)), netns=srv)
    key = cs.cscli("bouncers", "add", "banlog-test-bouncer", "-o", "raw").stdout.strip()
    assert key, "cscli bouncers add gave no key"
    conf = tmp_path / "bouncer.yaml"
    conf.write_text(yaml.safe_dump({
        "mode": "nftables", "update_frequency": "1s", "daemonize": False, "log_mode": "stdout", "log_level": "info",
        "api_url": f"http://127.0.0.1:{cs.port}/", "api_key": key, "disable_ipv6": False, "deny_action": "DROP",
        "deny_log": False, "supported_decisions_types": ["ban"],
        "nftables": {"ipv4": {"enabled": True, "set-only": False, "table": "crowdsec", "chain": "crowdsec-chain"},
                     "ipv6": {"enabled": True, "set-only": False, "table": "crowdsec6", "chain": "crowdsec6-chain"}},
        "prometheus": {"enabled": False},
    }))
    web = subprocess.Popen(["ip", "netns", "exec", srv, sys.executable, "-m", "http.server", "80", "--bind", SERVER],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cs.start()
    bouncer = None
    try:
        cs.wait_lapi()
        blog = open(tmp_path / "bouncer.log", "wb")
        bouncer = subprocess.Popen(["ip", "netns", "exec", srv, BOUNCER, "-c", str(conf)], stdout=blog,
                                   stderr=subprocess.STDOUT)
        tables = lambda: sh("ip", "netns", "exec", srv, "nft", "list", "ruleset", check=False).stdout  # noqa: E731
        assert seconds_until(lambda: can_connect(cli, ATTACKER) and can_connect(cli, INNOCENT), 10, 0.2) is not None

        def emit(calls):
            php(f"banlog_configure(['spam_log' => '{spam_log}', 'auth_log' => '{auth_log}', 'syslog' => false,"
                f" 'ident_host' => 'example.com']);\n{calls}\nif (!banlog_flush(5000)) {{ exit(3); }}",
                ini={"banlog.syslog": "0"})

        # The agent reads from the end of the file: repeat the attempts until it has taken some.
        # Five failures with a name that holds the innocent's address: the attacker is banned.
        hostile = f"admin from {INNOCENT}"
        for _ in range(10):
            emit("".join(f"banlog_auth('failure', '{hostile}', '{ATTACKER}');" for _ in range(5)))
            if seconds_until(lambda: ATTACKER in cs.banned(), 3, 0.3) is not None:
                break
        banned = cs.banned()
        assert ATTACKER in banned and INNOCENT not in banned, (banned, cs.log_text()[-3000:])
        # The bouncer takes the decision on its next poll and the attacker's connection is dropped.
        assert seconds_until(lambda: not can_connect(cli, ATTACKER, 1.0), 30, 0.2) is not None, \
            ((tmp_path / "bouncer.log").read_text(errors="replace")[-3000:], tables())
        assert can_connect(cli, INNOCENT)
        assert ATTACKER in tables()

        # Deleting the decision (cscli, as an admin would) lets the attacker in again.
        cs.cscli("decisions", "delete", "--ip", ATTACKER)
        assert seconds_until(lambda: can_connect(cli, ATTACKER, 1.0), 30, 0.2) is not None, tables()
    finally:
        if bouncer:
            stop_process(bouncer, 15)
        cs.stop()
        stop_process(web, 15)
