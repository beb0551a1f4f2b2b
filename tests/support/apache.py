"""Apache 2.4 with the prefork MPM and mod_php (Debian's libapache2-mod-php8.2) serving the WordPress
stack's site (support.wordpress.Stack: its files, database, plugin options and rsyslog) on a
loopback port of its own, with the banlog extension loaded into mod_php from a php.ini of its own
(PHPIniDir). Everything lives in its own folder: ServerRoot, PidFile, logs; nothing of
/etc/apache2 is read (mod_php still loads PHP's own modules, mysqli among them, from Debian's
/etc/php/8.2/apache2/conf.d)."""
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess

from .http import Client, free_port
from .procs import sh, stop_process
from .waiting import wait_for
from .wpconf import WEB_USER

APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES = pathlib.Path("/usr/lib/apache2/modules")
MOD_PHP = MODULES / "libphp8.2.so"
# Written once per (re)start of the parent: the start and every graceful restart.
READY = "resuming normal operations"


def _state(pid):
    """A process's state letter from /proc (None once it is gone)."""
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


class ModPhp:
    """`start()` brings Apache up; `graceful()` is `apache2 -k graceful` (what `apachectl -k
    graceful` and Debian's reload run); `stop()` ends it."""

    def __init__(self, stack, ext, max_connections_per_child=0, servers=2, php_ini=None):
        self.stack = stack
        self.ext = pathlib.Path(ext)
        self.max_connections_per_child = max_connections_per_child
        self.servers = servers
        self.php_ini = dict(php_ini or {})
        self.dir = stack.workdir / f"apache-{os.getpid()}-{free_port()}"
        self.port = free_port()
        self.conf = self.dir / "apache2.conf"
        self.error_log = self.dir / "error.log"
        self.php_errors = self.dir / "php-errors.log"
        self.proc = None

    def client(self, source="127.0.0.1"):
        # The site's URL names nginx's port; the Host header says the same, as a proxy would pass it.
        return Client("127.0.0.1", self.port, source=source, host_header=self.stack.host_header)

    def _write_conf(self):
        ini = {"extension": str(self.ext), "log_errors": "On", "error_log": str(self.php_errors),
               "display_errors": "On", "memory_limit": "256M",
               "error_reporting": "E_ALL & ~E_DEPRECATED & ~E_STRICT", **self.php_ini}
        (self.dir / "php.ini").write_text("".join(f"{k} = {v}\n" for k, v in ini.items()))
        mods = [("mpm_prefork_module", MODULES / "mod_mpm_prefork.so"), ("authz_core_module", MODULES / "mod_authz_core.so"),
                ("dir_module", MODULES / "mod_dir.so"), ("mime_module", MODULES / "mod_mime.so"),
                ("php_module", MOD_PHP)]
        loads = "".join(f"LoadModule {name} {path}\n" for name, path in mods)
        n = self.servers
        self.conf.write_text(f"""{loads}
ServerRoot {self.dir}
ServerName 127.0.0.1
DefaultRuntimeDir {self.dir}
PidFile {self.dir}/apache2.pid
Mutex file:{self.dir} default
Listen 127.0.0.1:{self.port}
User {WEB_USER}
Group {WEB_USER}
ErrorLog {self.error_log}
LogLevel notice
TypesConfig /etc/mime.types
KeepAlive Off
StartServers {n}
MinSpareServers {n}
MaxSpareServers {n}
ServerLimit {n}
MaxRequestWorkers {n}
MaxConnectionsPerChild {self.max_connections_per_child}
PHPIniDir {self.dir}
DocumentRoot {self.stack.docroot}
DirectoryIndex index.php
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory {self.stack.docroot}>
    Require all granted
</Directory>
<FilesMatch "\\.php$">
    SetHandler application/x-httpd-php
</FilesMatch>
""")

    def start(self):
        assert MOD_PHP.is_file(), f"{MOD_PHP} is missing (apt-get install libapache2-mod-php8.2)"
        self.dir.mkdir(parents=True)
        os.chmod(self.dir, 0o755)
        self._write_conf()
        sh(APACHE, "-t", "-f", self.conf)
        out = open(self.dir / "apache2.out", "ab")
        # The stack's zone, as its php-fpm has it (mod_php keeps the server's environment).
        self.proc = subprocess.Popen([APACHE, "-f", str(self.conf), "-DFOREGROUND"], stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env=dict(os.environ, TZ=self.stack.tz))
        out.close()
        try:
            wait_for(lambda: self._alive() and self._ready_count() >= 1 and self._answers(),
                     30, what="Apache prefork + mod_php")
        except BaseException:
            self.stop()
            raise
        return self

    def _alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"apache2 exited ({self.proc.returncode}): {self.log_text()[-3000:]}"
                               + (self.dir / "apache2.out").read_text(errors="replace")[-2000:])
        return True

    def _answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def log_text(self):
        return self.error_log.read_text(errors="replace") if self.error_log.exists() else ""

    def _ready_count(self):
        return self.log_text().count(READY)

    def restarts(self):
        """Graceful restarts done so far (the parent's start-ups after the first)."""
        return max(self._ready_count() - 1, 0)

    @property
    def master_pid(self):
        return self.proc.pid

    def worker_pids(self):
        """The parent's living children (a killed child stays a zombie until the parent's next
        maintenance round reaps it, up to a second later)."""
        try:
            text = pathlib.Path(f"/proc/{self.master_pid}/task/{self.master_pid}/children").read_text()
        except OSError:
            return []
        return [int(x) for x in text.split() if _state(int(x)) not in ("Z", None)]

    def graceful(self, timeout=60):
        """`apache2 -k graceful`: the parent stays, reruns the modules' start-up (PHP's and so
        banlog's minit) in the same process and forks a new generation; old children finish their
        request first. Returns once the parent says it resumed."""
        before = self._ready_count()
        self._alive()
        sh(APACHE, "-f", self.conf, "-k", "graceful", env=dict(os.environ, TZ=self.stack.tz))
        wait_for(lambda: self._alive() and self._ready_count() > before, timeout, what="Apache graceful restart")

    def crashes(self):
        """Children that ended on a signal the test did not send (the parent logs each one)."""
        return re.findall(r"child pid (\d+) exit signal ([^,(]+)", self.log_text())

    def stop(self):
        if self.proc is not None:
            stop_process(self.proc, 30, signal.SIGTERM)
            self.proc = None
