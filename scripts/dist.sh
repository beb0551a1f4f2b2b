#!/usr/bin/env bash
# Builds what a server installs into dist/ (or $1): the extension and the `banlog` command as Debian
# packages (dpkg-deb), and the WordPress plugin as a zip that wp-admin's "Upload Plugin" accepts.
# Expects `make build` to have run (target/release holds the extension and the command).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$root/dist}" && cd "${1:-$root/dist}" && pwd)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n1)
arch=$(dpkg --print-architecture)
so="$root/target/release/libbanlog.so"
cli="$root/target/release/banlog"
for f in "$so" "$cli"; do
  [ -f "$f" ] || { echo "dist: $f is missing: run 'make build' first" >&2; exit 1; }
done
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# The shared libraries a binary links, as Debian dependencies (libc6 (>= x) and the like).
shlibs() {
  local dir="$stage/shlibs" deps
  mkdir -p "$dir/debian"
  printf 'Source: banlog\n\nPackage: banlog\nArchitecture: any\n' >"$dir/debian/control"
  deps=$(cd "$dir" && dpkg-shlibdeps -O "$1" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
  echo "${deps:-libc6}"
}

# deb NAME: builds $out/NAME_VERSION_ARCH.deb from $stage/NAME.
deb() {
  local name=$1 tree="$stage/$1" bin=$2
  mkdir -p "$tree/DEBIAN"
  sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SHLIBS@/$(shlibs "$bin")/" \
    "$root/packaging/deb/$name.control" >"$tree/DEBIAN/control"
  for script in postinst prerm; do
    if [ -f "$root/packaging/deb/$name.$script" ]; then
      install -m 0755 "$root/packaging/deb/$name.$script" "$tree/DEBIAN/$script"
    fi
  done
  (cd "$tree" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | sort | xargs -r md5sum) >"$tree/DEBIAN/md5sums"
  dpkg-deb --root-owner-group --build "$tree" "$out/${name}_${version}_${arch}.deb" >/dev/null
  echo "dist: $out/${name}_${version}_${arch}.deb"
}

# The extension: the .so where Debian's PHP 8.2 looks, and its mods-available ini.
ext_dir=$(php-config8.2 --extension-dir)
t="$stage/php8.2-banlog"
install -D -m 0644 "$so" "$t$ext_dir/banlog.so"
strip --strip-unneeded "$t$ext_dir/banlog.so"
install -D -m 0644 "$root/php-ext/banlog.ini" "$t/etc/php/8.2/mods-available/banlog.ini"
install -D -m 0644 "$root/php-ext/banlog.stub.php" "$t/usr/share/doc/php8.2-banlog/banlog.stub.php"
install -D -m 0644 "$root/README.md" "$t/usr/share/doc/php8.2-banlog/README.md"
printf '/etc/php/8.2/mods-available/banlog.ini\n' >"$stage/conffiles"
mkdir -p "$t/DEBIAN" && mv "$stage/conffiles" "$t/DEBIAN/conffiles"
deb php8.2-banlog "$t$ext_dir/banlog.so"

# The command, with the fail2ban files it embeds also on disk for reading and copying by hand.
t="$stage/banlog"
install -D -m 0755 "$cli" "$t/usr/bin/banlog"
strip --strip-unneeded "$t/usr/bin/banlog"
for f in $(cd "$root/filters" && find filter.d jail.d action.d -type f 2>/dev/null | sort); do
  install -D -m 0644 "$root/filters/$f" "$t/usr/share/banlog/fail2ban/$f"
done
# The web server snippets the ban actions (action.d/banlog-nginx.conf, banlog-apache.conf) need,
# and the rsyslog snippets of a central collector and of the web hosts that forward to it.
for f in $(cd "$root/filters" && find webserver rsyslog -type f | sort); do
  install -D -m 0644 "$root/filters/$f" "$t/usr/share/banlog/$f"
done
# The CrowdSec parser, scenarios, profiles and acquisition (copied by hand: README, "CrowdSec").
for f in $(cd "$root/filters" && find crowdsec -type f | sort); do
  install -D -m 0644 "$root/filters/$f" "$t/usr/share/banlog/$f"
done
install -D -m 0644 "$root/packaging/logrotate/banlog" "$t/usr/share/banlog/logrotate/banlog"
install -D -m 0644 "$root/README.md" "$t/usr/share/doc/banlog/README.md"
deb banlog "$t/usr/bin/banlog"

# The plugin: a zip whose one top folder is banlog/, as wp-admin's upload expects.
zip="$out/banlog-plugin-$version.zip"
rm -f "$zip"
(cd "$root/wp-plugin" && /usr/bin/python3 - "$zip" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    for d, dirs, files in os.walk("banlog"):
        dirs.sort()
        for f in sorted(files):
            if f != ".gitkeep":
                z.write(os.path.join(d, f))
PY
)
echo "dist: $zip"
