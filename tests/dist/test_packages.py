"""`make dist`'s packages: built from this tree by scripts/dist.sh, then read back with dpkg-deb and
loaded by the real PHP from what they unpack to (installing them with apt-get into this machine's
PHP would change the PHP the other tests run; the README's install sequence does that on a server)."""
import configparser
import pathlib
import subprocess
import zipfile

from support.paths import PHP, ROOT

VERSION = next(l.split('"')[1] for l in (ROOT / "Cargo.toml").read_text().splitlines() if l.startswith("version = "))


def deb(dist, name):
    [path] = dist.glob(f"{name}_{VERSION}_*.deb")
    return path


def field(path, name):
    return subprocess.run(["dpkg-deb", "-f", path, name], check=True, capture_output=True, text=True).stdout.strip()


def unpack(path, into):
    subprocess.run(["dpkg-deb", "-x", path, into], check=True)
    return into


def test_extension_package_loads_in_php_through_its_own_ini(dist, tmp_path):
    path = deb(dist, "php8.2-banlog")
    assert field(path, "Package") == "php8.2-banlog" and field(path, "Version") == VERSION
    assert "php8.2-common" in field(path, "Depends") and "libc6" in field(path, "Depends")
    root = unpack(path, tmp_path / "root")
    ext_dir = subprocess.run(["php-config8.2", "--extension-dir"], check=True, capture_output=True,
                             text=True).stdout.strip()
    so = root / ext_dir.lstrip("/") / "banlog.so"
    ini = root / "etc/php/8.2/mods-available/banlog.ini"
    assert so.is_file() and ini.is_file()
    # The package's ini names the extension by its bare name, as Debian's php8.2-* packages do.
    p = subprocess.run([PHP, "-n", "-d", f"extension_dir={so.parent}", "-c", ini, "-r",
                        'echo extension_loaded("banlog") ? "loaded" : "missing", " ", ini_get("banlog.syslog_target");'],
                       capture_output=True, text=True, timeout=60)
    assert (p.returncode, p.stdout, p.stderr) == (0, "loaded /dev/log", "")
    conffiles = subprocess.run(["dpkg-deb", "--ctrl-tarfile", path], check=True, capture_output=True).stdout
    assert b"/etc/php/8.2/mods-available/banlog.ini" in conffiles


def test_extension_package_enables_and_disables_itself_with_phpenmod(dist, tmp_path):
    ctrl = tmp_path / "ctrl"
    subprocess.run(["dpkg-deb", "-e", deb(dist, "php8.2-banlog"), ctrl], check=True)
    assert "phpenmod -v 8.2 -s ALL banlog" in (ctrl / "postinst").read_text()
    assert "phpdismod -v 8.2 -s ALL banlog" in (ctrl / "prerm").read_text()
    for script in ("postinst", "prerm"):
        assert subprocess.run(["sh", "-n", ctrl / script]).returncode == 0


def test_command_package_runs_and_carries_the_shipped_fail2ban_files(dist, tmp_path):
    path = deb(dist, "banlog")
    assert field(path, "Package") == "banlog" and "fail2ban" in field(path, "Recommends")
    root = unpack(path, tmp_path / "root")
    p = subprocess.run([root / "usr/bin/banlog", "--help"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "install" in p.stdout
    shipped = sorted(f.relative_to(ROOT / "filters") for f in (ROOT / "filters").glob("*.d/*") if f.is_file())
    packaged = root / "usr/share/banlog/fail2ban"
    assert shipped and sorted(f.relative_to(packaged) for f in packaged.glob("*.d/*")) == shipped
    for rel in shipped:
        assert (packaged / rel).read_bytes() == (ROOT / "filters" / rel).read_bytes(), rel
    # A file fail2ban reads must parse as its INI dialect.
    for rel in shipped:
        configparser.RawConfigParser(strict=False).read_string((packaged / rel).read_text())
    # The CrowdSec files, byte for byte.
    crowdsec = sorted(f.relative_to(ROOT / "filters") for f in (ROOT / "filters/crowdsec").rglob("*") if f.is_file())
    assert crowdsec and all((root / "usr/share/banlog" / rel).read_bytes() == (ROOT / "filters" / rel).read_bytes()
                            for rel in crowdsec)
    # The rsyslog snippets of a collector and of the web hosts that forward to it (README, "Many web servers").
    for f in sorted((ROOT / "filters" / "rsyslog").iterdir()):
        assert (root / "usr/share/banlog/rsyslog" / f.name).read_bytes() == f.read_bytes(), f.name


def test_plugin_zip_holds_the_plugin_folder_and_nothing_else(dist):
    [path] = dist.glob(f"banlog-plugin-{VERSION}.zip")
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        assert z.testzip() is None
        tracked = subprocess.run(["git", "-C", ROOT, "ls-files", "wp-plugin/banlog"], check=True, capture_output=True,
                                 text=True).stdout.split()
    want = sorted(str(pathlib.Path(t).relative_to("wp-plugin")) for t in tracked if not t.endswith(".gitkeep"))
    assert sorted(names) == want
    assert all(n.startswith("banlog/") for n in names) and "banlog/banlog.php" in names
