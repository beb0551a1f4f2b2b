"""`banlog doctor` against a real fail2ban-server (its own configuration folder and socket): it finds
the paths itself from the installed and the running jails, reports every disagreement, passes on a
correct setup and ends with a summary line."""
import json
import os
import subprocess

import pytest

from support.fail2ban import copy_fail2ban
from support.paths import EXT
from support.sidecar import sidecar
from support.waiting import wait_for
from support.wordpress import Stack


@pytest.fixture
def setup(tmp_path):
    conf = copy_fail2ban(tmp_path / "fail2ban")
    run = tmp_path / "run"
    run.mkdir()
    # No firewall change on this machine: the jails ban through fail2ban's dummy action.
    (conf / "jail.local").write_text("[DEFAULT]\nbanaction = dummy\nbanaction_allports = dummy\n"
                                     "[sshd]\nenabled = false\n")
    (conf / "fail2ban.local").write_text(f"[Definition]\nsocket = {run}/f2b.sock\npidfile = {run}/f2b.pid\n"
                                         f"dbfile = :memory:\nlogtarget = {run}/fail2ban.log\n")
    spam, auth = tmp_path / "logs/spam.log", tmp_path / "logs/auth.log"
    sidecar("install", "--fail2ban-dir", conf, "--spam-log", spam, "--auth-log", auth)
    # The PHP this host has, with the extension under test loaded (CLI and php-fpm).
    for name, binary in (("php", "php8.2"), ("php-fpm", "/usr/sbin/php-fpm8.2")):
        w = tmp_path / name
        w.write_text(f"#!/bin/sh\nexec {binary} -d extension={EXT} \"$@\"\n")
        w.chmod(0o755)
    server = subprocess.Popen(["fail2ban-server", "-f", "-x", "-c", str(conf)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    wait_for(lambda: subprocess.run(["fail2ban-client", "-c", str(conf), "ping"], capture_output=True).returncode == 0,
             30, what="fail2ban-server")
    yield tmp_path, conf, spam, auth
    subprocess.run(["fail2ban-client", "-c", str(conf), "stop"], capture_output=True)
    server.wait(30)


def doctor(tmp_path, conf, *args):
    base = ["doctor", "--fail2ban-dir", conf, "--php", tmp_path / "php", "--php-fpm", tmp_path / "php-fpm"]
    text = sidecar(*base, *args, check=False)
    js = json.loads(sidecar(*base, *args, "--json", check=False).stdout)
    return text, {(f["check"], f["status"]) for f in js}, js


def test_doctor_passes_a_correct_setup_and_finds_the_paths_itself(setup):
    tmp_path, conf, spam, auth = setup
    text, found, js = doctor(tmp_path, conf, "--auth-log", auth)
    assert text.returncode == 0, text.stdout
    assert text.stdout.rstrip().splitlines()[-1] in ("doctor: all good",) or \
        text.stdout.rstrip().splitlines()[-1].startswith("doctor: 0 problems"), text.stdout
    assert ("php-fpm extension", "ok") in found and ("jails running", "ok") in found
    assert f"jail banlog-spam runs, reading {spam}" in text.stdout
    assert f"{spam} is writable by" in text.stdout
    assert not any(f["status"] == "fail" for f in js)


def test_doctor_reports_each_disagreement(setup):
    tmp_path, conf, spam, auth = setup
    # The plugin writes elsewhere than the jail reads.
    text, found, _ = doctor(tmp_path, conf, "--spam-log", tmp_path / "elsewhere.log", "--auth-log", auth)
    assert text.returncode == 1 and ("paths agree", "fail") in found
    assert f"banlog install --spam-log {tmp_path / 'elsewhere.log'} --reload" in text.stdout
    assert text.stdout.rstrip().splitlines()[-1].startswith("doctor: 2 problems,")  # the path, and the file nobody can create, text.stdout
    # The configuration changed and fail2ban was not reloaded: the running jail reads the old file.
    sidecar("install", "--fail2ban-dir", conf, "--spam-log", tmp_path / "new/spam.log", "--auth-log", auth)
    text, found, _ = doctor(tmp_path, conf, "--auth-log", auth)
    assert text.returncode == 1 and ("jail paths", "fail") in found and "fail2ban-client reload" in text.stdout
    subprocess.run(["fail2ban-client", "-c", str(conf), "reload"], check=True, capture_output=True)
    assert doctor(tmp_path, conf, "--auth-log", auth)[0].returncode == 0
    # A jail enabled in the configuration that does not run; then no fail2ban at all.
    subprocess.run(["fail2ban-client", "-c", str(conf), "stop", "banlog-spam"], check=True, capture_output=True)
    text, found, _ = doctor(tmp_path, conf, "--auth-log", auth)
    assert "jail banlog-spam is enabled but not running" in text.stdout and text.returncode == 1
    subprocess.run(["fail2ban-client", "-c", str(conf), "stop"], check=True, capture_output=True)
    text, found, _ = doctor(tmp_path, conf, "--auth-log", auth)
    assert "fail2ban is not running" in text.stdout and text.returncode == 1


def test_doctor_checks_the_syslog_daemon_behind_the_target(setup, tmp_path):
    _, conf, spam, _ = setup
    # The auth jails read the system auth log, and nothing listens on the target: a problem.
    conf2 = copy_fail2ban(tmp_path / "f2b-syslog")
    (conf2 / "jail.local").write_text("[sshd]\nenabled = false\n")
    sidecar("install", "--fail2ban-dir", conf2, "--spam-log", spam, "--auth-source", "file", "--no-validate")
    p = sidecar("doctor", "--json", "--fail2ban-dir", conf2, "--php", "/nonexistent/php",
                "--php-fpm", "/nonexistent/php-fpm", check=False)
    syslog = [f for f in json.loads(p.stdout) if f["check"] == "syslog"]
    assert syslog, p.stdout
    if not os.path.exists("/dev/log"):
        assert syslog[0]["status"] == "fail" and "not a socket" in syslog[0]["detail"]


@pytest.fixture(scope="module")
def wp_site():
    """The real WordPress stack, banlog active (its options set by each test)."""
    s = Stack(log=lambda *a: None)
    s.start()
    yield s
    s.stop()


def test_doctor_wp_reads_the_plugins_paths_through_wordpress(setup, wp_site):
    """`--wp DIR`: the plugin's spam and auth paths come from WordPress itself (wp-load.php, the
    plugin's effective settings), not from the command line."""
    tmp_path, conf, spam, auth = setup
    wp_site.banlog_options(spam_log=str(spam), auth_log=str(auth), syslog=0)
    wp = ["--wp", wp_site.docroot, "--wp-host", wp_site.host_header]
    text, found, _ = doctor(tmp_path, conf, *wp)
    assert text.returncode == 0, text.stdout + text.stderr
    assert text.stdout.rstrip().splitlines()[-1] == "doctor: all good", text.stdout
    assert f"the plugin is active in {wp_site.docroot}; it writes spam to {spam}" in text.stdout
    assert ("wordpress", "ok") in found and ("paths agree", "ok") in found

    # The plugin's spam path differs from the jail's logpath: reported, with both paths, rc 1.
    other = tmp_path / "logs/other-spam.log"
    wp_site.banlog_options(spam_log=str(other))
    text, found, js = doctor(tmp_path, conf, *wp)
    assert text.returncode == 1 and ("paths agree", "fail") in found, text.stdout
    assert f"WordPress writes spam to {other} but the banlog-spam jail reads {spam}" in text.stdout
    assert f"banlog install --spam-log {other} --reload" in text.stdout
    assert text.stdout.rstrip().splitlines()[-1].startswith("doctor: "), text.stdout
    assert not text.stdout.rstrip().endswith("all good")

    # The same for the auth file.
    wp_site.banlog_options(spam_log=str(spam), auth_log=str(tmp_path / "logs/other-auth.log"))
    text, found, _ = doctor(tmp_path, conf, *wp)
    assert text.returncode == 1, text.stdout
    assert f"WordPress writes auth lines to {tmp_path / 'logs/other-auth.log'} but the auth jails read {auth}" \
        in text.stdout


def test_doctor_wp_fails_when_the_plugin_is_not_active(setup, wp_site):
    tmp_path, conf, spam, auth = setup
    wp_site.banlog_options(spam_log=str(spam), auth_log=str(auth), syslog=0)
    wp_site.deactivate_plugin("banlog/banlog.php")
    try:
        text, found, _ = doctor(tmp_path, conf, "--wp", wp_site.docroot, "--wp-host", wp_site.host_header)
    finally:
        wp_site.activate_plugin("banlog/banlog.php")
    assert text.returncode == 1 and ("wordpress", "fail") in found, text.stdout
    assert f"the banlog plugin is not active in {wp_site.docroot}" in text.stdout
