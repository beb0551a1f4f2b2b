"""The login audit over HTTP with the real WordPress: a successful login and a logout each write
one line at severity info (auth.info in a real rsyslog that shows facility and severity), through
the extension and through the pure-PHP fallback; with the options off, neither is written."""
import re
import uuid

from support.http import new_source
from support.rsyslog import Rsyslog
from support.wplog import auth_messages

PASSWORD = "correct horse battery staple"
PRI_TEMPLATE = ('template(name="pri" type="string" '
                'string="%syslogfacility-text%.%syslogseverity-text% %syslogtag%%msg%\\n")')


def log_in_and_out(site, source):
    c = site.client(source)
    r = c.login("admin", PASSWORD)
    assert r.status == 302, r.status
    assert any(k.startswith("wordpress_logged_in_") for k in c.cookies), c.cookies
    # wp-login.php asks for confirmation without a nonce; the link it shows carries one.
    r = c.get("/wp-login.php?action=logout")
    m = re.search(r'href="[^"]*wp-login\.php\?action=logout&amp;[^"]*_wpnonce=([0-9a-f]+)', r.text)
    assert m, r.text[:2000]
    r = c.get(f"/wp-login.php?action=logout&_wpnonce={m.group(1)}")
    assert r.status == 302 and "loggedout=true" in (r.header("Location") or ""), (r.status, r.headers)
    # Logged out for real: the cleared cookies no longer open wp-admin.
    r = c.get("/wp-admin/")
    assert r.status == 302 and "wp-login.php" in (r.header("Location") or ""), (r.status, r.headers)


def test_logout_is_not_logged_by_default(site, source):
    assert site.stack.php_eval("echo json_encode(Banlog_Plugin::options()['log_logout']);") == "0"
    log_in_and_out(site, source)
    assert auth_messages(site.stack, source, timeout=1) == []


def test_login_and_logout_reach_rsyslog_as_auth_info(site):
    stack = site.stack
    r = Rsyslog(stack.workdir / f"rsyslog-pri-{uuid.uuid4().hex[:8]}", template="pri", template_def=PRI_TEMPLATE)
    r.dir.chmod(0o755)
    r.start()
    try:
        r.socket.chmod(0o666)
        stack.banlog_options(log_success=1, log_logout=1, syslog_target=str(r.socket))
        source = new_source()
        log_in_and_out(site, source)
        got = r.wait_for(2, timeout=10, pred=lambda l: l.endswith(f" from {source}"))
        assert len(got) == 2, r.lines()
        pat = re.compile(r"^(\S+) wordpress\(127\.0\.0\.1\)\[\d+\]: (.*)$")
        parsed = [pat.match(l) for l in got]
        assert all(parsed), got
        assert [(p.group(1), p.group(2)) for p in parsed] == [
            ("auth.info", f"Accepted password for admin from {source}"),
            ("auth.info", f"Logout for admin from {source}"),
        ]
        # A failure on the same setup is a notice: the severity is the event's, not the sink's.
        bad = new_source()
        site.client(bad).login("admin", "wrong")
        got = r.wait_for(1, timeout=10, pred=lambda l: l.endswith(f" from {bad}"))
        assert [l.split(" ", 1)[0] for l in got] == ["auth.notice"], got
    finally:
        stack.configure_logging()
        stack.banlog_options(log_logout=0)
        r.stop()
    assert not [e for e in stack.php_errors() if "banlog" in e.lower()], stack.php_errors()[-5:]
