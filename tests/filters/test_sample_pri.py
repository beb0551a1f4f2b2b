"""`banlog sample`'s RFC 5424 lines carry the PRI the real extension sends for each kind of event
(its default facility, its severities), read off the datagrams it sends to a UDP collector."""
import json
import re
import socket
import subprocess

from support.paths import EXT, PHP
from support.sidecar import sidecar

EVENTS = ["failure", "unknown_user", "xmlrpc_failure", "xmlrpc_unknown_user", "rest_failure", "rest_unknown_user",
          "multicall_failure", "success", "logout", "pingback", "trackback", "comment_flood", "user_enumeration",
          "user_enumeration_blocked"]
# What each event names: the user, or for a pingback its fault code (`banlog sample` writes 17).
DETAIL = {"pingback": "17"}


def test_sample_pri_is_the_extensions():
    assert EXT.is_file(), f"{EXT} is missing: run 'make build' first"
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(10)
    code = (f'banlog_configure(["syslog_target" => "udp://127.0.0.1:{udp.getsockname()[1]}", "syslog_spam" => true,'
            ' "spam_log" => ""]);'
            + "".join(f'banlog_auth("{e}", "{DETAIL.get(e, "admin")}", "203.0.113.9");' for e in EVENTS)
            + 'banlog_spam(527, "203.0.113.9"); var_dump(banlog_flush(5000));')
    p = subprocess.run([PHP, "-n", "-d", f"extension={EXT}", "-r", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "bool(true)" in p.stdout, p.stdout + p.stderr
    sent = {}
    for _ in range(len(EVENTS) + 1):
        m = re.match(r"^<(\d+)>.*?wordpress(?:\([^)]*\))?\[\d+\]: (.*)$", udp.recv(4096).decode())
        assert m
        sent[m.group(2)] = int(m.group(1))
    ours = {}
    for s in json.loads(sidecar("sample", "--json", "--user", "admin", "--addr", "203.0.113.9",
                                "--comment-id", "527").stdout):
        if s["layout"] == "rfc5424":
            m = re.match(r"^<(\d+)>1 \S+ \S+ \S+ \d+ - - (.*)$", s["line"])
            ours[m.group(2)] = int(m.group(1))
    assert ours == sent
    assert set(sent.values()) == {4 * 8 + 5, 4 * 8 + 6}  # auth.notice, auth.info
