"""What banlog's tests, `make demo` and the benchmark share:
the real components, driven from Python.

    paths      where things are: the tree, the built extension and CLI, PHP, nginx, php-fpm, MariaDB
    waiting    wait_for (raises on timeout), seconds_until (how long it took, or None)
    procs      sh (run a command, fail loudly), stop_process (end a process we started)
    php        the PHP CLI with the extension loaded: php_cmd, run_php, run_php_raw, popen_php, php_str
    rsyslog    a private rsyslogd on its own unix socket
    fail2ban   a private copy of /etc/fail2ban (with this tree's filters), fail2ban-regex
    sidecar    the built banlog CLI, and its sample lines
    http       an HTTP / XML-RPC client bound to a chosen loopback source address
    wordpress  the WordPress stack (MariaDB, php-fpm with and without the extension, nginx, rsyslog)
    wpconf     the configuration files that stack writes (wp-config.php, php-fpm, nginx)
    wplog      reading what the stack logged (spam lines, auth lines through rsyslog)
    banstage   fail2ban-server in front of the stack, attackers in network namespaces
    peernet    a network namespace whose loopback carries any peer address, in front of the stack

tests/conftest.py puts tests/ on sys.path, so `import support` works in every suite; scripts that run
outside pytest (tests/wp/demo.py) insert it themselves.
"""
