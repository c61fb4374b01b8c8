#!/usr/bin/env bash
# The one test command (README "test"; .ci/run calls exactly this).
#
# Brings up what the tests need — PostgreSQL and Redis (used if running, started if installed,
# installed with apt-get if missing), a tansu Kafka-protocol broker (installed with cargo if
# missing), moto's S3 server and aiosmtpd's SMTP server (installed with pip into venvs if
# missing), Prometheus (Debian's package) — exports their locations, checks formatting and
# clippy, checks the deployment and monitoring configuration (scripts/check-k8s.sh,
# scripts/check-swarm.sh, scripts/check-monitoring.sh), runs every test with cargo-nextest,
# and stops whatever it started. The Swarm stack deployed for real is its own script:
# scripts/stack-test.sh.
#
#   scripts/test.sh               everything
#   scripts/test.sh --no-lint     skip fmt and clippy
#   scripts/test.sh -- <filter>   extra arguments go to cargo nextest run
set -euo pipefail
cd "$(dirname "$0")/.."

lint=1
nextest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-lint) lint=0 ;;
    --) shift; nextest_args=("$@"); break ;;
    *) echo "usage: scripts/test.sh [--no-lint] [-- <nextest args>]" >&2; exit 64 ;;
  esac
  shift
done

# Keep the build cache outside the clone so repeated runs (and CI) reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/medmesh/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

say() { printf '==> %s\n' "$*"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 100); do port_open "$1" && return 0; sleep 0.2; done
  echo "nothing answers on 127.0.0.1:$1" >&2; return 1
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

cleanup_cmds=()
cleanup() {
  local i
  for ((i = ${#cleanup_cmds[@]} - 1; i >= 0; i--)); do eval "${cleanup_cmds[$i]}" || true; done
}
trap cleanup EXIT

# --- PostgreSQL --------------------------------------------------------------------------
if port_open 5432; then
  say "PostgreSQL: using the server on 127.0.0.1:5432"
else
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    say "PostgreSQL: installing"
    apt_install postgresql
  fi
  version=$(ls /etc/postgresql | sort -V | tail -1)
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  # Tests connect as postgres over TCP without a password, as on the CI machines.
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  say "PostgreSQL: starting cluster $version/main"
  # A fresh install may have started it already (and read pg_hba.conf before our edit).
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main stop >/dev/null 2>&1 || true
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  cleanup_cmds+=("as_root pg_ctlcluster --skip-systemctl-redirect $version main stop")
  wait_port 5432
fi
export MEDMESH_TEST_POSTGRES_URL="${MEDMESH_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}"
# Test databases of earlier runs are dropped; each test makes its own.
if command -v psql >/dev/null 2>&1; then
  psql "$MEDMESH_TEST_POSTGRES_URL/postgres" -Atqc \
    "SELECT datname FROM pg_database WHERE datname LIKE 'medmesh_test_%'" 2>/dev/null |
    while read -r db; do psql "$MEDMESH_TEST_POSTGRES_URL/postgres" -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true; done
fi

# --- PostgreSQL over TLS ------------------------------------------------------------------
# The server's certificate, signed by an authority of the test run's own, names 127.0.0.1 and
# localhost, so clients can connect with sslmode=verify-full (svc-kit/tests/database_tls.rs and
# medmesh/tests/tls.rs). Kept in $HOME/.cache/medmesh/pg-tls across runs. This changes the
# server's ssl_cert_file and ssl_key_file (ALTER SYSTEM): on a developer's own PostgreSQL, reset
# them afterwards if the old certificate mattered.
pg_tls="$HOME/.cache/medmesh/pg-tls"
command -v openssl >/dev/null 2>&1 || apt_install openssl
command -v psql >/dev/null 2>&1 || apt_install postgresql-client
if [ ! -s "$pg_tls/server.crt" ]; then
  say "PostgreSQL: making a test authority and a server certificate"
  mkdir -p "$pg_tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=MedMesh test PostgreSQL CA" -keyout "$pg_tls/ca.key" -out "$pg_tls/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$pg_tls/server.key" -out "$pg_tls/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$pg_tls/server.ext"
  openssl x509 -req -in "$pg_tls/server.csr" -CA "$pg_tls/ca.crt" -CAkey "$pg_tls/ca.key" \
    -CAcreateserial -days 3650 -extfile "$pg_tls/server.ext" -out "$pg_tls/server.crt" 2>/dev/null
fi
pg_data=$(psql "$MEDMESH_TEST_POSTGRES_URL/postgres" -Atqc "SHOW data_directory" 2>/dev/null || true)
if [ -n "$pg_data" ] && [ -d "$pg_data" ]; then
  say "PostgreSQL: ssl = on with the test authority's certificate"
  as_root install -o postgres -g postgres -m 0644 "$pg_tls/server.crt" "$pg_data/medmesh-test-server.crt"
  as_root install -o postgres -g postgres -m 0600 "$pg_tls/server.key" "$pg_data/medmesh-test-server.key"
  psql "$MEDMESH_TEST_POSTGRES_URL/postgres" -qc "ALTER SYSTEM SET ssl_cert_file = '$pg_data/medmesh-test-server.crt'" >/dev/null
  psql "$MEDMESH_TEST_POSTGRES_URL/postgres" -qc "ALTER SYSTEM SET ssl_key_file = '$pg_data/medmesh-test-server.key'" >/dev/null
  psql "$MEDMESH_TEST_POSTGRES_URL/postgres" -qc "ALTER SYSTEM SET ssl = on" >/dev/null
  psql "$MEDMESH_TEST_POSTGRES_URL/postgres" -Atqc "SELECT pg_reload_conf()" >/dev/null
  # The reload is asynchronous: wait until a verified TLS connection goes through.
  for _ in $(seq 1 50); do
    if psql "host=127.0.0.1 port=5432 user=postgres dbname=postgres sslmode=verify-full sslrootcert=$pg_tls/ca.crt" \
      -Atqc "SELECT 1" >/dev/null 2>&1; then
      export MEDMESH_TEST_POSTGRES_CA="$pg_tls/ca.crt"
      break
    fi
    sleep 0.2
  done
  if [ -z "${MEDMESH_TEST_POSTGRES_CA:-}" ]; then
    echo "PostgreSQL: no verified TLS connection after the reload" >&2
    exit 1
  fi
else
  echo "PostgreSQL: cannot read its data directory; the TLS tests will say so" >&2
fi

# --- Redis -------------------------------------------------------------------------------
if port_open 6379; then
  say "Redis: using the server on 127.0.0.1:6379"
else
  if ! command -v redis-server >/dev/null 2>&1; then
    say "Redis: installing"
    apt_install redis-server
  fi
  if ! port_open 6379; then
    say "Redis: starting"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --pidfile /tmp/medmesh-test-redis.pid --logfile /tmp/medmesh-test-redis.log
    cleanup_cmds+=("kill \$(cat /tmp/medmesh-test-redis.pid)")
  fi
  wait_port 6379
fi
export MEDMESH_TEST_REDIS_URL="${MEDMESH_TEST_REDIS_URL:-redis://127.0.0.1:6379}"

# --- the system's OpenSSL, which librdkafka's TLS links (docs/adr/0011) -----------------
if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists openssl; then
  say "libssl-dev: installing (librdkafka's TLS)"
  apt_install libssl-dev pkg-config
fi

# --- tansu (Kafka protocol) --------------------------------------------------------------
# Built with SQLite storage (libsql) beside the in-memory one: the SASL SCRAM tests keep the
# broker's users there (its in-memory storage keeps none). Its own root, so a tansu built
# without it elsewhere on PATH is not taken for it.
# MEDMESH_TEST_TANSU_BIN may name one built so elsewhere.
tansu_root="$HOME/.cache/medmesh/tansu-0.6.0-libsql"
export MEDMESH_TEST_TANSU_BIN="${MEDMESH_TEST_TANSU_BIN:-$tansu_root/bin/tansu}"
if [ ! -x "$MEDMESH_TEST_TANSU_BIN" ]; then
  say "tansu: installing into $tansu_root (about 15 minutes on two cores, once)"
  cargo install --locked tansu --version 0.6.0 --features dynostore,libsql --root "$tansu_root"
  MEDMESH_TEST_TANSU_BIN="$tansu_root/bin/tansu"
fi
kafka_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
say "tansu: starting on 127.0.0.1:$kafka_port (memory storage)"
"$MEDMESH_TEST_TANSU_BIN" broker \
  --listener-url "tcp://127.0.0.1:$kafka_port" \
  --advertised-listener-url "tcp://127.0.0.1:$kafka_port" \
  --storage-engine memory://tansu/ >/tmp/medmesh-test-tansu.log 2>&1 &
cleanup_cmds+=("kill $!")
wait_port "$kafka_port"
# Tests that must stop and restart a broker start their own from MEDMESH_TEST_TANSU_BIN.
export MEDMESH_TEST_KAFKA_BROKERS="127.0.0.1:$kafka_port"

# --- an S3-compatible object store (documents) -------------------------------------------
# moto's server implements the S3 API; the document store's S3 backend is tested against it.
moto_bin="$(command -v moto_server || true)"
if [ -z "$moto_bin" ]; then
  venv="$HOME/.cache/medmesh/moto-venv"
  if [ ! -x "$venv/bin/moto_server" ]; then
    say "moto (S3 server): installing into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'moto[server]==5.2.1'
  fi
  moto_bin="$venv/bin/moto_server"
fi
export MEDMESH_TEST_S3_SERVER="$moto_bin"

# --- an SMTP server (notifications) ------------------------------------------------------
# aiosmtpd is a real SMTP server; notify's tests start scripts/smtp_sink.py with this Python
# and read what it accepted.
smtp_venv="$HOME/.cache/medmesh/smtp-venv"
if ! "$smtp_venv/bin/python" -c 'import aiosmtpd' >/dev/null 2>&1; then
  say "aiosmtpd (SMTP server): installing into $smtp_venv"
  python3 -m venv "$smtp_venv"
  "$smtp_venv/bin/pip" install -q 'aiosmtpd==1.4.6'
fi
export MEDMESH_TEST_SMTP_PYTHON="$smtp_venv/bin/python"

# --- Prometheus (the monitoring configuration's checks and test) -------------------------
# Debian's package: promtool checks the rules, and the monitoring test scrapes the platform
# with a real Prometheus.
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  say "Prometheus: installing"
  apt_install --no-install-recommends prometheus
fi
export MEDMESH_TEST_PROMETHEUS="$(command -v prometheus)"

# --- checks and tests --------------------------------------------------------------------
if ! cargo nextest --version >/dev/null 2>&1; then
  say "cargo-nextest: installing"
  cargo install --locked cargo-nextest
fi
if [ "$lint" = 1 ]; then
  say "cargo fmt --check"
  cargo fmt --all -- --check
  say "cargo clippy"
  cargo clippy --workspace --all-targets --locked -- -D warnings
  # Production builds leave the development issuer out; they must still compile.
  say "cargo check -p medmesh --no-default-features"
  cargo check -p medmesh --no-default-features --locked
fi
say "deployment and monitoring configuration"
scripts/check-monitoring.sh
scripts/check-k8s.sh
scripts/check-swarm.sh
say "cargo nextest run"
cargo nextest run --workspace --locked --no-fail-fast "${nextest_args[@]}"
