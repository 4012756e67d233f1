#!/usr/bin/env bash
# The real `tessera` binary serves its OpenAPI document: check.py validates it against the
# OpenAPI 3.1 schema, compares the YAML form, requests every documented operation and loads
# Swagger UI's files; then openapi-python-client generates a client from it and client.py
# calls the server with that client. Both tools come from PyPI, kept in target/openapi-venv
# (TESSERA_OPENAPI_VENV). TESSERA_BIN runs a given binary instead of target/debug/tessera.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export PYTHONDONTWRITEBYTECODE=1

fail() {
  echo "tests/openapi: FAILED: $*" >&2
  exit 1
}

venv="${TESSERA_OPENAPI_VENV:-$root/target/openapi-venv}"
python="$venv/bin/python"
if ! cmp -s "$here/requirements.txt" "$venv/requirements.txt" 2>/dev/null; then
  echo "== tests/openapi: Python environment $venv (openapi-spec-validator from PyPI)"
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

dir="$(mktemp -d)"
server=""
cleanup() {
  if [[ -n "$server" ]]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

cat >"$dir/tessera.toml" <<TOML
debug = false
allowed_hosts = ["127.0.0.1"]
bind = "127.0.0.1:0"
data_dir = "$dir/data"
database_url = "sqlite://$dir/tessera.sqlite3?mode=rwc"
email_backend = "off"
# check.py posts once to every documented operation, several of them in the `login` throttle
# scope (the logins, the passkey ceremonies): the generated client's login must still pass.
throttle_rates = { login = "60/min" }
TOML
key="$("$python" -c 'import secrets; print(secrets.token_urlsafe(50))')"
password="$("$python" -c 'import secrets; print(secrets.token_urlsafe(16))')"
email="ada@example.com"

# Runs the tessera binary with only this run's settings (no inherited TESSERA_*, no .env).
tessera() {
  (cd "$dir" && exec env -i PATH="$PATH" HOME="${HOME:-/root}" TESSERA_LOG="${TESSERA_LOG:-warn}" \
    TESSERA_CONFIG="$dir/tessera.toml" TESSERA_SIGNING_KEY="$key" \
    TESSERA_SUPERUSER_PASSWORD="$password" "$binary" "$@")
}
tessera migrate >/dev/null || fail "tessera migrate"
tessera createsuperuser --email "$email" --no-input >/dev/null || fail "tessera createsuperuser"

echo "== tests/openapi: tessera serves /api/schema/ and /api/docs/"
# Not through `tessera`: `$!` must be the binary's pid for the cleanup to stop it.
(cd "$dir" && exec env -i PATH="$PATH" HOME="${HOME:-/root}" TESSERA_LOG=info \
  TESSERA_CONFIG="$dir/tessera.toml" TESSERA_SIGNING_KEY="$key" "$binary" serve) \
  >"$dir/server.log" 2>&1 &
server=$!
addr=""
for _ in $(seq 1 600); do
  # The log is JSON lines (debug = false): {…"message":"tessera is serving at …","addr":"…"}.
  addr="$(sed -n 's/.*"tessera is serving[^"]*".*"addr":"\([0-9.:]*\)".*/\1/p' "$dir/server.log" |
    head -n 1)"
  [[ -n "$addr" ]] && break
  kill -0 "$server" 2>/dev/null || { cat "$dir/server.log"; fail "tessera exited"; }
  sleep 0.1
done
[[ -n "$addr" ]] || { cat "$dir/server.log"; fail "tessera did not say where it serves"; }
"$python" "$here/check.py" "http://$addr" || { tail -n 40 "$dir/server.log"; fail "the document"; }

echo "== tests/openapi: a Python client generated from the document calls the server"
curl --silent --fail "http://$addr/api/schema/" >"$dir/schema.json" || fail "fetching the schema"
(cd "$dir" && "$venv/bin/openapi-python-client" generate --path schema.json --meta none \
  --output-path "$dir/tessera_client" >"$dir/generate.log" 2>&1) ||
  { cat "$dir/generate.log"; fail "openapi-python-client could not generate a client"; }
PYTHONPATH="$dir" "$python" "$here/client.py" "http://$addr" "$email" "$password" ||
  { tail -n 40 "$dir/server.log"; fail "the generated client"; }
