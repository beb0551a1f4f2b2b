"""The extension in a real PHP: exact lines, canonical addresses, clear errors, local time."""
import datetime
import os
import re
import subprocess
import time
import zoneinfo

import pytest

from support.paths import PHP
from support.php import run_php

SPAM_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) comment id=(\d+) from host=(\S+) marked as spam$")


def spam_lines(tmp_path, calls, env=None):
    log = tmp_path / "spam.log"
    code = (
        f'banlog_configure(["spam_log" => "{log}", "syslog" => false]);'
        + "".join(f"var_dump(banlog_spam({cid}, {ip!r}));" for cid, ip in calls)
        + "var_dump(banlog_flush(5000));"
    )
    out = run_php(code, env=env)
    assert out.stderr == "", out.stderr
    assert out.stdout.count("bool(true)") == len(calls) + 1, out.stdout
    return log.read_text().splitlines()


def test_the_documented_example(tmp_path):
    lines = spam_lines(tmp_path, [(527, "203.0.113.9")])
    assert len(lines) == 1
    m = SPAM_RE.match(lines[0])
    assert m, lines[0]
    assert m.group(2, 3) == ("527", "203.0.113.9")
    assert oct((tmp_path / "spam.log").stat().st_mode & 0o777) == "0o640"


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/St_Johns", "Asia/Kathmandu"])
def test_time_is_host_local_time_at_the_call(tmp_path, zone):
    before = time.time()
    lines = spam_lines(tmp_path, [(1, "192.0.2.1")], env={"TZ": zone})
    after = time.time()
    stamp = datetime.datetime.strptime(SPAM_RE.match(lines[0]).group(1), "%Y-%m-%d %H:%M:%S")
    tz = zoneinfo.ZoneInfo(zone)
    lo = datetime.datetime.fromtimestamp(int(before), tz).replace(tzinfo=None)
    hi = datetime.datetime.fromtimestamp(int(after) + 1, tz).replace(tzinfo=None)
    assert lo <= stamp <= hi, (zone, stamp, lo, hi)


def test_addresses_are_written_canonically(tmp_path):
    cases = {
        "2001:DB8:0:0:0:0:2:1": "2001:db8::2:1",
        "2001:0db8:0000:0000:0001:0000:0000:0001": "2001:db8::1:0:0:1",
        "[2001:db8::1]": "2001:db8::1",
        "::1": "::1",
        "::ffff:203.0.113.9": "203.0.113.9",
        "192.0.2.77": "192.0.2.77",
    }
    lines = spam_lines(tmp_path, [(i + 1, raw) for i, raw in enumerate(cases)])
    got = [SPAM_RE.match(l).group(3) for l in lines]
    assert got == list(cases.values())


BAD_CALLS = [
    ('banlog_spam(1, "1.2.3");', "ValueError", "is not an IPv4 or IPv6 address"),
    ('banlog_spam(1, "203.0.113.9 ");', "ValueError", "is not an IPv4 or IPv6 address"),
    ('banlog_spam(1, "");', "ValueError", "the address is empty"),
    ('banlog_spam(1, "\\xff\\xfe");', "ValueError", "not valid UTF-8"),
    ('banlog_spam(-1, "203.0.113.9");', "ValueError", "must be a comment id"),
    ('banlog_spam(1, "0.0.0.0");', "ValueError", "not a single host address"),
    ('banlog_auth("admin_login", "x", "203.0.113.9");', "ValueError", "expected one of: failure"),
    ('banlog_auth("failure", "x", "example.com");', "ValueError", "Argument #3 ($ip)"),
    ('banlog_configure(["spam_log" => "relative.log"]);', "ValueError", "must be absolute"),
    ('banlog_configure(["spam_log" => "/var/www/html/spam.php"]);', "ValueError", "must end in .log"),
    ('banlog_configure(["spam_log" => "/srv/x.phar"]);', "ValueError", "must end in .log"),
    ('banlog_configure(["spam_log" => "/srv/x.phar.log"]);', "ValueError", "contains the extension .phar"),
    ('banlog_configure(["spam_log" => "/var/log/"]);', "ValueError", "names a directory"),
    ('banlog_configure(["syslog_facility" => "kern"]);', "ValueError", "is not one of auth"),
    ('banlog_configure(["syslog_target" => "udp://nohost"]);', "ValueError", "syslog_target"),
    ('banlog_configure(["ident_host" => "a) b"]);', "ValueError", "ident_host"),
    ('banlog_configure(["bogus" => 1]);', "ValueError", "unknown setting 'bogus'"),
    ('banlog_configure([0 => "x"]);', "ValueError", "setting names are strings"),
    ('banlog_spam("abc", "203.0.113.9");', "TypeError", ""),
    ('banlog_auth("failure", [], "203.0.113.9");', "TypeError", ""),
]


@pytest.mark.parametrize("call,cls,text", BAD_CALLS)
def test_bad_input_is_a_clear_error(call, cls, text):
    code = f'try {{ {call} echo "no error"; }} catch (Throwable $e) {{ echo get_class($e), "|", $e->getMessage(); }}'
    out = run_php(code)
    assert out.stderr == ""
    got_cls, _, msg = out.stdout.partition("|")
    assert got_cls == cls, out.stdout
    assert text in msg, out.stdout


def test_bad_configure_changes_nothing(tmp_path):
    log = tmp_path / "spam.log"
    code = (
        f'banlog_configure(["spam_log" => "{log}", "syslog" => false]);'
        f'try {{ banlog_configure(["spam_log" => "{tmp_path}/other.log", "syslog_facility" => "bad"]); }} catch (ValueError $e) {{}}'
        'banlog_spam(3, "192.0.2.3"); banlog_flush();'
    )
    run_php(code)
    assert "comment id=3 " in log.read_text()
    assert not (tmp_path / "other.log").exists()


def test_ini_directives_are_the_defaults(tmp_path):
    log = tmp_path / "ini.log"
    out = run_php('var_dump(banlog_spam(9, "192.0.2.9")); banlog_flush(); echo ini_get("banlog.spam_log");',
                  ini={"banlog.spam_log": str(log), "banlog.syslog": "0"})
    assert out.stdout.startswith("bool(true)")
    assert out.stdout.endswith(str(log))
    assert re.search(r"comment id=9 from host=192\.0\.2\.9 marked as spam$", log.read_text())


def test_a_bad_ini_value_is_refused_by_php(tmp_path):
    out = run_php('echo ini_get("banlog.syslog_facility"), "|", ini_get("banlog.queue_capacity");',
                  ini={"banlog.syslog_facility": "kern", "banlog.queue_capacity": "0"}, check=False)
    assert out.stdout == "auth|1024"


def test_no_sink_configured_returns_false():
    out = run_php('var_dump(banlog_spam(1, "192.0.2.1")); banlog_configure(["syslog" => false]);'
                  'var_dump(banlog_auth("failure", "x", "192.0.2.1"));')
    assert out.stdout.split() == ["bool(false)", "bool(false)"]


def test_phpinfo_section(tmp_path):
    out = subprocess.run([PHP, "-n", "-d", f"extension={os.environ.get('BANLOG_EXT')}", "-i"],
                         capture_output=True, text=True, check=True)
    assert "banlog support => enabled" in out.stdout
    assert "banlog.spam_log => no value => no value" in out.stdout
    assert "banlog.syslog_target => /dev/log => /dev/log" in out.stdout


def test_stats_and_the_named_writer_thread(tmp_path):
    log = tmp_path / "spam.log"
    code = (
        f'banlog_configure(["spam_log" => "{log}", "syslog" => false]);'
        'for ($i = 1; $i <= 100; $i++) banlog_spam($i, "192.0.2.1");'
        'banlog_flush(5000); $s = banlog_stats();'
        'echo $s["accepted"], " ", $s["written"], " ", $s["dropped"], " ", $s["pending"], " ", count($s["sinks"]), "\\n";'
        'foreach (glob("/proc/self/task/*/comm") as $f) echo trim(file_get_contents($f)), "\\n";'
    )
    out = run_php(code).stdout.splitlines()
    assert out[0] == "100 100 0 0 1"
    assert "banlog-writer" in out[1:]
