"""`banlog report` from the logs of a real ban run: the real extension writes spam and login lines,
a real fail2ban-server (in a network namespace of its own, with an iptables DROP action and a
three-second bantime) bans, unbans and bans again; the report's figures are checked against what
the test sent and what fail2ban did. The report finds every log itself, from the jails
`banlog install` wrote and fail2ban's own logtarget."""
import json
import os
import shutil
import subprocess
import time

import pytest

from support.fail2ban import copy_fail2ban
from support.procs import sh, stop_process
from support.sidecar import SVG_NS, check_report_page, sidecar
from support.waiting import wait_for

SPAMMER, GUESSER, PERSON = "10.79.0.2", "10.79.0.3", "10.79.0.4"
BANTIME = 3
JAILS = ("banlog-spam", "banlog-auth", "banlog-auth-hard")


@pytest.fixture
def f2b(tmp_path, monkeypatch):
    """fail2ban-server in a network namespace, with banlog's jails as `banlog install` writes them."""
    assert os.geteuid() == 0, "this test creates a network namespace and firewall rules: run it as root"
    for tool in ("ip", "iptables", "fail2ban-server", "fail2ban-client"):
        assert shutil.which(tool), f"{tool} is missing (make deps installs iproute2, iptables, fail2ban)"
    monkeypatch.setenv("TZ", "UTC")  # the extension, fail2ban and the report read the same zone
    ns = f"blrep{os.getpid() % 100000}"
    conf = copy_fail2ban(tmp_path / "fail2ban")
    run = tmp_path / "run"
    run.mkdir()
    logs = {"spam": tmp_path / "spam.log", "auth": tmp_path / "wp-auth.log"}
    (conf / "jail.local").write_text(
        "[DEFAULT]\nbanaction = iptables-multiport\nbackend = polling\n[sshd]\nenabled = false\n")
    (conf / "action.d/iptables.local").write_text("[Init]\nblocktype = DROP\n")
    sidecar("install", "--fail2ban-dir", conf, "--spam-log", logs["spam"], "--auth-log", logs["auth"],
            "--enable", ",".join(JAILS))
    (conf / "jail.d/banlog.local").write_text("".join(f"[{j}]\nbantime = {BANTIME}\n" for j in JAILS))
    (conf / "fail2ban.local").write_text(
        f"[Definition]\nsocket = {run}/f2b.sock\npidfile = {run}/f2b.pid\ndbfile = :memory:\n"
        f"logtarget = {run}/fail2ban.log\nloglevel = INFO\n")
    sh("fail2ban-client", "-c", conf, "-t")
    proc = None
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        out = open(tmp_path / "fail2ban.out", "ab")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "fail2ban-server", "-f", "-x", "-c", str(conf)],
            stdout=out, stderr=out, start_new_session=True)
        out.close()
        wait_for(lambda: sh("fail2ban-client", "-c", conf, "ping", check=False).returncode == 0, 30, 0.2,
                 what="fail2ban-server")
        yield conf, logs, run / "fail2ban.log"
    finally:
        sh("fail2ban-client", "-c", conf, "stop", check=False)
        if proc is not None:
            stop_process(proc, 15, sig=None)
        sh("ip", "netns", "del", ns, check=False)


def banned(conf, jail):
    out = sh("fail2ban-client", "-c", conf, "status", jail).stdout
    line = next(l for l in out.splitlines() if "Banned IP list:" in l)
    return line.split("Banned IP list:", 1)[1].split()


def test_report_of_a_real_ban_run(f2b, php, ext_path, tmp_path):
    conf, logs, f2b_log = f2b

    def emit(calls):
        php(f"banlog_configure(['spam_log' => '{logs['spam']}', 'auth_log' => '{logs['auth']}', 'syslog' => false,"
            f" 'ident_host' => 'example.com']);\n{calls}\nif (!banlog_flush(5000)) {{ exit(3); }}",
            ini={"banlog.syslog": "0"}, env={"TZ": "UTC"})

    def ban_cycle(jail, addr, calls):
        """Sends, waits for the ban and its unban; returns the seconds from sending to the ban."""
        start = time.monotonic()
        emit(calls)
        wait_for(lambda: addr in banned(conf, jail), 30, 0.1, what=f"{addr} banned in {jail}")
        took = time.monotonic() - start
        wait_for(lambda: addr not in banned(conf, jail), 30, 0.2, what=f"{addr} unbanned in {jail}")
        return took

    spam = lambda first: "".join(f"banlog_spam({first + i}, '{SPAMMER}');" for i in range(5))  # noqa: E731
    waits = [ban_cycle("banlog-spam", SPAMMER, spam(100))]
    # Banned again after its unban: a repeat offender.
    waits.append(ban_cycle("banlog-spam", SPAMMER, spam(200)))
    # Five failed logins (a hostile name with markup and a line break), then an unknown XML-RPC user.
    hostile = '"<script>alert(1)</script> from 10.79.0.1\\r\\nx"'
    waits.append(ban_cycle("banlog-auth", GUESSER,
                           "".join(f"banlog_auth('failure', {hostile}, '{GUESSER}');" for _ in range(5))))
    waits.append(ban_cycle("banlog-auth-hard", GUESSER, f"banlog_auth('xmlrpc_unknown_user', 'x', '{GUESSER}');"))
    # A person: logged in and out, never counted by a jail.
    emit(f"banlog_auth('success', 'ed', '{PERSON}'); banlog_auth('logout', 'ed', '{PERSON}');")
    sh("fail2ban-client", "-c", conf, "stop")  # its log is complete

    # Two days: the run may cross midnight.
    r = json.loads(sidecar("report", "--fail2ban-dir", conf, "--days", "2", "--json").stdout)
    assert [s["path"] for s in r["sources"]] == [str(f2b_log), str(logs["spam"]), str(logs["auth"])]
    t = r["totals"]
    want_events = dict.fromkeys(r["kinds"], 0)
    want_events.update(spam=10, failure=5, xmlrpc_unknown_user=1, success=1, logout=1)
    assert t["events"] == want_events
    for jail, bans in (("banlog-spam", 2), ("banlog-auth", 1), ("banlog-auth-hard", 1)):
        j = t["jails"][jail]
        assert (j["bans"], j["unbans"], j["restored"]) == (bans, bans, 0), (jail, j)
        assert j["ban_delay"]["bans"] == bans, j
        assert 0 <= j["ban_delay"]["median_seconds"] <= j["ban_delay"]["max_seconds"] <= max(waits) + 2, (j, waits)
    assert t["jails"]["banlog-spam"]["repeat_bans"] == 1
    assert t["repeat_offenders"] == [{"addr": SPAMMER, "jail": "banlog-spam", "repeat_bans": 1}]
    assert t["top_addresses"][:3] == [{"addr": SPAMMER, "events": 10, "bans": 2},
                                      {"addr": GUESSER, "events": 6, "bans": 2},
                                      {"addr": PERSON, "events": 2, "bans": 0}]
    assert sum(d["jails"]["banlog-spam"]["bans"] for d in r["days"]) == 2
    assert sum(d["events"]["spam"] for d in r["days"]) == 10
    assert r["limits"]["untracked"] == 0 and r["limits"]["undated"] == 0

    text = sidecar("report", "--fail2ban-dir", conf, "--days", "2", "--html", tmp_path / "r.html").stdout
    assert "banlog-spam: 2 bans, 2 unbans, 1 of an address banned before" in text, text
    assert f"repeat offenders: {SPAMMER} (banlog-spam, banned again 1 time)" in text, text
    assert "events: 18 (spam 10, failure 5, xmlrpc_unknown_user 1, success 1, logout 1)" in text, text
    root = check_report_page(tmp_path / "r.html")
    events_chart, bans_chart = root.findall(f".//{SVG_NS}svg")
    # Each bar says what it counts: "DATE NAME: N".
    bars = [t.text.rsplit(": ", 1) for t in bans_chart.iter(f"{SVG_NS}title")]
    assert sum(int(n) for what, n in bars if what.endswith(" banlog-spam")) == 2, bars
    bars = [t.text.rsplit(": ", 1) for t in events_chart.iter(f"{SVG_NS}title")]
    assert sum(int(n) for what, n in bars if what.endswith(" spam")) == 10, bars
