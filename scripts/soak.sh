#!/usr/bin/env bash
# The soak (#10): a release milpa under long loads, its memory and descriptors
# sampled every second.
#   h2load -c1000 -n2000000 -m10 over h2c, -c500 over TLS, and 1000 WebSocket
#   connections of echoes (benches/ws-load); 0 failures expected, RSS stable,
#   descriptors back to the baseline afterwards.
# Usage: scripts/soak.sh [REQUESTS_H2C] [REQUESTS_TLS] [WS_MESSAGES_PER_CONNECTION]
# Needs h2load (nghttp2-client). Writes target/soak/{rss.tsv,summary.txt}.
set -euo pipefail
cd "$(dirname "$0")/.."
h2c_requests="${1:-2000000}"
tls_requests="${2:-500000}"
ws_messages="${3:-100}"
command -v h2load >/dev/null || { echo "soak.sh: h2load is missing (apt-get install nghttp2-client)" >&2; exit 1; }
cargo build --release --quiet -p milpa-cli -p milpa-bench-ws
out=target/soak
mkdir -p "$out"
plain=127.0.0.1:18180
tls=127.0.0.1:18543
# h2load keeps one connection per client for the whole run: no per-connection
# request limit, or it would count the requests after the GOAWAY as failed.
target/release/milpa --self-signed --bind "$tls" --insecure-bind "$plain" \
    --keep-alive-max-requests 0 2>"$out/server.log" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -s -o /dev/null "http://$plain/message/1/" && break; sleep 0.1; done
rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
fds() { ls "/proc/$server/fd" | wc -l; }
echo -e "seconds\tphase\trss_kib\tfds" >"$out/rss.tsv"
phase=idle
start=$(date +%s)
sample() {
    while kill -0 $server 2>/dev/null; do
        echo -e "$(( $(date +%s) - start ))\t$(cat "$out/phase" 2>/dev/null || echo idle)\t$(rss)\t$(fds)" >>"$out/rss.tsv"
        sleep 1
    done
}
echo idle >"$out/phase"
sample &
sampler=$!
trap 'kill $server $sampler 2>/dev/null || true' EXIT
sleep 2
base_rss=$(rss)
base_fds=$(fds)
run() {
    echo "$1" >"$out/phase"
    echo "=== $1: ${*:2}"
    "${@:2}" | tee "$out/$1.txt" | grep -E "requests:|status codes|finished in|connections:" || true
}
run h2c h2load -c1000 -n"$h2c_requests" -m10 "http://$plain/message/1/"
run tls h2load -c500 -n"$tls_requests" -m10 "https://$tls/message/1/"
run websocket target/release/ws-load "ws://$plain/ws/echo" 1000 "$ws_messages"
echo after >"$out/phase"
# Idle connections close at the keep-alive timeout (5 s).
sleep 8
end_rss=$(rss)
end_fds=$(fds)
peak_rss=$(awk 'NR > 1 && $3 > max {max = $3} END {print max}' "$out/rss.tsv")
peak_fds=$(awk 'NR > 1 && $4 > max {max = $4} END {print max}' "$out/rss.tsv")
failed=$(cat "$out"/h2c.txt "$out"/tls.txt | awk '/^requests:/ {for (i = 1; i <= NF; i++) if ($i ~ /^failed/) s += $(i-1)} END {print s + 0}')
ws_failed=$(awk -F'failed connections: ' '/failed connections/ {split($2, a, ","); print a[1]}' "$out/websocket.txt")
{
    echo "h2c: $(grep -E '^requests:' "$out/h2c.txt")"
    echo "tls: $(grep -E '^requests:' "$out/tls.txt")"
    echo "websocket: $(cat "$out/websocket.txt")"
    echo "RSS KiB: start $base_rss, peak $peak_rss, end $end_rss"
    echo "descriptors: baseline $base_fds, peak $peak_fds, end $end_fds"
} | tee "$out/summary.txt"
kill $sampler 2>/dev/null || true
if [ "$failed" != 0 ] || [ "${ws_failed:-1}" != 0 ] || [ "$end_fds" -gt "$base_fds" ]; then
    echo "soak: FAILED (h2load failed $failed, websocket failed ${ws_failed:-?}, descriptors $base_fds -> $end_fds)" >&2
    exit 1
fi
echo "soak: ok"
