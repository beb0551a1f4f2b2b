"""What a php-fpm request that logs pays at its end, seen through strace on a real worker: a worker
alternating between two sites' settings (a spam log file for one, syslog into a real rsyslogd for
the other, as the benchmark's requests do and a multisite worker does) opens no file and makes no
connection per request once each site has logged, also after the writer thread's own round (where
it closes the sinks no settings use), nor looks the spam log's path up per request; the request's
own thread writes its spam line, puts its syslog line in the sink's journal and sends it once
php-fpm has ended the response, so the syslog daemon is not woken while the client waits; no
thread is woken; and every line arrives, once, in order. And more sites than a worker remembers
still get each line in their own log."""
import json
import pathlib
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from support.fcgi import FpmPool, fcgi_get
from support.php import run_php
from support.procs import stop_process
from support.rsyslog import Rsyslog

SCRIPT = r"""<?php
$i = (int) $_GET['i'];
if ($_GET['way'] === 'spam') {
    banlog_configure(['spam_log' => getenv('LOGDIR') . '/spam.log', 'syslog' => false]);
    $ok = banlog_spam($i, '203.0.113.9');
} else {
    banlog_configure(['spam_log' => '', 'syslog' => true, 'syslog_target' => getenv('SYSLOG'),
                      'ident_host' => 'two.example']);
    $ok = banlog_auth('failure', "user$i", '198.51.100.7');
}
echo $ok ? getmypid() : 'failed';
"""
WARM = 4  # requests before strace attaches: each site's sinks opened once
TRACED = 40  # alternating requests under strace, with a pause past the writer's idle round halfway


@pytest.fixture
def site(ext_path):
    d = pathlib.Path(tempfile.mkdtemp(prefix="banlog-reqend-", dir="/tmp"))
    d.chmod(0o755)
    logs = d / "logs"
    logs.mkdir()
    shutil.chown(logs, "www-data", "www-data")
    (d / "req.php").write_text(SCRIPT)
    r = Rsyslog(d / "rsyslog", rate_limit=False).start()
    (d / "rsyslog").chmod(0o755)
    p = FpmPool(d / "fpm", ext_path, workers=1, env={"LOGDIR": logs, "SYSLOG": r.socket}).start()
    yield p, d, logs, r
    p.stop()
    r.stop()
    shutil.rmtree(d, ignore_errors=True)


def test_alternating_sites_open_nothing_per_request(site):
    pool, d, logs, rsyslog = site
    ways = ["spam", "auth"]

    def request(i):
        out = fcgi_get(pool.sock, d / "req.php", f"way={ways[i % 2]}&i={i}").decode()
        assert out.isdigit(), out
        return int(out)

    pid = request(0)
    for i in range(1, WARM):
        assert request(i) == pid
    trace = d / "strace.txt"
    strace = subprocess.Popen(["strace", "-f", "-qq", "-s", "200", "-p", str(pid), "-o", str(trace),
                               "-e", "trace=open,openat,socket,connect,close,statx,newfstatat,write,pwrite64,sendto,futex"],
                              stderr=subprocess.PIPE)
    try:
        # strace prints each thread it attached to; give it the moment it needs to attach.
        time.sleep(1.0)
        for i in range(WARM, WARM + TRACED):
            assert request(i) == pid
            if i == WARM + TRACED // 2:
                time.sleep(1.5)  # the writer thread wakes by itself every second
        time.sleep(0.2)  # the last request's syslog line is sent after its response
    finally:
        stop_process(strace, sig=subprocess.signal.SIGINT)
    calls = trace.read_text().splitlines()
    assert calls, "strace recorded nothing"
    made = [c for c in calls if re.search(r"\b(open|openat|socket|connect)\(", c)]
    log_opens = [c for c in made if "spam.log" in c or str(rsyslog.socket) in c or "socket(" in c]
    assert not log_opens, "\n".join(log_opens)
    # The worker's own thread wrote each spam line (one write() into the spam log per spam request)
    # and put each syslog line in the journal (one pwrite64() per auth request).
    spam_writes = [c for c in calls if re.search(r" write\(\d+, \"[^\"]*comment id=\d+ from host=", c)]
    journaled = [c for c in calls if re.search(r" pwrite64\(\d+, \"<37>", c)]
    assert len(spam_writes) == TRACED // 2 and len(journaled) == TRACED // 2, (len(spam_writes), len(journaled))
    writer_tids = {c.split()[0] for c in spam_writes + journaled} - {str(pid)}
    assert not writer_tids, f"lines written by another thread than the worker's: {writer_tids}"
    # The spam log's path is looked up about once a second, not per request: in between, the
    # inotify watch on the file vouches that it was not rotated away (the traced run takes under
    # three seconds, for 20 spam requests).
    lookups = [c for c in calls if re.search(r" (?:statx|newfstatat)\(.*spam\.log", c)]
    assert len(lookups) <= 4, "\n".join(lookups)
    # Each syslog line was sent (a write() on the connected socket) after the response: the
    # worker's thread ends the FastCGI request (its END_REQUEST record, type 3), then sends. The
    # writer thread sends instead, rarely, when it held the sinks' lock at that moment.
    sends = [c for c in calls if re.search(r" (?:write|sendto)\(\d+, \"<37>", c)]
    assert len(sends) == TRACED // 2, len(sends)
    order = "".join("J" if c in journaled else "S" if c in sends else "E"
                    for c in calls if c.startswith(f"{pid} ")
                    and (c in journaled or c in sends or re.search(r" write\(\d+, \"\\1\\6.*\\1\\3\\0\\1", c)))
    assert re.fullmatch(r"(?:E|JES?)+", order), order
    assert order.count("JES") >= TRACED // 2 - 2, order
    # No hand-over: a rare futex wake comes from the writer thread's own round meeting a request
    # on the sinks' lock.
    wakes = [c for c in calls if c.startswith(f"{pid} futex(") and "FUTEX_WAKE" in c]
    assert len(wakes) <= 2, "\n".join(wakes)
    # Every line arrived once, in order.
    total = WARM + TRACED
    spam_ids = [int(m) for m in re.findall(r"comment id=(\d+) ", (logs / "spam.log").read_text())]
    assert spam_ids == list(range(0, total, 2))
    got = rsyslog.wait_for(total // 2, pred=lambda l: "wordpress(two.example)" in l)
    users = [int(re.search(r"for user(\d+) from", l).group(1)) for l in got]
    assert users == list(range(1, total, 2))


MANY_SITES = r"""
[$dir, $sites, $n] = [$argv[1], (int) $argv[2], (int) $argv[3]];
mt_srand(7);
$want = [];
for ($i = 1; $i <= $n; $i++) {
    // Runs over a few sites, jumps, comes back: more sites than a worker remembers.
    $site = ($i % 5 === 0) ? mt_rand(0, $sites - 1) : intdiv($i, 7) % $sites;
    $opts = ['spam_log' => "$dir/site$site.log", 'syslog' => false, 'ident_host' => "site$site.example"];
    if ($i % 3 === 0) {
        $opts = array_reverse($opts, true);  // the same options in another order
    }
    banlog_configure($opts);
    if (!banlog_spam($i, '192.0.2.' . ($site + 1))) { exit(3); }
    $want[$site][] = $i;
}
var_dump(banlog_flush(5000));
echo json_encode($want), "\n";
"""


def test_more_sites_than_a_worker_remembers_each_line_in_its_own_log(tmp_path):
    # banlog_configure() remembers 8 option sets and the writer keeps 8 settings per producer:
    # with 13 sites in a changing order each event still lands in its site's log, in order.
    out = run_php(MANY_SITES, args=[tmp_path, 13, 600]).stdout.splitlines()
    assert out[0] == "bool(true)", out
    want = json.loads(out[-1])
    for site, ids in want.items():
        text = (tmp_path / f"site{site}.log").read_text()
        got = [int(m) for m in re.findall(r"comment id=(\d+) ", text)]
        hosts = set(re.findall(r" from host=(\S+) ", text))
        assert got == ids, site
        assert hosts == {f"192.0.2.{int(site) + 1}"}, (site, hosts)
