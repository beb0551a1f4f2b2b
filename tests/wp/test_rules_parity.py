"""The rulebook (core/src/rules.rs, rendered into the plugin as class-banlog-rules.php) gives the
same verdict in the real extension's banlog_configure() and in the plugin's validator, rule by
rule over the whole table: every executable and markup extension, every config name, every
facility, every syslog target form, the flags and the ident host, plus edge cases. What both
accept, both writers then write as the same bytes, for every facility and every target form."""
import json
import os
import re
import socket
import subprocess
import threading
import time

import pytest

from support.http import ipv6_loopback
from support.paths import EXT, PLUGIN_SRC
from support.rsyslog import octet_frames
from support.waiting import wait_for
from support.wordpress import DEFAULT_TZ

PLUGIN = PLUGIN_SRC

PRELUDE = r"""
define('ABSPATH', '/');
require $argv[1] . '/includes/class-banlog-format.php';
require $argv[1] . '/includes/class-banlog-writer.php';
"""

TABLES = PRELUDE + r"""
echo json_encode([
    'executable' => Banlog_Rules::EXECUTABLE_EXTENSIONS, 'markup' => Banlog_Rules::MARKUP_EXTENSIONS,
    'config' => Banlog_Rules::CONFIG_NAMES, 'facilities' => Banlog_Rules::FACILITIES,
    'ini' => array_combine(Banlog_Writer::KEYS, array_map(fn($k) => ini_get('banlog.' . $k), Banlog_Writer::KEYS)),
    'builtin' => Banlog_Writer::BUILTIN, 'markup_chars' => array_keys(Banlog_Format::MARKUP_CHARS),
]);
"""

VERDICTS = PRELUDE + r"""
$cases = json_decode(file_get_contents($argv[2]), true);
$decode = function ($c) {
    switch ($c[1]) {
        case 'hex': return hex2bin($c[2]);
        case 'int': return (int) $c[2];
        case 'bool': return (bool) $c[2];
        case 'null': return null;
        case 'float': return 1.5;
        case 'array': return ['x'];
    }
};
$out = [];
foreach ($cases as $c) {
    $key = $c[0];
    $value = $decode($c);
    try {
        banlog_configure([$key => $value]);
        $ext = ['ok' => true, 'value' => banlog_stats()['settings'][$key]];
    } catch (ValueError $e) {
        $ext = ['ok' => false, 'message' => preg_replace('/^banlog_configure\(\): /', '', $e->getMessage())];
    }
    $php = Banlog_Rules::check($key, $value);
    if ($php['ok'] && is_bool($php['value'])) $php['value'] = $php['value'] ? '1' : '0';
    $out[] = ['ext' => $ext, 'php' => $php];
}
echo json_encode($out, JSON_INVALID_UTF8_SUBSTITUTE);
"""


def php(script, *args, tmp_path, ini=None):
    (tmp_path / "t.php").write_text("<?php\n" + script)
    cmd = ["php8.2", "-n", "-d", f"extension={EXT}", "-d", "display_errors=stderr", "-d", "error_reporting=-1"]
    for k, v in (ini or {}).items():
        cmd += ["-d", f"{k}={v}"]
    r = subprocess.run(cmd + [str(tmp_path / "t.php"), str(PLUGIN), *map(str, args)], capture_output=True,
                       env=dict(os.environ, TZ=DEFAULT_TZ), timeout=120)
    assert r.returncode == 0 and not r.stderr, (r.returncode, r.stderr.decode(errors="replace"))
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    return php(TABLES, tmp_path=tmp_path_factory.mktemp("tables"))


def s(key, text):
    return [key, "hex", text.encode().hex()]


def raw(key, data):
    return [key, "hex", data.hex()]


def typed(key):
    return [[key, "int", 3], [key, "int", 0], [key, "bool", 1], [key, "bool", 0], [key, "null", None],
            [key, "float", None], [key, "array", None]]


def path_cases(t):
    out = []
    exts = t["executable"] + t["markup"] + [f"php{n}" for n in list(range(0, 13)) + [74, 81, 999]]
    # Also those the issue names, in case a table lost one (then the generated copy lost it too).
    exts += ["inc", "sh", "pgif", "phtm", "php9", "html", "svg", "js", "phpx", "php-1", "p", "log", "txt", "gz", "1"]
    for ext in exts:
        for form in ("/srv/a.{e}.log", "/srv/a.{E}.log", "/srv/a.{e}", "/srv/{e}.log", "/srv/a.b.{e}.c.log",
                     "/srv/.{e}.log", "/srv/a.{e}.LOG", "/srv/a.{e}x.log"):
            out.append(form.format(e=ext, E=ext.upper()))
    for name in t["config"]:
        out += [f"/srv/{name}", f"/srv/{name.upper()}", f"/srv/{name}.log", f"/srv/x{name}"]
    out += ["", " ", " \t\n", "/var/log/", "/", "/var/log/x.log", "  /var/log/x.log\n", "\x0b/var/log/x.log\x0c",
            "relative.log", "./x.log", "~/x.log", "/a/../x.log", "/a/..", "/../x.log", "/a/..x.log", "/a/x..log",
            "/a/.log", "/a/log", "/a/x.LOG", "/a/x.log.", "/a/x.log/", "/a//x.log", "/a/./x.log",
            "\u00a0/var/log/x.log", "/var/log/x\u00a0.log", "/var/log/\u2028x.log", "/var/log/j\u00f6rg.log",
            "/var/log/x y.log", "/var/log/%s.log", "/var/log/x\\y.log", "/var/log/x'y.log", "/var/log/x.log.log",
            "/var/www/html/wp-content/uploads/x.log", "/var/log/" + "a" * 300 + ".log", "C:\\x.log"]
    out += [f"/var/log/x{chr(c)}y.log" for c in list(range(0, 0x20)) + [0x7f, 0x80, 0x85, 0x9f, 0xa0]]
    cases = [s(k, p) for p in out for k in ("spam_log", "auth_log")]
    cases += [raw("spam_log", b) for b in (b"/var/log/\xff.log", b"/var/log/\xc3.log", b"\xed\xa0\x80/x.log")]
    return cases + typed("spam_log") + typed("auth_log")


def facility_cases(t):
    out = []
    for name in t["facilities"]:
        out += [name, name.upper(), "log_" + name, "LOG_" + name.upper(), f" {name}\n", name + "x", "x" + name]
    out += ["", "kern", "mail", "local8", "local07", "local-1", "local+3", "log_", "LOG_", "4", "auth\x00",
            "security", "syslog", "\u0430uth"]
    return [s("syslog_facility", f) for f in out] + typed("syslog_facility")


TARGETS = [
    "/dev/log", "/run/x.sock", "unix:///dev/log", "unix://dev/log", "unix://", "dev/log", "", " ", " /dev/log\n",
    "udp://127.0.0.1:514", "tcp://127.0.0.1:514", "udp://[::1]:514", "tcp://[2001:db8::1]:6514",
    "udp://[::ffff:192.0.2.1]:514", "udp://log.example.com:514", "udp://LOG.Example.COM:1", "udp://a_b.example:5",
    "udp://localhost:65535", "udp://::1:514", "udp://h:0", "udp://h:65536", "udp://h:99999", "udp://h:+514",
    "udp://h:-1", "udp://h:0514", "udp://h:000001", "udp://h", "udp://h:", "udp://:514", "udp://[::1]",
    "udp://[::1]x", "udp://[::1]:x", "udp://[::1:514", "udp://[1.2.3.4]:5", "udp://[::]:5", "udp://[ff02::1]:5",
    "udp://[fe80::1%eth0]:5", "udp://a b:5", "udp://-a:5", "udp://a-:5", "udp://a..b:5", "udp://.a:5",
    "udp://a.:5", "udp://" + "a" * 63 + ":5", "udp://" + "a" * 64 + ":5", "udp://" + ".".join(["a" * 50] * 5) + ":5",
    "udp://" + "a." * 126 + "a:5", "udp://h\u00e9:5", "UDP://h:5", "Tcp://h:5", "http://x:1", "udp:/h:5",
    "tcp://h:5\n", "/dev/l\x01og", "udp://h:5/x", "udp://h:5 ", "udp://h :5", "udp://h:5:6", "udp://1.2.3.4:5",
    "udp://999.1.1.1:5", "unix:///dev/l\x7fog", "/dev/log\x85",
]

FLAGS = ["1", "on", "ON", "yes", "true", " true ", "TRUE", "0", "", "off", "no", "false", "none", "None", "maybe",
         "2", "-1", "y", "t", "1.0"]

IDENT_HOSTS = ["Example.COM", "example.com:8080", "example.com:", "example.com:x", "[2001:db8::1]:8080",
               "[2001:db8::1]", "2001:db8::1", "", " example.com ", "a b", "x)y", "x(y", "h\u00e9", "a]b", "a[b",
               "under_score.example", "a" * 253, "a" * 254, "evil\n", "xn--bcher-kva.example"]


def all_cases(t):
    cases = path_cases(t) + facility_cases(t)
    cases += [s("syslog_target", x) for x in TARGETS] + typed("syslog_target")
    cases += [s(k, f) for f in FLAGS for k in ("syslog", "syslog_spam")] + typed("syslog") + typed("syslog_spam")
    cases += [raw("syslog", b"\xff1")]
    cases += [s("ident_host", h) for h in IDENT_HOSTS] + typed("ident_host")
    return cases


def test_tables_cover_what_the_issue_names(tables):
    for ext in ("php", "phtml", "phar", "inc", "sh", "pgif", "phtm", "cgi", "pl", "py"):
        assert ext in tables["executable"], ext
    for ext in ("html", "htm", "svg", "js"):
        assert ext in tables["markup"], ext
    assert tables["facilities"]["daemon"] == 3 and tables["facilities"]["auth"] == 4
    assert len(tables["facilities"]) == 12
    # The writer's idea of the extension's built-in values is the extension's.
    assert tables["ini"] == tables["builtin"]
    assert sorted(tables["markup_chars"]) == sorted(map(ord, "<>&\"'"))


def test_same_verdict_and_message_for_every_rule(tables, tmp_path):
    cases = all_cases(tables)
    assert len(cases) > 1400
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    got = php(VERDICTS, tmp_path / "cases.json", tmp_path=tmp_path)
    assert len(got) == len(cases)
    diffs = []
    accepted = refused = 0
    for case, r in zip(cases, got):
        ext, ph = r["ext"], r["php"]
        shown = case[:2] + [bytes.fromhex(case[2]).decode(errors="replace") if case[1] == "hex" else case[2]]
        if ext["ok"] != ph["ok"]:
            diffs.append((shown, ext, ph))
        elif ext["ok"]:
            accepted += 1
            if ext["value"] != ph["value"]:
                diffs.append((shown, ext, ph))
        else:
            refused += 1
            # Same words, so that the options page says what the extension would (the ident host's
            # message differs: the extension escapes the host in Rust's notation).
            if case[0] != "ident_host" and ext["message"] != ph["message"]:
                diffs.append((shown, ext, ph))
    assert not diffs, f"{len(diffs)} disagreements, first: {diffs[:5]}"
    assert accepted > 400 and refused > 900, (accepted, refused)


def test_messages_name_the_true_reason(tables, tmp_path):
    cases = [s("spam_log", p) for p in ("/var/log/", "/srv/x.txt", "/srv/x.php.log", "/srv/x.html.log",
                                        "/srv/.htaccess", "/a/../x.log", "rel.log", "/a/\x01.log")]
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    got = [r["php"] for r in php(VERDICTS, tmp_path / "cases.json", tmp_path=tmp_path)]
    assert [g["code"] for g in got] == ["path_directory", "path_not_log", "path_executable", "path_markup",
                                        "path_config", "path_traversal", "path_relative", "path_control"]
    assert "executable" not in got[0]["message"] and "directory" in got[0]["message"]
    assert ".php" in got[2]["message"] and ".html" in got[3]["message"]


# ---------------------------------------------------------------- bytes, per facility and target form

BYTES = PRELUDE + r"""
$in = json_decode(file_get_contents($argv[2]), true);
$names = array_map('hex2bin', $in['names']);
$out = [];
foreach ($in['runs'] as $run) {
    foreach ([true, false] as $use_ext) {
        $w = new Banlog_Writer($run, $use_ext);
        $ok = empty($run['syslog_spam']) || $w->spam(7, '203.0.113.9');
        foreach ($names as $n) $ok = $w->auth('failure', $n, '2001:db8::5') && $ok;
        $ok = $w->auth('success', 'admin', '198.51.100.1') && $ok;
        $ok = $w->auth('logout', 'admin', '198.51.100.1') && $ok;
        if ($use_ext) $ok = banlog_flush(5000) && $ok;
        $out[] = [$ok, $w->last_error];
    }
}
echo json_encode($out);
"""


class Receiver:
    """Collects what arrives on a UDP, TCP or unix datagram socket."""

    def __init__(self, kind, family=socket.AF_INET, path=None):
        self.kind, self.msgs, self.lock = kind, [], threading.Lock()
        if kind == "unix":
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.sock.bind(str(path))
            os.chmod(path, 0o666)
        else:
            st = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
            self.sock = socket.socket(family, st)
            self.sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
            if kind == "tcp":
                self.sock.listen(16)
        self.port = None if kind == "unix" else self.sock.getsockname()[1]
        self.sock.settimeout(0.2)
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        buf = b""
        conns = []
        while not self.stop:
            if self.kind == "tcp":
                try:
                    c, _ = self.sock.accept()
                    c.settimeout(0.05)
                    conns.append(c)
                except socket.timeout:
                    pass
                for c in conns:
                    try:
                        data = c.recv(65536)
                    except socket.timeout:
                        continue
                    buf += data
                    frames, buf = octet_frames(buf)
                    with self.lock:
                        self.msgs += frames
            else:
                try:
                    data = self.sock.recv(65536)
                except socket.timeout:
                    continue
                with self.lock:
                    self.msgs.append(data)

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.sock.close()


STAMP = re.compile(rb"^(<\d+>)\w{3} [ \d]\d \d\d:\d\d:\d\d ")
NAMES = ["admin", "<script>alert(document.domain)</script>", "a&b\"c'd", "x from 6.6.6.6", "a\r\nb"]


def compare_runs(runs, receivers, tmp_path):
    names = NAMES + [f"x{c}y" for c in "<>&\"'"]
    inp = {"runs": runs, "names": [n.encode().hex() for n in names]}
    (tmp_path / "in.json").write_text(json.dumps(inp))
    res = php(BYTES, tmp_path / "in.json", tmp_path=tmp_path)
    assert all(ok for ok, _ in res), res
    per_writer = len(names) + 2 + (1 if runs[0].get("syslog_spam") else 0)
    for rcv in receivers:
        wait_for(lambda: len(rcv.msgs) >= 2 * per_writer, timeout=20, what=f"{rcv.kind} messages")
    time.sleep(0.2)
    results = []
    for rcv in receivers:
        rcv.close()
        assert len(rcv.msgs) == 2 * per_writer, rcv.msgs
        ext, fallback = rcv.msgs[:per_writer], rcv.msgs[per_writer:]
        norm = [STAMP.sub(rb"\1STAMP ", m) for m in rcv.msgs]
        assert all(STAMP.match(m) for m in rcv.msgs), rcv.msgs[:3]
        assert norm[:per_writer] == norm[per_writer:], (ext, fallback)
        for m in rcv.msgs:
            assert b"<script" not in m and b"\r" not in m and b"\n" not in m.rstrip(b"\n")
        results.append(norm[:per_writer])
    return results


def test_same_bytes_for_every_facility(tables, tmp_path):
    rcv = Receiver("udp")
    runs = []
    for name in tables["facilities"]:
        runs.append({"syslog": True, "syslog_spam": True, "syslog_facility": name, "ident_host": "example.com",
                     "syslog_target": f"udp://127.0.0.1:{rcv.port}", "spam_log": "", "auth_log": ""})
    # One receiver for all runs: compare run by run.
    names = NAMES + [f"x{c}y" for c in "<>&\"'"]
    per_writer = 1 + len(names) + 2  # the spam mirror, the failures, one success, one logout
    inp = {"runs": runs, "names": [n.encode().hex() for n in names]}
    (tmp_path / "in.json").write_text(json.dumps(inp))
    res = php(BYTES, tmp_path / "in.json", tmp_path=tmp_path)
    assert all(ok for ok, _ in res), res
    wait_for(lambda: len(rcv.msgs) >= 2 * per_writer * len(runs), timeout=20, what="datagrams")
    time.sleep(0.2)
    rcv.close()
    assert len(rcv.msgs) == 2 * per_writer * len(runs)
    for i, (name, code) in enumerate(tables["facilities"].items()):
        chunk = rcv.msgs[2 * per_writer * i: 2 * per_writer * (i + 1)]
        norm = [STAMP.sub(rb"\1STAMP ", m) for m in chunk]
        assert norm[:per_writer] == norm[per_writer:], name
        pris = {int(re.match(rb"<(\d+)>", m).group(1)) for m in chunk}
        assert pris == {code * 8 + 5, code * 8 + 6}, (name, pris)
        # Severity info for exactly the login audit (a success, a logout), in both writers.
        info = [re.search(rb"\]: (\S+)", m).group(1) for m in chunk if m.startswith(b"<%d>" % (code * 8 + 6))]
        assert info == [b"Accepted", b"Logout"] * 2, (name, info)
    assert b"\\x3cscript\\x3ealert(document.domain)\\x3c/script\\x3e" in rcv.msgs[2]


@pytest.mark.parametrize("form", ["unix", "unix://", "udp4", "udp6", "tcp4", "tcp6"])
def test_same_bytes_for_every_target_form(form, tmp_path):
    if form.endswith("6") and not ipv6_loopback():
        pytest.fail("this machine has no IPv6 loopback; the [::1] target forms cannot be tested")
    if form.startswith("unix"):
        sock = tmp_path / "rcv.sock"
        rcv = Receiver("unix", path=sock)
        target = ("unix://" if form == "unix://" else "") + str(sock)
    else:
        kind, fam = form[:3], (socket.AF_INET6 if form.endswith("6") else socket.AF_INET)
        rcv = Receiver(kind, fam)
        host = "[::1]" if fam == socket.AF_INET6 else "127.0.0.1"
        target = f"{kind}://{host}:{rcv.port}"
    run = {"syslog": True, "syslog_facility": "local5", "syslog_target": target, "ident_host": "example.com",
           "spam_log": "", "auth_log": ""}
    (msgs,) = compare_runs([run], [rcv], tmp_path)
    # Remote collectors get our host name; a local socket does not (the daemon adds its own).
    has_host = not form.startswith("unix")
    assert bool(re.match(rb"^<\d+>STAMP \S+ wordpress\(example\.com\)\[", msgs[1])) == has_host, msgs[1]
