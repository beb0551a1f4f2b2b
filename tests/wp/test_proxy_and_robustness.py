"""Trusted proxies, php-fpm worker recycling, and a broken log that never shows on a page."""
import concurrent.futures
import re
import secrets

import pytest

from support.http import new_source
from support.waiting import wait_for
from support.wplog import auth_messages, check_spam_line, spam_lines_for, wait_spam


@pytest.fixture
def proxied(stack):
    """127.0.0.250 and ::1 are this site's reverse proxies."""
    stack.configure_logging()  # whatever an earlier test left behind
    stack.banlog_options(trusted_proxies="127.0.0.250/32\n::1", proxy_header="X-Forwarded-For")
    yield stack
    stack.banlog_options(trusted_proxies="", proxy_header="X-Forwarded-For")


def _fail_login(stack, source, headers, fallback=False, ipv6=False):
    c = stack.client(source, fallback=fallback, ipv6=ipv6)
    c.cookies["wordpress_test_cookie"] = "WP%20Cookie%20check"
    user = f"u{secrets.token_hex(4)}"
    c.post("/wp-login.php", {"log": user, "pwd": "x", "testcookie": "1"}, headers=headers)
    return user


def _logged_addr(stack, user):
    def find():
        return [l for l in stack.rsyslog.lines() if f"unknown user {user} from " in l]
    wait_for(find, 5, what=f"line for {user}")
    lines = find()
    assert len(lines) == 1, lines
    return lines[0].rsplit(" from ", 1)[1]


CASES = [
    # peer, header name, header value, logged address
    ("127.0.0.250", "X-Forwarded-For", "203.0.113.9", "203.0.113.9"),
    ("127.0.0.250", "X-Forwarded-For", "6.6.6.6, 203.0.113.9", "203.0.113.9"),              # left part is the client's own claim
    ("127.0.0.250", "X-Forwarded-For", "6.6.6.6, 203.0.113.9, 127.0.0.250", "203.0.113.9"),  # skip our own proxies
    ("127.0.0.250", "X-Forwarded-For", "203.0.113.9:4711", "203.0.113.9"),
    ("127.0.0.250", "X-Forwarded-For", "::ffff:203.0.113.10", "203.0.113.10"),
    ("127.0.0.250", "X-Forwarded-For", "2001:DB8:0:0:0:0:0:7", "2001:db8::7"),
    ("127.0.0.250", "X-Forwarded-For", "", None),              # no header: nothing (never the proxy), reported
    ("127.0.0.250", "X-Forwarded-For", "127.0.0.250", None),   # only our own proxy named: the same
    ("127.0.0.251", "X-Forwarded-For", "203.0.113.9", "127.0.0.251"),                        # untrusted peer: ignored
    ("127.0.0.251", "X-Forwarded-For", "127.0.0.250", "127.0.0.251"),
]


@pytest.mark.parametrize("peer,name,value,want", CASES, ids=[f"{c[0]}-{c[2] or 'none'}" for c in CASES])
def test_forwarded_for(proxied, peer, name, value, want):
    headers = {name: value} if value else {}
    if want is None:
        proxied.php_eval("delete_option('banlog_last_error');")
    user = _fail_login(proxied, peer, headers)
    if want is not None:
        assert _logged_addr(proxied, user) == want
        return
    # A control in the same stack: a line that is written arrives, so the absence below is real.
    control = _fail_login(proxied, peer, {name: "203.0.113.77"})
    assert _logged_addr(proxied, control) == "203.0.113.77"
    assert not [l for l in proxied.rsyslog.lines() if f"unknown user {user} from " in l]
    err = proxied.php_eval("echo json_encode(get_option('banlog_last_error'));")
    assert '"sink":"input"' in err and "a trusted proxy sent" in err and "not logged" in err, err


def test_ipv6_proxy(proxied):
    if not proxied.ipv6:
        pytest.skip("no IPv6 loopback on this machine")
    user = _fail_login(proxied, "::1", {"X-Forwarded-For": "198.51.100.20"}, ipv6=True)
    assert _logged_addr(proxied, user) == "198.51.100.20"


def test_chosen_header_and_fallback_mode(proxied):
    proxied.banlog_options(proxy_header="CF-Connecting-IP")
    # The chosen header wins; X-Forwarded-For is not read.
    user = _fail_login(proxied, "127.0.0.250", {"CF-Connecting-IP": "198.51.100.7", "X-Forwarded-For": "6.6.6.6"})
    assert _logged_addr(proxied, user) == "198.51.100.7"
    user = _fail_login(proxied, "127.0.0.250", {"CF-Connecting-IP": "198.51.100.8"}, fallback=True)
    assert _logged_addr(proxied, user) == "198.51.100.8"
    user = _fail_login(proxied, "127.0.0.251", {"CF-Connecting-IP": "198.51.100.9"}, fallback=True)
    assert _logged_addr(proxied, user) == "127.0.0.251"


def test_comment_through_proxy_stores_and_logs_the_client(proxied):
    c = proxied.client("127.0.0.250")
    marker = secrets.token_hex(6)
    r = c.request("POST", "/wp-comments-post.php",
                  body=f"comment_post_ID=1&author=P&email=p%40example.com&comment=proxied+{marker}+FILTER-SPAM",
                  headers={"Content-Type": "application/x-www-form-urlencoded",
                           "X-Forwarded-For": "6.6.6.6, 203.0.113.77"})
    assert r.status == 302
    cid, ip = proxied.sql(f"SELECT comment_ID, comment_author_IP FROM wp_comments WHERE comment_content LIKE "
                          f"'%{marker}%'", "wordpress").split()
    assert ip == "203.0.113.77"
    lines = wait_spam(proxied, cid)
    assert len(lines) == 1
    check_spam_line(lines[0], cid, "203.0.113.77")


def test_worker_recycling_loses_nothing(stack):
    """pm.max_requests is 5 with 2 workers: 60 spam comments in parallel recycle workers about a
    dozen times; every comment has its line, once."""
    stack.configure_logging()
    before = len((stack.workdir / "fpm-ext" / "php-fpm.log").read_text().splitlines())

    def one(i):
        src = new_source()
        marker = f"rc{i}-{secrets.token_hex(4)}"
        c = stack.client(src, fallback=(i % 4 == 3))
        r = c.post_comment(1, f"Bot {marker}", f"{marker}@example.com", f"cheap pills {marker} FILTER-SPAM")
        assert r.status == 302, r.status
        # Written before the request finished: no waiting here.
        out = stack.sql(f"SELECT comment_ID FROM wp_comments WHERE comment_content LIKE '%{marker}%'", "wordpress")
        cid = int(out.split()[0])
        lines = spam_lines_for(stack, cid)
        return cid, src, lines

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        results = list(pool.map(one, range(60)))
    for cid, src, lines in results:
        assert len(lines) == 1, (cid, lines)
        check_spam_line(lines[0], cid, src)
    ids = [cid for cid, _, _ in results]
    assert len(set(ids)) == 60
    log = (stack.workdir / "fpm-ext" / "php-fpm.log").read_text().splitlines()[before:]
    assert sum("exited with code 0" in l for l in log) >= 5, log[-10:]


def test_broken_log_never_reaches_a_visitor(stack, mode):
    """An unwritable spam log and a dead syslog socket: pages stay clean, the problem is reported."""
    fallback = mode == "fallback"
    stack.php_eval("delete_option('banlog_last_error');")
    stack.banlog_options(spam_log="/nonexistent-dir/spam.log", syslog_target=str(stack.workdir / "no-such.sock"))
    try:
        src = new_source()
        c = stack.client(src, fallback=fallback)
        marker = secrets.token_hex(6)
        r = c.post_comment(1, "X", "x@example.com", f"broken {marker} FILTER-SPAM")
        assert r.status == 302
        r = c.login("admin", "wrong")
        assert r.status == 200
        for bad in ("Warning", "Fatal error", "Notice", "Deprecated", "spam.log", "no-such.sock"):
            assert bad not in r.text, bad
        r = c.xmlrpc("wp.getUsersBlogs", "admin", "wrong")
        assert getattr(r, "faultCode", None) == 403  # the XML stays well-formed
        if fallback:
            err = stack.php_eval("echo json_encode(get_option('banlog_last_error'));")
            assert "spam_log" in err or "syslog" in err, err
        admin = stack.client("127.0.0.1", fallback=fallback)
        admin.cookies = dict(stack.admin.cookies)
        page = admin.get("/wp-admin/options-general.php?page=banlog").text
        if fallback:
            assert re.search(r'id="banlog-last-error">[^<]*(spam_log|syslog)', page), page[-3000:]
        else:
            assert "the directory does not exist" in page
    finally:
        stack.configure_logging()


def test_no_php_warnings_from_the_plugin(stack):
    """Whatever ran so far, PHP logged nothing about banlog."""
    bad = [l for l in stack.php_errors() if "banlog" in l.lower()]
    assert bad == []
