<?php
/**
 * The fail2ban files shown on the options page: the copies of banlog's filters/ in the plugin's
 * fail2ban/ folder, and the jail file rendered from fail2ban/jail.d/banlog.conf with this site's
 * log paths filled in.
 *
 * The rendering rules are the sidecar's (`banlog filters`, sidecar/src/assets.rs): the test suite
 * renders both for the same paths and jails and requires the same bytes, or the same refusal.
 * Change one, change the other.
 *
 * Nothing in this file depends on WordPress, so the tests can load it from the PHP command line.
 *
 * @package banlog
 */

defined( 'ABSPATH' ) || exit;

/**
 * Filter and jail snippets.
 */
final class Banlog_Snippet {

	/** The jails of jail.d/banlog.conf. */
	const JAILS = array( 'banlog-spam', 'banlog-auth', 'banlog-auth-hard', 'banlog-pingback', 'banlog-comment-flood', 'banlog-user-enum' );

	/** The jails that read the auth lines (the last three, on abuse, are off unless chosen). */
	const AUTH_JAILS = array( 'banlog-auth', 'banlog-auth-hard', 'banlog-pingback', 'banlog-comment-flood', 'banlog-user-enum' );

	/** The filter files, the include first. */
	const FILTERS = array( 'banlog-common', 'banlog-spam', 'banlog-auth' );

	/** The first lines of a rendered jail file. */
	const HEADER = "# Written by banlog for this host from its jail.d/banlog.conf: paths filled in, chosen jails\n# enabled. Local changes belong in jail.d/banlog.local (banlog install leaves that file alone).\n#\n";

	/**
	 * Python's str.isspace() as a PCRE class: what fail2ban's configuration reader trims and
	 * splits on.
	 */
	const PY_SPACE = '[\x{9}-\x{d}\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]';

	/**
	 * A shipped file of the plugin's fail2ban/ folder.
	 *
	 * @param string $rel Path below fail2ban/, e.g. jail.d/banlog.conf.
	 * @return string Its content, '' when it cannot be read.
	 */
	private static function shipped( $rel ) {
		$text = @file_get_contents( dirname( BANLOG_PLUGIN_FILE ) . '/fail2ban/' . $rel ); // phpcs:ignore WordPress.PHP.NoSilencedErrors.Discouraged, WordPress.WP.AlternativeFunctions
		return is_string( $text ) ? $text : '';
	}

	/**
	 * A shipped filter, as it goes into /etc/fail2ban/filter.d/.
	 *
	 * @param string $name One of self::FILTERS.
	 * @return string
	 */
	public static function filter( $name ) {
		return in_array( $name, self::FILTERS, true ) ? self::shipped( 'filter.d/' . $name . '.conf' ) : '';
	}

	/**
	 * The jail file for the plugin's settings: banlog-spam enabled when there is a spam log, the
	 * auth jails when auth lines are written (own file or syslog).
	 *
	 * @param array $o Options: spam_log, auth_log, syslog.
	 * @return string The file, or a comment saying why it cannot be rendered.
	 */
	public static function jail( array $o ) {
		$spam   = isset( $o['spam_log'] ) ? (string) $o['spam_log'] : '';
		$auth   = isset( $o['auth_log'] ) ? (string) $o['auth_log'] : '';
		$enable = array();
		if ( '' !== $spam ) {
			$enable[] = 'banlog-spam';
		}
		if ( '' !== $auth || ! empty( $o['syslog'] ) ) {
			$enable[] = 'banlog-auth';
			$enable[] = 'banlog-auth-hard';
		}
		try {
			return self::render( '' === $spam ? null : $spam, '' === $auth ? null : $auth, $enable );
		} catch ( InvalidArgumentException $e ) {
			return '# banlog: ' . str_replace( array( "\r", "\n" ), ' ', $e->getMessage() ) . "\n";
		}
	}

	/**
	 * The shipped jail file with `enabled`, `logpath` and `backend` rewritten in banlog's
	 * sections; everything else as shipped.
	 *
	 * @param string|null $spam   Spam log path, or null to keep the shipped logpath.
	 * @param string|null $auth   banlog's own auth log path, or null (the system's auth log).
	 * @param array       $enable Jails to enable.
	 * @return string
	 * @throws InvalidArgumentException For an unknown jail or a path fail2ban cannot read back.
	 */
	public static function render( $spam, $auth, array $enable ) {
		foreach ( $enable as $j ) {
			if ( ! in_array( $j, self::JAILS, true ) ) {
				throw new InvalidArgumentException( "unknown jail '" . $j . "'; the jails are: " . implode( ', ', self::JAILS ) );
			}
		}
		$spam    = null === $spam ? null : self::logpath( 'the spam log path', $spam );
		$auth    = null === $auth ? null : self::logpath( 'the auth log path', $auth );
		$out     = self::HEADER;
		$section = '';
		$text    = self::shipped( 'jail.d/banlog.conf' );
		$lines   = explode( "\n", $text );
		if ( '' === end( $lines ) ) {
			array_pop( $lines );
		}
		foreach ( $lines as $line ) {
			$t = trim( $line );
			if ( strlen( $t ) >= 2 && '[' === $t[0] && ']' === substr( $t, -1 ) ) {
				$section = substr( $t, 1, -1 );
			}
			$parts = explode( '=', $t, 2 );
			$key   = trim( $parts[0] );
			$new   = null;
			$auths = in_array( $section, self::AUTH_JAILS, true );
			if ( 'enabled' === $key && in_array( $section, self::JAILS, true ) ) {
				$new = 'enabled  = ' . ( in_array( $section, $enable, true ) ? 'true' : 'false' );
			} elseif ( 'logpath' === $key && 'banlog-spam' === $section && null !== $spam ) {
				$new = 'logpath  = ' . $spam;
			} elseif ( 'logpath' === $key && $auths && null !== $auth ) {
				$new = 'logpath  = ' . $auth;
			} elseif ( 'backend' === $key && $auths && null !== $auth ) {
				// banlog's own auth_log is a plain file: read it by polling or inotify, not from the journal.
				$new = 'backend  = auto';
			}
			$out .= ( null === $new ? $line : $new ) . "\n";
		}
		return $out;
	}

	/**
	 * A log path as a `logpath` value that fail2ban reads back as exactly that path: one line,
	 * absolute, no white space before a `;` (fail2ban's inline comment), else refused; `%`
	 * doubled; `*`, `?`, `[` bracketed (fail2ban globs); ` head` appended when the path holds
	 * white space (fail2ban splits head/tail off at the last space and trims the end).
	 *
	 * @param string $what What the path is, for the message.
	 * @param string $path The path.
	 * @return string
	 * @throws InvalidArgumentException When fail2ban could not read it back.
	 */
	public static function logpath( $what, $path ) {
		$path = (string) $path;
		if ( 1 !== preg_match( '//u', $path ) ) {
			throw new InvalidArgumentException( $what . ' must be UTF-8' );
		}
		if ( strpbrk( $path, "\n\r\0" ) !== false ) {
			throw new InvalidArgumentException( $what . ' must be one line: it may not contain a line break or a NUL' );
		}
		if ( '' === $path || '/' !== $path[0] ) {
			throw new InvalidArgumentException( $what . " '" . $path . "' must be an absolute path (fail2ban resolves relative paths against its own working folder)" );
		}
		if ( 1 === preg_match( '/' . self::PY_SPACE . ';/u', $path ) ) {
			throw new InvalidArgumentException( $what . " '" . $path . "' may not hold a ';' after a space: fail2ban reads the rest of the line as a comment" );
		}
		$out = strtr(
			$path,
			array(
				'%' => '%%',
				'*' => '[*]',
				'?' => '[?]',
				'[' => '[[]',
			)
		);
		if ( 1 === preg_match( '/' . self::PY_SPACE . '/u', $path ) ) {
			$out .= ' head';
		}
		return $out;
	}
}
