"""banlog_gate() (php-ext/runtime/src/gate.rs): whether a client reached a jail's limit, from the
pool's ring. In the CLI (its own mapping), and pool-wide: failures logged through any php-fpm worker
count in every worker's answer, and another address is never refused."""
import concurrent.futures
import json
import pathlib
import shutil
import tempfile

import pytest

from support.fcgi import FpmPool, fcgi_get
from support.php import php_str, run_php

WORKERS = 3


def test_the_gate_counts_a_client_s_failures_of_the_jail_s_kinds(tmp_path):
    code = f"banlog_configure(['spam_log' => {php_str(tmp_path / 'spam.log')}, 'syslog' => false, " \
           f"'auth_log' => {php_str(tmp_path / 'auth.log')}, 'ident_host' => 'gate.example']);" + r"""
$out = [];
$g = fn($kinds, $ip, $m = 3, $f = 600) => banlog_gate($kinds, $ip, $m, $f);
for ($i = 0; $i < 3; $i++) {
    $out[] = [$g('soft', '203.0.113.9'), $g('soft', '::ffff:203.0.113.9')];
    banlog_auth($i === 1 ? 'unknown_user' : 'failure', 'admin', '203.0.113.9');
}
$out[] = [$g('soft', '203.0.113.9'), $g('soft', '::ffff:203.0.113.9')];
// Other kinds, other addresses, other limits.
banlog_auth('xmlrpc_unknown_user', 'x', '2001:db8::9');
banlog_spam(5, '198.51.100.1'); banlog_spam(6, '198.51.100.1');
banlog_auth('success', 'admin', '198.51.100.2'); banlog_auth('success', 'admin', '198.51.100.2');
$out[] = [
    $g('hard', '203.0.113.9', 1), $g('hard', '2001:DB8::9', 1), $g('soft', '2001:db8::9', 1),
    $g('spam', '198.51.100.1', 2), $g('spam', '198.51.100.1', 3), $g('aggressive,spam', '198.51.100.2', 1),
    $g('success', '198.51.100.2', 2), $g('soft', '203.0.113.9', 4), $g('failure', '203.0.113.9', 2),
    $g('failure', '203.0.113.9', 3), $g('soft', '203.0.113.10', 1),
];
echo json_encode($out);
"""
    out = json.loads(run_php(code).stdout)
    assert out[:4] == [[False, False]] * 3 + [[True, True]]
    assert out[4] == [False, True, False, True, False, False, True, False, True, False, False]


def test_requests_in_flight_count_once_the_client_failed_and_end_with_their_request(tmp_path):
    code = f"banlog_configure(['spam_log' => '', 'syslog' => false, 'auth_log' => {php_str(tmp_path / 'auth.log')}]);" + r"""
$g = fn($ip) => banlog_gate('soft', $ip, 4, 600);
banlog_auth('failure', 'a', '203.0.113.9');
$kids = [];
foreach (['203.0.113.9', '203.0.113.9', '203.0.113.9', '198.51.100.7', '198.51.100.7', '198.51.100.7', '198.51.100.7'] as $ip) {
    $pid = pcntl_fork();
    if ($pid === 0) { banlog_gate_enter($ip); usleep(1500000); exit(0); }  // exit: the request's end
    $kids[] = $pid;
}
usleep(500000);
$out = ['busy' => [$g('203.0.113.9'), $g('198.51.100.7')]];
banlog_gate_enter('203.0.113.9');
$out['own'] = $g('203.0.113.9');   // its own pass is not held against it: 1 + 3 others
foreach ($kids as $k) pcntl_waitpid($k, $st);
$out['over'] = [$g('203.0.113.9'), $g('198.51.100.7')];
// A failure this request logs ends its own pass.
banlog_auth('failure', 'a', '203.0.113.9');
banlog_auth('failure', 'a', '203.0.113.9');
$out['failed'] = [$g('203.0.113.9'), banlog_gate('soft', '203.0.113.9', 3, 600)];
$out['recent'] = array_column(banlog_recent(10), 'kind');
$out['accepted'] = banlog_stats()['pool']['accepted'];
echo json_encode($out);
"""
    out = json.loads(run_php(code).stdout)
    assert out["busy"] == [True, False]
    assert out["own"] is True
    assert out["over"] == [False, False]
    assert out["failed"] == [False, True]
    assert out["recent"] == ["failure"] * 3 and out["accepted"] == 3


@pytest.mark.parametrize("call, message", [
    ("banlog_gate('', '1.2.3.4', 5, 600)", "Argument #1 ($kinds) names no event kind"),
    ("banlog_gate('soft,Failure', '1.2.3.4', 5, 600)", "unknown kind 'Failure'"),
    ("banlog_gate('soft', '1.2.3.400', 5, 600)", "Argument #2 ($ip) is not valid"),
    ("banlog_gate('soft', '1.2.3.4', 0, 600)", "Argument #3 ($maxretry) must be at least 1, 0 given"),
    ("banlog_gate('soft', '1.2.3.4', 5, -1)", "Argument #4 ($findtime) must be from 1 to 315360000 seconds"),
    ("banlog_gate_enter('1.2.3.4/32')", "banlog_gate_enter(): Argument #1 ($ip) is not valid"),
])
def test_bad_arguments_are_a_value_error_naming_them(call, message):
    out = run_php(f"try {{ var_export({call}); }} catch (ValueError $e) {{ echo get_class($e), ': ', $e->getMessage(); }}").stdout
    assert out.startswith("ValueError: banlog_gate") and message in out, out


GATE_PHP = r"""<?php
banlog_configure(['spam_log' => '', 'auth_log' => getenv('LOGDIR') . '/auth.log', 'syslog' => false,
                  'ident_host' => 'gate.example']);
if (($_GET['fail'] ?? '') !== '') banlog_auth('failure', 'admin', $_GET['fail']);
usleep((int) ($_GET['sleep'] ?? 0));
echo json_encode(['pid' => getmypid(), 'attacker' => banlog_gate('soft', '203.0.113.9', 5, 600),
                  'innocent' => banlog_gate('soft', '198.51.100.7', 5, 600)]);
"""


@pytest.fixture
def fpm(ext_path):
    d = pathlib.Path(tempfile.mkdtemp(prefix="banlog-gate-", dir="/tmp"))
    d.chmod(0o755)
    logs = d / "logs"
    logs.mkdir()
    shutil.chown(logs, "www-data", "www-data")
    (d / "gate.php").write_text(GATE_PHP)
    p = FpmPool(d / "fpm", ext_path, workers=WORKERS, env={"LOGDIR": logs}).start()
    yield p, d
    p.stop()
    shutil.rmtree(d, ignore_errors=True)


def test_failures_through_any_worker_count_in_every_worker(fpm):
    p, d = fpm

    def req(query):
        return json.loads(fcgi_get(p.sock, d / "gate.php", query))

    def from_every_worker(query):
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as ex:
            got = list(ex.map(lambda _: req(query + "&sleep=300000"), range(WORKERS)))
        assert len({g["pid"] for g in got}) == WORKERS, got
        return got

    # The innocent mistyped four times (one below the limit); the attacker fails three times, one
    # failure in each worker.
    for _ in range(4):
        req("fail=198.51.100.7")
    for g in from_every_worker("fail=203.0.113.9") + from_every_worker("fail="):
        assert not g["attacker"] and not g["innocent"], g
    from_every_worker("fail=203.0.113.9")
    # Six failures now, logged by three processes: every worker refuses the attacker, none the innocent.
    for g in from_every_worker("fail="):
        assert g["attacker"] and not g["innocent"], g
