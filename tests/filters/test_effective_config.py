"""check and simulate read what fail2ban reads: the jails as fail2ban merges them (.local overrides
included) and `journalctl -o short-unix` stamps, with the counts of the real fail2ban-regex."""
import collections
import json
import subprocess

from support.fail2ban import JAIL_FILTERS, copy_fail2ban, copy_fail2ban_with_filters, fail2ban_regex
from support.sidecar import samples, sidecar

T0 = 1795245562  # 2026-11-21 07:19:22 UTC


def short_unix_log(path):
    """Auth lines as `journalctl -o short-unix` prints them, among sshd's."""
    lines = []
    for i, addr in enumerate(["203.0.113.9", "203.0.113.9", "2001:db8::7", "198.51.100.23"]):
        for s in samples(addr=addr, time=str(T0 + 60 * i)):
            if s["layout"] == "journal":
                # the journal layout is what follows journalctl's stamp: host ident[pid]: text
                lines.append(f"{T0 + 60 * i}.{123456 + i} {s['line']}")
    lines.append(f"{T0}.000001 web1 sshd[812]: Failed password for root from 6.6.6.6 port 22 ssh2")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_check_reads_short_unix_like_fail2ban_regex(tmp_path):
    conf = copy_fail2ban_with_filters(tmp_path / "f2b")
    log = short_unix_log(tmp_path / "journal.log")
    [report] = json.loads(sidecar("check", "--json", log, check=False).stdout)
    for jail, filt in JAIL_FILTERS.items():
        matches, counts = fail2ban_regex(conf, log, filt)
        mine = report["jails"][jail]
        assert (mine["matched"], mine["missed"]) == (counts["matched"], counts["missed"]), jail
        assert mine["addresses"] == dict(collections.Counter(ip for ip, _, _ in matches)), jail
    assert report["jails"]["banlog-auth"]["matched"] > 0
    # simulate dates them from the stamp itself, whatever the zone (two soft failures at T0)
    [r] = json.loads(sidecar("simulate", "--json", "--jail", "banlog-auth", "--maxretry", "2", "--fail2ban-dir",
                             tmp_path / "none", log).stdout)
    assert r["bans"] and r["bans"][0]["addr"] == "203.0.113.9" and r["bans"][0]["at"] == T0


def test_simulate_follows_the_local_overrides(tmp_path):
    conf = copy_fail2ban(tmp_path / "f2b")
    (conf / "jail.local").write_text("[sshd]\nenabled = false\n")
    spam = tmp_path / "spam.log"
    lines = [s["line"] for i in range(3) for s in samples(addr="203.0.113.9", time=str(T0 + 60 * i))
             if s["layout"] == "spam-log"]
    spam.write_text("\n".join(lines) + "\n")
    sidecar("install", "--fail2ban-dir", conf, "--spam-only", "--spam-log", spam)
    sim = lambda: json.loads(sidecar("simulate", "--json", "--jail", "banlog-spam", "--fail2ban-dir", conf,
                                     spam).stdout)[0]
    assert sim()["params"]["maxretry"] == 5 and sim()["bans"] == []
    (conf / "jail.d/banlog.local").write_text("[banlog-spam]\nmaxretry = 2\nbantime = 1h\n")
    r = sim()
    assert r["params"] == {"maxretry": 2, "findtime": 3600, "bantime": 3600}
    assert [(b["addr"], b["at"]) for b in r["bans"]] == [("203.0.113.9", T0 + 60)]
    # what fail2ban itself makes of the same files
    d = subprocess.run(["fail2ban-client", "-c", str(conf), "-d"], capture_output=True, text=True, check=True).stdout
    assert "['set', 'banlog-spam', 'maxretry', 2]" in d and "['set', 'banlog-spam', 'bantime', '1h']" in d
