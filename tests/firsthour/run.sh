#!/usr/bin/env bash
# The first hour of a new user, end to end, with the README's own commands ("Production install"):
# build the packages, install them with apt next to nginx, php-fpm, MariaDB, Debian's WordPress and
# fail2ban, install the plugin from its zip, `banlog install`, `banlog doctor` (must pass), then a
# ban for failed logins and one for spam, each from its own address in a network namespace: first
# on a journald-only host (no rsyslog), then on the same host with rsyslog installed.
#
# It installs packages system-wide and starts daemons: run it ONLY in a disposable Debian 12 root
# or VM (e.g. a root made with debootstrap, entered with chroot). It is not part of `make test`.
# Status: both hosts pass. The last two runs (pristine debootstrap'ed Debian 12 roots, 2 shared
# cores, 6 and 10 minutes with the build; the second with the extension linked NODELETE) said the
# same: the upload form installed and activated the plugin, `banlog doctor` said "doctor: all
# good" on each host, and on each host 6 failed logins banned 10.200.0.2 (banlog-auth) and 6 spam
# comments banned 10.200.0.3 (banlog-spam), both then refused; each ended with "firsthour: PASSED
# (journald-only host and rsyslog host)". journald needs a cgroup file system, which this script
# mounts in its namespace when the root has none.
#
# No systemd runs in such a root: the daemons are started the way the README's "without systemd"
# note says (their init scripts, fail2ban-client start, systemd-journald started by hand). The
# plugin goes in as a user puts it in: wp-admin's Upload Plugin form, then its Activate link
# (driven with curl, as the admin logged in; Debian's WordPress needs FS_METHOD 'direct' for it).
set -euo pipefail
# Argument: which hosts to go through: both (default: journald-only, then rsyslog), journald, rsyslog.
hosts=${1:-both}
case "$hosts" in both|journald|rsyslog) ;; *) echo "firsthour: hosts: both, journald or rsyslog" >&2; exit 2 ;; esac

step() { printf '\n=== firsthour: %s\n' "$*"; }
fail() { echo "firsthour: FAILED: $*" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

if [ -z "${FIRSTHOUR_INSIDE:-}" ]; then
  [ "$(id -u)" = 0 ] || { echo "firsthour: run as root in a disposable Debian 12 root" >&2; exit 2; }
  grep -q '^12' /etc/debian_version 2>/dev/null || { echo "firsthour: Debian 12 only" >&2; exit 2; }
  # Package scripts must not start services in a root without an init: this script starts them
  # (`service` ignores policy-rc.d; only the packages' invoke-rc.d reads it).
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
  apt-get update -qq

  step "build the packages (README: make dist)"
  make dist
  ls -l dist/

  step "the web stack a WordPress server has (nginx, php-fpm, MariaDB, Debian's wordpress)"
  apt-get install -y -qq --no-install-recommends nginx php8.2-fpm php8.2-mysql mariadb-server wordpress \
    curl iproute2 unzip util-linux systemd >/dev/null

  step "install the packages (README)"
  apt-get install -y -qq ./dist/php8.2-banlog_*.deb ./dist/banlog_*.deb >/dev/null
  apt-get install -y -qq fail2ban python3-systemd iptables >/dev/null
  php -m | grep -x banlog >/dev/null || fail "php -m does not list banlog"
  php-fpm8.2 -m | grep -x banlog >/dev/null || fail "php-fpm8.2 -m does not list banlog"
  # rsyslog comes later (the second host); fetched now, while there is a network.
  apt-get install -y -qq --download-only rsyslog >/dev/null

  # The rest in namespaces of its own: a mount namespace with its own /dev (the socket /dev/log is
  # created here, not in the /dev the machine lends), a network namespace (the bans' firewall rules
  # and the visitors' link stay in it) and a pid namespace (every daemon ends with this script).
  exec unshare --mount --net --pid --fork --mount-proc --propagation private env FIRSTHOUR_INSIDE=1 bash "$0" "$@"
fi

mkdir -p /run/hostdev && mount --rbind /dev /run/hostdev
mount -t tmpfs -o mode=0755 tmpfs /dev
for n in null zero full random urandom tty; do touch /dev/$n; mount --bind /run/hostdev/$n /dev/$n; done
mkdir /dev/pts /dev/shm && mount --bind /run/hostdev/pts /dev/pts && mount -t tmpfs -o mode=1777 tmpfs /dev/shm
ln -s pts/ptmx /dev/ptmx; ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin; ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr
ip link set lo up

if [ "$hosts" != rsyslog ]; then
step "journald-only host: systemd-journald owns /dev/log"
mkdir -p /run/systemd/journal
# journald exits at once without a cgroup file system, which a bare root (a chroot) may lack.
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 none /sys/fs/cgroup
/lib/systemd/systemd-journald &
for _ in $(seq 50); do [ -S /run/systemd/journal/dev-log ] && break; sleep 0.2; done
[ -S /run/systemd/journal/dev-log ] || fail "journald did not start"
ln -sf /run/systemd/journal/dev-log /dev/log

fi

step "start the daemons (README: without systemd)"
service mariadb start
service php8.2-fpm start
mysql -e "CREATE DATABASE wordpress; CREATE USER 'wordpress'@'localhost' IDENTIFIED BY 'wp-pass';
          GRANT ALL ON wordpress.* TO 'wordpress'@'localhost';"
cat >/etc/wordpress/config-default.php <<'PHP'
<?php
define('DB_NAME', 'wordpress');
define('DB_USER', 'wordpress');
define('DB_PASSWORD', 'wp-pass');
define('DB_HOST', 'localhost');
define('WP_CONTENT_DIR', '/var/lib/wordpress/wp-content');
define('FS_METHOD', 'direct');
PHP
cat >/etc/nginx/sites-available/wordpress <<'NGINX'
server {
    listen 80 default_server;
    root /usr/share/wordpress;
    index index.php;
    location / { try_files $uri $uri/ /index.php?$args; }
    location ~ \.php$ {
        include snippets/fastcgi-php.conf;
        fastcgi_pass unix:/run/php/php8.2-fpm.sock;
    }
}
NGINX
rm -f /etc/nginx/sites-enabled/default
ln -sf /etc/nginx/sites-available/wordpress /etc/nginx/sites-enabled/wordpress
service nginx start

step "a network namespace for the visitors: 10.200.0.2 guesses passwords, 10.200.0.3 spams"
ip netns add visitors
ip link add fh0 type veth peer name fh1
ip link set fh1 netns visitors
ip addr add 10.200.0.1/24 dev fh0 && ip link set fh0 up
ip -n visitors addr add 10.200.0.2/24 dev fh1
ip -n visitors addr add 10.200.0.3/24 dev fh1
ip -n visitors link set fh1 up && ip -n visitors link set lo up
site=http://10.200.0.1
visit() { local src=$1; shift; ip netns exec visitors curl -sS --max-time 10 --interface "$src" "$@"; }

step "install WordPress (its install form over HTTP)"
curl -sS -o /dev/null -w '%{http_code}\n' "$site/wp-admin/install.php?step=2" \
  --data-urlencode weblog_title=firsthour --data-urlencode user_name=admin \
  --data-urlencode admin_password=Adm1n-pass-firsthour --data-urlencode admin_password2=Adm1n-pass-firsthour \
  --data-urlencode pw_weak=1 --data-urlencode admin_email=admin@example.com --data-urlencode blog_public=0
# What any anti-spam plugin does: judge a comment spam at submission (here: one that says BUY-NOW),
# and let a visitor comment more than once in 15 seconds.
mkdir -p /var/lib/wordpress/wp-content/mu-plugins
cat >/var/lib/wordpress/wp-content/mu-plugins/firsthour-spam.php <<'PHP'
<?php
add_filter( 'pre_comment_approved', function ( $approved, $c ) {
	return false !== strpos( $c['comment_content'], 'BUY-NOW' ) ? 'spam' : $approved;
}, 99, 2 );
add_filter( 'comment_flood_filter', '__return_false', 99 );
PHP

wp_php() { # PHP inside WordPress, as the web server's user
  runuser -u www-data -- php -r '$_SERVER["HTTP_HOST"] = "10.200.0.1"; define("WP_ADMIN", true);
    require "/usr/share/wordpress/wp-load.php"; require_once ABSPATH . "wp-admin/includes/plugin.php";'"$1"
}

# The two hosts differ only in what carries the auth lines; `host` names the one under test.
run_host() {
  local host=$1
  step "[$host] banlog install (README)"
  banlog install --reload
  if [ "$host" = journald ]; then grep -q 'backend  = systemd' /etc/fail2ban/jail.d/banlog.conf || fail "no systemd backend"; fi
  step "[$host] banlog doctor --wp /usr/share/wordpress (README): must pass"
  banlog doctor --wp /usr/share/wordpress || fail "banlog doctor failed"

  step "[$host] failed logins from 10.200.0.2 until banlog-auth bans it"
  for i in 1 2 3 4 5 6; do
    visit 10.200.0.2 -o /dev/null -w "login $i: %{http_code}\n" "$site/wp-login.php" \
      --data-urlencode log=admin --data-urlencode pwd="wrong-$host-$i" || true
  done
  wait_ban banlog-auth 10.200.0.2
  if visit 10.200.0.2 -o /dev/null "$site/" 2>/dev/null; then fail "10.200.0.2 still reaches the site"; fi
  echo "10.200.0.2 banned by banlog-auth and refused"

  step "[$host] spam comments from 10.200.0.3 until banlog-spam bans it"
  for i in 1 2 3 4 5 6; do
    visit 10.200.0.3 -o /dev/null -w "comment $i: %{http_code}\n" "$site/wp-comments-post.php" \
      --data-urlencode comment_post_ID=1 --data-urlencode author="Bot $i" --data-urlencode email="bot$i@example.com" \
      --data-urlencode comment="BUY-NOW offer $host $i $RANDOM" || true
  done
  wait_ban banlog-spam 10.200.0.3
  if visit 10.200.0.3 -o /dev/null "$site/" 2>/dev/null; then fail "10.200.0.3 still reaches the site"; fi
  echo "10.200.0.3 banned by banlog-spam and refused"
  fail2ban-client unban --all >/dev/null
}

wait_ban() { # jail addr
  for _ in $(seq 60); do
    fail2ban-client status "$1" | grep "Banned IP list:.*\b$2\b" >/dev/null && return 0
    sleep 1
  done
  fail2ban-client status "$1" || true
  tail -n 30 /var/log/fail2ban.log || true
  echo "--- what might tell why:"
  ls -la /dev/log /run/systemd/journal/ /etc/machine-id /run/log/journal 2>&1 || true
  journalctl -o short-unix -n 15 --no-pager 2>&1 || true
  tail -n 5 /var/log/auth.log /var/log/wordpress/spam.log 2>&1 || true
  php -r 'var_dump(function_exists("banlog_stats") ? banlog_stats() : "no extension");' 2>&1 | head -40 || true
  wp_php 'echo json_encode(get_option("banlog_last_error")), "\n";' || true
  fail "$2 not banned by $1"
}

step "install the plugin as a user does: wp-admin, Plugins, Add New, Upload Plugin, Activate"
# curl does what the browser does: log in, open the upload form for its nonce, post the zip
# (multipart, as the form's enctype says), follow the result page's "Activate Plugin" link.
jar=$(mktemp)
admin() { curl -sS -b "$jar" -c "$jar" "$@"; }
admin -o /dev/null "$site/wp-login.php"   # sets WordPress's test cookie, as the login page does
code=$(admin -o /dev/null -w '%{http_code}' "$site/wp-login.php" --data-urlencode log=admin \
  --data-urlencode pwd=Adm1n-pass-firsthour --data-urlencode testcookie=1 \
  --data-urlencode redirect_to="$site/wp-admin/" --data-urlencode wp-submit='Log In')
[ "$code" = 302 ] || fail "admin login answered $code"
nonce=$(admin "$site/wp-admin/plugin-install.php?tab=upload" |
  awk '/action="[^"]*update\.php\?action=upload-plugin"/,/<\/form>/' |
  grep -o 'name="_wpnonce" value="[0-9a-f]*"' | sed -n '1s/.*value="\(.*\)"/\1/p')
[ -n "$nonce" ] || fail "no Upload Plugin form (with its nonce) on plugin-install.php"
zip=$(ls dist/banlog-plugin-*.zip)
page=$(admin "$site/wp-admin/update.php?action=upload-plugin" -F "_wpnonce=$nonce" \
  -F "_wp_http_referer=/wp-admin/plugin-install.php?tab=upload" -F "pluginzip=@$zip;type=application/zip" \
  -F 'install-plugin-submit=Install Now')
grep -q 'Plugin installed successfully' <<<"$page" ||
  { sed 's/<[^>]*>//g' <<<"$page" | grep -v '^\s*$' | tail -n 20; fail "the upload did not install the plugin"; }
activate=$(grep -o 'href="[^"]*plugins\.php?action=activate&amp;plugin=banlog%2Fbanlog\.php[^"]*"' <<<"$page" |
  sed -n -e '1{s/^href="//' -e 's/"$//' -e 's/&amp;/\&/g' -e 'p;}')
[ -n "$activate" ] || fail "no Activate Plugin link after the upload"
case "$activate" in http*) ;; *) activate="$site/wp-admin/$activate" ;; esac
location=$(admin -o /dev/null -w '%{redirect_url}' "$activate")
case "$location" in *activate=true*) ;; *) fail "activation answered a redirect to '$location'" ;; esac
rm -f "$jar"
wp_php 'echo is_plugin_active("banlog/banlog.php") ? "plugin active\n" : "plugin NOT active\n";
  exit(is_plugin_active("banlog/banlog.php") ? 0 : 1);' || fail "plugin not active after the upload"
ls -ld /var/lib/wordpress/wp-content/plugins/banlog

step "start fail2ban (README: without systemd)"
# Debian 12's own sshd jail reads /var/log/auth.log, which a journald-only host does not have.
[ "$hosts" = rsyslog ] || printf '[sshd]\nbackend = systemd\n' >/etc/fail2ban/jail.d/sshd-journal.local
mkdir -p /run/fail2ban
if [ "$hosts" = rsyslog ]; then
  apt-get install -y -qq --no-download rsyslog >/dev/null
  rsyslogd
  for _ in $(seq 50); do [ -S /dev/log ] && break; sleep 0.2; done
  : >/var/log/auth.log   # Debian 12's sshd jail needs it before rsyslog's first auth line
  service php8.2-fpm restart
fi
fail2ban-client start
if [ "$hosts" = rsyslog ]; then
  run_host rsyslog
  banlog uninstall --reload
  echo "firsthour: PASSED (rsyslog host)"
  exit 0
fi
run_host journald
[ "$hosts" = journald ] && { echo "firsthour: PASSED (journald-only host)"; exit 0; }

step "rsyslog host: rsyslog replaces journald on /dev/log"
kill "$(pidof systemd-journald)"; rm -f /dev/log /etc/fail2ban/jail.d/sshd-journal.local
apt-get install -y -qq --no-download rsyslog >/dev/null
rsyslogd
for _ in $(seq 50); do [ -S /dev/log ] && break; sleep 0.2; done
[ -S /dev/log ] || fail "rsyslog did not create /dev/log"
service php8.2-fpm restart   # the extension's writer reconnects anyway; a clean start for the log
run_host rsyslog

step "banlog uninstall"
banlog uninstall --reload
echo "firsthour: PASSED (journald-only host and rsyslog host)"
