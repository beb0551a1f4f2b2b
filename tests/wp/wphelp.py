"""Helpers of the WordPress end-to-end suite (a module of its own: `conftest` is a shared name)."""
import datetime
import itertools
import pathlib
import re
import sys
import time
import zoneinfo

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import harness  # noqa: E402

SPAM_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) comment id=(\d+) from host=(\S+) marked as spam$")
SYSLOG_RE = re.compile(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d (\S+) (wordpress\([^()\s]*\))\[(\d+)\]: (.*)$")

_sources = itertools.count(10)


def new_source():
    """A loopback address no other test used: 127.0.<a>.<b>."""
    n = next(_sources)
    return f"127.0.{n // 250}.{n % 250 + 2}"



class Site:
    """The stack as seen through one of the two php-fpm masters."""

    def __init__(self, stack, mode):
        self.stack = stack
        self.mode = mode
        self.fallback = mode == "fallback"

    def client(self, source=None, ipv6=False):
        return self.stack.client(source or new_source(), fallback=self.fallback, ipv6=ipv6)

    def admin(self):
        c = self.client("127.0.0.1")
        c.cookies = dict(self.stack.admin.cookies)
        return c



def spam_lines_for(stack, comment_id):
    return [l for l in stack.spam_lines() if f" comment id={comment_id} " in l]


def wait_spam(stack, comment_id, count=1, timeout=5):
    try:
        harness.wait_for(lambda: len(spam_lines_for(stack, comment_id)) >= count, timeout, what="spam line")
    except TimeoutError:
        pass
    time.sleep(0.2)  # anything extra (a double) would be there by now
    return spam_lines_for(stack, comment_id)


def auth_messages(stack, source, timeout=5, count=1):
    """Messages of the private rsyslog that end in ` from <source>`."""
    def got():
        return [m for m in _messages(stack) if m.endswith(f" from {source}")]
    try:
        harness.wait_for(lambda: len(got()) >= count, timeout, what="auth line")
    except TimeoutError:
        pass
    time.sleep(0.3)
    return got()


def _messages(stack):
    out = []
    for line in stack.rsyslog.lines():
        m = SYSLOG_RE.match(line)
        if m:
            out.append(m.group(4))
    return out


def syslog_entries(stack):
    return [SYSLOG_RE.match(l) for l in stack.rsyslog.lines() if SYSLOG_RE.match(l)]


def check_spam_line(line, comment_id, addr, tz=harness.DEFAULT_TZ):
    m = SPAM_RE.match(line)
    assert m, f"not a spam line: {line!r}"
    assert int(m.group(2)) == int(comment_id)
    assert m.group(3) == addr
    stamp = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=zoneinfo.ZoneInfo(tz))
    now = datetime.datetime.now(zoneinfo.ZoneInfo(tz))
    assert abs((now - stamp).total_seconds()) < 120, f"time {m.group(1)} is not local time in {tz} (now {now})"
