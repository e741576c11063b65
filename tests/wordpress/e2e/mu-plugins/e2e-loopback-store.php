<?php
/**
 * The test site's network, not the plugin's: nothing here changes what the plugin or the
 * EDD updater send or read.
 *
 * - The store runs on 127.0.0.1 on a port the test picks. WordPress refuses package
 *   downloads (download_url(), wp_safe_remote_get) from loopback addresses and from ports
 *   other than 80, 443 and 8080; a real store on https://<host>/ needs neither filter.
 * - WordPress.org is never asked: the test runs without internet. wp_update_plugins() asks
 *   it for every installed plugin, plugins_api() for details of one; here it answers that
 *   it hosts none of them, as it does for a paid plugin.
 */

$wpe2e_store_port = (int) getenv( 'WPE2E_STORE_PORT' );

add_filter(
	'http_request_host_is_external',
	function ( $external, $host ) {
		return $external || '127.0.0.1' === $host;
	},
	10,
	2
);

add_filter(
	'http_allowed_safe_ports',
	function ( $ports ) use ( $wpe2e_store_port ) {
		if ( $wpe2e_store_port ) {
			$ports[] = $wpe2e_store_port;
		}
		return $ports;
	}
);

add_filter(
	'pre_http_request',
	function ( $pre, $args, $url ) {
		$host = (string) parse_url( $url, PHP_URL_HOST );
		if ( 'api.wordpress.org' !== $host && ! str_ends_with( $host, '.wordpress.org' ) ) {
			return $pre;
		}
		// What WordPress.org answers for plugins it does not host: no update, no details.
		$info = false !== strpos( (string) parse_url( $url, PHP_URL_PATH ), '/plugins/info/' );
		return array(
			'headers'  => array( 'content-type' => 'application/json' ),
			'body'     => $info ? '{"error":"Plugin not found."}' : '{"plugins":[],"translations":[],"no_update":[]}',
			'response' => array(
				'code'    => $info ? 404 : 200,
				'message' => $info ? 'Not Found' : 'OK',
			),
			'cookies'  => array(),
			'filename' => null,
		);
	},
	10,
	3
);

// The site sends no mail (wp_install() tells the administrator; there is no sendmail here).
add_filter( 'pre_wp_mail', '__return_true' );
