"""Settings → banlog refuses what it must, over plain HTTP with real cookies and nonces: logged-out
visitors, subscribers, missing, forged, stale and misplaced nonces, and log paths that are
relative, executable (.php, .phar, …), climb with `..`, or hold control characters. Each refusal
says why, and nothing is written: the option keeps its value and no file appears, not even after
events that would have gone to the refused path. A path inside the web root is saved with a
warning. (tests/wp/test_options_page.py drives the same page in Chromium.)
"""
import html
import json
import os
import re
import shutil
import urllib.parse

import pytest
from support.http import new_source
from support.php import run_php_raw
from support.wordpress import ADMIN_PASS, ADMIN_USER, WEB_USER

from optionspage import (PAGE, _die_message, admin, assert_nothing_written, events, form, nonce_for,  # noqa: F401
                         notices, option, save)

SUB_USER, SUB_PASS = "refusal-sub", "subscriber password 123"


@pytest.fixture(scope="module")
def env(wp_stack):
    stack = wp_stack
    stack.php_eval(f"if (!get_user_by('login', '{SUB_USER}')) wp_insert_user(['user_login' => '{SUB_USER}', "
                   f"'user_pass' => '{SUB_PASS}', 'user_email' => 'refusal-sub@example.com', 'role' => 'subscriber']);")
    # A directory the web server may write to: a refused path there would be created if taken.
    d = stack.workdir / "refusals"
    d.mkdir(exist_ok=True)
    (d / "dir.log").mkdir(exist_ok=True)
    shutil.chown(d, WEB_USER, WEB_USER)
    return stack, d


@pytest.fixture
def stack(env):
    s, _ = env
    s.configure_logging()
    before = option(s)
    yield s
    s.configure_logging()
    assert option(s) == before  # a test that changed the option put it back


# ---------------------------------------------------------------- who may save


def test_logged_out_visitor_is_sent_to_the_login(stack, env, figures):
    _, d = env
    fields = form(admin(stack))
    before = option(stack)
    target = d / "logged-out.log"
    fields["banlog_options[spam_log]"] = str(target)
    visitor = stack.client(new_source())
    status, loc, _ = save(visitor, fields)
    figures(status=status, redirect=urllib.parse.urlsplit(loc).path)
    assert status == 302 and "/wp-login.php" in loc, (status, loc)
    assert_nothing_written(stack, before, [target])


def test_subscriber_is_refused_even_with_a_valid_nonce_of_their_own(stack, env, figures):
    _, d = env
    sub = stack.client(new_source())
    assert sub.login(SUB_USER, SUB_PASS).status == 302
    r = sub.get(PAGE)  # WordPress itself: the page is not in a subscriber's menu
    assert r.status == 403 and "Sorry, you are not allowed to access this page." in r.text, (r.status, r.text[-500:])
    assert 'name="banlog_options[spam_log]"' not in r.text
    fields = form(admin(stack))
    before = option(stack)
    target = d / "subscriber.log"
    fields["banlog_options[spam_log]"] = str(target)
    fields["_wpnonce"] = nonce_for(stack, sub)  # valid for the subscriber's session
    status, _, text = save(sub, fields)
    figures(page_status=r.status, save_status=status, message=_die_message(text))
    assert status == 403 and "not allowed to manage options" in text, (status, text[-500:])
    assert_nothing_written(stack, before, [target])


NONCES = ["missing", "empty", "garbage", "stale", "other-action", "other-session"]


@pytest.mark.parametrize("kind", NONCES)
def test_bad_nonce_is_refused(stack, env, kind, figures):
    _, d = env
    c = admin(stack)
    fields = form(c)
    before = option(stack)
    target = d / f"nonce-{kind}.log"
    fields["banlog_options[spam_log]"] = str(target)
    if kind == "missing":
        del fields["_wpnonce"]
    elif kind == "empty":
        fields["_wpnonce"] = ""
    elif kind == "garbage":
        fields["_wpnonce"] = "0123456789"
    elif kind == "stale":
        fields["_wpnonce"] = nonce_for(stack, c, -2)
    elif kind == "other-action":
        fields["_wpnonce"] = nonce_for(stack, c, 0, "general-options")
    elif kind == "other-session":
        # the admin's own nonce from another login, which then logged out
        other = stack.client("127.0.0.1")
        assert other.login(ADMIN_USER, ADMIN_PASS).status == 302
        fields["_wpnonce"] = form(other)["_wpnonce"]
        logout = re.search(r'href="([^"]*wp-login\.php\?action=logout[^"]*)"', other.get(PAGE).text).group(1)
        assert other.get(html.unescape(logout).split(str(stack.port), 1)[-1]).status == 302
    status, _, text = save(c, fields)
    figures(status=status, message=_die_message(text))
    assert status == 403 and "The link you followed has expired." in text, (kind, status, text[-500:])
    assert_nothing_written(stack, before, [target])


def test_computed_nonces_are_the_real_ones(stack, env):
    """The control of the nonce cases: a nonce computed the same way for now is taken, so the
    stale and other-action ones were refused for their age and action, not for a wrong formula."""
    _, d = env
    c = admin(stack)
    fields = form(c)
    target = d / "control.log"
    for offset in (0, -1):  # issued 0-12 and 12-24 hours ago: both valid
        fields["_wpnonce"] = nonce_for(stack, c, offset)
        fields["banlog_options[spam_log]"] = str(target)
        status, loc, _ = save(c, fields)
        assert status == 302 and "settings-updated=true" in loc, (offset, status, loc)
        assert option(stack)["spam_log"] == str(target)
        stack.configure_logging()


# ---------------------------------------------------------------- what may be saved


def _bad_paths(d):
    return [
        # field, value, words of the message
        ("spam_log", "refusals/spam.log", "must be absolute"),
        ("spam_log", "./spam.log", "must be absolute"),
        ("spam_log", "~/spam.log", "must be absolute"),
        ("spam_log", f"{d}/spam.php", "must end in .log"),
        ("spam_log", f"{d}/spam.phar", "must end in .log"),
        ("spam_log", f"{d}/SPAM.PHP", "must end in .log"),
        ("spam_log", f"{d}/spam.php.log", "contains the extension .php, which a web server may run"),
        ("spam_log", f"{d}/spam.phtml", "must end in .log"),
        ("spam_log", f"{d}/spam.php.", "must end in .log"),
        ("spam_log", f"{d}/.user.ini", "reads as configuration"),
        ("spam_log", f"{d}/spam.svg.log", "contains the extension .svg, which a web server may serve"),
        ("spam_log", f"{d}/spam.inc.log", "contains the extension .inc, which a web server may run"),
        ("spam_log", f"{d}/../refusals/traversal.log", 'must not contain ".."'),
        ("spam_log", f"{d}/sub/../traversal2.log", 'must not contain ".."'),
        ("spam_log", f"{d}/..", 'must not contain ".."'),
        ("spam_log", f"{d}/nul\x00.log", "control characters"),
        ("spam_log", f"{d}/new\nline.log", "control characters"),
        ("spam_log", f"{d}/", "names a directory"),
        ("spam_log", str(d), "must end in .log"),
        ("spam_log", f"{d}/dir.log", "is a directory"),
        ("auth_log", "auth.log", "must be absolute"),
        ("auth_log", f"{d}/auth.phar", "must end in .log"),
        ("auth_log", f"{d}/../refusals/auth-traversal.log", 'must not contain ".."'),
    ]


BAD_PATH_IDS = ["relative", "dot-relative", "tilde", "php", "phar", "php-upper", "double-extension", "phtml",
                "php-dot", "user-ini", "svg-inside", "inc-inside", "traversal", "traversal-inside", "traversal-end",
                "nul", "newline", "trailing-slash", "directory", "directory-named-log", "auth-relative", "auth-phar",
                "auth-traversal"]


@pytest.mark.parametrize("i", range(len(BAD_PATH_IDS)), ids=BAD_PATH_IDS)
def test_bad_path_is_refused_with_a_message(stack, env, i, figures):
    _, d = env
    key, value, words = _bad_paths(d)[i]
    c = admin(stack)
    fields = form(c)
    before = option(stack)
    # where the value would lead if it were taken (a relative one: from the web root or wp-admin)
    leads_to = [value, os.path.normpath(value) if value.startswith("/") else "/" + value,
                str(stack.docroot / "wp-admin" / value), str(stack.docroot / value)]
    absent = [p for p in leads_to if "\x00" not in p and not os.path.lexists(p)]
    fields[f"banlog_options[{key}]"] = value
    status, loc, page = save(c, fields)
    assert status == 302 and "settings-updated=true" in loc, (status, loc)
    shown = notices(page)
    label = "Spam log file" if key == "spam_log" else "Auth log file"
    errors = [t for k, t in shown if k == "error"]
    figures(field=key, notices=[f"{k}: {t}" for k, t in shown])
    assert len(errors) == 1 and errors[0].startswith(label + ":") and words in errors[0], shown
    assert not any(k == "success" for k, _ in shown), shown  # no "Settings saved."
    # the form shows the stored value again, not the refused one
    assert form(c)[f"banlog_options[{key}]"] == before[key]
    assert_nothing_written(stack, before, absent)


def test_path_in_the_web_root_is_saved_with_a_warning(stack, env, figures):
    """Inside wp-content directly, and through a symbolic link that leads there: saved (it is the
    historic default), with a warning that names the web root; the status panel says whether the
    file can be downloaded now."""
    _, d = env
    link = d / "to-wp-content"
    if not link.is_symlink():
        link.symlink_to(stack.docroot / "wp-content")
    c = admin(stack)
    for path in (stack.docroot / "wp-content" / "refusal-webroot.log", link / "refusal-linked.log"):
        fields = form(c)
        fields["banlog_options[spam_log]"] = str(path)
        status, loc, page = save(c, fields)
        assert status == 302 and "settings-updated=true" in loc
        shown = notices(page)
        warnings = [t for k, t in shown if k == "warning"]
        figures(**{"symlinked" if path.parent == link else "direct": [f"{k}: {t}" for k, t in shown]})
        assert len(warnings) == 1 and "inside the web root" in warnings[0] and "download" in warnings[0], shown
        assert str(stack.docroot) in warnings[0] and f"{stack.url}/wp-content" in warnings[0]
        assert not [t for k, t in shown if k == "error"], shown
        assert option(stack)["spam_log"] == str(path)
        events(stack)  # the file exists now, in the web root
        page = c.get(PAGE).text
        exposure = re.search(r'id="banlog-exposure">([^<]*)<', page)
        assert exposure and "IS downloadable" in exposure.group(1), page[-3000:]
    # Outside the web root: saved, no warning, no exposure row.
    fields = form(c)
    fields["banlog_options[spam_log]"] = str(d / "outside.log")
    status, loc, page = save(c, fields)
    assert status == 302 and [k for k, _ in notices(page)] == ["success"], notices(page)
    assert 'id="banlog-exposure"' not in c.get(PAGE).text


def test_accepted_path_is_saved_exactly_as_typed(stack, env):
    """options.php hands the sanitizer unslashed values: a backslash or a quote in a path stays."""
    _, d = env
    c = admin(stack)
    fields = form(c)
    path = str(d / "it's a back\\slash.log")
    fields["banlog_options[spam_log]"] = path
    status, loc, page = save(c, fields)
    assert status == 302 and [k for k, _ in notices(page)] == ["success"], notices(page)
    assert option(stack)["spam_log"] == path
    events(stack)
    assert os.path.exists(path), sorted(os.listdir(d))


# An existing directory named like a log: only the page looks at the file system.
EXT_CASES = [i for i, name in enumerate(BAD_PATH_IDS) if name != "directory-named-log"]


@pytest.mark.parametrize("i", EXT_CASES, ids=[BAD_PATH_IDS[i] for i in EXT_CASES])
def test_extension_refuses_what_the_page_refuses(ext_so, i, figures):
    """banlog_configure() with the values the page refuses: each a ValueError, the setting kept."""
    key, value, _ = _bad_paths("/var/log/banlog-refusals")[i]
    # the value as hex: an argument cannot carry a NUL byte
    code = ("banlog_configure([$argv[1] => '/var/log/banlog-refusals/ok.log']);"
            "try { banlog_configure([$argv[1] => hex2bin($argv[2])]); echo 'accepted'; }"
            "catch (ValueError $e) { echo 'ValueError: ', $e->getMessage(); }"
            "echo \"\\n\", banlog_stats()['settings'][$argv[1]];")
    out = run_php_raw(code, args=[key, value.encode().hex()])
    assert out.returncode == 0 and out.stderr == b"", out
    text, _, kept = out.stdout.decode(errors="replace").rpartition("\n")
    figures(answer=text.replace("\n", "\\n"))
    assert text.startswith("ValueError: ") and key in text, text
    assert kept == "/var/log/banlog-refusals/ok.log"


def test_wide_or_bad_proxy_ranges_are_refused_and_shown_escaped(stack, env, figures):
    """0.0.0.0/0, ::/0 and anything wider than an IPv4 /8 or an IPv6 /32 is no proxy list: refused
    with the reason; a refused entry is shown back escaped (never as markup), and the list in
    effect stays. The widest allowed ranges are saved."""
    c = admin(stack)
    before = option(stack)
    fields = form(c)
    fields["banlog_options[trusted_proxies]"] = "0.0.0.0/0\n::/0\n10.0.0.0/7\n2001:db8::/31\n<svg/onload=alert(1)>"
    status, loc, page = save(c, fields)
    assert status == 302 and "settings-updated=true" in loc, (status, loc)
    assert "<svg" not in page
    shown = notices(page)
    figures(notices=[f"{k}: {t}" for k, t in shown])
    errors = [t for k, t in shown if k == "error"]
    assert len(errors) == 2, shown
    wide = next(t for t in errors if "wider than /8 (IPv4) or /32 (IPv6)" in t)
    for item in ("0.0.0.0/0", "::/0", "10.0.0.0/7", "2001:db8::/31"):
        assert item in wide, wide
    # Shown as the writers escape a user name (\x3c for <), and HTML-escaped on top.
    assert any("\\x3csvg/onload=alert(1)\\x3e" in t and "not an address" in t for t in errors), errors
    assert option(stack)["trusted_proxies"] == before["trusted_proxies"]
    # The widest ranges the rule allows are a valid list.
    fields = form(c)
    fields["banlog_options[trusted_proxies]"] = "10.0.0.0/8\n2001:db8::/32"
    status, loc, page = save(c, fields)
    assert not [t for k, t in notices(page) if k == "error"], notices(page)
    assert option(stack)["trusted_proxies"] == "10.0.0.0/8\n2001:db8::/32"
    stack.banlog_options(trusted_proxies="")


def test_a_stored_path_in_uploads_is_never_written(stack, env):
    """A path under the uploads folder stored before the rule existed (or by any other way around
    the page): the plugin passes neither writer the path, and says why in the status panel."""
    uploads = stack.docroot / "wp-content" / "uploads"
    target = uploads / "stored-before.log"
    stack.php_eval("delete_option('banlog_last_error'); remove_all_filters('sanitize_option_banlog_options');"
                   f"$o = get_option('banlog_options'); $o['spam_log'] = {json.dumps(str(target))};"
                   "update_option('banlog_options', $o);")
    try:
        events(stack)
        assert not os.path.lexists(target), f"{target} was written"
        err = json.loads(stack.php_eval("echo json_encode(get_option('banlog_last_error'));"))
        assert err["sink"] == "spam_log" and "uploads folder" in err["message"], err
        assert str(target) in err["message"]
    finally:
        stack.configure_logging()
