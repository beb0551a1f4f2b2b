"""Hostile input, generated: user names, comment ids, addresses and site hosts go through the real
extension into the auth_log file, the spam log and a real rsyslog; the real fail2ban-regex with the
shipped filters then has to read exactly the true address from every line, never another one.

Normal run: 12,000 auth and 6,000 spam cases (about 20 s). BANLOG_LONG=1: 20 times as many.
BANLOG_FUZZ_SEED=<n> replays a run (the seed is printed in every failure and in the figures);
BANLOG_FUZZ_CASES=<n> sets the number of auth cases.
"""
import collections
import ipaddress
import os
import random
import re
import time

import pytest

import faulthelp
from faulthelp import LONG, pack_records
from hostile import AUTH_LEADS, HARD, SOFT, Gen, auth_message
from support.fail2ban import fail2ban_matches
from support.php import parse_json_tail, php_str, run_php_raw
from support.rsyslog import Rsyslog

AUTH_CASES = int(os.environ.get("BANLOG_FUZZ_CASES", 240_000 if LONG else 12_000))
SPAM_CASES = AUTH_CASES // 2
HUGE_NAMES = 40 if LONG else 5
SEED = int(os.environ.get("BANLOG_FUZZ_SEED", random.SystemRandom().randrange(1 << 32)))

# Site hosts with a ':' (a port, an IPv6 literal) are left to test_site_host_with_a_colon_through_rsyslog.
IDENT_HOSTS = ["example.com", "", "blog.example.org", "xn--bcher-kva.example", "203.0.113.80",
               "a" * 63 + "." + "b" * 63, "under_score.example"]

PHP_PROGRAM = faulthelp.PHP_READ_RECORDS + r'''
[$cases, $results, $auth_log, $spam_log, $sock] = array_slice($argv, 1);
$out = fopen($results, "w"); $host = null; $n = 0;
foreach (read_records($cases) as [$what, $event, $user, $ip, $id, $ident]) {
    if ($ident !== $host) {
        banlog_configure(["auth_log" => $auth_log, "spam_log" => $spam_log, "syslog" => true,
            "syslog_target" => $sock, "syslog_spam" => true, "ident_host" => $ident]);
        $host = $ident;
    }
    try {
        $ok = $what === "a" ? banlog_auth($event, $user, $ip) : banlog_spam((int)$id, $ip);
        fwrite($out, $ok ? "T\n" : "F\n");
    } catch (ValueError $e) {
        fwrite($out, "V " . str_replace("\n", " ", bin2hex($e->getMessage())) . "\n");
    }
    if (++$n % 1000 == 0) banlog_flush(0);
}
$t = microtime(true); $f = banlog_flush(60000); $s = banlog_stats();
echo json_encode(["flushed" => $f, "flush_s" => microtime(true) - $t, "accepted" => $s["accepted"],
    "written" => $s["written"], "dropped" => $s["dropped"], "pending" => $s["pending"],
    "errors" => array_sum(array_column($s["sinks"], "errors"))]), "\n";
'''

ISO_PREFIX = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d (\S+) (wordpress(?:\([^()\s]*\))?)\[(\d+)\]: ")
SPAM_RE = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d comment id=(\d+) from host=(\S+) marked as spam$")
SYSLOG_RE = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d (\S+) (wordpress(?:\([^()\s]*\))?)\[(\d+)\]: (.*)$")


def norm(ip):
    """An address as a value: fail2ban prints some IPv6 addresses its own way (glibc's inet_ntop
    writes `::46.150.95.194` for banlog's RFC 5952 `::2e96:5fc2`); what counts is the address."""
    return ipaddress.ip_address(ip)


def same(got, want):
    """fail2ban read (address, line) `got` where (address, line) `want` was meant."""
    return norm(got[0]) == norm(want[0]) and got[1] == want[1]


def make_cases(seed):
    g = Gen(seed)
    r = g.r
    cases = []
    huge_at = set(r.sample(range(AUTH_CASES), HUGE_NAMES))
    for i in range(AUTH_CASES):
        event = r.choice(list(AUTH_LEADS))
        raw_ip, canon = g.address()
        cases.append({"what": "a", "event": event, "user": g.user(huge=i in huge_at), "ip": raw_ip,
                      "canon": canon, "id": 0, "ident": r.choice(IDENT_HOSTS) if r.random() < 0.05 else None})
    for _ in range(SPAM_CASES):
        raw_ip, canon = g.address()
        cid = g.comment_id()
        cases.append({"what": "s", "event": "", "user": b"", "ip": raw_ip, "canon": canon if cid >= 0 else None,
                      "id": cid, "ident": None, "bad_id": cid < 0})
    r.shuffle(cases)
    host = "example.com"
    for c in cases:  # a site host change now and then, kept from there on
        host = c["ident"] if c["ident"] is not None else host
        c["ident"] = host
    return cases


@pytest.fixture
def syslogd(tmp_path):
    r = Rsyslog(tmp_path / "rsyslog", rate_limit=False)
    r.start()
    yield r
    r.stop()


def test_no_input_makes_fail2ban_read_another_address(tmp_path, f2b_conf, syslogd, figures):
    started = time.monotonic()
    cases = make_cases(SEED)
    ctx = f"(replay with BANLOG_FUZZ_SEED={SEED})"
    case_file = tmp_path / "cases.bin"
    case_file.write_bytes(pack_records(
        [(c["what"].encode(), c["event"].encode(), c["user"], c["ip"], str(c["id"]).encode(), c["ident"].encode())
         for c in cases]))
    auth_log, spam_log, results = tmp_path / "auth.log", tmp_path / "spam.log", tmp_path / "results.txt"
    proc = run_php_raw(PHP_PROGRAM, args=[case_file, results, auth_log, spam_log, syslogd.socket],
                       ini={"memory_limit": "1G"})
    assert proc.returncode == 0 and proc.stderr == b"", (proc.returncode, proc.stderr[-3000:], ctx)
    stats = parse_json_tail(proc.stdout)
    php_s = time.monotonic() - started

    # 1. Each call: true, or a ValueError exactly when the input is invalid.
    res = results.read_text().splitlines()
    assert len(res) == len(cases), ctx
    valid = []
    for c, r in zip(cases, res):
        if c["canon"] is None:
            assert r.startswith("V "), (c, r, ctx)
            msg = bytes.fromhex(r[2:]).decode()
            want = "Argument #1 ($comment_id)" if c.get("bad_id") else ("Argument #3 ($ip)" if c["what"] == "a"
                                                                         else "Argument #2 ($ip)")
            assert want in msg, (c["ip"][:80], msg, ctx)
        else:
            assert r == "T", (c["ip"][:80], c["user"][:200], r, ctx)
            valid.append(c)
    auth = [c for c in valid if c["what"] == "a"]
    spam = [c for c in valid if c["what"] == "s"]
    assert stats["flushed"] and stats["dropped"] == 0 and stats["errors"] == 0, (stats, ctx)
    # file lines + syslog messages (every valid event goes to syslog too)
    assert stats["written"] == 2 * len(valid), (stats, len(valid), ctx)

    # 2. Every event is exactly one whole line, in call order, byte for byte what the contract says.
    auth_bytes = auth_log.read_bytes()
    assert auth_bytes.endswith(b"\n")
    auth_lines = auth_bytes[:-1].split(b"\n")
    assert len(auth_lines) == len(auth), (len(auth_lines), len(auth), ctx)
    pid = None
    for c, line in zip(auth, auth_lines):
        m = ISO_PREFIX.match(line)
        assert m, (line[:300], ctx)
        pid = pid or m.group(3)
        assert m.group(2).decode() == (f"wordpress({c['ident']})" if c["ident"] else "wordpress")
        text = line[m.end():].decode("utf-8")  # strict: a line is valid UTF-8 whatever the input
        want = auth_message(c["event"], c["user"], c["canon"])
        assert text == want, (c["user"][:300], text, want, ctx)
        assert not any(ch < 0x20 or ch == 0x7F for ch in line), (line, ctx)
    spam_bytes = spam_log.read_bytes()
    spam_lines = spam_bytes[:-1].split(b"\n")
    assert spam_bytes.endswith(b"\n") and len(spam_lines) == len(spam), ctx
    for c, line in zip(spam, spam_lines):
        m = SPAM_RE.match(line)
        assert m and int(m.group(1)) == c["id"] and m.group(2).decode() == c["canon"], (line, c["ip"], ctx)

    # 3. The real fail2ban-regex with the shipped filters: only the true address, only the meant lines.
    auth_text = [l.decode() for l in auth_lines]
    for mode, meant in (("soft", SOFT), ("hard", HARD), ("aggressive", SOFT | HARD)):
        got = fail2ban_matches(f2b_conf, auth_log, f"banlog-auth[mode={mode}]")
        want = [(c["canon"], l) for c, l in zip(auth, auth_text) if c["event"] in meant]
        assert len(got) == len(want), (mode, len(got), len(want), ctx)
        for g, w in zip(got, want):
            assert same(g, w), (mode, g, w, ctx)
    assert fail2ban_matches(f2b_conf, auth_log, "banlog-spam") == [], ctx
    spam_text = [l.decode() for l in spam_lines]
    want = [(c["canon"], l) for c, l in zip(spam, spam_text)]
    historic = r"^\s*comment id=\d+ from host=<HOST> marked as spam$"
    for filt in ("banlog-spam", historic):
        got = fail2ban_matches(f2b_conf, spam_log, filt)
        assert len(got) == len(want) and all(same(g, w) for g, w in zip(got, want)), (filt, ctx)
    assert fail2ban_matches(f2b_conf, spam_log, "banlog-auth[mode=aggressive]") == [], ctx

    # 4. The same events through a real rsyslog (the default production path), then fail2ban.
    expected_msgs = collections.Counter()
    meaning = {}
    for c in valid:
        msg = auth_message(c["event"], c["user"], c["canon"]) if c["what"] == "a" \
            else f"Spam comment {c['id']} from {c['canon']}"
        expected_msgs[msg] += 1
        meaning[msg] = (c["what"], c["event"], c["canon"])
    got_lines = syslogd.wait_for(len(valid), timeout=60)
    assert len(got_lines) == len(valid), (len(got_lines), len(valid), ctx)
    got_msgs = collections.Counter()
    for line in got_lines:
        m = SYSLOG_RE.match(line)
        assert m, (line, ctx)
        got_msgs[m.group(4)] += 1
    assert got_msgs == expected_msgs, (list((got_msgs - expected_msgs).items())[:5],
                                       list((expected_msgs - got_msgs).items())[:5], ctx)
    for filt, pick in (("banlog-auth[mode=soft]", lambda w, e: w == "a" and e in SOFT),
                       ("banlog-auth[mode=hard]", lambda w, e: w == "a" and e in HARD),
                       ("banlog-spam", lambda w, e: w == "s")):
        got = [(norm(ip), l) for ip, l in fail2ban_matches(f2b_conf, syslogd.out, filt)]
        want = collections.Counter((norm(meaning[m.group(4)][2]), l) for l in got_lines
                                   for m in [SYSLOG_RE.match(l)] if pick(*meaning[m.group(4)][:2]))
        assert collections.Counter(got) == want, (filt, list((collections.Counter(got) - want).items())[:3], ctx)

    total = time.monotonic() - started
    figures(seed=SEED, cases=len(cases), valid_events=len(valid), refused_with_valueerror=len(cases) - len(valid),
            auth_lines=len(auth_lines), spam_lines=len(spam_lines), rsyslog_lines=len(got_lines),
            huge_names=HUGE_NAMES, wrong_address_read=0, php_seconds=round(php_s, 1), seconds=round(total, 1))


# rsyslog ends the syslog TAG at the first ':'; a site host with a port or an IPv6 literal must
# still give an ident that banlog-auth.conf reads (the port is dropped, an IPv6 literal gives
# the bare `wordpress`).
@pytest.mark.parametrize("host", ["[2001:db8::1]", "example.com:8080"])
def test_site_host_with_a_colon_through_rsyslog(tmp_path, f2b_conf, syslogd, host):
    proc = run_php_raw(
        f'banlog_configure(["syslog_target" => {php_str(syslogd.socket)}, "ident_host" => {php_str(host)}]);'
        'banlog_auth("failure", "admin", "192.0.2.7"); exit(banlog_flush(5000) ? 0 : 3);')
    assert proc.returncode == 0 and proc.stderr == b""
    assert len(syslogd.wait_for(1)) == 1
    got = fail2ban_matches(f2b_conf, syslogd.out, "banlog-auth")
    assert [ip for ip, _ in got] == ["192.0.2.7"], syslogd.lines()
