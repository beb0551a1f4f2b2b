<?php
/**
 * Plugin Name:       banlog
 * Description:       Writes comment spam, failed logins and abuse (failed pingbacks, comment floods, user enumeration) as exact log lines that fail2ban bans on (spam log file and syslog auth lines). Uses the banlog PHP extension when it is loaded, a pure-PHP writer otherwise.
 * Version:           0.1.0
 * Requires at least: 5.6
 * Requires PHP:      7.4
 * License:           GPL-2.0-or-later
 * Text Domain:       banlog
 * Domain Path:       /languages
 *
 * @package banlog
 */

defined( 'ABSPATH' ) || exit;

define( 'BANLOG_PLUGIN_VERSION', '0.1.0' );
define( 'BANLOG_PLUGIN_FILE', __FILE__ );

require_once __DIR__ . '/includes/class-banlog-format.php';
require_once __DIR__ . '/includes/class-banlog-rules.php';
require_once __DIR__ . '/includes/class-banlog-writer.php';
require_once __DIR__ . '/includes/class-banlog-client.php';
require_once __DIR__ . '/includes/class-banlog-spamd.php';
require_once __DIR__ . '/includes/class-banlog-activity.php';
require_once __DIR__ . '/includes/class-banlog-gate.php';
require_once __DIR__ . '/includes/class-banlog-abuse.php';

/**
 * The plugin: WordPress hooks → banlog events.
 */
final class Banlog_Plugin {

	const OPTION       = 'banlog_options';
	/**
	 * Format of the stored option. 2: a setting of the writer is stored only when the site admin
	 * chose a value other than the inherited one (php.ini's, else the plugin's default).
	 */
	const OPTIONS_VERSION = 2;
	/** Settings of the writer that the server (php.ini `banlog.*`) may set too. */
	const WRITER_KEYS = array( 'spam_log', 'syslog', 'syslog_facility', 'syslog_target', 'auth_log', 'syslog_spam' );
	const ERROR_OPTION = 'banlog_last_error';
	/**
	 * Multisite: the network's settings (a site option, `update_site_option()`), set by a super
	 * admin on Network Admin → Settings → banlog.
	 */
	const NETWORK_OPTION = 'banlog_network_options';
	/** Multisite: what a site's own page sets. */
	const SITE_KEYS = array( 'log_success', 'log_logout' );
	/**
	 * Multisite: the settings that are the network's, never a site's: where lines are written, who
	 * counts as a proxy, the XML-RPC multicall stop, and the spamd address (a subsite admin who could
	 * name it could make the server connect anywhere), the gate (it follows the server's jails
	 * and counts every site's events), and whether user enumeration is refused. A subsite admin
	 * sets none of them.
	 */
	const NETWORK_KEYS = array( 'spam_log', 'syslog', 'syslog_facility', 'syslog_target', 'auth_log', 'syslog_spam', 'trusted_proxies', 'proxy_header', 'xmlrpc_multicall_stop', 'spamd', 'spamd_timeout', 'gate', 'gate_soft_maxretry', 'gate_soft_findtime', 'gate_hard_maxretry', 'gate_hard_findtime', 'gate_spam_maxretry', 'gate_spam_findtime', 'refuse_user_enumeration' );
	/** Comment meta: no client address was known when it was posted (its stored one is the peer's). */
	const UNRESOLVED_META = '_banlog_unresolved_ip';

	/**
	 * The instance.
	 *
	 * @var Banlog_Plugin|null
	 */
	private static $instance = null;

	/**
	 * Writer, created on first use.
	 *
	 * @var Banlog_Writer|null
	 */
	private $writer = null;

	/**
	 * Client address resolver, created on first use.
	 *
	 * @var Banlog_Client|null
	 */
	private $client = null;

	/**
	 * Comments logged as spam in this request, by id.
	 *
	 * @var array
	 */
	private $logged_comments = array();

	/**
	 * Author addresses comments had before an update in this request replaced them, by id.
	 *
	 * @var array
	 */
	private $original_ips = array();

	/**
	 * Address of a comment Akismet discarded in this request (it is never stored).
	 *
	 * @var string|null
	 */
	private $discarded_from = null;

	/**
	 * Whether this request's comment address could not be resolved (see filter_comment_user_ip()).
	 *
	 * @var bool
	 */
	private $comment_ip_unresolved = false;

	/**
	 * Whether a REST authentication failure was logged in this request.
	 *
	 * @var bool
	 */
	private $rest_failure_logged = false;

	/**
	 * The instance.
	 *
	 * @return Banlog_Plugin
	 */
	public static function instance() {
		if ( null === self::$instance ) {
			self::$instance = new self();
		}
		return self::$instance;
	}

	/**
	 * Registers the hooks.
	 */
	public function register() {
		// First of all: before any other plugin's start-up, any password check or database write.
		add_action( 'plugins_loaded', array( $this, 'gate' ), PHP_INT_MIN );
		add_action( 'comment_post', array( $this, 'on_comment_post' ), 10, 3 );
		add_action( 'transition_comment_status', array( $this, 'on_transition_comment_status' ), 10, 3 );
		add_action( 'akismet_spam_caught', array( $this, 'on_akismet_spam_caught' ), 10, 1 );
		add_action( 'shutdown', array( $this, 'on_shutdown' ), 0 );
		add_filter( 'pre_comment_user_ip', array( $this, 'filter_comment_user_ip' ), 5 );
		add_action( 'wp_insert_comment', array( $this, 'on_insert_comment' ), 0, 1 );
		add_filter( 'wp_update_comment_data', array( $this, 'remember_author_ip' ), 999, 2 );
		// Late: a comment WordPress or another plugin already judged is not sent to spamd.
		add_filter( 'pre_comment_approved', array( $this, 'filter_spamd' ), 99, 2 );

		add_action( 'wp_login_failed', array( $this, 'on_login_failed' ), 10, 2 );
		add_filter( 'xmlrpc_login_error', array( $this, 'on_xmlrpc_login_error' ), 10, 2 );
		// Last, so that every other filter of the error has run before the request may end.
		add_filter( 'xmlrpc_login_error', array( $this, 'stop_xmlrpc_burst' ), PHP_INT_MAX, 2 );
		add_action( 'application_password_failed_authentication', array( $this, 'on_application_password_failed' ), 10, 1 );
		add_action( 'wp_login', array( $this, 'on_login' ), 10, 2 );
		add_action( 'wp_logout', array( $this, 'on_logout' ), 10, 1 );

		( new Banlog_Abuse( $this ) )->register();

		add_action( 'init', array( $this, 'load_textdomain' ) );
		Banlog_Activity::register();
		if ( is_admin() ) {
			require_once __DIR__ . '/includes/class-banlog-snippet.php';
			require_once __DIR__ . '/includes/class-banlog-admin.php';
			( new Banlog_Admin( $this ) )->register();
			if ( is_multisite() ) {
				require_once __DIR__ . '/includes/class-banlog-network.php';
				( new Banlog_Network( $this ) )->register();
			}
			require_once __DIR__ . '/includes/class-banlog-health.php';
			require_once __DIR__ . '/includes/class-banlog-dashboard.php';
			Banlog_Health::register();
			Banlog_Dashboard::register();
		}
	}

	/**
	 * Loads translations.
	 */
	public function load_textdomain() {
		load_plugin_textdomain( 'banlog', false, dirname( plugin_basename( BANLOG_PLUGIN_FILE ) ) . '/languages' );
	}

	/**
	 * Default options (also what activation stores).
	 *
	 * @return array
	 */
	public static function defaults() {
		return array(
			'spam_log'        => self::default_spam_log(),
			'syslog'          => 1,
			'syslog_facility' => 'auth',
			'syslog_target'   => '/dev/log',
			'auth_log'        => '',
			'syslog_spam'     => 0,
			'log_success'     => 0,
			'log_logout'      => 0,
			'trusted_proxies' => '',
			'proxy_header'    => 'X-Forwarded-For',
			'spamd'           => '',
			'spamd_timeout'   => Banlog_Spamd::DEFAULT_TIMEOUT,
			// After a failed login, a second login attempt in the same XML-RPC request (a
			// system.multicall of guesses) ends the request.
			'xmlrpc_multicall_stop' => 1,
			// Anonymous `?author=N` redirects and REST user listings are logged; refused (403)
			// only when the site admin asks for it: some themes link author archives that way.
			'refuse_user_enumeration' => 0,
		) + Banlog_Gate::defaults();
	}

	/**
	 * The spam log `banlog install` prepares (folder owned by the web server's user).
	 */
	const SYSTEM_SPAM_LOG = '/var/log/wordpress/spam.log';

	/**
	 * The default spam log: /var/log/wordpress/spam.log where that folder exists and this process
	 * can write there (banlog install creates it), else the historic wp-content/spam.log, which
	 * the options page warns about.
	 *
	 * @return string
	 */
	public static function default_spam_log() {
		$dir = dirname( self::SYSTEM_SPAM_LOG );
		// phpcs:disable WordPress.PHP.NoSilencedErrors.Discouraged, WordPress.WP.AlternativeFunctions.file_system_operations_is_writable
		$ok = @is_dir( $dir ) && ( @is_writable( $dir ) || @is_writable( self::SYSTEM_SPAM_LOG ) );
		// phpcs:enable
		return $ok ? self::SYSTEM_SPAM_LOG : WP_CONTENT_DIR . '/spam.log';
	}

	/**
	 * What the site admin stored. Before format 2, activation stored every default, so a stored
	 * value equal to the default was no choice: it is read as not set (it follows php.ini).
	 *
	 * @return array
	 */
	public static function stored() {
		$stored = get_option( self::OPTION );
		$stored = is_array( $stored ) ? $stored : array();
		if ( ! isset( $stored['version'] ) ) {
			$defaults = self::defaults();
			// What activation stored then was the historic default path.
			$defaults['spam_log'] = WP_CONTENT_DIR . '/spam.log';
			foreach ( self::WRITER_KEYS as $key ) {
				if ( isset( $stored[ $key ] ) && (string) $stored[ $key ] === (string) $defaults[ $key ] ) {
					unset( $stored[ $key ] );
				}
			}
		}
		if ( is_multisite() ) {
			// A site's own option never holds the network's settings. Values a site stored there
			// before they became the network's (any subsite admin could have set them) are
			// ignored, and dropped from the site's option the next time the site saves its page;
			// the super admin sets them anew on the network page.
			$stored = array_diff_key( $stored, array_flip( self::NETWORK_KEYS ) );
		}
		return $stored;
	}

	/**
	 * Multisite: what the super admin stored on the network page (only values other than the
	 * inherited one, as on a single site's page).
	 *
	 * @return array
	 */
	public static function network_stored() {
		if ( ! is_multisite() ) {
			return array();
		}
		$stored = get_site_option( self::NETWORK_OPTION );
		return is_array( $stored ) ? array_intersect_key( $stored, array_flip( self::NETWORK_KEYS ) ) : array();
	}

	/**
	 * Whether a setting is the network's (multisite) rather than the site's.
	 *
	 * @param string $key Option key.
	 * @return bool
	 */
	public static function is_network_key( $key ) {
		return is_multisite() && in_array( $key, self::NETWORK_KEYS, true );
	}

	/**
	 * Multisite: a `banlog.*` directive of php.ini (or the FPM pool) locks its setting for every
	 * site of the server; the network page cannot override it. On a single site the page may.
	 *
	 * @param string $key Option key.
	 * @return bool
	 */
	public static function locked( $key ) {
		return is_multisite() && in_array( $key, self::WRITER_KEYS, true ) && null !== self::server_setting( $key );
	}

	/**
	 * Where a setting's value in effect comes from: 'page' (the site admin chose it), 'network'
	 * (multisite: the super admin chose it on the network page), 'server' (a `banlog.*` directive
	 * of php.ini, the FPM pool or .user.ini) or 'default' (the plugin's).
	 *
	 * @param string $key Option key.
	 * @return string
	 */
	public static function source( $key ) {
		if ( self::is_network_key( $key ) ) {
			if ( self::locked( $key ) ) {
				return 'server';
			}
			return array_key_exists( $key, self::network_stored() ) ? 'network' : 'default';
		}
		if ( array_key_exists( $key, self::stored() ) ) {
			return 'page';
		}
		return in_array( $key, self::WRITER_KEYS, true ) && null !== self::server_setting( $key ) ? 'server' : 'default';
	}

	/**
	 * The server's value of a writer setting, normalized as an option, or null when the server
	 * does not set it (or sets what the rules refuse).
	 *
	 * @param string $key Option key.
	 * @return mixed
	 */
	public static function server_setting( $key ) {
		if ( ! Banlog_Writer::server_sets( $key ) ) {
			return null;
		}
		$r = Banlog_Rules::check( $key, Banlog_Writer::server_value( $key ) );
		if ( ! $r['ok'] ) {
			return null;
		}
		return is_bool( $r['value'] ) ? (int) $r['value'] : $r['value'];
	}

	/**
	 * The value a setting has when the site admin does not choose one: the server's, else the
	 * plugin's default.
	 *
	 * @param string $key Option key.
	 * @return mixed
	 */
	public static function inherited( $key ) {
		$server = in_array( $key, self::WRITER_KEYS, true ) ? self::server_setting( $key ) : null;
		if ( null !== $server ) {
			return $server;
		}
		$defaults = self::defaults();
		return $defaults[ $key ];
	}

	/**
	 * The options in effect: the site admin's choices over the inherited values; on multisite the
	 * network's settings come from the network page (php.ini's lock them) and a site's only from
	 * its own page for what is the site's.
	 *
	 * @return array
	 */
	public static function options() {
		$o = self::defaults();
		foreach ( self::WRITER_KEYS as $key ) {
			$o[ $key ] = self::inherited( $key );
		}
		foreach ( self::network_stored() as $key => $value ) {
			if ( ! self::locked( $key ) ) {
				$o[ $key ] = $value;
			}
		}
		foreach ( self::stored() as $key => $value ) {
			if ( array_key_exists( $key, $o ) ) {
				$o[ $key ] = $value;
			}
		}
		return $o;
	}

	/**
	 * Why the plugin refuses a log path, or null: the rulebook's reasons (Banlog_Rules, the same
	 * as the extension's), and one only the plugin can know, so it lives here: the path lies
	 * under WordPress's uploads folder, whose files the web server serves to anyone.
	 *
	 * @param string $key  spam_log or auth_log.
	 * @param string $path Path.
	 * @return string|null The reason.
	 */
	public static function path_problem( $key, $path ) {
		$r = Banlog_Rules::log_path( $key, (string) $path );
		if ( ! $r['ok'] ) {
			return $r['message'];
		}
		if ( '' === $r['value'] ) {
			return null;
		}
		// phpcs:ignore WordPress.PHP.NoSilencedErrors.Discouraged
		if ( @is_dir( $r['value'] ) ) {
			return sprintf( "setting '%s': '%s' is a directory; give a file name ending in .log", $key, $r['value'] );
		}
		$real = self::resolve_path( $r['value'] );
		foreach ( self::uploads_dirs() as $dir ) {
			if ( 0 === strpos( $real, $dir . '/' ) ) {
				return sprintf( "setting '%s': '%s' lies in WordPress's uploads folder (%s), whose files the web server serves to anyone; choose a folder outside it, such as /var/log/wordpress/", $key, $r['value'], $dir );
			}
		}
		return null;
	}

	/**
	 * The uploads folders: this site's, and the default one of wp-content (a multisite's sites
	 * upload below it), with symbolic links resolved.
	 *
	 * @return array
	 */
	private static function uploads_dirs() {
		$dirs = array( WP_CONTENT_DIR . '/uploads' );
		if ( function_exists( 'wp_upload_dir' ) ) {
			$up = wp_upload_dir( null, false );
			if ( is_array( $up ) && ! empty( $up['basedir'] ) ) {
				$dirs[] = (string) $up['basedir'];
			}
		}
		$out = array();
		foreach ( $dirs as $d ) {
			$d = untrailingslashit( self::resolve_path( $d ) );
			if ( '' !== $d ) {
				$out[] = $d;
			}
		}
		return array_unique( $out );
	}

	/**
	 * A path with the symbolic links of its existing part resolved (the rest kept as written).
	 *
	 * @param string $path Absolute path.
	 * @return string
	 */
	public static function resolve_path( $path ) {
		$path = untrailingslashit( wp_normalize_path( (string) $path ) );
		$tail = array();
		$dir  = $path;
		// phpcs:disable WordPress.PHP.NoSilencedErrors.Discouraged
		while ( '' !== $dir && '/' !== $dir && '.' !== $dir && ! @file_exists( $dir ) ) {
			array_unshift( $tail, basename( $dir ) );
			$dir = dirname( $dir );
		}
		$real = @realpath( '' === $dir ? '/' : $dir );
		// phpcs:enable
		if ( false === $real ) {
			return $path;
		}
		return rtrim( wp_normalize_path( $real ), '/' ) . ( $tail ? '/' . implode( '/', $tail ) : '' );
	}

	/**
	 * The site host for the ident, from the site's configured URL (never from the Host header).
	 *
	 * @return string
	 */
	public static function site_host() {
		$host = wp_parse_url( home_url(), PHP_URL_HOST );
		$host = is_string( $host ) ? Banlog_Format::sanitize_ident_host( $host ) : null;
		return null === $host ? '' : $host;
	}

	/**
	 * Settings for the extension / fallback writer.
	 *
	 * @param array|null $options Options (default: stored).
	 * @return array
	 */
	public static function writer_settings( $options = null ) {
		$o = null === $options ? self::options() : $options;
		return array(
			'spam_log'        => (string) $o['spam_log'],
			'syslog'          => (bool) $o['syslog'],
			'syslog_facility' => (string) $o['syslog_facility'],
			'syslog_target'   => (string) $o['syslog_target'],
			'ident_host'      => self::site_host(),
			'auth_log'        => (string) $o['auth_log'],
			'syslog_spam'     => (bool) $o['syslog_spam'],
		);
	}

	/**
	 * The writer.
	 *
	 * @return Banlog_Writer
	 */
	public function writer() {
		if ( null === $this->writer ) {
			$force_fallback = defined( 'BANLOG_FORCE_FALLBACK' ) && BANLOG_FORCE_FALLBACK;
			$settings = self::writer_settings();
			foreach ( array( 'spam_log', 'auth_log' ) as $key ) {
				$problem = self::path_problem( $key, $settings[ $key ] );
				if ( null !== $problem ) {
					// Stored before this rule, or set in php.ini: neither writer may write it.
					$settings[ $key ] = '';
					$this->record_error( $key, 'not written: ' . $problem );
				}
			}
			$this->writer = new Banlog_Writer(
				$settings,
				$force_fallback ? false : null,
				array( $this, 'record_error' )
			);
		}
		return $this->writer;
	}

	/**
	 * The client address resolver.
	 *
	 * @return Banlog_Client
	 */
	public function client() {
		if ( null === $this->client ) {
			$o = self::options();
			$this->client = new Banlog_Client( $o['trusted_proxies'], $o['proxy_header'] );
		}
		return $this->client;
	}

	/**
	 * The address of the client of this request.
	 *
	 * @return string|null
	 */
	public function client_addr() {
		return $this->client()->resolve( $_SERVER ); // phpcs:ignore WordPress.Security.ValidatedSanitizedInput
	}

	/**
	 * Keeps the last write problem for the status panel (at most one database write a minute per problem).
	 *
	 * @param string $sink    Sink.
	 * @param string $message Message.
	 */
	public function record_error( $sink, $message ) {
		// One line of valid UTF-8 (shown escaped in the status panel), at most 1000 bytes.
		$message = wp_check_invalid_utf8( substr( (string) preg_replace( '/[\x00-\x1f\x7f]/', ' ', (string) $message ), 0, 1000 ), true );
		$old = get_option( self::ERROR_OPTION );
		if ( is_array( $old ) && isset( $old['sink'], $old['message'], $old['time'] )
			&& $old['sink'] === $sink && $old['message'] === $message && time() - (int) $old['time'] < 60 ) {
			return;
		}
		update_option(
			self::ERROR_OPTION,
			array(
				'time'    => time(),
				'sink'    => (string) $sink,
				'message' => $message,
			),
			false
		);
	}

	/**
	 * The in-process gate (when on): a login POST, an XML-RPC request or a comment post from a
	 * client that has reached a jail's limit ends here with 403, before any password check.
	 */
	public function gate() {
		global $pagenow;
		$o = self::options();
		if ( empty( $o['gate'] ) ) {
			return;
		}
		// phpcs:ignore WordPress.Security.ValidatedSanitizedInput -- compared with a constant only.
		$method = isset( $_SERVER['REQUEST_METHOD'] ) && is_string( $_SERVER['REQUEST_METHOD'] ) ? $_SERVER['REQUEST_METHOD'] : '';
		if ( null === Banlog_Gate::guarded( is_string( $pagenow ) ? $pagenow : '', $method, self::is_xmlrpc() ) ) {
			return;
		}
		$addr = $this->client_addr();
		if ( null !== $addr && null !== Banlog_Gate::reached( $addr, $o ) ) {
			Banlog_Gate::refuse();
		}
	}

	// ---------------------------------------------------------------- spam

	/**
	 * A new comment: logged when it was judged spam at submission.
	 *
	 * @param int        $comment_id Comment id.
	 * @param int|string $approved   1, 0, 'spam' or 'trash'.
	 * @param array      $data       Comment data.
	 */
	public function on_comment_post( $comment_id, $approved, $data = array() ) {
		if ( 'spam' === $approved ) {
			$this->discarded_from = null;
			$this->log_comment( $comment_id );
		}
	}

	/**
	 * A stored comment changed status (admin list, bulk action, REST API, wp_spam_comment(), edit screen).
	 *
	 * @param string     $new_status New status.
	 * @param string     $old_status Old status.
	 * @param WP_Comment $comment    Comment.
	 */
	public function on_transition_comment_status( $new_status, $old_status, $comment ) {
		if ( 'spam' === $new_status && 'spam' !== $old_status ) {
			$this->log_comment( $comment );
		}
	}

	/**
	 * Akismet judged a submission spam. When it discards it, the comment is never stored, so no
	 * other hook sees it: it is logged (id 0) at the end of the request unless it was stored after all.
	 *
	 * @param bool $discard Whether Akismet discards the comment.
	 */
	public function on_akismet_spam_caught( $discard = false ) {
		if ( $discard ) {
			$this->discarded_from = $this->client_addr();
			if ( null === $this->discarded_from ) {
				$why = $this->client()->last_problem;
				$this->record_error( 'input', 'discarded spam comment: ' . ( null === $why ? 'no client address' : $why ) . '; not logged' );
			}
		}
	}

	/**
	 * End of the request.
	 */
	public function on_shutdown() {
		if ( null !== $this->discarded_from ) {
			$addr = $this->discarded_from;
			$this->discarded_from = null;
			$this->writer()->spam( 0, $addr );
		}
	}

	/**
	 * Logs a comment as spam, once per request, with its stored author address.
	 *
	 * @param int|WP_Comment $comment Comment.
	 */
	private function log_comment( $comment ) {
		$comment = get_comment( $comment );
		if ( ! $comment ) {
			return;
		}
		$id = (int) $comment->comment_ID;
		if ( isset( $this->logged_comments[ $id ] ) ) {
			return;
		}
		$this->logged_comments[ $id ] = true;
		if ( get_comment_meta( $id, self::UNRESOLVED_META, true ) ) {
			// Its stored address is the peer's, i.e. a trusted proxy: fail2ban would ban the proxy.
			$this->record_error( 'input', sprintf( 'comment %d: a trusted proxy named no valid client address when it was posted; not logged', $id ) );
			return;
		}
		$stored = isset( $this->original_ips[ $id ] ) ? $this->original_ips[ $id ] : (string) $comment->comment_author_IP;
		$addr = Banlog_Format::parse_addr( $stored );
		if ( null === $addr ) {
			$this->record_error( 'input', sprintf( 'comment %d has no client address to log', $id ) );
			return;
		}
		$this->writer()->spam( $id, $addr );
	}

	/**
	 * Local spam checks: when a spamd address is set, asks spamd about a new comment and marks it
	 * spam when spamd says so (comment_post then logs it like any other spam). When spamd cannot
	 * answer within the budget, the comment keeps WordPress's own verdict and the status panel
	 * shows why.
	 *
	 * @param int|string|WP_Error $approved   WordPress's verdict so far: 1, 0, 'spam', 'trash' or an error.
	 * @param array               $commentdata The comment.
	 * @return int|string|WP_Error
	 */
	public function filter_spamd( $approved, $commentdata = array() ) {
		if ( is_wp_error( $approved ) || 'spam' === $approved || 'trash' === $approved || ! is_array( $commentdata ) ) {
			return $approved;
		}
		$o = self::options();
		$address = trim( (string) $o['spamd'] );
		if ( '' === $address ) {
			return $approved;
		}
		$problem = Banlog_Spamd::address_problem( $address );
		if ( null !== $problem ) {
			$this->record_error( 'spamd', $problem . '; comments are not checked' );
			return $approved;
		}
		$spamd = new Banlog_Spamd( $address, $o['spamd_timeout'] );
		$verdict = $spamd->check( Banlog_Spamd::message( $commentdata, self::site_host(), time() ) );
		if ( null === $verdict ) {
			$this->record_error( 'spamd', $spamd->last_problem . '; the comment went through WordPress\'s usual checks' );
			return $approved;
		}
		return $verdict['spam'] ? 'spam' : $approved;
	}

	/**
	 * Keeps a comment's author address when an update replaces it: the REST API's comment update
	 * writes the moderator's own address into the comment before it applies `status=spam`.
	 *
	 * @param array|WP_Error $data    New data.
	 * @param array          $comment Old data.
	 * @return array|WP_Error
	 */
	public function remember_author_ip( $data, $comment = array() ) {
		if ( is_array( $data ) && is_array( $comment ) && isset( $comment['comment_ID'], $comment['comment_author_IP'] ) ) {
			$id = (int) $comment['comment_ID'];
			$new = isset( $data['comment_author_IP'] ) ? (string) $data['comment_author_IP'] : null;
			if ( ! isset( $this->original_ips[ $id ] ) && null !== $new && $new !== (string) $comment['comment_author_IP'] ) {
				$this->original_ips[ $id ] = (string) $comment['comment_author_IP'];
			}
		}
		return $data;
	}

	/**
	 * Stores the true client address with a comment when the request came through a trusted proxy.
	 *
	 * @param string $ip Address WordPress took from REMOTE_ADDR.
	 * @return string
	 */
	public function filter_comment_user_ip( $ip ) {
		$addr = $this->client_addr();
		// Unresolved (a trusted proxy sent garbage): WordPress still stores REMOTE_ADDR, the proxy's
		// address, so the comment is marked (on_insert_comment()) and never logged with it.
		$this->comment_ip_unresolved = null === $addr;
		return null === $addr ? $ip : $addr;
	}

	/**
	 * Marks a comment whose client address could not be resolved in this request.
	 *
	 * @param int $comment_id Comment id.
	 */
	public function on_insert_comment( $comment_id ) {
		if ( $this->comment_ip_unresolved ) {
			$this->comment_ip_unresolved = false;
			add_comment_meta( (int) $comment_id, self::UNRESOLVED_META, 1, true );
		}
	}

	// ---------------------------------------------------------------- logins

	/**
	 * Whether this is an XML-RPC request.
	 *
	 * @return bool
	 */
	private static function is_xmlrpc() {
		return defined( 'XMLRPC_REQUEST' ) && XMLRPC_REQUEST;
	}

	/**
	 * Whether a failed login named an existing user.
	 *
	 * @param string        $username Name or e-mail as given.
	 * @param WP_Error|null $error    The error.
	 * @return bool
	 */
	private static function is_known_user( $username, $error ) {
		$code = is_wp_error( $error ) ? $error->get_error_code() : '';
		if ( in_array( $code, array( 'invalid_username', 'invalid_email' ), true ) ) {
			return false;
		}
		if ( 'incorrect_password' === $code ) {
			return true;
		}
		$username = (string) $username;
		if ( '' === $username ) {
			return false;
		}
		return (bool) ( get_user_by( 'login', $username ) || ( is_email( $username ) && get_user_by( 'email', $username ) ) );
	}

	/**
	 * wp_authenticate() failed: wp-login.php, or the first failure of an XML-RPC request.
	 *
	 * @param string        $username Name as given.
	 * @param WP_Error|null $error    Why.
	 */
	public function on_login_failed( $username, $error = null ) {
		$known = self::is_known_user( $username, $error );
		if ( self::is_xmlrpc() ) {
			$event = $known ? 'xmlrpc_failure' : 'xmlrpc_unknown_user';
		} else {
			$event = $known ? 'failure' : 'unknown_user';
		}
		$this->log_auth( $event, $username );
	}

	/**
	 * XML-RPC login error. After one failure WordPress refuses every further login of the request
	 * (`login_prevented`) without calling wp_authenticate(): each of those is a multicall failure.
	 *
	 * @param IXR_Error $ixr_error Error sent to the client.
	 * @param WP_Error  $user      Why.
	 * @return IXR_Error
	 */
	public function on_xmlrpc_login_error( $ixr_error, $user = null ) {
		if ( is_wp_error( $user ) && 'login_prevented' === $user->get_error_code() ) {
			$this->log_auth( 'multicall_failure', '' );
		}
		return $ixr_error;
	}

	/**
	 * Ends an XML-RPC request at its second login attempt after a failure (a system.multicall of
	 * guesses), when the option is on. WordPress already refuses that attempt without a password
	 * check (`login_prevented`), but would go on through every further call of the request, and
	 * banlog would write a line for each. on_xmlrpc_login_error() has logged this attempt as the
	 * multicall failure the hard jail bans on (`maxretry = 1`); the client gets one fault.
	 *
	 * @param IXR_Error $ixr_error Error sent to the client.
	 * @param WP_Error  $user      Why.
	 * @return IXR_Error
	 */
	public function stop_xmlrpc_burst( $ixr_error, $user = null ) {
		if ( ! is_wp_error( $user ) || 'login_prevented' !== $user->get_error_code() ) {
			return $ixr_error;
		}
		$o = self::options();
		if ( empty( $o['xmlrpc_multicall_stop'] ) ) {
			return $ixr_error;
		}
		$error = $ixr_error instanceof IXR_Error ? $ixr_error : new IXR_Error( 403, translate( 'Incorrect username or password.' ) ); // phpcs:ignore WordPress.WP.I18n -- WordPress's own message, in its own domain.
		global $wp_xmlrpc_server;
		if ( $wp_xmlrpc_server instanceof IXR_Server ) {
			$wp_xmlrpc_server->error( $error ); // Sends the fault and exits.
		}
		// Another server class that does not extend IXR_Server: the same fault by hand.
		if ( ! headers_sent() ) {
			header( 'Content-Type: text/xml; charset=UTF-8' );
		}
		echo '<?xml version="1.0" encoding="UTF-8"?>' . "\n" . $error->getXml(); // phpcs:ignore WordPress.Security.EscapeOutput -- IXR_Error escapes its message.
		exit;
	}

	/**
	 * An application password failed (REST API basic authentication).
	 *
	 * @param WP_Error $error Why.
	 */
	public function on_application_password_failed( $error ) {
		if ( self::is_xmlrpc() || $this->rest_failure_logged ) {
			return; // XML-RPC: wp_login_failed reports the same attempt.
		}
		$this->rest_failure_logged = true;
		// phpcs:ignore WordPress.Security.ValidatedSanitizedInput
		$username = isset( $_SERVER['PHP_AUTH_USER'] ) && is_string( $_SERVER['PHP_AUTH_USER'] ) ? wp_unslash( $_SERVER['PHP_AUTH_USER'] ) : '';
		$code = is_wp_error( $error ) ? $error->get_error_code() : '';
		$unknown = in_array( $code, array( 'invalid_username', 'invalid_email' ), true );
		$this->log_auth( $unknown ? 'rest_unknown_user' : 'rest_failure', $username );
	}

	/**
	 * A successful interactive login (logged when enabled).
	 *
	 * @param string  $user_login Login.
	 * @param WP_User $user       User.
	 */
	public function on_login( $user_login, $user = null ) {
		$o = self::options();
		if ( ! empty( $o['log_success'] ) ) {
			$this->log_auth( 'success', $user_login );
		}
	}

	/**
	 * A logout (logged when enabled). WordPress passes the user's id since 5.5; by then the
	 * current user is already cleared, so the name is looked up by that id.
	 *
	 * @param int $user_id The user who logged out.
	 */
	public function on_logout( $user_id = 0 ) {
		$o = self::options();
		if ( empty( $o['log_logout'] ) ) {
			return;
		}
		$user = get_userdata( (int) $user_id );
		$this->log_auth( 'logout', $user ? (string) $user->user_login : '' );
	}

	/**
	 * Logs an authentication event for this request's client.
	 *
	 * @param string $event Event.
	 * @param string $user  User name as given.
	 */
	private function log_auth( $event, $user ) {
		$addr = $this->client_addr();
		if ( null === $addr ) {
			$why = $this->client()->last_problem;
			$this->record_error( 'input', sprintf( '%s: no client address; not logged', null === $why ? 'authentication event' : 'authentication event: ' . $why ) );
			return;
		}
		$this->writer()->auth( $event, is_scalar( $user ) ? (string) $user : '', $addr );
	}
}

/**
 * Activation: store an empty configuration (an existing one is kept). On a network activation the
 * same for the site it runs on: the network's settings need nothing stored until the super admin
 * chooses them (Banlog_Plugin::options() falls back to php.ini, then the defaults), and a site
 * without a stored option reads the defaults too.
 */
function banlog_activate() {
	// Only the format: every setting follows php.ini (else the plugin's default) until the site
	// admin chooses another value on the options page.
	add_option( Banlog_Plugin::OPTION, array( 'version' => Banlog_Plugin::OPTIONS_VERSION ) );
}
register_activation_hook( __FILE__, 'banlog_activate' );

Banlog_Plugin::instance()->register();
