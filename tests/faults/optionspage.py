"""Settings → banlog over plain HTTP, as a browser would post it: the page's form fields, a save
through options.php, the notices shown, nonces computed as WordPress computes them, and the events
that would write to a path the page had wrongly taken (used by test_options_refusals.py)."""
import html
import html.parser
import json
import os
import re
import urllib.parse

from support.http import new_source

PAGE = "/wp-admin/options-general.php?page=banlog"


class _Form(html.parser.HTMLParser):
    """The fields of the settings form, as a browser would submit them."""

    def __init__(self):
        super().__init__()
        self.fields, self.in_form, self.textarea = [], False, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("action", "").endswith("options.php"):
            self.in_form = True
        elif self.in_form and tag == "input" and a.get("name"):
            if a.get("type") == "checkbox" and "checked" not in a:
                return
            if a.get("type") != "submit":
                self.fields.append([a["name"], a.get("value", "")])
        elif self.in_form and tag == "select":
            self.fields.append([a["name"], None])
        elif self.in_form and tag == "option" and self.fields and self.fields[-1][1] is None and "selected" in a:
            self.fields[-1][1] = a.get("value", "")
        elif self.in_form and tag == "textarea":
            self.textarea = [a["name"], ""]
            self.fields.append(self.textarea)

    def handle_data(self, data):
        if self.textarea is not None:
            self.textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            self.textarea = None
        elif tag == "form":
            self.in_form = False


def notices(page):
    """The settings notices of a page: (kind, text)."""
    out = []
    for m in re.finditer(r"<div id='setting-error-[^']*' class='notice notice-(\w+)[^']*'>(.*?)</div>", page, re.S):
        out.append((m.group(1), html.unescape(re.sub(r"<[^>]+>", "", m.group(2))).strip()))
    return out


def option(stack):
    """The options in effect (what the site admin stored, over php.ini's values and the defaults)."""
    return json.loads(stack.php_eval("echo json_encode(Banlog_Plugin::options());"))


def admin(stack):
    c = stack.client("127.0.0.1")
    c.cookies = dict(stack.admin.cookies)
    return c


def form(client):
    r = client.get(PAGE)
    assert r.status == 200, r.status
    f = _Form()
    f.feed(r.text)
    fields = dict(f.fields)
    assert fields.get("option_page") == "banlog" and fields.get("_wpnonce"), fields
    return fields


def save(client, fields):
    """POSTs the form to options.php; follows the redirect back to the page. Returns
    (status of the POST, its Location, the page shown afterwards or the error page)."""
    r = client.post("/wp-admin/options.php", fields,
                    headers={"Referer": f"http://{client.host_header}{PAGE}"})
    loc = r.header("Location") or ""
    if r.status == 302 and "page=banlog" in loc:
        return r.status, loc, client.get(urllib.parse.urlsplit(loc)._replace(scheme="", netloc="").geturl()).text
    return r.status, loc, r.text


def nonce_for(stack, client, tick_offset=0, action="banlog-options"):
    """A nonce computed the way WordPress does, for the user and session of `client`'s cookies,
    `tick_offset` half-days away from now (-2: issued 24 to 36 hours ago, which WordPress refuses)."""
    cookie = next(v for k, v in client.cookies.items() if k.startswith("wordpress_logged_in_"))
    user, _exp, token, _mac = urllib.parse.unquote(cookie).split("|")
    return stack.php_eval(
        f"$u = get_user_by('login', {json.dumps(user)}); $i = wp_nonce_tick() + ({int(tick_offset)});"
        f"echo substr(wp_hash($i . '|' . {json.dumps(action)} . '|' . $u->ID . '|' . {json.dumps(token)}, 'nonce'), -12, 10);")


def _die_message(text):
    """The message of a wp_die() page, as words."""
    m = re.search(r'<div class="wp-die-message">(.*?)</div>', text, re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", m.group(1))).split()) if m else None


def events(stack):
    """A spam comment and a failed login: what would write to a log path the page had taken."""
    c = stack.client(new_source())
    assert c.post_comment(1, "R", "r@example.com", f"refusal check {os.urandom(4).hex()} FILTER-SPAM").status == 302
    c.cookies["wordpress_test_cookie"] = "WP%20Cookie%20check"
    assert c.post("/wp-login.php", {"log": "refusal-nobody", "pwd": "x", "testcookie": "1"}).status == 200


def assert_nothing_written(stack, before, paths):
    assert option(stack) == before
    events(stack)
    for p in paths:
        assert not os.path.lexists(p), f"{p} was created"
