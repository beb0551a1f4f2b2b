"""The benchmark's runner: its environment (a private rsyslog, a mount namespace) and the parts
timed in PHP's CLI (cost, until written, writer, contention); the php-fpm parts are in fpm.py."""
from __future__ import annotations

import collections
import datetime
import json
import os
import pathlib
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
import time

from common import (BENCH, EXT, FPM_ANCHORS, HOOKS, IDLE, NS_SCRIPT, PHP, PLUGIN, SIZES, SPAM_RE, SYSLOG_MARK, SYSLOG_WAYS, WAYS,
                    WRITER_BIN, Rsyslog, log, pct)
from fpm import FpmParts


class Bench(FpmParts):
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
        e["BENCH_IDLE_US"] = str(self.size["idle_gap_us"])
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
        idle = self.results["idle"] = self.run_idle()
        for way in WAYS:
            r = cost[way]
            self.row("cost", way, r["batch"]["median_ns"], "ns", p99=r["per_call"]["p99_ns"],
                     per_call_median=r["per_call"]["median_ns"])
        for way in SYSLOG_WAYS:
            self.row("burst", way, burst[way]["batch"]["median_ns"], "ns", p99=burst[way]["batch"]["p99_ns"])
        for way in HOOKS:
            self.row("until", way, until[way]["batch"]["median_ns"], "ns", p99=until[way]["batch"]["p99_ns"])
            self.row("single", way, single[way]["per_call"]["median_ns"], "ns", p99=single[way]["per_call"]["p99_ns"])
        for way, r in idle.items():
            self.row("idle", way, r["per_call"]["median_ns"], "ns", p99=r["per_call"]["p99_ns"])

    def run_idle(self):
        """One event until written with idle gaps: the hook and its anchor take turns, a process per
        round each (the order alternates), so that a drift of the machine's speed over the run
        weighs on both alike; each way's calls of all rounds are summed up together."""
        rounds = self.size["idle_rounds"]
        per_round = max(1, self.size["idle_calls"] // rounds)
        idle = {}
        for hook, anchor in IDLE.items():
            samples, calls = {hook: [], anchor: []}, {hook: 0, anchor: 0}
            for r in range(rounds):
                for way in ((hook, anchor) if r % 2 == 0 else (anchor, hook)):
                    log(f"one event until written, idle gaps: {way}, round {r + 1} of {rounds}")
                    run = self.php_cost(way, "idle", per_round)  # raises unless every line arrived
                    samples[way] += run["per_call_samples"]
                    calls[way] += run["calls"]
            for way, v in samples.items():
                s = sorted(v)
                idle[way] = dict(rounds=rounds, calls=calls[way], verified=True,
                                 per_call=dict(median_ns=statistics.median(s), p90_ns=pct(s, 90), p99_ns=pct(s, 99),
                                               p999_ns=pct(s, 99.9), n=len(s)))
        return idle

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
        idle = self.results.get("idle", {})
        for hook, anchor in IDLE.items():
            if hook in idle:
                b, a = idle[hook]["per_call"], idle[anchor]["per_call"]
                t.append(dict(name=f"one event until written, CLI, idle gaps: {hook} vs {anchor} (median)",
                              value=a["median_ns"] / b["median_ns"], target=2.0, unit="x cheaper",
                              met=a["median_ns"] / b["median_ns"] >= 2.0))
                t.append(dict(name=f"one event until written, CLI, idle gaps: {hook} vs {anchor} (p99)",
                              value=a["p99_ns"] / b["p99_ns"], target=1.0, unit="x (anchor p99 / banlog p99)",
                              met=b["p99_ns"] <= a["p99_ns"]))
        for phase, shape in (("fcgi", "two sites"), ("fcgi_one_site", "one site")):
            fpm = self.results.get("fpm_requests", {}).get(phase)
            if not fpm:
                continue
            base = fpm["none"]["median_ns"]
            for hook in (h for h in fpm if h in FPM_ANCHORS):
                anchor = FPM_ANCHORS[hook]
                added_b, added_a = fpm[hook]["median_ns"] - base, fpm[anchor]["median_ns"] - base
                # A floor of 1 ns: in a tiny run the difference of medians may be zero or less.
                ratio = added_a / max(added_b, 1.0)
                t.append(dict(name=f"php-fpm request ({shape}), one event: {hook} vs {anchor} (median added to the request)",
                              value=ratio, target=2.0, unit="x cheaper", met=ratio >= 2.0))
                pb, pa = fpm[hook]["p99_ns"], fpm[anchor]["p99_ns"]
                t.append(dict(name=f"php-fpm request ({shape}), one event: {hook} vs {anchor} (p99 request)",
                              value=pa / pb, target=1.0, unit="x (anchor p99 / banlog p99)", met=pb <= pa))
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
