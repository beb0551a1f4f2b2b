"""Local spam checks with Debian's real SpamAssassin: spamd (started here on 127.0.0.1 with its own
configuration and home, one child, local tests only) judges each new comment the plugin sends it.
A GTUBE comment is marked spam and logged (and fail2ban-regex reads the line); a normal one is
not; with spamd stopped or silent, the comment goes through WordPress's usual checks within the
time limit and the status panel's last error says why."""
import json
import os
import pathlib
import secrets
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from support.fail2ban import fail2ban_regex
from support.http import free_port
from support.paths import PLUGIN_SRC
from support.procs import stop_process
from support.waiting import wait_for

# The Generic Test for Unsolicited Bulk Email: SpamAssassin scores it 1000.
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
SITE_CONFIG = pathlib.Path("/etc/spamassassin")


class Spamd:
    def __init__(self):
        assert shutil.which("spamd"), "spamd is missing (apt-get install spamassassin spamd; scripts/deps/test.txt)"
        # Readable by the user spamd drops to (nobody).
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="banlog-spamd-"))
        os.chmod(self.dir, 0o755)
        site, home = self.dir / "site", self.dir / "home"
        site.mkdir()
        home.mkdir()
        for pre in SITE_CONFIG.glob("*.pre"):  # the plugin loaders (v320.pre: the Check plugin)
            shutil.copy(pre, site / pre.name)
        (site / "local.cf").write_text("use_bayes 0\nbayes_auto_learn 0\nskip_rbl_checks 1\n"
                                       "use_razor2 0\nuse_pyzor 0\nrequired_score 5.0\n")
        for p in (site, home):
            os.chmod(p, 0o755)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.cmd = ["spamd", "--local", "--nouser-config", "--max-children", "1", "--listen", self.address,
                    "--siteconfigpath", str(site), "--helper-home-dir", str(home), "--username", "nobody",
                    "--syslog", "stderr", "--pidfile", str(self.dir / "spamd.pid")]
        self.proc = self.log = None

    def listen_on_socket(self, path):
        """Listen on a unix socket at `path` instead (mode 0666: php-fpm's user connects)."""
        self.address = str(path)
        self.cmd[self.cmd.index("--listen") + 1] = str(path)
        self.cmd += ["--socketmode", "0666"]

    def start(self):
        self.log = open(self.dir / "spamd.out", "wb")
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT)

        def up():
            assert self.proc.poll() is None, (self.dir / "spamd.out").read_text()
            try:
                if self.address.startswith("/"):
                    with socket.socket(socket.AF_UNIX) as u:
                        u.connect(self.address)
                else:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_for(up, 60, 0.2, what="spamd")
        # Its child's first scan compiles the rules (seconds, more than the plugin's budget):
        # ready means it has answered once.
        assert b"Spam: False" in self.ask(b"From: <a@example.com>\r\nSubject: warm-up\r\n\r\nhello\r\n")
        return self

    def ask(self, message, timeout=120):
        """spamd's whole answer to CHECK, asked directly."""
        if self.address.startswith("/"):
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(timeout)
            s.connect(self.address)
        else:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        with s:
            s.sendall(b"CHECK SPAMC/1.5\r\nContent-length: %d\r\n\r\n" % len(message) + message)
            out = b""
            while chunk := s.recv(4096):
                out += chunk
        return out

    def stop(self):
        if self.proc:
            stop_process(self.proc)
            self.proc = None
        if self.log:
            self.log.close()
            self.log = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def spamd():
    s = Spamd().start()
    yield s
    s.cleanup()


@pytest.fixture
def with_spamd(stack):
    def use(address, timeout=2):
        stack.banlog_options(spamd=address, spamd_timeout=timeout)
    yield use
    stack.banlog_options(spamd="", spamd_timeout=2)


def post(site, source, text):
    """Posts a comment; returns (id, stored status, seconds the request took)."""
    marker = f"s-{secrets.token_hex(6)}"
    c = site.client(source)
    t0 = time.monotonic()
    r = c.post_comment(1, f"Reader {marker}", f"{marker}@example.com", f"{text}\n\n{marker}")
    took = time.monotonic() - t0
    assert r.status in (200, 302), f"comment post: {r.status} {r.text[:500]}"
    assert "Fatal" not in r.text and "Warning" not in r.text
    out = site.stack.sql(f"SELECT comment_ID, comment_approved FROM wp_comments "
                         f"WHERE comment_content LIKE '%{marker}%'", "wordpress").split()
    assert out, f"comment {marker} not stored"
    return int(out[0]), out[1], took


def spam_lines_from(stack, source):
    return [l for l in stack.spam_lines() if l.endswith(f" from host={source} marked as spam")]


def last_error(stack):
    return stack.php_eval("echo json_encode(get_option('banlog_last_error'));")


def test_gtube_is_marked_spam_and_logged(site, spamd, with_spamd, source, f2b_conf, tmp_path):
    with_spamd(spamd.address)
    cid, status, _ = post(site, source, f"Great post! {GTUBE}")
    assert status == "spam", (last_error(site.stack), (spamd.dir / "spamd.out").read_text()[-3000:])
    lines = wait_for(lambda: spam_lines_from(site.stack, source), 10, what="the spam line")
    assert len(lines) == 1 and f" comment id={cid} from host={source} " in lines[0], lines
    log = tmp_path / "spam.log"
    log.write_text(lines[0] + "\n")
    matches, _ = fail2ban_regex(f2b_conf, log, "banlog-spam", tz=site.stack.tz)
    assert [ip for ip, _, _ in matches] == [source]


def test_a_normal_comment_is_not_spam(site, spamd, with_spamd, source):
    with_spamd(spamd.address)
    before = last_error(site.stack)
    cid, status, _ = post(site, source, "Thanks for the write-up, the second example helped me a lot.")
    assert status == "1", status
    time.sleep(0.5)
    assert spam_lines_from(site.stack, source) == []
    assert last_error(site.stack) == before  # spamd answered: nothing went wrong


def test_spamd_down_leaves_the_usual_checks(site, with_spamd, source):
    """Nothing listens: the connection is refused at once, the comment is WordPress's to judge."""
    with_spamd(f"127.0.0.1:{free_port()}")
    _, status, took = post(site, source, f"Down {GTUBE}")
    assert status == "1", status
    assert spam_lines_from(site.stack, source) == []
    err = last_error(site.stack)
    assert "spamd" in err and "cannot connect" in err and "usual checks" in err, err
    assert took < 10, took  # generous: php-fpm on a busy machine; no spamd wait in it


def test_silent_spamd_costs_at_most_the_time_limit(site, with_spamd, source):
    """spamd accepts and never answers: the visitor waits the limit, then WordPress decides."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        with_spamd(f"127.0.0.1:{silent.getsockname()[1]}", timeout=1.5)
        _, status, took = post(site, source, f"Slow {GTUBE}")
        assert status == "1", status
        assert spam_lines_from(site.stack, source) == []
        err = last_error(site.stack)
        assert "did not answer within 1.5 s" in err, err
        assert 1.4 <= took < 1.5 + 8, took  # it waited for spamd, and not much longer
    finally:
        silent.close()


def test_gtube_through_a_unix_socket_is_spam(site, with_spamd, source):
    """The other address form: the path of spamd's unix socket."""
    s = Spamd()
    sock = s.dir / "spamd.sock"
    s.listen_on_socket(sock)
    try:
        s.start()
        with_spamd(str(sock))
        _, status, _ = post(site, source, f"Via the socket {GTUBE}")
        assert status == "spam", last_error(site.stack)
        assert wait_for(lambda: spam_lines_from(site.stack, source), 10, what="the spam line")
    finally:
        s.cleanup()


CLI = r"""
define('ABSPATH', '/');
require $argv[1] . '/includes/class-banlog-spamd.php';
$in = json_decode(file_get_contents('php://stdin'), true);
$out = ['addr' => [], 'answers' => []];
foreach ($in['addrs'] as $a) $out['addr'][] = Banlog_Spamd::remote($a);
foreach ($in['answers'] as $a) $out['answers'][] = Banlog_Spamd::parse_answer($a);
$m = Banlog_Spamd::message(['comment_author' => "Eve\r\nBcc: x@y", 'comment_author_email' => "e@x\nBcc: z@z",
    'comment_author_url' => "http://spam.example/\r\nX: y", 'comment_content' => "a\nb", 'comment_post_ID' => '7'],
    'example.com', 0);
$out['message'] = $m;
echo json_encode($out);
"""


def test_addresses_answers_and_the_message_without_wordpress(tmp_path):
    addrs = ["127.0.0.1:783", "[::1]:783", "spamd.internal:783", "/run/spamd.sock", "", "127.0.0.1",
             "127.0.0.1:0", "127.0.0.1:65536", "[::g]:783", "/run/a b.sock", "http://x:783", "x :783", "-x:783"]
    answers = ["SPAMD/1.1 0 EX_OK\r\nSpam: True ; 15.0 / 5.0\r\n\r\n", "SPAMD/1.1 0 EX_OK\r\nSpam: False ; -0.3 / 5.0\r\n\r\n",
               "SPAMD/1.0 76 Bad header line: x\r\n", "HTTP/1.1 200 OK\r\n\r\n", "SPAMD/1.1 0 EX_OK\r\n\r\n", ""]
    p = subprocess.run(["php8.2", "-n", "-r", "?>" + "<?php " + CLI, str(PLUGIN_SRC)], input=json.dumps(
        {"addrs": addrs, "answers": answers}), capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and not p.stderr, p.stderr
    out = json.loads(p.stdout)
    assert out["addr"] == ["tcp://127.0.0.1:783", "tcp://[::1]:783", "tcp://spamd.internal:783",
                           "unix:///run/spamd.sock"] + [None] * 9
    assert out["answers"][:2] == [{"spam": True, "score": 15.0, "threshold": 5.0},
                                  {"spam": False, "score": -0.3, "threshold": 5.0}]
    assert out["answers"][2] == "spamd answered 76 Bad header line: x"
    assert all(isinstance(a, str) for a in out["answers"][3:])
    head, _, body = out["message"].partition("\r\n\r\n")
    # The visitor's line breaks stay out of the header: no injected field.
    assert [l.split(":")[0] for l in head.split("\r\n")] == [
        "From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"]
    assert "<unknown@invalid>" in head and '"Eve Bcc: x@y"' in head
    assert body == "a\r\nb\r\n\r\nhttp://spam.example/ X: y\r\n"
