"""CrowdSec on a journald-only host: the agent reads the journal with its `journalctl` source (type
syslog, the auth facilities), fed by the real extension through journald's syslog socket, and bans the
attacker with banlog's parser and scenarios, not the address in the user name. journald runs in a
private mount namespace (its own /run and /var/log/journal) so that this machine's journal is not
touched; the agent and its local API run there too (the network is the host's loopback)."""
import json
import os
import shlex
import subprocess
import textwrap

import yaml

from support.crowdsec import CROWDSEC, CSCLI, SHIPPED, CrowdSec
from support.php import php_cmd

JOURNALD = "/lib/systemd/systemd-journald"
ATTACKER, DECOY = "203.0.113.70", "198.51.100.70"


def test_agent_reading_the_journal_bans_the_attacker(tmp_path, ext_path):
    assert os.access(JOURNALD, os.X_OK), "systemd-journald is missing (apt-get install systemd)"
    # The journal block of the shipped acquisition file, uncommented.
    shipped = (SHIPPED / "acquis.d/banlog.yaml").read_text().split("# A host without rsyslog", 1)[1]
    block = "\n".join(ln[4:] for ln in shipped.splitlines() if ln.startswith("#   "))
    acquis = yaml.safe_load(block)
    assert acquis["source"] == "journalctl", block
    cs = CrowdSec(tmp_path / "crowdsec", acquis=[acquis])
    sock = "/run/systemd/journal/dev-log"
    calls = "".join(f"banlog_auth('failure', 'admin from {DECOY}', '{ATTACKER}');" for _ in range(5))
    emit = shlex.join(php_cmd(
        f"banlog_configure(['syslog_target' => '{sock}', 'ident_host' => 'example.com']);\n{calls}\n"
        "if (!banlog_flush(5000)) { exit(3); }"))
    decisions = shlex.join([CSCLI, "-c", str(cs.config), "decisions", "list", "-o", "json"])
    script = textwrap.dedent(f"""\
        set -e
        mount -t tmpfs tmpfs /run
        mount -t tmpfs tmpfs /var/log/journal
        mkdir -p /run/systemd/journal
        # journald needs a cgroup file system; a bare root (a chroot) may have none mounted.
        mountpoint -q /sys/fs/cgroup || mount -t cgroup2 none /sys/fs/cgroup
        {JOURNALD} & jd=$!
        for _ in $(seq 50); do [ -S {sock} ] && break; sleep 0.2; done
        {CROWDSEC} -c {cs.config} -no-capi >{tmp_path}/crowdsec.log 2>&1 & cs=$!
        trap 'kill $cs $jd 2>/dev/null || true' EXIT
        for _ in $(seq 100); do {CSCLI} -c {cs.config} lapi status >/dev/null 2>&1 && break; sleep 0.3; done
        # journalctl follows from the end: send until the agent has counted five and banned.
        for _ in $(seq 10); do
          {emit}
          for _ in $(seq 10); do
            {decisions} | grep -q '"{ATTACKER}"' && break 2
            sleep 0.3
          done
        done
        echo "DECISIONS $({decisions})"
        """)
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-c", script],
                       capture_output=True, text=True, timeout=240)
    log = (tmp_path / "crowdsec.log").read_text(errors="replace") if (tmp_path / "crowdsec.log").exists() else ""
    assert p.returncode == 0 and "DECISIONS " in p.stdout, p.stdout + p.stderr + log[-3000:]
    alerts = json.loads(p.stdout.split("DECISIONS ", 1)[1]) or []
    bans = {(d["value"], d["scenario"]) for a in alerts for d in a.get("decisions") or []}
    assert bans == {(ATTACKER, "banlog/wordpress-auth-bf")}, (bans, log[-3000:])
    assert "Running journalctl command" in log, log[-3000:]
