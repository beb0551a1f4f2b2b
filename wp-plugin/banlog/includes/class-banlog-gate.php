<?php
/**
 * The in-process gate: refuses (403) a login POST, an XML-RPC request or a comment post from a
 * client that has already reached a jail's limit, before WordPress checks a password or writes to
 * the database. fail2ban bans that client anyway once it reads the log; the gate closes the gap
 * until its firewall rule is in place. Needs the extension's pool-wide event ring
 * (`banlog_gate()`); without the extension there is no gate.
 *
 * @package banlog
 */

defined( 'ABSPATH' ) || exit;

/**
 * The gate's rules and its check.
 */
final class Banlog_Gate {

	/**
	 * The jails the gate follows, with the shipped jails' values (filters/jail.d/banlog.conf, the
	 * plugin's fail2ban/jail.d/banlog.conf; a test compares them jail by jail). `kinds` is what
	 * `banlog_gate()` counts: the filter mode of banlog-auth (soft, hard) or spam.
	 */
	const JAILS = array(
		'soft' => array(
			'jail'     => 'banlog-auth',
			'kinds'    => 'soft',
			'maxretry' => 5,
			'findtime' => 600,
		),
		'hard' => array(
			'jail'     => 'banlog-auth-hard',
			'kinds'    => 'hard',
			'maxretry' => 1,
			'findtime' => 3600,
		),
		'spam' => array(
			'jail'     => 'banlog-spam',
			'kinds'    => 'spam',
			'maxretry' => 5,
			'findtime' => 3600,
		),
	);

	/** The longest findtime the extension accepts, in seconds (ten years). */
	const MAX_FINDTIME = 315360000;
	/** The largest maxretry the page accepts (the ring holds 4096 events: more is never reached). */
	const MAX_RETRY = 4096;

	/**
	 * Whether the gate can work here: the extension is loaded.
	 *
	 * @return bool
	 */
	public static function available() {
		return function_exists( 'banlog_gate' ) && ! ( defined( 'BANLOG_FORCE_FALLBACK' ) && BANLOG_FORCE_FALLBACK );
	}

	/**
	 * The gate's options and their defaults: off; each jail's maxretry and findtime.
	 *
	 * @return array
	 */
	public static function defaults() {
		$d = array( 'gate' => 0 );
		foreach ( self::JAILS as $key => $jail ) {
			$d[ 'gate_' . $key . '_maxretry' ] = $jail['maxretry'];
			$d[ 'gate_' . $key . '_findtime' ] = $jail['findtime'];
		}
		return $d;
	}

	/**
	 * The installed jails' values where they set them (/etc/fail2ban/jail.d/banlog.conf, then
	 * banlog.local, as `banlog install` writes them), for the page to compare with the gate's.
	 *
	 * @param array|null $files The files, later ones over earlier ones (null: those two).
	 * @return array key of JAILS => array( 'maxretry' => int, 'findtime' => int, 'source' => path ), each part only when set.
	 */
	public static function installed_limits( $files = null ) {
		$out = array();
		$files = null === $files ? array( '/etc/fail2ban/jail.d/banlog.conf', '/etc/fail2ban/jail.d/banlog.local' ) : $files;
		foreach ( $files as $file ) {
			$ini = Banlog_Activity::read_jail( $file );
			foreach ( self::JAILS as $key => $jail ) {
				foreach ( array( 'maxretry', 'findtime' ) as $k ) {
					$v = isset( $ini[ $jail['jail'] ][ $k ] ) ? Banlog_Activity::seconds( $ini[ $jail['jail'] ][ $k ] ) : null;
					if ( null !== $v ) {
						$out[ $key ][ $k ]       = $v;
						$out[ $key ]['source'] = $file;
					}
				}
			}
		}
		return $out;
	}

	/**
	 * The request kinds the gate guards, or null: a POST to wp-login.php, any XML-RPC request, a
	 * POST to wp-comments-post.php.
	 *
	 * @param string $pagenow WordPress's $pagenow.
	 * @param string $method  The request method.
	 * @param bool   $xmlrpc  Whether XMLRPC_REQUEST is set.
	 * @return string|null 'login', 'xmlrpc' or 'comment'.
	 */
	public static function guarded( $pagenow, $method, $xmlrpc ) {
		if ( $xmlrpc ) {
			return 'xmlrpc';
		}
		if ( 'POST' !== strtoupper( (string) $method ) ) {
			return null;
		}
		if ( 'wp-login.php' === $pagenow ) {
			return 'login';
		}
		return 'wp-comments-post.php' === $pagenow ? 'comment' : null;
	}

	/**
	 * The first jail whose limit the address has reached, or null. A jail with maxretry 0 is not
	 * followed. Any problem of the look-up lets the request through.
	 *
	 * @param string $addr The client's address.
	 * @param array  $o    The options in effect.
	 * @return string|null The jail's name.
	 */
	public static function reached( $addr, array $o ) {
		if ( ! self::available() ) {
			return null;
		}
		try {
			// In flight from now on (until this request logs an event for the client, or ends),
			// before asking: two requests asking at the same moment then see each other.
			banlog_gate_enter( (string) $addr );
		} catch ( Throwable $e ) {
			return null; // Fail open.
		}
		foreach ( self::JAILS as $key => $jail ) {
			$max  = isset( $o[ 'gate_' . $key . '_maxretry' ] ) ? (int) $o[ 'gate_' . $key . '_maxretry' ] : 0;
			$find = isset( $o[ 'gate_' . $key . '_findtime' ] ) ? (int) $o[ 'gate_' . $key . '_findtime' ] : 0;
			if ( $max < 1 || $find < 1 ) {
				continue;
			}
			try {
				if ( banlog_gate( $jail['kinds'], (string) $addr, $max, min( $find, self::MAX_FINDTIME ) ) ) {
					return $jail['jail'];
				}
			} catch ( Throwable $e ) {
				continue; // Fail open.
			}
		}
		return null;
	}

	/**
	 * Ends the request with 403 at once. Nothing is logged: fail2ban has counted this client's
	 * limit already, and a line per refused request would only feed the log.
	 */
	public static function refuse() {
		if ( ! headers_sent() ) {
			status_header( 403 );
			nocache_headers();
			header( 'Content-Type: text/plain; charset=UTF-8' );
		}
		echo "Forbidden\n";
		exit;
	}
}
