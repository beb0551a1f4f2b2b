<?php
/**
 * One of N concurrent processes appending to one spam log (bench/run.py starts them).
 *
 *   php contend.php WAY PATH FIRST_ID COUNT START_AT
 *
 * WAY       banlog (the extension), fpc_lock (file_put_contents with FILE_APPEND | LOCK_EX) or
 *           fallback (the banlog plugin's pure-PHP writer).
 * FIRST_ID  this process writes comment ids FIRST_ID .. FIRST_ID+COUNT-1, so the run can check
 *           that every line arrived exactly once and whole.
 * START_AT  Unix time (float) at which every process starts, so they really run at once.
 *
 * Prints {"start": t, "end": t, ...} (Unix times, end after every line is written).
 */

declare(strict_types=1);

[$_, $way, $path, $first, $count, $start_at] = $argv;
$first = (int) $first;
$count = (int) $count;
$start_at = (float) $start_at;
$ips = ['203.0.113.9', '198.51.100.23', '192.0.2.200', '2001:db8::1'];

if ($way === 'banlog') {
    banlog_configure(['spam_log' => $path, 'syslog' => false]);
} elseif ($way === 'fallback') {
    define('ABSPATH', '/nonexistent/');
    $root = getenv('BANLOG_PLUGIN_DIR');
    require_once $root . '/includes/class-banlog-format.php';
    require_once $root . '/includes/class-banlog-writer.php';
    $w = new Banlog_Writer(['spam_log' => $path, 'syslog' => false], false);
}

$wait = $start_at - microtime(true);
if ($wait > 0) {
    usleep((int) ($wait * 1e6));
}
$t0 = microtime(true);
$end_id = $first + $count;
switch ($way) {
    case 'banlog':
        for ($i = $first; $i < $end_id; $i++) {
            banlog_spam($i, $ips[$i & 3]);
        }
        $ok = banlog_flush(120000);
        break;
    case 'fpc_lock':
        $ok = true;
        for ($i = $first; $i < $end_id; $i++) {
            $ok = false !== file_put_contents($path, date('Y-m-d H:i:s') . " comment id=$i from host={$ips[$i & 3]} marked as spam\n", FILE_APPEND | LOCK_EX) && $ok;
        }
        break;
    case 'fallback':
        $ok = true;
        for ($i = $first; $i < $end_id; $i++) {
            $ok = $w->spam($i, $ips[$i & 3]) && $ok;
        }
        break;
    default:
        fwrite(STDERR, "unknown way $way\n");
        exit(2);
}
$t1 = microtime(true);
$out = ['start' => $t0, 'end' => $t1, 'ok' => $ok];
if ($way === 'banlog') {
    $s = banlog_stats();
    $out['stats'] = array_intersect_key($s, array_flip(['accepted', 'written', 'dropped', 'queue_full', 'overflowed']));
}
echo json_encode($out), "\n";
