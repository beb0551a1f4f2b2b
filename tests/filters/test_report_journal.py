"""`banlog report` on a journald-only host: the auth jails `banlog install --auth-source journal` writes
(backend = systemd) ban through a real fail2ban-server reading a real systemd-journald, and the
report reads the same lines back through `journalctl` (found from the jails, not given). journald
runs in a private mount namespace (its own /run, and an empty /var/log/journal over this machine's)
so that neither this machine's journal nor its entries take part."""
import json
import subprocess
import textwrap

from support.paths import SIDECAR
from support.sidecar import JOURNALD, journal_jails

GUESSER = "203.0.113.9"


def test_report_reads_the_journal_the_jails_read(tmp_path):
    conf = journal_jails(tmp_path)
    send = textwrap.dedent("""\
        import socket, sys, time
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.connect("/run/systemd/journal/dev-log")
        s.send(time.strftime("<37>%b %d %H:%M:%S ").encode() + sys.argv[1].encode())""")
    script = textwrap.dedent(f"""\
        set -e
        mount -t tmpfs tmpfs /run
        mkdir -p /run/systemd/journal /var/log/journal
        mount -t tmpfs tmpfs /var/log/journal
        mountpoint -q /sys/fs/cgroup || mount -t cgroup2 none /sys/fs/cgroup
        {JOURNALD} & jd=$!
        for _ in $(seq 50); do [ -S /run/systemd/journal/dev-log ] && break; sleep 0.2; done
        fail2ban-server -b -x -c {conf} >/dev/null
        for _ in $(seq 50); do fail2ban-client -c {conf} ping >/dev/null 2>&1 && break; sleep 0.2; done
        sleep 2
        for i in 1 2 3 4 5; do
          /usr/bin/python3 -c '{send}' "wordpress(example.com)[4242]: Authentication failure for admin from {GUESSER}"
          /usr/bin/python3 -c '{send}' "sshd[77]: Failed password for root from 198.51.100.7 port 22 ssh2"
        done
        /usr/bin/python3 -c '{send}' "wordpress(example.com)[4242]: Accepted password for ed from 198.51.100.8"
        for _ in $(seq 60); do
          fail2ban-client -c {conf} status banlog-auth | grep -q "Banned IP list:.*{GUESSER}" && break; sleep 0.5
        done
        fail2ban-client -c {conf} stop >/dev/null
        {SIDECAR} report --fail2ban-dir {conf} --days 2 --json > {tmp_path}/report.json
        kill $jd
        """)
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-c", script],
                       capture_output=True, text=True, timeout=180)
    log = (tmp_path / "f2b.log").read_text() if (tmp_path / "f2b.log").exists() else ""
    assert p.returncode == 0, p.stdout + p.stderr + log[-3000:]
    r = json.loads((tmp_path / "report.json").read_text())
    assert [(s["path"], s["role"]) for s in r["sources"]] == [(f"{tmp_path}/f2b.log", "fail2ban"),
                                                             ("journal", "journal")]
    t = r["totals"]
    assert {k: n for k, n in t["events"].items() if n} == {"failure": 5, "success": 1}
    auth = t["jails"]["banlog-auth"]
    assert (auth["bans"], auth["ban_delay"]["bans"]) == (1, 1), auth
    assert t["top_addresses"][0] == {"addr": GUESSER, "events": 5, "bans": 1}
