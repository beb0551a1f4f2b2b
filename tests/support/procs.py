"""Running commands and ending the processes a test started (by their own handle, never by name)."""
import signal
import subprocess


def sh(*args, check=True, timeout=60, **kw):
    """Runs a command (arguments str()-ed), text output captured; raises AssertionError with its
    output when it fails and `check` is set."""
    p = subprocess.run(list(map(str, args)), capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {p.returncode}: {p.stdout}{p.stderr}")
    return p


def stop_process(proc, timeout=10, sig=signal.SIGTERM):
    """Ends a process politely (`sig`; None when it was already asked another way), killing it
    after `timeout` seconds."""
    if proc.poll() is None:
        if sig is not None:
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
