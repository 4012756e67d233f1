#!/usr/bin/env bash
# The browser journey: installs Chromium (Debian) and playwright-core (npm) when missing,
# starts a fresh `tessera` on a random port, and drives the account page through it.
# Screenshots of each step land in tests/browser/screenshots/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing Chromium from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v node >/dev/null 2>&1; then
  echo "== installing Node.js from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

cargo build --quiet --manifest-path "$root/Cargo.toml" -p tessera-server --bin tessera
binary="$root/target/debug/tessera"

work="$(mktemp -d)"
log="$work/server.log"
cleanup() {
  if [[ -n "${server:-}" ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

(
  cd "$work"
  exec env -i PATH="$PATH" HOME="${HOME:-/root}" \
    TESSERA_BIND=127.0.0.1:0 TESSERA_DATA_DIR="$work/data" TESSERA_LOG=info \
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
node "$here/journey.mjs" "http://$addr" "$here/screenshots"
