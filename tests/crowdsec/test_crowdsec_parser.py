"""banlog's CrowdSec parser (filters/crowdsec/) in Debian's real crowdsec 1.4.6, offline, held line by
line against the real fail2ban-regex with banlog's filters: it must count exactly the lines the
jails count, with the same address (the last on the line, whatever the user name holds), under
the same kind (soft, hard, spam)."""
import collections
import re

import pytest
import yaml

from support.crowdsec import SHIPPED, CrowdSec
from support.fail2ban import JAIL_FILTERS, fail2ban_matches
from support.paths import FILTERS
from support.sidecar import samples

# The parser's log_type for each jail's lines. The abuse jails (banlog-pingback,
# banlog-comment-flood, banlog-user-enum) have no CrowdSec counterpart yet: their lines must not
# count here at all.
KIND = {"banlog-auth": "banlog_auth_soft", "banlog-auth-hard": "banlog_auth_hard", "banlog-spam": "banlog_spam"}

# User names an attacker picks to make a reader (fail2ban, CrowdSec) take another address.
HOSTILE_USERS = {
    "plain": b"admin",
    "trailing from": b"admin from 6.6.6.6",
    "forged line": b"x\r\nNov 21 07:19:22 web1 wordpress[1]: Authentication failure for x from 6.6.6.6",
    "forged spam line": b"\n2026-11-21 07:19:22 comment id=1 from host=6.6.6.6 marked as spam",
    "fake tag": b"]: Authentication failure for x from 6.6.6.6",
    "bracketed v6": "a\u2028from [2001:db8::66]\u202e from 2001:db8::67".encode(),
    "long": b"from 6.6.6.6 " * 200,
}
ADDRS = ["203.0.113.9", "2001:db8::2:1", "198.51.100.7"]
SITE_HOSTS = ["example.com", "", "[2001:db8::1]:8080"]
# Lines of the layouts CrowdSec reads from a file: syslog files (traditional, RSYSLOG_FileFormat,
# short-iso), banlog's auth_log, and the spam log. Not rfc5424 (crowdsecurity/syslog-logs does not
# split RSYSLOG_SyslogProtocol23Format lines) nor bare journal entries (CrowdSec reads the journal
# with journalctl, whose lines have the traditional layout).
FILE_LAYOUTS = {"traditional", "rsyslog-file", "auth-log", "short-iso", "spam-log"}
SPAM_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")


@pytest.fixture
def crowdsec(tmp_path):
    cs = CrowdSec(tmp_path / "crowdsec")
    cs.start_lapi()
    yield cs
    cs.stop()


def sample_file_lines():
    """The annotated samples that fail2ban's own sample test runs, in the layouts above."""
    auth = (FILTERS / "samples/banlog-auth").read_text().split("# ===== the journal")[0]
    spam = (FILTERS / "samples/banlog-spam").read_text()
    return [ln for text in (auth, spam) for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def core_lines():
    """Every kind of line the core writes (`banlog sample`), with hostile names, per address and site host."""
    lines = []
    for i, (name, user) in enumerate(HOSTILE_USERS.items()):
        for j, addr in enumerate(ADDRS):
            got = samples(user_hex=user.hex(), addr=addr, site_host=SITE_HOSTS[(i + j) % len(SITE_HOSTS)])
            lines += [s["line"] for s in got if s["layout"] in FILE_LAYOUTS]
    return lines


def test_parser_counts_exactly_what_the_jails_count(crowdsec, f2b_conf, tmp_path):
    lines = sample_file_lines() + core_lines()
    spam_log = [ln for ln in lines if SPAM_LOG_LINE.match(ln)]
    syslog = [ln for ln in lines if not SPAM_LOG_LINE.match(ln)]
    assert len(spam_log) > 20 and len(syslog) > 500
    files = {}
    for name, group in (("spam.log", spam_log), ("auth.log", syslog)):
        files[name] = tmp_path / name
        files[name].write_text("\n".join(group) + "\n")

    want = collections.Counter()
    for jail, filt in JAIL_FILTERS.items():
        if jail not in KIND:
            continue
        logs = ["spam.log", "auth.log"] if jail == "banlog-spam" else ["auth.log"]
        for log in logs:
            want.update((line, KIND[jail], ip) for ip, line in fail2ban_matches(f2b_conf, files[log], filt, tz="UTC"))
    got = crowdsec.counted(files["spam.log"], "banlog-spam") + crowdsec.counted(files["auth.log"], "syslog")

    assert got - want == collections.Counter(), "CrowdSec counts lines that fail2ban does not"
    assert want - got == collections.Counter(), "CrowdSec misses lines that fail2ban counts"
    # What the comparison covered: every kind, hostile names included, and never the decoy address.
    kinds = collections.Counter(kind for _, kind, _ in got.elements())
    assert all(kinds[k] > 20 for k in KIND.values()), kinds
    assert not any(ip in ("6.6.6.6", "2001:db8::66", "2001:db8::67") for _, _, ip in got), "a decoy address was taken"
    assert sum(got.values()) < len(lines), "nothing was rejected: logins, logouts and other programs must not count"


def test_cscli_explain_names_the_attacker_not_the_address_in_the_user_name(crowdsec):
    line = ("2026-11-21T07:19:22.000000+00:00 web1 wordpress(example.com)[4242]: "
            "Authentication failure for admin from 6.6.6.6 from 203.0.113.9")
    out = crowdsec.cscli("explain", "--log", line, "--type", "syslog", "-v").stdout
    assert "banlog/wordpress-logs" in out and "parser success" in out, out
    assert "evt.Meta.source_ip : 203.0.113.9" in out, out
    assert "evt.Meta.log_type : banlog_auth_soft" in out, out
    assert "banlog/wordpress-auth-bf" in out, out
    # A successful login goes no further than the parsers.
    ok = crowdsec.cscli("explain", "--log", line.replace("Authentication failure", "Accepted password"),
                        "--type", "syslog", "-v").stdout
    assert "parser failure" in ok and "banlog/wordpress-auth-bf" not in ok, ok
    # Debian's whitelist parser drops a private address before any scenario sees it.
    private = crowdsec.cscli("explain", "--log", line.replace("203.0.113.9", "10.1.2.3"), "--type", "syslog",
                             "-v").stdout
    assert "evt.Meta.source_ip : 10.1.2.3" in private and "[whitelisted]" in private, private
    assert "banlog/wordpress-auth-bf" not in private, private


def test_shipped_files_pass_crowdsecs_config_test(tmp_path):
    """`crowdsec -t` with the shipped acquisition snippet (its paths pointed here), parser, scenarios
    and profiles in front of Debian's default profile."""
    spam, auth = tmp_path / "spam.log", tmp_path / "auth.log"
    spam.touch()
    auth.touch()
    snippet = (SHIPPED / "acquis.d/banlog.yaml").read_text()
    snippet = snippet.replace("/var/www/html/wp-content/spam.log", str(spam)).replace("/var/log/auth.log", str(auth))
    assert str(spam) in snippet and str(auth) in snippet, "the snippet's example paths changed"
    cs = CrowdSec(tmp_path / "crowdsec", acquis=list(yaml.safe_load_all(snippet)))
    out = cs.check_config()
    text = out.stdout + out.stderr
    for name in ("banlog/wordpress-auth-bf", "banlog/wordpress-auth-hard", "banlog/wordpress-spam"):
        assert f"name={name}" in text, text
    assert "banlog-logs.yaml" in text, text


def test_readme_shows_the_shipped_acquisition():
    """The README's copy of the acquisition file is the shipped one, without its comments."""
    readme = (FILTERS.parent / "README.md").read_text()
    section = readme.split("### CrowdSec", 1)[1].split("\n### ", 1)[0]
    shipped = [ln for ln in (SHIPPED / "acquis.d/banlog.yaml").read_text().splitlines() if not ln.startswith("#")]
    block = "\n".join("    " + ln if ln else "" for ln in shipped)
    assert "\n" + block + "\n" in section, block
    for rel in ("parsers/s01-parse/banlog-logs.yaml", "scenarios/banlog-wordpress.yaml", "profiles.yaml",
                "acquis.d/banlog.yaml"):
        assert (SHIPPED / rel).is_file() and f"$D/{rel}" in section, rel
