#!/usr/bin/env bash
# End-to-end load comparison: milpa vs hyper on the same route.
#
# Each server runs pinned to one core (SERVER_CPU, default 0) and the load client
# to another (CLIENT_CPU, default 1). Every case runs REPS times, alternating the
# servers (milpa, hyper, milpa, hyper, ...) so that machine noise hits both alike;
# the table shows the median req/s of each, the ratio of the medians and the
# median and range of the ratios of each repetition's pair of runs, then the
# median CPU time per request of each server and of the load client. When the
# client's time per request is about the wall time per request, the client (one
# core) is the bottleneck and req/s says little about the server.
#
# Environment (all optional):
#   MILPA_CMD   milpa server command  (default: target/release/milpa --bind 127.0.0.1:18080
#               --keep-alive-max-requests 0: hyper has no such limit, and h2load -m5 loses
#               the requests it pipelined past a Connection: close)
#   HYPER_CMD   hyper server command  (default: target/release/hyper-server 127.0.0.1:18081)
#   MILPA_ADDR / HYPER_ADDR  address to load; default: the 127.0.0.1:PORT found in the command
#   ROUTE       request path          (default: /message/1/)
#   CASES       cases to run, space-separated, from: h1 h1-pipe wrk h2, or
#               h2load:PROTO:C:N:M (PROTO h1 or h2; h2load -cC -nN -mM)
#               (default: "h1 h1-pipe wrk"; h2 = h2c prior knowledge, -m10)
#   SCHEME      http (default) or https (h2 then negotiates by ALPN)
#   N           h2load requests per run (default: 200000); scale down for a quick run
#   DURATION    wrk duration per run    (default: 10s)
#   REPS        repetitions per server per case (default: 3)
#   WAIT_SECS   how long to wait for a server to accept connections (default: 10)
#   OUT_DIR     where raw client output and server logs go (default: a new mktemp dir)
#
# Run it from the directory the commands' relative paths refer to (the workspace root).
set -euo pipefail

MILPA_CMD=${MILPA_CMD:-target/release/milpa --bind 127.0.0.1:18080 --keep-alive-max-requests 0}
HYPER_CMD=${HYPER_CMD:-target/release/hyper-server 127.0.0.1:18081}
ROUTE=${ROUTE:-/message/1/}
SCHEME=${SCHEME:-http}
CASES=${CASES:-h1 h1-pipe wrk}
N=${N:-200000}
DURATION=${DURATION:-10s}
REPS=${REPS:-3}
WAIT_SECS=${WAIT_SECS:-10}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
OUT_DIR=${OUT_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/milpa-compare.XXXXXX")}
SERVERS=(milpa hyper)

die() { echo "compare.sh: error: $*" >&2; exit 1; }
log() { echo "compare.sh: $*" >&2; }

# ---- tools ------------------------------------------------------------------
ensure_tools() {
    command -v h2load >/dev/null && command -v wrk >/dev/null && command -v taskset >/dev/null && return
    log "installing nghttp2-client wrk util-linux"
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    # apt's chatter goes to stderr: stdout carries only the results table.
    "${sudo[@]}" apt-get update -qq >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq nghttp2-client wrk util-linux >&2 \
        || die "apt-get install failed"
    for t in h2load wrk taskset; do command -v "$t" >/dev/null || die "$t still missing after install"; done
}

# ---- servers ----------------------------------------------------------------
declare -A CMD ADDR PID
CMD[milpa]=$MILPA_CMD
CMD[hyper]=$HYPER_CMD

# The load target: MILPA_ADDR/HYPER_ADDR, else the last HOST:PORT in the command. Loopback only.
resolve_addr() {
    local name=$1 var addr
    var="${name^^}_ADDR"
    addr=${!var:-$(grep -oE '(127\.0\.0\.1|localhost):[0-9]+' <<<"${CMD[$name]}" | tail -n1 || true)}
    [[ -n $addr ]] || die "$name: no 127.0.0.1:PORT in command '${CMD[$name]}' (servers must listen on 127.0.0.1 only); or set ${var}"
    [[ $addr =~ ^(127\.0\.0\.1|localhost):([0-9]+)$ ]] || die "$name: $addr is not a loopback address"
    ADDR[$name]="127.0.0.1:${BASH_REMATCH[2]}"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_server() {
    local name=$1 port=${ADDR[$1]##*:}
    port_open "$port" && die "$name: port $port is already in use (stale server?)"
    log "starting $name on core $SERVER_CPU: ${CMD[$name]}"
    # taskset and bash both exec, so $! is the server's own pid.
    taskset -c "$SERVER_CPU" bash -c "exec ${CMD[$name]}" >"$OUT_DIR/$name.log" 2>&1 &
    PID[$name]=$!
    local deadline=$((SECONDS + WAIT_SECS))
    until port_open "$port"; do
        kill -0 "${PID[$name]}" 2>/dev/null || { tail -n 20 "$OUT_DIR/$name.log" >&2; die "$name exited during startup"; }
        ((SECONDS < deadline)) || die "$name did not accept connections on port $port within ${WAIT_SECS}s"
        sleep 0.1
    done
}

stop_servers() {
    local name pid
    for name in "${!PID[@]}"; do
        pid=${PID[$name]}
        kill "$pid" 2>/dev/null || continue
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap stop_servers EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- one run: prints req/s, or dies with the reason --------------------------
client() { taskset -c "$CLIENT_CPU" "$@"; }

check_h2load() { # file expected_total
    local out=$1 n=$2 total ok failed errored timeout s2xx
    read -r total ok failed errored timeout < <(awk '/^requests:/ {
        for (i = 2; i <= NF; i++) { v = $i + 0; k = $(i + 1); sub(/,/, "", k)
            if (k == "total") t = v; else if (k == "succeeded") s = v; else if (k == "failed") f = v
            else if (k == "errored") e = v; else if (k == "timeout") o = v }
        print t, s, f, e, o }' "$out") || true
    s2xx=$(awk '/^status codes:/ { print $3 + 0 }' "$out")
    [[ -n ${total:-} && -n ${s2xx:-} ]] || { cat "$out" >&2; die "could not parse h2load output ($out)"; }
    if ((total != n || ok != n || failed || errored || timeout || s2xx != n)); then
        grep -E '^(requests|status codes):' "$out" >&2
        die "h2load reported failed or non-2xx requests ($out)"
    fi
    awk '/^finished in/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^req\/s/) print $i + 0 }' "$out"
}

# CPU time (user + system) a process used so far, in microseconds.
cpu_us() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f\n", ($14 + $15) * 1000000 / hz }' "/proc/$1/stat"; }

run_case() { # case server rep -> "req/s server-µs/req client-µs/req" on stdout
    local case=$1 name=$2 rep=$3 url="$SCHEME://${ADDR[$2]}$ROUTE" out rps expected=$N before after done_n
    out="$OUT_DIR/${case//:/_}.$name.$rep.txt"
    kill -0 "${PID[$name]}" 2>/dev/null || die "$name is no longer running (see $OUT_DIR/$name.log)"
    before=$(cpu_us "${PID[$name]}")
    local TIMEFORMAT='%U %S'
    {
        time {
            case $case in
                h1)      client h2load --h1 -t1 -c100 -n"$N" -m1 "$url" >"$out" 2>&1 || true ;;
                h1-pipe) client h2load --h1 -t1 -c100 -n"$N" -m5 "$url" >"$out" 2>&1 || true ;;
                h2)      client h2load -t1 -c100 -n"$N" -m10 "$url" >"$out" 2>&1 || true ;;
                wrk)     client wrk -t1 -c50 -d"$DURATION" "$url" >"$out" 2>&1 || true ;;
                h2load:*)
                    local proto c n m h1=()
                    IFS=: read -r _ proto c n m <<<"$case"
                    [[ $proto == h1 ]] && h1=(--h1)
                    expected=$n
                    client h2load "${h1[@]}" -t1 -c"$c" -n"$n" -m"$m" "$url" >"$out" 2>&1 || true
                    ;;
            esac
        }
    } 2>"$out.time"
    after=$(cpu_us "${PID[$name]}")
    if [[ $case == wrk ]]; then
        grep -q 'Non-2xx or 3xx responses' "$out" && { cat "$out" >&2; die "wrk got non-2xx responses from $name ($out)"; }
        grep -q 'Socket errors' "$out" && log "warning: $name: $(grep 'Socket errors' "$out")"
        rps=$(awk '/^Requests\/sec:/ { print $2 + 0 }' "$out")
        done_n=$(awk '/requests in/ { print $1 + 0 }' "$out")
    else
        rps=$(check_h2load "$out" "$expected")
        done_n=$expected
    fi
    [[ -n $rps && -n $done_n ]] || { cat "$out" >&2; die "could not parse req/s from $case output ($out)"; }
    awk -v rps="$rps" -v n="$done_n" -v s=$((after - before)) '{ printf "%s %.2f %.2f\n", rps, s / n, ($1 + $2) * 1000000 / n }' "$out.time"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# The milpa/hyper ratio of each repetition (the two runs next to each other in
# time), as "median (lowest-highest)": the spread says how far one run's ratio
# can be trusted on this machine.
pair_ratios() { # "milpa samples" "hyper samples"
    local -a ours theirs ratios=()
    read -ra ours <<<"$1"
    read -ra theirs <<<"$2"
    for i in "${!ours[@]}"; do ratios+=("$(awk -v a="${ours[$i]}" -v b="${theirs[$i]}" 'BEGIN { printf "%.3f", a / b }')"); done
    printf '%s (%s-%s)' "$(median "${ratios[@]}")" \
        "$(printf '%s\n' "${ratios[@]}" | sort -g | head -n1 | xargs printf '%.2f')" \
        "$(printf '%s\n' "${ratios[@]}" | sort -g | tail -n1 | xargs printf '%.2f')"
}

# ---- main -------------------------------------------------------------------
for c in $CASES; do
    [[ $c =~ ^(h1|h1-pipe|h2|wrk|h2load:h[12]:[0-9]+:[0-9]+:[0-9]+)$ ]] \
        || die "unknown case '$c' (known: h1 h1-pipe h2 wrk h2load:PROTO:C:N:M)"
done
if [[ ! $N =~ ^[0-9]+$ ]] || ((N < 100)); then die "N must be an integer >= 100 (h2load needs -n >= -c)"; fi
(($(nproc) >= 2)) || die "needs at least 2 CPUs (server and client on separate cores)"
ensure_tools
mkdir -p "$OUT_DIR"
for s in "${SERVERS[@]}"; do resolve_addr "$s"; done
# milpa reads MILPA_* variables as its configuration and refuses unknown ones:
# this script's own settings must not reach the servers' environment.
unset MILPA_CMD MILPA_ADDR
[[ ${ADDR[milpa]} != "${ADDR[hyper]}" ]] || die "milpa and hyper both use ${ADDR[milpa]}"
for s in "${SERVERS[@]}"; do start_server "$s"; done

# Warm-up (also a smoke test of the route): N/10 requests against each server.
warm=$((N / 10 < 100 ? 100 : N / 10))
for s in "${SERVERS[@]}"; do
    client h2load --h1 -t1 -c100 -n"$warm" "$SCHEME://${ADDR[$s]}$ROUTE" >"$OUT_DIR/warmup.$s.txt" 2>&1 || true
    check_h2load "$OUT_DIR/warmup.$s.txt" "$warm" >/dev/null
done

declare -A RESULTS SERVER_US CLIENT_US DESC
for c in $CASES; do
    for ((r = 1; r <= REPS; r++)); do
        for s in "${SERVERS[@]}"; do
            read -r rps server_us client_us < <(run_case "$c" "$s" "$r") || exit 1
            [[ -n ${rps:-} ]] || exit 1
            log "$c rep $r/$REPS $s: $rps req/s, server $server_us µs/req, client $client_us µs/req"
            RESULTS[$c.$s]+="$rps "
            SERVER_US[$c.$s]+="$server_us "
            CLIENT_US[$c.$s]+="$client_us "
        done
    done
done

echo
echo "milpa: ${CMD[milpa]}"
echo "hyper: ${CMD[hyper]}"
echo "route $ROUTE, N=$N, wrk ${DURATION}, $REPS reps each (alternating), server core $SERVER_CPU, client core $CLIENT_CPU"
printf '%-9s %-34s %14s %14s %12s %20s\n' case client "milpa req/s" "hyper req/s" milpa/hyper "per rep (range)"
for c in $CASES; do
    case $c in
        h1)      desc="h2load --h1 -c100 -n$N -m1" ;;
        h1-pipe) desc="h2load --h1 -c100 -n$N -m5" ;;
        h2)      desc="h2load (h2c) -c100 -n$N -m10" ;;
        wrk)     desc="wrk -t1 -c50 -d$DURATION" ;;
        h2load:*) IFS=: read -r _ p cc nn mm <<<"$c"; desc="h2load ($p $SCHEME) -c$cc -n$nn -m$mm" ;;
    esac
    DESC[$c]=$desc
    # shellcheck disable=SC2086 # the samples are space-separated: split them
    { m=$(median ${RESULTS[$c.milpa]}); h=$(median ${RESULTS[$c.hyper]}); }
    printf '%-9s %-34s %14.0f %14.0f %12s %20s\n' "${c%%:*}" "$desc" "$m" "$h" \
        "$(awk -v m="$m" -v h="$h" 'BEGIN { printf "%.2f", m / h }')" "$(pair_ratios "${RESULTS[$c.milpa]}" "${RESULTS[$c.hyper]}")"
done
echo
echo "CPU time per request (median µs; the client on one core caps req/s at about 1e6 / its µs)."
echo "'client busy' is the share of its core the client used against each server: near 1.00"
echo "the client, not the server, set the pace, and req/s compares the servers only loosely:"
printf '%-9s %-34s %12s %12s %12s %12s %14s\n' case client "milpa" "hyper" "milpa/hyper" "client" "client busy"
for c in $CASES; do
    # shellcheck disable=SC2086 # the samples are space-separated: split them
    {
        m=$(median ${SERVER_US[$c.milpa]}); h=$(median ${SERVER_US[$c.hyper]})
        k=$(median ${CLIENT_US[$c.milpa]}); kh=$(median ${CLIENT_US[$c.hyper]})
        rps_m=$(median ${RESULTS[$c.milpa]}); rps_h=$(median ${RESULTS[$c.hyper]})
    }
    busy=$(awk -v a="$rps_m" -v ka="$k" -v b="$rps_h" -v kb="$kh" 'BEGIN { printf "%.2f, %.2f", a * ka / 1e6, b * kb / 1e6 }')
    printf '%-9s %-34s %12s %12s %12s %12s %14s\n' "${c%%:*}" "${DESC[$c]}" "$m" "$h" \
        "$(awk -v m="$m" -v h="$h" 'BEGIN { printf "%.2f", m / h }')" "$k" "$busy"
done
echo "raw output: $OUT_DIR"
