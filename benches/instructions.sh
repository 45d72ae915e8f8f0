#!/usr/bin/env bash
# Instructions per request, milpa against hyper on the same route: each server runs
# under callgrind, which counts the user-space instructions it executes. Unlike
# req/s on a shared machine the count barely moves between runs (±1%), so a change
# of a few percent in the server's own work is visible; it leaves out the kernel
# (about half of the time per request on loopback) and cache effects.
#
#   cargo build --release -p milpa-cli -p milpa-bench-hyper && benches/instructions.sh
#
# Environment (all optional):
#   CASES  h2load argument sets, separated by ';'
#          (default: "--h1 -c100 -m1; --h1 -c100 -m5; -c100 -m5; -c100 -m10")
#   N      requests per case (default: 20000)
#   MILPA  milpa binary (default: target/release/milpa)
#   HYPER  hyper server binary (default: target/release/hyper-server)
#   ATOMICS  1 to also count atomic read-modify-write operations per request
#          (benches/atomic_ops.py: lock-prefixed instructions executed, which
#          instruction counts do not show apart); slower, needs python3 and objdump
set -euo pipefail
cd "$(dirname "$0")/.."

CASES=${CASES:---h1 -c100 -m1; --h1 -c100 -m5; -c100 -m5; -c100 -m10}
N=${N:-20000}
MILPA=${MILPA:-target/release/milpa}
HYPER=${HYPER:-target/release/hyper-server}
PORT=18190

die() { echo "instructions.sh: error: $*" >&2; exit 1; }

if ! command -v valgrind >/dev/null || ! command -v h2load >/dev/null; then
    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq valgrind nghttp2-client >&2
fi
for bin in "$MILPA" "$HYPER"; do [[ -x $bin ]] || die "$bin not built"; done

work=$(mktemp -d "${TMPDIR:-/tmp}/milpa-instructions.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Runs the server under callgrind, loads it with `h2load ARGS -nN` and prints the
# instructions it executed for that load alone (callgrind_control dumps the counts
# before and after it).
count() { # name args n
    local name=$1 args=$2 n=$3 out="$work/$1.out" cmd pid
    case $name in
        milpa) cmd=("$MILPA" --bind "127.0.0.1:$PORT" --keep-alive-max-requests 0 --log-level warn) ;;
        hyper) cmd=("$HYPER" "127.0.0.1:$PORT") ;;
    esac
    rm -f "$out"*
    local extra=()
    [[ ${ATOMICS:-0} == 1 ]] && extra=(--dump-instr=yes)
    valgrind --tool=callgrind "${extra[@]}" --callgrind-out-file="$out" "${cmd[@]}" >"$work/$name.log" 2>&1 &
    pid=$!
    for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
    callgrind_control --dump "$pid" >/dev/null 2>&1
    # shellcheck disable=SC2086 # ARGS is a list of h2load options
    h2load $args -n"$n" "http://127.0.0.1:$PORT/message/1/" >"$work/h2load.txt" 2>&1 || true
    callgrind_control --dump "$pid" >/dev/null 2>&1
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    grep -q "$n succeeded, 0 failed" "$work/h2load.txt" || { cat "$work/h2load.txt" >&2; die "$name: h2load $args failed"; }
    if [[ ${ATOMICS:-0} == 1 ]]; then
        echo "$(awk '/^totals:/ { print $2 }' "$out.2") $(python3 benches/atomic_ops.py "$out.2")"
    else
        awk '/^totals:/ { print $2 }' "$out.2"
    fi
}

printf '%-24s %14s %14s %12s' "h2load" "milpa Ir/req" "hyper Ir/req" "milpa/hyper"
[[ ${ATOMICS:-0} == 1 ]] && printf ' %14s %14s' "milpa atomics" "hyper atomics"
printf '\n'
IFS=';' read -ra cases <<<"$CASES"
for args in "${cases[@]}"; do
    args=$(echo "$args" | xargs)
    read -r mi ma < <(count milpa "$args" "$N")
    read -r hi ha < <(count hyper "$args" "$N")
    m=$((mi / N)) h=$((hi / N))
    printf '%-24s %14d %14d %12s' "$args" "$m" "$h" "$(awk -v m="$m" -v h="$h" 'BEGIN { printf "%.2f", m / h }')"
    if [[ ${ATOMICS:-0} == 1 ]]; then
        printf ' %14.1f %14.1f' "$(awk -v a="$ma" -v n="$N" 'BEGIN { print a / n }')" \
            "$(awk -v a="$ha" -v n="$N" 'BEGIN { print a / n }')"
    fi
    printf '\n'
done
echo "(user-space instructions per request under load, start-up and shutdown left out; N=$N)"
