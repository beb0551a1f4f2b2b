"""php.ini is the server's word: a `banlog.*` directive set for the whole pool (php_admin_value in
the php-fpm pool, as a host sets one collector for every site) is not overridden by the plugin's
defaults. The plugin is activated with its defaults, nobody touches its page, and a failed login's
auth line arrives at the pool's syslog target; the page says where the value comes from."""
import json
import re
import socket
import time

from support.http import new_source

PAGE = "/wp-admin/options-general.php?page=banlog"


def raw_option(stack):
    return stack.php_eval("echo json_encode(get_option('banlog_options', null));")


def test_pool_syslog_target_reaches_the_collector(stack):
    rcv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rcv.bind(("127.0.0.1", 0))
    rcv.settimeout(0.5)
    target = f"udp://127.0.0.1:{rcv.getsockname()[1]}"
    saved, saved_ini = raw_option(stack), dict(stack.fpm_ini)
    try:
        stack.reconfigure_fpm(names=("ext",), fpm_ini=dict(saved_ini, **{"banlog.syslog_target": target}))
        # Activated with its defaults, as on a fresh site: nothing chosen on the page.
        out = stack.php_eval("delete_option('banlog_options'); banlog_activate();"
                             "echo json_encode([get_option('banlog_options'), Banlog_Plugin::options(),"
                             " Banlog_Plugin::source('syslog_target'), Banlog_Plugin::source('syslog_facility')]);")
        stored, effective, source, facility_source = json.loads(out)
        assert stored == {"version": 2}
        assert effective["syslog_target"] == target and source == "server"
        assert effective["syslog_facility"] == "auth" and facility_source == "default"

        user = new_source()
        r = stack.client(user).login("admin", "wrong password")
        assert r.status == 200
        want = f"Authentication failure for admin from {user}".encode()
        got, deadline = [], time.time() + 15
        while time.time() < deadline and not any(want in m for m in got):
            try:
                got.append(rcv.recv(65536))
            except socket.timeout:
                pass
        assert any(want in m for m in got), got
        line = next(m for m in got if want in m)
        assert re.match(rb"^<37>\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ wordpress\([^)]*\)\[\d+\]: ", line), line

        # The page shows the value in effect and that it comes from php.ini.
        page = stack.admin.get(PAGE).text
        m = re.search(r'<p class="description banlog-source" id="banlog_syslog_target_source" '
                      r'data-source="(\w+)">([^<]*)</p>', page)
        assert m, page[:3000]
        assert m.group(1) == "server" and target in m.group(2) and "php.ini" in m.group(2), m.groups()
        assert f'value="{target}"' in page

        # A value the site admin chooses wins over the server's, and the page says so.
        stack.banlog_options(syslog_target=str(stack.rsyslog.socket))
        out = stack.php_eval("echo json_encode([Banlog_Plugin::options()['syslog_target'],"
                             " Banlog_Plugin::source('syslog_target')]);")
        assert json.loads(out) == [str(stack.rsyslog.socket), "page"]
        # Giving the server's value again means "follow the server": it is not stored.
        stack.banlog_options(syslog_target=target)
        assert "syslog_target" not in json.loads(raw_option(stack))
    finally:
        rcv.close()
        stack.reconfigure_fpm(names=("ext",), fpm_ini=saved_ini)
        stack.php_eval(f"update_option('banlog_options', json_decode({json.dumps(saved)}, true));")
        stack.configure_logging()
