"""Every way a comment becomes spam writes exactly one spam log line, with the commenter's stored
address, through the extension and through the pure-PHP fallback alike."""
import base64
import html
import json
import re
import secrets

from support.http import new_source
from support.waiting import wait_for
from support.wplog import check_spam_line, spam_lines_for, wait_spam


def post_comment(site, source, content_tag=""):
    """Posts a comment from `source`; returns its id (looked up in the database)."""
    c = site.client(source)
    marker = f"c-{secrets.token_hex(6)}"
    r = c.post_comment(1, f"Author {marker}", f"{marker}@example.com", f"Hello {marker} {content_tag}")
    assert r.status in (200, 302), f"comment post: {r.status} {r.text[:500]}"
    assert "Warning" not in r.text and "Fatal" not in r.text
    out = site.stack.sql(f"SELECT comment_ID, comment_author_IP, comment_approved FROM wp_comments "
                         f"WHERE comment_content LIKE '%{marker}%'", "wordpress").split()
    assert out, f"comment {marker} not stored"
    return int(out[0]), out[1], out[2]


def test_judged_spam_at_submission(site, source):
    cid, ip, status = post_comment(site, source, "FILTER-SPAM")
    assert status == "spam" and ip == source
    lines = wait_spam(site.stack, cid)
    assert len(lines) == 1, lines
    check_spam_line(lines[0], cid, source)


def test_ham_is_not_logged(site, source):
    cid, _, status = post_comment(site, source)
    assert status == "1"
    assert wait_spam(site.stack, cid, timeout=1) == []


def _row_action_url(admin, cid, action):
    r = admin.get("/wp-admin/edit-comments.php?comment_status=all")
    assert r.status == 200
    links = re.findall(r'href="(comment\.php\?[^"]*)"', r.text)
    for link in map(html.unescape, links):
        if f"c={cid}&" in link and f"action={action}&" in link:
            return "/wp-admin/" + link
    raise AssertionError(f"no {action} link for comment {cid}")


def test_admin_list_spam_link(site, source):
    cid, _, _ = post_comment(site, source)
    admin = site.admin()
    r = admin.get(_row_action_url(admin, cid, "spamcomment"))
    assert r.status == 302, r.status
    lines = wait_spam(site.stack, cid)
    assert len(lines) == 1, lines
    check_spam_line(lines[0], cid, source)  # the commenter's address, not the admin's 127.0.0.1


def test_admin_list_ajax_spam(site, source):
    cid, _, _ = post_comment(site, source)
    admin = site.admin()
    url = _row_action_url(admin, cid, "spamcomment")
    nonce = re.search(r"_wpnonce=([0-9a-f]+)", url).group(1)
    r = admin.post("/wp-admin/admin-ajax.php", {"action": "delete-comment", "id": str(cid), "_ajax_nonce": nonce,
                                                "spam": "1", "_url": "/wp-admin/edit-comments.php"})
    assert r.status == 200, r.text[:300]
    lines = wait_spam(site.stack, cid)
    assert len(lines) == 1, lines
    check_spam_line(lines[0], cid, source)
    # Marking it spam again changes nothing and logs nothing.
    r = admin.post("/wp-admin/admin-ajax.php", {"action": "delete-comment", "id": str(cid), "_ajax_nonce": nonce,
                                                "spam": "1", "_url": "/wp-admin/edit-comments.php"})
    assert len(wait_spam(site.stack, cid, timeout=1)) == 1


def test_bulk_action(site):
    sources = [new_source(), new_source(), new_source()]
    ids = [post_comment(site, s)[0] for s in sources]
    admin = site.admin()
    r = admin.get("/wp-admin/edit-comments.php?comment_status=all")
    nonce = re.search(r'name="_wpnonce" value="([0-9a-f]+)"', r.text).group(1)
    query = "&".join([f"_wpnonce={nonce}", "action=spam", "comment_status=all"] +
                     [f"delete_comments%5B%5D={i}" for i in ids])
    r = admin.get(f"/wp-admin/edit-comments.php?{query}")
    assert r.status == 302, r.status
    for cid, s in zip(ids, sources):
        lines = wait_spam(site.stack, cid)
        assert len(lines) == 1, lines
        check_spam_line(lines[0], cid, s)


def test_rest_api_status_spam(site, source):
    cid, _, _ = post_comment(site, source)
    c = site.client("127.0.0.1")
    auth = base64.b64encode(f"admin:{site.stack.app_password}".encode()).decode()
    r = c.request("POST", f"/?rest_route=/wp/v2/comments/{cid}", body=json.dumps({"status": "spam"}),
                  headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"})
    assert r.status == 200, r.text[:500]
    assert r.json()["status"] == "spam"
    lines = wait_spam(site.stack, cid)
    assert len(lines) == 1, lines
    check_spam_line(lines[0], cid, source)


def test_wp_spam_comment_and_wp_update_comment(site):
    a, b = new_source(), new_source()
    cid_a, _, _ = post_comment(site, a)
    cid_b, _, _ = post_comment(site, b)
    # These run in a request of the php-fpm master under test (eval through admin-ajax).
    c = site.client("127.0.0.1")
    r = c.post("/wp-admin/admin-ajax.php", {"action": "banlog_test_eval", "secret": site.stack.secret,
                                            "code": f"var_export(wp_spam_comment({cid_a}));"
                                                    f"var_export(wp_update_comment(['comment_ID' => {cid_b}, "
                                                    f"'comment_approved' => 'spam']));"})
    assert r.text == "true1", r.text
    for cid, s in ((cid_a, a), (cid_b, b)):
        lines = wait_spam(site.stack, cid)
        assert len(lines) == 1, lines
        check_spam_line(lines[0], cid, s)


def test_unspam_then_spam_again_logs_again(site, source):
    cid, _, _ = post_comment(site, source, "FILTER-SPAM")
    assert len(wait_spam(site.stack, cid)) == 1
    site.stack.php_eval(f"wp_unspam_comment({cid}); wp_spam_comment({cid});")
    assert len(wait_spam(site.stack, cid, count=2)) == 2


def test_akismet_spam_and_discard(site, stack):
    stack.set_option("wordpress_api_key", "0123456789ab")
    stack.set_option("akismet_strictness", "1")
    stack.activate_plugin("akismet/akismet.php")
    try:
        # Judged spam: stored with status spam.
        s1 = new_source()
        cid, _, status = post_comment(site, s1, "AKISMET-SPAM")
        assert status == "spam"
        lines = wait_spam(stack, cid)
        assert len(lines) == 1, lines
        check_spam_line(lines[0], cid, s1)
        # Discarded: never stored, logged with id 0 and the sender's address.
        s2 = new_source()
        c = site.client(s2)
        r = c.post_comment(1, "Discard me", "d@example.com", f"AKISMET-DISCARD {s2}")
        assert r.status == 302, r.status
        wait_for(lambda: any(l.endswith(f"host={s2} marked as spam") for l in spam_lines_for(stack, 0)),
                 5, what="discard line")
        lines = [l for l in wait_spam(stack, 0) if l.endswith(f"host={s2} marked as spam")]
        assert len(lines) == 1, lines
        check_spam_line(lines[0], 0, s2)
    finally:
        stack.deactivate_plugin("akismet/akismet.php")
