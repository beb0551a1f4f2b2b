"""HTTP from a chosen loopback source address (127.0.x.y), so that each simulated visitor or
attacker has an address of its own: a client with cookies and the WordPress calls the tests make."""
import http.client
import itertools
import json
import secrets
import socket
import urllib.parse
import xmlrpc.client

_sources = itertools.count(10)


def new_source():
    """A loopback address no other test used: 127.0.<a>.<b>."""
    n = next(_sources)
    return f"127.0.{n // 250}.{n % 250 + 2}"


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {len(self.body)} bytes>"


class Client:
    """An HTTP client with cookies, bound to one loopback source address."""

    def __init__(self, host, port, source="127.0.0.1", host_header=None, timeout=30):
        self.host = host
        self.port = port
        self.source = source
        self.host_header = host_header
        self.timeout = timeout
        self.cookies = {}

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout,
                                          source_address=(self.source, 0))
        h = {"User-Agent": "banlog-tests", "Connection": "close"}
        if self.host_header:
            h["Host"] = self.host_header
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        h.update(headers or {})
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            hdrs = r.getheaders()
        finally:
            conn.close()
        for k, v in hdrs:
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                value = rest.split(";", 1)[0]
                if "expires=thu, 01-jan-1970" in v.lower() or value in ("deleted", ""):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = value
        return Response(r.status, hdrs, data)

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def post(self, path, fields, headers=None):
        body = urllib.parse.urlencode(fields, doseq=True)
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers or {})
        return self.request("POST", path, body=body, headers=h)

    def post_multipart(self, path, fields, files, headers=None):
        """A multipart/form-data POST, as a browser sends a form with a file: `fields` maps names to
        strings, `files` names to (file name, bytes, content type)."""
        boundary = "banlog-" + secrets.token_hex(12)
        parts = []
        for name, value in fields.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                         + str(value).encode() + b"\r\n")
        for name, (filename, data, ctype) in files.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                         f"Content-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        h = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        h.update(headers or {})
        return self.request("POST", path, body=body, headers=h)

    def post_json(self, path, obj, headers=None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        return self.request("POST", path, body=json.dumps(obj), headers=h)

    # ---- WordPress helpers

    def login(self, user, password, site=""):
        """`site`: a multisite's site path without its final slash ("/sub")."""
        self.cookies["wordpress_test_cookie"] = "WP%20Cookie%20check"
        r = self.post(site + "/wp-login.php", {"log": user, "pwd": password, "wp-submit": "Log In",
                                               "redirect_to": site + "/wp-admin/", "testcookie": "1"})
        return r

    def xmlrpc(self, method, *params):
        body = xmlrpc.client.dumps(params, method, allow_none=True)
        r = self.request("POST", "/xmlrpc.php", body=body, headers={"Content-Type": "text/xml"})
        try:
            return xmlrpc.client.loads(r.body)[0]
        except xmlrpc.client.Fault as f:
            return f

    def multicall(self, calls):
        """calls: list of (method, params); returns the raw list of results/faults."""
        arg = [{"methodName": m, "params": list(p)} for m, p in calls]
        return self.xmlrpc("system.multicall", arg)

    def post_comment(self, post_id, author, email, content, site=""):
        return self.post(site + "/wp-comments-post.php", {
            "comment_post_ID": str(post_id), "author": author, "email": email,
            "url": "", "comment": content, "comment_parent": "0",
        })
