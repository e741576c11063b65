<?php
/**
 * One step of the end-to-end test, run as `php step.php <step> [<json arguments>]` with
 * WPE2E_CONFIG naming the site's configuration (see bootstrap.php). Prints what happened as
 * JSON after a marker (wpe2e_result), with every PHP warning or notice raised on the way.
 *
 * Steps: install, activate_plugin, configure (store URL, license key, beta), license
 * (activate_license | check_license | deactivate_license through the plugin), update_check
 * (wp_update_plugins()), plugin_information (plugins_api(), "View details"), upgrade
 * (Plugin_Upgrader).
 */

$wpe2e_step = $argv[1];
$wpe2e_args = isset( $argv[2] ) ? json_decode( $argv[2], true ) : array();
if ( 'install' === $wpe2e_step ) {
	define( 'WP_INSTALLING', true );
}
require __DIR__ . '/bootstrap.php';

$wpe2e_plugin = 'e2e-licensed-plugin/e2e-licensed-plugin.php';

/** The updater class the plugin set up (EDD's or the test's own), or null. */
function wpe2e_updater_class() {
	foreach ( array( 'EDD_SL_Plugin_Updater', 'WPE2E_Protocol_Updater' ) as $class ) {
		if ( class_exists( $class, false ) ) {
			return $class;
		}
	}
	return null;
}

switch ( $wpe2e_step ) {
	case 'install':
		require_once ABSPATH . 'wp-admin/includes/upgrade.php';
		$installed = wp_install( 'E2E shop', 'admin', 'admin@e2e-customer-site.com', false, '', wp_generate_password( 24 ) );
		wpe2e_result( array( 'user_id' => $installed['user_id'] ) );
		break;

	case 'activate_plugin':
		require_once ABSPATH . 'wp-admin/includes/plugin.php';
		$activated = activate_plugin( $wpe2e_plugin );
		wpe2e_result(
			array(
				'error'          => is_wp_error( $activated ) ? $activated->get_error_message() : null,
				'active_plugins' => get_option( 'active_plugins' ),
			)
		);
		break;

	case 'configure':
		// A new license key entered: nothing the plugin or the updater stored before stays.
		global $wpdb;
		$wpdb->query( "DELETE FROM {$wpdb->options} WHERE option_name LIKE 'edd\\_sl\\_%'" );
		delete_option( 'e2e_licensed_plugin_license_status' );
		delete_site_transient( 'update_plugins' );
		update_option( 'e2e_licensed_plugin_store_url', $wpe2e_args['store_url'] );
		update_option( 'e2e_licensed_plugin_license_key', $wpe2e_args['license'] );
		update_option( 'e2e_licensed_plugin_beta', empty( $wpe2e_args['beta'] ) ? '' : '1' );
		wpe2e_result( array( 'store_url' => get_option( 'e2e_licensed_plugin_store_url' ) ) );
		break;

	case 'license':
		$answer = e2e_licensed_plugin_license_call( $wpe2e_args['action'] );
		wpe2e_result(
			array(
				'answer' => $answer,
				'status' => get_option( 'e2e_licensed_plugin_license_status', null ),
			)
		);
		break;

	case 'update_check':
		// As WordPress's twice-daily job does: the stored check is stale, ask again.
		delete_site_transient( 'update_plugins' );
		wp_update_plugins();
		$transient = get_site_transient( 'update_plugins' );
		$response  = isset( $transient->response[ $wpe2e_plugin ] ) ? $transient->response[ $wpe2e_plugin ] : null;
		$no_update = isset( $transient->no_update[ $wpe2e_plugin ] ) ? $transient->no_update[ $wpe2e_plugin ] : null;
		wpe2e_result(
			array(
				'response'  => $response,
				'no_update' => $no_update,
				'checked'   => isset( $transient->checked ) ? $transient->checked : null,
				'updater'   => wpe2e_updater_class(),
			)
		);
		break;

	case 'plugin_information':
		require_once ABSPATH . 'wp-admin/includes/plugin-install.php';
		$info = plugins_api( 'plugin_information', array( 'slug' => $wpe2e_args['slug'] ) );
		$done = is_wp_error( $info ) ? array( 'error' => $info->get_error_message() ) : array( 'info' => $info );
		wpe2e_result( $done + array( 'updater' => wpe2e_updater_class() ) );
		break;

	case 'upgrade':
		// What the Plugins screen has loaded: the filesystem and download functions too.
		require_once ABSPATH . 'wp-admin/includes/file.php';
		require_once ABSPATH . 'wp-admin/includes/misc.php';
		require_once ABSPATH . 'wp-admin/includes/plugin.php';
		require_once ABSPATH . 'wp-admin/includes/class-wp-upgrader.php';
		wp_set_current_user( 1 );
		// The update found by update_check, as the Plugins screen's "update now" uses it.
		$skin     = new Automatic_Upgrader_Skin();
		$upgrader = new Plugin_Upgrader( $skin );
		$upgraded = $upgrader->upgrade( $wpe2e_plugin );
		$data     = get_plugin_data( WP_PLUGIN_DIR . '/' . $wpe2e_plugin, false, false );
		wpe2e_result(
			array(
				'upgraded' => is_wp_error( $upgraded ) ? $upgraded->get_error_message() : $upgraded,
				'messages' => $skin->get_upgrade_messages(),
				'version'  => $data['Version'],
				'active'   => is_plugin_active( $wpe2e_plugin ),
			)
		);
		break;

	default:
		fwrite( STDERR, "unknown step: $wpe2e_step\n" );
		exit( 2 );
}
