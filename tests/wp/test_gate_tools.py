"""The gate against real attack tools from Debian (hydra with 16 tasks, nmap's http-wordpress-brute)
on the real stack, with a real fail2ban-server banning in a network namespace (support.banstage):
how many of the attacker's requests reach a password check before fail2ban's ban, with the gate
off and on. With the gate on, at most maxretry do; an innocent client of the same server is never
refused. The figures are printed (BENCHMARKS.md, "The in-process gate", quotes a run)."""
import os
import signal
import subprocess
import time

import pytest

from support.banstage import BanStage
from support.procs import sh
from support.waiting import wait_for
from test_gate_wp import auth_checks

MAXRETRY = 5  # banlog-auth as shipped (filters/jail.d/banlog.conf)


@pytest.fixture(scope="module")
def stage(stack):
    stack.configure_logging()
    s = BanStage(stack, log=lambda *a: None)
    s.start()
    s.net = s.server_ip.rsplit(".", 1)[0]
    s.next_host = 100
    yield s
    s.stop()
    stack.banlog_options(gate=0)


def new_attacker(stage):
    """A fresh address in the attacker namespace, made the source of every new connection from it
    (the tools cannot choose theirs)."""
    stage.next_host += 1
    ip = f"{stage.net}.{stage.next_host}"
    sh("ip", "-n", stage.atk, "addr", "add", f"{ip}/24", "dev", stage.va)
    sh("ip", "-n", stage.atk, "route", "replace", f"{stage.net}.0/24", "dev", stage.va, "src", ip)
    return ip


def new_innocent(stage):
    stage.next_host += 1
    ip = f"{stage.net}.{stage.next_host}"
    sh("ip", "-n", stage.atk, "addr", "add", f"{ip}/24", "dev", stage.va)
    return ip


def tool_command(tool, target, words):
    if tool == "hydra":
        # hydra 9.4 wants the condition after the optional parts; never met (no password is right).
        form = ("/wp-login.php:log=^USER^&pwd=^PASS^&wp-submit=Log+In&testcookie=1"
                ":H=Cookie\\: wordpress_test_cookie=WP%20Cookie%20check:S=wordpress_logged_in")
        return ["hydra", "-I", "-l", "admin", "-P", str(words), "-t", "16", "-w", "5", target, "http-post-form", form]
    users = words.with_name("users.txt")
    users.write_text("admin\n")
    return ["nmap", "-Pn", "-n", "-p", "80", "--script", "http-wordpress-brute", "--script-args",
            f"userdb={users},passdb={words},brute.firstonly=true,unpwdb.timelimit=0", target]


def attack_until_banned(stage, tool, tmp_path):
    """Runs the tool from a fresh address until fail2ban has banned it (and its rule is in place);
    returns (address, requests that reached a password check, seconds from the first to the ban,
    login POSTs that reached WordPress)."""
    stack = stage.stack
    ip = new_attacker(stage)
    words = tmp_path / "passwords.txt"
    words.write_text("".join(f"guess{i:04d}\n" for i in range(2000)))
    out = open(tmp_path / f"{tool}.out", "ab")
    p = subprocess.Popen(["ip", "netns", "exec", stage.atk, *tool_command(tool, stage.server_ip, words)],
                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    out.close()
    try:
        wait_for(lambda: auth_checks(stack, ip) > 0 or p.poll() is not None, 60, interval=0.05,
                 what=f"{tool}'s first request")
        start = time.monotonic()
        wait_for(lambda: ip in stage.banned("banlog-auth") or p.poll() is not None, 120, interval=0.1,
                 what=f"the ban of {tool}'s address")
        banned_after = time.monotonic() - start
        assert p.poll() is None, (tmp_path / f"{tool}.out").read_text()[-2000:]
        wait_for(lambda: f"-s {ip}/32 -j DROP" in stage.firewall(), 30, interval=0.1, what="firewall rule")
        time.sleep(3)  # requests already accepted finish; nothing new gets through the rule
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    return ip, auth_checks(stack, ip), banned_after, auth_checks(stack, ip, "arrivals")


@pytest.mark.parametrize("tool", ["hydra", "nmap"])
def test_the_gate_holds_a_real_tool_to_maxretry_password_checks(stage, tool, tmp_path):
    stack = stage.stack
    stack.banlog_options(gate=0)
    _, without, t_without, posts_without = attack_until_banned(stage, tool, tmp_path)
    stack.banlog_options(gate=1)
    innocent = new_innocent(stage)
    ip, with_gate, t_with, posts_with = attack_until_banned(stage, tool, tmp_path)
    # The innocent, on the same server after (and despite) the attack: a wrong password is
    # checked like any other, nobody refuses it.
    assert stage.attack(innocent, "login", 2) == [200, 200]
    assert auth_checks(stack, innocent) == 2
    print(f"\n{tool}: login POSTs reaching WordPress / password checks before the ban: gate off "
          f"{posts_without} / {without} (ban {t_without:.1f} s after the first check), gate on {posts_with} / "
          f"{with_gate}, {posts_with - with_gate} refused with 403 (ban after {t_with:.1f} s)")
    assert with_gate <= MAXRETRY, f"{with_gate} of {ip}'s requests reached a password check"
    assert with_gate == MAXRETRY, "the tool's first maxretry guesses are checked (and logged, for fail2ban)"
    assert without > MAXRETRY, f"without the gate only {without} reached a check: nothing to measure"
    assert posts_without == without  # each login POST is one check without the gate
