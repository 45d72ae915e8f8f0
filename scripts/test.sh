#!/usr/bin/env bash
# The project's test command: installs the independent peers the tests talk to
# (when run as root on a machine without them), then runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v curl >/dev/null || need+=(curl)
command -v h2load >/dev/null || need+=(nghttp2-client)
if ((${#need[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "missing: ${need[*]} (install them, or run as root to let this script do it)" >&2
        exit 1
    fi
fi

cargo test --workspace --all-features --locked "$@"
