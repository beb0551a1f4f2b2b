"""Polling for a condition: the one loop every test, the stack and the demo wait with."""
import time


def wait_for(pred, timeout=15.0, interval=0.05, what="condition"):
    """Polls pred() until it returns something true and returns that; raises TimeoutError after
    `timeout` seconds (pred is asked once more at the deadline)."""
    start = time.monotonic()
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


def seconds_until(pred, timeout, interval=0.01):
    """Polls pred() until true; returns the seconds it took, or None on timeout (for the tests that
    report the time or decide themselves what a timeout means)."""
    start = time.monotonic()
    try:
        wait_for(pred, timeout, interval)
    except TimeoutError:
        return None
    return time.monotonic() - start
