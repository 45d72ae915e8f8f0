#!/usr/bin/env bash
# Starts the milpa demo and checks its page in headless Chromium: 24 fetches
# complete and 24 waterfall bars are drawn, over plain HTTP/1.1; then the
# talk's comparison over TLS — an HTTP/2 listener and an HTTP/1.1-only one side
# by side — where every fetch of the first must report h2 and of the second
# http/1.1. Installs Chromium when run as root.
#   scripts/browser-demo-check.sh [--screenshot FILE]
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -q -p milpa-cli
plain=18090 h2=18443 h1=18444
target/debug/milpa --bind "127.0.0.1:$plain" --log-level warn &
server=$!
target/debug/milpa --self-signed --bind "127.0.0.1:$h2" --http1-bind "127.0.0.1:$h1" --log-level warn &
tls_server=$!
trap 'kill "$server" "$tls_server" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$plain/message/0/" && curl -sk -o /dev/null "https://127.0.0.1:$h2/" && break
    sleep 0.1
done
scripts/check_browser.sh "$@" "http://127.0.0.1:$plain"
scripts/check_browser.sh --delay-ms 100 "http://127.0.0.1:$plain"

summary=$(scripts/check_browser.sh --delay-ms 100 "https://127.0.0.1:$h2")
echo "$summary" | tail -n 1
echo "$summary" | python3 -c '
import json, sys
text = sys.stdin.read()
data = json.loads(text[text.index("{"):text.rindex("}") + 1])
got = [t["protocols"] for t in data["targets"]]
want = [{"h2": 24}, {"http/1.1": 24}]
print("protocols per origin:", got)
sys.exit(0 if got == want else "expected " + str(want))
'

# The WebSocket page: over HTTPS Chromium must run the socket on the page's HTTP/2
# connection (RFC 8441, announced with SETTINGS_ENABLE_CONNECT_PROTOCOL); over
# plain HTTP with an HTTP/1.1 Upgrade. The server's greeting names the carrier.
websocket_check() {
    local url=$1 want=$2 attempt
    # Chromium's virtual clock can run out on a loaded machine before the echoes
    # arrive (the page then still says "pending"): try up to three times.
    for attempt in 1 2 3; do
        websocket_attempt "$url" "$want" && return 0
        echo "websocket page $url: attempt $attempt did not finish" >&2
    done
    echo "expected 3 echoes over $want" >&2
    exit 1
}
websocket_attempt() {
    local url=$1 want=$2 profile result
    profile=$(mktemp -d)
    result=$(timeout 60 "${CHROMIUM:-/usr/bin/chromium}" --headless --no-sandbox --disable-gpu --disable-quic \
        --ignore-certificate-errors --user-data-dir="$profile" --dump-dom --virtual-time-budget=10000 "$url" \
        2>/dev/null | grep -o '<p id="result">[^<]*' | sed 's/<p id="result">//' || true)
    rm -rf "$profile"
    echo "websocket page $url: $result"
    case "$result" in
        "ok: 3 echoes over $want"*) return 0 ;;
        *) return 1 ;;
    esac
}
websocket_check "https://127.0.0.1:$h2/websocket" "HTTP/2 (RFC 8441"
websocket_check "http://127.0.0.1:$plain/websocket" "HTTP/1.1 (Upgrade)"
