"""Helpers for the filter and sidecar tests: a private copy of the system's fail2ban configuration,
the real fail2ban-regex, the banlog binary. (A module of its own: `conftest` is taken by tests/.)"""
import json
import os
import pathlib
import re
import shutil
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
FILTERS = ROOT / "filters"
SIDECAR = pathlib.Path(os.environ.get("BANLOG_SIDECAR", ROOT / "target/release/banlog"))
SYSTEM_F2B = pathlib.Path("/etc/fail2ban")

# Every filter (with options) a line can be meant for, keyed by the jail that uses it.
JAIL_FILTERS = {
    "banlog-spam": "banlog-spam",
    "banlog-auth": "banlog-auth[mode=soft]",
    "banlog-auth-hard": "banlog-auth[mode=hard]",
}


def copy_fail2ban(dest: pathlib.Path) -> pathlib.Path:
    """A copy of /etc/fail2ban (common.conf, paths, actions) to test against."""
    assert (SYSTEM_F2B / "filter.d/common.conf").is_file(), "fail2ban is not installed (apt-get install fail2ban)"
    shutil.copytree(SYSTEM_F2B, dest, symlinks=True)
    return dest


def sidecar(*args, check=True, input=None):
    assert SIDECAR.is_file(), f"{SIDECAR} is missing: run 'make build' first"
    p = subprocess.run([str(SIDECAR), *map(str, args)], capture_output=True, text=True, input=input, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"banlog {' '.join(map(str, args))} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def fail2ban_regex(conf, log, filt, tz="UTC"):
    """Runs the real fail2ban-regex; returns (matches, counts).

    matches: one (ip, unix time, line) per matched line, in file order; counts: the summary's
    tested/ignored/matched/missed line counts."""
    env = dict(os.environ, TZ=tz)
    out = subprocess.run(
        ["fail2ban-regex", "-c", str(conf), "-o", "<ip>\t<time>\t<msg>", str(log), filt],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    matches = []
    for l in out.stdout.splitlines():
        ip, t, msg = l.split("\t", 2)
        matches.append((ip, float(t), msg))
    summary = subprocess.run(
        ["fail2ban-regex", "-c", str(conf), str(log), filt], capture_output=True, text=True, env=env, timeout=120
    )
    assert summary.returncode == 0, summary.stderr
    m = re.search(r"^Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed", summary.stdout, re.M)
    assert m, summary.stdout
    counts = dict(zip(("lines", "ignored", "matched", "missed"), map(int, m.groups())))
    assert counts["matched"] == len(matches), (counts, matches)
    return matches, counts


def samples(**opts):
    """banlog's own example lines (`banlog sample --json`), made by the core the extension uses."""
    args = ["sample", "--json"]
    for k, v in opts.items():
        args += [f"--{k.replace('_', '-')}", v]
    return json.loads(sidecar(*args).stdout)
