"""The dashboard widget, the Activity tab, Site Health and the sink notice, in a real headless
Chromium against the real WordPress on php-fpm with several workers (issue 15).

N events (failed logins of several kinds and spam comments, each from its own address, a few from
one address up to the auth jail's limit) are sent concurrently so that several workers take them;
then banlog_stats()['pool'], banlog_recent(), the widget and the Activity tab all show exactly N,
and the current hour's bar holds each kind's count. With rsyslog stopped, the notice and the Site
Health test name the syslog sink and the fix; after rsyslog restarts (and a line goes through),
both are gone. Screenshots go to a temporary folder, or with BANLOG_SCREENSHOTS=1 to
docs/screenshots/ (README.md links them; a plain test run leaves the tree alone). Site Health is
checked on what its page draws (see _site_health)."""
import collections
import concurrent.futures
import json
import os
import tempfile
import time
from pathlib import Path

import pytest

from support.http import new_source
from support.paths import ROOT
from support.waiting import wait_for
from support.wordpress import ADMIN_PASS, ADMIN_USER, Stack

from test_options_page import _login, browser  # noqa: F401 - the module-scoped Chromium fixture

SHOTS = (ROOT / "docs" / "screenshots" if os.environ.get("BANLOG_SCREENSHOTS") == "1"
         else Path(tempfile.mkdtemp(prefix="banlog-screenshots-")))
WORKERS = 4


@pytest.fixture(scope="module")
def stack4(ext_path):
    s = Stack(log=lambda *a: None, max_children=WORKERS, max_requests=0, rsyslog_rate_limit=False)
    s.start()
    s.configure_logging()
    yield s
    s.stop()


def _pool(stack):
    return json.loads(stack.php_eval(
        "$w = Banlog_Plugin::instance()->writer(); $w->configure();"
        "echo json_encode(['stats' => banlog_stats(), 'recent' => banlog_recent(4096)]);"))


def _send(stack, jobs):
    """Runs the (kind, source) jobs from 8 threads; returns the worker pids that answered."""
    def run(job):
        kind, source = job
        c = stack.client(source)
        if kind == "spam":
            r = c.post_comment(1, f"A {source}", f"a{source.replace('.', '')}@example.com", f"Buy {source} FILTER-SPAM")
        elif kind == "failure":
            r = c.login(ADMIN_USER, "wrong password")
        else:
            r = c.login(f"ghost{source.replace('.', '')}", "whatever")
        return r.header("X-Banlog-Worker")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return collections.Counter(pool.map(run, jobs))


def _shot(browser, name, element_id=None, css=None):
    from selenium.webdriver.common.by import By
    # The fixed admin bar would cover the top of an element scrolled into view.
    browser.execute_script("var b = document.getElementById('wpadminbar'); if (b) b.style.display = 'none';")
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    if element_id or css:
        el = browser.find_element(By.ID, element_id) if element_id else browser.find_element(By.CSS_SELECTOR, css)
        el.screenshot(str(path))
    else:
        browser.save_screenshot(str(path))
    return path


def test_widget_activity_and_stats_show_exactly_the_events_sent(stack4, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    stack = stack4
    before = _pool(stack)
    b0 = len(before["recent"])
    a0 = before["stats"]["pool"]["accepted"]
    jobs = [("spam", new_source()) for _ in range(9)]
    jobs += [("failure", new_source()) for _ in range(14)]
    jobs += [("unknown_user", new_source()) for _ in range(11)]
    hammer = new_source()
    jobs += [("failure", hammer)] * 6  # past banlog-auth's maxretry (5) within its findtime
    sent = collections.Counter(k for k, _ in jobs)
    n = len(jobs)
    pids = _send(stack, jobs)
    assert len([p for p in pids if p]) >= 2, f"one worker took every event: {pids}"

    after = _pool(stack)
    assert after["stats"]["scope"] == "pool"
    assert after["stats"]["pool"]["accepted"] - a0 == n
    recent = after["recent"]
    assert len(recent) - b0 == n
    got = collections.Counter(e["kind"] for e in recent[: len(recent) - b0])
    assert got == sent

    _login(browser, stack, ADMIN_USER, ADMIN_PASS)
    # The admin's own login is no event (log_success is off): the figures stay.
    browser.get(stack.url + "/wp-admin/index.php")
    widget = browser.find_element(By.ID, "banlog-widget")
    total = int(browser.find_element(By.ID, "banlog-widget-total").get_attribute("data-total"))
    assert total == b0 + n
    assert browser.find_element(By.ID, "banlog-activity-source").get_attribute("data-source") == "pool"
    top = browser.find_element(By.CSS_SELECTOR, f'#banlog-widget-top tr[data-ip="{hammer}"]')
    assert top.get_attribute("data-count") == "6" and top.get_attribute("data-reached") == "banlog-auth"
    browser.execute_script("arguments[0].scrollIntoView()", widget)
    _shot(browser, "dashboard-widget", "banlog_activity")

    browser.get(stack.url + "/wp-admin/options-general.php?page=banlog&tab=activity")
    assert int(browser.find_element(By.ID, "banlog-hours-total").get_attribute("data-total")) == b0 + n
    assert int(browser.find_element(By.ID, "banlog-days-total").get_attribute("data-total")) == b0 + n
    # The chart: every event was sent in this hour (or the one before, at an hour's turn).
    bars = browser.find_elements(By.CSS_SELECTOR, "#banlog-chart-hours g.banlog-bar")
    assert len(bars) == 24
    per_bar = [int(b.get_attribute("data-total")) for b in bars]
    assert sum(per_bar) == b0 + n
    hour = 3600
    starts = [int(b.get_attribute("data-start")) for b in bars]
    expect = collections.Counter()
    for e in recent:
        expect[(e["time"] // hour) * hour] += 1
    assert {s: t for s, t in zip(starts, per_bar) if t} == dict(expect)
    kinds = collections.Counter()
    for r in browser.find_elements(By.CSS_SELECTOR, "#banlog-chart-hours rect[data-kind]"):
        kinds[r.get_attribute("data-kind")] += int(r.get_attribute("data-count"))
    assert kinds == collections.Counter(e["kind"] for e in recent)
    rows = browser.find_elements(By.CSS_SELECTOR, "#banlog-last tbody tr")
    assert len(rows) == min(50, b0 + n)
    browser.set_window_size(1100, 1500)
    _shot(browser, "activity-tab", "banlog-activity")
    browser.set_window_size(1280, 900)

    # The status panel says whose figures it shows.
    browser.get(stack.url + "/wp-admin/options-general.php?page=banlog")
    counters = browser.find_element(By.ID, "banlog-counters")
    assert counters.get_attribute("data-scope") == "pool"
    assert f"accepted {after['stats']['pool']['accepted']}" in counters.text


def _site_health(browser, stack):
    """The results the Site Health page (Tools → Site Health) draws, by test name: status (the group
    it is drawn in), label and the text of its panel (description and actions). Waits until the page
    has run its asynchronous tests too, and fails on a script error in the browser's console."""
    from selenium.webdriver.common.by import By

    browser.get_log("browser")  # drops what earlier pages logged
    browser.get(stack.url + "/wp-admin/site-health.php")
    wrapper = browser.find_element(By.CSS_SELECTOR, ".site-health-progress-wrapper")
    wait_for(lambda: "loading" not in wrapper.get_attribute("class"), 90, what="Site Health's tests to finish")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "Uncaught" in e["message"]]
    assert not errors, errors
    drawn = browser.execute_script("""
        var out = {};
        document.querySelectorAll('.health-check-accordion-trigger').forEach(function (b) {
            var group = b.closest('[id^="health-check-issues-"]');
            var panel = document.getElementById(b.getAttribute('aria-controls'));
            out[b.getAttribute('aria-controls').replace('health-check-accordion-block-', '')] = {
                status: group ? group.id.replace('health-check-issues-', '') : null,
                label: b.querySelector('.title').textContent,
                text: panel ? panel.textContent : ''};
        });
        return out;""")
    return drawn


def _shot_health_result(browser, test, status):
    """Screenshot of one drawn Site Health result, opened: its group with the others hidden."""
    from selenium.webdriver.common.by import By

    trigger = browser.find_element(By.CSS_SELECTOR, f'[aria-controls="health-check-accordion-block-{test}"]')
    browser.execute_script("""
        var t = arguments[0], panel = document.getElementById(t.getAttribute('aria-controls'));
        t.closest('.issues').querySelectorAll('.health-check-accordion-heading, .health-check-accordion-panel')
            .forEach(function (e) { if (e !== panel && e !== t.parentNode) e.style.display = 'none'; });
        t.scrollIntoView();""", trigger)
    trigger.click()
    return _shot(browser, "site-health", f"health-check-issues-{status}")


def test_a_syslog_outage_shows_a_notice_and_a_site_health_failure_until_it_recovers(stack4, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    stack = stack4
    _login(browser, stack, ADMIN_USER, ADMIN_PASS)
    stack.rsyslog.stop()
    try:
        for _ in range(WORKERS * 2):
            stack.client(new_source()).login(ADMIN_USER, "wrong while syslog is down")

        def failing():
            sinks = _pool(stack)["stats"]["pool"]["sinks"]
            s = [x for x in sinks if x["kind"] == "syslog"]
            return s and s[0]["errors"] > 0 and (s[0]["last_ok_at"] or 0) < s[0]["last_error_at"]
        wait_for(failing, 30, what="the syslog sink's error in the pool figures")

        browser.get(stack.url + "/wp-admin/index.php")
        notice = browser.find_element(By.ID, "banlog-sink-notice")
        assert "syslog" in notice.text and "Start the syslog daemon" in notice.text
        _shot(browser, "notice", "banlog-sink-notice")
        browser.get(stack.url + "/wp-admin/options-general.php?page=banlog")
        failing_row = browser.find_element(By.CSS_SELECTOR, "td.banlog-sink-failing")
        assert "notice-error" in failing_row.get_attribute("class") and "Start the syslog daemon" in failing_row.text
        browser.execute_script("arguments[0].scrollIntoView()", failing_row)
        _shot(browser, "status-failing-sink", css="#banlog-status table")

        health = _site_health(browser, stack)
        # WordPress's own results are drawn too: the page works, not only banlog's part of it.
        assert any(not t.startswith("banlog_") for t in health), health
        assert {t for t in health if t.startswith("banlog_")} == {
            "banlog_extension", "banlog_logs_writable", "banlog_sinks", "banlog_filters", "banlog_jail_logpath"}
        sinks = health["banlog_sinks"]
        assert sinks["status"] == "critical" and "banlog cannot write to syslog:" in sinks["label"], sinks
        assert "Start the syslog daemon" in sinks["text"], sinks
        assert health["banlog_extension"]["status"] == "good"
        _shot_health_result(browser, "banlog_sinks", "critical")
        # Visitors see nothing of it.
        assert "banlog-sink-notice" not in stack.client(new_source()).get("/").text
    finally:
        stack.rsyslog.start()
        import os
        os.chmod(stack.rsyslog.socket, 0o666)

    def recovered():
        stack.client(new_source()).login(ADMIN_USER, "wrong after the restart")
        s = [x for x in _pool(stack)["stats"]["pool"]["sinks"] if x["kind"] == "syslog"][0]
        return (s["last_ok_at"] or 0) >= s["last_error_at"]
    wait_for(recovered, 60, what="the syslog sink to recover")
    browser.get(stack.url + "/wp-admin/index.php")
    assert not browser.find_elements(By.ID, "banlog-sink-notice")
    browser.get(stack.url + "/wp-admin/options-general.php?page=banlog")
    assert not browser.find_elements(By.CSS_SELECTOR, "td.banlog-sink-failing")
    health = _site_health(browser, stack)
    assert health["banlog_sinks"]["status"] == "good", health["banlog_sinks"]
    assert "banlog cannot write" not in health["banlog_sinks"]["label"]


def test_saving_a_path_in_a_missing_folder_says_so_and_a_refused_one_keeps_what_was_typed(stack4, browser):  # noqa: F811
    from selenium.webdriver.common.by import By
    from test_options_page import _field, _submit

    stack = stack4
    _login(browser, stack, ADMIN_USER, ADMIN_PASS)
    browser.get(stack.url + "/wp-admin/options-general.php?page=banlog")
    f = _field(browser, "auth_log")
    f.clear()
    f.send_keys("/nonexistent-banlog-dir/auth.log")
    _submit(browser)
    body = browser.find_element(By.ID, "wpbody-content").text
    assert "does not exist" in body and "Settings saved." not in body
    assert _field(browser, "auth_log").get_attribute("value") == "/nonexistent-banlog-dir/auth.log"
    f = _field(browser, "auth_log")
    f.clear()
    f.send_keys("/tmp/evil.php")
    _submit(browser)
    assert "refused" in browser.find_element(By.ID, "wpbody-content").text
    assert _field(browser, "auth_log").get_attribute("value") == "/tmp/evil.php"
    assert "Not saved" in browser.find_element(By.CSS_SELECTOR, ".banlog-typed").text
    stack.banlog_options(auth_log="")


def test_fallback_mode_keeps_a_small_ring_and_says_what_is_missing(stack4, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    stack = stack4
    _login(browser, stack, ADMIN_USER, ADMIN_PASS)
    before = json.loads(stack.php_eval("echo json_encode(get_option('banlog_activity_ring', array()));"))
    sources = [new_source() for _ in range(3)]
    for s in sources:
        r = stack.client(s, fallback=True).login(ADMIN_USER, "wrong in fallback mode")
        assert r.status == 200
    ring = json.loads(stack.php_eval("echo json_encode(get_option('banlog_activity_ring', array()));"))
    assert len(ring) == len(before) + 3
    assert [e[1:] for e in ring[-3:]] == [["failure", s] for s in sources]
    # The same site through the php-fpm master without the extension (cookies do not depend on the port).
    browser.get(f"http://127.0.0.1:{stack.fallback_port}/wp-admin/options-general.php?page=banlog&tab=activity")
    src = browser.find_element(By.ID, "banlog-activity-source")
    assert src.get_attribute("data-source") == "fallback" and "load the extension for exact figures" in src.text
    shown = [r.find_elements(By.TAG_NAME, "code")[0].text for r in browser.find_elements(By.CSS_SELECTOR, "#banlog-last tbody tr")]
    assert shown[:3] == list(reversed(sources))
    assert int(browser.find_element(By.ID, "banlog-hours-total").get_attribute("data-total")) == len(ring)
    browser.get(f"http://127.0.0.1:{stack.fallback_port}/wp-admin/options-general.php?page=banlog")
    assert "none in fallback mode" in browser.find_element(By.ID, "banlog-counters").text
