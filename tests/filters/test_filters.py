"""banlog's fail2ban filters against the real fail2ban-regex: every line kind through every layout,
hostile user names, the historic Spam Log filter, and the annotated samples under filters/samples."""
import collections
import datetime
import json
import pathlib
import re
import subprocess
import zoneinfo

import pytest

from support.fail2ban import JAIL_FILTERS, fail2ban_regex
from support.paths import FILTERS, SYSTEM_F2B
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
                     "rest_failure", "rest_unknown_user", "multicall_failure", "success", "logout", "pingback",
                     "trackback", "comment_flood", "user_enumeration", "user_enumeration_blocked"}
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


# User names chosen to make an audit line (a success or a logout) look like a failure or a spam line.
AUDIT_USERS = dict(HOSTILE_USERS, **{
    "holds a failure": b"x Authentication failure for admin from 6.6.6.6",
    "holds a hard failure": b"a XML-RPC multicall authentication failure from 6.6.6.6",
    "holds a forged prefix": b"]: Authentication failure for x",
    "holds a spam mirror": b"x Spam comment 1 from 6.6.6.6",
    "holds a spam line": b"\n2026-11-21 07:19:22 comment id=1 from host=6.6.6.6 marked as spam",
    "only an address": b"6.6.6.6",
})


def shipped_filters_and_modes():
    """Every shipped filter with every mode it defines (an `mdre-<mode>`), as fail2ban-regex names them."""
    out = []
    for f in sorted((FILTERS / "filter.d").glob("*.conf")):
        if f.name == "banlog-common.conf":
            continue
        modes = re.findall(r"^mdre-(\w+)\s*=", f.read_text(), re.M)
        out += [f"{f.stem}[mode={m}]" for m in modes] or [f.stem]
    return out


def test_audit_lines_never_count(f2b_conf, tmp_path):
    """No shipped filter, in any mode and any log layout, counts a successful login or a logout,
    whatever the user name holds: the lines are made by the core the extension uses."""
    filters = shipped_filters_and_modes()
    assert {"banlog-spam", "banlog-auth[mode=soft]", "banlog-auth[mode=hard]",
            "banlog-auth[mode=aggressive]"} <= set(filters), filters
    audit = []
    for i, (name, user) in enumerate(AUDIT_USERS.items()):
        got = samples(user_hex=user.hex(), addr=ADDRS[i % len(ADDRS)]) if user else samples(user="")
        audit += [s for s in got if s["kind"] in ("success", "logout")]
    assert {s["kind"] for s in audit} == {"success", "logout"}
    assert all(s["jails"] == [] for s in audit)
    groups = {
        "": [s for s in audit if s["layout"] not in ("rfc5424", "journal")],
        "logtype=journal": [s for s in audit if s["layout"] == "journal"],
        "logtype=rfc5424": [s for s in audit if s["layout"] == "rfc5424"],
    }
    # The same lines with a failure lead instead must match, so a miss above is not a broken log.
    control = [s["line"].replace("Accepted password for ", "Authentication failure for ", 1)
               for s in groups[""] if s["kind"] == "success"]
    log = tmp_path / "control.log"
    log.write_text("".join(l + "\n" for l in control))
    assert fail2ban_regex(f2b_conf, log, "banlog-auth[mode=soft]")[1]["matched"] == len(control)
    runs = 0
    for opt, group in groups.items():
        assert group, opt
        log = tmp_path / "audit.log"
        log.write_text("".join(s["line"] + "\n" for s in group))
        for filt in filters:
            if opt:
                filt = filt[:-1] + "," + opt + "]" if filt.endswith("]") else f"{filt}[{opt}]"
            matches, counts = fail2ban_regex(f2b_conf, log, filt)
            assert matches == [], f"{filt} counted {matches[:3]}"
            assert counts["missed"] + counts["ignored"] == len(group), (filt, counts)
            runs += 1
    assert runs == 3 * len(filters)


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


# --- the annotated samples (upstream's `# failJSON:` / `# filterOptions:` conventions) ---------------

# fail2ban's sample test runs in this zone (fail2ban/tests/utils.py); the samples' times are in it.
F2B_TEST_TZ = "CET-01CEST-02,M3.5.0,M10.5.0"


def parse_samples(path):
    """{option set: [(failJSON, line)]} of a sample file, read as fail2ban's samplestestcase reads
    it: a `# filterOptions:` line starts a block read with each option set it lists."""
    blocks, opts, pending = collections.defaultdict(list), [{}], None
    for line in path.read_text().splitlines():
        m = re.match(r"^#+ ?(failJSON|filterOptions):(.+)$", line)
        if m and m.group(1) == "filterOptions":
            o = json.loads(m.group(2))
            opts = o if isinstance(o, list) else [o]
        elif m:
            pending = json.loads(m.group(2))
        elif line.startswith("#") or not line.strip():
            continue
        else:
            assert pending is not None, f"{path.name}: line without failJSON: {line}"
            for o in opts:
                blocks[json.dumps(o, sort_keys=True)].append((pending, line))
            pending = None
    return blocks


def filter_with(name, opts):
    return f"{name}[{','.join(f'{k}={v}' for k, v in sorted(opts.items()))}]" if opts else name


@pytest.mark.parametrize("name", ["banlog-auth", "banlog-spam"])
def test_failjson_samples_through_fail2ban_regex(f2b_conf, tmp_path, name):
    """The samples through the real fail2ban-regex (the command line, where fail2ban's own sample
    test below uses its Python classes): every line of every option set as annotated."""
    blocks = parse_samples(FILTERS / "samples" / name)
    assert len(blocks) >= (9 if name == "banlog-auth" else 1)
    zone = zoneinfo.ZoneInfo("Europe/Zurich")  # the rules F2B_TEST_TZ spells out
    for key, annotated in blocks.items():
        opts = json.loads(key)
        filt = filter_with(name, opts)
        log = tmp_path / "block.log"
        log.write_text("".join(l + "\n" for _, l in annotated))
        matches, counts = fail2ban_regex(f2b_conf, log, filt, tz=F2B_TEST_TZ)
        by_line = collections.defaultdict(list)
        lines = {l for _, l in annotated}
        for ip, t, msg in matches:
            # fail2ban-regex shows an undated (journal) line after the last time stamp it saw
            orig = msg if msg in lines else next(l for l in lines if msg.endswith(l))
            by_line[orig].append((ip, t))
        for ann, line in annotated:
            hits = by_line.get(line, [])
            if not ann["match"]:
                assert not hits, f"{filt} matched {line!r}"
                continue
            assert hits, f"{filt} missed {line!r}"
            ip, t = hits[0]
            assert ip == ann["host"], f"{filt} read {ip} from {line!r}"
            if "time" in ann:
                want = datetime.datetime.fromisoformat(ann["time"])
                got = datetime.datetime.fromtimestamp(t, zone).replace(tzinfo=None)
                if re.match(r"^[A-Z][a-z]{2} ", line):  # no year in the stamp: fail2ban guesses it
                    got = got.replace(year=want.year)
                assert got == want, (filt, line, got)
        assert counts["matched"] == sum(1 for a, _ in annotated if a["match"]), (filt, counts)


def f2b_sample_conf(tmp_path):
    """A fail2ban configuration folder for the sample test: common.conf and this tree's filters,
    linked (the test makes one test per filter it finds in filter.d)."""
    d = tmp_path / "conf" / "filter.d"
    d.mkdir(parents=True)
    (d / "common.conf").symlink_to(SYSTEM_F2B / "filter.d/common.conf")
    for f in (FILTERS / "filter.d").glob("*.conf"):
        (d / f.name).symlink_to(f)
    return d.parent


def run_f2b_sample_test(conf, samples):
    return subprocess.run(["fail2ban-python", str(pathlib.Path(__file__).parent / "f2b_samples.py"), str(conf),
                           str(samples)], capture_output=True, text=True, timeout=300)


def test_fail2bans_own_sample_test_accepts_the_samples(tmp_path):
    """fail2ban's samplestestcase.py, unchanged, on filters/filter.d and filters/samples."""
    p = run_f2b_sample_test(f2b_sample_conf(tmp_path), FILTERS / "samples")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "ran 2 of 2: banlog-auth, banlog-spam" in p.stdout
    assert p.stdout.count(" ... ok") == 2, p.stdout + p.stderr


def test_fail2bans_own_sample_test_catches_a_wrong_sample(tmp_path):
    """The same run fails when one annotation is wrong (the test above cannot pass vacuously)."""
    samples = tmp_path / "samples"
    samples.mkdir()
    for f in (FILTERS / "samples").iterdir():
        (samples / f.name).write_bytes(f.read_bytes())
    spam = samples / "banlog-spam"
    text = spam.read_text()
    assert '"host": "203.0.113.9"' in text
    spam.write_text(text.replace('"host": "203.0.113.9"', '"host": "203.0.113.10"', 1))
    p = run_f2b_sample_test(f2b_sample_conf(tmp_path), samples)
    assert p.returncode == 1 and "203.0.113.10" in p.stdout + p.stderr, p.stdout + p.stderr
