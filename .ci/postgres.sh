#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the tests (#18): `.ci/run` uses it, and so can a developer.
#
#   eval "$(.ci/postgres.sh start)"   # initdb into a new temporary directory, start it, print two exports
#   .venv/bin/python -m pytest ...    # every database test now also runs [postgresql]
#   .ci/postgres.sh stop              # stop it and delete its directory ($STRATUM_TEST_POSTGRES_DIR)
#
# `start` prints `export STRATUM_TEST_POSTGRES_URL=postgresql://stratum:PASSWORD@127.0.0.1:PORT/postgres` (a role
# with a random password that may create databases: tests/backends.py makes one per test from it) and
# `export STRATUM_TEST_POSTGRES_DIR=...` (what `stop` removes); everything else goes to stderr. It exits non-zero
# with one line when there is no PostgreSQL or it will not start. The server listens on 127.0.0.1 only, on a
# free port, its unix socket inside the cluster's directory. PostgreSQL refuses to run as root: as root the
# cluster belongs to, and runs as, the `postgres` user (runuser); as anyone else it runs as that user.
set -euo pipefail

MARKER=.stratum-test-cluster  # `stop` deletes only a directory holding this file, written by `start`

say() { echo "postgres.sh: $*" >&2; }

bindir() {
  # Debian puts each major version's programs under /usr/lib/postgresql/N/bin; take the newest.
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1) || true
  if [[ -z $dir || ! -x $dir/initdb ]]; then
    say "no PostgreSQL server programs under /usr/lib/postgresql/*/bin (apt-get install postgresql)"
    return 1
  fi
  echo "$dir"
}

as_owner() {
  # Run a server program as the cluster's owner: `postgres` when we are root, else ourselves.
  if ((EUID == 0)); then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  # A port nothing listens on now (the kernel's pick); a rare race with another process is retried by start.
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  local bin dir password port
  bin=$(bindir) || return 1
  if ((EUID == 0)) && ! id -u postgres >/dev/null 2>&1; then
    say "running as root and there is no postgres user to run the server as"
    return 1
  fi
  dir=$(mktemp -d "${TMPDIR:-/tmp}/stratum-pg.XXXXXX")
  touch "$dir/$MARKER"
  if ((EUID == 0)); then chown -R postgres: "$dir"; fi
  password=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
  # The superuser connects only through the unix socket, in this 0700 directory (its owner and root alone can
  # reach it), so it needs no password there; TCP on 127.0.0.1 asks for one (scram-sha-256).
  if ! as_owner "$bin/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C.UTF-8 --auth-local=trust \
    --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1; then
    say "initdb failed: $(tail -n 1 "$dir/initdb.log")"
    rm -rf "$dir"
    return 1
  fi
  # A test cluster only: fsync, synchronous_commit and full_page_writes off trade crash safety, which a
  # directory deleted after the run does not need, for speed. Never use these settings for real data.
  cat >>"$dir/data/postgresql.conf" <<CONF
# --- .ci/postgres.sh: a throwaway test cluster (crash safety off on purpose; the port is given at start) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
  local tries
  for tries in 1 2 3; do
    port=$(free_port)
    as_owner "$bin/pg_ctl" start -D "$dir/data" -l "$dir/server.log" -o "-p $port" -w -t 60 >/dev/null 2>&1 && break
    # Not up in time, or the port was taken meanwhile: make sure nothing is left running before the next try.
    as_owner "$bin/pg_ctl" stop -D "$dir/data" -m immediate -w -t 30 >/dev/null 2>&1 || true
    if ((tries == 3)); then
      say "the server did not start: $(tail -n 1 "$dir/server.log" 2>/dev/null)"
      rm -rf "$dir"
      return 1
    fi
  done
  if ! as_owner "$bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -X -q -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE stratum LOGIN CREATEDB CREATEROLE PASSWORD '$password'" \
    -c "GRANT pg_signal_backend TO stratum" >/dev/null 2>"$dir/psql.log"; then
    say "could not create the stratum role: $(tail -n 1 "$dir/psql.log")"
    stop "$dir"
    return 1
  fi
  say "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, cluster in $dir"
  echo "export STRATUM_TEST_POSTGRES_URL=postgresql://stratum:$password@127.0.0.1:$port/postgres"
  echo "export STRATUM_TEST_POSTGRES_DIR=$dir"
}

stop() {
  local dir=${1:-${STRATUM_TEST_POSTGRES_DIR:-}} bin
  if [[ -z $dir ]]; then
    say "stop: which cluster? give its directory or set STRATUM_TEST_POSTGRES_DIR"
    return 1
  fi
  if [[ ! -f $dir/$MARKER ]]; then
    say "stop: $dir is not a cluster started by this script (no $MARKER): left alone"
    return 1
  fi
  if [[ -f $dir/data/postmaster.pid ]] && bin=$(bindir); then
    as_owner "$bin/pg_ctl" stop -D "$dir/data" -m fast -w -t 30 >/dev/null 2>&1 \
      || as_owner "$bin/pg_ctl" stop -D "$dir/data" -m immediate -w -t 30 >/dev/null 2>&1 \
      || say "stop: the server in $dir did not stop"
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  *)
    echo "usage: $0 start | stop [DIR]   (start prints exports for eval; see the top of this file)" >&2
    exit 2
    ;;
esac
