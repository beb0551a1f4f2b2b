"""The end of the chain: a real fail2ban-server, with banlog's jails, bans the spam bot and the
password guesser that attacked the real WordPress, and their next connection is dropped."""
import pytest

import harness
from banstage import BanStage


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
    assert stage.banned("banlog-spam") == []
    # The fifth comment bans; the firewall drops the bot's next connection.
    assert stage.attack(stage.spam_bot, "spam", 1) == [302]
    harness.wait_for(lambda: stage.spam_bot in stage.banned("banlog-spam"), 30, interval=0.3,
                     what="spam ban")
    assert f"-s {stage.spam_bot}/32 -j DROP" in stage.firewall()
    assert not stage.reachable(stage.spam_bot)

    # The guesser: five wrong passwords on wp-login.php (soft jail, maxretry 5).
    assert stage.reachable(stage.guesser)
    assert stage.attack(stage.guesser, "login", 5) == [200] * 5
    harness.wait_for(lambda: stage.guesser in stage.banned("banlog-auth"), 30, interval=0.3, what="auth ban")
    assert not stage.reachable(stage.guesser)
    assert stage.banned("banlog-auth-hard") == []
    # Nobody else was banned: not the server, not the loopback admin.
    for jail in ("banlog-spam", "banlog-auth", "banlog-auth-hard"):
        assert set(stage.banned(jail)) <= {stage.spam_bot, stage.guesser}
