"""php-fpm's process lifecycle under HTTP load on the real WordPress stack: graceful reloads
(SIGUSR2 to the master), pm.max_requests recycling, and workers killed with SIGKILL right after
they answered. Client threads fail logins on wp-login.php and post comments a spam filter marks
as spam, each request from its own loopback address, so every line is traced to its request.

The bar (README.md, "How it behaves"): every request that got its response has its lines, once: in the spam log, in
the auth_log file and in rsyslog's file. Requests php-fpm cut (a 502) are counted apart: their
visitor got no answer, and a line of theirs may or may not exist, but never twice.
"""
import collections
import os
import re
import shutil
import signal
import threading
import time

import pytest

from faulthelp import LONG
from support.http import new_source
from support.waiting import seconds_until
from support.wordpress import WEB_USER
from support.wplog import SYSLOG_RE

# Unlimited max_requests unless a test sets it: a reload test should not also be a recycling test.
# A graceful reload needs process_control_timeout: php-fpm's default (0) sends SIGTERM to busy
# workers at once (see test_reload_with_the_default_timeout_cuts_requests).
STACK_ARGS = dict(max_requests=0, process_control_timeout=10)
# BANLOG_REQUEST_WAIT_MS=0 turns off the wait at request shutdown: the SIGKILL test then loses lines
# (3 of 52 killed requests in one run), which shows what it measures.
if os.environ.get("BANLOG_REQUEST_WAIT_MS"):
    STACK_ARGS["fpm_ini"] = {"banlog.request_wait_ms": os.environ["BANLOG_REQUEST_WAIT_MS"]}
SECONDS = 30.0 if LONG else 6.0
THREADS = 4
SPAM_EVERY = 3  # one request in three posts a spam comment, the others fail a login
MIN_REQUESTS = 150  # per run, however slow the machine

AUTH_RE = re.compile(r"Authentication attempt for unknown user (\S+) from (\S+)$")
SPAM_HOST_RE = re.compile(r" comment id=\d+ from host=(\S+) marked as spam$")


@pytest.fixture
def stack(wp_stack):
    logs = wp_stack.workdir / "logs"
    logs.mkdir(exist_ok=True)
    shutil.chown(logs, WEB_USER, WEB_USER)
    wp_stack.configure_logging()
    # auth lines also to a file: unlike rsyslog's, it is written before the response (the worker's
    # writer thread, waited for at request shutdown), so it can be read the moment a worker dies
    wp_stack.banlog_options(auth_log=str(logs / "auth.log"))
    wp_stack.auth_log = logs / "auth.log"
    return wp_stack


def _fpm(stack, **settings):
    """Sets php-fpm settings of the extension's pool (reloading it) when they differ."""
    if any(getattr(stack, k) != v for k, v in settings.items()):
        stack.reconfigure_fpm(names=("ext",), **settings)


class Load:
    """THREADS client threads, each request a failed login or a spam comment from a new address."""

    def __init__(self, stack, tag, on_response=None):
        self.stack = stack
        self.tag = tag
        self.on_response = on_response
        self.records = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.errors = []

    def _one(self, k, i):
        source = new_source()
        c = self.stack.client(source)
        rec = {"source": source, "thread": k, "i": i}
        try:
            if i % SPAM_EVERY == 0:
                rec.update(kind="spam", name=f"{self.tag}-{k}-{i}", want=302)
                r = c.post_comment(1, f"Bot {rec['name']}", f"{rec['name']}@example.com",
                                   f"cheap pills {rec['name']} FILTER-SPAM")
            else:
                rec.update(kind="auth", name=f"{self.tag}-{k}-{i}", want=200)
                c.cookies["wordpress_test_cookie"] = "WP%20Cookie%20check"
                r = c.post("/wp-login.php", {"log": rec["name"], "pwd": "wrong", "testcookie": "1"})
            rec["status"] = r.status
            rec["worker"] = int(r.header("X-Banlog-Worker") or 0)
        except OSError as e:  # a connection php-fpm or nginx cut
            rec["status"] = type(e).__name__
            r = None
        rec["done"] = time.monotonic()
        with self.lock:
            self.records.append(rec)
        if r is not None and rec["status"] == rec["want"] and self.on_response:
            self.on_response(rec)

    def _thread(self, k):
        i = 0
        try:
            while not self.stop.is_set():
                i += 1
                self._one(k, i)
        except Exception as e:  # noqa: BLE001  (reported by run())
            self.errors.append(repr(e))

    def run(self, seconds, during=None, min_requests=MIN_REQUESTS):
        """Runs the load for `seconds`, longer on a slow machine until `min_requests` were made;
        `during(t_end)` runs meanwhile in this thread."""
        threads = [threading.Thread(target=self._thread, args=(k,), daemon=True) for k in range(THREADS)]
        for t in threads:
            t.start()
        t_end = time.monotonic() + seconds
        try:
            if during:
                during(t_end)
            while time.monotonic() < t_end or (len(self.records) < min_requests and time.monotonic() < t_end + 120):
                time.sleep(0.05)
        finally:
            self.stop.set()
            for t in threads:
                t.join(120)
        assert not self.errors, self.errors
        return self.records


def _auth_lines(lines, tag):
    c = collections.Counter()
    for l in lines:
        m = AUTH_RE.search(l)
        if m and m.group(1).startswith(tag + "-"):
            c[(m.group(1), m.group(2))] += 1
    return c


def _syslog_messages(stack):
    return [m.group(4) for m in map(SYSLOG_RE.match, stack.rsyslog.lines()) if m]


def account(stack, records, tag, wait=10.0, twice_in_syslog=frozenset()):
    """Compares the requests with the lines of the three places; returns the figures.
    `twice_in_syslog`: requests whose syslog line may come twice, never more (see KillAfterResponse)."""
    sent = [r for r in records if r["status"] == r["want"]]
    cut = [r for r in records if r["status"] != r["want"]]
    sent_auth = {(r["name"], r["source"]) for r in sent if r["kind"] == "auth"}
    sent_spam = {r["source"] for r in sent if r["kind"] == "spam"}
    all_auth = {(r["name"], r["source"]) for r in records if r["kind"] == "auth"}
    all_spam = {r["source"] for r in records if r["kind"] == "spam"}
    # The files are written before each response; rsyslog writes what it received on its own time.
    file_auth = _auth_lines(stack.auth_log.read_text(errors="replace").splitlines(), tag)
    spam = collections.Counter(m.group(1) for m in map(SPAM_HOST_RE.search, stack.spam_lines())
                               if m and m.group(1) in all_spam)
    seconds_until(lambda: sent_auth <= set(_auth_lines(_syslog_messages(stack), tag)), wait, interval=0.1)
    time.sleep(0.3)  # a line twice would be there by now
    syslog_auth = _auth_lines(_syslog_messages(stack), tag)

    fig = {"requests": len(records), "sent_logins": len(sent_auth), "sent_spam": len(sent_spam),
           "cut_requests": len(cut),
           "cut_statuses": dict(collections.Counter(str(r["status"]) for r in cut))}
    problems = []
    for where, found, want, every in (("auth_log file", file_auth, sent_auth, all_auth),
                                      ("rsyslog", syslog_auth, sent_auth, all_auth),
                                      ("spam log", spam, sent_spam, all_spam)):
        key = where.split()[0].replace("-", "_")
        lost = sorted(want - set(found))
        allowed = twice_in_syslog if where == "rsyslog" else frozenset()
        twice = sorted(k for k, n in found.items() if n > 2 or (n > 1 and k not in allowed))
        foreign = sorted(set(found) - every)
        fig[f"{key}_lines_found"] = sum(found[k] for k in want if k in found)
        fig[f"{key}_lost"] = len(lost)
        fig[f"{key}_lines_of_cut_requests"] = sum(found[k] for k in set(found) - want)
        if allowed:
            fig[f"{key}_twice_after_kill"] = sum(1 for k, n in found.items() if n == 2 and k in allowed)
        if lost:
            problems.append(f"{where}: {len(lost)} of {len(want)} lost, e.g. {lost[:5]}")
        if twice:
            problems.append(f"{where}: {len(twice)} written twice, e.g. {twice[:5]}")
        if foreign:
            problems.append(f"{where}: lines no request of this run made: {foreign[:5]}")
    return fig, problems


def test_graceful_reload_under_load(stack, figures):
    """SIGUSR2 to the master every ~1.5 s while the clients run: the master re-executes itself,
    old workers finish their request and exit, new ones take over."""
    _fpm(stack, max_requests=0, process_control_timeout=10)
    reloads = []

    def during(t_end):
        time.sleep(1.0)
        while time.monotonic() < t_end - 1.0:
            before = set(stack.fpm_worker_pids())
            t0 = time.monotonic()
            stack.reload_fpm()
            reloads.append((time.monotonic() - t0, before, set(stack.fpm_worker_pids())))
            time.sleep(1.5)

    records = Load(stack, "rl").run(SECONDS, during)
    fig, problems = account(stack, records, "rl")
    served_by = collections.Counter(r.get("worker") for r in records if r["status"] == r["want"])
    figures(**fig, reloads=len(reloads), reload_s_max=round(max((r[0] for r in reloads), default=0), 3),
            workers_seen=len(served_by))
    assert len(reloads) >= 2
    # Each reload replaced the workers: the load really ran across the generations.
    assert all(not (before & after) for _, before, after in reloads), reloads
    assert len(served_by) >= 2 * (len(reloads) + 1) - 1, served_by
    assert fig["sent_logins"] >= MIN_REQUESTS / 3 and fig["sent_spam"] >= MIN_REQUESTS / 6, fig
    assert not problems, problems
    # With process_control_timeout the reload is graceful: no request was cut.
    assert fig["cut_requests"] == 0, fig["cut_statuses"]


def test_reload_with_the_default_timeout_cuts_requests(stack, figures):
    """php-fpm's default process_control_timeout (0, also Debian's) turns a reload's SIGQUIT into
    SIGTERM at once: busy workers die mid-request and nginx answers 502. Those visitors got no
    answer; every request that was answered still has its lines."""
    _fpm(stack, max_requests=0, process_control_timeout=0)
    reloads = []

    def during(t_end):
        time.sleep(1.0)
        while time.monotonic() < t_end - 1.0:
            stack.reload_fpm()
            reloads.append(1)
            time.sleep(1.0)

    try:
        records = Load(stack, "rd").run(SECONDS, during)
    finally:
        _fpm(stack, process_control_timeout=10)
    fig, problems = account(stack, records, "rd")
    figures(**fig, reloads=len(reloads))
    assert len(reloads) >= 2 and fig["sent_logins"] >= MIN_REQUESTS / 3, fig
    assert not problems, problems


def test_max_requests_recycling_under_load(stack, figures):
    """pm.max_requests = 3 with 2 workers: a worker exits (and the master forks another) every
    third request, dozens of times a second."""
    _fpm(stack, max_requests=3, process_control_timeout=10)
    log_before = len(stack.fpm_log())
    try:
        records = Load(stack, "mr").run(SECONDS)
    finally:
        _fpm(stack, max_requests=0)
    fig, problems = account(stack, records, "mr")
    log = stack.fpm_log()[log_before:]
    recycled = sum(bool(re.search(r"child \d+ exited with code 0", l)) for l in log)
    workers = len({r.get("worker") for r in records})
    figures(**fig, max_requests=3, workers_recycled=recycled, workers_seen=workers)
    # At most 3 requests per worker: the records alone prove the recycling.
    assert workers >= len(records) / 3, (workers, len(records))
    assert recycled >= len(records) / 3 - 4, recycled
    assert fig["sent_logins"] >= MIN_REQUESTS / 3 and fig["sent_spam"] >= MIN_REQUESTS / 6, fig
    assert not problems, problems
    assert fig["cut_requests"] == 0, fig["cut_statuses"]


KILL_EVERY = 10  # per client thread


class KillAfterResponse:
    """A Load's on_response: every KILL_EVERY-th response, SIGKILL to the worker that served it,
    then at once (no wait) whether the request's line is in the files already. `killed` holds
    (worker, kind, source, on_disk) per kill, `logins` the (name, source) of the killed logins.

    Under php-fpm the worker sends its syslog line just after the response (from its journal); a
    kill between that send and the journal's emptying leaves the line to be sent again by the
    worker that takes the journal over: such a line may come twice (at least once), never more."""

    def __init__(self, stack):
        self.stack = stack
        self.killed = []
        self.logins = set()
        self.lock = threading.Lock()

    def __call__(self, rec):
        if rec["i"] % KILL_EVERY or not rec["worker"]:
            return
        try:
            os.kill(rec["worker"], signal.SIGKILL)
        except ProcessLookupError:
            return
        if rec["kind"] == "auth":
            needle = f"unknown user {rec['name']} from {rec['source']}"
            on_disk = needle in self.stack.auth_log.read_text(errors="replace")
        else:
            needle = f" from host={rec['source']} marked as spam"
            on_disk = needle in self.stack.spam_log.read_text(errors="replace")
        with self.lock:
            self.killed.append((rec["worker"], rec["kind"], rec["source"], on_disk))
            if rec["kind"] == "auth":
                self.logins.add((rec["name"], rec["source"]))


def test_worker_killed_right_after_its_request(stack, figures):
    """The client thread that got a response sends SIGKILL to the worker that served it (named in
    the response) at once, then looks for the request's line in the files without waiting: the
    extension's request shutdown waited until the line was written, so it is there. Its syslog
    line was sent after the response or is in the dead worker's journal, which another worker
    sends: account() finds it in rsyslog's file."""
    _fpm(stack, max_requests=0, process_control_timeout=10)
    kill = KillAfterResponse(stack)
    log_before = len(stack.fpm_log())
    records = Load(stack, "kl", on_response=kill).run(SECONDS)
    killed = kill.killed
    fig, problems = account(stack, records, "kl", twice_in_syslog=kill.logins)
    log = "\n".join(stack.fpm_log()[log_before:])
    by_signal = {w for w, *_ in killed if re.search(rf"child {w} exited on signal 9 \(SIGKILL\)", log)}
    missing = [k for k in killed if not k[3]]
    figures(**fig, workers_killed=len(killed), killed_requests_on_disk_at_once=len(killed) - len(missing))
    assert len(killed) >= 5, killed
    # The signal really ended those workers (not an exit of their own).
    assert by_signal == {w for w, *_ in killed}, (killed, log[-2000:])
    assert not missing, f"lines not on disk when the worker was killed: {missing}"
    assert not problems, problems
