"""banlog's fail2ban filters against the real fail2ban-regex: every line kind through every layout,
hostile user names, the historic Spam Log filter, and the annotated samples under filters/samples."""
import collections
import datetime
import json
import re

import pytest

from support.fail2ban import JAIL_FILTERS, fail2ban_regex
from support.paths import FILTERS
from support.sidecar import samples

HOSTILE_USERS = {
    "plain": b"admin",
    "empty": b"",
    "trailing from": b"admin from 6.6.6.6",
    "crlf forged line": b"x\r\nNov 21 07:19:22 web1 wordpress[1]: Authentication failure for x from 6.6.6.6",
    "lf forged spam line": b"\n2026-11-21 07:19:22 comment id=1 from host=6.6.6.6 marked as spam",
    "fake prefix": b"]: Authentication failure for x from 6.6.6.6",
    "nul esc": b"a\x00b\x1b[2J from 6.6.6.6\x00",
    "unicode separators": "a\u2028from 6.6.6.6\u2029\u202e from [2001:db8::66]".encode(),
    "backslash escapes": b"\\x0a from 6.6.6.6\\",
    "invalid utf8": b"\xff\xfe from 6.6.6.6 \xc3",
    "long": b"from 6.6.6.6 " * 200,
    "wide spaces": "x\u3000\u00a0from\t6.6.6.6".encode(),
}
ADDRS = ["203.0.113.9", "2001:db8::2:1", "::ffff:198.51.100.7", "[2001:DB8:0:0:1:0:0:1]"]
SITE_HOSTS = ["example.com", "", "[2001:db8::1]:8080"]

CASES = [(u, ADDRS[i % len(ADDRS)], SITE_HOSTS[i % len(SITE_HOSTS)]) for i, u in enumerate(HOSTILE_USERS)]


def expected(lines_samples, jail):
    return collections.Counter((s["line"], s["addr"]) for s in lines_samples if jail in s["jails"])


@pytest.mark.parametrize("user,addr,site_host", CASES, ids=[c[0] for c in CASES])
def test_every_kind_through_every_layout(f2b_conf, tmp_path, user, addr, site_host):
    got = samples(user_hex=HOSTILE_USERS[user].hex() or "", addr=addr, site_host=site_host) if HOSTILE_USERS[user] \
        else samples(user="", addr=addr, site_host=site_host)
    kinds = {s["kind"] for s in got}
    assert kinds == {"spam", "spam_mirror", "failure", "unknown_user", "xmlrpc_failure", "xmlrpc_unknown_user",
                     "rest_failure", "rest_unknown_user", "multicall_failure", "success"}
    assert {s["layout"] for s in got} >= {"spam-log", "traditional", "rsyslog-file", "auth-log", "short-iso",
                                         "journal", "rfc5424"}
    for s in got:  # one line each, the true address last
        assert "\n" not in s["line"] and "\r" not in s["line"]
    # Journal entries carry no stamp of their own (fail2ban's systemd backend passes the time
    # apart); alone in a file, fail2ban-regex shows them as they are.
    groups = {
        "syslog": [s for s in got if s["layout"] not in ("rfc5424", "journal")],
        "journal": [s for s in got if s["layout"] == "journal"],
        "rfc5424": [s for s in got if s["layout"] == "rfc5424"],
    }
    for name, group in groups.items():
        opt = "logtype=rfc5424" if name == "rfc5424" else ""
        log = tmp_path / f"{name}.log"
        log.write_text("".join(s["line"] + "\n" for s in group))
        for jail, filt in JAIL_FILTERS.items():
            if opt:
                filt = filt[:-1] + "," + opt + "]" if filt.endswith("]") else f"{filt}[{opt}]"
            matches, counts = fail2ban_regex(f2b_conf, log, filt)
            got_pairs = collections.Counter((msg, ip) for ip, _, msg in matches)
            want = expected(group, jail)
            assert want, f"no {jail} lines in {name}"
            assert got_pairs == want, f"{filt} on {name}: got {got_pairs}, want {want}"
            assert counts["missed"] == len(group) - sum(want.values())
            # Every address fail2ban read is the true one, whatever the user name held.
            canonical = samples(addr=addr)[0]["addr"]
            assert {ip for ip, _, _ in matches} == {canonical}


def test_aggressive_is_soft_plus_hard(f2b_conf, tmp_path):
    got = samples(user="bob")
    log = tmp_path / "auth.log"
    log.write_text("".join(s["line"] + "\n" for s in got if s["layout"] != "rfc5424"))
    n = {m: fail2ban_regex(f2b_conf, log, f"banlog-auth[mode={m}]")[1]["matched"] for m in ("soft", "hard", "aggressive")}
    assert n["soft"] > 0 and n["hard"] > 0
    assert n["aggressive"] == n["soft"] + n["hard"]


def test_success_never_counts(f2b_conf, tmp_path):
    got = [s for s in samples(user="admin") if s["kind"] == "success" and s["layout"] != "rfc5424"]
    log = tmp_path / "ok.log"
    log.write_text("".join(s["line"] + "\n" for s in got))
    for filt in ("banlog-spam", "banlog-auth[mode=aggressive]"):
        matches, counts = fail2ban_regex(f2b_conf, log, filt)
        assert matches == [] and counts["missed"] == len(got) > 0


def test_historic_spam_log_filter_still_matches(f2b_conf, tmp_path):
    """Spam Log users keep their filter: its failregex, unchanged, reads banlog's lines."""
    lines = []
    for addr in ADDRS:
        lines += [s for s in samples(addr=addr, comment_id="9001") if s["layout"] == "spam-log"]
    log = tmp_path / "spam.log"
    log.write_text("".join(s["line"] + "\n" for s in lines))
    historic = r"^\s*comment id=\d+ from host=<HOST> marked as spam$"
    matches, counts = fail2ban_regex(f2b_conf, log, historic)
    assert [ip for ip, _, _ in matches] == [s["addr"] for s in lines]
    assert counts["missed"] == 0


def test_filters_are_anchored_and_use_addr():
    common = (FILTERS / "filter.d/banlog-common.conf").read_text()
    assert re.search(r"^\[INCLUDES\]\n\nbefore = common\.conf$", common, re.M)
    assert "<HOST>" not in common
    filters = [f for f in (FILTERS / "filter.d").glob("*.conf") if f.name != "banlog-common.conf"]
    assert sorted(f.name for f in filters) == ["banlog-auth.conf", "banlog-spam.conf"]
    for f in filters:
        text = f.read_text()
        # The shared prefixes come from the one include, never from a copy.
        assert re.search(r"^\[INCLUDES\]\n\nbefore = banlog-common\.conf$", text, re.M), f.name
        assert not re.search(r"^\[lt_|^__banlog_(?:prefix|ident)\s*=", text, re.M), f.name
        assert "<HOST>" not in text.split("[Definition]")[1], f"{f.name}: <ADDR>, not <HOST> (no DNS)"
        regexes = re.findall(r"^(?:failregex|mdre-\w+|prefregex)\s*=\s*(.*(?:\n[ \t]+\S.*)*)", text, re.M)
        assert regexes
        for block in regexes:
            for r in block.split("\n"):
                r = r.strip()
                if r.startswith("%(") or (r.startswith("<") and r.endswith(">")):
                    continue  # an interpolation of anchored expressions
                assert r.startswith("^") and r.endswith("$"), f"{f.name}: not anchored: {r}"


# --- the annotated samples (upstream's `# failJSON:` convention) ------------------------------------

def parse_samples(path):
    """(annotation, line) pairs from a sample log."""
    out, pending = [], None
    for line in path.read_text().splitlines():
        if line.startswith("# failJSON:"):
            pending = json.loads(line.split(":", 1)[1])
        elif line.startswith("#") or not line:
            continue
        else:
            assert pending is not None, f"{path.name}: line without failJSON: {line}"
            out.append((pending, line))
            pending = None
    return out


SAMPLE_FILES = {
    "banlog-spam.log": "",
    "banlog-auth.log": "",
    "banlog-auth-rfc5424.log": "logtype=rfc5424",
}


@pytest.mark.parametrize("name", sorted(SAMPLE_FILES))
def test_failjson_samples(f2b_conf, name):
    path = FILTERS / "samples" / name
    annotated = parse_samples(path)
    assert len(annotated) >= 5
    opt = SAMPLE_FILES[name]
    for jail, filt in JAIL_FILTERS.items():
        if opt:
            filt = filt[:-1] + "," + opt + "]" if filt.endswith("]") else f"{filt}[{opt}]"
        matches, counts = fail2ban_regex(f2b_conf, path, filt)
        by_line = collections.defaultdict(list)
        lines = {l for _, l in annotated}
        for ip, t, msg in matches:
            # fail2ban-regex shows an undated (journal) line after the last time stamp it saw
            orig = msg if msg in lines else next(l for l in lines if msg.endswith(l))
            by_line[orig].append((ip, t))
        for ann, line in annotated:
            meant = ann["match"] and ann.get("jail", "banlog-spam") == jail
            hits = by_line.get(line, [])
            if not meant:
                assert not hits or any(a is not ann and a["match"] and a.get("jail", "banlog-spam") == jail
                                       for a, l in annotated if l == line), f"{filt} matched {line!r}"
                continue
            assert hits, f"{filt} missed {line!r}"
            ip, t = hits[0]
            assert ip == ann["host"], f"{filt} read {ip} from {line!r}"
            if "time" in ann:  # fail2ban ran with TZ=UTC; the year of a syslog stamp is guessed
                want = datetime.datetime.fromisoformat(ann["time"])
                got_t = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
                assert (got_t.month, got_t.day, got_t.hour, got_t.minute, got_t.second) == \
                    (want.month, want.day, want.hour, want.minute, want.second), line
        want_n = sum(1 for a, _ in annotated if a["match"] and a.get("jail", "banlog-spam") == jail)
        assert counts["matched"] == want_n, (filt, counts)
