"""The PHP CLI with the built extension loaded, every error shown on stderr."""
import json
import os
import subprocess

from .paths import EXT, PHP


def php_cmd(code, ini=None, *, args=(), ext=EXT, user=None):
    """argv for `php -r CODE -- ARGS` (ext=None: without the extension; user: through runuser)."""
    cmd = [PHP, "-n", "-d", "display_errors=stderr", "-d", "error_reporting=-1", "-d", "log_errors=0"]
    if ext is not None:
        cmd += ["-d", f"extension={ext}"]
    for k, v in (ini or {}).items():
        cmd += ["-d", f"{k}={v}"]
    cmd += ["-r", code, "--", *map(str, args)]
    if user:
        cmd = ["runuser", "-u", user, "--"] + cmd
    return cmd


def run_php(code, ini=None, *, args=(), ext=EXT, timeout=120, env=None, check=True, user=None, text=True):
    """Runs PHP; returns the CompletedProcess (text unless text=False). With `check`, a non-zero
    exit raises AssertionError with both outputs. Keyword arguments only after `ini`, so that a call
    written for an older signature fails instead of passing a value as something else."""
    full_env = dict(os.environ, **(env or {}))
    proc = subprocess.run(php_cmd(code, ini, args=args, ext=ext, user=user), capture_output=True, text=text,
                          timeout=timeout, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f"php failed ({proc.returncode}):\nstdout:{proc.stdout}\nstderr:{proc.stderr}")
    return proc


def run_php_raw(code, ini=None, *, args=(), timeout=300, user=None, env=None):
    """run_php for the tests that judge the exit status and the exact bytes themselves."""
    return run_php(code, ini, args=args, timeout=timeout, env=env, check=False, user=user, text=False)


def popen_php(code, ini=None, *, args=(), user=None, **kw):
    """PHP as a running process (Popen keyword arguments in `kw`)."""
    return subprocess.Popen(php_cmd(code, ini, args=args, user=user), **kw)


def php_str(s):
    """A PHP single-quoted string literal for a path or a plain value."""
    s = str(s)
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def parse_json_tail(stdout):
    """The last line of a PHP program's output (bytes), as JSON."""
    return json.loads(stdout.decode().strip().splitlines()[-1])
