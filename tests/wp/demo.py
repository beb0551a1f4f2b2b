#!/usr/bin/python3
"""`make demo`: a real WordPress with banlog, a spam bot, a password guesser, and fail2ban banning both.

Brings up the stack of tests/support/wordpress.py (MariaDB, php-fpm with the banlog extension, nginx,
Debian's WordPress, a private rsyslog) and support/banstage.py (fail2ban-server and the attackers in two
network namespaces), shows every line as it is written, then the bans. Ctrl-C tears everything down.
Options: --no-wait (tear down at the end instead of waiting for Ctrl-C).
"""
import os
import pathlib
import signal
import sys
import threading
import time

# tests/ on sys.path for `support` (tests/conftest.py does it under pytest; this runs without it)
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from support.banstage import BanStage  # noqa: E402
from support.paths import EXT  # noqa: E402
from support.waiting import wait_for  # noqa: E402
from support.wordpress import ADMIN_PASS, ADMIN_USER, Stack  # noqa: E402

BOLD, DIM, RED, GREEN, YELLOW, RESET = ("\033[1m", "\033[2m", "\033[31m", "\033[32m", "\033[33m", "\033[0m") \
    if sys.stdout.isatty() else ("",) * 6


def say(msg=""):
    print(msg, flush=True)


class Tail(threading.Thread):
    """Prints the lines appended to a file."""

    def __init__(self, path, label, colour):
        super().__init__(daemon=True)
        self.path, self.label, self.colour = pathlib.Path(path), label, colour
        self.stopped = threading.Event()

    def run(self):
        pos = 0
        while not self.stopped.is_set():
            if self.path.exists():
                with open(self.path, "rb") as f:
                    f.seek(pos)
                    data = f.read()
                    pos += len(data)
                for line in data.decode(errors="replace").splitlines():
                    if self.label != "auth" or "wordpress(" in line:
                        say(f"  {self.colour}{self.label:>4} │ {line}{RESET}")
            time.sleep(0.2)


def main():
    wait = "--no-wait" not in sys.argv
    if os.geteuid() != 0:
        say("make demo needs root (network namespaces, fail2ban, php-fpm as www-data): sudo make demo")
        return 2
    if not EXT.is_file():
        say(f"{EXT} is missing: run 'make build' first")
        return 2
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    say(f"{BOLD}banlog demo{RESET}: bringing up MariaDB, php-fpm 8.2 with the banlog extension, nginx, WordPress, rsyslog…")
    stack = Stack(log=lambda *a: None)
    stage = None
    tails = []
    try:
        stack.start()
        stack.configure_logging()
        say(f"  WordPress {GREEN}{stack.url}/{RESET}  (admin: {ADMIN_USER} / {ADMIN_PASS})")
        say(f"  spam log  {stack.spam_log}")
        say(f"  auth log  {stack.rsyslog.out}  (a private rsyslog; ident wordpress(<site host>))")
        say("Starting fail2ban-server with banlog's jails, in a network namespace with the attackers…")
        stage = BanStage(stack, log=say).start()
        say(f"  server {stage.server_ip}:80 · spam bot {stage.spam_bot} · password guesser {stage.guesser}")
        say()
        tails = [Tail(stack.spam_log, "spam", YELLOW), Tail(stack.rsyslog.out, "auth", YELLOW),
                 Tail(stage.fail2ban_log, "f2b", RED)]
        for t in tails:
            t.start()

        say(f"{BOLD}1. The spam bot posts comments; the anti-spam check marks them spam.{RESET}")
        for i in range(6):
            r = stage.attack(stage.spam_bot, "spam", 1)[0]
            say(f"  {DIM}bot → POST /wp-comments-post.php → {r}{RESET}")
            time.sleep(0.6)
            if stage.spam_bot in stage.banned("banlog-spam"):
                break
        wait_for(lambda: stage.spam_bot in stage.banned("banlog-spam"), 30, interval=0.3, what="spam ban")
        time.sleep(0.5)
        say(f"  {GREEN}fail2ban banned the spam bot {stage.spam_bot} (jail banlog-spam).{RESET}")
        r = stage.attack(stage.spam_bot, "spam", 1)[0]
        say(f"  {DIM}bot → POST /wp-comments-post.php → {r}{RESET}")
        say()

        say(f"{BOLD}2. The password guesser tries wp-login.php, then XML-RPC system.multicall.{RESET}")
        for i in range(6):
            r = stage.attack(stage.guesser, "login", 1)[0]
            say(f"  {DIM}guesser → POST /wp-login.php (admin / password{i}) → {r}{RESET}")
            time.sleep(0.6)
            if stage.guesser in stage.banned("banlog-auth"):
                break
        wait_for(lambda: stage.guesser in stage.banned("banlog-auth"), 30, interval=0.3, what="auth ban")
        time.sleep(0.5)
        say(f"  {GREEN}fail2ban banned the password guesser {stage.guesser} (jail banlog-auth).{RESET}")
        r = stage.attack(stage.guesser, "multicall", 1)[0]
        say(f"  {DIM}guesser → POST /xmlrpc.php (system.multicall) → {r}{RESET}")
        say()

        say(f"{BOLD}The bans:{RESET}")
        for jail in ("banlog-spam", "banlog-auth", "banlog-auth-hard"):
            say(f"  {jail:<17} {', '.join(stage.banned(jail)) or '-'}")
        for rule in stage.firewall().splitlines():
            if "-j DROP" in rule:
                say(f"  iptables {rule}")
        say()
        if wait:
            say(f"Open {stack.url}/wp-admin/options-general.php?page=banlog in a browser on this machine "
                f"({ADMIN_USER} / {ADMIN_PASS}) to see the status panel.")
            say("Press Ctrl-C to stop and tear everything down.")
            while True:
                time.sleep(3600)
        return 0
    except KeyboardInterrupt:
        say()
        return 0
    finally:
        for t in tails:
            t.stopped.set()
        say("Tearing down…")
        if stage:
            stage.stop()
        stack.stop()
        say("Done.")


if __name__ == "__main__":
    sys.exit(main())
