#!/usr/bin/env bash
# A private OpenLDAP directory on loopback for the LDAP sign-in tests: its
# own slapd.conf, database, CA and server certificate under DIR (never the
# system's slapd service), seeded with a small organisation:
#
#   dc=example,dc=org
#     ou=people    uid=alice (departmentNumber sales), uid=bob (eng), uid=carol
#     ou=services  cn=laker (the service account Laker searches with),
#                  cn=nobody (keeps groups non-empty; cannot sign in)
#     ou=groups    cn=analysts (alice), cn=engineers (bob),
#                  cn=data-team (the group cn=analysts: nested)
#
# The memberof overlay keeps `memberOf` on members (users and groups alike).
# Plain LDAP with StartTLS listens on one port, LDAPS on another, both on
# 127.0.0.1; the server certificate (for 127.0.0.1 and localhost) is signed
# by DIR/tls/ca.pem; DIR/tls/other-ca.pem is an unrelated CA (for tests of a
# wrong CA).
#
#   scripts/ldap.sh start DIR   # set up (first time) and start; idempotent
#   scripts/ldap.sh stop DIR    # stop; the data and ports are kept
#   scripts/ldap.sh env DIR     # print the settings of a started directory
#   scripts/ldap.sh install     # only install slapd and ldap-utils if missing
#
# `start` returns once the directory answers searches over LDAP+StartTLS
# and LDAPS, and prints (and writes to DIR/ldap.env) KEY=value lines:
# LDAP_URL, LDAPS_URL, LDAP_PORT, LDAPS_PORT, LDAP_CA, LDAP_OTHER_CA,
# LDAP_PID, LDAP_BASE, LDAP_ADMIN_DN, LDAP_ADMIN_PASSWORD, LDAP_SERVICE_DN,
# LDAP_SERVICE_PASSWORD_FILE, LDAP_USER_PASSWORD_<NAME>.
# A stopped directory starts again on the same ports with its data.
# slapd and ldap-utils are installed from Debian's packages if missing.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop|env DIR, or $0 install" >&2
  exit 2
}
command=${1:-}
if [ "$command" = install ] && [ $# -eq 1 ]; then
  dir=
elif [ $# -eq 2 ]; then
  mkdir -p "$2"
  dir=$(cd "$2" && pwd)
else
  usage
fi

BASE="dc=example,dc=org"
ADMIN_DN="cn=admin,$BASE"
ADMIN_PASSWORD="directory-admin-password"
SERVICE_DN="cn=laker,ou=services,$BASE"
SERVICE_PASSWORD="laker-service-password"
START_TIMEOUT_S=30

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
  else return 1
  fi
}

install_or_explain() { # packages…
  echo "==> installing $* (Debian packages)" >&2
  if ! command -v apt-get >/dev/null ||
    ! as_root apt-get update -qq ||
    ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null; then
    echo "error: $* are needed by the LDAP tests and could not be installed here; run:" >&2
    echo "  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y $*" >&2
    exit 1
  fi
}

slapd_bin() {
  if command -v slapd >/dev/null; then command -v slapd
  elif [ -x /usr/sbin/slapd ]; then echo /usr/sbin/slapd
  else return 1
  fi
}

ensure_installed() {
  local missing=()
  slapd_bin >/dev/null || missing+=(slapd)
  command -v ldapsearch >/dev/null || missing+=(ldap-utils)
  command -v openssl >/dev/null || missing+=(openssl)
  if [ ${#missing[@]} -gt 0 ]; then
    install_or_explain "${missing[@]}"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

running_pid() { # prints the pid of this directory's slapd, if it runs
  local pid
  [ -f "$dir/slapd.pid" ] || return 1
  pid=$(cat "$dir/slapd.pid")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# --- certificates -------------------------------------------------------------
make_tls() {
  local tls="$dir/tls"
  mkdir -p "$tls"
  [ -f "$tls/server.pem" ] && return 0
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" -days 3650 -subj "/CN=Laker test directory CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout "$tls/other-ca.key" -out "$tls/other-ca.pem" -days 3650 -subj "/CN=Unrelated CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout "$tls/server.key" -out "$tls/server.csr" -subj "/CN=localhost" 2>/dev/null
  cat >"$tls/server.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EOF
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
    -CAcreateserial -out "$tls/server.pem" -days 3650 -extfile "$tls/server.ext" 2>/dev/null
  chmod 600 "$tls"/*.key
}

# --- configuration ------------------------------------------------------------
make_config() {
  [ -f "$dir/slapd.conf" ] && return 0
  mkdir -p "$dir/data"
  local rootpw
  rootpw=$(slappasswd_bin -s "$ADMIN_PASSWORD")
  cat >"$dir/slapd.conf" <<EOF
# Generated by scripts/ldap.sh: a private test directory.
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema

modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof

pidfile $dir/slapd.pid
argsfile $dir/slapd.args

TLSCACertificateFile $dir/tls/ca.pem
TLSCertificateFile $dir/tls/server.pem
TLSCertificateKeyFile $dir/tls/server.key

database mdb
maxsize 16777216
suffix "$BASE"
rootdn "$ADMIN_DN"
rootpw $rootpw
directory $dir/data
index objectClass eq
index uid eq
index member eq

overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE

# Passwords: only to bind with. Everything else: readable by Laker's
# service account and by signed-in users, nothing for anonymous callers.
access to attrs=userPassword
  by self write
  by anonymous auth
  by * none
access to *
  by dn.exact="$SERVICE_DN" read
  by users read
  by * none
EOF
}

slappasswd_bin() {
  if command -v slappasswd >/dev/null; then slappasswd "$@"
  else /usr/sbin/slappasswd "$@"
  fi
}

seed_ldif() {
  local alice bob carol service
  alice=$(slappasswd_bin -s alice-password)
  bob=$(slappasswd_bin -s bob-password)
  carol=$(slappasswd_bin -s carol-password)
  service=$(slappasswd_bin -s "$SERVICE_PASSWORD")
  cat <<EOF
dn: $BASE
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,$BASE
objectClass: organizationalUnit
ou: people

dn: ou=groups,$BASE
objectClass: organizationalUnit
ou: groups

dn: ou=services,$BASE
objectClass: organizationalUnit
ou: services

dn: $SERVICE_DN
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: laker
userPassword: $service

dn: cn=nobody,ou=services,$BASE
objectClass: applicationProcess
cn: nobody
description: Keeps groups non-empty (groupOfNames needs a member); cannot sign in.

dn: uid=alice,ou=people,$BASE
objectClass: inetOrgPerson
uid: alice
cn: Alice Andersen
sn: Andersen
mail: alice@example.org
departmentNumber: sales
userPassword: $alice

dn: uid=bob,ou=people,$BASE
objectClass: inetOrgPerson
uid: bob
cn: Bob Berg
sn: Berg
mail: bob@example.org
departmentNumber: eng
userPassword: $bob

dn: uid=carol,ou=people,$BASE
objectClass: inetOrgPerson
uid: carol
cn: Carol Carlsen
sn: Carlsen
userPassword: $carol

dn: cn=analysts,ou=groups,$BASE
objectClass: groupOfNames
cn: analysts
member: cn=nobody,ou=services,$BASE
member: uid=alice,ou=people,$BASE

dn: cn=engineers,ou=groups,$BASE
objectClass: groupOfNames
cn: engineers
member: cn=nobody,ou=services,$BASE
member: uid=bob,ou=people,$BASE

dn: cn=data-team,ou=groups,$BASE
objectClass: groupOfNames
cn: data-team
member: cn=analysts,ou=groups,$BASE
EOF
}

# --- start / stop ---------------------------------------------------------------
answers() { # url: the root DSE is readable (TLS checked against the CA)
  LDAPTLS_CACERT="$dir/tls/ca.pem" LDAPTLS_REQCERT=demand \
    ldapsearch -x -H "$1" -b "" -s base -o nettimeout=2 -l 2 "${@:2}" namingContexts \
    >/dev/null 2>&1
}

write_env() {
  local pid=$1
  {
    echo "LDAP_URL=ldap://127.0.0.1:$LDAP_PORT"
    echo "LDAPS_URL=ldaps://127.0.0.1:$LDAPS_PORT"
    echo "LDAP_PORT=$LDAP_PORT"
    echo "LDAPS_PORT=$LDAPS_PORT"
    echo "LDAP_CA=$dir/tls/ca.pem"
    echo "LDAP_OTHER_CA=$dir/tls/other-ca.pem"
    echo "LDAP_PID=$pid"
    echo "LDAP_BASE=$BASE"
    echo "LDAP_ADMIN_DN=$ADMIN_DN"
    echo "LDAP_ADMIN_PASSWORD=$ADMIN_PASSWORD"
    echo "LDAP_SERVICE_DN=$SERVICE_DN"
    echo "LDAP_SERVICE_PASSWORD_FILE=$dir/service.password"
    echo "LDAP_USER_PASSWORD_ALICE=alice-password"
    echo "LDAP_USER_PASSWORD_BOB=bob-password"
    echo "LDAP_USER_PASSWORD_CAROL=carol-password"
  } >"$dir/ldap.env.tmp"
  mv "$dir/ldap.env.tmp" "$dir/ldap.env"
}

start() {
  ensure_installed
  if [ -f "$dir/ports" ]; then
    # shellcheck disable=SC1091
    . "$dir/ports"
  else
    LDAP_PORT=$(free_port)
    LDAPS_PORT=$(free_port)
    while [ "$LDAPS_PORT" = "$LDAP_PORT" ]; do LDAPS_PORT=$(free_port); done
    printf 'LDAP_PORT=%s\nLDAPS_PORT=%s\n' "$LDAP_PORT" "$LDAPS_PORT" >"$dir/ports"
  fi
  local pid
  if pid=$(running_pid) && answers "ldap://127.0.0.1:$LDAP_PORT"; then
    write_env "$pid"
    cat "$dir/ldap.env"
    return 0
  fi
  make_tls
  make_config
  printf '%s' "$SERVICE_PASSWORD" >"$dir/service.password"
  chmod 600 "$dir/service.password"
  rm -f "$dir/slapd.pid"
  "$(slapd_bin)" -f "$dir/slapd.conf" \
    -h "ldap://127.0.0.1:$LDAP_PORT/ ldaps://127.0.0.1:$LDAPS_PORT/" \
    2>"$dir/slapd.log" || {
    echo "error: slapd did not start; see $dir/slapd.log:" >&2
    tail -5 "$dir/slapd.log" >&2
    if [ -e /etc/apparmor.d/usr.sbin.slapd ]; then
      echo "(AppArmor's usr.sbin.slapd profile may keep slapd out of $dir: sudo aa-complain /usr/sbin/slapd)" >&2
    fi
    exit 1
  }
  # Probe until it answers (slapd forks; the child opens the ports).
  local deadline=$((SECONDS + START_TIMEOUT_S))
  until answers "ldap://127.0.0.1:$LDAP_PORT" -ZZ && answers "ldaps://127.0.0.1:$LDAPS_PORT"; do
    if [ $SECONDS -ge $deadline ]; then
      echo "error: slapd did not answer on 127.0.0.1:$LDAP_PORT within ${START_TIMEOUT_S} s" >&2
      tail -5 "$dir/slapd.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  if [ ! -f "$dir/seeded" ]; then
    # Online (not slapadd), so the memberof overlay maintains memberOf.
    seed_ldif | LDAPTLS_CACERT="$dir/tls/ca.pem" ldapadd -x -ZZ -H "ldap://127.0.0.1:$LDAP_PORT" \
      -D "$ADMIN_DN" -w "$ADMIN_PASSWORD" >/dev/null
    touch "$dir/seeded"
  fi
  pid=$(running_pid) || {
    echo "error: slapd wrote no pid file in $dir" >&2
    exit 1
  }
  write_env "$pid"
  cat "$dir/ldap.env"
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$dir/slapd.pid"
    return 0
  fi
  kill "$pid"
  local deadline=$((SECONDS + START_TIMEOUT_S))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      kill -9 "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.05
  done
  rm -f "$dir/slapd.pid"
}

case "$command" in
  install) ensure_installed ;;
  start) start ;;
  stop) stop ;;
  env)
    [ -f "$dir/ldap.env" ] || { echo "error: no directory started in $dir" >&2; exit 1; }
    cat "$dir/ldap.env"
    ;;
  *) usage ;;
esac
