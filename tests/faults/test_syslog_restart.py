"""A real rsyslog stopped for a few seconds and started again while PHP processes send auth events
at a steady rate: the events of the outage are kept and arrive after the restart, counted.
(tests/ext stops rsyslog between two known, idle moments; this is the same under load.)"""
import collections
import re
import subprocess
import time

import pytest

from faulthelp import LONG
from support.php import parse_json_tail, popen_php
from support.rsyslog import Rsyslog
from support.waiting import seconds_until

WRITERS = 2
OUTAGE = 6.0 if LONG else 3.0

# Sends one auth event every ~1 ms, the time of sending in the user name, until `stop` appears.
WRITER = r'''
[$sock, $n, $stop] = array_slice($argv, 1);
banlog_configure(["syslog" => true, "syslog_target" => $sock, "ident_host" => "example.com"]);
$i = 0; $t0 = microtime(true); $slow = 0;
while (!file_exists($stop)) {
    for ($k = 0; $k < 10; $k++) {
        $i++; $t = microtime(true);
        banlog_auth("failure", sprintf("w%d-%d-t%.3f", $n, $i, $t), "192.0.2." . (1 + $i % 200));
        $slow = max($slow, microtime(true) - $t);
        usleep(1000);
    }
}
$f = banlog_flush(30000); $s = banlog_stats();
echo json_encode(["sent" => $i, "flushed" => $f, "dropped" => $s["dropped"], "retried" => $s["retried"],
    "max_call_ms" => $slow * 1000, "last_error" => $s["sinks"][0]["last_error"] ?? null]), "\n";
'''
IN_FLIGHT = 0.2  # seconds before the stop in which a datagram may sit unread in rsyslog's socket
MSG_RE = re.compile(r"\]: Authentication failure for w(\d+)-(\d+)-t([\d.]+) from 192\.0\.2\.(\d+)$")


def test_rsyslog_restart_under_load_loses_only_datagrams_unread_at_the_stop(tmp_path, figures):
    """Every event sent while rsyslog was down or after it came back arrives, once. The only loss
    allowed is a datagram the kernel had accepted into rsyslog's socket just before the daemon
    exited without reading it (a property of datagram sockets; RELIABILITY.md has the figures)."""
    r = Rsyslog(tmp_path / "rsyslog", rate_limit=False)
    r.start()
    stop = tmp_path / "stop"
    procs = [popen_php(WRITER, args=[r.socket, n + 1, stop], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE) for n in range(WRITERS)]
    polls = []
    try:
        assert seconds_until(lambda: len(r.lines()) > 100, 10) is not None
        time.sleep(1.0)
        t_down = time.time()
        r.stop()
        time.sleep(OUTAGE)
        t_up = time.time()
        r.start()
        # Watch the events of the outage arrive.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            n = sum(1 for l in r.lines() if (m := MSG_RE.search(l)) and t_down <= float(m.group(3)) <= t_up)
            polls.append((time.time() - t_up, n))
            # Done when nothing more came for longer than the writer's retry interval (0.5 s).
            earlier = [c for t, c in polls if t <= polls[-1][0] - 1.5]
            if n > 0 and earlier and earlier[-1] == n:
                break
            time.sleep(0.02)
        time.sleep(1.0)
    finally:
        stop.touch()
        outs = [p.communicate(timeout=60) + (p.returncode,) for p in procs]
    try:
        reports = []
        for out, err, rc in outs:
            assert rc == 0 and err == b"", (rc, err)
            reports.append(parse_json_tail(out))
        sent = sum(x["sent"] for x in reports)
        got = seconds_until(lambda: len(r.lines()) >= sent, 5)
        lines = r.lines()
    finally:
        r.stop()
    seen = collections.Counter()
    times = {}
    for l in lines:
        m = MSG_RE.search(l)
        assert m, l
        key = (int(m.group(1)), int(m.group(2)))
        seen[key] += 1
        times[key] = float(m.group(3))
        assert int(m.group(4)) == 1 + key[1] % 200
    want = {(n, i) for n, x in enumerate(reports, 1) for i in range(1, x["sent"] + 1)}
    lost = sorted(want - set(seen))
    # when the lost ones were sent, from their neighbours, relative to the stop of rsyslog
    lost_at = [round(times.get((n, i - 1), 0) - t_down, 3) for n, i in lost]
    during = sum(1 for k, t in times.items() if t_down <= t <= t_up)
    complete = next((round(t, 2) for t, n in polls if n >= during), None)
    figures(lost_sent_at_s_from_stop=lost_at[:10], writers=WRITERS, outage_s=OUTAGE, events_sent=sent, lines_found=sum(seen.values()), lost=len(lost),
            duplicated=sum(1 for k in seen.values() if k > 1), sent_during_outage=during,
            outage_backlog_in_s_after_restart=complete, max_call_ms=round(max(x["max_call_ms"] for x in reports), 2),
            retried=sum(x["retried"] for x in reports))
    assert all(x["flushed"] and x["dropped"] == 0 for x in reports), reports
    assert all(k == 1 for k in seen.values()), "duplicated lines"
    assert during > 1000, "the writers did not keep sending during the outage"
    assert complete is not None and complete < 3.0, polls[-5:]
    # A caller never waited for the daemon: the writer thread holds what it cannot send.
    assert max(x["max_call_ms"] for x in reports) < 100
    # Nothing sent while rsyslog was down or after it is lost. Datagrams sent just before the stop
    # that the kernel had queued for rsyslog, which exited without reading them, are a known gap
    # (reported; see RELIABILITY.md): the extension cannot see them go.
    in_flight = [t for t in lost_at if -IN_FLIGHT <= t <= 0]
    assert len(in_flight) == len(lost), f"{len(lost)} lost, e.g. {lost[:10]} (rsyslog down at {t_down:.3f}, " \
        f"up at {t_up:.3f}: sent at {lost_at} s from the stop)"
    assert got is not None or lost, f"{len(lines)} of {sent} lines arrived"
    assert sum(seen.values()) == sent - len(lost)
