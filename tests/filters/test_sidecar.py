"""The `banlog` command against the real fail2ban: check agrees with fail2ban-regex, install passes
fail2ban-client -t and respects the admin's changes, simulate counts like a jail, --help documents."""
import collections
import json
import subprocess

import pytest

from support.fail2ban import JAIL_FILTERS, copy_fail2ban, fail2ban_regex
from support.paths import FILTERS
from support.sidecar import INSTALLED, samples, sidecar

T0 = 1795245562  # 2026-11-21 07:19:22 UTC


def mixed_log(path):
    """banlog's lines of every kind and layout (RFC 5424 aside: that needs logtype=rfc5424), with
    hostile names, among other programs' lines."""
    lines = []
    for i, (user, addr) in enumerate([("admin", "203.0.113.9"), ("x from 6.6.6.6", "2001:db8::7"),
                                      ("", "198.51.100.23"), ("a\r\nb", "203.0.113.9")]):
        got = samples(user_hex=user.encode().hex(), addr=addr, time=str(T0 + 60 * i)) if user else \
            samples(user="", addr=addr, time=str(T0 + 60 * i))
        lines += [s["line"] for s in got if s["layout"] not in ("rfc5424", "journal")]
    lines += [
        "Nov 21 07:19:22 web1 sshd[812]: Failed password for root from 6.6.6.6 port 22 ssh2",
        "Nov 21 07:19:23 web1 sshd[812]: Authentication failure for admin from 6.6.6.6",
        "Nov 21 07:19:24 web1 CRON[99]: pam_unix(cron:session): session closed for user root",
        "",
        "# a comment line",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("log", ["mixed", "banlog-spam", "banlog-auth"])
def test_check_counts_agree_with_fail2ban_regex(f2b_conf, tmp_path, log):
    path = mixed_log(tmp_path / "mixed.log") if log == "mixed" else FILTERS / "samples" / log
    p = sidecar("check", "--json", path, check=False)
    # The samples hold banlog-like lines that must not match (exit 1 says so); the mixed log none.
    assert p.returncode == (0 if log == "mixed" else 1), p.stdout + p.stderr
    [report] = json.loads(p.stdout)
    for jail, filt in JAIL_FILTERS.items():
        matches, counts = fail2ban_regex(f2b_conf, path, filt)
        mine = report["jails"][jail]
        assert mine["filter"] == filt
        assert report["lines"] == counts["lines"]
        assert (mine["matched"], mine["missed"]) == (counts["matched"], counts["missed"]), jail
        assert mine["addresses"] == dict(collections.Counter(ip for ip, _, _ in matches)), jail
        assert mine["matched"] > 0 or log == "banlog-spam"


def test_check_flags_banlog_lines_no_filter_reads(tmp_path):
    log = tmp_path / "odd.log"
    # A template the filters do not know (the message before the ident) and a mangled spam line.
    log.write_text("Nov 21 07:19:22 web1 wordpress[1]: Authentication failure for a from 1.2.3.4 [x]\n"
                   "2026-11-21 07:19:22 comment id=5 from host=1.2.3.4 was marked as spam\n"
                   "Nov 21 07:19:22 web1 wordpress[1]: Accepted password for a from 1.2.3.4\n")
    p = sidecar("check", log, check=False)
    assert p.returncode == 1, p.stdout
    assert "2 line(s) look like banlog's" in p.stdout
    assert sidecar("check", "--json", log, check=False).returncode == 1
    assert sidecar("check", tmp_path / "nope.log", check=False).returncode == 2


def test_filters_prints_and_writes_the_shipped_files(tmp_path):
    out = sidecar("filters", "--spam-log", "/srv/www/wp-content/spam.log").stdout
    for a in ("filter.d/banlog-common.conf", "filter.d/banlog-spam.conf", "filter.d/banlog-auth.conf",
              "jail.d/banlog.conf"):
        assert f"# ===== {a} =====" in out
    assert "logpath  = /srv/www/wp-content/spam.log" in out
    sidecar("filters", "--out", tmp_path, "--spam-log", "/srv/spam.log")
    for f in ("banlog-common.conf", "banlog-spam.conf", "banlog-auth.conf"):
        assert (tmp_path / "filter.d" / f).read_text() == (FILTERS / "filter.d" / f).read_text()
    assert "enabled  = true" in (tmp_path / "jail.d/banlog.conf").read_text()
    bad = sidecar("filters", "--spam-log", "relative/spam.log", check=False)
    assert bad.returncode == 2 and "absolute" in bad.stderr


def test_install_validates_and_keeps_admin_changes(tmp_path):
    conf = copy_fail2ban(tmp_path / "fail2ban")
    # This host's own sshd jail must not decide the outcome: fail2ban -t needs its log file.
    (conf / "jail.local").write_text("[sshd]\nenabled = false\n")
    spam, auth = tmp_path / "spam.log", tmp_path / "auth.log"
    spam.touch()
    auth.touch()
    args = ["install", "--fail2ban-dir", conf, "--spam-log", spam, "--auth-log", auth, "--json"]
    first = json.loads(sidecar(*args).stdout)
    assert [f["outcome"] for f in first["files"]] == ["created"] * len(INSTALLED) and first["validated"] is True
    subprocess.run(["fail2ban-client", "-c", str(conf), "-t"], check=True, capture_output=True)
    assert (conf / "filter.d/banlog-auth.conf").read_text() == (FILTERS / "filter.d/banlog-auth.conf").read_text()
    again = json.loads(sidecar(*args).stdout)
    assert [f["outcome"] for f in again["files"]] == ["unchanged"] * len(INSTALLED)

    # An admin's edit survives an install, and is kept aside by --force.
    f = conf / "filter.d/banlog-spam.conf"
    f.write_text(f.read_text() + "# mine\n")
    kept = sidecar(*args, check=False)
    assert kept.returncode == 1
    assert json.loads(kept.stdout)["files"][1]["outcome"] == "kept_changed"
    assert f.read_text().endswith("# mine\n")
    forced = json.loads(sidecar(*args, "--force").stdout)
    assert forced["files"][1]["outcome"] == "replaced"
    assert (conf / "filter.d/banlog-spam.conf.banlog-old").read_text().endswith("# mine\n")
    assert f.read_text() == (FILTERS / "filter.d/banlog-spam.conf").read_text()

    # A configuration fail2ban rejects (here: the admin's .local names a filter that does not exist)
    # is rolled back whole, the log folder install created for it included.
    (conf / "jail.d/banlog.local").write_text("[banlog-spam]\nfilter = banlog-nope\n")
    before = {p: p.read_bytes() for p in conf.rglob("*") if p.is_file()}
    bad = sidecar("install", "--fail2ban-dir", conf, "--spam-log", tmp_path / "typo/spam.log", check=False)
    assert bad.returncode == 1 and "rejected" in bad.stderr and "banlog-spam" in bad.stderr
    assert {p: p.read_bytes() for p in conf.rglob("*") if p.is_file()} == before
    assert not (tmp_path / "typo").exists()


def test_simulate_bans_at_maxretry(tmp_path):
    log = tmp_path / "spam.log"
    lines = []
    for i in range(7):  # one comment a minute from one address, 2 from another
        lines += [s["line"] for s in samples(addr="203.0.113.9", time=str(T0 + 60 * i)) if s["layout"] == "spam-log"]
    for i in range(2):
        lines += [s["line"] for s in samples(addr="198.51.100.1", time=str(T0 + 60 * i)) if s["layout"] == "spam-log"]
    log.write_text("\n".join(lines) + "\n")
    [r] = json.loads(sidecar("simulate", "--json", "--jail", "banlog-spam", log).stdout)
    assert r["params"] == {"maxretry": 5, "findtime": 3600, "bantime": 86400}
    assert [(b["addr"], b["until"] - b["at"]) for b in r["bans"]] == [("203.0.113.9", 86400)]
    assert r["addresses"]["203.0.113.9"] == {"failures": 7, "bans": 1, "while_banned": 2}
    assert r["addresses"]["198.51.100.1"]["bans"] == 0
    # The fifth line, four minutes after the first, triggers it (times relative: zone independent).
    [tight] = json.loads(sidecar("simulate", "--json", "--jail", "banlog-spam", "--findtime", "120", log).stdout)
    assert tight["bans"] == []
    [two] = json.loads(sidecar("simulate", "--json", "--jail", "banlog-spam", "--maxretry", "2", log).stdout)
    # banned at their second comment; the ban outlasts the log
    assert sorted(b["addr"] for b in two["bans"]) == ["198.51.100.1", "203.0.113.9"]
    at = {b["addr"]: b["at"] for b in two["bans"]}
    assert r["bans"][0]["at"] - at["203.0.113.9"] == 180


def test_help_documents_every_command_and_exit_codes():
    top = sidecar("--help").stdout
    for cmd in ("filters", "install", "check", "simulate", "doctor", "sample", "report"):
        assert cmd in top
        sub = sidecar(cmd, "--help").stdout
        assert "Exit codes:" in sub and "Usage: banlog " + cmd in sub
    assert "Exit codes:" in top and "  2  " in top
    assert sidecar("--version").stdout.startswith("banlog ")
    assert sidecar("no-such-command", check=False).returncode == 2


def test_doctor_reports_what_to_do(tmp_path):
    conf = copy_fail2ban(tmp_path / "fail2ban")
    p = sidecar("doctor", "--json", "--php", "/nonexistent/php", "--spam-log", tmp_path / "spam.log",
                "--web-user", "root", "--fail2ban-dir", conf, check=False)
    assert p.returncode == 1
    findings = {(f["check"], f["status"]) for f in json.loads(p.stdout)}
    assert ("php extension", "fail") in findings
    assert ("log writable", "ok") in findings
    assert ("filters installed", "fail") in findings
    for f in json.loads(p.stdout):
        assert f["status"] == "ok" or f["fix"], f
