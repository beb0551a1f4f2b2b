"""`banlog report` on hostile input: markup and terminal escapes in jail names and log lines (text on
the page and on the terminal, never markup), forged banlog lines (not counted), logs that are not
files (a FIFO without a writer, a device: refused at once), missing logs, bad periods, rotated
and gzip-compressed logs, and more addresses than it keeps (bounded memory, said in the report)."""
import gzip
import json
import os
import time

import pytest

from support.sidecar import check_report_page, run_measured, samples, sidecar

MiB = 1024 * 1024
HOSTILE_JAILS = ["<script>alert(1)</script>", 'x"><img src=x onerror=alert(1)>', "a&b]]><!--", "\x1b[31mred"]


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")


def f2b_line(t, jail, what, addr):
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))
    return f"{stamp},042 fail2ban.actions        [812]: NOTICE  [{jail}] {what} {addr}"


def spam_lines(addr, t, n=1):
    line = next(s["line"] for s in samples(addr=addr, time=str(t)) if s["layout"] == "spam-log")
    return [line] * n


def report(tmp_path, *args, check=True):
    """`banlog report` over the given logs only (an empty fail2ban folder: nothing found there)."""
    empty = tmp_path / "no-fail2ban"
    empty.mkdir(exist_ok=True)
    return sidecar("report", "--fail2ban-dir", empty, "--days", "1", *args, check=check)


def test_markup_in_jail_names_and_lines_stays_text(tmp_path):
    now = int(time.time()) - 5
    f2b = tmp_path / "fail2ban.log"
    f2b.write_text("\n".join(f2b_line(now, j, "Ban", "192.0.2.7") for j in HOSTILE_JAILS) + "\n")
    spam = tmp_path / "spam.log"
    real = spam_lines("192.0.2.7", now)
    stamp = real[0][:19]
    forged = [f"{stamp} comment id=1 from host=<b>192.0.2.8</b> marked as spam",
              f"{stamp} comment id=1 from host=192.0.2.8 marked as spam<script>",
              f"{stamp} comment id=1 from host=192.0.2.8 marked as spam\x1b[2J",
              f"{stamp} comment id=01 from host=192.0.2.8 marked as spam"]
    spam.write_text("\n".join(real + forged) + "\n")
    page = tmp_path / "report.html"
    p = report(tmp_path, "--fail2ban-log", f2b, "--spam-log", spam, "--html", page)
    assert "\x1b" not in p.stdout and "\\u{1b}[31mred: 1 ban" in p.stdout, p.stdout
    root = check_report_page(page)
    text = "".join(root.itertext())
    for j in HOSTILE_JAILS[:3]:
        assert f"{j}: 1 ban, 0 unbans" in text, j  # the name, whole, as text
    assert "\ufffd[31mred" in text  # a control character XML cannot hold
    r = json.loads(report(tmp_path, "--fail2ban-log", f2b, "--spam-log", spam, "--json").stdout)
    assert r["totals"]["events"]["spam"] == 1  # the forged lines are not banlog's
    assert sorted(r["jails"]) == sorted(HOSTILE_JAILS)
    assert r["totals"]["top_addresses"] == [{"addr": "192.0.2.7", "events": 1, "bans": 4}]


@pytest.mark.parametrize("option", ["--fail2ban-log", "--spam-log", "--auth-log"])
def test_a_fifo_without_writer_is_refused_at_once(tmp_path, option):
    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo)
    ok = tmp_path / "ok.log"
    ok.touch()
    logs = {"--fail2ban-log": ok, "--spam-log": ok, "--auth-log": ok, option: fifo}
    args = [a for k, v in logs.items() for a in (k, v)]
    code, out, err, _ = run_measured(["report", "--fail2ban-dir", tmp_path, *args], timeout=20)
    assert code == 2, (out, err)
    assert f"banlog: {fifo} is a FIFO (named pipe), not a regular file" in err


def test_devices_missing_logs_and_bad_periods_are_clear_errors(tmp_path):
    ok = tmp_path / "ok.log"
    ok.touch()
    cases = [
        (["--fail2ban-log", "/dev/zero"], "/dev/zero is a character device, not a regular file"),
        (["--fail2ban-log", tmp_path / "nope.log"], f"cannot open {tmp_path / 'nope.log'}: No such file"),
        (["--fail2ban-log", ok, "--spam-log", tmp_path], f"{tmp_path} is a folder, not a regular file"),
        (["--fail2ban-log", ok, "--since", "2026-02-30"], "--since '2026-02-30': expected a date as YYYY-MM-DD"),
        (["--fail2ban-log", ok, "--days", "0"], "--days 0: expected 1 to 3660"),
        (["--fail2ban-log", ok, "--since", "2999-01-01"], "--since 2999-01-01 is after today"),
    ]
    for args, want in cases:
        p = sidecar("report", "--fail2ban-dir", tmp_path, *args, check=False)
        assert p.returncode == 2 and want in p.stderr, (args, p.stderr)
        assert "panicked" not in p.stderr
    # fail2ban logging to syslog: say where to look instead of guessing.
    conf = tmp_path / "f2b"
    conf.mkdir()
    (conf / "fail2ban.local").write_text("[Definition]\nlogtarget = SYSLOG\n")
    p = sidecar("report", "--fail2ban-dir", conf, check=False)
    assert p.returncode == 2 and "fail2ban writes its log to SYSLOG" in p.stderr and "--fail2ban-log" in p.stderr


def test_rotated_and_compressed_logs_are_read_oldest_first(tmp_path):
    now = int(time.time()) - 5
    f2b = tmp_path / "fail2ban.log"
    # Rotated by logrotate with delaycompress: .2.gz is the oldest, .1 plain, then the live file.
    with gzip.open(f"{f2b}.2.gz", "wt") as g:
        g.write(f2b_line(now - 3, "banlog-spam", "Ban", "192.0.2.7") + "\n")
    (tmp_path / "fail2ban.log.1").write_text(f2b_line(now - 2, "banlog-spam", "Unban", "192.0.2.7") + "\n")
    f2b.write_text(f2b_line(now - 1, "banlog-spam", "Ban", "192.0.2.7") + "\n")
    r = json.loads(report(tmp_path, "--fail2ban-log", f2b, "--json").stdout)
    assert [s["path"] for s in r["sources"]] == [f"{f2b}.2.gz", f"{f2b}.1", str(f2b)]
    j = r["totals"]["jails"]["banlog-spam"]
    assert (j["bans"], j["unbans"], j["repeat_bans"]) == (2, 1, 1)
    assert r["totals"]["repeat_offenders"] == [{"addr": "192.0.2.7", "jail": "banlog-spam", "repeat_bans": 1}]
    r = json.loads(report(tmp_path, "--fail2ban-log", f2b, "--no-rotated", "--json").stdout)
    assert r["totals"]["jails"]["banlog-spam"]["bans"] == 1
    # A broken .gz is an error that names it, not a panic and not a silent skip.
    with open(f"{f2b}.3.gz", "wb") as g:
        g.write(b"not gzip")
    (tmp_path / "fail2ban.log.2.gz").rename(tmp_path / "fail2ban.log.2.gz.keep")
    with open(f"{f2b}.2.gz", "wb") as g:
        g.write(b"\x1f\x8b\x08\x00broken")
    p = report(tmp_path, "--fail2ban-log", f2b, check=False)
    assert p.returncode == 2 and f"cannot read {f2b}.3.gz" in p.stderr, p.stderr


def test_more_addresses_than_it_keeps_stay_in_bounded_memory(tmp_path):
    """150,000 addresses with one spam line each: more than the 100,000 the report keeps apart.
    All are counted; the left-out ones are said; memory stays bounded."""
    now = int(time.time()) - 5
    [template] = spam_lines("10.0.0.1", now)
    head = template.split("10.0.0.1")[0]
    spam = tmp_path / "spam.log"
    with open(spam, "w") as f:
        for i in range(150_000):
            f.write(f"{head}10.{i >> 16}.{(i >> 8) & 255}.{i & 255 or 1} marked as spam\n")
    code, out, err, rss = run_measured(["report", "--fail2ban-dir", tmp_path, "--fail2ban-log", os.devnull,
                                        "--spam-log", spam, "--days", "1", "--json"], timeout=300)
    assert code == 2 and "/dev/null is a character device" in err  # not a file: refused
    empty = tmp_path / "fail2ban.log"
    empty.touch()
    code, out, err, rss = run_measured(["report", "--fail2ban-dir", tmp_path, "--fail2ban-log", empty,
                                        "--spam-log", spam, "--days", "1", "--json"], timeout=300)
    assert code == 0, err
    r = json.loads(out)
    assert r["totals"]["events"]["spam"] == 150_000
    assert r["limits"]["untracked"] > 0 and r["limits"]["max_tracked"] == 100_000
    assert len(r["totals"]["top_addresses"]) == 10
    assert rss < 96 * MiB, f"peak RSS {rss / MiB:.1f} MiB"


def test_the_page_is_never_written_through_a_link(tmp_path):
    ok = tmp_path / "ok.log"
    ok.touch()
    victim = tmp_path / "victim"
    victim.write_text("secret\n")
    page = tmp_path / "report.html"
    page.symlink_to(victim)
    p = report(tmp_path, "--fail2ban-log", ok, "--html", page, check=False)
    assert p.returncode == 2 and f"cannot write {page}" in p.stderr and "symbolic link" in p.stderr, p.stderr
    assert victim.read_text() == "secret\n" and page.is_symlink()
