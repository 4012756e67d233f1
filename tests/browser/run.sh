#!/usr/bin/env bash
# The browser journey: uses an existing Chromium (TESSERA_CHROMIUM=/path, else `chromium`,
# `chromium-browser` or `google-chrome` on PATH) and installs playwright-core (npm) into
# tests/browser/node_modules; starts `tessera-smtp-sink` (a real SMTP server keeping each
# message as an .eml file), `tessera-oidc-provider` (a real OpenID Connect provider on a
# random port, with no login page, whose one user has a fresh verified address) and a fresh
# `tessera` on a random port sending its mail to the sink, with `passkey_login` on and that
# provider configured as `[[oidc_providers]]` (in a tessera.toml of its working directory).
# The journey drives the account page (mail flows, two-factor authentication with recovery
# codes, passkeys through Chromium's virtual authenticator, sign-in with the provider) and
# the admin console (as a superuser it makes first). The server's public URL is
# http://localhost:PORT: WebAuthn needs a domain for its relying party (not an IP address),
# and the browser must stay on one host for its cookies. Screenshots of each step land in
# tests/browser/screenshots/.
#
# Without a browser (or Node.js) it offers to install Debian's `chromium` (about 120
# packages, some 350 MB) or `nodejs npm` system-wide with apt, as root, after saying so; in
# CI (CI=true) it installs without asking, and where nobody can answer it stops instead.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

find_chromium() {
  if [[ -n "${TESSERA_CHROMIUM:-}" ]]; then
    [[ -x "$TESSERA_CHROMIUM" ]] || { echo "TESSERA_CHROMIUM=$TESSERA_CHROMIUM is not an executable" >&2; return 1; }
    echo "$TESSERA_CHROMIUM"
    return 0
  fi
  local name
  for name in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  done
  return 1
}

# Installs Debian packages system-wide, after saying what and asking (CI=true: no question;
# nobody at the terminal: no install).
apt_install() {
  local what="$1"; shift
  echo "   about to run: apt-get update && apt-get install -y $*"
  echo "   ($what, system-wide, as root)"
  if [[ "${CI:-}" != "true" ]]; then
    if [[ -t 0 ]]; then
      read -r -p "   install now? [y/N] " answer
      [[ "$answer" == [yY]* ]] || { echo "   not installed; the browser journey is not run" >&2; exit 1; }
    else
      echo "   not installed: run with CI=true to allow it, or install it yourself" >&2
      exit 1
    fi
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! chromium_path="$(find_chromium)"; then
  [[ -z "${TESSERA_CHROMIUM:-}" ]] || exit 1
  echo "== no Chromium found (set TESSERA_CHROMIUM=/path/to/chromium to use one)"
  apt_install "Debian's package and its dependencies, about 120 packages and 350 MB" chromium
  chromium_path="$(find_chromium)"
fi
echo "== browser: $chromium_path"
export CHROMIUM="$chromium_path"
if ! command -v node >/dev/null 2>&1; then
  echo "== no Node.js found"
  apt_install "Debian's Node.js and npm" nodejs npm
fi
echo "== installing playwright-core from npm into tests/browser/node_modules"
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

cargo build --quiet --manifest-path "$root/Cargo.toml" -p tessera-server --bin tessera \
  -p tessera-smtp-sink --bin tessera-smtp-sink -p tessera-oidc-provider --bin tessera-oidc-provider
binary="$root/target/debug/tessera"
sink_binary="$root/target/debug/tessera-smtp-sink"
oidc_binary="$root/target/debug/tessera-oidc-provider"

work="$(mktemp -d)"
log="$work/server.log"
mkdir -p "$work/mail"
cleanup() {
  if [[ -n "${server:-}" ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  if [[ -n "${sink:-}" ]]; then kill "$sink" 2>/dev/null || true; wait "$sink" 2>/dev/null || true; fi
  if [[ -n "${oidc:-}" ]]; then kill "$oidc" 2>/dev/null || true; wait "$oidc" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The SMTP server first: it says where it listens in one line on standard output.
"$sink_binary" --dir "$work/mail" >"$work/sink.log" 2>&1 &
sink=$!
smtp=""
for _ in $(seq 1 600); do
  smtp="$(sed -n 's/^listening on \([0-9.]*:[0-9]*\)$/\1/p' "$work/sink.log" | head -n 1)"
  [[ -n "$smtp" ]] && break
  if ! kill -0 "$sink" 2>/dev/null; then cat "$work/sink.log"; echo "tessera-smtp-sink exited before listening"; exit 1; fi
  sleep 0.1
done
[[ -n "$smtp" ]] || { cat "$work/sink.log"; echo "tessera-smtp-sink did not start"; exit 1; }

# The OpenID Connect provider: every authorization signs in its one user, whose address no
# account has yet (the journey's social sign-in makes a new account).
social_email="social.$(date +%s)@example.com"
oidc_secret="journey-secret-$RANDOM$RANDOM"
"$oidc_binary" --client-id tessera-journey --client-secret "$oidc_secret" --email "$social_email" \
  >"$work/oidc.log" 2>&1 &
oidc=$!
issuer=""
for _ in $(seq 1 600); do
  issuer="$(sed -n 's/^listening on \([0-9.]*:[0-9]*\)$/http:\/\/\1/p' "$work/oidc.log" | head -n 1)"
  [[ -n "$issuer" ]] && break
  if ! kill -0 "$oidc" 2>/dev/null; then cat "$work/oidc.log"; echo "tessera-oidc-provider exited before listening"; exit 1; fi
  sleep 0.1
done
[[ -n "$issuer" ]] || { cat "$work/oidc.log"; echo "tessera-oidc-provider did not start"; exit 1; }
cat >"$work/tessera.toml" <<TOML
[[oidc_providers]]
name = "journey-id"
display_name = "Journey ID"
issuer = "$issuer"
client_id = "tessera-journey"
client_secret = "$oidc_secret"
TOML

# The staff account of the admin console's steps, made before the server starts.
admin_email="staff.$(date +%s)@example.com"
admin_password="Console-Staff-Password-1815"
(
  cd "$work"
  exec env -i PATH="$PATH" HOME="${HOME:-/root}" TESSERA_DATA_DIR="$work/data" \
    TESSERA_SUPERUSER_PASSWORD="$admin_password" \
    "$binary" createsuperuser --email "$admin_email" --no-input
) >"$work/createsuperuser.log" 2>&1 || { cat "$work/createsuperuser.log"; echo "createsuperuser failed"; exit 1; }

# The links in the mail name the server's public URL, so its port is chosen here. The journey
# signs in more often than the `login` throttle's 5 a minute allows one address, and passes
# more second steps than the `mfa` throttle's 5 a minute.
# The signing keys are kept in the store, so the admin console can generate and rotate them.
port="$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')"
(
  cd "$work"
  exec env -i PATH="$PATH" HOME="${HOME:-/root}" \
    TESSERA_BIND="127.0.0.1:$port" TESSERA_PUBLIC_URL="http://localhost:$port" \
    TESSERA_DATA_DIR="$work/data" TESSERA_LOG=info \
    TESSERA_EMAIL_BACKEND=smtp TESSERA_SMTP_URL="smtp://$smtp" TESSERA_REQUIRE_VERIFIED_EMAIL=optional \
    TESSERA_THROTTLE_RATES='{login = "60/min", mfa = "60/min"}' TESSERA_KEY_SOURCE=store \
    TESSERA_PASSKEY_LOGIN=true \
    "$binary" serve
) >"$log" 2>&1 &
server=$!

# Wait for the line that says where it listens (polling the log, bounded).
addr=""
for _ in $(seq 1 600); do
  addr="$(sed -n 's/.*tessera is serving.*addr=\([0-9.:]*\).*/\1/p' "$log" | head -n 1)"
  [[ -n "$addr" ]] && break
  if ! kill -0 "$server" 2>/dev/null; then cat "$log"; echo "tessera exited before serving"; exit 1; fi
  sleep 0.1
done
[[ -n "$addr" ]] || { cat "$log"; echo "tessera did not start"; exit 1; }

rm -rf "$here/screenshots"
node "$here/journey.mjs" "http://localhost:${addr##*:}" "$here/screenshots" "$work/mail" "$admin_email" "$admin_password" \
  "$social_email"
