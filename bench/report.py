"""The benchmark's report: the Markdown table, the SVG chart, the results section of BENCHMARKS.md."""
from __future__ import annotations

import math

from common import FPM_ANCHORS, HOOKS, IDLE, LABELS, ROOT, SYSLOG_WAYS, WAYS


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
    out.extend(one_event_tables(results))
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


def one_event_tables(results) -> list[str]:
    out = []
    idle = results.get("idle")
    if idle:
        gap = results["sizes"].get("idle_gap_us", 1000)
        out.append("### One event until written, PHP CLI, idle gaps\n")
        rounds = next(iter(idle.values())).get("rounds", 1)
        out.append(f"Each call timed alone, then an untimed {gap} µs pause, as between requests. banlog: the hook and "
                   "`banlog_flush()` (the line is in the file, or taken by the syslog socket); the anchors: the "
                   f"call (their line is written when it returns). Each hook and its anchor take turns over {rounds} "
                   f"rounds, a PHP process per round, {idle[next(iter(IDLE))]['per_call']['n']:,} calls each in all.\n")
        out.append("| event | banlog median | banlog p99 | anchor | anchor median | anchor p99 | banlog is … cheaper (median) |")
        out.append("|---|---:|---:|---|---:|---:|---:|")
        for hook, anchor in IDLE.items():
            b, a = idle[hook]["per_call"], idle[anchor]["per_call"]
            out.append(f"| {hook} | {fmt_ns(b['median_ns'])} | {fmt_ns(b['p99_ns'])} | {LABELS[anchor]} | "
                       f"{fmt_ns(a['median_ns'])} | {fmt_ns(a['p99_ns'])} | {a['median_ns'] / b['median_ns']:,.2f}× |")
        out.append("")
    fpm = results.get("fpm_requests")
    if fpm:
        out.append("### One event until written, per php-fpm request\n")
        out.append(f"One php-fpm worker (extension loaded) serves requests that each log one event one way (or none), "
                   f"interleaved, {fpm['gap_ms']:.0f} ms apart; each timed from the client's connect to the end of "
                   "the request (php-fpm ends it after the extension's request shutdown, so banlog's file line is written "
                   "by then, and its syslog line is in the sink's journal on disk, sent as soon as php-fpm has ended "
                   "the response). *Added* is the median less the median of the request that logs nothing. Every banlog "
                   "request calls `banlog_configure()` first, as the plugin does.\n")
        two = "banlog's requests use two sites' settings (spam to a file for one, auth to syslog for the other), so the worker alternates between them, as a multisite worker does"
        phases = (("fcgi", f"a FastCGI client in the benchmark's process (a connection per request, as nginx); {two}"),
                  ("cgi-fcgi", f"cgi-fcgi, a process per request; {two}"),
                  ("fcgi_one_site", "the FastCGI client, then the same worker serving one site: one set of settings "
                                    "naming both the spam log and syslog"))
        for phase, what in phases:
            r = fpm.get(phase)
            if not r:
                continue
            base = r["none"]["median_ns"]
            out.append(f"{fpm['requests_per_way'][phase]:,} requests per way through {what}:\n")
            out.append("| request logs | median | p99 | added (median) | banlog is … cheaper (added) |")
            out.append("|---|---:|---:|---:|---:|")
            for w in r:
                x = r[w]
                added = x["median_ns"] - base
                ratio = "—"
                if w in FPM_ANCHORS:
                    a_added = r[FPM_ANCHORS[w]]["median_ns"] - base
                    ratio = f"{a_added / added:,.2f}×" if added > 0 else "n/a (within the noise)"
                label = "nothing" if w == "none" else LABELS.get(w, w)
                out.append(f"| {label} | {fmt_ns(x['median_ns'])} | {fmt_ns(x['p99_ns'])} | "
                           f"{'—' if w == 'none' else fmt_ns(added)} | {ratio} |")
            out.append("")
    return out


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

