#!/usr/bin/env bash
# Starts the milpa demo and checks its page in headless Chromium: 24 fetches
# complete and 24 waterfall bars are drawn. Installs Chromium when run as root.
#   scripts/browser-demo-check.sh [--screenshot FILE]
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -q -p milpa-cli
port=18090
target/debug/milpa --bind "127.0.0.1:$port" --log-level warn &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$port/message/0/" && break
    sleep 0.1
done
scripts/check_browser.sh "$@" "http://127.0.0.1:$port"
scripts/check_browser.sh --delay-ms 100 "http://127.0.0.1:$port"
