"""`make bench-smoke` keeps every path of the benchmark working.

Runs the benchmark in its tiny mode and checks that the results have every row, each a positive,
finite number. Never a timing assertion: the sizes are far too small for the numbers to mean
anything, and timing depends on the machine. Correctness found on the way (every line arrived
whole, the lines the plugin should write were written) is checked, because it is not timing.
"""
import json
import math
import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

from support.paths import ROOT

RESULTS = ROOT / "bench" / "out" / "smoke-results.json"
CHART = ROOT / "bench" / "out" / "smoke-chart.svg"

WAYS = ["banlog_spam", "banlog_auth", "syslog_openclose", "syslog_once", "fpc_lock",
        "fallback_spam", "fallback_auth", "fallback_auth_socket"]
SYSLOG_WAYS = ["syslog_openclose", "syslog_once", "fallback_auth", "fallback_auth_socket"]
EXPECTED_ROWS = (
    [("cost", w) for w in WAYS]
    + [("burst", w) for w in SYSLOG_WAYS]
    + [("until", h) for h in ("banlog_spam", "banlog_auth")]
    + [("single", h) for h in ("banlog_spam", "banlog_auth")]
    + [("idle", w) for w in ("banlog_spam", "fpc_lock", "banlog_auth", "syslog_openclose")]
    + [("fpm_request", f"{d}:{w}") for d in ("fcgi", "cgi-fcgi")
       for w in ("none", "banlog_spam", "fpc_lock", "banlog_auth", "syslog_openclose")]
    + [("fpm_request", f"fcgi_one_site:{w}") for w in ("none", "site_spam", "fpc_lock", "site_auth", "syslog_openclose")]
    + [("writer", k) for k in ("writer_sinks_spam_lps", "writer_thread_spam_lps", "writer_sinks_auth_file_lps",
                               "ceiling_batches_lps", "ceiling_bufwriter_lps", "ceiling_lps")]
    + [("contention", f"{w}_x{n}") for n in (8, 32) for w in ("banlog", "fpc_lock", "fallback")]
    + [("memory", "rss_added_idle"), ("memory", "rss_added_after_events")]
    + [("wordpress", m) for m in ("extension", "fallback", "no_plugin", "no_plugin_ext_loaded")]
)


def positive_finite(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


@pytest.fixture(scope="module")
def results():
    if os.geteuid() != 0:
        pytest.skip("the benchmark needs root (private mount namespace, its own rsyslog and php-fpm)")
    RESULTS.unlink(missing_ok=True)
    env = dict(os.environ)
    env.pop("MAKEFLAGS", None)
    p = subprocess.run(["make", "-s", "bench-smoke"], cwd=ROOT, capture_output=True, text=True,
                       timeout=1800, env=env)
    assert p.returncode == 0, f"make bench-smoke failed:\n{p.stdout[-3000:]}\n{p.stderr[-5000:]}"
    assert "### Cost of one event" in p.stdout, "the table is printed"
    return json.loads(RESULTS.read_text())


def test_every_row_is_there_with_a_sane_number(results):
    rows = {(r["section"], r["name"]): r for r in results["rows"]}
    missing = [k for k in EXPECTED_ROWS if k not in rows]
    assert not missing, f"rows missing: {missing}; not measured: {[r for r in results['rows'] if r['value'] is None]}"
    for key in EXPECTED_ROWS:
        r = rows[key]
        # Memory added may honestly be 0 or slightly negative in a tiny run; it must be a finite number.
        if key[0] == "memory":
            assert isinstance(r["value"], int), r
        else:
            assert positive_finite(r["value"]), r
        if "p99" in r:
            assert positive_finite(r["p99"]), r


def test_cost_runs_wrote_every_line(results):
    for section in ("cost", "burst", "until", "single", "idle"):
        for way, r in results[section].items():
            assert r["verified"], (section, way)
            assert r["calls"] >= 1
    for way in ("banlog_spam", "banlog_auth"):
        s = results["cost"][way]["stats"]
        assert s["dropped"] == 0 and s["accepted"] == s["written"], s


def test_contention_loses_and_tears_nothing(results):
    entries = results["contention"]
    assert {(c["procs"], c["way"]) for c in entries} == {(n, w) for n in (8, 32) for w in ("banlog", "fpc_lock", "fallback")}
    for c in entries:
        assert (c["lost"], c["torn"], c["duplicated"]) == (0, 0, 0), c
        assert c["lines"] == c["events"] and c["all_ok"], c


def test_memory_and_wordpress_parts_measured(results):
    m = results["memory"]
    assert m["ext"]["events"] > 0 and m["ext"]["after"]["threads"] >= 2, "the writer thread runs in the worker"
    wp = results["wordpress"]
    assert "not_measured" not in wp, wp
    want = wp["requests"] + wp["warmup"]
    assert wp["auth_lines"] == {"extension": want, "fallback": want, "no_plugin": 0, "no_plugin_ext_loaded": 0}


def test_targets_are_evaluated(results):
    t = results["targets"]
    assert len(t) >= 14
    for x in t:
        assert isinstance(x["met"], bool)
        assert isinstance(x["value"], (int, float)) and math.isfinite(x["value"]), x


def test_chart_is_svg(results):
    root = ET.parse(CHART).getroot()
    assert root.tag.endswith("svg")
    assert len(root) > 10
