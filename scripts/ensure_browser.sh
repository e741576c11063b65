#!/usr/bin/env bash
# Debian's chromium and chromium-driver for the staff console's browser tests
# (tests/console/test_browser.py), installed the way .ci/run installs its tools; quick when
# they are there. Not root or no apt-get: says so, and the browser tests skip loudly (under
# CI=true they fail instead).
set -uo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} for the browser tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } \
        || echo "!! could not install ${missing[*]}: the browser tests will not run"
else
    echo "!! ${missing[*]} missing (apt-get install chromium chromium-driver as root): the browser tests will not run"
fi
exit 0
