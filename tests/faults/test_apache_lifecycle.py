"""The extension's life under Apache's prefork MPM with mod_php (support.apache.ModPhp: Apache on a
loopback port of its own, serving the WordPress stack's site), under the same HTTP load and with
the same accounting as php-fpm's (test_fpm_lifecycle.py: failed logins and spam comments, each
from its own address, traced to three places: the spam log, the auth_log file and rsyslog):

- graceful restarts (`apache2 -k graceful`): the parent process stays and reruns every module's
  start-up, PHP's and so banlog's minit, a second time in the same process;
- `MaxConnectionsPerChild` recycling: a child exits after a few connections, the parent forks
  another;
- SIGKILL of the child right after it answered.

The bar: every request that got its response has its lines, once; no child crashes.
"""
import json
import pathlib
import time

import pytest

from support.apache import ModPhp
from test_fpm_lifecycle import MIN_REQUESTS, SECONDS, KillAfterResponse, Load, account, stack  # noqa: F401  (stack: a fixture)

STACK_ARGS = dict(max_requests=0, max_children=1)


class Site:
    """The stack as the load and the accounting see it, but served by Apache."""

    def __init__(self, stack, apache):
        self._stack = stack
        self.apache = apache

    def client(self, source="127.0.0.1"):
        return self.apache.client(source)

    def __getattr__(self, name):
        return getattr(self._stack, name)


@pytest.fixture
def apache(request, stack, ext_so):
    a = ModPhp(stack, ext_so, **getattr(request, "param", {}))
    a.start()
    yield a
    a.stop()


def pool_view(apache):
    """banlog_stats()['pool'] and the pid, as one Apache child sees them."""
    s = apache.stack
    r = apache.client().post("/wp-admin/admin-ajax.php", {
        "action": "banlog_test_eval", "secret": s.secret,
        "code": "echo json_encode(['pid' => getmypid(), 'pool' => banlog_stats()['pool']]);"})
    assert r.status == 200, (r.status, r.text[:2000])
    return json.loads(r.text)


def test_apache_graceful_restart_under_load(stack, apache, figures):
    """`apache2 -k graceful` every ~1.5 s while the clients run."""
    restarts = []

    def during(t_end):
        time.sleep(1.0)
        while time.monotonic() < t_end - 1.0:
            before = set(apache.worker_pids())
            apache.graceful()
            restarts.append((before, set(apache.worker_pids())))
            time.sleep(1.5)

    records = Load(Site(stack, apache), "ag").run(SECONDS, during)
    fig, problems = account(stack, records, "ag")
    served_by = {r.get("worker") for r in records if r["status"] == r["want"]}
    figures(**fig, graceful_restarts=apache.restarts(), children_seen=len(served_by),
            crashes=len(apache.crashes()))
    assert len(restarts) >= 2 and apache.restarts() == len(restarts)
    # The parent is the same process throughout. Each restart brought a new generation: a child
    # of an old one finishes the request it has, then exits (so it may still be there when the
    # parent resumes), and none is left now.
    assert apache.proc.poll() is None
    old = set().union(*(before for before, _ in restarts))
    assert not old & set(apache.worker_pids()), (old, apache.worker_pids())
    assert len(served_by) >= len(restarts) + 1, served_by
    assert fig["sent_logins"] >= MIN_REQUESTS / 3 and fig["sent_spam"] >= MIN_REQUESTS / 6, fig
    assert not problems, problems
    assert not apache.crashes(), apache.log_text()[-3000:]
    assert fig["cut_requests"] == 0, fig["cut_statuses"]


@pytest.mark.parametrize("apache", [dict(max_connections_per_child=3)], indirect=True)
def test_apache_max_connections_per_child_recycling(stack, apache, figures):
    """MaxConnectionsPerChild 3 with 2 children (no keep-alive: one request per connection)."""
    records = Load(Site(stack, apache), "am").run(SECONDS)
    fig, problems = account(stack, records, "am")
    children = {r.get("worker") for r in records}
    figures(**fig, max_connections_per_child=3, children_seen=len(children), crashes=len(apache.crashes()))
    # At most 3 requests per child: the records alone prove the recycling.
    assert len(children) >= len(records) / 3, (len(children), len(records))
    assert fig["sent_logins"] >= MIN_REQUESTS / 3 and fig["sent_spam"] >= MIN_REQUESTS / 6, fig
    assert not problems, problems
    assert not apache.crashes(), apache.log_text()[-3000:]
    assert fig["cut_requests"] == 0, fig["cut_statuses"]


def test_apache_child_killed_right_after_its_response(stack, apache, figures):
    """The client thread that got a response sends SIGKILL to the child that served it, then looks
    for the request's line in the files at once: it must be there already."""
    kill = KillAfterResponse(stack)
    records = Load(Site(stack, apache), "ak", on_response=kill).run(SECONDS)
    killed = kill.killed
    fig, problems = account(stack, records, "ak")
    missing = [k for k in killed if not k[3]]
    figures(**fig, children_killed=len(killed), killed_requests_on_disk_at_once=len(killed) - len(missing))
    assert len(killed) >= 5, killed
    # Killed children are gone (the parent forked others).
    assert not {w for w, *_ in killed} & set(apache.worker_pids())
    assert not missing, f"lines not on disk when the child was killed: {missing}"
    assert not problems, problems
    assert not apache.crashes(), apache.log_text()[-3000:]


def test_pool_figures_across_graceful_restarts(stack, apache):
    """The pool's shared mapping is made in minit, in the parent; a graceful restart runs minit
    again in that same process. The children of every generation must keep sharing one set of
    figures, and the parent must not gain a mapping per restart."""
    def events(n, tag):
        for i in range(n):
            c = apache.client("127.0.9.%d" % (i + 2))
            c.cookies["wordpress_test_cookie"] = "WP%20Cookie%20check"
            assert c.post("/wp-login.php", {"log": f"{tag}-{i}", "pwd": "x", "testcookie": "1"}).status == 200

    def mappings(size):
        """The parent's shared anonymous mappings of the pool's size."""
        out = []
        for m in pathlib.Path(f"/proc/{apache.master_pid}/maps").read_text().splitlines():
            start, end = (int(x, 16) for x in m.split()[0].split("-"))
            if " rw-s " in m and end - start == size and m.rstrip().endswith("(deleted)"):
                out.append(m)
        return out

    view = pool_view(apache)
    first, size = view["pool"]["accepted"], view["pool"]["memory_bytes"]
    events(3, "pg0")
    mapped = mappings(size)
    assert len(mapped) == 1, mapped
    for g in range(1, 4):
        apache.graceful()
        events(3, f"pg{g}")
    views = [pool_view(apache) for _ in range(4)]
    assert {v["pool"]["accepted"] for v in views} == {first + 12}, views
    assert mappings(size) == mapped, (mapped, mappings(size))
    assert not apache.crashes(), apache.log_text()[-3000:]
