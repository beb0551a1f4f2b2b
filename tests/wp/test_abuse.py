"""Abuse that is not a failed login, over HTTP with the real WordPress: a failed pingback, a failed
trackback and a comment flood each write exactly their line (private rsyslog), through the
extension and through the pure-PHP fallback alike; what succeeds writes nothing."""
import secrets
import xmlrpc.client

from support.http import new_source
from support.wplog import auth_messages


def generic_fault(res):
    """WordPress answers every pingback fault but 48 with a generic `0` and no text (its own
    xmlrpc_pingback_error filter), so that it cannot be used to probe other sites."""
    return isinstance(res, xmlrpc.client.Fault) and res.faultCode == 0 and res.faultString == ""


def test_pingback_to_a_post_that_does_not_exist(site, source):
    stack = site.stack
    # The source is the site itself (WordPress only fetches sources it may reach); the target
    # names a post id no post has. The line holds the code WordPress found (33), read before its
    # generic answer replaces it.
    res = site.client(source).xmlrpc("pingback.ping", stack.url + "/", stack.url + "/?p=999999")
    assert generic_fault(res), res
    assert auth_messages(stack, source) == [f"Pingback error 33 generated from {source}"]


def test_pingback_from_a_source_that_is_no_url(site, source):
    res = site.client(source).xmlrpc("pingback.ping", "not a url <script>", site.stack.url + "/?p=1")
    assert generic_fault(res), res
    # Nothing of the request reaches the line: only WordPress's code and the address.
    assert auth_messages(site.stack, source) == [f"Pingback error 0 generated from {source}"]


def test_pingbacks_in_a_multicall_each_count(site, source):
    url = site.stack.url
    calls = [("pingback.ping", (url + "/", f"{url}/?p={999990 + i}")) for i in range(3)]
    res = site.client(source).multicall(calls)[0]
    assert [(r["faultCode"], r["faultString"]) for r in res] == [(0, "")] * 3, res
    assert auth_messages(site.stack, source, count=3) == [f"Pingback error 33 generated from {source}"] * 3


def test_other_xmlrpc_faults_are_no_pingback(site, source):
    res = site.client(source).xmlrpc("no.such.method")
    assert isinstance(res, xmlrpc.client.Fault), res
    assert auth_messages(site.stack, source, timeout=1) == []


def trackback(site, source, path, url=None):
    tag = secrets.token_hex(4)  # WordPress refuses the same text twice as a duplicate comment
    fields = {"url": url or f"https://blog-{tag}.example.net/post", "title": f"A post {tag}",
              "excerpt": f"words {tag}", "blog_name": "Some blog"}
    return site.client(source).post(path, fields)


def new_post(stack, ping_status):
    out = stack.php_eval(
        "echo wp_insert_post(['post_title' => 'tb " + secrets.token_hex(4) + "', 'post_status' => 'publish',"
        f" 'post_content' => 'x', 'ping_status' => '{ping_status}', 'post_author' => 1]);")
    return int(out)


def test_trackback_without_a_post(site, source):
    r = trackback(site, source, "/wp-trackback.php")
    # (WordPress's query found no post: it answers with the status of a 404 page.)
    assert "<error>1</error>" in r.text and "need an ID" in r.text, r.text
    assert auth_messages(site.stack, source) == [f"Trackback error from {source}"]


def test_trackback_to_a_post_with_pings_closed(site, source):
    post = new_post(site.stack, "closed")
    r = trackback(site, source, f"/?p={post}&tb=1")
    assert r.status == 200 and "<error>1</error>" in r.text and "closed" in r.text, r.text
    assert auth_messages(site.stack, source) == [f"Trackback error from {source}"]


def test_accepted_trackback_is_not_logged(site, source):
    post = new_post(site.stack, "open")
    r = trackback(site, source, f"/?p={post}&tb=1")
    assert r.status == 200 and "<error>0</error>" in r.text, r.text
    assert auth_messages(site.stack, source, timeout=1) == []
    # The same ping again is refused ("already a ping from that URL"): a failure, logged.
    url = f"https://again-{secrets.token_hex(4)}.example.net/"
    assert "<error>0</error>" in trackback(site, source, f"/?p={post}&tb=1", url).text
    assert "<error>1</error>" in trackback(site, source, f"/?p={post}&tb=1", url).text
    assert auth_messages(site.stack, source) == [f"Trackback error from {source}"]


def comment(site, source, n):
    """A comment (its own text and e-mail) under WordPress's own flood limit, which the test
    mu-plugin lifts for every other request."""
    tag = secrets.token_hex(4)
    return site.client(source).post("/wp-comments-post.php", {
        "comment_post_ID": "1", "author": f"Quick {tag}", "email": f"quick-{tag}@example.com", "url": "",
        "comment": f"Comment {n} {tag}", "comment_parent": "0"}, headers={"X-Banlog-Flood-Check": "1"})


def test_comment_flood(site, source):
    """Two comments from one address within WordPress's 15 seconds: the second is refused (429)
    and logged; a third, also refused, makes a second line."""
    assert comment(site, source, 1).status == 302
    r = comment(site, source, 2)
    assert r.status == 429 and "too quickly" in r.text, (r.status, r.text[:500])
    assert auth_messages(site.stack, source) == [f"Comment flood from {source}"]
    assert comment(site, source, 3).status == 429
    assert auth_messages(site.stack, source, count=2) == [f"Comment flood from {source}"] * 2


def test_one_comment_is_no_flood(site):
    a, b = new_source(), new_source()
    assert comment(site, a, 1).status == 302
    assert comment(site, b, 1).status == 302  # another address: no flood
    assert auth_messages(site.stack, a, timeout=1) == [] and auth_messages(site.stack, b, timeout=0) == []
