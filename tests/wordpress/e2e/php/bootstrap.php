<?php
/**
 * Loads Debian's WordPress (/usr/share/wordpress) for the end-to-end test, from the PHP CLI:
 * no web server, no /etc/wordpress. It does what a site's wp-config.php does (the database,
 * the content directory, the site's address) from the JSON file WPE2E_CONFIG names, then
 * loads wp-settings.php.
 *
 * Every PHP error, warning, notice and deprecation that is not silenced with @ is recorded
 * (wpe2e_errors()) and handed back with the step's result: the test fails on any of them.
 */

error_reporting( E_ALL );
ini_set( 'display_errors', 'stderr' );

$GLOBALS['wpe2e_errors'] = array();
set_error_handler(
	function ( $errno, $message, $file, $line ) {
		if ( ! ( error_reporting() & $errno ) ) {
			return false; // silenced with @, as WordPress does for an optional call
		}
		$GLOBALS['wpe2e_errors'][] = array(
			'type'    => $errno,
			'message' => $message,
			'file'    => $file,
			'line'    => $line,
		);
		return true;
	}
);

function wpe2e_errors() {
	return $GLOBALS['wpe2e_errors'];
}

/** Ends the step: its result as one JSON line after a marker the test looks for. */
function wpe2e_result( $value ) {
	echo "\n@@WPE2E-RESULT@@" . json_encode(
		array(
			'result' => $value,
			'errors' => wpe2e_errors(),
		),
		JSON_UNESCAPED_SLASHES | JSON_PARTIAL_OUTPUT_ON_ERROR
	) . "\n";
}

$wpe2e_config = json_decode( file_get_contents( getenv( 'WPE2E_CONFIG' ) ), true );

// What a web request would have set; WordPress reads them while it loads.
$_SERVER['HTTP_HOST']       = parse_url( $wpe2e_config['home'], PHP_URL_HOST );
$_SERVER['SERVER_NAME']     = $_SERVER['HTTP_HOST'];
$_SERVER['REQUEST_URI']     = '/';
$_SERVER['REQUEST_METHOD']  = 'GET';
$_SERVER['SERVER_PROTOCOL'] = 'HTTP/1.1';
$_SERVER['HTTPS']           = 'on';

define( 'DB_NAME', $wpe2e_config['db_name'] );
define( 'DB_USER', $wpe2e_config['db_user'] );
define( 'DB_PASSWORD', $wpe2e_config['db_password'] );
define( 'DB_HOST', $wpe2e_config['db_host'] );
define( 'DB_CHARSET', 'utf8mb4' );
define( 'DB_COLLATE', '' );
define( 'WP_HOME', $wpe2e_config['home'] );
define( 'WP_SITEURL', $wpe2e_config['home'] );
define( 'WP_CONTENT_DIR', $wpe2e_config['content_dir'] );
define( 'WP_DEBUG', true );
define( 'WP_DEBUG_DISPLAY', true );
define( 'WP_DEBUG_LOG', false );
define( 'FS_METHOD', 'direct' );
define( 'DISABLE_WP_CRON', true );
define( 'AUTOMATIC_UPDATER_DISABLED', true );
define( 'WP_AUTO_UPDATE_CORE', false );
// No request leaves the machine: only the store on loopback is reachable.
define( 'WP_HTTP_BLOCK_EXTERNAL', true );
define( 'WP_ACCESSIBLE_HOSTS', '127.0.0.1' );
// The update check runs as WordPress's twice-daily cron job runs it (EDD's sample plugin
// sets its updater up for administrators and for that job).
define( 'DOING_CRON', true );
foreach ( array( 'AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY', 'AUTH_SALT', 'SECURE_AUTH_SALT', 'LOGGED_IN_SALT', 'NONCE_SALT' ) as $wpe2e_salt ) {
	define( $wpe2e_salt, $wpe2e_config['salt'] . $wpe2e_salt );
}
$table_prefix = 'wp_';
define( 'ABSPATH', rtrim( $wpe2e_config['wordpress_dir'], '/' ) . '/' );

require_once ABSPATH . 'wp-settings.php';
