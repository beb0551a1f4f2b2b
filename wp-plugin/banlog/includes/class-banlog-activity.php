<?php
/**
 * What banlog has seen: the last events (from the extension's pool-wide ring, else from a small
 * ring the plugin keeps in an option), counted per hour and per day by kind, the top addresses
 * and whether each reached its jail's limit, and the chart drawn as inline SVG.
 *
 * @package banlog
 */

defined( 'ABSPATH' ) || exit;

/**
 * Activity figures.
 */
final class Banlog_Activity {

	/** Option holding the fallback ring (not autoloaded). */
	const RING_OPTION = 'banlog_activity_ring';
	/** Events the fallback ring keeps. */
	const RING_MAX = 500;
	/** Event kinds in chart order, spam first, success last. */
	const KINDS = array( 'spam', 'failure', 'unknown_user', 'xmlrpc_failure', 'xmlrpc_unknown_user', 'rest_failure', 'rest_unknown_user', 'multicall_failure', 'pingback', 'trackback', 'comment_flood', 'user_enumeration', 'user_enumeration_blocked', 'success', 'logout' );
	/** Audit events: shown, never counted against a jail. */
	const AUDIT = array( 'success', 'logout' );
	/** The jail of each abuse kind (spam: banlog-spam; any other kind: banlog-auth). */
	const ABUSE_JAILS = array(
		'pingback'                 => 'banlog-pingback',
		'trackback'                => 'banlog-pingback',
		'comment_flood'            => 'banlog-comment-flood',
		'user_enumeration'         => 'banlog-user-enum',
		'user_enumeration_blocked' => 'banlog-user-enum',
	);
	/** The jails whose limits the activity view applies. */
	const LIMIT_JAILS = array( 'banlog-spam', 'banlog-auth', 'banlog-pingback', 'banlog-comment-flood', 'banlog-user-enum' );
	/** A colour per kind (WordPress admin palette and neighbours). */
	const COLORS = array(
		'spam'                => '#d63638',
		'failure'             => '#2271b1',
		'unknown_user'        => '#72aee6',
		'xmlrpc_failure'      => '#dba617',
		'xmlrpc_unknown_user' => '#f0c33c',
		'rest_failure'        => '#00a32a',
		'rest_unknown_user'   => '#68de7c',
		'multicall_failure'   => '#8c5383',
		'pingback'            => '#b32d2e',
		'trackback'           => '#e65054',
		'comment_flood'       => '#9ec2e6',
		'user_enumeration'    => '#3c434a',
		'user_enumeration_blocked' => '#646970',
		'success'             => '#8c8f94',
		'logout'              => '#c3c4c7',
	);
	/** The colour of a kind this version does not know (from a newer extension). */
	const OTHER_COLOR = '#50575e';

	/**
	 * Events of this request in fallback mode, written once at its end.
	 *
	 * @var array
	 */
	private static $pending = array();

	/**
	 * Hooks the fallback ring (only used when the extension is not loaded).
	 */
	public static function register() {
		Banlog_Writer::$on_event = array( __CLASS__, 'remember' );
	}

	/**
	 * Remembers an event the PHP writer took; the first one of a request schedules the write.
	 *
	 * @param string $kind Kind.
	 * @param string $addr Canonical address.
	 */
	public static function remember( $kind, $addr ) {
		if ( ! self::$pending ) {
			add_action( 'shutdown', array( __CLASS__, 'save' ), 20 );
		}
		self::$pending[] = array( time(), (string) $kind, (string) $addr );
	}

	/**
	 * Writes this request's events into the capped ring: one option write per request that logged.
	 * Two requests ending at the same moment may overwrite each other's additions (no lock): the
	 * fallback ring is a sketch; the extension's is exact.
	 */
	public static function save() {
		if ( ! self::$pending ) {
			return;
		}
		$ring = get_option( self::RING_OPTION, array() );
		$ring = is_array( $ring ) ? $ring : array();
		$ring = array_slice( array_merge( $ring, self::$pending ), -self::RING_MAX );
		self::$pending = array();
		update_option( self::RING_OPTION, $ring, false );
	}

	/**
	 * Whether the figures come from the extension (pool-wide ring).
	 *
	 * @return bool
	 */
	public static function from_extension() {
		return function_exists( 'banlog_recent' ) && ! ( defined( 'BANLOG_FORCE_FALLBACK' ) && BANLOG_FORCE_FALLBACK );
	}

	/**
	 * The last events, newest first: each array( 'time' => int, 'kind' => string, 'ip' => string ).
	 *
	 * @return array
	 */
	public static function events() {
		$out = array();
		if ( self::from_extension() ) {
			// banlog_recent() keeps the events of this site's ident host, which configure() sets.
			Banlog_Plugin::instance()->writer()->configure();
			try {
				$recent = banlog_recent( 4096 );
			} catch ( Throwable $e ) {
				$recent = array();
			}
			foreach ( (array) $recent as $e ) {
				if ( is_array( $e ) && isset( $e['time'], $e['kind'], $e['ip'] ) ) {
					$out[] = array(
						'time' => (int) $e['time'],
						'kind' => (string) $e['kind'],
						'ip'   => (string) $e['ip'],
					);
				}
			}
			return $out;
		}
		$ring = get_option( self::RING_OPTION, array() );
		foreach ( array_reverse( is_array( $ring ) ? $ring : array() ) as $e ) {
			if ( is_array( $e ) && 3 === count( $e ) ) {
				$out[] = array(
					'time' => (int) $e[0],
					'kind' => (string) $e[1],
					'ip'   => (string) $e[2],
				);
			}
		}
		return $out;
	}

	/**
	 * Counts per time bucket and kind.
	 *
	 * @param array $events  Events.
	 * @param int   $buckets Number of buckets.
	 * @param int   $size    Bucket length in seconds.
	 * @param int   $now     End of the last bucket.
	 * @return array List of array( 'start' => int, 'counts' => array kind => n ), oldest first.
	 */
	public static function buckets( array $events, $buckets, $size, $now ) {
		$end = (int) ( floor( $now / $size ) + 1 ) * $size;
		$start = $end - $buckets * $size;
		$out = array();
		for ( $i = 0; $i < $buckets; $i++ ) {
			$out[] = array(
				'start'  => $start + $i * $size,
				'counts' => array_fill_keys( self::KINDS, 0 ),
			);
		}
		foreach ( $events as $e ) {
			if ( $e['time'] < $start || $e['time'] >= $end ) {
				continue;
			}
			$i = (int) floor( ( $e['time'] - $start ) / $size );
			if ( ! isset( $out[ $i ]['counts'][ $e['kind'] ] ) ) {
				// A kind from a newer extension: counted all the same, in every bucket.
				foreach ( $out as &$b ) {
					$b['counts'][ $e['kind'] ] = 0;
				}
				unset( $b );
			}
			++$out[ $i ]['counts'][ $e['kind'] ];
		}
		return $out;
	}

	/**
	 * Per-day buckets over 7 days, each starting at the site's local midnight.
	 *
	 * @param array $events Events.
	 * @param int   $now    Now.
	 * @return array As buckets().
	 */
	public static function days( array $events, $now ) {
		$offset = (int) round( (float) get_option( 'gmt_offset', 0 ) * HOUR_IN_SECONDS );
		$shifted = array();
		foreach ( $events as $e ) {
			$e['time'] += $offset;
			$shifted[] = $e;
		}
		$days = self::buckets( $shifted, 7, DAY_IN_SECONDS, $now + $offset );
		foreach ( $days as &$d ) {
			$d['start'] -= $offset;
		}
		return $days;
	}

	/**
	 * The jails' limits: the installed jail (/etc/fail2ban/jail.d/banlog.conf, then banlog.local)
	 * over the shipped defaults.
	 *
	 * @return array jail => array( 'maxretry' => int, 'findtime' => int, 'source' => string )
	 */
	public static function jail_limits() {
		$limits = array();
		$files = array(
			array( __DIR__ . '/../fail2ban/jail.d/banlog.conf', __( 'shipped defaults', 'banlog' ) ),
			array( '/etc/fail2ban/jail.d/banlog.conf', '/etc/fail2ban/jail.d/banlog.conf' ),
			array( '/etc/fail2ban/jail.d/banlog.local', '/etc/fail2ban/jail.d/banlog.local' ),
		);
		foreach ( $files as $f ) {
			$ini = self::read_jail( $f[0] );
			foreach ( self::LIMIT_JAILS as $jail ) {
				foreach ( array( 'maxretry', 'findtime' ) as $k ) {
					if ( isset( $ini[ $jail ][ $k ] ) ) {
						$v = self::seconds( $ini[ $jail ][ $k ] );
						if ( null !== $v && $v > 0 ) {
							$limits[ $jail ][ $k ] = $v;
							$limits[ $jail ]['source'] = $f[1];
						}
					}
				}
			}
		}
		$defaults = array(
			'maxretry' => 5,
			'findtime' => 600,
			'source'   => __( 'shipped defaults', 'banlog' ),
		);
		foreach ( self::LIMIT_JAILS as $jail ) {
			$limits[ $jail ] = array_merge( $defaults, isset( $limits[ $jail ] ) ? $limits[ $jail ] : array() );
		}
		return $limits;
	}

	/**
	 * A fail2ban jail file's sections and keys (no interpolation).
	 *
	 * @param string $path Path.
	 * @return array
	 */
	public static function read_jail( $path ) {
		// phpcs:ignore WordPress.PHP.NoSilencedErrors.Discouraged
		$text = @is_readable( $path ) ? (string) @file_get_contents( $path ) : ''; // phpcs:ignore WordPress.WP.AlternativeFunctions
		$out = array();
		$section = '';
		foreach ( preg_split( '/\r?\n/', $text ) as $line ) {
			if ( preg_match( '/^\s*\[([^\]]+)\]\s*$/', $line, $m ) ) {
				$section = trim( $m[1] );
			} elseif ( '' !== $section && preg_match( '/^([A-Za-z_][\w.]*)\s*=\s*(.*?)\s*$/', $line, $m ) ) {
				$out[ $section ][ strtolower( $m[1] ) ] = $m[2];
			}
		}
		return $out;
	}

	/**
	 * fail2ban's time value (`600`, `10m`, `1h`, `1d`) in seconds; a plain count for maxretry.
	 *
	 * @param string $v Value.
	 * @return int|null
	 */
	public static function seconds( $v ) {
		if ( ! preg_match( '/^(\d+)\s*([smhdw]?)$/i', trim( (string) $v ), $m ) ) {
			return null;
		}
		$mult = array(
			''  => 1,
			's' => 1,
			'm' => 60,
			'h' => 3600,
			'd' => 86400,
			'w' => 604800,
		);
		return (int) $m[1] * $mult[ strtolower( $m[2] ) ];
	}

	/**
	 * The addresses with the most events (successes and logouts left out), with whether they reached a jail's
	 * limit: maxretry events within findtime, spam against banlog-spam, login failures against
	 * banlog-auth, abuse against its own jail (ABUSE_JAILS).
	 *
	 * @param array $events Events.
	 * @param int   $limit  How many.
	 * @return array List of array( 'ip', 'count', 'spam', 'auth', 'last', 'reached' => list of jails ).
	 */
	public static function top_addresses( array $events, $limit = 10 ) {
		$limits = self::jail_limits();
		$by = array();
		foreach ( $events as $e ) {
			if ( in_array( $e['kind'], self::AUDIT, true ) ) {
				continue;
			}
			if ( 'spam' === $e['kind'] ) {
				$jail = 'banlog-spam';
			} else {
				$jail = isset( self::ABUSE_JAILS[ $e['kind'] ] ) ? self::ABUSE_JAILS[ $e['kind'] ] : 'banlog-auth';
			}
			$by[ $e['ip'] ][ $jail ][] = $e['time'];
		}
		$out = array();
		foreach ( $by as $ip => $jails ) {
			$reached = array();
			$last = 0;
			foreach ( $jails as $jail => $times ) {
				sort( $times );
				$last = max( $last, end( $times ) );
				$max = $limits[ $jail ]['maxretry'];
				$win = $limits[ $jail ]['findtime'];
				$n = count( $times );
				for ( $i = 0; $i + $max - 1 < $n; $i++ ) {
					if ( $times[ $i + $max - 1 ] - $times[ $i ] < $win ) {
						$reached[] = $jail;
						break;
					}
				}
			}
			$spam = isset( $jails['banlog-spam'] ) ? count( $jails['banlog-spam'] ) : 0;
			// Every event of the auth stream: failed logins and abuse.
			$auth = 0;
			foreach ( $jails as $jail => $times ) {
				$auth += 'banlog-spam' === $jail ? 0 : count( $times );
			}
			$out[] = array(
				'ip'      => (string) $ip,
				'count'   => $spam + $auth,
				'spam'    => $spam,
				'auth'    => $auth,
				'last'    => $last,
				'reached' => $reached,
			);
		}
		usort(
			$out,
			function ( $a, $b ) {
				return $b['count'] === $a['count'] ? $b['last'] - $a['last'] : $b['count'] - $a['count'];
			}
		);
		return array_slice( $out, 0, $limit );
	}

	/**
	 * A stacked bar chart as inline SVG: one bar per bucket, one colour per kind, each segment with
	 * a <title> and data attributes (the tests read them).
	 *
	 * @param array  $buckets From buckets().
	 * @param string $label   Time format of the axis labels (wp_date()).
	 * @param string $id      Element id.
	 * @param int    $every   Label every this many bars.
	 * @return string SVG markup, escaped.
	 */
	public static function svg( array $buckets, $label, $id, $every = 1 ) {
		$w = 640;
		$h = 180;
		$pad_l = 32;
		$pad_b = 22;
		$n = max( 1, count( $buckets ) );
		$max = 1;
		foreach ( $buckets as $b ) {
			$max = max( $max, array_sum( $b['counts'] ) );
		}
		$slot = ( $w - $pad_l ) / $n;
		$bw = max( 2, $slot * 0.7 );
		$scale = ( $h - $pad_b - 8 ) / $max;
		$o = '<svg xmlns="http://www.w3.org/2000/svg" class="banlog-chart" id="' . esc_attr( $id ) . '" viewBox="0 0 ' . $w . ' ' . $h . '" width="100%" role="img" aria-label="' . esc_attr__( 'Events per period by kind', 'banlog' ) . '">';
		$o .= '<line x1="' . $pad_l . '" y1="' . ( $h - $pad_b ) . '" x2="' . $w . '" y2="' . ( $h - $pad_b ) . '" stroke="#c3c4c7"/>';
		$o .= '<text x="' . ( $pad_l - 4 ) . '" y="12" font-size="10" text-anchor="end" fill="#50575e">' . (int) $max . '</text>';
		$o .= '<text x="' . ( $pad_l - 4 ) . '" y="' . ( $h - $pad_b ) . '" font-size="10" text-anchor="end" fill="#50575e">0</text>';
		foreach ( $buckets as $i => $b ) {
			$x = $pad_l + $i * $slot + ( $slot - $bw ) / 2;
			$y = $h - $pad_b;
			$total = array_sum( $b['counts'] );
			$when = wp_date( $label, $b['start'] );
			$o .= '<g class="banlog-bar" data-start="' . (int) $b['start'] . '" data-total="' . (int) $total . '">';
			foreach ( $b['counts'] as $kind => $c ) {
				if ( $c <= 0 ) {
					continue;
				}
				$bh = $c * $scale;
				$y -= $bh;
				$o .= '<rect data-kind="' . esc_attr( $kind ) . '" data-count="' . (int) $c . '" x="' . round( $x, 1 ) . '" y="' . round( $y, 1 ) . '" width="' . round( $bw, 1 ) . '" height="' . round( $bh, 1 ) . '" fill="' . esc_attr( isset( self::COLORS[ $kind ] ) ? self::COLORS[ $kind ] : self::OTHER_COLOR ) . '"><title>' . esc_html( $when . ' · ' . self::kind_label( $kind ) . ': ' . $c ) . '</title></rect>';
			}
			$o .= '</g>';
			if ( 0 === $i % $every ) {
				$o .= '<text x="' . round( $x + $bw / 2, 1 ) . '" y="' . ( $h - 6 ) . '" font-size="10" text-anchor="middle" fill="#50575e">' . esc_html( $when ) . '</text>';
			}
		}
		return $o . '</svg>';
	}

	/**
	 * The legend of the kinds that occur.
	 *
	 * @param array $buckets Buckets.
	 * @return string HTML.
	 */
	public static function legend( array $buckets ) {
		$seen = array();
		foreach ( $buckets as $b ) {
			foreach ( $b['counts'] as $k => $c ) {
				if ( $c > 0 ) {
					$seen[ $k ] = ( isset( $seen[ $k ] ) ? $seen[ $k ] : 0 ) + $c;
				}
			}
		}
		if ( ! $seen ) {
			return '<p class="banlog-legend">' . esc_html__( 'No events in this period.', 'banlog' ) . '</p>';
		}
		$o = '<p class="banlog-legend">';
		foreach ( array_unique( array_merge( self::KINDS, array_keys( $seen ) ) ) as $k ) {
			if ( isset( $seen[ $k ] ) ) {
				$o .= '<span style="white-space:nowrap;margin-right:1em"><span style="display:inline-block;width:10px;height:10px;background:' . esc_attr( isset( self::COLORS[ $k ] ) ? self::COLORS[ $k ] : self::OTHER_COLOR ) . '"></span> ' . esc_html( self::kind_label( $k ) ) . ' <span class="banlog-legend-count" data-kind="' . esc_attr( $k ) . '">' . (int) $seen[ $k ] . '</span></span> ';
			}
		}
		return $o . '</p>';
	}

	/**
	 * A kind's name for people.
	 *
	 * @param string $kind Kind.
	 * @return string
	 */
	public static function kind_label( $kind ) {
		$labels = array(
			'spam'                => __( 'spam', 'banlog' ),
			'failure'             => __( 'login failure', 'banlog' ),
			'unknown_user'        => __( 'unknown user', 'banlog' ),
			'xmlrpc_failure'      => __( 'XML-RPC failure', 'banlog' ),
			'xmlrpc_unknown_user' => __( 'XML-RPC unknown user', 'banlog' ),
			'rest_failure'        => __( 'REST failure', 'banlog' ),
			'rest_unknown_user'   => __( 'REST unknown user', 'banlog' ),
			'multicall_failure'   => __( 'XML-RPC multicall failure', 'banlog' ),
			'pingback'            => __( 'failed pingback', 'banlog' ),
			'trackback'           => __( 'failed trackback', 'banlog' ),
			'comment_flood'       => __( 'comment flood', 'banlog' ),
			'user_enumeration'    => __( 'user enumeration', 'banlog' ),
			'user_enumeration_blocked' => __( 'user enumeration (refused)', 'banlog' ),
			'success'             => __( 'login success', 'banlog' ),
			'logout'              => __( 'logout', 'banlog' ),
		);
		return isset( $labels[ $kind ] ) ? $labels[ $kind ] : $kind;
	}
}
