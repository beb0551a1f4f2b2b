"""The auth jails `banlog install` writes for a journald-only host (backend = systemd, journalmatch on
the auth facilities) ban through a real fail2ban-server reading a real systemd-journald, which runs
in a private mount namespace (its own /run) so that this machine's journal is not touched."""
import subprocess
import textwrap

from support.sidecar import JOURNALD, journal_jails


def test_journal_jails_ban(tmp_path):
    conf = journal_jails(tmp_path)
    # What the extension sends to a local socket (RFC 3164, no host name, like glibc's syslog()).
    script = textwrap.dedent(f"""\
        set -e
        mount -t tmpfs tmpfs /run
        mkdir -p /run/systemd/journal
        # journald needs a cgroup file system; a bare root (a chroot) may have none mounted.
        mountpoint -q /sys/fs/cgroup || mount -t cgroup2 none /sys/fs/cgroup
        {JOURNALD} & jd=$!
        for _ in $(seq 50); do [ -S /run/systemd/journal/dev-log ] && break; sleep 0.2; done
        fail2ban-server -b -x -c {conf} >/dev/null
        for _ in $(seq 50); do fail2ban-client -c {conf} ping >/dev/null 2>&1 && break; sleep 0.2; done
        sleep 2
        for i in 1 2 3 4 5; do
          /usr/bin/python3 -c 'import socket, time
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.connect("/run/systemd/journal/dev-log")
        s.send(time.strftime("<37>%b %d %H:%M:%S ").encode() + b"wordpress(example.com)[4242]: Authentication failure for admin from 203.0.113.9")'
          /usr/bin/python3 -c 'import socket, time
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.connect("/run/systemd/journal/dev-log")
        s.send(time.strftime("<37>%b %d %H:%M:%S ").encode() + b"sshd[77]: Failed password for root from 198.51.100.7 port 22 ssh2")'
        done
        for _ in $(seq 60); do
          fail2ban-client -c {conf} status banlog-auth | grep -q "Banned IP list:.*203.0.113.9" && break; sleep 0.5
        done
        fail2ban-client -c {conf} status banlog-auth
        fail2ban-client -c {conf} stop >/dev/null
        kill $jd
        """)
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-c", script],
                       capture_output=True, text=True, timeout=180)
    log = (tmp_path / "f2b.log").read_text() if (tmp_path / "f2b.log").exists() else ""
    assert "Banned IP list:\t203.0.113.9" in p.stdout, p.stdout + p.stderr + log[-3000:]
    assert "Total failed:\t5" in p.stdout, p.stdout
    assert "198.51.100.7" not in p.stdout
    assert "Jail 'banlog-auth' uses systemd" in log
