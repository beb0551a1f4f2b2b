"""The configuration files the WordPress stack writes: wp-config.php, php-fpm's, nginx's."""
import secrets
import subprocess

WEB_USER = "www-data"


def wp_config(db_sock, url, secret, network_domain=None):
    """wp-config.php for the stack: its own database socket, URL, fresh salts and the test secret.
    `network_domain` (host:port): a subdirectory multisite with that domain, whose sites take their
    URLs from the database (WP_HOME would give every site the main site's)."""
    salts = "\n".join(
        f"define('{k}', '{secrets.token_hex(32)}');"
        for k in ("AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY",
                  "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT"))
    if network_domain is None:
        site = f"define('WP_HOME', '{url}');\ndefine('WP_SITEURL', '{url}');"
    else:
        site = f"""define('WP_ALLOW_MULTISITE', true);
define('MULTISITE', true);
define('SUBDOMAIN_INSTALL', false);
define('DOMAIN_CURRENT_SITE', '{network_domain}');
define('PATH_CURRENT_SITE', '/');
define('SITE_ID_CURRENT_SITE', 1);
define('BLOG_ID_CURRENT_SITE', 1);"""
    return f"""<?php
// Written by banlog's test support (tests/support/wpconf.py): not Debian's /etc/wordpress scheme.
define('DB_NAME', 'wordpress');
define('DB_USER', 'wp');
define('DB_PASSWORD', 'wp');
define('DB_HOST', 'localhost:{db_sock}');
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
{salts}
$table_prefix = 'wp_';
{site}
define('WP_DEBUG', false);
define('WP_ENVIRONMENT_TYPE', 'local');
define('DISABLE_WP_CRON', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_AUTO_UPDATE_CORE', false);
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('FS_METHOD', 'direct');
define('BANLOG_TEST_SECRET', '{secret}');
if (!defined('ABSPATH')) define('ABSPATH', __DIR__ . '/');
require_once ABSPATH . 'wp-settings.php';
"""


def fpm_conf(d, workdir, tz, max_children, max_requests, process_control_timeout, fpm_ini):
    """php-fpm.conf of one master whose files live in `d`; `fpm_ini`: extra php.ini values."""
    glob = ""
    if process_control_timeout is not None:
        glob = f"process_control_timeout = {process_control_timeout}\n"
    ini = "".join(f"php_admin_value[{k}] = {v}\n" for k, v in fpm_ini.items())
    return f"""[global]
pid = {d / 'php-fpm.pid'}
error_log = {d / 'php-fpm.log'}
daemonize = no
log_level = notice
{glob}
[www]
user = {WEB_USER}
group = {WEB_USER}
listen = {d / 'php-fpm.sock'}
listen.owner = {WEB_USER}
listen.group = {WEB_USER}
listen.mode = 0660
pm = static
pm.max_children = {max_children}
pm.max_requests = {max_requests}
request_terminate_timeout = 120
catch_workers_output = yes
env[TZ] = {tz}
php_admin_value[error_log] = {workdir / 'php-errors.log'}
php_admin_flag[log_errors] = on
php_admin_flag[display_errors] = on
php_admin_value[error_reporting] = E_ALL & ~E_DEPRECATED & ~E_STRICT
php_admin_value[memory_limit] = 256M
{ini}"""


def nginx_server(listens, sock, docroot, multisite=False):
    """An nginx `server` block serving the site in `docroot` through the php-fpm socket `sock`;
    `multisite`: with the rewrites of a subdirectory network (/<site>/wp-... is WordPress's own)."""
    listen = "\n        ".join(f"listen {l};" for l in listens)
    rewrites = ""
    # Debian's fastcgi_params pass $host (without the port) as HTTP_HOST: a network (whose domain
    # carries the port) would find no site, and wp-admin's canonical URL (history.replaceState,
    # built from HTTP_HOST) would name another origin, a script error on every admin page. The Host
    # header as sent (both ports serve the one site, whose port the clients name); the later value
    # wins in php-fpm.
    host = "fastcgi_param HTTP_HOST $http_host;"
    if multisite:
        rewrites = """if (!-e $request_filename) {
            rewrite /wp-admin$ $scheme://$host:$server_port$uri/ permanent;
            rewrite ^(/[^/]+)?(/wp-.*) $2 last;
            rewrite ^(/[^/]+)?(/.*\\.php) $2 last;
        }"""
    return f"""
    server {{
        {listen}
        server_name _;
        root {docroot};
        index index.php;
        client_max_body_size 8m;
        {rewrites}
        location / {{ try_files $uri $uri/ /index.php?$args; }}
        location ~ \\.php$ {{
            try_files $uri =404;
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
            {host}
            fastcgi_pass unix:{sock};
            fastcgi_read_timeout 120s;
        }}
    }}"""


def write_nginx_conf(d, servers):
    """nginx.conf in the directory `d`, with the given server blocks, and nginx's temp dirs."""
    for t in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (d / t).mkdir(exist_ok=True)
    subprocess.run(["chown", "-R", f"{WEB_USER}:{WEB_USER}", str(d)], check=True)
    conf = d / "nginx.conf"
    conf.write_text(f"""user {WEB_USER};
worker_processes 1;
daemon off;
pid {d / 'nginx.pid'};
error_log {d / 'error.log'} warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {d / 'access.log'};
    client_body_temp_path {d / 'body'};
    proxy_temp_path {d / 'proxy'};
    fastcgi_temp_path {d / 'fastcgi'};
    uwsgi_temp_path {d / 'uwsgi'};
    scgi_temp_path {d / 'scgi'};
    {"".join(servers)}
}}
""")
    return conf
