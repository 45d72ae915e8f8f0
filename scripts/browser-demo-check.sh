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
