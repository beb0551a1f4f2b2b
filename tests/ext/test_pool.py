"""Pool-wide figures (php-ext/runtime/src/pool.rs): one shared mapping made at module start-up,
inherited by every php-fpm worker, so that banlog_stats()['pool'] and banlog_recent() give the
same exact figures from whichever worker answers; a CLI process and its pcntl_fork() children."""
import collections
import concurrent.futures
import json
import pathlib
import shutil
import tempfile

import pytest

from support.fcgi import FpmPool, fcgi_get
from support.php import php_str, run_php

WORKERS = 4
HOST = "pool.example"
KINDS = ["spam", "failure", "unknown_user", "xmlrpc_failure", "rest_unknown_user", "multicall_failure"]

# One request: its events (kinds in the query, one address each), then what this worker sees.
EVENTS_PHP = r"""<?php
banlog_configure(['spam_log' => getenv('LOGDIR') . '/spam.log', 'auth_log' => getenv('LOGDIR') . '/auth.log',
                  'syslog' => false, 'ident_host' => $_GET['host'] ?? 'pool.example']);
$n = 0;
foreach (explode(',', $_GET['events'] ?? '') as $i => $e) {
    if ($e === '') continue;
    $ip = '198.51.100.' . (($_GET['seed'] + $i) % 250 + 1);
    $ok = $e === 'spam' ? banlog_spam(7, $ip) : banlog_auth($e, 'u', $ip);
    $n += $ok ? 1 : 0;
}
usleep((int) ($_GET['sleep'] ?? 0));
echo json_encode(['pid' => getmypid(), 'logged' => $n]);
"""

STATS_PHP = r"""<?php
banlog_configure(['spam_log' => getenv('LOGDIR') . '/spam.log', 'auth_log' => getenv('LOGDIR') . '/auth.log',
                  'syslog' => false, 'ident_host' => $_GET['host'] ?? 'pool.example']);
usleep((int) ($_GET['sleep'] ?? 0));
echo json_encode(['pid' => getmypid(), 'stats' => banlog_stats(), 'recent' => banlog_recent(4096)]);
"""


@pytest.fixture
def pool(ext_path):
    """A php-fpm master with WORKERS workers; yields (pool, folder, log folder)."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="banlog-pool-", dir="/tmp"))
    d.chmod(0o755)
    logs = d / "logs"
    logs.mkdir()
    shutil.chown(logs, "www-data", "www-data")
    (d / "events.php").write_text(EVENTS_PHP)
    (d / "stats.php").write_text(STATS_PHP)
    p = FpmPool(d / "fpm", ext_path, workers=WORKERS, env={"LOGDIR": logs}).start()
    yield p, d, logs
    p.stop()
    shutil.rmtree(d, ignore_errors=True)


def _run_parallel(fn, jobs, threads=8):
    """fn over the jobs from `threads` threads at once; the results in job order (an error is raised)."""
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(fn, jobs))


def _stats_from_every_worker(p, d, host=HOST):
    """banlog_stats() and banlog_recent() from each worker: WORKERS requests at once, each held
    long enough that every worker takes one."""
    got = _run_parallel(lambda k: json.loads(fcgi_get(p.sock, d / "stats.php", f"sleep=300000&host={host}")),
                        range(WORKERS), threads=WORKERS)
    return {g["pid"]: g for g in got}


def test_events_spread_over_workers_add_up_exactly_in_every_worker(pool):
    p, d, logs = pool
    requests = 60
    jobs = []
    for r in range(requests):
        kinds = [KINDS[(r + i) % len(KINDS)] for i in range(1 + r % 3)]
        jobs.append((r, kinds))
    sent = collections.Counter(k for _, kinds in jobs for k in kinds)
    n = sum(sent.values())

    def one(job):
        r, kinds = job
        out = json.loads(fcgi_get(p.sock, d / "events.php", f"events={','.join(kinds)}&seed={r}&sleep=20000"))
        assert out["logged"] == len(kinds)
        return out["pid"]

    pids = collections.Counter(_run_parallel(one, jobs))
    assert len(pids) >= 2, f"the events went to one worker only: {pids}"

    seen = _stats_from_every_worker(p, d)
    assert len(seen) == WORKERS, f"expected every worker to answer, got {sorted(seen)}"
    lines = sum(1 for _ in (logs / "spam.log").open()) + sum(1 for _ in (logs / "auth.log").open())
    assert lines == n
    per_worker = {}
    for pid, g in seen.items():
        s = g["stats"]
        assert s["scope"] == "pool"
        pl = s["pool"]
        assert pl["accepted"] == n, (pid, pl)
        assert pl["written"] == n, (pid, pl)
        assert pl["dropped"] == 0 and pl["spooled"] == 0
        assert pl["memory_bytes"] == 172032 and pl["ring_capacity"] == 4096
        kinds = {x["kind"]: x for x in pl["sinks"]}
        assert kinds["spam_log"]["written"] == sent["spam"]
        assert kinds["auth_log"]["written"] == n - sent["spam"]
        assert kinds["spam_log"]["errors"] == 0 and kinds["spam_log"]["last_error"] is None
        recent = g["recent"]
        assert len(recent) == n
        assert collections.Counter(e["kind"] for e in recent) == sent
        assert [e["id"] for e in recent] == sorted((e["id"] for e in recent), reverse=True)
        assert all(e["ip"].startswith("198.51.100.") for e in recent)
        per_worker[pid] = s["accepted"]
    # The top-level figures stay this worker's: they add up to N over the workers that logged.
    assert sum(per_worker.values()) == n
    assert max(per_worker.values()) < n


def test_the_ring_keeps_each_site_to_itself(pool):
    p, d, _ = pool
    fcgi_get(p.sock, d / "events.php", "events=spam,failure&seed=1&host=one.example")
    fcgi_get(p.sock, d / "events.php", "events=failure&seed=2&host=two.example")
    one = json.loads(fcgi_get(p.sock, d / "stats.php", "host=one.example"))
    two = json.loads(fcgi_get(p.sock, d / "stats.php", "host=two.example"))
    assert [e["kind"] for e in one["recent"]] == ["failure", "spam"]
    assert [e["kind"] for e in two["recent"]] == ["failure"]
    # The counters are the server's.
    assert one["stats"]["pool"]["accepted"] == two["stats"]["pool"]["accepted"] == 3


def test_a_sink_error_shows_in_every_worker_and_its_recovery_too(pool):
    p, d, logs = pool
    missing = logs / "gone"
    script = d / "bad.php"
    script.write_text(f"""<?php
banlog_configure(['spam_log' => {php_str(missing / 'spam.log')}, 'syslog' => false, 'ident_host' => 'pool.example']);
banlog_spam(1, '192.0.2.1');
banlog_flush(100);
echo json_encode(banlog_stats());
""")
    fcgi_get(p.sock, script)
    for g in _stats_from_every_worker(p, d).values():
        sinks = {x["target"]: x for x in g["stats"]["pool"]["sinks"]}
        s = sinks[str(missing / "spam.log")]
        assert s["errors"] >= 1 and "directory does not exist" in s["last_error"], s
        assert s["last_error_at"] > 0 and s["last_ok_at"] is None
    missing.mkdir()
    shutil.chown(missing, "www-data", "www-data")
    # The worker that holds the line retries it; one more event in the pool's workers brings it.
    for _ in range(50):
        _run_parallel(lambda _: fcgi_get(p.sock, script), range(WORKERS), threads=WORKERS)
        g = json.loads(fcgi_get(p.sock, d / "stats.php"))
        s = {x["target"]: x for x in g["stats"]["pool"]["sinks"]}[str(missing / "spam.log")]
        if s["last_ok_at"] is not None:
            break
    assert s["last_ok_at"] >= s["last_error_at"], s
    assert (missing / "spam.log").read_text().count("marked as spam") >= 1


def test_cli_has_its_own_mapping_and_forks_share_it(tmp_path):
    code = f"$auth = {php_str(tmp_path / 'auth.log')};" + r"""
banlog_configure(['spam_log' => '', 'syslog' => false, 'auth_log' => $auth, 'ident_host' => 'cli.example']);
banlog_auth('failure', 'a', '192.0.2.1');
$kids = [];
for ($i = 0; $i < 3; $i++) {
    $pid = pcntl_fork();
    if ($pid === 0) { for ($j = 0; $j < 5; $j++) banlog_auth('unknown_user', 'b', "192.0.2.2$i"); banlog_flush(2000); exit(0); }
    $kids[] = $pid;
}
foreach ($kids as $k) pcntl_waitpid($k, $st);
banlog_flush(2000);
echo json_encode(['stats' => banlog_stats(), 'recent' => banlog_recent(100), 'few' => banlog_recent(2), 'since' => banlog_recent(100, 15)]);
"""
    out = json.loads(run_php(code).stdout)
    s = out["stats"]
    assert s["scope"] == "pool" and s["accepted"] == 1
    assert s["pool"]["accepted"] == 16 and s["pool"]["written"] == 16
    assert collections.Counter(e["kind"] for e in out["recent"]) == {"failure": 1, "unknown_user": 15}
    assert len(out["few"]) == 2 and [e["id"] for e in out["since"]] == [16]
    # Another CLI process: a mapping of its own, empty.
    other = json.loads(run_php("echo json_encode([banlog_stats()['pool']['accepted'], banlog_recent()]);").stdout)
    assert other == [0, []]
    assert (tmp_path / "auth.log").read_text().count("\n") == 16
