<?php
/**
 * Cost of one banlog_gate() look-up (the in-process gate), run by hand:
 *
 *   php -n -d extension=target/release/libbanlog.so bench/php/gate.php [CALLS] [DIR]
 *
 * Fills this process's ring with 4096 events within the window, each from another address (the
 * worst case: nothing ends the scan early, every slot is read), then times CALLS look-ups in
 * chunks of 1000 (hrtime around each chunk, the median chunk mean):
 *   miss       an address with no event: all 4096 slots read;
 *   reached    an address whose maxretry events are the newest: the scan stops at the 5th;
 *   enter      banlog_gate_enter() (one slot written).
 * Net of the same loop with an empty body. Prints one JSON object.
 */

declare(strict_types=1);

$calls = (int) ( $argv[1] ?? 200000 );
$dir   = $argv[2] ?? sys_get_temp_dir();
banlog_configure( array( 'spam_log' => '', 'syslog' => false, 'auth_log' => $dir . '/banlog-gate-bench.log', 'ident_host' => 'bench.example' ) );

for ( $i = 0; $i < 4091; $i++ ) {
	banlog_auth( 'failure', 'u', sprintf( '10.%d.%d.%d', $i >> 16, ( $i >> 8 ) & 255, $i & 255 ) );
}
for ( $i = 0; $i < 5; $i++ ) {
	banlog_auth( 'failure', 'u', '203.0.113.9' );
}
banlog_flush( 10000 );

function timed( int $calls, callable $body ): float {
	$means = array();
	for ( $c = 0; $c < intdiv( $calls, 1000 ); $c++ ) {
		$t = hrtime( true );
		for ( $i = 0; $i < 1000; $i++ ) {
			$body();
		}
		$means[] = ( hrtime( true ) - $t ) / 1000;
	}
	sort( $means );
	return $means[ intdiv( count( $means ), 2 ) ];
}

$empty = timed( $calls, static function () {} );
$out = array(
	'calls'   => $calls,
	'miss'    => timed( $calls, static function () { banlog_gate( 'soft', '198.51.100.7', 5, 600 ); } ) - $empty,
	'reached' => timed( $calls, static function () { banlog_gate( 'soft', '203.0.113.9', 5, 600 ); } ) - $empty,
);
if ( ! banlog_gate( 'soft', '203.0.113.9', 5, 600 ) || banlog_gate( 'soft', '198.51.100.7', 5, 600 ) ) {
	fwrite( STDERR, "the ring does not hold what this benchmark wrote\n" );
	exit( 1 );
}
$out['enter'] = timed( min( $calls, 4000 ), static function () { banlog_gate_enter( '198.51.100.7' ); } ) - $empty;
$out['unit']  = 'ns per call';
echo json_encode( $out ), "\n";
