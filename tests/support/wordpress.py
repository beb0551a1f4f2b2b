"""A real WordPress stack for banlog's end-to-end tests, the fault tests, `make demo` and the benchmark.

MariaDB (own data dir and socket), two php-fpm 8.2 masters (one with the banlog extension, one
without: the plugin's pure-PHP fallback), nginx on loopback ports, Debian's WordPress copied into a
temporary directory with our own wp-config.php, a private rsyslog for the auth lines. The site is
installed over HTTP and the plugin activated the way an admin does it. Clients (support.http) talk
real HTTP from chosen loopback source addresses, so that each simulated attacker has its own address.
"""
from __future__ import annotations

import json
import os
import pathlib
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import urllib.parse

from . import wpconf
from .http import Client, free_port, ipv6_loopback
from .paths import EXT, MARIADB, MARIADB_INSTALL_DB, MARIADBD, MU_PLUGIN_SRC, NGINX, PHP_FPM, PLUGIN_SRC, WP_SRC
from .procs import stop_process
from .rsyslog import Rsyslog
from .waiting import wait_for
from .wpconf import WEB_USER

ADMIN_USER = "admin"
ADMIN_PASS = "correct horse battery staple"
# A zone with a half-hour offset and DST: a line in UTC or in the wrong zone shows at once.
DEFAULT_TZ = "America/St_Johns"


class Stack:
    """The whole site. `start()` brings it up (a few seconds), `stop()` tears it down."""

    def __init__(self, workdir=None, ext=EXT, tz=DEFAULT_TZ, max_requests=5, log=print, max_children=2,
                 process_control_timeout=None, fpm_ini=None, rsyslog_rate_limit=True, multisite=False, plugin=True):
        """`multisite`: a subdirectory network (see `_make_network()`) with banlog network-activated.
        `plugin=False`: banlog is neither copied into wp-content/plugins nor activated (the test
        installs it, e.g. through wp-admin's Upload Plugin form).
        `max_requests`, `max_children`, `process_control_timeout` (seconds; None: php-fpm's default 0)
        and `fpm_ini` (extra php.ini values of both pools) go into the php-fpm configuration;
        `reconfigure_fpm()` changes them later. `rsyslog_rate_limit=False`: rsyslog counts every line."""
        self.own_workdir = workdir is None
        self.workdir = pathlib.Path(workdir or tempfile.mkdtemp(prefix="banlog-wp-"))
        self.ext = pathlib.Path(ext) if ext else None
        self.tz = tz
        self.max_requests = max_requests
        self.max_children = max_children
        self.process_control_timeout = process_control_timeout
        self.fpm_ini = dict(fpm_ini or {})
        self.rsyslog_rate_limit = rsyslog_rate_limit
        self.multisite = multisite
        self.plugin = plugin
        self.log = log
        self.procs = {}
        self.rsyslog = None
        self.port = free_port()
        self.fallback_port = free_port()
        self.ipv6 = ipv6_loopback()
        self.docroot = self.workdir / "www"
        self.spam_log = self.docroot / "wp-content" / "spam.log"
        self.db_sock = self.workdir / "mysql" / "mysqld.sock"
        self.app_password = None
        self.secret = secrets.token_hex(16)

    # ---- addresses

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def host_header(self):
        return f"127.0.0.1:{self.port}"

    def client(self, source="127.0.0.1", fallback=False, ipv6=False):
        port = self.fallback_port if fallback else self.port
        host = "::1" if ipv6 else "127.0.0.1"
        # Both ports serve the same site; WordPress's URL is the first one.
        return Client(host, port, source=source, host_header=self.host_header)

    # ---- lifecycle

    def start(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o755)
        try:
            self._start_rsyslog()
            self._start_mariadb()
            self._install_files()
            self._start_php_fpm("ext", self.ext)
            self._start_php_fpm("fallback", None)
            self._start_nginx()
            self._install_site()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for name in ("nginx", "fpm-ext", "fpm-fallback", "mariadb"):
            p = self.procs.pop(name, None)
            if p is not None:
                # SIGQUIT: the graceful stop of php-fpm and nginx (their SIGTERM is the fast one)
                stop_process(p, 20, signal.SIGQUIT if name.startswith("fpm") or name == "nginx" else signal.SIGTERM)
        if self.rsyslog:
            self.rsyslog.stop()
            self.rsyslog = None
        if self.own_workdir and not os.environ.get("BANLOG_KEEP_WORKDIR"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _spawn(self, name, args, env=None, **kw):
        logf = open(self.workdir / f"{name}.out", "ab")
        full_env = dict(os.environ)
        full_env.update(env or {})
        p = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT, env=full_env,
                             start_new_session=True, **kw)
        logf.close()
        self.procs[name] = p
        return p

    def _check_alive(self, name):
        p = self.procs[name]
        if p.poll() is not None:
            out = (self.workdir / f"{name}.out").read_text(errors="replace")
            raise RuntimeError(f"{name} exited ({p.returncode}):\n{out[-3000:]}")
        return True

    def _start_rsyslog(self):
        d = self.workdir / "rsyslog"
        d.mkdir()
        os.chmod(d, 0o755)
        self.rsyslog = Rsyslog(d, rate_limit=self.rsyslog_rate_limit)
        # rsyslog stamps what it receives in its own zone: the stack's, like php-fpm's.
        saved = os.environ.get("TZ")
        os.environ["TZ"] = self.tz
        try:
            self.rsyslog.start()
        finally:
            if saved is None:
                os.environ.pop("TZ", None)
            else:
                os.environ["TZ"] = saved
        os.chmod(self.rsyslog.socket, 0o666)

    def _start_mariadb(self):
        d = self.workdir / "mysql"
        data = d / "data"
        data.mkdir(parents=True)
        shutil.chown(d, "mysql", "mysql")
        shutil.chown(data, "mysql", "mysql")
        subprocess.run([MARIADB_INSTALL_DB, "--no-defaults", f"--datadir={data}", "--user=mysql",
                        "--auth-root-authentication-method=socket", "--skip-test-db"],
                       check=True, capture_output=True, timeout=120)
        self._spawn("mariadb", [MARIADBD, "--no-defaults", f"--datadir={data}", f"--socket={self.db_sock}",
                                "--skip-networking", f"--pid-file={d / 'mysqld.pid'}", "--user=mysql",
                                f"--log-error={d / 'error.log'}", "--innodb-buffer-pool-size=32M",
                                "--innodb-log-file-size=16M", "--skip-log-bin", "--performance-schema=off"])
        wait_for(lambda: self._check_alive("mariadb") and self.db_sock.exists(), 60, what="mariadb socket")
        self.sql("CREATE DATABASE wordpress; CREATE USER 'wp'@'localhost' IDENTIFIED BY 'wp';"
                 "GRANT ALL ON wordpress.* TO 'wp'@'localhost';")

    def sql(self, statements, database=None):
        args = [MARIADB, "--no-defaults", f"--socket={self.db_sock}", "-u", "root", "-N", "-B"]
        if database:
            args.append(database)
        r = subprocess.run(args + ["-e", statements], check=True, capture_output=True, text=True, timeout=60)
        return r.stdout

    def _install_files(self):
        shutil.copytree(WP_SRC, self.docroot, symlinks=True)
        # Debian links some libraries in with relative links (wp-includes/js/underscore.js ->
        # ../../../javascript/...): copied, they would dangle, load-scripts.php would serve nothing
        # for them and every admin page needing wp.template (Site Health's results) would draw nothing.
        for link in [p for p in self.docroot.rglob("*") if p.is_symlink()]:
            target = os.readlink(link)
            if not os.path.isabs(target):
                link.unlink()
                link.symlink_to((WP_SRC / link.parent.relative_to(self.docroot) / target).resolve())
        (self.docroot / ".htaccess").unlink(missing_ok=True)
        content = self.docroot / "wp-content"
        for sub in ("plugins", "themes", "uploads", "mu-plugins", "upgrade"):
            (content / sub).mkdir(exist_ok=True)
        if self.plugin:
            shutil.copytree(PLUGIN_SRC, content / "plugins" / "banlog")
        for f in MU_PLUGIN_SRC.glob("*.php"):
            shutil.copy(f, content / "mu-plugins" / f.name)
        (self.docroot / "wp-config.php").write_text(wpconf.wp_config(self.db_sock, self.url, self.secret))
        subprocess.run(["chown", "-R", f"{WEB_USER}:{WEB_USER}", str(content)], check=True)

    def _fpm_conf_text(self, name):
        return wpconf.fpm_conf(self.workdir / f"fpm-{name}", self.workdir, self.tz, self.max_children,
                               self.max_requests, self.process_control_timeout, self.fpm_ini)

    def _start_php_fpm(self, name, ext):
        d = self.workdir / f"fpm-{name}"
        d.mkdir()
        sock = d / "php-fpm.sock"
        conf = d / "php-fpm.conf"
        conf.write_text(self._fpm_conf_text(name))
        args = [PHP_FPM, "--nodaemonize", "--fpm-config", str(conf)]
        if ext:
            args[1:1] = ["-d", f"extension={ext}"]
        self._spawn(f"fpm-{name}", args, env={"TZ": self.tz})
        wait_for(lambda: self._check_alive(f"fpm-{name}") and sock.exists() and self._fpm_ready_count(name) >= 1,
                 30, what=f"php-fpm {name}")
        setattr(self, f"fpm_{name}_sock", sock)

    # ---- php-fpm process control (lifecycle tests)

    def fpm_log(self, name="ext"):
        p = self.workdir / f"fpm-{name}" / "php-fpm.log"
        return p.read_text(errors="replace").splitlines() if p.exists() else []

    def _fpm_ready_count(self, name):
        return sum("ready to handle connections" in l for l in self.fpm_log(name))

    def fpm_master_pid(self, name="ext"):
        """The master's pid (--nodaemonize: the process we started; a reload execs it in place)."""
        return self.procs[f"fpm-{name}"].pid

    def fpm_worker_pids(self, name="ext"):
        """The master's current children, from /proc."""
        master = self.fpm_master_pid(name)
        try:
            text = pathlib.Path(f"/proc/{master}/task/{master}/children").read_text()
        except OSError:
            return []
        return [int(x) for x in text.split()]

    def reload_fpm(self, name="ext", timeout=60):
        """A graceful reload (SIGUSR2 to the master, as `systemctl reload php8.2-fpm` does); returns
        once the re-executed master says it is ready again."""
        before = self._fpm_ready_count(name)
        self._check_alive(f"fpm-{name}")
        os.kill(self.fpm_master_pid(name), signal.SIGUSR2)
        wait_for(lambda: self._check_alive(f"fpm-{name}") and self._fpm_ready_count(name) > before,
                 timeout, what=f"php-fpm {name} reloaded")

    def reconfigure_fpm(self, names=("ext", "fallback"), **settings):
        """Changes php-fpm settings (max_requests, max_children, process_control_timeout, fpm_ini),
        rewrites the configuration and reloads the masters."""
        for k, v in settings.items():
            assert k in ("max_requests", "max_children", "process_control_timeout", "fpm_ini"), k
            setattr(self, k, dict(v) if k == "fpm_ini" else v)
        for name in names:
            (self.workdir / f"fpm-{name}" / "php-fpm.conf").write_text(self._fpm_conf_text(name))
            self.reload_fpm(name)

    def _start_nginx(self):
        d = self.workdir / "nginx"
        d.mkdir()
        listens = ["127.0.0.1:{port}"] + (["[::1]:{port}"] if self.ipv6 else [])
        servers = [wpconf.nginx_server([l.format(port=self.port) for l in listens], self.fpm_ext_sock, self.docroot,
                                       self.multisite),
                   wpconf.nginx_server([l.format(port=self.fallback_port) for l in listens], self.fpm_fallback_sock,
                                       self.docroot, self.multisite)]
        conf = wpconf.write_nginx_conf(d, servers)
        self._spawn("nginx", [NGINX, "-e", str(d / "error.log"), "-p", str(d), "-c", str(conf)])

        def up():
            self._check_alive("nginx")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return True
            except OSError:
                return False
        wait_for(up, 30, what="nginx")

    def _install_site(self):
        c = self.client()
        r = c.post("/wp-admin/install.php?step=2", {
            "weblog_title": "banlog test site", "user_name": ADMIN_USER,
            "admin_password": ADMIN_PASS, "admin_password2": ADMIN_PASS, "pw_weak": "1",
            "admin_email": "admin@example.com", "blog_public": "0", "language": "",
        })
        assert r.status == 200 and "Success" in r.text, f"install failed: {r.status} {r.text[:2000]}"
        self.admin = self.client()
        r = self.admin.login(ADMIN_USER, ADMIN_PASS)
        assert r.status == 302, f"admin login failed: {r.status} {r.text[:500]}"
        if self.plugin:
            self.activate_plugin("banlog/banlog.php")
        # The site's comment settings, as a blog with open comments has them.
        self.set_option("comment_previously_approved", "0")
        self.set_option("comment_moderation", "0")
        if self.multisite:
            self._make_network()

    # ---- multisite

    SUBSITE_PATH = "/sub/"
    SUBSITE_ADMIN = "subadmin"
    SUBSITE_ADMIN_PASS = "sub admin password 123"

    def _make_network(self):
        """Turns the installed site into a subdirectory network, as Tools → Network Setup does:
        the network's tables and rows (install_network(), populate_network(); the admin becomes the
        super admin), then the MULTISITE constants in wp-config.php. Then one subsite, /sub/, whose
        admin is not a super admin, and banlog network-activated (its per-site activation undone).
        The network's domain carries the port: WordPress's own sanitizing drops the colon, so the
        subsite is created with the domain put back."""
        domain = self.host_header
        out = self.php_eval(
            "require_once ABSPATH . 'wp-admin/includes/upgrade.php';"
            "require_once ABSPATH . 'wp-admin/includes/plugin.php';"
            "deactivate_plugins('banlog/banlog.php');"
            # As wp-admin/network.php does: the network's tables are unknown to $wpdb before MULTISITE.
            "global $wpdb; foreach ($wpdb->tables('ms_global') as $t => $pt) { $wpdb->$t = $pt; }"
            "install_network();"
            f"$r = populate_network(1, {json.dumps(domain)}, 'admin@example.com', 'banlog test network', '/', false);"
            "echo is_wp_error($r) ? $r->get_error_message() : 'ok';")
        assert out.strip() == "ok", out[:2000]
        (self.docroot / "wp-config.php").write_text(
            wpconf.wp_config(self.db_sock, self.url, self.secret, network_domain=domain))
        # opcache revalidates wp-config.php after its revalidate_freq (2 s): wait until both
        # masters run the network.
        for fallback in (False, True):
            c = self.client(fallback=fallback)
            def network_on():
                r = c.post("/wp-admin/admin-ajax.php", {"action": "banlog_test_eval", "secret": self.secret,
                                                        "code": "echo is_multisite() ? 'yes' : 'no';"})
                return r.status == 200 and r.text.strip() == "yes"
            wait_for(network_on, 30, what="the network's wp-config.php in effect")
        out = self.php_eval(
            "require_once ABSPATH . 'wp-admin/includes/plugin.php';"
            f"add_filter('wp_normalize_site_data', function ($d) {{ $d['domain'] = {json.dumps(domain)}; return $d; }}, 11);"
            f"$id = wp_insert_site(['domain' => {json.dumps(domain)}, 'path' => {json.dumps(self.SUBSITE_PATH)},"
            " 'title' => 'banlog subsite', 'user_id' => 1]);"
            "if (is_wp_error($id)) { echo $id->get_error_message(); return; }"
            f"$uid = wpmu_create_user({json.dumps(self.SUBSITE_ADMIN)}, {json.dumps(self.SUBSITE_ADMIN_PASS)}, 'subadmin@example.com');"
            "add_user_to_blog($id, $uid, 'administrator');"
            "$a = activate_plugin('banlog/banlog.php', '', true);"
            "switch_to_blog($id); update_option('comment_previously_approved', '0'); update_option('comment_moderation', '0');"
            "restore_current_blog();"
            "echo json_encode(['site' => $id, 'user' => $uid, 'activated' => !is_wp_error($a),"
            " 'network_active' => is_plugin_active_for_network('banlog/banlog.php'), 'super' => is_super_admin($uid)]);")
        info = json.loads(out)
        assert info["activated"] and info["network_active"] and info["super"] is False, info
        self.subsite_id = info["site"]
        self.subsite_admin_id = info["user"]
        # The cookies' names hash the network's URL: log in again.
        self.admin = self.client()
        r = self.admin.login(ADMIN_USER, ADMIN_PASS)
        assert r.status == 302, f"admin login after the network setup failed: {r.status} {r.text[:500]}"

    def activate_plugin(self, plugin, action="activate"):
        """Activates (or deactivates) a plugin with the link on the Plugins screen, as an admin does."""
        r = self.admin.get("/wp-admin/plugins.php")
        m = re.search(r'href="(plugins\.php\?action=' + action + '&amp;plugin=' + re.escape(urllib.parse.quote(plugin, safe=""))
                      + r'[^"]*)"', r.text)
        assert m, f"no {action} link for {plugin}"
        r = self.admin.get("/wp-admin/" + m.group(1).replace("&amp;", "&"))
        want = "activate=true" if action == "activate" else "deactivate=true"
        assert r.status == 302 and want in (r.header("Location") or ""), f"{action} failed: {r.status}"

    def deactivate_plugin(self, plugin):
        self.activate_plugin(plugin, "deactivate")

    def php_eval(self, code, site="", client=None):
        """Runs PHP inside WordPress (as the web user, through the test mu-plugin), returns its output.
        `site`: a multisite's site path without its final slash ("/sub"); `client`: whose cookies
        (then the code runs as that logged-in user)."""
        c = client or self.client()
        r = c.post(site + "/wp-admin/admin-ajax.php", {"action": "banlog_test_eval", "secret": self.secret, "code": code})
        assert r.status == 200, f"eval failed: {r.status} {r.text[:2000]}"
        return r.text

    def set_option(self, name, value):
        self.php_eval(f"update_option({json.dumps(name)}, json_decode({json.dumps(json.dumps(value))}, true));")

    def merge_option(self, name, changes, network=False):
        """Sets `changes` in the array option `name` (a network's site option with `network`), the
        other keys kept; returns the option as stored."""
        get, put = ("get_site_option", "update_site_option") if network else ("get_option", "update_option")
        out = self.php_eval(
            f"$o = {get}({json.dumps(name)}, []); $o = is_array($o) ? $o : [];"
            f"foreach (json_decode({json.dumps(json.dumps(changes))}, true) as $k => $v) $o[$k] = $v;"
            f"{put}({json.dumps(name)}, $o); echo json_encode({get}({json.dumps(name)}));")
        return json.loads(out)

    def banlog_options(self, **changes):
        """Updates the plugin's options; returns the new ones."""
        return self.merge_option("banlog_options", changes)

    def configure_logging(self):
        """Spam log in wp-content, auth lines to the private rsyslog."""
        return self.banlog_options(spam_log=str(self.spam_log), syslog=1, syslog_target=str(self.rsyslog.socket),
                                   syslog_facility="auth", auth_log="", trusted_proxies="", log_success=0)

    def create_app_password(self, user_id=1):
        r = self.admin.get("/wp-admin/admin-ajax.php?action=rest-nonce")
        nonce = r.text.strip()
        r = self.admin.post_json(f"/?rest_route=/wp/v2/users/{user_id}/application-passwords",
                                 {"name": "banlog-tests"}, headers={"X-WP-Nonce": nonce})
        assert r.status == 201, f"application password: {r.status} {r.text[:500]}"
        self.app_password = r.json()["password"]
        return self.app_password

    def spam_lines(self):
        if not self.spam_log.exists():
            return []
        return self.spam_log.read_text(errors="replace").splitlines()

    def php_errors(self):
        p = self.workdir / "php-errors.log"
        return p.read_text(errors="replace").splitlines() if p.exists() else []
