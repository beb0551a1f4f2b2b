"""The `banlog` command on hostile input: logs that are not files (a FIFO without a writer,
/dev/zero), a 1 GiB sparse file, endless standard input (bounded memory, clear errors); a fail2ban
folder with planted symbolic links (never followed, modes kept); bad arguments (never a panic)."""
import json
import os
import pathlib
import stat
import subprocess
import time

import pytest

from support.fail2ban import copy_fail2ban
from support.paths import SIDECAR
from support.sidecar import INSTALLED, run_measured, samples, sidecar

T0 = 1795245562  # 2026-11-21 07:19:22 UTC
MiB = 1024 * 1024


@pytest.mark.parametrize("cmd", ["check", "simulate"])
def test_a_fifo_without_writer_is_refused_at_once(tmp_path, cmd):
    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo)
    code, out, err, _ = run_measured([cmd, fifo], timeout=20)
    assert code == 2, (out, err)
    assert f"banlog: {fifo} is a FIFO (named pipe), not a regular file" in err
    assert "`-` to read standard input" in err


@pytest.mark.parametrize("path,kind", [("/dev/zero", "a character device"), ("/dev/null", "a character device"),
                                       ("/tmp", "a folder")])
def test_devices_and_folders_are_refused(path, kind):
    code, out, err, rss = run_measured(["check", path], timeout=20)
    assert code == 2 and f"{path} is {kind}, not a regular file" in err, (out, err)
    assert rss < 32 * MiB


def test_a_1gib_sparse_file_streams_in_bounded_memory(tmp_path):
    spam = [s["line"] for s in samples(addr="203.0.113.9", time=str(T0)) if s["layout"] == "spam-log"][0]
    log = tmp_path / "sparse.log"
    with open(log, "wb") as f:
        f.write(spam.encode() + b"\n")
        f.truncate(1024 * MiB)  # a hole: one line of 1 GiB of NUL bytes
        f.seek(0, os.SEEK_END)
        f.write(b"\n" + spam.encode() + b"\n")
    assert os.stat(log).st_blocks * 512 < 1 * MiB  # really sparse
    code, out, err, rss = run_measured(["check", "--json", log], timeout=300)
    assert code == 0, err
    [r] = json.loads(out)
    assert (r["lines"], r["too_long"], r["missed"]) == (3, 1, 1)
    assert r["jails"]["banlog-spam"]["matched"] == 2
    assert r["jails"]["banlog-spam"]["addresses"] == {"203.0.113.9": 2}
    assert rss < 32 * MiB, f"peak RSS {rss / MiB:.1f} MiB for a 1 GiB file"
    text = sidecar("check", log).stdout
    assert "1 line(s) longer than 64 KiB were skipped unread" in text
    code, out, err, rss = run_measured(["simulate", "--json", "--jail", "banlog-spam", log], timeout=300)
    assert code == 0 and json.loads(out)[0]["failures"] == 2 and rss < 32 * MiB, err


def test_endless_standard_input_stays_bounded():
    """`-` reads standard input; /dev/zero there never ends (one endless line), and memory does not
    grow while it runs."""
    with open("/dev/zero", "rb") as zero:
        p = subprocess.Popen([str(SIDECAR), "check", "-"], stdin=zero, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    try:
        peaks = []
        for _ in range(6):
            time.sleep(0.5)
            status = pathlib.Path(f"/proc/{p.pid}/status").read_text()
            peaks.append(int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmHWM:"))) * 1024)
        assert p.poll() is None  # still reading
        io = pathlib.Path(f"/proc/{p.pid}/io").read_text()
        read = int(next(l.split()[1] for l in io.splitlines() if l.startswith("rchar:")))
        assert read > 64 * MiB, read  # it did read far more than it holds
        assert max(peaks) < 32 * MiB, peaks
    finally:
        p.kill()
        p.wait()


def test_standard_input_is_read_as_a_log():
    lines = [s["line"] for s in samples(addr="198.51.100.3", time=str(T0)) if s["layout"] == "traditional"]
    p = sidecar("check", "--json", "-", input="\n".join(lines) + "\n", check=False)
    [r] = json.loads(p.stdout)
    assert r["path"] == "-" and r["lines"] == len(lines)
    assert r["jails"]["banlog-auth"]["addresses"] == {"198.51.100.3": 4}


# --- install in a folder with planted links -------------------------------------------------------

def conf_dir(tmp_path):
    """A copy of /etc/fail2ban, and log files for every jail (fail2ban-client -t needs them)."""
    conf = copy_fail2ban(tmp_path / "fail2ban")
    (conf / "jail.local").write_text("[sshd]\nenabled = false\n")
    spam, auth = tmp_path / "spam.log", tmp_path / "auth.log"
    spam.touch()
    auth.touch()
    return conf, ["--spam-log", spam, "--auth-log", auth]


def victim(tmp_path):
    v = tmp_path / "victim"
    v.write_text("secret\n")
    v.chmod(0o600)
    return v


def assert_untouched(v):
    assert v.read_text() == "secret\n" and stat.S_IMODE(v.stat().st_mode) == 0o600


@pytest.mark.parametrize("planted", ["filter.d/banlog-spam.conf", "filter.d/banlog-common.conf",
                                     "jail.d/banlog.conf", ".banlog-installed.json"])
@pytest.mark.parametrize("force", [False, True])
def test_install_refuses_a_planted_link(tmp_path, planted, force):
    conf, spam = conf_dir(tmp_path)
    v = victim(tmp_path)
    (conf / planted).parent.mkdir(exist_ok=True)
    (conf / planted).symlink_to(v)
    p = sidecar("install", "--fail2ban-dir", conf, *spam, *(["--force"] if force else []), check=False)
    assert p.returncode == 2, p.stdout + p.stderr
    assert f"{conf / planted} is a symbolic link: banlog does not write through links" in p.stderr
    assert_untouched(v)
    assert (conf / planted).is_symlink()
    assert not list(conf.rglob("*.banlog-old"))


def test_install_refuses_a_dangling_link_and_a_linked_folder(tmp_path):
    conf, spam = conf_dir(tmp_path)
    (conf / "filter.d/banlog-auth.conf").symlink_to(tmp_path / "nowhere.conf")
    p = sidecar("install", "--fail2ban-dir", conf, *spam, check=False)
    assert p.returncode == 2 and "banlog-auth.conf is a symbolic link" in p.stderr
    assert not (tmp_path / "nowhere.conf").exists()

    conf2, spam2 = conf_dir(tmp_path / "2")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for f in (conf2 / "jail.d").iterdir():
        f.unlink()
    (conf2 / "jail.d").rmdir()
    (conf2 / "jail.d").symlink_to(elsewhere)
    p = sidecar("install", "--fail2ban-dir", conf2, *spam2, check=False)
    assert p.returncode == 2 and f"{conf2 / 'jail.d'} is a symbolic link" in p.stderr
    assert list(elsewhere.iterdir()) == []


def test_install_refuses_a_planted_link_as_the_kept_copy(tmp_path):
    conf, spam = conf_dir(tmp_path)
    sidecar("install", "--fail2ban-dir", conf, *spam)
    f = conf / "filter.d/banlog-spam.conf"
    f.write_text(f.read_text() + "# mine\n")
    v = victim(tmp_path)
    (conf / "filter.d/banlog-spam.conf.banlog-old").symlink_to(v)
    p = sidecar("install", "--fail2ban-dir", conf, *spam, "--force", check=False)
    assert p.returncode == 2 and "banlog-spam.conf.banlog-old is a symbolic link" in p.stderr
    assert_untouched(v)
    assert f.read_text().endswith("# mine\n")


def test_install_ignores_names_planted_for_its_temporaries(tmp_path):
    """The old installer wrote through `.NAME.banlog-tmp-PID`: links planted for the next pids made
    it overwrite their target. Temporaries now have unpredictable names, created exclusively."""
    conf, spam = conf_dir(tmp_path)
    v = victim(tmp_path)
    last = int(pathlib.Path("/proc/sys/kernel/ns_last_pid").read_text())
    for d, names in ((conf / "filter.d", ["banlog-common.conf", "banlog-spam.conf", "banlog-auth.conf"]),
                     (conf / "jail.d", ["banlog.conf"]), (conf, [".banlog-installed.json"])):
        for name in names:
            for pid in range(last + 1, last + 400):
                (d / f".{name}.banlog-tmp-{pid}").symlink_to(v)
    r = json.loads(sidecar("install", "--fail2ban-dir", conf, *spam, "--json").stdout)
    assert [f["outcome"] for f in r["files"]] == ["created"] * len(INSTALLED) and r["validated"] is True
    assert_untouched(v)
    assert not list(conf.rglob(".banlog-*.tmp"))  # no temporary left behind


def test_install_keeps_modes_and_owners(tmp_path):
    conf, spam = conf_dir(tmp_path)
    sidecar("install", "--fail2ban-dir", conf, *spam)
    jail = conf / "jail.d/banlog.conf"
    assert stat.S_IMODE(jail.stat().st_mode) == 0o644  # a new file: world-readable, as fail2ban's
    jail.chmod(0o600)
    os.chown(jail, 0, 4)  # group adm
    spam2 = tmp_path / "spam2.log"
    spam2.touch()
    r = json.loads(sidecar("install", "--fail2ban-dir", conf, "--spam-log", spam2, "--auth-log", tmp_path / "auth.log", "--json").stdout)
    assert r["files"][3]["outcome"] == "updated"
    assert str(spam2) in jail.read_text()
    st = jail.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o600, 0, 4)

    f = conf / "filter.d/banlog-auth.conf"
    f.write_text(f.read_text() + "# mine\n")
    f.chmod(0o640)
    sidecar("install", "--fail2ban-dir", conf, "--spam-log", spam2, "--auth-log", tmp_path / "auth.log", "--force")
    assert stat.S_IMODE(f.stat().st_mode) == 0o640
    old = conf / "filter.d/banlog-auth.conf.banlog-old"
    assert old.read_text().endswith("# mine\n") and stat.S_IMODE(old.stat().st_mode) == 0o640


# --- bad arguments and configurations: errors, never a panic -------------------------------------

def test_bad_input_gives_errors_not_panics(tmp_path):
    log = tmp_path / "spam.log"
    log.write_text("".join(s["line"] + "\n" for s in samples(time=str(T0)) if s["layout"] == "spam-log"))
    notdir = tmp_path / "file"
    notdir.write_text("x")
    broken = copy_fail2ban(tmp_path / "broken")
    (broken / ".banlog-installed.json").write_text("{not json")
    filterfile = copy_fail2ban(tmp_path / "filterfile")
    for f in (filterfile / "jail.d").iterdir():
        f.unlink()
    (filterfile / "jail.d").rmdir()
    (filterfile / "jail.d").write_text("not a folder")
    cases = [
        (["simulate", "--jail", "sshd", log], "unknown jail 'sshd'"),
        (["simulate", "--maxretry", "0", log], "--maxretry must be at least 1"),
        (["simulate", "--bantime", "9223372036854775807", "--maxretry", "1", log], None),
        (["simulate", "--bantime", "-9223372036854775808", "--maxretry", "1", log], None),
        (["simulate", "--findtime", "9223372036854775807", "--maxretry", "1", log], None),
        (["sample", "--addr", "not-an-address"], "--addr:"),
        (["sample", "--user-hex", "abc"], "--user-hex: expected an even number of hex digits"),
        (["sample", "--user-hex", "zz"], "--user-hex"),
        (["sample", "--site-host", "a b/c"], "--site-host:"),
        (["sample", "--time", "99999999999999"], "--time: 99999999999999 is outside the years 1970 to 9999"),
        (["sample", "--time=-1"], "--time"),
        (["filters", "--spam-log", "relative.log"], "must be an absolute path"),
        (["filters", "--spam-log", "/srv/a ;b.log"], "may not hold a ';' after a space"),
        (["filters", "--enable", "sshd"], "unknown jail 'sshd'"),
        (["filters", "--out", notdir / "sub", "--spam-log", "/srv/s.log"], "cannot create"),
        (["install", "--fail2ban-dir", tmp_path / "nope", "--spam-log", "/srv/s.log"], "is not a folder"),
        (["install", "--fail2ban-dir", notdir, "--spam-log", "/srv/s.log"], "is not a folder"),
        (["install", "--fail2ban-dir", filterfile, "--spam-log", "/srv/s.log"], "jail.d is not a folder"),
        (["check", tmp_path / "missing.log"], "cannot open"),
        (["check"], "required"),
        (["doctor", "--php", "/nonexistent", "--fail2ban-dir", notdir, "--spam-log", "/dev/zero"], None),
    ]
    for args, message in cases:
        p = sidecar(*args, check=False)
        assert "panicked" not in p.stderr and "RUST_BACKTRACE" not in p.stderr, (args, p.stderr)
        if message is None:
            assert p.returncode in (0, 1), (args, p.stdout, p.stderr)
        else:
            assert p.returncode == 2 and message in p.stderr, (args, p.returncode, p.stderr)
    # A record that is not JSON is treated as no record: every file counts as not banlog's.
    spam = tmp_path / "s.log"
    spam.touch()
    (broken / "jail.local").write_text("[sshd]\nenabled = false\n")
    r = json.loads(sidecar("install", "--fail2ban-dir", broken, "--spam-log", spam, "--auth-log", spam, "--json").stdout)
    assert [f["outcome"] for f in r["files"]] == ["created"] * len(INSTALLED)


def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path):
    # `banlog check … | head`: more output than a pipe holds, and the reader closes after one line.
    log = tmp_path / "spam.log"
    log.write_text("".join(f"2026-11-30 10:00:00 comment id={i} from host=10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255} "
                           "marked as spam\n" for i in range(1, 20001)))
    p = subprocess.Popen([SIDECAR, "check", str(log)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode(errors="replace")
    rc = p.wait(timeout=60)
    assert first, err
    assert "panicked" not in err and not err.strip(), err
    # Ended by the closed pipe, as any Unix tool (or done before it noticed).
    assert rc in (0, 1, -13), (rc, err)
