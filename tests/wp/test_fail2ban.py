"""The end of the chain: a real fail2ban-server, with banlog's jails, bans the spam bot and the
password guesser that attacked the real WordPress, and their next connection is dropped."""
import pytest

from support.banstage import BanStage
from support.waiting import wait_for


@pytest.fixture
def stage(stack):
    stack.configure_logging()
    s = BanStage(stack, log=lambda *a: None)
    s.start()
    yield s
    s.stop()


def test_spam_bot_and_password_guesser_are_banned(stage, stack):
    assert stage.reachable(stage.spam_bot) and stage.reachable(stage.guesser)

    # The spam bot: 4 comments (below maxretry 5) are logged but do not ban.
    assert stage.attack(stage.spam_bot, "spam", 4) == [302] * 4
    assert sum(f"host={stage.spam_bot} " in l for l in stack.spam_lines()) == 4
    assert stage.spam_bot not in stage.banned("banlog-spam")
    # The fifth comment bans; the firewall drops the bot's next connection.
    assert stage.attack(stage.spam_bot, "spam", 1) == [302]
    wait_for(lambda: stage.spam_bot in stage.banned("banlog-spam"), 30, interval=0.3,
             what="spam ban")
    # (The ban action may still be working through earlier bans of the session.)
    wait_for(lambda: f"-s {stage.spam_bot}/32 -j DROP" in stage.firewall(), 30, interval=0.3,
             what="firewall rule")
    assert not stage.reachable(stage.spam_bot)

    # The guesser: five wrong passwords on wp-login.php (soft jail, maxretry 5).
    assert stage.reachable(stage.guesser)
    assert stage.attack(stage.guesser, "login", 5) == [200] * 5
    wait_for(lambda: stage.guesser in stage.banned("banlog-auth"), 30, interval=0.3, what="auth ban")
    wait_for(lambda: f"-s {stage.guesser}/32 -j DROP" in stage.firewall(), 30, interval=0.3,
             what="firewall rule")
    assert not stage.reachable(stage.guesser)
    assert stage.guesser not in stage.banned("banlog-auth-hard")  # wrong passwords are soft failures
    # Nobody innocent was banned: not the server, not the admin's address. (Earlier tests of the
    # session left other attackers' lines in the logs; the jails rightly count those too.)
    for jail in ("banlog-spam", "banlog-auth", "banlog-auth-hard"):
        assert not {stage.server_ip, "127.0.0.1"} & set(stage.banned(jail))


def test_pingback_bot_is_banned(stage, stack):
    """banlog-pingback (off by default; the stage turns it on): bogus pingbacks over HTTP from the
    attacker's namespace, each a `Pingback error` line; the third within the hour bans."""
    bot = stage.pinger
    before = stack.rsyslog.lines()
    assert stage.reachable(bot)
    assert stage.attack(bot, "pingback", 2) == [200] * 2
    wait_for(lambda: sum(l.endswith(f" from {bot}") and "Pingback error" in l for l in stack.rsyslog.lines()) >= 2,
             10, what="pingback lines")
    assert bot not in stage.banned("banlog-pingback")
    assert stage.attack(bot, "pingback", 1) == [200]
    wait_for(lambda: bot in stage.banned("banlog-pingback"), 30, interval=0.3, what="pingback ban")
    wait_for(lambda: f"-s {bot}/32 -j DROP" in stage.firewall(), 30, interval=0.3, what="firewall rule")
    assert not stage.reachable(bot)
    new = [l for l in stack.rsyslog.lines()[len(before):] if l.endswith(f" from {bot}")]
    assert len(new) == 3 and all(" Pingback error " in l and " generated from " in l for l in new), new
    # The login jails do not count pingbacks.
    assert bot not in stage.banned("banlog-auth") and bot not in stage.banned("banlog-auth-hard")
