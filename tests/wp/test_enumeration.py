"""User enumeration over HTTP with the real WordPress: an anonymous `?author=N` scan (WordPress
redirects it to the author's archive, whose address holds the login name) and an anonymous REST
`wp/v2/users` listing each write exactly their line, through the extension and through the
pure-PHP fallback; with the refuse option on they get 403 and the `Blocked ...` line; a logged-in
user is never counted nor refused."""
import re

import pytest

from support.http import new_source
from support.wplog import auth_messages

SEEN = "User enumeration attempt from {}"
BLOCKED = "Blocked user enumeration attempt from {}"


@pytest.fixture
def refuse(stack):
    """Sets the refuse option for one test (the site's own option on a single site)."""
    def set_(on):
        stack.banlog_options(refuse_user_enumeration=1 if on else 0)
    yield set_
    set_(False)


@pytest.fixture
def pretty_permalinks(stack):
    """Author archives at /author/<name>/: WordPress then redirects ?author=N there."""
    def structure(s):
        stack.php_eval(f"global $wp_rewrite; $wp_rewrite->set_permalink_structure('{s}'); flush_rewrite_rules(false);")
    structure("/%postname%/")
    yield
    structure("")


def logged_in(site, source):
    c = site.client(source)
    c.cookies = dict(site.stack.admin.cookies)
    return c


def rest_nonce(c):
    r = c.get("/wp-admin/admin-ajax.php?action=rest-nonce")
    assert r.status == 200, r.status
    return r.text.strip()


def test_option_is_off_by_default(site):
    assert site.stack.php_eval("echo json_encode(Banlog_Plugin::options()['refuse_user_enumeration']);") == "0"


def test_author_scan_is_logged(site, source, pretty_permalinks, refuse):
    refuse(False)
    r = site.client(source).get("/?author=1")
    assert r.status == 301 and (r.header("Location") or "").endswith("/author/admin/"), (r.status, r.headers)
    assert auth_messages(site.stack, source) == [SEEN.format(source)]


def test_author_scan_is_refused(site, source, pretty_permalinks, refuse):
    refuse(True)
    r = site.client(source).get("/?author=1")
    assert r.status == 403 and "/author/admin" not in r.text, (r.status, r.headers)
    assert r.header("Location") is None
    assert auth_messages(site.stack, source) == [BLOCKED.format(source)]


def test_author_archive_and_plain_links_are_no_scan(site, source, pretty_permalinks, refuse):
    refuse(True)
    c = site.client(source)
    assert c.get("/author/admin/").status == 200  # the archive itself: no redirect
    assert c.get("/?author=999999").status == 404  # no such author: nothing redirected, nothing learnt
    assert auth_messages(site.stack, source, timeout=1) == []


def test_author_redirect_for_a_logged_in_user(site, source, pretty_permalinks, refuse):
    refuse(True)
    r = logged_in(site, source).get("/?author=1")
    assert r.status == 301, r.status
    assert auth_messages(site.stack, source, timeout=1) == []


@pytest.mark.parametrize("route", ["/?rest_route=/wp/v2/users", "/?rest_route=/wp/v2/users/1",
                                   "/?rest_route=/WP/V2/Users/"])
def test_rest_listing_is_logged(site, source, refuse, route):
    refuse(False)
    r = site.client(source).get(route)
    assert r.status == 200 and "admin" in r.text, (r.status, r.text[:300])
    assert auth_messages(site.stack, source) == [SEEN.format(source)]


def test_rest_listing_under_pretty_permalinks(site, source, pretty_permalinks, refuse):
    refuse(True)
    r = site.client(source).get("/wp-json/wp/v2/users")
    assert r.status == 403 and r.json()["code"] == "banlog_user_enumeration", (r.status, r.text[:300])
    assert auth_messages(site.stack, source) == [BLOCKED.format(source)]


@pytest.mark.parametrize("route", ["/?rest_route=/wp/v2/users", "/?rest_route=/wp/v2/users/1"])
def test_rest_listing_is_refused(site, source, refuse, route):
    refuse(True)
    r = site.client(source).get(route)
    assert r.status == 403 and '"slug"' not in r.text, (r.status, r.text[:300])
    assert auth_messages(site.stack, source) == [BLOCKED.format(source)]


def test_rest_listing_for_a_logged_in_user(site, source, refuse):
    refuse(True)
    c = logged_in(site, source)
    r = c.get("/?rest_route=/wp/v2/users", headers={"X-WP-Nonce": rest_nonce(c)})
    assert r.status == 200 and any(u["slug"] == "admin" for u in r.json()), (r.status, r.text[:300])
    assert auth_messages(site.stack, source, timeout=1) == []


def test_embedded_author_and_other_routes_are_no_listing(site, source, refuse):
    """A post with its author embedded dispatches wp/v2/users/1 inside the request: not counted."""
    refuse(True)
    c = site.client(source)
    r = c.get("/?rest_route=/wp/v2/posts&_embed=author")
    assert r.status == 200 and r.json()[0]["_embedded"]["author"][0]["slug"] == "admin", r.text[:300]
    assert c.get("/?rest_route=/wp/v2/posts").status == 200
    assert auth_messages(site.stack, source, timeout=1) == []


def test_each_scan_request_counts(site, refuse):
    """nmap's http-wordpress-users walks the ids: one line per request, whether the id exists or not."""
    refuse(False)
    s = new_source()
    c = site.client(s)
    for i in (1, 2, 3):
        c.get(f"/?rest_route=/wp/v2/users/{i}")
    assert auth_messages(site.stack, s, count=3) == [SEEN.format(s)] * 3


def test_options_page_turns_refusal_on_and_off(site):
    """Settings → banlog shows the option and how to turn the jails on; the Settings API form
    (options.php, with the page's nonce) saves it."""
    admin = site.stack.admin
    page = admin.get("/wp-admin/options-general.php?page=banlog").text
    assert 'name="banlog_options[refuse_user_enumeration]"' in page
    assert "banlog install --enable banlog-auth,banlog-auth-hard,banlog-pingback,banlog-comment-flood," \
           "banlog-user-enum --reload" in page
    nonce = re.search(r'name="_wpnonce" value="([0-9a-f]+)"', page).group(1)
    try:
        for value, want in (("1", 1), ("0", 0)):
            r = admin.post("/wp-admin/options.php", {"option_page": "banlog", "action": "update", "_wpnonce": nonce,
                                                     "_wp_http_referer": "/wp-admin/options-general.php?page=banlog",
                                                     "banlog_options[refuse_user_enumeration]": value})
            assert r.status == 302, r.status
            got = site.stack.php_eval("echo json_encode(Banlog_Plugin::options()['refuse_user_enumeration']);")
            assert got == str(want)
    finally:
        site.stack.banlog_options(refuse_user_enumeration=0)
