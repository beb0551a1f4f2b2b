"""The plugin's default spam log: /var/log/wordpress/spam.log where that folder exists and the web
server can write there (banlog install creates it so), else the historic wp-content/spam.log with
a warning on the options page that names the command fixing it."""
import json
import os
import pathlib
import shutil

import pytest

SYSTEM = pathlib.Path("/var/log/wordpress")
FIX = "banlog install --spam-log /var/log/wordpress/spam.log --reload"


@pytest.fixture
def no_stored_path(stack):
    # The site admin chose no spam log path: the default applies.
    stack.php_eval("$o = get_option('banlog_options'); $o = is_array($o) ? $o : array();"
                   "unset($o['spam_log']); update_option('banlog_options', $o); echo 'ok';")
    yield
    stack.configure_logging()


def effective(stack, fallback=False):
    c = stack.client("127.0.0.1", fallback=fallback)
    code = "echo json_encode(array(Banlog_Plugin::options()['spam_log'], Banlog_Plugin::source('spam_log'), WP_CONTENT_DIR));"
    r = c.post("/wp-admin/admin-ajax.php", {"action": "banlog_test_eval", "secret": stack.secret, "code": code})
    assert r.status == 200, r.text[:500]
    return json.loads(r.text)


def status_page(stack):
    r = stack.admin.get("/wp-admin/options-general.php?page=banlog")
    assert r.status == 200
    return r.text


def test_default_follows_the_folder_install_prepares(stack, no_stored_path):
    assert not SYSTEM.exists(), f"{SYSTEM} exists on this machine: the test needs to create it itself"
    try:
        path, source, content = effective(stack)
        assert (path, source) == (content + "/spam.log", "default")
        page = status_page(stack)
        assert 'banlog-default-path' in page and FIX in page
        # A folder the web server cannot write is no better: still the historic path.
        SYSTEM.mkdir(mode=0o755)
        assert effective(stack)[0] == content + "/spam.log"
        # As banlog install leaves it: owned by the web server's user.
        shutil.chown(SYSTEM, "www-data", "adm")
        os.chmod(SYSTEM, 0o750)
        for fallback in (False, True):
            assert effective(stack, fallback)[:2] == [str(SYSTEM / "spam.log"), "default"]
        assert "banlog-default-path" not in status_page(stack)
    finally:
        shutil.rmtree(SYSTEM, ignore_errors=True)
