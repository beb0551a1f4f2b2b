"""File sink faults with the real kernel: a full disk (a tmpfs of 64 KiB), a missing directory and an
unwritable one (PHP running as `nobody`, since root ignores permissions). No error reaches PHP's
output, banlog_stats() says what is wrong, and once the problem is fixed the kept lines are written
by the writer thread on its own (the PHP process only waits and reads banlog_stats())."""
import os
import pathlib
import pwd
import re
import shutil
import subprocess
import tempfile

import pytest

import faulthelp
from support.fail2ban import fail2ban_matches
from support.php import parse_json_tail, popen_php, run_php_raw
from support.procs import stop_process
from support.waiting import seconds_until

N = 300
SPAM_RE = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d comment id=(\d+) from host=(\S+) marked as spam$")
AUTH_RE = re.compile(rb"^\S+ \S+ wordpress\[\d+\]: Authentication failure for u(\d+) from (\S+)$")

# Logs N spam (and auth) events while the fault is in place, reports what banlog_stats() shows,
# waits for the test to fix the fault, then only waits (no banlog call but banlog_stats()) until
# every line is written.
FAULT_WRITER = r'''
[$spam, $auth, $ctl, $n] = array_slice($argv, 1);
banlog_configure(["spam_log" => $spam, "auth_log" => $auth, "syslog" => false]);
$ok = 0; $slow = 0;
for ($i = 1; $i <= $n; $i++) {
    $t = microtime(true);
    $ok += banlog_spam(100000 + $i, "203.0.113." . (1 + $i % 200)) ? 1 : 0;
    if ($auth !== "") $ok += banlog_auth("failure", "u$i", "2001:db8::" . dechex($i)) ? 1 : 0;
    $slow = max($slow, microtime(true) - $t);
}
$flushed = banlog_flush(1500);
$during = banlog_stats();
file_put_contents("$ctl/logged", "1");
while (!file_exists("$ctl/fixed")) usleep(2000);
$t0 = microtime(true);
do { usleep(5000); $s = banlog_stats(); }
while (($s["pending"] > 0 || $s["queue_depth"] > 0 || $s["processed"] < $s["accepted"]) && microtime(true) - $t0 < 20);
$recover = microtime(true) - $t0;
$sink = fn($st) => array_values(array_filter($st["sinks"], fn($x) => $x["errors"] > 0))[0] ?? null;
echo json_encode(["ok" => $ok, "max_call_ms" => $slow * 1000, "flushed_during_fault" => $flushed,
    "pending_during" => $during["pending"], "written_during" => $during["written"],
    "error_during" => $sink($during)["last_error"] ?? null, "recover_s" => $recover,
    "pending" => $s["pending"], "written" => $s["written"], "dropped" => $s["dropped"], "retried" => $s["retried"],
    "accepted" => $s["accepted"]]), "\n";
'''


def run_fault(ctl, spam, auth, fix, user=None, n=N):
    """Runs FAULT_WRITER; calls fix() once the events are logged; returns (report, php stderr)."""
    proc = popen_php(FAULT_WRITER, args=[spam, auth, ctl, n], user=user,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert seconds_until(lambda: (ctl / "logged").exists() or proc.poll() is not None, 30) is not None
        assert proc.poll() is None, proc.communicate()
        fix()
        (ctl / "fixed").touch()
        out, err = proc.communicate(timeout=60)
    finally:
        stop_process(proc)
    assert proc.returncode == 0, (proc.returncode, err)
    return parse_json_tail(out), err


def check_files(f2b_conf, spam, auth, n, tmp_path):
    """Every event exactly once; at most a torn fragment that no filter reads an address from."""
    data = pathlib.Path(spam).read_bytes()
    assert data.endswith(b"\n")
    lines = data[:-1].split(b"\n")
    ids, fragments = [], []
    for l in lines:
        m = SPAM_RE.match(l)
        if m:
            i = int(m.group(1)) - 100000
            assert m.group(2).decode() == f"203.0.113.{1 + i % 200}", l
            ids.append(i)
        else:
            fragments.append(l)
    assert sorted(ids) == list(range(1, n + 1)), ("lost or duplicated", len(ids), sorted(set(range(1, n + 1)) - set(ids))[:5])
    assert len(fragments) <= 1, fragments
    got = fail2ban_matches(f2b_conf, spam, "banlog-spam")
    want = [(f"203.0.113.{1 + i % 200}", l.decode()) for i, l in zip(ids, (l for l in lines if SPAM_RE.match(l)))]
    assert got == want, (len(got), len(want), [g for g, w in zip(got, want) if g != w][:3])
    if auth:
        alines = pathlib.Path(auth).read_bytes()[:-1].split(b"\n")
        aids = []
        for l in alines:
            m = AUTH_RE.match(l)
            assert m, l
            assert m.group(2).decode() == f"2001:db8::{int(m.group(1)):x}"
            aids.append(int(m.group(1)))
        assert sorted(aids) == list(range(1, n + 1))
        got = fail2ban_matches(f2b_conf, auth, "banlog-auth")
        assert [ip for ip, _ in got] == [f"2001:db8::{i:x}" for i in aids]
    return fragments


def assert_quiet_and_reported(rep, err, n, calls_per_event, error_text):
    assert err == b"", err  # no warning, notice or error in PHP's output
    assert rep["ok"] == n * calls_per_event, rep  # every hook returned true
    assert not rep["flushed_during_fault"], rep
    assert rep["error_during"] and error_text in rep["error_during"], rep
    assert rep["pending_during"] > 0, rep
    assert rep["pending"] == 0 and rep["dropped"] == 0, rep
    assert rep["written"] == n * calls_per_event, rep
    assert rep["recover_s"] < 2.0, rep
    assert rep["max_call_ms"] < 50, rep  # the I/O problem never slows the caller


@pytest.fixture
def ctl(tmp_path):
    d = tmp_path / "ctl"
    d.mkdir()
    return d


def fill(fs: pathlib.Path):
    """Fills a file system to the last byte."""
    fd = os.open(fs / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (4096, 1):
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)
    st = os.statvfs(fs)
    assert st.f_bavail == 0


def test_disk_full_then_freed(tmp_path, ctl, f2b_conf, figures):
    with faulthelp.tmpfs(tmp_path / "fs", "64k") as fs:
        fill(fs)
        spam, auth = fs / "spam.log", fs / "auth.log"
        rep, err = run_fault(ctl, spam, auth, fix=lambda: (fs / "filler").unlink())
        assert_quiet_and_reported(rep, err, N, 2, "no space left on the device")
        fragments = check_files(f2b_conf, spam, auth, N, tmp_path)
    figures(events_sent=2 * N, lines_found=2 * N, lost=0, torn_fragments=len(fragments),
            error=rep["error_during"], recover_s=round(rep["recover_s"], 3), retried=rep["retried"])


# The first spam lines of FAULT_WRITER (ids 100001.., addresses 203.0.113.2..) have one length:
# the page of the log has room for three of them and `cut` bytes of the fourth.
LINE_LEN = len(b"2026-11-21 07:19:22 comment id=100001 from host=203.0.113.2 marked as spam\n")


# "all-but-newline": a write cut just before a line's newline must not log that line twice.
@pytest.mark.parametrize("cut", [1, LINE_LEN // 2, LINE_LEN - 1], ids=["one-byte", "mid-line", "all-but-newline"])
def test_disk_fills_in_the_middle_of_a_line(tmp_path, ctl, f2b_conf, figures, cut):
    with faulthelp.tmpfs(tmp_path / "fs", "64k") as fs:
        spam = fs / "spam.log"
        # The log's only page holds a pad line, and room for 3 lines and `cut` bytes; the rest of
        # the disk is filled.
        pad = 4096 - (3 * LINE_LEN + cut)
        spam.write_bytes(b"#" * (pad - 1) + b"\n")
        fill(fs)
        assert spam.stat().st_size == pad
        rep, err = run_fault(ctl, spam, "", fix=lambda: (fs / "filler").unlink(), n=N)
        assert_quiet_and_reported(rep, err, N, 1, "no space left on the device")
        # The sink reserves a chunk's blocks before writing it: with the disk full, nothing is
        # written, not even the three lines that would fit in the page, so no line is torn.
        assert rep["written_during"] == 0, rep
        data = spam.read_bytes()[pad:]
        spam.write_bytes(data)
        fragments = check_files(f2b_conf, spam, "", N, tmp_path)
    figures(cut_at_byte=cut, events_sent=N, lines_found=N, lost=0, torn_fragments=len(fragments),
            fragment=fragments[0].decode() if fragments else None, recover_s=round(rep["recover_s"], 3))
    assert fragments == []


def test_missing_directory_then_created(tmp_path, ctl, f2b_conf, figures):
    d = tmp_path / "later" / "logs"
    spam, auth = d / "spam.log", d / "auth.log"
    rep, err = run_fault(ctl, spam, auth, fix=lambda: d.mkdir(parents=True))
    assert_quiet_and_reported(rep, err, N, 2, "the directory does not exist")
    check_files(f2b_conf, spam, auth, N, tmp_path)
    assert oct(spam.stat().st_mode & 0o777) == "0o640"
    figures(events_sent=2 * N, lines_found=2 * N, lost=0, error=rep["error_during"],
            recover_s=round(rep["recover_s"], 3))


@pytest.fixture
def shared_dir():
    """A directory the unprivileged PHP can reach (pytest's tmp_path is root's, mode 0700)."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="banlog-faults-"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("how", ["directory", "file"])
def test_unwritable_then_writable(shared_dir, f2b_conf, figures, how):
    nobody = pwd.getpwnam("nobody")
    ctl = shared_dir / "ctl"
    ctl.mkdir()
    ctl.chmod(0o777)
    logs = shared_dir / "logs"
    logs.mkdir(mode=0o755)
    spam, auth = logs / "spam.log", logs / "auth.log"
    if how == "file":  # the directory is open, the files are root's and read-only
        logs.chmod(0o777)
        for f in (spam, auth):
            f.touch()
            f.chmod(0o644)

    def fix():
        if how == "directory":
            os.chown(logs, nobody.pw_uid, nobody.pw_gid)
        else:
            for f in (spam, auth):
                os.chown(f, nobody.pw_uid, nobody.pw_gid)

    rep, err = run_fault(ctl, spam, auth, fix=fix, user="nobody")
    assert_quiet_and_reported(rep, err, N, 2, "permission denied")
    check_files(f2b_conf, spam, auth, N, shared_dir)
    if how == "directory":
        assert spam.stat().st_uid == nobody.pw_uid and oct(spam.stat().st_mode & 0o777) == "0o640"
    figures(events_sent=2 * N, lines_found=2 * N, lost=0, error=rep["error_during"],
            recover_s=round(rep["recover_s"], 3))


def test_another_process_appends_after_a_torn_line(tmp_path, ctl, f2b_conf, figures):
    """PHP-FPM: several workers append to one log. Worker A's write would be cut mid-line by the full
    disk; space comes back and worker B logs before A's next retry (A retries every 500 ms). Without
    the sink's block reservation, A's torn line glued B's line to it and fail2ban matched neither."""
    with faulthelp.tmpfs(tmp_path / "fs", "64k") as fs:
        spam = fs / "spam.log"
        pad = 4096 - (3 * LINE_LEN + LINE_LEN // 2)
        spam.write_bytes(b"#" * (pad - 1) + b"\n")
        fill(fs)
        a = popen_php(FAULT_WRITER, args=[spam, "", ctl, N], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert seconds_until(lambda: (ctl / "logged").exists(), 30) is not None
            (fs / "filler").unlink()
            b = run_php_raw('banlog_configure(["spam_log" => $argv[1], "syslog" => false]);'
                            'banlog_spam(7, "198.51.100.77"); exit(banlog_flush(5000) ? 0 : 3);', args=[spam])
            assert b.returncode == 0 and b.stderr == b""
            (ctl / "fixed").touch()
            out, err = a.communicate(timeout=60)
        finally:
            stop_process(a)
        assert a.returncode == 0 and err == b""
        got = fail2ban_matches(f2b_conf, spam, "banlog-spam")
        figures(events_sent=N + 1, lines_matched=len(got), b_line_read=("198.51.100.77" in {ip for ip, _ in got}))
        assert "198.51.100.77" in {ip for ip, _ in got}, spam.read_bytes()[pad:pad + 400]
        assert len(got) == N + 1
