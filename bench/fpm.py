"""The benchmark's php-fpm parts: a worker's memory, one event until written per request, and a
whole WordPress request (the tests' stack, tests/support/wordpress.py)."""
from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import statistics
import time
import traceback

from common import BENCH, EXT, ROOT, SPAM_RE, SYSLOG_MARK, log, pct
from fcgi import FcgiClient, FpmPool, cgi_fcgi, params

# The request shapes, each against its anchor: none is the request's own cost. banlog's two ways
# use two sites' settings, so the worker alternates between them (as a multisite worker does).
FPM_WAYS = ["none", "banlog_spam", "fpc_lock", "banlog_auth", "syslog_openclose"]
# Then a phase of its own: the same worker serving one site, whose settings name both sinks.
FPM_SITE_WAYS = ["none", "site_spam", "fpc_lock", "site_auth", "syslog_openclose"]


def summary(ns):
    s = sorted(ns)
    return dict(median_ns=statistics.median(s), p90_ns=pct(s, 90), p99_ns=pct(s, 99), n=len(s))


class FpmParts:

    def run_memory(self):
        d = self.w / "fpm"
        d.mkdir(exist_ok=True)
        os.chmod(d, 0o777)
        script = d / "fpm-mem.php"
        shutil.copy(BENCH / "php" / "fpm-mem.php", script)
        os.chmod(script, 0o644)
        pools = {}
        try:
            for name, ext in (("noext", None), ("ext", EXT)):
                pools[name] = FpmPool(d / name, ext).start()
            logs = {name: d / name / "spam.log" for name in pools}

            def request(name, n):
                out, _ = cgi_fcgi(pools[name].sock, params(script, f"n={n}&log={logs[name]}"))
                body = out.split(b"\r\n\r\n", 1)[-1]
                try:
                    return json.loads(body)
                except ValueError:
                    raise RuntimeError(f"php-fpm {name}: bad response {out[-500:]!r}")

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
            lines = logs["ext"].read_bytes().count(b"\n")
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
            for p in pools.values():
                p.stop()

    # ---- one event until written, per php-fpm request

    def run_requests(self):
        """Requests that each log one event (or none), interleaved, with idle gaps between them, to
        one php-fpm worker that has the extension loaded and runs in the benchmark's namespace (so
        /dev/log is the private rsyslog). Timed from the client: connect to end of request."""
        d = self.w / "fpm-req"
        logs = self.w / "fpm-logs"
        logs.mkdir(exist_ok=True)
        os.chmod(logs, 0o777)
        # A spool directory of this run's own: journals another run left for /dev/log stay there.
        spool = self.w / "fpm-spool"
        spool.mkdir(exist_ok=True)
        shutil.chown(spool, "www-data", "www-data")
        os.chmod(spool, 0o700)
        pool = FpmPool(d, EXT, wrap=self.in_ns, ini={"banlog.spool_dir": spool})
        script = d / "fpm-request.php"
        shutil.copy(BENCH / "php" / "fpm-request.php", script)
        os.chmod(script, 0o644)
        n, gap = self.size["fpm_requests"], self.size["fpm_gap_s"]
        off = self.rsyslog.size()
        res, counter = {}, [0]
        try:
            pool.start()
            client = FcgiClient(pool.sock)
            drivers = {"fcgi": client.request, "cgi-fcgi": lambda p: cgi_fcgi(pool.sock, p)}

            def one(way, send):
                counter[0] += 1
                body, ns = send(params(script, f"way={way}&i={counter[0]}&dir={logs}"))
                if not body.endswith(b"ok"):
                    raise RuntimeError(f"fpm request {way}: {body[-300:]!r}")
                return ns

            made = {w: 0 for w in FPM_WAYS + FPM_SITE_WAYS}
            phases = (("fcgi", n, FPM_WAYS), ("cgi-fcgi", self.size["fpm_cgi_requests"], FPM_WAYS),
                      ("fcgi_one_site", n, FPM_SITE_WAYS))
            for phase, count, ways in phases:
                driver = phase.split("_")[0]
                log(f"one event per php-fpm request: {phase}, {count} requests per way")
                times = {w: [] for w in ways}
                for w in ways:  # warm-up: worker, files, sockets
                    for _ in range(3):
                        one(w, drivers[driver])
                for i in range(count):
                    for w in ways[i % len(ways):] + ways[:i % len(ways)]:
                        times[w].append(one(w, drivers[driver]))
                        time.sleep(gap)
                for w in ways:
                    made[w] += 3 + count
                res[phase] = {w: summary(v) for w, v in times.items()}
        finally:
            pool.stop()
        # Every line arrived whole: the files, and rsyslog.
        for w in ("banlog_spam", "fpc_lock", "site_spam"):
            data = (logs / f"fpm-{w}.log").read_bytes()
            lines = data.split(b"\n")
            if not data.endswith(b"\n") or not all(SPAM_RE.match(l) for l in lines[:-1]) or len(lines) - 1 != made[w]:
                raise RuntimeError(f"fpm {w}: {len(lines) - 1} lines for {made[w]} requests, or a torn one")
        auth = made["banlog_auth"] + made["syslog_openclose"] + made["site_auth"]
        found, _ = self.rsyslog.wait_lines(off, auth, SYSLOG_MARK)
        if found != auth:
            raise RuntimeError(f"fpm auth: {found} syslog lines for {auth} requests")
        res["requests_per_way"] = {phase: count for phase, count, _ in phases}
        res["gap_ms"] = gap * 1e3
        self.results["fpm_requests"] = res
        for phase, _, ways in phases:
            for w in ways:
                r = res[phase][w]
                self.row("fpm_request", f"{phase}:{w}", r["median_ns"], "ns", p99=r["p99_ns"])

    # ---- a whole WordPress request

    def run_wordpress(self):
        n, warm = self.size["wp_requests"], self.size["wp_warmup"]
        try:
            from support.wordpress import ADMIN_USER, Stack  # the tests' WordPress stack
        except Exception as e:  # noqa: BLE001
            self.not_measured("wordpress", f"tests/support/wordpress.py cannot be imported: {e}")
            return
        stack = Stack(ext=EXT, max_requests=0, log=lambda *a: None)
        try:
            log("wordpress: starting the stack (MariaDB, php-fpm x2, nginx, rsyslog)")
            stack.start()
            stack.configure_logging()
        except Exception as e:  # noqa: BLE001
            stack.stop()
            self.not_measured("wordpress", f"the WordPress stack did not come up: {e!r}"[:500])
            return
        try:
            sources = {"extension": "127.0.9.2", "fallback": "127.0.9.3",
                       "no_plugin": "127.0.9.4", "no_plugin_ext_loaded": "127.0.9.5"}

            def one(mode, i):
                c = stack.client(sources[mode], fallback=mode in ("fallback", "no_plugin"))
                c.cookies["wordpress_test_cookie"] = "WP%20Cookie%20check"
                t = time.perf_counter()
                r = c.post("/wp-login.php", {"log": ADMIN_USER, "pwd": f"wrong password {i}",
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
            out = {"requests": n, "warmup": warm, "auth_lines": counts, "user": ADMIN_USER}
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

