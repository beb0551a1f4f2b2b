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

/**
 * The event writer.
 */
final class Banlog_Writer {

	/** Syslog facilities by name, with their numeric code (RFC 5424). */
	const FACILITIES = array(
		'auth'     => 4,
		'authpriv' => 10,
		'user'     => 1,
		'local0'   => 16,
		'local1'   => 17,
		'local2'   => 18,
		'local3'   => 19,
		'local4'   => 20,
		'local5'   => 21,
		'local6'   => 22,
		'local7'   => 23,
	);

	/** Failures are notices (as sshd and the extension log them); a success is information. */
	const SEVERITY_NOTICE = 5;
	const SEVERITY_INFO   = 6;

	/**
	 * Settings, in the shape banlog_configure() takes.
	 *
	 * @var array
	 */
	private $settings;

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
		$this->settings = self::normalize( $settings );
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
	 * Fills in defaults and types.
	 *
	 * @param array $s Settings.
	 * @return array
	 */
	public static function normalize( array $s ) {
		$facility = isset( $s['syslog_facility'] ) ? strtolower( (string) $s['syslog_facility'] ) : 'auth';
		return array(
			'spam_log'        => isset( $s['spam_log'] ) ? (string) $s['spam_log'] : '',
			'syslog'          => ! empty( $s['syslog'] ),
			'syslog_facility' => isset( self::FACILITIES[ $facility ] ) ? $facility : 'auth',
			'syslog_target'   => isset( $s['syslog_target'] ) && '' !== $s['syslog_target'] ? (string) $s['syslog_target'] : '/dev/log',
			'ident_host'      => isset( $s['ident_host'] ) ? (string) Banlog_Format::sanitize_ident_host( $s['ident_host'] ) : '',
			'auth_log'        => isset( $s['auth_log'] ) ? (string) $s['auth_log'] : '',
			'syslog_spam'     => ! empty( $s['syslog_spam'] ),
		);
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
		// Id 0: a comment discarded before it was stored. An extension older than 0.1 refuses it;
		// then the PHP writer below writes the same line.
		if ( $this->use_extension && $this->configure() ) {
			try {
				return (bool) banlog_spam( $comment_id, $canon );
			} catch ( Throwable $e ) {
				$this->fail( 'extension', $e->getMessage() );
				// Not lost: written below by the PHP writer.
			}
		}
		$t = Banlog_Format::now();
		$ok = true;
		if ( '' !== $this->settings['spam_log'] ) {
			$ok = $this->append( 'spam_log', $this->settings['spam_log'], Banlog_Format::spam_line( $t, $comment_id, $canon ) . "\n" ) && $ok;
		}
		if ( $this->settings['syslog'] && $this->settings['syslog_spam'] ) {
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
			$this->fail( 'input', 'unknown event' );
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
		$severity = 'success' === $event ? self::SEVERITY_INFO : self::SEVERITY_NOTICE;
		$ok = true;
		if ( $this->settings['syslog'] ) {
			$ok = $this->syslog( $severity, $t, $message ) && $ok;
		}
		if ( '' !== $this->settings['auth_log'] ) {
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
			banlog_configure( $this->settings );
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
		return Banlog_Format::ident( $this->settings['ident_host'] );
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
		if ( ! self::is_safe_path( $path ) ) {
			$this->fail( $sink, 'refusing to write to ' . Banlog_Format::sanitize_user( $path ) );
			return false;
		}
		// phpcs:disable WordPress.PHP.NoSilencedErrors.Discouraged, WordPress.WP.AlternativeFunctions
		$existed = @file_exists( $path );
		error_clear_last();
		$fh = @fopen( $path, 'ab' );
		if ( false === $fh ) {
			$this->fail( $sink, self::last_php_error( 'cannot open ' . $path ) );
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
	 * remote collector gets an RFC 3164 datagram (or a line over TCP), as the extension sends it.
	 *
	 * @param int               $severity Severity.
	 * @param DateTimeInterface $t        Local time.
	 * @param string            $message  Message.
	 * @return bool
	 */
	private function syslog( $severity, DateTimeInterface $t, $message ) {
		$facility = self::FACILITIES[ $this->settings['syslog_facility'] ];
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
			$bytes = 'tcp' === $m[1] ? $msg . "\n" : $msg;
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
	 * A log path the plugin will write to: absolute, no control characters, no `..`, not an
	 * executable script name.
	 *
	 * @param string $path Path.
	 * @return bool
	 */
	public static function is_safe_path( $path ) {
		return null === self::path_problem( $path );
	}

	/**
	 * Why a log path is refused, or null.
	 *
	 * @param string $path Path.
	 * @return string|null A problem code: relative, control, traversal, directory, executable.
	 */
	public static function path_problem( $path ) {
		$path = (string) $path;
		if ( '' === $path || '/' !== $path[0] ) {
			return 'relative';
		}
		if ( preg_match( '/[\x00-\x1f\x7f]/', $path ) ) {
			return 'control';
		}
		// `..` hides where the file really is (the web-root warning and the reader of the
		// settings would both be misled): the real path is asked for instead.
		if ( preg_match( '#(^|/)\.\.(/|$)#', $path ) ) {
			return 'traversal';
		}
		if ( '/' === substr( $path, -1 ) || @is_dir( $path ) ) { // phpcs:ignore WordPress.PHP.NoSilencedErrors.Discouraged
			return 'directory';
		}
		$base = basename( $path );
		// Any executable extension among the name's extensions (Apache may run `x.php.log`),
		// and the per-directory config files PHP and Apache read.
		if ( preg_match( '/\.(php\d*|phtml?|pht|phar|phps|pgif|shtml?|cgi|pl|py|asp|aspx|jsp)(\.|$)/i', $base )
			|| preg_match( '/^\.(htaccess|htpasswd|user\.ini)$/i', $base ) || 'php.ini' === strtolower( $base ) ) {
			return 'executable';
		}
		return null;
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
