"""The jail file shown on the plugin's options page and the one `banlog filters`/`banlog install`
write: both rendered from the shipped jail.d/banlog.conf by one set of rules (the sidecar's Rust
and the plugin's Banlog_Snippet), held to the same bytes rule by rule, and read back by the real
fail2ban-client as exactly the paths given (`%`, spaces, glob characters)."""
import base64
import json
import pathlib
import re
import subprocess

import pytest

from support.fail2ban import copy_fail2ban
from support.paths import FILTERS, PLUGIN_SRC, SIDECAR
from support.sidecar import sidecar

PLUGIN = PLUGIN_SRC

PHP_RENDER = r"""
define('ABSPATH', '/');
define('BANLOG_PLUGIN_FILE', $argv[1] . '/banlog.php');
require $argv[1] . '/includes/class-banlog-snippet.php';
$out = array();
foreach (json_decode(stream_get_contents(STDIN), true) as $c) {
    if (isset($c['page'])) {
        $out[] = array('ok' => Banlog_Snippet::jail($c['page']));
        continue;
    }
    $path = function ($p) { return null === $p ? null : base64_decode($p); };
    try {
        $out[] = array('ok' => Banlog_Snippet::render($path($c['spam']), $path($c['auth']), $c['enable']));
    } catch (InvalidArgumentException $e) {
        $out[] = array('err' => $e->getMessage());
    }
}
echo json_encode($out, JSON_INVALID_UTF8_SUBSTITUTE);
"""


def php_render(cases):
    """Renders through the plugin's real Banlog_Snippet (PHP 8.2 command line)."""
    enc = lambda p: None if p is None else base64.b64encode(p if isinstance(p, bytes) else p.encode()).decode()
    payload = [c if "page" in c else {"spam": enc(c["spam"]), "auth": enc(c["auth"]), "enable": c["enable"]}
               for c in cases]
    r = subprocess.run(["php8.2", "-n", "-r", PHP_RENDER, str(PLUGIN)], input=json.dumps(payload),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stderr, r.stderr
    return json.loads(r.stdout)


def rust_render(spam, auth, enable):
    """Renders through `banlog filters`: ("ok", jail file) or ("err", message)."""
    args = [b"filters"]
    for flag, p in ((b"--spam-log", spam), (b"--auth-log", auth)):
        if p is not None:
            args += [flag, p if isinstance(p, bytes) else p.encode()]
    args += [b"--enable", ",".join(enable).encode()]
    p = subprocess.run([str(pathlib.Path(sidecar_path()))] + args, capture_output=True, timeout=60)
    if p.returncode != 0:
        assert p.returncode == 2, p
        return "err", p.stderr.decode(errors="replace").strip()
    out = p.stdout.decode()
    # the jail file, up to the next file banlog filters prints (the actions, the web server snippets)
    return "ok", out.split("# ===== jail.d/banlog.conf =====\n", 1)[1].split("# ===== ", 1)[0]


def sidecar_path():
    assert SIDECAR.is_file(), f"{SIDECAR} is missing: run 'make build' first"
    return SIDECAR


# Every rule of the path table, one case each (plus white space as fail2ban's Python sees it).
PY_SPACES = [chr(c) for c in range(0x110000) if chr(c).isspace() and chr(c) not in "\n\r"]
PATHS = [
    "/srv/www/wp-content/spam.log",
    "/srv/100%/spam.log", "/srv/%(syslog_authpriv)s.log", "/srv/a%%b.log",
    "/srv/a*b.log", "/srv/a?b.log", "/srv/[ab].log", "/srv/a]b.log", "/srv/a;b.log", "/srv/<x>.log", "/srv/~/a.log",
    "/srv/my site/spam.log", "/srv/x.log ", "/srv/x.log head", "/srv/x.log tail", "/srv/ä ö/spam.log",
    "/srv/a ;b.log", "/srv/a\t;b.log", "/srv/a\u3000;b.log",
    "relative/spam.log", "", "./spam.log", "~/spam.log",
    "/srv/a\nenabled = true", "/srv/a\rb.log",
] + [f"/srv/a{s}b.log" for s in PY_SPACES] + [f"/srv/a{s};b.log" for s in PY_SPACES]
ENABLES = [["banlog-spam", "banlog-auth", "banlog-auth-hard"], ["banlog-auth-hard"], ["banlog-spam"], ["sshd"]]


def test_plugin_ships_byte_identical_copies():
    shipped = {p.relative_to(FILTERS): p.read_bytes() for d in ("filter.d", "jail.d")
               for p in (FILTERS / d).rglob("*") if p.is_file()}
    plugin = {p.relative_to(PLUGIN / "fail2ban"): p.read_bytes() for p in (PLUGIN / "fail2ban").rglob("*")
              if p.is_file()}
    assert sorted(map(str, plugin)) == sorted(map(str, shipped))
    for rel, data in shipped.items():
        assert plugin[rel] == data, f"wp-plugin/banlog/fail2ban/{rel} differs from filters/{rel}"


def test_both_renderers_agree_rule_by_rule():
    cases = [{"spam": p, "auth": None, "enable": ENABLES[0]} for p in PATHS]
    cases += [{"spam": "/srv/spam.log", "auth": p, "enable": ENABLES[0]} for p in PATHS]
    cases += [{"spam": s, "auth": a, "enable": e} for s in (None, "/srv/s p.log") for a in (None, "/srv/a%.log")
              for e in ENABLES]
    cases += [{"spam": b"/srv/\xff.log", "auth": None, "enable": ENABLES[0]}]  # not UTF-8
    php = php_render(cases)
    refused = 0
    for c, p in zip(cases, php):
        kind, rust = rust_render(c["spam"], c["auth"], c["enable"])
        if kind == "ok":
            assert p == {"ok": rust}, c
        else:
            refused += 1
            assert "err" in p, (c, p, rust)
            if not isinstance(c["spam"], bytes):  # clap refuses non-UTF-8 itself, in its words
                assert rust == "banlog: " + p["err"], (c, rust, p)
    assert refused >= 10 + 2 * len(PY_SPACES)  # the table's refusals did happen
    # The PHP side also refuses what a command line cannot carry.
    [nul] = php_render([{"spam": "/srv/a\0b.log", "auth": None, "enable": []}])
    assert "one line" in nul["err"]


def conf_dir(tmp_path, name):
    conf = copy_fail2ban(tmp_path / name)
    # This host's own jails must not decide the outcome: fail2ban -t needs their log files.
    (conf / "jail.local").write_text("[sshd]\nenabled = false\n")
    return conf


def dumped_logpaths(conf):
    """{jail: [log paths]} as fail2ban-client -d resolves the configuration."""
    p = subprocess.run(["fail2ban-client", "-c", str(conf), "-d"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    paths = {}
    for line in p.stdout.splitlines():
        m = re.match(r"^\['set', '([^']+)', 'addlogpath', (.+), '(head|tail)'\]$", line)
        if m:
            paths.setdefault(m.group(1), []).append(eval(m.group(2)))  # a Python literal, as printed
    return paths


@pytest.mark.parametrize("site", ["100% sure [x]", "a;b <x> %(known)s é", "plain"])
def test_page_and_sidecar_snippets_pass_fail2ban_client(tmp_path, site):
    root = tmp_path / site / "wp content"
    root.mkdir(parents=True)
    spam, auth = root / "spam log*.log", root / "auth?.log"
    spam.touch()
    auth.touch()
    opts = {"spam_log": str(spam), "auth_log": str(auth), "syslog": 1}
    [page] = php_render([{"page": opts}])
    page = page["ok"]
    # The jails the page enables; the abuse jails stay off until the admin turns them on.
    enabled = re.findall(r"^\[([^\]]+)\]\n(?:#.*\n)*enabled  = true$", page, re.M)
    assert enabled == ["banlog-spam", "banlog-auth", "banlog-auth-hard"], page
    assert page.count("enabled  = false") == 3

    # The page's snippet, copied as the page says (with the plugin's filter copies), into fail2ban.
    conf = conf_dir(tmp_path, "page")
    (conf / "jail.d/banlog.conf").write_text(page)
    for f in (PLUGIN / "fail2ban/filter.d").glob("*.conf"):
        (conf / "filter.d" / f.name).write_bytes(f.read_bytes())
    t = subprocess.run(["fail2ban-client", "-c", str(conf), "-t"], capture_output=True, text=True, timeout=120)
    assert t.returncode == 0, t.stdout + t.stderr
    want = {"banlog-spam": [str(spam)], "banlog-auth": [str(auth)], "banlog-auth-hard": [str(auth)]}
    assert dumped_logpaths(conf) == want

    # The sidecar's, installed: validated by fail2ban-client -t, the same paths, the same bytes.
    conf2 = conf_dir(tmp_path, "sidecar")
    r = json.loads(sidecar("install", "--fail2ban-dir", conf2, "--spam-log", spam, "--auth-log", auth,
                           "--json").stdout)
    assert r["validated"] is True, r
    assert dumped_logpaths(conf2) == want
    assert (conf2 / "jail.d/banlog.conf").read_text() == page
    for f in (PLUGIN / "fail2ban/filter.d").glob("*.conf"):
        assert (conf2 / "filter.d" / f.name).read_bytes() == f.read_bytes()


def test_page_snippet_for_syslog_only_and_no_spam_log():
    [both, syslog_only, nothing] = php_render([
        {"page": {"spam_log": "/srv/spam.log", "auth_log": "", "syslog": 1}},
        {"page": {"spam_log": "", "auth_log": "", "syslog": 1}},
        {"page": {"spam_log": "", "auth_log": "", "syslog": 0}},
    ])
    assert both["ok"] == rust_render("/srv/spam.log", None, ["banlog-spam", "banlog-auth", "banlog-auth-hard"])[1]
    assert syslog_only["ok"] == rust_render(None, None, ["banlog-auth", "banlog-auth-hard"])[1]
    assert "logpath  = %(syslog_authpriv)s" in syslog_only["ok"]
    assert nothing["ok"].count("enabled  = false") == 6  # every jail, the three abuse jails included
    [bad] = php_render([{"page": {"spam_log": "relative.log", "auth_log": "", "syslog": 1}}])
    assert bad["ok"].startswith("# banlog: the spam log path 'relative.log' must be an absolute path")
