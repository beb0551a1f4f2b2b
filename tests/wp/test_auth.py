"""Every login failure path writes exactly its auth line (private rsyslog), through the extension
and through the pure-PHP fallback alike."""
import base64
import configparser
import json

import pytest

from support.fail2ban import JAIL_FILTERS, copy_fail2ban_with_filters, fail2ban_regex
from support.http import new_source
from support.paths import FILTERS
from support.wordpress import DEFAULT_TZ
from support.wplog import SYSLOG_RE, auth_messages

ADMIN = "admin"


def test_wp_login_known_user(site, source):
    r = site.client(source).login(ADMIN, "wrong password")
    assert r.status == 200 and "Warning:" not in r.text
    assert auth_messages(site.stack, source) == [f"Authentication failure for admin from {source}"]


def test_wp_login_unknown_user(site, source):
    site.client(source).login("ghost", "whatever")
    assert auth_messages(site.stack, source) == [f"Authentication attempt for unknown user ghost from {source}"]


def test_wp_login_unknown_email(site, source):
    site.client(source).login("nobody@example.com", "whatever")
    assert auth_messages(site.stack, source) == [
        f"Authentication attempt for unknown user nobody@example.com from {source}"]


def test_wp_login_known_email_wrong_password(site, source):
    site.client(source).login("admin@example.com", "wrong")
    assert auth_messages(site.stack, source) == [f"Authentication failure for admin@example.com from {source}"]


def test_wp_login_empty_fields_are_not_failures(site, source):
    site.client(source).login("", "")
    assert auth_messages(site.stack, source, timeout=1) == []


def test_xmlrpc_known_and_unknown(site):
    a, b = new_source(), new_source()
    res = site.client(a).xmlrpc("wp.getUsersBlogs", ADMIN, "wrong")
    assert getattr(res, "faultCode", None) == 403
    site.client(b).xmlrpc("wp.getUsersBlogs", "ghost", "wrong")
    assert auth_messages(site.stack, a) == [f"XML-RPC authentication failure for admin from {a}"]
    assert auth_messages(site.stack, b) == [f"XML-RPC authentication attempt for unknown user ghost from {b}"]


def xmlrpc_counts(stack, source, site=""):
    """What the request from `source` cost (the test mu-plugin's counters): password checks and
    login errors."""
    out = stack.php_eval("echo json_encode(get_option('banlog_test_xmlrpc_counts', []));", site=site)
    return json.loads(out).get(source)


def hard_jail_verdict(stack, lines, tmp_path):
    """fail2ban-regex with this tree's filters on `lines`: the soft and hard jails' matches, and
    the hard jail's maxretry as jail.d/banlog.conf ships it."""
    conf = copy_fail2ban_with_filters(tmp_path / "fail2ban")
    log = tmp_path / "auth.log"
    log.write_text("".join(l + "\n" for l in lines))
    soft, _ = fail2ban_regex(conf, log, JAIL_FILTERS["banlog-auth"], tz=DEFAULT_TZ)
    hard, _ = fail2ban_regex(conf, log, JAIL_FILTERS["banlog-auth-hard"], tz=DEFAULT_TZ)
    jails = configparser.ConfigParser(interpolation=None)
    jails.read(FILTERS / "jail.d/banlog.conf")
    return soft, hard, jails.getint("banlog-auth-hard", "maxretry")


def source_lines(stack, source):
    return [l for l in stack.rsyslog.lines() if l.endswith(f" from {source}")]


@pytest.mark.parametrize("guesses", [6, 200])
def test_xmlrpc_multicall_burst_is_stopped(site, source, guesses, tmp_path):
    """On by default: the request ends at its second login attempt with one fault; one password
    check, two login attempts whatever the number of guesses; the failure and one multicall line,
    on which the hard jail (fail2ban-regex with the shipped filter) reaches its maxretry."""
    calls = [("wp.getUsersBlogs", (ADMIN, f"guess{i}")) for i in range(guesses)]
    res = site.client(source).multicall(calls)
    assert getattr(res, "faultCode", None) == 403, res  # one fault for the whole request
    msgs = auth_messages(site.stack, source, count=2)
    assert msgs == [f"XML-RPC authentication failure for admin from {source}",
                    f"XML-RPC multicall authentication failure from {source}"]
    assert xmlrpc_counts(site.stack, source) == {"password_checks": 1, "login_errors": 2}
    soft, hard, maxretry = hard_jail_verdict(site.stack, source_lines(site.stack, source), tmp_path)
    assert [ip for ip, _, _ in soft] == [source]
    assert [ip for ip, _, _ in hard] == [source] and len(hard) >= maxretry


def test_xmlrpc_multicall_burst_when_the_stop_is_off(site, source, tmp_path):
    """The option off: every call runs (WordPress still checks one password only) and each further
    attempt is a multicall line."""
    site.stack.banlog_options(xmlrpc_multicall_stop=0)
    try:
        calls = [("wp.getUsersBlogs", (ADMIN, f"guess{i}")) for i in range(6)]
        res = site.client(source).multicall(calls)
    finally:
        site.stack.banlog_options(xmlrpc_multicall_stop=1)
    # One answer per call, each a refusal.
    assert isinstance(res, tuple), res
    assert [r.get("faultCode") for r in res[0]] == [403] * 6, res
    msgs = auth_messages(site.stack, source, count=6)
    assert msgs == [f"XML-RPC authentication failure for admin from {source}"] + \
        [f"XML-RPC multicall authentication failure from {source}"] * 5
    assert xmlrpc_counts(site.stack, source) == {"password_checks": 1, "login_errors": 6}
    _, hard, maxretry = hard_jail_verdict(site.stack, source_lines(site.stack, source), tmp_path)
    assert len(hard) == 5 and len(hard) >= maxretry


def test_xmlrpc_multicall_unknown_user_burst(site, source):
    calls = [("wp.getUsersBlogs", ("ghost", f"guess{i}")) for i in range(3)]
    site.client(source).multicall(calls)
    msgs = auth_messages(site.stack, source, count=2)
    assert msgs == [f"XML-RPC authentication attempt for unknown user ghost from {source}",
                    f"XML-RPC multicall authentication failure from {source}"]


def test_xmlrpc_multicall_with_one_guess_is_answered(site, source):
    """A multicall whose only login fails is no burst: its answer comes back, one soft line."""
    res = site.client(source).multicall([("system.listMethods", ()), ("wp.getUsersBlogs", (ADMIN, "wrong"))])
    assert isinstance(res, tuple), res
    assert isinstance(res[0][0][0], list) and res[0][1].get("faultCode") == 403, res
    assert auth_messages(site.stack, source) == [f"XML-RPC authentication failure for admin from {source}"]


def _rest_as(site, source, user, password):
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return site.client(source).get("/?rest_route=/wp/v2/users/me&context=edit",
                                   headers={"Authorization": f"Basic {auth}"})


def test_rest_application_password(site):
    a, b, ok = new_source(), new_source(), new_source()
    r = _rest_as(site, a, ADMIN, "abcd efgh ijkl mnop qrst uvwx")
    assert r.status == 401, r.status
    _rest_as(site, b, "ghost", "abcd efgh ijkl mnop qrst uvwx")
    assert auth_messages(site.stack, a) == [f"REST authentication failure for admin from {a}"]
    assert auth_messages(site.stack, b) == [f"REST authentication attempt for unknown user ghost from {b}"]
    # The right application password logs nothing.
    r = _rest_as(site, ok, ADMIN, site.stack.app_password)
    assert r.status == 200, r.text[:300]
    assert auth_messages(site.stack, ok, timeout=1) == []


def test_successful_login_when_enabled(site, stack):
    a, b = new_source(), new_source()
    r = site.client(a).login(ADMIN, "correct horse battery staple")
    assert r.status == 302
    assert auth_messages(stack, a, timeout=1) == []
    stack.banlog_options(log_success=1)
    try:
        r = site.client(b).login(ADMIN, "correct horse battery staple")
        assert r.status == 302
        assert auth_messages(stack, b) == [f"Accepted password for admin from {b}"]
    finally:
        stack.banlog_options(log_success=0)


def test_ident_is_the_site_host(site, source):
    """The ident names the site's configured host, whatever Host header the client sends."""
    c = site.client(source)
    c.host_header = "evil.example"
    c.login(ADMIN, "wrong")
    auth_messages(site.stack, source)  # waits for the line to reach rsyslog's file
    entries = [m for m in (SYSLOG_RE.match(l) for l in site.stack.rsyslog.lines()) if m and m.group(4).endswith(source)]
    assert len(entries) == 1
    assert entries[0].group(2) == "wordpress(127.0.0.1)"
    assert entries[0].group(4) == f"Authentication failure for admin from {source}"


HOSTILE = [
    "admin\nNov 21 07:19:22 web1 wordpress[1]: Authentication failure for x from 6.6.6.6",
    "x from 6.6.6.6",
    "bad\r\x1b[31mname\x00",
    "a\u2028b\u0085c\u202ed\u200b",
    "back\\slash",
    "  lots   of\t\tspace  ",
    "\u00e9" * 300,
    "emoji \U0001f600 and \ufeff bom",
]


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_rest_user_names_stay_on_one_line(stack, name):
    """REST passes the raw Basic user name: both writers escape it identically, and the address
    is the last thing on the one line."""
    msgs = {}
    for mode in ("extension", "fallback"):
        src = new_source()
        auth = base64.b64encode(name.encode() + b":" + b"pw pw pw pw").decode()
        c = stack.client(src, fallback=(mode == "fallback"))
        c.get("/?rest_route=/wp/v2/users/me", headers={"Authorization": f"Basic {auth}"})
        got = auth_messages(stack, src)
        assert len(got) == 1, got
        assert got[0].startswith("REST authentication attempt for unknown user ")
        assert "\n" not in got[0] and "\r" not in got[0]
        msgs[mode] = got[0][: -len(src)]
    assert msgs["extension"] == msgs["fallback"]
