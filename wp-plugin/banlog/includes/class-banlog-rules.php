<?php
/**
 * The rulebook for settings: log paths, syslog facilities, syslog destinations, ident host.
 *
 * GENERATED from core/src/rules.rs (its tables) and core/src/rules.php.in (this code) by
 * `make rules-php`; do not edit here. A Rust test fails while this file is stale, and
 * tests/wp/test_rules_parity.py checks every rule against the extension's banlog_configure().
 *
 * The one rule that is not here: a log path under WordPress's uploads folder is refused by the
 * plugin alone (Banlog_Plugin::path_problem()), because only WordPress knows that folder.
 *
 * Nothing here depends on WordPress.
 *
 * @package banlog
 */

defined( 'ABSPATH' ) || exit;

/**
 * The rules, as the extension applies them.
 */
final class Banlog_Rules {

	/** Characters cut from both ends of a text setting. */
	const TRIM = "\x20\x09\x0A\x0D\x0B\x0C";

	/** What a log file's name must end in (any ASCII case). */
	const LOG_SUFFIX = '.log';

	/** Extensions a web server may run; refused among a log name's inner extensions (and php + digits). */
	const EXECUTABLE_EXTENSIONS = array( 'php', 'phtml', 'phtm', 'pht', 'phar', 'phps', 'pgif', 'inc', 'cgi', 'fcgi', 'pl', 'pm', 'py', 'rb', 'sh', 'bash', 'asp', 'aspx', 'ashx', 'asmx', 'jsp', 'jspx', 'cfm', 'shtml', 'shtm', 'stm' );

	/** Extensions a web server may serve as a page or script; refused among the inner extensions. */
	const MARKUP_EXTENSIONS = array( 'html', 'htm', 'xhtml', 'xht', 'xml', 'xsl', 'xslt', 'svg', 'svgz', 'js', 'mjs', 'mht', 'mhtml', 'swf' );

	/** Files PHP or a web server reads as configuration (lower case). */
	const CONFIG_NAMES = array( '.htaccess', '.htpasswd', '.user.ini', 'php.ini' );

	/** Flag words. */
	const FLAG_TRUE  = array( '1', 'on', 'yes', 'true' );
	const FLAG_FALSE = array( '', '0', 'off', 'no', 'false', 'none' );

	/** Longest destination host name, and label. */
	const MAX_HOST_LEN  = 253;
	const MAX_LABEL_LEN = 63;

	/** Syslog facilities with their codes (RFC 5424), in the order the options page lists them. */
	const FACILITIES = array(
		'auth'     => 4,
		'authpriv' => 10,
		'user'     => 1,
		'daemon'   => 3,
		'local0'   => 16,
		'local1'   => 17,
		'local2'   => 18,
		'local3'   => 19,
		'local4'   => 20,
		'local5'   => 21,
		'local6'   => 22,
		'local7'   => 23,
	);

	/** Messages by rule: {key} the setting, {value} the trimmed value, {ext} the extension. */
	const MESSAGES = array(
		'type_string' => 'setting \'{key}\' must be a string',
		'type_utf8' => 'setting \'{key}\' must be UTF-8 text',
		'type_flag' => 'setting \'{key}\' must be a boolean (true/false, 1/0, on/off)',
		'path_control' => 'setting \'{key}\': the path must not contain control characters',
		'path_relative' => 'setting \'{key}\': the path \'{value}\' must be absolute (start with /)',
		'path_traversal' => 'setting \'{key}\': the path \'{value}\' must not contain ".."; name the directory itself',
		'path_directory' => 'setting \'{key}\': \'{value}\' ends in / and so names a directory; give a file name ending in .log',
		'path_config' => 'setting \'{key}\': \'{value}\' is a file PHP or the web server reads as configuration; a user name written into it could change how the site runs',
		'path_not_log' => 'setting \'{key}\': the file name of \'{value}\' must end in .log (such as /var/log/wordpress/auth.log), so that no web server runs it or serves it as a page',
		'path_executable' => 'setting \'{key}\': the file name of \'{value}\' contains the extension .{ext}, which a web server may run as a program (Apache runs x.php.log as PHP); a user name written into it could run as code',
		'path_markup' => 'setting \'{key}\': the file name of \'{value}\' contains the extension .{ext}, which a web server may serve as a page or script (Apache takes the type from any extension of a name); a user name written into it could run in a browser',
		'facility' => 'setting \'{key}\': \'{value}\' is not one of auth, authpriv, user, daemon, local0 .. local7',
		'target_control' => 'setting \'{key}\': the destination must not contain control characters',
		'target_form' => 'setting \'{key}\': \'{value}\' is not a socket path (/dev/log, unix:///run/x.sock), udp://host:port or tcp://host:port',
		'target_host' => 'setting \'{key}\': in \'{value}\' the host must be a host name, an IPv4 address or an IPv6 address in brackets (udp://[2001:db8::1]:514)',
		'target_port' => 'setting \'{key}\': in \'{value}\' the port must be a number from 1 to 65535',
	);

	/**
	 * A refusal.
	 *
	 * @param string $code  Rule code (a key of MESSAGES).
	 * @param string $key   Setting.
	 * @param string $value Value, trimmed ('' where the message does not show it).
	 * @param string $ext   Extension.
	 * @return array [ok => false, code, message].
	 */
	private static function refuse( $code, $key, $value = '', $ext = '' ) {
		// A control character of the shown value becomes U+FFFD: a message is one line of text.
		$value = preg_replace( '/[\x{0}-\x{1f}\x{7f}-\x{9f}]/u', "\u{fffd}", $value );
		return array(
			'ok'      => false,
			'code'    => $code,
			'ext'     => $ext,
			'message' => str_replace( array( '{key}', '{value}', '{ext}' ), array( $key, $value, $ext ), self::MESSAGES[ $code ] ),
		);
	}

	/**
	 * An acceptance.
	 *
	 * @param mixed $value Normalized value.
	 * @return array [ok => true, value].
	 */
	private static function accept( $value ) {
		return array(
			'ok'    => true,
			'value' => $value,
		);
	}

	/**
	 * Cuts TRIM characters from both ends.
	 *
	 * @param string $s Text.
	 * @return string
	 */
	public static function trim( $s ) {
		return trim( (string) $s, self::TRIM );
	}

	/**
	 * Whether text is valid UTF-8.
	 *
	 * @param string $s Text.
	 * @return bool
	 */
	public static function is_utf8( $s ) {
		return 1 === preg_match( '//u', (string) $s );
	}

	/**
	 * Whether UTF-8 text holds a control character (C0, DEL, C1).
	 *
	 * @param string $s UTF-8 text.
	 * @return bool
	 */
	private static function has_control( $s ) {
		return 1 === preg_match( '/[\x{0}-\x{1f}\x{7f}-\x{9f}]/u', $s );
	}

	/**
	 * Whether an extension (lower case, no dot) is one a web server may run.
	 *
	 * @param string $ext Extension.
	 * @return bool
	 */
	public static function is_executable( $ext ) {
		return in_array( $ext, self::EXECUTABLE_EXTENSIONS, true ) || 1 === preg_match( '/^php[0-9]+$/D', $ext );
	}

	/**
	 * Checks a log file path (UTF-8 text).
	 *
	 * @param string $key Setting, for the message.
	 * @param string $raw Path.
	 * @return array [ok, value ('' = the log is off)] or [ok => false, code, message].
	 */
	public static function log_path( $key, $raw ) {
		$s = self::trim( $raw );
		if ( '' === $s ) {
			return self::accept( '' );
		}
		if ( self::has_control( $s ) ) {
			return self::refuse( 'path_control', $key );
		}
		if ( '/' !== $s[0] ) {
			return self::refuse( 'path_relative', $key, $s );
		}
		if ( in_array( '..', explode( '/', $s ), true ) ) {
			return self::refuse( 'path_traversal', $key, $s );
		}
		$slash = strrpos( $s, '/' );
		$name = strtolower( substr( $s, $slash + 1 ) );
		if ( '' === $name ) {
			return self::refuse( 'path_directory', $key, $s );
		}
		if ( in_array( $name, self::CONFIG_NAMES, true ) ) {
			return self::refuse( 'path_config', $key, $s );
		}
		$suffix = strlen( self::LOG_SUFFIX );
		if ( strlen( $name ) <= $suffix || self::LOG_SUFFIX !== substr( $name, -$suffix ) ) {
			return self::refuse( 'path_not_log', $key, $s );
		}
		$inner = array_slice( explode( '.', $name ), 1, -1 );
		foreach ( $inner as $ext ) {
			if ( self::is_executable( $ext ) ) {
				return self::refuse( 'path_executable', $key, $s, $ext );
			}
		}
		foreach ( $inner as $ext ) {
			if ( in_array( $ext, self::MARKUP_EXTENSIONS, true ) ) {
				return self::refuse( 'path_markup', $key, $s, $ext );
			}
		}
		return self::accept( $s );
	}

	/**
	 * A facility by name (any case, `LOG_` prefix allowed).
	 *
	 * @param string $raw Name.
	 * @return array|null [canonical name, code].
	 */
	public static function facility( $raw ) {
		$s = strtolower( self::trim( $raw ) );
		if ( 0 === strpos( $s, 'log_' ) ) {
			$s = substr( $s, 4 );
		}
		return isset( self::FACILITIES[ $s ] ) ? array( $s, self::FACILITIES[ $s ] ) : null;
	}

	/**
	 * Checks a syslog destination (UTF-8 text).
	 *
	 * @param string $key Setting, for the message.
	 * @param string $raw Destination.
	 * @return array [ok, value, kind (unix, udp, tcp), addr (socket path, or host:port)] or a refusal.
	 */
	public static function target( $key, $raw ) {
		$s = self::trim( $raw );
		if ( self::has_control( $s ) ) {
			return self::refuse( 'target_control', $key );
		}
		foreach ( array( 'udp', 'tcp' ) as $scheme ) {
			if ( 0 === strpos( $s, $scheme . '://' ) ) {
				$rest = substr( $s, strlen( $scheme ) + 3 );
				$problem = self::host_port_problem( $rest );
				if ( null !== $problem ) {
					return self::refuse( $problem, $key, $s );
				}
				$r = self::accept( $scheme . '://' . $rest );
				$r['kind'] = $scheme;
				$r['addr'] = $rest;
				return $r;
			}
		}
		$path = 0 === strpos( $s, 'unix://' ) ? substr( $s, 7 ) : $s;
		if ( '' === $path || '/' !== $path[0] ) {
			return self::refuse( 'target_form', $key, $s );
		}
		$r = self::accept( $path );
		$r['kind'] = 'unix';
		$r['addr'] = $path;
		return $r;
	}

	/**
	 * What is wrong with `host:port`, or null.
	 *
	 * @param string $s Host and port.
	 * @return string|null A rule code.
	 */
	private static function host_port_problem( $s ) {
		$host = null;
		if ( '' !== $s && '[' === $s[0] ) {
			$close = strpos( $s, ']' );
			if ( false === $close ) {
				return 'target_host';
			}
			$v6 = substr( $s, 1, $close - 1 );
			if ( false === strpos( $v6, ':' ) || null === Banlog_Format::parse_addr( $v6 ) ) {
				return 'target_host';
			}
			$after = substr( $s, $close + 1 );
			if ( '' === $after || ':' !== $after[0] ) {
				return 'target_port';
			}
			$port = substr( $after, 1 );
		} else {
			$colon = strrpos( $s, ':' );
			if ( false === $colon ) {
				return 'target_port';
			}
			$host = substr( $s, 0, $colon );
			$port = substr( $s, $colon + 1 );
		}
		if ( null !== $host && ! self::is_host_name( $host ) ) {
			return 'target_host';
		}
		if ( ! preg_match( '/^[0-9]{1,5}$/D', $port ) || (int) $port < 1 || (int) $port > 65535 ) {
			return 'target_port';
		}
		return null;
	}

	/**
	 * A host name or IPv4 address: dot-separated labels of letters, digits, - and _, none empty,
	 * none starting with -.
	 *
	 * @param string $h Host.
	 * @return bool
	 */
	private static function is_host_name( $h ) {
		if ( strlen( $h ) > self::MAX_HOST_LEN ) {
			return false;
		}
		foreach ( explode( '.', $h ) as $label ) {
			if ( '' === $label || strlen( $label ) > self::MAX_LABEL_LEN || '-' === $label[0]
				|| ! preg_match( '/^[A-Za-z0-9_\-]+$/D', $label ) ) {
				return false;
			}
		}
		return true;
	}

	/**
	 * A boolean written as text, or null.
	 *
	 * @param string $raw Text.
	 * @return bool|null
	 */
	public static function flag_text( $raw ) {
		$s = strtolower( self::trim( $raw ) );
		if ( in_array( $s, self::FLAG_TRUE, true ) ) {
			return true;
		}
		return in_array( $s, self::FLAG_FALSE, true ) ? false : null;
	}

	/**
	 * Checks one setting as banlog_configure() does, with the same message when it is refused.
	 *
	 * @param string $key   spam_log, auth_log, syslog, syslog_spam, syslog_facility, syslog_target, ident_host.
	 * @param mixed  $value Value.
	 * @return array [ok => true, value (normalized)] or [ok => false, code, message].
	 */
	public static function check( $key, $value ) {
		if ( 'syslog' === $key || 'syslog_spam' === $key ) {
			if ( is_bool( $value ) ) {
				return self::accept( $value );
			}
			if ( is_int( $value ) ) {
				return self::accept( 0 !== $value );
			}
			if ( null === $value ) {
				return self::accept( false );
			}
			$flag = is_string( $value ) ? self::flag_text( $value ) : null;
			return null === $flag ? self::refuse( 'type_flag', $key ) : self::accept( $flag );
		}
		if ( null === $value ) {
			$value = '';
		}
		if ( ! is_string( $value ) ) {
			return self::refuse( 'type_string', $key );
		}
		if ( ! self::is_utf8( $value ) ) {
			return self::refuse( 'type_utf8', $key );
		}
		switch ( $key ) {
			case 'spam_log':
			case 'auth_log':
				return self::log_path( $key, $value );
			case 'syslog_facility':
				$f = self::facility( $value );
				return null === $f ? self::refuse( 'facility', $key, self::trim( $value ) ) : self::accept( $f[0] );
			case 'syslog_target':
				return self::target( $key, $value );
			case 'ident_host':
				$host = Banlog_Format::sanitize_ident_host( self::trim( $value ) );
				if ( null === $host ) {
					return array(
						'ok'      => false,
						'code'    => 'ident_host',
						'message' => "setting 'ident_host': the site host may only hold letters, digits, '.', '-', ':' and an IPv6 literal in brackets, and at most 253 characters",
					);
				}
				return self::accept( $host );
		}
		return array(
			'ok'      => false,
			'code'    => 'unknown',
			'message' => 'unknown setting',
		);
	}
}
