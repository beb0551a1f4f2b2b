<?php
/**
 * Hands events to the extension, or writes them in pure PHP when the extension is not loaded.
 *
 * No method here ever throws or lets a PHP warning out: a log problem must not reach a visitor.
 * Problems are kept in $last_error and reported through a callback (the plugin stores them).
 *
 * Nothing here depends on WordPress.
 *
 * @package banlog
 */

defined( 'ABSPATH' ) || exit;

require_once __DIR__ . '/class-banlog-format.php';
require_once __DIR__ . '/class-banlog-rules.php';

/**
 * The event writer.
 */
final class Banlog_Writer {

	/** The settings, as banlog_configure() names them. */
	/**
	 * Called with (kind, address) for each event the PHP writer takes (fallback mode): the
	 * Activity view's small ring (class-banlog-activity.php). The extension keeps its own.
	 *
	 * @var callable|null
	 */
	public static $on_event = null;

	const KEYS = array( 'spam_log', 'syslog', 'syslog_facility', 'syslog_target', 'ident_host', 'auth_log', 'syslog_spam' );

	/**
	 * The extension's built-in values (php-ext/src/ini.rs), for a setting that is neither given
	 * nor set by the server (php.ini, the FPM pool, .user.ini). tests/wp/test_rules_parity.py
	 * checks them against the extension's ini_get() values.
	 */
	const BUILTIN = array(
		'spam_log'        => '',
		'syslog'          => '1',
		'syslog_facility' => 'auth',
		'syslog_target'   => '/dev/log',
		'ident_host'      => '',
		'auth_log'        => '',
		'syslog_spam'     => '0',
	);

	/** Failures are notices (as sshd and the extension log them); a success or logout is information. */
	const SEVERITY_NOTICE = 5;
	const SEVERITY_INFO   = 6;

	/**
	 * Settings, checked by Banlog_Rules and normalized; a refused one is null.
	 *
	 * @var array
	 */
	private $settings;

	/**
	 * The settings as given (for banlog_configure(), which checks them itself).
	 *
	 * @var array
	 */
	private $given;

	/**
	 * Why a setting was refused, by key (Banlog_Rules' message, the extension's words).
	 *
	 * @var array
	 */
	private $problems = array();

	/**
	 * Whether to use the extension.
	 *
	 * @var bool
	 */
	private $use_extension;

	/**
	 * Whether banlog_configure() was called in this request.
	 *
	 * @var bool
	 */
	private $configured = false;

	/**
	 * Called with (sink, message) when a sink fails.
	 *
	 * @var callable|null
	 */
	private $on_error;

	/**
	 * The last problem, as [sink, message], or null.
	 *
	 * @var array|null
	 */
	public $last_error = null;

	/**
	 * Creates a writer.
	 *
	 * @param array         $settings      spam_log, syslog, syslog_facility, syslog_target, ident_host, auth_log, syslog_spam.
	 * @param bool|null     $use_extension Null: the extension when it is loaded.
	 * @param callable|null $on_error      Called with (sink, message) on a failure.
	 */
	public function __construct( array $settings, $use_extension = null, $on_error = null ) {
		$this->given = array_intersect_key( $settings, array_flip( self::KEYS ) );
		list( $this->settings, $this->problems ) = self::check_all( $settings );
		$this->use_extension = null === $use_extension ? self::extension_loaded() : (bool) $use_extension;
		$this->on_error = $on_error;
	}

	/**
	 * Whether the banlog extension is loaded.
	 *
	 * @return bool
	 */
	public static function extension_loaded() {
		return function_exists( 'banlog_spam' ) && function_exists( 'banlog_auth' ) && function_exists( 'banlog_configure' );
	}

	/**
	 * Whether events go to the extension.
	 *
	 * @return bool
	 */
	public function uses_extension() {
		return $this->use_extension;
	}

	/**
	 * The server's value of a setting: the `banlog.*` directive in effect (php.ini, the FPM pool's
	 * php_admin_value, .user.ini), or null when the server does not say.
	 *
	 * With the extension loaded, ini_get() gives the value in effect, its built-in value included;
	 * without it, get_cfg_var() still reads a directive written in php.ini.
	 *
	 * @param string $key Setting.
	 * @return string|null
	 */
	public static function server_value( $key ) {
		$v = ini_get( 'banlog.' . $key );
		if ( false === $v ) {
			$v = get_cfg_var( 'banlog.' . $key );
		}
		return is_string( $v ) ? $v : null;
	}

	/**
	 * Whether the server sets a setting to something other than the extension's built-in value.
	 *
	 * @param string $key Setting.
	 * @return bool
	 */
	public static function server_sets( $key ) {
		$v = self::server_value( $key );
		return null !== $v && isset( self::BUILTIN[ $key ] ) && $v !== self::BUILTIN[ $key ];
	}

	/**
	 * Checks every setting with Banlog_Rules; one not given inherits the server's value.
	 *
	 * @param array $s Settings.
	 * @return array [settings (a refused one null), problems by key].
	 */
	public static function check_all( array $s ) {
		$out = array();
		$problems = array();
		foreach ( self::KEYS as $key ) {
			if ( array_key_exists( $key, $s ) ) {
				$raw = $s[ $key ];
			} else {
				$server = self::server_value( $key );
				$raw = null === $server ? self::BUILTIN[ $key ] : $server;
			}
			$r = Banlog_Rules::check( $key, $raw );
			$out[ $key ] = $r['ok'] ? $r['value'] : null;
			if ( ! $r['ok'] ) {
				$problems[ $key ] = $r['message'];
			}
		}
		return array( $out, $problems );
	}

	/**
	 * Why settings were refused, by key.
	 *
	 * @return array
	 */
	public function problems() {
		return $this->problems;
	}

	/**
	 * Reports the first refused setting a sink needs; true when there is one (the sink is skipped).
	 *
	 * @param string $sink Sink name.
	 * @param array  $keys Settings the sink needs.
	 * @return bool
	 */
	private function refused( $sink, array $keys ) {
		foreach ( $keys as $key ) {
			if ( isset( $this->problems[ $key ] ) ) {
				$this->fail( $sink, 'not written: ' . $this->problems[ $key ] );
				return true;
			}
		}
		return false;
	}

	/**
	 * The settings in use.
	 *
	 * @return array
	 */
	public function settings() {
		return $this->settings;
	}

	/**
	 * Logs a comment marked as spam.
	 *
	 * @param int    $comment_id Comment id (0 when the comment was discarded before it was stored).
	 * @param string $addr       Client address (any form; it is parsed).
	 * @return bool Whether the event was accepted.
	 */
	public function spam( $comment_id, $addr ) {
		$canon = Banlog_Format::parse_addr( $addr );
		$comment_id = (int) $comment_id;
		if ( null === $canon || $comment_id < 0 ) {
			$this->fail( 'input', 'not a client address: ' . Banlog_Format::sanitize_user( $addr ) );
			return false;
		}
		if ( $this->use_extension && $this->configure() ) {
			try {
				return (bool) banlog_spam( $comment_id, $canon );
			} catch ( Throwable $e ) {
				$this->fail( 'extension', $e->getMessage() );
				// Not lost: written below by the PHP writer.
			}
		}
		$t = Banlog_Format::now();
		if ( null !== self::$on_event ) {
			call_user_func( self::$on_event, 'spam', $canon );
		}
		$ok = true;
		if ( $this->refused( 'spam_log', array( 'spam_log' ) ) ) {
			$ok = false;
		} elseif ( '' !== $this->settings['spam_log'] ) {
			$ok = $this->append( 'spam_log', $this->settings['spam_log'], Banlog_Format::spam_line( $t, $comment_id, $canon ) . "\n" ) && $ok;
		}
		if ( $this->refused( 'syslog', array( 'syslog', 'syslog_spam' ) ) ) {
			$ok = false;
		} elseif ( $this->settings['syslog'] && $this->settings['syslog_spam'] ) {
			$ok = $this->syslog( self::SEVERITY_NOTICE, $t, Banlog_Format::spam_message( $comment_id, $canon ) ) && $ok;
		}
		return $ok;
	}

	/**
	 * Logs an authentication event.
	 *
	 * @param string $event See Banlog_Format::AUTH_LEADS.
	 * @param string $user  Untrusted user name.
	 * @param string $addr  Client address (any form; it is parsed).
	 * @return bool Whether the event was accepted.
	 */
	public function auth( $event, $user, $addr ) {
		$canon = Banlog_Format::parse_addr( $addr );
		if ( null === $canon ) {
			$this->fail( 'input', 'not a client address: ' . Banlog_Format::sanitize_user( $addr ) );
			return false;
		}
		$message = Banlog_Format::auth_message( $event, $user, $canon );
		if ( null === $message ) {
			$this->fail( 'input', 'unknown event, or a pingback code that is not an integer' );
			return false;
		}
		if ( $this->use_extension && $this->configure() ) {
			try {
				return (bool) banlog_auth( $event, is_scalar( $user ) ? (string) $user : '', $canon );
			} catch ( Throwable $e ) {
				$this->fail( 'extension', $e->getMessage() );
				// Not lost: written below by the PHP writer.
			}
		}
		$t = Banlog_Format::now();
		if ( null !== self::$on_event ) {
			call_user_func( self::$on_event, $event, $canon );
		}
		$severity = in_array( $event, Banlog_Format::INFO_EVENTS, true ) ? self::SEVERITY_INFO : self::SEVERITY_NOTICE;
		$ok = true;
		if ( $this->refused( 'syslog', array( 'syslog' ) ) ) {
			$ok = false;
		} elseif ( $this->settings['syslog'] ) {
			$ok = $this->syslog( $severity, $t, $message ) && $ok;
		}
		if ( $this->refused( 'auth_log', array( 'auth_log' ) ) ) {
			$ok = false;
		} elseif ( '' !== $this->settings['auth_log'] ) {
			$line = Banlog_Format::auth_file_line( $t, self::hostname(), $this->ident(), getmypid(), $message );
			$ok = $this->append( 'auth_log', $this->settings['auth_log'], $line . "\n" ) && $ok;
		}
		return $ok;
	}

	/**
	 * Applies the settings to the extension (once per request; the extension resets them at the end).
	 *
	 * @return bool False when the extension refused them (the event then goes to the fallback).
	 */
	public function configure() {
		if ( $this->configured ) {
			return $this->use_extension;
		}
		$this->configured = true;
		try {
			banlog_configure( $this->given );
		} catch ( Throwable $e ) {
			$this->fail( 'extension', 'settings refused: ' . $e->getMessage() );
			$this->use_extension = false;
		}
		return $this->use_extension;
	}

	/**
	 * Waits until the extension has written what it accepted.
	 *
	 * @param int $timeout_ms Bound.
	 * @return bool
	 */
	public function flush( $timeout_ms = 1000 ) {
		if ( ! $this->use_extension || ! function_exists( 'banlog_flush' ) ) {
			return true;
		}
		try {
			return (bool) banlog_flush( (int) $timeout_ms );
		} catch ( Throwable $e ) {
			return false;
		}
	}

	/**
	 * The extension's counters, or null in fallback mode.
	 *
	 * @return array|null
	 */
	public function stats() {
		if ( ! $this->use_extension || ! function_exists( 'banlog_stats' ) ) {
			return null;
		}
		$this->configure();
		try {
			$stats = banlog_stats();
			return is_array( $stats ) ? $stats : null;
		} catch ( Throwable $e ) {
			return null;
		}
	}

	/**
	 * The syslog ident.
	 *
	 * @return string
	 */
	public function ident() {
		return Banlog_Format::ident( (string) $this->settings['ident_host'] );
	}

	/**
	 * This machine's host name, as syslog writes it.
	 *
	 * @return string
	 */
	public static function hostname() {
		$h = function_exists( 'gethostname' ) ? gethostname() : false;
		if ( ! is_string( $h ) || '' === $h ) {
			return 'localhost';
		}
		$dot = strpos( $h, '.' );
		return false === $dot ? $h : substr( $h, 0, $dot );
	}

	/**
	 * Appends whole lines to a file with one write under an exclusive lock.
	 *
	 * @param string $sink  Sink name, for errors.
	 * @param string $path  Absolute path.
	 * @param string $bytes Lines, each ending in a newline.
	 * @return bool
	 */
	private function append( $sink, $path, $bytes ) {
		$checked = Banlog_Rules::log_path( $sink, $path );
		if ( ! $checked['ok'] || '' === $checked['value'] ) {
			$this->fail( $sink, 'not written: ' . ( $checked['ok'] ? 'no path' : $checked['message'] ) );
			return false;
		}
		// phpcs:disable WordPress.PHP.NoSilencedErrors.Discouraged, WordPress.WP.AlternativeFunctions
		// Never through a symbolic link, dangling ones included (fopen() would create the target),
		// as the extension opens with O_NOFOLLOW: a planted `auth.log -> uploads/x.php` would
		// put user names into a file of the attacker's choosing.
		clearstatcache( true, $path );
		if ( @is_link( $path ) ) {
			$this->fail( $sink, self::symlink_message( $path ) );
			return false;
		}
		$existed = @file_exists( $path );
		error_clear_last();
		$fh = @fopen( $path, 'ab' );
		if ( false === $fh ) {
			$this->fail( $sink, self::last_php_error( 'cannot open ' . $path ) );
			return false;
		}
		// A link swapped in between the check and fopen(): the file opened is not the one the
		// path names now. Nothing is written (PHP cannot open with O_NOFOLLOW itself).
		$opened = @fstat( $fh );
		$named = @lstat( $path );
		if ( ! is_array( $opened ) || ! is_array( $named ) || $opened['ino'] !== $named['ino'] || $opened['dev'] !== $named['dev'] ) {
			@fclose( $fh );
			$this->fail( $sink, self::symlink_message( $path ) );
			return false;
		}
		if ( ! $existed ) {
			@chmod( $path, 0640 );
		}
		$ok = false;
		if ( @flock( $fh, LOCK_EX ) ) {
			$written = @fwrite( $fh, $bytes );
			$ok = strlen( $bytes ) === $written;
			@fflush( $fh );
			@flock( $fh, LOCK_UN );
		}
		@fclose( $fh );
		// phpcs:enable
		if ( ! $ok ) {
			$this->fail( $sink, self::last_php_error( 'cannot write to ' . $path ) );
		}
		return $ok;
	}

	/**
	 * Sends one message to the configured syslog destination.
	 *
	 * The default local socket goes through PHP's own openlog()/syslog(); another socket path or a
	 * remote collector gets an RFC 3164 datagram, as the extension sends it. Over TCP the message
	 * is octet-counted (RFC 6587: its length in bytes, a space, the message), as the extension
	 * frames it, so that a collector drops a message cut short rather than logging a torn line.
	 *
	 * @param int               $severity Severity.
	 * @param DateTimeInterface $t        Local time.
	 * @param string            $message  Message.
	 * @return bool
	 */
	private function syslog( $severity, DateTimeInterface $t, $message ) {
		if ( $this->refused( 'syslog', array( 'syslog_facility', 'syslog_target' ) ) ) {
			return false;
		}
		$facility = Banlog_Rules::FACILITIES[ $this->settings['syslog_facility'] ];
		$target = $this->settings['syslog_target'];
		$ident = $this->ident();
		// phpcs:disable WordPress.PHP.NoSilencedErrors.Discouraged
		error_clear_last();
		if ( '/dev/log' === $target && function_exists( 'openlog' ) ) {
			$ok = @openlog( $ident, LOG_PID, $facility << 3 ) && @syslog( $severity, $message );
			@closelog();
			if ( ! $ok ) {
				$this->fail( 'syslog', self::last_php_error( 'syslog() failed' ) );
			}
			return $ok;
		}
		$pri = $facility * 8 + $severity;
		if ( preg_match( '#^(udp|tcp)://(.+)$#D', $target, $m ) ) {
			$msg = Banlog_Format::syslog_message( $pri, $t, self::hostname(), $ident, getmypid(), $message );
			$bytes = 'tcp' === $m[1] ? strlen( $msg ) . ' ' . $msg : $msg;
			$sock = @stream_socket_client( $target, $errno, $errstr, 1.0 );
		} else {
			$bytes = Banlog_Format::syslog_message( $pri, $t, null, $ident, getmypid(), $message );
			$sock = @stream_socket_client( 'udg://' . $target, $errno, $errstr, 1.0 );
			if ( false === $sock ) {
				$bytes .= "\n";
				$sock = @stream_socket_client( 'unix://' . $target, $errno, $errstr, 1.0 );
			}
		}
		if ( false === $sock ) {
			$this->fail( 'syslog', 'cannot connect to ' . $target . ': ' . $errstr );
			return false;
		}
		@stream_set_timeout( $sock, 1 );
		$written = @fwrite( $sock, $bytes );
		@fclose( $sock );
		// phpcs:enable
		$ok = strlen( $bytes ) === $written;
		if ( ! $ok ) {
			$this->fail( 'syslog', self::last_php_error( 'cannot send to ' . $target ) );
		}
		return $ok;
	}

	/**
	 * The message for a log path that is a symbolic link (the extension's words).
	 *
	 * @param string $path Path.
	 * @return string
	 */
	private static function symlink_message( $path ) {
		return 'cannot open ' . $path . ": it is a symbolic link, and banlog never writes through one; set the real file's path";
	}

	/**
	 * Records a failure.
	 *
	 * @param string $sink    Sink name.
	 * @param string $message What went wrong.
	 */
	private function fail( $sink, $message ) {
		$this->last_error = array( $sink, $message );
		if ( $this->on_error ) {
			try {
				call_user_func( $this->on_error, $sink, $message );
			} catch ( Throwable $e ) { // phpcs:ignore Generic.CodeAnalysis.EmptyStatement
				// Reporting must not break the page either.
			}
		}
	}

	/**
	 * The message of the last PHP warning, or a default.
	 *
	 * @param string $default Fallback text.
	 * @return string
	 */
	private static function last_php_error( $default ) {
		$e = error_get_last();
		error_clear_last();
		return is_array( $e ) && ! empty( $e['message'] ) ? $e['message'] : $default;
	}
}
