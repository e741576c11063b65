<?php
/**
 * WPE2E_Protocol_Updater: a minimal update client for an EDD Software Licensing store, the
 * end-to-end test's own (tests/wordpress/e2e/client/README.md).
 *
 * Written for this project from the protocol as SPEC §11 and issue 15 describe it, not from
 * EDD's EDD_SL_Plugin_Updater: it asks the store what EDD's class asks it, and hands
 * WordPress core what core reads. It proves that WordPress consumes the service's answers
 * (the update_plugins transient, plugins_api(), Plugin_Upgrader with the package URL); it
 * proves nothing about EDD's class itself, which the test runs instead when its file is
 * dropped in.
 *
 * What it does, and nothing more:
 * - on `pre_set_site_transient_update_plugins` (wp_update_plugins() saving what it found),
 *   once per PHP request, POSTs `edd_action=get_version` to the store URL with a trailing
 *   slash added: license, item_name, item_id, version, slug, author, url (home_url()),
 *   beta, php_version, wp_version, through wp_remote_post() with a 15 s timeout; on an
 *   HTTP 200 JSON object with `new_version` and `sections`, puts the update into the
 *   transient's `response` (newer than the installed version) or `no_update` (not newer);
 * - on `plugins_api` for `plugin_information` of its own slug ("View details"), answers
 *   from the same call: name, slug, version, sections as an array, download_link, ...
 * - reads `sections`, `banners` and `icons` in the shapes maybe_unserialize() accepts (a
 *   PHP-serialized array, as EDD stores send them; or a JSON object), but strictly: no
 *   class may be instantiated, and a malformed serialization is not silenced (a notice).
 *
 * What it leaves out (EDD's class has them): no cache of the answer across page loads, no
 * back-off after a failed call, no update row or notices of its own on the Plugins screen,
 * no multisite handling. One call per PHP request at most.
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

class WPE2E_Protocol_Updater {

	/** The store URL, with a trailing slash (the EDD endpoint answers with or without). */
	private $store_url;

	/** The plugin as WordPress names it: `folder/file.php`. */
	private $plugin;

	/** The plugin's folder (its file name for a single-file plugin). */
	private $slug;

	/** The installed version, as the plugin says it. */
	private $version;

	private $license;
	private $item_name;
	private $item_id;
	private $author;
	private $beta;

	/** This request's answer: null not asked yet, false the call failed, else the answer. */
	private $answer = null;

	/**
	 * @param string $store_url   The store's EDD URL (https://<host>/edd/<brand>).
	 * @param string $plugin_file The plugin's main file (__FILE__ in it).
	 * @param array  $args        version, license, item_id, item_name, author, beta.
	 */
	public function __construct( $store_url, $plugin_file, $args ) {
		$this->store_url = trailingslashit( (string) $store_url );
		$this->plugin    = plugin_basename( $plugin_file );
		$folder          = dirname( $this->plugin );
		$this->slug      = '.' === $folder ? basename( $plugin_file, '.php' ) : $folder;
		$this->version   = isset( $args['version'] ) ? (string) $args['version'] : '';
		$this->license   = isset( $args['license'] ) ? trim( (string) $args['license'] ) : '';
		$this->item_name = isset( $args['item_name'] ) ? (string) $args['item_name'] : '';
		$this->item_id   = isset( $args['item_id'] ) ? (string) $args['item_id'] : '';
		$this->author    = isset( $args['author'] ) ? (string) $args['author'] : '';
		$this->beta      = ! empty( $args['beta'] );

		add_filter( 'pre_set_site_transient_update_plugins', array( $this, 'offer_update' ) );
		add_filter( 'plugins_api', array( $this, 'plugin_information' ), 10, 3 );
	}

	/**
	 * The update_plugins transient as WordPress saves it, with this plugin's update in
	 * `response` (or `no_update`) and the version it was compared with in `checked`.
	 * Left as it is when the store could not answer or has no release.
	 *
	 * wp_update_plugins() saves the transient twice (once before it asks WordPress.org,
	 * once with what it found); the store is asked once (version_info()). A full check
	 * of WordPress 6.1 records no `checked` versions of its own: the installed version is
	 * the one the plugin gave unless `checked` has one.
	 */
	public function offer_update( $transient ) {
		if ( ! is_object( $transient ) ) {
			return $transient;
		}
		$answer = $this->version_info();
		if ( null === $answer || '' === $answer->new_version ) {
			return $transient; // no answer, or no release published
		}
		if ( ! isset( $transient->checked ) || ! is_array( $transient->checked ) ) {
			$transient->checked = array();
		}
		if ( ! isset( $transient->checked[ $this->plugin ] ) ) {
			$transient->checked[ $this->plugin ] = $this->version;
		}
		$installed = (string) $transient->checked[ $this->plugin ];
		$update    = (object) array(
			'id'           => $this->plugin,
			'slug'         => $this->slug,
			'plugin'       => $this->plugin,
			'new_version'  => $answer->new_version,
			'url'          => self::text( $answer, 'url' ),
			'package'      => self::text( $answer, 'package' ),
			'icons'        => $answer->icons,
			'banners'      => $answer->banners,
			'tested'       => self::text( $answer, 'tested' ),
			'requires'     => self::text( $answer, 'requires' ),
			'requires_php' => self::text( $answer, 'requires_php' ),
			// Why `package` is empty, when it is (a plugin may show it beside core's
			// "Automatic update is unavailable for this plugin.").
			'msg'          => self::text( $answer, 'msg' ),
		);
		if ( ! isset( $transient->response ) || ! is_array( $transient->response ) ) {
			$transient->response = array();
		}
		if ( ! isset( $transient->no_update ) || ! is_array( $transient->no_update ) ) {
			$transient->no_update = array();
		}
		unset( $transient->response[ $this->plugin ], $transient->no_update[ $this->plugin ] );
		if ( version_compare( $update->new_version, $installed, '>' ) ) {
			$transient->response[ $this->plugin ] = $update;
		} else {
			$transient->no_update[ $this->plugin ] = $update;
		}
		return $transient;
	}

	/**
	 * plugins_api() for "View details" of this plugin: the store's answer as WordPress's
	 * plugin information screen reads it. Other actions and plugins pass through.
	 */
	public function plugin_information( $result, $action, $args ) {
		if ( 'plugin_information' !== $action || ! is_object( $args ) || ! isset( $args->slug ) || $this->slug !== $args->slug ) {
			return $result;
		}
		$answer = $this->version_info();
		if ( null === $answer ) {
			return new WP_Error( 'plugins_api_failed', 'The plugin\'s store could not be reached.' );
		}
		$package = self::text( $answer, 'download_link' );
		return (object) array(
			'name'          => self::text( $answer, 'name' ),
			'slug'          => $this->slug,
			'version'       => $answer->new_version,
			'new_version'   => $answer->new_version,
			'author'        => $this->author,
			'homepage'      => self::text( $answer, 'homepage' ),
			'requires'      => self::text( $answer, 'requires' ),
			'requires_php'  => self::text( $answer, 'requires_php' ),
			'tested'        => self::text( $answer, 'tested' ),
			'last_updated'  => self::text( $answer, 'last_updated' ),
			'sections'      => $answer->sections,
			'banners'       => $answer->banners,
			'icons'         => $answer->icons,
			'download_link' => '' !== $package ? $package : self::text( $answer, 'package' ),
		);
	}

	/**
	 * The store's get_version answer (asked once per PHP request), with `sections`,
	 * `banners` and `icons` as arrays; null when the call failed: a network error, a status
	 * other than 200, a body that is not a JSON object, or one without `new_version` and
	 * `sections` (an EDD client treats that as a failure too).
	 */
	private function version_info() {
		if ( null !== $this->answer ) {
			return false === $this->answer ? null : $this->answer;
		}
		$this->answer = false;
		$response     = wp_remote_post(
			$this->store_url,
			array(
				'timeout' => 15,
				'body'    => array(
					'edd_action'  => 'get_version',
					'license'     => $this->license,
					'item_name'   => $this->item_name,
					'item_id'     => $this->item_id,
					'version'     => $this->version,
					'slug'        => $this->slug,
					'author'      => $this->author,
					'url'         => home_url(),
					'beta'        => $this->beta ? '1' : '0',
					'php_version' => phpversion(),
					'wp_version'  => get_bloginfo( 'version' ),
				),
			)
		);
		if ( is_wp_error( $response ) || 200 !== wp_remote_retrieve_response_code( $response ) ) {
			return null;
		}
		$answer = json_decode( wp_remote_retrieve_body( $response ) );
		if ( ! is_object( $answer ) || ! isset( $answer->new_version, $answer->sections ) || ! is_string( $answer->new_version ) ) {
			return null;
		}
		foreach ( array( 'sections', 'banners', 'icons' ) as $field ) {
			$answer->$field = isset( $answer->$field ) ? self::as_array( $answer->$field ) : array();
		}
		$this->answer = $answer;
		return $answer;
	}

	/** A field of the answer as text ("" when it is missing or not a scalar). */
	private static function text( $answer, $field ) {
		return isset( $answer->$field ) && is_scalar( $answer->$field ) ? (string) $answer->$field : '';
	}

	/**
	 * `sections`, `banners` or `icons` as an array: a PHP-serialized array unserialized with
	 * no class allowed, a JSON object's properties, an array as it is; anything else empty.
	 */
	private static function as_array( $value ) {
		if ( is_string( $value ) && is_serialized( $value ) ) {
			$value = unserialize( trim( $value ), array( 'allowed_classes' => false ) );
		}
		if ( is_object( $value ) ) {
			$value = get_object_vars( $value );
		}
		return is_array( $value ) ? $value : array();
	}
}
