<?php
/**
 * Abuse that is not a failed login: failed pingbacks and trackbacks, comment floods, user
 * enumeration. Each is logged as a fixed sentence with the client's address (banlog_auth()'s
 * pingback, trackback, comment_flood and user_enumeration events), for the banlog-pingback,
 * banlog-comment-flood and banlog-user-enum jails.
 *
 * @package banlog
 */

defined( 'ABSPATH' ) || exit;

/**
 * Hooks for the abuse events.
 */
final class Banlog_Abuse {

	/**
	 * A pingback WordPress already registered (fault 48): what a real blog gets when it pings
	 * again after editing its post. Not abuse, not logged (as WP fail2ban does).
	 */
	const PINGBACK_ALREADY_REGISTERED = 48;

	/** The REST routes that list or show users (WordPress matches routes without regard to case). */
	const USERS_ROUTE = '#^/wp/v2/users(?:/[0-9]+)?/?$#i';

	/**
	 * The plugin.
	 *
	 * @var Banlog_Plugin
	 */
	private $plugin;

	/**
	 * The output buffer level this request's trackback response is read from, or null.
	 *
	 * @var int|null
	 */
	private $trackback_level = null;

	/**
	 * Whether a REST request was looked at already (embedded and internal requests dispatch
	 * again; only the client's own request counts).
	 *
	 * @var bool
	 */
	private $rest_seen = false;

	/**
	 * Whether an `?author=N` redirect was looked at already (WordPress checks its redirect for a
	 * chain by running redirect_canonical() again, which applies the filter once more).
	 *
	 * @var bool
	 */
	private $author_seen = false;

	/**
	 * Constructor.
	 *
	 * @param Banlog_Plugin $plugin The plugin.
	 */
	public function __construct( Banlog_Plugin $plugin ) {
		$this->plugin = $plugin;
	}

	/**
	 * Registers the hooks.
	 */
	public function register() {
		// Early, so that the code is WordPress's own before another filter changes the error.
		add_filter( 'xmlrpc_pingback_error', array( $this, 'on_pingback_error' ), 5, 1 );
		add_action( 'wp', array( $this, 'watch_trackback' ), 0 );
		add_action( 'shutdown', array( $this, 'on_shutdown' ), 0 );
		add_action( 'comment_flood_trigger', array( $this, 'on_comment_flood' ), 10, 0 );
		// Before WordPress's own canonical redirect (template_redirect, 10).
		add_filter( 'redirect_canonical', array( $this, 'on_redirect_canonical' ), 5, 2 );
		add_filter( 'rest_pre_dispatch', array( $this, 'on_rest_pre_dispatch' ), 5, 3 );
	}

	/**
	 * Whether requests WordPress would answer with a user's name are refused (403).
	 *
	 * @return bool
	 */
	public static function refuses_enumeration() {
		$o = Banlog_Plugin::options();
		return ! empty( $o['refuse_user_enumeration'] );
	}

	/**
	 * Logs one event for this request's client.
	 *
	 * @param string $event  Event (see Banlog_Format::AUTH_LEADS).
	 * @param string $detail The pingback's code, or ''.
	 */
	private function log( $event, $detail = '' ) {
		$addr = $this->plugin->client_addr();
		if ( null === $addr ) {
			$why = $this->plugin->client()->last_problem;
			$this->plugin->record_error( 'input', sprintf( '%s: no client address%s; not logged', $event, null === $why ? '' : ': ' . $why ) );
			return;
		}
		$this->plugin->writer()->auth( $event, $detail, $addr );
	}

	// ---------------------------------------------------------------- pingbacks, trackbacks

	/**
	 * A failed pingback.ping: WordPress passes each fault it answers through this filter.
	 *
	 * @param IXR_Error|mixed $error The fault.
	 * @return IXR_Error|mixed The same fault.
	 */
	public function on_pingback_error( $error ) {
		if ( ! is_object( $error ) || ! isset( $error->code ) ) {
			return $error;
		}
		// WordPress's codes are integers; anything else (another plugin's doing) is written as 0.
		$code = is_int( $error->code ) ? $error->code : 0;
		if ( self::PINGBACK_ALREADY_REGISTERED !== $code ) {
			$this->log( 'pingback', (string) $code );
		}
		return $error;
	}

	/**
	 * A trackback request (wp-trackback.php, or a post's /trackback/ address): its answer is read
	 * at the end of the request. wp-trackback.php ends the request itself with `<error>1</error>`
	 * on failure (trackback_response()) and calls no hook then. The query variable, not
	 * is_trackback(): a trackback to no post is a 404 query, which clears is_trackback(), and
	 * wp-trackback.php still answers it.
	 *
	 * @param WP $wp The request.
	 */
	public function watch_trackback( $wp = null ) {
		$tb = is_object( $wp ) && isset( $wp->query_vars ) && is_array( $wp->query_vars ) && ! empty( $wp->query_vars['tb'] );
		if ( $tb && null === $this->trackback_level ) {
			ob_start();
			$this->trackback_level = ob_get_level();
		}
	}

	/**
	 * End of the request: a trackback answered with an error is logged.
	 */
	public function on_shutdown() {
		if ( null === $this->trackback_level ) {
			return;
		}
		$level = $this->trackback_level;
		$this->trackback_level = null;
		if ( ob_get_level() !== $level ) {
			return; // Another buffer on top (or ours gone): the answer cannot be read.
		}
		$out = (string) ob_get_contents();
		ob_end_flush();
		if ( preg_match( '#<response>\s*<error>1</error>#', $out ) ) {
			$this->log( 'trackback' );
		}
	}

	// ---------------------------------------------------------------- comment floods

	/**
	 * WordPress refuses a comment as posted too quickly after the last one from the same
	 * address (or e-mail); the visitor gets "You are posting comments too quickly" (429).
	 */
	public function on_comment_flood() {
		$this->log( 'comment_flood' );
	}

	// ---------------------------------------------------------------- user enumeration

	/**
	 * Whether this visitor may see who the site's users are without being counted: any logged-in
	 * user (the block editor lists authors for them), which includes everyone with list_users.
	 *
	 * @return bool
	 */
	private static function may_list_users() {
		return is_user_logged_in();
	}

	/**
	 * `?author=N`: WordPress redirects an anonymous visitor to the author's archive, whose
	 * address holds the login name. Logged, and refused when the option is on.
	 *
	 * @param string|false $redirect_url  Where WordPress redirects.
	 * @param string       $requested_url The requested address.
	 * @return string|false
	 */
	public function on_redirect_canonical( $redirect_url, $requested_url = '' ) {
		// phpcs:ignore WordPress.Security.NonceVerification.Recommended -- read only, compared to digits.
		$author = isset( $_GET['author'] ) && is_string( $_GET['author'] ) ? wp_unslash( $_GET['author'] ) : '';
		// WordPress redirects only for digits (redirect_canonical()).
		if ( $this->author_seen || ! $redirect_url || ! is_author() || ! preg_match( '/^[0-9]+$/D', $author ) || self::may_list_users() ) {
			return $redirect_url;
		}
		$this->author_seen = true;
		if ( self::refuses_enumeration() ) {
			$this->log( 'user_enumeration_blocked' );
			wp_die( esc_html__( 'Forbidden.', 'banlog' ), '', array( 'response' => 403 ) );
		}
		$this->log( 'user_enumeration' );
		return $redirect_url;
	}

	/**
	 * The REST API's user list and user records (`wp/v2/users`, `wp/v2/users/N`) asked for by
	 * an anonymous client. Logged, and refused when the option is on.
	 *
	 * @param mixed           $result  A response another filter gave, or null.
	 * @param WP_REST_Server  $server  The server.
	 * @param WP_REST_Request $request The request.
	 * @return mixed
	 */
	public function on_rest_pre_dispatch( $result, $server = null, $request = null ) {
		if ( $this->rest_seen || ! defined( 'REST_REQUEST' ) || ! REST_REQUEST || ! $request instanceof WP_REST_Request ) {
			return $result;
		}
		$this->rest_seen = true;
		if ( null !== $result || ! in_array( $request->get_method(), array( 'GET', 'HEAD' ), true )
			|| ! preg_match( self::USERS_ROUTE, (string) $request->get_route() ) || self::may_list_users() ) {
			return $result;
		}
		if ( self::refuses_enumeration() ) {
			$this->log( 'user_enumeration_blocked' );
			return new WP_Error( 'banlog_user_enumeration', __( 'Listing users is not allowed.', 'banlog' ), array( 'status' => 403 ) );
		}
		$this->log( 'user_enumeration' );
		return $result;
	}
}
