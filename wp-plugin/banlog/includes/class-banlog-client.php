<?php
/**
 * Works out the client address: REMOTE_ADDR, or behind trusted proxies the rightmost address of
 * the configured header that is not itself a trusted proxy.
 *
 * Nothing here depends on WordPress.
 *
 * @package banlog
 */

defined( 'ABSPATH' ) || exit;

/**
 * Client address resolution.
 */
final class Banlog_Client {

	/**
	 * The widest ranges a trusted proxy list may hold: an IPv4 /8 (16.7 million addresses, more
	 * than any CDN's published ranges use per entry) and an IPv6 /32 (a whole provider's
	 * allocation). A wider range, let alone 0.0.0.0/0 or ::/0, is no proxy list: every client in
	 * it could write the header and name any address to be banned.
	 */
	const MIN_PREFIX_V4 = 8;
	const MIN_PREFIX_V6 = 32;

	/**
	 * Why the last resolve() found no address to log, or null.
	 *
	 * @var string|null
	 */
	public $last_problem = null;

	/**
	 * Parsed trusted ranges: list of [bytes, prefix length].
	 *
	 * @var array
	 */
	private $ranges = array();

	/**
	 * The $_SERVER key of the header.
	 *
	 * @var string
	 */
	private $server_key;

	/**
	 * Creates a resolver.
	 *
	 * @param string|array $trusted Trusted proxies: addresses or CIDR ranges, separated by white space or commas.
	 * @param string       $header  Header name, e.g. X-Forwarded-For or CF-Connecting-IP.
	 */
	public function __construct( $trusted, $header = 'X-Forwarded-For' ) {
		foreach ( self::split_list( $trusted ) as $item ) {
			$range = self::parse_cidr( $item );
			if ( null !== $range && null === self::range_problem( $item ) ) {
				$this->ranges[] = $range;
			}
		}
		$this->server_key = self::server_key( $header );
	}

	/**
	 * Items of a list separated by commas or white space.
	 *
	 * @param string|array $list List.
	 * @return array
	 */
	public static function split_list( $list ) {
		if ( is_array( $list ) ) {
			$list = implode( ',', $list );
		}
		return array_values( array_filter( preg_split( '/[\s,]+/', (string) $list ), 'strlen' ) );
	}

	/**
	 * The $_SERVER key of a request header.
	 *
	 * @param string $header Header name.
	 * @return string
	 */
	public static function server_key( $header ) {
		$header = preg_replace( '/[^A-Za-z0-9\-_]/', '', (string) $header );
		if ( '' === $header ) {
			$header = 'X-Forwarded-For';
		}
		return 'HTTP_' . strtoupper( str_replace( '-', '_', $header ) );
	}

	/**
	 * Parses `addr` or `addr/len` into [bytes, len].
	 *
	 * @param string $item Range.
	 * @return array|null Null when invalid.
	 */
	public static function parse_cidr( $item ) {
		$parts = explode( '/', trim( (string) $item ), 2 );
		$bin = self::to_bytes( $parts[0] );
		if ( null === $bin ) {
			return null;
		}
		$max = strlen( $bin ) * 8;
		if ( isset( $parts[1] ) ) {
			if ( ! preg_match( '/^\d{1,3}$/D', $parts[1] ) || (int) $parts[1] > $max ) {
				return null;
			}
			$len = (int) $parts[1];
		} else {
			$len = $max;
		}
		return array( $bin, $len );
	}

	/**
	 * Why an entry of the trusted proxy list is refused, or null.
	 *
	 * @param string $item Address or CIDR range.
	 * @return string|null 'invalid' (not an address or range) or 'too_wide'.
	 */
	public static function range_problem( $item ) {
		$range = self::parse_cidr( $item );
		if ( null === $range ) {
			return 'invalid';
		}
		$min = 4 === strlen( $range[0] ) ? self::MIN_PREFIX_V4 : self::MIN_PREFIX_V6;
		return $range[1] < $min ? 'too_wide' : null;
	}

	/**
	 * The refused entries of a list, by reason.
	 *
	 * @param string $list List.
	 * @return array ['invalid' => items, 'too_wide' => items]; empty when all are accepted.
	 */
	public static function refused_ranges( $list ) {
		$bad = array();
		foreach ( self::split_list( $list ) as $item ) {
			$problem = self::range_problem( $item );
			if ( null !== $problem ) {
				$bad[ $problem ][] = $item;
			}
		}
		return $bad;
	}

	/**
	 * The refused entries of a list, whatever the reason.
	 *
	 * @param string $list List.
	 * @return array Items.
	 */
	public static function invalid_ranges( $list ) {
		$bad = array();
		foreach ( self::refused_ranges( $list ) as $items ) {
			$bad = array_merge( $bad, $items );
		}
		return $bad;
	}

	/**
	 * Address bytes (4 or 16; IPv4-mapped IPv6 as 4), or null.
	 *
	 * @param string $text Address.
	 * @return string|null
	 */
	private static function to_bytes( $text ) {
		$text = trim( (string) $text );
		if ( strlen( $text ) > 2 && '[' === $text[0] && ']' === substr( $text, -1 ) ) {
			$text = substr( $text, 1, -1 );
		}
		if ( '' === $text || ! preg_match( '/^[0-9A-Fa-f:.]+$/D', $text ) ) {
			return null;
		}
		$bin = @inet_pton( $text ); // phpcs:ignore WordPress.PHP.NoSilencedErrors.Discouraged
		if ( false === $bin ) {
			return null;
		}
		if ( 16 === strlen( $bin ) && str_repeat( "\0", 10 ) . "\xff\xff" === substr( $bin, 0, 12 ) ) {
			$bin = substr( $bin, 12 );
		}
		return $bin;
	}

	/**
	 * Whether an address lies in a trusted range.
	 *
	 * @param string $addr Address.
	 * @return bool
	 */
	public function is_trusted( $addr ) {
		$bin = self::to_bytes( $addr );
		if ( null === $bin ) {
			return false;
		}
		foreach ( $this->ranges as $range ) {
			list( $net, $len ) = $range;
			if ( strlen( $net ) !== strlen( $bin ) ) {
				continue;
			}
			$full = intdiv( $len, 8 );
			if ( substr( $net, 0, $full ) !== substr( $bin, 0, $full ) ) {
				continue;
			}
			$rest = $len % 8;
			if ( 0 === $rest ) {
				return true;
			}
			$mask = ( 0xff << ( 8 - $rest ) ) & 0xff;
			if ( ( ord( $net[ $full ] ) & $mask ) === ( ord( $bin[ $full ] ) & $mask ) ) {
				return true;
			}
		}
		return false;
	}

	/**
	 * The client address of a request.
	 *
	 * @param array $server The $_SERVER array.
	 * @return string|null The canonical address, or null when there is none to log.
	 */
	public function resolve( array $server ) {
		$this->last_problem = null;
		$peer = isset( $server['REMOTE_ADDR'] ) && is_string( $server['REMOTE_ADDR'] ) ? $server['REMOTE_ADDR'] : '';
		if ( ! $this->ranges || ! $this->is_trusted( $peer ) ) {
			$addr = Banlog_Format::parse_addr( $peer );
			if ( null === $addr ) {
				$this->last_problem = 'the peer address is not a client address';
			}
			return $addr;
		}
		$value = isset( $server[ $this->server_key ] ) && is_string( $server[ $this->server_key ] ) ? $server[ $this->server_key ] : '';
		$entries = array_values( array_filter( array_map( 'trim', explode( ',', $value ) ), 'strlen' ) );
		// From the right: each hop appended the address it saw. The first one that is not one of
		// our proxies is the client; anything to its left was written by the client itself.
		for ( $i = count( $entries ) - 1; $i >= 0; $i-- ) {
			$entry = self::strip_port( $entries[ $i ] );
			$canon = Banlog_Format::parse_addr( $entry );
			if ( null === $canon ) {
				// A hop we trust wrote garbage: do not guess.
				$this->last_problem = 'a trusted proxy sent a client address header that is not an address';
				return null;
			}
			if ( ! $this->is_trusted( $canon ) ) {
				return $canon;
			}
		}
		// No header, or only trusted proxies in it: the only addresses known are our proxies',
		// and logging one would ban the proxy (every client behind it). Nothing is logged.
		$this->last_problem = $entries
			? 'a trusted proxy sent only trusted proxy addresses in the client address header'
			: 'a trusted proxy sent no client address header';
		return null;
	}

	/**
	 * `1.2.3.4:5678` → `1.2.3.4`, `[2001:db8::1]:80` → `2001:db8::1`.
	 *
	 * @param string $entry Header entry.
	 * @return string
	 */
	private static function strip_port( $entry ) {
		if ( preg_match( '/^\[([0-9A-Fa-f:.]+)\](?::\d+)?$/D', $entry, $m ) ) {
			return $m[1];
		}
		if ( preg_match( '/^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/D', $entry, $m ) ) {
			return $m[1];
		}
		return $entry;
	}
}
