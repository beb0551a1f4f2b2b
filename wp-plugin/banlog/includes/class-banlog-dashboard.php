<?php
/**
 * The dashboard widget and the Activity tab of Settings → banlog.
 *
 * @package banlog
 */

defined( 'ABSPATH' ) || exit;

/**
 * Widget and Activity tab.
 */
final class Banlog_Dashboard {

	/**
	 * Registers the hooks.
	 */
	public static function register() {
		add_action( 'wp_dashboard_setup', array( __CLASS__, 'widget_setup' ) );
	}

	/**
	 * Adds the widget for administrators.
	 */
	public static function widget_setup() {
		if ( current_user_can( 'manage_options' ) ) {
			wp_add_dashboard_widget( 'banlog_activity', __( 'banlog: attacks seen', 'banlog' ), array( __CLASS__, 'widget' ) );
		}
	}

	/**
	 * Where the figures come from, in words.
	 *
	 * @param array $events Events.
	 * @return string HTML.
	 */
	private static function source_note( array $events ) {
		if ( Banlog_Activity::from_extension() ) {
			/* translators: %d: number of events */
			$t = sprintf( __( 'From the banlog extension: this site\'s events among the last 4096 of every PHP worker of this server (%d here). Counts restart when PHP restarts.', 'banlog' ), count( $events ) );
			return '<p class="description" id="banlog-activity-source" data-source="pool">' . esc_html( $t ) . '</p>';
		}
		/* translators: %d: number of events */
		$t = sprintf( __( 'Fallback mode (no banlog extension): the last %d events this site\'s PHP writer took, kept in the database. Events of requests that ended at the same moment may be missing, and events of other sites on this server are not counted; load the extension for exact figures.', 'banlog' ), Banlog_Activity::RING_MAX );
		return '<p class="description" id="banlog-activity-source" data-source="fallback">' . esc_html( $t ) . '</p>';
	}

	/**
	 * The widget: the last 24 hours' chart, the top addresses, the last events.
	 */
	public static function widget() {
		$events = Banlog_Activity::events();
		$now = time();
		$hours = Banlog_Activity::buckets( $events, 24, HOUR_IN_SECONDS, $now );
		echo '<div id="banlog-widget">';
		echo Banlog_Activity::svg( $hours, 'H', 'banlog-widget-chart', 3 ); // phpcs:ignore WordPress.Security.EscapeOutput -- escaped in svg().
		echo Banlog_Activity::legend( $hours ); // phpcs:ignore WordPress.Security.EscapeOutput -- escaped in legend().
		self::totals( $hours, 'banlog-widget-total' );
		self::top_table( Banlog_Activity::top_addresses( $events, 5 ), 'banlog-widget-top' );
		echo self::source_note( $events ); // phpcs:ignore WordPress.Security.EscapeOutput -- escaped in source_note().
		$url = admin_url( 'options-general.php?page=' . Banlog_Admin::PAGE . '&tab=activity' );
		echo '<p><a href="' . esc_url( $url ) . '">' . esc_html__( 'All activity', 'banlog' ) . '</a></p></div>';
	}

	/**
	 * The total of the buckets.
	 *
	 * @param array  $buckets Buckets.
	 * @param string $id      Element id.
	 */
	private static function totals( array $buckets, $id ) {
		$n = 0;
		foreach ( $buckets as $b ) {
			$n += array_sum( $b['counts'] );
		}
		/* translators: %d: number of events */
		echo '<p id="' . esc_attr( $id ) . '" data-total="' . (int) $n . '">' . esc_html( sprintf( __( 'Events in this period: %d', 'banlog' ), $n ) ) . '</p>';
	}

	/**
	 * The top addresses table.
	 *
	 * @param array  $top From Banlog_Activity::top_addresses().
	 * @param string $id  Element id.
	 */
	private static function top_table( array $top, $id ) {
		if ( ! $top ) {
			return;
		}
		$limits = Banlog_Activity::jail_limits();
		echo '<table class="widefat striped" id="' . esc_attr( $id ) . '"><thead><tr><th>' . esc_html__( 'Address', 'banlog' ) . '</th><th>' . esc_html__( 'Events', 'banlog' ) . '</th><th>' . esc_html__( 'Spam / login failures', 'banlog' ) . '</th><th>' . esc_html__( 'Jail limit', 'banlog' ) . '</th></tr></thead><tbody>';
		foreach ( $top as $t ) {
			if ( $t['reached'] ) {
				$jails = array();
				foreach ( $t['reached'] as $j ) {
					/* translators: 1: jail, 2: maxretry, 3: findtime in seconds */
					$jails[] = sprintf( __( '%1$s (%2$d in %3$ds)', 'banlog' ), $j, $limits[ $j ]['maxretry'], $limits[ $j ]['findtime'] );
				}
				/* translators: %s: jails */
				$reached = sprintf( __( 'reached: %s', 'banlog' ), implode( ', ', $jails ) );
			} else {
				$reached = __( 'not reached', 'banlog' );
			}
			echo '<tr data-ip="' . esc_attr( $t['ip'] ) . '" data-count="' . (int) $t['count'] . '" data-reached="' . esc_attr( implode( ' ', $t['reached'] ) ) . '"><td><code>' . esc_html( $t['ip'] ) . '</code></td><td>' . (int) $t['count'] . '</td><td>' . (int) $t['spam'] . ' / ' . (int) $t['auth'] . '</td><td>' . esc_html( $reached ) . '</td></tr>';
		}
		echo '</tbody></table>';
	}

	/**
	 * The tabs of Settings → banlog.
	 *
	 * @param string $current Current tab.
	 */
	public static function tabs( $current ) {
		$base = admin_url( 'options-general.php?page=' . Banlog_Admin::PAGE );
		echo '<nav class="nav-tab-wrapper">';
		foreach ( array(
			'settings' => __( 'Settings', 'banlog' ),
			'activity' => __( 'Activity', 'banlog' ),
		) as $tab => $label ) {
			$url = 'settings' === $tab ? $base : add_query_arg( 'tab', $tab, $base );
			echo '<a id="banlog-tab-' . esc_attr( $tab ) . '" class="nav-tab' . ( $tab === $current ? ' nav-tab-active' : '' ) . '" href="' . esc_url( $url ) . '">' . esc_html( $label ) . '</a>';
		}
		echo '</nav>';
	}

	/**
	 * The tab asked for.
	 *
	 * @return string
	 */
	public static function current_tab() {
		// phpcs:ignore WordPress.Security.NonceVerification.Recommended -- a view, no action.
		return isset( $_GET['tab'] ) && 'activity' === $_GET['tab'] ? 'activity' : 'settings';
	}

	/**
	 * The Activity tab.
	 */
	public static function activity() {
		$events = Banlog_Activity::events();
		$now = time();
		echo '<div id="banlog-activity">';
		echo self::source_note( $events ); // phpcs:ignore WordPress.Security.EscapeOutput -- escaped in source_note().
		echo '<h2>' . esc_html__( 'Events per hour, last 24 hours', 'banlog' ) . '</h2>';
		$hours = Banlog_Activity::buckets( $events, 24, HOUR_IN_SECONDS, $now );
		echo Banlog_Activity::svg( $hours, 'H:i', 'banlog-chart-hours', 3 ); // phpcs:ignore WordPress.Security.EscapeOutput -- escaped in svg().
		echo Banlog_Activity::legend( $hours ); // phpcs:ignore WordPress.Security.EscapeOutput -- escaped in legend().
		self::totals( $hours, 'banlog-hours-total' );
		echo '<h2>' . esc_html__( 'Events per day, last 7 days', 'banlog' ) . '</h2>';
		$days = Banlog_Activity::days( $events, $now );
		echo Banlog_Activity::svg( $days, 'D j', 'banlog-chart-days', 1 ); // phpcs:ignore WordPress.Security.EscapeOutput -- escaped in svg().
		echo Banlog_Activity::legend( $days ); // phpcs:ignore WordPress.Security.EscapeOutput -- escaped in legend().
		self::totals( $days, 'banlog-days-total' );

		echo '<h2>' . esc_html__( 'Top addresses', 'banlog' ) . '</h2>';
		$limits = Banlog_Activity::jail_limits();
		echo '<p class="description">';
		foreach ( $limits as $jail => $l ) {
			/* translators: 1: jail, 2: maxretry, 3: findtime, 4: where the values come from */
			echo esc_html( sprintf( __( '%1$s: %2$d events within %3$d s (%4$s).', 'banlog' ), $jail, $l['maxretry'], $l['findtime'], $l['source'] ) ) . ' ';
		}
		echo '</p>';
		$top = Banlog_Activity::top_addresses( $events, 20 );
		if ( $top ) {
			self::top_table( $top, 'banlog-top' );
		} else {
			echo '<p>' . esc_html__( 'No failed logins or spam yet.', 'banlog' ) . '</p>';
		}

		echo '<h2>' . esc_html__( 'Last events', 'banlog' ) . '</h2>';
		echo '<table class="widefat striped" id="banlog-last"><thead><tr><th>' . esc_html__( 'Time', 'banlog' ) . '</th><th>' . esc_html__( 'Kind', 'banlog' ) . '</th><th>' . esc_html__( 'Address', 'banlog' ) . '</th></tr></thead><tbody>';
		foreach ( array_slice( $events, 0, 50 ) as $e ) {
			echo '<tr data-kind="' . esc_attr( $e['kind'] ) . '"><td>' . esc_html( wp_date( 'Y-m-d H:i:s', $e['time'] ) ) . '</td><td>' . esc_html( Banlog_Activity::kind_label( $e['kind'] ) ) . '</td><td><code>' . esc_html( $e['ip'] ) . '</code></td></tr>';
		}
		echo '</tbody></table></div>';
	}
}
