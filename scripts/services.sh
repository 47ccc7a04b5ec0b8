#!/usr/bin/env bash
# Makes sure the services the test suite talks to are up on loopback:
# PostgreSQL (catalog tests; trust auth, database `test`) on 127.0.0.1:5432
# and NATS with JetStream (commit notifications) on 127.0.0.1:4222.
# Already running: nothing is done. Missing: installed from Debian's
# packages (`postgresql`, `nats-server`) and started; where that is not
# possible, it stops at once with the exact command to run.
set -euo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # port, name
  for _ in $(seq 1 60); do
    listening "$1" && return 0
    sleep 0.5
  done
  echo "error: $2 did not start listening on 127.0.0.1:$1" >&2
  exit 1
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
  else return 1
  fi
}

install_or_explain() { # package
  local package=$1
  echo "==> installing $package (Debian package)"
  if ! command -v apt-get >/dev/null ||
    ! as_root apt-get update -qq ||
    ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$package" >/dev/null; then
    echo "error: $package is needed by the tests and could not be installed here; run:" >&2
    echo "  sudo apt-get install -y $package" >&2
    exit 1
  fi
}

# --- PostgreSQL -------------------------------------------------------------
# Only the default loopback server is managed; another LAKER_TEST_POSTGRES_URL
# is the caller's to provide.
pg_url="${LAKER_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
if [ "$pg_url" = "postgres://postgres@127.0.0.1:5432/test" ] && ! listening 5432; then
  fresh=no
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    install_or_explain postgresql
    fresh=yes
  fi
  version=$(ls /usr/lib/postgresql | sort -V | tail -1)
  if [ "$fresh" = yes ]; then
    # A cluster this script installed: the tests connect as postgres,
    # without a password, over TCP on loopback.
    hba=/etc/postgresql/$version/main/pg_hba.conf
    as_root sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
  fi
  echo "==> starting PostgreSQL $version"
  as_root pg_ctlcluster "$version" main start || {
    echo "error: PostgreSQL did not start; run: sudo pg_ctlcluster $version main start" >&2
    exit 1
  }
  wait_for 5432 PostgreSQL
  if ! psql -w -h 127.0.0.1 -U postgres -d postgres -tAc "select 1" >/dev/null 2>&1; then
    echo "error: PostgreSQL refuses postgres@127.0.0.1 without a password; add to pg_hba.conf:" >&2
    echo "  host all postgres 127.0.0.1/32 trust" >&2
    exit 1
  fi
  if ! psql -w -h 127.0.0.1 -U postgres -d postgres -tAc \
    "select 1 from pg_database where datname='test'" | grep -q 1; then
    psql -w -h 127.0.0.1 -U postgres -d postgres -qc "create database test"
  fi
fi

# --- NATS with JetStream ----------------------------------------------------
if ! listening 4222; then
  if ! command -v nats-server >/dev/null; then
    install_or_explain nats-server
  fi
  echo "==> starting nats-server with JetStream on 127.0.0.1:4222"
  store="${TMPDIR:-/tmp}/laker-nats"
  mkdir -p "$store"
  nohup nats-server -js -a 127.0.0.1 -p 4222 -sd "$store" >"$store/nats.log" 2>&1 &
  wait_for 4222 nats-server
fi
