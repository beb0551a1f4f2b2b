"""Reading what the WordPress stack logged: the spam log's lines and the auth lines rsyslog received."""
import datetime
import re
import time
import zoneinfo

from .waiting import wait_for
from .wordpress import DEFAULT_TZ

SPAM_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) comment id=(\d+) from host=(\S+) marked as spam$")
SYSLOG_RE = re.compile(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d (\S+) (wordpress\([^()\s]*\))\[(\d+)\]: (.*)$")


def spam_lines_for(stack, comment_id):
    return [l for l in stack.spam_lines() if f" comment id={comment_id} " in l]


def wait_spam(stack, comment_id, count=1, timeout=5):
    try:
        wait_for(lambda: len(spam_lines_for(stack, comment_id)) >= count, timeout, what="spam line")
    except TimeoutError:
        pass
    time.sleep(0.2)  # anything extra (a double) would be there by now
    return spam_lines_for(stack, comment_id)


def auth_messages(stack, source, timeout=5, count=1):
    """Messages of the private rsyslog that end in ` from <source>`."""
    def got():
        return [m for m in _messages(stack) if m.endswith(f" from {source}")]
    try:
        wait_for(lambda: len(got()) >= count, timeout, what="auth line")
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


def check_spam_line(line, comment_id, addr, tz=DEFAULT_TZ):
    m = SPAM_RE.match(line)
    assert m, f"not a spam line: {line!r}"
    assert int(m.group(2)) == int(comment_id)
    assert m.group(3) == addr
    stamp = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=zoneinfo.ZoneInfo(tz))
    now = datetime.datetime.now(zoneinfo.ZoneInfo(tz))
    assert abs((now - stamp).total_seconds()) < 120, f"time {m.group(1)} is not local time in {tz} (now {now})"
