"""The plugin's pure-PHP fallback writes the same bytes as the extension: the same inputs go
through both in one PHP process (php-cli), into files and into a real rsyslog, and the outputs are
compared byte for byte, apart from the time stamp and the pid."""
import json
import os
import pathlib
import re
import subprocess
import time

import pytest

from support.paths import EXT, PLUGIN_SRC
from support.wordpress import DEFAULT_TZ

PLUGIN = PLUGIN_SRC

NAMES = [
    "admin", "j\u00f6rg", "user@example.com", "", " ", "a\r\nb", "\x1b[31mred", "nul\x00x",
    "a\u2028b\u0085c\u202ed", "back\\slash", "  a \t\t b  ", "a\u00a0\u3000b", "x" * 128, "x" * 129,
    "\u00e9" * 1000, "\n" * 1000, "x from 6.6.6.6", "Nov 21 07:19:22 h wordpress[1]: Authentication failure",
    "\u200b\u200f\u2060\ufeff\ufff9\u00ad", "\U0001f600 emoji", "tab\tand\x0bvt\x0cff", "del\x7f",
    "x" * 127 + " y", "x" * 126 + " y", "\u3000lead and trail\u3000",
    # Markup: escaped in both writers (core/src/sanitize.rs MARKUP_CHARS).
    "<script>alert(document.domain)</script>", "<", ">", "&", "\"", "'", "a&amp;b", "<?php system('id'); ?>",
    "x\" onload=\"y", "\u00e9<\u00e9>", "<" * 200,
]
# Invalid UTF-8 and raw bytes, given to PHP as hex.
RAW_NAMES = [b"ab\xff\xfecd", b"\xe2\x80", b"\xe2\x80A", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
             b"\xf0\x9f\x98", b"\x80\x80\x80" * 100, b"ok\xc3"]
ADDRS = ["203.0.113.9", "127.0.0.1", "2001:DB8:0:0:0:0:2:1", "2001:db8:0000:1:1:1:1:1", "2001:db8:0:0:1:0:0:1",
         "[::1]", "fe80:0:0:0:0:0:0:1", "::ffff:203.0.113.9", "::FFFF:cb00:7109", "::1.2.3.4", "1::", "::2:0:0:0:0:0:1",
         "2001:db8::1:0:0:0", "1:0:0:2:0:0:0:3"]
BAD_ADDRS = ["", " 1.2.3.4", "1.2.3.4 ", "1.2.3", "01.2.3.4", "1.2.3.4:80", "[::1]:80", "fe80::1%eth0",
             "example.com", "0.0.0.0", "::", "224.0.0.1", "255.255.255.255", "1.2.3.4\n", "::ffff:0.0.0.0", "ff02::1",
             "1" * 60]
EVENTS = ["failure", "unknown_user", "xmlrpc_failure", "xmlrpc_unknown_user", "rest_failure",
          "rest_unknown_user", "multicall_failure", "success", "logout", "pingback", "trackback",
          "comment_flood", "user_enumeration", "user_enumeration_blocked"]
# The events that take a fault code, not a user name: any name below is refused for them (by both).
CODE_EVENTS = ["pingback"]
# Codes both writers write as given, and what both refuse (core/src/auth.rs parse_code).
CODES = ["0", "16", "17", "33", "48", "-32700", "2147483647", "-2147483648"]
BAD_CODES = ["", "+1", "017", "-0", " 1", "1 ", "1\n", "1e3", "2147483648", "-2147483649", "0x11", "17 from 6.6.6.6",
             "\u0663", "admin", "99999999999"]

TABLES = r"""
define('ABSPATH', '/');
require $argv[1] . '/includes/class-banlog-format.php';
try { banlog_auth('no such event', 'a', '192.0.2.1'); $m = ''; } catch (ValueError $e) { $m = $e->getMessage(); }
echo json_encode(['ext' => $m, 'php' => array_keys(Banlog_Format::AUTH_LEADS), 'info' => Banlog_Format::INFO_EVENTS]);
"""


def test_both_writers_know_the_same_events(tmp_path):
    """The whole table of auth events: the extension's names (core/src/auth.rs, as its error lists
    them), the fallback's (Banlog_Format::AUTH_LEADS) and the ones the byte test below sends."""
    (tmp_path / "t.php").write_text("<?php\n" + TABLES)
    r = subprocess.run(["php8.2", "-n", "-d", f"extension={EXT}", str(tmp_path / "t.php"), str(PLUGIN)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    m = re.search(r"expected one of: (.*)$", got["ext"])
    assert m, got["ext"]
    assert m.group(1).split(", ") == got["php"] == EVENTS
    assert got["info"] == ["success", "logout"]

SCRIPT = r"""
define('ABSPATH', '/');
require $argv[1] . '/includes/class-banlog-format.php';
require $argv[1] . '/includes/class-banlog-writer.php';
$in = json_decode(file_get_contents($argv[2]), true);
$names = array_map('hex2bin', $in['names']);
$out = ['refused' => []];
foreach (['ext' => true, 'php' => false] as $who => $use_ext) {
    $w = new Banlog_Writer($in['settings'][$who], $use_ext);
    foreach ($in['addrs'] as $i => $a) {
        $w->spam($i + 1, $a);
        foreach ($in['events'] as $e) $w->auth($e, 'admin', $a);
    }
    foreach ($names as $n) foreach ($in['events'] as $e) $w->auth($e, $n, '203.0.113.9');
    foreach ($in['codes'] as $c) $w->auth('pingback', $c, '203.0.113.9');
    $w->auth('pingback', 17, '203.0.113.9');
    $bad_codes = [];
    foreach ($in['bad_codes'] as $c) {
        if ($use_ext) {
            try { banlog_auth('pingback', $c, '203.0.113.9'); $bad_codes[] = false; } catch (ValueError $e) { $bad_codes[] = str_contains($e->getMessage(), 'takes an integer code'); }
        } else {
            $bad_codes[] = !$w->auth('pingback', $c, '203.0.113.9');
        }
    }
    $out['bad_codes'][$who] = $bad_codes;
    $refused = [];
    foreach ($in['bad'] as $a) {
        if ($use_ext) {
            try { banlog_spam(1, $a); $refused[] = false; } catch (ValueError $e) { $refused[] = true; }
        } else {
            $refused[] = !$w->spam(1, $a);
        }
    }
    $out['refused'][$who] = $refused;
    if ($use_ext) { $out['flushed'] = banlog_flush(5000); $out['stats'] = banlog_stats(); }
}
echo json_encode($out);
"""


def run_both(tmp_path, rsyslog_socket):
    files = {k: str(tmp_path / k) for k in ("ext-spam.log", "ext-auth.log", "php-spam.log", "php-auth.log")}
    common = {"syslog": True, "syslog_facility": "local3", "syslog_target": rsyslog_socket,
              "ident_host": "Example.COM", "syslog_spam": True}
    inp = {
        "settings": {
            "ext": dict(common, spam_log=files["ext-spam.log"], auth_log=files["ext-auth.log"]),
            "php": dict(common, spam_log=files["php-spam.log"], auth_log=files["php-auth.log"]),
        },
        "addrs": ADDRS, "bad": BAD_ADDRS, "events": EVENTS, "codes": CODES, "bad_codes": BAD_CODES,
        "names": [n.encode().hex() for n in NAMES] + [n.hex() for n in RAW_NAMES],
    }
    (tmp_path / "in.json").write_text(json.dumps(inp))
    (tmp_path / "t.php").write_text("<?php\n" + SCRIPT)
    env = dict(os.environ, TZ=DEFAULT_TZ)
    r = subprocess.run(["php8.2", "-n", "-d", f"extension={EXT}", "-d", "display_errors=stderr",
                        "-d", "error_reporting=-1", str(tmp_path / "t.php"), str(PLUGIN), str(tmp_path / "in.json")],
                       capture_output=True, env=env, timeout=120)
    assert r.returncode == 0 and not r.stderr, r.stderr.decode(errors="replace")
    return json.loads(r.stdout), {k: pathlib.Path(v) for k, v in files.items()}


def local_time(stamp):
    """A spam line's local time stamp (DEFAULT_TZ) as a UTC epoch."""
    import datetime
    import zoneinfo
    t = datetime.datetime.strptime(stamp.decode(), "%Y-%m-%d %H:%M:%S")
    return t.replace(tzinfo=zoneinfo.ZoneInfo(DEFAULT_TZ)).timestamp()


def test_fallback_is_byte_identical(tmp_path, rsyslog, ext_path):
    started = time.time()
    out, f = run_both(tmp_path, str(rsyslog.socket))
    ended = time.time()
    assert out["flushed"], out["stats"]
    assert out["refused"]["ext"] == [True] * len(BAD_ADDRS)
    assert out["refused"]["php"] == [True] * len(BAD_ADDRS)
    assert out["bad_codes"]["ext"] == [True] * len(BAD_CODES)
    assert out["bad_codes"]["php"] == [True] * len(BAD_CODES)

    ext_spam = f["ext-spam.log"].read_bytes().split(b"\n")
    php_spam = f["php-spam.log"].read_bytes().split(b"\n")
    assert len(ext_spam) == len(ADDRS) + 1
    stamp = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")
    for a, b in zip(ext_spam, php_spam):
        assert stamp.match(a) or a == b""
        assert a[19:] == b[19:]
        if a:
            # Both stamps are the local time of the run (in the same zone): each lies inside the
            # run's window, whole seconds. Not "same hour": the hour may tick over during the run,
            # while a wrong zone or offset is off by at least half an hour and still fails here.
            for line in (a, b):
                assert int(started) <= local_time(line[:19]) <= ended + 1, (line, started, ended)
    assert ext_spam[0][19:] == b" comment id=1 from host=203.0.113.9 marked as spam"
    assert ext_spam[3][19:] == b" comment id=4 from host=2001:db8:0:1:1:1:1:1 marked as spam"

    def strip_auth(line):
        # <rfc3339> <host> <ident>[<pid>]: <message>
        m = re.match(rb"^(\S+) (\S+) (\S+)\[\d+\]: (.*)$", line, re.S)
        assert m, line
        assert re.match(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d$", m.group(1)), m.group(1)
        return m.group(1)[-6:], m.group(2), m.group(3), m.group(4)

    ext_auth = [strip_auth(l) for l in f["ext-auth.log"].read_bytes().splitlines()]
    php_auth = [strip_auth(l) for l in f["php-auth.log"].read_bytes().splitlines()]
    n_names = len(NAMES) + len(RAW_NAMES)
    # No name is a code: the code events write only the codes (and the integer 17).
    n_user_events = len(EVENTS) - len(CODE_EVENTS)
    n_codes = len(CODES) + 1
    assert len(ext_auth) == len(ADDRS) * n_user_events + n_names * n_user_events + n_codes
    assert ext_auth == php_auth
    assert [m for *_, m in ext_auth[-n_codes:]] == [
        f"Pingback error {c} generated from 203.0.113.9".encode() for c in CODES + ["17"]]
    assert ext_auth[0][2] == b"wordpress(example.com)"
    for *_, msg in ext_auth:
        assert b"\n" not in msg and b"\r" not in msg
        assert not set(msg) & set(b"<>&\"'"), msg
        assert re.search(rb" from [0-9a-f:.]+$", msg)

    # syslog: both through the same rsyslog; the messages must match one for one.
    total = len(ADDRS) * (n_user_events + 1) + n_names * n_user_events + n_codes
    lines = rsyslog.wait_for(2 * total, timeout=20)
    assert len(lines) == 2 * total
    parsed = [re.match(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d (\S+) (\S+)\[(\d+)\]: (.*)$", l) for l in lines]
    assert all(parsed), [l for l, p in zip(lines, parsed) if not p][:3]
    msgs = [(p.group(2), p.group(4)) for p in parsed]
    assert msgs[:total] == msgs[total:]
    assert msgs[0] == ("wordpress(example.com)", "Spam comment 1 from 203.0.113.9")


def test_fallback_default_socket_uses_php_syslog(tmp_path, rsyslog):
    """With the default target /dev/log the fallback goes through PHP's openlog()/syslog(): the
    rsyslog socket is mounted on /dev/log in a private mount namespace for this one PHP run."""
    dev = tmp_path / "dev"
    dev.mkdir()
    for n in ("null", "urandom", "log"):
        (dev / n).touch()
    code = (
        "define('ABSPATH', '/');"
        f"require '{PLUGIN}/includes/class-banlog-format.php';"
        f"require '{PLUGIN}/includes/class-banlog-writer.php';"
        "$w = new Banlog_Writer(['syslog' => true, 'syslog_target' => '/dev/log', 'ident_host' => 'example.com',"
        " 'syslog_facility' => 'authpriv'], false);"
        "var_export($w->auth('unknown_user', \"evil\\r\\nname\", '::ffff:198.51.100.4'));"
        "var_export($w->auth('multicall_failure', 'x', '2001:db8::9'));"
    )
    script = (
        "set -e; mount --make-rprivate /; "
        f"mount --bind /dev/null {dev}/null; mount --bind /dev/urandom {dev}/urandom; "
        f"mount --bind {rsyslog.socket} {dev}/log; mount --rbind {dev} /dev; "
        f"exec php8.2 -n -d display_errors=stderr -r \"$BANLOG_CODE\""
    )
    r = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True,
                       env=dict(os.environ, BANLOG_CODE=code), timeout=60)
    assert r.returncode == 0 and r.stdout == "truetrue", (r.stdout, r.stderr)
    lines = rsyslog.wait_for(2)
    msgs = [re.match(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ (wordpress\(example\.com\))\[\d+\]: (.*)$", l) for l in lines]
    assert all(msgs), lines
    assert [m.group(2) for m in msgs] == [
        "Authentication attempt for unknown user evil\\x0d\\x0aname from 198.51.100.4",
        "XML-RPC multicall authentication failure from 2001:db8::9",
    ]
