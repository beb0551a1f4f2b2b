<?php
/**
 * Is logging working? The sinks' state (the extension's pool-wide figures, else the fallback
 * writer's last recorded problem), Site Health tests, the administrators' notice and the status
 * panel's rows.
 *
 * @package banlog
 */

defined( 'ABSPATH' ) || exit;

/**
 * Health of banlog's logging.
 */
final class Banlog_Health {

	/** A sink that failed within this many seconds counts as failing recently. */
	const RECENT = HOUR_IN_SECONDS;
	/** User meta: the time of the last sink error the user dismissed. */
	const DISMISSED_META = 'banlog_dismissed_error';
	/** The filters fail2ban needs, as this plugin ships them in fail2ban/filter.d. */
	const FILTERS = array( 'banlog-common', 'banlog-spam', 'banlog-auth' );
	/** Where fail2ban's configuration lives. */
	const F2B_DIR = '/etc/fail2ban';

	/**
	 * Registers the hooks.
	 */
	public static function register() {
		add_filter( 'site_status_tests', array( __CLASS__, 'tests' ) );
		add_action( 'admin_notices', array( __CLASS__, 'notice' ) );
		add_action( 'network_admin_notices', array( __CLASS__, 'notice' ) );
		add_action( 'admin_post_banlog_dismiss', array( __CLASS__, 'dismiss' ) );
	}

	/**
	 * The extension's stats, or null in fallback mode.
	 *
	 * @return array|null
	 */
	public static function stats() {
		return Banlog_Plugin::instance()->writer()->stats();
	}

	/**
	 * Each sink's state: array( 'name', 'kind', 'target', 'errors', 'written', 'last_error',
	 * 'last_error_at', 'last_ok_at', 'failing' (failed and not written since), 'recent' (failed
	 * the one to report: failing; in fallback mode, an error within the hour), 'scope' ('pool', 'worker' or 'fallback') ).
	 *
	 * @return array
	 */
	public static function sinks() {
		$stats = self::stats();
		$out = array();
		if ( null !== $stats ) {
			$pool = isset( $stats['pool'] ) && is_array( $stats['pool'] );
			$list = $pool ? $stats['pool']['sinks'] : ( isset( $stats['sinks'] ) ? $stats['sinks'] : array() );
			foreach ( (array) $list as $s ) {
				if ( ! is_array( $s ) || ! isset( $s['kind'], $s['target'] ) ) {
					continue;
				}
				$err_at = isset( $s['last_error_at'] ) ? (int) $s['last_error_at'] : 0;
				$ok_at = isset( $s['last_ok_at'] ) ? (int) $s['last_ok_at'] : 0;
				$pending = isset( $s['pending'] ) ? (int) $s['pending'] : 0;
				// The pool knows each sink's last success; a worker's own figures only its queue.
				// Seconds: a success in the same second as the error counts as recovery (some worker
				// wrote to it after it failed, or at the same moment).
				$failing = $err_at > 0 && ( $pool ? $err_at > $ok_at : $pending > 0 );
				$out[] = array(
					'name'          => $s['kind'] . ':' . $s['target'],
					'kind'          => (string) $s['kind'],
					'target'        => (string) $s['target'],
					'errors'        => isset( $s['errors'] ) ? (int) $s['errors'] : 0,
					'written'       => isset( $s['written'] ) ? (int) $s['written'] : 0,
					'last_error'    => isset( $s['last_error'] ) ? (string) $s['last_error'] : '',
					'last_error_at' => $err_at,
					'last_ok_at'    => $ok_at,
					'failing'       => $failing,
					'recent'        => $failing,
					'scope'         => $pool ? 'pool' : 'worker',
				);
			}
			return $out;
		}
		$err = get_option( Banlog_Plugin::ERROR_OPTION );
		if ( is_array( $err ) && isset( $err['time'], $err['sink'], $err['message'] ) && 'input' !== $err['sink'] ) {
			$at = (int) $err['time'];
			// The PHP writer records failures only (a success would cost a database write per
			// request): its error counts as current for an hour.
			$out[] = array(
				'name'          => (string) $err['sink'],
				'kind'          => (string) $err['sink'],
				'target'        => '',
				'errors'        => 1,
				'written'       => 0,
				'last_error'    => (string) $err['message'],
				'last_error_at' => $at,
				'last_ok_at'    => 0,
				'failing'       => time() - $at < self::RECENT,
				'recent'        => time() - $at < self::RECENT,
				'scope'         => 'fallback',
			);
		}
		return $out;
	}

	/**
	 * What to do about a sink's error.
	 *
	 * @param array $sink A sink from sinks().
	 * @return string
	 */
	public static function fix( array $sink ) {
		$msg = strtolower( $sink['last_error'] );
		if ( 0 === strpos( $sink['kind'], 'syslog' ) ) {
			if ( false !== strpos( $sink['target'], '://' ) ) {
				/* translators: %s: syslog destination */
				return sprintf( __( 'Make sure the syslog server at %s is running and reachable from this host (firewall, port), or choose another syslog destination.', 'banlog' ), $sink['target'] );
			}
			return __( 'Start the syslog daemon (for example: systemctl start rsyslog) and check that its socket exists; banlog reconnects and sends the lines it kept meanwhile.', 'banlog' );
		}
		$dir = '' !== $sink['target'] ? dirname( $sink['target'] ) : '';
		if ( false !== strpos( $msg, 'directory does not exist' ) || false !== strpos( $msg, 'no such file' ) ) {
			/* translators: %s: folder */
			return sprintf( __( 'Create the folder %s and let the web server user write into it (or choose another path); the kept lines are written then.', 'banlog' ), $dir );
		}
		if ( false !== strpos( $msg, 'permission' ) || false !== strpos( $msg, 'denied' ) ) {
			/* translators: %s: file */
			return sprintf( __( 'Let the web server user append to %s (owner or mode of the file and its folder).', 'banlog' ), '' !== $sink['target'] ? $sink['target'] : $dir );
		}
		if ( false !== strpos( $msg, 'space' ) ) {
			return __( 'Free space on the disk that holds the log; the kept lines are written then.', 'banlog' );
		}
		return __( 'Check the path and the permissions of the log, or the syslog daemon; the lines are kept and retried meanwhile.', 'banlog' );
	}

	/**
	 * Adds banlog's Site Health tests.
	 *
	 * @param array $tests Tests.
	 * @return array
	 */
	public static function tests( $tests ) {
		foreach ( array( 'extension', 'logs_writable', 'sinks', 'filters', 'jail_logpath' ) as $t ) {
			$tests['direct'][ 'banlog_' . $t ] = array(
				/* translators: %s: test name */
				'label' => sprintf( __( 'banlog: %s', 'banlog' ), $t ),
				'test'  => array( __CLASS__, 'test_' . $t ),
			);
		}
		return $tests;
	}

	/**
	 * One test's result.
	 *
	 * @param string $test        Test id.
	 * @param bool   $good        Whether all is well.
	 * @param string $label       Headline.
	 * @param string $description What is wrong (or right).
	 * @param string $action      What to do.
	 * @param string $bad_status  'recommended' or 'critical'.
	 * @return array
	 */
	private static function result( $test, $good, $label, $description, $action = '', $bad_status = 'recommended' ) {
		return array(
			'label'       => $label,
			'status'      => $good ? 'good' : $bad_status,
			'badge'       => array(
				'label' => __( 'Security', 'banlog' ),
				'color' => $good ? 'blue' : 'red',
			),
			'description' => '<p class="banlog-health-description">' . esc_html( $description ) . '</p>',
			'actions'     => '' === $action ? '' : '<p class="banlog-health-fix">' . esc_html( $action ) . '</p>',
			'test'        => 'banlog_' . $test,
		);
	}

	/**
	 * The extension is loaded in this (the web server's) PHP.
	 *
	 * @return array
	 */
	public static function test_extension() {
		if ( extension_loaded( 'banlog' ) ) {
			return self::result( 'extension', true, __( 'The banlog extension is loaded in the web server\'s PHP', 'banlog' ), __( 'Events are logged by the extension, without I/O in requests, and counted over every PHP worker.', 'banlog' ) );
		}
		return self::result(
			'extension',
			false,
			__( 'The banlog extension is not loaded in the web server\'s PHP', 'banlog' ),
			__( 'banlog works in fallback mode (a pure-PHP writer): it logs, but each event costs the request a write, and the Activity figures are a small sample of this site only.', 'banlog' ),
			/* translators: %s: PHP version */
			sprintf( __( 'Install the php%s-banlog package (or make install-ext), enable it for PHP-FPM or Apache (phpenmod banlog), and restart the web server\'s PHP.', 'banlog' ), PHP_MAJOR_VERSION . '.' . PHP_MINOR_VERSION )
		);
	}

	/**
	 * Each configured log file is writable by the web server user.
	 *
	 * @return array
	 */
	public static function test_logs_writable() {
		$o = Banlog_Plugin::options();
		$bad = array();
		$good = array();
		foreach ( array( 'spam_log', 'auth_log' ) as $key ) {
			$path = (string) $o[ $key ];
			if ( '' === $path ) {
				continue;
			}
			// phpcs:disable WordPress.PHP.NoSilencedErrors.Discouraged
			$ok = @file_exists( $path ) ? @is_writable( $path ) : ( @is_dir( dirname( $path ) ) && @is_writable( dirname( $path ) ) );
			// phpcs:enable
			if ( $ok ) {
				$good[] = $path;
			} else {
				$bad[] = $path;
			}
		}
		if ( $bad ) {
			return self::result(
				'logs_writable',
				false,
				__( 'A banlog log file is not writable', 'banlog' ),
				/* translators: %s: paths */
				sprintf( __( 'The web server user cannot write: %s. Its events are kept in memory and retried, and lost if PHP restarts.', 'banlog' ), implode( ', ', $bad ) ),
				__( 'Create the folder if it is missing and give the web server user (www-data) write access to the file and folder, or choose another path in Settings → banlog.', 'banlog' ),
				'critical'
			);
		}
		return self::result(
			'logs_writable',
			true,
			__( 'banlog\'s log files are writable', 'banlog' ),
			$good ? implode( ', ', $good ) : __( 'No log file is configured (syslog only).', 'banlog' )
		);
	}

	/**
	 * No sink is failing: every sink that failed has written since (fallback mode: no error within
	 * the last hour).
	 *
	 * @return array
	 */
	public static function test_sinks() {
		$failing = array_filter(
			self::sinks(),
			function ( $s ) {
				return $s['recent'];
			}
		);
		if ( $failing ) {
			$s = reset( $failing );
			return self::result(
				'sinks',
				false,
				/* translators: %s: sink */
				sprintf( __( 'banlog cannot write to %s', 'banlog' ), $s['name'] ),
				/* translators: 1: time, 2: error */
				sprintf( __( 'Last error at %1$s: %2$s. fail2ban does not see these events until it is fixed.', 'banlog' ), wp_date( 'Y-m-d H:i:s', $s['last_error_at'] ), $s['last_error'] ),
				self::fix( $s ),
				'critical'
			);
		}
		return self::result( 'sinks', true, __( 'banlog\'s logs are being written', 'banlog' ), __( 'Every sink that failed has written since.', 'banlog' ) );
	}

	/**
	 * fail2ban's banlog filters are installed and identical to the ones this version ships.
	 *
	 * @return array
	 */
	public static function test_filters() {
		$missing = array();
		$differ = array();
		foreach ( self::FILTERS as $f ) {
			$installed = self::F2B_DIR . '/filter.d/' . $f . '.conf';
			// phpcs:disable WordPress.PHP.NoSilencedErrors.Discouraged, WordPress.WP.AlternativeFunctions
			if ( ! @is_readable( $installed ) ) {
				$missing[] = $installed;
			} elseif ( @file_get_contents( $installed ) !== @file_get_contents( __DIR__ . '/../fail2ban/filter.d/' . $f . '.conf' ) ) {
				$differ[] = $installed;
			}
			// phpcs:enable
		}
		$fix = __( 'Run "banlog install" as root (from the banlog package), or copy the filters shown in Settings → banlog into /etc/fail2ban/filter.d, then "fail2ban-client reload".', 'banlog' );
		if ( $missing ) {
			/* translators: %s: files */
			return self::result( 'filters', false, __( 'banlog\'s fail2ban filters are not installed', 'banlog' ), sprintf( __( 'Missing: %s. fail2ban cannot ban on banlog\'s lines without them.', 'banlog' ), implode( ', ', $missing ) ), $fix, 'critical' );
		}
		if ( $differ ) {
			/* translators: %s: files */
			return self::result( 'filters', false, __( 'banlog\'s fail2ban filters differ from this version\'s', 'banlog' ), sprintf( __( 'Changed or from another version: %s. They may miss lines this version writes.', 'banlog' ), implode( ', ', $differ ) ), $fix . ' ' . __( 'Put your own changes into filter.d/*.local files instead.', 'banlog' ) );
		}
		return self::result( 'filters', true, __( 'banlog\'s fail2ban filters are installed and current', 'banlog' ), implode( ', ', self::FILTERS ) );
	}

	/**
	 * The installed banlog-spam jail reads the plugin's spam log.
	 *
	 * @return array
	 */
	public static function test_jail_logpath() {
		$o = Banlog_Plugin::options();
		$path = (string) $o['spam_log'];
		$jail = array();
		foreach ( array( '/jail.d/banlog.conf', '/jail.d/banlog.local' ) as $f ) {
			foreach ( Banlog_Activity::read_jail( self::F2B_DIR . $f ) as $section => $keys ) {
				$jail[ $section ] = array_merge( isset( $jail[ $section ] ) ? $jail[ $section ] : array(), $keys );
			}
		}
		$fix = __( 'Set logpath in /etc/fail2ban/jail.d/banlog.local to the plugin\'s spam log path (or run "banlog install --spam-log PATH"), then "fail2ban-client reload".', 'banlog' );
		if ( '' === $path ) {
			return self::result( 'jail_logpath', true, __( 'banlog writes no spam log', 'banlog' ), __( 'The banlog-spam jail has nothing to read.', 'banlog' ) );
		}
		if ( ! isset( $jail['banlog-spam']['logpath'] ) ) {
			return self::result( 'jail_logpath', false, __( 'No banlog-spam jail is installed', 'banlog' ), __( 'fail2ban does not read banlog\'s spam log.', 'banlog' ), $fix );
		}
		$logpath = trim( (string) $jail['banlog-spam']['logpath'] );
		if ( $logpath !== $path ) {
			/* translators: 1: jail's path, 2: plugin's path */
			return self::result( 'jail_logpath', false, __( 'fail2ban reads another spam log than banlog writes', 'banlog' ), sprintf( __( 'The banlog-spam jail reads %1$s; banlog writes %2$s.', 'banlog' ), $logpath, $path ), $fix, 'critical' );
		}
		return self::result( 'jail_logpath', true, __( 'fail2ban reads banlog\'s spam log', 'banlog' ), $path );
	}

	/**
	 * A notice to administrators while a sink is failing (has not written since its error),
	 * until they dismiss that error (per user: a newer error shows again).
	 */
	public static function notice() {
		if ( ! current_user_can( 'manage_options' ) ) {
			return;
		}
		$dismissed = (int) get_user_meta( get_current_user_id(), self::DISMISSED_META, true );
		foreach ( self::sinks() as $s ) {
			if ( ! $s['recent'] || $s['last_error_at'] <= $dismissed ) {
				continue;
			}
			$url = wp_nonce_url( admin_url( 'admin-post.php?action=banlog_dismiss&at=' . $s['last_error_at'] ), 'banlog_dismiss' );
			echo '<div class="notice notice-error" id="banlog-sink-notice"><p><strong>';
			/* translators: %s: sink */
			echo esc_html( sprintf( __( 'banlog cannot write to %s: fail2ban does not see these events.', 'banlog' ), $s['name'] ) );
			echo '</strong> ' . esc_html( $s['last_error'] ) . '</p><p class="banlog-fix">' . esc_html( self::fix( $s ) ) . '</p>';
			echo '<p><a href="' . esc_url( $url ) . '" id="banlog-dismiss">' . esc_html__( 'Dismiss', 'banlog' ) . '</a></p></div>';
			return;
		}
	}

	/**
	 * Dismisses the errors up to the given time for this user.
	 */
	public static function dismiss() {
		if ( ! current_user_can( 'manage_options' ) ) {
			wp_die( esc_html__( 'Sorry, you are not allowed to manage banlog.', 'banlog' ), 403 );
		}
		check_admin_referer( 'banlog_dismiss' );
		$at = isset( $_GET['at'] ) ? absint( $_GET['at'] ) : time();
		update_user_meta( get_current_user_id(), self::DISMISSED_META, $at );
		wp_safe_redirect( wp_get_referer() ? wp_get_referer() : admin_url() );
		exit;
	}

	/**
	 * The status panel's rows about counters and sinks (table rows, escaped).
	 *
	 * @param array $stats banlog_stats().
	 */
	public static function status_rows( array $stats ) {
		$pool = isset( $stats['pool'] ) && is_array( $stats['pool'] ) ? $stats['pool'] : null;
		$src = null === $pool ? $stats : $pool;
		$counters = array();
		foreach ( array( 'accepted', 'written', 'spooled', 'dropped', 'pending' ) as $k ) {
			if ( isset( $src[ $k ] ) && is_scalar( $src[ $k ] ) ) {
				$counters[] = $k . ' ' . $src[ $k ];
			}
		}
		if ( null !== $pool ) {
			/* translators: %s: date and time */
			$label = sprintf( __( 'Counters (every PHP worker of this server, since %s)', 'banlog' ), wp_date( 'Y-m-d H:i', (int) $pool['since'] ) );
		} else {
			$label = __( 'Counters (this PHP worker only)', 'banlog' );
		}
		echo '<tr><th scope="row">' . esc_html( $label ) . '</th><td id="banlog-counters" data-scope="' . esc_attr( null === $pool ? 'worker' : 'pool' ) . '">' . esc_html( implode( ' · ', $counters ) ) . '</td></tr>';
		foreach ( self::sinks() as $s ) {
			$parts = array( 'written ' . $s['written'], 'errors ' . $s['errors'] );
			$class = '';
			$extra = '';
			if ( $s['failing'] ) {
				$class = ' class="notice notice-error inline banlog-sink-failing"';
				/* translators: 1: time, 2: error */
				$extra = '<br><strong>' . esc_html( sprintf( __( 'Failing since %1$s: %2$s', 'banlog' ), wp_date( 'Y-m-d H:i:s', $s['last_error_at'] ), $s['last_error'] ) ) . '</strong><br>' . esc_html( self::fix( $s ) );
			} elseif ( $s['last_error_at'] > 0 ) {
				/* translators: 1: time, 2: error */
				$extra = '<br>' . esc_html( sprintf( __( 'Recovered; last error at %1$s: %2$s', 'banlog' ), wp_date( 'Y-m-d H:i:s', $s['last_error_at'] ), $s['last_error'] ) );
			}
			/* translators: %s: sink name */
			echo '<tr><th scope="row">' . esc_html( sprintf( __( 'Sink %s', 'banlog' ), $s['name'] ) ) . '</th><td' . $class . ' data-sink="' . esc_attr( $s['name'] ) . '">' . esc_html( implode( ' · ', $parts ) ) . $extra . '</td></tr>'; // phpcs:ignore WordPress.Security.EscapeOutput -- $class is a constant, $extra escaped above.
		}
	}

	/**
	 * Saving a path whose folder does not exist: says so (a warning replaces "Settings saved.").
	 *
	 * @param string $key   Option key.
	 * @param string $path  Path saved.
	 * @param string $label Field.
	 */
	public static function warn_missing_folder( $key, $path, $label ) {
		$dir = dirname( $path );
		if ( @is_dir( $dir ) ) { // phpcs:ignore WordPress.PHP.NoSilencedErrors.Discouraged
			return;
		}
		/* translators: 1: field, 2: folder */
		$msg = sprintf( __( '%1$s: saved, but the folder %2$s does not exist. Nothing can be written there until it exists: create it and let the web server user write into it (the lines are kept in memory meanwhile).', 'banlog' ), $label, $dir );
		add_settings_error( Banlog_Plugin::OPTION, 'banlog_nodir_' . $key, esc_html( $msg ), 'warning' );
	}

	/**
	 * Keeps what the user typed in a refused field for the next page view (5 minutes, per user).
	 *
	 * @param string $key   Option key.
	 * @param string $value What was typed.
	 */
	public static function keep_typed( $key, $value ) {
		$name = 'banlog_typed_' . get_current_user_id();
		$kept = get_transient( $name );
		$kept = is_array( $kept ) ? $kept : array();
		$kept[ $key ] = substr( (string) $value, 0, 4096 );
		set_transient( $name, $kept, 5 * MINUTE_IN_SECONDS );
	}

	/**
	 * What the user typed in a refused field, once (null when nothing).
	 *
	 * @param string $key Option key.
	 * @return string|null
	 */
	public static function typed( $key ) {
		$name = 'banlog_typed_' . get_current_user_id();
		$kept = get_transient( $name );
		if ( ! is_array( $kept ) || ! isset( $kept[ $key ] ) ) {
			return null;
		}
		$value = (string) $kept[ $key ];
		unset( $kept[ $key ] );
		if ( $kept ) {
			set_transient( $name, $kept, 5 * MINUTE_IN_SECONDS );
		} else {
			delete_transient( $name );
		}
		return $value;
	}
}
