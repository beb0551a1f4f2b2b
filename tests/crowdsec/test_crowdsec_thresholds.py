"""The scenarios' buckets against the jails' thresholds (filters/jail.d/banlog.conf), in Debian's real
crowdsec 1.4.6 replaying lines with chosen times (time-machine mode: the buckets run on the lines'
times): maxretry failures within less than findtime overflow, the same spread over a little more
than findtime do not, and the one documented difference, a steady rate above one per findtime,
overflows on the failure the leaky bucket's arithmetic says."""
import time

import pytest

from support.crowdsec import CrowdSec

T0 = 1_795_241_962  # 2026-11-21 06:19:22 UTC
MARK = "192.0.2.200"


def auth_line(t, ip, kind="Authentication failure for admin"):
    """An auth line as banlog's auth_log (RSYSLOG_FileFormat) holds it."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime(t))
    return f"{stamp} web1 wordpress(example.com)[4242]: {kind} from {ip}"


def spam_line(t, ip, n):
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(t))} comment id={n} from host={ip} marked as spam"


@pytest.fixture
def crowdsec(tmp_path):
    cs = CrowdSec(tmp_path / "crowdsec")
    cs.start_lapi()
    yield cs
    cs.stop()


def alerted(alerts):
    return {(a["source"]["ip"], a["scenario"]): a["events_count"] for a in alerts if a["source"]["ip"] != MARK}


def test_auth_buckets_overflow_where_the_jails_ban(crowdsec):
    series = {
        "203.0.113.1": [0, 150, 300, 450, 599],  # 5 within 600 s: banlog-auth bans
        "203.0.113.2": [0, 150, 300, 450, 601],  # 5 over 601 s: banlog-auth does not
        "203.0.113.3": [0, 1, 2, 3],  # 4: below maxretry
        "203.0.113.4": [300 * k for k in range(10)],  # one every 5 min: never 5 in 600 s
    }
    lines = [(T0 + s, ip) for ip, times in series.items() for s in times]
    lines = [auth_line(t, ip) for t, ip in sorted(lines)]
    lines.append(auth_line(T0 + 5000, "203.0.113.5", "XML-RPC authentication attempt for unknown user x"))
    mark = [auth_line(T0 + 6000, MARK, "XML-RPC multicall authentication failure")]
    got = alerted(crowdsec.replay_alerts(lines, "syslog", mark, MARK))
    assert got == {
        ("203.0.113.1", "banlog/wordpress-auth-bf"): 5,
        # The difference the scenario file documents: a rate above one per findtime overflows in
        # the end: capacity 4 less 7 failures plus 6 x 300/600 leaked leaves 0.5 < 1 at the 8th.
        ("203.0.113.4", "banlog/wordpress-auth-bf"): 8,
        ("203.0.113.5", "banlog/wordpress-auth-hard"): 1,
    }, got


def test_spam_bucket_overflows_where_the_jail_bans(crowdsec):
    series = {
        "2001:db8::1": [0, 900, 1800, 2700, 3599],  # 5 within 3600 s: banlog-spam bans
        "2001:db8::2": [0, 900, 1800, 2700, 3601],  # 5 over 3601 s: it does not
    }
    lines = sorted((T0 + s, ip) for ip, times in series.items() for s in times)
    lines = [spam_line(t, ip, n) for n, (t, ip) in enumerate(lines)]
    mark = [spam_line(T0 + 9000, MARK, 900 + i) for i in range(5)]
    got = alerted(crowdsec.replay_alerts(lines, "banlog-spam", mark, MARK))
    assert got == {("2001:db8::1", "banlog/wordpress-spam"): 5}, got
