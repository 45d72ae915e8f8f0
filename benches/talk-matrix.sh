#!/usr/bin/env bash
# The HTTP/1.1-vs-HTTP/2 talk's benchmark matrix, milpa against hyper (hyper-util's
# auto builder, rustls through tokio-rustls): h2load on /message/1/ with
# (-c10 -n100), (-c50 -n5000), (-c100 -n10000), each -m1 and -m5, over HTTP/1.1
# and HTTP/2, over TLS (as the talk) and cleartext; plus a long run
# (-c100 -n500000 -m10). Each cell: 3 alternating repetitions, medians, ratios;
# server pinned to core 0, client to core 1 (see compare.sh).
#   cargo build --release -p milpa-cli -p milpa-bench-hyper && benches/talk-matrix.sh
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d "${TMPDIR:-/tmp}/milpa-talk.XXXXXX")
trap 'rm -rf "$work"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

cases=""
for proto in h1 h2; do
    for cn in 10:100 50:5000 100:10000; do
        for m in 1 5; do cases+=" h2load:$proto:$cn:$m"; done
    done
done
long="h2load:h1:100:500000:10 h2load:h2:100:500000:10"

milpa="target/release/milpa --keep-alive-max-requests 0 --log-level warn"
echo "== cleartext (h2c prior knowledge for HTTP/2)"
CASES="$cases $long" SCHEME=http \
    MILPA_CMD="$milpa --bind 127.0.0.1:18080" HYPER_CMD="target/release/hyper-server 127.0.0.1:18081" \
    benches/compare.sh
echo "== TLS (ALPN)"
CASES="$cases $long" SCHEME=https \
    MILPA_CMD="$milpa --certfile $work/cert.pem --keyfile $work/key.pem --bind 127.0.0.1:18443" \
    HYPER_CMD="target/release/hyper-server 127.0.0.1:18444 --tls $work/cert.pem $work/key.pem" \
    benches/compare.sh
