"""`banlog install` sets the stage (log folder and files owned by the web user, logrotate file,
journal or file for the auth jails, --auth-only / --spam-only) and `banlog uninstall` removes what
it wrote; every path goes through the real `fail2ban-client -t`."""
import grp
import json
import os
import pwd
import stat
import subprocess

from support.fail2ban import copy_fail2ban
from support.sidecar import sidecar


def stage(tmp_path):
    conf = copy_fail2ban(tmp_path / "etc/fail2ban")
    # This host's own sshd jail must not decide the outcome: fail2ban -t needs its log file.
    (conf / "jail.local").write_text("[sshd]\nenabled = false\n")
    (tmp_path / "etc/logrotate.d").mkdir()
    return conf


def t_ok(conf):
    subprocess.run(["fail2ban-client", "-c", str(conf), "-t"], check=True, capture_output=True)


def test_install_creates_logs_owned_by_the_web_user_and_a_logrotate_file(tmp_path):
    conf = stage(tmp_path)
    spam, auth = tmp_path / "var/log/wordpress/spam.log", tmp_path / "var/log/wordpress/auth.log"
    p = sidecar("install", "--fail2ban-dir", conf, "--spam-log", spam, "--auth-log", auth, "--web-user", "nobody")
    assert "created, owner nobody:adm" in p.stdout and "-t: OK" in p.stdout
    nobody, adm = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("adm").gr_gid
    d = os.stat(spam.parent)
    assert (d.st_uid, d.st_gid, stat.S_IMODE(d.st_mode)) == (nobody, adm, 0o750)
    for log in (spam, auth):
        s = os.stat(log)
        assert (s.st_uid, s.st_gid, stat.S_IMODE(s.st_mode)) == (nobody, adm, 0o640)
    rot = (tmp_path / "etc/logrotate.d/banlog").read_text()
    assert f"{spam} {auth} {{" in rot and "create 0640 nobody adm" in rot
    # logrotate itself accepts it (debug mode: reads and plans, rotates nothing).
    r = subprocess.run(["logrotate", "-d", "-s", str(tmp_path / "state"), str(tmp_path / "etc/logrotate.d/banlog")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "error" not in r.stderr.lower(), r.stderr
    t_ok(conf)
    # An existing log keeps its owner and mode, and says so; a second install changes nothing.
    os.chown(spam, 0, 0)
    again = json.loads(sidecar("install", "--fail2ban-dir", conf, "--spam-log", spam, "--auth-log", auth,
                               "--web-user", "nobody", "--json").stdout)
    assert [x["outcome"] for x in again["logs"]] == ["exists", "exists"]
    assert again["logs"][0]["writable"] is False and again["validated"] is True
    assert {f["outcome"] for f in again["files"]} == {"unchanged"}
    assert os.stat(spam).st_uid == 0


def test_a_rejected_install_claims_nothing(tmp_path):
    conf = stage(tmp_path)
    (conf / "jail.d/banlog.local").write_text("[banlog-auth]\nfilter = banlog-nope\n")
    spam = tmp_path / "wp/spam.log"
    p = sidecar("install", "--fail2ban-dir", conf, "--spam-log", spam, "--auth-log", tmp_path / "wp/auth.log",
                "--json", check=False)
    assert p.returncode == 1
    r = json.loads(p.stdout)
    assert r["validated"] is False
    assert not any(x["outcome"] == "created" for x in r["files"] + r["logs"]), r
    assert {x["outcome"] for x in r["files"]} == {"rolled_back"}
    assert not spam.parent.exists() and not (conf / "jail.d/banlog.conf").exists()
    assert not (tmp_path / "etc/logrotate.d/banlog").exists()
    text = sidecar("install", "--fail2ban-dir", conf, "--spam-log", spam, "--auth-log", tmp_path / "wp/auth.log",
                   check=False)
    assert text.returncode == 1 and ": created" not in text.stdout and "rolled back" in text.stdout and "nothing was installed" in text.stderr


def test_auth_only_needs_no_spam_log_and_spam_only_leaves_auth_off(tmp_path):
    conf = stage(tmp_path)
    auth = tmp_path / "auth.log"
    r = json.loads(sidecar("install", "--fail2ban-dir", conf, "--auth-only", "--auth-log", auth, "--json").stdout)
    assert r["validated"] is True and [x["path"] for x in r["logs"]] == [str(auth)]
    jail = (conf / "jail.d/banlog.conf").read_text()
    assert jail.count("enabled  = true") == 2
    assert "[banlog-spam]" in jail.split("enabled  = false")[0]
    conf2 = stage(tmp_path / "b")
    spam = tmp_path / "b/spam.log"
    sidecar("install", "--fail2ban-dir", conf2, "--spam-only", "--spam-log", spam)
    jail = (conf2 / "jail.d/banlog.conf").read_text()
    assert jail.count("enabled  = true") == 1 and f"logpath  = {spam}" in jail
    t_ok(conf2)
    assert sidecar("install", "--auth-only", "--spam-only", check=False).returncode == 2


def test_journal_host_gets_the_systemd_backend(tmp_path):
    conf = stage(tmp_path)
    r = json.loads(sidecar("install", "--fail2ban-dir", conf, "--auth-only", "--auth-source", "journal",
                           "--json").stdout)
    assert r["validated"] is True and r["auth_source"] == "journal"
    jail = (conf / "jail.d/banlog.conf").read_text()
    # Every jail of the auth lines (the abuse jails too, though not enabled) reads the journal.
    assert jail.count("backend  = systemd") == 5 and jail.count("journalmatch = SYSLOG_FACILITY=4") == 5
    # fail2ban's own reading of the result: the auth jails on the systemd backend.
    d = subprocess.run(["fail2ban-client", "-c", str(conf), "-d"], capture_output=True, text=True, check=True).stdout
    assert "['add', 'banlog-auth', 'systemd']" in d and "['add', 'banlog-auth-hard', 'systemd']" in d
    assert "'addjournalmatch', 'SYSLOG_FACILITY=4', '+', 'SYSLOG_FACILITY=10'" in d


def test_uninstall_removes_exactly_what_install_wrote(tmp_path):
    conf = stage(tmp_path)
    before = {p.relative_to(tmp_path) for p in tmp_path.rglob("*")}
    spam = tmp_path / "logs/spam.log"
    sidecar("install", "--fail2ban-dir", conf, "--spam-log", spam, "--auth-log", tmp_path / "logs/auth.log")
    (conf / "jail.d/banlog.local").write_text("[banlog-spam]\nmaxretry = 2\n")
    spam.write_text("a line\n")
    p = json.loads(sidecar("uninstall", "--fail2ban-dir", conf, "--json").stdout)
    assert {x["outcome"] for x in p["files"]} == {"removed"} and len(p["files"]) >= 5 and p["validated"] is True
    after = {p.relative_to(tmp_path) for p in tmp_path.rglob("*")}
    kept = {x.relative_to(tmp_path) for x in (spam.parent, spam, tmp_path / "logs/auth.log",
                                              conf / "jail.d/banlog.local")}
    assert after == before | kept
    assert spam.read_text() == "a line\n"
    t_ok(conf)
    # A file changed since install stays (and stays in the record) unless --force.
    sidecar("install", "--fail2ban-dir", conf, "--spam-log", spam, "--auth-log", tmp_path / "logs/auth.log")
    jail = conf / "jail.d/banlog.conf"
    jail.write_text(jail.read_text() + "# mine\n")
    k = sidecar("uninstall", "--fail2ban-dir", conf, check=False)
    assert k.returncode == 1 and jail.exists() and "KEPT" in k.stdout
    assert sidecar("uninstall", "--fail2ban-dir", conf, "--force").returncode == 0 and not jail.exists()
    assert not (conf / ".banlog-installed.json").exists()
