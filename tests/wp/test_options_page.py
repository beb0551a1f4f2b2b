"""Settings → banlog in a real headless Chromium, plus activation defaults and uninstall."""
import json
import shutil
import tempfile
import time

import pytest

from support.http import new_source
from support.waiting import wait_for
from support.wordpress import ADMIN_PASS, ADMIN_USER

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="banlog-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, for browser.get_log
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _login(browser, stack, user, password):
    from selenium.webdriver.common.by import By

    browser.delete_all_cookies()
    browser.get(stack.url + "/wp-login.php")
    _fill_login_form(browser, user, password)
    wait_for(lambda: "/wp-admin/" in browser.current_url, 30, what="dashboard")


def _fill_login_form(browser, user, password):
    from selenium.webdriver.common.by import By

    # wp-login.php focuses and selects the user field 200 ms after load: type after that.
    time.sleep(0.5)
    for key, value in (("user_login", user), ("user_pass", password)):
        field = browser.find_element(By.ID, key)
        field.clear()
        field.send_keys(value)
    assert browser.find_element(By.ID, "user_login").get_attribute("value") == user
    browser.find_element(By.ID, "wp-submit").click()


def _field(browser, key):
    from selenium.webdriver.common.by import By
    return browser.find_element(By.ID, f"banlog_{key}")


def _submit(browser):
    """Clicks Save and waits until the next page has replaced this one: the URL of the previous
    save already shows its notice, so waiting on the notice alone can read the old page."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    old = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.ID, "submit").click()

    def replaced():
        try:
            old.tag_name
            return False
        except WebDriverException:  # stale, or "node does not belong to the document"
            return True

    wait_for(replaced, 30, what="the page after saving")


def test_options_page(browser, stack):
    from selenium.webdriver.common.by import By

    stack.configure_logging()
    _login(browser, stack, ADMIN_USER, ADMIN_PASS)
    browser.get(stack.url + "/wp-admin/options-general.php?page=banlog")
    assert browser.find_element(By.CSS_SELECTOR, "#banlog-settings h1").text == "banlog"
    # The status panel: the extension is loaded in this php-fpm, with its version and counters.
    mode = browser.find_element(By.ID, "banlog-mode").text
    assert mode.startswith("banlog extension ") and mode.endswith(" loaded"), mode
    assert "accepted" in browser.find_element(By.ID, "banlog-counters").text

    # Change the path and save.
    new_path = str(stack.workdir / "logs-spam.log")
    (stack.workdir).chmod(0o755)
    f = _field(browser, "spam_log")
    f.clear()
    f.send_keys(new_path)
    _submit(browser)
    wait_for(lambda: browser.find_elements(By.ID, "setting-error-settings_updated"), 30, what="Settings saved.")
    assert _field(browser, "spam_log").get_attribute("value") == new_path
    assert json.loads(stack.php_eval("echo json_encode(get_option('banlog_options'));"))["spam_log"] == new_path
    jail = browser.find_element(By.ID, "banlog-jail-snippet").get_attribute("value")
    assert f"logpath  = {new_path}" in jail and "[banlog-spam]" in jail and "[banlog-auth]" in jail
    filt = browser.find_element(By.ID, "banlog-spam-filter-snippet").get_attribute("value")
    assert "comment id=\\d+ from host=<ADDR> marked as spam$" in filt
    assert new_path in browser.find_element(By.ID, "banlog-spam-log").text

    # A .php path (and friends) is refused with a message naming the true reason; the stored path
    # stays in effect, and the field keeps what was typed (marked as not saved) for correcting.
    for bad, message in (("/tmp/evil.php", "must end in .log"), ("/tmp/x.phtml", "must end in .log"),
                         ("/tmp/a.php.log", "contains the extension .php, which a web server may run"),
                         ("/tmp/a.html.log", "contains the extension .html, which a web server may serve"),
                         ("relative/spam.log", "must be absolute"), ("/tmp/", "names a directory"),
                         (str(stack.docroot / "wp-content/uploads/x.log"), "uploads folder")):
        f = _field(browser, "spam_log")
        f.clear()
        f.send_keys(bad)
        _submit(browser)
        # wp-admin drops settings-updated from the address bar (its canonical URL): the notice says it.
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".notice-error, .error"), 30, what="the refusal")
        notices = " ".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, ".notice-error, .error"))
        assert message in notices, (bad, notices)
        assert _field(browser, "spam_log").get_attribute("value") == bad
        assert new_path in browser.find_element(By.CSS_SELECTOR, ".banlog-typed").text
        assert json.loads(stack.php_eval("echo json_encode(get_option('banlog_options'));"))["spam_log"] == new_path

    # Back to the default path in wp-content: the status panel warns that it can be downloaded.
    f = _field(browser, "spam_log")
    f.clear()
    f.send_keys(str(stack.spam_log))
    _submit(browser)
    # Saved with a warning (a folder the web server serves), so no "Settings saved.": any notice.
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, '[id^="setting-error-"]'), 30, what="the notice")
    stack.client(new_source()).post_comment(1, "S", "s@example.com", "make the log exist FILTER-SPAM")
    browser.refresh()
    warning = browser.find_element(By.ID, "banlog-exposure").text
    assert "web root" in warning and "IS downloadable" in warning, warning
    assert "Warning:" not in browser.page_source


def test_fallback_status_panel(browser, stack):
    from selenium.webdriver.common.by import By

    # The same site through the php-fpm without the extension.
    _login(browser, stack, ADMIN_USER, ADMIN_PASS)
    browser.get(f"http://127.0.0.1:{stack.fallback_port}/wp-admin/options-general.php?page=banlog")
    if "/wp-login.php" in browser.current_url:  # cookies are per host:port for the browser
        _fill_login_form(browser, ADMIN_USER, ADMIN_PASS)
        wait_for(lambda: "page=banlog" in browser.current_url, 30, what="options page")
    assert "fallback mode" in browser.find_element(By.ID, "banlog-mode").text


def test_subscriber_cannot_open_the_page(browser, stack):
    from selenium.webdriver.common.by import By

    stack.php_eval("if (!get_user_by('login', 'sub')) wp_insert_user(['user_login' => 'sub', "
                   "'user_pass' => 'sub password 123', 'user_email' => 'sub@example.com', 'role' => 'subscriber']);")
    _login(browser, stack, "sub", "sub password 123")
    browser.get(stack.url + "/wp-admin/options-general.php?page=banlog")
    assert "not allowed" in browser.find_element(By.TAG_NAME, "body").text
    assert not browser.find_elements(By.ID, "banlog_spam_log")
    # A direct POST to options.php without the nonce and capability changes nothing either.
    c = stack.client(new_source())
    c.login("sub", "sub password 123")
    r = c.post("/wp-admin/options.php", {"option_page": "banlog", "action": "update",
                                         "banlog_options[spam_log]": "/tmp/pwned.log"})
    assert r.status in (403, 200)
    assert json.loads(stack.php_eval("echo json_encode(Banlog_Plugin::options());"))["spam_log"] != "/tmp/pwned.log"


def test_activation_defaults_and_uninstall(stack):
    saved = stack.php_eval("echo json_encode(get_option('banlog_options'));")
    try:
        out = stack.php_eval(
            "require_once ABSPATH . 'wp-admin/includes/plugin.php';"
            "update_option('banlog_last_error', ['time' => 1, 'sink' => 'x', 'message' => 'y']);"
            "uninstall_plugin('banlog/banlog.php');"
            "echo json_encode([get_option('banlog_options', 'gone'), get_option('banlog_last_error', 'gone')]);")
        assert json.loads(out) == ["gone", "gone"]
        out = stack.php_eval("banlog_activate(); echo json_encode([get_option('banlog_options'),"
                             " Banlog_Plugin::options()]);")
        stored, d = json.loads(out)
        # Activation chooses nothing: every setting follows php.ini, else the plugin's default.
        assert stored == {"version": 2}, stored
        assert d["spam_log"] == str(stack.spam_log) and d["syslog"] == 1 and d["syslog_facility"] == "auth"
        assert (stack.docroot / "wp-content/plugins/banlog/banlog.php").exists()  # files stay
    finally:
        stack.php_eval(f"update_option('banlog_options', json_decode({json.dumps(saved)}, true));")
