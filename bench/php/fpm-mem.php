<?php
/**
 * A php-fpm request for the memory benchmark (bench/run.py drives it with cgi-fcgi).
 * QUERY_STRING: n=<events>&log=<path>. With the extension, makes n spam events; without it, the
 * same request does nothing else, so both workers run the same script.
 */
parse_str($_SERVER['QUERY_STRING'] ?? '', $q);
$n = (int) ($q['n'] ?? 0);
$made = 0;
if ($n > 0 && function_exists('banlog_spam')) {
    banlog_configure(['spam_log' => (string) $q['log'], 'syslog' => false]);
    for ($i = 1; $i <= $n; $i++) {
        banlog_spam($i, '203.0.113.9');
    }
    banlog_flush(60000);
    $made = $n;
}
header('Content-Type: application/json');
echo json_encode(['pid' => getmypid(), 'events' => $made, 'ext' => extension_loaded('banlog')]);
