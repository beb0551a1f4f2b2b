<?php
/**
 * One php-fpm request that logs one event, one way (bench/fpm.py drives it over FastCGI).
 * QUERY_STRING: way=<way>&i=<comment id>&dir=<log dir>
 *
 *   none              logs nothing (the request's own cost)
 *   banlog_spam       the extension, spam log file
 *   fpc_lock          file_put_contents(FILE_APPEND | LOCK_EX), as Spam Log does
 *   banlog_auth       the extension, syslog (/dev/log)
 *   syslog_openclose  openlog + syslog + closelog per message, as WP fail2ban does: a socket,
 *                     connect, send and close each time
 *   site_spam         the extension, one site's settings (spam log file and syslog, as a site
 *   site_auth         configures both): banlog_spam() / banlog_auth() under the same settings
 *
 * banlog_spam and banlog_auth use two sites' settings (one logs spam to a file, the other auth
 * to syslog), so a worker serving them alternates between the two, as a multisite worker does;
 * site_spam and site_auth run in a phase of their own (bench/fpm.py): a worker serving one site.
 *
 * banlog's file line is written by the end of the request (the extension's request shutdown),
 * before php-fpm ends the response; its syslog line is then in the sink's journal on disk, and
 * sent as soon as php-fpm has ended the response. The anchors' lines are written when their call
 * returns.
 */
parse_str($_SERVER['QUERY_STRING'] ?? '', $q);
$way = (string) ($q['way'] ?? 'none');
$i = (int) ($q['i'] ?? 1);
$dir = (string) ($q['dir'] ?? '/nonexistent');
$ips = ['203.0.113.9', '198.51.100.23', '192.0.2.200', '2001:db8::1'];
$ip = $ips[$i & 3];
$user = 'admin' . ($i & 7);
$ok = true;
switch ($way) {
    case 'none':
        break;
    case 'banlog_spam':
        banlog_configure(['spam_log' => "$dir/fpm-banlog_spam.log", 'syslog' => false]);
        $ok = banlog_spam($i, $ip);
        break;
    case 'fpc_lock':
        $ok = file_put_contents("$dir/fpm-fpc_lock.log", date('Y-m-d H:i:s') . " comment id=$i from host=$ip marked as spam\n",
            FILE_APPEND | LOCK_EX) !== false;
        break;
    case 'banlog_auth':
        banlog_configure(['spam_log' => '', 'syslog' => true, 'syslog_target' => '/dev/log',
            'syslog_facility' => 'auth', 'ident_host' => 'bench.example']);
        $ok = banlog_auth('failure', $user, $ip);
        break;
    case 'site_spam':
    case 'site_auth':
        banlog_configure(['spam_log' => "$dir/fpm-site_spam.log", 'syslog' => true, 'syslog_target' => '/dev/log',
            'syslog_facility' => 'auth', 'ident_host' => 'bench.example']);
        $ok = $way === 'site_spam' ? banlog_spam($i, $ip) : banlog_auth('failure', $user, $ip);
        break;
    case 'syslog_openclose':
        openlog('wordpress(bench.example)', LOG_PID, LOG_AUTH);
        $ok = syslog(LOG_NOTICE, "Authentication failure for $user from $ip");
        closelog();
        break;
    default:
        $ok = false;
}
echo $ok ? 'ok' : 'failed';
