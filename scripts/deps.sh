#!/usr/bin/env bash
# Installs the missing Debian packages of the named purposes: scripts/deps/<purpose>.txt
# (build, test, demo, bench). As root it runs apt-get; otherwise it prints the command and fails.
#   scripts/deps.sh build            what `make build` and `make install` need, nothing more
#   scripts/deps.sh build test       what `make test` needs
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
(($#)) || set -- build
wanted=()
for purpose in "$@"; do
  list="$here/deps/$purpose.txt"
  [ -f "$list" ] || { echo "deps: no package list '$purpose' (have: $(cd "$here/deps" && ls | sed 's/\.txt$//' | tr '\n' ' '))" >&2; exit 2; }
  mapfile -t -O "${#wanted[@]}" wanted < <(sed -e 's/#.*//' -e '/^\s*$/d' "$list")
done
missing=()
for p in $(printf '%s\n' "${wanted[@]}" | sort -u); do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then
    echo "deps ($*): installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # crowdsec's postinst registers with CrowdSec's Central API and fails the install offline,
    # unless this file exists and is not empty: the tests run CrowdSec offline, from their own
    # configuration, and never use the Central API.
    if [[ " ${missing[*]} " == *" crowdsec "* ]] && [ ! -s /etc/crowdsec/online_api_credentials.yaml ]; then
      mkdir -p /etc/crowdsec
      echo "# no Central API (written by banlog's scripts/deps.sh)" >/etc/crowdsec/online_api_credentials.yaml
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "deps ($*): missing Debian packages: ${missing[*]}" >&2
    echo "deps: run as root: apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi
# The oldest Rust the locked dependencies build with (Cargo.toml's rust-version).
need_rust=1.88
if ! command -v cargo >/dev/null; then
  echo "deps: cargo not found: install Rust $need_rust or newer with rustup (Debian 12's rustc 1.63 is too old)" >&2
  exit 1
fi
have_rust=$(rustc --version | awk '{print $2}')
if [ "$(printf '%s\n%s\n' "$need_rust" "$have_rust" | sort -V | head -n1)" != "$need_rust" ]; then
  echo "deps: rustc $have_rust is too old: banlog needs Rust $need_rust or newer (rustup update)" >&2
  exit 1
fi
echo "deps ($*): all present"
