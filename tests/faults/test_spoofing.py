"""Who is logged when the client address comes from a header: X-Forwarded-For and CF-Connecting-IP
spoofing over real HTTP, through the plugin's trusted-proxy settings, on both php-fpm masters
(extension and pure-PHP fallback).

Peers are real: a network namespace of the test's own (support.peernet.PeerNet) carries each peer
address on its loopback, with an nginx in front of the stack's php-fpm, so REMOTE_ADDR is a trusted
proxy, an untrusted host, an IPv6 peer or an IPv4 peer seen through a dual-stack socket.

Each case is a failed login and a comment the spam filter marks as spam. For every case the test
asserts the exact address of the auth line (rsyslog) and of the spam line, and then runs the real
fail2ban-regex with the shipped filters over those lines: it must read exactly that address from
each, and never one of the forged ones. A case whose true client cannot be known must write no
line at all rather than a guess.

tests/wp/test_proxy_and_robustness.py has the basic cases (one trusted proxy on 127.0.0.250, an
untrusted peer, a port, a mapped and an expanded IPv6 value); this is the full matrix.
"""
import ipaddress
import json
import re
import secrets
import urllib.parse

import pytest
from support.fail2ban import fail2ban_matches
from support.peernet import PeerNet
from support.waiting import seconds_until
from support.wplog import SPAM_RE, SYSLOG_RE


# Trusted: two IPv4 proxies and two IPv6 proxies (peers or hops in a chain).
P4, P4B, P4C = "198.51.100.1", "198.51.100.2", "198.51.100.3"
P6, P6B = "2001:db8:ca11::1", "2001:db8:ca11::2"
TRUSTED = "198.51.100.0/29\n2001:db8:ca11::/48"
# Untrusted peers.
E4, E6 = "203.0.113.66", "2001:db8:bad::66"
# What attackers write into headers: these must never be logged (nor read by fail2ban).
FORGED = ["6.6.6.6", "6.6.6.7", "2001:db8:f0f0::6", "2001:db8:f0f0::7"]
PEERS = [P4, P4B, P6, E4, E6]

XFF = "X-Forwarded-For"
CF = "CF-Connecting-IP"
LONG_CHAIN = ", ".join(["6.6.6.6"] * 700) + ", 192.0.2.90"  # about 6 KB: nginx takes it
TOO_LONG = ", ".join(["6.6.6.6"] * 2000) + ", 192.0.2.91"   # about 18 KB: over nginx's 8 KB header buffer

# (id, peer, through the dual-stack socket, header lines, the address logged or None for no line)
XFF_CASES = [
    # untrusted peers: every header ignored, the peer is logged
    ("untrusted4-forged", E4, False, [(XFF, "6.6.6.6")], E4),
    ("untrusted4-forged-trusted", E4, False, [(XFF, f"6.6.6.6, {P4}")], E4),
    ("untrusted4-cf-too", E4, False, [(XFF, "6.6.6.6"), (CF, "6.6.6.7")], E4),
    ("untrusted6-forged", E6, False, [(XFF, "2001:db8:f0f0::6")], E6),
    ("untrusted6-forged4", E6, False, [(XFF, "6.6.6.6, 6.6.6.7")], E6),
    ("untrusted-mapped-peer", E4, True, [(XFF, "6.6.6.6")], E4),
    # a trusted proxy: the right-most address that is not a trusted proxy; the left part is the
    # client's own claim
    ("trusted4-forged-left", P4, False, [(XFF, "6.6.6.6, 6.6.6.7, 192.0.2.10")], "192.0.2.10"),
    ("trusted4-forged-left-v6", P4, False, [(XFF, "2001:db8:f0f0::6, 192.0.2.11")], "192.0.2.11"),
    ("trusted4-forged-trusted-left", P4, False, [(XFF, f"6.6.6.6, {P4B}, 192.0.2.12")], "192.0.2.12"),
    ("chain-of-trusted", P4, False, [(XFF, f"6.6.6.6, 192.0.2.13, {P4C}, {P4B}")], "192.0.2.13"),
    ("chain-mixed-families", P6, False, [(XFF, f"6.6.6.6, 192.0.2.14, {P6B}, {P4B}")], "192.0.2.14"),
    ("chain-mapped-hop", P4, False, [(XFF, f"6.6.6.6, 192.0.2.15, ::ffff:{P4B}")], "192.0.2.15"),
    # only our proxies named: logging one would ban the proxy (and everyone behind it); nothing is logged
    ("chain-all-trusted", P4, False, [(XFF, f"{P4C}, {P4B}")], None),
    ("trusted6-peer", P6, False, [(XFF, "2001:db8:f0f0::6, 2001:db8:c1::7")], "2001:db8:c1::7"),
    ("trusted6-peer-client4", P6, False, [(XFF, "6.6.6.6, 192.0.2.16")], "192.0.2.16"),
    ("trusted-mapped-peer", P4, True, [(XFF, "6.6.6.6, 192.0.2.17")], "192.0.2.17"),
    ("trusted-mapped-peer-no-header", P4, True, [], None),
    # address forms: canonical IPv6 (RFC 5952), IPv4-mapped in both spellings, brackets, ports
    ("v6-rfc5952-tie", P4, False, [(XFF, "2001:DB8:0:0:1:0:0:1")], "2001:db8::1:0:0:1"),
    ("v6-leading-zeros", P4, False, [(XFF, "2001:0db8:0000:0000:0000:0000:00c1:0008")], "2001:db8::c1:8"),
    ("mapped-hex", P4, False, [(XFF, "::ffff:c000:212")], "192.0.2.18"),
    ("mapped-upper", P6, False, [(XFF, "::FFFF:192.0.2.19")], "192.0.2.19"),
    ("v4-compatible", P4, False, [(XFF, "::192.0.2.20")], "::c000:214"),
    ("brackets-v6", P4, False, [(XFF, "[2001:db8:c1::21]")], "2001:db8:c1::21"),
    ("brackets-v6-port", P4, False, [(XFF, "6.6.6.6, [2001:db8:c1::22]:443")], "2001:db8:c1::22"),
    ("brackets-v4", P4, False, [(XFF, "[192.0.2.23]")], "192.0.2.23"),
    ("port-v4-last", P4, False, [(XFF, "6.6.6.6:80, 192.0.2.24:65535")], "192.0.2.24"),
    # an unbracketed IPv6 with a port is another valid address: nothing can tell them apart
    ("v6-port-unbracketed", P4, False, [(XFF, "2001:db8:c1::25:443")], "2001:db8:c1::25:443"),
    ("spaces-and-tabs", P4, False, [(XFF, " 6.6.6.6 ,\t192.0.2.26\t")], "192.0.2.26"),
    ("empty-entries", P4, False, [(XFF, "6.6.6.6,, ,192.0.2.27,")], "192.0.2.27"),
    ("long-chain", P4, False, [(XFF, LONG_CHAIN)], "192.0.2.90"),
    # a trusted proxy with nothing usable in the header (or none): no line, never the proxy's own
    # address (that would ban the proxy); the status panel reports it
    ("empty", P4, False, [(XFF, "")], None),
    ("spaces-only", P4, False, [(XFF, "   ")], None),
    ("commas-only", P4, False, [(XFF, ",,, ,")], None),
    # garbage where the proxy writes the client: no guess, no line (and never the proxy)
    ("unknown", P4, False, [(XFF, "unknown")], None),
    ("unknown-last", P4, False, [(XFF, "6.6.6.6, unknown")], None),
    ("unknown-left", P4, False, [(XFF, "unknown, 192.0.2.28")], "192.0.2.28"),
    ("obfuscated-id", P4, False, [(XFF, "6.6.6.6, _hidden")], None),
    ("space-separated", P4, False, [(XFF, "6.6.6.6 192.0.2.29")], None),
    ("semicolons", P4, False, [(XFF, "6.6.6.6;192.0.2.30")], None),
    ("v4-out-of-range", P4, False, [(XFF, "6.6.6.6, 192.0.2.256")], None),
    ("v4-leading-zero", P4, False, [(XFF, "6.6.6.6, 192.0.2.031")], None),
    ("v4-short", P4, False, [(XFF, "6.6.6.6, 192.0.2")], None),
    ("v6-bad-hex", P4, False, [(XFF, "6.6.6.6, 2001:db8::g")], None),
    ("v6-zone", P4, False, [(XFF, "6.6.6.6, fe80::1%eth0")], None),
    ("unspecified", P4, False, [(XFF, "6.6.6.6, 0.0.0.0")], None),
    ("broadcast", P4, False, [(XFF, "6.6.6.6, 255.255.255.255")], None),
    ("multicast", P4, False, [(XFF, "6.6.6.6, 224.0.0.1")], None),
    ("v6-multicast", P4, False, [(XFF, "6.6.6.6, ff02::1")], None),
    ("hostname", P4, False, [(XFF, "6.6.6.6, attacker.example")], None),
    ("forged-line", P4, False, [(XFF, "6.6.6.6 marked as spam from host=6.6.6.7")], None),
    ("long-garbage", P4, False, [(XFF, "x" * 7000)], None),
    # several header lines: one list, in order (RFC 9110 5.3), as HAProxy's `option forwardfor`
    # sends it (it adds a line of its own after the client's)
    ("two-lines", P4, False, [(XFF, "6.6.6.6"), (XFF, "192.0.2.31")], "192.0.2.31"),
    ("two-lines-untrusted", E4, False, [(XFF, "6.6.6.6"), (XFF, "6.6.6.7")], E4),
    # a header name nginx drops (underscore): never read as the configured one
    ("underscore-name", P4, False, [("X_Forwarded_For", "6.6.6.6"), (XFF, "192.0.2.32")], "192.0.2.32"),
]

CF_CASES = [
    ("cf", P4, False, [(CF, "192.0.2.40"), (XFF, "6.6.6.6")], "192.0.2.40"),
    ("cf-v6", P6, False, [(CF, "2001:db8:c1::41")], "2001:db8:c1::41"),
    ("cf-mapped-peer", P4, True, [(CF, "192.0.2.42")], "192.0.2.42"),
    ("cf-absent-xff-ignored", P4, False, [(XFF, "6.6.6.6")], None),
    ("cf-untrusted", E4, False, [(CF, "6.6.6.6"), (XFF, "6.6.6.7")], E4),
    ("cf-untrusted6", E6, False, [(CF, "2001:db8:f0f0::6")], E6),
    ("cf-underscore", P4, False, [("CF_Connecting_IP", "6.6.6.6"), (CF, "192.0.2.43")], "192.0.2.43"),
    ("cf-lowercase-name", P4, False, [("cf-connecting-ip", "192.0.2.44")], "192.0.2.44"),
    ("cf-unknown", P4, False, [(CF, "unknown")], None),
    ("cf-garbage", P4, False, [(CF, "6.6.6.6 <script>")], None),
    ("cf-port", P4, False, [(CF, "192.0.2.45:1234")], "192.0.2.45"),
]

OVERSIZE = ("too-long-for-nginx", P4, False, [(XFF, TOO_LONG)], None)

ROUNDS = [(XFF, XFF_CASES + [OVERSIZE]), (CF, CF_CASES)]
MODES = ["extension", "fallback"]


def _case_ids():
    ids = [c[0] for _, cases in ROUNDS for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return ids


@pytest.fixture(scope="module")
def peers(wp_stack):
    net = PeerNet(wp_stack, PEERS).start()
    yield net
    net.stop()


def _requests(stack, case, mode, run):
    """The raw requests of one case: a failed login and a spam comment, with the case's headers."""
    cid, peer, dual, headers, _want = case
    port = PeerNet.PORTS[(mode, dual)]
    dest = "::1" if ":" in peer else "127.0.0.1"
    user = f"spoof-{run}-{mode[0]}-{cid}"
    marker = f"spoofmark-{run}-{mode[0]}-{cid}"
    extra = "".join(f"{n}: {v}\r\n" for n, v in headers)
    assert "\n" not in "".join(v for _, v in headers)

    def req(path, fields, cookie=""):
        body = urllib.parse.urlencode(fields)
        head = (f"POST {path} HTTP/1.1\r\nHost: {stack.host_header}\r\nConnection: close\r\n"
                f"User-Agent: banlog-tests\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\n{cookie}{extra}\r\n")
        return {"source": peer, "dest": dest, "port": port, "head": head, "body": body}

    login = req("/wp-login.php", {"log": user, "pwd": "wrong", "testcookie": "1"},
                "Cookie: wordpress_test_cookie=WP%20Cookie%20check\r\n")
    comment = req("/wp-comments-post.php", {"comment_post_ID": "1", "author": f"Bot {cid}",
                                             "email": f"{cid}@example.com", "comment_parent": "0",
                                             "comment": f"cheap pills {marker} FILTER-SPAM"})
    return user, marker, [login, comment]


def _same_addr(a, b):
    """fail2ban prints some IPv6 addresses its own way (`::192.0.2.20`): compare values."""
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return False


def test_spoofing_matrix(wp_stack, peers, f2b_conf, tmp_path, figures):
    stack = wp_stack
    _case_ids()
    run = secrets.token_hex(3)
    results = []  # (round header, mode, case, user, marker, statuses)
    try:
        for header, cases in ROUNDS:
            stack.configure_logging()
            stack.banlog_options(trusted_proxies=TRUSTED, proxy_header=header)
            for mode in MODES:
                batch, meta = [], []
                for case in cases:
                    user, marker, reqs = _requests(stack, case, mode, run)
                    batch += reqs
                    meta.append((header, mode, case, user, marker))
                statuses = peers.run(batch)
                for i, m in enumerate(meta):
                    results.append(m + (statuses[2 * i:2 * i + 2],))
    finally:
        stack.banlog_options(trusted_proxies="", proxy_header=XFF)

    # The lines of this run: auth lines in rsyslog's file, spam lines by comment id.
    users = {r[3] for r in results}
    seconds_until(lambda: sum(f"unknown user spoof-{run}-" in l for l in stack.rsyslog.lines())
                  >= sum(1 for r in results if r[2][4] is not None), 10, interval=0.1)
    auth = {}
    auth_file = tmp_path / "auth.log"
    with open(auth_file, "w") as out:
        for line in stack.rsyslog.lines():
            m = SYSLOG_RE.match(line)
            if not m or f"spoof-{run}-" not in m.group(4):
                continue
            mm = re.match(r"Authentication attempt for unknown user (\S+) from (\S+)$", m.group(4))
            assert mm and mm.group(1) in users, line
            auth.setdefault(mm.group(1), []).append(mm.group(2))
            out.write(line + "\n")
    rows = stack.sql(f"SELECT comment_ID, comment_author_IP, comment_content FROM wp_comments "
                     f"WHERE comment_content LIKE '%spoofmark-{run}-%'", "wordpress").splitlines()
    by_marker = {}
    for row in rows:
        cid, stored, content = row.split("\t", 2)
        by_marker[re.search(r"(spoofmark-\S+)", content).group(1)] = (int(cid), stored)
    spam_ids = {cid: marker for marker, (cid, _) in by_marker.items()}
    spam = {}
    spam_file = tmp_path / "spam.log"
    with open(spam_file, "w") as out:
        for line in stack.spam_lines():
            m = SPAM_RE.match(line)
            if m and int(m.group(2)) in spam_ids:
                spam.setdefault(spam_ids[int(m.group(2))], []).append(m.group(3))
                out.write(line + "\n")

    # What fail2ban reads from those lines, with the shipped filters.
    f2b_auth = fail2ban_matches(f2b_conf, auth_file, str(f2b_conf / "filter.d/banlog-auth.conf"), tz=stack.tz)
    f2b_spam = fail2ban_matches(f2b_conf, spam_file, str(f2b_conf / "filter.d/banlog-spam.conf"), tz=stack.tz)
    f2b_by_user = {}
    for ip, msg in f2b_auth:
        u = re.search(r"unknown user (\S+) from ", msg).group(1)
        f2b_by_user.setdefault(u, []).append(ip)
    marker_of_id = {str(cid): marker for marker, (cid, _) in by_marker.items()}
    f2b_by_marker = {}
    for ip, msg in f2b_spam:
        f2b_by_marker.setdefault(marker_of_id[re.search(r"comment id=(\d+) ", msg).group(1)], []).append(ip)

    wrong = []
    for header, mode, case, user, marker, statuses in results:
        cid, want = case[0], case[4]
        where = f"{header} {mode} {cid}"
        if case is OVERSIZE:
            # nginx refuses the request: WordPress never runs, nothing is logged
            if statuses != [400, 400] or user in auth or marker in by_marker:
                wrong.append((where, "oversized header", statuses))
            continue
        if statuses != [200, 302]:
            wrong.append((where, "HTTP status", statuses))
        want_lines = [] if want is None else [want]
        if auth.get(user, []) != want_lines:
            wrong.append((where, "auth line", auth.get(user), want))
        if spam.get(marker, []) != want_lines:
            wrong.append((where, "spam line", spam.get(marker), want,
                          "stored " + str(by_marker.get(marker, ("-", "-"))[1])))
        for got, what in ((f2b_by_user.get(user, []), "fail2ban auth"), (f2b_by_marker.get(marker, []), "fail2ban spam")):
            if len(got) != len(want_lines) or not all(_same_addr(g, want) for g in got):
                wrong.append((where, what, got, want))
    read = [ip for ip, _ in f2b_auth + f2b_spam]
    framed = sorted({ip for ip in read if any(_same_addr(ip, f) for f in FORGED)})
    figures(cases=len(results), auth_lines=sum(map(len, auth.values())), spam_lines=sum(map(len, spam.values())),
            fail2ban_auth_matches=len(f2b_auth), fail2ban_spam_matches=len(f2b_spam),
            no_line_cases=sum(1 for r in results if r[2][4] is None), forged_addresses_read=len(framed),
            wrong=len(wrong))
    assert not framed, f"fail2ban read forged addresses: {framed}"
    assert not wrong, "\n".join(map(str, wrong))


def test_unresolved_comment_marked_spam_later(wp_stack, peers, figures):
    """A comment posted through a trusted proxy that named no valid client is stored with the
    proxy's address (WordPress stores REMOTE_ADDR); when an admin marks it as spam later, nothing
    is logged (not the proxy) and the status panel says why. The same with a valid header logs
    the client."""
    stack = wp_stack
    stack.configure_logging()
    stack.banlog_options(trusted_proxies=TRUSTED, proxy_header=XFF)
    run = secrets.token_hex(3)
    try:
        cases = [("later-unknown", P4, False, [(XFF, "6.6.6.6, unknown")], None),
                 ("later-valid", P4, False, [(XFF, "6.6.6.6, 192.0.2.70")], "192.0.2.70")]
        batch = []
        for case in cases:
            _, marker, reqs = _requests(stack, case, "extension", run)
            # not spam at submission: an admin decides later
            reqs[1]["body"] = reqs[1]["body"].replace("+FILTER-SPAM", "")
            reqs[1]["head"] = re.sub(r"Content-Length: \d+", f"Content-Length: {len(reqs[1]['body'])}", reqs[1]["head"])
            batch.append(reqs[1])
        assert peers.run(batch) == [302, 302]
        rows = stack.sql(f"SELECT comment_ID, comment_author_IP, comment_approved, comment_content FROM wp_comments "
                         f"WHERE comment_content LIKE '%spoofmark-{run}-%' ORDER BY comment_ID", "wordpress").splitlines()
        got = [r.split("\t") for r in rows]
        assert [(ip, approved) for _, ip, approved, _ in got] == [(P4, "1"), ("192.0.2.70", "1")], got
        stack.php_eval("delete_option('banlog_last_error');")
        for cid, *_ in got:
            stack.php_eval(f"wp_spam_comment({int(cid)});")
        lines = {cid: [l for l in stack.spam_lines() if f" comment id={cid} " in l] for cid, *_ in got}
        err = json.loads(stack.php_eval("echo json_encode(get_option('banlog_last_error'));"))
        figures(stored=[ip for _, ip, _, _ in got], spam_lines=[len(v) for v in lines.values()],
                last_error=err and err.get("message"))
        assert lines[got[0][0]] == [], lines
        assert len(lines[got[1][0]]) == 1 and lines[got[1][0]][0].endswith(" from host=192.0.2.70 marked as spam")
        assert err["sink"] == "input" and f"comment {got[0][0]}: a trusted proxy named no valid client" in err["message"]
        admin = stack.client("127.0.0.1")
        admin.cookies = dict(stack.admin.cookies)
        page = admin.get("/wp-admin/options-general.php?page=banlog").text
        assert f"comment {got[0][0]}: a trusted proxy named no valid client address" in page
    finally:
        stack.banlog_options(trusted_proxies="", proxy_header=XFF)
