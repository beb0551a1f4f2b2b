"""The built `banlog` CLI (ships, installs and checks the fail2ban filters)."""
import json
import subprocess
import tempfile
import xml.etree.ElementTree as ET

from .paths import FILTERS, SIDECAR

# What `banlog install` writes: every shipped fail2ban file (filter.d, jail.d, action.d).
INSTALLED = sorted(str(f.relative_to(FILTERS)) for f in FILTERS.glob("*.d/*.conf"))


def sidecar(*args, check=True, input=None):
    assert SIDECAR.is_file(), f"{SIDECAR} is missing: run 'make build' first"
    p = subprocess.run([str(SIDECAR), *map(str, args)], capture_output=True, text=True, input=input, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"banlog {' '.join(map(str, args))} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def samples(**opts):
    """banlog's own example lines (`banlog sample --json`), made by the core the extension uses."""
    args = ["sample", "--json"]
    for k, v in opts.items():
        args += [f"--{k.replace('_', '-')}", v]
    return json.loads(sidecar(*args).stdout)


def run_measured(args, timeout=120, stdin=subprocess.DEVNULL):
    """Runs banlog under GNU time; returns (exit code, stdout, stderr, peak RSS in bytes). (GNU
    time's own small process forks it: the peak a fork inherits from a big parent, pytest, would
    otherwise count.)"""
    with tempfile.NamedTemporaryFile("r") as rss:
        try:
            p = subprocess.run(["/usr/bin/time", "-q", "-f", "%M", "-o", rss.name, str(SIDECAR), *map(str, args)],
                               stdin=stdin, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f"banlog {args} still running after {timeout} s") from e
        kib = int(rss.read().strip().splitlines()[-1])
    return p.returncode, p.stdout, p.stderr, kib * 1024


# Tags a `banlog report --html` page may hold: nothing that loads or runs (no script, link, image).
REPORT_PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "ul", "li", "table",
                    "tr", "th", "td", "svg", "line", "text", "rect"}
SVG_NS = "{http://www.w3.org/2000/svg}"


def check_report_page(path):
    """A `banlog report --html` page: well-formed (parsed as XML), self-contained (no attribute or
    style that names another resource, no event handler) and holding only REPORT_PAGE_TAGS.
    Returns its parsed tree."""
    raw = path.read_text(encoding="utf-8")
    assert raw.startswith("<!DOCTYPE html>\n")
    root = ET.fromstring(raw.split("\n", 1)[1])
    for el in root.iter():
        tag = el.tag.removeprefix(SVG_NS)
        assert tag in REPORT_PAGE_TAGS, tag
        for name, value in el.attrib.items():
            assert name not in ("src", "href") and not name.startswith("on"), (tag, name)
            assert "url(" not in value and "//" not in value, (tag, name, value)
    style = "".join(root.find("head/style").itertext())
    assert "url(" not in style and "@import" not in style
    # The only address in the page: the SVG namespace, a name that is never fetched.
    assert raw.count("http") == raw.count('xmlns="http://www.w3.org/2000/svg"'), raw
    return root


JOURNALD = "/lib/systemd/systemd-journald"


def journal_jails(tmp_path):
    """A private fail2ban configuration with banlog's auth jails installed for a journald-only host
    (`--auth-source journal`), its server's files under tmp_path, banning with the dummy action.
    Checks first that journald and python3-systemd (fail2ban's journal backend) are there."""
    import os

    from .fail2ban import copy_fail2ban

    assert os.access(JOURNALD, os.X_OK), "systemd-journald is missing (apt-get install systemd)"
    r = subprocess.run(["/usr/bin/python3", "-c", "import systemd.journal"], capture_output=True)
    assert r.returncode == 0, "python3-systemd is missing (apt-get install python3-systemd)"
    conf = copy_fail2ban(tmp_path / "fail2ban")
    (conf / "jail.local").write_text("[DEFAULT]\nbanaction = dummy\nbanaction_allports = dummy\n"
                                     "[sshd]\nenabled = false\n")
    (conf / "fail2ban.local").write_text(f"[Definition]\nsocket = {tmp_path}/f2b.sock\npidfile = {tmp_path}/f2b.pid\n"
                                         f"dbfile = :memory:\nlogtarget = {tmp_path}/f2b.log\n")
    sidecar("install", "--fail2ban-dir", conf, "--auth-only", "--auth-source", "journal")
    return conf
