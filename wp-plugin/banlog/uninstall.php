<?php
/**
 * Uninstall: removes banlog's options and comment marks. The log files are left alone (they are the site's logs).
 *
 * @package banlog
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

/**
 * Deletes the options (and the comment marks) of the current site.
 */
function banlog_uninstall_site() {
	delete_option( 'banlog_options' );
	delete_option( 'banlog_last_error' );
	delete_metadata( 'comment', 0, '_banlog_unresolved_ip', '', true );
}

if ( is_multisite() && function_exists( 'get_sites' ) ) {
	foreach ( get_sites( array( 'fields' => 'ids', 'number' => 0 ) ) as $banlog_site_id ) {
		switch_to_blog( $banlog_site_id );
		banlog_uninstall_site();
		restore_current_blog();
	}
	// The network's settings (Network Admin → Settings → banlog).
	delete_site_option( 'banlog_network_options' );
	delete_site_transient( 'banlog_network_notices_' . get_current_user_id() );
} else {
	banlog_uninstall_site();
}
