"""A full queue in front of a stalled sink: a tiny banlog.queue_capacity and an auth_log that is a FIFO
nobody reads, so the writer thread blocks in open() (a syslog target no longer can stall it: its
sockets never block, see test_dead_sink.py). Callers wait at most banlog.queue_full_wait_ms per
event, no event is lost once a reader starts reading (the overflow list holds them: far fewer than
its bound of 1,000,000), and banlog_stats() counts it. (tests/ext fills the queue with a fast file
sink.)"""
import os
import subprocess
import threading
import time
from support.php import parse_json_tail, popen_php
from support.procs import stop_process
from support.waiting import seconds_until


N = 60
CAPACITY = 4
FULL_WAIT_MS = 50  # the default of banlog.queue_full_wait_ms

WRITER = r'''
[$fifo, $ctl, $n] = array_slice($argv, 1);
banlog_configure(["syslog" => false, "auth_log" => $fifo, "ident_host" => "example.com"]);
$lat = [];
for ($i = 1; $i <= $n; $i++) {
    $t = microtime(true);
    $ok = banlog_auth("failure", "stalled$i", "192.0.2." . $i);
    $lat[] = (microtime(true) - $t) * 1000;
    if (!$ok) { echo "refused $i\n"; exit(3); }
}
$during = banlog_stats();
file_put_contents("$ctl/logged", "1");
while (!file_exists("$ctl/go")) usleep(2000);
$t0 = microtime(true); $f = banlog_flush(30000); $drain = microtime(true) - $t0; $s = banlog_stats();
sort($lat);
echo json_encode(["max_ms" => end($lat), "median_ms" => $lat[intdiv(count($lat), 2)], "total_ms" => array_sum($lat),
    "queue_full" => $s["queue_full"], "overflowed" => $s["overflowed"], "dropped" => $s["dropped"],
    "depth_during" => $during["queue_depth"], "written_during" => $during["written"], "flushed" => $f,
    "drain_s" => $drain, "written" => $s["written"], "accepted" => $s["accepted"]]), "\n";
'''


def test_stalled_sink_full_queue_bounded_wait_nothing_lost(tmp_path, figures):
    path = str(tmp_path / "stalled.log")
    os.mkfifo(path)
    ctl = tmp_path / "ctl"
    ctl.mkdir()
    proc = popen_php(WRITER, args=[path, ctl, N], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     ini={"banlog.queue_capacity": CAPACITY, "banlog.queue_full_wait_ms": FULL_WAIT_MS})
    got = []
    done = threading.Event()

    def reader():
        # Opening the FIFO lets the writer's open() return; lines arrive until the PHP process ends.
        with open(path, "rb") as f:
            got.extend(f)

    t = threading.Thread(target=reader)
    try:
        assert seconds_until(lambda: (ctl / "logged").exists() or proc.poll() is not None, 60) is not None
        assert proc.poll() is None, proc.communicate()
        t.start()
        t_read = time.monotonic()
        (ctl / "go").touch()
        arrived = seconds_until(lambda: sum(1 for d in got if b"stalled" in d) >= N, 30)
        out, err = proc.communicate(timeout=60)
    finally:
        done.set()
        stop_process(proc)
        if t.is_alive():
            t.join(10)
    assert proc.returncode == 0 and err == b"", (proc.returncode, out, err)
    rep = parse_json_tail(out)
    ours = [d.decode() for d in got if b"stalled" in d]
    names = [d.split("Authentication failure for ", 1)[1].rstrip("\n") for d in ours]
    figures(events_sent=N, lines_received=len(ours), lost=N - len(set(names)), queue_capacity=CAPACITY,
            queue_full=rep["queue_full"], overflowed=rep["overflowed"],
            max_call_ms=round(rep["max_ms"], 1), median_call_ms=round(rep["median_ms"], 1),
            written_while_stalled=rep["written_during"],
            all_arrived_s_after_reader=None if arrived is None else round(arrived, 2))
    assert rep["written_during"] == 0, rep  # the sink really was stalled
    assert rep["queue_full"] > 0 and rep["overflowed"] > 0, rep
    # Bounded: one wait of queue_full_wait_ms at most per call, plus scheduling slack.
    assert rep["max_ms"] < FULL_WAIT_MS + 30, rep
    assert rep["flushed"] and rep["dropped"] == 0 and rep["written"] == N, rep
    assert sorted(names, key=lambda s: int(s.split()[0][7:])) == [f"stalled{i} from 192.0.2.{i}" for i in range(1, N + 1)]
    assert len(ours) == N, "duplicates"
    assert arrived is not None
