"""Debian's CrowdSec (1.4.6) run offline from a private configuration folder: the package's
patterns and its stock s00-raw/s02-enrich parsers (what a user's /etc/crowdsec enables), banlog's
parser, scenarios and profiles from this tree, an SQLite database and a local API on loopback.
No hub download, no Central API (no `online_client` in the configuration)."""
import collections
import json
import os
import pathlib
import shutil
import socket
import subprocess
import threading

import yaml

from .paths import FILTERS
from .procs import sh, stop_process
from .waiting import wait_for

CROWDSEC = shutil.which("crowdsec") or "/usr/bin/crowdsec"
CSCLI = shutil.which("cscli") or "/usr/bin/cscli"
PATTERNS = pathlib.Path("/etc/crowdsec/patterns")
HUB = pathlib.Path("/usr/share/crowdsec/hub")
DEFAULT_PROFILES = pathlib.Path("/etc/crowdsec/profiles.yaml")
SHIPPED = FILTERS / "crowdsec"

# The stock parsers around banlog's (Debian enables these on installation).
STOCK_PARSERS = {
    "s00-raw": ["crowdsecurity/syslog-logs.yaml"],
    "s02-enrich": ["crowdsecurity/dateparse-enrich.yaml", "crowdsecurity/whitelists.yaml"],
}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CrowdSec:
    """A private CrowdSec under `root`: `start()` runs the agent and its local API (the agent reads
    `acquis`), `start_lapi()` the local API alone for the replays (`counted`, `replay_alerts`), which
    run the agent in time-machine mode; `cscli()` and `banned()` ask it."""

    def __init__(self, root: pathlib.Path, acquis=None, netns=None):
        """`netns`: run the agent, the local API and cscli in this network namespace."""
        assert pathlib.Path(CROWDSEC).is_file(), "crowdsec is not installed (scripts/deps.sh test)"
        self.root = root
        self.wrap = ["ip", "netns", "exec", netns] if netns else []
        self.port = _free_port()
        self.procs = []
        for sub in ("parsers/s00-raw", "parsers/s01-parse", "parsers/s02-enrich", "scenarios", "data", "hub"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "patterns").symlink_to(PATTERNS)
        shutil.copy(HUB / ".index.json", root / "hub" / ".index.json")
        for stage, names in STOCK_PARSERS.items():
            for name in names:
                src = HUB / "parsers" / stage / name
                assert src.is_file(), src
                shutil.copy(src, root / "parsers" / stage / pathlib.Path(name).name)
        shutil.copy(SHIPPED / "parsers/s01-parse/banlog-logs.yaml", root / "parsers/s01-parse")
        shutil.copy(SHIPPED / "scenarios/banlog-wordpress.yaml", root / "scenarios")
        # banlog's profiles first, then Debian's default one, as the README says to install them.
        assert DEFAULT_PROFILES.is_file(), f"{DEFAULT_PROFILES} is missing (the crowdsec package ships it)"
        (root / "profiles.yaml").write_text(
            (SHIPPED / "profiles.yaml").read_text() + "---\n" + DEFAULT_PROFILES.read_text())
        (root / "simulation.yaml").write_text("simulation: off\n")
        (root / "acquis.yaml").write_text(yaml.safe_dump_all(acquis or []))
        self.config = root / "config.yaml"
        self.config.write_text(yaml.safe_dump({
            "common": {"daemonize": False, "log_media": "stdout", "log_level": "info", "working_dir": str(root)},
            "config_paths": {
                "config_dir": f"{root}/",
                "data_dir": f"{root}/data/",
                "simulation_path": str(root / "simulation.yaml"),
                "hub_dir": f"{root}/hub/",
                "index_path": str(root / "hub/.index.json"),
                "notification_dir": f"{root}/notifications/",
                "plugin_dir": "/usr/lib/crowdsec/plugins/",
            },
            "crowdsec_service": {"acquisition_path": str(root / "acquis.yaml"), "parser_routines": 1},
            "cscli": {"output": "json", "color": "no"},
            "db_config": {"type": "sqlite", "db_path": str(root / "data/crowdsec.db"), "use_wal": True, "log_level": "info"},
            "plugin_config": {"user": "nobody", "group": "nogroup"},
            "api": {
                "client": {"credentials_path": str(root / "local_api_credentials.yaml")},
                # No online_client: the Central API is never contacted.
                "server": {
                    "listen_uri": f"127.0.0.1:{self.port}",
                    "profiles_path": str(root / "profiles.yaml"),
                    "trusted_ips": ["127.0.0.1", "::1"],
                },
            },
            "prometheus": {"enabled": False},
        }))
        # The agent's machine account on the local API (written to local_api_credentials.yaml).
        self.cscli("machines", "add", "banlog-test", "--auto", "--force",
                   "-f", root / "local_api_credentials.yaml", "--url", f"http://127.0.0.1:{self.port}")

    def cscli(self, *args, check=True, timeout=60):
        return sh(*self.wrap, CSCLI, "-c", self.config, *args, check=check, timeout=timeout)

    def cscli_json(self, *args):
        out = self.cscli(*args, "-o", "json").stdout.strip()
        return json.loads(out) if out and out != "null" else []

    def check_config(self):
        """`crowdsec -t`: loads every configuration part (parsers, scenarios, profiles, acquisition)."""
        return sh(CROWDSEC, "-c", self.config, "-t", timeout=120)

    def run_replay(self, log, log_type, dump=None, timeout=120):
        """The agent alone (start_lapi first), fed `log` in time-machine mode; it ends once the file
        is read (see `counted` for what that means in 1.4.6)."""
        args = [CROWDSEC, "-c", self.config, "-dsn", f"file://{log}", "-type", log_type, "-no-api"]
        if dump:
            args += ["-dump-data", dump]
        return sh(*args, timeout=timeout)

    def counted(self, log, log_type):
        """Replays `log` with `-dump-data`; returns what banlog's parser counted, one (line, log_type,
        source_ip) per line it accepted, in a Counter.

        Debian's 1.4.6 ends a replay as soon as the file is read: its buckets miss most events (alerts
        need the agent tailing the file: start()), but every line reaches the parsers' dump. That count
        is checked, so that a line the agent never parsed cannot pass for one the parser rejected."""
        dump = self.root / f"dump-{log.name}"
        dump.mkdir()
        self.run_replay(log, log_type, dump=dump)
        stages = yaml.safe_load((dump / "parser-dump.yaml").read_text()) or {}
        # Each s00-raw parser lists every event it was offered (with success false when its filter
        # did not take it).
        seen = max((len(evs) for evs in stages.get("s00-raw", {}).values()), default=0)
        lines = log.read_text().splitlines()
        assert seen == len(lines), f"the agent parsed {seen} of {len(lines)} lines"
        return collections.Counter(
            (e["evt"]["Line"]["Raw"], e["evt"]["Meta"]["log_type"], e["evt"]["Meta"]["source_ip"])
            for e in stages.get("s01-parse", {}).get("banlog/wordpress-logs", []) if e["success"])

    def replay_alerts(self, lines, log_type, mark_lines, mark_ip, timeout=60):
        """Time-machine mode that reaches the buckets: `lines`, then `mark_lines` (which must make an
        alert for `mark_ip`), go through a FIFO the agent reads (`-dsn file://FIFO`); the FIFO
        is held open until the agent reports the mark's alert, so that every line before it has gone
        through the buckets (one parser routine, in order) when the replay ends. Returns
        `cscli alerts list -o json`."""
        fifo = self.root / f"replay-{len(list(self.root.glob('replay-*')))}.fifo"
        os.mkfifo(fifo)
        p = subprocess.Popen([CROWDSEC, "-c", self.config, "-dsn", f"file://{fifo}", "-type", log_type, "-no-api"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out = []
        reader = threading.Thread(target=lambda: out.extend(p.stdout), daemon=True)
        reader.start()
        try:
            with open(fifo, "w") as f:
                f.write("".join(ln + "\n" for ln in [*lines, *mark_lines]))
                f.flush()
                wait_for(lambda: any(f"Ip {mark_ip} performed" in ln for ln in out), timeout,
                         what=f"the replay's alert for {mark_ip}")
            p.wait(timeout)
        finally:
            stop_process(p)
            reader.join(5)
        return self.cscli_json("alerts", "list")

    def start_lapi(self):
        """The local API alone (on loopback), as the service that the agents and bouncers talk to."""
        p = self.start("-no-cs", what="lapi")
        self.wait_lapi()
        return p

    def start(self, *flags, what="crowdsec"):
        """crowdsec as a service (flags: -no-cs for the local API alone, -no-api for the agent alone)."""
        log = open(self.root / f"{what}.log", "ab")
        p = subprocess.Popen([*self.wrap, CROWDSEC, "-c", self.config, "-no-capi", *flags], stdout=log,
                             stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def wait_lapi(self, timeout=30):
        if self.wrap:
            up = lambda: self.cscli("lapi", "status", check=False).returncode == 0  # noqa: E731
        else:
            def up():
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                        return True
                except OSError:
                    return False
        wait_for(up, timeout, 0.3, what="CrowdSec's local API")

    def stop(self):
        for p in reversed(self.procs):
            stop_process(p, timeout=20)
        self.procs.clear()

    def decisions(self):
        """`cscli decisions list -o json`: alerts with their decisions (the active ones)."""
        return self.cscli_json("decisions", "list")

    def banned(self):
        """{address: [(scenario, duration)]} from the active decisions."""
        res = {}
        for alert in self.decisions() or []:
            for d in alert.get("decisions") or []:
                if d.get("type") == "ban" and d.get("scope", "").lower() == "ip":
                    res.setdefault(d["value"], []).append((d.get("scenario"), d.get("duration")))
        return res

    def log_text(self, what="crowdsec"):
        p = self.root / f"{what}.log"
        return p.read_text(errors="replace") if p.exists() else ""
