#!/usr/bin/env bash
# The PHP side: installs what it needs (idempotent), then runs PHPUnit for clients/laravel.
# - PHP 8.2, Debian's Laravel 8.83, PHPUnit and Composer from apt;
# - the package into its test app with Composer, offline (a path repository; Packagist is off);
# - for the live suite: the built sidecar and wa-sim (cargo build), sockudo at a pinned version
#   (ops/install-sockudo.sh, built once and cached), and the browser tests' npm packages.
# WA_PHP_LIVE=0 runs only the suite that needs none of those. Extra arguments go to PHPUnit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
export PATH="$HOME/.cargo/bin:$PATH"

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "test-php: need root (or sudo) to run: $*" >&2; exit 1
  fi
}

need_apt=()
for pkg in php-cli phpunit composer php-laravel-framework php-guzzlehttp-guzzle php-sqlite3 php-curl php-xml php-mbstring; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "test-php: installing ${need_apt[*]}"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

# Composer, offline: the test app requires wa-sidecar/laravel from its path repository and says
# (composer.json "provide") that Debian's Illuminate and Guzzle satisfy the package's constraints.
app="clients/laravel/tests/app"
export COMPOSER_HOME="${COMPOSER_HOME:-$ROOT/$app/.composer}" COMPOSER_ALLOW_SUPERUSER=1 COMPOSER_DISABLE_NETWORK=1
(cd "$app" && composer update --no-interaction --no-progress --quiet)

suites=(--testsuite unit)
if [ "${WA_PHP_LIVE:-1}" != "0" ]; then
  nice -n 5 cargo build --quiet -p wa-sidecar -p wa-sim --bins
  export WA_SIDECAR_BIN="$ROOT/target/debug/wa-sidecar" WA_SIM_BIN="$ROOT/target/debug/wa-sim"
  WA_SOCKUDO_BIN="$(ops/install-sockudo.sh)"
  export WA_SOCKUDO_BIN
  (cd clients/laravel/tests/browser && { [ -d node_modules/puppeteer-core ] || npm ci --no-audit --no-fund --ignore-scripts; })
  export WA_TEST_NODE_MODULES="$ROOT/clients/laravel/tests/browser/node_modules"
  suites=()
fi
cd clients/laravel
exec phpunit "${suites[@]}" "$@"
