"""Catastrophic backtracking: adversarial lines of a few KB through the real fail2ban-regex, every
filter and log type. The RFC 5424 prefix once nested `[^\\]"]*` in `(...)*`: structured data
without a message (`[x@1 aaa…="b"]`) took 5.6 s at 20 characters and over 120 s at 30; these
lines are 100 times longer. The bound is generous: a catastrophic guard, not a speed test."""
import subprocess
import time

import pytest

from support.fail2ban import JAIL_FILTERS

N = 4000  # characters of the repeated part
HEAD = "<37>1 2026-11-21T07:19:22.000000+00:00 web1 wordpress(example.com) 4242 - "
SYSLOG = "Nov 21 07:19:22 web1 wordpress(example.com)[4242]: "
MSG = "Authentication failure for x from 203.0.113.9"
ADVERSARIAL = {
    "sd value run, no message": HEAD + "[x@1 " + "a" * N + '="b"]',
    "sd value run, message": HEAD + "[x@1 " + "a" * N + '="b"] ' + MSG,
    "sd never closed": HEAD + "[x@1 " + "a" * N,
    "sd never closed, quotes": HEAD + "[x@1 " + 'a="b" ' * (N // 6),
    "quoted value never closed": HEAD + '[x@1 a="' + "\\a" * (N // 2),
    "escaped quotes": HEAD + '[x@1 a="' + '\\"' * (N // 2) + '"]',
    "many sd elements, no message": HEAD + "[a]" * (N // 3),
    "many sd elements, open end": HEAD + "[a]" * (N // 3) + "[",
    "sd mixed runs": HEAD + "[" + 'a"b"' * (N // 4),
    "space runs, no message": HEAD + "-" + " " * N,
    "space runs in sd": HEAD + "[x@1" + " " * N + 'a="b"]',
    "many from, no address": SYSLOG + "Authentication failure for " + "from 6.6.6.6 " * (N // 13) + "x",
    "many from, bad address": SYSLOG + "Authentication failure for " + "x from " * (N // 7) + "1.2.3",
    "ipv6-like run": SYSLOG + "Authentication failure for x from " + "1:" * (N // 2),
    "ident run": "Nov 21 07:19:22 web1 wordpress(" + "a" * N + ")[1]: " + MSG,
    "spam log run": "2026-11-21 07:19:22 comment id=" + "1" * N + " from host=1.2.3",
}
BOUND = 60  # seconds for one fail2ban-regex run over all the lines (each takes well under 1 s)


@pytest.mark.parametrize("logtype", ["file", "journal", "rfc5424"])
@pytest.mark.parametrize("jail", list(JAIL_FILTERS))
def test_adversarial_lines_cost_linear_time(f2b_conf, tmp_path, jail, logtype):
    log = tmp_path / "adversarial.log"
    log.write_text("".join(l + "\n" for l in ADVERSARIAL.values()))
    filt = JAIL_FILTERS[jail]
    filt = f"{filt[:-1]},logtype={logtype}]" if filt.endswith("]") else f"{filt}[logtype={logtype}]"
    t0 = time.monotonic()
    try:
        p = subprocess.run(["fail2ban-regex", "-c", str(f2b_conf), str(log), filt], capture_output=True, text=True,
                           timeout=BOUND)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{filt}: fail2ban-regex still running after {BOUND} s on {len(ADVERSARIAL)} lines")
    assert p.returncode == 0, p.stderr
    # The two well-formed lines (a long SD element, a long site host) still count where they should.
    meant = "sd value run, message" if logtype == "rfc5424" else "ident run"
    matched = 1 if jail == "banlog-auth" else 0
    assert f"Lines: {len(ADVERSARIAL)} lines, 0 ignored, {matched} matched" in p.stdout, (meant, p.stdout)
    print(f"{filt}: {time.monotonic() - t0:.2f} s")
