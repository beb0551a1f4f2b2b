<?php
/**
 * Cost of one log event on the request path, for one way of logging (banlog's hooks, the pure-PHP
 * ways plugins use, the banlog plugin's own fallback). Run by bench/run.py, one process per way.
 *
 *   php cost.php WAY MODE CALLS CHUNK DIR
 *
 * WAY   one of the keys of ways() below.
 * MODE  cost:   CALLS calls timed by chunk (hrtime around CHUNK calls), then CALLS calls timed one by
 *               one (hrtime around each call). Between chunks, untimed, the extension's queue is
 *               flushed, so the hook is measured as a request meets it (queue not full), not
 *               throttled by a writer that a tight loop outruns.
 *       until:  as `cost`, but each timed chunk ends with banlog_flush(): the cost until every line
 *               of the chunk is in the kernel's hands (file written, datagram taken by rsyslog).
 *       single: every call followed by banlog_flush(), timed one by one: one event per request.
 *       idle:   as `single`, with an untimed pause of BENCH_IDLE_US (1000) µs after each call, as
 *               between requests; the pure-PHP ways too (their line is written when they return).
 *               The output has each call's time too (per_call_samples).
 *       paced, burst: for the pure-PHP syslog ways, see below.
 * DIR   where the log files go.
 *
 * Timer and loop overhead: the same loops with an empty body run first, in the same process.
 * Batch figures are net of the empty loop's cost per iteration; per-call figures are net of the
 * median cost of an empty hrtime() pair. Raw figures are in the output as well.
 *
 * Prints one JSON object.
 */

declare(strict_types=1);

ini_set('memory_limit', '-1');
error_reporting(E_ALL);

[$_, $way, $mode, $calls, $chunk, $dir] = $argv + array_fill(0, 6, null);
$calls = (int) $calls;
$chunk = max(1, (int) $chunk);
$chunks = intdiv($calls + $chunk - 1, $chunk);

const IDENT_HOST = 'bench.example';
$IPS = ['203.0.113.9', '198.51.100.23', '192.0.2.200', '2001:db8::1',
        '2001:db8:85a3::8a2e:370:7334', '203.0.113.77', '198.51.100.4', '2001:db8:ffff::42'];
$USERS = ['admin', 'administrator', 'root', 'test', 'wordpress', 'editor', 'user', 'demo'];

/**
 * Each way: [setup code, call code, lines each call writes, where].
 * In the call code $i is a fresh comment id, $ip an address, $user a user name.
 */
function ways(string $dir, string $way): array {
    $ident = "wordpress(" . IDENT_HOST . ")";
    $fallback_setup = '
        define("ABSPATH", "/nonexistent/");
        $root = getenv("BANLOG_PLUGIN_DIR");
        require_once $root . "/includes/class-banlog-format.php";
        require_once $root . "/includes/class-banlog-writer.php";
        $w = new Banlog_Writer(%s, false, function ($sink, $msg) { fwrite(STDERR, "fallback: $sink: $msg\n"); exit(3); });
        if ($w->uses_extension()) { fwrite(STDERR, "fallback uses the extension\n"); exit(3); }
    ';
    $spam_log = "$dir/$way.log";
    return [
        'empty' => ['', '', 0, null],
        'banlog_spam' => [
            sprintf('banlog_configure(["spam_log" => %s, "syslog" => false]);', var_export($spam_log, true)),
            'banlog_spam($i, $ip);', 1, $spam_log],
        'banlog_auth' => [
            'banlog_configure(["spam_log" => "", "syslog" => true, "syslog_target" => "/dev/log", '
                . '"syslog_facility" => "auth", "ident_host" => "' . IDENT_HOST . '"]);',
            'banlog_auth("failure", $user, $ip);', 1, 'syslog'],
        // WP fail2ban: openlog() and closelog() around each message.
        'syslog_openclose' => ['',
            'openlog("' . $ident . '", LOG_PID, LOG_AUTH); syslog(LOG_NOTICE, "Authentication failure for $user from $ip"); closelog();',
            1, 'syslog'],
        'syslog_once' => ['openlog("' . $ident . '", LOG_PID, LOG_AUTH);',
            'syslog(LOG_NOTICE, "Authentication failure for $user from $ip");', 1, 'syslog'],
        // Spam Log, Antispam Bee: one file_put_contents() with FILE_APPEND | LOCK_EX per line.
        'fpc_lock' => ['date_default_timezone_set(date_default_timezone_get());',
            sprintf('file_put_contents(%s, date("Y-m-d H:i:s") . " comment id=$i from host=$ip marked as spam\n", FILE_APPEND | LOCK_EX);',
                var_export($spam_log, true)),
            1, $spam_log],
        // The banlog plugin's pure-PHP writer (wp-plugin/banlog/includes), as the plugin runs it
        // without the extension.
        'fallback_spam' => [
            sprintf($fallback_setup, var_export(['spam_log' => $spam_log, 'syslog' => false], true)),
            '$w->spam($i, $ip);', 1, $spam_log],
        // Its default syslog target, /dev/log: PHP's openlog()/syslog()/closelog().
        'fallback_auth' => [
            sprintf($fallback_setup, var_export(['syslog' => true, 'syslog_target' => '/dev/log',
                'ident_host' => IDENT_HOST], true)),
            '$w->auth("failure", $user, $ip);', 1, 'syslog'],
        // Another socket path: a datagram of its own per message (stream_socket_client()).
        'fallback_auth_socket' => [
            sprintf($fallback_setup, var_export(['syslog' => true, 'syslog_target' => getenv('BENCH_SOCKET') ?: '/dev/log',
                'ident_host' => IDENT_HOST], true)),
            '$w->auth("failure", $user, $ip);', 1, 'syslog'],
    ];
}

$all = ways((string) $dir, (string) $way);
if (!isset($all[$way])) {
    fwrite(STDERR, "unknown way $way\n");
    exit(2);
}
[$setup, $call, $lines_per_call, $where] = $all[$way];
$ext = function_exists('banlog_flush');
if (str_starts_with($way, 'banlog_') && !$ext) {
    fwrite(STDERR, "the banlog extension is not loaded\n");
    exit(2);
}
// Between chunks (untimed) and, in `until`/`single`, inside the timing.
$drain = $ext && str_starts_with($way, 'banlog_') ? 'if (!banlog_flush(60000)) { fwrite(STDERR, "flush timed out\n"); exit(4); }' : '';
$in_chunk_end = $mode === 'until' ? $drain : '';
$between = $mode === 'until' ? '' : $drain;
$after_call = $mode === 'single' || $mode === 'idle' ? $drain : '';
/*
 * The pure-PHP syslog ways send straight to the daemon's socket. A unix datagram socket queues
 * net.unix.max_dgram_qlen (10 by default) datagrams; beyond that the sender blocks until the
 * daemon reads, so a tight loop of 1000 calls measures rsyslog's intake, not the call.
 * MODE paced (request path): chunks of 8 calls, then an untimed pause for the daemon to catch up.
 * MODE burst: chunks as given, no pause: the sustained rate through rsyslog, daemon-bound.
 */
if ($mode === 'idle') {
    $chunk = 1;
    $chunks = $calls;
    $between = 'usleep(' . (int) (getenv('BENCH_IDLE_US') ?: 1000) . ');';
}
if ($mode === 'paced') {
    $chunk = 8;
    $chunks = intdiv($calls + $chunk - 1, $chunk);
    $between = 'usleep(' . (int) (getenv('BENCH_PACE_US') ?: 100) . ');';
}

/*
 * The loops are generated per way, so that the call sits inline in the loop, exactly as it would
 * in a plugin, with no closure call around it.
 */
function loops(string $call, string $in_chunk_end, string $between, string $after_call): string {
    return <<<PHP
    return function (int \$chunks, int \$chunk, int \$i0, array \$IPS, array \$USERS, bool \$per_call): array {
        \$w = \$GLOBALS['w'] ?? null;
        \$i = \$i0;
        \$out = [];
        if (!\$per_call) {
            for (\$c = 0; \$c < \$chunks; \$c++) {
                \$t0 = hrtime(true);
                for (\$j = 0; \$j < \$chunk; \$j++) {
                    \$i++; \$ip = \$IPS[\$i & 7]; \$user = \$USERS[\$i & 7];
                    $call
                    $after_call
                }
                $in_chunk_end
                \$out[] = hrtime(true) - \$t0;
                $between
            }
        } else {
            for (\$c = 0; \$c < \$chunks; \$c++) {
                for (\$j = 0; \$j < \$chunk; \$j++) {
                    \$i++; \$ip = \$IPS[\$i & 7]; \$user = \$USERS[\$i & 7];
                    \$t0 = hrtime(true);
                    $call
                    $after_call
                    \$out[] = hrtime(true) - \$t0;
                }
                $between
            }
        }
        return \$out;
    };
    PHP;
}

function pct(array $sorted, float $p): float {
    $n = count($sorted);
    if ($n === 0) {
        return NAN;
    }
    $k = (int) min($n - 1, max(0, (int) ceil($p / 100 * $n) - 1));
    return (float) $sorted[$k];
}

function summary(array $v, float $scale, float $minus): array {
    sort($v);
    $f = fn($x) => round($x / $scale - $minus, 2);
    return [
        'median_ns' => $f(pct($v, 50)),
        'p90_ns' => $f(pct($v, 90)),
        'p99_ns' => $f(pct($v, 99)),
        'p999_ns' => $f(pct($v, 99.9)),
        'mean_ns' => round(array_sum($v) / count($v) / $scale - $minus, 2),
        'max_ns' => $f((float) end($v)),
        'n' => count($v),
    ];
}

// Overheads, in this process: the empty loop and an empty hrtime() pair.
$empty = eval(loops('', '', '', ''));
$empty($chunks, $chunk, 0, $IPS, $USERS, false); // warm-up
$loop_chunks = $empty($chunks, $chunk, 0, $IPS, $USERS, false);
$pair = $empty(max(1, intdiv($chunks, 4)), $chunk, 0, $IPS, $USERS, true);
sort($loop_chunks);
sort($pair);
$loop_ns = pct($loop_chunks, 50) / $chunk;   // per iteration
$timer_ns = pct($pair, 50);                  // per hrtime() pair, with the loop's own step

eval($setup); // once, at global scope ($w is the fallback writer)
$f = eval(loops($call, $in_chunk_end, $between, $after_call));
$warm = max(1, min(10, $chunks));
$f($warm, $chunk, 0, $IPS, $USERS, false); // warm-up: writer started, files open, sockets connected
$calls_done = $warm * $chunk;
$result = ['way' => $way, 'mode' => $mode, 'chunk' => $chunk, 'calls_per_pass' => $chunks * $chunk,
    'loop_overhead_ns' => round($loop_ns, 2), 'timer_overhead_ns' => round($timer_ns, 2)];

if ($mode !== 'single' && $mode !== 'idle') {
    $batch = $f($chunks, $chunk, $calls_done, $IPS, $USERS, false);
    $calls_done += $chunks * $chunk;
    $result['batch'] = summary($batch, (float) $chunk, $loop_ns);
    $result['batch_raw'] = summary($batch, (float) $chunk, 0.0);
}
if ($mode !== 'until' && $mode !== 'burst') {
    $per = $f($chunks, $chunk, $calls_done, $IPS, $USERS, true);
    $calls_done += $chunks * $chunk;
    $result['per_call'] = summary($per, 1.0, $timer_ns);
    $result['per_call_raw'] = summary($per, 1.0, 0.0);
    if ($mode === 'idle') {
        // bench/run.py merges the samples of several such runs, alternating with the anchor's.
        $result['per_call_samples'] = array_map(fn($x) => round($x - $timer_ns, 2), $per);
    }
}
if ($drain !== '') {
    eval($drain);
    $s = banlog_stats();
    $result['stats'] = array_intersect_key($s, array_flip(['accepted', 'written', 'dropped', 'queue_full', 'overflowed', 'retried', 'pending']));
}
$result['calls'] = $calls_done;
$result['lines_expected'] = $calls_done * $lines_per_call;
$result['where'] = $where;
$result['peak_memory'] = memory_get_peak_usage(true);
echo json_encode($result), "\n";
