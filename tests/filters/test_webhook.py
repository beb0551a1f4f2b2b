"""action.d/banlog-webhook.conf with a real fail2ban-server (its own configuration folder and socket,
the dummy banaction, so no firewall is touched) banning from a spam log: a local HTTP receiver
started here gets the ban's JSON and, after `unbanip`, the unban's. A second jail posts to an
endpoint that accepts the connection and never answers: its ban stands all the same, and the
failed post is fail2ban's logged error once curl has given up."""
import datetime
import http.server
import json
import shutil
import socket
import subprocess
import threading
import time

import pytest

from support.fail2ban import copy_fail2ban_with_filters
from support.paths import FILTERS
from support.procs import sh, stop_process
from support.waiting import seconds_until, wait_for

ATTACKER = "203.0.113.77"
# Admin-chosen, still escaped: a jail name with the two characters JSON must escape.
ODD_JAIL = 'spam-"q"\\x'


class Receiver:
    """A webhook endpoint on 127.0.0.1: keeps every POST (path, headers, body)."""

    def __init__(self):
        self.posts, self.lock = [], threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    outer.posts.append((self.path, dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self, path):
        with self.lock:
            return [json.loads(b) for p, _, b in self.posts if p == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def spam_line(i):
    return f"{time.strftime('%Y-%m-%d %H:%M:%S')} comment id={500 + i} from host={ATTACKER} marked as spam\n"


def banned(conf, jail):
    out = sh("fail2ban-client", "-c", conf, "status", jail).stdout
    line = next(l for l in out.splitlines() if "Banned IP list:" in l)
    return line.split("Banned IP list:", 1)[1].split()


def test_ban_and_unban_are_posted(tmp_path, receiver):
    for tool in ("fail2ban-server", "fail2ban-client", "curl"):
        assert shutil.which(tool), f"{tool} is missing (scripts/deps/test.txt)"
    conf = copy_fail2ban_with_filters(tmp_path / "fail2ban", jails=True)
    shutil.copy(FILTERS / "action.d/banlog-webhook.conf", conf / "action.d/banlog-webhook.conf")
    run = tmp_path / "run"
    run.mkdir()
    spam_log = tmp_path / "spam.log"
    spam_log.touch()
    # An endpoint that takes the connection and never answers.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    url = f"http://127.0.0.1:{receiver.port}/hook?team=ops"
    dead_url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
    (conf / "jail.local").write_text(
        "[DEFAULT]\nbanaction = dummy\nbackend = polling\n[sshd]\nenabled = false\n"
        f"[banlog-spam]\nenabled = true\nlogpath = {spam_log}\n"
        f'action = dummy[target="{tmp_path}/dummy-spam"]\n'
        f'         banlog-webhook[url="{url}"]\n'
        # The same log: a jail whose name needs JSON escapes, and one posting to a silent
        # endpoint with a short curl timeout.
        f"[{ODD_JAIL}]\nenabled = true\nfilter = banlog-spam\nlogpath = {spam_log}\n"
        f'action = dummy[target="{tmp_path}/dummy-odd"]\n'
        f'         banlog-webhook[url="http://127.0.0.1:{receiver.port}/odd"]\n'
        f"[silent]\nenabled = true\nfilter = banlog-spam\nlogpath = {spam_log}\n"
        f'action = dummy[target="{tmp_path}/dummy-dead"]\n'
        f'         banlog-webhook[url="{dead_url}", curl_timeout=2, connect_timeout=1]\n')
    (conf / "fail2ban.local").write_text(
        f"[Definition]\nsocket = {run}/f2b.sock\npidfile = {run}/f2b.pid\ndbfile = :memory:\n"
        f"logtarget = {run}/fail2ban.log\nloglevel = INFO\n")
    sh("fail2ban-client", "-c", conf, "-t")
    f2b = subprocess.Popen(["fail2ban-server", "-f", "-x", "-c", str(conf)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    f2blog = lambda: (run / "fail2ban.log").read_text() if (run / "fail2ban.log").exists() else ""  # noqa: E731
    try:
        assert seconds_until(lambda: sh("fail2ban-client", "-c", conf, "ping", check=False).returncode == 0,
                             30, 0.2) is not None, f2blog() or "fail2ban-server did not start"
        started = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        with spam_log.open("a") as f:
            f.write("".join(spam_line(i) for i in range(4)))
        time.sleep(3)  # several polling rounds: four is below maxretry
        assert banned(conf, "banlog-spam") == [] and receiver.posts == []

        with spam_log.open("a") as f:
            f.write(spam_line(4))
        hook = lambda: receiver.bodies("/hook?team=ops")  # noqa: E731
        wait_for(hook, 30, 0.1, what="the ban's post")
        _, headers, _ = next(p for p in receiver.posts if p[0] == "/hook?team=ops")
        assert headers.get("Content-Type") == "application/json"
        ban = hook()[0]
        assert set(ban) == {"text", "event", "jail", "address", "failures", "time"}, ban
        assert (ban["event"], ban["jail"], ban["address"], ban["failures"]) == ("ban", "banlog-spam", ATTACKER, 5)
        assert f"banned {ATTACKER} in jail banlog-spam after 5 failures" in ban["text"]
        when = datetime.datetime.strptime(ban["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
        assert started <= when <= datetime.datetime.now(datetime.timezone.utc)
        assert ATTACKER in banned(conf, "banlog-spam")

        sh("fail2ban-client", "-c", conf, "set", "banlog-spam", "unbanip", ATTACKER)
        wait_for(lambda: len(hook()) >= 2, 30, 0.1, what="the unban's post")
        unban = hook()[1]
        assert (unban["event"], unban["jail"], unban["address"]) == ("unban", "banlog-spam", ATTACKER), unban
        assert f"unbanned {ATTACKER} in jail banlog-spam" in unban["text"]
        assert len(hook()) == 2

        # The odd jail name arrives intact, as valid JSON.
        odd = wait_for(lambda: receiver.bodies("/odd"), 30, 0.1, what="the odd jail's post")[0]
        assert (odd["jail"], odd["address"], odd["failures"]) == (ODD_JAIL, ATTACKER, 5), odd
        assert f"in jail {ODD_JAIL} after 5" in odd["text"]

        # The silent endpoint: the ban is in force (the dummy action ran, fail2ban lists it)
        # however long curl waits, and the failure is logged once curl gives up.
        assert ATTACKER in banned(conf, "silent")
        dead = tmp_path / "dummy-dead"
        wait_for(lambda: dead.exists() and f"+{ATTACKER}" in dead.read_text(), 10, 0.1, what="the dummy ban")
        wait_for(lambda: "banlog-webhook" in f2blog() and "timed out" in f2blog(), 30, 0.2,
                 what="the failed post in fail2ban's log")
        assert {p[0] for p in receiver.posts} == {"/hook?team=ops", "/odd"}
    finally:
        sh("fail2ban-client", "-c", conf, "stop", check=False)
        stop_process(f2b)
        silent.close()
