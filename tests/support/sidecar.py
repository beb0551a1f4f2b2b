"""The built `banlog` CLI (ships, installs and checks the fail2ban filters)."""
import json
import subprocess

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
