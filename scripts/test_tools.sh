#!/usr/bin/env bash
# The Debian packages tests run for real, besides the ones .ci/run lists itself: WordPress
# and the PHP CLI with its curl and MySQL extensions (the EDD end-to-end test,
# tests/wordpress/e2e; MariaDB is the machine's), and Chromium with its driver (the staff
# console's browser test, tests/console/test_browser.py), node and npm (the license-token
# interop test verifies with the npm package jose: tests/js).
#
#   scripts/test_tools.sh            install the missing ones with apt-get (root); quick when
#                                    they are all there
#   scripts/test_tools.sh --missing  print the missing ones, one a line, and install nothing
#
# .ci/run installs them with its other packages; `make test` runs this first (a warning,
# not a failure, when it cannot install: those tests then skip saying why, or fail under CI).
set -euo pipefail

missing=()
command -v php >/dev/null 2>&1 || missing+=(php-cli)
php -m 2>/dev/null | grep -ix curl >/dev/null || missing+=(php-curl)
php -m 2>/dev/null | grep -ix mysqli >/dev/null || missing+=(php-mysql)
[ -f "${WPE2E_WORDPRESS_DIR:-/usr/share/wordpress}/wp-settings.php" ] || missing+=(wordpress)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ "${1:-}" = "--missing" ]; then
    if [ ${#missing[@]} -gt 0 ]; then printf '%s\n' "${missing[@]}"; fi
    exit 0
fi
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
# Debian's wordpress depends on a web server: nginx (the proxy's tests use it) is one, and
# asking for it alongside keeps apt from choosing apache2.
command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
