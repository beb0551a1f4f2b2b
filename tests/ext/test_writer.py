"""The writer under real conditions: rsyslog, fork, concurrency, rotation, a full queue, hostile names."""
import collections
import os
import re
import shutil
import subprocess
import time

import pytest

from support.paths import EXT, PHP
from support.php import run_php
from support.rsyslog import Rsyslog, octet_frames

AUTH_EVENTS = {
    "failure": "Authentication failure for admin from 203.0.113.9",
    "unknown_user": "Authentication attempt for unknown user admin from 203.0.113.9",
    "xmlrpc_failure": "XML-RPC authentication failure for admin from 203.0.113.9",
    "xmlrpc_unknown_user": "XML-RPC authentication attempt for unknown user admin from 203.0.113.9",
    "rest_failure": "REST authentication failure for admin from 203.0.113.9",
    "rest_unknown_user": "REST authentication attempt for unknown user admin from 203.0.113.9",
    "multicall_failure": "XML-RPC multicall authentication failure from 203.0.113.9",
    "success": "Accepted password for admin from 203.0.113.9",
    "logout": "Logout for admin from 203.0.113.9",
}


def test_auth_events_arrive_in_a_real_rsyslog(rsyslog):
    code = (
        f'banlog_configure(["syslog_target" => "{rsyslog.socket}", "ident_host" => "example.com"]);'
        + "".join(f'banlog_auth("{e}", "admin", "203.0.113.9");' for e in AUTH_EVENTS)
        + 'var_dump(banlog_flush(5000)); echo getmypid();'
    )
    out = run_php(code).stdout
    assert out.startswith("bool(true)")
    pid = out.split("\n")[-1]
    got = rsyslog.wait_for(len(AUTH_EVENTS), pred=lambda l: "wordpress(" in l)
    assert len(got) == len(AUTH_EVENTS), rsyslog.lines()
    # Traditional format: "Nov 21 07:19:22 host wordpress(example.com)[pid]: message"
    pat = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ wordpress\(example\.com\)\[(\d+)\]: (.*)$")
    messages = []
    for line in got:
        m = pat.match(line)
        assert m, line
        assert m.group(1) == pid
        messages.append(m.group(2))
    assert messages == list(AUTH_EVENTS.values())


def test_facility_and_severity_reach_rsyslog(tmp_path):
    r = Rsyslog(tmp_path / "r", template="pri",
                template_def='template(name="pri" type="string" string="%syslogfacility-text%.%syslogseverity-text% %msg%\\n")')
    r.start()
    try:
        run_php(f'banlog_configure(["syslog_target" => "{r.socket}", "syslog_facility" => "authpriv"]);'
                'banlog_auth("failure", "a", "192.0.2.1"); banlog_auth("success", "a", "192.0.2.1");'
                'banlog_auth("logout", "a", "192.0.2.1");'
                f'banlog_configure(["syslog_target" => "{r.socket}", "syslog_facility" => "local5", "syslog_spam" => true]);'
                'banlog_spam(12, "192.0.2.1"); banlog_flush(5000);')
        got = r.wait_for(4)
        assert got == [
            "authpriv.notice  Authentication failure for a from 192.0.2.1",
            "authpriv.info  Accepted password for a from 192.0.2.1",
            "authpriv.info  Logout for a from 192.0.2.1",
            "local5.notice  Spam comment 12 from 192.0.2.1",
        ], got
    finally:
        r.stop()


def test_udp_and_tcp_collectors(tmp_path):
    import socket
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(10)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(1)
    tcp.settimeout(10)
    code = (
        f'banlog_configure(["syslog_target" => "udp://127.0.0.1:{udp.getsockname()[1]}"]);'
        'banlog_auth("failure", "u", "192.0.2.1"); banlog_flush(5000);'
        f'banlog_configure(["syslog_target" => "tcp://127.0.0.1:{tcp.getsockname()[1]}"]);'
        'banlog_auth("failure", "t", "192.0.2.2"); banlog_flush(5000);'
    )
    proc = subprocess.Popen([PHP, "-n", "-d", f"extension={EXT}", "-r", code])
    msg = udp.recv(1000).decode()
    conn, _ = tcp.accept()
    conn.settimeout(10)
    data = b""
    while not octet_frames(data)[0]:
        data += conn.recv(1000)
    proc.wait(20)
    host = re.escape(socket.gethostname().split(".")[0])
    assert re.match(rf"^<37>[A-Z][a-z]{{2}} [ \d]\d \d\d:\d\d:\d\d {host} wordpress\[\d+\]: Authentication failure for u from 192\.0\.2\.1$", msg), msg
    # Over TCP: octet-counted (RFC 6587), `LEN SP MSG`, nothing after.
    (frame,), rest = octet_frames(data)
    assert rest == b"" and data.startswith(b"%d <" % len(frame)), data
    assert re.match(rf"^<37>.* {host} wordpress\[\d+\]: Authentication failure for t from 192\.0\.2\.2$", frame.decode()), data


def test_auth_log_file(tmp_path):
    log = tmp_path / "auth.log"
    run_php(f'banlog_configure(["syslog" => false, "auth_log" => "{log}", "ident_host" => "blog.example.org"]);'
            'banlog_auth("unknown_user", "root", "2001:db8::7"); banlog_flush();', env={"TZ": "Europe/Berlin"})
    line = log.read_text()
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+0[12]:00 \S+ wordpress\(blog\.example\.org\)\[\d+\]: "
                    r"Authentication attempt for unknown user root from 2001:db8::7\n$", line), line


def test_a_forked_child_logs_its_own_events(tmp_path):
    log = tmp_path / "spam.log"
    code = (
        f'banlog_configure(["spam_log" => "{log}", "syslog" => false]);'
        'banlog_spam(1, "192.0.2.1");'
        '$pid = pcntl_fork();'
        'if ($pid === 0) { for ($i = 100; $i < 200; $i++) banlog_spam($i, "192.0.2.2"); exit(banlog_flush(5000) ? 0 : 3); }'
        'for ($i = 2; $i < 100; $i++) banlog_spam($i, "192.0.2.1");'
        'pcntl_waitpid($pid, $status); banlog_flush(5000); echo pcntl_wexitstatus($status);'
    )
    out = run_php(code)
    assert out.stdout == "0"
    ids = [int(re.search(r"id=(\d+) ", l).group(1)) for l in log.read_text().splitlines()]
    assert sorted(ids) == list(range(1, 200)), "lost or duplicated across the fork"


def test_concurrent_processes_write_whole_unique_lines(tmp_path):
    log = tmp_path / "spam.log"
    procs, per = 8, 5000
    code = (
        f'banlog_configure(["spam_log" => "{log}", "syslog" => false]);'
        '$base = (int)$argv[1] * 1000000;'
        f'for ($i = 1; $i <= {per}; $i++) banlog_spam($base + $i, "198.51.100." . (1 + $i % 250));'
        'exit(banlog_flush(20000) ? 0 : 3);'
    )
    running = [subprocess.Popen([PHP, "-n", "-d", f"extension={EXT}", "-r", code, "--", str(n + 1)])
               for n in range(procs)]
    assert [p.wait(120) for p in running] == [0] * procs
    lines = log.read_text().split("\n")
    assert lines[-1] == ""
    lines = lines[:-1]
    pat = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d comment id=(\d+) from host=198\.51\.100\.(\d+) marked as spam$")
    ids = []
    for l in lines:
        m = pat.match(l)
        assert m, f"torn or interleaved line: {l!r}"
        ids.append(int(m.group(1)))
        assert int(m.group(2)) == 1 + int(m.group(1)) % 1000000 % 250
    assert len(ids) == procs * per
    assert len(set(ids)) == procs * per


def _writer(log, count, step, handshake):
    """A PHP process that logs `count` events; after each `step` it flushes, says so with a file
    `at<i>` and waits for `go<i>`, so that the test rotates between two known events."""
    code = (
        f'banlog_configure(["spam_log" => "{log}", "syslog" => false]);'
        f'for ($i = 1; $i <= {count}; $i++) {{ banlog_spam($i, "192.0.2.9");'
        f'  if ($i % {step} == 0 && $i < {count}) {{ banlog_flush(5000); touch("{handshake}/at$i");'
        f'    while (!file_exists("{handshake}/go$i")) usleep(1000); }} }}'
        'exit(banlog_flush(10000) ? 0 : 3);'
    )
    return subprocess.Popen([PHP, "-n", "-d", f"extension={EXT}", "-r", code])


@pytest.mark.parametrize("mode", ["create", "copytruncate"])
def test_rotation_loses_nothing(tmp_path, mode):
    log = tmp_path / "spam.log"
    hs = tmp_path / "hs"
    hs.mkdir()
    proc = _writer(log, 1000, 100, hs)
    rotated = []
    for k in range(1, 10):
        at = hs / f"at{k * 100}"
        deadline = time.time() + 30
        while not at.exists() and time.time() < deadline:
            time.sleep(0.005)
        assert at.exists(), "the writer process stalled"
        dest = tmp_path / f"spam.log.{k}"
        if mode == "create":
            os.rename(log, dest)
        else:
            shutil.copyfile(log, dest)
            with open(log, "r+") as f:
                f.truncate(0)
        rotated.append(dest)
        (hs / f"go{k * 100}").touch()
    assert proc.wait(60) == 0
    ids = collections.Counter()
    for f in rotated + [log]:
        for l in f.read_text().splitlines():
            ids[int(re.search(r"id=(\d+) ", l).group(1))] += 1
    assert sorted(ids) == list(range(1, 1001))
    assert set(ids.values()) == {1}
    # each rotated file holds exactly the 100 events before its rotation
    assert [len(f.read_text().splitlines()) for f in rotated] == [100] * 9


def test_a_full_queue_loses_nothing(tmp_path):
    log = tmp_path / "spam.log"
    code = (
        f'banlog_configure(["spam_log" => "{log}", "syslog" => false]);'
        'for ($i = 1; $i <= 20000; $i++) banlog_spam($i, "192.0.2.1");'
        'banlog_flush(20000); $s = banlog_stats(); echo $s["queue_full"], " ", $s["written"], " ", $s["dropped"];'
    )
    out = run_php(code, ini={"banlog.queue_capacity": "1", "banlog.queue_full_wait_ms": "0"}).stdout.split()
    queue_full, written, dropped = map(int, out)
    assert queue_full > 0
    assert (written, dropped) == (20000, 0)
    assert len(set(log.read_text().splitlines())) == 20000


HOSTILE_NAMES = [
    "admin from 6.6.6.6",
    "x from 6.6.6.6\nNov 21 07:19:22 web1 wordpress[1]: Authentication failure for y from 7.7.7.7",
    "a\r\nb from 8.8.8.8",
    "nul\x00byte from 9.9.9.9",
    "\x1b[2J\x1b[1;1Hesc from 1.1.1.1",
    "sep\u2028from 2.2.2.2\u2029",
    "bidi\u202e9.9.9.9 morf",
    "\x85next line from 3.3.3.3",
    "tab\tand   spaces from 4.4.4.4",
    "",
    " ",
    "from",
    "for admin from ::1",
    "x" * 1_000_000,
    "é" * 300 + " from 5.5.5.5",
]


def test_hostile_names_never_carry_another_address(tmp_path):
    log = tmp_path / "auth.log"
    names = tmp_path / "names.bin"
    # Raw bytes, some not UTF-8, passed through a file so nothing is lost in argv.
    raw = [n.encode("utf-8", "surrogatepass") for n in HOSTILE_NAMES] + [b"\xff\xfe bad utf8 from 6.6.6.6", b"\xc3"]
    names.write_bytes(b"\0\0SEP\0\0".join(raw))
    code = (
        f'banlog_configure(["syslog" => false, "auth_log" => "{log}"]);'
        f'foreach (explode("\\0\\0SEP\\0\\0", file_get_contents("{names}")) as $n) banlog_auth("failure", $n, "192.0.2.200");'
        'banlog_flush(5000);'
    )
    run_php(code)
    lines = log.read_text(encoding="utf-8", errors="strict").split("\n")
    assert lines[-1] == ""
    lines = lines[:-1]
    assert len(lines) == len(raw), "a name made more or fewer than one line"
    for line in lines:
        assert line.endswith(" from 192.0.2.200")
        assert len(line) < 1200
        assert not any(c in line for c in "\r\x00\x1b\x85\u2028\u2029\u202e")
    # The real fail2ban reads every line with an anchored regex and finds only the true address.
    out = subprocess.run(
        ["fail2ban-regex", "-o", "ip", str(log),
         r"^\s*\S+ wordpress(?:\([^)]*\))?\[\d+\]: Authentication failure for .* from <ADDR>$"],
        capture_output=True, text=True, check=True)
    found = out.stdout.split()
    assert found == ["192.0.2.200"] * len(raw), out.stdout


def test_syslog_restart_keeps_what_arrived_meanwhile(tmp_path):
    r = Rsyslog(tmp_path / "r")
    r.start()
    hs = tmp_path / "hs"
    hs.mkdir()
    code = (
        f'banlog_configure(["syslog_target" => "{r.socket}"]);'
        'banlog_auth("failure", "before", "192.0.2.1"); banlog_flush(5000);'
        f'touch("{hs}/sent1"); while (!file_exists("{hs}/down")) usleep(1000);'
        'for ($i = 0; $i < 50; $i++) banlog_auth("failure", "during$i", "192.0.2.2");'
        f'$f = banlog_flush(300); touch("{hs}/sent2"); while (!file_exists("{hs}/up")) usleep(1000);'
        'echo $f ? "flushed-while-down" : "held", " ", banlog_flush(10000) ? "ok" : "fail";'
    )
    proc = subprocess.Popen([PHP, "-n", "-d", f"extension={EXT}", "-r", code], stdout=subprocess.PIPE, text=True)

    def wait_file(p):
        deadline = time.time() + 30
        while not p.exists():
            assert time.time() < deadline, f"{p} never appeared"
            time.sleep(0.01)

    wait_file(hs / "sent1")
    assert len(r.wait_for(1)) == 1
    r.stop()
    (hs / "down").touch()
    wait_file(hs / "sent2")
    r.start()
    (hs / "up").touch()
    out, _ = proc.communicate(timeout=60)
    assert out == "held ok"
    got = r.wait_for(51)
    assert [l.split(": ", 1)[1] for l in got] == (
        ["Authentication failure for before from 192.0.2.1"]
        + [f"Authentication failure for during{i} from 192.0.2.2" for i in range(50)])
    r.stop()
