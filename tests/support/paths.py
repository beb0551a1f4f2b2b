"""Where things are: this tree, the built artefacts (overridable by environment), the system's programs."""
import os
import pathlib
import shutil

ROOT = pathlib.Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
FILTERS = ROOT / "filters"
PLUGIN_SRC = ROOT / "wp-plugin" / "banlog"
# The test-only mu-plugin (an eval endpoint guarded by a per-stack secret) copied into the stack's WordPress.
MU_PLUGIN_SRC = TESTS / "wp" / "mu-plugins"

EXT = pathlib.Path(os.environ.get("BANLOG_EXT", ROOT / "target/release/libbanlog.so"))
SIDECAR = pathlib.Path(os.environ.get("BANLOG_SIDECAR", ROOT / "target/release/banlog"))

PHP = shutil.which(os.environ.get("PHP", "php8.2")) or shutil.which("php")
PHP_FPM = shutil.which("php-fpm8.2") or "/usr/sbin/php-fpm8.2"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
MARIADB_INSTALL_DB = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"
MARIADB = shutil.which("mariadb") or "/usr/bin/mariadb"

WP_SRC = pathlib.Path("/usr/share/wordpress")  # Debian's wordpress package
SYSTEM_F2B = pathlib.Path("/etc/fail2ban")
