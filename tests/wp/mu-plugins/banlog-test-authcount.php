<?php
/**
 * Test helper: counts the requests that reach a password check. Every call of wp_authenticate()
 * with a user name and a password (wp-login.php, XML-RPC) appends the peer address to
 * wp-content/banlog-authcount.log, before WordPress's own check (priority 20) runs. Every POST to
 * wp-login.php that reaches WordPress (this file loads before the plugins) appends it to
 * wp-content/banlog-arrivals.log. The gate's tests read them to see how many of an attacker's
 * requests got how far.
 */

defined( 'ABSPATH' ) || exit;

if ( isset( $_SERVER['REQUEST_METHOD'], $_SERVER['SCRIPT_NAME'] ) && 'POST' === $_SERVER['REQUEST_METHOD']
	&& 'wp-login.php' === basename( (string) $_SERVER['SCRIPT_NAME'] ) ) {
	$peer = isset( $_SERVER['REMOTE_ADDR'] ) ? (string) $_SERVER['REMOTE_ADDR'] : '-';
	file_put_contents( WP_CONTENT_DIR . '/banlog-arrivals.log', $peer . "\n", FILE_APPEND | LOCK_EX ); // phpcs:ignore
}

add_filter(
	'authenticate',
	function ( $user, $username = '', $password = '' ) {
		if ( '' !== (string) $username && '' !== (string) $password ) {
			$peer = isset( $_SERVER['REMOTE_ADDR'] ) ? (string) $_SERVER['REMOTE_ADDR'] : '-';
			file_put_contents( WP_CONTENT_DIR . '/banlog-authcount.log', $peer . "\n", FILE_APPEND | LOCK_EX ); // phpcs:ignore
		}
		return $user;
	},
	1,
	3
);
