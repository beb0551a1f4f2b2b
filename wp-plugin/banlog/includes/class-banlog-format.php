<?php
/**
 * The exact bytes banlog writes, in pure PHP.
 *
 * A mirror of the Rust crate `banlog-core` (core/src/line.rs, auth.rs, sanitize.rs, addr.rs): the
 * extension formats its lines there, the fallback formats them here, and the test suite checks
 * that both produce the same bytes. Change one, change the other.
 *
 * Nothing in this file depends on WordPress, so the tests can load it from the PHP command line.
 *
 * @package banlog
 */

defined( 'ABSPATH' ) || exit;

/**
 * Line formats, user name sanitizing and client address parsing.
 */
final class Banlog_Format {

	/** Characters (or escapes) of a user name kept before it is cut. */
	const MAX_USER_CHARS = 128;

	/**
	 * Characters that can start or shape markup (< > & " '), by code point: escaped as \xHH, as
	 * core/src/sanitize.rs MARKUP_CHARS (tests/wp/test_rules_parity.py compares the two).
	 */
	const MARKUP_CHARS = array(
		0x3c => true,
		0x3e => true,
		0x26 => true,
		0x22 => true,
		0x27 => true,
	);

	/** Marks a name that was cut. */
	const TRUNCATION_MARK = '...';

	/** Longest textual IPv6 address, with an embedded IPv4 part and brackets. */
	const MAX_ADDR_LEN = 47;

	/** The sentence before the user name, per event name of banlog_auth(). */
	const AUTH_LEADS = array(
		'failure'             => 'Authentication failure for ',
		'unknown_user'        => 'Authentication attempt for unknown user ',
		'xmlrpc_failure'      => 'XML-RPC authentication failure for ',
		'xmlrpc_unknown_user' => 'XML-RPC authentication attempt for unknown user ',
		'rest_failure'        => 'REST authentication failure for ',
		'rest_unknown_user'   => 'REST authentication attempt for unknown user ',
		'multicall_failure'   => 'XML-RPC multicall authentication failure',
		'success'             => 'Accepted password for ',
		'logout'              => 'Logout for ',
		'pingback'            => 'Pingback error ',
		'trackback'           => 'Trackback error',
		'comment_flood'       => 'Comment flood',
		'user_enumeration'    => 'User enumeration attempt',
		'user_enumeration_blocked' => 'Blocked user enumeration attempt',
	);

	/**
	 * The events whose message names no user (as core/src/auth.rs Detail::None): the lead, then
	 * ` from <address>`.
	 */
	const NO_USER_EVENTS = array( 'multicall_failure', 'trackback', 'comment_flood', 'user_enumeration', 'user_enumeration_blocked' );

	/**
	 * The events that take an integer code in place of the user name (Detail::Code), with what
	 * stands between it and the address.
	 */
	const CODE_EVENTS = array( 'pingback' => ' generated from ' );

	/**
	 * The audit events, written at severity info and never counted by a filter (all others are
	 * failures, severity notice), as core/src/auth.rs AuthKind::is_failure().
	 */
	const INFO_EVENTS = array( 'success', 'logout' );

	/**
	 * Parses a client address from untrusted text, as core/src/addr.rs does.
	 *
	 * @param mixed $raw The untrusted address.
	 * @return string|null The canonical address, or null when it is not a single host address.
	 */
	public static function parse_addr( $raw ) {
		if ( ! is_string( $raw ) || '' === $raw || strlen( $raw ) > self::MAX_ADDR_LEN ) {
			return null;
		}
		$text = $raw;
		if ( strlen( $text ) >= 2 && '[' === $text[0] && ']' === substr( $text, -1 ) ) {
			$text = substr( $text, 1, -1 );
		}
		if ( false !== strpos( $text, ':' ) ) {
			if ( ! preg_match( '/^[0-9A-Fa-f:.]+$/D', $text ) ) {
				return null;
			}
		} elseif ( ! preg_match( '/^[0-9]{1,3}(?:\.[0-9]{1,3}){3}$/D', $text ) ) {
			return null;
		}
		$bin = @inet_pton( $text ); // phpcs:ignore WordPress.PHP.NoSilencedErrors.Discouraged
		if ( false === $bin ) {
			return null;
		}
		if ( 16 === strlen( $bin ) && str_repeat( "\0", 10 ) . "\xff\xff" === substr( $bin, 0, 12 ) ) {
			$bin = substr( $bin, 12 ); // IPv4-mapped: the address a firewall sees.
		}
		if ( 4 === strlen( $bin ) ) {
			$first = ord( $bin[0] );
			if ( "\0\0\0\0" === $bin || "\xff\xff\xff\xff" === $bin || ( $first >= 224 && $first <= 239 ) ) {
				return null;
			}
			return inet_ntop( $bin );
		}
		if ( str_repeat( "\0", 16 ) === $bin || "\xff" === $bin[0] ) {
			return null;
		}
		return self::format_ipv6( $bin );
	}

	/**
	 * RFC 5952 text of a 16-byte IPv6 address, as Rust's `Ipv6Addr` prints it (no embedded IPv4
	 * form, unlike glibc's inet_ntop for `::a.b.c.d`).
	 *
	 * @param string $bin 16 bytes.
	 * @return string
	 */
	public static function format_ipv6( $bin ) {
		$groups = array_values( unpack( 'n8', $bin ) );
		$best_at = -1;
		$best_len = 0;
		for ( $i = 0; $i < 8; $i++ ) {
			if ( 0 !== $groups[ $i ] ) {
				continue;
			}
			$j = $i;
			while ( $j < 8 && 0 === $groups[ $j ] ) {
				$j++;
			}
			if ( $j - $i > $best_len ) {
				$best_at = $i;
				$best_len = $j - $i;
			}
			$i = $j;
		}
		$hex = array_map( 'dechex', $groups );
		if ( $best_len < 2 ) {
			return implode( ':', $hex );
		}
		return implode( ':', array_slice( $hex, 0, $best_at ) ) . '::'
			. implode( ':', array_slice( $hex, $best_at + $best_len ) );
	}

	/**
	 * Escapes, folds and caps an untrusted user name, as core/src/sanitize.rs does.
	 *
	 * @param mixed $raw The untrusted name (any bytes).
	 * @return string
	 */
	public static function sanitize_user( $raw ) {
		$raw = is_scalar( $raw ) ? (string) $raw : '';
		$n = strlen( $raw );
		$out = '';
		$units = 0;
		$space_pending = false;
		$i = 0;
		while ( $i < $n ) {
			$len = self::utf8_len( $raw, $i, $n );
			$cp = $len > 0 ? self::codepoint( $raw, $i, $len ) : -1;
			if ( $cp >= 0 && self::is_foldable_space( $cp ) ) {
				$space_pending = $units > 0;
				$i += $len;
				continue;
			}
			$needed = $space_pending ? 2 : 1;
			if ( $units + $needed > self::MAX_USER_CHARS ) {
				return $out . self::TRUNCATION_MARK;
			}
			if ( $space_pending ) {
				$out .= ' ';
				$space_pending = false;
				$units++;
			}
			if ( $cp < 0 ) {
				$out .= sprintf( '\\x%02x', ord( $raw[ $i ] ) );
				$len = 1;
			} elseif ( 0x5c === $cp ) {
				$out .= '\\\\';
			} elseif ( $cp < 0x20 || 0x7f === $cp || isset( self::MARKUP_CHARS[ $cp ] ) ) {
				$out .= sprintf( '\\x%02x', $cp );
			} elseif ( self::is_invisible_format( $cp ) ) {
				$out .= sprintf( '\\u%04x', $cp );
			} else {
				$out .= substr( $raw, $i, $len );
			}
			$units++;
			$i += $len;
		}
		return $out;
	}

	/**
	 * Length of the well-formed UTF-8 sequence at $i, or 0 when the byte there starts none.
	 *
	 * @param string $s Bytes.
	 * @param int    $i Offset.
	 * @param int    $n Length of $s.
	 * @return int
	 */
	private static function utf8_len( $s, $i, $n ) {
		$b0 = ord( $s[ $i ] );
		if ( $b0 < 0x80 ) {
			return 1;
		}
		if ( $b0 >= 0xc2 && $b0 <= 0xdf ) {
			$need = 2;
			$lo = 0x80;
			$hi = 0xbf;
		} elseif ( $b0 >= 0xe0 && $b0 <= 0xef ) {
			$need = 3;
			$lo = 0xe0 === $b0 ? 0xa0 : 0x80;
			$hi = 0xed === $b0 ? 0x9f : 0xbf;
		} elseif ( $b0 >= 0xf0 && $b0 <= 0xf4 ) {
			$need = 4;
			$lo = 0xf0 === $b0 ? 0x90 : 0x80;
			$hi = 0xf4 === $b0 ? 0x8f : 0xbf;
		} else {
			return 0;
		}
		if ( $i + $need > $n ) {
			return 0;
		}
		$b1 = ord( $s[ $i + 1 ] );
		if ( $b1 < $lo || $b1 > $hi ) {
			return 0;
		}
		for ( $k = 2; $k < $need; $k++ ) {
			$b = ord( $s[ $i + $k ] );
			if ( $b < 0x80 || $b > 0xbf ) {
				return 0;
			}
		}
		return $need;
	}

	/**
	 * The code point of a well-formed sequence.
	 *
	 * @param string $s   Bytes.
	 * @param int    $i   Offset.
	 * @param int    $len Sequence length (1-4).
	 * @return int
	 */
	private static function codepoint( $s, $i, $len ) {
		$b0 = ord( $s[ $i ] );
		if ( 1 === $len ) {
			return $b0;
		}
		$cp = $b0 & ( 0xff >> ( $len + 1 ) );
		for ( $k = 1; $k < $len; $k++ ) {
			$cp = ( $cp << 6 ) | ( ord( $s[ $i + $k ] ) & 0x3f );
		}
		return $cp;
	}

	/**
	 * White space that folds into one space (line breaks are escaped instead).
	 *
	 * @param int $cp Code point.
	 * @return bool
	 */
	private static function is_foldable_space( $cp ) {
		return 0x09 === $cp || 0x20 === $cp || 0xa0 === $cp || 0x1680 === $cp
			|| ( $cp >= 0x2000 && $cp <= 0x200a ) || 0x202f === $cp || 0x205f === $cp || 0x3000 === $cp;
	}

	/**
	 * C1 controls, line/paragraph separators and invisible format characters.
	 *
	 * @param int $cp Code point.
	 * @return bool
	 */
	private static function is_invisible_format( $cp ) {
		return ( $cp >= 0x80 && $cp <= 0x9f ) || 0xad === $cp
			|| ( $cp >= 0x200b && $cp <= 0x200f ) || ( $cp >= 0x2028 && $cp <= 0x202e )
			|| ( $cp >= 0x2060 && $cp <= 0x206f ) || 0xfeff === $cp || ( $cp >= 0xfff9 && $cp <= 0xfffb );
	}

	/**
	 * Checks the site host for the ident `wordpress(<host>)`.
	 *
	 * Syslog daemons end the tag at the first ':', so a port is dropped and an IPv6 literal gives
	 * the bare ident (an empty host), exactly as banlog-core does.
	 *
	 * @param string $host Host from the site URL.
	 * @return string|null Lower-case host, or null when it could shift what a filter reads.
	 */
	public static function sanitize_ident_host( $host ) {
		$host = (string) $host;
		if ( strlen( $host ) > 253 || ! preg_match( '/^[A-Za-z0-9.\-:\[\]_]*$/D', $host ) ) {
			return null;
		}
		if ( '[' === substr( $host, 0, 1 ) ) {
			return '';
		}
		$colon = strpos( $host, ':' );
		if ( false !== $colon ) {
			$port = substr( $host, $colon + 1 );
			if ( ! preg_match( '/^[0-9]+$/D', $port ) ) {
				return '';
			}
			$host = substr( $host, 0, $colon );
		}
		if ( false !== strpbrk( $host, '[]' ) ) {
			return null;
		}
		return strtolower( $host );
	}

	/**
	 * `wordpress(example.com)`, or `wordpress` without a host.
	 *
	 * @param string $host A host that passed sanitize_ident_host().
	 * @return string
	 */
	public static function ident( $host ) {
		return '' === $host ? 'wordpress' : 'wordpress(' . $host . ')';
	}

	/**
	 * The message of an authentication event.
	 *
	 * @param string $event One of the keys of AUTH_LEADS.
	 * @param string $user  Untrusted user name.
	 * @param string $addr  Canonical address.
	 * @return string|null Null for an unknown event.
	 */
	public static function auth_message( $event, $user, $addr ) {
		if ( ! is_string( $event ) || ! isset( self::AUTH_LEADS[ $event ] ) ) {
			return null;
		}
		if ( isset( self::CODE_EVENTS[ $event ] ) ) {
			$code = self::code( $user );
			return null === $code ? null : self::AUTH_LEADS[ $event ] . $code . self::CODE_EVENTS[ $event ] . $addr;
		}
		$name = in_array( $event, self::NO_USER_EVENTS, true ) ? '' : self::sanitize_user( $user );
		return self::AUTH_LEADS[ $event ] . $name . ' from ' . $addr;
	}

	/**
	 * A fault code given in place of a user name: the canonical decimal text of a 32-bit integer
	 * (no `+`, no leading zero, no space), as core/src/auth.rs parse_code().
	 *
	 * @param mixed $text The code as given.
	 * @return string|null The code, or null when it is not one.
	 */
	public static function code( $text ) {
		if ( is_int( $text ) ) {
			$text = (string) $text;
		}
		if ( ! is_string( $text ) || ! preg_match( '/^-?[0-9]{1,10}$/D', $text ) ) {
			return null;
		}
		$n = (int) $text;
		return ( $n >= -2147483648 && $n <= 2147483647 && (string) $n === $text ) ? $text : null;
	}

	/**
	 * The syslog mirror of a spam line.
	 *
	 * @param int    $comment_id Comment id.
	 * @param string $addr       Canonical address.
	 * @return string
	 */
	public static function spam_message( $comment_id, $addr ) {
		return 'Spam comment ' . $comment_id . ' from ' . $addr;
	}

	/**
	 * One spam log line, without the newline.
	 *
	 * @param DateTimeInterface $t          Local time.
	 * @param int               $comment_id Comment id.
	 * @param string            $addr       Canonical address.
	 * @return string
	 */
	public static function spam_line( DateTimeInterface $t, $comment_id, $addr ) {
		return $t->format( 'Y-m-d H:i:s' ) . ' comment id=' . $comment_id . ' from host=' . $addr . ' marked as spam';
	}

	/**
	 * `Nov 21 07:19:22`, the RFC 3164 time (day padded with a space).
	 *
	 * @param DateTimeInterface $t Local time.
	 * @return string
	 */
	public static function rfc3164_time( DateTimeInterface $t ) {
		return $t->format( 'M' ) . ' ' . sprintf( '%2d', (int) $t->format( 'j' ) ) . ' ' . $t->format( 'H:i:s' );
	}

	/**
	 * `2026-11-21T07:19:22.123456+01:00`, rsyslog's file format time.
	 *
	 * @param DateTimeInterface $t Local time (with microseconds).
	 * @return string
	 */
	public static function rfc3339_time( DateTimeInterface $t ) {
		return $t->format( 'Y-m-d\TH:i:s.uP' );
	}

	/**
	 * A line of the auth_log file: `<rfc3339> <hostname> <ident>[<pid>]: <message>`.
	 *
	 * @param DateTimeInterface $t        Local time.
	 * @param string            $hostname Host name.
	 * @param string            $ident    Ident.
	 * @param int               $pid      Process id.
	 * @param string            $message  Message.
	 * @return string
	 */
	public static function auth_file_line( DateTimeInterface $t, $hostname, $ident, $pid, $message ) {
		return self::rfc3339_time( $t ) . ' ' . $hostname . ' ' . $ident . '[' . $pid . ']: ' . $message;
	}

	/**
	 * An RFC 3164 message for a syslog daemon; local sockets get no host name.
	 *
	 * @param int               $pri      Priority (facility * 8 + severity).
	 * @param DateTimeInterface $t        Local time.
	 * @param string|null       $hostname Host name, for remote collectors.
	 * @param string            $ident    Ident.
	 * @param int               $pid      Process id.
	 * @param string            $message  Message.
	 * @return string
	 */
	public static function syslog_message( $pri, DateTimeInterface $t, $hostname, $ident, $pid, $message ) {
		$host = null === $hostname ? '' : $hostname . ' ';
		return '<' . $pri . '>' . self::rfc3164_time( $t ) . ' ' . $host . $ident . '[' . $pid . ']: ' . $message;
	}

	/**
	 * The host's time zone, as the extension and fail2ban see it: `TZ`, else /etc/localtime, else UTC.
	 * Neither WordPress's time zone option nor PHP's date.timezone play a part.
	 *
	 * @return DateTimeZone
	 */
	public static function system_zone() {
		static $zone = null;
		if ( null !== $zone ) {
			return $zone;
		}
		$candidates = array();
		$tz = getenv( 'TZ' );
		if ( is_string( $tz ) && '' !== $tz ) {
			$candidates[] = ltrim( $tz, ':' );
		}
		$link = @readlink( '/etc/localtime' ); // phpcs:ignore WordPress.PHP.NoSilencedErrors.Discouraged
		if ( is_string( $link ) ) {
			$candidates[] = $link;
		}
		$name = @file_get_contents( '/etc/timezone' ); // phpcs:ignore
		if ( is_string( $name ) ) {
			$candidates[] = trim( $name );
		}
		foreach ( $candidates as $c ) {
			$pos = strpos( $c, 'zoneinfo/' );
			if ( false !== $pos ) {
				$c = substr( $c, $pos + 9 );
			}
			if ( '' === $c || ! preg_match( '#^[A-Za-z0-9_+\-/]+$#D', $c ) ) {
				continue;
			}
			try {
				$zone = new DateTimeZone( $c );
				return $zone;
			} catch ( Exception $e ) {
				continue;
			}
		}
		$zone = new DateTimeZone( 'UTC' );
		return $zone;
	}

	/**
	 * Now, in the host's local time, with microseconds.
	 *
	 * @return DateTimeImmutable
	 */
	public static function now() {
		$t = DateTimeImmutable::createFromFormat( 'U.u', sprintf( '%.6F', microtime( true ) ) );
		if ( ! $t ) {
			$t = new DateTimeImmutable( '@' . time() );
		}
		return $t->setTimezone( self::system_zone() );
	}
}
