"""A CrowdSec agent (Debian's crowdsec 1.4.6, offline: its local API on loopback, no hub, no Central
API) tails the files the real extension writes, set up as the README says (the shipped acquisition
snippet, parser, scenarios, profiles): the spam log, and the auth lines through a real rsyslogd into
a file in Debian's auth.log layout. `cscli decisions list -o json` must then hold a ban for the
attacker once a jail's threshold is reached, for the jail's bantime, and none for an innocent
address or for the address a hostile user name holds."""
import re

import pytest
import yaml

from support.crowdsec import SHIPPED, CrowdSec
from support.rsyslog import Rsyslog
from support.waiting import wait_for

ATTACKER = "203.0.113.50"
ATTACKER_V6 = "2001:db8::50"
HARD = "203.0.113.60"
INNOCENT = "198.51.100.20"
DECOY = "198.51.100.21"  # only ever inside a user name
# Marks (192.0.2.N, a new one each time) show how far the agent has read a file. CrowdSec's
# whitelist parser drops private and loopback addresses: every address here is a documentation one.


def hours(duration):
    """A Go duration as cscli prints it (`23h59m58.9s`, `59m58.9s`) in hours."""
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:([\d.]+)s)?", duration)
    assert m and duration, duration
    h, mi, s = (float(g or 0) for g in m.groups())
    return h + mi / 60 + s / 3600


@pytest.fixture
def stack(tmp_path, ext_path):
    spam_log = tmp_path / "spam.log"
    spam_log.touch()
    rs = Rsyslog(tmp_path / "rsyslog").start()
    rs.out.touch()
    snippet = (SHIPPED / "acquis.d/banlog.yaml").read_text()
    snippet = snippet.replace("/var/www/html/wp-content/spam.log", str(spam_log)).replace("/var/log/auth.log", str(rs.out))
    cs = CrowdSec(tmp_path / "crowdsec", acquis=list(yaml.safe_load_all(snippet)))
    cs.start()
    try:
        cs.wait_lapi()
        yield cs, rs, spam_log
    finally:
        cs.stop()
        rs.stop()


def test_agent_bans_the_attacker_at_the_jails_thresholds(stack, php):
    cs, rs, spam_log = stack

    def emit(calls):
        php(f"banlog_configure(['spam_log' => '{spam_log}', 'syslog_target' => '{rs.socket}', 'ident_host' => 'example.com']);\n"
            f"{calls}\nif (!banlog_flush(5000)) {{ exit(3); }}")

    marks = iter(f"192.0.2.{n}" for n in range(1, 255))

    def read_up_to_here(log, calls=""):
        """Emits `calls`, then lines that get a new mark address banned (one unknown XML-RPC user in
        the auth log, five spam comments in the spam log), again until it is banned: the agent has
        then read everything before the mark in that file (in order: one parser routine). The bans."""
        mark = next(marks)
        mark_calls = (f"banlog_auth('xmlrpc_unknown_user', 'mark', '{mark}');" if log == "auth"
                      else "".join(f"banlog_spam({900 + i}, '{mark}');" for i in range(5)))
        emit(calls)
        for _ in range(10):
            emit(mark_calls)
            try:
                return wait_for(lambda: (b := cs.banned()) and mark in b and b, 2, 0.2, what=f"a ban of {mark}")
            except TimeoutError:
                continue
        raise AssertionError(f"the agent never banned {mark}: {cs.log_text()[-3000:]}")

    # The agent tails from the end of each file: once a mark in each is banned, it reads both.
    read_up_to_here("auth")
    read_up_to_here("spam")

    # Four spam comments (banlog-spam: maxretry 5): no ban; the fifth bans, for the jail's day.
    b = read_up_to_here("spam", "".join(f"banlog_spam({100 + i}, '{ATTACKER_V6}');" for i in range(4)))
    assert ATTACKER_V6 not in b, b
    emit(f"banlog_spam(104, '{ATTACKER_V6}');")
    b = wait_for(lambda: (b := cs.banned()) and ATTACKER_V6 in b and b, 20, 0.2, what="the spammer's ban")
    [(scenario, duration)] = b[ATTACKER_V6]
    assert scenario == "banlog/wordpress-spam"
    assert 23 < hours(duration) <= 24, duration

    # An innocent user mistypes four times, then logs in and out (banlog-auth: maxretry 5): no ban.
    # The attacker fails five times with a name that holds another address: the attacker is banned,
    # for the jail's hour, and neither the innocent nor the address in the name.
    innocent = "".join(f"banlog_auth('failure', 'alice', '{INNOCENT}');" for _ in range(4))
    innocent += f"banlog_auth('success', 'alice', '{INNOCENT}'); banlog_auth('logout', 'alice', '{INNOCENT}');"
    hostile = f"admin from {DECOY}\\r\\nNov 21 07:19:22 web1 wordpress[1]: Authentication failure for x from {DECOY}"
    attacker = "".join(f"banlog_auth('failure', \"{hostile}\", '{ATTACKER}');" for _ in range(5))
    emit(innocent + attacker)
    b = wait_for(lambda: (b := cs.banned()) and ATTACKER in b and b, 20, 0.2, what="the guesser's ban")
    [(scenario, duration)] = b[ATTACKER]
    assert scenario == "banlog/wordpress-auth-bf"
    assert 0.9 < hours(duration) <= 1, duration
    assert INNOCENT not in b and DECOY not in b, b
    lines = rs.lines()
    assert sum(f"from {DECOY} from {ATTACKER}" in ln for ln in lines) == 5, lines[-5:]

    # One unknown user over XML-RPC (banlog-auth-hard: maxretry 1) bans at once, for a day.
    emit(f"banlog_auth('xmlrpc_unknown_user', 'x from {DECOY}', '{HARD}');")
    b = wait_for(lambda: (b := cs.banned()) and HARD in b and b, 20, 0.2, what="the hard ban")
    [(scenario, duration)] = b[HARD]
    assert scenario == "banlog/wordpress-auth-hard"
    assert 23 < hours(duration) <= 24, duration

    # After everything was read (a last mark): still no ban for the innocent or the decoy.
    b = read_up_to_here("auth")
    assert INNOCENT not in b and DECOY not in b, b
    assert {a for a in b if not a.startswith("192.0.2.")} == {ATTACKER_V6, ATTACKER, HARD}, b
