#!/usr/bin/env bash
# A real DRF + simplejwt project moves to Tessera, on SQLite and on PostgreSQL — the steps of
# docs/MIGRATING.md. For each engine: Django (tests/django, from PyPI) migrates its database,
# creates users under each of its password hashers and issues token pairs through simplejwt's
# own views; `tessera import django` (a dry run first) carries them over; the real `tessera`
# binary then serves with Django's SECRET_KEY and `simplejwt_cutover`, and check.py proves
# Django's tokens and passwords work there (and only those that should).
#
# Needs python3 (with venv and pip) and PyPI; the virtualenv is kept in target/django-venv
# (TESSERA_DJANGO_VENV) and reused. PostgreSQL at TESSERA_TEST_POSTGRES_URL (default
# postgres://postgres@127.0.0.1:5432/test): a private database is created and dropped per run;
# without PostgreSQL its half is skipped, or fails when TESSERA_REQUIRE_POSTGRES=1.
# TESSERA_BIN runs a given binary instead of building target/debug/tessera.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export PYTHONDONTWRITEBYTECODE=1 # nothing is written into the repository

fail() {
  echo "tests/django: FAILED: $*" >&2
  exit 1
}

# The virtualenv, reinstalled when requirements.txt changes. Where python3 has no working
# venv module (Debian without python3-venv), pip installs into a directory of the same place
# instead (`--target`), and a wrapper runs python3 with it on the path.
venv="${TESSERA_DJANGO_VENV:-$root/target/django-venv}"
python="$venv/bin/python"
if ! cmp -s "$here/requirements.txt" "$venv/requirements.txt" 2>/dev/null; then
  echo "== tests/django: Python environment $venv (Django, DRF, simplejwt from PyPI)"
  rm -rf "$venv"
  if python3 -m venv "$venv" >/dev/null 2>&1 && "$python" -m pip --version >/dev/null 2>&1; then
    "$python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  else
    rm -rf "$venv"
    mkdir -p "$venv/bin"
    python3 -m pip install --quiet --disable-pip-version-check \
      --target "$venv/site-packages" -r "$here/requirements.txt"
    printf '#!/bin/sh\nPYTHONPATH="%s${PYTHONPATH:+:$PYTHONPATH}" exec python3 "$@"\n' \
      "$venv/site-packages" >"$python"
    chmod +x "$python"
  fi
  cp "$here/requirements.txt" "$venv/requirements.txt"
fi

if [[ -n "${TESSERA_BIN:-}" ]]; then
  binary="$(realpath "$TESSERA_BIN")"
else
  cargo build --quiet --manifest-path "$root/Cargo.toml" -p tessera-server --bin tessera
  binary="$root/target/debug/tessera"
fi

work="$(mktemp -d)"
server=""
pg_admin="${TESSERA_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
pg_name="tessera_django_$$"
pg_created=""

# Runs SQL on the PostgreSQL server's maintenance connection (psycopg from the virtualenv).
pg_admin_sql() {
  "$python" - "$pg_admin" "$1" <<'EOF'
import sys
import psycopg

with psycopg.connect(sys.argv[1], autocommit=True, connect_timeout=5) as connection:
    connection.execute(sys.argv[2])
EOF
}

stop_server() {
  if [[ -n "$server" ]]; then
    # `$server` is the background job's shell; the server is its child.
    pkill -P "$server" 2>/dev/null || true
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
  fi
}

cleanup() {
  stop_server
  if [[ -n "$pg_created" ]]; then
    pg_admin_sql "DROP DATABASE IF EXISTS $pg_name WITH (FORCE)" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Runs the tessera binary with only the settings of this run (no inherited TESSERA_*, no .env);
# `other_database=URL tessera …` points one command at another database.
tessera() {
  (cd "$dir" && exec env -i PATH="$PATH" HOME="${HOME:-/root}" TESSERA_LOG="${TESSERA_LOG:-warn}" \
    TESSERA_CONFIG="$dir/tessera.toml" TESSERA_SIGNING_KEY="$secret_key" \
    ${other_database:+TESSERA_DATABASE_URL="$other_database"} "$binary" "$@")
}

check() {
  "$python" "$here/check.py" "$@" --fixture "$dir/seed.json" --db "$tessera_db" \
    --rollback "$dir/rollback.json" ${url:+--url "$url"}
}

# One migration: $1 is the engine, $2 Django's database URL, $3 Tessera's.
migrate_one() {
  local engine="$1" django_db="$2"
  tessera_db="$3"
  dir="$work/$engine"
  url=""
  mkdir -p "$dir"
  echo "== tests/django [$engine]: Django migrates, creates users, issues tokens"
  # A fresh SECRET_KEY per run; Tessera signs and verifies with the same one.
  secret_key="$("$python" -c 'import secrets; print(secrets.token_urlsafe(50))')"
  export DATABASE_URL="$django_db" DJANGO_SECRET_KEY="$secret_key"
  (cd "$here" && "$python" manage.py migrate --verbosity 0) || fail "[$engine] Django's migrate"
  (cd "$here" && "$python" manage.py seed_tokens --out "$dir/seed.json") ||
    fail "[$engine] Django could not create the users and tokens"

  cat >"$dir/tessera.toml" <<EOF
debug = false
allowed_hosts = ["127.0.0.1"]
bind = "127.0.0.1:0"
data_dir = "$dir/data"
database_url = "$tessera_db"
# signing_key: TESSERA_SIGNING_KEY, Django's SECRET_KEY
simplejwt_cutover = true
username_field = "username"
access_token_lifetime = "15m"
refresh_token_lifetime = "7d"
# The project sends no mail from here (its password reset stays where it was).
email_backend = "off"
rotate_refresh_tokens = true
blacklist_after_rotation = true
update_last_login = true
throttle_rates = { login = "" }
EOF

  echo "== tests/django [$engine]: tessera import django --dry-run"
  tessera import django --dry-run "$django_db" >"$dir/dry-run.txt" 2>&1 ||
    { cat "$dir/dry-run.txt"; fail "[$engine] the dry run failed"; }
  sed 's/^/   /' "$dir/dry-run.txt"
  check report --report "$dir/dry-run.txt" --expect created ||
    fail "[$engine] the dry run's report"
  check empty || fail "[$engine] the dry run wrote to Tessera's database"

  echo "== tests/django [$engine]: tessera import django"
  tessera import django "$django_db" >"$dir/import.txt" 2>&1 ||
    { cat "$dir/import.txt"; fail "[$engine] the import failed"; }
  sed 's/^/   /' "$dir/import.txt"
  check report --report "$dir/import.txt" --expect created || fail "[$engine] the import's report"
  check imported || fail "[$engine] the import did not carry the users over"

  echo "== tests/django [$engine]: the same from a dumpdata file, into a database of its own"
  (cd "$here" && "$python" manage.py dumpdata auth token_blacklist --output "$dir/django.json") ||
    fail "[$engine] Django's dumpdata"
  local dump_db="sqlite://$dir/from-dump.db"
  other_database="$dump_db" tessera import django "$dir/django.json" \
    >"$dir/import-dump.txt" 2>&1 ||
    { cat "$dir/import-dump.txt"; fail "[$engine] the dump's import"; }
  check report --report "$dir/import-dump.txt" --expect created &&
    "$python" "$here/check.py" imported --fixture "$dir/seed.json" --db "$dump_db" ||
    fail "[$engine] the dump's import did not carry the users over"

  echo "== tests/django [$engine]: tessera serves Django's tokens and passwords"
  TESSERA_LOG=info tessera serve >"$dir/server.log" 2>&1 &
  server=$!
  local addr=""
  for _ in $(seq 1 600); do
    # The log is JSON lines (debug = false): {…"message":"tessera is serving at …","addr":"…"}.
    addr="$(sed -n 's/.*"tessera is serving[^"]*".*"addr":"\([0-9.:]*\)".*/\1/p' "$dir/server.log" |
      head -n 1)"
    [[ -n "$addr" ]] && break
    kill -0 "$server" 2>/dev/null || { cat "$dir/server.log"; fail "[$engine] tessera exited"; }
    sleep 0.1
  done
  [[ -n "$addr" ]] ||
    { cat "$dir/server.log"; fail "[$engine] tessera did not say where it serves"; }
  url="http://$addr"
  check wait || { cat "$dir/server.log"; fail "[$engine] tessera never became ready"; }
  check live ||
    { tail -n 40 "$dir/server.log"; fail "[$engine] Django's tokens or passwords at Tessera"; }
  check upgraded || fail "[$engine] the hashes were not upgraded"

  echo "== tests/django [$engine]: the import again changes nothing"
  tessera import django "$django_db" >"$dir/reimport.txt" 2>&1 ||
    { cat "$dir/reimport.txt"; fail "[$engine] the second import failed"; }
  sed 's/^/   /' "$dir/reimport.txt"
  check report --report "$dir/reimport.txt" --expect unchanged ||
    fail "[$engine] the second import reported changes"
  check upgraded || fail "[$engine] the second import undid the upgraded hashes"
  check spent || fail "[$engine] the second import revived spent Django tokens"
  stop_server

  echo "== tests/django [$engine]: rolling back, Django accepts what Tessera issued"
  (cd "$here" && "$python" manage.py rollback_check --in "$dir/rollback.json") ||
    fail "[$engine] Django and Tessera's tokens or hashes (docs/MIGRATING.md, Rolling back)"
  local users
  users="$("$python" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["users"]))' \
    "$dir/seed.json")"
  summary+=("$engine: $users Django users, their passwords and simplejwt tokens work at Tessera")
}

summary=()

migrate_one sqlite "sqlite:///$work/sqlite/django.sqlite3" "sqlite://$work/sqlite/tessera.db"

if pg_admin_sql "SELECT 1" 2>/dev/null; then
  pg_admin_sql "CREATE DATABASE $pg_name"
  pg_created=1
  pg_url="$("$python" -c 'import sys; from urllib.parse import urlsplit
print(urlsplit(sys.argv[1])._replace(path="/" + sys.argv[2]).geturl())' "$pg_admin" "$pg_name")"
  # Side by side: Tessera's tables in the same database as Django's.
  migrate_one postgres "$pg_url" "$pg_url"
  pg_admin_sql "DROP DATABASE $pg_name WITH (FORCE)"
  pg_created=""
elif [[ "${TESSERA_REQUIRE_POSTGRES:-}" == 1 ]]; then
  fail "PostgreSQL at $pg_admin does not answer (TESSERA_REQUIRE_POSTGRES=1)"
else
  echo "SKIPPED: PostgreSQL at $pg_admin does not answer; tests/django ran on SQLite only"
fi

echo "== tests/django: passed"
printf '   %s\n' "${summary[@]}"
