"""The in-process gate on the real WordPress stack: with the option on, a client that reached a
jail's limit gets 403 on a login POST, an XML-RPC request or a comment post before any password
check, and nothing new is logged for it; other clients go through; without the extension there is
no gate and the page says so. The gate's defaults are the shipped jails' values, jail by jail."""
import configparser
import json
import xmlrpc.client

import pytest

from support.http import new_source
from support.paths import FILTERS, PLUGIN_SRC
from support.php import php_str, run_php
from support.waiting import wait_for
from support.wordpress import ADMIN_PASS

ADMIN = "admin"


def auth_checks(stack, source, what="authcount"):
    """How many of `source`'s requests reached a password check (the test mu-plugin's count;
    what="arrivals": its login POSTs that reached WordPress)."""
    p = stack.docroot / "wp-content" / f"banlog-{what}.log"
    return p.read_text().split().count(source) if p.exists() else 0


def logged(stack, source):
    return [l for l in stack.rsyslog.lines() if l.endswith(f" from {source}")]


@pytest.fixture
def gate_on(stack):
    stack.configure_logging()
    stack.banlog_options(gate=1)
    yield stack
    stack.banlog_options(gate=0)


@pytest.mark.parametrize("conf", [FILTERS / "jail.d/banlog.conf", PLUGIN_SRC / "fail2ban/jail.d/banlog.conf"])
def test_the_gate_s_defaults_are_the_shipped_jails(conf):
    jails = configparser.ConfigParser(interpolation=None)
    jails.read(conf)
    gate_php = PLUGIN_SRC / "includes/class-banlog-gate.php"
    got = json.loads(run_php(f"define('ABSPATH', '/'); require {php_str(gate_php)};"
                             "echo json_encode(Banlog_Gate::JAILS);", ext=None).stdout)
    # Every jail but the abuse jails (pingbacks, comment floods, user enumeration), which the gate
    # does not follow.
    abuse = {"banlog-pingback", "banlog-comment-flood", "banlog-user-enum"}
    assert abuse <= set(jails.sections())
    assert sorted(j["jail"] for j in got.values()) == sorted(set(jails.sections()) - abuse)
    for key, j in got.items():
        section = jails[j["jail"]]
        kinds = {"banlog-spam": "spam", "banlog-auth[mode=soft]": "soft", "banlog-auth[mode=hard]": "hard"}
        assert kinds[section["filter"]] == j["kinds"] == key, j
        assert (j["maxretry"], j["findtime"]) == (int(section["maxretry"]), int(section["findtime"])), j


def test_a_client_at_the_limit_is_refused_before_any_password_check(gate_on, source):
    stack = gate_on
    attacker = stack.client(source)
    for i in range(5):  # the soft jail's maxretry
        r = attacker.login(ADMIN, f"wrong{i}")
        assert r.status == 200 and "login_error" in r.text
    assert auth_checks(stack, source) == 5
    wait_for(lambda: len(logged(stack, source)) == 5, 20, interval=0.1, what="the 5 failure lines")
    # At the limit: every guarded request ends with 403 at once, no warning in it.
    assert [attacker.login(ADMIN, "wrong-again").status for _ in range(3)] == [403] * 3
    r = attacker.login(ADMIN, "still-wrong")
    assert (r.status, r.text) == (403, "Forbidden\n")
    body = xmlrpc.client.dumps((ADMIN, "guess"), "wp.getUsersBlogs")
    assert attacker.request("POST", "/xmlrpc.php", body=body, headers={"Content-Type": "text/xml"}).status == 403
    r = attacker.post_comment(1, "Bot", "bot@example.net", "gate FILTER-SPAM")
    assert r.status == 403
    assert auth_checks(stack, source) == 5
    # Pages that check no password still answer.
    assert attacker.get("/wp-login.php").status == 200
    assert attacker.get("/").status == 200
    # Another client, the same server: a wrong password is just that, the right one logs in.
    innocent = stack.client(new_source())
    assert innocent.login(ADMIN, "typo").status == 200
    # Its line, sent after the refused requests, is in the log: theirs would be before it.
    wait_for(lambda: logged(stack, innocent.source), 20, interval=0.1, what="the innocent's line")
    assert len(logged(stack, source)) == 5, "nothing new is logged for refused requests"
    assert innocent.login(ADMIN, ADMIN_PASS).status == 302
    assert not any("PHP " in l for l in stack.php_errors()[-50:])


def test_with_the_gate_off_the_requests_go_on(stack, source):
    stack.configure_logging()
    stack.banlog_options(gate=0)
    attacker = stack.client(source)
    assert [attacker.login(ADMIN, f"wrong{i}").status for i in range(7)] == [200] * 7
    assert auth_checks(stack, source) == 7


def test_without_the_extension_there_is_no_gate_and_the_page_says_so(gate_on, source):
    stack = gate_on
    fallback = stack.client(source, fallback=True)
    assert [fallback.login(ADMIN, f"wrong{i}").status for i in range(7)] == [200] * 7
    admin = stack.client("127.0.0.1", fallback=True)
    admin.cookies = dict(stack.admin.cookies)
    page = admin.get("/wp-admin/options-general.php?page=banlog").text
    assert "banlog-gate-unavailable" in page and 'id="banlog_gate"' in page
    page = stack.admin.get("/wp-admin/options-general.php?page=banlog").text
    assert 'id="banlog_gate"' in page and "banlog-gate-unavailable" not in page
    for key, value in (("soft_maxretry", 5), ("soft_findtime", 600), ("hard_maxretry", 1), ("spam_findtime", 3600)):
        assert f'id="banlog_gate_{key}" name="banlog_options[gate_{key}]" value="{value}"' in page


def test_the_page_refuses_limits_out_of_range_and_keeps_the_ones_in_effect(stack):
    """Banlog_Admin::clean(), which the options form's sanitize callback runs: whole numbers in
    range are stored, anything else is refused with a message and the stored value stays."""
    out = json.loads(stack.php_eval(
        "$a = new Banlog_Admin(Banlog_Plugin::instance());"
        "$o = $a->clean(['gate' => '1', 'gate_soft_maxretry' => '3', 'gate_soft_findtime' => '-5',"
        " 'gate_hard_maxretry' => '0', 'gate_hard_findtime' => '1e3', 'gate_spam_maxretry' => '99999',"
        " 'gate_spam_findtime' => ['x']], ['gate_spam_maxretry' => 7]);"
        "echo json_encode(['o' => $o, 'e' => array_column(get_settings_errors('banlog_options'), 'message')]);"))
    o = out["o"]
    assert (o["gate"], o["gate_soft_maxretry"], o["gate_hard_maxretry"]) == (1, 3, 0)
    assert "gate_soft_findtime" not in o and "gate_hard_findtime" not in o and "gate_spam_findtime" not in o
    assert o["gate_spam_maxretry"] == 7
    errors = " ".join(out["e"])
    for what in ("banlog-auth findtime must be a whole number from 1 to 315360000",
                 "banlog-auth-hard findtime", "banlog-spam maxretry must be a whole number from 0 to 4096",
                 "banlog-spam findtime"):
        assert what in errors, errors


def test_the_installed_jails_values_are_read_for_the_page(tmp_path):
    """Banlog_Gate::installed_limits(): banlog.local over banlog.conf, fail2ban's time units, only
    what the files set (the page compares these with the gate's values)."""
    conf, local = tmp_path / "banlog.conf", tmp_path / "banlog.local"
    conf.write_text((FILTERS / "jail.d/banlog.conf").read_text())
    local.write_text("[banlog-auth]\nenabled = true\nmaxretry = 3\nfindtime = 10m\n\n[banlog-spam]\nbantime = 1d\n")
    inc = PLUGIN_SRC / "includes"
    got = json.loads(run_php(
        f"define('ABSPATH', '/'); require {php_str(inc / 'class-banlog-activity.php')};"
        f"require {php_str(inc / 'class-banlog-gate.php')};"
        f"echo json_encode(Banlog_Gate::installed_limits([{php_str(conf)}, {php_str(local)}, '/nonexistent']));",
        ext=None).stdout)
    assert got == {
        "soft": {"maxretry": 3, "findtime": 600, "source": str(local)},
        "hard": {"maxretry": 1, "findtime": 3600, "source": str(conf)},
        "spam": {"maxretry": 5, "findtime": 3600, "source": str(conf)},
    }
