"""A subdirectory multisite (Debian's WordPress, banlog network-activated) with one subsite whose
admin is not a super admin: where banlog writes and whom it trusts as a proxy are the network's
settings, which only a super admin sets (Network Admin → Settings → banlog); the subsite admin
sees its own site's status and nothing else, and forged POSTs with its own valid nonces change
nothing. Over HTTP, through the php-fpm with the extension and the one without."""
import json
import re

import pytest

from support.http import new_source
from support.paths import EXT
from support.wordpress import ADMIN_PASS, ADMIN_USER, Stack
from support.wplog import auth_messages, wait_spam

SUB = "/sub"
NET_PAGE = "/wp-admin/network/settings.php?page=banlog-network"
NET_EDIT = "/wp-admin/network/edit.php?action=banlog"
SUB_PAGE = SUB + "/wp-admin/options-general.php?page=banlog"
NETWORK_FIELDS = ("spam_log", "syslog", "syslog_facility", "syslog_target", "auth_log", "syslog_spam",
                  "trusted_proxies", "proxy_header", "xmlrpc_multicall_stop", "refuse_user_enumeration")
HOSTILE = "<svg/onload=alert(document.domain)>"


@pytest.fixture(scope="module")
def net():
    assert EXT.is_file(), f"{EXT} is missing: run 'make build' first"
    s = Stack(log=lambda *a: None, multisite=True)
    s.start()
    s.net_spam_log = s.workdir / "net" / "spam.log"
    s.net_auth_log = s.workdir / "net" / "auth.log"
    s.net_spam_log.parent.mkdir()
    import shutil
    shutil.chown(s.net_spam_log.parent, "www-data", "www-data")
    network_options(s, spam_log=str(s.net_spam_log), syslog=1, syslog_target=str(s.rsyslog.socket),
                    auth_log="", trusted_proxies="")
    yield s
    s.stop()


def network_options(stack, **changes):
    """Sets the network option directly (the harness's shortcut; the tests of the page POST)."""
    return stack.merge_option("banlog_network_options", changes, network=True)


def raw_network(stack):
    return json.loads(stack.php_eval("echo json_encode(get_site_option('banlog_network_options', null));"))


def effective(stack, site=""):
    return json.loads(stack.php_eval("echo json_encode(Banlog_Plugin::options());", site=site))


def sub_admin(stack, fallback=False):
    c = stack.client(new_source(), fallback=fallback)
    r = c.login(Stack.SUBSITE_ADMIN, Stack.SUBSITE_ADMIN_PASS, site=SUB)
    assert r.status == 302, (r.status, r.text[:500])
    return c


def super_admin(stack, fallback=False):
    c = stack.client("127.0.0.1", fallback=fallback)
    c.cookies = dict(stack.admin.cookies)
    return c


def nonce(page_text):
    m = re.search(r'name="_wpnonce" value="([0-9a-f]+)"', page_text)
    assert m, page_text[:3000]
    return m.group(1)


def test_subsite_admin_sees_only_its_site(net):
    c = sub_admin(net)
    # Another site's (the main site's) last error, naming a path: never shown to the subsite.
    net.php_eval("update_option('banlog_last_error', ['time' => time(), 'sink' => 'spam_log',"
                 " 'message' => 'open /srv/main-site-secret/spam.log: Permission denied']);")
    # This site's own last error, naming the network's spam log: shown, without the path.
    net.php_eval("update_option('banlog_last_error', ['time' => time(), 'sink' => 'spam_log', 'message' =>"
                 f" {json.dumps('open ' + str(net.net_spam_log) + ': No space left on device')}]);", site=SUB)
    r = c.get(SUB_PAGE)
    assert r.status == 200, r.status
    page = r.text
    assert 'id="banlog-status"' in page and 'id="banlog-network-note"' in page
    for key in NETWORK_FIELDS:
        assert f"banlog_options[{key}]" not in page, key
        assert f'id="banlog_{key}"' not in page, key
    assert 'name="banlog_options[log_success]"' in page  # the site's own setting
    # Nothing of where lines go, of the workers' sinks and counters, or of another site.
    for secret in (str(net.net_spam_log), str(net.rsyslog.socket), str(net.workdir), "main-site-secret",
                   "banlog-jail-snippet", "Sink ", "banlog-counters", "network/settings.php"):
        assert secret not in page, secret
    last = re.search(r'<td id="banlog-last-error">([^<]*)</td>', page).group(1)
    assert "No space left on device" in last and "the network&#039;s spam log" in last, last
    # The network page itself is refused.
    r = c.get(NET_PAGE)
    assert r.status in (302, 403) and "banlog_options[spam_log]" not in r.text


@pytest.mark.parametrize("fallback", [False, True], ids=["extension", "fallback"])
def test_forged_options_post_changes_only_the_sites_own_setting(net, fallback):
    """options.php with the subsite admin's cookies and the nonce of its own page: the network's
    settings named in it are ignored; the site's own setting (log_success) is saved, which shows
    that the nonce and capability were valid and the POST did arrive."""
    c = sub_admin(net, fallback)
    before_net, before = raw_network(net), effective(net, SUB)
    page = c.get(SUB_PAGE).text
    r = c.post(SUB + "/wp-admin/options.php", {
        "option_page": "banlog", "action": "update", "_wpnonce": nonce(page),
        "_wp_http_referer": SUB_PAGE, "banlog_options[form]": "1", "banlog_options[log_success]": "1",
        "banlog_options[spam_log]": "/tmp/pwned.log", "banlog_options[auth_log]": "/tmp/pwned-auth.log",
        "banlog_options[syslog_target]": "tcp://10.0.0.1:25", "banlog_options[syslog]": "1",
        "banlog_options[trusted_proxies]": f"0.0.0.0/0\n::/0\n{HOSTILE}",
        "banlog_options[proxy_header]": "X-Evil", "banlog_options[xmlrpc_multicall_stop]": "",
        "banlog_options[refuse_user_enumeration]": "1",
    })
    assert r.status == 302 and "settings-updated=true" in (r.header("Location") or ""), r.status
    try:
        after = effective(net, SUB)
        assert raw_network(net) == before_net
        assert after["log_success"] == 1
        assert {k: after[k] for k in NETWORK_FIELDS} == {k: before[k] for k in NETWORK_FIELDS}
        stored = json.loads(net.php_eval("echo json_encode(get_option('banlog_options'));", site=SUB))
        assert not set(stored) & set(NETWORK_FIELDS), stored
        assert HOSTILE not in c.get(SUB_PAGE).text
    finally:
        net.php_eval("$o = get_option('banlog_options'); $o['log_success'] = 0; update_option('banlog_options', $o);",
                     site=SUB)


def test_old_site_values_of_network_settings_are_ignored(net):
    """A subsite's banlog_options from before (when each site set its paths) is not used."""
    net.php_eval("update_option('banlog_options', ['version' => 2, 'spam_log' => '/tmp/old-sub.log',"
                 " 'trusted_proxies' => '10.0.0.0/8', 'syslog_target' => 'udp://192.0.2.1:514']);", site=SUB)
    try:
        o = effective(net, SUB)
        assert o["spam_log"] == str(net.net_spam_log) and o["trusted_proxies"] == ""
        assert o["syslog_target"] == str(net.rsyslog.socket)
        sources = json.loads(net.php_eval("echo json_encode([Banlog_Plugin::source('spam_log'),"
                                          " Banlog_Plugin::source('syslog_facility')]);", site=SUB))
        assert sources == ["network", "default"]
    finally:
        net.php_eval("update_option('banlog_options', ['version' => 2]);", site=SUB)


def test_forged_network_post_is_refused(net):
    """network/edit.php?action=banlog with the subsite admin's cookies and a nonce it made itself
    for the network page's action: refused, nothing changes."""
    c = sub_admin(net)
    own = net.php_eval("echo wp_create_nonce('banlog-network-options');", site=SUB, client=c).strip()
    assert re.fullmatch(r"[0-9a-f]{10}", own), own
    before = raw_network(net)
    r = c.post(NET_EDIT, {"_wpnonce": own, "_wp_http_referer": NET_PAGE, "banlog_options[form]": "1",
                          "banlog_options[spam_log]": "/tmp/pwned.log", "banlog_options[syslog_target]": "tcp://10.0.0.1:25",
                          "banlog_options[trusted_proxies]": "10.0.0.0/8"})
    assert r.status in (302, 403), r.status
    assert "updated=true" not in (r.header("Location") or "")
    assert raw_network(net) == before
    # The handler's own check, reached directly as that user: refused before it reads anything.
    out = net.php_eval("$_POST['_wpnonce'] = wp_create_nonce('banlog-network-options');"
                       "$_POST['banlog_options'] = ['form' => 1, 'spam_log' => '/tmp/pwned.log'];"
                       "add_filter('wp_die_ajax_handler', function () { return function ($m, $t, $a) {"
                       " echo 'DIED ' . (is_array($a) && isset($a['response']) ? $a['response'] : '?'); exit; }; });"
                       "(new Banlog_Network(Banlog_Plugin::instance()))->save();", site=SUB, client=c)
    assert out.startswith("DIED 403"), out[:500]
    assert raw_network(net) == before


def test_super_admin_sets_the_network_settings(net):
    """The network page: saved values, refused ones with escaped reasons, and a subsite's failed
    login and spam written where the network settings say (both writers)."""
    admin = super_admin(net)
    page = admin.get(NET_PAGE)
    assert page.status == 200 and 'name="banlog_options[spam_log]"' in page.text
    try:
        r = admin.post(NET_EDIT, {
            "_wpnonce": nonce(page.text), "_wp_http_referer": NET_PAGE, "banlog_options[form]": "1",
            "banlog_options[spam_log]": str(net.net_spam_log), "banlog_options[auth_log]": str(net.net_auth_log),
            "banlog_options[syslog]": "1", "banlog_options[syslog_target]": str(net.rsyslog.socket),
            "banlog_options[syslog_facility]": "authpriv", "banlog_options[xmlrpc_multicall_stop]": "1",
            "banlog_options[trusted_proxies]": f"192.0.2.0/24\n0.0.0.0/0\n{HOSTILE}",
            "banlog_options[proxy_header]": "X-Forwarded-For",
        })
        assert r.status == 302 and "updated=true" in (r.header("Location") or ""), (r.status, r.text[:500])
        stored = raw_network(net)
        assert stored["spam_log"] == str(net.net_spam_log) and stored["auth_log"] == str(net.net_auth_log)
        assert stored["syslog_facility"] == "authpriv"
        assert stored.get("trusted_proxies", "") == ""  # refused whole: the list in effect (none) stays
        shown = admin.get(NET_PAGE).text
        assert "<svg" not in shown and "onload=alert" in shown  # shown back, escaped
        assert "0.0.0.0/0" in shown and "refused" in shown
        assert 'id="banlog_auth_log_source" data-source="network"' in shown

        for fallback in (False, True):
            src = new_source()
            net.client(src, fallback=fallback).login(ADMIN_USER, "wrong password", site=SUB)
            want = f"Authentication failure for admin from {src}"
            assert auth_messages(net, src) == [want]
            assert net.net_auth_log.read_text().splitlines()[-1].endswith(": " + want)
            cid_src = new_source()
            r = net.client(cid_src, fallback=fallback).post_comment(1, "S", "s@example.com", f"buy {cid_src} FILTER-SPAM",
                                                                    site=SUB)
            assert r.status in (200, 302), r.status
            lines = [l for l in net.net_spam_log.read_text().splitlines() if l.endswith(f"host={cid_src} marked as spam")]
            assert len(lines) == 1, lines
    finally:
        network_options(net, auth_log="", syslog_facility="auth")


def test_php_ini_locks_a_network_setting(net):
    """A `banlog.*` directive of the FPM pool locks its setting for every site: the network page
    shows it locked (no field to submit), a POST naming it does not change it, and every site
    writes with it; settings it does not name stay the network page's."""
    target = "udp://127.0.0.1:9"
    saved_ini, saved = dict(net.fpm_ini), raw_network(net)
    try:
        net.reconfigure_fpm(names=("ext",), fpm_ini=dict(saved_ini, **{"banlog.syslog_target": target}))
        admin = super_admin(net)
        page = admin.get(NET_PAGE).text
        field = re.search(r'<input type="text" id="banlog_syslog_target"[^>]*>', page).group(0)
        assert 'disabled="disabled"' in field and f'value="{target}"' in field, field
        m = re.search(r'id="banlog_syslog_target_source" data-source="(\w+)">([^<]*)<', page)
        assert m.group(1) == "server" and "locked by php.ini" in m.group(2), m.groups()
        assert 'id="banlog_spam_log_source" data-source="network"' in page
        r = admin.post(NET_EDIT, {"_wpnonce": nonce(page), "_wp_http_referer": NET_PAGE, "banlog_options[form]": "1",
                                  "banlog_options[spam_log]": str(net.net_spam_log), "banlog_options[syslog]": "1",
                                  "banlog_options[syslog_target]": "udp://192.0.2.7:514"})
        assert r.status == 302, r.status
        assert raw_network(net).get("syslog_target") == saved.get("syslog_target")
        for site in ("", SUB):
            out = net.php_eval("echo json_encode([Banlog_Plugin::options()['syslog_target'],"
                               " Banlog_Plugin::source('syslog_target'), Banlog_Plugin::options()['spam_log']]);",
                               site=site)
            assert json.loads(out) == [target, "server", str(net.net_spam_log)], site
    finally:
        net.reconfigure_fpm(names=("ext",), fpm_ini=saved_ini)
        net.php_eval(f"update_site_option('banlog_network_options', json_decode({json.dumps(json.dumps(saved))}, true));")


def test_multicall_stop_is_a_network_setting(net):
    src = new_source()
    calls = [("wp.getUsersBlogs", (ADMIN_USER, f"guess{i}")) for i in range(20)]
    c = net.client(src)
    r = c.request("POST", SUB + "/xmlrpc.php", body=__import__("xmlrpc.client").client.dumps(
        ([{"methodName": m, "params": list(p)} for m, p in calls],), "system.multicall"),
        headers={"Content-Type": "text/xml"})
    assert b"<name>faultCode</name><value><int>403</int>" in r.body.replace(b"\n", b"").replace(b" ", b""), r.body[:500]
    assert auth_messages(net, src, count=2) == [f"XML-RPC authentication failure for admin from {src}",
                                                f"XML-RPC multicall authentication failure from {src}"]


def test_refusing_user_enumeration_is_a_network_setting(net):
    """The super admin's choice holds on every site: a subsite's anonymous REST user listing is
    refused (403) and logged as blocked while it is on, answered and logged while it is off."""
    try:
        assert effective(net, SUB)["refuse_user_enumeration"] == 0
        network_options(net, refuse_user_enumeration=1)
        assert effective(net, SUB)["refuse_user_enumeration"] == 1
        src = new_source()
        r = net.client(src).get(SUB + "/?rest_route=/wp/v2/users")
        assert r.status == 403 and r.json()["code"] == "banlog_user_enumeration", (r.status, r.text[:300])
        assert auth_messages(net, src) == [f"Blocked user enumeration attempt from {src}"]
        network_options(net, refuse_user_enumeration=0)
        src = new_source()
        assert net.client(src).get(SUB + "/?rest_route=/wp/v2/users").status == 200
        assert auth_messages(net, src) == [f"User enumeration attempt from {src}"]
    finally:
        network_options(net, refuse_user_enumeration=0)


def test_per_site_activation(net):
    """banlog active on the subsite only (not network-activated): the subsite logs where the network
    settings say, the main site (where it is not active) logs nothing."""
    plugin = "require_once ABSPATH . 'wp-admin/includes/plugin.php';"
    net.php_eval(plugin + "deactivate_plugins('banlog/banlog.php', false, true);")
    try:
        out = net.php_eval(plugin + "$r = activate_plugin('banlog/banlog.php');"
                           "echo json_encode([is_wp_error($r), is_plugin_active('banlog/banlog.php'),"
                           " is_plugin_active_for_network('banlog/banlog.php')]);", site=SUB)
        assert json.loads(out) == [False, True, False]
        sub_src, main_src = new_source(), new_source()
        net.client(sub_src).login(ADMIN_USER, "wrong password", site=SUB)
        net.client(main_src).login(ADMIN_USER, "wrong password")
        assert auth_messages(net, sub_src) == [f"Authentication failure for admin from {sub_src}"]
        assert auth_messages(net, main_src, timeout=1) == []
    finally:
        net.php_eval(plugin + "deactivate_plugins('banlog/banlog.php');", site=SUB)
        out = net.php_eval(plugin + "activate_plugin('banlog/banlog.php', '', true);"
                           "echo json_encode(is_plugin_active_for_network('banlog/banlog.php'));")
        assert json.loads(out) is True


def test_uninstall_removes_the_network_option(net):
    saved = raw_network(net)
    try:
        out = net.php_eval("require_once ABSPATH . 'wp-admin/includes/plugin.php';"
                           "update_option('banlog_options', ['version' => 2, 'log_success' => 1]);"
                           "uninstall_plugin('banlog/banlog.php');"
                           "switch_to_blog(2); $sub = get_option('banlog_options', 'gone'); restore_current_blog();"
                           "echo json_encode([get_site_option('banlog_network_options', 'gone'), $sub]);")
        assert json.loads(out) == ["gone", "gone"]
    finally:
        net.php_eval(f"update_site_option('banlog_network_options', json_decode({json.dumps(json.dumps(saved))}, true));")


def test_the_gate_is_a_network_setting(net):
    """The gate and its limits are on the network page only; set there, every site refuses a
    client at the limit, counted over the whole network's events."""
    assert 'id="banlog_gate"' in super_admin(net).get(NET_PAGE).text
    sub_page = sub_admin(net).get(SUB_PAGE).text
    assert 'id="banlog_gate"' not in sub_page and "banlog_options[gate_soft_maxretry]" not in sub_page
    src = new_source()
    try:
        network_options(net, gate=1, gate_soft_maxretry=2)
        c = net.client(src)
        assert c.login(ADMIN_USER, "wrong", site=SUB).status == 200  # a failure on the subsite
        assert c.login(ADMIN_USER, "wrong").status == 200  # and one on the main site: 2 in all
        auth_messages(net, src, count=2)
        assert c.login(ADMIN_USER, "wrong", site=SUB).status == 403
        assert c.login(ADMIN_USER, "wrong").status == 403
        assert net.client(new_source()).login(ADMIN_USER, "wrong", site=SUB).status == 200
    finally:
        network_options(net, gate=0, gate_soft_maxretry=5)
