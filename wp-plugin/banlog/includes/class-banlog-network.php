<?php
/**
 * Multisite: Network Admin → Settings → banlog, where a super admin sets the network's settings.
 *
 * The Settings API cannot save a network option (options.php writes the current site's), so the
 * form posts to network/edit.php?action=banlog, checked here with a nonce and the
 * `manage_network_options` capability.
 *
 * @package banlog
 */

defined( 'ABSPATH' ) || exit;

/**
 * The network settings page.
 */
final class Banlog_Network {

	const PAGE   = 'banlog-network';
	const ACTION = 'banlog';
	const NONCE  = 'banlog-network-options';

	/**
	 * The plugin.
	 *
	 * @var Banlog_Plugin
	 */
	private $plugin;

	/**
	 * Creates the page.
	 *
	 * @param Banlog_Plugin $plugin The plugin.
	 */
	public function __construct( Banlog_Plugin $plugin ) {
		$this->plugin = $plugin;
	}

	/**
	 * Registers the network admin hooks.
	 */
	public function register() {
		add_action( 'network_admin_menu', array( $this, 'menu' ) );
		add_action( 'network_admin_edit_' . self::ACTION, array( $this, 'save' ) );
		add_filter( 'network_admin_plugin_action_links_' . plugin_basename( BANLOG_PLUGIN_FILE ), array( $this, 'action_links' ) );
	}

	/**
	 * Adds Network Admin → Settings → banlog.
	 */
	public function menu() {
		add_submenu_page(
			'settings.php',
			__( 'banlog', 'banlog' ),
			__( 'banlog', 'banlog' ),
			'manage_network_options',
			self::PAGE,
			array( $this, 'render' )
		);
	}

	/**
	 * A "Settings" link in the network's plugin list.
	 *
	 * @param array $links Links.
	 * @return array
	 */
	public function action_links( $links ) {
		$url = network_admin_url( 'settings.php?page=' . self::PAGE );
		array_unshift( $links, '<a href="' . esc_url( $url ) . '">' . esc_html__( 'Settings', 'banlog' ) . '</a>' );
		return $links;
	}

	/**
	 * The settings the network page may change: the network's, less those php.ini locks.
	 *
	 * @return array
	 */
	private static function editable_keys() {
		return array_values( array_filter( Banlog_Plugin::NETWORK_KEYS, array( __CLASS__, 'unlocked' ) ) );
	}

	/**
	 * Whether php.ini leaves a setting to the network page.
	 *
	 * @param string $key Option key.
	 * @return bool
	 */
	private static function unlocked( $key ) {
		return ! Banlog_Plugin::locked( $key );
	}

	/**
	 * The form's POST (network/edit.php?action=banlog): a super admin's, with this page's nonce.
	 */
	public function save() {
		if ( ! current_user_can( 'manage_network_options' ) ) {
			wp_die( esc_html__( 'Sorry, you are not allowed to manage the network\'s banlog settings.', 'banlog' ), 403 );
		}
		check_admin_referer( self::NONCE );
		// phpcs:ignore WordPress.Security.ValidatedSanitizedInput -- validated key by key in clean().
		$input = isset( $_POST[ Banlog_Plugin::OPTION ] ) ? wp_unslash( $_POST[ Banlog_Plugin::OPTION ] ) : array();
		$admin = new Banlog_Admin( $this->plugin );
		$out = $admin->clean( is_array( $input ) ? $input : array(), Banlog_Plugin::network_stored(), self::editable_keys() );
		update_site_option( Banlog_Plugin::NETWORK_OPTION, $out );
		// Shown once on the page after the redirect, as options.php does for a site's page.
		set_site_transient( self::errors_key(), get_settings_errors( Banlog_Plugin::OPTION ), 30 );
		wp_safe_redirect(
			add_query_arg(
				array(
					'page'    => self::PAGE,
					'updated' => 'true',
				),
				network_admin_url( 'settings.php' )
			)
		);
		exit;
	}

	/**
	 * Where save() leaves its notices for this user.
	 *
	 * @return string
	 */
	private static function errors_key() {
		return 'banlog_network_notices_' . get_current_user_id();
	}

	/**
	 * The page.
	 */
	public function render() {
		if ( ! current_user_can( 'manage_network_options' ) ) {
			wp_die( esc_html__( 'Sorry, you are not allowed to manage the network\'s banlog settings.', 'banlog' ), 403 );
		}
		echo '<div class="wrap" id="banlog-settings">';
		echo '<h1>' . esc_html__( 'banlog (network)', 'banlog' ) . '</h1>';
		$notices = get_site_transient( self::errors_key() );
		if ( is_array( $notices ) ) {
			delete_site_transient( self::errors_key() );
			// The messages were escaped when they were made (Banlog_Admin::refuse() and friends).
			foreach ( $notices as $n ) {
				if ( is_array( $n ) && isset( $n['message'], $n['type'], $n['code'] ) ) {
					$type = 'error' === $n['type'] ? 'error' : 'warning';
					echo '<div id="' . esc_attr( 'setting-error-' . $n['code'] ) . '" class="notice notice-' . esc_attr( $type ) . ' settings-error"><p><strong>' . wp_kses( (string) $n['message'], array() ) . '</strong></p></div>';
				}
			}
		}
		// phpcs:ignore WordPress.Security.NonceVerification.Recommended -- only chooses a notice.
		if ( isset( $_GET['updated'] ) && ! is_array( $notices ) ) {
			echo '<div class="notice notice-success"><p>' . esc_html__( 'Settings saved.', 'banlog' ) . '</p></div>';
		}
		echo '<p>' . esc_html__( 'These settings apply to every site of the network; a site\'s admin sees only the site\'s own status. A banlog.* directive in php.ini locks its setting for every site of the server.', 'banlog' ) . '</p>';
		echo '<form method="post" action="' . esc_url( network_admin_url( 'edit.php?action=' . self::ACTION ) ) . '">';
		wp_nonce_field( self::NONCE );
		echo '<input type="hidden" name="' . esc_attr( Banlog_Plugin::OPTION . '[form]' ) . '" value="1" />';
		do_settings_sections( Banlog_Admin::PAGE );
		submit_button();
		echo '</form>';
		( new Banlog_Admin( $this->plugin ) )->render_status();
		echo '</div>';
	}
}
