<?php
/**
 * Test helpers for banlog's end-to-end suite. Installed only into the harness's throw-away site.
 *
 * - `admin-ajax.php?action=banlog_test_eval` runs PHP inside WordPress, guarded by the random
 *   secret the harness writes into wp-config.php (BANLOG_TEST_SECRET);
 * - a spam filter as any anti-spam plugin does it: content with FILTER-SPAM is judged spam at
 *   submission (`pre_comment_approved`);
 * - Akismet's servers stand in: the suite may not reach the Internet, so WordPress's HTTP API
 *   answers Akismet's requests here (content with AKISMET-SPAM is spam, AKISMET-DISCARD is spam
 *   that Akismet discards); Akismet's own code does everything else;
 * - no comment flood limit, so that one address may post several comments in a row, except in
 *   requests with the header `X-Banlog-Flood-Check` (the flood tests: WordPress's own limit);
 * - every response names the php-fpm worker that served it (`X-Banlog-Worker: <pid>`), so that a
 *   lifecycle test can signal exactly that process.
 */

defined( 'ABSPATH' ) || exit;

if ( ! headers_sent() ) {
	header( 'X-Banlog-Worker: ' . getmypid() );
}

function banlog_test_eval() {
	$secret = isset( $_POST['secret'] ) ? (string) wp_unslash( $_POST['secret'] ) : '';
	if ( ! defined( 'BANLOG_TEST_SECRET' ) || ! hash_equals( BANLOG_TEST_SECRET, $secret ) ) {
		status_header( 403 );
		exit;
	}
	eval( wp_unslash( $_POST['code'] ) ); // phpcs:ignore
	exit;
}
add_action( 'wp_ajax_nopriv_banlog_test_eval', 'banlog_test_eval' );
add_action( 'wp_ajax_banlog_test_eval', 'banlog_test_eval' );

add_filter(
	'comment_flood_filter',
	function ( $flood ) {
		return isset( $_SERVER['HTTP_X_BANLOG_FLOOD_CHECK'] ) ? $flood : false;
	},
	99
);

add_filter(
	'pre_comment_approved',
	function ( $approved, $data ) {
		if ( isset( $data['comment_content'] ) && false !== strpos( $data['comment_content'], 'FILTER-SPAM' ) ) {
			return 'spam';
		}
		return $approved;
	},
	99,
	2
);

add_filter(
	'pre_http_request',
	function ( $pre, $args, $url ) {
		if ( false === strpos( (string) $url, 'akismet.com/1.1/' ) ) {
			return $pre;
		}
		$headers = array();
		$body = 'false';
		if ( false !== strpos( $url, 'verify-key' ) ) {
			$body = 'valid';
		} elseif ( false !== strpos( $url, 'comment-check' ) ) {
			parse_str( is_string( $args['body'] ) ? $args['body'] : '', $fields );
			$content = isset( $fields['comment_content'] ) ? $fields['comment_content'] : '';
			if ( false !== strpos( $content, 'AKISMET-DISCARD' ) ) {
				$body = 'true';
				$headers['x-akismet-pro-tip'] = 'discard';
			} elseif ( false !== strpos( $content, 'AKISMET-SPAM' ) ) {
				$body = 'true';
			}
		}
		return array(
			'headers'  => $headers,
			'body'     => $body,
			'response' => array( 'code' => 200, 'message' => 'OK' ),
			'cookies'  => array(),
			'filename' => null,
		);
	},
	10,
	3
);

/*
 * What one XML-RPC request cost, for the multicall tests: password checks (the `authenticate`
 * filter, which wp_authenticate() runs once per check) and login errors (`xmlrpc_login_error`,
 * once per call that tried to log in). Kept at the request's end (also after an exit) in the
 * option `banlog_test_xmlrpc_counts`, by client address.
 */
$GLOBALS['banlog_test_counts'] = array(
	'password_checks' => 0,
	'login_errors'    => 0,
);
add_filter(
	'authenticate',
	function ( $user ) {
		$GLOBALS['banlog_test_counts']['password_checks']++;
		return $user;
	},
	0
);
add_filter(
	'xmlrpc_login_error',
	function ( $error ) {
		$GLOBALS['banlog_test_counts']['login_errors']++;
		return $error;
	},
	0
);
add_action(
	'shutdown',
	function () {
		if ( ! defined( 'XMLRPC_REQUEST' ) || ! XMLRPC_REQUEST || ! isset( $_SERVER['REMOTE_ADDR'] ) ) {
			return;
		}
		$all = get_option( 'banlog_test_xmlrpc_counts', array() );
		$all = is_array( $all ) ? $all : array();
		$all[ (string) $_SERVER['REMOTE_ADDR'] ] = $GLOBALS['banlog_test_counts'];
		update_option( 'banlog_test_xmlrpc_counts', $all, false );
	}
);
