#!/usr/bin/env python3
"""banlog's benchmarks (`make bench`, `make bench-smoke`): everything in one run, on one machine.

Parts, each with real components only:
  cost        one log event on the request path: banlog's hooks against the pure-PHP ways
  until       the same, until the lines are written (banlog_flush()), file and real rsyslog; and one
              event until written with idle gaps, against the anchors' ways
  writer      the writer alone (lines/s into a file) against a plain write(2) loop of the same bytes
  contention  8 and 32 PHP processes appending to one spam log; every line checked
  memory      resident size a php-fpm worker gains from the extension, idle and after 1M events
  requests    one event until written per php-fpm request (FastCGI), against the anchors' ways
  wordpress   a failed login on wp-login.php through nginx + php-fpm + MariaDB (tests/support/wordpress.py)

Syslog: a private rsyslogd, started here, listens on <workdir>/dev/log. PHP's syslog() always
sends to /dev/log, so every PHP process of the benchmark runs in a private mount namespace
(`unshare --mount`) whose /dev is <workdir>/dev (the real device nodes bind-mounted into it, plus
the private socket). The machine's own /dev/log and syslog are never touched.

Prints a table, writes bench/results.json (bench/out/smoke-results.json in smoke mode), the chart
bench/chart.svg and the results section of BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from common import BENCH, EXT, log  # noqa: E402
from report import svg_chart, table, update_benchmarks_md  # noqa: E402
from runner import Bench  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: exercises every path in seconds")
    ap.add_argument("--out", help="results file (default bench/results.json, smoke: bench/out/smoke-results.json)")
    ap.add_argument("--workdir", help="work directory (default: a fresh one in /tmp, removed afterwards)")
    ap.add_argument("--render", action="store_true",
                    help="only print the table, chart and BENCHMARKS.md section again from bench/results.json")
    ap.add_argument("--only", help="comma-separated parts: cost,writer,contention,memory,requests,wordpress")
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
    parts = (a.only or "cost,writer,contention,memory,requests,wordpress").split(",")
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
        if "requests" in parts:
            b.run_requests()
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
    if not a.smoke and a.out is None and set(parts) >= {"cost", "writer", "contention", "memory", "requests", "wordpress"}:
        update_benchmarks_md(md, b.results)
        log("updated BENCHMARKS.md")


if __name__ == "__main__":
    main()

