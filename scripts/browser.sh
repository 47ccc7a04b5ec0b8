#!/usr/bin/env bash
# Makes sure Chromium and its driver are installed for the console's browser
# tests, which drive it through Playwright and never download a browser of
# their own. Already there (or LAKER_CHROMIUM names an executable): nothing
# is done. Missing: installed from Debian's packages (`chromium`,
# `chromium-driver`), the package lists refreshed only if the install fails;
# where that is not possible, it stops at once with the exact command to run.
set -euo pipefail

packages=(chromium chromium-driver)

if [ -n "${LAKER_CHROMIUM:-}" ] && [ -x "$LAKER_CHROMIUM" ]; then
  exit 0
fi
if [ -x /usr/bin/chromium ] && command -v chromedriver >/dev/null; then
  exit 0
fi

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
  else return 1
  fi
}

install() {
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${packages[@]}" >/dev/null
}

explain() {
  echo "error: Chromium is needed by the console tests and could not be installed here; run:" >&2
  echo "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${packages[*]}" >&2
  exit 1
}

echo "==> installing ${packages[*]} (Debian packages)"
command -v apt-get >/dev/null || explain
if ! install; then
  as_root apt-get update -qq || explain
  install || explain
fi
[ -x /usr/bin/chromium ] || explain
