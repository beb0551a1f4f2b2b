"""TCP syslog into a real rsyslogd with `imtcp`, the input a central collector uses: the extension
(and the plugin's PHP writer) frame each message with its octet count (RFC 6587), and every message
arrives whole, one per line, with its facility, severity and tag; a frame cut short is dropped by
rsyslog where a newline-framed one would be logged torn; and a collector that stops for a few
seconds and comes back gets every line, in order, once."""
import collections
import json
import re
import socket
import subprocess
import time

import pytest

from support.http import free_port
from support.paths import EXT, FILTERS, PHP, PLUGIN_SRC
from support.php import php_cmd
from support.rsyslog import Rsyslog
from support.waiting import wait_for

# What the collector writes for each message: facility.severity, host, tag, message.
TEMPLATE = ('template(name="probe" type="string" '
            'string="%syslogfacility-text%.%syslogseverity-text% %hostname% %syslogtag%|%msg%\\n")')
LINE = re.compile(r"^(\w+)\.(\w+) (\S+) (\S+)\| ?(.*)$")
# Hostile names: line breaks, controls, a forged tail, a long one (core escapes and caps them).
NAMES = ["admin", "a\r\nb", "\n" * 300, "x from 6.6.6.6", "\u00e9" * 1000, "<script>", "tab\tvt\x0b", "nul\x00x",
         "Nov 30 21:00:00 web9 wordpress[1]: Authentication failure for x from 6.6.6.6", "a\u2028b", " "]
EVENTS = ["failure", "unknown_user", "xmlrpc_failure", "rest_unknown_user", "multicall_failure", "success", "logout"]
SITE = "a-rather-long-subdomain-name.example.com"  # the tag passes rsyslog's 32 characters
BURST = 3000


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class Collector(Rsyslog):
    """A private rsyslogd with an imtcp input on a loopback port of its own."""

    def __init__(self, d, port=None):
        self.port = port or free_port()
        super().__init__(d, template="probe", template_def=TEMPLATE, rate_limit=False,
                         extra=f'module(load="imtcp")\ninput(type="imtcp" address="127.0.0.1" port="{self.port}")')

    def start(self):
        super().start()
        wait_for(lambda: _listening(self.port), 10, what="imtcp's port")
        return self

    def parsed(self):
        """banlog's lines (rsyslogd's own notices left out), split by the probe template."""
        return [m.groups() for l in self.lines() if (m := LINE.match(l)) and m.group(4).startswith("wordpress")]


@pytest.fixture
def collector(tmp_path, ext_path):
    c = Collector(tmp_path / "collector").start()
    yield c
    c.stop()


SEND = r"""
$in = json_decode(file_get_contents($argv[2]), true);
define('ABSPATH', '/');
require $argv[1] . '/includes/class-banlog-format.php';
require $argv[1] . '/includes/class-banlog-writer.php';
$names = array_map('hex2bin', $in['names']);
$failed = ['ext' => [], 'php' => []];
foreach (['ext' => true, 'php' => false] as $who => $use_ext) {
    $w = new Banlog_Writer(['syslog' => true, 'syslog_facility' => 'local5', 'syslog_target' => $in['target'],
                            'ident_host' => $in['site'][$who], 'auth_log' => $in[$who], 'spam_log' => ''], $use_ext);
    foreach ($names as $n) foreach ($in['events'] as $e) {
        if (!$w->auth($e, $n, '203.0.113.95')) $failed[$who][] = $w->last_error;
    }
    if ($use_ext) {
        for ($i = 0; $i < $in['burst']; $i++) $w->auth('failure', "burst$i", '2001:db8::' . dechex($i + 1));
        if (!banlog_flush(20000)) { fwrite(STDERR, json_encode(banlog_stats())); exit(3); }
    }
}
echo json_encode($failed);
"""


def test_every_message_arrives_whole_with_its_facility_severity_and_tag(collector, tmp_path):
    files = {w: tmp_path / f"{w}-auth.log" for w in ("ext", "php")}
    sites = {"ext": SITE, "php": "php." + SITE}
    inp = {"target": f"tcp://127.0.0.1:{collector.port}", "site": sites, "events": EVENTS, "burst": BURST,
           "names": [n.encode().hex() for n in NAMES], **{w: str(p) for w, p in files.items()}}
    (tmp_path / "in.json").write_text(json.dumps(inp))
    (tmp_path / "send.php").write_text("<?php\n" + SEND)
    p = subprocess.run([PHP, "-n", "-d", f"extension={EXT}", "-d", "display_errors=stderr", "-d", "error_reporting=-1",
                        str(tmp_path / "send.php"), str(PLUGIN_SRC), str(tmp_path / "in.json")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    failed = json.loads(p.stdout)
    assert failed["ext"] == []
    # The PHP writer connects once per line, giving up after 1 s: while rsyslog is busy with the
    # burst before, a connection can wait longer (0 to 2 of 77 in our runs). Each such line is
    # reported (last_error, shown on the options page); none may be lost silently.
    assert all("cannot connect" in e[1] for e in failed["php"]), failed
    # The messages each writer wrote into its own auth_log file, in order: what syslog must carry.
    want = {w: [l.split("]: ", 1)[1] for l in f.read_text().splitlines()] for w, f in files.items()}
    per_name = len(NAMES) * len(EVENTS)
    assert (len(want["ext"]), len(want["php"])) == (per_name + BURST, per_name)
    collector.wait_for(per_name * 2 + BURST - len(failed["php"]), timeout=30, pred=lambda l: "|" in l and " wordpress(" in l)
    time.sleep(0.5)
    rows = collector.parsed()
    assert len(rows) == per_name * 2 + BURST - len(failed["php"]), (len(rows), failed)
    host = socket.gethostname().split(".")[0]
    by = {w: [r for r in rows if r[3].startswith(f"wordpress({sites[w]})[")] for w in sites}
    assert len(by["ext"]) + len(by["php"]) == len(rows)
    # The extension: one connection, in order. The PHP writer: a connection per message, which
    # rsyslog may read in another order.
    assert [r[4] for r in by["ext"]] == want["ext"]
    assert not collections.Counter(r[4] for r in by["php"]) - collections.Counter(want["php"])
    for fac, sev, h, tag, msg in rows:
        assert fac == "local5" and h == host, (fac, h, msg)
        assert sev == ("info" if msg.startswith(("Accepted password for ", "Logout for ")) else "notice"), (sev, msg)
        assert re.fullmatch(r"wordpress\((php\.)?" + re.escape(SITE) + r"\)\[\d+\]:", tag), tag
        assert msg.endswith(" from 203.0.113.95") or re.search(r" from 2001:db8::[0-9a-f]+$", msg), msg
    # Not one line of the collector's file is anything but a whole message.
    assert all(LINE.match(l) for l in collector.lines())


def _raw(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)


def test_a_frame_cut_short_is_dropped_where_a_line_would_be_logged_torn(collector):
    """Why octet counting: a connection lost in the middle of a message. With newline framing
    rsyslog logs what came as a message of its own, and a cut address can be another valid one
    (203.0.113.95 cut to 203.0.113.9: an innocent); with an octet count it drops the part."""
    msg = b"<37>Nov 30 21:00:00 web1 wordpress[7]: Authentication failure for %s from 203.0.113.95"
    octet = msg % b"octet"
    _raw(collector.port, b"%d " % len(octet) + octet[:-1])  # the connection ends one byte short
    _raw(collector.port, (msg % b"newline")[:-1])
    whole = msg % b"marker"
    _raw(collector.port, b"%d " % len(whole) + whole)
    rows = collector.wait_for(2, pred=lambda l: "marker" in l or "newline" in l)
    time.sleep(0.5)
    msgs = [r[4] for r in collector.parsed()]
    assert any(m.endswith("for newline from 203.0.113.9") for m in msgs), msgs  # the danger, shown
    assert not any("octet" in m for m in msgs), msgs
    assert any(m.endswith("for marker from 203.0.113.95") for m in msgs), (rows, msgs)


LOOP = r"""
$t = $argv[1];
banlog_configure(['syslog_target' => $t, 'syslog_facility' => 'auth', 'ident_host' => 'example.com']);
while (($l = fgets(STDIN)) !== false) {
    [$from, $to] = array_map('intval', explode(' ', trim($l)));
    for ($i = $from; $i < $to; $i++) { banlog_auth('failure', "u$i", '192.0.2.7'); usleep(20000); }
    echo json_encode(banlog_stats()['sinks']), "\n";
}
echo json_encode(['flushed' => banlog_flush(20000), 'stats' => banlog_stats()]), "\n";
"""


def test_a_collector_stopped_for_seconds_gets_every_line_in_order_once(tmp_path, ext_path):
    c = Collector(tmp_path / "collector").start()
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    proc = subprocess.Popen(php_cmd(LOOP, {"banlog.spool_dir": spool}, args=[f"tcp://127.0.0.1:{c.port}"]),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    users = lambda: [m.group(1) for l in c.lines() if (m := re.search(r"\| ?Authentication failure for (u\d+) from ", l))]  # noqa: E731

    def batch(a, b):
        proc.stdin.write(f"{a} {b}\n")
        proc.stdin.flush()
        return proc.stdout.readline()
    try:
        assert batch(0, 50)
        wait_for(lambda: len(users()) == 50, 15, what="the first 50 lines")
        # The collector stops (its connections close); lines made meanwhile wait in the sink.
        c.stop()
        down = time.monotonic()
        assert batch(50, 150)  # two seconds of events
        time.sleep(max(0.0, 3 - (time.monotonic() - down)))
        assert len(users()) == 50
        c.start()
        assert batch(150, 200)
        out, err = proc.communicate("", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        c.stop()
    end = json.loads(out.strip().splitlines()[-1])
    assert end["flushed"] and end["stats"]["dropped"] == 0, (end, err)
    got = users()
    assert got == [f"u{i}" for i in range(200)], (len(got), [u for u in got if got.count(u) > 1][:5])
    sink = next(s for s in end["stats"]["sinks"] if s["kind"] == "syslog")
    assert sink["errors"] >= 1 and sink["pending"] == 0, sink


def test_the_shipped_collector_snippet_loads(tmp_path):
    """rsyslogd's own check (-N1) of filters/rsyslog/*.conf with a work directory, as on Debian."""
    for name in ("banlog-collector.conf", "banlog-forward.conf"):
        conf = tmp_path / name
        text = (FILTERS / "rsyslog" / name).read_text().replace("/var/log/", f"{tmp_path}/")
        conf.write_text(f'global(workDirectory="{tmp_path}")\n' + text)
        p = subprocess.run(["rsyslogd", "-N1", "-f", str(conf)], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0 and "error" not in p.stderr.lower(), (name, p.stderr)

