<?php
/**
 * Plugin Name: E2E Licensed Plugin
 * Description: A paid plugin as EDD's sample plugin ships one: its license activated, checked
 *              and deactivated against the store, its updates delivered by the updater it
 *              bundles (EDD_SL_Plugin_Updater, unmodified, when the test has its file; else
 *              the test's own protocol client). The license service's end-to-end test fixture.
 * Version:     1.0.0
 * Author:      License service tests
 * License:     MIT
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

define( 'E2E_LICENSED_PLUGIN_VERSION', '1.0.0' );
// The product in the store: its name (matched by item_name) and its EDD item id.
define( 'E2E_LICENSED_PLUGIN_ITEM_NAME', 'E2E Licensed Plugin' );
define( 'E2E_LICENSED_PLUGIN_ITEM_ID', 4242 );

/**
 * The store URL. A shipped plugin has it as a constant (https://<host>/edd/<brand>); the
 * test's store listens on a port it picks, so the site keeps it in an option.
 */
function e2e_licensed_plugin_store_url() {
	return (string) get_option( 'e2e_licensed_plugin_store_url', '' );
}

/**
 * activate_license, check_license or deactivate_license, as EDD's sample plugin sends them:
 * a POST form with the item name URL-encoded once more, the site's home_url() and its
 * environment type. Stores the license status as the sample plugin does. Returns the HTTP
 * status and the decoded answer.
 */
function e2e_licensed_plugin_license_call( $action ) {
	$api_params = array(
		'edd_action'  => $action,
		'license'     => trim( (string) get_option( 'e2e_licensed_plugin_license_key', '' ) ),
		'item_name'   => urlencode( E2E_LICENSED_PLUGIN_ITEM_NAME ),
		'url'         => home_url(),
		'environment' => function_exists( 'wp_get_environment_type' ) ? wp_get_environment_type() : 'production',
	);
	$response = wp_remote_post(
		e2e_licensed_plugin_store_url(),
		array(
			'timeout'   => 15,
			'sslverify' => false,
			'body'      => $api_params,
		)
	);
	if ( is_wp_error( $response ) ) {
		return array( 'error' => $response->get_error_message() );
	}
	$license_data = json_decode( wp_remote_retrieve_body( $response ) );
	if ( 'deactivate_license' === $action ) {
		if ( $license_data && 'deactivated' === $license_data->license ) {
			delete_option( 'e2e_licensed_plugin_license_status' );
		}
	} elseif ( $license_data && isset( $license_data->license ) ) {
		update_option( 'e2e_licensed_plugin_license_status', $license_data->license );
	}
	return array(
		'code'         => wp_remote_retrieve_response_code( $response ),
		'content_type' => wp_remote_retrieve_header( $response, 'content-type' ),
		'body'         => $license_data,
	);
}

/**
 * The updater, set up as EDD's sample plugin sets it up: for administrators and for the
 * cron job that checks for updates. The class is the one bundled in the plugin's folder:
 * EDD's EDD_SL_Plugin_Updater (unmodified) when the test put it there, else the test's own
 * WPE2E_Protocol_Updater (see tests/wordpress/e2e/client/README.md); both take the same
 * arguments.
 */
function e2e_licensed_plugin_updater() {
	$doing_cron = defined( 'DOING_CRON' ) && DOING_CRON;
	if ( ! current_user_can( 'manage_options' ) && ! $doing_cron ) {
		return;
	}
	if ( file_exists( __DIR__ . '/EDD_SL_Plugin_Updater.php' ) ) {
		if ( ! class_exists( 'EDD_SL_Plugin_Updater' ) ) {
			include __DIR__ . '/EDD_SL_Plugin_Updater.php';
		}
		$class = 'EDD_SL_Plugin_Updater';
	} elseif ( file_exists( __DIR__ . '/protocol_updater.php' ) ) {
		require_once __DIR__ . '/protocol_updater.php';
		$class = 'WPE2E_Protocol_Updater';
	} else {
		return; // no updater bundled
	}
	new $class(
		e2e_licensed_plugin_store_url(),
		__FILE__,
		array(
			'version'   => E2E_LICENSED_PLUGIN_VERSION,
			'license'   => trim( (string) get_option( 'e2e_licensed_plugin_license_key', '' ) ),
			'item_id'   => E2E_LICENSED_PLUGIN_ITEM_ID,
			'item_name' => E2E_LICENSED_PLUGIN_ITEM_NAME,
			'author'    => 'License service tests',
			// A site that opted into betas (a shipped plugin has a setting for it).
			'beta'      => (bool) get_option( 'e2e_licensed_plugin_beta', false ),
		)
	);
}
add_action( 'init', 'e2e_licensed_plugin_updater' );
