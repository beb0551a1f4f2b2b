"""fail2ban as the user has it: a private copy of the system's configuration with this tree's
filters, and the real fail2ban-regex."""
import os
import pathlib
import re
import shutil
import subprocess

from .paths import FILTERS, SYSTEM_F2B

# Every filter (with options) a line can be meant for, keyed by the jail that uses it.
JAIL_FILTERS = {
    "banlog-spam": "banlog-spam",
    "banlog-auth": "banlog-auth[mode=soft]",
    "banlog-auth-hard": "banlog-auth[mode=hard]",
    "banlog-pingback": "banlog-auth[mode=pingback]",
    "banlog-comment-flood": "banlog-auth[mode=flood]",
    "banlog-user-enum": "banlog-auth[mode=enumeration]",
}


def copy_fail2ban(dest: pathlib.Path) -> pathlib.Path:
    """A copy of /etc/fail2ban (common.conf, paths, actions) to test against."""
    assert (SYSTEM_F2B / "filter.d/common.conf").is_file(), "fail2ban is not installed (apt-get install fail2ban)"
    shutil.copytree(SYSTEM_F2B, dest, symlinks=True)
    return dest


def copy_fail2ban_with_filters(dest: pathlib.Path, jails=False) -> pathlib.Path:
    """copy_fail2ban with the filters of this tree (not those of an installed banlog) in filter.d,
    and with `jails`, its jail.d files too."""
    conf = copy_fail2ban(dest)
    for sub in ("filter.d", "jail.d") if jails else ("filter.d",):
        for f in (FILTERS / sub).glob("*.conf"):
            shutil.copy(f, conf / sub / f.name)
    return conf


def _run(conf, log, filt, tz, timeout, out_format=None):
    """fail2ban-regex's standard output (it must succeed); `out_format`: its -o option."""
    env = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8", PYTHONIOENCODING="utf-8")
    if tz:
        env["TZ"] = tz
    fmt = ["-o", out_format] if out_format else []
    out = subprocess.run(["fail2ban-regex", "-c", str(conf), *fmt, str(log), filt],
                         capture_output=True, env=env, timeout=timeout)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    return out.stdout.decode("utf-8")


def fail2ban_regex(conf, log, filt, tz="UTC"):
    """Runs the real fail2ban-regex; returns (matches, counts).

    matches: one (ip, unix time, line) per matched line, in file order; counts: the summary's
    tested/ignored/matched/missed line counts."""
    matches = []
    for line in _run(conf, log, filt, tz, 120, "<ip>\t<time>\t<msg>").splitlines():
        ip, t, msg = line.split("\t", 2)
        matches.append((ip, float(t), msg))
    summary = _run(conf, log, filt, tz, 120)
    m = re.search(r"^Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed", summary, re.M)
    assert m, summary
    counts = dict(zip(("lines", "ignored", "matched", "missed"), map(int, m.groups())))
    assert counts["matched"] == len(matches), (counts, matches)
    return matches, counts


def fail2ban_matches(conf, log, filt, tz=None):
    """fail2ban-regex run once (no summary: for large logs): the matched lines as (address, line),
    in file order. tz None: the zone of this process."""
    res = []
    for line in _run(conf, log, filt, tz, 300, "<ip>\t<msg>").splitlines():
        ip, _, msg = line.partition("\t")
        res.append((ip, msg))
    return res
