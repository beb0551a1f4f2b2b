<?php
/**
 * Local spam checks: asks a SpamAssassin daemon (spamd) about a new comment with the SPAMC/SPAMD
 * protocol (`CHECK SPAMC/1.5`), within a short total time budget.
 *
 * Nothing in this file depends on WordPress beyond what the caller passes in, so the tests can
 * load it from the PHP command line.
 *
 * @package banlog
 */

defined( 'ABSPATH' ) || exit;

/**
 * A spamd client.
 */
final class Banlog_Spamd {

	/** Seconds a check may take in all (connect, send, answer) unless the site admin chooses. */
	const DEFAULT_TIMEOUT = 2.0;
	/** The shortest and longest budget the options page accepts, in seconds. */
	const MIN_TIMEOUT = 0.1;
	const MAX_TIMEOUT = 10.0;
	/** Bytes of the comment sent at most (spamd skips messages over 500 kB anyway). */
	const MAX_BODY = 262144;
	/** Bytes of spamd's answer read at most (CHECK answers with a few header lines). */
	const MAX_ANSWER = 8192;

	/**
	 * Stream address, e.g. tcp://127.0.0.1:783 or unix:///run/spamd.sock.
	 *
	 * @var string
	 */
	private $remote;

	/**
	 * Total seconds.
	 *
	 * @var float
	 */
	private $timeout;

	/**
	 * Why the last check failed, or null.
	 *
	 * @var string|null
	 */
	public $last_problem = null;

	/**
	 * A client for a configured address.
	 *
	 * @param string $address `host:port`, `[v6]:port` or an absolute unix socket path.
	 * @param float  $timeout Total seconds.
	 * @throws InvalidArgumentException When the address is not one of those forms.
	 */
	public function __construct( $address, $timeout = self::DEFAULT_TIMEOUT ) {
		$remote = self::remote( $address );
		if ( null === $remote ) {
			throw new InvalidArgumentException( self::address_problem( $address ) );
		}
		$this->remote = $remote;
		$this->timeout = self::clamp_timeout( $timeout );
	}

	/**
	 * A timeout as a float within the accepted bounds (the default when it is no number).
	 *
	 * @param mixed $timeout Seconds.
	 * @return float
	 */
	public static function clamp_timeout( $timeout ) {
		if ( ! is_numeric( $timeout ) ) {
			return self::DEFAULT_TIMEOUT;
		}
		return max( self::MIN_TIMEOUT, min( self::MAX_TIMEOUT, (float) $timeout ) );
	}

	/**
	 * The stream address of a spamd address as the site admin writes it, or null.
	 *
	 * @param mixed $address `host:port`, `[v6]:port` or an absolute unix socket path.
	 * @return string|null
	 */
	public static function remote( $address ) {
		return null === self::address_problem( $address ) ? self::to_remote( trim( (string) $address ) ) : null;
	}

	/**
	 * Why an address is refused, or null when it is usable.
	 *
	 * @param mixed $address The address.
	 * @return string|null
	 */
	public static function address_problem( $address ) {
		if ( ! is_string( $address ) ) {
			return 'spamd address: not text';
		}
		$a = trim( $address );
		if ( '' === $a ) {
			return 'spamd address: empty';
		}
		if ( preg_match( '/[\x00-\x20\x7f]/', $a ) ) {
			return 'spamd address: no spaces or control characters';
		}
		if ( '/' === $a[0] ) {
			// sun_path holds 108 bytes with the terminating NUL.
			return strlen( $a ) <= 107 ? null : 'spamd address: a unix socket path is at most 107 bytes';
		}
		if ( ! preg_match( '/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}))?:([0-9]{1,5})$/D', $a, $m ) || '' === $m[1] ) {
			return 'spamd address: give host:port (e.g. 127.0.0.1:783, [::1]:783) or the absolute path of a unix socket';
		}
		$port = (int) $m[2];
		if ( $port < 1 || $port > 65535 ) {
			return 'spamd address: the port must be 1 to 65535';
		}
		if ( '[' === $m[1][0] && false === @inet_pton( substr( $m[1], 1, -1 ) ) ) { // phpcs:ignore WordPress.PHP.NoSilencedErrors.Discouraged
			return 'spamd address: not an IPv6 address in the brackets';
		}
		return null;
	}

	/**
	 * Stream address of a checked address.
	 *
	 * @param string $a Checked address.
	 * @return string
	 */
	private static function to_remote( $a ) {
		return '/' === $a[0] ? 'unix://' . $a : 'tcp://' . $a;
	}

	/**
	 * The comment as a small RFC 5322 message: the header fields spamd's rules read, the text
	 * (and the author's site, where spam hides its link) as the body. Every header value is
	 * one line of printable ASCII (names in RFC 2047 encoding), whatever the visitor sent.
	 *
	 * @param array  $comment   WordPress comment data (comment_author, comment_author_email,
	 *                          comment_author_url, comment_content, comment_post_ID).
	 * @param string $site_host The site's host, for the Message-ID and the recipient.
	 * @param int    $time      Unix time of the submission.
	 * @return string
	 */
	public static function message( array $comment, $site_host, $time ) {
		$field = function ( $key ) use ( $comment ) {
			return isset( $comment[ $key ] ) && is_scalar( $comment[ $key ] ) ? (string) $comment[ $key ] : '';
		};
		$host = preg_match( '/^[A-Za-z0-9.-]{1,253}$/D', (string) $site_host ) ? (string) $site_host : 'localhost';
		$email = $field( 'comment_author_email' );
		if ( ! preg_match( '/^[A-Za-z0-9.!#$%&\'*+\/=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]{1,253}$/D', $email ) ) {
			$email = 'unknown@invalid';
		}
		$name = self::header_text( $field( 'comment_author' ) );
		$url = self::one_line( $field( 'comment_author_url' ) );
		$body = str_replace( array( "\r\n", "\r" ), "\n", $field( 'comment_content' ) );
		if ( '' !== $url ) {
			$body .= "\n\n" . $url;
		}
		$body = substr( $body, 0, self::MAX_BODY );
		$headers = array(
			'From: ' . ( '' === $name ? '' : $name . ' ' ) . '<' . $email . '>',
			'To: <comments@' . $host . '>',
			'Subject: Comment on post ' . (int) $field( 'comment_post_ID' ),
			'Date: ' . gmdate( 'D, d M Y H:i:s +0000', (int) $time ),
			'Message-ID: <banlog-' . bin2hex( random_bytes( 8 ) ) . '@' . $host . '>',
			'MIME-Version: 1.0',
			'Content-Type: text/plain; charset=UTF-8',
			'Content-Transfer-Encoding: 8bit',
		);
		return implode( "\r\n", $headers ) . "\r\n\r\n" . str_replace( "\n", "\r\n", $body ) . "\r\n";
	}

	/**
	 * One line without controls.
	 *
	 * @param string $s Text.
	 * @return string
	 */
	private static function one_line( $s ) {
		return trim( (string) preg_replace( '/[\x00-\x1f\x7f]+/', ' ', $s ) );
	}

	/**
	 * A display name for a header: as a quoted string when it is plain ASCII, else RFC 2047.
	 *
	 * @param string $s Name.
	 * @return string
	 */
	private static function header_text( $s ) {
		$s = self::one_line( substr( $s, 0, 256 ) );
		if ( '' === $s ) {
			return '';
		}
		if ( preg_match( '/^[\x20-\x7e]*$/D', $s ) && ! preg_match( '/["\\\\]/', $s ) ) {
			return '"' . $s . '"';
		}
		return '=?UTF-8?B?' . base64_encode( $s ) . '?=';
	}

	/**
	 * Reads spamd's answer to CHECK.
	 *
	 * @param string $raw The answer.
	 * @return array|string ['spam' => bool, 'score' => float, 'threshold' => float], or why not.
	 */
	public static function parse_answer( $raw ) {
		$raw = (string) $raw;
		if ( ! preg_match( '/^SPAMD\/(\d+\.\d+) (\d+) ([^\r\n]*)\r?\n/', $raw, $m ) ) {
			return 'not a spamd answer: ' . self::one_line( substr( $raw, 0, 80 ) );
		}
		if ( '0' !== $m[2] ) {
			return 'spamd answered ' . $m[2] . ' ' . self::one_line( $m[3] );
		}
		if ( ! preg_match( '/^Spam:\s*(True|False|Yes|No)\s*;\s*(-?\d+(?:\.\d+)?)\s*\/\s*(-?\d+(?:\.\d+)?)\s*\r?$/mi', $raw, $s ) ) {
			return 'spamd sent no Spam: header';
		}
		$verdict = strtolower( $s[1] );
		return array(
			'spam'      => 'true' === $verdict || 'yes' === $verdict,
			'score'     => (float) $s[2],
			'threshold' => (float) $s[3],
		);
	}

	/**
	 * Asks spamd about one message, never longer than the budget.
	 *
	 * @param string $message RFC 5322 message.
	 * @return array|null See parse_answer(); null when spamd could not be asked (why: $last_problem).
	 */
	public function check( $message ) {
		$this->last_problem = null;
		$deadline = microtime( true ) + $this->timeout;
		$errno = 0;
		$errstr = '';
		// phpcs:disable WordPress.PHP.NoSilencedErrors.Discouraged, WordPress.WP.AlternativeFunctions
		$fp = @stream_socket_client( $this->remote, $errno, $errstr, $this->timeout );
		if ( false === $fp ) {
			return $this->fail( sprintf( 'cannot connect to %s: %s', $this->remote, '' === $errstr ? 'error ' . $errno : $errstr ) );
		}
		stream_set_blocking( $fp, false );
		$request = "CHECK SPAMC/1.5\r\nContent-length: " . strlen( $message ) . "\r\n\r\n" . $message;
		$sent = 0;
		$answer = '';
		$done_sending = false;
		while ( true ) {
			$left = $deadline - microtime( true );
			if ( $left <= 0 ) {
				fclose( $fp );
				return $this->fail( sprintf( '%s did not answer within %s s', $this->remote, $this->timeout ) );
			}
			$read = array( $fp );
			$write = $done_sending ? array() : array( $fp );
			$except = array();
			$n = @stream_select( $read, $write, $except, (int) $left, (int) ( ( $left - (int) $left ) * 1e6 ) );
			if ( false === $n ) {
				fclose( $fp );
				return $this->fail( 'waiting for spamd failed' );
			}
			if ( $write ) {
				$w = @fwrite( $fp, substr( $request, $sent, 65536 ) );
				if ( false === $w ) {
					fclose( $fp );
					return $this->fail( sprintf( 'sending to %s failed', $this->remote ) );
				}
				$sent += $w;
				$done_sending = $sent >= strlen( $request );
			}
			if ( $read ) {
				$chunk = @fread( $fp, self::MAX_ANSWER );
				if ( false === $chunk || ( '' === $chunk && feof( $fp ) ) ) {
					break; // spamd closes the connection after its answer.
				}
				$answer .= $chunk;
				if ( strlen( $answer ) > self::MAX_ANSWER ) {
					break;
				}
			}
		}
		fclose( $fp );
		// phpcs:enable
		$r = self::parse_answer( $answer );
		return is_array( $r ) ? $r : $this->fail( $r );
	}

	/**
	 * Notes a problem.
	 *
	 * @param string $why Why.
	 * @return null
	 */
	private function fail( $why ) {
		$this->last_problem = $why;
		return null;
	}
}
