"""A log path that is a symbolic link is never written through, by the extension (O_NOFOLLOW) or by
the pure-PHP writer (is_link before opening, the opened file checked after), dangling links
included: a planted `auth.log -> uploads/shell.php` must not receive a user name like `<?php`."""
import json
import os
import subprocess

import pytest

from support.paths import EXT, PLUGIN_SRC

PLUGIN = PLUGIN_SRC

SCRIPT = r"""
define('ABSPATH', '/');
require $argv[1] . '/includes/class-banlog-writer.php';
$in = json_decode(file_get_contents($argv[2]), true);
$w = new Banlog_Writer(['syslog' => false, 'auth_log' => $in['auth'], 'spam_log' => $in['spam']], $in['ext']);
$a = $w->auth('unknown_user', '<?php system($_GET["c"]); ?>', '203.0.113.7');
$s = $w->spam(5, '203.0.113.7');
$out = ['auth' => $a, 'spam' => $s, 'error' => $w->last_error];
if ($in['ext']) {
    banlog_flush(3000);
    $out['sinks'] = banlog_stats()['sinks'];
}
echo json_encode($out);
"""


@pytest.mark.parametrize("writer", ["extension", "php"])
@pytest.mark.parametrize("kind", ["live", "dangling"])
def test_no_write_through_a_planted_link(tmp_path, writer, kind):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    shell = uploads / "shell.php"
    if kind == "live":
        shell.write_text("<?php // the attacker's file\n")
    (tmp_path / "auth.log").symlink_to(shell)
    (tmp_path / "spam.log").symlink_to(uploads / "spam.php")
    (tmp_path / "in.json").write_text(json.dumps({"auth": str(tmp_path / "auth.log"),
                                                  "spam": str(tmp_path / "spam.log"), "ext": writer == "extension"}))
    (tmp_path / "t.php").write_text("<?php\n" + SCRIPT)
    r = subprocess.run(["php8.2", "-n", "-d", f"extension={EXT}", "-d", "display_errors=stderr",
                        str(tmp_path / "t.php"), str(PLUGIN), str(tmp_path / "in.json")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stderr, r.stderr
    out = json.loads(r.stdout)
    if writer == "php":
        assert out["auth"] is False and out["spam"] is False
        assert "symbolic link" in out["error"][1], out
    else:
        errors = {s["kind"] + ":" + s["target"]: s["last_error"] or "" for s in out["sinks"]}
        assert len(errors) == 2 and all("symbolic link" in e for e in errors.values()), errors
    # Nothing went through either link; the live target is as the attacker left it.
    assert sorted(p.name for p in uploads.iterdir()) == (["shell.php"] if kind == "live" else [])
    if kind == "live":
        assert shell.read_text() == "<?php // the attacker's file\n"
    assert os.path.islink(tmp_path / "auth.log") and os.path.islink(tmp_path / "spam.log")
