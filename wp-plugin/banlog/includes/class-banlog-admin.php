<?php
/**
 * Settings → banlog: the options page and the status panel.
 *
 * @package banlog
 */

defined( 'ABSPATH' ) || exit;

/**
 * The options page.
 */
final class Banlog_Admin {

	const PAGE  = 'banlog';
	const GROUP = 'banlog';

	/** Headers a trusted proxy may carry the client address in. */
	const HEADERS = array( 'X-Forwarded-For', 'X-Real-IP', 'CF-Connecting-IP', 'True-Client-IP', 'Fastly-Client-IP' );

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
	 * Registers the admin hooks.
	 */
	public function register() {
		add_action( 'admin_menu', array( $this, 'menu' ) );
		add_action( 'admin_init', array( $this, 'settings' ) );
		add_filter( 'plugin_action_links_' . plugin_basename( BANLOG_PLUGIN_FILE ), array( $this, 'action_links' ) );
	}

	/**
	 * Adds Settings → banlog.
	 */
	public function menu() {
		add_options_page(
			__( 'banlog', 'banlog' ),
			__( 'banlog', 'banlog' ),
			'manage_options',
			self::PAGE,
			array( $this, 'render' )
		);
	}

	/**
	 * A "Settings" link in the plugin list.
	 *
	 * @param array $links Links.
	 * @return array
	 */
	public function action_links( $links ) {
		$url = admin_url( 'options-general.php?page=' . self::PAGE );
		array_unshift( $links, '<a href="' . esc_url( $url ) . '">' . esc_html__( 'Settings', 'banlog' ) . '</a>' );
		return $links;
	}

	/**
	 * Registers the setting, its section and fields.
	 */
	public function settings() {
		register_setting(
			self::GROUP,
			Banlog_Plugin::OPTION,
			array(
				'type'              => 'array',
				'sanitize_callback' => array( $this, 'sanitize' ),
				// Nothing chosen: Banlog_Plugin::options() fills in php.ini's values and the defaults.
				'default'           => array( 'version' => Banlog_Plugin::OPTIONS_VERSION ),
				'show_in_rest'      => false,
			)
		);
		// Which fields this page has: a single site's page all of them; on a multisite the
		// network page (Banlog_Network) the network's settings, a site's page only the site's own.
		if ( ! is_multisite() ) {
			$keys = null;
		} elseif ( is_network_admin() ) {
			$keys = Banlog_Plugin::NETWORK_KEYS;
		} else {
			$keys = Banlog_Plugin::SITE_KEYS;
		}
		add_settings_section( 'banlog_logs', __( 'Logs', 'banlog' ), array( $this, 'section_logs' ), self::PAGE );
		if ( null === $keys || in_array( 'trusted_proxies', $keys, true ) ) {
			add_settings_section( 'banlog_clients', __( 'Client address', 'banlog' ), array( $this, 'section_clients' ), self::PAGE );
		}
		if ( null === $keys || in_array( 'gate', $keys, true ) ) {
			add_settings_section( 'banlog_gate', __( 'Gate', 'banlog' ), array( $this, 'section_gate' ), self::PAGE );
		}
		if ( null === $keys || in_array( 'spamd', $keys, true ) ) {
			add_settings_section( 'banlog_spamd', __( 'Local spam checks', 'banlog' ), array( $this, 'section_spamd' ), self::PAGE );
		}
		if ( null === $keys || in_array( 'refuse_user_enumeration', $keys, true ) ) {
			add_settings_section( 'banlog_abuse', __( 'Pingbacks, comment floods, user enumeration', 'banlog' ), array( $this, 'section_abuse' ), self::PAGE );
		}

		$fields = array(
			array( 'spam_log', __( 'Spam log file', 'banlog' ), 'field_spam_log', 'banlog_logs' ),
			array( 'syslog', __( 'Failed logins to syslog', 'banlog' ), 'field_syslog', 'banlog_logs' ),
			array( 'syslog_facility', __( 'Syslog facility', 'banlog' ), 'field_facility', 'banlog_logs' ),
			array( 'syslog_target', __( 'Syslog destination', 'banlog' ), 'field_target', 'banlog_logs' ),
			array( 'auth_log', __( 'Auth log file (no syslog daemon)', 'banlog' ), 'field_auth_log', 'banlog_logs' ),
			array( 'log_success', __( 'Successful logins', 'banlog' ), 'field_log_success', 'banlog_logs' ),
			array( 'log_logout', __( 'Logouts', 'banlog' ), 'field_log_logout', 'banlog_logs' ),
			array( 'xmlrpc_multicall_stop', __( 'XML-RPC multicall', 'banlog' ), 'field_multicall', 'banlog_logs' ),
			array( 'trusted_proxies', __( 'Trusted proxies', 'banlog' ), 'field_proxies', 'banlog_clients' ),
			array( 'proxy_header', __( 'Client address header', 'banlog' ), 'field_header', 'banlog_clients' ),
			array( 'gate', __( 'Refuse clients at the limit', 'banlog' ), 'field_gate', 'banlog_gate' ),
			array( 'spamd', __( 'spamd address', 'banlog' ), 'field_spamd', 'banlog_spamd' ),
			array( 'spamd_timeout', __( 'spamd time limit', 'banlog' ), 'field_spamd_timeout', 'banlog_spamd' ),
			array( 'refuse_user_enumeration', __( 'User enumeration', 'banlog' ), 'field_refuse_enumeration', 'banlog_abuse' ),
		);
		foreach ( $fields as $f ) {
			if ( null !== $keys && ! in_array( $f[0], $keys, true ) ) {
				continue;
			}
			add_settings_field(
				'banlog_' . $f[0],
				$f[1],
				array( $this, $f[2] ),
				self::PAGE,
				$f[3],
				array( 'label_for' => 'banlog_' . $f[0] )
			);
		}
	}

	/**
	 * Checks a log path; adds a settings error when it is refused.
	 *
	 * @param string $key   spam_log or auth_log.
	 * @param string $path  Path.
	 * @param string $label What the path is for.
	 * @return bool
	 */
	private function check_path( $key, $path, $label ) {
		$problem = Banlog_Plugin::path_problem( $key, $path );
		if ( null === $problem ) {
			return true;
		}
		$this->refuse( 'banlog_path_' . $key, $label, $problem );
		return false;
	}

	/**
	 * A settings error naming the field and the rule's reason (the extension's words), escaped:
	 * WordPress prints settings errors as HTML, and the reason quotes what was submitted.
	 *
	 * @param string $code  Error code.
	 * @param string $label Field.
	 * @param string $why   Reason.
	 */
	private function refuse( $code, $label, $why ) {
		/* translators: 1: a field of the page, 2: why the value was refused */
		$msg = sprintf( __( '%1$s: refused, %2$s. The value in effect stays.', 'banlog' ), $label, $why );
		add_settings_error( Banlog_Plugin::OPTION, $code, esc_html( $msg ), 'error' );
	}

	/**
	 * Stores a writer setting the site admin chose, or forgets it when it equals the inherited
	 * value (php.ini's, else the default): then a later php.ini change applies to this site too.
	 *
	 * @param array  $out   Options to store.
	 * @param string $key   Key.
	 * @param mixed  $value Normalized value.
	 */
	private static function choose( array &$out, $key, $value ) {
		if ( (string) $value === (string) Banlog_Plugin::inherited( $key ) ) {
			unset( $out[ $key ] );
		} else {
			$out[ $key ] = $value;
		}
	}

	/**
	 * Adds a warning (the path is still saved) when a log path lies inside the web root.
	 *
	 * @param string $key   Option key.
	 * @param string $path  Path.
	 * @param string $label What the path is for.
	 */
	private function warn_web_root( $key, $path, $label ) {
		$root = self::web_root_of( $path );
		if ( null === $root ) {
			return;
		}
		add_settings_error(
			Banlog_Plugin::OPTION,
			'banlog_web_root_' . $key,
			sprintf(
				/* translators: 1: what the log is for, 2: a directory, 3: its URL */
				__( '%1$s: saved, but the file lies inside the web root (%2$s is served as %3$s): anyone may be able to download it, and it lists client addresses. Better keep it outside, e.g. in /var/log/wordpress/, or deny access to it in the web server.', 'banlog' ),
				$label,
				$root[0],
				$root[1]
			),
			'warning'
		);
	}

	/**
	 * Validates the submitted options; a refused value keeps the stored one. options.php has
	 * unslashed them already: unslashing again would eat a path's backslashes.
	 *
	 * @param mixed $input Submitted values.
	 * @return array
	 */
	public function sanitize( $input ) {
		// Multisite: a site's form (or a forged POST to options.php) sets only the site's own
		// settings; the network's are set on the network page by a super admin.
		return $this->clean( $input, Banlog_Plugin::stored(), is_multisite() ? Banlog_Plugin::SITE_KEYS : null );
	}

	/**
	 * Validates submitted options over the stored ones; a refused value keeps the stored one.
	 *
	 * @param mixed      $input Submitted values (unslashed).
	 * @param array      $old   Stored values.
	 * @param array|null $keys  The settings this form may set (null: all).
	 * @return array
	 */
	public function clean( $input, array $old, $keys = null ) {
		if ( ! is_array( $input ) ) {
			return $old;
		}
		$out = $old;
		$out['version'] = Banlog_Plugin::OPTIONS_VERSION;
		// The page's form marks itself: there an absent checkbox means "off". A programmatic
		// update (update_option(), activation) leaves what it does not name as it was.
		$form = ! empty( $input['form'] );
		unset( $out['form'] );
		$given = function ( $key ) use ( $form, $input, $keys ) {
			if ( null !== $keys && ! in_array( $key, $keys, true ) ) {
				return false;
			}
			if ( Banlog_Plugin::locked( $key ) ) {
				return false; // php.ini's, for every site of the server.
			}
			return $form || array_key_exists( $key, $input );
		};

		$paths = array(
			'spam_log' => __( 'Spam log file', 'banlog' ),
			'auth_log' => __( 'Auth log file', 'banlog' ),
		);
		foreach ( $paths as $key => $label ) {
			if ( ! $given( $key ) || ( isset( $input[ $key ] ) && ! is_scalar( $input[ $key ] ) ) ) {
				continue; // Not named, or not a form's value: the stored choice stays.
			}
			$path = isset( $input[ $key ] ) ? Banlog_Rules::trim( (string) $input[ $key ] ) : '';
			if ( '' === $path ) {
				self::choose( $out, $key, '' );
			} elseif ( $this->check_path( $key, $path, $label ) ) {
				self::choose( $out, $key, $path );
				$this->warn_web_root( $key, $path, $label );
				Banlog_Health::warn_missing_folder( $key, $path, $label );
			} else {
				Banlog_Health::keep_typed( $key, $path );
			}
		}

		foreach ( array( 'syslog', 'syslog_spam' ) as $key ) {
			if ( $given( $key ) ) {
				self::choose( $out, $key, empty( $input[ $key ] ) ? 0 : 1 );
			}
		}
		if ( $given( 'log_success' ) ) {
			$out['log_success'] = empty( $input['log_success'] ) ? 0 : 1;
		}
		if ( $given( 'log_logout' ) ) {
			$out['log_logout'] = empty( $input['log_logout'] ) ? 0 : 1;
		}
		if ( $given( 'xmlrpc_multicall_stop' ) ) {
			$out['xmlrpc_multicall_stop'] = empty( $input['xmlrpc_multicall_stop'] ) ? 0 : 1;
		}
		if ( $given( 'refuse_user_enumeration' ) ) {
			$out['refuse_user_enumeration'] = empty( $input['refuse_user_enumeration'] ) ? 0 : 1;
		}

		if ( $given( 'syslog_facility' ) ) {
			$facility = isset( $input['syslog_facility'] ) && is_scalar( $input['syslog_facility'] ) ? (string) $input['syslog_facility'] : '';
			$f = Banlog_Rules::facility( $facility );
			if ( '' === Banlog_Rules::trim( $facility ) ) {
				unset( $out['syslog_facility'] );
			} elseif ( null !== $f ) {
				self::choose( $out, 'syslog_facility', $f[0] );
			} else {
				$r = Banlog_Rules::check( 'syslog_facility', $facility );
				$this->refuse( 'banlog_facility', __( 'Syslog facility', 'banlog' ), $r['message'] );
			}
		}

		if ( $given( 'syslog_target' ) ) {
			$target = isset( $input['syslog_target'] ) && is_scalar( $input['syslog_target'] ) ? (string) $input['syslog_target'] : '';
			if ( '' === Banlog_Rules::trim( $target ) ) {
				unset( $out['syslog_target'] ); // Empty: the inherited destination.
			} else {
				$r = Banlog_Rules::check( 'syslog_target', $target );
				if ( $r['ok'] ) {
					self::choose( $out, 'syslog_target', $r['value'] );
				} else {
					$this->refuse( 'banlog_target', __( 'Syslog destination', 'banlog' ), $r['message'] );
					Banlog_Health::keep_typed( 'syslog_target', $target );
				}
			}
		}

		if ( $given( 'trusted_proxies' ) ) {
			$proxies = isset( $input['trusted_proxies'] ) && is_scalar( $input['trusted_proxies'] ) ? (string) $input['trusted_proxies'] : '';
			$refused = Banlog_Client::refused_ranges( $proxies );
			if ( isset( $refused['invalid'] ) ) {
				/* translators: %s: the refused entries */
				$msg = sprintf( __( 'Trusted proxies: not an address or CIDR range: %s. The list in effect stays.', 'banlog' ), implode( ', ', array_map( array( 'Banlog_Format', 'sanitize_user' ), $refused['invalid'] ) ) );
				add_settings_error( Banlog_Plugin::OPTION, 'banlog_proxies', esc_html( $msg ), 'error' );
			}
			if ( isset( $refused['too_wide'] ) ) {
				$msg = sprintf(
					/* translators: 1: the refused ranges, 2: shortest IPv4 prefix, 3: shortest IPv6 prefix */
					__( 'Trusted proxies: refused %1$s: a range wider than /%2$d (IPv4) or /%3$d (IPv6) is no list of proxies. Every client inside it could send the header and name any address to be banned. List your proxies\' own addresses or ranges. The list in effect stays.', 'banlog' ),
					implode( ', ', array_map( array( 'Banlog_Format', 'sanitize_user' ), $refused['too_wide'] ) ),
					Banlog_Client::MIN_PREFIX_V4,
					Banlog_Client::MIN_PREFIX_V6
				);
				add_settings_error( Banlog_Plugin::OPTION, 'banlog_proxies_wide', esc_html( $msg ), 'error' );
			}
			if ( ! $refused ) {
				$out['trusted_proxies'] = implode( "\n", Banlog_Client::split_list( $proxies ) );
			}
		}

		if ( $given( 'spamd' ) ) {
			$address = isset( $input['spamd'] ) && is_scalar( $input['spamd'] ) ? trim( (string) $input['spamd'] ) : '';
			$problem = '' === $address ? null : Banlog_Spamd::address_problem( $address );
			if ( null === $problem ) {
				$out['spamd'] = $address;
			} else {
				/* translators: %s: why the address is refused */
				$msg = sprintf( __( '%s. The address in effect stays.', 'banlog' ), Banlog_Format::sanitize_user( $problem ) );
				add_settings_error( Banlog_Plugin::OPTION, 'banlog_spamd', esc_html( $msg ), 'error' );
			}
		}
		if ( $given( 'spamd_timeout' ) ) {
			$t = isset( $input['spamd_timeout'] ) && is_scalar( $input['spamd_timeout'] ) ? trim( (string) $input['spamd_timeout'] ) : '';
			if ( is_numeric( $t ) && (float) $t >= Banlog_Spamd::MIN_TIMEOUT && (float) $t <= Banlog_Spamd::MAX_TIMEOUT ) {
				$out['spamd_timeout'] = (float) $t;
			} else {
				/* translators: 1: shortest, 2: longest time in seconds */
				$msg = sprintf( __( 'spamd time limit: a number of seconds from %1$s to %2$s. The limit in effect stays.', 'banlog' ), Banlog_Spamd::MIN_TIMEOUT, Banlog_Spamd::MAX_TIMEOUT );
				add_settings_error( Banlog_Plugin::OPTION, 'banlog_spamd_timeout', esc_html( $msg ), 'error' );
			}
		}

		if ( $given( 'gate' ) ) {
			$out['gate'] = empty( $input['gate'] ) ? 0 : 1;
		}
		foreach ( array_keys( Banlog_Gate::JAILS ) as $jail ) {
			$limits = array(
				'maxretry' => array( 0, Banlog_Gate::MAX_RETRY ),
				'findtime' => array( 1, Banlog_Gate::MAX_FINDTIME ),
			);
			foreach ( $limits as $what => $range ) {
				$key = 'gate_' . $jail . '_' . $what;
				if ( ! $given( $key ) || ! isset( $input[ $key ] ) ) {
					continue;
				}
				$v = is_scalar( $input[ $key ] ) ? trim( (string) $input[ $key ] ) : '';
				if ( preg_match( '/^[0-9]{1,10}$/D', $v ) && (int) $v >= $range[0] && (int) $v <= $range[1] ) {
					$out[ $key ] = (int) $v;
				} else {
					/* translators: 1: a jail's name, 2: maxretry or findtime, 3: smallest, 4: largest value */
					$msg = sprintf( __( 'Gate: %1$s %2$s must be a whole number from %3$d to %4$d. The value in effect stays.', 'banlog' ), Banlog_Gate::JAILS[ $jail ]['jail'], $what, $range[0], $range[1] );
					add_settings_error( Banlog_Plugin::OPTION, 'banlog_' . $key, esc_html( $msg ), 'error' );
				}
			}
		}

		if ( $given( 'proxy_header' ) ) {
			$header = isset( $input['proxy_header'] ) && is_scalar( $input['proxy_header'] ) ? trim( (string) $input['proxy_header'] ) : 'X-Forwarded-For';
			if ( preg_match( '/^[A-Za-z0-9][A-Za-z0-9\-]{0,63}$/D', $header ) ) {
				$out['proxy_header'] = $header;
			} else {
				add_settings_error( Banlog_Plugin::OPTION, 'banlog_header', esc_html__( 'Client address header: letters, digits and dashes only.', 'banlog' ), 'error' );
			}
		}
		return $out;
	}

	/**
	 * Section intro.
	 */
	public function section_logs() {
		echo '<p>' . esc_html__( 'Comments marked as spam go to the spam log file; failed logins go to syslog (auth.log). fail2ban reads both.', 'banlog' ) . '</p>';
	}

	/**
	 * Section intro.
	 */
	public function section_clients() {
		echo '<p>' . esc_html__( 'Behind a reverse proxy or CDN, list its addresses here; the client address is then taken from the header, rightmost entry that is not a trusted proxy. Requests from other peers never use the header.', 'banlog' ) . '</p>';
	}

	/**
	 * Section intro.
	 */
	public function section_gate() {
		echo '<p>' . esc_html__( 'Between a client\'s last allowed failure and fail2ban\'s ban there is a gap of a few seconds in which a password-guessing tool sends dozens of requests more. With the gate on, a login, XML-RPC request or comment post from a client that has reached a jail\'s limit gets 403 at once, before WordPress checks a password or writes to the database; fail2ban\'s ban then takes over. It counts the events of every worker of this server (the extension\'s ring of the last 4096 events) by the same rule as the jail; when the ring no longer holds a client\'s events, the gate lets it through and only fail2ban counts.', 'banlog' ) . '</p>';
	}

	/** Field. */
	public function field_gate() {
		$o = Banlog_Plugin::options();
		$this->checkbox( 'gate', __( 'Answer 403 to a login, XML-RPC request or comment post from a client that has reached a jail\'s limit.', 'banlog' ) );
		if ( ! Banlog_Gate::available() ) {
			echo '<p class="description banlog-gate-unavailable"><strong>' . esc_html__( 'The banlog PHP extension is not loaded: there is no gate here, whatever this setting says. It needs the extension\'s memory shared by all workers of the server.', 'banlog' ) . '</strong></p>';
		}
		echo '<table class="banlog-gate-jails"><thead><tr><th>' . esc_html__( 'Jail', 'banlog' ) . '</th><th>maxretry</th><th>' . esc_html__( 'findtime (seconds)', 'banlog' ) . '</th></tr></thead><tbody>';
		foreach ( Banlog_Gate::JAILS as $key => $jail ) {
			echo '<tr><td><code>' . esc_html( $jail['jail'] ) . '</code></td>';
			foreach ( array( 'maxretry', 'findtime' ) as $what ) {
				$k = 'gate_' . $key . '_' . $what;
				printf(
					'<td><input type="number" min="%4$d" id="%1$s" name="%2$s" value="%3$s" class="small-text" /></td>',
					esc_attr( 'banlog_' . $k ),
					esc_attr( Banlog_Plugin::OPTION . '[' . $k . ']' ),
					esc_attr( (string) (int) $o[ $k ] ),
					'maxretry' === $what ? 0 : 1
				);
			}
			echo '</tr>';
		}
		echo '</tbody></table>';
		foreach ( Banlog_Gate::installed_limits() as $key => $inst ) {
			$jail = Banlog_Gate::JAILS[ $key ];
			$m    = isset( $inst['maxretry'] ) ? (int) $inst['maxretry'] : (int) $jail['maxretry'];
			$f    = isset( $inst['findtime'] ) ? (int) $inst['findtime'] : (int) $jail['findtime'];
			if ( (int) $o[ 'gate_' . $key . '_maxretry' ] !== $m || (int) $o[ 'gate_' . $key . '_findtime' ] !== $f ) {
				/* translators: 1: a jail's name, 2: a file, 3: its maxretry, 4: its findtime in seconds */
				echo '<p class="description banlog-gate-differs"><strong>' . esc_html( sprintf( __( '%1$s: the installed jail (%2$s) has maxretry %3$d and findtime %4$d; the gate above differs.', 'banlog' ), $jail['jail'], $inst['source'], $m, $f ) ) . '</strong></p>';
			}
		}
		echo '<p class="description">' . esc_html__( 'The defaults are the shipped jails\' values (jail.d/banlog.conf); give your installed jails\' values if you changed them. maxretry 0: the gate does not follow that jail.', 'banlog' ) . '</p>';
	}

	/**
	 * Section intro.
	 */
	public function section_spamd() {
		echo '<p>' . esc_html__( 'Ask a local SpamAssassin daemon (spamd) about each new comment; a comment spamd calls spam is marked spam, so it is logged and counted like any other. When spamd does not answer within the time limit, the comment goes through WordPress\'s usual checks and the status panel shows why.', 'banlog' ) . '</p>';
	}

	/**
	 * Section intro: what is logged, and how to turn each jail on.
	 */
	public function section_abuse() {
		echo '<p>' . esc_html__( 'banlog always logs these to the same place as failed logins (syslog, or the auth log file): a failed pingback ("Pingback error <code> generated from <address>") or trackback ("Trackback error from <address>"), a comment WordPress refused as posted too quickly ("Comment flood from <address>"), and an anonymous visitor asking who the users are through ?author=N or the REST API\'s wp/v2/users ("User enumeration attempt from <address>", or "Blocked user enumeration attempt" when refused below; a logged-in user is never counted).', 'banlog' ) . '</p>';
		echo '<p>' . esc_html__( 'Their fail2ban jails are off until you turn them on, on the server:', 'banlog' ) . '</p>';
		echo '<pre class="banlog-abuse-jails">banlog install --enable banlog-auth,banlog-auth-hard,banlog-pingback,banlog-comment-flood,banlog-user-enum --reload</pre>';
		echo '<p>' . esc_html__( 'or in /etc/fail2ban/jail.d/banlog.local, for each jail you want (banlog-pingback, banlog-comment-flood, banlog-user-enum):', 'banlog' ) . '</p>';
		echo "<pre>[banlog-pingback]\nenabled = true</pre>";
	}

	/** Field. */
	public function field_refuse_enumeration() {
		$this->checkbox( 'refuse_user_enumeration', __( 'Refuse it (403 Forbidden) instead of answering: no redirect from ?author=N to the author\'s archive, no user list or user record from the REST API for anonymous visitors. Themes that link authors as ?author=N lose those links for visitors.', 'banlog' ) );
	}

	/** Field. */
	public function field_spamd() {
		$this->text( 'spamd', __( 'host:port (e.g. 127.0.0.1:783, [::1]:783) or the absolute path of spamd\'s unix socket; empty: no local spam checks.', 'banlog' ) );
	}

	/** Field. */
	public function field_spamd_timeout() {
		/* translators: 1: shortest, 2: longest time in seconds */
		$this->text( 'spamd_timeout', sprintf( __( 'Seconds a check may take in all (connect, send, answer), %1$s to %2$s. A visitor never waits longer for spamd.', 'banlog' ), Banlog_Spamd::MIN_TIMEOUT, Banlog_Spamd::MAX_TIMEOUT ), 'small-text' );
	}

	/**
	 * A text input.
	 *
	 * @param string $key   Option key.
	 * @param string $help  Description.
	 * @param string $class CSS class.
	 */
	private function text( $key, $help, $class = 'regular-text code' ) {
		$o = Banlog_Plugin::options();
		$typed = Banlog_Health::typed( $key );
		printf(
			'<input type="text" id="%1$s" name="%2$s" value="%3$s" class="%4$s"%5$s />',
			esc_attr( 'banlog_' . $key ),
			esc_attr( Banlog_Plugin::OPTION . '[' . $key . ']' ),
			esc_attr( null === $typed ? (string) $o[ $key ] : $typed ),
			esc_attr( $class ),
			self::lock_attr( $key ) // phpcs:ignore WordPress.Security.EscapeOutput -- a fixed attribute.
		);
		if ( null !== $typed ) {
			/* translators: %s: the value in effect */
			echo '<p class="description banlog-typed">' . esc_html( sprintf( __( 'Not saved: this is what you typed. The value in effect is still: %s', 'banlog' ), '' === (string) $o[ $key ] ? __( '(empty)', 'banlog' ) : (string) $o[ $key ] ) ) . '</p>';
		}
		if ( '' !== $help ) {
			echo '<p class="description">' . esc_html( $help ) . '</p>';
		}
		$this->source_note( $key );
	}

	/**
	 * Where the value in effect comes from: php.ini (the server's word for every site), this page,
	 * or the plugin's default.
	 *
	 * @param string $key Option key.
	 */
	private function source_note( $key ) {
		if ( ! in_array( $key, Banlog_Plugin::WRITER_KEYS, true ) && ! Banlog_Plugin::is_network_key( $key ) ) {
			return;
		}
		$o = Banlog_Plugin::options();
		$value = $o[ $key ];
		if ( is_bool( $value ) || is_int( $value ) ) {
			$value = $value ? __( 'on', 'banlog' ) : __( 'off', 'banlog' );
		} elseif ( '' === (string) $value ) {
			$value = __( 'off', 'banlog' );
		}
		switch ( Banlog_Plugin::source( $key ) ) {
			case 'network':
				/* translators: %s: a value */
				$from = sprintf( __( 'In effect: %s, set on this page for every site of the network. Leave a text field empty to go back to the default.', 'banlog' ), (string) $value );
				break;
			case 'page':
				/* translators: 1: a value, 2: a php.ini directive */
				$from = sprintf( __( 'In effect: %1$s, set on this page (over the server\'s %2$s). Give the server\'s value, or leave a text field empty, to follow the server again.', 'banlog' ), (string) $value, 'banlog.' . $key );
				break;
			case 'server':
				$from = Banlog_Plugin::locked( $key )
					/* translators: 1: a value, 2: a php.ini directive */
					? sprintf( __( 'In effect: %1$s, locked by php.ini (%2$s) for every site of this server; only the server\'s configuration changes it.', 'banlog' ), (string) $value, 'banlog.' . $key )
					/* translators: 1: a value, 2: a php.ini directive */
					: sprintf( __( 'In effect: %1$s, from php.ini (%2$s, the server\'s setting).', 'banlog' ), (string) $value, 'banlog.' . $key );
				break;
			default:
				/* translators: %s: a value */
				$from = sprintf( __( 'In effect: %s, the plugin\'s default (php.ini does not set it).', 'banlog' ), (string) $value );
		}
		echo '<p class="description banlog-source" id="' . esc_attr( 'banlog_' . $key . '_source' ) . '" data-source="' . esc_attr( Banlog_Plugin::source( $key ) ) . '">' . esc_html( $from ) . '</p>';
	}

	/**
	 * A checkbox.
	 *
	 * @param string $key   Option key.
	 * @param string $label Label.
	 */
	private function checkbox( $key, $label ) {
		$o = Banlog_Plugin::options();
		printf(
			'<label><input type="checkbox" id="%1$s" name="%2$s" value="1" %3$s%5$s /> %4$s</label>',
			esc_attr( 'banlog_' . $key ),
			esc_attr( Banlog_Plugin::OPTION . '[' . $key . ']' ),
			checked( ! empty( $o[ $key ] ), true, false ),
			esc_html( $label ),
			self::lock_attr( $key ) // phpcs:ignore WordPress.Security.EscapeOutput -- a fixed attribute.
		);
		$this->source_note( $key );
	}

	/** Field. */
	public function field_spam_log() {
		$this->text( 'spam_log', __( 'Absolute path of a file whose name ends in .log, without ".." and without an executable or page extension inside the name (x.php.log and x.html.log are refused), not in the uploads folder, and better outside the web root; empty to turn the spam log off.', 'banlog' ) );
		echo '<p>';
		$this->checkbox( 'syslog_spam', __( 'Also send spam events to syslog', 'banlog' ) );
		echo '</p>';
	}

	/** Field. */
	public function field_syslog() {
		$this->checkbox( 'syslog', __( 'Send failed logins to syslog', 'banlog' ) );
	}

	/** Field. */
	public function field_facility() {
		$o = Banlog_Plugin::options();
		printf( '<select id="banlog_syslog_facility" name="%s"%s>', esc_attr( Banlog_Plugin::OPTION . '[syslog_facility]' ), self::lock_attr( 'syslog_facility' ) ); // phpcs:ignore WordPress.Security.EscapeOutput -- a fixed attribute.
		foreach ( array_keys( Banlog_Rules::FACILITIES ) as $f ) {
			printf( '<option value="%1$s" %2$s>%1$s</option>', esc_attr( $f ), selected( $o['syslog_facility'], $f, false ) );
		}
		echo '</select>';
		$this->source_note( 'syslog_facility' );
	}

	/** Field. */
	public function field_target() {
		$this->text( 'syslog_target', __( '/dev/log (the local syslog daemon), another socket path (or unix:///path), or udp://host:port / tcp://host:port for a remote collector (an IPv6 address in brackets: udp://[2001:db8::1]:514).', 'banlog' ) );
	}

	/** Field. */
	public function field_auth_log() {
		$this->text( 'auth_log', __( 'Optional: also write the authentication lines to this file (for hosts without a syslog daemon). The same rules as the spam log file: a name ending in .log.', 'banlog' ) );
	}

	/** Field. */
	public function field_log_success() {
		$this->checkbox( 'log_success', __( 'Log successful logins (severity info)', 'banlog' ) );
	}

	/** Field. */
	public function field_log_logout() {
		$this->checkbox( 'log_logout', __( 'Log logouts (severity info)', 'banlog' ) );
	}

	/** Field. */
	public function field_multicall() {
		$this->checkbox( 'xmlrpc_multicall_stop', __( 'End an XML-RPC request at its second login attempt after a failed one (a system.multicall of password guesses): no further call of the request runs. The failure and one multicall line are logged, which the hard jail bans on.', 'banlog' ) );
	}

	/**
	 * ` disabled="disabled"` for a setting php.ini locks (multisite), else nothing.
	 *
	 * @param string $key Option key.
	 * @return string
	 */
	private static function lock_attr( $key ) {
		return Banlog_Plugin::locked( $key ) ? ' disabled="disabled"' : '';
	}

	/** Field. */
	public function field_proxies() {
		$o = Banlog_Plugin::options();
		printf(
			'<textarea id="banlog_trusted_proxies" name="%1$s" rows="4" cols="50" class="code">%2$s</textarea>',
			esc_attr( Banlog_Plugin::OPTION . '[trusted_proxies]' ),
			esc_textarea( (string) $o['trusted_proxies'] )
		);
		echo '<p class="description">' . esc_html__( 'One address or CIDR range per line, IPv4 or IPv6 (e.g. 10.0.0.0/8, 2001:db8::/32); no range wider than /8 (IPv4) or /32 (IPv6). Empty: no proxy, REMOTE_ADDR is the client. A trusted proxy that sends no client address gets nothing logged (the status panel says so).', 'banlog' ) . '</p>';
		$this->source_note( 'trusted_proxies' );
	}

	/** Field. */
	public function field_header() {
		$o = Banlog_Plugin::options();
		echo '<input type="text" id="banlog_proxy_header" list="banlog_headers" name="' . esc_attr( Banlog_Plugin::OPTION . '[proxy_header]' ) . '" value="' . esc_attr( (string) $o['proxy_header'] ) . '" class="regular-text code" />';
		echo '<datalist id="banlog_headers">';
		foreach ( self::HEADERS as $h ) {
			echo '<option value="' . esc_attr( $h ) . '"></option>';
		}
		echo '</datalist>';
		$this->source_note( 'proxy_header' );
	}

	/**
	 * The page.
	 */
	public function render() {
		if ( ! current_user_can( 'manage_options' ) ) {
			wp_die( esc_html__( 'Sorry, you are not allowed to manage banlog.', 'banlog' ), 403 );
		}
		if ( is_multisite() ) {
			$this->render_site();
			return;
		}
		echo '<div class="wrap" id="banlog-settings">';
		echo '<h1>' . esc_html__( 'banlog', 'banlog' ) . '</h1>';
		$tab = Banlog_Dashboard::current_tab();
		Banlog_Dashboard::tabs( $tab );
		if ( 'activity' === $tab ) {
			Banlog_Dashboard::activity();
			echo '</div>';
			return;
		}
		// No settings_errors() here: for a page under Settings, wp-admin/options-head.php shows
		// them already (a second call printed every notice twice).
		$this->render_form();
		$this->render_status();
		echo '</div>';
	}

	/**
	 * The settings form of this page (the fields registered for it), posted to options.php.
	 */
	private function render_form() {
		echo '<form method="post" action="' . esc_url( admin_url( 'options.php' ) ) . '">';
		settings_fields( self::GROUP );
		echo '<input type="hidden" name="' . esc_attr( Banlog_Plugin::OPTION . '[form]' ) . '" value="1" />';
		do_settings_sections( self::PAGE );
		submit_button();
		echo '</form>';
	}

	/**
	 * A site's page on a multisite: its own setting, and its own status. Where anything is written
	 * is the network's (Network Admin → Settings → banlog): no path, syslog destination, proxy,
	 * worker counter or sink of the shared PHP workers is shown here, and nothing here connects
	 * anywhere, so a subsite admin learns nothing of other sites and cannot probe with a target.
	 */
	private function render_site() {
		$o = Banlog_Plugin::options();
		echo '<div class="wrap" id="banlog-settings">';
		echo '<h1>' . esc_html__( 'banlog', 'banlog' ) . '</h1>';
		echo '<p id="banlog-network-note">' . esc_html__( 'This site is part of a network: where banlog writes (log files, syslog), which proxies are trusted and how XML-RPC bursts are handled are the network\'s settings, chosen by a super admin.', 'banlog' );
		if ( current_user_can( 'manage_network_options' ) ) {
			echo ' <a href="' . esc_url( network_admin_url( 'settings.php?page=' . Banlog_Network::PAGE ) ) . '">' . esc_html__( 'Network settings', 'banlog' ) . '</a>';
		}
		echo '</p>';
		$this->render_form();

		$writer = $this->plugin->writer();
		echo '<div id="banlog-status"><h2>' . esc_html__( 'This site\'s status', 'banlog' ) . '</h2><table class="widefat striped"><tbody>';
		$this->row( __( 'Mode', 'banlog' ), $writer->uses_extension() ? __( 'banlog extension loaded', 'banlog' ) : __( 'fallback mode (pure PHP writer; the banlog extension is not loaded)', 'banlog' ), 'banlog-mode' );
		$this->row( __( 'Spam comments', 'banlog' ), '' !== (string) $o['spam_log'] || ! empty( $o['syslog_spam'] ) ? __( 'logged (where the network says)', 'banlog' ) : __( 'not logged (the network turned the spam log off)', 'banlog' ), 'banlog-site-spam' );
		$this->row( __( 'Failed logins', 'banlog' ), ! empty( $o['syslog'] ) || '' !== (string) $o['auth_log'] ? __( 'logged (where the network says)', 'banlog' ) : __( 'not logged (the network turned syslog and the auth log off)', 'banlog' ), 'banlog-site-auth' );
		$this->row( __( 'Syslog ident of this site', 'banlog' ), $writer->ident(), 'banlog-site-ident' );
		$this->row( __( 'Successful logins', 'banlog' ), empty( $o['log_success'] ) ? __( 'not logged', 'banlog' ) : __( 'logged', 'banlog' ) );
		$this->row( __( 'Logouts', 'banlog' ), empty( $o['log_logout'] ) ? __( 'not logged', 'banlog' ) : __( 'logged', 'banlog' ) );
		$this->row( __( 'XML-RPC multicall bursts', 'banlog' ), empty( $o['xmlrpc_multicall_stop'] ) ? __( 'run to the end', 'banlog' ) : __( 'ended at the second login attempt', 'banlog' ), 'banlog-site-multicall' );
		$err = get_option( Banlog_Plugin::ERROR_OPTION );
		if ( is_array( $err ) && isset( $err['time'], $err['sink'], $err['message'] ) ) {
			$when = wp_date( 'Y-m-d H:i:s', (int) $err['time'] );
			$this->row( __( 'Last error', 'banlog' ), $when . ' ' . $err['sink'] . ': ' . self::redact( (string) $err['message'], $o ), 'banlog-last-error' );
		} else {
			$this->row( __( 'Last error', 'banlog' ), __( 'none', 'banlog' ), 'banlog-last-error' );
		}
		echo '</tbody></table></div></div>';
	}

	/**
	 * A site's last error without the network's paths and syslog destination (a write error names
	 * the file or target it failed on).
	 *
	 * @param string $message Message.
	 * @param array  $o       Options in effect.
	 * @return string
	 */
	private static function redact( $message, array $o ) {
		$names = array(
			'spam_log'      => __( '(the network\'s spam log)', 'banlog' ),
			'auth_log'      => __( '(the network\'s auth log)', 'banlog' ),
			'syslog_target' => __( '(the network\'s syslog destination)', 'banlog' ),
		);
		foreach ( $names as $key => $label ) {
			$value = (string) $o[ $key ];
			if ( '' !== $value ) {
				$message = str_replace( $value, $label, $message );
			}
		}
		return $message;
	}

	/**
	 * The status panel: a single site's page, or the network page.
	 */
	public function render_status() {
		$o = Banlog_Plugin::options();
		$writer = $this->plugin->writer();
		echo '<div id="banlog-status"><h2>' . esc_html__( 'Status', 'banlog' ) . '</h2><table class="widefat striped"><tbody>';

		$stats = $writer->stats();
		if ( null !== $stats ) {
			$version = isset( $stats['version'] ) ? (string) $stats['version'] : '?';
			/* translators: %s: extension version */
			$this->row( __( 'Mode', 'banlog' ), sprintf( __( 'banlog extension %s loaded', 'banlog' ), $version ), 'banlog-mode' );
			Banlog_Health::status_rows( $stats );
		} else {
			$this->row( __( 'Mode', 'banlog' ), __( 'fallback mode (pure PHP writer; the banlog extension is not loaded)', 'banlog' ), 'banlog-mode' );
			$this->row( __( 'Counters', 'banlog' ), __( 'none in fallback mode (the extension counts events over every PHP worker)', 'banlog' ), 'banlog-counters' );
		}

		$path = (string) $o['spam_log'];
		if ( '' === $path ) {
			$this->row( __( 'Spam log', 'banlog' ), __( 'off', 'banlog' ), 'banlog-spam-log' );
		} else {
			$this->row( __( 'Spam log', 'banlog' ), $path . ' — ' . self::writable_text( $path ), 'banlog-spam-log' );
			$exposure = $this->exposure( $path );
			if ( null !== $exposure ) {
				$this->row( __( 'Warning', 'banlog' ), $exposure, 'banlog-exposure' );
			}
			if ( 'default' === Banlog_Plugin::source( 'spam_log' ) && Banlog_Plugin::SYSTEM_SPAM_LOG !== $path ) {
				$this->row(
					__( 'Warning', 'banlog' ),
					/* translators: 1: a folder, 2: a shell command */
					sprintf( __( 'The spam log is in the historic default place because %1$s does not exist or the web server cannot write there. As root, run: %2$s', 'banlog' ), dirname( Banlog_Plugin::SYSTEM_SPAM_LOG ), 'banlog install --spam-log ' . Banlog_Plugin::SYSTEM_SPAM_LOG . ' --reload' ),
					'banlog-default-path'
				);
			}
		}
		if ( '' !== (string) $o['auth_log'] ) {
			$this->row( __( 'Auth log', 'banlog' ), $o['auth_log'] . ' — ' . self::writable_text( (string) $o['auth_log'] ) );
		}
		$this->row(
			__( 'Syslog', 'banlog' ),
			$o['syslog'] ? sprintf( '%s, facility %s, ident %s', $o['syslog_target'], $o['syslog_facility'], $writer->ident() ) : __( 'off', 'banlog' )
		);

		$this->row(
			__( 'Local spam checks', 'banlog' ),
			'' === trim( (string) $o['spamd'] ) ? __( 'off', 'banlog' ) : sprintf( 'spamd %s, %s s', $o['spamd'], Banlog_Spamd::clamp_timeout( $o['spamd_timeout'] ) ),
			'banlog-spamd'
		);

		$err = get_option( Banlog_Plugin::ERROR_OPTION );
		if ( is_array( $err ) && isset( $err['time'], $err['sink'], $err['message'] ) ) {
			$when = wp_date( 'Y-m-d H:i:s', (int) $err['time'] );
			$this->row( __( 'Last error (this site\'s PHP)', 'banlog' ), $when . ' ' . $err['sink'] . ': ' . $err['message'], 'banlog-last-error' );
		} else {
			$this->row( __( 'Last error (this site\'s PHP)', 'banlog' ), __( 'none (the sinks above show the writer\'s)', 'banlog' ), 'banlog-last-error' );
		}
		echo '</tbody></table>';

		echo '<h2>' . esc_html__( 'fail2ban', 'banlog' ) . '</h2>';
		echo '<p>' . esc_html__( 'The jails and filters for this configuration, ready to copy into /etc/fail2ban under the names shown (the sidecar command "banlog install" writes the same files for you). Put your own changes into jail.d/banlog.local, which banlog install never touches.', 'banlog' ) . '</p>';
		echo '<h3><code>/etc/fail2ban/jail.d/banlog.conf</code></h3>';
		echo '<textarea id="banlog-jail-snippet" readonly rows="24" cols="90" class="code large-text">' . esc_textarea( Banlog_Snippet::jail( $o ) ) . '</textarea>';
		foreach ( Banlog_Snippet::FILTERS as $filter ) {
			echo '<h3><code>/etc/fail2ban/filter.d/' . esc_html( $filter ) . '.conf</code></h3>';
			echo '<textarea id="' . esc_attr( $filter ) . '-filter-snippet" readonly rows="12" cols="90" class="code large-text">' . esc_textarea( Banlog_Snippet::filter( $filter ) ) . '</textarea>';
		}
		echo '</div>';
	}

	/**
	 * One status row.
	 *
	 * @param string $label Label.
	 * @param string $value Value.
	 * @param string $id    Element id.
	 */
	private function row( $label, $value, $id = '' ) {
		$id_attr = '' === $id ? '' : ' id="' . esc_attr( $id ) . '"';
		echo '<tr><th scope="row">' . esc_html( $label ) . '</th><td' . $id_attr . '>' . esc_html( $value ) . '</td></tr>';
	}

	/**
	 * Whether PHP (this web user) can append to a path.
	 *
	 * @param string $path Path.
	 * @return string
	 */
	private static function writable_text( $path ) {
		// phpcs:disable WordPress.PHP.NoSilencedErrors.Discouraged, WordPress.WP.AlternativeFunctions
		if ( @file_exists( $path ) ) {
			return @is_writable( $path ) ? __( 'writable', 'banlog' ) : __( 'NOT writable by the web server user', 'banlog' );
		}
		$dir = dirname( $path );
		if ( ! @is_dir( $dir ) ) {
			return __( 'the directory does not exist', 'banlog' );
		}
		return @is_writable( $dir ) ? __( 'not created yet; the directory is writable', 'banlog' ) : __( 'NOT writable: the directory is not writable by the web server user', 'banlog' );
		// phpcs:enable
	}

	/**
	 * A warning when the log lies in the web root, and whether it can be downloaded.
	 *
	 * @param string $path Path.
	 * @return string|null
	 */
	private function exposure( $path ) {
		$root = self::web_root_of( $path );
		if ( null === $root ) {
			return null;
		}
		$url = untrailingslashit( $root[1] ) . '/' . implode( '/', array_map( 'rawurlencode', explode( '/', $root[2] ) ) );
		$msg = __( 'The log file lies inside the web root: anyone may be able to download it (it lists client addresses). Move it outside, or deny access to it in the web server.', 'banlog' );
		$res = wp_remote_head(
			$url,
			array(
				'timeout'     => 2,
				'redirection' => 0,
				'sslverify'   => false,
			)
		);
		$code = is_wp_error( $res ) ? 0 : (int) wp_remote_retrieve_response_code( $res );
		if ( 200 === $code ) {
			/* translators: %s: URL */
			$msg .= ' ' . sprintf( __( 'It IS downloadable now: %s', 'banlog' ), $url );
		}
		return $msg;
	}

	/**
	 * The web root directory a path lies in: wp-content, the WordPress directory or the server's
	 * document root, with symbolic links followed.
	 *
	 * @param string $path Absolute path.
	 * @return array|null [root directory, its URL, the path below it], or null when outside.
	 */
	private static function web_root_of( $path ) {
		$roots = array(
			array( WP_CONTENT_DIR, content_url() ),
			array( ABSPATH, site_url() ),
		);
		// phpcs:ignore WordPress.Security.ValidatedSanitizedInput
		$docroot = isset( $_SERVER['DOCUMENT_ROOT'] ) && is_string( $_SERVER['DOCUMENT_ROOT'] ) ? $_SERVER['DOCUMENT_ROOT'] : '';
		if ( '' !== $docroot && '/' === $docroot[0] ) {
			$home = wp_parse_url( home_url() );
			if ( is_array( $home ) && isset( $home['scheme'], $home['host'] ) ) {
				$roots[] = array( $docroot, $home['scheme'] . '://' . $home['host'] . ( isset( $home['port'] ) ? ':' . $home['port'] : '' ) );
			}
		}
		$real = Banlog_Plugin::resolve_path( $path );
		foreach ( $roots as $root ) {
			$dir = untrailingslashit( Banlog_Plugin::resolve_path( $root[0] ) );
			if ( '' !== $dir && 0 === strpos( $real, $dir . '/' ) ) {
				return array( $dir, $root[1], substr( $real, strlen( $dir ) + 1 ) );
			}
		}
		return null;
	}
}
