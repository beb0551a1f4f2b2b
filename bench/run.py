#!/usr/bin/env python3
"""banlog's benchmarks (`make bench`, `make bench-smoke`): everything in one run, on one machine.

Parts, each with real components only:
  cost        one log event on the request path: banlog's hooks against the pure-PHP ways
  until       the same, until the lines are written (banlog_flush()), file and real rsyslog
  writer      the writer alone (lines/s into a file) against a plain write(2) loop of the same bytes
  contention  8 and 32 PHP processes appending to one spam log; every line checked
  memory      resident size a php-fpm worker gains from the extension, idle and after 1M events
  wordpress   a failed login on wp-login.php through nginx + php-fpm + MariaDB (tests/wp harness)

Syslog: a private rsyslogd, started here, listens on <workdir>/dev/log. PHP's syslog() always
sends to /dev/log, so every PHP process of the benchmark runs in a private mount namespace
(`unshare --mount`) whose /dev is <workdir>/dev (the real device nodes bind-mounted into it, plus
the private socket). The machine's own /dev/log and syslog are never touched.

Prints a table, writes bench/results.json (bench/out/smoke-results.json in smoke mode), the chart
bench/chart.svg and the results section of BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import collections
import datetime
import json
import math
import os
import pathlib
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = pathlib.Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
EXT = pathlib.Path(os.environ.get("BANLOG_EXT", ROOT / "target/release/libbanlog.so"))
WRITER_BIN = pathlib.Path(os.environ.get("BANLOG_BENCH_WRITER", ROOT / "target/release/banlog-bench-writer"))
PLUGIN = ROOT / "wp-plugin" / "banlog"
PHP = shutil.which(os.environ.get("PHP", "php8.2")) or "php"
PHP_FPM = shutil.which("php-fpm8.2") or "/usr/sbin/php-fpm8.2"
CGI_FCGI = shutil.which("cgi-fcgi") or "/usr/bin/cgi-fcgi"

SIZES = {
    "full": dict(calls=1_000_000, chunk=1000, single=1_000_000, writer_lines=1_000_000, writer_runs=5,
                 contend_per_proc=25_000, mem_events=1_000_000, mem_per_req=10_000, mem_idle_reqs=50,
                 wp_requests=300, wp_warmup=20),
    "smoke": dict(calls=2_000, chunk=100, single=300, writer_lines=20_000, writer_runs=1,
                  contend_per_proc=100, mem_events=2_000, mem_per_req=1_000, mem_idle_reqs=3,
                  wp_requests=2, wp_warmup=1),
}

SPAM_RE = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d comment id=(\d+) from host=(\S+) marked as spam$")
SYSLOG_MARK = b" wordpress(bench.example)["

# The ways to log an event, and what each is compared with.
HOOKS = {"banlog_spam": ["fpc_lock", "fallback_spam"],
         "banlog_auth": ["syslog_openclose", "syslog_once", "fallback_auth", "fallback_auth_socket"]}
WAYS = ["banlog_spam", "banlog_auth", "syslog_openclose", "syslog_once", "fpc_lock",
        "fallback_spam", "fallback_auth", "fallback_auth_socket"]
# The pure-PHP ways that send to the syslog daemon themselves: measured paced (the request path:
# the daemon keeps up) and in bursts (1000 in a row: rsyslog's intake is the bound).
SYSLOG_WAYS = ["syslog_openclose", "syslog_once", "fallback_auth", "fallback_auth_socket"]
LABELS = {
    "banlog_spam": "banlog_spam() (extension, file)",
    "banlog_auth": "banlog_auth() (extension, syslog)",
    "syslog_openclose": "openlog+syslog+closelog (WP fail2ban)",
    "syslog_once": "syslog() after one openlog()",
    "fpc_lock": "file_put_contents APPEND+LOCK_EX (Spam Log)",
    "fallback_spam": "plugin fallback, spam (file)",
    "fallback_auth": "plugin fallback, auth (/dev/log)",
    "fallback_auth_socket": "plugin fallback, auth (socket path)",
}

NS_SCRIPT = r"""
set -e
d="$1"; shift
for n in null zero full random urandom tty shm pts; do mount --bind "/dev/$n" "$d/$n"; done
mount --rbind "$d" /dev
exec "$@"
"""


def log(*a):
    print(*a, file=sys.stderr, flush=True)


class Rsyslog:
    """A private rsyslogd on <dir>/dev/log, every message into one file, no rate limit."""

    def __init__(self, workdir: pathlib.Path, socket_path: pathlib.Path):
        self.dir = workdir / "rsyslog"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket = socket_path
        self.out = self.dir / "messages.log"
        self.conf = self.dir / "rsyslog.conf"
        self.conf.write_text(
            f'global(workDirectory="{self.dir}")\n'
            'module(load="imuxsock" SysSock.Use="off")\n'
            f'input(type="imuxsock" Socket="{self.socket}" CreatePath="on" UseSpecialParser="off" '
            'RateLimit.Interval="0")\n'
            f'*.* action(type="omfile" file="{self.out}" template="RSYSLOG_TraditionalFileFormat")\n')
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["rsyslogd", "-n", "-f", str(self.conf), "-i", str(self.dir / "pid")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.socket.exists():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"rsyslogd exited: {self.proc.stderr.read().decode()}")
            time.sleep(0.05)
        raise RuntimeError("rsyslogd did not create its socket")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def size(self):
        return self.out.stat().st_size if self.out.exists() else 0

    def read_from(self, offset):
        if not self.out.exists():
            return b""
        with open(self.out, "rb") as f:
            f.seek(offset)
            return f.read()

    def wait_lines(self, offset, count, mark, timeout=120):
        """Waits until `count` lines with `mark` arrived after `offset`; returns (found, other)."""
        deadline = time.time() + timeout
        last = -1
        while True:
            data = self.read_from(offset)
            lines = data.split(b"\n")[:-1] if data else []
            found = sum(1 for l in lines if mark in l)
            if found >= count or time.time() > deadline:
                return found, len(lines) - found
            if found == last:
                time.sleep(0.2)
            last = found


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, math.ceil(p / 100 * len(sorted_vals)) - 1))
    return sorted_vals[k]


class Bench:
    def __init__(self, mode: str, workdir: pathlib.Path | None):
        self.mode = mode
        self.size = SIZES[mode]
        self.own_workdir = workdir is None
        # Short, private path: unix socket paths are limited to 108 bytes.
        self.w = pathlib.Path(workdir or tempfile.mkdtemp(prefix="banlog-bench-"))
        self.w.mkdir(parents=True, exist_ok=True)
        os.chmod(self.w, 0o755)
        self.logs = self.w / "logs"
        self.logs.mkdir(exist_ok=True)
        self.dev = self.w / "dev"
        self.rsyslog = None
        self.results = {"mode": mode, "sizes": self.size}
        self.rows = []  # flat (section, name, value, unit) for the table and the smoke test

    # ---- environment

    def make_dev(self):
        """<w>/dev: mount points for the real device nodes, the std links, and the private log socket."""
        self.dev.mkdir(exist_ok=True)
        for n in ("null", "zero", "full", "random", "urandom", "tty"):
            (self.dev / n).touch()
        for n in ("shm", "pts"):
            (self.dev / n).mkdir(exist_ok=True)
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
            p = self.dev / name
            if not p.is_symlink():
                p.symlink_to(target)
        os.chmod(self.dev, 0o755)

    def in_ns(self, args):
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", NS_SCRIPT, "sh",
                str(self.dev)] + [str(a) for a in args]

    def env(self):
        e = dict(os.environ)
        e["BANLOG_PLUGIN_DIR"] = str(PLUGIN)
        e["BENCH_SOCKET"] = str(self.rsyslog.socket)
        return e

    def start(self):
        self.make_dev()
        self.rsyslog = Rsyslog(self.w, self.dev / "log").start()
        os.chmod(self.rsyslog.socket, 0o666)
        # The namespace works and PHP's syslog() reaches the private daemon.
        off = self.rsyslog.size()
        subprocess.run(self.in_ns([PHP, "-n", "-r",
                                   'openlog("wordpress(bench.example)", LOG_PID, LOG_AUTH); syslog(LOG_NOTICE, "bench probe");']),
                       check=True, timeout=30)
        found, _ = self.rsyslog.wait_lines(off, 1, b"bench probe", timeout=10)
        if found != 1:
            raise RuntimeError("PHP's syslog() inside the namespace did not reach the private rsyslog")

    def stop(self):
        if self.rsyslog:
            self.rsyslog.stop()
        if self.own_workdir and not os.environ.get("BANLOG_BENCH_KEEP"):
            shutil.rmtree(self.w, ignore_errors=True)

    def row(self, section, name, value, unit, **extra):
        self.rows.append(dict(section=section, name=name, value=value, unit=unit, **extra))

    # ---- cost and until-written

    def php_cost(self, way, mode, calls):
        chunk = self.size["chunk"]
        args = [PHP, "-n", "-d", "memory_limit=-1"]
        if way.startswith("banlog_"):
            args += ["-d", f"extension={EXT}"]
        args += [BENCH / "php" / "cost.php", way, mode, calls, chunk, self.logs]
        target = self.logs / f"{way}.log"
        target.unlink(missing_ok=True)
        off = self.rsyslog.size()
        p = subprocess.run(self.in_ns(args), capture_output=True, text=True, env=self.env(), timeout=3600)
        if p.returncode != 0:
            raise RuntimeError(f"{way} {mode}: php exited {p.returncode}: {p.stderr[-2000:]}")
        r = json.loads(p.stdout.strip().splitlines()[-1])
        # Every line arrived, whole.
        want = r["lines_expected"]
        if r["where"] == "syslog":
            found, other = self.rsyslog.wait_lines(off, want, SYSLOG_MARK)
            r["lines_found"] = found
            r["verified"] = found == want and other == 0
        elif r["where"]:
            data = target.read_bytes()
            lines = data.split(b"\n")
            ok = data.endswith(b"\n") and all(SPAM_RE.match(l) for l in lines[:-1])
            r["lines_found"] = len(lines) - 1
            r["verified"] = ok and len(lines) - 1 == want
            target.unlink()
        else:
            r["verified"] = True
        if not r["verified"]:
            raise RuntimeError(f"{way} {mode}: expected {want} lines, found {r.get('lines_found')}")
        return r

    def run_cost(self):
        n = self.size["calls"]
        cost = {}
        burst = {}
        for way in ["empty"] + WAYS:
            log(f"cost: {way}")
            cost[way] = self.php_cost(way, "paced" if way in SYSLOG_WAYS else "cost", n)
            if way in SYSLOG_WAYS:
                log(f"burst: {way}")
                burst[way] = self.php_cost(way, "burst", n)
        self.results["cost"] = cost
        self.results["burst"] = burst
        until, single = {}, {}
        for way in HOOKS:
            log(f"until written: {way}")
            until[way] = self.php_cost(way, "until", n)
            log(f"one event + flush: {way}")
            single[way] = self.php_cost(way, "single", self.size["single"])
        self.results["until"] = until
        self.results["single"] = single
        for way in WAYS:
            r = cost[way]
            self.row("cost", way, r["batch"]["median_ns"], "ns", p99=r["per_call"]["p99_ns"],
                     per_call_median=r["per_call"]["median_ns"])
        for way in SYSLOG_WAYS:
            self.row("burst", way, burst[way]["batch"]["median_ns"], "ns", p99=burst[way]["batch"]["p99_ns"])
        for way in HOOKS:
            self.row("until", way, until[way]["batch"]["median_ns"], "ns", p99=until[way]["batch"]["p99_ns"])
            self.row("single", way, single[way]["per_call"]["median_ns"], "ns", p99=single[way]["per_call"]["p99_ns"])

    # ---- writer throughput

    def run_writer(self):
        log("writer throughput")
        if not WRITER_BIN.is_file():
            raise RuntimeError(f"{WRITER_BIN} is missing (make bench builds it)")
        p = subprocess.run([WRITER_BIN, self.w / "writer", str(self.size["writer_lines"]), str(self.size["writer_runs"])],
                           capture_output=True, text=True, timeout=3600)
        if p.returncode != 0:
            raise RuntimeError(f"writer bench failed: {p.stderr[-2000:]}")
        r = json.loads(p.stdout)
        self.results["writer"] = r
        for k in ("writer_sinks_spam_lps", "writer_thread_spam_lps", "writer_sinks_auth_file_lps",
                  "ceiling_batches_lps", "ceiling_bufwriter_lps", "ceiling_lps"):
            self.row("writer", k, r[k], "lines/s")

    # ---- contention

    def run_contention(self):
        per = self.size["contend_per_proc"]
        out = []
        for procs in (8, 32):
            for way in ("banlog", "fpc_lock", "fallback"):
                log(f"contention: {procs} x {way}")
                path = self.logs / f"contend-{way}-{procs}.log"
                path.unlink(missing_ok=True)
                start_at = time.time() + 1.0 + 0.05 * procs
                ps = []
                for k in range(procs):
                    args = [PHP, "-n"]
                    if way == "banlog":
                        args += ["-d", f"extension={EXT}"]
                    args += [BENCH / "php" / "contend.php", way, path, 1 + k * per, per, f"{start_at:.6f}"]
                    ps.append(subprocess.Popen([str(a) for a in args], stdout=subprocess.PIPE,
                                               stderr=subprocess.PIPE, text=True, env=self.env()))
                reports = []
                for p in ps:
                    so, se = p.communicate(timeout=3600)
                    if p.returncode != 0:
                        raise RuntimeError(f"contention {way}: php exited {p.returncode}: {se[-2000:]}")
                    reports.append(json.loads(so.strip().splitlines()[-1]))
                total = procs * per
                data = path.read_bytes()
                path.unlink()
                lines = data.split(b"\n")
                tail_ok = data.endswith(b"\n")
                seen = collections.Counter()
                torn = 0 if tail_ok else 1
                for l in lines[:-1]:
                    m = SPAM_RE.match(l)
                    if m:
                        seen[int(m.group(1))] += 1
                    else:
                        torn += 1
                lost = sum(1 for i in range(1, total + 1) if seen[i] == 0)
                dup = sum(c - 1 for c in seen.values() if c > 1)
                start = min(r["start"] for r in reports)
                end = max(r["end"] for r in reports)
                rate = total / (end - start)
                entry = dict(procs=procs, way=way, events=total, seconds=end - start, events_per_s=rate,
                             lines=len(lines) - 1, lost=lost, duplicated=dup, torn=torn,
                             all_ok=all(r["ok"] for r in reports))
                if way == "banlog":
                    entry["queue_full"] = sum(r["stats"]["queue_full"] for r in reports)
                    entry["overflowed"] = sum(r["stats"]["overflowed"] for r in reports)
                out.append(entry)
                self.row("contention", f"{way}_x{procs}", rate, "events/s", lost=lost, torn=torn, duplicated=dup)
        self.results["contention"] = out

    # ---- memory of a php-fpm worker

    def run_memory(self):
        d = self.w / "fpm"
        d.mkdir(exist_ok=True)
        os.chmod(d, 0o777)
        script = d / "fpm-mem.php"
        shutil.copy(BENCH / "php" / "fpm-mem.php", script)
        os.chmod(script, 0o644)
        res = {}
        procs = {}
        try:
            for name, ext in (("noext", False), ("ext", True)):
                sd = d / name
                sd.mkdir(exist_ok=True)
                os.chmod(sd, 0o777)
                sock = sd / "php-fpm.sock"
                conf = sd / "php-fpm.conf"
                conf.write_text(f"""[global]
pid = {sd / 'php-fpm.pid'}
error_log = {sd / 'php-fpm.log'}
daemonize = no
[www]
user = www-data
group = www-data
listen = {sock}
listen.mode = 0666
pm = static
pm.max_children = 1
pm.max_requests = 0
""")
                args = [PHP_FPM, "-n", "--nodaemonize", "--fpm-config", str(conf)]
                if ext:
                    args[1:1] = ["-d", f"extension={EXT}"]
                procs[name] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                               start_new_session=True)
                deadline = time.time() + 30
                while not sock.exists():
                    if procs[name].poll() is not None or time.time() > deadline:
                        raise RuntimeError(f"php-fpm {name} did not start: {procs[name].stderr.read()[-2000:]}")
                    time.sleep(0.05)
                res[name] = dict(sock=sock, log=sd / "spam.log")

            def request(name, n):
                env = dict(os.environ, SCRIPT_FILENAME=str(script), REQUEST_METHOD="GET",
                           QUERY_STRING=f"n={n}&log={res[name]['log']}", SERVER_PROTOCOL="HTTP/1.1",
                           GATEWAY_INTERFACE="CGI/1.1")
                p = subprocess.run([CGI_FCGI, "-bind", "-connect", str(res[name]["sock"])], env=env,
                                   capture_output=True, timeout=600)
                body = p.stdout.split(b"\r\n\r\n", 1)[-1]
                try:
                    return json.loads(body)
                except ValueError:
                    raise RuntimeError(f"php-fpm {name}: bad response {p.stdout[-500:]!r} {p.stderr[-500:]!r}")

            def mem(pid):
                st = pathlib.Path(f"/proc/{pid}/status").read_text()
                rss = int(re.search(r"VmRSS:\s+(\d+) kB", st).group(1))
                roll = pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text()
                pss = int(re.search(r"^Pss:\s+(\d+) kB", roll, re.M).group(1))
                priv = sum(int(x) for x in re.findall(r"^Private_(?:Clean|Dirty):\s+(\d+) kB", roll, re.M))
                threads = int(re.search(r"Threads:\s+(\d+)", st).group(1))
                return dict(rss_kib=rss, pss_kib=pss, private_kib=priv, threads=threads)

            out = {}
            for name in ("noext", "ext"):
                log(f"memory: php-fpm {name}")
                for _ in range(self.size["mem_idle_reqs"]):
                    pid = request(name, 0)["pid"]
                idle = mem(pid)
                total, reqs = self.size["mem_events"], 0
                while reqs * self.size["mem_per_req"] < total:
                    r = request(name, self.size["mem_per_req"])
                    if r["pid"] != pid:
                        raise RuntimeError("php-fpm worker changed during the memory benchmark")
                    reqs += 1
                after = mem(pid)
                out[name] = dict(pid=pid, idle=idle, after=after, requests=reqs,
                                 events=reqs * self.size["mem_per_req"] if name == "ext" else 0)
            lines = res["ext"]["log"].read_bytes().count(b"\n")
            if lines != out["ext"]["events"]:
                raise RuntimeError(f"memory: {lines} spam lines for {out['ext']['events']} events")
            out["added_idle_kib"] = out["ext"]["idle"]["rss_kib"] - out["noext"]["idle"]["rss_kib"]
            out["added_after_kib"] = out["ext"]["after"]["rss_kib"] - out["noext"]["after"]["rss_kib"]
            out["added_idle_private_kib"] = out["ext"]["idle"]["private_kib"] - out["noext"]["idle"]["private_kib"]
            out["added_after_private_kib"] = out["ext"]["after"]["private_kib"] - out["noext"]["after"]["private_kib"]
            self.results["memory"] = out
            self.row("memory", "rss_added_idle", out["added_idle_kib"], "KiB")
            self.row("memory", "rss_added_after_events", out["added_after_kib"], "KiB", events=out["ext"]["events"])
        finally:
            for p in procs.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGQUIT)
                    try:
                        p.wait(20)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()

    # ---- a whole WordPress request

    def run_wordpress(self):
        n, warm = self.size["wp_requests"], self.size["wp_warmup"]
        try:
            sys.path.insert(0, str(ROOT / "tests" / "wp"))
            import harness  # the end-to-end harness of tests/wp
        except Exception as e:  # noqa: BLE001
            self.not_measured("wordpress", f"tests/wp/harness.py cannot be imported: {e}")
            return
        stack = harness.Stack(ext=EXT, max_requests=0, log=lambda *a: None)
        try:
            log("wordpress: starting the stack (MariaDB, php-fpm x2, nginx, rsyslog)")
            stack.start()
            stack.configure_logging()
        except Exception as e:  # noqa: BLE001
            stack.stop()
            self.not_measured("wordpress", f"the harness did not come up: {e!r}"[:500])
            return
        try:
            sources = {"extension": "127.0.9.2", "fallback": "127.0.9.3",
                       "no_plugin": "127.0.9.4", "no_plugin_ext_loaded": "127.0.9.5"}

            def one(mode, i):
                c = stack.client(sources[mode], fallback=mode in ("fallback", "no_plugin"))
                c.cookies["wordpress_test_cookie"] = "WP%20Cookie%20check"
                t = time.perf_counter()
                r = c.post("/wp-login.php", {"log": harness.ADMIN_USER, "pwd": f"wrong password {i}",
                                            "wp-submit": "Log In", "testcookie": "1"})
                d = time.perf_counter() - t
                if r.status != 200 or "login_error" not in r.text:
                    raise RuntimeError(f"wordpress {mode}: not a failed login page: {r.status}")
                return d

            times = {m: [] for m in sources}

            def phase(modes):
                for i in range(warm):
                    for m in modes:
                        one(m, i)
                for i in range(n):
                    for m in modes:
                        times[m].append(one(m, i))

            log("wordpress: plugin active (extension / fallback)")
            phase(["extension", "fallback"])
            stack.deactivate_plugin("banlog/banlog.php")
            log("wordpress: plugin inactive")
            phase(["no_plugin", "no_plugin_ext_loaded"])
            # The plugin's lines arrived (and none without it).
            counts = {}
            for m, src in sources.items():
                counts[m] = sum(1 for l in stack.rsyslog.lines() if l.endswith(f" from {src}"))
            want = n + warm
            if counts["extension"] != want or counts["fallback"] != want or counts["no_plugin"] or counts["no_plugin_ext_loaded"]:
                raise RuntimeError(f"wordpress: auth lines per mode {counts}, expected {want} for the plugin's modes")
            out = {"requests": n, "warmup": warm, "auth_lines": counts, "user": harness.ADMIN_USER}
            for m, v in times.items():
                s = sorted(v)
                out[m] = dict(median_ms=statistics.median(s) * 1e3, p90_ms=pct(s, 90) * 1e3,
                              p99_ms=pct(s, 99) * 1e3, mean_ms=statistics.fmean(s) * 1e3, n=len(s))
            base = out["no_plugin"]["median_ms"]
            out["plugin_share_extension_ms"] = out["extension"]["median_ms"] - out["no_plugin_ext_loaded"]["median_ms"]
            out["plugin_share_fallback_ms"] = out["fallback"]["median_ms"] - base
            self.results["wordpress"] = out
            for m in sources:
                self.row("wordpress", m, out[m]["median_ms"], "ms", p99=out[m]["p99_ms"])
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            self.not_measured("wordpress", f"failed during the run: {e!r}"[:500])
        finally:
            stack.stop()

    def not_measured(self, section, why):
        log(f"{section}: NOT MEASURED: {why}")
        self.results[section] = {"not_measured": why}
        self.row(section, "not_measured", None, "", reason=why)

    # ---- targets

    def targets(self):
        t = []
        cost = self.results.get("cost", {})
        for hook, others in HOOKS.items():
            h = cost[hook]["batch"]["median_ns"]
            for o in others:
                ratio = cost[o]["batch"]["median_ns"] / h
                t.append(dict(name=f"{hook} vs {o}", value=ratio, target=25.0, unit="x cheaper",
                              met=ratio >= 25.0))
        until = self.results.get("until", {})
        if until:
            u = until["banlog_spam"]["batch"]["median_ns"]
            for o in HOOKS["banlog_spam"]:
                ratio = cost[o]["batch"]["median_ns"] / u
                t.append(dict(name=f"until written, file: banlog_spam vs {o}", value=ratio, target=5.0,
                              unit="x cheaper", met=ratio >= 5.0))
            u = until["banlog_auth"]["batch"]["median_ns"]
            burst = self.results["burst"]
            for o in HOOKS["banlog_auth"]:
                # Same load shape on both sides: 1000 messages into rsyslog as fast as they go.
                ratio = burst[o]["batch"]["median_ns"] / u
                t.append(dict(name=f"until written, rsyslog: banlog_auth vs {o}", value=ratio, target=1.5,
                              unit="x cheaper", met=ratio >= 1.5))
        w = self.results.get("writer")
        if w:
            slow = w["ceiling_lps"] / w["writer_thread_spam_lps"]
            t.append(dict(name="writer thread vs write(2) ceiling", value=slow, target=2.0,
                          unit="x slower (at most)", met=slow <= 2.0))
        for c in self.results.get("contention", []):
            if c["procs"] == 32 and c["way"] == "banlog":
                bad = c["lost"] + c["torn"] + c["duplicated"]
                t.append(dict(name="32 processes: lines lost, torn or doubled", value=bad, target=0,
                              unit="lines", met=bad == 0))
        m = self.results.get("memory")
        if m and "added_after_kib" in m:
            worst = max(m["added_idle_kib"], m["added_after_kib"])
            t.append(dict(name="RSS added per php-fpm worker (worst of idle, after events)", value=worst,
                          target=1024, unit="KiB (at most)", met=worst <= 1024))
        self.results["targets"] = t
        return t

    # ---- environment description

    def machine(self):
        def cmd(args):
            try:
                return subprocess.run(args, capture_output=True, text=True, timeout=20).stdout.strip()
            except Exception:  # noqa: BLE001
                return ""
        cpu = ""
        for l in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if l.startswith("model name"):
                cpu = l.split(":", 1)[1].strip()
                break
        mem = int(re.search(r"MemTotal:\s+(\d+)", pathlib.Path("/proc/meminfo").read_text()).group(1))
        return dict(
            date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            cpu=cpu, cpus=os.cpu_count(), mem_gib=round(mem / 1024 / 1024, 1),
            kernel=platform.release(), os=cmd(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"]),
            virt=cmd(["systemd-detect-virt"]) or cmd(["sh", "-c", "lscpu | sed -n 's/^Hypervisor vendor: *//p'"]),
            php=cmd([PHP, "-n", "-r", "echo PHP_VERSION;"]),
            rsyslog=cmd(["sh", "-c", "rsyslogd -v | head -1 | sed 's/ *compiled with://'"]),
            rustc=cmd(["rustc", "--version"]),
            fs=cmd(["findmnt", "-n", "-o", "FSTYPE", "-T", str(self.w)]),
            loadavg_start=pathlib.Path("/proc/loadavg").read_text().split()[:3],
        )


# ---- output

def fmt_ns(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if v >= 10_000:
        return f"{v / 1000:,.1f} µs"
    if v >= 1000:
        return f"{v / 1000:,.2f} µs"
    return f"{v:,.0f} ns"


def table(results) -> str:
    out = []
    cost = results.get("cost", {})
    if cost:
        out.append("### Cost of one event on the request path\n")
        out.append(f"{results['sizes']['calls']:,} calls per way, timed in chunks of {results['sizes']['chunk']} "
                   "(*per event*: median of the chunk means, net of the empty loop; what the targets use), then "
                   "again one by one (*median call*, *p99 call*: net of the timer). The extension's queue is flushed between chunks, untimed, so the hook meets the queue "
                   "a request meets; the syslog ways send chunks of 8 with an untimed 100 µs pause after each, "
                   "so the daemon keeps up (see *Until written* for bursts).\n")
        out.append("| way | per event (chunks) | median call | p99 call | banlog hook is … cheaper |")
        out.append("|---|---:|---:|---:|---:|")
        for way in WAYS:
            r = cost[way]
            hook = "banlog_spam" if way in HOOKS["banlog_spam"] else "banlog_auth" if way in HOOKS["banlog_auth"] else None
            ratio = f"{r['batch']['median_ns'] / cost[hook]['batch']['median_ns']:,.1f}× ({hook})" if hook else "—"
            out.append(f"| {LABELS[way]} | {fmt_ns(r['batch']['median_ns'])} | {fmt_ns(r['per_call']['median_ns'])} | "
                       f"{fmt_ns(r['per_call']['p99_ns'])} | {ratio} |")
        out.append(f"\nLoop overhead {cost['empty']['loop_overhead_ns']:.0f} ns per iteration, "
                   f"hrtime() pair {cost['empty']['timer_overhead_ns']:.0f} ns (both subtracted).\n")
    until = results.get("until", {})
    if until:
        single = results["single"]
        out.append("### Until written\n")
        out.append("| way | per event, chunks of 1000 + flush (median) | p99 chunk | one event + flush (median) | p99 |")
        out.append("|---|---:|---:|---:|---:|")
        for way, where in (("banlog_spam", "file"), ("banlog_auth", "rsyslog")):
            u, s = until[way], single[way]
            out.append(f"| {way} → {where} | {fmt_ns(u['batch']['median_ns'])} | {fmt_ns(u['batch']['p99_ns'])} | "
                       f"{fmt_ns(s['per_call']['median_ns'])} | {fmt_ns(s['per_call']['p99_ns'])} |")
        out.append("\nThe pure-PHP ways have written their line when their call returns: for the file ways their "
                   "cost above is also their cost until written. Through rsyslog, the same load shape "
                   "(1000 messages in a row, no pause) gives, per message:\n")
        out.append("| way (burst of 1000 into rsyslog) | median | p99 chunk | banlog_auth until written is … cheaper |")
        out.append("|---|---:|---:|---:|")
        u = until["banlog_auth"]["batch"]["median_ns"]
        for way in SYSLOG_WAYS:
            b = results["burst"][way]["batch"]
            out.append(f"| {LABELS[way]} | {fmt_ns(b['median_ns'])} | {fmt_ns(b['p99_ns'])} | {b['median_ns'] / u:,.2f}× |")
        out.append("")
    w = results.get("writer")
    if w:
        out.append("### Writer throughput (lines into a file)\n")
        out.append("| what | lines/s | vs ceiling |")
        out.append("|---|---:|---:|")
        c = w["ceiling_lps"]
        for k, label in (("writer_thread_spam_lps", "banlog writer thread, spam lines (queue → file)"),
                         ("writer_sinks_spam_lps", "banlog sinks alone, spam lines (format + write, one thread)"),
                         ("writer_sinks_auth_file_lps", "banlog sinks alone, auth_log lines"),
                         ("ceiling_batches_lps", "write(2) of the same bytes, one call per 512 lines"),
                         ("ceiling_bufwriter_lps", "write(2) of the same bytes, 64 KiB buffer")):
            # auth_log lines are longer: against write(2) of those same bytes.
            ceiling = w.get("ceiling_auth_batches_lps", c) if "auth" in k else c
            out.append(f"| {label} | {w[k]:,.0f} | {ceiling / w[k]:,.1f}× slower |" if not k.startswith("ceiling")
                       else f"| {label} | {w[k]:,.0f} | {c / w[k]:,.2f}× |")
        out.append(f"\n{w['lines']:,} lines of {w['spam_bytes_per_line']:.0f} bytes, median of {w['runs']} runs.\n")
    cont = results.get("contention")
    if cont:
        out.append("### Contention: concurrent PHP processes appending to one spam log\n")
        out.append("| processes | way | events/s | lines | lost | torn | doubled |")
        out.append("|---:|---|---:|---:|---:|---:|---:|")
        for c in cont:
            out.append(f"| {c['procs']} | {c['way']} | {c['events_per_s']:,.0f} | {c['lines']:,} | {c['lost']} | "
                       f"{c['torn']} | {c['duplicated']} |")
        out.append("")
    m = results.get("memory")
    if m:
        out.append("### Memory of a php-fpm worker\n")
        if "not_measured" in m:
            out.append(f"Not measured: {m['not_measured']}\n")
        else:
            out.append("| worker | RSS idle | RSS after events | private after |")
            out.append("|---|---:|---:|---:|")
            out.append(f"| without the extension | {m['noext']['idle']['rss_kib']:,} KiB | {m['noext']['after']['rss_kib']:,} KiB | {m['noext']['after']['private_kib']:,} KiB |")
            out.append(f"| with the extension ({m['ext']['events']:,} events) | {m['ext']['idle']['rss_kib']:,} KiB | {m['ext']['after']['rss_kib']:,} KiB | {m['ext']['after']['private_kib']:,} KiB |")
            out.append(f"| **added by the extension** | **{m['added_idle_kib']:,} KiB** | **{m['added_after_kib']:,} KiB** | {m['added_after_private_kib']:,} KiB |")
            out.append("")
    wp = results.get("wordpress")
    if wp:
        out.append("### A whole WordPress request: failed login on wp-login.php\n")
        if "not_measured" in wp:
            out.append(f"**Not measured**: {wp['not_measured']}\n")
        else:
            out.append("| site | median | p90 | p99 |")
            out.append("|---|---:|---:|---:|")
            for k, label in (("no_plugin", "without the plugin"), ("no_plugin_ext_loaded", "without the plugin, extension loaded"),
                             ("extension", "plugin + extension"), ("fallback", "plugin, pure-PHP fallback")):
                r = wp[k]
                out.append(f"| {label} | {r['median_ms']:.2f} ms | {r['p90_ms']:.2f} ms | {r['p99_ms']:.2f} ms |")
            out.append(f"\n{wp['requests']} requests each, interleaved. Plugin's share of the median: "
                       f"{wp['plugin_share_extension_ms'] * 1000:,.0f} µs with the extension, "
                       f"{wp['plugin_share_fallback_ms'] * 1000:,.0f} µs with the fallback (differences of medians; "
                       "within the noise when smaller than the spread).\n")
    t = results.get("targets")
    if t:
        out.append("### Targets\n")
        out.append("| target | measured | wanted | |")
        out.append("|---|---:|---:|---|")
        for x in t:
            v = x["value"]
            vs = f"{v:,.1f}" if isinstance(v, float) else f"{v:,}"
            out.append(f"| {x['name']} | {vs} {x['unit']} | {x['target']} | {'met' if x['met'] else '**missed**'} |")
        out.append("")
    return "\n".join(out)


def svg_chart(results) -> str:
    """Cost per event of each way (log scale): median bar, p99 tick; until-written bars below."""
    cost = results["cost"]
    bars = []
    for way in WAYS:
        kind = "hook" if way.startswith("banlog_") else "fallback" if way.startswith("fallback") else "php"
        bars.append((LABELS[way], cost[way]["batch"]["median_ns"], cost[way]["per_call"]["p99_ns"], kind))
    for way, where in (("banlog_spam", "file"), ("banlog_auth", "rsyslog")):
        u = results["until"][way]["batch"]
        bars.append((f"{way}() until written ({where}, chunks)", u["median_ns"], u["p99_ns"], "until"))
        s = results["single"][way]["per_call"]
        bars.append((f"{way}() + flush per event ({where})", s["median_ns"], s["p99_ns"], "until"))
    colors = {"hook": "#1b7f3b", "php": "#b03a2e", "fallback": "#c27c0e", "until": "#2e5fb0"}
    left, right, top, row_h = 330, 40, 60, 26
    width = 980
    plot_w = width - left - right
    height = top + row_h * len(bars) + 70
    vals = [v for b in bars for v in (b[1], b[2]) if v and v > 0]
    lo = 10 ** math.floor(math.log10(max(1.0, min(vals))))
    hi = 10 ** math.ceil(math.log10(max(vals)))

    def x(v):
        v = max(v, lo)
        return left + plot_w * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    def esc(s):
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
         f'<rect width="{width}" height="{height}" fill="white"/>',
         f'<text x="{left}" y="22" font-size="15" font-weight="bold">Cost of one log event (log scale; bar = median, tick = p99)</text>',
         f'<text x="{left}" y="40" fill="#555">{esc(results["machine"]["cpu"])}, {results["machine"]["cpus"]} CPUs, '
         f'PHP {esc(results["machine"]["php"])}, {esc(results["machine"]["date"])}</text>']
    d = lo
    while d <= hi:
        for m in (1, 2, 5):
            v = d * m
            if v > hi:
                break
            xx = x(v)
            s.append(f'<line x1="{xx:.1f}" y1="{top - 6}" x2="{xx:.1f}" y2="{top + row_h * len(bars)}" '
                     f'stroke="{"#ccc" if m == 1 else "#eee"}"/>')
            if m == 1:
                s.append(f'<text x="{xx:.1f}" y="{top + row_h * len(bars) + 16}" text-anchor="middle" fill="#444">{esc(fmt_ns(v))}</text>')
        d *= 10
    for i, (label, med, p99, kind) in enumerate(bars):
        y = top + i * row_h
        s.append(f'<text x="{left - 8}" y="{y + row_h * 0.65:.1f}" text-anchor="end">{esc(label)}</text>')
        s.append(f'<rect x="{left}" y="{y + 4}" width="{max(1.0, x(med) - left):.1f}" height="{row_h - 8}" fill="{colors[kind]}"/>')
        s.append(f'<text x="{x(med) + 4:.1f}" y="{y + row_h * 0.65:.1f}" fill="#222">{esc(fmt_ns(med))}</text>')
        if p99 and p99 > 0:
            px = x(p99)
            s.append(f'<line x1="{px:.1f}" y1="{y + 2}" x2="{px:.1f}" y2="{y + row_h - 2}" stroke="#000" stroke-width="2"/>')
    ly = top + row_h * len(bars) + 40
    lx = left
    for kind, label in (("hook", "banlog extension"), ("php", "pure-PHP ways of other plugins"),
                        ("fallback", "banlog plugin, pure-PHP fallback"), ("until", "banlog, until written")):
        s.append(f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{colors[kind]}"/>')
        s.append(f'<text x="{lx + 16}" y="{ly}">{esc(label)}</text>')
        lx += 30 + 7 * len(label)
    s.append("</svg>")
    return "\n".join(s) + "\n"


def update_benchmarks_md(md_table: str, results):
    path = ROOT / "BENCHMARKS.md"
    if not path.exists():
        return
    text = path.read_text()
    begin, end = "<!-- bench:results:begin -->", "<!-- bench:results:end -->"
    if begin not in text or end not in text:
        return
    m = results["machine"]
    head = (f"Last run: {m['date']} · {m['cpu']} · {m['cpus']} CPUs ({m['virt'] or 'bare metal'}) · "
            f"{m['mem_gib']} GiB · {m['os']} · kernel {m['kernel']} · PHP {m['php']} · {m['rsyslog']} · "
            f"{m['rustc']} · log files on {m['fs']} · load average {' '.join(m['loadavg_start'])} at start, "
            f"{' '.join(m['loadavg_end'])} at end · {results['elapsed_s']:.0f} s in all.\n\n")
    new = text.split(begin)[0] + begin + "\n" + head + md_table + "\n" + end + text.split(end, 1)[1]
    path.write_text(new)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: exercises every path in seconds")
    ap.add_argument("--out", help="results file (default bench/results.json, smoke: bench/out/smoke-results.json)")
    ap.add_argument("--workdir", help="work directory (default: a fresh one in /tmp, removed afterwards)")
    ap.add_argument("--render", action="store_true",
                    help="only print the table, chart and BENCHMARKS.md section again from bench/results.json")
    ap.add_argument("--only", help="comma-separated parts: cost,writer,contention,memory,wordpress")
    a = ap.parse_args()
    mode = "smoke" if a.smoke else "full"
    if a.render:
        results = json.loads((BENCH / "results.json").read_text())
        md = table(results)
        print(md)
        (BENCH / "chart.svg").write_text(svg_chart(results))
        update_benchmarks_md(md, results)
        return
    out = pathlib.Path(a.out) if a.out else (BENCH / "out" / "smoke-results.json" if a.smoke else BENCH / "results.json")
    parts = (a.only or "cost,writer,contention,memory,wordpress").split(",")
    if os.geteuid() != 0:
        sys.exit("make bench runs as root: it starts its own rsyslog, php-fpm and a private mount namespace")
    if not EXT.is_file():
        sys.exit(f"{EXT} is missing: run 'make build'")
    b = Bench(mode, pathlib.Path(a.workdir) if a.workdir else None)
    t0 = time.time()
    try:
        b.results["machine"] = b.machine()
        b.start()
        if "cost" in parts:
            b.run_cost()
        if "writer" in parts:
            b.run_writer()
        if "contention" in parts:
            b.run_contention()
        if "memory" in parts:
            b.run_memory()
        if "wordpress" in parts:
            b.run_wordpress()
        if "cost" in parts:
            b.targets()
    finally:
        b.stop()
    b.results["machine"]["loadavg_end"] = pathlib.Path("/proc/loadavg").read_text().split()[:3]
    b.results["elapsed_s"] = time.time() - t0
    b.results["rows"] = b.rows
    md = table(b.results)
    print(md)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(b.results, indent=1, default=str) + "\n")
    log(f"wrote {out}")
    if "cost" in parts and "until" in b.results:
        chart = (BENCH / "out" / "smoke-chart.svg") if a.smoke else (BENCH / "chart.svg")
        chart.parent.mkdir(parents=True, exist_ok=True)
        chart.write_text(svg_chart(b.results))
        log(f"wrote {chart}")
    if not a.smoke and a.out is None and set(parts) >= {"cost", "writer", "contention", "memory", "wordpress"}:
        update_benchmarks_md(md, b.results)
        log("updated BENCHMARKS.md")


if __name__ == "__main__":
    main()
