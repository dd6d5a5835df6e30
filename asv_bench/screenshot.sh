#!/usr/bin/env bash
# Screenshot of the published asv dashboard, as a user sees it, in headless Chromium.
#   asv_bench/screenshot.sh [benchmark-hash-route] [out.png]
# Default: the elementwise-chain graph (forward+backward) with one line per backend
# (numpy, torch), written to docs/img/asv_elementwise_chain.png.
# Needs: `asv publish` done (asv_bench/html), Debian's chromium (apt-get install -y chromium).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
route="${1:-bench_ops.ElementwiseChain.time_chain_100_ops?p-mode=%27forward%2Bbackward%27&p-backend=%27numpy%27&p-backend=%27torch%27}"
out="${2:-$here/../docs/img/asv_elementwise_chain.png}"
port="${PORT:-8123}"
mkdir -p "$(dirname "$out")"
[ -f "$here/html/index.html" ] || { echo "no $here/html: run 'asv publish' in asv_bench first" >&2; exit 1; }

python -m http.server "$port" --bind 127.0.0.1 --directory "$here/html" >/dev/null 2>&1 &
server=$!
profile="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$profile"' EXIT
for _ in $(seq 50); do  # wait for the server
    python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/')" 2>/dev/null && break
    sleep 0.1
done

chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --hide-scrollbars --window-size=1400,900 \
    --virtual-time-budget=15000 --screenshot="$out" \
    "http://127.0.0.1:$port/index.html#$route" 2>/dev/null
echo "wrote $out"
